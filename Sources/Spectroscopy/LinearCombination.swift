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
    /// Indices of the data energies inside the fit window (consecutive: the energies increase).
    public let window: [Int]
    /// Reference values at those energies: design[k][j] for energy window[k], reference j.
    let design: [[Double]]
    /// `design` column-major (references × window points), and its Gram matrix G = DᵀD
    /// (n × n), for the per-pixel loops.
    let designColumns: [Double], gram: [Double]
    /// The prepared faces (nil beyond 6 references), flattened for the per-pixel loop so that a
    /// fit touches no reference-counted storage: `faceLayout` holds, per face in the order they
    /// are tried (the face with every reference free first), [member bit mask, free count, last
    /// (−1 without sum-to-one), start in `faceValues`, free indices…]; `faceValues` holds at that
    /// start the offsets (free), (XᵀX)⁻¹ (free × free) and the face's unit-variance standard
    /// errors of all n weights.
    let faceLayout: [Int]?, faceValues: [Double]
    /// Whether the first face tried has every reference free (a feasible solution there is the
    /// optimum: it minimizes over the whole affine hull, and no other face need be tried).
    let fullFaceFirst: Bool
    /// Unit-variance standard errors from the face with every reference free (nil when it is
    /// singular): a weight held at a bound by the non-negativity has the uncertainty of the
    /// unconstrained fit, not zero.
    let fullFaceUnitErrors: [Double]?

    /// One face: the references free on it and w_free = (XᵀX)⁻¹Xᵀy − offset, X the free
    /// references' columns (minus the last reference's with sum-to-one, where the last free
    /// reference takes 1 − Σ others and is not in `free`).
    struct Face: Sendable {
        var members: [Int]
        var free: [Int]
        var last: Int?
        var offset: [Double]
        /// (XᵀX)⁻¹ of the face's free parameters.
        var inverseNormal: [[Double]]

        /// Unit-variance standard errors of all n weights on this face (the last weight's
        /// variance is the sum of the (XᵀX)⁻¹ block; references off the face get 0).
        func unitErrors(referenceCount n: Int) -> [Double] {
            var errors = [Double](repeating: 0, count: n)
            var varianceLast = 0.0
            for (a, j) in free.enumerated() {
                errors[j] = inverseNormal[a][a].squareRoot()
                for b in free.indices { varianceLast += inverseNormal[a][b] }
            }
            if let last { errors[last] = max(0, varianceLast).squareRoot() }
            return errors
        }
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
        guard inside.isEmpty || inside.last! - inside[0] == inside.count - 1 else {
            throw LensError.invalidArgument("the data energies must increase: the fit window's energies are not consecutive")
        }
        guard inside.count > references.count else {
            throw LensError.invalidArgument("the fit window \(fitWindow.lowerBound)–\(fitWindow.upperBound) eV holds \(inside.count) energies, fewer than needed for \(references.count) references")
        }
        let columns = try references.map { r in try LinearInterpolation(x: r.energies, y: r.values).values(at: inside.map { energies[$0] }) }
        self.references = references; self.sumToOne = sumToOne; self.window = inside
        let design = inside.indices.map { k in columns.map { $0[k] } }
        self.design = design
        let n = references.count, m = inside.count
        designColumns = (0..<n).flatMap { j in design.map { $0[j] } }
        gram = (0..<n).flatMap { i in (0..<n).map { j in (0..<m).reduce(0.0) { $0 + design[$1][i] * design[$1][j] } } }
        guard n <= 6 else {
            faceLayout = nil; faceValues = []; fullFaceFirst = false; fullFaceUnitErrors = nil
            return
        }
        let faces = Self.prepareFaces(design: design, referenceCount: n, sumToOne: sumToOne)
        let full = faces.lastIndex { $0.members.count == n }
        let order = full.map { f in [f] + faces.indices.filter { $0 != f } } ?? Array(faces.indices)
        var layout = [Int](), values = [Double]()
        for face in order.map({ faces[$0] }) {
            layout += [face.members.reduce(0) { $0 | 1 << $1 }, face.free.count, face.last ?? -1, values.count] + face.free
            values += face.offset + face.inverseNormal.flatMap { $0 } + face.unitErrors(referenceCount: n)
        }
        faceLayout = layout; faceValues = values
        fullFaceFirst = full != nil
        fullFaceUnitErrors = full.map { faces[$0].unitErrors(referenceCount: n) }
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
            var offset = [Double](), inverseRows = [[Double]]()
            if f > 0 {
                var normal = Matrix(rows: f, columns: f)
                for k in 0..<m { for a in 0..<f { for b in 0..<f { normal[a, b] += x[k][a] * x[k][b] } } }
                guard let inverse = normal.inverseSymmetricPositiveDefinite() else { continue }
                inverseRows = (0..<f).map { a in (0..<f).map { inverse[a, $0] } }
                let rows = (0..<f).map { a in (0..<m).map { k in (0..<f).reduce(0.0) { $0 + inverse[a, $1] * x[k][$1] } } }
                offset = rows.map { row in last.map { l in (0..<m).reduce(0.0) { $0 + row[$1] * design[$1][l] } } ?? 0 }
            }
            faces.append(Face(members: members, free: free, last: last, offset: offset, inverseNormal: inverseRows))
        }
        return faces
    }

    /// Fits one spectrum given on the data energies (all of them; only the window is used).
    /// `sigma`: per-energy standard deviations, for the reduced χ² and standard errors.
    public func fit(_ spectrum: UnsafePointer<Double>, sigma: UnsafePointer<Double>? = nil) -> Result {
        let n = references.count
        var out = [Double](repeating: 0, count: 3 * n)
        let (rFactor, chi2) = out.withUnsafeMutableBufferPointer { fit(spectrum, sigma: sigma, into: $0.baseAddress!) }
        return Result(weights: Array(out[0..<n]), standardErrors: Array(out[n..<2 * n]), rFactor: rFactor,
                      reducedChiSquare: chi2, scaleSensitivity: Array(out[2 * n..<3 * n]))
    }

    /// The per-pixel form of ``fit(_:sigma:)``, without heap allocation (up to 6 references):
    /// writes the weights to `out[0..<n]`, their standard errors to `out[n..<2n]` and the scale
    /// sensitivities to `out[2n..<3n]`, and returns the R-factor and reduced χ².
    ///
    /// Every face is solved from b = Dᵀy alone: (XᵀX)⁻¹Xᵀy = (XᵀX)⁻¹(b_free − b_last), and its
    /// residual is yᵀy − 2wᵀb + wᵀGw; the chosen weights' residuals are then summed exactly.
    public func fit(_ spectrum: UnsafePointer<Double>, sigma: UnsafePointer<Double>?,
                    into out: UnsafeMutablePointer<Double>) -> (rFactor: Double, reducedChiSquare: Double) {
        let m = window.count, n = references.count, start = window[0]
        let y = spectrum + start
        var weights = SIMD8<Double>(repeating: 0), errors = SIMD8<Double>(repeating: 0), sensitivity = SIMD8<Double>(repeating: 0)
        var freeCount = 0
        return designColumns.withUnsafeBufferPointer { columns in
            let d = columns.baseAddress!
            if let faceLayout {
                var b = SIMD8<Double>(repeating: 0)
                for j in 0..<n { b[j] = VectorKernel.dot(d + j * m, y, m) }
                let yy = VectorKernel.dot(y, y, m)
                // The feasible face solution with the smallest residual (the problem is convex).
                var bestRSS = Double.infinity, found = false
                faceLayout.withUnsafeBufferPointer { layout in
                    faceValues.withUnsafeBufferPointer { values in
                        gram.withUnsafeBufferPointer { g in
                            var position = 0, first = true
                            while position < layout.count {
                                let members = layout[position], free = layout[position + 1], last = layout[position + 2]
                                let offsets = layout[position + 3], inverse = offsets + free, freeIndices = position + 4
                                position = freeIndices + free
                                defer { first = false }
                                let bLast = last >= 0 ? b[last] : 0
                                var candidate = SIMD8<Double>(repeating: 0), projection = SIMD8<Double>(repeating: 0)
                                var sumFree = 0.0, sumProjection = 0.0, feasible = true
                                for a in 0..<free {
                                    var py = 0.0
                                    for c in 0..<free { py += values[inverse + a * free + c] * (b[layout[freeIndices + c]] - bLast) }
                                    let w = py - values[offsets + a]
                                    if w < -1e-12 { feasible = false; break }
                                    let j = layout[freeIndices + a]
                                    candidate[j] = max(0, w); projection[j] = py; sumFree += w; sumProjection += py
                                }
                                guard feasible else { continue }
                                if last >= 0 {
                                    let w = 1 - sumFree
                                    if w < -1e-12 { continue }
                                    candidate[last] = max(0, w); projection[last] = -sumProjection
                                }
                                var rss = yy
                                for i in 0..<n where members & (1 << i) != 0 {
                                    var gw = 0.0
                                    for j in 0..<n where members & (1 << j) != 0 { gw += g[i * n + j] * candidate[j] }
                                    rss += candidate[i] * (gw - 2 * b[i])
                                }
                                if rss < bestRSS {
                                    bestRSS = rss; found = true
                                    weights = candidate; sensitivity = projection; freeCount = free
                                    // The face's own errors (used when the full face is singular).
                                    for j in 0..<n { errors[j] = values[inverse + free * free + j] }
                                }
                                if first && fullFaceFirst { break }
                            }
                        }
                    }
                }
                if let unit = fullFaceUnitErrors { for j in 0..<n { errors[j] = unit[j] } }
                if !found { weights = SIMD8(repeating: .nan); errors = weights }
            } else {
                let solution = nnlsFit(Array(UnsafeBufferPointer(start: y, count: m)))
                freeCount = solution.freeCount
                for j in 0..<n {
                    weights[j] = solution.weights[j]; errors[j] = solution.unitErrors[j]
                    sensitivity[j] = sumToOne ? .nan : solution.weights[j]
                }
            }
            // The residuals of the chosen weights, summed exactly.
            let sums = withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { residual in
                let r = residual.baseAddress!
                r.update(from: y, count: m)
                for j in 0..<n where weights[j] != 0 {
                    let w = weights[j], column = d + j * m
                    for k in 0..<m { r[k] -= w * column[k] }
                }
                return VectorKernel.residualSums(r, y, sigma.map { $0 + start }, m)
            }
            let dof = Double(max(1, m - freeCount))
            // Errors: σ²(XᵀX)⁻¹ with σ² the mean variance over the window when σ is given (an
            // unweighted fit of nearly uniform noise), else the residual variance.
            let scale = (sigma != nil ? sums.sigma2 / Double(m) : sums.rss / dof).squareRoot()
            for j in 0..<n { out[j] = weights[j]; out[n + j] = errors[j] * scale; out[2 * n + j] = sensitivity[j] }
            return (sums.y2 > 0 ? sums.rss / sums.y2 : .nan, sigma != nil ? sums.chi2 / dof : sums.rss / dof)
        }
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
