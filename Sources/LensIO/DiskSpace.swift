import Foundation
import LensCore
#if canImport(Glibc)
import Glibc
#endif

/// Free space on the file system of an output, checked before a large output is started.
public enum DiskSpace {
    /// Bytes available to this user on the file system that holds `path`'s folder (nil if the
    /// system cannot say).
    public static func availableBytes(for path: String) -> Int? {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var info = statvfs()
        guard statvfs(folder, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(clamping: info.f_bavail).multipliedReportingOverflow(by: Int(clamping: info.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// Throws (naming the output) unless `bytes` fit on the file system of `path` with 64 MiB to
    /// spare. Outputs below 64 MiB are not checked (a full disk then fails the write itself,
    /// and the error names the output).
    public static func require(bytes: Int, for path: String) throws {
        guard bytes > 64 << 20, let available = availableBytes(for: path) else { return }
        if bytes > available - Swift.min(available, 64 << 20) {
            func gib(_ b: Int) -> String { String(format: "%.3g GiB", Double(b) / 1_073_741_824) }
            throw LensError.badOutput(file: path, problem: "needs \(bytes == Int.max ? "more than 8 EiB" : gib(bytes)) but its file system has \(gib(available)) free")
        }
    }
}
