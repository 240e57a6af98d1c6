import CBZip2
import Foundation
import LensCore

/// bzip2 decompression (libbz2) with the same ceiling as ``Inflate``: at most `ratio` × the
/// input, so a small hostile file cannot make the tool allocate what its size cannot justify.
public enum Bunzip2 {
    /// Whether `bytes` start with the bzip2 signature "BZh" and a block-size digit.
    public static func isBzip2(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x42 && bytes[1] == 0x5A && bytes[2] == 0x68 && (0x31...0x39).contains(bytes[3])
    }

    /// Decompresses a bzip2 stream (concatenated streams too, as `bzip2 -d` does).
    public static func decompress(_ input: [UInt8], file: String, what: String = "bzip2 data", ratio: Int = 1000) throws -> [UInt8] {
        guard isBzip2(input) else { throw LensError.badInput(file: file, problem: "\(what) is not a bzip2 stream (no BZh signature)") }
        let limit = Swift.max(1 << 20, input.count.multipliedReportingOverflow(by: ratio).overflow ? Int.max : input.count * ratio)
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var input = input
        var consumed = 0
        while consumed < input.count {
            var stream = bz_stream()
            guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { throw LensError.badInput(file: file, problem: "bzip2 cannot start") }
            defer { BZ2_bzDecompressEnd(&stream) }
            var status = BZ_OK
            var tooLarge = false
            input.withUnsafeMutableBufferPointer { inBuffer in
                inBuffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: inBuffer.count) { base in
                    stream.next_in = base + consumed
                    stream.avail_in = UInt32(inBuffer.count - consumed)
                    repeat {
                        status = chunk.withUnsafeMutableBufferPointer { out in
                            out.baseAddress!.withMemoryRebound(to: CChar.self, capacity: out.count) { o in
                                stream.next_out = o
                                stream.avail_out = UInt32(out.count)
                                return BZ2_bzDecompress(&stream)
                            }
                        }
                        output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                        if output.count > limit { tooLarge = true; break }
                    } while status == BZ_OK && (stream.avail_in > 0 || stream.avail_out == 0)
                    consumed = inBuffer.count - Int(stream.avail_in)
                }
            }
            if tooLarge {
                throw LensError.badInput(file: file, problem: "\(what) expands beyond \(limit / 1_048_576) MiB (\(ratio)× the compressed size): refused")
            }
            guard status == BZ_STREAM_END else {
                throw LensError.badInput(file: file, problem: "\(what) is corrupt or truncated (bzip2 status \(status))")
            }
            // Another stream may follow (parallel bzip2 writes several); trailing zeros are padding.
            if input[consumed...].allSatisfy({ $0 == 0 }) { break }
        }
        return output
    }
}
