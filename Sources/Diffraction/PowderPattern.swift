import Foundation
import LensCore
import Signal

/// The X-ray lines of the source: one wavelength (synchrotron, monochromator) or a doublet
/// (a lab tube's Kα₁/Kα₂, each reflection then two peaks at the two Bragg angles).
public struct Radiation: Codable, Sendable, Equatable {
    /// Wavelengths in Å; the first is the one 2θ positions and d-spacings refer to.
    public var wavelengthsAngstrom: [Double]
    /// Intensity of each line relative to the first (1 for the first).
    public var relativeIntensities: [Double]

    public init(wavelengthsAngstrom: [Double], relativeIntensities: [Double]) {
        self.wavelengthsAngstrom = wavelengthsAngstrom; self.relativeIntensities = relativeIntensities
    }

    public static func monochromatic(_ lambda: Double) -> Radiation { Radiation(wavelengthsAngstrom: [lambda], relativeIntensities: [1]) }
    /// Cu Kα₁ 1.540593 Å and Kα₂ 1.544414 Å at half its intensity (Hölzer et al. 1997).
    public static let copperKAlpha = Radiation(wavelengthsAngstrom: [1.540593, 1.544414], relativeIntensities: [1, 0.5])

    public var primaryWavelengthAngstrom: Double { wavelengthsAngstrom[0] }

    public func validate() throws {
        guard !wavelengthsAngstrom.isEmpty, wavelengthsAngstrom.count == relativeIntensities.count,
              wavelengthsAngstrom.allSatisfy({ $0.isFinite && $0 > 0.01 && $0 < 20 }),
              relativeIntensities.allSatisfy({ $0.isFinite && $0 >= 0 }), relativeIntensities[0] > 0 else {
            throw LensError.invalidArgument("the radiation needs wavelengths of 0.01–20 Å, each with a non-negative relative intensity (the first positive)")
        }
    }
}

/// One powder pattern: intensity against 2θ (degrees, increasing) with standard errors
/// (Poisson, √counts, when the file gives none).
public struct PowderPattern: Sendable, Equatable {
    public var twoThetaDegrees: [Double]
    public var intensity: [Double]
    public var sigma: [Double]

    public init(twoThetaDegrees: [Double], intensity: [Double], sigma: [Double]? = nil, source: String = "pattern") throws {
        guard twoThetaDegrees.count == intensity.count, twoThetaDegrees.count >= 8 else {
            throw LensError.badInput(file: source, problem: "a pattern needs at least 8 points with one intensity per 2θ, got \(twoThetaDegrees.count) angles and \(intensity.count) intensities")
        }
        guard twoThetaDegrees.allSatisfy({ $0.isFinite && $0 > 0 && $0 < 180 }), intensity.allSatisfy(\.isFinite) else {
            throw LensError.badInput(file: source, problem: "2θ must be finite and within (0°, 180°), intensities finite")
        }
        guard zip(twoThetaDegrees, twoThetaDegrees.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw LensError.badInput(file: source, problem: "2θ must increase from point to point")
        }
        if let sigma {
            guard sigma.count == intensity.count, sigma.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw LensError.badInput(file: source, problem: "the standard errors must be finite, non-negative and one per point")
            }
        }
        self.twoThetaDegrees = twoThetaDegrees
        self.intensity = intensity
        if let sigma {
            // A zero σ would weigh its point infinitely: the pattern's median positive σ instead.
            let positive = sigma.filter { $0 > 0 }.sorted()
            guard !positive.isEmpty else { throw LensError.badInput(file: source, problem: "every standard error is zero") }
            let median = positive[positive.count / 2]
            self.sigma = sigma.map { $0 > 0 ? $0 : median }
        } else {
            // Counts: Poisson, an empty bin at 1 count.
            self.sigma = intensity.map { Swift.max(Swift.max($0, 0).squareRoot(), 1) }
        }
    }

    /// Indices of the points with 2θ in `range`.
    public func indices(in range: ClosedRange<Double>) -> Range<Int> {
        let lo = twoThetaDegrees.firstIndex { $0 >= range.lowerBound } ?? twoThetaDegrees.count
        let hi = twoThetaDegrees.lastIndex { $0 <= range.upperBound }.map { $0 + 1 } ?? 0
        return lo..<Swift.max(lo, hi)
    }

    /// Mean 2θ step, degrees.
    public var stepDegrees: Double {
        (twoThetaDegrees.last! - twoThetaDegrees.first!) / Double(twoThetaDegrees.count - 1)
    }
}

/// A fitted Bragg peak. The position and width are those of the primary line; the area is the
/// reflection's total over all lines of the radiation.
public struct FittedPeak: Codable, Sendable, Equatable {
    public var centreDegrees: Double
    public var centreErrorDegrees: Double?
    public var fwhmDegrees: Double
    public var eta: Double
    public var area: Double
    public var areaError: Double?

    enum CodingKeys: String, CodingKey {
        case centreDegrees = "centre_two_theta_degrees", centreErrorDegrees = "centre_error_degrees", fwhmDegrees = "fwhm_degrees"
        case eta, area, areaError = "area_error"
    }
}

/// Profile fitting of Bragg peaks in a 2θ window: pseudo-Voigt peaks (one per line of the
/// radiation, Kα₂ at its own Bragg angle with its intensity ratio) sharing one FWHM and one
/// Lorentzian fraction, on a linear background, by weighted Levenberg–Marquardt; standard errors
/// from the covariance scaled by the reduced χ² when that exceeds 1.
public enum BraggPeakFit {
    public struct WindowFit: Sendable {
        public var peaks: [FittedPeak]
        /// Background b₀ + b₁·(2θ − centre of the window).
        public var background: [Double]
        public var window: ClosedRange<Double>
        public var reducedChiSquared: Double
    }

    /// The peaks' value at 2θ `x` (no background): centres of the primary line, total areas over
    /// the radiation's lines, one FWHM and η.
    public static func modelValue(_ x: Double, centres: [Double], areas: [Double], fwhmDegrees fwhm: Double, eta: Double, radiation: Radiation) -> Double {
        let total = radiation.relativeIntensities.reduce(0, +)
        var y = 0.0
        for (c, a) in zip(centres, areas) {
            for (line, (lambda, ratio)) in zip(radiation.wavelengthsAngstrom, radiation.relativeIntensities).enumerated() where ratio > 0 {
                let centre = line == 0 ? c : (BraggLaw.twoThetaDegrees(c, from: radiation.primaryWavelengthAngstrom, to: lambda) ?? .nan)
                guard centre.isFinite, abs(x - centre) < 60 * fwhm else { continue }
                y += a * ratio / total * PeakShape.pseudoVoigt(x, centre: centre, fwhm: fwhm, eta: eta)
            }
        }
        return y
    }

    /// Fits peaks starting at `centres` (primary-line 2θ) in `window`.
    public static func fit(_ pattern: PowderPattern, window: ClosedRange<Double>, centres: [Double], radiation: Radiation,
                           fwhmDegrees: Double? = nil) throws -> WindowFit {
        try radiation.validate()
        let range = pattern.indices(in: window)
        let k = centres.count
        guard k > 0 else { throw LensError.invalidArgument("no peak to fit in \(window)") }
        guard range.count >= 2 * k + 6 else {
            throw LensError.invalidArgument(String(format: "the window %.3f–%.3f° holds %d points: too few for %d peaks", window.lowerBound, window.upperBound, range.count, k))
        }
        let x = Array(pattern.twoThetaDegrees[range]), y = Array(pattern.intensity[range]), s = Array(pattern.sigma[range])
        let mid = (window.lowerBound + window.upperBound) / 2
        // Starting values: background through the window's edge medians; widths from the step or given.
        let edge = Swift.max(2, x.count / 10)
        let left = y.prefix(edge).sorted()[edge / 2], right = y.suffix(edge).sorted()[edge / 2]
        let b1 = (right - left) / Swift.max(1e-9, x.last! - x.first!)
        let b0 = (left + right) / 2
        let w0 = fwhmDegrees ?? Swift.max(3 * pattern.stepDegrees, (window.upperBound - window.lowerBound) / 20)
        let areas0 = centres.map { c -> Double in
            let j = x.indices.min { abs(x[$0] - c) < abs(x[$1] - c) }!
            return Swift.max(0, y[j] - (b0 + b1 * (x[j] - mid))) * w0 * 1.2
        }
        // η enters through a logistic, so it stays in [0, 1] with a non-zero derivative.
        var p0 = [b0, b1, w0, 0.0]
        for (c, a) in zip(centres, areas0) { p0 += [c, a] }
        func unpack(_ p: [Double]) -> (centres: [Double], areas: [Double], fwhm: Double, eta: Double) {
            ((0..<k).map { p[4 + 2 * $0] }, (0..<k).map { p[5 + 2 * $0] }, abs(p[2]), logistic(p[3]))
        }
        var options = LevenbergMarquardt.Options()
        options.maxIterations = 300
        func solve(_ start: [Double], fixedEta: Double?) throws -> LevenbergMarquardt.Result {
            try LevenbergMarquardt.fit(initial: fixedEta == nil ? start : start.enumerated().filter { $0.offset != 3 }.map(\.element),
                                       residualCount: x.count, options: options) { q, r in
                var p = q
                if let fixedEta { p.insert(fixedEta, at: 3) }
                let m = unpack(p)
                for i in x.indices {
                    let model = p[0] + p[1] * (x[i] - mid) + modelValue(x[i], centres: m.centres, areas: m.areas, fwhmDegrees: m.fwhm, eta: m.eta, radiation: radiation)
                    r[i] = (y[i] - model) / s[i]
                }
            }
        }
        var result = try solve(p0, fixedEta: nil)
        var parameters = result.parameters
        var covarianceIndex = Array(0..<p0.count)
        // A shape at a bound (pure Gaussian or Lorentzian) leaves η undetermined and the
        // covariance singular: refit with η held there.
        if result.unscaledCovariance == nil {
            let eta = result.parameters[3]
            result = try solve(result.parameters, fixedEta: eta)
            parameters = result.parameters
            parameters.insert(eta, at: 3)
            covarianceIndex = (0..<p0.count).map { $0 < 3 ? $0 : $0 == 3 ? -1 : $0 - 1 }
        }
        let m = unpack(parameters)
        let chi2 = result.reducedChiSquared
        let errors: [Double]? = result.unscaledCovariance.map { c in
            covarianceIndex.map { $0 < 0 ? .nan : (c[$0, $0] * Swift.max(1, chi2)).squareRoot() }
        }
        let peaks = (0..<k).map { i in
            FittedPeak(centreDegrees: m.centres[i], centreErrorDegrees: errors?[4 + 2 * i], fwhmDegrees: m.fwhm, eta: m.eta,
                       area: m.areas[i], areaError: errors?[5 + 2 * i])
        }
        return WindowFit(peaks: peaks, background: [parameters[0], parameters[1]], window: window, reducedChiSquared: chi2)
    }

    /// 1/(1 + e^(−q)): the Lorentzian fraction from its unbounded fit parameter.
    static func logistic(_ q: Double) -> Double { 1 / (1 + exp(-q)) }
}
