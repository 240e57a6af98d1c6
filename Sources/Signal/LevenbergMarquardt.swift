import Foundation
import LensCore

/// Non-linear least squares for small models (peak fits, edge fits): minimizes
/// Σ rᵢ(p)² by the Levenberg–Marquardt method with Marquardt's diagonal scaling
/// (Moré, "The Levenberg–Marquardt algorithm: implementation and theory", 1978).
public enum LevenbergMarquardt {
    public struct Options: Sendable {
        public var maxIterations = 200
        /// Stop when the relative decrease of χ² falls below this.
        public var relativeTolerance = 1e-10
        /// Step for forward-difference Jacobians, relative to |p| (absolute when p = 0).
        public var differenceStep = 1e-7
        public init() {}
    }

    public struct Result: Sendable {
        public var parameters: [Double]
        /// Σ rᵢ² at the solution.
        public var chiSquared: Double
        /// χ² / (m − n).
        public var reducedChiSquared: Double
        /// Covariance of the parameters, (JᵀJ)⁻¹ · reduced χ² (nil when singular or m ≤ n).
        /// For residuals already divided by their σ, use ``unscaledCovariance`` instead.
        public var covariance: Matrix?
        /// (JᵀJ)⁻¹ without scaling, for weighted residuals.
        public var unscaledCovariance: Matrix?
        public var iterations: Int
        public var converged: Bool
        public var standardErrors: [Double]? { covariance.map { c in (0..<c.rows).map { c[$0, $0].squareRoot() } } }
    }

    /// - Parameters:
    ///   - initial: starting parameters.
    ///   - residualCount: m, the number of residuals.
    ///   - residuals: fills r(p) (length m) for parameters p.
    ///   - jacobian: optional analytic Jacobian, row-major m×n ∂rᵢ/∂pⱼ; forward differences otherwise.
    public static func fit(initial: [Double], residualCount m: Int, options: Options = Options(),
                           residuals: ([Double], inout [Double]) -> Void,
                           jacobian: (([Double], inout Matrix) -> Void)? = nil) throws -> Result {
        let n = initial.count
        guard m >= n, n > 0 else { throw LensError.numerical("Levenberg–Marquardt needs at least as many residuals (\(m)) as parameters (\(n))") }
        var p = initial
        var r = [Double](repeating: 0, count: m)
        residuals(p, &r)
        var chi2 = r.reduce(0) { $0 + $1 * $1 }
        guard chi2.isFinite else { throw LensError.numerical("Levenberg–Marquardt: residuals are not finite at the starting point") }
        var j = Matrix(rows: m, columns: n)
        var lambda = 1e-3
        var iterations = 0
        var converged = false
        var trial = [Double](repeating: 0, count: m)

        func computeJacobian(_ p: [Double], _ r: [Double]) {
            if let jacobian { jacobian(p, &j); return }
            var q = p
            for k in 0..<n {
                let h = options.differenceStep * Swift.max(Swift.abs(p[k]), 1e-3)
                q[k] = p[k] + h
                residuals(q, &trial)
                for i in 0..<m { j[i, k] = (trial[i] - r[i]) / h }
                q[k] = p[k]
            }
        }

        func normalEquations() -> (Matrix, [Double]) {
            var jtj = Matrix(rows: n, columns: n)
            var jtr = [Double](repeating: 0, count: n)
            for a in 0..<n {
                for b in 0...a {
                    var s = 0.0
                    for i in 0..<m { s += j[i, a] * j[i, b] }
                    jtj[a, b] = s; jtj[b, a] = s
                }
                var s = 0.0
                for i in 0..<m { s += j[i, a] * r[i] }
                jtr[a] = s
            }
            return (jtj, jtr)
        }

        computeJacobian(p, r)
        var (jtj, jtr) = normalEquations()
        while iterations < options.maxIterations {
            iterations += 1
            var improved = false
            for _ in 0..<30 {
                var damped = jtj
                for k in 0..<n { damped[k, k] = jtj[k, k] * (1 + lambda) + 1e-300 }
                guard let inverse = damped.inverseSymmetricPositiveDefinite() else { lambda *= 10; continue }
                let step = inverse.multiply(jtr).map { -$0 }
                let candidate = zip(p, step).map { $0 + $1 }
                residuals(candidate, &trial)
                let newChi2 = trial.reduce(0) { $0 + $1 * $1 }
                if newChi2.isFinite && newChi2 < chi2 {
                    let relative = (chi2 - newChi2) / Swift.max(chi2, 1e-300)
                    p = candidate; r = trial; chi2 = newChi2
                    lambda = Swift.max(lambda / 10, 1e-12)
                    improved = true
                    if relative < options.relativeTolerance { converged = true }
                    break
                }
                lambda *= 10
            }
            if !improved { converged = true; break }   // no downhill step at any damping: a minimum
            computeJacobian(p, r)
            (jtj, jtr) = normalEquations()
            if converged || chi2 == 0 { converged = true; break }
        }
        let unscaled = jtj.inverseSymmetricPositiveDefinite()
        let reduced = m > n ? chi2 / Double(m - n) : .nan
        var covariance: Matrix?
        if var c = unscaled, m > n {
            for k in 0..<c.values.count { c.values[k] *= reduced }
            covariance = c
        }
        return Result(parameters: p, chiSquared: chi2, reducedChiSquared: reduced, covariance: covariance,
                      unscaledCovariance: unscaled, iterations: iterations, converged: converged)
    }
}
