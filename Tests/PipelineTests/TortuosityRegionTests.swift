import Foundation
import LensCore
import Pipeline
import Testing

@Suite struct TortuosityRegionTests {
    /// Straight channels along z, 1 in 4 columns in the upper half (ε = 0.25) and 2 in 4 in the
    /// lower half (ε = 0.5, neighbouring columns joined into sheets along x): each depth region
    /// has τ_z = 1 with its own ε, no path along y (so no anisotropy ratio), and the Bruggeman
    /// exponent over the finite τ is 0 (τ independent of ε for straight pores).
    @Test func depthRegionsAndBruggeman() throws {
        let (nz, n) = (32, 8)
        let mask = Grid<UInt8>(shape: Shape(nz, n, n)) { i in
            let (z, y, x) = (i / (n * n), (i / n) % n, i % n)
            let column = (y % 2) * 2 + (x % 2)      // 4 column types in a 2 × 2 pattern
            return z < nz / 2 ? (column == 0 ? 1 : 0) : (column <= 1 ? 1 : 0)
        }
        let phase = PhaseSelection(mask: mask, codes: [1])
        let record = try TortuosityWorkflow.run(phase, settings: .init(axes: [0, 1, 2], depthRegions: 2))
        let regions = try #require(record.regions)
        #expect(regions.count == 2)
        for (k, expected) in [0.25, 0.5].enumerated() {
            let z = try #require(regions[k].results.first { $0.result.axis == 0 }?.result)
            #expect(abs(z.volumeFraction - expected) < 1e-12)
            #expect(abs(z.tortuosityFactor - 1) < 1e-4)
            // Upper half: isolated columns (no path across); lower half: sheets along x (τ_x = 1)
            // but none along y.
            let y = try #require(regions[k].results.first { $0.result.axis == 1 }?.result)
            let x = try #require(regions[k].results.first { $0.result.axis == 2 }?.result)
            #expect(!y.tortuosityFactor.isFinite)
            #expect(k == 0 ? !x.tortuosityFactor.isFinite : abs(x.tortuosityFactor - 1) < 1e-4)
            #expect(regions[k].anisotropy == nil)
        }
        let fit = try #require(record.bruggeman)
        #expect(fit.points == 3 && abs(fit.exponent) < 1e-4)
        #expect(throws: LensError.self) { try TortuosityWorkflow.run(phase, settings: .init(axes: [0], depthRegions: 17)) }
    }
}
