import Foundation
import LensCore
import LensIO
import Testing

/// bzip2 (libbz2) on the real compressed LaB6 pattern: it decompresses to the text the shared
/// data describes; a truncated stream and an expansion beyond the ceiling are refused with the
/// file named.
struct Bunzip2Tests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/diffraction/xrayutilities/LaB6_d500_si_psd.xye.bz2").standardized.path

    @Test func realFileTruncationAndCeiling() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.file)))
        #expect(Bunzip2.isBzip2(bytes) && !Bunzip2.isBzip2(Array("4.57 950".utf8)))
        let text = String(decoding: try Bunzip2.decompress(bytes, file: Self.file), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline)
        #expect(lines.count == 17381)
        #expect(lines.first?.hasPrefix("4.57208") == true)
        #expect(throws: LensError.self) { try Bunzip2.decompress(Array(bytes.prefix(bytes.count / 2)), file: "half.bz2") }
        do {
            _ = try Bunzip2.decompress(Array(bytes.prefix(bytes.count / 2)), file: "half.bz2")
        } catch let error as LensError {
            #expect("\(error)".contains("half.bz2"))
        }
        #expect(throws: LensError.self) { try Bunzip2.decompress(Array(bytes.prefix(20)), file: "tiny.bz2") }
        #expect(throws: LensError.self) { try Bunzip2.decompress([], file: "empty.bz2") }
        #expect(throws: LensError.self) { try Bunzip2.decompress(Array("4.57 950\n".utf8), file: "plain.xye") }
        // A 49-byte stream of 10 MiB of zeros (a "bzip2 bomb"): beyond the ceiling, refused.
        let hex = "425a6839314159265359335453790050504020c00000040008200030cc0529a60481362090278bb9229c284819aa29bc80"
        let bomb = stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
        do {
            _ = try Bunzip2.decompress(bomb, file: "bomb.bz2")
            Issue.record("the bomb was decompressed")
        } catch let error as LensError {
            #expect("\(error)".contains("bomb.bz2") && "\(error)".contains("refused"))
        }
        #expect(try Bunzip2.decompress(bomb, file: "bomb.bz2", ratio: 1_000_000).count == 10 * 1024 * 1024)
    }
}
