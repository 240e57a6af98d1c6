import Foundation
import ImageAnalysis
import LensCore
import Microstructure
import Testing

/// Metrics against analytic ground truth.
@Suite struct MetricsTests {
    /// Non-overlapping balls of radius 6–9 voxels fully inside a 64³ box.
    static let balls: [(SIMD3<Double>, Double)] = [(SIMD3(16, 16, 16), 8), (SIMD3(16, 44, 20), 9), (SIMD3(44, 18, 44), 7),
                                                    (SIMD3(46, 46, 16), 6), (SIMD3(40, 44, 46), 8.5), (SIMD3(20, 20, 46), 6.5)]
    static func ballMask(spacing: Double = 1) -> Grid<UInt8> {
        var grid = mask(64, 64, 64) { z, y, x in
            balls.contains { c, r in let d = SIMD3(Double(z), Double(y), Double(x)) - c; return (d * d).sum() <= r * r }
        }
        grid.geometry = .isotropic(spacing, rank: 3)
        return grid
    }

    /// Specific surface area within 5 % of Σ4πr² / V (the target); the raw staircase
    /// (no smoothing) overestimates, which the test also shows.
    @Test func specificSurfaceOfBalls() throws {
        let truthArea = Self.balls.reduce(0) { $0 + 4 * Double.pi * $1.1 * $1.1 } * 0.25   // 0.5 µm voxels
        let ssa = try SpecificSurface(phase: Self.ballMask(spacing: 0.5))
        print("SSA area", ssa.areaSquareMicrometres, "truth", truthArea)
        #expect(abs(ssa.areaSquareMicrometres - truthArea) / truthArea < 0.05)
        #expect(abs(ssa.perTotalVolume - truthArea / (64 * 64 * 64 * 0.125)) / ssa.perTotalVolume < 0.05)
        let raw = try SpecificSurface(phase: Self.ballMask(spacing: 0.5), smoothingSigma: 0)
        #expect(raw.areaSquareMicrometres > ssa.areaSquareMicrometres)
    }

    /// Region properties of the balls: volume, equivalent diameter, sphericity near 1, semi-axes
    /// near the radius, centroid at the centre.
    @Test func regionPropertiesOfBalls() throws {
        let labels = ConnectedComponents.label(Self.ballMask(), connectivity: .faces).labels
        let properties = try RegionAnalysis.measure(labels)
        #expect(properties.count == Self.balls.count)
        for p in properties {
            let (centre, r) = Self.balls.min { a, b in
                let da = SIMD3(p.centroidMicrometres[0], p.centroidMicrometres[1], p.centroidMicrometres[2]) - a.0
                let db = SIMD3(p.centroidMicrometres[0], p.centroidMicrometres[1], p.centroidMicrometres[2]) - b.0
                return (da * da).sum() < (db * db).sum()
            }!
            #expect(abs(p.equivalentDiameterMicrometres - 2 * r) / (2 * r) < 0.03)
            #expect(abs(p.centroidMicrometres[0] - centre.x) < 0.05)
            #expect(p.sphericity > 0.95 && p.sphericity < 1.03)
            #expect(p.principalSemiAxesMicrometres.allSatisfy { abs($0 - r) / r < 0.05 })
            #expect(!p.touchesBorder)
        }
    }

    /// Local thickness of a slab 10 voxels thick is 10 inside (up to the radius sampling).
    @Test func localThicknessOfSlab() throws {
        let slab = mask(40, 40, 40) { z, _, _ in (15..<25).contains(z) }
        let result = try LocalThickness.compute(phase: slab, sizes: 40)
        let centre = result.thickness[20, 20, 20]
        #expect(abs(Double(centre) - 10) <= 1.0)
        #expect(result.thickness[5, 20, 20] == 0)
    }

    /// Porosity profile: a volume whose pore fraction rises linearly with z is measured exactly
    /// per region, and slab-wise accumulation equals the whole-volume profile.
    @Test func porosityProfileAndSlabs() throws {
        let labels = Grid<UInt8>(shape: Shape(30, 20, 20)) { i in
            let z = i / 400, x = i % 20
            return x < (z * 20) / 30 ? 0 : 1
        }
        let whole = try PhaseProfile.of(labels)
        var streamed = PhaseProfile(shape: [30, 20, 20])
        for z0 in stride(from: 0, to: 30, by: 7) { try streamed.add(slab: labels.slab(z0..<min(30, z0 + 7)), startingAt: z0) }
        #expect(whole.counts == streamed.counts)
        for region in DepthRegions.equal(0..<30, count: 3) {
            let expected = Double(region.reduce(0) { $0 + ($1 * 20) / 30 }) / Double(region.count * 20)
            #expect(abs(whole.region(region, axis: 0, phase: [0]).phaseFraction - expected) < 1e-12)
        }
        #expect(DepthRegions.equal(0..<10, count: 3).map(\.count) == [4, 3, 3])  // numpy.array_split(range(10), 3)
        #expect(DepthRegions.equal(0..<11, count: 3).map(\.count) == [4, 4, 3])
    }

    /// Bootstrap intervals contain the point estimate and narrow with more particles; the
    /// volume-weighted D50 exceeds the number-weighted one.
    @Test func sizeDistributionIntervals() throws {
        var random = SeededRandom(seed: 3)
        let small = (0..<50).map { _ in exp(log(8.0) + 0.3 * random.normal()) }
        let large = (0..<2000).map { _ in exp(log(8.0) + 0.3 * random.normal()) }
        let a = try SizeDistribution(diameters: small), b = try SizeDistribution(diameters: large)
        #expect(a.numberD50.lower <= a.numberD50.value && a.numberD50.value <= a.numberD50.upper)
        #expect(b.numberD50.upper - b.numberD50.lower < a.numberD50.upper - a.numberD50.lower)
        #expect(abs(b.numberD50.value - 8) / 8 < 0.03)
        #expect(b.volumeD50.value > b.numberD50.value)
        #expect(abs(b.numberFractions.reduce(0, +) - 1) < 1e-9)
        // Each bin's bootstrap interval holds its fraction, and for the fullest bin its width is
        // the binomial one, 2 · 1.96 · √(p(1 − p)/n), within 25 %.
        #expect(b.numberFractionIntervals.count == b.numberFractions.count)
        for (f, interval) in zip(b.numberFractions, b.numberFractionIntervals) { #expect(interval[0] <= f + 1e-12 && f <= interval[1] + 1e-12) }
        let fullest = b.numberFractions.indices.max { b.numberFractions[$0] < b.numberFractions[$1] }!
        let p = b.numberFractions[fullest]
        let binomial = 2 * 1.96 * (p * (1 - p) / 2000).squareRoot()
        let width = b.numberFractionIntervals[fullest][1] - b.numberFractionIntervals[fullest][0]
        #expect(abs(width / binomial - 1) < 0.25)
    }

    /// REV: a fine random texture converges at small sizes; a volume with one large feature
    /// (half the field of view is one phase) does not.
    @Test func representativeVolumeVerdicts() throws {
        var random = SeededRandom(seed: 9)
        let fine = Grid<UInt8>(shape: Shape(64, 64, 64), elements: (0..<262_144).map { _ in random.uniform() < 0.4 ? 1 : 0 })
        let a = try RepresentativeVolume(phase: fine)
        #expect(a.isRepresentative)
        let coarse = mask(64, 64, 64) { _, _, x in x < 32 }
        let b = try RepresentativeVolume(phase: coarse)
        #expect(!b.isRepresentative)
    }
}
