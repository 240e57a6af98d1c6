import Foundation
import LensCore

/// Eigenvalues and eigenvectors of a small real symmetric matrix (covariance matrices of a few
/// hundred variables at most: spectra, principal axes) by the cyclic Jacobi method (Golub &
/// Van Loan §8.5): plane rotations annihilate the off-diagonal elements sweep by sweep until
/// they are below 1e-14 of the matrix norm. Accurate to working precision for every eigenvalue,
/// small or large, which is what PCA's explained-variance ratios need.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues in decreasing order.
    public var values: [Double]
    /// Unit eigenvectors: vectors[i] belongs to values[i].
    public var vectors: [[Double]]

    public init(_ matrix: Matrix, maximumSweeps: Int = 60) throws {
        guard matrix.rows == matrix.columns else { throw LensError.invalidArgument("an eigen-decomposition needs a square matrix, got \(matrix.rows)×\(matrix.columns)") }
        let n = matrix.rows
        var a = matrix.values
        for i in 0..<n { for j in 0..<i where abs(a[i * n + j] - a[j * n + i]) > 1e-9 * (abs(a[i * n + j]) + abs(a[j * n + i]) + 1e-300) {
            throw LensError.invalidArgument("the matrix is not symmetric at (\(i), \(j))")
        } }
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let norm = a.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var converged = n < 2
        for _ in 0..<maximumSweeps where !converged {
            var off = 0.0
            for i in 0..<n { for j in (i + 1)..<n { off += a[i * n + j] * a[i * n + j] } }
            if off.squareRoot() <= 1e-14 * max(norm, 1e-300) { converged = true; break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    if apq == 0 { continue }
                    // The rotation angle that zeroes a[p][q] (the smaller root, for stability).
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        guard converged else { throw LensError.numerical("the Jacobi eigen-decomposition did not converge in \(maximumSweeps) sweeps") }
        let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] }
        values = order.map { a[$0 * n + $0] }
        vectors = order.map { j in (0..<n).map { v[$0 * n + j] } }
    }
}
