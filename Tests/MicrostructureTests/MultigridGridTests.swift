import Foundation
import LensCore
import Microstructure
import Testing

/// The multigrid V-cycle smoothed on voxel grids (SIMD, single precision) against the same
/// cycle on the compact phase-only levels (double precision). Both are red–black Gauss–Seidel
/// with the same aggregates, so they agree to single precision: 1e-5 relative (the 2-norm of the
/// difference over the 2-norm of the result; Float has 6e-8 relative rounding, a few hundred
/// accumulated operations per unknown stay far below 1e-5, while a wrong neighbour, colour or
/// block would differ at the 1e-1 level).
@Suite struct MultigridGridTests {
    /// A porous phase (about 55 % of the voxels) from a fixed pseudo-random field; sizes that are
    /// not multiples of 8 exercise the padded rows, odd sizes the blocks cut at the far faces.
    static func porous(_ nz: Int, _ ny: Int, _ nx: Int, seed: UInt64, voxelSizeMicrometres: [Double]? = nil) -> Grid<UInt8> {
        var state = seed
        var grid = mask(nz, ny, nx) { _, _, _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % 100 < 55
        }
        if let voxelSizeMicrometres { grid.geometry = GridGeometry(voxelSizeMicrometres: voxelSizeMicrometres) }
        return grid
    }

    static func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        let difference = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        return difference / b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// (nz, ny, nx, axis)
    @Test(arguments: [[21, 19, 37, 0], [16, 24, 16, 2], [23, 17, 15, 1]])
    func gridCycleMatchesCompactCycle(_ c: [Int]) throws {
        let axis = c[3]
        let phase = Self.porous(c[0], c[1], c[2], seed: UInt64(c[0] * 1000 + c[2]))
        let value: (Int) -> Double = { u in sin(Double(u) * 0.37) + 0.5 * cos(Double(u) * 0.011) }
        let grid = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: axis, gridMinimumUnknowns: 64, value: value)
        let compact = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: axis, gridMinimumUnknowns: .max, value: value)
        #expect(grid.gridLevels >= 2, "the finest and at least one Galerkin level on grids")
        #expect(compact.gridLevels == 0)
        #expect(grid.result.count == compact.result.count && !grid.result.isEmpty)
        let difference = Self.relativeDifference(grid.result, compact.result)
        #expect(difference < 1e-5, "V-cycles differ by \(difference)")
    }

    /// Anisotropic voxels give one conductance per axis on the finest grid.
    @Test func anisotropicVoxelsAgree() throws {
        let phase = Self.porous(18, 20, 22, seed: 7, voxelSizeMicrometres: [2, 1, 0.5])
        let value: (Int) -> Double = { u in Double((u * 7919) % 101) / 101 - 0.5 }
        let grid = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: 1, gridMinimumUnknowns: 64, value: value)
        let compact = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: 1, gridMinimumUnknowns: .max, value: value)
        #expect(grid.gridLevels >= 1)
        #expect(Self.relativeDifference(grid.result, compact.result) < 1e-5)
    }

    /// Several conducting phases give a conductance per link on the finest grid too.
    @Test func perLinkConductancesAgree() throws {
        let phase = Self.porous(18, 21, 27, seed: 13)
        var state: UInt64 = 99
        let kappa: [Double] = phase.withUnsafeBufferPointer { mask in
            mask.map { inside in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return inside == 0 ? 0 : [1.0, 10, 0.3][Int((state >> 33) % 3)]
            }
        }
        let value: (Int) -> Double = { u in cos(Double(u) * 0.21) }
        let grid = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: 0, conductivity: kappa, gridMinimumUnknowns: 64, value: value)
        let compact = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: 0, conductivity: kappa, gridMinimumUnknowns: .max, value: value)
        #expect(grid.gridLevels >= 2)
        #expect(Self.relativeDifference(grid.result, compact.result) < 1e-5)
    }

    /// Joined (periodic) faces link voxels that are not grid neighbours: the cycle stays compact.
    @Test func periodicFacesStayCompact() throws {
        let phase = Self.porous(16, 16, 16, seed: 3)
        let probe = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: 0, periodic: true, gridMinimumUnknowns: 64) { Double($0 % 5) }
        #expect(probe.gridLevels == 0)
    }

    /// The whole solve (grids with the K-cycle on the first coarse level, against compact
    /// V-cycles): the same τ (to 1e-6, ten times the solver's tolerance of 1e-7) in about as
    /// many iterations (the K-cycle pays on real electrodes, 17 against 30 on TauFactor's; on
    /// this small random phase the two are within a few).
    @Test func tortuosityAgreesBetweenPaths() throws {
        let phase = Self.porous(24, 26, 30, seed: 11)
        let grid = try Tortuosity.compute(phase: phase, axis: 0, settings: .init(tolerance: 1e-7), gridMinimumUnknowns: 64)
        let compact = try Tortuosity.compute(phase: phase, axis: 0, settings: .init(tolerance: 1e-7), gridMinimumUnknowns: .max)
        #expect(grid.converged && compact.converged)
        #expect(abs(grid.tortuosityFactor - compact.tortuosityFactor) / compact.tortuosityFactor < 1e-6,
                "τ \(grid.tortuosityFactor) vs \(compact.tortuosityFactor)")
        #expect(grid.iterations <= compact.iterations + 5, "\(grid.iterations) vs \(compact.iterations) iterations")
    }

    /// The bitmap finest level (``BitmapLevel``: how large volumes are stored) builds the same
    /// system as the compact rows, and the same Galerkin coarse level, entry by entry: every
    /// neighbour found by rank queries, every diagonal from its neighbour code and face. Rows
    /// of 64 and 130 voxels cross and fill whole words; anisotropic voxels give one conductance
    /// per axis; a blocking outlet drops the outlet's face term; one plane, and one row per
    /// plane, leave neighbours missing on whole axes.
    /// (nz, ny, nx, axis, blocking outlet)
    @Test(arguments: [[21, 19, 37, 0, 0], [16, 24, 70, 2, 1], [23, 17, 130, 1, 0], [9, 8, 64, 2, 1], [12, 10, 65, 0, 1], [1, 40, 70, 2, 0], [9, 1, 64, 0, 1]])
    func bitmapLevelBuildsTheSameSystem(_ c: [Int]) throws {
        let phase = Self.porous(c[0], c[1], c[2], seed: UInt64(c[0] * 31 + c[2]), voxelSizeMicrometres: c[4] == 1 ? [2, 1, 0.5] : nil)
        let mismatches = try DiffusionPreconditionerProbe.bitmapMismatches(phase: phase, axis: c[3], blockingOutlet: c[4] == 1)
        #expect(mismatches.finest == 0 && mismatches.coarse == 0, "\(mismatches)")
    }

    /// The bitmap level's V-cycle (compact single-precision Gauss–Seidel, block restriction
    /// into the coarse grid) is the grid path's cycle: 1e-5 as above.
    @Test(arguments: [[21, 19, 37, 0], [16, 24, 70, 2], [23, 17, 130, 1]])
    func bitmapCycleMatchesGridCycle(_ c: [Int]) throws {
        let phase = Self.porous(c[0], c[1], c[2], seed: UInt64(c[1] * 7 + c[2]))
        let value: (Int) -> Double = { u in sin(Double(u) * 0.29) + 0.3 * cos(Double(u) * 0.017) }
        let bitmap = try #require(try DiffusionPreconditionerProbe.bitmapCycle(phase: phase, axis: c[3], gridMinimumUnknowns: 64, value: value))
        let grid = try DiffusionPreconditionerProbe.vCycle(phase: phase, axis: c[3], gridMinimumUnknowns: 64, value: value)
        #expect(grid.gridLevels >= 2 && bitmap.count == grid.result.count)
        let difference = Self.relativeDifference(bitmap, grid.result)
        #expect(difference < 1e-5, "V-cycles differ by \(difference)")
    }

    /// The whole solve over a bitmap finest level gives the grid path's τ (1e-6 at tolerance
    /// 1e-7, as above) in about as many iterations; where its first coarse level is not a grid
    /// (`gridMinimumUnknowns` .max) the solve falls back to the compact finest level built from
    /// the bitmap, with the same τ.
    @Test(arguments: [0, 2])
    func tortuosityAgreesOverTheBitmap(_ axis: Int) throws {
        let phase = Self.porous(26, 22, 70, seed: 17)
        let settings = Tortuosity.Settings(tolerance: 1e-7)
        let grid = try Tortuosity.compute(phase: phase, axis: axis, settings: settings, gridMinimumUnknowns: 64, storage: .compact)
        let bitmap = try Tortuosity.compute(phase: phase, axis: axis, settings: settings, gridMinimumUnknowns: 64, storage: .bitmap)
        let fallback = try Tortuosity.compute(phase: phase, axis: axis, settings: settings, gridMinimumUnknowns: .max, storage: .bitmap)
        for result in [bitmap, fallback] {
            #expect(result.converged)
            #expect(abs(result.tortuosityFactor - grid.tortuosityFactor) / grid.tortuosityFactor < 1e-6,
                    "τ \(result.tortuosityFactor) vs \(grid.tortuosityFactor)")
        }
        #expect(bitmap.iterations <= grid.iterations + 2, "\(bitmap.iterations) vs \(grid.iterations) iterations")
        #expect(bitmap.volumeFraction == grid.volumeFraction && bitmap.percolatingFraction == grid.percolatingFraction)
    }

    /// The impedance sweep shifts one hierarchy's diagonals per frequency instead of building
    /// it again: the cycle equals that of a hierarchy built on the shifted matrix (the coarse
    /// diagonals are the same sums in another order; 1e-5 as above for the grids' single
    /// precision), also after an earlier, different shift.
    @Test func shiftingInPlaceEqualsBuildingShifted() throws {
        let phase = Self.porous(20, 22, 26, seed: 5)
        for shift in [0.003, 0.5, 40] {
            let cycles = try DiffusionPreconditionerProbe.shiftedCycles(phase: phase, axis: 2, shift: shift, detour: 7) { Double(($0 * 37) % 23) - 11 }
            #expect(!cycles.built.isEmpty)
            #expect(Self.relativeDifference(cycles.shifted, cycles.built) < 1e-5, "shift \(shift)")
        }
    }
}
