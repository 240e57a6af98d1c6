import CZlib
import Foundation
import LensCore

/// zlib/gzip decompression with a ceiling on the output, so a small hostile file cannot make
/// the tool allocate what its size cannot justify (a "zip bomb"): at most `ratio` × the input
/// (and never more than the memory available).
public enum Inflate {
    /// Decompresses a zlib or gzip stream (the header says which).
    public static func decompress(_ input: [UInt8], file: String, what: String = "compressed data", ratio: Int = 1000) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_inflate_init_auto(&stream) == Z_OK else { throw LensError.badInput(file: file, problem: "zlib cannot start") }
        defer { inflateEnd(&stream) }
        let limit = Swift.max(1 << 20, input.count.multipliedReportingOverflow(by: ratio).overflow ? Int.max : input.count * ratio)
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var input = input
        var tooLarge = false
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            var status = Z_OK
            repeat {
                status = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if output.count > limit { tooLarge = true; break }
            } while status == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0)
            return status
        }
        if tooLarge {
            throw LensError.badInput(file: file, problem: "\(what) expands beyond \(limit / 1_048_576) MiB (\(ratio)× the compressed size): refused")
        }
        guard status == Z_STREAM_END || status == Z_OK || status == Z_BUF_ERROR else {
            throw LensError.badInput(file: file, problem: "\(what) is corrupt (zlib status \(status))")
        }
        return output
    }
}
