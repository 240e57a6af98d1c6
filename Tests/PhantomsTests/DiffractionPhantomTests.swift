import Diffraction
import Foundation
import LensCore
import Phantoms
import Testing

@Suite struct DiffractionPhantomTests {
    /// Noise-free peaks sit at the Bragg angles of their d-spacings, and the two phases trade
    /// intensity through the series.
    @Test func peaksAtBraggAnglesAndPhasesTradeIntensity() throws {
        var p = DiffractionParameters()
        p.noisy = false
        p.latticeDrift = 0
        p.patternCount = 11
        let (twoTheta, patterns, truth) = try DiffractionSimulator.simulate(p)
        let phase = CrystalPhase.layeredLithiated
        let d003 = phase.cell.dSpacing(MillerIndex(0, 0, 3))
        #expect(abs(d003 - 14.20 / 3) < 1e-12)
        let expected = 2 * asin(p.wavelengthAngstrom / (2 * d003)) * 180 / .pi
        // The maximum of the first pattern near the (003) angle.
        let window = twoTheta.indices.filter { abs(twoTheta[$0] - expected) < 0.1 }
        let peak = window.max { patterns[0, $0] < patterns[0, $1] }!
        #expect(abs(twoTheta[peak] - expected) <= p.stepDegrees / 2 + 1e-9)
        #expect(truth.secondPhaseFraction.first! < 0.01 && truth.secondPhaseFraction.last! > 0.99)
        #expect(patterns[0, peak] > 10 * patterns[10, peak])
        // The model charge: a plateau mid-series between sloping ends.
        let v = truth.voltage
        #expect(v.count == 11 && v.first! < v[5] && v[5] < v.last!)
        #expect(abs(v[6] - v[4]) < 0.1 * (v.last! - v.first!))
    }
}
