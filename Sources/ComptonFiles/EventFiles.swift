import Compton
import Dispatch
import Foundation
import LensCore

/// A photon event list read in batches, so 10⁹ events never sit in memory: binary 12-byte
/// records (`.bin`, `.events`, anything not `.csv`) or CSV with a header naming the columns
/// `frame,row,column` and `energy_kev` (or `adu`, or `energy`). Events must come in frame order,
/// as detectors write them (charge-sharing correction works frame by frame); a decreasing
/// frame number is an error naming the line or record.
public final class PhotonEventFile {
    public let path: String
    public let isCSV: Bool
    /// Whether the energy column is in ADU (uncalibrated).
    public private(set) var isADU = false
    private let handle: UnsafeMutablePointer<FILE>
    private var csvColumns: (frame: Int, row: Int, column: Int, energy: Int) = (0, 1, 2, 3)
    private var lineNumber = 0
    private var recordIndex = 0
    private var lastFrame: UInt32 = 0
    private var pendingLine: [UInt8] = []

    public init(path: String) throws {
        self.path = path
        guard let handle = fopen(path, "rb") else {
            throw LensError.badInput(file: path, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
        self.handle = handle
        isCSV = URL(fileURLWithPath: path).pathExtension.lowercased() == "csv"
        if isCSV { try readHeader() } else {
            var st = stat()
            fstat(fileno(handle), &st)
            guard Int(st.st_size) % PhotonEvent.byteSize == 0 else {
                throw LensError.badInput(file: path, problem: "\(st.st_size) bytes is not a whole number of 12-byte event records (frame u32, row u16, column u16, energy f32)")
            }
        }
    }

    /// Mean length in bytes of the first lines of a text file (at least 1): an event count
    /// estimate for progress on CSV lists.
    public static func typicalLineBytes(path: String, sampleBytes: Int = 1 << 16) -> Int {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: sampleBytes) else { return 1 }
        try? handle.close()
        let lines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        return Swift.max(1, lines > 0 ? data.count / lines : data.count)
    }

    /// (Runs also when init throws after opening: the file is closed once, here.)
    deinit { fclose(handle) }

    private func readLine() -> String? {
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        let n = getline(&line, &capacity, handle)
        guard n >= 0, let line else { return nil }
        lineNumber += 1
        return String(cString: line).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func readHeader() throws {
        guard let header = readLine() else { throw LensError.badInput(file: path, problem: "empty event list") }
        let names = header.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        func index(_ candidates: [String]) -> Int? { names.firstIndex { candidates.contains($0) } }
        guard let f = index(["frame"]), let r = index(["row", "y"]), let c = index(["column", "col", "x"]),
              let e = index(["energy_kev", "energy", "adu"]) else {
            throw LensError.badInput(file: path, problem: "CSV header '\(header)' must name frame, row, column and energy_kev (or adu)")
        }
        isADU = names[e] == "adu"
        csvColumns = (f, r, c, e)
    }

    /// Decodes `count` 12-byte little-endian records into `batch` (reusing its storage), in
    /// parallel slices — the portable path, for hosts where the struct is not the record.
    private func decode(_ buffer: [UInt8], count n: Int, into batch: inout [PhotonEvent]) {
        if batch.count != n { batch = [PhotonEvent](repeating: PhotonEvent(frame: 0, row: 0, column: 0, energyKeV: 0), count: n) }
        Parallel.withDisjointWrites(&batch) { out in
            buffer.withUnsafeBytes { bytes in Parallel.sharing(bytes: bytes) { raw in
                let parts = n >= 1 << 16 ? Parallel.threadCount : 1
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    for k in (n * part / parts)..<(n * (part + 1) / parts) {
                        let o = k * PhotonEvent.byteSize
                        out[k] = PhotonEvent(
                            frame: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)),
                            row: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o + 4, as: UInt16.self)),
                            column: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o + 6, as: UInt16.self)),
                            energyKeV: Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))))
                    }
                }
            } }
        }
    }

    /// Calls `body` with consecutive batches of up to `batchSize` events until the file ends.
    public func forEachBatch(batchSize: Int = 1 << 20, _ body: ([PhotonEvent]) throws -> Void) throws {
        var batch = [PhotonEvent]()
        batch.reserveCapacity(batchSize)
        if isCSV {
            while let line = readLine() {
                guard !line.isEmpty, !line.hasPrefix("#") else { continue }
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                let needed = Swift.max(csvColumns.frame, csvColumns.row, csvColumns.column, csvColumns.energy)
                guard fields.count > needed,
                      let frame = UInt32(fields[csvColumns.frame].trimmingCharacters(in: .whitespaces)),
                      let row = UInt16(fields[csvColumns.row].trimmingCharacters(in: .whitespaces)),
                      let column = UInt16(fields[csvColumns.column].trimmingCharacters(in: .whitespaces)),
                      let energy = Float(fields[csvColumns.energy].trimmingCharacters(in: .whitespaces)), energy.isFinite else {
                    throw LensError.badInput(file: path, problem: "line \(lineNumber) is not an event (frame,row,column,energy): '\(line)'")
                }
                guard frame >= lastFrame else { throw LensError.badInput(file: path, problem: "line \(lineNumber): frame \(frame) after frame \(lastFrame); events must be in frame order") }
                lastFrame = frame
                batch.append(PhotonEvent(frame: frame, row: row, column: column, energyKeV: energy))
                if batch.count == batchSize { try body(batch); batch.removeAll(keepingCapacity: true) }
            }
        } else {
            var buffer = [UInt8]()
            var previous = lastFrame
            defer { lastFrame = previous }
            while true {
                let n: Int
                let first = recordIndex
                if PhotonEvent.matchesRecordLayout {
                    // The struct is the record (12 bytes, same field order, little-endian host):
                    // read straight into the reused batch storage, no decoding pass.
                    if batch.count != batchSize { batch = [PhotonEvent](repeating: PhotonEvent(frame: 0, row: 0, column: 0, energyKeV: 0), count: batchSize) }
                    let h = handle
                    n = batch.withUnsafeMutableBytes { fread($0.baseAddress, PhotonEvent.byteSize, batchSize, h) }
                    if n == 0 { break }
                    if n < batch.count { batch.removeLast(batch.count - n) }
                } else {
                    if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: batchSize * PhotonEvent.byteSize) }
                    n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, PhotonEvent.byteSize, batchSize, handle) }
                    if n == 0 { break }
                    decode(buffer, count: n, into: &batch)
                }
                for k in 0..<n {
                    let frame = batch[k].frame
                    guard frame >= previous else {
                        throw LensError.badInput(file: path, problem: "record \(first + k): frame \(frame) after frame \(previous); events must be in frame order")
                    }
                    previous = frame
                }
                recordIndex += n
                try body(batch)
            }
            return
        }
        if !batch.isEmpty { try body(batch) }
    }
}
