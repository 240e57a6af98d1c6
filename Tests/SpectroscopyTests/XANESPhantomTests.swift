import Foundation
import LensCore
import Phantoms
import Signal
import Spectroscopy
import Testing

/// Per-pixel XANES analysis against the truth of simulated stacks (Ni K-edge scheme, 63
/// energies, two end members 2.2 eV apart, Poisson noise).
@Suite struct XANESPhantomTests {
    static func stack(photons: Double, size: Int = 40) throws -> (intensity: Grid<Float>, flat: Grid<Float>, edge: Grid<Float>,
                                                                  soc: Grid<Float>, thickness: Grid<Float>, truth: XANESTruth) {
        let scene = try SpectralScenes.stateOfCharge(size: size, rank: 2, seed: 3)
        var p = XANESParameters()
        p.incidentPhotons = photons
        p.seed = 5
        let s = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p)
        return (s.intensity, s.flat, s.edgeEnergy, scene.stateOfCharge, scene.thickness, s.truth)
    }

    static func references(_ truth: XANESTruth) throws -> [ReferenceSpectrum] {
        let grid = stride(from: 8150.0, through: 8600, by: 0.5).map { $0 }
        return [try ReferenceSpectrum(name: "discharged", energies: grid, values: grid.map { truth.discharged.value(at: $0) }),
                try ReferenceSpectrum(name: "charged", energies: grid, values: grid.map { truth.charged.value(at: $0) })]
    }

    /// Documented noise level: 10⁵ incident photons per pixel and energy (edge jump 1, pre-edge
    /// OD 0.4). Edge energy RMSE ≤ 0.1 eV, LCF fraction RMSE ≤ 0.02, and the fraction of pixels
    /// within their 1σ between 60 and 76 % (68 % expected) for the edge energy and the fractions.
    @Test func mapsMatchTruthWithCalibratedUncertainties() throws {
        let s = try Self.stack(photons: 1e5)
        // TXM ranges: the 10 post-edge energies are 20 eV apart, so a flat post-edge (degree 0)
        // over +45…+225 eV; Larch's default line through the damped oscillation misjudges the step by ~10 %.
        var settings = XANESSettings()
        settings.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
        let maps = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: s.truth.energiesElectronVolts,
                                             references: try Self.references(s.truth), settings: settings)
        // The true edge under the same normalization: the noise-free mixture's pre-edge line and
        // step on the stack energies, then the exact 0.5 crossing of the continuous curve. (The
        // phantom's own edge map assumes step 1; the post-edge oscillation makes the fitted step
        // 1–2 % larger, which moves the half height by ~0.09 eV: a convention, not noise.)
        let energies = s.truth.energiesElectronVolts
        func trueEdge(_ soc: Double) throws -> Double {
            let mu = { (e: Double) in 0.4 + (1 - soc) * s.truth.discharged.value(at: e) + soc * s.truth.charged.value(at: e) }
            let n = try NormalizedSpectrum(energies: energies, mu: energies.map(mu), e0: maps.e0, settings: maps.normalization)
            var lo = 8330.0, hi = 8355.0
            for _ in 0..<60 {
                let mid = (lo + hi) / 2
                if (mu(mid) - n.preEdgeLine(mid)) / n.edgeStep < 0.5 { lo = mid } else { hi = mid }
            }
            return (lo + hi) / 2
        }
        var edgeErrors: [Double] = [], edgeWithin = 0, fractionErrors: [Double] = [], fractionWithin = 0, valid = 0
        for i in 0..<s.thickness.count where s.thickness[linear: i] > 0 {
            #expect(maps.mask[linear: i] == 0)
            guard maps.mask[linear: i] == 0 else { continue }
            valid += 1
            let e = Double(maps.edgeEnergy[linear: i]) - (try trueEdge(Double(s.soc[linear: i])))
            edgeErrors.append(e)
            if abs(e) <= Double(maps.edgeEnergySigma[linear: i]) { edgeWithin += 1 }
            let f = Double(maps.fractions[1][linear: i] - s.soc[linear: i])
            fractionErrors.append(f)
            if abs(f) <= Double(maps.fractionSigmas[1][linear: i]) { fractionWithin += 1 }
        }
        let rmse = { (v: [Double]) in (v.reduce(0) { $0 + $1 * $1 } / Double(v.count)).squareRoot() }
        let edgeCoverage = Double(edgeWithin) / Double(valid), fractionCoverage = Double(fractionWithin) / Double(valid)
        print("XANES phantom: \(valid) pixels, edge RMSE \(rmse(edgeErrors)) eV, within 1σ \(edgeCoverage); fraction RMSE \(rmse(fractionErrors)), within 1σ \(fractionCoverage); noise scale \(maps.noiseScale); E0 \(maps.e0)")
        #expect(valid > 300)
        #expect(rmse(edgeErrors) <= 0.1)
        #expect(rmse(fractionErrors) <= 0.02)
        #expect((0.60...0.76).contains(edgeCoverage))
        #expect((0.60...0.76).contains(fractionCoverage))
        // Photon counts: the fitted noise scale is 1 (σ_OD = 1/√I) within its sampling error.
        #expect(abs(maps.noiseScale - 1) < 0.1)
        // Background pixels (no material) are masked for a low edge jump, not left as silent NaNs.
        let background = (0..<s.thickness.count).filter { s.thickness[linear: $0] == 0 }
        // A pure-noise pixel passes the 5σ jump test only by chance (the noise is estimated from
        // ~10 pre-edge points, so the ratio has Student-t tails): at most 1 % of the background.
        let unmaskedBackground = background.filter { maps.mask[linear: $0] == 0 }.count
        #expect(Double(unmaskedBackground) <= 0.01 * Double(background.count))
        #expect((0..<s.thickness.count).allSatisfy { maps.mask[linear: $0] == 0 || maps.edgeEnergy[linear: $0].isNaN })
        // Never a silent NaN: an analysed pixel has every map value, a masked one none.
        let allMaps = [maps.edgeEnergy, maps.edgeEnergySigma, maps.derivativeEdgeEnergy, maps.derivativeEdgeEnergySigma,
                       maps.whiteLineEnergy, maps.whiteLineEnergySigma, maps.whiteLineHeight, maps.whiteLineHeightSigma,
                       maps.rFactor, maps.reducedChiSquare] + maps.fractions + maps.fractionSigmas
        for p in 0..<maps.mask.count {
            let finite = allMaps.map { $0[linear: p].isFinite }
            #expect(finite.allSatisfy { $0 == (maps.mask[linear: p] == 0) }, "pixel \(p), mask \(maps.mask[linear: p])")
        }
        // White line: the end members' white lines sit 7 eV above their edges.
        let white = (0..<s.thickness.count).filter { maps.mask[linear: $0] == 0 }.map { Double(maps.whiteLineEnergy[linear: $0] - maps.edgeEnergy[linear: $0]) }
        #expect(abs(Statistics.median(white) - 7) < 1.5)
    }

    /// Normalization of a single spectrum μ = a + bE + J·(step function) recovers the jump J and
    /// the step exactly; the half-height crossing of an arctangent edge sampled every 1 eV is
    /// found at its centre (the cubic interpolation has no curvature bias there).
    @Test func singleSpectrumNormalization() throws {
        let energies = stride(from: 8150.0, through: 8650, by: 1).map { $0 }
        let step = energies.map { $0 < 8342 ? 0.0 : 1.0 }
        let mu = zip(energies, step).map { 0.3 + 1e-4 * ($0 - 8150) + 1.7 * $1 }
        let n = try NormalizedSpectrum(energies: energies, mu: mu, e0: 8342, settings: .init(preEdge: -150 ... -30, postEdge: 150...300))
        #expect(n.settings.postEdgeDegree == 1)
        #expect(abs(n.edgeStep - 1.7) < 1e-9)
        #expect(zip(n.normalized, step).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(abs(n.preEdgeLine.coefficients[1] - 1e-4) < 1e-12)
        let arctan = energies.map { 0.5 + atan(($0 - 8342.3) / 1.6) / .pi }
        let half = EdgeEnergy.crossing(energies: energies, values: arctan, near: 8342, sigma: [Double](repeating: 0.01, count: energies.count))
        #expect(abs(half.energy - 8342.3) < 0.01)
        // σ_E ≈ σ_y / slope, slope = 1/(π·1.6) per eV at the centre.
        #expect(abs(half.uncertainty - 0.01 * .pi * 1.6 * 0.75) < 0.01 * .pi * 1.6 * 0.5)
        let derivative = try EdgeEnergy.maximumDerivative(energies: energies, values: arctan)
        #expect(abs(derivative.energy - 8342.3) < 0.2)
        // Larch's default ranges for this grid.
        let larch = EdgeNormalizationSettings.larchDefaults(energies: energies, e0: 8342)
        #expect(larch.preEdge == -190 ... -95 && larch.postEdge == 25...308 && larch.postEdgeDegree == 1)
    }

    /// References measured 1 eV off (their edges 1 eV high): with a fitted shift the LCF finds
    /// −1 eV and the fractions come back within 0.02 RMSE; without it they are far off. The end
    /// members here differ in white-line height as well as edge position (a common shift of two
    /// references that differ only by a shift is indistinguishable from a change of mixture).
    @Test func referenceShiftIsFitted() throws {
        let scene = try SpectralScenes.stateOfCharge(size: 40, rank: 2, seed: 3)
        var p = XANESParameters()
        p.incidentPhotons = 1e5
        p.seed = 5
        var charged = ModelEdgeSpectrum.charged
        charged.whiteLineHeight = 0.25
        let s = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p,
                                            discharged: .discharged, charged: charged)
        let grid = stride(from: 8150.0, through: 8600, by: 0.5).map { $0 }
        var early = ModelEdgeSpectrum.discharged, late = charged
        early.edgeEnergy += 1; late.edgeEnergy += 1
        let shifted = [try ReferenceSpectrum(name: "discharged", energies: grid, values: grid.map { early.value(at: $0) }),
                       try ReferenceSpectrum(name: "charged", energies: grid, values: grid.map { late.value(at: $0) })]
        var settings = XANESSettings()
        settings.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
        // Over pixels of at least half the full thickness: the thin rims have edge steps so small
        // that their fractions scatter by ~0.1 whatever the references (0.070 RMSE over all
        // analysed pixels with exact references, 0.010 over these).
        func rmse(_ maps: XANESMaps) -> Double {
            let errors = (0..<scene.thickness.count).filter { maps.mask[linear: $0] == 0 && scene.thickness[linear: $0] > 0.5 }.map { Double(maps.fractions[1][linear: $0] - scene.stateOfCharge[linear: $0]) }
            return (errors.reduce(0) { $0 + $1 * $1 } / Double(errors.count)).squareRoot()
        }
        let energies = s.truth.energiesElectronVolts
        let unshifted = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: energies, references: shifted, settings: settings)
        settings.fitReferenceShift = true
        let fitted = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: energies, references: shifted, settings: settings)
        #expect(abs(fitted.referenceShift + 1) < 0.1, "fitted shift \(fitted.referenceShift)")
        #expect(rmse(fitted) <= 0.02, "RMSE with the fitted shift \(rmse(fitted))")
        #expect(rmse(unshifted) > 2 * rmse(fitted), "RMSE without a shift \(rmse(unshifted))")
    }

    @Test func badInput() throws {
        let s = try Self.stack(photons: 1e4, size: 24)
        #expect(throws: LensError.self) {
            _ = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: Array(s.truth.energiesElectronVolts.dropLast()))
        }
        var reversed = s.truth.energiesElectronVolts; reversed.swapAt(3, 4)
        #expect(throws: LensError.self) { _ = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: reversed) }
        let narrow = [try ReferenceSpectrum(name: "short", energies: [8300, 8310, 8320, 8330, 8340, 8350], values: [0, 0, 0.2, 0.5, 0.9, 1])]
        #expect(throws: LensError.self) {
            _ = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: s.truth.energiesElectronVolts, references: narrow)
        }
        // Zero intensity in a pixel: masked and counted, never a NaN elsewhere.
        var holes = s.intensity
        holes[linear: 5] = 0
        let maps = try XANESAnalysis.analyse(intensity: holes, flat: s.flat, energies: s.truth.energiesElectronVolts)
        #expect(maps.mask[linear: 5] == XANESMaskReason.nonPositiveIntensity.rawValue)
        #expect(maps.maskCounts[.nonPositiveIntensity] == 1)
    }
}
