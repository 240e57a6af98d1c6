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
///
/// The constrained optimum lies on one face of the feasible set: the weights of some subset of
/// references free (the others zero). Every face's least-squares operator is prepared once
/// (2ⁿ − 1 faces, n ≤ 6), so a fit is a few dot products per face: the feasible face solution
/// with the smallest residual is the exact optimum (the problem is convex). With more
/// references, NNLS finds the face.
public struct LinearCombinationFit: Sendable {
    public let references: [ReferenceSpectrum]
    public let sumToOne: Bool
    /// Indices of the data energies inside the fit window.
    public let window: [Int]
    /// Reference values at those energies: design[k][j] for energy window[k], reference j.
    let design: [[Double]]
    /// Prepared faces (nil beyond 6 references).
    let faces: [Face]?
    /// The face with every reference free (nil when singular), for the standard errors.
    let fullFace: Face?, fullFaceIndex: Int?
    /// The order faces are tried in: the full face first.
    let faceOrder: [Int]
    /// `design` row-major (window points × references), for the per-pixel loops.
    let designFlat: [Double]

    /// One face: the references free on it and w_free = operator · y − offset (with sum-to-one
    /// the last free reference takes 1 − Σ others and is not in `free`).
    struct Face: Sendable {
        var members: [Int]
        var free: [Int]
        var last: Int?
        /// Row-major (free weights × window points).
        var operator_: [Double]
        var offset: [Double]
        /// (XᵀX)⁻¹ of the face's free parameters.
        var inverseNormal: [[Double]]
    }

    public struct Result: Sendable {
        public var weights: [Double]
        public var standardErrors: [Double]
        /// Σ(y − ŷ)² / Σy² over the window (Larch's R-factor).
        public var rFactor: Double
        /// Σ((y − ŷ)/σ)² / (points − free weights), when σ is given; else the residual variance.
        public var reducedChiSquare: Double
        /// ∂w/∂h for the spectrum scaled by (1 + h) (an error of the edge step), on the same face.
        public var scaleSensitivity: [Double]
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
        let design = inside.indices.map { k in columns.map { $0[k] } }
        self.design = design
        designFlat = design.flatMap { $0 }
        let prepared = references.count <= 6 ? Self.prepareFaces(design: design, referenceCount: references.count, sumToOne: sumToOne) : nil
        let full = prepared?.lastIndex { $0.members.count == references.count }
        let all = Array(prepared?.indices ?? 0..<0)
        faces = prepared
        fullFaceIndex = full
        fullFace = full.map { prepared![$0] }
        faceOrder = full.map { f in [f] + all.filter { $0 != f } } ?? all
    }

    static func prepareFaces(design: [[Double]], referenceCount n: Int, sumToOne: Bool) -> [Face] {
        let m = design.count
        var faces = [Face]()
        for mask in 1..<(1 << n) {
            let members = (0..<n).filter { mask & (1 << $0) != 0 }
            let last = sumToOne ? members.last : nil
            let free = sumToOne ? Array(members.dropLast()) : members
            // Columns of the free parameters and the fixed part (R_last with sum-to-one).
            let x = (0..<m).map { k in free.map { design[k][$0] - (last.map { design[k][$0] } ?? 0) } }
            let f = free.count
            var operator_ = [Double](), offset = [Double](), inverseRows = [[Double]]()
            if f > 0 {
                var normal = Matrix(rows: f, columns: f)
                for k in 0..<m { for a in 0..<f { for b in 0..<f { normal[a, b] += x[k][a] * x[k][b] } } }
                guard let inverse = normal.inverseSymmetricPositiveDefinite() else { continue }
                inverseRows = (0..<f).map { a in (0..<f).map { inverse[a, $0] } }
                let rows = (0..<f).map { a in (0..<m).map { k in (0..<f).reduce(0.0) { $0 + inverse[a, $1] * x[k][$1] } } }
                operator_ = rows.flatMap { $0 }
                offset = rows.map { row in last.map { l in (0..<m).reduce(0.0) { $0 + row[$1] * design[$1][l] } } ?? 0 }
            }
            faces.append(Face(members: members, free: free, last: last, operator_: operator_, offset: offset, inverseNormal: inverseRows))
        }
        return faces
    }

    /// Fits one spectrum given on the data energies (all of them; only the window is used).
    /// `sigma`: per-energy standard deviations, for the reduced χ² and standard errors.
    public func fit(_ spectrum: UnsafePointer<Double>, sigma: UnsafePointer<Double>? = nil) -> Result {
        let m = window.count, n = references.count
        let y = [Double](unsafeUninitializedCapacity: m) { buffer, count in
            for k in 0..<m { buffer[k] = spectrum[window[k]] }
            count = m
        }
        var weights = [Double](repeating: 0, count: n)
        var errors = [Double](repeating: 0, count: n)
        var sensitivity = [Double](repeating: 0, count: n)
        var freeCount = 0
        if let faces {
            // The feasible face solution with the smallest residual (candidates in a SIMD
            // register: n ≤ 6, and this runs per pixel).
            var bestRSS = Double.infinity
            var bestFace = -1
            var best = SIMD8<Double>(repeating: 0)
            y.withUnsafeBufferPointer { yp in
                designFlat.withUnsafeBufferPointer { d in
                    // The full face first: when its solution is feasible it is the optimum (it
                    // minimizes over the whole affine hull), and no other face need be tried.
                    for index in faceOrder {
                        let face = faces[index]
                        var candidate = SIMD8<Double>(repeating: 0)
                        var sumFree = 0.0, feasible = true
                        face.operator_.withUnsafeBufferPointer { op in
                            for (a, j) in face.free.enumerated() {
                                var w = -face.offset[a]
                                let row = op.baseAddress! + a * m
                                for k in 0..<m { w += row[k] * yp[k] }
                                if w < -1e-12 { feasible = false; break }
                                candidate[j] = max(0, w); sumFree += w
                            }
                        }
                        guard feasible else { continue }
                        if let last = face.last {
                            let w = 1 - sumFree
                            if w < -1e-12 { continue }
                            candidate[last] = max(0, w)
                        }
                        var rss = 0.0
                        for k in 0..<m {
                            var fitted = 0.0
                            for j in face.members { fitted += candidate[j] * d[k * n + j] }
                            rss += (yp[k] - fitted) * (yp[k] - fitted)
                        }
                        if rss < bestRSS { bestRSS = rss; bestFace = index; best = candidate }
                        if index == fullFaceIndex { break }
                    }
                }
            }
            for j in 0..<n { weights[j] = best[j] }
            if bestFace >= 0 {
                let face = faces[bestFace]
                freeCount = face.free.count
                face.operator_.withUnsafeBufferPointer { op in
                    for (a, j) in face.free.enumerated() {
                        var py = 0.0
                        for k in 0..<m { py += op[a * m + k] * y[k] }
                        sensitivity[j] = py
                    }
                }
                if let last = face.last { sensitivity[last] = -face.free.reduce(0.0) { $0 + sensitivity[$1] } }
                // Unit-variance errors (XᵀX)⁻¹ (the last weight's variance is the sum of the
                // block) from the face with every reference free: a weight held at a bound by
                // the non-negativity has the uncertainty of the unconstrained fit, not zero.
                let errorFace = fullFace ?? face
                var varianceLast = 0.0
                for (a, j) in errorFace.free.enumerated() {
                    errors[j] = errorFace.inverseNormal[a][a].squareRoot()
                    for b in errorFace.free.indices { varianceLast += errorFace.inverseNormal[a][b] }
                }
                if let last = errorFace.last { errors[last] = max(0, varianceLast).squareRoot() }
            } else {
                weights = [Double](repeating: .nan, count: n); errors = weights
            }
        } else {
            let solution = nnlsFit(y)
            weights = solution.weights; errors = solution.unitErrors; freeCount = solution.freeCount
            sensitivity = sumToOne ? [Double](repeating: .nan, count: n) : weights
        }
        var rss = 0.0, sumY2 = 0.0, chi2 = 0.0
        for k in 0..<m {
            var fitted = 0.0
            for j in 0..<n where weights[j] != 0 { fitted += weights[j] * designFlat[k * n + j] }
            let r = y[k] - fitted
            rss += r * r; sumY2 += y[k] * y[k]
            if let sigma { chi2 += r * r / max(1e-300, sigma[window[k]] * sigma[window[k]]) }
        }
        let dof = Double(max(1, m - freeCount))
        // Errors: σ²(XᵀX)⁻¹ with σ² the mean variance over the window when σ is given (an
        // unweighted fit of nearly uniform noise), else the residual variance.
        let variance: Double
        if let sigma { var s = 0.0; for k in window { s += sigma[k] * sigma[k] }; variance = s / Double(m) } else { variance = rss / dof }
        let scale = variance.squareRoot()
        for j in 0..<n { errors[j] *= scale }
        return Result(weights: weights, standardErrors: errors, rFactor: sumY2 > 0 ? rss / sumY2 : .nan,
                      reducedChiSquare: sigma != nil ? chi2 / dof : rss / dof, scaleSensitivity: sensitivity)
    }

    /// NNLS (the sum-to-one row heavily weighted) finds the face, then an exact constrained refit
    /// on it; unit-variance standard errors.
    private func nnlsFit(_ y: [Double]) -> (weights: [Double], unitErrors: [Double], freeCount: Int) {
        let m = window.count, n = references.count
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
        var weights = [Double](repeating: 0, count: n), errors = [Double](repeating: 0, count: n)
        guard !active.isEmpty else { return (nnls, [Double](repeating: .nan, count: n), 0) }
        if active.count == 1 && sumToOne { weights[active[0]] = 1; return (weights, errors, 0) }
        let free = sumToOne ? Array(active.dropLast()) : active
        let last = sumToOne ? active.last! : -1
        var design2 = Matrix(rows: m, columns: free.count)
        var target = y
        for k in 0..<m {
            for (c, j) in free.enumerated() { design2[k, c] = design[k][j] - (last >= 0 ? design[k][last] : 0) }
            if last >= 0 { target[k] -= design[k][last] }
        }
        var normal = Matrix(rows: free.count, columns: free.count)
        for k in 0..<m { for c in free.indices { for d in free.indices { normal[c, d] += design2[k, c] * design2[k, d] } } }
        guard let inverse = normal.inverseSymmetricPositiveDefinite(), let solution = try? LeastSquares.solve(design2, target) else {
            return (nnls, [Double](repeating: .nan, count: n), active.count)
        }
        for (c, j) in free.enumerated() { weights[j] = solution.coefficients[c] }
        if last >= 0 { weights[last] = 1 - free.reduce(0) { $0 + weights[$1] } }
        var varianceLast = 0.0
        for (c, j) in free.enumerated() {
            errors[j] = inverse[c, c].squareRoot()
            for d in free.indices { varianceLast += inverse[c, d] }
        }
        if last >= 0 { errors[last] = max(0, varianceLast).squareRoot() }
        if weights.contains(where: { !$0.isFinite || $0 < 0 }) { return (nnls, [Double](repeating: .nan, count: n), free.count) }
        return (weights, errors, free.count)
    }
}
