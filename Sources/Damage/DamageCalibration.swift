import Foundation
import LensCore
import Signal

/// Damage-class thresholds calibrated on a pristine state (issue 20: "calibrated on a pristine
/// state when one is given"). In a pristine electrode every crack voxel the detector reports is
/// a false positive of noise, blur or density variation, so the crack fraction that only a
/// small share of pristine particles exceed is the smallest one that means damage: the mild
/// threshold becomes the `quantile` of the pristine particles' crack fractions when that is
/// above the configured one (never below it), and the severe threshold stays at least
/// `severeOverMild` times the mild one. Fragment counts are not recalibrated (a particle split
/// into pieces is severe in any state); how many pristine particles the detector already
/// splits is reported, since those are false severes the calibration cannot remove.
public struct DamageCalibration: Codable, Sendable, Equatable {
    /// Pristine particles judged.
    public var pristineParticles: Int
    /// The quantile used (0.99: at most 1 % of pristine particles stay above mild).
    public var quantile: Double
    /// The pristine crack fraction at that quantile.
    public var pristineCrackFractionAtQuantile: Double
    /// The pristine deficit crack fraction (``ParticleDamage/deficitCrackFraction``) at that
    /// quantile: the severe threshold is kept above it, so that blur and density variations of
    /// pristine particles are not judged severe by their grey deficit.
    public var pristineDeficitFractionAtQuantile: Double
    /// Share of pristine particles the detector splits into ≥ 2 fragments.
    public var pristineFragmentedShare: Double
    /// The thresholds given, and the ones used after calibration.
    public var configuredMild: Double, configuredSevere: Double
    public var mildCrackFraction: Double, severeCrackFraction: Double

    /// Calibrates `settings`' thresholds on the damage of a pristine state's particles.
    public static func fromPristine(_ pristine: [ParticleDamage], settings: CrackSettings, quantile: Double = 0.99,
                                    severeOverMild: Double = 10) throws -> DamageCalibration {
        guard quantile > 0.5, quantile < 1 else { throw LensError.invalidArgument("the calibration quantile must be in (0.5, 1), got \(quantile)") }
        guard pristine.count >= 20 else {
            throw LensError.invalidArgument("calibrating damage classes needs at least 20 particles in the pristine state, got \(pristine.count)")
        }
        // Linear interpolation between order statistics (numpy's default percentile).
        func atQuantile(_ values: [Double]) -> Double { Statistics.percentile(values, 100 * quantile) }
        let voxels = atQuantile(pristine.map(\.crackFraction)), deficit = atQuantile(pristine.map(\.deficitCrackFraction))
        // "≥ mild" is mild: the threshold sits just above the quantile so that it is not mild itself.
        let mild = Swift.max(settings.mildCrackFraction, voxels.nextUp)
        let severe = Swift.min(1, Swift.max(settings.severeCrackFraction, mild * severeOverMild, deficit.nextUp))
        guard severe > mild else {
            throw LensError.numerical("the pristine state's crack fractions reach \(voxels) at the \(quantile) quantile: no severe threshold above it is left; the crack detector is not fit for this data (check --void-grey and --margin)")
        }
        return DamageCalibration(pristineParticles: pristine.count, quantile: quantile, pristineCrackFractionAtQuantile: voxels,
                                 pristineDeficitFractionAtQuantile: deficit,
                                 pristineFragmentedShare: Double(pristine.filter { $0.fragments >= 2 }.count) / Double(pristine.count),
                                 configuredMild: settings.mildCrackFraction, configuredSevere: settings.severeCrackFraction,
                                 mildCrackFraction: mild, severeCrackFraction: severe)
    }

    /// `settings` with the calibrated thresholds.
    public func applied(to settings: CrackSettings) -> CrackSettings {
        var s = settings
        s.mildCrackFraction = mildCrackFraction; s.severeCrackFraction = severeCrackFraction
        return s
    }

    /// `damage` classified again under the calibrated thresholds.
    public func reclassified(_ damage: ParticleDamage, settings: CrackSettings) -> ParticleDamage {
        var d = damage
        d.damageClass = applied(to: settings).damageClass(crackFraction: d.crackFraction, deficitFraction: d.deficitCrackFraction, fragments: d.fragments, crackVoxels: d.crackVoxels)
        return d
    }
}
