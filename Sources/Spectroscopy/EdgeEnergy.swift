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
    /// curvature by up to ~0.1 eV on 1 eV steps); σ_E² = (Σ L_j(E)² σ_j² + σ_level²) / P′(E)² by
    /// the implicit-function theorem, L_j the cubic's Lagrange basis. `levelSigma` is the
    /// uncertainty of the level itself in normalized units — the normalization's: the pre-edge
    /// line and the edge step come from fits to noisy points, which move the half height of
    /// every point together (for level ½: σ_level = ½ σ_step/step, the pre-edge and post-edge
    /// variances at E0 weighted ½ each). Without it the edge σ of a TXM pixel was 1.5× too small.
    public static func crossing(energies: [Double], values: [Double], level: Double = 0.5, near: Double? = nil,
                                sigma: [Double]? = nil, levelSigma: Double = 0) -> EnergyEstimate {
        let n = energies.count
        var best = -1, bestScore = Double.infinity
        for k in 0..<(n - 1) where values[k] < level && values[k + 1] >= level {
            let score = near.map { abs(0.5 * (energies[k] + energies[k + 1]) - $0) } ?? -(values[k + 1] - values[k]) / (energies[k + 1] - energies[k])
            if score < bestScore { bestScore = score; best = k }
        }
        guard best >= 0, n >= 4 else { return .missing }
        let lo = max(0, min(n - 4, best - 1))
        // The cubic through the four points around the crossing, expanded in t = E − E_lo:
        // P(t) = Σ y_j w_j Π_{m≠j}(t − u_m), u_m = E_m − E_lo, w_j the barycentric weights
        // 1/Π_{m≠j}(u_j − u_m) (kept in SIMD registers: this runs per pixel).
        let u = SIMD4(0, energies[lo + 1] - energies[lo], energies[lo + 2] - energies[lo], energies[lo + 3] - energies[lo])
        let ys = SIMD4(values[lo], values[lo + 1], values[lo + 2], values[lo + 3])
        var w = SIMD4<Double>(repeating: 1)
        for j in 0..<4 { for m in 0..<4 where m != j { w[j] *= u[j] - u[m] } }
        w = 1 / w
        // Coefficients of P(t) − level: Π of the other three (t − a) is t³ − e₁t² + e₂t − e₃.
        var c = SIMD4<Double>(-level, 0, 0, 0)
        for j in 0..<4 {
            let (a, b, d) = (u[(j + 1) % 4], u[(j + 2) % 4], u[(j + 3) % 4])
            let g = ys[j] * w[j]
            let (e1, e2, e3): (Double, Double, Double) = (a + b + d, a * b + b * d + a * d, a * b * d)
            c += g * SIMD4(-e3, e2, -e1, 1)
        }
        @inline(__always) func p(_ t: Double) -> Double { ((c[3] * t + c[2]) * t + c[1]) * t + c[0] }
        @inline(__always) func dp(_ t: Double) -> Double { (3 * c[3] * t + 2 * c[2]) * t + c[1] }
        // Bracketed Newton from the linear estimate.
        let (a, b) = (energies[best] - energies[lo], energies[best + 1] - energies[lo])
        var t = a + (level - values[best]) * (b - a) / (values[best + 1] - values[best])
        for _ in 0..<20 {
            let d = dp(t)
            guard d > 0 else { break }
            let next = min(b, max(a, t - p(t) / d))
            if abs(next - t) < 1e-9 { t = next; break }
            t = next
        }
        let x = energies[lo] + t
        guard let sigma else { return EnergyEstimate(energy: x, uncertainty: .nan) }
        let slope = dp(t)
        var variance = 0.0
        for j in 0..<4 {
            var basis = w[j]
            for m in 0..<4 where m != j { basis *= t - u[m] }
            let e = basis * sigma[lo + j]
            variance += e * e
        }
        if levelSigma.isFinite { variance += levelSigma * levelSigma }
        variance /= slope * slope
        return EnergyEstimate(energy: x, uncertainty: slope > 0 ? variance.squareRoot() : .nan)
    }

    /// The energy of the largest derivative dμ/dE (central differences on the energy grid,
    /// after a 3-point binomial smoothing when `smooth`), refined by the vertex of the parabola
    /// through the derivative's maximum and its two neighbours. Points in the first and last 2 %
    /// (at least 3) are ignored, as Larch's `find_e0` does for end glitches. The uncertainty is
    /// propagated linearly (analytic Jacobian of the vertex with respect to the 7 points it
    /// depends on); without a vertex, the grid point's sampling uncertainty.
    public static func maximumDerivative(energies: [Double], values: [Double], smooth: Bool = true,
                                         within: ClosedRange<Double>? = nil, sigma: [Double]? = nil) throws -> EnergyEstimate {
        let n = energies.count
        guard n >= 7 else { throw LensError.invalidArgument("a derivative edge needs at least 7 energies, got \(n)") }
        let margin = max(3, n / 50)
        return values.withUnsafeBufferPointer { v in
            energies.withUnsafeBufferPointer { e in
                @inline(__always) func smoothed(_ i: Int) -> Double {
                    smooth && i > 0 && i < n - 1 ? 0.25 * (v[i - 1] + v[i + 1]) + 0.5 * v[i] : v[i]
                }
                @inline(__always) func derivative(_ i: Int) -> Double {
                    guard i >= margin, i < n - margin else { return -.infinity }
                    if let within, !within.contains(e[i]) { return -.infinity }
                    return (smoothed(i + 1) - smoothed(i - 1)) / (e[i + 1] - e[i - 1])
                }
                // Only the points inside `within` are candidates (found by bisection).
                let first = max(margin, within.map { w in e.partitioningIndex { $0 >= w.lowerBound } } ?? 0)
                let end = min(n - margin, within.map { w in e.partitioningIndex { $0 > w.upperBound } } ?? n)
                guard first < end else { return .missing }
                var k = first, best = derivative(first)
                for i in (first + 1)..<end { let d = derivative(i); if d > best { best = d; k = i } }
                guard best.isFinite else { return .missing }
                let (x0, x1, x2) = (e[k - 1], e[k], e[k + 1])
                let (y0, y1, y2) = (derivative(k - 1), best, derivative(k + 1))
                // Without a parabolic vertex inside the three points: the grid point itself, with
                // its sampling uncertainty (± half the neighbouring spacing, σ = spacing/√12).
                let sampling = EnergyEstimate(energy: x1, uncertainty: sigma == nil ? .nan : (x2 - x0) / 2 / 12.0.squareRoot())
                guard y0.isFinite, y2.isFinite else { return sampling }
                // Vertex of the parabola through three (possibly unequally spaced) points.
                let denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
                let a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
                let b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
                guard a < 0 else { return sampling }
                let vertex = -b / (2 * a)
                guard vertex > x0, vertex < x2 else { return EnergyEstimate(energy: min(x2, max(x0, vertex)), uncertainty: sampling.uncertainty) }
                guard let sigma else { return EnergyEstimate(energy: vertex, uncertainty: .nan) }
                // Linear error propagation, analytic: ∂x*/∂yᵢ = (b ∂a/∂yᵢ − a ∂b/∂yᵢ)/(2a²) for
                // the three derivative values, each a fixed linear combination of the points
                // k − 3 … k + 3 (smoothing, then central differences).
                let da = SIMD3(x1 - x2, x2 - x0, x0 - x1) / denom
                let db = SIMD3(x2 * x2 - x1 * x1, x0 * x0 - x2 * x2, x1 * x1 - x0 * x0) / denom
                let dx = (b * da - a * db) / (2 * a * a)
                var variance = 0.0
                for j in max(0, k - 3)...min(n - 1, k + 3) {
                    // ∂S_m/∂v_j for the smoothing, then ∂d_i/∂v_j = (∂S_{i+1} − ∂S_{i−1})/(E_{i+1} − E_{i−1}).
                    @inline(__always) func ds(_ m: Int) -> Double {
                        guard smooth && m > 0 && m < n - 1 else { return m == j ? 1 : 0 }
                        return m == j ? 0.5 : abs(m - j) == 1 ? 0.25 : 0
                    }
                    var g = 0.0
                    for c in 0..<3 { let i = k - 1 + c; g += dx[c] * (ds(i + 1) - ds(i - 1)) / (e[i + 1] - e[i - 1]) }
                    variance += g * g * sigma[j] * sigma[j]
                }
                return EnergyEstimate(energy: vertex, uncertainty: variance.squareRoot())
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
        // weighted moments Σw tᵏ (k ≤ 4) and Σw tᵏ y (k ≤ 2), solved by the adjugate (per pixel,
        // so no heap allocation).
        var m0 = 0.0, m1 = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0, r0 = 0.0, r1 = 0.0, r2 = 0.0
        for i in lo..<hi {
            let t = energies[i] - centre, w = sigma.map { 1 / max(1e-12, $0[i] * $0[i]) } ?? 1
            let t2 = t * t, v = values[i]
            m0 += w; m1 += w * t; m2 += w * t2; m3 += w * t2 * t; m4 += w * t2 * t2
            r0 += w * v; r1 += w * t * v; r2 += w * t2 * v
        }
        // Inverse of [[m0 m1 m2] [m1 m2 m3] [m2 m3 m4]].
        let a00 = m2 * m4 - m3 * m3, a01 = m2 * m3 - m1 * m4, a02 = m1 * m3 - m2 * m2
        let a11 = m0 * m4 - m2 * m2, a12 = m1 * m2 - m0 * m3, a22 = m0 * m2 - m1 * m1
        let det = m0 * a00 + m1 * a01 + m2 * a02
        guard det > 1e-300 * max(1, m0 * m2 * m4), det.isFinite else { return (.missing, .missing) }
        let (i00, i01, i02, i11, i12, i22) = (a00 / det, a01 / det, a02 / det, a11 / det, a12 / det, a22 / det)
        let c = SIMD3(i00 * r0 + i01 * r1 + i02 * r2, i01 * r0 + i11 * r1 + i12 * r2, i02 * r0 + i12 * r1 + i22 * r2)
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
        let gE = SIMD3(0, -1 / (2 * c[2]), c[1] / (2 * c[2] * c[2]))
        let gH = SIMD3(1, tv, tv * tv)      // at the vertex ∂h/∂t = 0, so only the explicit terms
        func variance(_ g: SIMD3<Double>) -> Double {
            let s = g[0] * (i00 * g[0] + i01 * g[1] + i02 * g[2]) + g[1] * (i01 * g[0] + i11 * g[1] + i12 * g[2])
                + g[2] * (i02 * g[0] + i12 * g[1] + i22 * g[2])
            return s * scale
        }
        return (EnergyEstimate(energy: centre + tv, uncertainty: variance(gE).squareRoot()),
                EnergyEstimate(energy: height, uncertainty: variance(gH).squareRoot()))
    }
}
