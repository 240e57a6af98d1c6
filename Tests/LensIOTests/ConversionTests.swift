import Foundation
import LensCore
import LensIO
import Testing

@Suite struct ConversionTests {
    @Test func cropBinAndRescaleAgreeWithDirectComputation() throws {
        let dir = TemporaryFolder()
        let grid = Grid<Float>(shape: Shape(8, 6, 10), geometry: .isotropic(2, rank: 3)) { Float($0 % 97) }
        try VolumeIO.write(grid, to: dir.file("in.h5"))
        let plan = ConversionPlan(crop: [1..<7, 0..<6, 2..<10], bin: 2, targetType: .uint8, scaling: .rescale(0...96))
        let report = try VolumeConverter.convert(try VolumeIO.open(dir.file("in.h5")), to: dir.file("out.tif"), plan: plan)
        #expect(report.outputShape == [3, 3, 4])
        #expect(report.voxelSizeMicrometres == [4, 4, 4])
        let out = try VolumeIO.read(dir.file("out.tif")).converted(to: UInt8.self)
        for z in 0..<3 { for y in 0..<3 { for x in 0..<4 {
            var sum = 0.0
            for dz in 0..<2 { for dy in 0..<2 { for dx in 0..<2 { sum += Double(grid[1 + 2 * z + dz, 2 * y + dy, 2 + 2 * x + dx]) } } }
            let expected = UInt8((sum / 8 / 96 * 255).rounded())
            #expect(out[z, y, x] == expected)
        } } }
        #expect(try VolumeIO.open(dir.file("out.tif")).info.geometry.voxelSizeMicrometres == [4, 4, 4])
    }

    @Test func clippingIsCountedAndAutoRescaleUsesTheDataRange() throws {
        let dir = TemporaryFolder()
        let grid = Grid<Float>(shape: Shape(4), elements: [-5, 0, 100, 300])
        try VolumeIO.write(grid, to: dir.file("in.npy"))
        let clip = try VolumeConverter.convert(try VolumeIO.open(dir.file("in.npy")), to: dir.file("c.npy"), plan: ConversionPlan(targetType: .uint8))
        #expect(clip.clippedCount == 2)
        #expect(try VolumeIO.read(dir.file("c.npy")).converted(to: UInt8.self).elements == [0, 0, 100, 255])
        _ = try VolumeConverter.convert(try VolumeIO.open(dir.file("in.npy")), to: dir.file("r.npy"), plan: ConversionPlan(targetType: .uint16, scaling: .rescale(nil)))
        #expect(try VolumeIO.read(dir.file("r.npy")).converted(to: UInt16.self).elements == [0, 1074, 22561, 65535])
    }

    @Test func slicesAlongEachAxisMatchTheVolume() throws {
        let dir = TemporaryFolder()
        let grid = Grid<UInt16>(shape: Shape(5, 6, 7)) { UInt16($0) }
        try VolumeIO.write(grid, to: dir.file("v.tif"))
        let reader = try VolumeIO.open(dir.file("v.tif"))
        let z = try SliceExtraction.extract(reader, axis: .z, index: 2)
        let y = try SliceExtraction.extract(reader, axis: .y, index: 4)
        let x = try SliceExtraction.extract(reader, axis: .x, index: 6)
        #expect(z.shape == Shape(6, 7) && z[3, 5] == Float(grid[2, 3, 5]))
        #expect(y.shape == Shape(5, 7) && y[1, 2] == Float(grid[1, 4, 2]))
        #expect(x.shape == Shape(5, 6) && x[4, 5] == Float(grid[4, 5, 6]))
        #expect(throws: LensError.self) { try SliceExtraction.extract(reader, axis: .x, index: 7) }
    }
}
