import Foundation
import LensCore
import Signal

/// A reference spectrum (normalized μ on its own energy grid) for linear combination fitting.
public struct ReferenceSpectrum: Sendable {
    public var name: String
    public var energies: [Double]
    public var values: [Double]
    public init(name: String, energies: [Double], values: [Double]) throws {
        try SpectrumCheck.validate(energies: energies, values: values, name: "reference \(name)")
        self.name = name; self.energies = energies; self.values = values
    }
}

/// Linear combination fitting of spectra by reference spectra (as Larch's `lincombo_fit`,
/// unweighted least squares over a fit window): non-negative weights, optionally summing to
/// one. The references are interpolated onto the data energies inside the window and never
/// extrapolated: a window the references do not cover is an error.
public struct LinearCombinationFit: Sendable {
    public let references: [ReferenceSpectrum]
    public let sumToOne: Bool
    /// Indices of the data energies inside the fit window.
    public let window: [Int]
    /// Reference values at those energies: design[k][j] for energy window[k], reference j.
    let design: [[Double]]

    public struct Result: Sendable {
        public var weights: [Double]
        public var standardErrors: [Double]
        /// Σ(y − ŷ)² / Σy² over the window (Larch's R-factor).
        public var rFactor: Double
        /// Σ((y − ŷ)/σ)² / (points − free weights), when σ is given; else the residual variance.
        public var reducedChiSquare: Double
    }

    public init(references: [ReferenceSpectrum], energies: [Double], window: ClosedRange<Double>? = nil, sumToOne: Bool = true) throws {
        guard !references.isEmpty else { throw LensError.invalidArgument("linear combination fitting needs at least one reference") }
        let covered = references.map { $0.energies[0] }.max()!...references.map { $0.energies[$0.energies.count - 1] }.min()!
        let fitWindow = window ?? covered
        guard fitWindow.lowerBound >= covered.lowerBound, fitWindow.upperBound <= covered.upperBound else {
            let culprit = references.first { $0.energies[0] > fitWindow.lowerBound || $0.energies[$0.energies.count - 1] < fitWindow.upperBound }!
            throw LensError.invalidArgument("reference \(culprit.name) covers \(culprit.energies[0])–\(culprit.energies[culprit.energies.count - 1]) eV, not the fit window \(fitWindow.lowerBound)–\(fitWindow.upperBound) eV (references are never extrapolated)")
        }
        let inside = energies.indices.filter { fitWindow.contains(energies[$0]) }
        guard inside.count > references.count else {
            throw LensError.invalidArgument("the fit window \(fitWindow.lowerBound)–\(fitWindow.upperBound) eV holds \(inside.count) energies, fewer than needed for \(references.count) references")
        }
        let columns = try references.map { r in try LinearInterpolation(x: r.energies, y: r.values).values(at: inside.map { energies[$0] }) }
        self.references = references; self.sumToOne = sumToOne; self.window = inside
        design = inside.indices.map { k in columns.map { $0[k] } }
    }

    /// Fits one spectrum given on the data energies (all of them; only the window is used).
    /// `sigma`: per-energy standard deviations, for the reduced χ² and standard errors.
    public func fit(_ spectrum: UnsafePointer<Double>, sigma: UnsafePointer<Double>? = nil) -> Result {
        let m = window.count, n = references.count
        let y = window.map { spectrum[$0] }
        // Active-set search over subsets is exponential; NNLS (with the sum-to-one row heavily
        // weighted) finds the active set, then the weights are refitted exactly on it.
        var a = Matrix(rows: m + (sumToOne ? 1 : 0), columns: n)
        var b = y
        for k in 0..<m { for j in 0..<n { a[k, j] = design[k][j] } }
        if sumToOne {
            let scale = 1e3 * max(1, y.map(abs).max() ?? 1)
            for j in 0..<n { a[m, j] = scale }
            b.append(scale)
        }
        let nnls = (try? NonNegativeLeastSquares.solve(a, b))?.coefficients ?? [Double](repeating: .nan, count: n)
        let active = (0..<n).filter { nnls[$0] > 0 }
        var weights = [Double](repeating: 0, count: n)
        var errors = [Double](repeating: 0, count: n)
        if active.count == 1 && sumToOne {
            weights[active[0]] = 1
        } else if !active.isEmpty {
            // Exact constrained refit on the active set: with sum-to-one, the last active weight
            // is 1 − Σ others and the free ones solve (R_j − R_last) w = y − R_last.
            let free = sumToOne ? Array(active.dropLast()) : active
            let last = sumToOne ? active.last! : -1
            var design2 = Matrix(rows: m, columns: free.count)
            var target = y
            for k in 0..<m {
                for (c, j) in free.enumerated() { design2[k, c] = design[k][j] - (last >= 0 ? design[k][last] : 0) }
                if last >= 0 { target[k] -= design[k][last] }
            }
            if let solution = try? LeastSquares.solve(design2, target) {
                for (c, j) in free.enumerated() { weights[j] = solution.coefficients[c] }
                if last >= 0 { weights[last] = 1 - free.reduce(0) { $0 + weights[$1] } }
                // Standard errors: σ²(XᵀX)⁻¹ with σ² the residual variance (or 1 with known σ,
                // then scaled by the reduced χ² only when no σ is given).
                if let covariance = solution.covariance {
                    var varianceLast = 0.0
                    for (c, j) in free.enumerated() {
                        errors[j] = covariance[c, c].squareRoot()
                        for (d, _) in free.enumerated() { varianceLast += covariance[c, d] }
                    }
                    if last >= 0 { errors[last] = max(0, varianceLast).squareRoot() }
                }
            }
            if weights.contains(where: { !$0.isFinite || $0 < 0 }) {
                weights = nnls; errors = [Double](repeating: .nan, count: n)
            }
        }
        var rss = 0.0, sumY2 = 0.0, chi2 = 0.0
        for k in 0..<m {
            let fitted = (0..<n).reduce(0.0) { $0 + weights[$1] * design[k][$1] }
            let r = y[k] - fitted
            rss += r * r; sumY2 += y[k] * y[k]
            if let sigma { chi2 += r * r / max(1e-300, sigma[window[k]] * sigma[window[k]]) }
        }
        let dof = Double(max(1, m - (sumToOne ? max(0, active.count - 1) : active.count)))
        // LeastSquares' covariance is s²(XᵀX)⁻¹ with s² the residual variance; with known σ use
        // the mean σ² over the window instead (unweighted fit, nearly uniform noise).
        if let sigma, rss > 0 {
            let residualVariance = rss / dof
            let meanVariance = window.reduce(0.0) { $0 + sigma[$1] * sigma[$1] } / Double(m)
            errors = errors.map { $0 * (meanVariance / residualVariance).squareRoot() }
        }
        return Result(weights: weights, standardErrors: errors, rFactor: sumY2 > 0 ? rss / sumY2 : .nan,
                      reducedChiSquare: sigma != nil ? chi2 / dof : rss / dof)
    }
}
