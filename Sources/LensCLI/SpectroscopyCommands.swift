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
        try requirePositive(rbkg, "--rbkg", atMost: 10)
        try requireOption(kweight, "--kweight", in: 0...5)
        try requireOption(kmin, "--kmin", in: 0...60)
        try requireOption(dk, "--dk", in: 0...20)
        if let kmax {
            try requireOption(kmax, "--kmax", in: 0...60)
            guard kmax > kmin else { throw LensError.invalidArgument("--kmin \(kmin) must be below --kmax \(kmax) Å⁻¹") }
        }
        try global.outputs(inputs: [spectrum]) { outputs in
            try run(folder: try outputs.folder(out, option: "--out"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(folder out: String, summary summaryPath: String?) throws {
        let file = try SpectrumFile.read(spectrum, muColumn: muColumn)
        if let given = normalization.e0, !(file.energies.first! < given && given < file.energies.last!) {
            throw LensError.invalidArgument("--e0 \(given) eV lies outside the energies of \(spectrum) (\(file.energies.first!)…\(file.energies.last!) eV)")
        }
        let e0 = try normalization.e0 ?? EdgeEnergy.larchE0(energies: file.energies, mu: file.mu)
        let settings = EdgeNormalizationSettings.larchDefaults(energies: file.energies, e0: e0)
            .overriding(preEdge: try normalization.preRange, postEdge: try normalization.postRange, postEdgeDegree: normalization.postDegree)
        let n = try NormalizedSpectrum(energies: file.energies, mu: file.mu, e0: e0, settings: settings)
        guard n.edgeStep.isFinite, n.edgeStep > 0 else {
            throw LensError.badInput(file: spectrum, problem: "no absorption edge: the edge step is \(n.edgeStep) (a flat or inverted spectrum, or a wrong --e0/--pre/--post)")
        }
        let half = EdgeEnergy.crossing(energies: n.energies, values: n.normalized, near: e0,
                                       sigma: [Double](repeating: n.preEdgeNoise / n.edgeStep, count: n.energies.count))
        let derivative = try EdgeEnergy.maximumDerivative(energies: n.energies, values: n.normalized, within: (e0 - 15)...(e0 + 15))
        let white = EdgeEnergy.whiteLine(energies: n.energies, values: n.normalized, window: e0...(e0 + 25), points: 5)
        var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mu"), TableColumn("pre_edge"), TableColumn("post_edge"),
                                    TableColumn("normalized_mu"), TableColumn("dmu_de", unit: "1/eV")])
        for (k, e) in n.energies.enumerated() {
            let (a, b) = (max(0, k - 1), min(n.energies.count - 1, k + 1))
            let slope = (n.mu[b] - n.mu[a]) / (n.energies[b] - n.energies[a])
            table.append([.number(e), .number(n.mu[k]), .number(n.preEdgeLine(e)), .number(n.preEdgeLine(e) + n.postEdge(e)),
                          .number(n.normalized[k]), .number(slope)])
        }
        try table.write(to: "\(out)/normalized.csv")
        var outputs: [String: JSONValue] = ["normalized": .string("\(out)/normalized.csv")]
        var exafsSummary: JSONValue = .null
        if exafs {
            var settings = EXAFSBackground.Settings()
            settings.rbkg = rbkg; settings.kweight = kweight
            let background = try EXAFSBackground(energies: n.energies, mu: n.mu, e0: e0, edgeStep: n.edgeStep, settings: settings)
            var ft = RSpaceSpectrum.Settings()
            ft.kmin = kmin; ft.kmax = kmax ?? (background.k.last!.rounded(.down) - 1); ft.dk = dk; ft.kweight = kweight
            guard ft.kmax > ft.kmin else {
                throw LensError.badInput(file: spectrum, problem: kmax == nil
                    ? "the data reach only k = \(background.k.last!) Å⁻¹, too short for a transform from --kmin \(kmin) (give a smaller --kmin)"
                    : "--kmin \(kmin) must be below --kmax \(ft.kmax) Å⁻¹ (the data reach k = \(background.k.last!))")
            }
            let r = try RSpaceSpectrum(k: background.k, chi: background.chi, settings: ft)
            var chiTable = Table(columns: [TableColumn("k", unit: "1/Å"), TableColumn("chi"), TableColumn("k^\(kweight) chi", unit: "Å^-\(kweight)")])
            for (k, c) in zip(background.k, background.chi) { chiTable.append([.number(k), .number(c), .number(c * pow(k, kweight))]) }
            try chiTable.write(to: "\(out)/chi.csv")
            let magnitude = r.magnitude
            var rTable = Table(columns: [TableColumn("r", unit: "Å"), TableColumn("chir_real"), TableColumn("chir_imaginary"), TableColumn("chir_magnitude")])
            for i in r.r.indices { rTable.append([.number(r.r[i]), .number(r.real[i]), .number(r.imaginary[i]), .number(magnitude[i])]) }
            try rTable.write(to: "\(out)/chir.csv")
            outputs["chi"] = .string("\(out)/chi.csv"); outputs["chir"] = .string("\(out)/chir.csv")
            let peak = r.r.indices.filter { r.r[$0] >= 1 }.max { magnitude[$0] < magnitude[$1] }
            exafsSummary = .object(["rbkg_a": .number(rbkg), "knots": .number(Double(background.knotCount)), "k_max": .number(background.k.last!),
                                    "window": .object(["kmin": .number(ft.kmin), "kmax": .number(ft.kmax), "dk": .number(dk), "kweight": .number(kweight), "type": .string("hanning")]),
                                    "largest_peak_r_a": peak.map { .number(r.r[$0]) } ?? .null])
            print(String(format: "EXAFS: %d background knots; |χ(R)| largest above 1 Å at %.3f Å", background.knotCount, peak.map { r.r[$0] } ?? .nan))
        }
        print(String(format: "E0 %.2f eV (%@); edge step %.5g; half-height %.2f ± %.2f eV; derivative maximum %.2f eV; white line %.2f eV, height %.3f",
                     e0, normalization.e0 == nil ? "Larch find_e0" : "given", n.edgeStep, half.energy, half.uncertainty, derivative.energy,
                     white.energy.energy, white.height.energy))
        try writeSummary(summaryPath, [
            "file": .string(spectrum), "mu_source": .string(file.muSource), "points": .number(Double(n.energies.count)),
            "e0_ev": .number(e0), "edge_step": .number(n.edgeStep), "pre_edge_noise": .number(n.preEdgeNoise),
            "pre_edge_ev": .array([.number(n.settings.preEdge.lowerBound), .number(n.settings.preEdge.upperBound)]),
            "post_edge_ev": .array([.number(n.settings.postEdge.lowerBound), .number(n.settings.postEdge.upperBound)]),
            "post_edge_degree": .number(Double(n.settings.postEdgeDegree)),
            "half_height_energy_ev": .finite(half.energy), "half_height_energy_sigma_ev": .finite(half.uncertainty),
            "derivative_maximum_ev": .finite(derivative.energy), "white_line_energy_ev": .finite(white.energy.energy),
            "white_line_height": .finite(white.height.energy), "outputs": .object(outputs), "exafs": exafsSummary,
        ], inputs: [spectrum], parameters: ["pre": normalization.pre.map { .string($0) } ?? .null, "post": normalization.post.map { .string($0) } ?? .null,
                                            "e0": normalization.e0.map { .number($0) } ?? .null, "exafs": .bool(exafs)])
    }
}
