import Foundation
import LensCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `--summary -`: the JSON goes to standard output, alone, so it can be piped (`| jq`); the
/// human-readable lines a command prints move to standard error for that run.
public enum StandardOutput {
    /// The original standard output while it is reserved for data.
    private static let saved = Mutex<Int32?>(nil)

    /// The path that means standard output.
    public static let path = "-"

    /// Reserves standard output for data: what `print` writes goes to stderr until ``restore()``.
    public static func reserveForData() {
        saved.withLock { fd in
            guard fd == nil else { return }
            fflush(nil)
            let copy = dup(STDOUT_FILENO)
            guard copy >= 0 else { return }
            dup2(STDERR_FILENO, STDOUT_FILENO)
            fd = copy
        }
    }

    /// Gives standard output back (at the end of a command).
    public static func restore() {
        saved.withLock { fd in
            guard let copy = fd else { return }
            fflush(nil)
            dup2(copy, STDOUT_FILENO)
            close(copy)
            fd = nil
        }
    }

    /// Writes `data` to the (reserved) standard output.
    public static func write(_ data: Data) throws {
        let fd = saved.withLock { $0 } ?? STDOUT_FILENO
        fflush(nil)
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw LensError.badOutput(file: "standard output", problem: "cannot write (\(String(cString: strerror(errno))))") }
                done += n
            }
        }
    }
}
