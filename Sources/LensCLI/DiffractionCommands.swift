import ArgumentParser
import BatteryLens
import Foundation

extension RadiationChoice: ExpressibleByArgument {}
extension UnitCell.System: ExpressibleByArgument {}

/// `batterylens diffraction …`: powder diffraction (calibration, operando series).
struct DiffractionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffraction",
        abstract: "Powder diffraction: instrument calibration against a standard, and sequential refinement of operando series (phase fractions, lattice parameters).",
        subcommands: [DiffractionIntegrateCommand.self, DiffractionSeriesCommand.self, DiffractionCalibrateCommand.self])
}

struct DiffractionSeriesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "series",
        abstract: "Refine every pattern of an operando series: phase fractions and lattice parameters with their errors.",
        discussion: """
        SERIES: HDF5 with /patterns (pattern, point), /two_theta (degrees) and optionally \
        /wavelength_angstrom and /voltage (as `phantom xrd` writes), or a CSV whose first column is \
        2θ and whose other columns are patterns. PHASES (--phases): JSON, a list of phases \
        [{"name", "cell": {"system": "hexagonal", "a": 2.87, "c": 14.2}, "reflections": [{"hkl": \
        [0, 0, 3], "relative_intensity": 1}, …]}] — the starting model and the reflections to fit. \
        Each pattern is fitted whole (the Pawley/Le Bail approach, restricted to the listed \
        reflections): peaks where each phase's cell puts them, a free area per reflection, a \
        background and peak shape per 2θ window, starting from the previous pattern. A phase's \
        fraction is its share of the scale factors that map its relative intensities onto its \
        areas (a phase fraction when the intensities are on one scale); its lattice is reported \
        where its fraction is at least --lattice-threshold and its scale at least 3σ. Writes \
        results.csv, heatmap.svg (the series beside the voltage), fractions.svg and lattice.svg.
        """)
    @Argument(help: "The series (HDF5 or CSV).") var series: String
    @Option(help: "Phases (JSON).") var phases: String
    @Option(help: "Source: monochromatic (λ from the file or --wavelength-angstrom) or cu-kalpha.") var radiation: RadiationChoice = .monochromatic
    @Option(name: .customLong("wavelength-angstrom"), help: "Wavelength in Å (overrides the file's).") var wavelength: Double?
    @Option(name: .customLong("zero-shift-deg"), help: "Instrument 2θ zero shift from `diffraction calibrate` (degrees; observed = Bragg + shift).") var zeroShift: Double = 0
    @Option(name: .customLong("window-widths"), help: "Fit each reflection within ± this many peak widths.") var windowWidths: Double = 6
    @Option(name: .customLong("fwhm-deg"), help: "Starting peak FWHM in degrees (default: measured on the first pattern).") var fwhm: Double?
    @Option(name: .customLong("lattice-threshold"), help: "Smallest phase fraction at which its lattice is refined.") var latticeThreshold: Double = 0.03
    @Option(help: "Output folder (created if missing).") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = DiffractionWorkflow.SeriesSettings()
        settings.radiation = radiation; settings.wavelengthAngstrom = wavelength; settings.zeroShiftDegrees = zeroShift
        settings.windowWidths = windowWidths; settings.initialFWHMDegrees = fwhm; settings.minimumFractionForLattice = latticeThreshold
        try global.outputs(inputs: [series, phases]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try DiffractionWorkflow.runSeries(series: series, phases: phases, settings: settings, folder: folder, recordedFolder: out)
            print(String(format: "refined %d patterns at λ = %.5f Å (%@); R_wp %.3f…%.3f", record.patterns, record.wavelengthAngstrom, record.wavelengthSource,
                         record.weightedProfileR[0], record.weightedProfileR[1]))
            for p in record.phases {
                let lattice = p.latticeRangeAngstrom.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f…%.4f Å", $0.key, $0.value[0], $0.value[1]) }.joined(separator: ", ")
                print(String(format: "  %@: fraction %.3f…%.3f; %@ (%d patterns refined)", p.name, p.fractionRange[0], p.fractionRange[1], lattice.isEmpty ? "lattice not refined" : lattice, p.patternsRefined))
            }
            guard case .object(let fields) = try JSONValue(encoding: record) else { return }
            try writeSummary(summaryPath, fields, inputs: [series, phases], parameters: [
                "radiation": .string(radiation.rawValue), "wavelength_angstrom": wavelength.map { .number($0) } ?? .null,
                "zero_shift_deg": .number(zeroShift), "window_widths": .number(windowWidths), "fwhm_deg": fwhm.map { .number($0) } ?? .null,
                "lattice_threshold": .number(latticeThreshold)])
        }
    }
}

struct DiffractionCalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Calibrate the 2θ zero (and the wavelength) from a pattern of a standard (LaB6, Si, CeO2).",
        discussion: """
        PATTERN: column text (.xye, .xy, .dat, .csv; bzip2 or gzip compressed too): 2θ in degrees, \
        intensity, and optionally its standard error. --calibrant: the standard's d-spacings, one \
        per line in Å with "# (h k l)" after it (pyFAI's .D files). Every reflection in range is \
        profile-fitted (pseudo-Voigt; with --radiation cu-kalpha the Kα2 line too), and the zero \
        shift (and with --refine-wavelength the wavelength) fitted to the positions. With --cell, \
        the standard's cell is refined from the calibrated positions. Writes lines.csv and \
        residuals.svg.
        """)
    @Argument(help: "Pattern of the standard.") var pattern: String
    @Option(help: "The standard's d-spacing list (.D).") var calibrant: String
    @Option(help: "Source: cu-kalpha or monochromatic (with --wavelength-angstrom).") var radiation: RadiationChoice = .copperKAlpha
    @Option(name: .customLong("wavelength-angstrom"), help: "Wavelength in Å (monochromatic).") var wavelength: Double?
    @Flag(name: .customLong("refine-wavelength"), help: "Refine the wavelength too.") var refineWavelength = false
    @Option(name: .customLong("half-width-deg"), help: "Fit each reflection within ± this of its predicted 2θ.") var halfWidth: Double = 0.4
    @Option(help: "Refine the standard's cell in this crystal system from the calibrated positions.") var cell: UnitCell.System?
    @Option(help: "Output folder (created if missing).") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = DiffractionWorkflow.CalibrationSettings()
        settings.radiation = radiation; settings.wavelengthAngstrom = wavelength; settings.refineWavelength = refineWavelength
        settings.halfWidthDegrees = halfWidth; settings.cellSystem = cell
        try global.outputs(inputs: [pattern, calibrant]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try DiffractionWorkflow.runCalibration(pattern: pattern, calibrant: calibrant, settings: settings, folder: folder, recordedFolder: out)
            let c = record.calibration
            print(String(format: "%d reflections fitted; zero shift %.4f ± %.4f°; λ %.6f Å%@; RMS residual %.4f°", c.lines.count, c.zeroShiftDegrees,
                         c.zeroShiftErrorDegrees ?? .nan, c.wavelengthAngstrom, c.wavelengthErrorAngstrom.map { String(format: " ± %.6f", $0) } ?? " (fixed)", c.rmsResidualDegrees))
            if let cell = record.cell {
                print("cell: " + zip(cell.cell.parameterNames, cell.cell.parameters).enumerated().map { k, p in
                    String(format: "%@ = %.5f ± %.5f Å", p.0, p.1, cell.standardErrorsAngstrom?[k] ?? .nan) }.joined(separator: ", "))
            }
            guard case .object(let fields) = try JSONValue(encoding: record) else { return }
            try writeSummary(summaryPath, fields, inputs: [pattern, calibrant], parameters: [
                "radiation": .string(radiation.rawValue), "wavelength_angstrom": wavelength.map { .number($0) } ?? .null,
                "refine_wavelength": .bool(refineWavelength), "half_width_deg": .number(halfWidth), "cell": cell.map { .string($0.rawValue) } ?? .null])
        }
    }
}

struct DiffractionIntegrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "integrate",
        abstract: "Azimuthally integrate area-detector frames into powder patterns (an operando series), as pyFAI's integrate1d.",
        discussion: """
        FRAMES: one 2-D image or a stack (frame, row, column) in any volume format (HDF5 as \
        file.h5:/dataset, TIFF, NumPy), read one frame at a time. The geometry: a pyFAI .poni file \
        (--poni; distance, PONI, three rotations, pixel sizes, wavelength), or a detector normal \
        to the beam (--distance-mm, --beam-centre ROW:COLUMN in pixels, --pixel-um). Each pixel's \
        centre falls in one 2θ bin (no pixel splitting); a bin's intensity is Σ counts / Σ \
        normalization (solid angle unless --no-solid-angle, times the polarization factor with \
        --polarization F), its error √Σcounts / Σ normalization. Writes an HDF5 series (/patterns, \
        /sigma, /two_theta, /wavelength_angstrom) that `diffraction series` reads.
        """)
    @Argument(help: "Frames (a 2-D image or a stack).") var frames: String
    @Option(help: "pyFAI geometry file (.poni).") var poni: String?
    @Option(name: .customLong("distance-mm"), help: "Sample–detector distance (mm), detector normal to the beam.") var distance: Double?
    @Option(name: .customLong("beam-centre"), help: "Beam position on the detector, ROW:COLUMN in pixels (pixel-centre coordinates).") var beamCentre: String?
    @Option(name: .customLong("pixel-um"), help: "Detector pixel size (µm).") var pixel: Double?
    @Option(name: .customLong("wavelength-angstrom"), help: "Wavelength in Å (overrides the .poni file's).") var wavelength: Double?
    @Option(help: "Number of 2θ bins.") var bins: Int = 2000
    @Option(name: .customLong("range-deg"), help: "2θ range to bin, A:B in degrees (default: all pixels).") var range: String?
    @Option(help: "Mask image: non-zero pixels are left out (gaps, dead pixels, beam stop).") var mask: String?
    @Option(help: "Polarization factor of the beam (pyFAI's: 0 unpolarized, ~0.95–0.99 at a synchrotron); default: no correction.") var polarization: Double?
    @Flag(name: .customLong("no-solid-angle"), help: "Do not correct for the pixels' solid angle.") var noSolidAngle = false
    @Option(help: "Output series (.h5).") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = DiffractionWorkflow.IntegrationSettings()
        settings.poniFile = poni; settings.bins = bins; settings.correctSolidAngle = !noSolidAngle
        settings.polarizationFactor = polarization; settings.wavelengthAngstrom = wavelength
        if poni == nil {
            if distance != nil || beamCentre != nil || pixel != nil {
                guard let distance, let beamCentre, let pixel else {
                    throw ValidationError("a detector normal to the beam needs all of --distance-mm, --beam-centre ROW:COLUMN and --pixel-um")
                }
                let parts = beamCentre.split(separator: ":").compactMap { Double($0) }
                guard parts.count == 2 else { throw ValidationError("--beam-centre takes ROW:COLUMN in pixels, got \(beamCentre)") }
                settings.geometry = .normal(distanceMillimetres: distance, beamCentreRow: parts[0], column: parts[1], pixelMicrometres: pixel)
            }
        } else if distance != nil || beamCentre != nil || pixel != nil {
            throw ValidationError("--poni gives the whole geometry: leave out --distance-mm, --beam-centre and --pixel-um")
        }
        if let range {
            let parts = range.split(separator: ":").compactMap { Double($0) }
            guard parts.count == 2, parts[0] < parts[1] else { throw ValidationError("--range-deg takes A:B with A < B, got \(range)") }
            settings.radialRangeDegrees = parts[0]...parts[1]
        }
        let inputs = [frames] + [poni, mask].compactMap { $0 }
        try global.outputs(inputs: inputs) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try DiffractionWorkflow.runIntegration(frames: frames, mask: mask, settings: settings, output: outPath)
            print(String(format: "integrated %d frames of %d × %d pixels into %d bins over 2θ %.3f…%.3f°%@; wrote %@", record.frames, record.frameShape[0],
                         record.frameShape[1], record.bins, record.twoThetaRangeDegrees[0], record.twoThetaRangeDegrees[1],
                         record.wavelengthAngstrom.map { String(format: " (λ = %.5f Å)", $0) } ?? " (no wavelength: declare it to `diffraction series`)", out))
            guard case .object(let fields) = try JSONValue(encoding: record) else { return }
            try writeSummary(summaryPath, fields, inputs: inputs, parameters: [
                "bins": .number(Double(bins)), "range_deg": range.map { .string($0) } ?? .null, "polarization": polarization.map { .number($0) } ?? .null,
                "solid_angle": .bool(!noSolidAngle), "wavelength_angstrom": wavelength.map { .number($0) } ?? .null])
        }
    }
}
