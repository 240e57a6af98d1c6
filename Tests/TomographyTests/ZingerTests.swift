import Foundation
import LensCore
import Testing
import Tomography

/// Zinger removal calibrated on Poisson-noisy scans (issue 17: 1.3 % of a scan's pixels were
/// replaced where at most 68 zingers were injected). Tolerances: the issue's — a false-positive
/// rate ≤ 1e-5 of pixels on zinger-free data, ≥ 95 % of injected zingers removed.
@Suite struct ZingerTests {
    /// Line integrals of a particle-laden disc (up to ~2.5 through the densest chords) from
    /// counts with Poisson noise (normal approximation, I0 = 10⁴), optionally with zingers of
    /// 5–20 × I0 at random pixels.
    static func scan(zingers: Int, seed: UInt64) throws -> (noisy: Grid<Float>, hits: Set<Int>) {
        let (volume, _, _) = discWithParticles(size: 96, slices: 8, matrix: 0.012, particle: 0.05)
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 720), detectorColumns: 96, detectorRows: 8)
        let clean = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var rng = SeededRandom(seed: seed)
        let i0 = 10_000.0
        var counts = clean.map { p in Float(i0 * exp(-Double(p))) }
        for i in 0..<counts.count {
            let mean = Double(counts[linear: i])
            counts[linear: i] = Float(Swift.max(1, mean + mean.squareRoot() * rng.normal()))
        }
        var hits = Set<Int>()
        while hits.count < zingers {
            let i = Int(rng.uniform() * Double(counts.count))
            if hits.insert(i).inserted { counts[linear: i] += Float(i0 * (5 + 15 * rng.uniform())) }
        }
        return (counts.map { Float(-log(Double($0) / i0)) }, hits)
    }

    @Test func noFalsePositivesOnZingerFreeNoise() throws {
        var (noisy, _) = try Self.scan(zingers: 0, seed: 11)
        let report = ZingerRemoval.apply(&noisy)
        let rate = Double(report.replaced) / Double(noisy.count)
        #expect(rate <= 1e-5, "replaced \(report.replaced) of \(noisy.count) zinger-free pixels (rate \(rate))")
    }

    @Test func zingersAreFoundAndOnlyThem() throws {
        var (noisy, hits) = try Self.scan(zingers: 300, seed: 12)
        let before = noisy
        let report = ZingerRemoval.apply(&noisy)
        var found = 0, falsePositives = 0
        for i in 0..<noisy.count where noisy[linear: i] != before[linear: i] {
            if hits.contains(i) { found += 1 } else { falsePositives += 1 }
        }
        #expect(Double(found) >= 0.95 * Double(hits.count), "found \(found) of \(hits.count) zingers")
        #expect(Double(falsePositives) <= Swift.max(1, 1e-5 * Double(noisy.count)), "\(falsePositives) false positives")
        #expect(report.replaced == found + falsePositives)
    }
}
