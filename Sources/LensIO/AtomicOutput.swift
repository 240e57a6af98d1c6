import Foundation
import LensCore

/// Writes outputs so that a crash or an error never leaves a partial file under the final name:
/// everything is written to a temporary file in the same folder, then renamed into place
/// (rename is atomic within a file system). Failed writes remove their temporary file.
public enum AtomicOutput {
    /// Checks that `path` can be written as an output: its folder exists and is a folder, and it
    /// is not one of `inputs` (same file after resolving links) — outputs never replace inputs.
    public static func validate(_ path: String, inputs: [String] = []) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LensError.badOutput(file: path, problem: "output folder \(folder) does not exist")
        }
        let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
        for input in inputs {
            let inputPath = InputRecord.filePart(of: input)
            let inputResolved = URL(fileURLWithPath: inputPath).resolvingSymlinksInPath().standardizedFileURL.path
            if resolved == inputResolved || resolved.hasPrefix(inputResolved + "/") && isFolder(inputResolved) {
                throw LensError.badOutput(file: path, problem: "output would overwrite the input \(input)")
            }
        }
    }

    private static func isFolder(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    /// A temporary path beside `path` (same folder, hidden, unique).
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let name = ".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString.prefix(8)).tmp"
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Runs `body` with a temporary path, then renames it to `path`. If `body` throws, the
    /// temporary file (or folder) is removed and the error rethrown; `path` is untouched.
    public static func write<R>(to path: String, inputs: [String] = [], _ body: (String) throws -> R) throws -> R {
        try validate(path, inputs: inputs)
        let temporary = temporaryPath(for: path)
        do {
            let result = try body(temporary)
            try commit(temporary, to: path)
            return result
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Moves a finished temporary file (or folder) into place, replacing any previous output.
    public static func commit(_ temporary: String, to path: String) throws {
        if rename(temporary, path) != 0 {
            // A folder cannot replace a non-empty folder by rename(2): remove the old one first.
            if errno == ENOTEMPTY || errno == EEXIST || errno == EISDIR {
                try? FileManager.default.removeItem(atPath: path)
                if rename(temporary, path) == 0 { return }
            }
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw LensError.badOutput(file: path, problem: "cannot move the finished output into place: \(reason)")
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
