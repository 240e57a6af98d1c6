import Foundation

/// Resident memory of this process, for slab-processing checks and benchmark reports.
public enum MemoryUsage {
    /// Peak resident set size so far in bytes (Linux `VmHWM`; getrusage elsewhere).
    public static func peakResidentBytes() -> Int {
        if let kib = statusField("VmHWM:") { return kib * 1024 }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Current resident set size in bytes (Linux `VmRSS`).
    public static func currentResidentBytes() -> Int? {
        statusField("VmRSS:").map { $0 * 1024 }
    }

    /// Resets the peak so a later ``peakResidentBytes()`` measures only what follows (Linux:
    /// writing 5 to /proc/self/clear_refs). Returns false where unsupported.
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)); return true } catch { return false }
    }

    private static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first
            return digits.flatMap { Int($0) }
        }
        return nil
    }
}
