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

/// Checks an allocation that a file's header or an option asks for against what the machine
/// can give, so that a hostile or corrupt size ends in a clear error instead of an abort.
public enum MemoryBudget {
    /// Bytes this process may still allocate: the system's available memory (Linux
    /// `MemAvailable`), or physical memory where that is unknown.
    public static func availableBytes() -> Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let digits = line.dropFirst("MemAvailable:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first
                if let kib = digits.flatMap({ Int($0) }) { return kib.multipliedReportingOverflow(by: 1024).overflow ? Int.max : kib * 1024 }
            }
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// Throws unless `count` elements of `elementBytes` each fit in memory (with the product
    /// checked for overflow). `what` names the file or option that asked for them.
    public static func require(elements count: Int, elementBytes: Int, for what: String, hint: String = "") throws {
        guard count >= 0, elementBytes >= 0 else { throw LensError.badInput(file: what, problem: "invalid size (\(count) elements)") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: elementBytes)
        let available = availableBytes()
        if overflow || bytes > available {
            let size = overflow ? "more than \(Int.max) bytes" : String(format: "%.3g GiB", Double(bytes) / 1_073_741_824)
            throw LensError.badInput(file: what, problem: "needs \(size) of memory; \(String(format: "%.3g", Double(available) / 1_073_741_824)) GiB is available" + (hint.isEmpty ? "" : "; \(hint)"))
        }
    }
}

