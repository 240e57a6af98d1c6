import Foundation
import Testing
import LensCore
import ImageAnalysis
import Damage

/// Splits along thin cracks (``SeparatingSurfaces``), on synthetic particles with the truth.
@Suite struct SeparatingSurfacesTests {
    /// The lattice thickness is the rule by which the phantom's truth (and any voxel
    /// segmentation at half contrast) splits a particle: a planar crack of width w, whose voxels
    /// are those at least half inside it, disconnects the face-connected voxels of a cube when
    /// w ≥ max(max|nᵢ|, Σ|nᵢ|/2) and leaves them joined below. Checked on 60 random planes at
    /// 0.9 and 1.1 times the thickness (away from the boundary, where the plane's offset
    /// decides); 0 disagreements allowed.
    @Test func latticeThicknessIsTheWidthThatDisconnectsVoxels() {
        #expect(abs(SeparatingSurfaces.latticeThickness(normal: SIMD3(0, 0, 1)) - 1) < 1e-12)
        #expect(abs(SeparatingSurfaces.latticeThickness(normal: SIMD3(0, 1, 1)) - 0.5.squareRoot()) < 1e-12)
        #expect(abs(SeparatingSurfaces.latticeThickness(normal: SIMD3(1, 1, 1)) - 0.75.squareRoot()) < 1e-12)
        var rng = SeededRandom(seed: 5)
        let n = 24
        var disagreements = 0
        for _ in 0..<60 {
            let draw = SIMD3(rng.normal(), rng.normal(), rng.normal())
            let normal = draw / (draw * draw).sum().squareRoot()
            let thickness = SeparatingSurfaces.latticeThickness(normal: normal)
            let offset = Double.random(in: -0.5...0.5, using: &rng)
            for factor in [0.9, 1.1] {
                let width = factor * thickness
                // The phantom's partial-volume rule: crack where ≥ half of the voxel's extent
                // across the plane (Σ|nᵢ| voxels) lies inside the band.
                let extent = abs(normal.x) + abs(normal.y) + abs(normal.z)
                let solid = Grid<UInt8>(shape: Shape(n, n, n)) { i in
                    let p = SIMD3(Double(i / (n * n)), Double(i / n % n), Double(i % n)) - Double(n - 1) / 2
                    let d = (p * normal).sum() - offset
                    let overlap = Swift.max(0, Swift.min(d + extent / 2, width / 2) - Swift.max(d - extent / 2, -width / 2))
                    return overlap / extent >= 0.5 ? 0 : 1
                }
                let pieces = ConnectedComponents.label(solid, connectivity: .faces).sizes.dropFirst().filter { $0 >= 27 }.count
                if (pieces >= 2) != (factor > 1) { disagreements += 1 }
            }
        }
        #expect(disagreements == 0)
    }

    /// A ball of radius 14 voxels (solid grey 1, void 0) cut through by a planar crack with an
    /// oblique normal, by partial volume (4³ sub-samples per voxel), blurred by a Gaussian of
    /// σ 1.2 voxels (a reconstruction's resolution) with noise of σ 0.03, judged within radius 12.
    static func particle(width: Double, normal: SIMD3<Double>, bridged: Bool = false, brightNeighbour: Bool = false) -> (Grid<Float>, Grid<UInt8>) {
        let n = 36, centre = Double(n - 1) / 2
        let unit = normal / (normal * normal).sum().squareRoot()
        let across = SIMD3(unit.y, -unit.x, 0) / (unit.x * unit.x + unit.y * unit.y).squareRoot()
        var sharp = Grid<Float>(shape: Shape(n, n, n))
        for z in 0..<n { for y in 0..<n { for x in 0..<n {
            var inside = 0.0
            for s in 0..<64 {
                let p = SIMD3(Double(z) + (Double(s / 16) + 0.5) / 4 - 0.5, Double(y) + (Double(s / 4 % 4) + 0.5) / 4 - 0.5,
                              Double(x) + (Double(s % 4) + 0.5) / 4 - 0.5) - centre
                guard (p * p).sum() <= 14 * 14 else {
                    // The neighbour: a denser particle touching the ball's side.
                    if brightNeighbour, p.x > 12, abs(p.y) < 6, abs(p.z) < 6 { inside += 1.5 }
                    continue
                }
                let d = (p * unit).sum() - 0.3
                let inCrack = abs(d) <= width / 2 && (!bridged || (p * across).sum() < 4)
                if !inCrack { inside += 1 }
            }
            sharp[z, y, x] = Float(inside / 64)
        } } }
        var rng = SeededRandom(seed: 9)
        let noise = (0..<sharp.count).map { _ in Float(0.03 * rng.normal()) }
        let blurred = Filters.gaussian(sharp, sigma: 1.2)
        let grey = Grid<Float>(shape: sharp.shape) { i in blurred[linear: i] + noise[i] }
        let within = Grid<UInt8>(shape: sharp.shape) { i in
            let p = SIMD3(Double(i / (n * n)), Double(i / n % n), Double(i % n)) - centre
            return (p * p).sum() <= 12 * 12 ? 1 : 0
        }
        return (grey, within)
    }

    static func pieces(_ grey: Grid<Float>, _ within: Grid<UInt8>, deficit: Double?, width: Double?) throws -> Int {
        let criteria = SeparatingSurfaces.Criteria(solidGrey: 1, voidGrey: 0, meanDeficit: deficit, latticeWidths: width, markerHeight: 0.05)
        return try SeparatingSurfaces.regions(values: grey, within: within, criteria: criteria).sizes.dropFirst().filter { $0 >= 27 }.count
    }

    /// A crack 1.3 voxels wide at an oblique normal (lattice thickness 0.81 voxel) splits the
    /// blurred ball by its width, which the blur keeps, while its mean grey deficit (spread over
    /// the blur) falls short of 0.45; a crack of 0.5 voxel (0.6 thicknesses) does not split it;
    /// nor does a crack of 2 voxels that leaves a bridge over a third of the plane. A denser
    /// neighbour touching the ball changes nothing: the markers are the particle's own peaks.
    @Test func thinCracksSplitByTheirWidth() throws {
        let normal = SIMD3(0.3, 0.5, 0.81)
        let (thin, within) = Self.particle(width: 1.3, normal: normal)
        #expect(try Self.pieces(thin, within, deficit: nil, width: 1) == 2)
        #expect(try Self.pieces(thin, within, deficit: 0.45, width: nil) == 1)
        #expect(try Self.pieces(thin, within, deficit: 0.45, width: 1) == 2)
        let (subVoxel, _) = Self.particle(width: 0.5, normal: normal)
        #expect(try Self.pieces(subVoxel, within, deficit: 0.45, width: 1) == 1)
        let (bridged, _) = Self.particle(width: 2, normal: normal, bridged: true)
        #expect(try Self.pieces(bridged, within, deficit: nil, width: 1) == 1)
        let (neighboured, _) = Self.particle(width: 1.3, normal: normal, brightNeighbour: true)
        #expect(try Self.pieces(neighboured, within, deficit: nil, width: 1) == 2)
    }
}
