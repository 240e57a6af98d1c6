import ArgumentParser
import Foundation
import LensCore
import LensIO
import ImageAnalysis
import Microstructure
import Pipeline
import Signal

// MARK: Shared parsing

let axisNames = ["z", "y", "x"]

func parseList(_ text: String, option: String) throws -> [Double] {
    let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw LensError.invalidArgument("\(option) must be comma-separated numbers, got '\(text)'") }
    return values.map { $0! }
}

func writeSummary(_ summary: String?, _ object: [String: JSONValue], inputs: [String], parameters: [String: JSONValue]) throws {
    guard let summary else { return }
    var o = object
    o["provenance"] = try provenanceJSON(inputs: inputs, parameters: parameters)
    try JSONOutput.write(JSONValue.object(o), to: summary, inputs: inputs)
}

// MARK: filter

struct FilterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Median, Gaussian, unsharp mask, bilateral or non-local means filtering of a 2D or 3D volume.",
        discussion: "Widths are in units of the smallest voxel edge; anisotropic voxels are respected. Borders are mirrored (scipy's reflect).")

    @Argument(help: "Input volume.") var input: String
    @Option(help: "Output volume (float32; median keeps 8/16-bit types).") var out: String
    @Option(help: "Filter.") var method: FilterMethodName
    @Option(help: "Median cube radius (1: 3×3×3).") var radius: Int = 1
    @Option(help: "Gaussian σ / unsharp radius / bilateral spatial σ.") var sigma: Double = 1
    @Option(help: "Unsharp mask amount.") var amount: Double = 0.5
    @Option(name: .customLong("range-sigma"), help: "Bilateral range σ (grey units).") var rangeSigma: Double?
    @Option(name: .customLong("noise-sigma"), help: "Non-local means: noise σ (grey units).") var noiseSigma: Double?
    @Option(name: .customLong("patch-radius"), help: "Non-local means patch radius.") var patchRadius: Int = 1
    @Option(name: .customLong("search-radius"), help: "Non-local means search radius.") var searchRadius: Int = 3
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(radius, "--radius", in: 0...25)
        try requirePositive(sigma, "--sigma", atMost: 100)
        try requireOption(amount, "--amount", in: -100...100)
        try requireOption(patchRadius, "--patch-radius", in: 0...10)
        try requireOption(searchRadius, "--search-radius", in: 1...25)
        if let rangeSigma { try requirePositive(rangeSigma, "--range-sigma") }
        if let noiseSigma { try requirePositive(noiseSigma, "--noise-sigma") }
        try global.outputs(inputs: [input]) { outputs in
            try run(out: try outputs.file(out, option: "--out"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(out outPath: String, summary summaryPath: String?) throws {
        let grid = try VolumeIO.read(input)
        let start = Date()
        switch method {
        case .median:
            guard radius >= 0 else { throw LensError.invalidArgument("--radius must be ≥ 0") }
            switch grid {
            case .uint8(let g): try VolumeIO.write(Filters.median(g, radius: radius), to: outPath, inputs: [input])
            case .uint16(let g): try VolumeIO.write(Filters.median(g, radius: radius), to: outPath, inputs: [input])
            default: try VolumeIO.write(Filters.median(try grid.float32(), radius: radius), to: outPath, inputs: [input])
            }
        case .gaussian: try VolumeIO.write(Filters.gaussian(try grid.float32(), sigma: sigma), to: outPath, inputs: [input])
        case .unsharp: try VolumeIO.write(Filters.unsharpMask(try grid.float32(), radius: sigma, amount: amount), to: outPath, inputs: [input])
        case .bilateral:
            guard let rangeSigma, rangeSigma > 0 else { throw LensError.invalidArgument("bilateral needs --range-sigma > 0 (grey units)") }
            try VolumeIO.write(Filters.bilateral(try grid.float32(), spatialSigma: sigma, rangeSigma: rangeSigma), to: outPath, inputs: [input])
        case .nlm:
            guard let noiseSigma, noiseSigma > 0 else { throw LensError.invalidArgument("nlm needs --noise-sigma > 0 (grey units; measure it in a uniform region)") }
            try VolumeIO.write(Filters.nonLocalMeans(try grid.float32(), noiseSigma: noiseSigma, patchRadius: patchRadius, searchRadius: searchRadius),
                               to: outPath, inputs: [input])
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "wrote %@ (%@, %.2f s)", out, method.rawValue, seconds))
        try writeSummary(summaryPath, ["output": .string(out), "method": .string(method.rawValue), "seconds": .number(seconds)], inputs: [input],
                         parameters: ["radius": .number(Double(radius)), "sigma": .number(sigma), "amount": .number(amount)])
    }
}

// MARK: segment

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment an electrode volume into pore and solid (or pore, carbon–binder, active).",
        subcommands: [SegmentElectrodeCommand.self, SegmentPhasesCommand.self])
}

struct SegmentationOptions: ParsableArguments {
    @Argument(help: "Grey volume (reconstruction).") var input: String
    @Option(help: "Output label volume: 0 outside the electrode, 1 pore, 2 solid (3 classes: 2 carbon–binder, 3 active); the scheme is written beside it as OUT.labels.json.") var out: String
    @Option(name: .customLong("median-radius"), help: "Median cube radius (1: 3×3×3; 0: none).") var medianRadius: Int = 1
    @Option(name: .customLong("envelope-radius"), help: "Ball radius (voxels) closing and opening the solid into the electrode envelope.") var envelopeRadius: Double = 11
    @Option(name: .customLong("unsharp-radius"), help: "Unsharp mask Gaussian radius (voxels).") var unsharpRadius: Double = 1
    @Option(name: .customLong("unsharp-amount"), help: "Unsharp mask amount (0: none).") var unsharpAmount: Double = 0.5
    @Option(help: "Manual thresholds (grey values, comma-separated) instead of (multi-)Otsu.") var thresholds: String?
    @Flag(name: .customLong("keep-all"), help: "Keep every piece of the envelope, not only the largest.") var keepAll = false
    @Option(help: "The electrode region classified (and that porosity refers to): envelope (found by the recipe), circle (the reconstruction circle: for a sample filling the field of view) or all.") var region: ElectrodeSegmentation.Region = .envelope
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run(classes: Int) throws {
        global.apply()
        try requireOption(classes, "--classes", in: 2...3)
        try requireOption(medianRadius, "--median-radius", in: 0...25)
        try requireOption(envelopeRadius, "--envelope-radius", in: 0...200)
        try requireOption(unsharpRadius, "--unsharp-radius", in: 0...100)
        try requireOption(unsharpAmount, "--unsharp-amount", in: 0...100)
        if let thresholds, try parseList(thresholds, option: "--thresholds").contains(where: { !$0.isFinite }) {
            throw LensError.invalidArgument("--thresholds must be finite grey values, got '\(thresholds)'")
        }
        try global.outputs(inputs: [input]) { outputs in
            try run(classes: classes, out: try outputs.file(out, option: "--out"),
                    scheme: try outputs.file(LabelSchemeFile.sidecarPath(for: out), option: "--out (its label scheme)"),
                    summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(classes: Int, out outPath: String, scheme schemePath: String, summary summaryPath: String?) throws {
        var p = ElectrodeSegmentation.Parameters()
        p.medianRadius = medianRadius; p.envelopeRadius = envelopeRadius; p.unsharpRadius = unsharpRadius
        p.unsharpAmount = unsharpAmount; p.classes = classes; p.keepLargest = !keepAll; p.region = region
        if let thresholds { p.thresholds = try parseList(thresholds, option: "--thresholds") }
        let grey = try VolumeIO.read(input).float32()
        let progress = ProgressReporter(label: "segmenting", total: 3)
        let record = try SegmentationWorkflow.run(grey, settings: p, outputPath: outPath, schemePath: schemePath, recordedOutput: out,
                                                  inputs: [input], progress: progress)
        progress.finish()
        print(String(format: "wrote %@ (labels %@; scheme in %@): electrode %d voxels (%@), porosity %.4f, thresholds %@", out,
                     SegmentationWorkflow.scheme(classes: classes).summary, record.labelSchemeFile, record.electrodeVoxels, region.summary,
                     record.porosity, record.phaseThresholds.map { String(format: "%.6g", $0) }.joined(separator: ", ")))
        guard case .object(let fields) = try JSONValue(encoding: record) else { return }
        try writeSummary(summaryPath, fields,
                         inputs: [input], parameters: ["classes": .number(Double(classes)), "median_radius": .number(Double(medianRadius)),
                                                       "envelope_radius": .number(envelopeRadius), "unsharp_radius": .number(unsharpRadius),
                                                       "unsharp_amount": .number(unsharpAmount)])
    }
}

struct SegmentElectrodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "electrode",
        abstract: "The thick-electrode recipe: median → threshold → envelope (closing, opening, largest piece) → unsharp mask → binarize.")
    @OptionGroup var options: SegmentationOptions
    func run() throws { try options.run(classes: 2) }
}

struct SegmentPhasesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phases",
        abstract: "The same recipe with multi-Otsu into pore, carbon–binder and active material.")
    @OptionGroup var options: SegmentationOptions
    @Option(help: "Classes inside the electrode (2 or 3).") var classes: Int = 3
    func run() throws { try options.run(classes: classes) }
}

// MARK: label

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label", abstract: "Connected components of one phase (6/18/26 connectivity) with their statistics.",
        discussion: "Reads and writes slab by slab (provisional labels go to a hidden temporary file beside the output), so volumes larger than memory can be labelled. Labels are numbered in raster order of each component's first voxel.")
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Output labels (int32).") var out: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "solid"
    @Option(help: "6, 18 or 26.") var connectivity: Int = 26
    @Option(name: .customLong("min-size"), help: "Drop components smaller than this many voxels.") var minSize: Int = 0
    @Option(name: .customLong("slab-mib"), help: "MiB of int32 labels per slab.") var slabMiB: Int = 128
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard let c = Connectivity(rawValue: connectivity) else { throw LensError.invalidArgument("--connectivity must be 6, 18 or 26") }
        try requireOption(slabMiB, "--slab-mib", in: 1...(1 << 20))
        guard minSize >= 0 else { throw LensError.invalidArgument("--min-size must be ≥ 0") }
        try global.outputs(inputs: [input]) { outputs in
            try run(connectivity: c, out: try outputs.file(out, option: "--out"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(connectivity c: Connectivity, out outPath: String, summary summaryPath: String?) throws {
        let selector = PhaseSelector(input: input, scheme: try labels.scheme(for: input), countCodes: { try countLabelCodes(input) })
        let codes = try selector.codes(phase)
        let outcome = try VolumeLabelling.run(input: input, phaseCodes: codes, output: outPath, connectivity: c,
                                              minimumVoxels: minSize, slabBytes: slabMiB << 20)
        let record = outcome.record(output: out)
        print("wrote \(out): \(record.components) components; largest \(record.largestVoxels) voxels (\(String(format: "%.1f", record.largestShare.isFinite ? 100 * record.largestShare : 0)) % of the phase)")
        guard case .object(let fields) = try JSONValue(encoding: record) else { return }
        try writeSummary(summaryPath, fields,
                         inputs: [input], parameters: ["phase": .string(phase), "phase_codes": .array(codes.map { .number(Double($0)) }),
                                                       "label_scheme": selector.schemeJSON, "connectivity": .number(Double(connectivity)),
                                                       "min_size": .number(Double(minSize)), "slab_planes": .number(Double(outcome.slabPlanes))])
    }
}

// MARK: particles

struct ParticlesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "particles",
        abstract: "Separate touching particles (distance transform, h-maxima markers, watershed) and measure each one.",
        discussion: "Writes the particle labels, a CSV of properties with units, and in the summary the size distribution with bootstrap 95 % intervals.")
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Output particle labels (int32).") var out: String
    @Option(help: "Per-particle properties CSV.") var csv: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "solid"
    @Option(help: "Marker height h (voxels of distance).") var h: Double = 0.5
    @Option(help: "Gaussian σ (voxels) of the distance map before the markers.") var smoothing: Double = 0.5
    @Option(help: "Grey volume for per-particle grey statistics.") var grey: String?
    @Option(name: .customLong("depth-axis"), help: "Depth axis.") var depthAxis: SliceAxis = .z
    @Option(name: .customLong("min-voxels"), help: "Leave out particles smaller than this.") var minVoxels: Int = 8
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(h, "--h", in: 0...1000)
        try requireOption(smoothing, "--smoothing", in: 0...50)
        try requireOption(minVoxels, "--min-voxels", in: 0...Int.max)
        try global.outputs(inputs: [input, grey]) { outputs in
            try run(out: try outputs.file(out, option: "--out"), csv: try outputs.file(csv, option: "--csv"),
                    summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(out outPath: String, csv csvPath: String, summary summaryPath: String?) throws {
        let volume = try LabelVolume(input, schemeOption: labels)
        let (mask, codes) = try volume.mask(phase: phase)
        let greyVolume = try grey.map { try VolumeIO.read($0).float32() }
        if let greyVolume { try mask.requireSameShape(as: greyVolume, "the label volume \(input)", "the grey volume \(grey!)") }
        let record = try ParticleWorkflow.run(mask: mask, grey: greyVolume,
                                              settings: .init(markerHeightVoxels: h, smoothingSigmaVoxels: smoothing, depthAxis: depthAxis.index, minimumVoxels: minVoxels))
        try VolumeIO.write(record.labels, to: outPath, inputs: [input])
        try record.table.write(to: csvPath)
        let (properties, psd, length, l) = (record.properties, record.interiorDistribution, record.length, record.length.name)
        print(String(format: "wrote %@ and %@: %d particles (%d inside the field of view); D50 %.3g %@ [%.3g, %.3g] (number), %.3g %@ (volume)",
                     out, csv, properties.count, psd.count, psd.numberD50.value, l, psd.numberD50.lower, psd.numberD50.upper, psd.volumeD50.value, l))
        try writeSummary(summaryPath, ["output": .string(out), "csv": .string(csv), "particles": .number(Double(properties.count)),
                                   "unit": .string(l), "voxel_size_known": .bool(length.isPhysical),
                                   "size_distribution_interior": try JSONValue(encoding: psd),
                                   "surface": .string("marching tetrahedra on the indicator smoothed with σ = 0.7 voxel")],
                         inputs: [input] + (grey.map { [$0] } ?? []),
                         parameters: ["phase": .string(phase), "phase_codes": .array(codes.map { .number(Double($0)) }), "label_scheme": volume.selector.schemeJSON, "h": .number(h), "smoothing": .number(smoothing), "min_voxels": .number(Double(minVoxels))])
    }
}

// MARK: porosity

struct PorosityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porosity",
        abstract: "Phase fractions and porosity overall and per depth region, read slab by slab (any volume size).",
        discussion: """
        Porosity = void voxels / electrode voxels. Which codes are void (pore, crack) and which lie         outside the electrode (outside, separator, current collector) comes from the volume's label         scheme (VOLUME.labels.json, written by `segment` and `phantom electrode`, or --labels-scheme);         --pore and --outside override it with names or codes. Depth regions split as numpy.array_split.
        """)
    @Argument(help: "Label volume.") var input: String
    @Option(help: "Void phase(s): names in the label scheme or codes, comma-separated (default: the scheme's pore and crack phases).") var pore: String?
    @Option(help: "Phase(s) outside the electrode, left out of the volume: names or codes, or none (default: the scheme's outside, separator and current-collector phases).") var outside: String?
    @Option(help: "Depth axis of the regions.") var axis: SliceAxis = .z
    @Option(help: "Number of equal regions (none dropped; split as numpy.array_split).") var regions: Int = 3
    @Option(help: "Explicit region bounds (slice indices b0,b1,…) instead of --regions.") var bounds: String?
    @Option(help: "Per-region CSV.") var csv: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try global.outputs(inputs: [input]) { outputs in
            try run(csv: try outputs.file(csv, option: "--csv"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(csv csvPath: String?, summary summaryPath: String?) throws {
        try requireOption(regions, "--regions", in: 1...100_000)
        // Names → codes through the volume's label scheme: which codes are void and which are
        // outside must be known before reading; a volume without a scheme and without --pore is
        // refused after one pass that lists its codes.
        let scheme = try labels.scheme(for: input)
        let selector = PhaseSelector(input: input, scheme: scheme, countCodes: { try countLabelCodes(input) })
        guard pore != nil || scheme != nil else { throw try selector.undeclared(option: "--pore", name: "(the default, pore)") }
        let poreCodes = try pore.map { try selector.codes($0, option: "--pore") } ?? scheme!.voidCodes
        guard !poreCodes.isEmpty else { throw LensError.invalidArgument("the label scheme '\(scheme!.name)' of \(input) has no pore or crack phase; give --pore") }
        let outsideCodes = try outside.map { $0.lowercased() == "none" ? [] : try selector.codes($0, option: "--outside") } ?? scheme?.outsideElectrodeCodes ?? []
        let regionSplit: PorosityWorkflow.Regions = try bounds.map { text in
            let values = try parseList(text, option: "--bounds")
            guard values.allSatisfy({ $0 == $0.rounded() && $0 >= 0 && $0 < 1e9 }) else {
                throw LensError.invalidArgument("--bounds must be slice indices, got '\(text)'")
            }
            return .bounds(values.map { Int($0) })
        } ?? .equal(count: regions)
        let settings = PorosityWorkflow.Settings(poreCodes: poreCodes, outsideCodes: outsideCodes, axis: axis.index, regions: regionSplit)
        try settings.validate()
        let reader = try VolumeIO.open(input)
        let progress = ProgressReporter(label: "counting phases", total: reader.info.shape.rank == 3 ? reader.info.shape[0] : 0)
        let record = try PorosityWorkflow.run(reader, settings: settings, scheme: scheme, progress: progress, cancellation: CLIRuntime.cancellation)
        progress.finish()
        let names = { (code: Int) in scheme?.phase(code: code)?.name ?? "\(code)" }
        print(String(format: "porosity overall %.4f (%d electrode voxels; void codes %@, outside %@); along %@:", record.porosity, record.electrodeVoxels,
                     poreCodes.map(names).joined(separator: ","), outsideCodes.isEmpty ? "none" : outsideCodes.map(names).joined(separator: ","), record.axis))
        for (k, r) in record.regions.enumerated() {
            print(String(format: "  region %d slices [%d, %d) = [%.4g, %.4g) %@: porosity %.4f", k + 1, r.start, r.end,
                         Double(r.start) * record.voxelSize, Double(r.end) * record.voxelSize, record.unit, r.phaseFraction))
        }
        if let csvPath { try record.table.write(to: csvPath) }
        guard case .object(var fields) = try JSONValue(encoding: record) else { return }
        fields["label_scheme"] = selector.schemeJSON
        try writeSummary(summaryPath, fields, inputs: [input],
                         parameters: ["pore": pore.map(JSONValue.string) ?? .null, "outside": outside.map(JSONValue.string) ?? .null,
                                      "regions": .number(Double(record.regions.count))])
    }
}

/// The label codes of a volume file, counted slab by slab.
func countLabelCodes(_ path: String) throws -> LabelCodeCounts {
    let reader = try VolumeIO.open(path)
    var counts = LabelCodeCounts()
    let thickness = reader.slabThickness(targetBytes: 64 << 20)
    var z = 0
    while z < reader.info.shape[0] {
        let end = min(reader.info.shape[0], z + thickness)
        try counts.add(try reader.readSlab(z..<end), source: path)
        z = end
    }
    return counts
}

// MARK: tortuosity

struct TortuosityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tortuosity",
        abstract: "Tortuosity factor and effective diffusivity of a phase from a steady-state diffusion simulation.",
        discussion: """
        Reports τ in TauFactor's convention (ε = the whole phase fraction, isolated pores included) and \
        the percolating-only τ (ε of the face-connecting clusters); D_eff/D = ε/τ. A phase that does \
        not connect the two faces gives τ = inf. Axis z is the slowest array axis (TauFactor's "x").
        """)
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "pore"
    @Option(help: "Flow axis, or all three.") var axis: AxesName = .all
    @Option(help: "Relative convergence tolerance on the flux balance and on τ.") var tolerance: Double = 1e-5
    @Option(name: .customLong("depth-regions"), help: "Also solve N equal slabs along z (depth) and fit a Bruggeman exponent across them.") var depthRegions: Int?
    @Flag(help: "Periodic boundaries: join the faces across the other two axes (sizes there must be even).") var periodic = false
    @Flag(help: "Electrode tortuosity τ_e instead (TauFactor's ElectrodeSolver: the pore/solid interface as a double layer, closed far face; low-frequency limit).") var electrode = false
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requirePositive(tolerance, "--tolerance", atMost: 0.1)
        if electrode && (periodic || depthRegions != nil) {
            throw LensError.invalidArgument("--electrode has closed side walls and solves the whole volume: leave out --periodic and --depth-regions")
        }
        try global.outputs(inputs: [input]) { outputs in
            let summaryPath = try outputs.file(summary, option: "--summary")
            if electrode { try runElectrode(summary: summaryPath) } else { try run(summary: summaryPath) }
        }
    }

    /// τ_e per axis (``ElectrodeTortuosity``).
    func runElectrode(summary summaryPath: String?) throws {
        let volume = try LabelVolume(input, schemeOption: labels)
        let (mask, codes) = try volume.mask(phase: phase)
        var results = [JSONValue]()
        for a in axis.indices {
            let name = ["z", "y", "x"][a]
            let progress = ProgressReporter(label: "electrode tortuosity along \(name) (iterations)", total: 0)
            let r = try ElectrodeTortuosity.compute(phase: mask, axis: a, settings: .init(tolerance: tolerance), progress: progress)
            progress.finish()
            print(String(format: "%@: τ_e = %.5g (TauFactor's electrode convention, ε = %.4f); R_ion = 3·Re Z₀ = %.5g; %d interface faces; %d iterations%@",
                         name, r.electrodeTortuosityFactor, r.volumeFraction, r.ionicResistance, r.interfaceFaces, r.iterations, r.converged ? "" : " (NOT converged)"))
            guard case .object(var f) = try JSONValue(encoding: r) else { continue }
            f["axis_name"] = .string(name)
            results.append(.object(f))
        }
        try writeSummary(summaryPath, ["kind": .string("electrode"), "electrode_results": .array(results), "phase": .string(phase),
                                       "phase_codes": .array(codes.map { .number(Double($0)) }), "label_scheme": volume.selector.schemeJSON],
                         inputs: [input], parameters: ["tolerance": .number(tolerance), "axis": .string(axis.rawValue), "electrode": .bool(true)])
    }

    func run(summary summaryPath: String?) throws {
        let volume = try LabelVolume(input, schemeOption: labels)
        let record = try TortuosityWorkflow.run(try volume.phase(phase), settings: .init(axes: axis.indices, tolerance: tolerance, depthRegions: depthRegions, periodic: periodic)) {
            ProgressReporter(label: "diffusion along \($0) (iterations)", total: 0)
        }
        for a in record.results {
            let r = a.result
            let error = r.estimatedRelativeError.map { String(format: ", estimated error %.1e", $0) } ?? ""
            print(String(format: "%@: τ = %.5g (TauFactor convention, ε = %.4f), τ_percolating = %.5g (ε = %.4f), D_eff/D = %.5g; %d iterations%@ (the field's own fluxes balance to %.1e)%@",
                         a.axisName, r.tortuosityFactor, r.volumeFraction, r.percolatingTortuosityFactor, r.percolatingFraction,
                         r.relativeDiffusivity, r.iterations, error, r.fluxImbalance, r.converged ? "" : " (NOT converged)"))
        }
        if let a = record.anisotropy { print(String(format: "anisotropy τ_z / mean(τ_y, τ_x) = %.4g", a)) }
        for region in record.regions ?? [] {
            print("region \(region.index + 1) (z \(region.zStart)..<\(region.zEnd)): " + region.results.map {
                String(format: "τ_%@ = %.4g (ε %.3f)", $0.axisName, $0.result.tortuosityFactor, $0.result.volumeFraction) }.joined(separator: ", "))
        }
        if let b = record.bruggeman { print(String(format: "Bruggeman: τ = ε^(−α), α = %.3f ± %.3f over %d region-axes", b.exponent, b.standardError ?? .nan, b.points)) }
        guard case .object(var fields) = try JSONValue(encoding: record) else { return }
        fields["phase"] = .string(phase); fields["label_scheme"] = volume.selector.schemeJSON
        try writeSummary(summaryPath, fields, inputs: [input], parameters: ["tolerance": .number(tolerance), "axis": .string(axis.rawValue)])
    }
}

// MARK: conductivity

struct ConductivityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conductivity",
        abstract: "Effective conductivity of a multi-phase volume: each phase its own conductivity (TauFactor's MultiPhaseSolver).",
        discussion: """
        --kappa gives every phase present its conductivity, by name (through the volume's label \
        scheme) or code: --kappa active=0.1,binder=10,pore=0. Links between voxels take the \
        harmonic mean; the faces across --axis are held at 1 and 0. Reports κ_eff (the units of \
        --kappa), the volume-averaged Σεᵢκᵢ and τ = Σεᵢκᵢ/κ_eff per axis.
        """)
    @Argument(help: "Label volume.") var input: String
    @Option(help: "Conductivity of each phase: name=value or code=value, comma-separated.") var kappa: String
    @Option(help: "Axis, or all three.") var axis: AxesName = .all
    @Option(help: "Relative convergence tolerance on the flux balance and on κ_eff.") var tolerance: Double = 1e-5
    @Flag(help: "Periodic boundaries: join the faces across the other two axes (sizes there must be even).") var periodic = false
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requirePositive(tolerance, "--tolerance", atMost: 0.1)
        try global.outputs(inputs: [input]) { outputs in
            let summaryPath = try outputs.file(summary, option: "--summary")
            let volume = try LabelVolume(input, schemeOption: labels)
            var conductivities = [Int: Double]()
            for item in kappa.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, let value = Double(parts[1]), value >= 0, value.isFinite else {
                    throw LensError.invalidArgument("--kappa takes name=value pairs with values ≥ 0, got '\(item)'")
                }
                for code in try volume.selector.codes(parts[0], option: "--kappa") {
                    if let earlier = conductivities[code], earlier != value { throw LensError.invalidArgument("--kappa gives code \(code) two conductivities") }
                    conductivities[code] = value
                }
            }
            let grid = try volume.grid.converted(to: Int32.self)
            var results = [JSONValue]()
            for a in axis.indices {
                let progress = ProgressReporter(label: "conduction along \(["z", "y", "x"][a]) (iterations)", total: 0)
                let r = try MultiPhaseConductivity.compute(labels: grid, conductivities: conductivities, axis: a,
                                                           settings: .init(tolerance: tolerance, periodic: periodic), progress: progress)
                progress.finish()
                print(String(format: "%@: κ_eff = %.6g, Σεκ = %.6g, τ = %.5g; %d iterations%@", ["z", "y", "x"][a], r.effectiveConductivity,
                             r.volumeAveragedConductivity, r.tortuosityFactor, r.iterations, r.converged ? "" : " (NOT converged)"))
                guard case .object(var fields) = try JSONValue(encoding: r) else { continue }
                fields["axis_name"] = .string(["z", "y", "x"][a])
                results.append(.object(fields))
            }
            try writeSummary(summaryPath, ["results": .array(results), "label_scheme": volume.selector.schemeJSON,
                                           "conductivities": .object(Dictionary(uniqueKeysWithValues: conductivities.map { (String($0.key), .number($0.value)) }))],
                             inputs: [input], parameters: ["kappa": .string(kappa), "tolerance": .number(tolerance), "axis": .string(axis.rawValue),
                                                                     "periodic": .bool(periodic)])
        }
    }
}

// MARK: descriptors

struct DescriptorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "descriptors",
        abstract: "Pore-scale descriptors: two-point correlation, chord lengths and geometric tortuosity of a phase, interfacial areas between phases, triple-phase-boundary length.",
        discussion: """
        S₂(r) along z, y, x and their mean (lags to --max-lag voxels); chord lengths along each \
        axis (chords cut by the faces left out, the mean corrected for minus sampling); with \
        --interfaces a,b,c the area between every pair (and the fraction of each phase's surface \
        the others cover, e.g. active covered by binder); with --tpb a,b,c the length of the lines \
        where all three meet (voxel-edge counting). Lengths and areas in µm when the voxel size \
        is known, voxel units otherwise.
        """)
    @Argument(help: "Label volume.") var input: String
    @Option(help: "Phase for S₂ and chords: a name in the label scheme or codes.") var phase: String = "pore"
    @Option(name: .customLong("max-lag"), help: "Largest S₂ lag, voxels.") var maxLag: Int = 32
    @Option(help: "Phases whose pairwise interfaces to measure (comma-separated names or codes).") var interfaces: String?
    @Option(help: "Three phases whose triple-phase boundary to measure.") var tpb: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(maxLag, "--max-lag", in: 1...4096)
        try global.outputs(inputs: [input]) { outputs in
            let summaryPath = try outputs.file(summary, option: "--summary")
            let volume = try LabelVolume(input, schemeOption: labels)
            let mask = try volume.mask(phase: phase).mask
            let unit = LengthUnit(volume.grid.geometry)
            let edge = unit.isPhysical ? (volume.grid.geometry.voxelSizeMicrometres.min() ?? 1) : 1
            let voxelSizes = unit.isPhysical ? volume.grid.geometry.voxelSizeMicrometres : [1, 1, 1]
            // Lags and chords along an axis are in that axis's voxel edges; the axis-averaged S₂
            // and the geometric tortuosity need cubic voxels to be in one length.
            let cubic = (voxelSizes.max() ?? 1) - (voxelSizes.min() ?? 1) <= 1e-6 * (voxelSizes.max() ?? 1)
            let s2 = try TwoPointCorrelation(phase: mask, maximumLagVoxels: maxLag)
            let lagUnit = cubic ? unit.name : "voxel"
            let lagEdge = cubic ? edge : 1
            let chords = try (0..<3).map { try ChordLengths(phase: mask, axis: $0) }
            print(String(format: "%@: ε = %.4f; S₂ falls to ε² + (ε − ε²)/e at %@; mean chord z/y/x = %.3g / %.3g / %.3g %@", phase, s2.average[0],
                         s2.average.firstIndex { $0 <= s2.average[0] * s2.average[0] + (s2.average[0] - s2.average[0] * s2.average[0]) / M_E }
                            .map { String(format: "%.3g %@", Double($0) * lagEdge, lagUnit) } ?? "beyond --max-lag",
                         chords[0].meanVoxels * unit.size(axis: 0), chords[1].meanVoxels * unit.size(axis: 1), chords[2].meanVoxels * unit.size(axis: 2), unit.name))
            var fields: [String: JSONValue] = [
                "phase": .string(phase), "length_unit": .string(unit.name),
                "two_point_correlation": .object(["lags": .array(s2.lagsVoxels.map { .number(Double($0) * lagEdge) }), "lag_unit": .string(lagUnit),
                                                  "average": .array(s2.average.map { .number($0) }),
                                                  "along_axes": .array(s2.alongAxes.map { .array($0.map { .number($0) }) })]),
                "chords": .array(chords.map { .object(["axis": .string(["z", "y", "x"][$0.axis]), "count": .number(Double($0.lengthsVoxels.count)),
                                                       "mean": .number($0.meanVoxels * unit.size(axis: $0.axis)),
                                                       "uncorrected_mean": .number($0.uncorrectedMeanVoxels * unit.size(axis: $0.axis)),
                                                       "truncated": .number(Double($0.truncated))]) }),
                "label_scheme": volume.selector.schemeJSON,
            ]
            var geometric = [JSONValue]()
            for a in 0..<3 where cubic {
                if let g = try? GeometricTortuosity(phase: mask, axis: a) {
                    print(String(format: "geometric τ along %@: %.4g (median %.4g, sd %.3g; %.0f %% of the outlet reached)", ["z", "y", "x"][a],
                                 g.mean, g.median, g.standardDeviation, 100 * g.reachedFraction))
                    if case .object(var f) = try JSONValue(encoding: g) { f["axis_name"] = .string(["z", "y", "x"][a]); geometric.append(.object(f)) }
                } else {
                    print("geometric τ along \(["z", "y", "x"][a]): no path joins the faces")
                }
            }
            if !cubic { print("geometric τ: not measured (voxels of \(voxelSizes) µm are not cubic: path steps would mix lengths)") }
            fields["geometric_tortuosity"] = .array(geometric)
            let grid = try volume.grid.converted(to: Int32.self)
            if let interfaces {
                let codes = try interfaces.split(separator: ",").map { try volume.selector.codes(String($0), option: "--interfaces") }
                guard codes.allSatisfy({ $0.count == 1 }) else { throw LensError.invalidArgument("--interfaces: give one code per phase") }
                let measured = try PhaseInterfaces(labels: grid, codes: codes.map { $0[0] })
                for pair in measured.pairs {
                    print(String(format: "interface %d|%d: %.5g %@ (%.4g per volume); covers %.1f %% of %d and %.1f %% of %d", pair.first, pair.second, pair.area,
                                 unit.areaName, pair.perTotalVolume, 100 * (measured.coverage(of: pair.first, by: pair.second) ?? .nan), pair.first,
                                 100 * (measured.coverage(of: pair.second, by: pair.first) ?? .nan), pair.second))
                }
                fields["interfaces"] = try JSONValue(encoding: measured)
            }
            if let tpb {
                let codes = try tpb.split(separator: ",").map { try volume.selector.codes(String($0), option: "--tpb") }
                guard codes.count == 3, codes.allSatisfy({ $0.count == 1 }) else { throw LensError.invalidArgument("--tpb takes three phases, one code each") }
                let length = try PhaseInterfaces.triplePhaseBoundaryLength(labels: grid, phases: (codes[0][0], codes[1][0], codes[2][0]))
                let volumeSize = Double(grid.count) * pow(edge, 3)
                print(String(format: "triple-phase boundary: %.5g %@ (%.4g %@ per %@)", length, unit.name, length / volumeSize, unit.name, unit.volumeName))
                fields["triple_phase_boundary"] = .object(["length": .number(length), "per_volume": .number(length / volumeSize),
                                                           "method": .string("voxel-edge counting (oblique lines over-counted by up to √3)")])
            }
            try writeSummary(summaryPath, fields, inputs: [input], parameters: ["phase": .string(phase), "max_lag": .number(Double(maxLag)),
                                                                                "interfaces": interfaces.map { .string($0) } ?? .null, "tpb": tpb.map { .string($0) } ?? .null])
        }
    }
}

// MARK: network

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Pore network extraction by SNOW (PoreSpy's snow2): pore regions, pores and throats with sizes and coordination, an OpenPNM-ready network file.",
        discussion: """
        The distance map of the phase is smoothed (--sigma), its peaks (maxima within \
        --peak-radius, saddles and peaks nearer each other than the solid removed) seed a \
        watershed whose regions are the pores; regions that touch are joined by throats. Writes \
        OUT/regions.tif (pore label per voxel), OUT/pores.csv, OUT/throats.csv and \
        OUT/network.json (PoreSpy/OpenPNM keys: pore.coords, throat.conns, …; coordinates in \
        array-axis order z, y, x). Sizes in µm when the voxel size is known, voxels otherwise; \
        the voxels must be cubic. No boundary pores are added: pores.csv says which faces each \
        pore touches.
        """)
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Phase: a name in the volume's label scheme or label codes.") var phase: String = "pore"
    @Option(help: "Output folder.") var out: String
    @Option(help: "σ of the Gaussian smoothing of the distance map, voxels.") var sigma: Double = 0.4
    @Option(name: .customLong("peak-radius"), help: "Radius within which a peak must be the maximum, voxels.") var peakRadius: Double = 4
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let settings = SNOWSettings(smoothingSigmaVoxels: sigma, peakRadiusVoxels: peakRadius)
        try settings.validate()
        try global.outputs(inputs: [input]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let volume = try LabelVolume(input, schemeOption: labels)
            let (mask, codes) = try volume.mask(phase: phase)
            let unit = LengthUnit(volume.grid.geometry)
            let edge = unit.isPhysical ? (volume.grid.geometry.voxelSizeMicrometres.min() ?? 1) : 1
            let progress = ProgressReporter(label: "network extraction", total: 5)
            let (partition, network) = try SNOW.extract(pore: mask, settings: settings, progress: progress)
            progress.finish()
            try VolumeIO.write(partition.regions, to: folder + "/regions.tif", inputs: [input])
            var pores = Table(columns: [TableColumn("pore"), TableColumn("volume", unit: unit.volumeName), TableColumn("voxels"),
                                        TableColumn("equivalent_diameter", unit: unit.name), TableColumn("inscribed_diameter", unit: unit.name),
                                        TableColumn("extended_diameter", unit: unit.name), TableColumn("coordination"),
                                        TableColumn("centroid_z", unit: "voxel"), TableColumn("centroid_y", unit: "voxel"), TableColumn("centroid_x", unit: "voxel"),
                                        TableColumn("solid_contact_area", unit: unit.areaName), TableColumn("boundary_faces")])
            for p in network.pores {
                pores.append([.number(Double(p.label)), .number(Double(p.volumeVoxels) * pow(edge, 3)), .number(Double(p.volumeVoxels)),
                              .number(p.equivalentDiameter * edge), .number(p.inscribedDiameter * edge), .number(p.extendedDiameter * edge),
                              .number(Double(p.coordination)), .number(p.centroid[0]), .number(p.centroid[1]), .number(p.centroid[2]),
                              .number(Double(p.solidContactFaces) * edge * edge), .text(p.boundaryFaces.joined(separator: " "))])
            }
            try pores.write(to: folder + "/pores.csv")
            var throats = Table(columns: [TableColumn("pore_1"), TableColumn("pore_2"), TableColumn("area", unit: unit.areaName),
                                          TableColumn("equivalent_diameter", unit: unit.name), TableColumn("inscribed_diameter", unit: unit.name),
                                          TableColumn("perimeter", unit: unit.name), TableColumn("total_length", unit: unit.name),
                                          TableColumn("direct_length", unit: unit.name)])
            for t in network.throats {
                throats.append([.number(Double(t.pores[0])), .number(Double(t.pores[1])), .number(Double(t.areaVoxels) * edge * edge),
                                .number(t.equivalentDiameter * edge), .number(t.inscribedDiameter * edge), .number(Double(t.perimeterVoxels) * edge),
                                .number(t.totalLength * edge), .number(t.directLength * edge)])
            }
            try throats.write(to: folder + "/throats.csv")
            try JSONOutput.write(JSONValue.object([
                "format": .string("OpenPNM/PoreSpy network dictionary: load in Python with {k: numpy.asarray(v) for k, v in d['network'].items()}; pore indices 0-based; coordinates in array-axis order (z, y, x)"),
                "length_unit": .string(unit.name),
                "network": network.openPNMDictionary(lengthPerVoxel: edge),
            ]), to: folder + "/network.json", inputs: [input])
            let equivalent = network.pores.map { $0.equivalentDiameter * edge }
            let distribution = equivalent.isEmpty ? nil : try SizeDistribution(diameters: equivalent)
            print(String(format: "%@: %d pores, %d throats, mean coordination %.3f; equivalent diameter D50 %@ %@; %d pore voxels in no pore (clusters too thin to hold a distance peak); wrote %@/regions.tif, pores.csv, throats.csv, network.json",
                         phase, network.pores.count, network.throats.count, network.meanCoordination,
                         distribution.map { String(format: "%.4g", $0.numberD50.value) } ?? "–", unit.name, network.unassignedPoreVoxels, out))
            if network.pores.isEmpty {
                Notices.emit("no pore found: no voxel of \(phase) is a distance-map peak (at least 2 voxels from the solid and the deepest within \(peakRadius) voxels), so SNOW has nothing to seed a pore with; it needs pores several voxels across (a finer voxel size, or a smaller --peak-radius)")
            }
            guard let summaryPath else { return }
            let coordination = network.pores.map { Double($0.coordination) }
            try writeSummary(summaryPath, [
                "phase": .string(phase), "phase_codes": .array(codes.map { .number(Double($0)) }), "length_unit": .string(unit.name),
                "pores": .number(Double(network.pores.count)), "throats": .number(Double(network.throats.count)),
                "mean_coordination": .number(network.meanCoordination),
                "coordination_histogram": .array((0...(coordination.max().map { Int($0) } ?? 0)).map { k in .number(Double(coordination.filter { Int($0) == k }.count)) }),
                "isolated_pores": .number(Double(network.pores.filter { $0.coordination == 0 }.count)),
                "equivalent_diameter": try JSONValue(encoding: distribution),
                "peaks": try JSONValue(encoding: partition.peaks),
                "unassigned_pore_voxels": .number(Double(network.unassignedPoreVoxels)),
                "label_scheme": volume.selector.schemeJSON,
                "outputs": .object(["regions": .string(out + "/regions.tif"), "pores": .string(out + "/pores.csv"),
                                    "throats": .string(out + "/throats.csv"), "network": .string(out + "/network.json")]),
            ], inputs: [input], parameters: ["phase": .string(phase), "settings": try JSONValue(encoding: settings)])
        }
    }
}

// MARK: porosimetry

struct PorosimetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porosimetry",
        abstract: "Simulated mercury intrusion of a pore phase: saturation vs sphere radius (and Washburn pressure), PoreSpy's porosimetry.",
        discussion: """
        Morphological drainage from all six faces: at each radius (every whole-voxel distance in \
        the pore, largest first) the spheres that fit and connect to a face invade; the curve is \
        the invaded fraction of the pore voxels. With a known voxel size each radius also has its \
        capillary pressure P = −2γ cos θ / r (mercury: γ = 0.48 N/m, θ = 140°).
        """)
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Phase: a name in the volume's label scheme or label codes.") var phase: String = "pore"
    @Option(name: .customLong("surface-tension"), help: "Surface tension, N/m.") var surfaceTension: Double = 0.48
    @Option(name: .customLong("contact-angle"), help: "Contact angle, degrees.") var contactAngle: Double = 140
    @Option(help: "CSV of the curve.") var csv: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requirePositive(surfaceTension, "--surface-tension", atMost: 10)
        guard contactAngle > 90, contactAngle <= 180 else { throw LensError.invalidArgument("--contact-angle must be in (90, 180] degrees for a non-wetting intrusion, got \(contactAngle)") }
        try global.outputs(inputs: [input]) { outputs in
            let csvPath = try outputs.file(csv, option: "--csv")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let volume = try LabelVolume(input, schemeOption: labels)
            let mask = try volume.mask(phase: phase).mask
            let unit = LengthUnit(volume.grid.geometry)
            let edge = unit.isPhysical ? (volume.grid.geometry.voxelSizeMicrometres.min() ?? 1) : 1
            let progress = ProgressReporter(label: "intrusion (radii)", total: 0)
            let curve = try Porosimetry.drainage(pore: mask, surfaceTension: surfaceTension, contactAngleDegrees: contactAngle, progress: progress)
            progress.finish()
            if let csvPath {
                var columns = [TableColumn("radius", unit: unit.name), TableColumn("saturation")]
                if curve.pressuresMegapascal != nil { columns.append(TableColumn("pressure", unit: "MPa")) }
                var table = Table(columns: columns)
                for (k, r) in curve.radiiVoxels.enumerated() {
                    var row: [TableValue] = [.number(r * edge), .number(curve.saturation[k])]
                    if let p = curve.pressuresMegapascal { row.append(.number(p[k])) }
                    table.append(row)
                }
                try table.write(to: csvPath)
            }
            let half = zip(curve.radiiVoxels, curve.saturation).first { $0.1 >= 0.5 }
            print(String(format: "%@: %d radii; half the pore invaded at r = %@; %.1f %% reachable from the faces", phase, curve.radiiVoxels.count,
                         half.map { String(format: "%.3g %@", $0.0 * edge, unit.name) } ?? "never", 100 * (curve.saturation.last ?? 0)))
            guard case .object(var fields) = try JSONValue(encoding: curve) else { return }
            fields["phase"] = .string(phase); fields["radius_unit"] = .string(unit.name)
            fields["radii"] = .array(curve.radiiVoxels.map { .number($0 * edge) })
            fields["label_scheme"] = volume.selector.schemeJSON
            try writeSummary(summaryPath, fields, inputs: [input], parameters: ["surface_tension": .number(surfaceTension), "contact_angle": .number(contactAngle)])
        }
    }
}

// MARK: impedance

struct ImpedanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "impedance",
        abstract: "Simulated impedance of a phase: frequency-domain diffusion over a log-spaced sweep, Nyquist/Bode data, transmission-line fit and τ from it.",
        discussion: """
        Solves ∇²Ĉ − (iω/D)Ĉ = 0 on the phase with Ĉ = 1 at the inlet face (the first layer along \
        --axis) and a blocking (electrode on its current collector) or fixed (Ĉ = 0) outlet; \
        frequencies are dimensionless, ω̃ = ωL²/D. Reports Z̃ = Z·A·D/L per frequency (--csv: \
        Re, Im, |Z̃|, phase), the transmission-line fit (R̃ = τ/ε, the storage C̃) with standard \
        errors, τ from it, and the Nyquist angle at the high-frequency end (45° for a diffusive line).
        """)
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "pore"
    @Option(help: "Axis from the inlet face to the outlet face.") var axis: SliceAxis = .z
    @Option(help: "Outlet condition.") var outlet: ImpedanceSettings.Outlet = .blocking
    @Option(help: "Lowest normalized frequency ω̃.") var from: Double = 0.01
    @Option(help: "Highest normalized frequency ω̃.") var to: Double = 1000
    @Option(help: "Frequencies, log-spaced.") var count: Int = 20
    @Option(help: "Relative accuracy of each Z̃ at which its solve stops (two error estimates of the adjoint-corrected inlet flux).") var tolerance: Double = ImpedanceSettings(normalizedFrequencies: [1]).tolerance
    @Option(help: "CSV of the spectrum.") var csv: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(count, "--count", in: 1...1000)
        guard from > 0, to >= from, to <= 1e8 else { throw LensError.invalidArgument("--from and --to must satisfy 0 < from ≤ to ≤ 10⁸") }
        var sweep = ImpedanceSettings(normalizedFrequencies: Impedance.logSpaced(from: from, to: to, count: count))
        sweep.outlet = outlet
        sweep.tolerance = tolerance
        let settings = ImpedanceWorkflow.Settings(axis: axis.index, sweep: sweep)
        try settings.validate()
        try global.outputs(inputs: [input]) { outputs in
            let csvPath = try outputs.file(csv, option: "--csv")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let volume = try LabelVolume(input, schemeOption: labels)
            let progress = ProgressReporter(label: "impedance sweep", total: count)
            let record = try ImpedanceWorkflow.run(try volume.phase(phase), settings: settings, progress: progress)
            progress.finish()
            let result = record.result
            if let csvPath {
                var table = Table(columns: [TableColumn("normalized_frequency"), TableColumn("z_real"), TableColumn("z_imaginary"),
                                            TableColumn("z_magnitude"), TableColumn("phase", unit: "degree"), TableColumn("iterations")])
                for p in result.points {
                    table.append([.number(p.normalizedFrequency), .number(p.real), .number(p.imaginary), .number(p.magnitude),
                                  .number(p.phaseDegrees), .number(Double(p.iterations))])
                }
                try table.write(to: csvPath)
            }
            if let fit = result.fit {
                print(String(format: "%@ (%@ outlet): R̃ = %.5g ± %.2g, C̃ = %.4g, τ = %.5g (ε = %.4f); misfit %.2g; high-frequency angle %.2f°",
                             record.axisName, outlet.rawValue, fit.resistance, fit.resistanceStandardError ?? .nan, fit.capacitance,
                             fit.tortuosityFactor, result.volumeFraction, fit.relativeMisfit, result.highFrequencyAngleDegrees ?? .nan))
            } else {
                print("\(record.axisName): \(result.points.count) frequencies; the transmission-line fit failed")
            }
            if result.points.contains(where: { !$0.converged }) { Notices.emit("some frequencies did not converge; see 'converged' in the summary") }
            if let fit = result.fit, fit.relativeMisfit > 0.05 {
                Notices.emit(String(format: "the transmission-line model misfits this phase by %.0f %% (RMS): the phase is not one uniform line (layers, a separator?); τ from the fit is unreliable — use `batterylens tortuosity` for τ", 100 * fit.relativeMisfit))
            }
            guard case .object(var fields) = try JSONValue(encoding: record) else { return }
            fields["phase"] = .string(phase); fields["label_scheme"] = volume.selector.schemeJSON
            try writeSummary(summaryPath, fields, inputs: [input], parameters: ["settings": try JSONValue(encoding: settings)])
        }
    }
}

// MARK: rev

struct RevCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rev", abstract: "Representative volume analysis of a phase's volume fraction in sub-volumes of growing size.")
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "pore"
    @Option(help: "Random sub-volumes per size.") var samples: Int = 24
    @Option(help: "Relative tolerance on the spread and on the mean.") var tolerance: Double = 0.05
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(samples, "--samples", in: 2...100_000)
        try requirePositive(tolerance, "--tolerance", atMost: 1)
        try global.outputs(inputs: [input]) { outputs in try run(summary: try outputs.file(summary, option: "--summary")) }
    }

    func run(summary summaryPath: String?) throws {
        let volume = try LabelVolume(input, schemeOption: labels)
        let selection = try volume.phase(phase)
        let record = try RepresentativeVolumeWorkflow.run(selection, settings: .init(samples: samples, tolerance: tolerance))
        let rev = record.rev
        for s in rev.steps {
            print(String(format: "edge %4d voxels: mean %.4f ± %.4f (CV %.3f)%@", s.edgeVoxels, s.mean, s.standardDeviation, s.coefficientOfVariation, s.converged ? " ✓" : ""))
        }
        print(rev.isRepresentative ? "representative: the fraction converges from an edge of \(rev.representativeEdgeVoxels!) voxels (whole \(String(format: "%.4f", rev.wholeValue)))"
                                   : "NOT representative: sub-volumes up to half the field of view still disagree by more than \(tolerance * 100) %")
        guard case .object(let fields) = try JSONValue(encoding: record) else { return }
        try writeSummary(summaryPath, fields,
                         inputs: [input], parameters: ["phase": .string(phase), "phase_codes": .array(selection.codes.map { .number(Double($0)) }), "label_scheme": volume.selector.schemeJSON, "samples": .number(Double(samples)), "tolerance": .number(tolerance)])
    }
}

// MARK: thickness

struct ThicknessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thickness", abstract: "Local thickness of a phase (pore or particle size distribution by maximal inscribed balls).")
    @Argument(help: "Label or mask volume.") var input: String
    @Option(help: "Output local-thickness volume (float32 diameters, µm; voxels when the voxel size is unknown).") var out: String
    @Option(help: "Phase: a name in the volume's label scheme (pore, solid, active, binder, …) or label codes.") var phase: String = "pore"
    @Option(help: "Number of radii swept.") var sizes: Int = 25
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(sizes, "--sizes", in: 1...1000)
        try global.outputs(inputs: [input]) { outputs in
            try run(out: try outputs.file(out, option: "--out"), summary: try outputs.file(summary, option: "--summary"))
        }
    }

    func run(out outPath: String, summary summaryPath: String?) throws {
        let volume = try LabelVolume(input, schemeOption: labels)
        let selection = try volume.phase(phase)
        let progress = ProgressReporter(label: "local thickness", total: sizes)
        let record = try LocalThicknessWorkflow.run(selection, settings: .init(sizes: sizes), outputPath: outPath, recordedOutput: out, inputs: [input], progress: progress)
        progress.finish()
        print(String(format: "wrote %@ (diameters in %@): volume-weighted thickness D10 %.3g, D50 %.3g, D90 %.3g %@", out, record.unit,
                     record.volumeWeightedD10, record.volumeWeightedD50, record.volumeWeightedD90, record.unit))
        guard case .object(let fields) = try JSONValue(encoding: record) else { return }
        try writeSummary(summaryPath, fields,
                         inputs: [input], parameters: ["phase": .string(phase), "phase_codes": .array(selection.codes.map { .number(Double($0)) }), "label_scheme": volume.selector.schemeJSON, "sizes": .number(Double(sizes))])
    }
}
