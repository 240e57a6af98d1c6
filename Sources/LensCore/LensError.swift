/// Errors every BatteryLens module throws. Each names the file (or option) and the problem in
/// one line, so the CLI can print it as is; ``isUsageError`` picks exit code 2 over 1.
public enum LensError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An input file that cannot be used: missing, truncated, corrupt, of an unsupported type.
    case badInput(file: String, problem: String)
    /// An output that cannot be written: missing folder, would overwrite an input, disk error.
    case badOutput(file: String, problem: String)
    /// A command-line value or API argument that makes no sense (exit code 2 on the CLI).
    case invalidArgument(String)
    /// The work was cancelled through a ``CancellationToken``.
    case cancelled
    /// A numerical method that could not produce a result (singular system, no convergence).
    case numerical(String)

    public var description: String {
        switch self {
        case let .badInput(file, problem): return "\(file): \(problem)"
        case let .badOutput(file, problem): return "\(file): \(problem)"
        case let .invalidArgument(message): return message
        case .cancelled: return "cancelled"
        case let .numerical(message): return message
        }
    }

    public var isUsageError: Bool {
        if case .invalidArgument = self { return true }
        return false
    }
}

extension LensError {
    /// Runs the analysis of `file`: a numerical failure that comes from the data (a single grey
    /// level, no edge, nothing to fit) becomes a bad-input error naming the file (exit 1).
    public static func analysing<R>(_ file: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch LensError.numerical(let message) {
            throw LensError.badInput(file: file, problem: message)
        }
    }
}
