import Foundation
import LensCore

/// Cubic B-splines on a knot vector (de Boor's recurrence), and interpolation with the
/// "not-a-knot" knots FITPACK's `splrep(x, y, k=3, s=0)` uses — the interior knots are the
/// data abscissae without the second and the second-to-last — so splines built here match
/// SciPy's (and Larch's, which calls SciPy) to rounding.
public struct CubicBSpline: Sendable {
    public let knots: [Double]
    /// Number of basis functions (coefficients): knots − 4.
    public var count: Int { knots.count - 4 }

    public init(knots: [Double]) throws {
        guard knots.count >= 8 else { throw LensError.invalidArgument("a cubic B-spline needs at least 8 knots, got \(knots.count)") }
        guard zip(knots, knots.dropFirst()).allSatisfy({ $0 <= $1 }) else { throw LensError.invalidArgument("spline knots must not decrease") }
        self.knots = knots
    }

    /// FITPACK's interpolation knots for abscissae x (at least 4, increasing).
    public static func notAKnotKnots(_ x: [Double]) -> [Double] {
        let n = x.count
        return [Double](repeating: x[0], count: 4) + Array(x[2..<(n - 2)]) + [Double](repeating: x[n - 1], count: 4)
    }

    /// The four non-zero basis functions at `x`: B_first … B_first+3 (x clamped to the knot span).
    public func basis(at x: Double) -> (first: Int, values: [Double]) {
        let n = count
        // Span: the largest i in 3..<n with knots[i] ≤ x (the last span for x at the right end).
        var lo = 3, hi = n
        if x >= knots[n] { lo = n - 1 } else {
            while hi - lo > 1 { let mid = (lo + hi) / 2; if knots[mid] <= x { lo = mid } else { hi = mid } }
        }
        let i = lo
        // de Boor–Cox recurrence for the 4 cubic basis values on span i.
        var b = [1.0, 0, 0, 0]
        var left = [Double](repeating: 0, count: 4), right = [Double](repeating: 0, count: 4)
        for j in 1...3 {
            left[j] = x - knots[i + 1 - j]
            right[j] = knots[i + j] - x
            var saved = 0.0
            for r in 0..<j {
                let denominator = right[r + 1] + left[j - r]
                let term = denominator != 0 ? b[r] / denominator : 0
                b[r] = saved + right[r + 1] * term
                saved = left[j - r] * term
            }
            b[j] = saved
        }
        return (i - 3, b)
    }

    /// Σ cᵢ Bᵢ(x).
    public func value(at x: Double, coefficients c: [Double]) -> Double {
        let (first, b) = basis(at: x)
        var s = 0.0
        for r in 0..<4 { s += c[first + r] * b[r] }
        return s
    }
}

/// The interpolating cubic spline through (x, y) for many y on the same x: the collocation
/// matrix of the not-a-knot B-spline basis is factorized once (LU with partial pivoting), so
/// each new y costs one solve. `evaluate` uses basis rows prepared for fixed query points.
public struct CubicSplineInterpolator: Sendable {
    public let spline: CubicBSpline
    private let lu: [[Double]]
    private let pivots: [Int]

    public init(x: [Double]) throws {
        guard x.count >= 4 else { throw LensError.invalidArgument("cubic interpolation needs at least 4 points, got \(x.count)") }
        guard zip(x, x.dropFirst()).allSatisfy({ $0 < $1 }) else { throw LensError.invalidArgument("interpolation abscissae must increase strictly") }
        spline = try CubicBSpline(knots: CubicBSpline.notAKnotKnots(x))
        let n = x.count
        var a = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for (row, xi) in x.enumerated() {
            let (first, b) = spline.basis(at: xi)
            for r in 0..<4 where first + r < n { a[row][first + r] = b[r] }
        }
        var pivots = [Int](repeating: 0, count: n)
        for k in 0..<n {
            var p = k
            for i in (k + 1)..<n where abs(a[i][k]) > abs(a[p][k]) { p = i }
            guard abs(a[p][k]) > 1e-300 else { throw LensError.numerical("the spline collocation matrix is singular") }
            pivots[k] = p
            if p != k { a.swapAt(p, k) }
            for i in (k + 1)..<n where a[i][k] != 0 {
                let f = a[i][k] / a[k][k]
                a[i][k] = f
                for j in (k + 1)..<n { a[i][j] -= f * a[k][j] }
            }
        }
        lu = a; self.pivots = pivots
    }

    /// B-spline coefficients of the interpolant of y.
    public func coefficients(_ y: [Double]) -> [Double] {
        let n = y.count
        var b = y
        for k in 0..<n where pivots[k] != k { b.swapAt(k, pivots[k]) }
        for i in 0..<n { var s = b[i]; for j in 0..<i { s -= lu[i][j] * b[j] }; b[i] = s }
        for i in stride(from: n - 1, through: 0, by: -1) { var s = b[i]; for j in (i + 1)..<n { s -= lu[i][j] * b[j] }; b[i] = s / lu[i][i] }
        return b
    }
}
