import Diffraction
import Foundation
import LensCore
import Signal

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
    /// The phases at the start of the series (the starting model a user would take from the literature).
    public var phases: [CrystalPhase]
    /// Per pattern: fraction of the second phase, and lattice parameters (a, c) of each phase.
    public var secondPhaseFraction: [Double]
    public var lattice: [[[Double]]]
    /// Per pattern: the cell voltage of a model charge (V): sloping single-phase ends, and a
    /// plateau while the two phases coexist.
    public var voltage: [Double]
}

/// Operando diffraction of a two-phase reaction: the second phase grows along a sigmoid
/// through the series while both lattices drift slightly; peaks are pseudo-Voigts at Bragg
/// angles (λ = 2d sin θ) with areas ∝ phase fraction × intensity, on a flat background with
/// Poisson noise.
public enum DiffractionSimulator {
    public static func simulate(_ p: DiffractionParameters, phases: [CrystalPhase] = [.layeredLithiated, .layeredDelithiated]) throws
        -> (twoThetaDegrees: [Double], patterns: Grid<Float>, truth: DiffractionTruth) {
        guard phases.count == 2 else { throw LensError.invalidArgument("the two-phase model needs two phases") }
        guard p.patternCount > 0, p.stepDegrees > 0, p.twoThetaRangeDegrees.count == 2, p.twoThetaRangeDegrees[0] < p.twoThetaRangeDegrees[1] else {
            throw LensError.invalidArgument("diffraction range, step and pattern count must be positive")
        }
        let n = Int(((p.twoThetaRangeDegrees[1] - p.twoThetaRangeDegrees[0]) / p.stepDegrees).rounded()) + 1
        let twoTheta = (0..<n).map { p.twoThetaRangeDegrees[0] + Double($0) * p.stepDegrees }
        var rng = SeededRandom(seed: p.seed)
        var values = [Float](repeating: 0, count: p.patternCount * n)
        var fractions = [Double](), lattices = [[[Double]]](), voltages = [Double]()
        let unitHeight = PeakShape.pseudoVoigt(0, centre: 0, fwhm: p.fwhmDegrees, eta: p.eta)
        for t in 0..<p.patternCount {
            let progress = p.patternCount > 1 ? Double(t) / Double(p.patternCount - 1) : 0
            let f = 1 / (1 + exp(-(progress - 0.5) * 12))
            fractions.append(f)
            var row = [Double](repeating: p.backgroundCounts, count: n)
            var lattice = [[Double]]()
            for (k, phase) in phases.enumerated() {
                let scale = 1 + (k == 0 ? 1 : -1) * p.latticeDrift * progress
                let cell = phase.cell.with(parameters: phase.cell.parameters.map { $0 * scale })
                lattice.append(cell.parameters.count == 1 ? [cell.a, cell.a] : Array(cell.parameters.prefix(2)))
                let weight = k == 0 ? 1 - f : f
                for reflection in phase.reflections {
                    guard let centre = BraggLaw.twoThetaDegrees(dSpacing: cell.dSpacing(reflection.hkl), wavelengthAngstrom: p.wavelengthAngstrom) else { continue }
                    let area = weight * reflection.relativeIntensity * p.peakCounts / unitHeight
                    for i in 0..<n where abs(twoTheta[i] - centre) < 40 * p.fwhmDegrees {
                        row[i] += area * PeakShape.pseudoVoigt(twoTheta[i], centre: centre, fwhm: p.fwhmDegrees, eta: p.eta)
                    }
                }
            }
            // A nearly flat 3.65 V plateau mid-charge, where the two phases coexist, rising to
            // 4.0 V at the end and falling to 3.3 V at the start.
            voltages.append(3.65 + 0.1 * (progress - 0.5) + 2.4 * pow(progress - 0.5, 3))
            lattices.append(lattice)
            for i in 0..<n {
                let mean = row[i]
                values[t * n + i] = Float(p.noisy ? Swift.max(0, (mean + mean.squareRoot() * rng.normal()).rounded()) : mean)
            }
        }
        let truth = DiffractionTruth(parameters: p, phases: phases, secondPhaseFraction: fractions, lattice: lattices, voltage: voltages)
        return (twoTheta, Grid(shape: Shape(p.patternCount, n), elements: values), truth)
    }
}

/// Area-detector frames of the operando series: each pixel sees the noise-free pattern at its
/// 2θ (pixel centre, linear interpolation), times its solid angle and the polarization factor of
/// a horizontally polarized beam, scaled to counts, with Poisson noise — the Debye–Scherrer
/// rings `diffraction integrate` turns back into patterns.
public enum DiffractionFrameSimulator {
    /// A square detector of `size` pixels of 75 µm at 280 mm, the beam at a tenth of the way in
    /// from a corner, so the rings out to ~10° (the series' range at 59.8 keV) fall on it.
    public static func detector(size: Int, wavelengthAngstrom: Double) -> DetectorGeometry {
        let scale = 512.0 / Double(size)
        var g = DetectorGeometry.normal(distanceMillimetres: 280 / scale, beamCentreRow: 0.1 * Double(size), column: 0.1 * Double(size),
                                        pixelMicrometres: 75)
        g.wavelengthAngstrom = wavelengthAngstrom
        return g
    }

    /// Frames (pattern, row, column) in counts from the noise-free `mean` patterns on `twoThetaDegrees`.
    public static func frames(mean: Grid<Float>, twoThetaDegrees: [Double], geometry: DetectorGeometry, size: Int,
                              countsScale: Double = 0.1, polarizationFactor: Double = 0.95, seed: UInt64 = 1) -> Grid<Float> {
        let (patterns, points) = (mean.shape[0], mean.shape[1])
        let (lo, step) = (twoThetaDegrees[0], (twoThetaDegrees[points - 1] - twoThetaDegrees[0]) / Double(points - 1))
        // Per pixel: where it samples the pattern and its weight.
        var index = [Int](repeating: -1, count: size * size), fraction = [Double](repeating: 0, count: size * size), weight = fraction
        for i in 0..<size { for j in 0..<size {
            let a = geometry.angles(row: i, column: j)
            let c = cos(a.twoTheta), s = sin(a.twoTheta)
            weight[i * size + j] = countsScale * geometry.solidAngle(row: i, column: j) * (1 + c * c - polarizationFactor * cos(2 * a.chi) * s * s) / 2
            let x = (a.twoTheta * 180 / .pi - lo) / step
            if x >= 0, x < Double(points - 1) { index[i * size + j] = Int(x); fraction[i * size + j] = x - Double(Int(x)) }
        } }
        var out = [Float](repeating: 0, count: patterns * size * size)
        let values = mean.elements
        let (index0, fraction0, weight0) = (index, fraction, weight)
        Parallel.withDisjointWrites(&out) { o in Parallel.forEachChunk(count: patterns, minimumChunk: 1) { range in
            let (index, fraction, weight) = (index0, fraction0, weight0)
            for k in range {
                var rng = SeededRandom(seed: seed &+ UInt64(k) &* 0x9E37_79B9_7F4A_7C15)
                let row = k * points
                // Outside the simulated range: the background level of the pattern's first point.
                let background = Double(values[row])
                for p in 0..<(size * size) {
                    let m: Double
                    if index[p] >= 0 { let q = row + index[p]; m = Double(values[q]) * (1 - fraction[p]) + Double(values[q + 1]) * fraction[p] } else { m = background }
                    let mu = m * weight[p]
                    o[k * size * size + p] = Float(Swift.max(0, (mu + mu.squareRoot() * rng.normal()).rounded()))
                }
            }
        } }
        return Grid(shape: Shape(patterns, size, size), elements: out)
    }
}
