import Foundation
import LensCore
import Microstructure
import Testing

@Suite struct MultiPhaseConductivityTests {
    /// Layers across the axis (in series): κ_eff = L / Σ lᵢ/κᵢ exactly (harmonic links and
    /// half-voxel faces make the discrete chain exact); along the axis (in parallel): Σ fᵢκᵢ.
    @Test func layeredMediaAreExact() throws {
        // 24 layers of 1 voxel: code 1 (κ = 1) in 16 of them, code 2 (κ = 0.1) in 8.
        let series = Grid<Int32>(shape: Shape(24, 6, 6)) { i in (i / 36) % 3 == 2 ? 2 : 1 }
        let kappa: [Int: Double] = [1: 1, 2: 0.1]
        let across = try MultiPhaseConductivity.compute(labels: series, conductivities: kappa, axis: 0)
        let expectedSeries = 24 / (16 / 1.0 + 8 / 0.1)
        #expect(abs(across.effectiveConductivity / expectedSeries - 1) < 1e-5)
        let along = try MultiPhaseConductivity.compute(labels: series, conductivities: kappa, axis: 2)
        let expectedParallel = (16 * 1.0 + 8 * 0.1) / 24
        #expect(abs(along.effectiveConductivity / expectedParallel - 1) < 1e-5)
        #expect(abs(along.tortuosityFactor - 1) < 1e-5)
        print("layers: series κ_eff \(across.effectiveConductivity) (exact \(expectedSeries)), parallel \(along.effectiveConductivity) (exact \(expectedParallel))")
    }

    /// One conducting phase (κ = 1) and an insulator: κ_eff equals the relative diffusivity of
    /// ``Tortuosity`` on the same phase, and τ its τ.
    @Test func onePhaseEqualsTortuosity() throws {
        var rng = SeededRandom(seed: 8)
        let labels = Grid<Int32>(shape: Shape(20, 20, 20), elements: (0..<8000).map { _ in rng.uniform() < 0.7 ? 1 : 0 })
        let multi = try MultiPhaseConductivity.compute(labels: labels, conductivities: [0: 0, 1: 1], axis: 1)
        let single = try Tortuosity.compute(phase: Grid(shape: labels.shape, elements: labels.elements.map { UInt8($0) }), axis: 1)
        #expect(abs(multi.effectiveConductivity / single.relativeDiffusivity - 1) < 1e-4)
        #expect(abs(multi.tortuosityFactor / single.tortuosityFactor - 1) < 1e-4)
    }

    @Test func everyPhaseNeedsAConductivity() {
        let labels = Grid<Int32>(shape: Shape(4, 4, 4)) { $0 % 3 == 0 ? 2 : 1 }
        #expect(throws: LensError.self) { try MultiPhaseConductivity.compute(labels: labels, conductivities: [1: 1], axis: 0) }
        #expect(throws: LensError.self) { try MultiPhaseConductivity.compute(labels: labels, conductivities: [1: 0, 2: 0], axis: 0) }
    }

    /// Periodic boundaries: a helical staircase channel that crosses the y faces once joins the
    /// inlet to the outlet only when those faces are joined (τ finite with periodic, ∞ without);
    /// a uniform block keeps τ = 1; an odd size across a joined axis is refused (the red–black
    /// smoother needs it even).
    @Test func periodicBoundaries() throws {
        let (nz, ny) = (16, 8)
        let helix = Grid<UInt8>(shape: Shape(nz, ny, 1)) { i in
            let (z, y) = (i / ny, i % ny)
            return y == z % ny || y == (z % ny + 1) % ny ? 1 : 0
        }
        let closed = try Tortuosity.compute(phase: helix, axis: 0)
        #expect(!closed.tortuosityFactor.isFinite)
        let joined = try Tortuosity.compute(phase: helix, axis: 0, settings: .init(periodic: true))
        #expect(joined.tortuosityFactor.isFinite && joined.tortuosityFactor > 1)
        let block = Grid<UInt8>(shape: Shape(10, 6, 4), repeating: 1)
        #expect(abs(try Tortuosity.compute(phase: block, axis: 0, settings: .init(periodic: true)).tortuosityFactor - 1) < 1e-6)
        let odd = Grid<UInt8>(shape: Shape(10, 5, 4), repeating: 1)
        #expect(throws: LensError.self) { try Tortuosity.compute(phase: odd, axis: 0, settings: .init(periodic: true)) }
        print("helix: τ \(joined.tortuosityFactor) with periodic faces")
    }
}
