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
        var settings = ComptonSpectraWorkflow.Settings(rows: rows, columns: columns, binKeV: binKeV, maximumKeV: maxKeV, chargeSharing: chargeSharing)
        if ComptonSpectraWorkflow.isFrames(events) {
            settings.frames = .init(kevPerADU: kevPerADU, offsetKeV: offsetKeV, gainMapPath: gainMap, offsetMapPath: offsetMap, thresholdKeV: thresholdKeV)
        }
        try settings.validate()
        if !ComptonSpectraWorkflow.isFrames(events) {
            try MemoryBudget.require(elements: rows * columns * settings.binning.count, elementBytes: 4,
                                     for: "--rows × --columns × bins", hint: "use fewer bins (--bin-kev) or a smaller detector")
        }
        try global.outputs(inputs: [events, gainMap, offsetMap]) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try ComptonSpectraWorkflow.run(events: events, settings: settings, outputPath: outPath, recordedOutput: out, inputs: [events]) {
                ProgressReporter(label: $0, total: $1)
            }
            let e = record.events
            print("wrote \(out): \(record.rows)×\(record.columns) pixels × \(settings.binning.count) bins; \(e.read) events read, \(e.counted) counted, \(e.multiPixelClusters) charge-sharing clusters (\(e.eventsInClusters) events, \(chargeSharing.rawValue)), \(e.outside) outside")
            guard let summaryPath, case .object(var fields) = try JSONValue(encoding: record) else { return }
            var parameters: [String: JSONValue] = ["rows": .number(Double(record.rows)), "columns": .number(Double(record.columns)),
                                                   "bin_kev": .number(binKeV), "charge_sharing": .string(chargeSharing.rawValue)]
            if let frames = settings.frames, let count = record.frameCount {
                parameters["frames"] = .number(Double(count)); parameters["threshold_kev"] = .number(frames.thresholdKeV)
                parameters["energy_calibration"] = .string(frames.summary)
            }
            fields["provenance"] = try provenanceJSON(inputs: [events] + [gainMap, offsetMap].compactMap { $0 }, parameters: parameters)
            try JSONOutput.write(JSONValue.object(fields), to: summaryPath, inputs: [events])
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
    @Option(help: "Solid phases: names or codes (default: the scheme's solid, active and binder phases not given as --pore).") var solid: String?
    @OptionGroup var labels: LabelSchemeOption
    @Option(help: "Depth regions: a count, or slice bounds A:B,C:D,...") var regions: String?
    @Option(name: .customLong("min-electrode"), help: "Electrode fraction a column needs to count.") var minimumElectrode: Double = 0.5
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try global.outputs(inputs: [ct, compton]) { outputs in
            let selector = PhaseSelector(input: ct, scheme: try labels.scheme(for: ct), countCodes: { try countLabelCodes(ct) })
            let phases = try selector.voidAndSolid(pore: pore, solid: solid)
            var settings = ComptonCorrelationWorkflow.Settings(comptonPixelMicrometres: comptonPixel, poreCodes: phases.pore.sorted(),
                                                               solidCodes: phases.solid.sorted(),
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
