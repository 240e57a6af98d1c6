import Foundation
import LensCore
import LensIO
import Fuzzing
import Testing

/// 1-bit (bilevel) TIFFs — masks and line drawings saved by ImageJ and scanners — read as uint8
/// 0/1, the stored bits as tifffile reads them: a file built byte by byte (the fuzzer's seed),
/// whole and by rows, and the real `ellipse_dent.tif` beside the cylindrical-cell data (a
/// WhiteIsZero line drawing).
@Suite final class BilevelTIFFTests {
    let dir = NSTemporaryDirectory() + "batterylens-bilevel-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @Test func bitsUnpackToBytes() throws {
        let rows: [[UInt8]] = [[1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]]
        try Data(BilevelTIFFSeed.make(rows: rows)).write(to: URL(fileURLWithPath: dir + "/b.tif"))
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
