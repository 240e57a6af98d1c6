import CLensSystem
import Foundation
import LensCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes outputs so that a crash or an error never leaves a partial file under the final name,
/// and so that BatteryLens never replaces what it did not write itself.
///
/// Every output is written to a hidden temporary beside it (`.batterylens-PID-RANDOM`, short so that a
/// legal 255-byte output name still works), then moved into place in one step. What may stand
/// at the output path before (``OutputSafety/inspect(_:)``): nothing; an empty folder; a file
/// BatteryLens wrote and nobody changed since (it carries a mark with its size and time); a
/// folder BatteryLens wrote that holds only what its manifest lists. Anything else is refused
/// unless the caller allows replacing it (``OutputTransaction`` with `--overwrite`). An output
/// never equals, contains or lies inside an input (``OutputSafety/checkAgainstInputs(_:inputs:)``).
public enum AtomicOutput {
    /// Checks that `path` can be written as an output: its folder exists and is a folder, it
    /// does not equal, contain or lie inside any of `inputs`, and whatever stands there now may
    /// be replaced (see the type's rules).
    public static func validate(_ path: String, inputs: [String] = []) throws {
        let filePath = InputRecord.filePart(of: path)
        try OutputSafety.checkFolder(of: filePath)
        try OutputSafety.checkAgainstInputs(filePath, inputs: inputs)
        if !OutputTransaction.isInsideStaging(filePath) && !OutputTransaction.allowsReplacing(filePath) {
            try OutputSafety.requireReplaceable(filePath)
        }
    }

    /// A scratch file beside `path` that this run alone owns: a hidden name that did not exist
    /// when it was chosen, registered as exactly that path (an interrupt removes it; a crash
    /// leaves it to ``OutputSafety/removeStaleTemporaries(in:)``). Release it with
    /// ``TemporaryFiles/remove(_:)``. For working files of one step (provisional labels, the
    /// float volume of a 16-bit reconstruction), never for outputs.
    public static func scratchPath(beside path: String, extension ext: String) -> String {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        while true {
            let candidate = (folder == "/" ? "" : folder) + "/" + OutputSafety.temporaryName(suffix: "scratch.\(ext)")
            var info = stat()
            if lstat(candidate, &info) != 0 {
                TemporaryFiles.register(candidate)
                return candidate
            }
        }
    }

    /// A temporary path beside `path` (same folder, hidden, unique, short), registered so that
    /// an interrupt removes it (``TemporaryFiles``).
    public static func temporaryPath(for path: String) -> String {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let temporary = (folder == "/" ? "" : folder) + "/" + OutputSafety.temporaryName(suffix: "tmp")
        TemporaryFiles.register(temporary, becoming: path)
        return temporary
    }

    /// Runs `body` with a temporary path, then moves it to `path`. If `body` throws, the
    /// temporary file (or folder) is removed and the error rethrown; `path` is untouched.
    public static func write<R>(to path: String, inputs: [String] = [], _ body: (String) throws -> R) throws -> R {
        try validate(path, inputs: inputs)
        let temporary = temporaryPath(for: path)
        do {
            let result = try body(temporary)
            try commit(temporary, to: path)
            return result
        } catch {
            TemporaryFiles.remove(temporary)
            throw OutputTransaction.renamingTemporaries(in: error)
        }
    }

    /// Moves a finished temporary file (or folder) into place. A folder gets its manifest and a
    /// file its mark first, so that a later run may replace them. What stood at `path` is
    /// replaced only when the rules allow it (checked again here: it may have changed while the
    /// work ran); it is swapped aside first and removed only once the new output is in place.
    public static func commit(_ temporary: String, to path: String) throws {
        let allowed = OutputTransaction.isInsideStaging(path) || OutputTransaction.allowsReplacing(path)
        do {
            try OutputSafety.seal(temporary)
            let previous = try OutputSafety.publish(temporary, to: path, replacingForeign: allowed)
            if let previous { TemporaryFiles.remove(previous) }
            TemporaryFiles.forget(temporary)
        } catch {
            TemporaryFiles.remove(temporary)
            throw error
        }
    }

    /// Writes bytes atomically.
    public static func write(_ data: Data, to path: String, inputs: [String] = []) throws {
        try write(to: path, inputs: inputs) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw LensError.badOutput(file: path, problem: "cannot write (\(String(cString: strerror(errno))))")
            }
        }
    }
}
