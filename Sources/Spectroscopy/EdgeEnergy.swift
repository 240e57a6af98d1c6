import Foundation
import LensCore
import Signal

/// An energy estimate with its standard uncertainty (eV); `value` is NaN when not found.
public struct EnergyEstimate: Sendable, Equatable {
    public var energy: Double
    public var uncertainty: Double
    public static let missing = EnergyEstimate(energy: .nan, uncertainty: .nan)
}

/// Edge and white-line positions of a (normalized) spectrum, with uncertainties propagated
/// from per-point standard deviations σ (linear error propagation through each estimator).
public enum EdgeEnergy {
    /// The energy where normalized μ crosses `level` (0.5: half the edge step), taking the
    /// upward crossing nearest `near` (nil: the steepest). The crossing is the root of the cubic
    /// through the four points around it (linear interpolation alone is biased by the edge's
    /// curvature by up to ~0.1 eV on 1 eV steps); σ_E² = Σ L_j(E)² σ_j² / P′(E)² by the
    /// implicit-function theorem, L_j the cubic's Lagrange basis.
    public static func crossing(energies: [Double], values: [Double], level: Double = 0.5, near: Double? = nil,
                                sigma: [Double]? = nil) -> EnergyEstimate {
        let n = energies.count
        var best = -1, bestScore = Double.infinity
        for k in 0..<(n - 1) where values[k] < level && values[k + 1] >= level {
            let score = near.map { abs(0.5 * (energies[k] + energies[k + 1]) - $0) } ?? -(values[k + 1] - values[k]) / (energies[k + 1] - energies[k])
            if score < bestScore { bestScore = score; best = k }
        }
        guard best >= 0 else { return .missing }
        let lo = max(0, min(n - 4, best - 1))
        let idx = Array(lo..<min(n, lo + 4))
        let xs = idx.map { energies[$0] }, ys = idx.map { values[$0] }
        func basis(_ j: Int, _ x: Double) -> Double {
            var v = 1.0
            for m in xs.indices where m != j { v *= (x - xs[m]) / (xs[j] - xs[m]) }
            return v
        }
        func p(_ x: Double) -> Double { xs.indices.reduce(0) { $0 + ys[$1] * basis($1, x) } - level }
        func dp(_ x: Double) -> Double { let h = 1e-4 * (xs[xs.count - 1] - xs[0]); return (p(x + h) - p(x - h)) / (2 * h) }
        // Bracketed Newton from the linear estimate.
        let (a, b) = (energies[best], energies[best + 1])
        var x = a + (level - values[best]) * (b - a) / (values[best + 1] - values[best])
        for _ in 0..<20 {
            let d = dp(x)
            guard d > 0 else { break }
            let next = min(b, max(a, x - p(x) / d))
            if abs(next - x) < 1e-9 { x = next; break }
            x = next
        }
        guard let sigma else { return EnergyEstimate(energy: x, uncertainty: .nan) }
        let slope = dp(x)
        let variance = xs.indices.reduce(0.0) { $0 + pow(basis($1, x) * sigma[idx[$1]], 2) } / (slope * slope)
        return EnergyEstimate(energy: x, uncertainty: slope > 0 ? variance.squareRoot() : .nan)
    }

    /// The energy of the largest derivative dμ/dE (central differences on the energy grid,
    /// after a 3-point binomial smoothing when `smooth`), refined by the vertex of the parabola
    /// through the derivative's maximum and its two neighbours. Points in the first and last 2 %
    /// (at least 3) are ignored, as Larch's `find_e0` does for end glitches. The uncertainty
    /// comes from the numerical Jacobian of the estimate with respect to the 9 points around it.
    public static func maximumDerivative(energies: [Double], values: [Double], smooth: Bool = true,
                                         within: ClosedRange<Double>? = nil, sigma: [Double]? = nil) throws -> EnergyEstimate {
        let n = energies.count
        guard n >= 7 else { throw LensError.invalidArgument("a derivative edge needs at least 7 energies, got \(n)") }
        let margin = max(3, n / 50)
        return values.withUnsafeBufferPointer { v in
            energies.withUnsafeBufferPointer { e in
                // The estimate from the values with `delta` added at index `j`, searching the
                // derivative's maximum over lo...hi (no allocation: it runs 10 times per pixel).
                func estimate(_ j: Int, _ delta: Double, _ lo: Int, _ hi: Int) -> (Double, Int) {
                    @inline(__always) func value(_ i: Int) -> Double { i == j ? v[i] + delta : v[i] }
                    @inline(__always) func smoothed(_ i: Int) -> Double {
                        smooth && i > 0 && i < n - 1 ? 0.25 * (value(i - 1) + value(i + 1)) + 0.5 * value(i) : value(i)
                    }
                    @inline(__always) func derivative(_ i: Int) -> Double {
                        guard i >= margin, i < n - margin else { return -.infinity }
                        if let within, !within.contains(e[i]) { return -.infinity }
                        return (smoothed(i + 1) - smoothed(i - 1)) / (e[i + 1] - e[i - 1])
                    }
                    var k = lo, best = derivative(lo)
                    if lo < hi { for i in (lo + 1)...hi { let d = derivative(i); if d > best { best = d; k = i } } }
                    guard best.isFinite else { return (.nan, k) }
                    let (x0, x1, x2) = (e[k - 1], e[k], e[k + 1])
                    let (y0, y1, y2) = (derivative(k - 1), best, derivative(k + 1))
                    guard y0.isFinite, y2.isFinite else { return (x1, k) }
                    // Vertex of the parabola through three (possibly unequally spaced) points.
                    let denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
                    let a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
                    let b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
                    guard a < 0 else { return (x1, k) }
                    return (min(x2, max(x0, -b / (2 * a))), k)
                }
                let (estimateEnergy, k) = estimate(-1, 0, margin, n - margin - 1)
                guard estimateEnergy.isFinite else { return .missing }
                guard let sigma else { return EnergyEstimate(energy: estimateEnergy, uncertainty: .nan) }
                // A perturbation at j changes the derivative only within j ± 2, so the maximum
                // can only move within k ± 6.
                let (lo, hi) = (max(margin, k - 6), min(n - margin - 1, k + 6))
                var variance = 0.0
                for j in max(0, k - 4)...min(n - 1, k + 4) {
                    let h = max(1e-6, sigma[j])
                    let (ep, _) = estimate(j, h, lo, hi)
                    if ep.isFinite { variance += pow((ep - estimateEnergy) / h * sigma[j], 2) }
                }
                return EnergyEstimate(energy: estimateEnergy, uncertainty: variance.squareRoot())
            }
        }
    }

    /// The white line: the maximum of normalized μ within `window`, located by a least-squares
    /// parabola through the `points` samples centred on the largest value. Returns the vertex
    /// energy and height with uncertainties from the fit covariance (σ per point given) or from
    /// the fit residuals. Where the parabola has no maximum (a peak the energy grid does not
    /// resolve), the largest sample with its sampling uncertainty.
    public static func whiteLine(energies: [Double], values: [Double], window: ClosedRange<Double>, points: Int = 5,
                                 sigma: [Double]? = nil) -> (energy: EnergyEstimate, height: EnergyEstimate) {
        var top = -1
        for i in energies.indices where window.contains(energies[i]) && (top < 0 || values[i] > values[top]) { top = i }
        guard top >= 0 else { return (.missing, .missing) }
        let half = points / 2
        let lo = max(0, min(energies.count - points, top - half))
        let hi = min(energies.count, lo + points)
        guard hi - lo >= 3 else { return (.missing, .missing) }
        let centre = energies[top]
        // Weighted least squares y = c0 + c1 t + c2 t², t = E − centre: normal equations from the
        // weighted moments Σw tᵏ (k ≤ 4) and Σw tᵏ y (k ≤ 2).
        var moment = [Double](repeating: 0, count: 5), rhs = [0.0, 0.0, 0.0]
        for i in lo..<hi {
            let t = energies[i] - centre, w = sigma.map { 1 / max(1e-12, $0[i] * $0[i]) } ?? 1
            var power = w
            for k in 0..<5 {
                moment[k] += power
                if k < 3 { rhs[k] += power * values[i] }
                power *= t
            }
        }
        var normal = Matrix(rows: 3, columns: 3)
        for a in 0..<3 { for b in 0..<3 { normal[a, b] = moment[a + b] } }
        guard let inverse = normal.inverseSymmetricPositiveDefinite() else { return (.missing, .missing) }
        let c = (0..<3).map { a in (0..<3).reduce(0.0) { $0 + inverse[a, $1] * rhs[$1] } }
        guard c[2] < 0 else {
            // No parabolic maximum (the peak is not resolved by the grid, e.g. one side of it is
            // a coarse step): the largest sample, located to within its sampling interval — a
            // uniform error over ± half the mean neighbouring spacing, σ = spacing/√12.
            let spacing = (energies[min(energies.count - 1, top + 1)] - energies[max(0, top - 1)]) / 2
            return (EnergyEstimate(energy: centre, uncertainty: spacing / 12.0.squareRoot()),
                    EnergyEstimate(energy: values[top], uncertainty: sigma.map { $0[top] } ?? .nan))
        }
        let tv = min(energies[hi - 1] - centre, max(energies[lo] - centre, -c[1] / (2 * c[2])))
        let height = c[0] + c[1] * tv + c[2] * tv * tv
        // Covariance: (XᵀWX)⁻¹ with known σ, else scaled by the residual variance.
        var scale = 1.0
        if sigma == nil {
            var rss = 0.0
            for i in lo..<hi { let t = energies[i] - centre; rss += pow(values[i] - (c[0] + c[1] * t + c[2] * t * t), 2) }
            scale = hi - lo > 3 ? rss / Double(hi - lo - 3) : .nan
        }
        // Gradients of the vertex position and height with respect to (c0, c1, c2).
        let gE = [0, -1 / (2 * c[2]), c[1] / (2 * c[2] * c[2])]
        let gH = [1, tv, tv * tv]      // at the vertex ∂h/∂t = 0, so only the explicit terms
        func variance(_ g: [Double]) -> Double {
            var s = 0.0
            for a in 0..<3 { for b in 0..<3 { s += g[a] * inverse[a, b] * g[b] } }
            return s * scale
        }
        return (EnergyEstimate(energy: centre + tv, uncertainty: variance(gE).squareRoot()),
                EnergyEstimate(energy: height, uncertainty: variance(gH).squareRoot()))
    }
}
