import ArgumentParser
import Foundation
import LensCore
import LensIO
import Pipeline
import Signal
import Spectroscopy
import SpectroscopyFiles

/// Normalization ranges shared by `xanes` and `xas`.
struct NormalizationOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Pre-edge range relative to E0 in eV, LOW:HIGH (e.g. -150:-30). Default: Larch's.") var pre: String?
    @Option(parsing: .unconditional, help: "Post-edge range relative to E0 in eV, LOW:HIGH (e.g. 40:220). Default: Larch's.") var post: String?
    @Option(name: .customLong("post-degree"), help: "Degree of the post-edge polynomial (default: Larch's rule from the range's span).") var postDegree: Int?
    @Option(help: "E0 in eV (default: found from the data).") var e0: Double?
    @Option(name: .customLong("energy-unit"), help: "Unit of the energies read (spectra, references, energy lists) in place of what files declare; needed when a file declares none and its numbers do not tell.") var energyUnit: EnergyUnit?

    /// Declares --energy-unit for everything the command reads.
    func apply() { DeclaredEnergyUnit.current = energyUnit }

    var preRange: ClosedRange<Double>? { get throws { try pre.map { try parseValueRange($0, option: "--pre") } } }
    var postRange: ClosedRange<Double>? { get throws { try post.map { try parseValueRange($0, option: "--post") } } }
    func validate() throws {
        if let postDegree, !(0...5).contains(postDegree) { throw LensError.invalidArgument("--post-degree must be 0…5") }
        if let e0, !e0.isFinite || e0 <= 0 { throw LensError.invalidArgument("--e0 must be a positive energy in eV, got \(e0)") }
        _ = try preRange; _ = try postRange
    }
}

struct XANESCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xanes",
        abstract: "TXM-XANES stacks (2D or 3D) to edge-energy, white-line and LCF maps with per-pixel uncertainties.",
        discussion: """
        STACK: one file (energy, y, x) or (energy, z, y, x), or one image/volume file per energy. \
        Pixels are normalized with one E0 (the mean spectrum's derivative maximum) and one set of \
        ranges, Larch-style; pixels with zero intensity, too small an edge jump or no edge crossing \
        are masked and counted (mask.tif: 0 analysed, 1 intensity ≤ 0, 2 low jump, 3 no crossing, \
        4 an estimate undefined: flat derivative, no white-line maximum, failed fit). \
        Writes 32-bit TIFF maps (edge_energy, derivative_edge_energy, white_line_energy/height, \
        fractions, each with _sigma), mask.tif, mean_spectrum.csv, PCA scores and components, \
        k-means clusters, per-label CSVs, and edge_energy.png.
        """)

    @Argument(help: "The stack: one file, or one file per energy in energy order.") var stack: [String]
    @Option(help: "Energies (eV, or keV): a column text file with one energy per image, or file.h5:/dataset. Default: recorded in the stack (an /energies dataset beside an HDF5 stack, Xradia metadata).") var energies: String?
    @Option(help: "I0: a stack of the same shape, or a text file with one value per energy. Without it the stack is I/I0.") var flat: String?
    @Option(help: "Dark signal subtracted from the stack and I0: a stack of the same shape, or one value per energy.") var dark: String?
    @Flag(name: .customLong("optical-density"), help: "The stack holds optical density −ln(I/I0), not intensity.") var opticalDensity = false
    @Option(parsing: .upToNextOption, help: "Reference spectra for linear combination fitting (column text: energy, μ).") var references: [String] = []
    @Option(help: "Label image/volume (particles, grains) on the anchor energy's frame, for per-label statistics.") var labels: String?
    @Option(name: .customLong("label-classes"), help: "A class per label for the per-label tables and per-class summaries: two-column text (label, class name), e.g. damage classes.") var labelClasses: String?
    @Option(help: "Align the energies: none, chained (each to its neighbour) or anchor (each to the anchor energy).") var align: StackAlignmentName = .none
    @Option(name: .customLong("anchor-index"), help: "Energy index the others are aligned to (default: the middle).") var anchorIndex: Int?
    @Option(name: .customLong("magnification-per-ev"), help: "Relative magnification change per eV to undo before aligning (TXM).") var magnificationPerEV: Double = 0
    @Option(name: .customLong("fit-window"), parsing: .unconditional, help: "Absolute LCF window in eV, LOW:HIGH (default: where all references exist).") var fitWindow: String?
    @Flag(name: .customLong("no-sum-to-one"), help: "Do not constrain the LCF weights to sum to one.") var noSumToOne = false
    @Option(name: .customLong("reference-shift"), parsing: .unconditional, help: "Energy shift (eV) applied to the references.") var referenceShift: Double = 0
    @Flag(name: .customLong("fit-reference-shift"), help: "Fit one reference shift on the mean spectrum (within ±5 eV of --reference-shift).") var fitReferenceShift = false
    @Option(name: .customLong("min-jump"), help: "Mask pixels whose edge step is below this many standard errors.") var minimumJump: Double = 5
    @Option(help: "PCA score maps to write (0: no PCA).") var pca: Int = 3
    @Option(help: "k-means clusters of the spectra on the first three PCA scores (0: none).") var clusters: Int = 0
    @Flag(name: .customLong("write-normalized"), help: "Also write the normalized stack (2D stacks: a 3D stack's is 4D, which TIFF cannot hold).") var writeNormalized = false
    @Option(name: .customLong("slab-mib"), help: "Stream a 3D stack (one volume per energy, or one 4D NPY/HDF5 file) in z-slabs of about this much working memory (default: in memory when it fits in a quarter of RAM, else 1024). The maps are identical to an in-memory run's: E0, the noise scale and a fitted reference shift come from passes over every slab. I0 and dark stream beside it (one value per energy, or a 4D NPY/HDF5 file); aligning needs the stack in memory (align a sub-volume first).") var slabMiB: Int?
    @Option(help: "Output folder (created if missing).") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var normalization: NormalizationOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        normalization.apply()
        try requireOption(minimumJump, "--min-jump", in: 0...1e6)
        var inputs = XANESInputs(stackPaths: stack, energiesPath: energies)
        inputs.flatPath = flat; inputs.darkPath = dark; inputs.opticalDensity = opticalDensity
        inputs.referencePaths = references; inputs.labelsPath = labels; inputs.labelClassesPath = labelClasses
        inputs.resolveSingleHDF5Stack()
        var options = XANESOptions()
        options.analysis.e0 = normalization.e0
        options.analysis.minimumJumpToNoise = minimumJump
        options.analysis.sumToOne = !noSumToOne
        options.analysis.referenceShift = referenceShift
        options.analysis.fitReferenceShift = fitReferenceShift
        options.analysis.fitWindow = try fitWindow.map { try parseValueRange($0, option: "--fit-window") }
        options.analysis.preEdgeOverride = try normalization.preRange
        options.analysis.postEdgeOverride = try normalization.postRange
        options.analysis.postEdgeDegreeOverride = normalization.postDegree
        switch align {
        case .none: options.alignment = nil
        case .chained, .anchor:
            var a = StackAlignmentSettings()
            a.mode = align == .chained ? .chained : .anchor
            a.anchorIndex = anchorIndex; a.magnificationPerElectronVolt = magnificationPerEV
            options.alignment = a
        }
        guard pca >= 0, clusters >= 0 else { throw LensError.invalidArgument("--pca and --clusters must be ≥ 0") }
        options.principalComponents = clusters > 0 ? max(pca, 3) : pca
        options.clusters = clusters
        options.writeNormalizedStack = writeNormalized
        if let slabMiB, slabMiB < 1 { throw LensError.invalidArgument("--slab-mib must be at least 1") }
        options.slabMegabytes = slabMiB
        let allInputs = stack + (energies.map { [$0] } ?? []) + (flat.map { [$0] } ?? []) + (dark.map { [$0] } ?? []) + references + (labels.map { [$0] } ?? [])
        for input in allInputs where !FileManager.default.fileExists(atPath: InputRecord.filePart(of: input)) {
            throw LensError.badInput(file: input, problem: "no such file")
        }
        try global.outputs(inputs: allInputs + [labelClasses]) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        let summaryPath = try outputs.file(summary, option: "--summary")
        let result = try XANESWorkflow.run(inputs: inputs, options: options, outputFolder: folder) { ProgressReporter(label: $0, total: $1) }
        let m = result.maps
        let counts = m.maskCounts
        print(String(format: "E0 %.2f eV; %d pixels analysed, %d masked", result.calibration.e0, counts[.valid] ?? 0, m.mask.count - (counts[.valid] ?? 0)))
        if let mean = result.edgeEnergyStatistics.mean, let std = result.edgeEnergyStatistics.std, mean.isFinite {
            print(String(format: "edge energy (half height) %.3f ± %.3f eV across pixels", mean, std))
        }
        print("maps in \(out)")
        try writeSummary(summaryPath, result.summary, inputs: allInputs, parameters: [
            "align": .string(align.rawValue), "min_jump": .number(minimumJump), "pca": .number(Double(pca)), "clusters": .number(Double(clusters)),
            "pre": normalization.pre.map { .string($0) } ?? .null, "post": normalization.post.map { .string($0) } ?? .null,
            "e0": normalization.e0.map { .number($0) } ?? .null, "sum_to_one": .bool(!noSumToOne),
            "reference_shift": .number(referenceShift), "fit_reference_shift": .bool(fitReferenceShift),
        ])
        }
    }
}

struct XASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xas",
        abstract: "One XAS spectrum: Larch-compatible E0, pre-edge subtraction and normalization, edge and white-line positions.",
        discussion: """
        SPECTRUM: column text (XDI, .xmu, CSV): energy and μ (a column named mu, xmu, mutrans, …; \
        or ln(i0/itrans) from detector columns). E0 follows Larch's find_e0 unless --e0 is given; \
        the ranges follow Larch's pre_edge defaults unless --pre/--post are given. Writes \
        normalized.csv (energy, μ, pre-edge line, post-edge curve, normalized μ, dμ/dE) in --out. \
        With --exafs (spectra that extend well past the edge): AUTOBK background removal (--rbkg), \
        chi.csv (k, χ, k^w·χ) and chir.csv (R, Re, Im, |χ(R)|) from a Hanning-windowed transform \
        over --kmin…--kmax with taper --dk and weight --kweight.
        """)
    @Argument(help: "Spectrum file.") var spectrum: String
    @Option(name: .customLong("mu-column"), help: "Name of the μ column (default: recognised by name).") var muColumn: String?
    @Flag(help: "Also remove the EXAFS background and Fourier transform χ(k).") var exafs = false
    @Option(help: "AUTOBK: distances below this (Å) are background.") var rbkg: Double = 1
    @Option(help: "Fourier transform: k weight.") var kweight: Double = 2
    @Option(help: "Fourier transform window start (Å⁻¹).") var kmin: Double = 2
    @Option(help: "Fourier transform window end (Å⁻¹; default: 1 below the last k).") var kmax: Double?
    @Option(help: "Fourier transform window taper (Å⁻¹).") var dk: Double = 1
    @Option(help: "Output folder (created if missing).") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var normalization: NormalizationOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        normalization.apply()
        var settings = XASWorkflow.Settings()
        settings.muColumn = muColumn; settings.e0 = normalization.e0
        settings.preEdge = try normalization.preRange; settings.postEdge = try normalization.postRange
        settings.postEdgeDegree = normalization.postDegree
        var e = XASWorkflow.Settings.EXAFS()
        e.rbkg = rbkg; e.kweight = kweight; e.kmin = kmin; e.kmax = kmax; e.dk = dk
        try e.validate()   // a bad value is an error even without --exafs
        if exafs { settings.exafs = e }
        try settings.validate()
        try global.outputs(inputs: [spectrum]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let record = try XASWorkflow.run(spectrum: spectrum, settings: settings, folder: folder, recordedFolder: out)
            if let e = record.exafs {
                print(String(format: "EXAFS: %d background knots; |χ(R)| largest above 1 Å at %.3f Å", e.knots, e.largestPeakAngstrom ?? .nan))
            }
            print(String(format: "E0 %.2f eV (%@); edge step %.5g; half-height %.2f ± %.2f eV; derivative maximum %.2f eV; white line %.2f eV, height %.3f",
                         record.e0ElectronVolts, record.e0Given ? "given" : "Larch find_e0", record.edgeStep, record.halfHeightEnergy,
                         record.halfHeightEnergySigma, record.derivativeMaximum, record.whiteLineEnergy, record.whiteLineHeight))
            guard case .object(let fields) = try JSONValue(encoding: record) else { return }
            try writeSummary(summaryPath, fields, inputs: [spectrum], parameters: [
                "pre": normalization.pre.map { .string($0) } ?? .null, "post": normalization.post.map { .string($0) } ?? .null,
                "e0": normalization.e0.map { .number($0) } ?? .null, "exafs": .bool(exafs)])
        }
    }
}
