import Foundation
import LensCore
import Microstructure
import Testing

@Suite struct PoreDescriptorTests {
    /// Overlapping balls of radius R = 5 voxels with Poisson centres (a Boolean model) in 80³:
    /// void fraction φ = e^(−ρV). Analytic: S₂(r) of the void = φ^(2 − V∩(r)/V) with
    /// V∩/V = 1 − 3r/4R + r³/16R³ for r < 2R (and φ² beyond), and void chords exponential with
    /// mean 1/(ρπR²). Measured against them: S₂ within 0.02 at every lag to 15 (digital balls
    /// and one finite sample), the mean chord (minus-sampling corrected; density from the measured
    /// φ) within 10 % (digital ball surfaces add short chords; the plain mean is lower still).
    @Test func booleanModelMatchesTheAnalyticForms() throws {
        let (n, radius) = (80, 5.0)
        let volume = 4.0 / 3 * Double.pi * radius * radius * radius
        let density = -log(0.5) / volume
        let margin = Int(radius) + 1
        let box = Double(n + 2 * margin)
        var rng = SeededRandom(seed: 12)
        let count = Int((density * box * box * box).rounded())
        var solid = [Bool](repeating: false, count: n * n * n)
        for _ in 0..<count {
            let c = (0..<3).map { _ in rng.uniform() * box - Double(margin) }
            let low = (0..<3).map { max(0, Int((c[$0] - radius).rounded(.down))) }, high = (0..<3).map { min(n - 1, Int((c[$0] + radius).rounded(.up))) }
            guard (0..<3).allSatisfy({ low[$0] <= high[$0] }) else { continue }
            for z in low[0]...high[0] { for y in low[1]...high[1] { for x in low[2]...high[2] {
                let d = (Double(z) - c[0]) * (Double(z) - c[0]) + (Double(y) - c[1]) * (Double(y) - c[1]) + (Double(x) - c[2]) * (Double(x) - c[2])
                if d <= radius * radius { solid[(z * n + y) * n + x] = true }
            } } }
        }
        let void = Grid<UInt8>(shape: Shape(n, n, n), elements: solid.map { $0 ? 0 : 1 })
        let s2 = try TwoPointCorrelation(phase: void, maximumLagVoxels: 15)
        let phi = s2.average[0]
        var worst = 0.0
        for r in 0...15 {
            let x = Double(r)
            let lens = x < 2 * radius ? 1 - 3 * x / (4 * radius) + x * x * x / (16 * radius * radius * radius) : 0
            worst = max(worst, abs(s2.average[r] - pow(phi, 2 - lens)))
        }
        let chords = try ChordLengths(phase: void, axis: 2)
        // The analytic mean with the density the digital balls actually realise (from φ).
        let expectedChord = 4 * radius / 3 / -log(phi)
        print("Boolean model: φ \(phi), S₂ worst deviation \(worst); mean void chord \(chords.meanVoxels) (uncorrected \(chords.uncorrectedMeanVoxels); analytic \(expectedChord), \(chords.lengthsVoxels.count) chords)")
        #expect(abs(phi - 0.5) < 0.05)
        #expect(worst < 0.02)
        #expect(abs(chords.meanVoxels / expectedChord - 1) < 0.1)
    }

    /// Two half-blocks (1 | 2): the 1|2 interface is the plane across the 20 × 20 field, measured
    /// between the outer voxel centres as 19² (within 1 %), phase 1's surface is
    /// that plane only (coverage by 2 ≈ 1); three quadrants meeting on a line along z give a
    /// triple-phase boundary exactly as long as the volume.
    @Test func interfacesAndTriplePhaseBoundary() throws {
        let halves = Grid<Int32>(shape: Shape(20, 20, 20)) { i in i % 20 < 10 ? 1 : 2 }
        let interfaces = try PhaseInterfaces(labels: halves, codes: [1, 2])
        let plane = try #require(interfaces.pairs.first)
        #expect(abs(plane.area / 361 - 1) < 0.01, "area \(plane.area)")
        #expect(abs((interfaces.coverage(of: 1, by: 2) ?? 0) - 1) < 0.03)
        let quadrants = Grid<Int32>(shape: Shape(16, 20, 20)) { i in
            let (y, x) = ((i / 20) % 20, i % 20)
            return y >= 10 ? 3 : (x < 10 ? 1 : 2)
        }
        #expect(try PhaseInterfaces.triplePhaseBoundaryLength(labels: quadrants, phases: (1, 2, 3)) == 16)
        #expect(try PhaseInterfaces.triplePhaseBoundaryLength(labels: halves, phases: (1, 2, 3)) == 0)
    }

    /// Geometric tortuosity: a straight channel gives 1; a channel running at 45° in the (z, x)
    /// plane gives √2 within 3 % (the outlet voxels at its ends reach it by slightly shorter or
    /// longer staircases); a phase that does not join the faces is refused.
    @Test func geometricTortuosity() throws {
        let straight = Grid<UInt8>(shape: Shape(30, 5, 5)) { i in (i / 5) % 5 == 2 && i % 5 == 2 ? 1 : 0 }
        #expect(abs(try GeometricTortuosity(phase: straight, axis: 0).mean - 1) < 1e-12)
        let diagonal = Grid<UInt8>(shape: Shape(40, 3, 48)) { i in
            let (z, x) = (i / (3 * 48), i % 48)
            return abs(x - z) <= 1 ? 1 : 0
        }
        let tau = try GeometricTortuosity(phase: diagonal, axis: 0)
        #expect(abs(tau.median / 2.0.squareRoot() - 1) < 0.03, "median \(tau.median)")
        let cut = Grid<UInt8>(shape: Shape(10, 4, 4)) { i in i / 16 == 5 ? 0 : 1 }
        #expect(throws: LensError.self) { try GeometricTortuosity(phase: cut, axis: 0) }
        // Non-cubic voxels would mix lengths in the path: refused, not guessed.
        let flat = Grid<UInt8>(shape: Shape(10, 4, 4), geometry: GridGeometry(voxelSizeMicrometres: [2, 1, 1]), repeating: 1)
        #expect(throws: LensError.self) { try GeometricTortuosity(phase: flat, axis: 0) }
    }
}
