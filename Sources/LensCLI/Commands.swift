import ArgumentParser
import Foundation
import LensCore
import LensIO
import Demo
import Reporting
import Pipeline

/// `batterylens`: the root command.
public struct BatteryLensCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "batterylens",
        abstract: "X-ray imaging of battery materials: from detector files to trustworthy numbers.",
        discussion: """
        Every analysis command writes its main output with --out and its numbers with \
        --summary FILE.json. Exit codes: 0 success, 1 bad input or output (the message names \
        the file and the problem), 2 usage error.
        """,
        version: "\(BatteryLensVersion.name) \(BatteryLensVersion.string)",
        subcommands: [DemoCommand.self, ReportCommand.self, InfoCommand.self, ConvertCommand.self, SliceCommand.self, PhantomCommand.self, ReconCommand.self, AlignCommand.self, CracksCommand.self, RegisterCommand.self, TrackCommand.self, CellCommand.self,
                      FilterCommand.self, SegmentCommand.self, LabelCommand.self, ParticlesCommand.self, PorosityCommand.self,
                      TortuosityCommand.self, ImpedanceCommand.self, ConductivityCommand.self, DescriptorsCommand.self, NetworkCommand.self, PorosimetryCommand.self, RevCommand.self, ThicknessCommand.self, XANESCommand.self, XASCommand.self, ComptonCommand.self, DiffractionCommand.self,
                      RunCommand.self]
    )
    public init() {}
}

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show shape, element type, voxel size and value range of a file (any supported format).")

    @Argument(help: "A file, a folder of TIFFs, or file.h5:/path/to/dataset.")
    var input: String

    @OptionGroup var raw: RawOptions
    @OptionGroup var global: GlobalOptions

    @Flag(help: "Skip the value range (which reads all the data).")
    var noStatistics = false

    @Option(help: "Write the information as JSON.")
    var summary: String?

    func run() throws {
        global.apply()
        try global.outputs(inputs: [input]) { outputs in try run(summaryPath: try outputs.file(summary, option: "--summary")) }
    }

    func run(summaryPath: String?) throws {
        // A MAT-file without a variable named: list its variables.
        let reference = DatasetReference(input)
        if reference.fileExtension == "mat", reference.datasetPath == nil, let mat = try? MATFile(path: reference.filePath), mat.variableNames.count != 1 {
            let variables = mat.variableShapes
            print("file: \(reference.filePath)\nformat: MATLAB level-5 MAT-file\nvariables (open one as \(reference.filePath):/NAME):")
            for v in variables { print("  \(v.name): \(v.shape) float64") }
            if let summaryPath {
                try JSONOutput.write(JSONValue.object(["file": .string(reference.filePath), "format": "mat",
                                                       "variables": .array(variables.map { .object(["name": .string($0.name), "shape": .array($0.shape.dims.map { .number(Double($0)) })]) }),
                                                       "provenance": try provenanceJSON(inputs: [input], parameters: [:])]), to: summaryPath, inputs: [input])
            }
            return
        }
        let reader = try VolumeIO.open(input, raw: try raw.layout())
        let info = reader.info
        var lines = [
            "file: \(reader.source)",
            "format: \(info.format)",
            "shape: \(info.shape) (\(info.format == "png" && info.shape.rank == 3 ? "y, x, channel" : info.shape.rank == 3 ? "z, y, x" : info.shape.rank == 2 ? "y, x" : "axes slowest first"))",
            "type: \(info.dataType)",
            "size: \(formatBytes(info.shape.count * info.dataType.byteSize))",
            "voxel size: " + (info.geometry.isCalibrated ? info.geometry.voxelSizeMicrometres.map { String(format: "%g", $0) }.joined(separator: " × ") + " µm" : "unknown (not in the file)"),
        ]
        for (key, value) in info.metadata.sorted(by: { $0.key < $1.key }) { lines.append("\(key): \(value)") }
        var stats: ValueStatistics?
        if !noStatistics && !info.dataType.isComplex {
            stats = try VolumeStatistics.compute(reader)
            if let s = stats, s.finiteCount + s.nonFiniteCount == 0 {
                lines.append("values: none (the dataset is empty)")
            } else if let s = stats {
                lines.append(String(format: "values: min %g, max %g, mean %g", s.minimum, s.maximum, s.mean))
                if s.nonFiniteCount > 0 { lines.append("non-finite values: \(s.nonFiniteCount)") }
            }
        }
        if let scan = try? TomographyScanReader(path: DatasetReference(input).filePath), DatasetReference(input).datasetPath == nil {
            lines.append("tomography layout: \(scan.layout.rawValue): \(scan.projectionCount) projections, \(scan.flatFrames.count) flats, \(scan.darkFrames.count) darks, angles \(String(format: "%g", scan.anglesDegrees.min() ?? 0))…\(String(format: "%g", scan.anglesDegrees.max() ?? 0))°")
        }
        print(lines.joined(separator: "\n"))
        if let summary = summaryPath {
            var object: [String: JSONValue] = [
                "file": .string(reader.source), "format": .string(info.format),
                "shape": .array(info.shape.dims.map { .number(Double($0)) }), "dtype": .string(info.dataType.rawValue),
                "voxel_size_um": info.geometry.isCalibrated ? .array(info.geometry.voxelSizeMicrometres.map { .number($0) }) : .null,
                "metadata": .object(info.metadata.mapValues { .string($0) }),
                "provenance": try provenanceJSON(inputs: [input], parameters: [:]),
            ]
            if let s = stats {
                object["value_range"] = ["min": .finite(s.minimum), "max": .finite(s.maximum), "mean": .finite(s.mean),
                                         "non_finite": .number(Double(s.nonFiniteCount))]
            }
            try JSONOutput.write(JSONValue.object(object), to: summary, inputs: [input])
        }
    }
}

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert between formats slab by slab, optionally cropping, binning and changing the element type.",
        discussion: """
        The output format follows the extension (.tif, .h5, .npy, .raw, .png; no extension: a \
        folder of TIFFs). Type conversion rounds and clips to the target range unless --rescale \
        is given ('auto' maps the data's min..max, or LOW:HIGH, onto the full integer range or \
        0..1 for floats); the summary states which and how many values were clipped.
        """)

    @Argument(help: "Input file, folder of TIFFs, or file.h5:/dataset.") var input: String
    @Argument(help: "Output path (file.h5:/dataset to name the dataset).") var output: String
    @Option(help: "Keep indices A:B along axis 0 (slices).") var slices: String?
    @Option(help: "Keep ranges along every axis, comma-separated, e.g. ':,100:300,100:300'.") var crop: String?
    @Option(help: "Mean-bin by N along every axis.") var bin: Int = 1
    @Option(name: .customLong("to-dtype"), help: "Output element type (uint8, uint16, float32, ...).") var toDtype: String?
    @Option(help: "Rescale values on type conversion: 'auto' or LOW:HIGH.") var rescale: String?
    @Option(help: "Deflate level 1-9 for HDF5/TIFF outputs (default: uncompressed).") var compress: Int?
    @Option(help: "Write what was done as JSON.") var summary: String?
    @OptionGroup var raw: RawOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let reader = try VolumeIO.open(input, raw: try raw.layout())
        let shape = reader.info.shape
        var cropRanges = [Range<Int>?](repeating: nil, count: shape.rank)
        if let crop {
            let parts = crop.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == shape.rank else {
                throw LensError.invalidArgument("--crop has \(parts.count) ranges; the data has \(shape.rank) axes (\(shape))")
            }
            for (axis, part) in parts.enumerated() { cropRanges[axis] = try parseRange(part, extent: shape[axis], option: "--crop") }
        }
        if let slices {
            let r = try parseRange(slices, extent: shape[0], option: "--slices")
            if let c = cropRanges[0] {
                let lo = Swift.max(c.lowerBound, r.lowerBound), hi = Swift.min(c.upperBound, r.upperBound)
                guard lo < hi else { throw LensError.invalidArgument("--slices and --crop do not overlap on axis 0") }
                cropRanges[0] = lo..<hi
            } else { cropRanges[0] = r }
        }
        var target: DataType?
        if let toDtype {
            guard let t = DataType(name: toDtype) else { throw LensError.invalidArgument("--to-dtype '\(toDtype)' is not a known element type") }
            target = t
        }
        var scaling = TypeScaling.clip
        if let rescale { scaling = .rescale(rescale == "auto" ? nil : try parseValueRange(rescale, option: "--rescale")) }
        guard bin >= 1 else { throw LensError.invalidArgument("--bin must be at least 1") }
        if let compress, !(1...9).contains(compress) { throw LensError.invalidArgument("--compress must be 1-9") }
        let plan = ConversionPlan(crop: cropRanges, bin: bin, targetType: target, scaling: scaling)
        try global.outputs(inputs: [input]) { outputs in
            let outputPath = try outputs.file(output, option: "OUT")
            let summaryPath = try outputs.file(summary, option: "--summary")
            try run(reader: reader, plan: plan, outputPath: outputPath, summaryPath: summaryPath)
        }
    }

    func run(reader: VolumeReader, plan: ConversionPlan, outputPath: String, summaryPath: String?) throws {
        let report = try VolumeConverter.convert(reader, to: outputPath, plan: plan, options: WriteOptions(compressionLevel: compress),
                                                 inputs: [DatasetReference(input).filePath], cancellation: CLIRuntime.cancellation)
        print("wrote \(output): \(Shape(report.outputShape)) \(report.outputType); \(report.valueMapping)" + (report.clippedCount > 0 ? "; \(report.clippedCount) values clipped" : ""))
        if let summaryPath {
            let object: JSONValue = [
                "input": .string(input), "output": .string(output),
                "conversion": try JSONValue(encoding: report),
                "provenance": try provenanceJSON(inputs: [input], parameters: [
                    "slices": slices.map(JSONValue.string) ?? .null, "crop": crop.map(JSONValue.string) ?? .null,
                    "bin": .number(Double(bin)), "dtype": toDtype.map(JSONValue.string) ?? .null,
                    "rescale": rescale.map(JSONValue.string) ?? .null]),
            ]
            try JSONOutput.write(object, to: summaryPath, inputs: [input])
        }
    }
}

struct SliceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slice",
        abstract: "Render one slice of a volume (or a 2D image) as a PNG figure: colour map, colour bar, scale bar, overlays.",
        discussion: """
        By default the PNG is a figure for people: the slice magnified to at least 256 pixels, a \
        scale bar in µm (in pixels when the file declares no voxel size), a colour bar in the \
        value's units, masked pixels (NaN) in magenta listed in the legend. --labels draws a label \
        volume in categorical colours (phase names from its label scheme or --labels-scheme in the legend); \
        --overlay blends a mask or label volume's non-zero voxels over the slice. --plain writes \
        one PNG pixel per voxel through the colour map and nothing else.
        """)

    @Argument(help: "Input file, folder of TIFFs, or file.h5:/dataset.") var input: String
    @Option(help: "Axis normal to the slice.") var axis: SliceAxis = .z
    @Option(help: "Slice index along the axis (default: the middle).") var index: Int?
    @Option(help: "Output PNG.") var out: String
    @Option(help: "Colour map.") var colormap: Colormap = .grey
    @Option(help: "Display window LOW:HIGH (default: 0.5th to 99.5th percentile).") var window: String?
    @Option(help: "Also write the slice's values (float32) to this file (.tif, .npy, .h5).") var values: String?
    @Flag(help: "Draw the input as labels in categorical colours (phase names from its label scheme).") var labels = false
    @Option(help: "A mask or label volume on the same grid: its non-zero voxels are blended over the slice.") var overlay: String?
    @Option(name: .customLong("overlay-name"), help: "Legend name of --overlay.") var overlayName: String = "overlay"
    @Option(help: "Colour-bar label, e.g. 'μ (1/µm)' (default: the file's units).") var units: String?
    @Flag(name: .customLong("no-scale-bar"), help: "Leave out the scale bar.") var noScaleBar = false
    @Flag(name: .customLong("no-colour-bar"), help: "Leave out the colour bar.") var noColourBar = false
    @Flag(help: "One pixel per voxel through the colour map, no bars, legend or magnification.") var plain = false
    @OptionGroup var scheme: LabelSchemeOption
    @OptionGroup var raw: RawOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let (sliceAxis, map) = (axis, colormap)
        guard out.lowercased().hasSuffix(".png") else { throw LensError.invalidArgument("--out must be a .png file") }
        if plain && (labels || overlay != nil) { throw LensError.invalidArgument("--plain draws the values only; leave out --labels and --overlay") }
        let displayWindow: DisplayWindow = try window.map { let r = try parseValueRange($0, option: "--window"); return .range(r.lowerBound, r.upperBound) } ?? .automatic
        let inputs = [input] + (overlay.map { [$0] } ?? [])
        let (at, plane, bar) = try global.outputs(inputs: inputs) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let valuesPath = try outputs.file(values, option: "--values")
            let reader = try VolumeIO.open(input, raw: try raw.layout())
            let shape = reader.info.shape
            let at = index ?? (shape.rank == 3 ? shape[sliceAxis.index] / 2 : 0)
            let plane = try SliceExtraction.extract(reader, axis: sliceAxis, index: at)
            var bar: ScaleBar?
            if plain {
                try PNGWriter.encode(SliceRenderer.render(plane, window: displayWindow, colormap: map), to: outPath)
            } else {
                // The slice's pixel edge: the two in-plane voxel edges, known and equal.
                let geometry = reader.info.geometry
                let inPlane = shape.rank == 3 ? (0..<3).filter { $0 != sliceAxis.index } : [0, 1]
                let edges = inPlane.compactMap { geometry.voxelSizeMicrometres.indices.contains($0) ? geometry.voxelSizeMicrometres[$0] : nil }
                let pixel: Double? = geometry.isCalibrated && edges.count == 2 && edges[0] == edges[1] ? edges[0] : nil
                if geometry.isCalibrated && pixel == nil {
                    Notices.emit("the slice's pixels are not square (\(edges.map { String($0) }.joined(separator: " × ")) µm): the scale bar is in pixels")
                }
                var style: SliceFigureStyle
                if labels {
                    let scheme = try self.scheme.scheme(for: input)
                    style = SliceFigureStyle(mode: .categorical(names: scheme.map { Dictionary($0.phases.map { ($0.code, $0.name) }, uniquingKeysWith: { a, _ in a }) }),
                                             pixelSizeMicrometres: pixel)
                } else {
                    let unit = units ?? reader.info.metadata["units"].map { "value (\($0.replacingOccurrences(of: "um", with: "µm")))" } ?? "value (no unit declared)"
                    style = SliceFigureStyle(mode: .continuous(map, displayWindow), pixelSizeMicrometres: pixel, valueLabel: unit)
                }
                style.scaleBar = !noScaleBar
                style.colourBar = !noColourBar
                if let overlay {
                    let other = try VolumeIO.open(overlay)
                    guard other.info.shape == shape else {
                        throw LensError.badInput(file: overlay, problem: "shape \(other.info.shape) differs from \(input)'s \(shape); the overlay must be on the same grid")
                    }
                    let mask = try SliceExtraction.extract(other, axis: sliceAxis, index: at)
                    style.overlays = [SliceOverlay(mask: Grid(shape: mask.shape, elements: mask.elements.map { $0 != 0 && $0.isFinite ? 1 : 0 }),
                                                   colour: RGB(255, 40, 40), name: overlayName)]
                }
                let figure = try SliceFigure.render(plane, style: style)
                try figure.writePNG(to: outPath)
                bar = figure.scaleBar
            }
            if let valuesPath { try VolumeIO.write(plane, to: valuesPath, inputs: [input]) }
            return (at, plane, bar)
        }
        print("wrote \(out): \(sliceAxis.rawValue) = \(at), \(plane.shape), colour map \(labels ? "categorical" : map.rawValue)"
              + (bar.map { "; scale bar \($0.label) = \($0.lengthPixels) px" } ?? ""))
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole study on built-in phantoms and write a report scored against their truth.",
        discussion: """
        Writes OUT/recipe.yaml (copy and edit it for your own data) and runs it as `batterylens \
        run` would: an electrode through five cycling states → a full scan with rings and an \
        offset axis and a 135° limited-angle scan with drift → FBP and TV reconstruction → \
        segmentation → porosity by depth, tortuosity, particles, thickness → cracks and tracking \
        → XANES state of charge → Compton lithium. Then OUT/report/index.html and OUT/summary.json, \
        with a measured-vs-truth row for every headline number. Running it again on the same \
        OUT resumes (unchanged steps are skipped). Exit 3 when a truth check fails.
        """)

    @Option(help: "Output folder (created, or an earlier demo's folder to resume).") var out: String = "demo-output"
    @Option(help: "small (about half a minute on 2 cores) or default (a few minutes).") var size: DemoStudy.Size = .default
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw LensError.badOutput(file: out, problem: "is a file; --out must be a folder") }
            let entries = try fm.contentsOfDirectory(atPath: out).filter { !$0.hasPrefix(".") }
            // An earlier demo's folder carries its mark (demo.json, written and marked by the demo).
            let earlierDemo = entries.contains(DemoStudy.markerFile) && (try? AtomicOutput.validate(out + "/" + DemoStudy.markerFile)) != nil
            if !entries.isEmpty && !earlierDemo {
                throw LensError.badOutput(file: out, problem: "holds files that no demo wrote; choose an empty or new folder (--out)")
            }
        } else {
            try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        let recipePath = out + "/recipe.yaml"
        try AtomicOutput.write(Data(DemoStudy.recipe(size: size).utf8), to: recipePath)
        try JSONOutput.write(["demo": .string(size.rawValue), "version": .string(BatteryLensVersion.string)] as JSONValue,
                             to: out + "/" + DemoStudy.markerFile)
        let plan = try StudyPlan(try Recipe.read(recipePath, output: nil), quiet: global.quiet, overwrite: global.overwrite)
        print("demo (\(size.rawValue)): \(plan.steps.count) steps into \(out) (recipe \(recipePath))")
        let start = Date()
        _ = try StudyRunner(plan: plan).run()
        let checks = try DemoStudy.truthChecks(studyFolder: out)
        try StudyReport.build(studyFolder: out, title: "BatteryLens demo study (\(size.rawValue))", truthChecks: checks)
        print("\nmeasured vs truth:")
        for c in checks {
            let m = String(format: "%.4g", c.measured) + (c.measuredSigma.map { String(format: " ± %.2g", $0) } ?? "")
            print("  \(c.passed ? "pass" : "FAIL")  \(c.quantity): \(m) vs \(String(format: "%.4g", c.truth)) (tolerance \(c.relative ? String(format: "%.0f %%", c.tolerance * 100) : String(format: "%.3g", c.tolerance)))")
        }
        let passed = checks.allSatisfy(\.passed)
        print("""
        report: \(out)/report/index.html, numbers: \(out)/summary.json (\(String(format: "%.0f", Date().timeIntervalSince(start))) s)
        all checks passed: \(passed)
        """)
        if !passed { throw LensError.numerical("demo truth checks failed; see \(out)/report/index.html") }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Build STUDY/report/index.html and STUDY/summary.json from a study folder written by `batterylens run`.",
        discussion: """
        Reads STUDY/study.json and each step's summary and outputs; draws the figures (slices with \
        scale and colour bars, label maps, plots with error bars) into STUDY/report/figures. The \
        page needs no network and no scripts. A demo study is scored against its phantoms' truth again.
        """)

    @Argument(help: "Study folder (the recipe's output).") var study: String
    @Option(help: "Title of the page.") var title: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        // A demo's folder (its mark, written by `demo` and unchanged since) is scored against the
        // phantoms again; a study run from a copy of the demo's recipe is not a demo.
        let marker = study + "/" + DemoStudy.markerFile
        var checks: [TruthCheck] = []
        if FileManager.default.fileExists(atPath: marker), (try? AtomicOutput.validate(marker)) != nil {
            checks = try DemoStudy.truthChecks(studyFolder: study)
        }
        let summary = try StudyReport.build(studyFolder: study, title: title, truthChecks: checks)
        print("wrote \(study)/report/index.html (\(summary.sections.count) sections, \(summary.sections.reduce(0) { $0 + $1.figures.count }) figures) and \(study)/summary.json"
              + (checks.isEmpty ? "" : "; truth checks \(checks.filter(\.passed).count)/\(checks.count) passed"))
    }
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func provenanceJSON(inputs: [String], parameters: [String: JSONValue]) throws -> JSONValue {
    var value = try JSONValue(encoding: Provenance(parameters: parameters, inputs: inputs.map { InputRecord(path: $0) }))
    // The notes printed during the run (declared voxel sizes, missing wedges, …) travel with it.
    if case .object(var o) = value {
        o["notices"] = .array(Notices.all.map { .string($0) })
        value = .object(o)
    }
    return value
}

extension JSONValue {
    /// Any Encodable value as a JSON value (through its JSON encoding).
    init<T: Encodable>(encoding value: T) throws {
        let data = try JSONOutput.encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }
}
