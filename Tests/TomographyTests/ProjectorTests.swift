import Foundation
import LensCore
import Testing
import Tomography

@Suite struct ProjectorTests {
    func randomVolume(_ shape: Shape, seed: UInt64) -> Grid<Float> {
        var rng = SeededRandom(seed: seed)
        return Grid(shape: shape, elements: (0..<shape.count).map { _ in Float(rng.uniform()) })
    }

    /// ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ for random x and y, with an axis offset, non-uniform angles over
    /// 360°, and per-projection jitter in both directions (all paths of the projector).
    @Test(arguments: [Shape(3, 21, 21), Shape(19, 16, 24)])
    func adjointPassesTheDotProductTest(shape: Shape) throws {
        var rng = SeededRandom(seed: 4)
        let angles = (0..<37).map { _ in rng.uniform() * 360 }
        let shifts = angles.map { _ in [rng.normal() * 0.7, rng.normal() * 0.4] }
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: 29, detectorRows: shape[0],
                                            centreOffsetPixels: 1.37, projectionShiftsPixels: shifts, pixelSizeMicrometres: 0.8)
        let projector = try JosephProjector(geometry: geometry, volumeShape: shape)
        let x = randomVolume(shape, seed: 1)
        let y = randomVolume(projector.projectionShape, seed: 2)
        let ax = try projector.project(x)
        let aty = try projector.backProject(y)
        let lhs = zip(ax.elements, y.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let rhs = zip(x.elements, aty.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(lhs - rhs) / abs(lhs) < 1e-5, "⟨Ax,y⟩ = \(lhs), ⟨x,Aᵀy⟩ = \(rhs)")
    }

    /// A uniform disc of radius R (anti-aliased by 8×8 supersampling) projects to chords
    /// 2·μ·√(R² − u²) at every angle. Tolerance 0.5 % of the central chord inside |u| < 0.95 R:
    /// what remains is the partial-volume error of the voxelized edge.
    @Test func uniformDiscProjectsToAnalyticChords() throws {
        let n = 128, radius = 50.0, mu = 0.02
        let centre = Double(n - 1) / 2
        let disc = Grid<Float>(shape: Shape(1, n, n)) { index in
            let y = index / n, x = index % n
            var inside = 0
            for sy in 0..<8 { for sx in 0..<8 {
                let dy = Double(y) - centre + (Double(sy) + 0.5) / 8 - 0.5
                let dx = Double(x) - centre + (Double(sx) + 0.5) / 8 - 0.5
                if dx * dx + dy * dy <= radius * radius { inside += 1 }
            } }
            return Float(mu * Double(inside) / 64)
        }
        let angles = [0.0, 17.0, 45.0, 90.0, 133.3]
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: n, detectorRows: 1, pixelSizeMicrometres: 1)
        let p = try JosephProjector(geometry: geometry, volumeShape: disc.shape).project(disc)
        var worst = 0.0
        for a in angles.indices { for j in 0..<n {
            let u = Double(j) - centre
            guard abs(u) < 0.95 * radius else { continue }
            let chord = 2 * mu * (radius * radius - u * u).squareRoot()
            worst = max(worst, abs(Double(p[a, 0, j]) - chord))
        } }
        #expect(worst < 0.005 * 2 * mu * radius, "worst chord error \(worst)")
    }

    @Test func centreOffsetShiftsTheProjection() throws {
        // A single bright voxel at the centre lands on the axis column.
        let n = 33
        var v = Grid<Float>(shape: Shape(1, n, n))
        v[0, 16, 16] = 1
        let geometry = ParallelBeamGeometry(anglesDegrees: [0, 90, 180], detectorColumns: 41, detectorRows: 1, centreOffsetPixels: 3)
        let p = try JosephProjector(geometry: geometry, volumeShape: v.shape).project(v)
        for a in 0..<3 {
            let row = (0..<41).map { p[a, 0, $0] }
            #expect(row.firstIndex(of: row.max()!) == 23)   // (41 − 1)/2 + 3
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)        // mass is conserved
        }
    }

    @Test func mismatchedShapesAreRejected() throws {
        let geometry = ParallelBeamGeometry(anglesDegrees: [0], detectorColumns: 10, detectorRows: 4)
        #expect(throws: LensError.self) { try JosephProjector(geometry: geometry, volumeShape: Shape(5, 10, 10)) }
        let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(4, 10, 10))
        #expect(throws: LensError.self) { try projector.project(Grid<Float>(shape: Shape(4, 10, 11))) }
    }
}

/// Rays at 180° and 360° have slopes of rounding size (sin π = 1.2e-16); with the axis off
/// centre one of them sits just inside the slice edge and its drift used to step one voxel past
/// it — reading (projection) and writing (adjoint) outside the slice, nondeterministic garbage
/// found through the centre finders. Same input, same output, bounded by the longest chord.
@Suite struct ProjectorEdgeRayTests {
    @Test(arguments: [-32.0, -20.0, -5.0, 20.0])
    func offCentreAxisAtHalfTurnsStaysInside(offset: Double) throws {
        let angles = (0..<360).map { Double($0) }
        let g = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: 128, detectorRows: 1, centreOffsetPixels: offset)
        let ones = Grid<Float>(shape: Shape(1, 128, 128), repeating: 1)
        let projector = try JosephProjector(geometry: g, volumeShape: ones.shape)
        let first = try projector.project(ones), second = try projector.project(ones)
        let differing = (0..<first.count).filter { first[linear: $0] != second[linear: $0] }
        #expect(differing.isEmpty, "\(differing.count) differ, first at angle \(differing.first.map { $0 / 128 } ?? -1) column \(differing.first.map { $0 % 128 } ?? -1): \(differing.prefix(3).map { (first[linear: $0], second[linear: $0]) })")
        let maximum = first.elements.max() ?? 0
        #expect(maximum.isFinite && maximum <= Float(128 * 2.squareRoot()) + 1, "max \(maximum)")
        #expect(first.elements.allSatisfy { $0 >= 0 })
    }
}

/// The walks skip the per-step index clamp when ``JosephProjector/staysInside(_:step:steps:lastIndex:)``
/// says a segment's two ends are inside: that must hold for every step in between. Random
/// segments, many of them grazing or crossing the plane's edges, against a step-by-step check.
@Suite struct ProjectorWalkBoundsTests {
    @Test func endsBoundEveryStep() {
        var rng = SeededRandom(seed: 19)
        var (accepted, refused) = (0, 0)
        for _ in 0..<20_000 {
            let lastIndex = 1 + Int(rng.uniform() * 600)
            // Positions around the plane, steps of either sign up to one voxel, in 32.32 fixed point.
            let start = Int64(((rng.uniform() * 1.2 - 0.1) * Double(lastIndex + 1)) * 4_294_967_296)
            let step = Int64((rng.uniform() * 2 - 1) * 4_294_967_296)
            let steps = 1 + Int(rng.uniform() * 40)
            let inside = (0..<steps).allSatisfy { k in
                let index = (start &+ Int64(k) &* step) &>> 32
                return index >= 0 && index <= Int64(lastIndex)
            }
            let claimed = JosephProjector.staysInside(start, step: step, steps: steps, lastIndex: lastIndex)
            #expect(claimed == inside, "start \(start) step \(step) steps \(steps) last \(lastIndex)")
            if claimed { accepted += 1 } else { refused += 1 }
        }
        // Both outcomes occur often enough for the check to mean something.
        #expect(accepted > 1000 && refused > 1000)
    }
}
