import ArgumentParser
import Foundation
import LensCore
import LensIO
import Demo
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
        subcommands: [DemoCommand.self, InfoCommand.self, ConvertCommand.self, SliceCommand.self, PhantomCommand.self, ReconCommand.self, AlignCommand.self, CracksCommand.self, RegisterCommand.self, TrackCommand.self,
                      FilterCommand.self, SegmentCommand.self, LabelCommand.self, ParticlesCommand.self, PorosityCommand.self,
                      TortuosityCommand.self, ImpedanceCommand.self, ConductivityCommand.self, DescriptorsCommand.self, PorosimetryCommand.self, RevCommand.self, ThicknessCommand.self, XANESCommand.self, XASCommand.self, ComptonCommand.self,
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
        if let summary {
            let object: JSONValue = [
                "input": .string(input), "output": .string(output),
                "conversion": try JSONValue(encoding: report),
                "provenance": try provenanceJSON(inputs: [input], parameters: [
                    "slices": slices.map(JSONValue.string) ?? .null, "crop": crop.map(JSONValue.string) ?? .null,
                    "bin": .number(Double(bin)), "dtype": toDtype.map(JSONValue.string) ?? .null,
                    "rescale": rescale.map(JSONValue.string) ?? .null]),
            ]
            try JSONOutput.write(object, to: summaryPath!, inputs: [input])
        }
    }
}

struct SliceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slice",
        abstract: "Render one slice of a volume (or a 2D image) as a PNG with a colour map.")

    @Argument(help: "Input file, folder of TIFFs, or file.h5:/dataset.") var input: String
    @Option(help: "Axis normal to the slice.") var axis: SliceAxis = .z
    @Option(help: "Slice index along the axis (default: the middle).") var index: Int?
    @Option(help: "Output PNG.") var out: String
    @Option(help: "Colour map.") var colormap: Colormap = .grey
    @Option(help: "Display window LOW:HIGH (default: 0.5th to 99.5th percentile).") var window: String?
    @Option(help: "Also write the slice's values (float32) to this file (.tif, .npy, .h5).") var values: String?
    @OptionGroup var raw: RawOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let (sliceAxis, map) = (axis, colormap)
        guard out.lowercased().hasSuffix(".png") else { throw LensError.invalidArgument("--out must be a .png file") }
        let displayWindow: DisplayWindow = try window.map { let r = try parseValueRange($0, option: "--window"); return .range(r.lowerBound, r.upperBound) } ?? .automatic
        let (at, plane) = try global.outputs(inputs: [input]) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let valuesPath = try outputs.file(values, option: "--values")
            let reader = try VolumeIO.open(input, raw: try raw.layout())
            let shape = reader.info.shape
            let at = index ?? (shape.rank == 3 ? shape[sliceAxis.index] / 2 : 0)
            let plane = try SliceExtraction.extract(reader, axis: sliceAxis, index: at)
            try PNGWriter.encode(SliceRenderer.render(plane, window: displayWindow, colormap: map), to: outPath)
            if let valuesPath { try VolumeIO.write(plane, to: valuesPath, inputs: [input]) }
            return (at, plane)
        }
        print("wrote \(out): \(sliceAxis.rawValue) = \(at), \(plane.shape), colour map \(map.rawValue)")
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole chain on built-in synthetic data and write a report.")

    @Option(help: "Output folder.") var out: String = "demo-output"
    @Option(help: "Edge of the synthetic volume in voxels.") var size: Int = 128
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard size >= 32, size <= 1024 else { throw LensError.invalidArgument("--size must be 32-1024") }
        let report = try global.outputs(inputs: []) { outputs in
            try DemoChain.run(.init(outputFolder: try outputs.folder(out, option: "--out"), size: size, seed: seed))
        }
        print("""
        demo: \(report.shape.map(String.init).joined(separator: "×")) volume, \(report.particleCount) particles
        solid fraction: truth \(String(format: "%.4f", report.trueSolidFraction)), measured \(String(format: "%.4f", report.measuredSolidFraction))
        formats round-tripped: \(report.formats.map(\.format).joined(separator: ", "))
        XANES: state of charge RMSE \(String(format: "%.4f", report.xanes.fractionRMSE)) over \(report.xanes.analysedPixels) pixels, \(String(format: "%.0f", report.xanes.fractionWithinOneSigma * 100)) % within 1σ; alignment error \(String(format: "%.3f", report.xanes.alignmentRMSEPixels)) px
        report: \(out)/report.html, numbers: \(out)/summary.json
        all checks passed: \(report.allChecksPassed)
        """)
        if !report.allChecksPassed { throw LensError.numerical("demo checks failed; see \(out)/summary.json") }
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
