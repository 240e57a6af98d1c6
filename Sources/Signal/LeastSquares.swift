import LensCore

/// A small dense matrix, row-major, for least-squares problems of a few to a few hundred
/// unknowns (LCF, peak fits, polynomial backgrounds). Big linear systems belong elsewhere.
public struct Matrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "matrix \(rows)×\(columns) needs \(rows * columns) values")
        self.rows = rows; self.columns = columns; self.values = values
    }

    public init(rows: Int, columns: Int) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: 0, count: rows * columns))
    }

    /// A matrix from its columns (how design matrices are usually built: one column per basis).
    public init(columns cols: [[Double]]) {
        let m = cols.first?.count ?? 0
        precondition(cols.allSatisfy { $0.count == m }, "columns of unequal length")
        var v = [Double](repeating: 0, count: m * cols.count)
        for (j, c) in cols.enumerated() { for i in 0..<m { v[i * cols.count + j] = c[i] } }
        self.init(rows: m, columns: cols.count, values: v)
    }

    public subscript(i: Int, j: Int) -> Double {
        get { values[i * columns + j] }
        set { values[i * columns + j] = newValue }
    }

    public func column(_ j: Int) -> [Double] { (0..<rows).map { self[$0, j] } }

    /// Matrix–vector product.
    public func multiply(_ x: [Double]) -> [Double] {
        precondition(x.count == columns)
        return (0..<rows).map { i in
            var s = 0.0
            for j in 0..<columns { s += values[i * columns + j] * x[j] }
            return s
        }
    }

    public var transposed: Matrix {
        var t = Matrix(rows: columns, columns: rows)
        for i in 0..<rows { for j in 0..<columns { t[j, i] = self[i, j] } }
        return t
    }

    /// The inverse of a symmetric positive-definite matrix by Cholesky factorization; nil if
    /// not positive definite (used for covariance matrices (JᵀJ)⁻¹).
    public func inverseSymmetricPositiveDefinite() -> Matrix? {
        precondition(rows == columns)
        let n = rows
        var l = Matrix(rows: n, columns: n)
        for j in 0..<n {
            var d = self[j, j]
            for k in 0..<j { d -= l[j, k] * l[j, k] }
            guard d > 0, d.isFinite else { return nil }
            l[j, j] = d.squareRoot()
            for i in (j + 1)..<Swift.max(j + 1, n) {
                var s = self[i, j]
                for k in 0..<j { s -= l[i, k] * l[j, k] }
                l[i, j] = s / l[j, j]
            }
        }
        // Invert L, then A⁻¹ = L⁻ᵀ L⁻¹.
        var li = Matrix(rows: n, columns: n)
        for j in 0..<n {
            li[j, j] = 1 / l[j, j]
            for i in (j + 1)..<Swift.max(j + 1, n) {
                var s = 0.0
                for k in j..<i { s -= l[i, k] * li[k, j] }
                li[i, j] = s / l[i, i]
            }
        }
        var inv = Matrix(rows: n, columns: n)
        for i in 0..<n {
            for j in 0...i {
                var s = 0.0
                for k in i..<n { s += li[k, i] * li[k, j] }
                inv[i, j] = s; inv[j, i] = s
            }
        }
        return inv
    }
}

/// The solution of a linear least-squares problem min ‖Ax − b‖².
public struct LeastSquaresSolution: Sendable {
    public var coefficients: [Double]
    public var residuals: [Double]
    public var residualSumOfSquares: Double
    /// Covariance of the coefficients, σ̂²(AᵀA)⁻¹ with σ̂² = RSS / (m − n) (nil if m ≤ n).
    public var covariance: Matrix?
    /// Standard errors of the coefficients (square roots of the covariance diagonal).
    public var standardErrors: [Double]? {
        covariance.map { c in (0..<c.rows).map { c[$0, $0].squareRoot() } }
    }
}

/// Linear least squares by Householder QR (numerically stable, no normal equations).
public enum LeastSquares {
    /// Solves min ‖Ax − b‖². Throws ``LensError/numerical(_:)`` when A is rank deficient
    /// (a column's remaining norm falls below 1e-12 of the largest column norm).
    public static func solve(_ a: Matrix, _ b: [Double]) throws -> LeastSquaresSolution {
        let m = a.rows, n = a.columns
        guard b.count == m else { throw LensError.invalidArgument("least squares: \(m) rows but \(b.count) observations") }
        guard m >= n, n > 0 else { throw LensError.numerical("least squares needs at least as many observations (\(m)) as unknowns (\(n))") }
        let x = try qrSolve(a, b)
        let fitted = a.multiply(x)
        let residuals = zip(b, fitted).map { $0 - $1 }
        let rss = residuals.reduce(0) { $0 + $1 * $1 }
        var covariance: Matrix?
        if m > n {
            var ata = Matrix(rows: n, columns: n)
            for i in 0..<n { for j in 0...i {
                var s = 0.0
                for k in 0..<m { s += a[k, i] * a[k, j] }
                ata[i, j] = s; ata[j, i] = s
            } }
            if var inv = ata.inverseSymmetricPositiveDefinite() {
                let sigma2 = rss / Double(m - n)
                for k in 0..<inv.values.count { inv.values[k] *= sigma2 }
                covariance = inv
            }
        }
        return LeastSquaresSolution(coefficients: x, residuals: residuals, residualSumOfSquares: rss, covariance: covariance)
    }

    /// x minimizing ‖Ax − b‖ by Householder QR with back substitution.
    static func qrSolve(_ a: Matrix, _ b: [Double]) throws -> [Double] {
        let m = a.rows, n = a.columns
        var r = a.values   // row-major m×n, overwritten by R
        var y = b
        var maxNorm = 0.0
        for j in 0..<n { var s = 0.0; for i in 0..<m { s += r[i * n + j] * r[i * n + j] }; maxNorm = Swift.max(maxNorm, s.squareRoot()) }
        guard maxNorm > 0 else { throw LensError.numerical("least squares: design matrix is zero") }
        for k in 0..<n {
            var norm = 0.0
            for i in k..<m { norm += r[i * n + k] * r[i * n + k] }
            norm = norm.squareRoot()
            guard norm > 1e-12 * maxNorm else { throw LensError.numerical("least squares: design matrix is rank deficient (column \(k))") }
            let alpha = r[k * n + k] > 0 ? -norm : norm
            var v = [Double](repeating: 0, count: m - k)
            for i in k..<m { v[i - k] = r[i * n + k] }
            v[0] -= alpha
            var vnorm2 = 0.0
            for t in v { vnorm2 += t * t }
            guard vnorm2 > 0 else { continue }
            for j in k..<n {
                var s = 0.0
                for i in k..<m { s += v[i - k] * r[i * n + j] }
                let f = 2 * s / vnorm2
                for i in k..<m { r[i * n + j] -= f * v[i - k] }
            }
            var s = 0.0
            for i in k..<m { s += v[i - k] * y[i] }
            let f = 2 * s / vnorm2
            for i in k..<m { y[i] -= f * v[i - k] }
        }
        var x = [Double](repeating: 0, count: n)
        for k in stride(from: n - 1, through: 0, by: -1) {
            var s = y[k]
            for j in (k + 1)..<Swift.max(k + 1, n) { s -= r[k * n + j] * x[j] }
            x[k] = s / r[k * n + k]
        }
        return x
    }
}

/// Non-negative least squares, min ‖Ax − b‖² subject to x ≥ 0, by the active-set method of
/// Lawson and Hanson (Solving Least Squares Problems, 1974, ch. 23) — the algorithm behind
/// SciPy's `nnls`. Used for linear combination fitting of reference spectra.
public enum NonNegativeLeastSquares {
    public struct Solution: Sendable {
        public var coefficients: [Double]
        public var residualNorm: Double
        public var iterations: Int
    }

    public static func solve(_ a: Matrix, _ b: [Double], maxIterations: Int? = nil, tolerance: Double = 1e-10) throws -> Solution {
        let m = a.rows, n = a.columns
        guard b.count == m else { throw LensError.invalidArgument("NNLS: \(m) rows but \(b.count) observations") }
        var x = [Double](repeating: 0, count: n)
        var passive = [Bool](repeating: false, count: n)
        let at = a.transposed
        let limit = maxIterations ?? 3 * n + 30
        var iterations = 0
        func gradient() -> [Double] {
            let ax = a.multiply(x)
            let r = zip(b, ax).map { $0 - $1 }
            return at.multiply(r)
        }
        let scale = Swift.max(1, a.values.reduce(0) { Swift.max($0, Swift.abs($1)) } * Swift.max(1, b.reduce(0) { Swift.max($0, Swift.abs($1)) }))
        var w = gradient()
        while true {
            // Most positive gradient among the active (zero) variables.
            var best = -1
            var bestValue = tolerance * scale
            for j in 0..<n where !passive[j] && w[j] > bestValue { best = j; bestValue = w[j] }
            if best < 0 { break }
            passive[best] = true
            while true {
                iterations += 1
                if iterations > limit { throw LensError.numerical("NNLS did not converge in \(limit) iterations") }
                let indices = (0..<n).filter { passive[$0] }
                let sub = Matrix(columns: indices.map { a.column($0) })
                let z = try LeastSquares.qrSolve(sub, b)
                if z.allSatisfy({ $0 > 0 }) {
                    x = [Double](repeating: 0, count: n)
                    for (k, j) in indices.enumerated() { x[j] = z[k] }
                    break
                }
                // Step back to the boundary and drop variables that hit zero.
                var alpha = Double.infinity
                for (k, j) in indices.enumerated() where z[k] <= 0 {
                    alpha = Swift.min(alpha, x[j] / (x[j] - z[k]))
                }
                for (k, j) in indices.enumerated() {
                    x[j] += alpha * (z[k] - x[j])
                    if Swift.abs(x[j]) < tolerance { x[j] = 0; passive[j] = false }
                }
            }
            w = gradient()
        }
        let r = zip(b, a.multiply(x)).map { $0 - $1 }
        return Solution(coefficients: x, residualNorm: r.reduce(0) { $0 + $1 * $1 }.squareRoot(), iterations: iterations)
    }
}
