import Compton
import Foundation
import Testing

@Suite struct KinematicsTests {
    @Test func comptonPeakAt115keVAnd90Degrees() {
        let e2 = ComptonKinematics.comptonPeakKeV(incidentKeV: 115, angleDegrees: 90)
        #expect(abs(e2 - 93.9) < 0.05)   // the published 93.9 keV
        #expect(abs(ComptonKinematics.momentumAtomicUnits(incidentKeV: 115, scatteredKeV: e2, angleDegrees: 90)) < 1e-9)
        #expect(ComptonKinematics.momentumAtomicUnits(incidentKeV: 115, scatteredKeV: e2 - 1, angleDegrees: 90) < 0)
        for pz in [-4.0, -1, 0.3, 2.5] {
            let e = ComptonKinematics.scatteredKeV(momentumAtomicUnits: pz, incidentKeV: 115, angleDegrees: 90)
            #expect(abs(ComptonKinematics.momentumAtomicUnits(incidentKeV: 115, scatteredKeV: e, angleDegrees: 90) - pz) < 1e-6)
        }
    }

    /// The published table (science brief §6): S values and stoichiometries of two states in
    /// three regions; the line through them reproduces every 1 − x within 0.01.
    @Test func publishedTableIsReproducedByItsCalibration() throws {
        let s: [Double] = [0.88, 0.72, 0.65, 2.40, 2.34, 2.06]
        let lithium: [Double] = [0.10, 0.03, 0.00, 0.76, 0.73, 0.61]
        let calibration = try SParameter.Calibration(points: Array(zip(lithium, s)).map { (lithium: $0.0, s: $0.1) })
        for (sv, li) in zip(s, lithium) { #expect(abs(calibration.lithium(s: sv) - li) < 0.01, "S \(sv)") }
        #expect(throws: Error.self) { try SParameter.Calibration(points: [(lithium: 0.5, s: 1)]) }
    }

    @Test func sParameterOfAKnownProfile() throws {
        // Counts placed exactly: 300 in the valence window, 100 in each core side → S = 1.5.
        let e = { (pz: Double) in ComptonKinematics.scatteredKeV(momentumAtomicUnits: pz, incidentKeV: 115, angleDegrees: 90) }
        let edges = [e(-5), e(-1), e(1), e(5)]
        let r = try SParameter.compute(binEdgesKeV: edges, counts: [100, 300, 100], incidentKeV: 115, angleDegrees: 90)
        #expect(abs(r.s - 1.5) < 1e-9)
        #expect(abs(r.uncertainty - 1.5 * (1.0 / 300 + 1.0 / 200).squareRoot()) < 1e-12)
    }
}
