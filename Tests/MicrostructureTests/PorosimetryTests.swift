import Foundation
import LensCore
import LensIO
import Microstructure
import Testing

@Suite struct PorosimetryTests {
    struct Fixture: Decodable { var radii: [Double]; var saturation: [Double]; var pore_voxels: Int; var crop: [[Int]] }

    /// Against PoreSpy 3.2.0's `porosimetry` (defaults) on a crop of the MATBOX pore phase
    /// (fixture made once by Benchmarks/peers/porosimetry_reference.py): the same radii and,
    /// at each, the saturation within 0.02 (the tolerance).
    @Test func matchesPoreSpyOnMATBOX() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/porosimetry_matbox.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let labels = try VolumeIO.read(sharedData + "/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif").converted(to: Int32.self)
        let (c0, c1, c2) = (fixture.crop[0], fixture.crop[1], fixture.crop[2])
        let d = labels.shape.dims
        let pore = Grid<UInt8>(shape: Shape(c0[1] - c0[0], c1[1] - c1[0], c2[1] - c2[0])) { i in
            let (z, y, x) = (i / ((c1[1] - c1[0]) * (c2[1] - c2[0])), (i / (c2[1] - c2[0])) % (c1[1] - c1[0]), i % (c2[1] - c2[0]))
            return labels[linear: ((z + c0[0]) * d[1] + y + c1[0]) * d[2] + x + c2[0]] == 0 ? 1 : 0
        }
        #expect(pore.elements.reduce(0) { $0 + Int($1) } == fixture.pore_voxels)
        let curve = try Porosimetry.drainage(pore: pore)
        let expected = Dictionary(uniqueKeysWithValues: zip(fixture.radii, fixture.saturation).filter { $0.0 >= 1 })
        #expect(Set(curve.radiiVoxels) == Set(expected.keys))
        var worst = 0.0
        for (r, s) in zip(curve.radiiVoxels, curve.saturation) { worst = max(worst, abs(s - (expected[r] ?? -1))) }
        print("porosimetry vs PoreSpy: \(curve.radiiVoxels.count) radii, largest saturation difference \(worst)")
        #expect(worst <= 0.02)
        #expect(curve.pressuresMegapascal == nil)
    }
}
