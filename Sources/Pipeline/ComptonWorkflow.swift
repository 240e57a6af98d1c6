import Compton
import ComptonFiles
import Foundation
import LensCore
import LensIO
import Reporting
import Signal

/// Compton scattering imaging of depth regions (science brief §6): for each region's spectra
/// cube, per-pixel S and (1 − x) maps and the region's S from its summed spectrum — Codable
/// settings → one step per cube (``ComptonAnalysis/analyze(_:settings:progress:)``) → a typed
/// record whose encoding is the summary's `regions` (`Schemas/compton_analyze.schema.json`).
public enum ComptonWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        public var analysis: ComptonAnalysisSettings
        /// Attenuation factor per cube (the published 1.015, 1.010, 1.005), or none: all 1.
        public var attenuationFactors: [Double]?
        public init(analysis: ComptonAnalysisSettings = ComptonAnalysisSettings(), attenuationFactors: [Double]? = nil) {
            self.analysis = analysis; self.attenuationFactors = attenuationFactors
        }

        public func validate(cubes: Int) throws {
            guard cubes > 0 else { throw LensError.invalidArgument("give at least one spectra cube") }
            if let factors = attenuationFactors, factors.count != cubes || !factors.allSatisfy({ $0 > 0 && $0.isFinite }) {
                throw LensError.invalidArgument("--attenuation needs \(cubes) positive factors, one per cube")
            }
        }
    }

    /// One depth region's numbers, as the summary lists them.
    public struct RegionRecord: Codable, Sendable {
        public struct Background: Codable, Sendable {
            public var countsPerKeVAtPeak: Double
            public var slopePerKeV2: Double
            public var valenceWindowCounts: Double
            public var coreWindowCounts: Double
        }
        public struct ProfileModel: Codable, Sendable {
            public var centrePzAu: Double
            public var widthsPzAu: [Double]
            public var componentCounts: [Double]
            public var reducedChiSquared: Double
        }
        public var region: Int
        public var pixels: Int
        public var s: Double
        public var sSigma: Double
        public var sMapMean: Double
        /// (1 − x) and its σ; null without a calibration.
        public var lithium: Double?
        public var lithiumSigma: Double?
        public var peakCentreKeV: Double
        public var peakCentreSigmaKeV: Double
        public var peakFwhmKeV: Double
        public var peakArea: Double
        public var peakAreaSigma: Double
        public var background: Background
        public var profileModel: ProfileModel

        enum CodingKeys: String, CodingKey {
            case region, pixels, s, sSigma, sMapMean, lithium, lithiumSigma, peakCentreKeV, peakCentreSigmaKeV,
                 peakFwhmKeV, peakArea, peakAreaSigma, background, profileModel
        }

        /// As synthesized, except that a missing (1 − x) is written as null, not left out.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(region, forKey: .region); try c.encode(pixels, forKey: .pixels)
            try c.encode(s, forKey: .s); try c.encode(sSigma, forKey: .sSigma); try c.encode(sMapMean, forKey: .sMapMean)
            if let lithium { try c.encode(lithium, forKey: .lithium) } else { try c.encodeNil(forKey: .lithium) }
            if let lithiumSigma { try c.encode(lithiumSigma, forKey: .lithiumSigma) } else { try c.encodeNil(forKey: .lithiumSigma) }
            try c.encode(peakCentreKeV, forKey: .peakCentreKeV); try c.encode(peakCentreSigmaKeV, forKey: .peakCentreSigmaKeV)
            try c.encode(peakFwhmKeV, forKey: .peakFwhmKeV); try c.encode(peakArea, forKey: .peakArea); try c.encode(peakAreaSigma, forKey: .peakAreaSigma)
            try c.encode(background, forKey: .background); try c.encode(profileModel, forKey: .profileModel)
        }

        init(region: Int, _ r: ComptonRegionResult) {
            self.region = region
            pixels = r.pixelsAnalysed; s = r.s; sSigma = r.sUncertainty; sMapMean = r.meanPixelS
            lithium = r.lithium; lithiumSigma = r.lithiumUncertainty
            peakCentreKeV = r.fit.centreKeV; peakCentreSigmaKeV = r.fit.centreErrorKeV; peakFwhmKeV = r.fit.fwhmKeV
            peakArea = r.fit.area; peakAreaSigma = r.fit.areaError
            background = Background(countsPerKeVAtPeak: r.profile.background.perKeV, slopePerKeV2: r.profile.background.slopePerKeV2,
                                    valenceWindowCounts: r.measured.valenceBackground, coreWindowCounts: r.measured.coreBackground)
            profileModel = ProfileModel(centrePzAu: r.profile.profile.centrePz, widthsPzAu: r.profile.profile.widthsPz,
                                        componentCounts: r.profile.profile.componentCounts, reducedChiSquared: r.profile.reducedChiSquared)
        }
    }

    /// The maps and tables of region k (1-based) in the output folder, by name.
    public static func outputNames(region k: Int, calibrated: Bool) -> [String] {
        ["_s.tif", "_s_sigma.tif", "_peak_centre_kev.tif", "_peak_area.tif"].map { "region_\(k)" + $0 }
            + (calibrated ? ["_lithium.tif", "_lithium_sigma.tif", "_lithium.png"].map { "region_\(k)" + $0 } : [])
            + ["region_\(k)_profile.csv"]
    }

    /// Analyses each cube into `folder` (which must exist): per region its S, σ, peak and
    /// (calibrated) lithium maps, the momentum profile J(p_z) of the summed spectrum, and
    /// `regions.csv` (the published table's form). `onRegion` hears each region as it is done.
    public static func run(cubes: [String], settings: Settings, folder: String,
                           progress: (Int, Int) -> ProgressReporter? = { _, _ in nil },
                           onRegion: (RegionRecord) -> Void = { _ in }) throws -> [RegionRecord] {
        try settings.validate(cubes: cubes.count)
        var analysis = settings.analysis
        var table = Table(columns: [TableColumn("region"), TableColumn("pixels"), TableColumn("S"), TableColumn("S_sigma"),
                                    TableColumn("attenuation_factor"), TableColumn("S_map_mean"), TableColumn("lithium", unit: "1-x"), TableColumn("lithium_sigma", unit: "1-x"),
                                    TableColumn("peak_centre", unit: "keV"), TableColumn("peak_fwhm", unit: "keV")])
        var records: [RegionRecord] = []
        for (k, cube) in cubes.enumerated() {
            let spectra = try PixelSpectra.open(path: cube)
            analysis.attenuationFactor = settings.attenuationFactors?[k] ?? 1
            let reporter = progress(k + 1, spectra.pixelCount)
            let (maps, region) = try LensError.analysing(cube) { try ComptonAnalysis.analyze(spectra, settings: analysis, progress: reporter) }
            reporter?.finish()
            let prefix = folder + "/region_\(k + 1)"
            func write(_ values: [Double], _ name: String) throws {
                try VolumeIO.write(Grid<Float>(shape: Shape(maps.rows, maps.columns), elements: values.map { Float($0) }), to: prefix + name)
            }
            try write(maps.s, "_s.tif")
            try write(maps.sUncertainty, "_s_sigma.tif")
            try write(maps.peakCentreKeV, "_peak_centre_kev.tif")
            try write(maps.peakArea, "_peak_area.tif")
            if analysis.calibration != nil {
                try write(maps.lithium, "_lithium.tif")
                try write(maps.lithiumUncertainty, "_lithium_sigma.tif")
                let image = Grid<Float>(shape: Shape(maps.rows, maps.columns), elements: maps.lithium.map { Float($0) })
                // Compton pixels: their size at the sample is not part of the analysis (scale bar in pixels).
                try SliceFigure.write(image, to: prefix + "_lithium.png", colormap: .viridis, pixelSizeMicrometres: nil, valueLabel: "Li 1 − x")
            }
            let summed = spectra.summed { maps.mask[$0] }
            let profile = ComptonAnalysis.momentumProfile(binning: spectra.binning, spectrum: summed, background: region.profile.background, settings: analysis)
            var profileTable = Table(columns: [TableColumn("pz", unit: "a.u."), TableColumn("J", unit: "1/a.u.")])
            for (p, j) in zip(profile.pz, profile.j) { profileTable.append([.number(p), .number(j)]) }
            try profileTable.write(to: prefix + "_profile.csv")
            table.append([.number(Double(k + 1)), .number(Double(region.pixelsAnalysed)), .number(region.s), .number(region.sUncertainty),
                          .number(region.attenuationFactor), .number(region.meanPixelS), region.lithium.map { .number($0) } ?? .text(""),
                          region.lithiumUncertainty.map { .number($0) } ?? .text(""), .number(region.fit.centreKeV), .number(region.fit.fwhmKeV)])
            let record = RegionRecord(region: k + 1, region)
            records.append(record)
            onRegion(record)
        }
        try table.write(to: folder + "/regions.csv")
        return records
    }
}

/// Compton (1 − x) maps against a segmented CT of the same electrode, region by region
/// (``ComptonCTCorrelation``): the CT labels split into the Compton depth regions, projected
/// onto the detector plane, registered to each region's peak-area map and compared pixel by
/// pixel. Codable settings → one step per region → a typed record (the summary's body) and
/// per-region files.
public enum ComptonCorrelationWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Compton pixel size at the sample, µm.
        public var comptonPixelMicrometres: Double
        /// Label codes of the void and solid phases.
        public var poreCodes: [Int], solidCodes: [Int]
        /// Depth slices of each region (nil: as many equal parts as the Compton folder has regions).
        public var regions: [Range<Int>]?
        /// Equal parts (when `regions` is nil); nil: one per Compton region.
        public var regionCount: Int?
        /// Electrode fraction a detector column needs to count.
        public var minimumElectrodeFraction: Double
        public init(comptonPixelMicrometres: Double = 270, poreCodes: [Int], solidCodes: [Int], regions: [Range<Int>]? = nil,
                    regionCount: Int? = nil, minimumElectrodeFraction: Double = 0.5) {
            self.comptonPixelMicrometres = comptonPixelMicrometres; self.poreCodes = poreCodes; self.solidCodes = solidCodes
            self.regions = regions; self.regionCount = regionCount; self.minimumElectrodeFraction = minimumElectrodeFraction
        }

        public func validate() throws {
            guard comptonPixelMicrometres > 0, comptonPixelMicrometres.isFinite else {
                throw LensError.invalidArgument("--compton-pixel-um must be a positive size in µm, got \(comptonPixelMicrometres)")
            }
            guard !poreCodes.isEmpty, !solidCodes.isEmpty else { throw LensError.invalidArgument("the correlation needs pore and solid codes") }
            guard Set(poreCodes).isDisjoint(with: solidCodes) else {
                throw LensError.invalidArgument("a code cannot be both pore and solid: \(Set(poreCodes).intersection(solidCodes).sorted())")
            }
            if let regionCount, regionCount < 1 { throw LensError.invalidArgument("--regions must be a count ≥ 1 or A:B,C:D,...") }
            guard (0...1).contains(minimumElectrodeFraction) else { throw LensError.invalidArgument("--min-electrode must be 0…1, got \(minimumElectrodeFraction)") }
        }
    }

    public struct RegionRecord: Codable, Sendable {
        public var region: Int
        public var shiftPixels: [Double]
        public var registrationNCC: Double
        public var pixels: Int
        /// Pearson r and slope of (1 − x) against porosity (NaN, null in JSON, when undefined).
        public var pearsonR: Double, slope: Double
        public var meanPorosity: Double, meanLithium: Double
        private enum CodingKeys: String, CodingKey {
            case region, pixels, slope
            case shiftPixels = "shift_px", registrationNCC = "registration_ncc", pearsonR = "pearson_r"
            case meanPorosity = "mean_porosity", meanLithium = "mean_lithium"
        }
    }

    public struct Record: Codable, Sendable {
        public var output: String
        public var regions: [RegionRecord]
        /// The CT's in-plane voxel size, µm.
        public var ctVoxelMicrometres: Double
    }

    /// Correlates the CT labels in `ctPath` with the region maps `compton analyze` wrote in
    /// `comptonFolder`, writing correlation.csv and per region region_N_porosity.tif and
    /// region_N_pairs.csv into `folder` (recorded as `recordedFolder`).
    public static func run(ct ctPath: String, comptonFolder: String, settings: Settings, folder: String, recordedFolder: String? = nil) throws -> Record {
        try settings.validate()
        let reader = try VolumeIO.open(ctPath)
        guard reader.info.shape.rank == 3, !reader.info.dataType.isComplex else {
            throw LensError.badInput(file: ctPath, problem: "labels must be a 3D integer volume (depth, y, x), are \(reader.info.shape) \(reader.info.dataType)")
        }
        guard reader.info.geometry.isCalibrated else {
            throw LensError.invalidArgument("\(ctPath) carries no voxel size, which the projection onto the Compton pixels needs; give --voxel-um")
        }
        let voxel = reader.info.geometry.voxelSizeMicrometres[2]
        var found = 0
        while FileManager.default.fileExists(atPath: comptonFolder + "/region_\(found + 1)_lithium.tif") { found += 1 }
        guard found > 0 else { throw LensError.badInput(file: comptonFolder, problem: "no region_1_lithium.tif: run `compton analyze` with a calibration first") }
        let depth = reader.info.shape[0]
        let bounds: [Range<Int>]
        if let regions = settings.regions {
            if let bad = regions.first(where: { $0.lowerBound < 0 || $0.upperBound > depth || $0.isEmpty }) {
                throw LensError.invalidArgument("--regions \(bad.lowerBound):\(bad.upperBound) must be slice indices within 0:\(depth)")
            }
            bounds = regions
        } else {
            let count = settings.regionCount ?? found
            bounds = ComptonCTCorrelation.equalDepthRegions(depth: depth, count: count)
        }
        guard bounds.count == found else {
            throw LensError.invalidArgument("\(bounds.count) depth regions for \(found) Compton regions in \(comptonFolder)")
        }
        let labels = try reader.readAll().converted(to: Int32.self)
        let phases = ComptonCTCorrelation.Phases(pore: Set(settings.poreCodes), solid: Set(settings.solidCodes))
        let first = try VolumeIO.open(comptonFolder + "/region_1_lithium.tif").info.shape
        let projections = try ComptonCTCorrelation.project(labels: labels, phases: phases, regions: bounds, ctVoxelMicrometres: voxel,
                                                           comptonPixelMicrometres: settings.comptonPixelMicrometres, comptonShape: (first[0], first[1]))
        var results = [RegionRecord]()
        var table = Table(columns: [TableColumn("region"), TableColumn("slices"), TableColumn("shift_rows", unit: "px"), TableColumn("shift_columns", unit: "px"),
                                    TableColumn("registration_ncc"), TableColumn("pixels"), TableColumn("pearson_r"), TableColumn("slope", unit: "(1-x)/porosity"),
                                    TableColumn("mean_porosity"), TableColumn("mean_lithium", unit: "1-x")])
        for (k, projection) in projections.enumerated() {
            func map(_ name: String) throws -> Grid<Double> { try VolumeIO.read(comptonFolder + "/region_\(k + 1)_\(name).tif").converted(to: Double.self) }
            let lithium = try map("lithium")
            let result = try ComptonCTCorrelation.correlate(region: k + 1, ct: projection, comptonArea: try map("peak_area"),
                                                            comptonLithium: lithium, minimumElectrodeFraction: settings.minimumElectrodeFraction)
            results.append(RegionRecord(region: result.region, shiftPixels: [result.shift.rows, result.shift.columns],
                                        registrationNCC: result.shift.correlation, pixels: result.pixels, pearsonR: result.pearson,
                                        slope: result.slope, meanPorosity: result.meanPorosity, meanLithium: result.meanLithium))
            let registered = ImageRegistration.shifted(projection.porosity, rows: result.shift.rows, columns: result.shift.columns)
            try VolumeIO.write(Grid<Float>(shape: registered.shape, elements: registered.elements.map { Float($0) }), to: folder + "/region_\(k + 1)_porosity.tif")
            var pairs = Table(columns: [TableColumn("row"), TableColumn("column"), TableColumn("porosity"), TableColumn("lithium", unit: "1-x")])
            for i in 0..<registered.count where registered[linear: i].isFinite && lithium[linear: i].isFinite {
                pairs.append([.number(Double(i / registered.shape[1])), .number(Double(i % registered.shape[1])), .number(registered[linear: i]), .number(lithium[linear: i])])
            }
            try pairs.write(to: folder + "/region_\(k + 1)_pairs.csv")
            table.append([.number(Double(k + 1)), .text("\(projection.slices.lowerBound):\(projection.slices.upperBound)"), .number(result.shift.rows),
                          .number(result.shift.columns), .number(result.shift.correlation), .number(Double(result.pixels)), .number(result.pearson),
                          .number(result.slope), .number(result.meanPorosity), .number(result.meanLithium)])
        }
        try table.write(to: folder + "/correlation.csv")
        return Record(output: recordedFolder ?? folder, regions: results, ctVoxelMicrometres: voxel)
    }
}

/// Photon events (an event list, or detector frames with an energy calibration) histogrammed
/// into per-pixel energy spectra with charge-sharing correction, streaming: Codable settings →
/// ``PixelSpectra`` built event by event (or frame by frame) → the cube written (HDF5) and a
/// typed record (the summary's body).
public enum ComptonSpectraWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Detector size of an event list (frames carry their own).
        public var rows: Int, columns: Int
        /// Energy bins from 0 to `maximumKeV`, `binKeV` wide.
        public var binKeV: Double, maximumKeV: Double
        public var chargeSharing: ChargeSharingCorrection
        /// The energy calibration of detector frames (nil for event lists, which are in keV).
        public var frames: FrameCalibration?
        public init(rows: Int = 80, columns: Int = 80, binKeV: Double = 0.1, maximumKeV: Double = 130,
                    chargeSharing: ChargeSharingCorrection = .discriminate, frames: FrameCalibration? = nil) {
            self.rows = rows; self.columns = columns; self.binKeV = binKeV; self.maximumKeV = maximumKeV
            self.chargeSharing = chargeSharing; self.frames = frames
        }

        /// keV = gain·ADU + offset, one pair for every pixel or per-pixel maps (images of the
        /// frame size); values below the threshold (after calibration) are not events.
        public struct FrameCalibration: Codable, Sendable, Equatable {
            public var kevPerADU: Double?
            public var offsetKeV: Double
            public var gainMapPath: String?, offsetMapPath: String?
            public var thresholdKeV: Double
            public init(kevPerADU: Double? = nil, offsetKeV: Double = 0, gainMapPath: String? = nil, offsetMapPath: String? = nil, thresholdKeV: Double = 3) {
                self.kevPerADU = kevPerADU; self.offsetKeV = offsetKeV; self.gainMapPath = gainMapPath; self.offsetMapPath = offsetMapPath
                self.thresholdKeV = thresholdKeV
            }
            /// In words, for summaries.
            public var summary: String { gainMapPath.map { "per-pixel gain map \($0)" } ?? "\(kevPerADU ?? 0) keV/ADU + \(offsetKeV) keV" }
        }

        public var binning: EnergyBinning { EnergyBinning(lowKeV: 0, widthKeV: binKeV, count: Int((maximumKeV / binKeV).rounded(.up))) }

        public func validate() throws {
            guard (1...65_536).contains(rows), (1...65_536).contains(columns) else {
                throw LensError.invalidArgument("--rows and --columns must be 1…65536, got \(rows)×\(columns)")
            }
            guard maximumKeV > 0, maximumKeV <= 10_000 else { throw LensError.invalidArgument("--max-kev must be in (0, 10000], got \(maximumKeV)") }
            guard binKeV > 0, binKeV <= maximumKeV / 2 else { throw LensError.invalidArgument("--bin-kev must be in (0, \(maximumKeV / 2)], got \(binKeV)") }
            let bins = (maximumKeV / binKeV).rounded(.up)
            guard (2...1_000_000).contains(bins) else { throw LensError.invalidArgument("--max-kev / --bin-kev (bins) must be 2…1000000, got \(bins)") }
            if let frames {
                guard (0...10_000).contains(frames.thresholdKeV) else { throw LensError.invalidArgument("--threshold-kev must be 0…10000, got \(frames.thresholdKeV)") }
                if let g = frames.kevPerADU, !(g > 0 && g <= 1000) { throw LensError.invalidArgument("--kev-per-adu must be in (0, 1000], got \(g)") }
                guard frames.offsetKeV.isFinite else { throw LensError.invalidArgument("--offset-kev must be finite") }
            }
        }
    }

    public struct Record: Codable, Sendable {
        public struct Events: Codable, Sendable {
            public var read: Int, counted: Int, frames: Int
            public var multiPixelClusters: Int, eventsInClusters: Int, outside: Int
            private enum CodingKeys: String, CodingKey {
                case read, counted, frames, outside
                case multiPixelClusters = "multi_pixel_clusters", eventsInClusters = "events_in_clusters"
            }
        }
        public var output: String
        public var chargeSharing: String
        public var events: Events
        public var binKeV: Double, maximumKeV: Double
        /// Detector size, and for frames their count and calibration (not part of the summary
        /// body: the CLI records them with the parameters).
        public var rows: Int, columns: Int
        public var frameCount: Int?
        private enum CodingKeys: String, CodingKey {
            case output, events
            case chargeSharing = "charge_sharing", binKeV = "bin_kev", maximumKeV = "max_kev"
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            output = try c.decode(String.self, forKey: .output); chargeSharing = try c.decode(String.self, forKey: .chargeSharing)
            events = try c.decode(Events.self, forKey: .events); binKeV = try c.decode(Double.self, forKey: .binKeV)
            maximumKeV = try c.decode(Double.self, forKey: .maximumKeV); rows = 0; columns = 0
        }
        init(output: String, chargeSharing: String, events: Events, binKeV: Double, maximumKeV: Double, rows: Int, columns: Int, frameCount: Int?) {
            self.output = output; self.chargeSharing = chargeSharing; self.events = events; self.binKeV = binKeV; self.maximumKeV = maximumKeV
            self.rows = rows; self.columns = columns; self.frameCount = frameCount
        }
    }

    /// Whether `path` holds detector frames (an HDF5 file or dataset) rather than an event list.
    public static func isFrames(_ path: String) -> Bool {
        let reference = DatasetReference(path)
        return VolumeIO.hdf5Extensions.contains(reference.fileExtension) || reference.datasetPath != nil
    }

    /// Histograms `eventsPath` and writes the cube to `outputPath` (recorded as `recordedOutput`).
    /// - Parameter progress: the display (label, units: events or frames).
    public static func run(events eventsPath: String, settings: Settings, outputPath: String, recordedOutput: String? = nil, inputs: [String],
                           progress: (_ label: String, _ total: Int) -> ProgressReporter? = { _, _ in nil }) throws -> Record {
        try settings.validate()
        let binning = settings.binning
        let spectra: PixelSpectra, rows: Int, columns: Int, frameCount: Int?
        if isFrames(eventsPath) {
            let reader = try VolumeIO.open(eventsPath)
            guard reader.info.shape.rank == 3 else { throw LensError.badInput(file: eventsPath, problem: "detector frames must be (frame, row, column), not \(reader.info.shape)") }
            (rows, columns) = (reader.info.shape[1], reader.info.shape[2])
            try MemoryBudget.require(elements: rows * columns * binning.count, elementBytes: 4, for: "the spectra of \(rows)×\(columns) pixels", hint: "use fewer bins (--bin-kev)")
            let calibration = try frameCalibration(settings.frames, path: eventsPath, rows: rows, columns: columns)
            let reporter = progress("frames to events", reader.info.shape[0])
            defer { reporter?.finish() }
            spectra = try DetectorFrames.buildSpectra(frames: reader, calibration: calibration, thresholdKeV: settings.frames?.thresholdKeV ?? 3,
                                                      binning: binning, correction: settings.chargeSharing, progress: reporter)
            frameCount = reader.info.shape[0]
        } else {
            (rows, columns) = (settings.rows, settings.columns)
            try MemoryBudget.require(elements: rows * columns * binning.count, elementBytes: 4,
                                     for: "--rows × --columns × bins", hint: "use fewer bins (--bin-kev) or a smaller detector")
            // Progress counts events: known up front for binary records (12 bytes each); a CSV
            // list's length in events is not, so it is counted in lines read against its byte
            // size divided by the length of its first lines.
            let size = (try? FileManager.default.attributesOfItem(atPath: eventsPath)[.size] as? Int) ?? 0
            let isCSV = URL(fileURLWithPath: eventsPath).pathExtension.lowercased() == "csv"
            let bytesPerEvent = isCSV ? PhotonEventFile.typicalLineBytes(path: eventsPath) : PhotonEvent.byteSize
            let reporter = progress("histogramming events", Swift.max(1, size / bytesPerEvent))
            defer { reporter?.finish() }
            spectra = try PixelSpectra.build(events: eventsPath, rows: rows, columns: columns, binning: binning, correction: settings.chargeSharing,
                                             progress: reporter)
            frameCount = nil
        }
        guard spectra.statistics.eventsRead > 0 else {
            throw LensError.badInput(file: eventsPath, problem: "holds no photon events: an empty cube would look like a measurement")
        }
        try spectra.write(to: outputPath, chargeSharing: settings.chargeSharing, inputs: inputs)
        let s = spectra.statistics
        return Record(output: recordedOutput ?? outputPath, chargeSharing: settings.chargeSharing.rawValue,
                      events: .init(read: s.eventsRead, counted: s.eventsCounted, frames: s.frames, multiPixelClusters: s.multiPixelClusters,
                                    eventsInClusters: s.eventsInClusters, outside: s.eventsOutside),
                      binKeV: settings.binKeV, maximumKeV: settings.maximumKeV, rows: rows, columns: columns, frameCount: frameCount)
    }

    /// The per-pixel calibration of a frames input, never guessed.
    static func frameCalibration(_ frames: Settings.FrameCalibration?, path: String, rows: Int, columns: Int) throws -> PixelEnergyCalibration {
        let n = rows * columns
        if let frames, let gainMap = frames.gainMapPath {
            func map(_ path: String) throws -> [Double] {
                let g = try VolumeIO.read(path).converted(to: Double.self)
                guard g.count == n else { throw LensError.badInput(file: path, problem: "holds \(g.shape) values; the frames have \(rows)×\(columns) pixels") }
                return g.elements
            }
            let gain = try map(gainMap), offset = try frames.offsetMapPath.map(map) ?? [Double](repeating: frames.offsetKeV, count: n)
            return PixelEnergyCalibration(rows: rows, columns: columns, gain: gain, offset: offset)
        }
        guard let frames, let kevPerADU = frames.kevPerADU else {
            throw LensError.invalidArgument("\(path) holds detector frames in ADU: declare their energy calibration with --kev-per-adu G [--offset-kev O] or --gain-map FILE [--offset-map FILE]")
        }
        return PixelEnergyCalibration(rows: rows, columns: columns, gain: [Double](repeating: kevPerADU, count: n), offset: [Double](repeating: frames.offsetKeV, count: n))
    }
}
