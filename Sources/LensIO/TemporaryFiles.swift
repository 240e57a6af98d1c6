import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The temporaries this process has open (files and folders), so that an interrupt or an error
/// removes them; a hard kill leaves them for ``OutputSafety/removeStaleTemporaries(in:)``.
public enum TemporaryFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    public static func register(_ path: String) { lock.lock(); paths.insert(path); lock.unlock() }
    /// Stops tracking `path` (it became an output).
    public static func forget(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }
    /// Removes `path` from disk and stops tracking it.
    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
        forget(path)
    }
    /// Removes every tracked temporary (on an interrupt, just before the process exits).
    /// Other threads may still be writing into a staged folder: removal is retried until
    /// nothing of it is left (a few attempts).
    public static func removeAll() {
        lock.lock(); let all = paths; paths.removeAll(); lock.unlock()
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
    public static var count: Int { lock.lock(); defer { lock.unlock() }; return paths.count }
}
