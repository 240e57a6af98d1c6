import Foundation
import LensCore
import LensIO
import Testing

/// 1-bit (bilevel) TIFFs — masks and line drawings saved by ImageJ and scanners — read as uint8
/// 0/1, the stored bits as tifffile reads them: a file built byte by byte, whole and by rows, and
/// the real `ellipse_dent.tif` beside the cylindrical-cell data (a WhiteIsZero line drawing).
@Suite final class BilevelTIFFTests {
    let dir = NSTemporaryDirectory() + "batterylens-bilevel-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// A little-endian, uncompressed, 10 × 3 bilevel TIFF with one strip per row: each row is
    /// two bytes, most significant bit first, the last 6 bits padding.
    func bilevel(rows: [[UInt8]]) -> Data {
        var d = Data([0x49, 0x49, 42, 0, 8, 0, 0, 0])
        let dataOffset = 8 + 2 + 8 * 12 + 4
        let entries: [(UInt16, UInt16, UInt32)] = [(256, 3, 10), (257, 3, 3), (258, 3, 1), (259, 3, 1), (262, 3, 0),
                                                    (273, 4, UInt32(dataOffset)), (278, 3, 3), (279, 4, 6)]
        func u16(_ v: UInt16) { d.append(contentsOf: [UInt8(v & 0xff), UInt8(v >> 8)]) }
        func u32(_ v: UInt32) { for k in 0..<4 { d.append(UInt8((v >> (8 * UInt32(k))) & 0xff)) } }
        u16(UInt16(entries.count))
        for (tag, type, value) in entries { u16(tag); u16(type); u32(1); if type == 3 { u16(UInt16(value)); u16(0) } else { u32(value) } }
        u32(0)
        for row in rows {
            var bytes = [UInt8](repeating: 0, count: 2)
            for (x, bit) in row.enumerated() where bit != 0 { bytes[x / 8] |= 0x80 >> UInt8(x % 8) }
            d.append(contentsOf: bytes)
        }
        return d
    }

    @Test func bitsUnpackToBytes() throws {
        let rows: [[UInt8]] = [[1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]]
        try bilevel(rows: rows).write(to: URL(fileURLWithPath: dir + "/b.tif"))
        let reader = try VolumeIO.open(dir + "/b.tif")
        #expect(reader.info.shape == Shape(3, 10) && reader.info.dataType == .uint8)
        let grid = try reader.readAll().converted(to: UInt8.self)
        #expect(grid.elements == rows.flatMap { $0 })
        // A band of rows reads the same rows.
        let band = try reader.readSlab(1..<3).converted(to: UInt8.self)
        #expect(band.elements == rows[1...].flatMap { $0 })
    }

    @Test func realLineDrawing() throws {
        let grid = try VolumeIO.read(sharedData + "/microstructure/cylindrical_cell_labxct/ellipse_dent.tif").converted(to: UInt8.self)
        #expect(grid.shape == Shape(576, 576))
        #expect(Set(grid.elements) == [0, 1])
        // A closed outline: every row through its middle crosses the drawn line twice.
        var runs = 0, previous: UInt8 = 0
        for x in 0..<576 { let v = grid[288, x]; if v == 1 && previous == 0 { runs += 1 }; previous = v }
        #expect(runs == 2)
        let drawn = grid.elements.filter { $0 == 1 }.count
        #expect(drawn > 5_000 && drawn < 15_000)
    }
}
