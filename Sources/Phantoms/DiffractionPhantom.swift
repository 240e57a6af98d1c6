import Foundation
import LensCore
import Signal

/// A crystalline phase for diffraction patterns: cubic or hexagonal lattice and reflections.
public struct DiffractionPhase: Codable, Sendable, Equatable {
    public var name: String
    /// Lattice parameters a and c in Å (c ignored for cubic).
    public var a: Double
    public var c: Double?
    /// Reflections (h, k, l) and relative intensities.
    public var reflections: [[Int]]
    public var intensities: [Double]

    public init(name: String, a: Double, c: Double? = nil, reflections: [[Int]], intensities: [Double]) {
        self.name = name; self.a = a; self.c = c; self.reflections = reflections; self.intensities = intensities
    }

    /// d-spacing (Å) of (h, k, l): cubic d = a/√(h²+k²+l²); hexagonal
    /// 1/d² = 4(h²+hk+k²)/(3a²) + l²/c².
    public func dSpacing(_ hkl: [Int], a: Double, c: Double?) -> Double {
        let (h, k, l) = (Double(hkl[0]), Double(hkl[1]), Double(hkl[2]))
        if let c { return 1 / (4 * (h * h + h * k + k * k) / (3 * a * a) + l * l / (c * c)).squareRoot() }
        return a / (h * h + k * k + l * l).squareRoot()
    }

    /// A layered cathode in its lithiated and delithiated forms (hexagonal, R-3m setting; a and c
    /// close to NMC811: Li-rich a = 2.87, c = 14.20 Å; Li-poor a = 2.82, c = 14.45 Å).
    public static let lithiated = DiffractionPhase(name: "lithiated", a: 2.872, c: 14.20,
        reflections: [[0, 0, 3], [1, 0, 1], [0, 0, 6], [1, 0, 4], [1, 0, 5], [1, 0, 7], [1, 0, 8], [1, 1, 0]],
        intensities: [1.0, 0.45, 0.05, 0.8, 0.1, 0.08, 0.15, 0.12])
    public static let delithiated = DiffractionPhase(name: "delithiated", a: 2.818, c: 14.45,
        reflections: lithiated.reflections, intensities: lithiated.intensities)
}

public struct DiffractionParameters: Codable, Sendable, Equatable {
    public var wavelengthAngstrom = 0.2072      // 59.8 keV, a synchrotron operando energy
    public var twoThetaRangeDegrees = [1.0, 10.0]
    public var stepDegrees = 0.005
    public var patternCount = 60
    /// Peak FWHM in degrees 2θ and Lorentzian fraction of the pseudo-Voigt.
    public var fwhmDegrees = 0.03
    public var eta = 0.4
    /// Counts of the strongest peak of a pure phase, and of the flat background.
    public var peakCounts = 20_000.0
    public var backgroundCounts = 200.0
    public var noisy = true
    /// Lattice parameters of each phase change linearly by this fraction over the series
    /// (solid-solution drift on top of the two-phase reaction).
    public var latticeDrift = 0.002
    public var seed: UInt64 = 1
    public init() {}
}

public struct DiffractionTruth: Codable, Sendable {
    public var parameters: DiffractionParameters
    public var phases: [DiffractionPhase]
    /// Per pattern: fraction of the second phase, and lattice parameters (a, c) of each phase.
    public var secondPhaseFraction: [Double]
    public var lattice: [[[Double]]]
}

/// Operando diffraction of a two-phase reaction: the second phase grows along a sigmoid
/// through the series while both lattices drift slightly; peaks are pseudo-Voigts at Bragg
/// angles (λ = 2d sin θ) with areas ∝ phase fraction × intensity, on a flat background with
/// Poisson noise.
public enum DiffractionSimulator {
    public static func simulate(_ p: DiffractionParameters, phases: [DiffractionPhase] = [.lithiated, .delithiated]) throws
        -> (twoThetaDegrees: [Double], patterns: Grid<Float>, truth: DiffractionTruth) {
        guard phases.count == 2 else { throw LensError.invalidArgument("the two-phase model needs two phases") }
        guard p.patternCount > 0, p.stepDegrees > 0, p.twoThetaRangeDegrees.count == 2, p.twoThetaRangeDegrees[0] < p.twoThetaRangeDegrees[1] else {
            throw LensError.invalidArgument("diffraction range, step and pattern count must be positive")
        }
        let n = Int(((p.twoThetaRangeDegrees[1] - p.twoThetaRangeDegrees[0]) / p.stepDegrees).rounded()) + 1
        let twoTheta = (0..<n).map { p.twoThetaRangeDegrees[0] + Double($0) * p.stepDegrees }
        var rng = SeededRandom(seed: p.seed)
        var values = [Float](repeating: 0, count: p.patternCount * n)
        var fractions = [Double](), lattices = [[[Double]]]()
        let unitHeight = PeakShape.pseudoVoigt(0, centre: 0, fwhm: p.fwhmDegrees, eta: p.eta)
        for t in 0..<p.patternCount {
            let progress = p.patternCount > 1 ? Double(t) / Double(p.patternCount - 1) : 0
            let f = 1 / (1 + exp(-(progress - 0.5) * 12))
            fractions.append(f)
            var row = [Double](repeating: p.backgroundCounts, count: n)
            var lattice = [[Double]]()
            for (k, phase) in phases.enumerated() {
                let scale = 1 + (k == 0 ? 1 : -1) * p.latticeDrift * progress
                let a = phase.a * scale, c = phase.c.map { $0 * scale }
                lattice.append([a, c ?? a])
                let weight = k == 0 ? 1 - f : f
                for (hkl, intensity) in zip(phase.reflections, phase.intensities) {
                    let d = phase.dSpacing(hkl, a: a, c: c)
                    let s = p.wavelengthAngstrom / (2 * d)
                    guard s < 1 else { continue }
                    let centre = 2 * asin(s) * 180 / .pi
                    let area = weight * intensity * p.peakCounts / unitHeight
                    for i in 0..<n where abs(twoTheta[i] - centre) < 40 * p.fwhmDegrees {
                        row[i] += area * PeakShape.pseudoVoigt(twoTheta[i], centre: centre, fwhm: p.fwhmDegrees, eta: p.eta)
                    }
                }
            }
            lattices.append(lattice)
            for i in 0..<n {
                let mean = row[i]
                values[t * n + i] = Float(p.noisy ? Swift.max(0, (mean + mean.squareRoot() * rng.normal()).rounded()) : mean)
            }
        }
        let truth = DiffractionTruth(parameters: p, phases: phases, secondPhaseFraction: fractions, lattice: lattices)
        return (twoTheta, Grid(shape: Shape(p.patternCount, n), elements: values), truth)
    }
}
