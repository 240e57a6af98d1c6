import Foundation
import ImageAnalysis
import LensCore
import Testing

@Suite struct LabellingTests {
    /// Reference labelling by breadth-first flood fill (a different algorithm).
    func floodFillCount(_ mask: [UInt8], _ dims: (Int, Int, Int), connectivity: Connectivity) -> [Int] {
        let (nz, ny, nx) = dims
        var seen = [Bool](repeating: false, count: mask.count)
        var sizes = [Int]()
        for start in mask.indices where mask[start] != 0 && !seen[start] {
            var queue = [start]; seen[start] = true; var size = 0
            while let i = queue.popLast() {
                size += 1
                let z = i / (ny * nx), y = (i / nx) % ny, x = i % nx
                for dz in -1...1 { for dy in -1...1 { for dx in -1...1 {
                    let order = abs(dz) + abs(dy) + abs(dx)
                    if order == 0 || (connectivity == .faces && order > 1) || (connectivity == .edges && order > 2) { continue }
                    let zz = z + dz, yy = y + dy, xx = x + dx
                    guard zz >= 0, zz < nz, yy >= 0, yy < ny, xx >= 0, xx < nx else { continue }
                    let j = (zz * ny + yy) * nx + xx
                    if mask[j] != 0 && !seen[j] { seen[j] = true; queue.append(j) }
                } } }
            }
            sizes.append(size)
        }
        return sizes
    }

    @Test(arguments: Connectivity.allCases)
    func matchesFloodFillOnRandomMasks(connectivity: Connectivity) {
        var rng = SeededRandom(seed: UInt64(connectivity.rawValue))
        let dims = (9, 13, 11)
        let mask = (0..<(9 * 13 * 11)).map { _ in UInt8(rng.uniform() < 0.35 ? 1 : 0) }
        let result = ConnectedComponents.label(Grid(shape: Shape(9, 13, 11), elements: mask), connectivity: connectivity)
        let reference = floodFillCount(mask, dims, connectivity: connectivity)
        #expect(result.count == reference.count)
        #expect(result.sizes.dropFirst().sorted() == reference.sorted())
        // Labels are numbered in raster order of first appearance.
        var next: Int32 = 1
        for v in result.labels.elements where v != 0 { if v == next { next += 1 } else { #expect(v < next) } }
    }

    @Test func twoDimensionalAndDiagonalCases() {
        let image = Grid<UInt8>(shape: Shape(3, 3), elements: [1, 0, 0, 0, 1, 0, 0, 0, 1])
        #expect(ConnectedComponents.label(image, connectivity: .faces).count == 3)
        #expect(ConnectedComponents.label(image, connectivity: .corners).count == 1)
    }

    /// Slabs of 1, 3 and 7 planes labelled one after another give exactly the labels of the
    /// whole volume at once (same numbering), with and without dropping small components.
    @Test(arguments: Connectivity.allCases)
    func slabwiseEqualsWholeVolume(connectivity: Connectivity) throws {
        var rng = SeededRandom(seed: 40 + UInt64(connectivity.rawValue))
        let shape = Shape(37, 15, 12)
        // Blobs elongated along z so that components cross many seams.
        let mask = Grid<UInt8>(shape: shape, elements: (0..<shape.count).map { i in
            let y = (i / 12) % 15, x = i % 12
            return UInt8((x % 5 > 1 && y % 4 > 1 && rng.uniform() < 0.8) || rng.uniform() < 0.03 ? 1 : 0)
        })
        let whole = ConnectedComponents.label(mask, connectivity: connectivity)
        #expect(whole.count > 10)
        for thickness in [1, 3, 7] {
            for minimum in [0, 5] {
                var labelling = SlabwiseLabelling(planeShape: (15, 12), connectivity: connectivity)
                var provisional = Grid<Int32>(shape: shape)
                for z in stride(from: 0, to: 37, by: thickness) {
                    let range = z..<min(37, z + thickness)
                    provisional.replaceSlab(at: z, with: try labelling.label(slab: mask.slab(range).copy()))
                }
                let numbering = labelling.finish(minimumVoxels: minimum)
                numbering.apply(to: &provisional)
                let expected = minimum == 0 ? whole
                    : ConnectedComponents.label(Morphology.removeSmallObjects(mask, minimumVoxels: minimum, connectivity: connectivity),
                                                connectivity: connectivity)
                #expect(numbering.count == expected.count)
                #expect(numbering.sizes == expected.sizes)
                #expect(provisional.elements == expected.labels.elements, "slabs of \(thickness), minimum \(minimum)")
            }
        }
    }
}
