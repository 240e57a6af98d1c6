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
    /// σ 1.2 voxels (a reconstruction's resolution), optionally smeared along y by a
    /// further Gaussian of σ `smearY`, with noise of σ 0.03, judged within radius 12.
    static func particle(width: Double, normal: SIMD3<Double>, bridged: Bool = false, brightNeighbour: Bool = false,
                         smearY: Double = 0) -> (Grid<Float>, Grid<UInt8>) {
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
        var blurred = Filters.gaussian(sharp, sigma: 1.2)
        if smearY > 0 {
            // A further Gaussian along y alone, as a limited-angle reconstruction smears
            // features along its missing directions.
            let kernel = (-12...12).map { exp(-Double($0 * $0) / (2 * smearY * smearY)) }
            let total = kernel.reduce(0, +)
            let source = blurred
            for z in 0..<n { for y in 0..<n { for x in 0..<n {
                var sum = 0.0
                for (k, w) in kernel.enumerated() where (0..<n).contains(y + k - 12) { sum += w * Double(source[z, y + k - 12, x]) }
                blurred[z, y, x] = Float(sum / total)
            } } }
        }
        let smeared = blurred
        let grey = Grid<Float>(shape: sharp.shape) { i in smeared[linear: i] + noise[i] }
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

    /// The window over which a face's deficit is integrated follows the surface's mean dip: a
    /// Gaussian dip of σ ≤ 1.2 voxels keeps the standard radius 5 (±3 integrated), one of σ 1.6
    /// (FWHM 3.8) gets 2 + ⌈0.85 · 3.8⌉ = 6, σ 2 (FWHM 4.7) 7, σ 3 the longest, 8. A profile whose
    /// faces reach no further than the standard radius keeps it, as does one without a dip.
    @Test func windowFollowsTheDip() {
        func dip(sigma: Double, reach: Int = 8) -> [Double] {
            (-8...8).map { t in abs(t) > reach ? .nan : 1 - 0.4 * exp(-Double(t * t) / (2 * sigma * sigma)) }
        }
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 0.8)) == 5)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 1.2)) == 5)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 1.6)) == 6)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 2)) == 7)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 3)) == 8)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: dip(sigma: 3, reach: 5)) == 5)
        #expect(SeparatingSurfaces.windowRadius(meanProfile: [Double](repeating: 1, count: 17)) == 5)
    }

    /// A crack smeared over a broad dip — as a limited-angle reconstruction smears one whose
    /// normal lies in the missing wedge along the missing directions — still splits by its
    /// width: 2 voxels wide, normal mostly along y (lattice thickness 0.94), smeared along y by a
    /// further Gaussian of σ 2.5 voxels (the surface's mean dip has an FWHM of about 5 voxels,
    /// so the window radius is 7). The surface's widths read 1.15–1.2 voxels over windows of
    /// radius 6–8 (the smear also darkens
    /// the ball's ends, from which part of the solid comes), 0.90 over the standard ±3-voxel
    /// window, which cuts off the dip's tails and takes its solid from inside it: with that
    /// window alone the ball stayed whole. A crack of 0.5 voxel under the same smear does not
    /// split the ball, nor does a 2-voxel one bridged over a third of the plane.
    @Test func smearedCracksSplitByTheirWidth() throws {
        let normal = SIMD3(0.25, 0.93, 0.27)
        let (smeared, within) = Self.particle(width: 2, normal: normal, smearY: 2.5)
        #expect(try Self.pieces(smeared, within, deficit: 0.45, width: 1) == 2)
        let (subVoxel, _) = Self.particle(width: 0.5, normal: normal, smearY: 2.5)
        #expect(try Self.pieces(subVoxel, within, deficit: 0.45, width: 1) == 1)
        let (bridged, _) = Self.particle(width: 2, normal: normal, bridged: true, smearY: 2.5)
        #expect(try Self.pieces(bridged, within, deficit: 0.45, width: 1) == 1)
    }
}
