import Foundation
import ImageAnalysis
import LensCore
import LensIO
import Pipeline
import Testing

/// Labelling a file slab by slab gives the labels of the whole volume labelled at once.
@Suite final class VolumeLabellingTests {
    let dir = NSTemporaryDirectory() + "batterylens-volume-label-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @Test func slabwiseFileEqualsInMemory() throws {
        var rng = SeededRandom(seed: 11)
        let shape = Shape(41, 16, 14)
        // Phase value 2 among labels 0/1/2, blobs elongated along z to cross slab seams.
        let volume = Grid<UInt8>(shape: shape, elements: (0..<shape.count).map { i in
            let y = (i / 14) % 16, x = i % 14
            if x % 6 > 1 && y % 5 > 1 && rng.uniform() < 0.85 { return 2 }
            return rng.uniform() < 0.05 ? 2 : UInt8(rng.uniform() < 0.5 ? 1 : 0)
        })
        try VolumeIO.write(volume, to: dir + "/phases.npy")
        let mask = volume.map { $0 == 2 ? UInt8(1) : 0 }
        for minimum in [0, 4] {
            // 16·14·4 bytes per plane: slabs of 3 planes.
            let out = dir + "/labels-\(minimum).tif"
            let outcome = try VolumeLabelling.run(input: dir + "/phases.npy", phaseCodes: [2], output: out, connectivity: .corners,
                                                  minimumVoxels: minimum, slabBytes: 3 * 16 * 14 * 4)
            #expect(outcome.slabPlanes == 3)
            let kept = minimum == 0 ? mask : Morphology.removeSmallObjects(mask, minimumVoxels: minimum, connectivity: .corners)
            let expected = ConnectedComponents.label(kept, connectivity: .corners)
            #expect(outcome.count == expected.count)
            #expect(outcome.sizes == expected.sizes)
            #expect(outcome.phaseVoxels == mask.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } })
            let written = try VolumeIO.read(out).converted(to: Int32.self)
            #expect(written.elements == expected.labels.elements)
        }
        // Only the inputs and outputs remain: the provisional file is gone.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["labels-0.tif", "labels-4.tif", "phases.npy"])
    }

    @Test func emptyPhaseNamesTheFileAndWritesNothing() throws {
        try VolumeIO.write(Grid<UInt8>(shape: Shape(4, 5, 6), repeating: 1), to: dir + "/ones.npy")
        #expect {
            _ = try VolumeLabelling.run(input: self.dir + "/ones.npy", phaseCodes: [3], output: self.dir + "/l.tif", connectivity: .faces)
        } throws: { error in
            "\(error)".contains("ones.npy") && "\(error)".contains("empty")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["ones.npy"])
    }
}
