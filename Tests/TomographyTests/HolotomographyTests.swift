import Foundation
import LensCore
import Phantoms
import Testing
import Tomography

/// Multi-distance (CTF) phase retrieval against the object that Fresnel propagation imaged:
/// a field of spheres of one material (δ/β 50, 20 keV, 0.5 µm pixels) recorded at 5, 10, 20 and
/// 40 mm — Fresnel numbers from the near field (χ ≈ 1 at the Nyquist frequency) to the
/// holographic regime (χ ≈ 8), where Paganin's filter, built on the near-field limit, fails.
@Suite struct HolotomographyTests {
    static let (n, pixel, energy, deltaBeta) = (128, 0.5, 20.0, 50.0)
    static let distances = [5.0, 10, 20, 40]

    /// Projected μT of spheres (pixel-centre chords), 0.05–0.4 at their centres.
    static func object(scale: Double = 1) -> Grid<Float> {
        let spheres: [(x: Double, y: Double, r: Double, mu: Double)] = [(40, 45, 18, 0.008), (85, 40, 10, 0.012), (70, 90, 24, 0.006),
                                                                         (30, 95, 7, 0.02), (100, 100, 5, 0.02), (105, 70, 12, 0.01)]
        var g = Grid<Float>(shape: Shape(1, n, n))
        for y in 0..<n { for x in 0..<n {
            var sum = 0.0
            for s in spheres {
                let d2 = (Double(x) - s.x) * (Double(x) - s.x) + (Double(y) - s.y) * (Double(y) - s.y)
                if d2 < s.r * s.r { sum += s.mu * 2 * (s.r * s.r - d2).squareRoot() }
            }
            g[0, y, x] = Float(sum * scale)
        } }
        return g
    }

    static func recording(_ truth: Grid<Float>, at z: Double) -> Grid<Float> {
        FresnelPropagation.propagate(lineIntegrals: truth, pixelSizeMicrometres: pixel, energyKeV: energy, distanceMillimetres: z, deltaOverBeta: deltaBeta)
            .map { -log(Swift.max($0, 1e-12)) }
    }

    /// RMSE against the truth over the frame's interior (8 px from the edges).
    static func rmse(_ a: Grid<Float>, _ b: Grid<Float>) -> Double {
        var sum = 0.0, count = 0
        for y in 8..<(n - 8) { for x in 8..<(n - 8) { let d = Double(a[0, y, x]) - Double(b[0, y, x]); sum += d * d; count += 1 } }
        return (sum / Double(count)).squareRoot()
    }

    static func parameters(_ distances: [Double], iterations: Int = 0) -> HolotomographyParameters {
        HolotomographyParameters(energyKeV: energy, distancesMillimetres: distances, deltaOverBeta: deltaBeta, pixelSizeMicrometres: pixel, iterations: iterations)
    }

    static func paganin(_ recording: Grid<Float>, at z: Double) throws -> Grid<Float> {
        var p = recording
        try PaganinPhaseRetrieval.apply(toLineIntegrals: &p, PaganinParameters(energyKeV: energy, distanceMillimetres: z, deltaOverBeta: deltaBeta, pixelSizeMicrometres: pixel))
        return p
    }

    /// A moderate phase object (≤ 0.7 rad, μT ≤ 0.03): recorded only in the holographic regime
    /// (20–80 mm, where Paganin's near-field filter leaves 1.3 % RMS error), five refinements
    /// against the exact forward model bring it below 0.1 % (measured 0.06 %); with a near-field
    /// recording among the distances (5–40 mm) below 0.01 % (measured 0.002 %, Paganin 0.2 %).
    /// The linear CTF alone already beats Paganin in the holographic set (1.15 vs 1.28 %).
    @Test(arguments: [[20.0, 40, 60, 80], [5.0, 10, 20, 40]])
    func refinedCTFRecoversTheObject(distances: [Double]) throws {
        let truth = Self.object(scale: 0.1)
        let peak = Double(truth.elements.max()!)
        let recordings = distances.map { Self.recording(truth, at: $0) }
        let linear = Self.rmse(try CTFPhaseRetrieval.apply(toLineIntegrals: recordings, Self.parameters(distances)), truth) / peak
        let refined = Self.rmse(try CTFPhaseRetrieval.apply(toLineIntegrals: recordings, Self.parameters(distances, iterations: 5)), truth) / peak
        let paganin = Self.rmse(try Self.paganin(recordings[0], at: distances[0]), truth) / peak
        print("RMSE / peak, distances \(distances): linear CTF \(linear), refined \(refined), Paganin at \(distances[0]) mm \(paganin)")
        #expect(refined < (distances[0] >= 20 ? 1e-3 : 1e-4))
        #expect(refined < 0.1 * paganin)
        if distances[0] >= 20 { #expect(linear < paganin) }
    }

    /// A strong phase object (≈ 7 rad): the CTF's linearization no longer holds and the
    /// refinement cannot improve on its start, but it starts from the better of the
    /// all-distance estimate and the nearest distance's alone and never diverges (as plain
    /// fixed-point iteration does): as good as Paganin at the nearest distance (2.1 %).
    @Test func strongPhaseObjectStaysStable() throws {
        let truth = Self.object()
        let peak = Double(truth.elements.max()!)
        let distances = [5.0, 10, 20, 40]
        let recordings = distances.map { Self.recording(truth, at: $0) }
        let refined = Self.rmse(try CTFPhaseRetrieval.apply(toLineIntegrals: recordings, Self.parameters(distances, iterations: 10)), truth) / peak
        let paganin = Self.rmse(try Self.paganin(recordings[0], at: 5), truth) / peak
        print("strong object: refined \(refined), Paganin \(paganin)")
        #expect(refined < 1.05 * paganin)
    }

    /// One distance in the near field: the CTF filter is Paganin's to first order in χ.
    @Test func oneNearDistanceIsPaganin() throws {
        let truth = Self.object(scale: 0.1)
        let recording = Self.recording(truth, at: 5)
        let ctf = try CTFPhaseRetrieval.apply(toLineIntegrals: [recording], Self.parameters([5]))
        let paganin = try Self.paganin(recording, at: 5)
        #expect(Self.rmse(ctf, paganin) < 0.005 * Double(truth.elements.max()!))
        #expect(throws: LensError.self) { try CTFPhaseRetrieval.apply(toLineIntegrals: [recording, recording], Self.parameters([5])) }
        #expect(throws: LensError.self) { try CTFPhaseRetrieval.apply(toLineIntegrals: [recording, recording], Self.parameters([5, 5])) }
    }
}
