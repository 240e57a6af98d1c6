import Foundation
import Synchronization
import LensCore
#if canImport(Glibc)
import Glibc
#endif

/// All outputs of one command, checked before any work starts and published together at the
/// end — or none of them.
///
/// A command declares every output it will write (``file(_:option:)``, ``folder(_:option:)``)
/// and gets back a hidden staging path beside each one to write to. Declaring checks, before
/// any work: the folder exists and is writable; the name fits the file system; the output does
/// not equal, contain or lie inside any input; no two outputs collide or nest; and whatever
/// stands at the path may be replaced (nothing, an empty folder, or BatteryLens's own unchanged
/// output; anything else only with `overwrite`). ``commit()`` then moves every staged output
/// into place (swapping the previous ones aside and removing them only once all are in place;
/// a failure part-way puts back what was there). If the command fails, ``abort()`` removes the
/// staged outputs and nothing changes at any output path. Two runs into the same folder each
/// publish a whole folder, so their files never mix.
public final class OutputTransaction: @unchecked Sendable {
    /// One declared output.
    public struct Output: Sendable {
        /// The path the user named (with a `:/dataset` part if given).
        public let path: String
        /// The option that named it (for messages).
        public let option: String
        /// Where the command writes it until the commit.
        public let staging: String
        var filePath: String { InputRecord.filePart(of: path) }
        var stagingFile: String { InputRecord.filePart(of: staging) }
    }

    public let inputs: [String]
    public let overwrite: Bool
    public private(set) var outputs: [Output] = []
    private var finished = false

    /// The transactions not yet committed or aborted (an interrupt aborts them all).
    private static let active = Mutex<[ObjectIdentifier: OutputTransaction]>([:])

    /// Starts a transaction for a command that reads `inputs` (paths, optionally `file:/dataset`).
    public init(inputs: [String], overwrite: Bool = false) {
        self.inputs = inputs.filter { !$0.isEmpty }
        self.overwrite = overwrite
        Self.active.withLock { $0[ObjectIdentifier(self)] = self }
    }

    deinit { abort() }

    /// Runs `body` with a new transaction, then publishes its outputs. If `body` or the
    /// publication throws, nothing is published, the staged outputs are removed and the error
    /// is rethrown naming the user's outputs instead of the staging paths.
    public static func run<R>(inputs: [String], overwrite: Bool = false, _ body: (OutputTransaction) throws -> R) throws -> R {
        let transaction = OutputTransaction(inputs: inputs, overwrite: overwrite)
        do {
            let result = try body(transaction)
            try transaction.commit()
            return result
        } catch {
            let renamed = transaction.rename(error)
            transaction.abort()
            throw renamed
        }
    }

    /// An error with this transaction's staging paths replaced by the declared outputs.
    public func rename(_ error: Error) -> Error {
        guard let lens = error as? LensError ?? FileSystemError.lensError(error) else { return error }
        switch lens {
        case let .badOutput(file, problem): return LensError.badOutput(file: describe(file), problem: describe(problem))
        case let .badInput(file, problem): return LensError.badInput(file: describe(file), problem: describe(problem))
        case let .numerical(message): return LensError.numerical(describe(message))
        default: return lens
        }
    }

    /// Declares a single-file output (a volume format may also write a folder: TIFF series).
    /// Returns the staging path to write it to (same extension and `:/dataset` part).
    @discardableResult
    public func file(_ path: String, option: String) throws -> String {
        try declare(path, option: option, folder: false)
    }

    /// Declares a folder output and creates its (empty) staging folder; returns its path.
    @discardableResult
    public func folder(_ path: String, option: String) throws -> String {
        try declare(path, option: option, folder: true)
    }

    /// Declares an optional output; nil stays nil.
    public func file(_ path: String?, option: String) throws -> String? {
        guard let path else { return nil }
        // `--summary -`: the JSON goes to standard output (nothing to stage or publish).
        if path == StandardOutput.path && option.hasPrefix("--summary") {
            StandardOutput.reserveForData()
            return path
        }
        return try declare(path, option: option, folder: false)
    }

    public func folder(_ path: String?, option: String) throws -> String? {
        guard let path else { return nil }
        return try declare(path, option: option, folder: true)
    }

    private func declare(_ path: String, option: String, folder: Bool) throws -> String {
        guard !finished else { throw LensError.badOutput(file: path, problem: "declared after the outputs were published") }
        let reference = DatasetReference(path)
        let filePath = reference.filePath
        guard !filePath.isEmpty else { throw LensError.invalidArgument("\(option) is empty") }
        try OutputSafety.checkFolder(of: filePath)
        try OutputSafety.checkAgainstInputs(filePath, inputs: inputs)
        let resolved = OutputSafety.resolved(filePath)
        for other in outputs {
            let o = OutputSafety.resolved(other.filePath)
            if o == resolved {
                throw LensError.invalidArgument("\(option) \(path) is the same path as \(other.option); give each output its own path")
            }
            if resolved.hasPrefix(o + "/") || o.hasPrefix(resolved + "/") {
                throw LensError.invalidArgument("\(option) \(path) and \(other.option) \(other.path) lie one inside the other; write them side by side")
            }
        }
        let parent = URL(fileURLWithPath: filePath).deletingLastPathComponent().path
        OutputSafety.removeStaleTemporaries(in: parent)
        if !overwrite { try OutputSafety.requireReplaceable(filePath) }
        if folder && !overwrite, case .ownFile = OutputSafety.inspect(filePath) {
            throw LensError.badOutput(file: filePath, problem: "is a file; the output is a folder (choose another path or pass --overwrite)")
        }
        let ext = URL(fileURLWithPath: filePath).pathExtension
        let suffix = ext.isEmpty || ext.utf8.count > 16 ? (folder ? "dir" : "tmp") : ext
        let stagingFile = (parent == "/" ? "" : parent) + "/" + OutputSafety.temporaryName(suffix: suffix)
        // Without an extension a volume output is a folder of TIFFs: keep the staging name
        // extension-free too so the writer picks the same format.
        let stagingName = ext.isEmpty && !folder ? String(stagingFile.dropLast(4)) : stagingFile
        if folder {
            guard mkdir(stagingName, 0o777) == 0 else {
                throw LensError.badOutput(file: filePath, problem: "cannot create its staging folder: \(String(cString: strerror(errno)))")
            }
        }
        TemporaryFiles.register(stagingName, becoming: filePath)
        let staging = reference.datasetPath.map { "\(stagingName):\($0)" } ?? stagingName
        outputs.append(Output(path: path, option: option, staging: staging))
        return staging
    }

    /// Publishes every staged output that was written (an optional output the command did not
    /// produce is skipped). All or nothing: on a failure the ones already moved are put back.
    public func commit() throws {
        guard !finished else { return }
        var done: [(Output, String?)] = []
        do {
            for output in outputs {
                var info = stat()
                guard lstat(output.stagingFile, &info) == 0 else { continue }
                try OutputSafety.seal(output.stagingFile)
                let previous = try OutputSafety.publish(output.stagingFile, to: output.filePath, replacingForeign: overwrite)
                done.append((output, previous))
            }
        } catch {
            var untouchable: Set<String> = []
            for (output, previous) in done.reversed()
            where !OutputSafety.unpublish(output.filePath, to: output.stagingFile, previous: previous) {
                // Could not put it back: remove nothing of it (a previous occupant may be there).
                untouchable.insert(output.stagingFile)
            }
            abort(keeping: untouchable)
            throw error
        }
        for (output, previous) in done {
            TemporaryFiles.forget(output.stagingFile)
            if let previous { TemporaryFiles.remove(previous) }
        }
        finish()
    }

    /// Removes every staged output (nothing at any output path changes). Safe to call twice.
    public func abort() { abort(keeping: []) }

    private func abort(keeping untouchable: Set<String>) {
        guard !finished else { return }
        for output in outputs {
            if untouchable.contains(output.stagingFile) { TemporaryFiles.forget(output.stagingFile) } else { TemporaryFiles.remove(output.stagingFile) }
        }
        finish()
    }

    private func finish() {
        finished = true
        Self.active.withLock { $0[ObjectIdentifier(self)] = nil }
    }

    /// Replaces staging paths by the outputs the user named in an error's text, so messages
    /// (a full disk, say) name the user's output, not the hidden temporary.
    public func describe(_ message: String) -> String {
        var text = TemporaryFiles.publicText(message)
        for output in outputs { text = text.replacingOccurrences(of: output.stagingFile, with: output.filePath) }
        return text
    }

    // MARK: Process-wide look-ups (for AtomicOutput)

    private static func anyActive(_ body: (OutputTransaction) -> Bool) -> Bool {
        let all = active.withLock { Array($0.values) }
        return all.contains(where: body)
    }

    static var hasActive: Bool { active.withLock { !$0.isEmpty } }

    /// `text` with every active staging path replaced by its declared output path.
    static func publicText(_ text: String) -> String {
        let all = active.withLock { Array($0.values) }
        return all.reduce(text) { $1.describe($0) }
    }

    /// True if `path` is a declared staging path or lies inside a staged folder.
    static func isInsideStaging(_ path: String) -> Bool {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return anyActive { t in
            t.outputs.contains { o in
                let s = URL(fileURLWithPath: o.stagingFile).standardizedFileURL.path
                return absolute == s || absolute.hasPrefix(s + "/")
            }
        }
    }

    /// True if an active transaction with `overwrite` declared `path`.
    static func allowsReplacing(_ path: String) -> Bool {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return anyActive { t in t.overwrite && t.outputs.contains { URL(fileURLWithPath: $0.filePath).standardizedFileURL.path == absolute } }
    }

    /// An error whose text names a staging path, rewritten to name the declared output.
    static func renamingTemporaries(in error: Error) -> Error {
        let all = active.withLock { Array($0.values) }
        return all.reduce(error) { $1.rename($0) }
    }
}
