import LensCore

/// Plausibility of a decoded size against the bytes a file holds, before anything is
/// allocated: a header may claim any size, but a file of N bytes decodes to at most N times the
/// compression's largest expansion.
public enum DecodedSize {
    /// Throws (naming the file) if `elements × elementBytes` overflows or exceeds
    /// `fileBytes × maximumRatio` (1 for uncompressed data).
    public static func requirePlausible(elements: Int, elementBytes: Int, fileBytes: Int, maximumRatio: Int, file: String) throws {
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: elementBytes)
        let (limit, limitOverflow) = Swift.max(fileBytes, 0).multipliedReportingOverflow(by: maximumRatio)
        if overflow || (!limitOverflow && bytes > limit + (1 << 20)) {
            throw LensError.badInput(file: file, problem: "the header claims \(overflow ? "more than \(Int.max)" : "\(bytes)") bytes of data, more than a \(fileBytes)-byte file can hold (corrupt header)")
        }
    }
}
