import ArgumentParser
import LensCore
import LensIO

/// Options every command has.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .long, help: "Print no progress on stderr.")
    var quiet = false

    @Flag(name: .long, help: "Replace an existing output that batterylens did not write (or that was changed since). Inputs are never replaced.")
    var overwrite = false

    @Option(name: .customLong("voxel-um"), help: ArgumentHelp("Voxel (or detector pixel) size in µm: one value, or z,y,x. Used for every volume read in place of the file's; without it and without a size in the file, lengths are in voxels.", valueName: "µm"))
    var voxelSize: String?

    mutating func validate() throws {
        if let voxelSize { _ = try DeclaredVoxelSize.parse(voxelSize) }
    }

    /// The declared voxel sizes (validated), or nil.
    var voxelMicrometres: [Double]? { voxelSize.flatMap { try? DeclaredVoxelSize.parse($0) } }

    func apply() {
        ProgressSettings.mode = .automatic(quiet: quiet)
        DeclaredVoxelSize.micrometres = voxelMicrometres
    }

    /// Runs `body` with the command's outputs declared in one transaction (see
    /// ``OutputTransaction``): all are checked before any work and published together at the
    /// end, or none are. `inputs` are every file the command reads, the data first: a result
    /// the data cannot give (``LensError/numerical(_:)``) becomes bad input naming it.
    func outputs<R>(inputs: [String?], _ body: (OutputTransaction) throws -> R) throws -> R {
        let files = inputs.compactMap { $0 }
        return try OutputTransaction.run(inputs: files, overwrite: overwrite) { transaction in
            let result = try files.first.map { data in try LensError.analysing(data) { try body(transaction) } } ?? body(transaction)
            // An interrupted run publishes nothing, even if its work did not stop early.
            try CLIRuntime.cancellation.check()
            return result
        }
    }
}

/// Layout of headerless raw binary input.
struct RawOptions: ParsableArguments {
    @Option(help: "Raw input shape, slowest axis first: 'Z,Y,X' or 'ZxYxX'.")
    var shape: String?

    @Option(help: "Raw input element type: uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64.")
    var dtype: String?

    @Option(help: "Raw input byte order: little or big.")
    var endian: String = "little"

    @Option(help: "Bytes to skip at the start of a raw input.")
    var offset: Int = 0

    /// The raw layout if --shape/--dtype were given.
    func layout() throws -> RawLayout? {
        guard shape != nil || dtype != nil else { return nil }
        guard let shape, let dtype else { throw LensError.invalidArgument("raw input needs both --shape and --dtype") }
        let dims = shape.split(whereSeparator: { $0 == "," || $0 == "x" || $0 == "×" }).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? -1) > 0 }) else { throw LensError.invalidArgument("--shape '\(shape)' is not a list of positive sizes") }
        guard let type = DataType(name: dtype) else { throw LensError.invalidArgument("--dtype '\(dtype)' is not a known element type") }
        guard endian == "little" || endian == "big" else { throw LensError.invalidArgument("--endian must be little or big") }
        guard offset >= 0 else { throw LensError.invalidArgument("--offset must be non-negative") }
        guard let validShape = try? Shape.validated(dims.map { $0! }, source: "--shape", elementBytes: type.byteSize) else {
            throw LensError.invalidArgument("--shape '\(shape)' is too large to address")
        }
        return RawLayout(shape: validShape, dataType: type, bigEndian: endian == "big", byteOffset: offset)
    }
}

/// Parses "A:B", "A:", ":B" or ":" into a range within 0..<extent.
func parseRange(_ text: String, extent: Int, option: String) throws -> Range<Int> {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2 else { throw LensError.invalidArgument("\(option) '\(text)' is not a range A:B") }
    guard let lo = parts[0].isEmpty ? 0 : Int(parts[0]), let hi = parts[1].isEmpty ? extent : Int(parts[1]) else {
        throw LensError.invalidArgument("\(option) '\(text)' is not a range of integers A:B")
    }
    guard lo >= 0, hi <= extent, lo < hi else {
        throw LensError.invalidArgument("\(option) \(lo):\(hi) is empty or outside 0:\(extent)")
    }
    return lo..<hi
}

/// Parses "a:b" into a closed range of Doubles (LOW < HIGH, or LOW ≤ HIGH with `allowEqual`).
func parseValueRange(_ text: String, option: String, allowEqual: Bool = false) throws -> ClosedRange<Double> {
    let parts = text.split(separator: ":").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 2, let lo = parts[0], let hi = parts[1], allowEqual ? lo <= hi : lo < hi else {
        throw LensError.invalidArgument("\(option) '\(text)' is not a value range LOW:HIGH with LOW \(allowEqual ? "≤" : "<") HIGH")
    }
    return lo...hi
}

/// Throws a usage error naming `option` unless `value` is finite and inside `range`: every
/// number that sizes work or memory has a sensible range, checked before any work.
func requireOption(_ value: Double, _ option: String, in range: ClosedRange<Double>) throws {
    guard value.isFinite, range.contains(value) else {
        throw LensError.invalidArgument("\(option) must be a number from \(formatLimit(range.lowerBound)) to \(formatLimit(range.upperBound)), got \(value)")
    }
}

func requireOption(_ value: Int, _ option: String, in range: ClosedRange<Int>) throws {
    guard range.contains(value) else {
        throw LensError.invalidArgument("\(option) must be an integer from \(range.lowerBound) to \(range.upperBound), got \(value)")
    }
}

/// A positive, finite value (an exclusive lower bound of zero).
func requirePositive(_ value: Double, _ option: String, atMost limit: Double = .greatestFiniteMagnitude) throws {
    guard value.isFinite, value > 0, value <= limit else {
        throw LensError.invalidArgument("\(option) must be a positive number" + (limit < .greatestFiniteMagnitude ? " up to \(formatLimit(limit))" : "") + ", got \(value)")
    }
}

private func formatLimit(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }

