import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The temporaries this process has open (files and folders), so that an interrupt or an error
/// removes them; a hard kill leaves them for ``OutputSafety/removeStaleTemporaries(in:)``.
public enum TemporaryFiles {
    private struct State {
        var paths: Set<String> = []
        /// Temporary → the output it becomes, for error messages (kept after the temporary is
        /// gone: an error is often reported after its clean-up).
        var outputNames: [String: String] = [:]
    }
    private static let state = Mutex(State())

    public static func register(_ path: String) { state.withLock { _ = $0.paths.insert(path) } }

    /// Registers a temporary that becomes `output`.
    public static func register(_ path: String, becoming output: String) {
        state.withLock { $0.paths.insert(path); $0.outputNames[path] = output }
    }

    /// `text` with every temporary's path replaced by the output it becomes (longest first, so
    /// a temporary inside a staged folder is named before the folder).
    public static func publicText(_ text: String) -> String {
        let names = state.withLock { $0.outputNames }
        guard names.keys.contains(where: { text.contains($0) }) else { return text }
        return names.sorted { $0.key.count > $1.key.count }.reduce(text) { $0.replacingOccurrences(of: $1.key, with: $1.value) }
    }
    /// Stops tracking `path` (it became an output).
    public static func forget(_ path: String) { state.withLock { _ = $0.paths.remove(path) } }
    /// Removes `path` from disk and stops tracking it.
    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
        forget(path)
    }
    /// Removes every tracked temporary (on an interrupt, just before the process exits).
    /// Other threads may still be writing into a staged folder: removal is retried until
    /// nothing of it is left (a few attempts).
    public static func removeAll() {
        let all = state.withLock { s in defer { s.paths.removeAll() }; return s.paths }
        for _ in 0..<5 {
            var left = false
            for path in all {
                try? FileManager.default.removeItem(atPath: path)
                var info = stat()
                if lstat(path, &info) == 0 { left = true }
            }
            if !left { return }
            usleep(20_000)
        }
    }
    /// How many are tracked (tests).
    public static var count: Int { state.withLock { $0.paths.count } }
}
