import Foundation
import LensCore
import Signal

/// Energy ranges of pre-edge subtraction and post-edge normalization, in eV relative to E0,
/// with Larch's `pre_edge` meaning: a line is fitted to μ(E) over `preEdge` and subtracted; a
/// polynomial of degree `postEdgeDegree` is fitted to the subtracted μ over `postEdge`; the edge
/// step is that polynomial at the energy nearest E0, and normalized μ = (μ − pre-edge line) / step.
///
/// Ranges select points as Larch does: from the last energy at or below the range start to
/// the energy nearest the range end, that end excluded (Python's `energy[p1:p2]`).
public struct EdgeNormalizationSettings: Sendable, Codable, Equatable {
    public var preEdge: ClosedRange<Double>
    public var postEdge: ClosedRange<Double>
    public var postEdgeDegree: Int

    public init(preEdge: ClosedRange<Double>, postEdge: ClosedRange<Double>, postEdgeDegree: Int? = nil) {
        self.preEdge = preEdge; self.postEdge = postEdge
        self.postEdgeDegree = postEdgeDegree ?? Self.larchDegree(postEdge)
    }

    /// Larch's default degree (`pre_edge`, xraylarch 2026.3): 2, but 1 when the range spans less
    /// than 300 eV and 0 (a constant) below 30 eV.
    public static func larchDegree(_ postEdge: ClosedRange<Double>) -> Int {
        let span = postEdge.upperBound - postEdge.lowerBound
        return span < 30 ? 0 : span < 300 ? 1 : 2
    }

    /// Larch's default ranges for a spectrum on `energies` with edge `e0` (xraylarch 2026.3): the
    /// pre-edge from the second energy (rounded to 5 eV, or 2 eV when fewer than 21 points
    /// precede E0) to half of that; the post-edge from min(25, its end / 3 rounded to 5 eV) to
    /// the last energy (rounded to 5 eV), starting at least 2 eV before its end.
    public static func larchDefaults(energies: [Double], e0: Double) -> EdgeNormalizationSettings {
        let ie0 = nearestIndex(energies, e0)
        let rounding = ie0 > 20 ? 5.0 : 2.0
        var pre1 = rounding * ((energies[1] - e0) / rounding).rounded(.toNearestOrEven)
        pre1 = max(pre1, energies[0] - e0)
        var pre2 = 0.5 * pre1
        if pre1 > pre2 { swap(&pre1, &pre2) }
        var norm2 = 5.0 * ((energies[energies.count - 1] - e0) / 5.0).rounded(.toNearestOrEven)
        norm2 = min(norm2, energies[energies.count - 1] - e0)
        var norm1 = min(25, 5.0 * (norm2 / 15.0).rounded(.toNearestOrEven))
        if norm1 > norm2 { swap(&norm1, &norm2) }
        norm1 = min(norm1, norm2 - 2)
        return EdgeNormalizationSettings(preEdge: pre1...pre2, postEdge: norm1...norm2)
    }

    static func nearestIndex(_ energies: [Double], _ value: Double) -> Int {
        var best = 0
        for i in energies.indices where abs(energies[i] - value) < abs(energies[best] - value) { best = i }
        return best
    }

    /// These settings with any of the ranges or the degree replaced (the degree follows Larch's
    /// rule for a replaced post-edge range unless given).
    public func overriding(preEdge pre: ClosedRange<Double>?, postEdge post: ClosedRange<Double>?, postEdgeDegree degree: Int?) -> EdgeNormalizationSettings {
        EdgeNormalizationSettings(preEdge: pre ?? preEdge, postEdge: post ?? postEdge,
                                  postEdgeDegree: degree ?? (post == nil ? postEdgeDegree : nil))
    }

    /// Larch's `index_of`: the last energy at or below `value` (0 when all are above).
    static func indexOf(_ energies: [Double], _ value: Double) -> Int {
        energies.lastIndex { $0 <= value } ?? 0
    }

    /// The pre-edge points and the degree of their fit, as Larch picks them: from `index_of` the
    /// range start to the energy nearest its end, that end excluded (Python's `energy[p1:p2]`),
    /// at least two points; a constant (the mean) when the range holds fewer than 3 energies.
    func preEdgePoints(energies: [Double], e0: Double) -> (indices: Range<Int>, degree: Int) {
        let start = Self.indexOf(energies, preEdge.lowerBound + e0)
        var end = Self.nearestIndex(energies, preEdge.upperBound + e0)
        let degree = Self.indexOf(energies, preEdge.upperBound + e0) - start < 3 ? 0 : 1
        if degree == 0 && end == start { end += 1 }
        if degree == 1 && end - start < 2 { end = min(energies.count, start + 2) }
        return (start..<max(end, start + 1), degree)
    }

    /// The post-edge points and degree, as Larch picks them: the start at most 3 points before
    /// the last energy; under 2 points the start moves 2 back and the fit is a constant; under 5
    /// points the degree is at most 1.
    func postEdgePoints(energies: [Double], e0: Double) -> (indices: Range<Int>, degree: Int) {
        var start = min(Self.indexOf(energies, postEdge.lowerBound + e0), energies.count - 3)
        let end = Self.nearestIndex(energies, postEdge.upperBound + e0)
        var degree = postEdgeDegree
        if end - start < 2 { start = max(0, start - 2); degree = 0 } else if end - start < 5 { degree = min(1, degree) }
        return (start..<max(end, start + degree + 1), degree)
    }
}

/// A fitted polynomial c₀ + c₁E + … evaluated by Horner's rule.
public struct Polynomial: Sendable, Codable, Equatable {
    public var coefficients: [Double]
    public func callAsFunction(_ x: Double) -> Double { coefficients.reversed().reduce(0) { $0 * x + $1 } }
}

/// The least-squares fit of polynomials of fixed degree on a fixed set of abscissae, prepared
/// once (the pseudo-inverse) and applied to many spectra — every pixel of a stack shares the
/// energies and the ranges.
public struct PolynomialFit: Sendable {
    public let abscissae: [Double]
    public let degree: Int
    /// The pseudo-inverse, row-major (coefficients × samples): coefficients = rows · y.
    let rows: [Double]
    /// (XᵀX)⁻¹, for coefficient covariances σ²(XᵀX)⁻¹.
    let inverseNormal: Matrix
    /// Abscissae are centred on `centre` for conditioning; coefficients are converted back.
    let centre: Double
    /// The largest degree the per-spectrum fits hold (their coefficients live in a SIMD8).
    static let maximumDegree = 7

    public init(abscissae: [Double], degree: Int) throws {
        guard (0...Self.maximumDegree).contains(degree) else {
            throw LensError.invalidArgument("polynomial degree \(degree) is outside 0…\(Self.maximumDegree)")
        }
        guard abscissae.count > degree else {
            throw LensError.invalidArgument("a degree-\(degree) fit needs at least \(degree + 1) points, the range holds \(abscissae.count)")
        }
        self.abscissae = abscissae; self.degree = degree
        let centre = abscissae.reduce(0, +) / Double(abscissae.count)
        self.centre = centre
        let n = degree + 1
        var normal = Matrix(rows: n, columns: n)
        for x in abscissae {
            let t = x - centre
            for i in 0..<n { for j in 0..<n { normal[i, j] += pow(t, Double(i + j)) } }
        }
        guard let inverse = normal.inverseSymmetricPositiveDefinite() else {
            throw LensError.numerical("the polynomial fit over \(abscissae.count) points is singular")
        }
        inverseNormal = inverse
        rows = (0..<n).flatMap { i in
            abscissae.map { x in (0..<n).reduce(0.0) { $0 + inverse[i, $1] * pow(x - centre, Double($1)) } }
        }
    }

    /// Centred coefficients (in t = x − centre) of the fit to the samples `sample(0)` …
    /// `sample(count − 1)` — a closure, so callers fit values they derive on the fly without a
    /// buffer (this runs per pixel).
    @inline(__always) func coefficients(_ sample: (Int) -> Double) -> SIMD8<Double> {
        var c = SIMD8<Double>(repeating: 0)
        let count = abscissae.count
        rows.withUnsafeBufferPointer { r in
            for i in 0...degree {
                var s = 0.0
                for k in 0..<count { s += r[i * count + k] * sample(k) }
                c[i] = s
            }
        }
        return c
    }

    /// Value of the centred polynomial at x.
    @inline(__always) func evaluate(_ c: SIMD8<Double>, at x: Double) -> Double {
        let t = x - centre
        var v = 0.0
        for k in stride(from: degree, through: 0, by: -1) { v = v * t + c[k] }
        return v
    }

    /// Variance of the fitted value at x for unit noise variance: uᵀ(XᵀX)⁻¹u.
    func valueVarianceFactor(at x: Double) -> Double {
        let n = degree + 1, t = x - centre
        let u = (0..<n).map { pow(t, Double($0)) }
        var s = 0.0
        for i in 0..<n { for j in 0..<n { s += u[i] * inverseNormal[i, j] * u[j] } }
        return s
    }
}

/// Normalization prepared once for an energy grid, an E0 and ranges — the point indices and
/// the two fits' pseudo-inverses — and applied to any number of spectra (every pixel of a
/// stack, a reference, a single spectrum).
public struct EdgeNormalizer: Sendable {
    public let energies: [Double]
    public let e0: Double
    public let settings: EdgeNormalizationSettings
    /// Indices of the pre-edge and post-edge points.
    public let preEdge: Range<Int>, postEdge: Range<Int>
    let preFit: PolynomialFit, postFit: PolynomialFit

    public init(energies: [Double], e0: Double, settings: EdgeNormalizationSettings) throws {
        self.energies = energies; self.e0 = e0; self.settings = settings
        let pre = settings.preEdgePoints(energies: energies, e0: e0)
        let post = settings.postEdgePoints(energies: energies, e0: e0)
        guard pre.indices.upperBound <= energies.count, post.indices.upperBound <= energies.count else {
            throw LensError.invalidArgument("the pre-edge \(settings.preEdge) or post-edge \(settings.postEdge) eV around E0 = \(e0) eV runs past the last energy")
        }
        preEdge = pre.indices; postEdge = post.indices
        preFit = try PolynomialFit(abscissae: Array(energies[preEdge]), degree: pre.degree)
        postFit = try PolynomialFit(abscissae: Array(energies[postEdge]), degree: post.degree)
        // A short post-edge window extrapolates its polynomial to E0 from far away, and the
        // edge step (every normalized value) follows whatever the oscillations do there.
        let postSpan = energies[postEdge.upperBound - 1] - energies[postEdge.lowerBound]
        if postSpan < Self.shortPostEdgeElectronVolts {
            Notices.emit(String(format: "the post-edge window holds only %.0f eV (%d points, %.0f…%.0f eV above E0; degree %d): too short to normalize reliably — the edge step, and every normalized value, depends on the oscillations there; measure further above the edge or check the step",
                                postSpan, postEdge.count, energies[postEdge.lowerBound] - e0, energies[postEdge.upperBound - 1] - e0, post.degree))
        }
        stepEnergy = energies[EdgeNormalizationSettings.nearestIndex(energies, e0)]
    }

    /// Post-edge windows shorter than this (eV) get a warning: Larch's default window starts
    /// 50 eV above E0 and runs to the end of a spectrum of typically ≥ 150 eV beyond it.
    public static let shortPostEdgeElectronVolts = 50.0

    /// Where the edge step is evaluated: the energy nearest E0 (Larch evaluates the post-edge
    /// polynomial and the pre-edge line at that grid point, not at E0 itself).
    public let stepEnergy: Double

    /// The two fits of one spectrum: the pre-edge line, the post-edge polynomial (centred
    /// coefficients), the edge step and the pre-edge noise.
    public struct EdgeFit: Sendable {
        var preEdge: SIMD8<Double>, postEdge: SIMD8<Double>
        public var step: Double
        /// RMS residual of the pre-edge line (n − degree − 1 degrees of freedom).
        public var preEdgeNoise: Double
    }

    /// Fits the pre-edge line and the post-edge polynomial of the spectrum at `mu` (one value
    /// per energy, single or double precision) — only the points of the two ranges are read.
    @inline(__always) func fit<T: BinaryFloatingPoint>(_ mu: UnsafePointer<T>) -> EdgeFit {
        let (pre, post) = (preEdge.lowerBound, postEdge.lowerBound)
        let preC = preFit.coefficients { Double(mu[pre + $0]) }
        let postC = energies.withUnsafeBufferPointer { e in
            postFit.coefficients { Double(mu[post + $0]) - preFit.evaluate(preC, at: e[post + $0]) }
        }
        var residual2 = 0.0
        energies.withUnsafeBufferPointer { e in
            for k in preEdge { let r = Double(mu[k]) - preFit.evaluate(preC, at: e[k]); residual2 += r * r }
        }
        return EdgeFit(preEdge: preC, postEdge: postC, step: postFit.evaluate(postC, at: stepEnergy),
                       preEdgeNoise: (residual2 / Double(max(1, preEdge.count - preFit.degree - 1))).squareRoot())
    }

    /// Normalized μ = (μ − pre-edge line) / step of a spectrum already fitted, at every energy.
    @inline(__always) func apply<T: BinaryFloatingPoint>(_ fit: EdgeFit, to mu: UnsafePointer<T>, into out: UnsafeMutablePointer<Double>) {
        // The pre-edge fit is a line or a constant (Larch's rule, ``EdgeNormalizationSettings``).
        let (c0, c1, centre, inverseStep) = (fit.preEdge[0], preFit.degree > 0 ? fit.preEdge[1] : 0, preFit.centre, 1 / fit.step)
        energies.withUnsafeBufferPointer { e in
            for k in 0..<e.count { out[k] = (Double(mu[k]) - (c0 + c1 * (e[k] - centre))) * inverseStep }
        }
    }

    public struct Outcome: Sendable {
        /// Centred coefficients of the pre-edge line and post-edge polynomial.
        var preEdge: [Double], postEdge: [Double]
        public var step: Double
        /// RMS residual of the pre-edge line (n − degree − 1 degrees of freedom).
        public var preEdgeNoise: Double
        /// (μ − line) / step.
        public var normalized: [Double]
    }

    /// Normalizes the spectrum at `mu` (one value per energy).
    public func normalize(_ mu: UnsafePointer<Double>) -> Outcome {
        var normalized = [Double](repeating: 0, count: energies.count)
        let f = normalized.withUnsafeMutableBufferPointer { normalize(mu, into: $0.baseAddress!) }
        return Outcome(preEdge: (0...preFit.degree).map { f.preEdge[$0] }, postEdge: (0...postFit.degree).map { f.postEdge[$0] },
                       step: f.step, preEdgeNoise: f.preEdgeNoise, normalized: normalized)
    }

    /// Normalizes the spectrum at `mu` into `out` (one value per energy) without allocating —
    /// the per-pixel form of ``normalize(_:)``.
    @discardableResult
    public func normalize(_ mu: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) -> EdgeFit {
        let f = fit(mu)
        apply(f, to: mu, into: out)
        return f
    }

    /// Variances of the pre-edge line and of the post-edge fit at E0 per unit noise variance:
    /// the edge step's variance is σ²_pre·first + σ²_post·second.
    public var stepVarianceFactors: (preEdge: Double, postEdge: Double) {
        (preFit.valueVarianceFactor(at: stepEnergy), postFit.valueVarianceFactor(at: stepEnergy))
    }
}

/// Pre-edge subtraction and normalization of one spectrum (Larch `pre_edge` conventions).
public struct NormalizedSpectrum: Sendable {
    public var energies: [Double]
    public var mu: [Double]
    public var e0: Double
    public var settings: EdgeNormalizationSettings
    public var edgeStep: Double
    public var preEdgeLine: Polynomial
    public var postEdge: Polynomial
    /// (μ − pre-edge line) / edge step.
    public var normalized: [Double]
    /// RMS residual of the pre-edge line fit (noise estimate, μ units).
    public var preEdgeNoise: Double

    /// - Parameters:
    ///   - e0: the edge energy the ranges are relative to (nil: Larch's choice, ``EdgeEnergy/larchE0(energies:mu:)``).
    ///   - settings: nil: Larch's defaults for these energies.
    public init(energies: [Double], mu: [Double], e0: Double? = nil, settings: EdgeNormalizationSettings? = nil) throws {
        try SpectrumCheck.validate(energies: energies, values: mu, name: "μ(E)")
        let edge = try e0 ?? EdgeEnergy.larchE0(energies: energies, mu: mu)
        let s = settings ?? .larchDefaults(energies: energies, e0: edge)
        let normalizer = try EdgeNormalizer(energies: energies, e0: edge, settings: s)
        let fit = mu.withUnsafeBufferPointer { normalizer.normalize($0.baseAddress!) }
        guard fit.step.isFinite, fit.step != 0 else { throw LensError.numerical("the edge step is \(fit.step): no edge between the pre- and post-edge ranges") }
        self.energies = energies; self.mu = mu; self.e0 = edge; self.settings = s
        edgeStep = fit.step
        preEdgeLine = Polynomial(coefficients: Self.uncentred(fit.preEdge, centre: normalizer.preFit.centre))
        postEdge = Polynomial(coefficients: Self.uncentred(fit.postEdge, centre: normalizer.postFit.centre))
        normalized = fit.normalized
        preEdgeNoise = fit.preEdgeNoise
    }

    /// Coefficients in x from coefficients in t = x − centre (binomial expansion).
    static func uncentred(_ c: [Double], centre: Double) -> [Double] {
        var out = [Double](repeating: 0, count: c.count)
        for (k, ck) in c.enumerated() {
            var binomial = 1.0
            for j in 0...k {
                out[j] += ck * binomial * pow(-centre, Double(k - j))
                binomial = binomial * Double(k - j) / Double(j + 1)
            }
        }
        return out
    }
}

/// Checks shared by the spectroscopy entry points.
enum SpectrumCheck {
    static func validate(energies: [Double], values: [Double], name: String) throws {
        guard energies.count == values.count else {
            throw LensError.numerical("\(name): \(energies.count) energies but \(values.count) values")
        }
        if let bad = energies.firstIndex(where: { !$0.isFinite }) ?? values.firstIndex(where: { !$0.isFinite }) {
            throw LensError.numerical("\(name): point \(bad + 1) is not finite (energy \(energies[bad]), value \(values[bad]))")
        }
        guard energies.count >= 6 else { throw LensError.numerical("\(name): only \(energies.count) energies (at least 6 needed)") }
        if let i = energies.indices.dropFirst().first(where: { !(energies[$0] > energies[$0 - 1]) }) {
            throw LensError.numerical("\(name): energies must increase strictly; energy \(i) (\(energies[i]) eV) follows \(energies[i - 1]) eV")
        }
    }
}
