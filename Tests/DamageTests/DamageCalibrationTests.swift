import Foundation
import LensCore
import Phantoms
import Damage
import Testing

/// Damage classes calibrated on a pristine state (issue 20): where noise makes the detector call
/// every particle damaged, the pristine state's crack fractions set the mild threshold, the
/// pristine state becomes ~1 % mild, and the cracked state is classed like the design.
@Suite struct DamageCalibrationTests {
    /// A particle's damage with the given crack fraction (fields set on a real analysis's record:
    /// a solid 8³ cube in void).
    func particle(_ id: Int, fraction: Double, fragments: Int = 1) throws -> ParticleDamage {
        let labels = Grid<Int32>(shape: Shape(12, 12, 12)) { i in
            let (z, y, x) = (i / 144, (i / 12) % 12, i % 12)
            return (2..<10).contains(z) && (2..<10).contains(y) && (2..<10).contains(x) ? 1 : 0
        }
        let grey = Grid<Float>(shape: labels.shape, elements: labels.elements.map { $0 == 1 ? 1 : 0 })
        var settings = CrackSettings()
        settings.voidGrey = 0
        var d = try #require(try CrackAnalysis.analyse(grey: grey, particles: labels, settings: settings).damage.first)
        d.id = id
        d.envelopeVoxels = 10_000; d.crackVoxels = Int((fraction * 10_000).rounded()); d.crackFraction = fraction; d.fragments = fragments
        d.damageClass = settings.damageClass(crackFraction: fraction, fragments: fragments, crackVoxels: d.crackVoxels)
        return d
    }

    /// Pristine particles whose grey deficit reads up to 0.099 (density variations, blur): the
    /// severe threshold is kept above their 99 % quantile, so a particle with crack voxels and a
    /// deficit of 0.07 is not severe after calibration (it was before).
    @Test func severeStaysAboveThePristineDeficits() throws {
        let pristine = try (0..<100).map { k -> ParticleDamage in
            var d = try particle(k, fraction: 0.0001)
            d.deficitCrackFraction = Double(k) * 0.001
            return d
        }
        let c = try DamageCalibration.fromPristine(pristine, settings: CrackSettings())
        #expect(abs(c.pristineDeficitFractionAtQuantile - 0.09801) < 1e-9)
        #expect(c.severeCrackFraction > 0.09801)
        var probe = try particle(200, fraction: 0.02)
        probe.deficitCrackFraction = 0.07
        #expect(CrackSettings().damageClass(crackFraction: probe.crackFraction, deficitFraction: probe.deficitCrackFraction, fragments: 1, crackVoxels: probe.crackVoxels) == "severe")
        #expect(c.reclassified(probe, settings: CrackSettings()).damageClass == "mild")
    }

    @Test func thresholdsFollowThePristineQuantile() throws {
        // 100 pristine particles with false crack fractions 0, 0.0001, …, 0.0099.
        let pristine = try (0..<100).map { try particle($0, fraction: Double($0) * 0.0001) }
        let c = try DamageCalibration.fromPristine(pristine, settings: CrackSettings())
        #expect(abs(c.pristineCrackFractionAtQuantile - 0.009801) < 1e-9)   // numpy.percentile(…, 99)
        #expect(c.mildCrackFraction > 0.009801 && c.mildCrackFraction < 0.0098011)
        #expect(c.severeCrackFraction == 0.09801000000000001 || abs(c.severeCrackFraction - c.mildCrackFraction * 10) < 1e-12)
        // At most 1 % of pristine particles stay mild once reclassified.
        let again = pristine.map { c.reclassified($0, settings: CrackSettings()) }
        #expect(again.filter { $0.damageClass != "least" }.count <= 1)
        // Never below the configured thresholds: clean pristine data changes nothing.
        let clean = try DamageCalibration.fromPristine(try (0..<50).map { try particle($0, fraction: 0) }, settings: CrackSettings())
        #expect(clean.mildCrackFraction == CrackSettings().mildCrackFraction && clean.severeCrackFraction == CrackSettings().severeCrackFraction)
        // A split particle stays severe whatever the thresholds.
        #expect(c.reclassified(try particle(1, fraction: 0, fragments: 2), settings: CrackSettings()).damageClass == "severe")
        #expect(throws: LensError.self) { try DamageCalibration.fromPristine(Array(pristine.prefix(10)), settings: CrackSettings()) }
    }

    @Test func calibrationRestoresClassesUnderHeavyNoise() throws {
        var p = ElectrodeParameters()
        p.shape = [64, 64, 64]
        p.medianParticleDiameterMicrometres = 6
        p.crackProbability = 0.8
        p.seed = 7
        let designs = CyclingSeries.designs(pristine: try ElectrodeDesign.generate(p), states: CyclingState.tomo00to04, seed: 7)
        let pristine = try ElectrodePhantom.rasterize(designs[0]), cycled = try ElectrodePhantom.rasterize(designs[4])
        // Gaussian noise of 36 % of the active material's attenuation.
        var rng = SeededRandom(seed: 3)
        func noisy(_ g: Grid<Float>) -> Grid<Float> { Grid(shape: g.shape, geometry: g.geometry, elements: g.elements.map { $0 + Float(0.006 * rng.normal()) }) }
        var settings = CrackSettings()
        settings.voidGrey = p.attenuation.porePerMicrometre
        let before = try CrackAnalysis.analyse(grey: noisy(pristine.attenuation), particles: pristine.particleIDs, settings: settings).damage
        let after = try CrackAnalysis.analyse(grey: noisy(cycled.attenuation), particles: cycled.particleIDs, settings: settings).damage
        let damagedShare = Double(before.filter { $0.damageClass != "least" }.count) / Double(before.count)
        let calibration = try DamageCalibration.fromPristine(before, settings: settings)
        let pristineAgain = before.map { calibration.reclassified($0, settings: settings) }
        let cycledAgain = after.map { calibration.reclassified($0, settings: settings) }
        let calibratedPristineShare = Double(pristineAgain.filter { $0.damageClass != "least" }.count) / Double(pristineAgain.count)
        // Cracked or not, against the design of the cycled state.
        let truth = Dictionary(cycled.truth.particles.map { (Int($0.id), $0.damageClass != "least") }, uniquingKeysWith: { a, _ in a })
        func agreement(_ d: [ParticleDamage]) -> Double {
            let judged = d.filter { truth[$0.id] != nil }
            return Double(judged.filter { ($0.damageClass != "least") == truth[$0.id]! }.count) / Double(judged.count)
        }
        print("pristine damaged: \(damagedShare) uncalibrated, \(calibratedPristineShare) calibrated (mild ≥ \(calibration.mildCrackFraction)); cycled agreement \(agreement(after)) → \(agreement(cycledAgain))")
        #expect(before.count >= 50)
        #expect(damagedShare > 0.5, "the noise should fool the uncalibrated thresholds for this test to mean anything")
        #expect(calibratedPristineShare <= 0.03)
        #expect(agreement(cycledAgain) >= 0.9)
        #expect(agreement(cycledAgain) > agreement(after) + 0.2)
    }
}
