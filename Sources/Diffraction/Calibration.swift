import Foundation
import LensCore
import Signal

/// A calibrant's reflection: its certified d-spacing, with Miller indices where the list gives them.
public struct CalibrantLine: Codable, Sendable, Equatable {
    public var dAngstrom: Double
    public var hkl: MillerIndex?
    public init(dAngstrom: Double, hkl: MillerIndex? = nil) { self.dAngstrom = dAngstrom; self.hkl = hkl }
}

/// Instrument calibration from a standard (LaB6 SRM 660c, Si, CeO₂): every calibrant reflection
/// in range is profile-fitted (`BraggPeakFit`, Kα₂ modelled for a lab tube), and the 2θ zero
/// shift (and, if asked, the wavelength) that best maps the certified d-spacings onto the fitted
/// positions is found by weighted least squares: 2θ_obs = 2 asin(λ/2d) + z.
public enum PowderCalibration {
    public struct Line: Codable, Sendable, Equatable {
        public var dAngstrom: Double
        public var hkl: MillerIndex?
        public var predictedDegrees: Double
        public var fitted: FittedPeak
        /// Fitted minus model (after the zero shift and wavelength), degrees.
        public var residualDegrees: Double

        enum CodingKeys: String, CodingKey {
            case dAngstrom = "d_angstrom", hkl, predictedDegrees = "predicted_two_theta_degrees", fitted, residualDegrees = "residual_degrees"
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var zeroShiftDegrees: Double
        public var zeroShiftErrorDegrees: Double?
        public var wavelengthAngstrom: Double
        public var wavelengthErrorAngstrom: Double?
        public var lines: [Line]
        public var rmsResidualDegrees: Double

        enum CodingKeys: String, CodingKey {
            case zeroShiftDegrees = "zero_shift_degrees", zeroShiftErrorDegrees = "zero_shift_error_degrees"
            case wavelengthAngstrom = "wavelength_angstrom", wavelengthErrorAngstrom = "wavelength_error_angstrom"
            case lines, rmsResidualDegrees = "rms_residual_degrees"
        }
    }

    /// - Parameters:
    ///   - halfWidthDegrees: each reflection is fitted within ± this of its predicted position
    ///     (peaks closer than that share one window).
    ///   - minimumSignificance: peaks whose area is under this many standard errors are left out.
    public static func refine(_ pattern: PowderPattern, calibrant: [CalibrantLine], radiation: Radiation,
                              halfWidthDegrees: Double = 0.4, refineWavelength: Bool = false, minimumSignificance: Double = 10) throws -> Result {
        try radiation.validate()
        guard halfWidthDegrees.isFinite, halfWidthDegrees > 0, halfWidthDegrees < 10 else {
            throw LensError.invalidArgument("the calibration window half-width must be in (0, 10)°, got \(halfWidthDegrees)")
        }
        let lambda = radiation.primaryWavelengthAngstrom
        let lo = pattern.twoThetaDegrees.first!, hi = pattern.twoThetaDegrees.last!
        let lastLambda = radiation.wavelengthsAngstrom.max()!
        // Predicted positions in range, grouped into windows where they overlap.
        let predicted = calibrant.compactMap { line -> (CalibrantLine, Double)? in
            guard line.dAngstrom > 0, let t = BraggLaw.twoThetaDegrees(dSpacing: line.dAngstrom, wavelengthAngstrom: lambda),
                  t - halfWidthDegrees >= lo, t + halfWidthDegrees <= hi else { return nil }
            return (line, t)
        }.sorted { $0.1 < $1.1 }
        guard !predicted.isEmpty else { throw LensError.invalidArgument("no calibrant reflection falls inside the pattern's 2θ range") }
        var groups = [[(CalibrantLine, Double)]]()
        for p in predicted {
            let upper = (BraggLaw.twoThetaDegrees(dSpacing: p.0.dAngstrom, wavelengthAngstrom: lastLambda) ?? p.1) + halfWidthDegrees
            if let last = groups.last?.last, p.1 - halfWidthDegrees < (BraggLaw.twoThetaDegrees(dSpacing: last.0.dAngstrom, wavelengthAngstrom: lastLambda) ?? last.1) + halfWidthDegrees,
               upper <= hi {
                groups[groups.count - 1].append(p)
            } else {
                groups.append([p])
            }
        }
        var fittedLines = [(CalibrantLine, Double, FittedPeak)]()
        for group in groups {
            let first = group.first!.1, last = group.last!
            let top = Swift.min(hi, (BraggLaw.twoThetaDegrees(dSpacing: last.0.dAngstrom, wavelengthAngstrom: lastLambda) ?? last.1) + halfWidthDegrees)
            guard let fit = try? BraggPeakFit.fit(pattern, window: (first - halfWidthDegrees)...top, centres: group.map(\.1), radiation: radiation) else { continue }
            for ((line, t), peak) in zip(group, fit.peaks) {
                guard let se = peak.areaError, peak.area > minimumSignificance * se, abs(peak.centreDegrees - t) < halfWidthDegrees / 2,
                      peak.centreErrorDegrees.map({ $0.isFinite && $0 > 0 }) ?? false else { continue }
                fittedLines.append((line, t, peak))
            }
        }
        let unknowns = refineWavelength ? 2 : 1
        guard fittedLines.count >= unknowns + 1 else {
            throw LensError.invalidArgument("only \(fittedLines.count) calibrant reflections could be fitted: too few to calibrate (check the wavelength, the calibrant and the window)")
        }
        // Weighted least squares for (z) or (z, λ) by Levenberg–Marquardt (λ enters through asin).
        let observed = fittedLines.map { $0.2.centreDegrees }, sigma = fittedLines.map { $0.2.centreErrorDegrees! }
        let d = fittedLines.map { $0.0.dAngstrom }
        func model(_ p: [Double], _ i: Int) -> Double {
            let l = refineWavelength ? p[1] : lambda
            return (BraggLaw.twoThetaDegrees(dSpacing: d[i], wavelengthAngstrom: l) ?? 180) + p[0]
        }
        let fit = try LevenbergMarquardt.fit(initial: refineWavelength ? [0, lambda] : [0], residualCount: observed.count) { p, r in
            for i in observed.indices { r[i] = (observed[i] - model(p, i)) / sigma[i] }
        }
        let chi2 = fit.reducedChiSquared
        let errors = fit.unscaledCovariance.map { c in (0..<c.rows).map { (c[$0, $0] * Swift.max(1, chi2)).squareRoot() } }
        let lines = fittedLines.enumerated().map { i, l in
            Line(dAngstrom: l.0.dAngstrom, hkl: l.0.hkl, predictedDegrees: l.1, fitted: l.2, residualDegrees: observed[i] - model(fit.parameters, i))
        }
        let rms = (lines.reduce(0) { $0 + $1.residualDegrees * $1.residualDegrees } / Double(lines.count)).squareRoot()
        return Result(zeroShiftDegrees: fit.parameters[0], zeroShiftErrorDegrees: errors?[0],
                      wavelengthAngstrom: refineWavelength ? fit.parameters[1] : lambda, wavelengthErrorAngstrom: refineWavelength ? errors?[1] : nil,
                      lines: lines, rmsResidualDegrees: rms)
    }

    /// The cell of a calibrated pattern's indexed lines (their fitted positions, less the zero
    /// shift, converted to d at the calibrated wavelength) by `LatticeRefinement`.
    public static func cell(of result: Result, system: UnitCell.System) throws -> LatticeRefinement.Result {
        let observations = result.lines.compactMap { line -> (hkl: MillerIndex, dAngstrom: Double, sigmaAngstrom: Double)? in
            guard let hkl = line.hkl, let se = line.fitted.centreErrorDegrees else { return nil }
            let t = line.fitted.centreDegrees - result.zeroShiftDegrees
            let dd = BraggLaw.dSpacing(twoThetaDegrees: t, wavelengthAngstrom: result.wavelengthAngstrom)
            // |∂d/∂2θ| = d·cot θ / 2 per radian of 2θ.
            let sd = dd / tan(t * .pi / 360) / 2 * se * .pi / 180
            return (hkl, dd, sd)
        }
        return try LatticeRefinement.refine(system: system, observations: observations)
    }
}
