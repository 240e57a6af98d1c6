import Foundation
import LensCore
import Microstructure
import Testing

@Suite struct MultiPhaseConductivityTests {
    /// Layers across the axis (in series): the discrete chain's κ_eff = (N + 1) / Σ 1/g exactly
    /// (harmonic links, end links of the end layers' κ); along the axis (in parallel): Σ fᵢκᵢ.
    @Test func layeredMediaAreExact() throws {
        // 24 layers of 1 voxel: code 1 (κ = 1) in 16 of them, code 2 (κ = 0.1) in 8.
        let series = Grid<Int32>(shape: Shape(24, 6, 6)) { i in (i / 36) % 3 == 2 ? 2 : 1 }
        let kappa: [Int: Double] = [1: 1, 2: 0.1]
        let across = try MultiPhaseConductivity.compute(labels: series, conductivities: kappa, axis: 0)
        // TauFactor's MultiPhaseSolver chain: fixed nodes one voxel out, linked with the end
        // layers' own κ (first κ = 1, last κ = 0.1), length N + 1.
        let expectedSeries = 25 / (16 / 1.0 + 8 / 0.1 + 0.5 / 1.0 + 0.5 / 0.1)
        #expect(abs(across.effectiveConductivity / expectedSeries - 1) < 1e-5)
        let along = try MultiPhaseConductivity.compute(labels: series, conductivities: kappa, axis: 2)
        let expectedParallel = (16 * 1.0 + 8 * 0.1) / 24
        #expect(abs(along.effectiveConductivity / expectedParallel - 1) < 1e-5)
        #expect(abs(along.tortuosityFactor - 1) < 1e-5)
        print("layers: series κ_eff \(across.effectiveConductivity) (exact \(expectedSeries)), parallel \(along.effectiveConductivity) (exact \(expectedParallel))")
    }

    /// One conducting phase (κ = 1) and an insulator: κ_eff is close to the relative diffusivity
    /// of ``Tortuosity`` on the same phase (the two boundary conventions, TauFactor's
    /// MultiPhaseSolver and Solver, differ by O(1/N): within 2 % at N = 20), and a uniform block
    /// conducts exactly κ (to the solver's tolerance, here 1e-10: the default 1e-5 bounds the
    /// error of κ_eff, 1.4·10⁻⁷ here, not the field's residual).
    @Test func onePhaseIsCloseToTortuosity() throws {
        var rng = SeededRandom(seed: 8)
        let labels = Grid<Int32>(shape: Shape(20, 20, 20), elements: (0..<8000).map { _ in rng.uniform() < 0.7 ? 1 : 0 })
        let multi = try MultiPhaseConductivity.compute(labels: labels, conductivities: [0: 0, 1: 1], axis: 1)
        let single = try Tortuosity.compute(phase: Grid(shape: labels.shape, elements: labels.elements.map { UInt8($0) }), axis: 1)
        print("one phase: multi-phase κ_eff \(multi.effectiveConductivity), single-phase D_eff/D \(single.relativeDiffusivity)")
        #expect(abs(multi.effectiveConductivity / single.relativeDiffusivity - 1) < 0.02)
        let block = try MultiPhaseConductivity.compute(labels: Grid<Int32>(shape: Shape(12, 8, 8), repeating: 3), conductivities: [3: 2.5], axis: 0,
                                                       settings: .init(tolerance: 1e-10))
        #expect(abs(block.effectiveConductivity - 2.5) < 1e-9)
        #expect(abs(block.tortuosityFactor - 1) < 1e-9)
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
