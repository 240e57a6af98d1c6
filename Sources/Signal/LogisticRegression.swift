import Foundation
import LensCore

/// Binary logistic regression P(y = 1 | x) = 1 / (1 + e^{−(β₀ + Σ βⱼ xⱼ)}), fitted by maximum
/// likelihood with Newton–Raphson (iteratively reweighted least squares). Predictors are
/// standardized internally (z-scores) for a well-conditioned Hessian and reported both per
/// standard deviation and per unit. Significance per slope by the Wald test (z = β/SE,
/// two-sided p from the normal distribution) and for the whole model by the likelihood-ratio
/// test against the intercept-only model (χ² with as many degrees of freedom as predictors).
public struct LogisticFit: Codable, Sendable, Equatable {
    public struct Coefficient: Codable, Sendable, Equatable {
        public var name: String
        /// Change of the log-odds per unit of the predictor, and its standard error.
        public var perUnit: Double
        public var standardErrorPerUnit: Double
        /// Change of the log-odds per standard deviation of the predictor (comparable across
        /// predictors).
        public var perStandardDeviation: Double
        public var waldZ: Double
        public var pValue: Double
        /// Odds ratio per standard deviation, e^{β·sd}.
        public var oddsRatioPerStandardDeviation: Double
    }
    public var intercept: Double
    public var coefficients: [Coefficient]
    public var observations: Int
    public var events: Int
    public var logLikelihood: Double
    /// Likelihood-ratio χ² against the intercept-only model, and its p-value.
    public var likelihoodRatioChiSquare: Double
    public var likelihoodRatioPValue: Double
    public var iterations: Int
    /// False when the outcome is perfectly separated (estimates then run to infinity; the last
    /// iterate is reported and should not be read as a slope).
    public var converged: Bool
}

public enum LogisticRegression {
    public static func fit(predictors: [[Double]], names: [String], outcomes: [Bool], maximumIterations: Int = 50) throws -> LogisticFit {
        let n = outcomes.count, k = predictors.count
        guard k >= 1, names.count == k else { throw LensError.invalidArgument("logistic regression needs at least one predictor with a name for each") }
        guard predictors.allSatisfy({ $0.count == n }) else { throw LensError.invalidArgument("every predictor needs one value per outcome (\(n))") }
        guard n > k + 1 else { throw LensError.invalidArgument("logistic regression with \(k) predictors needs more than \(k + 1) observations, got \(n)") }
        guard predictors.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { throw LensError.invalidArgument("predictor values must be finite") }
        let events = outcomes.filter { $0 }.count
        guard events > 0, events < n else { throw LensError.invalidArgument("logistic regression needs both outcomes; all \(n) observations are \(events > 0 ? "events" : "non-events")") }
        let means = predictors.map { Statistics.mean($0) }
        let deviations = predictors.map { Statistics.standardDeviation($0, ddof: 0) }
        guard deviations.allSatisfy({ $0 > 0 }) else { throw LensError.invalidArgument("a predictor is constant: it cannot explain the outcome") }
        // Design: intercept and standardized predictors.
        let p = k + 1
        func row(_ i: Int) -> [Double] { [1] + (0..<k).map { (predictors[$0][i] - means[$0]) / deviations[$0] } }
        let rows = (0..<n).map(row)
        let y = outcomes.map { $0 ? 1.0 : 0.0 }
        var beta = [Double](repeating: 0, count: p)
        beta[0] = log(Double(events) / Double(n - events))
        func logLikelihood(_ b: [Double]) -> Double {
            var sum = 0.0
            for i in 0..<n {
                let eta = zip(rows[i], b).reduce(0) { $0 + $1.0 * $1.1 }
                // log(1 + e^η) computed stably.
                let softplus = eta > 0 ? eta + log1p(exp(-eta)) : log1p(exp(eta))
                sum += y[i] * eta - softplus
            }
            return sum
        }
        var current = logLikelihood(beta)
        let nullLikelihood = current
        var iterations = 0, converged = false
        var information = Matrix(rows: p, columns: p)
        while iterations < maximumIterations {
            iterations += 1
            var gradient = [Double](repeating: 0, count: p)
            information = Matrix(rows: p, columns: p)
            for i in 0..<n {
                let eta = zip(rows[i], beta).reduce(0) { $0 + $1.0 * $1.1 }
                let mu = 1 / (1 + exp(-eta)), w = mu * (1 - mu)
                for a in 0..<p {
                    gradient[a] += (y[i] - mu) * rows[i][a]
                    for b in 0..<p { information[a, b] += w * rows[i][a] * rows[i][b] }
                }
            }
            guard let inverse = information.inverseSymmetricPositiveDefinite() else { break }
            let step = inverse.multiply(gradient)
            // Step halving keeps the likelihood rising.
            var scale = 1.0, next = beta, value = current
            for _ in 0..<30 {
                next = zip(beta, step).map { $0 + scale * $1 }
                value = logLikelihood(next)
                if value >= current - 1e-12 { break }
                scale /= 2
            }
            beta = next
            let change = abs(value - current)
            current = value
            if change < 1e-10 * (1 + abs(current)) && step.map(abs).max()! * scale < 1e-8 { converged = true; break }
            if change < 1e-12 { converged = true; break }
        }
        // Information at the estimate for the standard errors.
        information = Matrix(rows: p, columns: p)
        for i in 0..<n {
            let eta = zip(rows[i], beta).reduce(0) { $0 + $1.0 * $1.1 }
            let mu = 1 / (1 + exp(-eta)), w = mu * (1 - mu)
            for a in 0..<p { for b in 0..<p { information[a, b] += w * rows[i][a] * rows[i][b] } }
        }
        let covariance = information.inverseSymmetricPositiveDefinite()
        // Separation: fitted probabilities at 0 or 1 and slopes still growing.
        if beta.contains(where: { abs($0) > 30 }) { converged = false }
        var coefficients = [LogisticFit.Coefficient]()
        for j in 0..<k {
            let perSD = beta[j + 1]
            let seSD = covariance.map { $0[j + 1, j + 1].squareRoot() } ?? .nan
            let z = perSD / seSD
            coefficients.append(.init(name: names[j], perUnit: perSD / deviations[j], standardErrorPerUnit: seSD / deviations[j],
                                      perStandardDeviation: perSD, waldZ: z, pValue: erfc(abs(z) / 2.0.squareRoot()),
                                      oddsRatioPerStandardDeviation: exp(perSD)))
        }
        let intercept = beta[0] - (0..<k).reduce(0.0) { $0 + beta[$1 + 1] * means[$1] / deviations[$1] }
        let chi = Swift.max(0, 2 * (current - nullLikelihood))
        return LogisticFit(intercept: intercept, coefficients: coefficients, observations: n, events: events, logLikelihood: current,
                           likelihoodRatioChiSquare: chi, likelihoodRatioPValue: chiSquareSurvival(chi, degrees: k),
                           iterations: iterations, converged: converged)
    }

    /// P(χ²_ν > x) through the regularized upper incomplete gamma function Q(ν/2, x/2)
    /// (series below a + 1, continued fraction above; Numerical Recipes §6.2).
    public static func chiSquareSurvival(_ x: Double, degrees: Int) -> Double {
        guard x > 0 else { return 1 }
        let a = Double(degrees) / 2, t = x / 2
        let logPrefix = a * log(t) - t - lgamma(a)
        if t < a + 1 {
            var sum = 1 / a, term = 1 / a, ap = a
            for _ in 0..<1000 { ap += 1; term *= t / ap; sum += term; if abs(term) < abs(sum) * 1e-15 { break } }
            return Swift.max(0, 1 - sum * exp(logPrefix))
        }
        var b = t + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d
        for i in 1..<1000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < 1e-300 { d = 1e-300 }
            c = b + an / c; if abs(c) < 1e-300 { c = 1e-300 }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-15 { break }
        }
        return Swift.min(1, exp(logPrefix) * h)
    }
}

/// A proportion with its Wilson score interval (Wilson 1927): better behaved than the normal
/// approximation for few observations or proportions near 0 or 1.
public struct BinomialProportion: Codable, Sendable, Equatable {
    public var successes: Int
    public var trials: Int
    public var proportion: Double
    public var lower: Double
    public var upper: Double

    /// - Parameter z: the normal quantile of the interval (1.96: 95 %).
    public init(successes: Int, trials: Int, z: Double = 1.96) {
        self.successes = successes; self.trials = trials
        guard trials > 0 else { proportion = .nan; lower = 0; upper = 1; return }
        let n = Double(trials), p = Double(successes) / n
        let denominator = 1 + z * z / n
        let centre = (p + z * z / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z * z / (4 * n * n)).squareRoot() / denominator
        proportion = p; lower = Swift.max(0, centre - half); upper = Swift.min(1, centre + half)
    }
}
