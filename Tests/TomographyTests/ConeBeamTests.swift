import Foundation
import LensCore
import Testing
import Tomography

@Suite struct ConeBeamTests {
    func geometry(angles: Int = 9) -> ConeBeamGeometry {
        ConeBeamGeometry(anglesDegrees: (0..<angles).map { Double($0) * 40 }, detectorRows: 24, detectorColumns: 28,
                         detectorPixelMillimetres: 0.2, sourceToAxisMillimetres: 20, sourceToDetectorMillimetres: 60,
                         centreOffsetPixels: 0.4, voxelSizeMicrometres: 50)
    }

    @Test func adjointPassesTheDotProductTest() throws {
        let shape = Shape(10, 12, 11)
        let projector = try ConeBeamProjector(geometry: geometry(), volumeShape: shape)
        var rng = SeededRandom(seed: 5)
        let x = Grid<Float>(shape: shape, elements: (0..<shape.count).map { _ in Float(rng.uniform()) })
        let y = Grid<Float>(shape: projector.projectionShape, elements: (0..<projector.projectionShape.count).map { _ in Float(rng.uniform()) })
        let lhs = zip(try projector.project(x).elements, y.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.elements, try projector.backProject(y).elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) / abs(lhs) < 1e-5)
    }

    /// A uniform ball at the centre: each ray's line integral is μ·2√(R² − d²), d the ray's
    /// distance from the centre. Tolerance 3 % of the central chord (voxelized, anti-aliased ball).
    @Test func ballProjectsToAnalyticChords() throws {
        let n = 40, radiusVoxels = 12.0, mu = 0.001   // 1/µm, voxel 50 µm
        let c = Double(n - 1) / 2
        let ball = Grid<Float>(shape: Shape(n, n, n)) { i in
            let z = i / (n * n), y = (i / n) % n, x = i % n
            var inside = 0
            for s in 0..<27 {
                let o = [Double(s / 9), Double((s / 3) % 3), Double(s % 3)].map { ($0 - 1) / 3 }
                let d2 = pow(Double(z) - c + o[0], 2) + pow(Double(y) - c + o[1], 2) + pow(Double(x) - c + o[2], 2)
                if d2 <= radiusVoxels * radiusVoxels { inside += 1 }
            }
            return Float(mu * Double(inside) / 27)
        }
        var g = geometry(angles: 2)
        g.centreOffsetPixels = 0
        g.detectorRows = 41; g.detectorColumns = 41
        let p = try ConeBeamProjector(geometry: g, volumeShape: ball.shape).project(ball)
        let voxelMM = 0.05
        var worst = 0.0
        for r in stride(from: 0, to: 41, by: 4) { for col in stride(from: 0, to: 41, by: 4) {
            // The ray from the source (−20 mm on the beam axis) to the detector pixel.
            let u = (Double(col) - 20) * 0.2 / voxelMM, v = (Double(r) - 20) * 0.2 / voxelMM
            let ds = 20 / voxelMM, dd = 40 / voxelMM
            let dir = [ds + dd, u, v]
            let len = (dir.map { $0 * $0 }.reduce(0, +)).squareRoot()
            // Distance from the centre (origin) to the line through the source (−ds, 0, 0).
            let cross = [0.0, -ds * dir[2], ds * dir[1]].map { $0 / len }
            let d = (cross.map { $0 * $0 }.reduce(0, +)).squareRoot()
            guard d < 0.9 * radiusVoxels else { continue }
            let chord = 2 * (radiusVoxels * radiusVoxels - d * d).squareRoot() * 50 * mu
            worst = max(worst, abs(Double(p[0, r, col]) - chord))
        } }
        #expect(worst < 0.03 * 2 * radiusVoxels * 50 * mu, "worst \(worst)")
    }
}
