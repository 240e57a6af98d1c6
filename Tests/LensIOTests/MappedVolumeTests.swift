import Foundation
import LensCore
import LensIO
import Testing

@Suite(.serialized) struct MappedVolumeTests {
    /// A 2 GiB float32 volume, created as a memory-mapped .npy and processed slab by slab in
    /// parallel, never has more than a few slabs resident: peak resident memory grows by far
    /// less than the volume's size (bound: 512 MiB, a quarter of it; slabs are 32 MiB).
    @Test func twoGibibyteVolumeProcessedSlabwiseStaysSmallInMemory() throws {
        let dir = TemporaryFolder()
        let path = dir.file("big.npy")
        let shape = Shape(512, 1024, 1024)   // 2 GiB of float32
        let slabThickness = 8                 // 32 MiB per slab
        let before = MemoryUsage.currentResidentBytes() ?? 0
        MemoryUsage.resetPeak()
        try NPYReader.createMapped(path: path, shape: shape, as: Float.self) { grid in
            for start in stride(from: 0, to: shape[0], by: slabThickness) {
                let range = start..<(start + slabThickness)
                var slab = grid.slab(range)
                slab.withUnsafeMutableBufferPointer { p in
                    nonisolated(unsafe) let p = p
                    Parallel.forEachChunk(count: slabThickness, minimumChunk: 1) { planes in
                        for plane in planes {
                            let value = Float(start + plane)
                            (p.baseAddress! + plane * 1024 * 1024).update(repeating: value, count: 1024 * 1024)
                        }
                    }
                }
                grid.releaseResidentMemory(slab: range)
            }
        }
        let increase = MemoryUsage.peakResidentBytes() - before
        #expect(increase < 512 << 20, "peak resident memory grew by \(increase >> 20) MiB for a 2048 MiB volume")
        // The data reached the file: read a few planes back through the ordinary reader.
        let reader = try VolumeIO.open(path)
        #expect(reader.info.shape == shape)
        let planes = try reader.readSlab(300..<302).converted(to: Float.self)
        #expect(planes[0, 17, 999] == 300 && planes[1, 1023, 0] == 301)
        // And mapping it again read-only sees the same.
        let mapped = try NPYReader.mapped(path: path, as: Float.self)
        #expect(mapped[511, 5, 5] == 511)
    }
}
