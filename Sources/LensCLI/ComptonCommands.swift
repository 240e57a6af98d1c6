import ArgumentParser
import Compton
import ComptonFiles
import Foundation
import LensCore
import LensIO
import Pipeline
import Signal

/// `batterylens compton ...`: photon events to lithium stoichiometry maps.
struct ComptonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compton",
        abstract: "Compton scattering imaging: photon events → per-pixel spectra → S and Li stoichiometry maps.",
        subcommands: [ComptonSpectraCommand.self, ComptonAnalyzeCommand.self, ComptonCorrelateCommand.self])
}

struct ComptonSpectraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spectra",
        abstract: "Histogram photon events into per-pixel energy spectra (HDF5), streaming.",
        discussion: """
        EVENTS: 12-byte binary records (frame u32, row u16, column u16, energy f32 keV; what \
        `phantom compton` writes) or CSV with a header naming frame,row,column,energy_kev (or adu), \
        in frame order. Charge-sharing correction works on 3×3 neighbourhoods within a frame: \
        discriminate (reject clusters, the default) or add (sum into the brightest pixel). Writes \
        /spectra (row, column, energy) uint32 and /energy_edges_kev.
        """)

    @Argument(help: "Event list (.bin or .csv), or detector frames (HEXITEC HDF5 frame file, (frame, row, column) ADU; needs an energy calibration).") var events: String
    @Option(name: .customLong("kev-per-adu"), help: "Frames: one energy calibration for every pixel, keV per ADU (E = gain·ADU + --offset-kev).") var kevPerADU: Double?
    @Option(name: .customLong("offset-kev"), help: "Frames: the calibration offset in keV with --kev-per-adu.") var offsetKeV: Double = 0
    @Option(name: .customLong("gain-map"), help: "Frames: per-pixel gains (keV/ADU) as an image (text, TIFF, …) of the frame size.") var gainMap: String?
    @Option(name: .customLong("offset-map"), help: "Frames: per-pixel offsets (keV) as an image of the frame size (with --gain-map).") var offsetMap: String?
    @Option(name: .customLong("threshold-kev"), help: "Frames: the noise threshold; pixel values below it (after calibration) are not events.") var thresholdKeV: Double = 3
    @Option(help: "Output spectra cube (.h5).") var out: String
    @Option(help: "Detector rows.") var rows: Int = 80
    @Option(help: "Detector columns.") var columns: Int = 80
    @Option(name: .customLong("bin-kev"), help: "Energy bin width in keV.") var binKeV: Double = 0.1
    @Option(name: .customLong("max-kev"), help: "Upper end of the energy range in keV (from 0).") var maxKeV: Double = 130
    @Option(name: .customLong("charge-sharing"), help: "Charge-sharing correction of neighbouring events.") var chargeSharing: ChargeSharingCorrection = .discriminate
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let mode = chargeSharing
        try requireOption(rows, "--rows", in: 1...65_536)
        try requireOption(columns, "--columns", in: 1...65_536)
        try requirePositive(maxKeV, "--max-kev", atMost: 10_000)
        try requirePositive(binKeV, "--bin-kev", atMost: maxKeV / 2)
        try requireOption((maxKeV / binKeV).rounded(.up), "--max-kev / --bin-kev (bins)", in: 2...1_000_000)
        try MemoryBudget.require(elements: rows * columns * Int((maxKeV / binKeV).rounded(.up)), elementBytes: 4,
                                 for: "--rows × --columns × bins", hint: "use fewer bins (--bin-kev) or a smaller detector")
        try requireOption(thresholdKeV, "--threshold-kev", in: 0...10_000)
        try global.outputs(inputs: [events, gainMap, offsetMap]) { outputs in
            try run(mode: mode, out: try outputs.file(out, option: "--out"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    /// Whether the input is a file of detector frames (HDF5) rather than an event list.
    var isFrames: Bool {
        let reference = DatasetReference(events)
        return VolumeIO.hdf5Extensions.contains(reference.fileExtension) || reference.datasetPath != nil
    }

    /// The per-pixel calibration of a frames input, never guessed.
    func frameCalibration(rows: Int, columns: Int) throws -> PixelEnergyCalibration {
        let n = rows * columns
        if let gainMap {
            func map(_ path: String) throws -> [Double] {
                let g = try VolumeIO.read(path).converted(to: Double.self)
                guard g.count == n else { throw LensError.badInput(file: path, problem: "holds \(g.shape) values; the frames have \(rows)×\(columns) pixels") }
                return g.elements
            }
            let gain = try map(gainMap), offset = try offsetMap.map(map) ?? [Double](repeating: offsetKeV, count: n)
            return PixelEnergyCalibration(rows: rows, columns: columns, gain: gain, offset: offset)
        }
        guard let kevPerADU else {
            throw LensError.invalidArgument("\(events) holds detector frames in ADU: declare their energy calibration with --kev-per-adu G [--offset-kev O] or --gain-map FILE [--offset-map FILE]")
        }
        try requirePositive(kevPerADU, "--kev-per-adu", atMost: 1000)
        return PixelEnergyCalibration(rows: rows, columns: columns, gain: [Double](repeating: kevPerADU, count: n), offset: [Double](repeating: offsetKeV, count: n))
    }

    func run(mode: ChargeSharingCorrection, out outPath: String, summary summaryPath: String?) throws {
        let binning = EnergyBinning(lowKeV: 0, widthKeV: binKeV, count: Int((maxKeV / binKeV).rounded(.up)))
        if isFrames {
            let reader = try VolumeIO.open(events)
            guard reader.info.shape.rank == 3 else { throw LensError.badInput(file: events, problem: "detector frames must be (frame, row, column), not \(reader.info.shape)") }
            let (rows, columns) = (reader.info.shape[1], reader.info.shape[2])
            try MemoryBudget.require(elements: rows * columns * binning.count, elementBytes: 4, for: "the spectra of \(rows)×\(columns) pixels", hint: "use fewer bins (--bin-kev)")
            let calibration = try frameCalibration(rows: rows, columns: columns)
            let progress = ProgressReporter(label: "frames to events", total: reader.info.shape[0])
            let spectra = try DetectorFrames.buildSpectra(frames: reader, calibration: calibration, thresholdKeV: thresholdKeV, binning: binning,
                                                          correction: mode, progress: progress)
            progress.finish()
            try finishSpectra(spectra, binning: binning, rows: rows, columns: columns, mode: mode, outPath: outPath, summaryPath: summaryPath,
                              extra: ["frames": .number(Double(reader.info.shape[0])), "threshold_kev": .number(thresholdKeV),
                                      "energy_calibration": .string(gainMap.map { "per-pixel gain map \($0)" } ?? "\(kevPerADU ?? 0) keV/ADU + \(offsetKeV) keV")])
            return
        }
        // Progress counts events: known up front for binary records (12 bytes each); a CSV
        // list's length in events is not, so it is counted in lines read against its byte size
        // divided by the length of its first lines.
        let size = (try? FileManager.default.attributesOfItem(atPath: events)[.size] as? Int) ?? 0
        let isCSV = URL(fileURLWithPath: events).pathExtension.lowercased() == "csv"
        let bytesPerEvent = isCSV ? PhotonEventFile.typicalLineBytes(path: events) : PhotonEvent.byteSize
        let progress = ProgressReporter(label: "histogramming events", total: Swift.max(1, size / bytesPerEvent))
        let spectra = try PixelSpectra.build(events: events, rows: rows, columns: columns, binning: binning, correction: mode, progress: progress)
        progress.finish()
        try finishSpectra(spectra, binning: binning, rows: rows, columns: columns, mode: mode, outPath: outPath, summaryPath: summaryPath, extra: [:])
    }

    func finishSpectra(_ spectra: PixelSpectra, binning: EnergyBinning, rows: Int, columns: Int, mode: ChargeSharingCorrection,
                       outPath: String, summaryPath: String?, extra: [String: JSONValue]) throws {
        guard spectra.statistics.eventsRead > 0 else {
            throw LensError.badInput(file: events, problem: "holds no photon events: an empty cube would look like a measurement")
        }
        try spectra.write(to: outPath, chargeSharing: mode, inputs: [events])
        let s = spectra.statistics
        print("wrote \(out): \(rows)×\(columns) pixels × \(binning.count) bins; \(s.eventsRead) events read, \(s.eventsCounted) counted, \(s.multiPixelClusters) charge-sharing clusters (\(s.eventsInClusters) events, \(mode.rawValue)), \(s.eventsOutside) outside")
        if let summary {
            let object: JSONValue = .object([
                "output": .string(out), "charge_sharing": .string(mode.rawValue),
                "events": ["read": .number(Double(s.eventsRead)), "counted": .number(Double(s.eventsCounted)), "frames": .number(Double(s.frames)),
                           "multi_pixel_clusters": .number(Double(s.multiPixelClusters)), "events_in_clusters": .number(Double(s.eventsInClusters)),
                           "outside": .number(Double(s.eventsOutside))],
                "bin_kev": .number(binKeV), "max_kev": .number(maxKeV),
                "provenance": try provenanceJSON(inputs: [events] + [gainMap, offsetMap].compactMap { $0 },
                                                 parameters: ["rows": .number(Double(rows)), "columns": .number(Double(columns)),
                                                              "bin_kev": .number(binKeV), "charge_sharing": .string(mode.rawValue)].merging(extra) { a, _ in a }),
            ])
            try JSONOutput.write(object, to: summaryPath!, inputs: [events])
        }
    }
}

struct ComptonAnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Fit the Compton peak per pixel, compute S = S_L/S_H and Li stoichiometry maps per depth region.",
        discussion: """
        One spectra cube per depth region. Over --fit-kev (above the fluorescence lines) a \
        background line is fitted jointly with a symmetric two-Gaussian Compton profile in p_z \
        (widths from the region's summed spectrum, centre and amplitudes per pixel, Poisson \
        weights); S from background-subtracted counts in |p_z| < 1 (valence) and 1 < |p_z| < 5 \
        (core) a.u., with an uncertainty from the counts and the background fit. S is multiplied by \
        the region's attenuation factor; (1 − x) = (S − intercept)/slope from --calibration \
        (CSV of lithium,s reference points) or --slope/--intercept. Writes per region \
        region_N_s.tif, _s_sigma.tif, _peak_area.tif, _peak_centre_kev.tif, _lithium.tif, \
        _lithium_sigma.tif, _lithium.png, \
        _profile.csv (J(p_z) of the summed spectrum), and regions.csv (the published table's form).
        """)

    @Argument(help: "Spectra cubes (.h5 from `compton spectra`, or HEXITEC .hxt histograms), one per depth region.") var cubes: [String]
    @Option(help: "Output folder.") var out: String
    @Option(name: .customLong("incident-kev"), help: "Incident energy (keV).") var incidentKeV: Double = 115
    @Option(name: .customLong("angle-deg"), help: "Scattering angle (degrees).") var angleDegrees: Double = 90
    @Option(name: .customLong("fit-kev"), help: "Fit window A:B in keV.") var fitKeV: String = "86:104"
    @Option(name: .customLong("valence-au"), help: "Valence |p_z| window A:B (a.u.).") var valence: String = "0:1"
    @Option(name: .customLong("core-au"), help: "Core |p_z| window A:B (a.u.).") var core: String = "1:5"
    @Option(help: "Attenuation correction factor per region, comma-separated.") var attenuation: String?
    @Option(help: "Calibration CSV: columns lithium,s (two or more reference points).") var calibration: String?
    @Option(help: "Calibration slope dS/d(1 − x).") var slope: Double?
    @Option(help: "Calibration intercept (S at 1 − x = 0).") var intercept: Double?
    @Option(name: .customLong("min-counts"), help: "Compton counts a pixel needs to be analysed.") var minimumCounts: Double = 200
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard !cubes.isEmpty else { throw LensError.invalidArgument("give at least one spectra cube") }
        try requireOption(minimumCounts, "--min-counts", in: 0...1e15)
        try requirePositive(incidentKeV, "--incident-kev", atMost: 10_000)
        try requireOption(angleDegrees, "--angle-deg", in: 1...179)
        var settings = ComptonAnalysisSettings()
        settings.incidentKeV = incidentKeV
        settings.angleDegrees = angleDegrees
        settings.fitWindowKeV = try parseValueRange(fitKeV, option: "--fit-kev")
        settings.windows.valence = try parseValueRange(valence, option: "--valence-au", allowEqual: true)
        settings.windows.core = try parseValueRange(core, option: "--core-au")
        settings.minimumComptonCounts = minimumCounts
        settings.calibration = try readCalibration()
        var factors: [Double]?
        if let attenuation {
            let values = attenuation.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else { throw LensError.invalidArgument("--attenuation needs \(cubes.count) positive factors, one per cube") }
            factors = values.map { $0! }
        }
        let workflow = ComptonWorkflow.Settings(analysis: settings, attenuationFactors: factors)
        try workflow.validate(cubes: cubes.count)
        try global.outputs(inputs: cubes + [calibration]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let regions = try ComptonWorkflow.run(cubes: cubes, settings: workflow, folder: folder,
                                                  progress: { k, pixels in ProgressReporter(label: "fitting region \(k)", total: pixels) }) { r in
                print(String(format: "region %d: %d pixels, S = %.4f ± %.4f", r.region, r.pixels, r.s, r.sSigma)
                      + (r.lithium.map { String(format: ", 1 − x = %.4f ± %.4f", $0, r.lithiumSigma!) } ?? ""))
            }
            guard let summaryPath else { return }
            var parameters: [String: JSONValue] = ["incident_kev": .number(incidentKeV), "angle_deg": .number(angleDegrees), "fit_kev": .string(fitKeV),
                                                   "valence_au": .string(valence), "core_au": .string(core),
                                                   "attenuation": .array((factors ?? [Double](repeating: 1, count: cubes.count)).map { .number($0) })]
            if let c = settings.calibration { parameters["calibration"] = ["slope": .number(c.slope), "intercept": .number(c.intercept)] }
            // The calibration used, fitted from --calibration points or given: (1 − x) = (S − intercept)/slope.
            let calibrationJSON: JSONValue = settings.calibration.map { c in
                .object(["slope": .number(c.slope), "intercept": .number(c.intercept),
                         "source": .string(calibration.map { "least-squares fit to the points of \($0)" } ?? "--slope and --intercept")])
            } ?? .null
            try JSONOutput.write(JSONValue.object(["output": .string(out), "regions": try JSONValue(encoding: regions), "calibration": calibrationJSON,
                                                   "provenance": try provenanceJSON(inputs: cubes + (calibration.map { [$0] } ?? []), parameters: parameters)]),
                                 to: summaryPath, inputs: cubes)
        }
    }

    func readCalibration() throws -> SParameter.Calibration? {
        if let calibration {
            let columns = try NumericColumns.read(calibration)
            func column(_ name: String) -> [Double]? { columns.names.firstIndex { $0.lowercased() == name }.map { columns.columns[$0] } }
            guard let lithium = column("lithium"), let s = column("s") else {
                throw LensError.badInput(file: calibration, problem: "needs columns 'lithium' and 's'")
            }
            return try SParameter.Calibration(points: zip(lithium, s).map { (lithium: $0.0, s: $0.1) })
        }
        switch (slope, intercept) {
        case let (slope?, intercept?):
            guard slope != 0 else { throw LensError.invalidArgument("--slope must not be zero") }
            return SParameter.Calibration(intercept: intercept, slope: slope)
        case (nil, nil): return nil
        default: throw LensError.invalidArgument("--slope and --intercept go together")
        }
    }
}

struct ComptonCorrelateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correlate",
        abstract: "Correlate Compton (1 − x) maps with a segmented CT of the electrode, region by region.",
        discussion: """
        The CT label volume (depth, y, x) is split into the Compton depth regions along its first \
        axis (--regions: N equal parts, default one per region_N_lithium.tif in --compton, or \
        explicit slice bounds A:B,C:D,...), each projected onto the detector plane and resampled \
        to the Compton pixels (area-weighted; the CT's first voxel at the Compton grid's origin), \
        registered to the region's peak-area map (phase correlation, then intensity refinement), \
        masked by the electrode, and compared pixel by pixel: Pearson r and slope of (1 − x) against \
        porosity. Writes correlation.csv, and per region region_N_porosity.tif (registered) and \
        region_N_pairs.csv.
        """)

    @Option(help: "Segmented CT labels (depth, y, x).") var ct: String
    @Option(help: "Folder written by `compton analyze` (with a calibration).") var compton: String
    @Option(help: "Output folder.") var out: String
    @Option(name: .customLong("compton-pixel-um"), help: "Compton pixel size at the sample in µm.") var comptonPixel: Double = 270
    @Option(help: "Void phases of the CT labels: names in its label scheme or codes, comma-separated (default: the scheme's pore and crack phases).") var pore: String?
    @Option(help: "Solid phases: names or codes (default: the scheme's solid, active and binder phases).") var solid: String?
    @OptionGroup var labels: LabelSchemeOption
    @Option(help: "Depth regions: a count, or slice bounds A:B,C:D,...") var regions: String?
    @Option(name: .customLong("min-electrode"), help: "Electrode fraction a column needs to count.") var minimumElectrode: Double = 0.5
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try global.outputs(inputs: [ct, compton]) { outputs in
            let selector = PhaseSelector(input: ct, scheme: try labels.scheme(for: ct), countCodes: { try countLabelCodes(ct) })
            let poreCodes = try selector.codes(pore ?? "pore", option: "--pore") + (pore == nil ? selector.scheme?.codes(selecting: "crack") ?? [] : [])
            var settings = ComptonCorrelationWorkflow.Settings(comptonPixelMicrometres: comptonPixel, poreCodes: Array(Set(poreCodes)).sorted(),
                                                               solidCodes: try selector.codes(solid ?? "solid", option: "--solid"),
                                                               minimumElectrodeFraction: minimumElectrode)
            if let regions, regions.contains(":") {
                settings.regions = try regions.split(separator: ",").map { part in
                    let r = try parseValueRange(String(part), option: "--regions")
                    guard r.lowerBound >= 0, r.lowerBound == r.lowerBound.rounded(), r.upperBound == r.upperBound.rounded(), r.upperBound < 1e9 else {
                        throw LensError.invalidArgument("--regions \(part) must be slice indices")
                    }
                    return Int(r.lowerBound)..<Int(r.upperBound)
                }
            } else if let regions {
                guard let n = Int(regions), n > 0 else { throw LensError.invalidArgument("--regions must be a count or A:B,C:D,...") }
                settings.regionCount = n
            }
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try ComptonCorrelationWorkflow.run(ct: ct, comptonFolder: compton, settings: settings, folder: folder, recordedFolder: out)
            for r in record.regions {
                print(String(format: "region %d: shift (%.2f, %.2f) px, %d pixels, r = %.3f, slope %.3f", r.region, r.shiftPixels[0], r.shiftPixels[1],
                             r.pixels, r.pearsonR, r.slope))
                if r.registrationNCC < 0.3 {
                    FileHandle.standardError.write(Data(String(format: "warning: region %d: the CT solid fraction and the Compton peak-area map agree poorly after registration (NCC %.2f); check the pixel sizes, regions and labels\n", r.region, r.registrationNCC).utf8))
                }
            }
            guard let summaryPath else { return }
            try JSONOutput.write(JSONValue.object([
                "output": .string(record.output), "regions": try JSONValue(encoding: record.regions),
                "provenance": try provenanceJSON(inputs: [ct], parameters: ["ct_voxel_um": .number(record.ctVoxelMicrometres), "compton_pixel_um": .number(comptonPixel),
                                                                            "pore_codes": .array(settings.poreCodes.map { .number(Double($0)) }),
                                                                            "solid_codes": .array(settings.solidCodes.sorted().map { .number(Double($0)) }),
                                                                            "label_scheme": selector.schemeJSON]),
            ]), to: summaryPath, inputs: [ct])
        }
    }
}
