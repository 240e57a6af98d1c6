import Foundation
import LensCore

/// One state of a cycling series and how it differs from the pristine electrode.
public struct CyclingState: Codable, Sendable, Equatable {
    public var name: String
    /// Crack growth: 0 pristine … 1 the end of the series (widths scale from 0 to full, new
    /// cracks nucleate in particles by their susceptibility).
    public var damage: Double
    /// Particle size scale (lithiated/delithiated volume change: ~2 % in volume ≈ 0.67 % in size).
    public var particleScale: Double
    public init(name: String, damage: Double, particleScale: Double) {
        self.name = name; self.damage = damage; self.particleScale = particleScale
    }

    /// The Tomo 00–04 series of the operando nano-CT study: pristine, first charge, first
    /// discharge, 5 cycles, 30 cycles (charged states shrink by ~2 % in volume).
    public static let tomo00to04: [CyclingState] = [
        CyclingState(name: "Tomo 00 pristine", damage: 0, particleScale: 1),
        CyclingState(name: "Tomo 01 first charge", damage: 0.15, particleScale: pow(0.98, 1.0 / 3)),
        CyclingState(name: "Tomo 02 first discharge", damage: 0.25, particleScale: 1),
        CyclingState(name: "Tomo 03 5 cycles", damage: 0.55, particleScale: 1),
        CyclingState(name: "Tomo 04 30 cycles", damage: 1.0, particleScale: 1),
    ]
}

/// The same electrode through cycling: particle ids stay the same in every state; cracks
/// nucleate and widen (larger and less dense particles first, as the pristine design's crack
/// assignment already prefers them), wide cracks split particles, sizes breathe with lithium
/// content, and each scan is shifted by a small random rigid drift.
public enum CyclingSeries {
    /// The designs of every state. A particle whose design has cracks starts cracking when
    /// `damage` exceeds its onset (earlier for more susceptible particles); its crack widths then
    /// grow linearly to the design widths × `finalWidthFactor` at damage 1.
    public static func designs(pristine: ElectrodeDesign, states: [CyclingState], finalWidthFactor: Double = 2.5,
                               driftSigmaMicrometres: Double = 0.3, seed: UInt64 = 1) -> [ElectrodeDesign] {
        var rng = SeededRandom(seed: seed)
        let median = pristine.parameters.medianParticleDiameterMicrometres
        // Onset in [0, 0.8]: large, less dense particles crack first.
        let onsets = pristine.particles.map { p -> Double in
            let susceptibility = pow(p.equivalentDiameterMicrometres / median, 1.5) * Swift.max(0.1, 1 - 5 * (p.densityFactor - 1))
            return Swift.min(0.8, Swift.max(0, 0.8 - 0.4 * susceptibility + 0.1 * rng.normal()))
        }
        return states.map { state in
            var design = pristine
            design.particleScale = state.particleScale
            design.driftMicrometres = state.damage == 0 ? [0, 0, 0] : (0..<3).map { _ in driftSigmaMicrometres * rng.normal() }
            for (k, particle) in pristine.particles.enumerated() {
                let grown = (state.damage - onsets[k]) / Swift.max(1e-9, 1 - onsets[k])
                if particle.cracks.isEmpty || grown <= 0 {
                    design.particles[k].cracks = []
                } else {
                    design.particles[k].cracks = particle.cracks.map { crack in
                        var c = crack
                        c.widthMicrometres = crack.widthMicrometres * finalWidthFactor * Swift.min(1, grown)
                        return c
                    }
                }
            }
            return design
        }
    }
}
