import Foundation
import LensCore

/// How a slab of line integrals becomes a volume.
public enum ReconstructionAlgorithm: String, CaseIterable, Codable, Sendable {
    /// Filtered back projection (``FilteredBackProjection``): one pass, the reference.
    case fbp
    /// The same filtered back projection evaluated by Fourier gridding (``FourierGridding``,
    /// TomoPy's gridrec family): N² log N per slice instead of N²·P, for large detectors.
    case gridrec
    /// Simultaneous iterative reconstruction (ASTRA's SIRT: x ← x + λ·C·Aᵀ·R·(b − A x) with
    /// R, C the inverse row and column sums of A).
    case sirt
    /// Ordered-subsets SART: the SIRT update over one subset of angles at a time.
    case sart
    /// Conjugate gradients on the normal equations (least squares; unconstrained).
    case cgls
    /// Total-variation-regularised least squares with bounds, by the preconditioned primal–dual
    /// method of Chambolle & Pock (2011): sharp edges from few or limited-angle projections.
    case tv
    /// The same objective by FISTA (Beck & Teboulle 2009), the TV-and-bounds proximal step
    /// solved by their fast gradient projection on the dual (20 inner iterations).
    case fistaTV = "fista-tv"

    public var isIterative: Bool { self != .fbp && self != .gridrec }
}

/// Settings of the iterative solvers.
public struct IterativeSettings: Codable, Sendable, Equatable {
    /// Iterations (full passes over all angles).
    public var iterations = 100
    /// Stop early when ‖x_k+1 − x_k‖ / ‖x_k+1‖ falls below this (nil: run every iteration).
    public var relativeChangeTolerance: Double?
    /// Clamp to x ≥ 0 after every update (SIRT, SART, TV; CGLS is unconstrained).
    public var nonNegative = true
    /// Clamp to x ≤ this (in the volume's units, 1/µm or 1/pixel), nil: none.
    public var upperBound: Double?
    /// Angle subsets of OS-SART (1: SIRT-like sweeps; the angle count: classical SART).
    public var subsets = 10
    /// Relaxation λ of SIRT and SART (0 < λ < 2).
    public var relaxation = 1.0
    /// TV weight w: the objective is ½‖A x − b‖² / P + w · TV(x·p) with P projections and x·p
    /// the attenuation per voxel edge (dimensionless), so w does not depend on the angle count
    /// or the pixel size. TV is isotropic and 2D (within each slice): parallel-beam slices stay
    /// independent, so slabs are reconstructed apart.
    public var tvWeight = 0.001
    /// Start from the FBP of the data (else from zero).
    public var warmStart = true
    public init() {}

    public func validate(algorithm: ReconstructionAlgorithm) throws {
        guard (1...100_000).contains(iterations) else { throw LensError.invalidArgument("--iterations must be 1…100000, got \(iterations)") }
        if let t = relativeChangeTolerance, !(t > 0 && t < 1) { throw LensError.invalidArgument("the relative-change tolerance must be in (0, 1), got \(t)") }
        if let u = upperBound, !(u.isFinite && u > 0) { throw LensError.invalidArgument("the upper bound must be a positive number, got \(u)") }
        guard (1...10_000).contains(subsets) else { throw LensError.invalidArgument("--subsets must be 1…10000, got \(subsets)") }
        guard relaxation > 0, relaxation < 2 else { throw LensError.invalidArgument("the relaxation must be in (0, 2), got \(relaxation)") }
        guard tvWeight >= 0, tvWeight.isFinite else { throw LensError.invalidArgument("--tv-weight must be ≥ 0, got \(tvWeight)") }
        if algorithm == .cgls && (upperBound != nil) {
            throw LensError.invalidArgument("CGLS is unconstrained: an upper bound needs sirt, sart or tv")
        }
    }
}

/// One iteration's numbers, for the run record.
public struct IterationRecord: Codable, Sendable, Equatable {
    public var iteration: Int
    /// The solver's objective: ½‖A x − b‖² (SIRT, SART, CGLS), plus the TV term for TV.
    public var objective: Double
    /// ‖A x − b‖ / ‖b‖ at this iteration's x.
    public var relativeResidual: Double
    /// ‖x_k+1 − x_k‖ / ‖x_k+1‖.
    public var relativeChange: Double
}

/// What an iterative solve did.
public struct IterativeOutcome: Sendable {
    public var volume: Grid<Float>
    public var history: [IterationRecord]
    /// "iterations" or "relative change".
    public var stoppedBy: String
}

/// The iterative solvers, each written once over ``LinearOperator`` (and
/// ``AngleSubsetOperator`` for OS-SART). Vectors are single precision like the projectors; sums
/// are accumulated in double.
public enum IterativeReconstruction {
    /// Solves A x ≈ b with `algorithm` from `initial` (nil: zero).
    /// - Parameter tvScale: the factor turning ``IterativeSettings/tvWeight`` into the weight of
    ///   TV(x) in ½‖A x − b‖² + λ TV(x): P · p for P projections and a voxel edge of p (in the
    ///   units x is per).
    public static func solve<Op: AngleSubsetOperator>(_ a: Op, data b: Grid<Float>, algorithm: ReconstructionAlgorithm,
                                                      settings: IterativeSettings, initial: Grid<Float>? = nil, tvScale: Double = 1,
                                                      cancellation: CancellationToken? = nil,
                                                      onIteration: ((IterationRecord) -> Void)? = nil) throws -> IterativeOutcome {
        try settings.validate(algorithm: algorithm)
        guard b.shape == a.rangeShape else { throw LensError.invalidArgument("data \(b.shape) do not match the operator's range \(a.rangeShape)") }
        if let initial, initial.shape != a.domainShape {
            throw LensError.invalidArgument("the initial volume \(initial.shape) does not match the operator's domain \(a.domainShape)")
        }
        var x = initial ?? Grid<Float>(shape: a.domainShape)
        x.geometry = initial?.geometry ?? x.geometry
        if algorithm != .cgls { Vectors.clamp(&x, nonNegative: settings.nonNegative, upper: settings.upperBound) }
        switch algorithm {
        case .fbp, .gridrec: throw LensError.invalidArgument("\(algorithm.rawValue) is not an iterative algorithm")
        case .sirt: return try sart(a, b, x, settings: settings, subsetCount: 1, cancellation: cancellation, onIteration: onIteration)
        case .sart: return try sart(a, b, x, settings: settings, subsetCount: Swift.min(settings.subsets, a.angleCount), cancellation: cancellation, onIteration: onIteration)
        case .cgls: return try cgls(a, b, x, settings: settings, cancellation: cancellation, onIteration: onIteration)
        case .tv: return try totalVariation(a, b, x, settings: settings, weight: settings.tvWeight * tvScale, cancellation: cancellation, onIteration: onIteration)
        case .fistaTV: return try fistaTV(a, b, x, settings: settings, weight: settings.tvWeight * tvScale, cancellation: cancellation, onIteration: onIteration)
        }
    }

    /// Angles of subset s of `count` subsets: every count-th angle from s (interleaved, so each
    /// subset spans the whole angular range).
    static func subsetAngles(_ s: Int, of count: Int, angleCount: Int) -> [Int] { Array(stride(from: s, to: angleCount, by: count)) }

    // MARK: SIRT and OS-SART

    /// x ← clamp(x + λ·C_s·A_sᵀ·R_s·(b_s − A_s x)) over subsets s in order; one subset is SIRT.
    static func sart<Op: AngleSubsetOperator>(_ a: Op, _ b: Grid<Float>, _ start: Grid<Float>, settings: IterativeSettings, subsetCount: Int,
                                              cancellation: CancellationToken?, onIteration: ((IterationRecord) -> Void)?) throws -> IterativeOutcome {
        let perAngle = b.count / a.angleCount
        var subsets = [AngleSubset<Op>]()
        for s in 0..<subsetCount {
            let angles = subsetAngles(s, of: subsetCount, angleCount: a.angleCount)
            let op = subsetCount == 1 ? a : try a.restricted(toAngles: angles)
            var data = Grid<Float>(shape: op.rangeShape)
            data.withUnsafeMutableBufferPointer { d in
                b.withUnsafeBufferPointer { src in
                    for (k, angle) in angles.enumerated() {
                        (d.baseAddress! + k * perAngle).update(from: src.baseAddress! + angle * perAngle, count: perAngle)
                    }
                }
            }
            let rowSums = try op.apply(Grid(shape: op.domainShape, repeating: 1))
            let columnSums = try op.applyAdjoint(Grid(shape: op.rangeShape, repeating: 1))
            subsets.append(AngleSubset(op: op, data: data, rowWeights: Vectors.inverse(rowSums), columnWeights: Vectors.inverse(columnSums)))
        }
        var log = IterationLog(data: b, settings: settings, onIteration: onIteration)
        var x = start
        let lambda = Float(settings.relaxation)
        for iteration in 1...settings.iterations {
            try cancellation?.check()
            let previous = x
            var squaredResidual = 0.0
            for subset in subsets {
                var r = try subset.op.apply(x)
                squaredResidual += Vectors.residual(&r, data: subset.data, weights: subset.rowWeights)   // r ← R (b − A x)
                let update = try subset.op.applyAdjoint(r)
                Vectors.addScaled(&x, update, weights: subset.columnWeights, factor: lambda)
                Vectors.clamp(&x, nonNegative: settings.nonNegative, upper: settings.upperBound)
            }
            // The residual of SIRT is that of the x the iteration started from; OS-SART's is
            // summed over subsets as they were visited (the usual report of both).
            if log.record(iteration, squaredResidual: squaredResidual, regularization: 0, x: x, previous: previous) { break }
        }
        return log.outcome(x)
    }

    // MARK: CGLS

    /// Conjugate gradients on AᵀA x = Aᵀ b (Hestenes–Stiefel's CGLS).
    static func cgls<Op: LinearOperator>(_ a: Op, _ b: Grid<Float>, _ start: Grid<Float>, settings: IterativeSettings,
                                         cancellation: CancellationToken?, onIteration: ((IterationRecord) -> Void)?) throws -> IterativeOutcome {
        var x = start
        var r = b
        Vectors.addScaled(&r, try a.apply(x), factor: -1)          // r = b − A x
        var s = try a.applyAdjoint(r)
        var p = s
        var gamma = Vectors.dot(s, s)
        let bNorm = Swift.max(Vectors.norm(b), .leastNormalMagnitude)
        var history = [IterationRecord](), stoppedBy = "iterations"
        for iteration in 1...settings.iterations {
            try cancellation?.check()
            guard gamma > 0 else { stoppedBy = "exact solution"; break }
            let q = try a.apply(p)
            let qq = Vectors.dot(q, q)
            guard qq > 0 else { stoppedBy = "exact solution"; break }
            let alpha = gamma / qq
            Vectors.addScaled(&x, p, factor: Float(alpha))
            Vectors.addScaled(&r, q, factor: Float(-alpha))
            s = try a.applyAdjoint(r)
            let gammaNew = Vectors.dot(s, s)
            let beta = gammaNew / gamma
            gamma = gammaNew
            Vectors.scaleAndAdd(&p, scale: Float(beta), s)              // p = s + β p
            let rNorm = Vectors.norm(r)
            let change = abs(alpha) * Vectors.norm(p) / Swift.max(Vectors.norm(x), .leastNormalMagnitude)
            let record = IterationRecord(iteration: iteration, objective: 0.5 * rNorm * rNorm, relativeResidual: rNorm / bNorm, relativeChange: change)
            history.append(record); onIteration?(record)
            if let t = settings.relativeChangeTolerance, change < t { stoppedBy = "relative change"; break }
        }
        return IterativeOutcome(volume: x, history: history, stoppedBy: stoppedBy)
    }

    // MARK: TV

    /// min ½‖A x − b‖² + λ·Σ|∇x| (isotropic, within each slice) with bounds, by the
    /// diagonally preconditioned primal–dual algorithm (Pock & Chambolle, ICCV 2011): step sizes
    /// τ = 1/(Σ_i |A_ij| + 4) per voxel and σ = 1/Σ_j |A_ij| per ray, 1/2 per gradient component,
    /// need no operator-norm estimate and converge for any λ.
    static func totalVariation<Op: LinearOperator>(_ a: Op, _ b: Grid<Float>, _ start: Grid<Float>, settings: IterativeSettings, weight lambda: Double,
                                                   cancellation: CancellationToken?, onIteration: ((IterationRecord) -> Void)?) throws -> IterativeOutcome {
        let shape = a.domainShape
        guard shape.rank == 3 else { throw LensError.invalidArgument("TV reconstruction needs a (slice, y, x) volume, got \(shape)") }
        let sigma = Vectors.inverse(try a.apply(Grid(shape: shape, repeating: 1)))
        var tau = try a.applyAdjoint(Grid(shape: a.rangeShape, repeating: 1))
        tau = tau.map { 1 / ($0 + 4) }
        // x, x̄ and the previous x keep their own storage from iteration to iteration.
        var x = start, xBar = start, previous = Grid<Float>(shape: shape)
        var dualData = Grid<Float>(shape: a.rangeShape)
        var dualGradient = TVGradient.Field(shape: shape)
        var log = IterationLog(data: b, settings: settings, onIteration: onIteration)
        for iteration in 1...settings.iterations {
            try cancellation?.check()
            // Dual ascent: data term (prox of the conjugate of ½‖· − b‖²), then TV (projection
            // onto the λ-ball of each voxel's gradient).
            let projected = try a.apply(xBar)
            let squaredResidual = Vectors.dualDataStep(&dualData, projected: projected, data: b, sigma: sigma)
            TVGradient.dualStep(&dualGradient, xBar, lambda: Float(lambda))
            // Primal descent: x − τ (Aᵀ y − div p), bounded; then the extrapolation.
            let back = try a.applyAdjoint(dualData)
            Vectors.copy(x, into: &previous)
            TVGradient.primalStep(&x, back: back, dual: dualGradient, tau: tau, nonNegative: settings.nonNegative, upper: settings.upperBound)
            Vectors.extrapolate(x, previous, into: &xBar)
            // The residual was measured at x̄ (cheap), the TV at x.
            if log.record(iteration, squaredResidual: squaredResidual, regularization: lambda * TVGradient.totalVariation(x), x: x, previous: previous) { break }
        }
        return log.outcome(x)
    }
}

extension IterativeReconstruction {
    /// FISTA on ½‖A x − b‖² + λ TV(x) with bounds: x ← prox_{tλTV+C}(y − t Aᵀ(A y − b)),
    /// y ← x + ((s_k − 1)/s_k+1)(x − x_prev), step t = 1/‖A‖² (power iteration, 15 steps, 5 %
    /// margin); the proximal step by FGP on the TV dual (Beck & Teboulle, IEEE TIP 2009).
    static func fistaTV<Op: LinearOperator>(_ a: Op, _ b: Grid<Float>, _ start: Grid<Float>, settings: IterativeSettings, weight lambda: Double,
                                            cancellation: CancellationToken?, onIteration: ((IterationRecord) -> Void)?) throws -> IterativeOutcome {
        let shape = a.domainShape
        guard shape.rank == 3 else { throw LensError.invalidArgument("TV reconstruction needs a (slice, y, x) volume, got \(shape)") }
        // ‖A‖² by power iteration on AᵀA.
        var v = Grid<Float>(shape: shape, repeating: 1)
        var norm = 0.0
        for _ in 0..<15 {
            let w = try a.applyAdjoint(try a.apply(v))
            norm = Vectors.norm(w) / Swift.max(Vectors.norm(v), .leastNormalMagnitude)
            let scale = Float(1 / Swift.max(Vectors.norm(w), .leastNormalMagnitude))
            v = w.map { $0 * scale }
        }
        let step = 1 / (1.05 * Swift.max(norm, .leastNormalMagnitude))
        var x = start, y = start
        var sk = 1.0
        var log = IterationLog(data: b, settings: settings, onIteration: onIteration)
        var dual = TVGradient.Field(shape: shape)
        for iteration in 1...settings.iterations {
            try cancellation?.check()
            var residual = try a.apply(y)
            Vectors.addScaled(&residual, b, factor: -1)                 // A y − b
            let squaredResidual = Vectors.dot(residual, residual)
            var z = y
            Vectors.addScaled(&z, try a.applyAdjoint(residual), factor: Float(-step))
            let previous = x
            x = TVGradient.proximal(z, weight: Float(step * lambda), dual: &dual, nonNegative: settings.nonNegative, upper: settings.upperBound)
            let next = (1 + (1 + 4 * sk * sk).squareRoot()) / 2
            y = x
            Vectors.addScaled(&y, previous, factor: Float(-(sk - 1) / next))
            Vectors.addScaled(&y, x, factor: Float((sk - 1) / next))
            sk = next
            // The data term at y (measured there) and the TV at x, as for the primal–dual solver.
            if log.record(iteration, squaredResidual: squaredResidual, regularization: lambda * TVGradient.totalVariation(x), x: x, previous: previous) { break }
        }
        return log.outcome(x)
    }
}

extension TVGradient {
    /// ∇x (forward differences within each slice).
    static func gradient(of x: Grid<Float>) -> Field {
        let (nz, ny, nx) = (x.shape[0], x.shape[1], x.shape[2])
        var field = Field(shape: x.shape)
        Parallel.withDisjointWrites(&field.y) { gy in Parallel.withDisjointWrites(&field.x) { gx in Parallel.sharing(x) { v in
            Parallel.forEachChunk(count: nz * ny, minimumChunk: 16) { rows in
                for row in rows {
                    let yy = row % ny, base = row * nx
                    for xi in 0..<nx { (gy[base + xi], gx[base + xi]) = gradient(v, base + xi, y: yy, x: xi, ny: ny, nx: nx) }
                }
            }
        } } }
        return field
    }

    /// ∇ᵀp (= −div p).
    static func adjoint(_ p: Field) -> Grid<Float> {
        let (nz, ny, nx) = (p.y.shape[0], p.y.shape[1], p.y.shape[2])
        var out = Grid<Float>(shape: p.y.shape)
        Parallel.withDisjointWrites(&out) { o in Parallel.sharing(p.y) { py in Parallel.sharing(p.x) { px in
            Parallel.forEachChunk(count: nz * ny, minimumChunk: 16) { rows in
                for row in rows {
                    let yy = row % ny, base = row * nx
                    for xi in 0..<nx {
                        let i = base + xi
                        o[i] = adjointAt(py, px, i, y: yy, x: xi, ny: ny, nx: nx)
                    }
                }
            }
        } } }
        return out
    }

    /// argmin ½‖x − z‖² + w·TV(x) over the bounds, by FGP on the dual (20 iterations, warm
    /// started from `dual`, which keeps the last dual for the next call): with w' = w,
    /// p ← P(r − ∇(P_C(z − w ∇ᵀr)) / (8 w)), P the projection onto |p| ≤ 1, and Nesterov's
    /// extrapolation of r; x = P_C(z − w ∇ᵀp).
    static func proximal(_ z: Grid<Float>, weight w: Float, dual: inout Field, nonNegative: Bool, upper: Double?) -> Grid<Float> {
        func primal(_ p: Field) -> Grid<Float> {
            var x = z
            Vectors.addScaled(&x, adjoint(p), factor: -w)
            Vectors.clamp(&x, nonNegative: nonNegative, upper: upper)
            return x
        }
        guard w > 0 else { return primal(Field(shape: z.shape)) }
        var p = dual, r = dual
        var t: Float = 1
        for _ in 0..<20 {
            let g = gradient(of: primal(r))
            let previous = p
            // p = P(r + ∇x / (8w)): the dual ascent step of ½‖x − z‖² + w TV at unit dual scale.
            var next = r
            Vectors.addScaled(&next.y, g.y, factor: 1 / (8 * w))
            Vectors.addScaled(&next.x, g.x, factor: 1 / (8 * w))
            Parallel.withDisjointWrites(&next.y) { ny in Parallel.withDisjointWrites(&next.x) { nx in
                Parallel.forEachChunk(count: ny.count, minimumChunk: 1 << 15) { range in
                    for i in range {
                        let m = Swift.max(1, (ny[i] * ny[i] + nx[i] * nx[i]).squareRoot())
                        ny[i] /= m; nx[i] /= m
                    }
                }
            } }
            p = next
            let tn = (1 + (1 + 4 * t * t).squareRoot()) / 2
            r = p
            let f = (t - 1) / tn
            Vectors.addScaled(&r.y, p.y, factor: f); Vectors.addScaled(&r.y, previous.y, factor: -f)
            Vectors.addScaled(&r.x, p.x, factor: f); Vectors.addScaled(&r.x, previous.x, factor: -f)
            t = tn
        }
        dual = p
        return primal(p)
    }
}

/// The per-iteration record of a solver and its stopping test: objective ½‖A x − b‖² plus the
/// regularization, residual relative to ‖b‖, relative change ‖x − x_prev‖/‖x‖.
struct IterationLog {
    let bNorm: Double
    let tolerance: Double?
    let onIteration: ((IterationRecord) -> Void)?
    var history = [IterationRecord]()
    var stoppedBy = "iterations"

    init(data b: Grid<Float>, settings: IterativeSettings, onIteration: ((IterationRecord) -> Void)?) {
        bNorm = Swift.max(Vectors.norm(b), .leastNormalMagnitude); tolerance = settings.relativeChangeTolerance; self.onIteration = onIteration
    }

    /// Records an iteration; true when the relative change fell below the tolerance.
    mutating func record(_ iteration: Int, squaredResidual: Double, regularization: Double, x: Grid<Float>, previous: Grid<Float>) -> Bool {
        let change = Vectors.distance(x, previous) / Swift.max(Vectors.norm(x), .leastNormalMagnitude)
        let entry = IterationRecord(iteration: iteration, objective: 0.5 * squaredResidual + regularization,
                                    relativeResidual: squaredResidual.squareRoot() / bNorm, relativeChange: change)
        history.append(entry); onIteration?(entry)
        if let tolerance, change < tolerance { stoppedBy = "relative change"; return true }
        return false
    }

    func outcome(_ x: Grid<Float>) -> IterativeOutcome { IterativeOutcome(volume: x, history: history, stoppedBy: stoppedBy) }
}

/// One ordered subset of OS-SART: its operator, data and SIRT weights.
struct AngleSubset<Op: LinearOperator> {
    var op: Op
    var data: Grid<Float>
    var rowWeights: Grid<Float>, columnWeights: Grid<Float>
}

/// Element-wise vector arithmetic on grids for the solvers, in parallel chunks (sums in double,
/// merged in chunk order, so results do not depend on the thread count's timing).
enum Vectors {
    static let chunk = 1 << 15

    /// 1/v where v > 0 (a ray or voxel the operator never touches gets weight 0).
    static func inverse(_ v: Grid<Float>) -> Grid<Float> { v.map { $0 > 1e-12 ? 1 / $0 : 0 } }

    static func dot(_ a: Grid<Float>, _ b: Grid<Float>) -> Double {
        Parallel.sharing(a) { a in Parallel.sharing(b) { b in
            Parallel.mapChunks(count: a.count, chunks: Swift.max(1, a.count / chunk)) { range in
                var s = 0.0
                for i in range { s += Double(a[i]) * Double(b[i]) }
                return s
            }.reduce(0, +)
        } }
    }

    static func norm(_ a: Grid<Float>) -> Double { dot(a, a).squareRoot() }

    static func distance(_ a: Grid<Float>, _ b: Grid<Float>) -> Double {
        Parallel.sharing(a) { a in Parallel.sharing(b) { b in
            Parallel.mapChunks(count: a.count, chunks: Swift.max(1, a.count / chunk)) { range in
                var s = 0.0
                for i in range { let d = Double(a[i]) - Double(b[i]); s += d * d }
                return s
            }.reduce(0, +).squareRoot()
        } }
    }

    /// x ← x + factor · (weights ∘) v.
    static func addScaled(_ x: inout Grid<Float>, _ v: Grid<Float>, weights: Grid<Float>? = nil, factor: Float) {
        Parallel.withDisjointWrites(&x) { x in Parallel.sharing(v) { v in
            if let weights {
                Parallel.sharing(weights) { w in
                    Parallel.forEachChunk(count: x.count, minimumChunk: chunk) { range in for i in range { x[i] += factor * w[i] * v[i] } }
                }
            } else {
                Parallel.forEachChunk(count: x.count, minimumChunk: chunk) { range in for i in range { x[i] += factor * v[i] } }
            }
        } }
    }

    /// p ← v + scale · p.
    static func scaleAndAdd(_ p: inout Grid<Float>, scale: Float, _ v: Grid<Float>) {
        Parallel.withDisjointWrites(&p) { p in Parallel.sharing(v) { v in
            Parallel.forEachChunk(count: p.count, minimumChunk: chunk) { range in for i in range { p[i] = v[i] + scale * p[i] } }
        } }
    }

    /// r ← weights ∘ (data − r); returns ‖data − r‖² (r held A x on entry).
    static func residual(_ r: inout Grid<Float>, data: Grid<Float>, weights: Grid<Float>) -> Double {
        Parallel.withDisjointWrites(&r) { r in Parallel.sharing(data) { b in Parallel.sharing(weights) { w in
            Parallel.mapChunks(count: r.count, chunks: Swift.max(1, r.count / chunk)) { range in
                var s = 0.0
                for i in range { let d = b[i] - r[i]; s += Double(d) * Double(d); r[i] = w[i] * d }
                return s
            }.reduce(0, +)
        } } }
    }

    /// y ← (y + σ ∘ (A x̄ − b)) / (1 + σ); returns ‖A x̄ − b‖².
    static func dualDataStep(_ y: inout Grid<Float>, projected: Grid<Float>, data: Grid<Float>, sigma: Grid<Float>) -> Double {
        Parallel.withDisjointWrites(&y) { y in Parallel.sharing(projected) { ax in Parallel.sharing(data) { b in Parallel.sharing(sigma) { s in
            Parallel.mapChunks(count: y.count, chunks: Swift.max(1, y.count / chunk)) { range in
                var sum = 0.0
                for i in range {
                    let d = ax[i] - b[i]
                    sum += Double(d) * Double(d)
                    y[i] = (y[i] + s[i] * d) / (1 + s[i])
                }
                return sum
            }.reduce(0, +)
        } } } }
    }

    /// out = 2x − previous in `out`'s own storage (no new pages once `out` is the only holder
    /// of it: solvers call this every iteration).
    static func extrapolate(_ x: Grid<Float>, _ previous: Grid<Float>, into out: inout Grid<Float>) {
        Parallel.withDisjointWrites(&out) { o in Parallel.sharing(x) { xv in Parallel.sharing(previous) { p in
            Parallel.forEachChunk(count: o.count, minimumChunk: chunk) { range in for i in range { o[i] = 2 * xv[i] - p[i] } }
        } } }
    }

    /// destination = source, in the destination's own storage.
    static func copy(_ source: Grid<Float>, into destination: inout Grid<Float>) {
        Parallel.withDisjointWrites(&destination) { d in Parallel.sharing(source) { s in
            Parallel.forEachChunk(count: d.count, minimumChunk: chunk) { range in for i in range { d[i] = s[i] } }
        } }
    }

    static func clamp(_ x: inout Grid<Float>, nonNegative: Bool, upper: Double?) {
        guard nonNegative || upper != nil else { return }
        let lo: Float = nonNegative ? 0 : -.infinity, hi = upper.map { Float($0) } ?? Float.infinity
        Parallel.withDisjointWrites(&x) { x in
            Parallel.forEachChunk(count: x.count, minimumChunk: chunk) { range in for i in range { x[i] = Swift.min(hi, Swift.max(lo, x[i])) } }
        }
    }
}

/// The 2D gradient within each slice of a (slice, y, x) volume (forward differences, zero at
/// the far edges: Neumann boundary), its negative adjoint (the divergence) and the steps of
/// the TV solver that use them.
enum TVGradient {
    /// A gradient field: the y and x components per voxel.
    struct Field {
        var y: Grid<Float>, x: Grid<Float>
        init(shape: Shape) { y = Grid(shape: shape); x = Grid(shape: shape) }
    }

    /// The forward differences along y and x at voxel i (row y, column x of its slice), zero at
    /// the far edges.
    @inline(__always)
    static func gradient(_ v: SharedReadBuffer<Float>, _ i: Int, y: Int, x: Int, ny: Int, nx: Int) -> (Float, Float) {
        let c = v[i]
        return (y + 1 < ny ? v[i + nx] - c : 0, x + 1 < nx ? v[i + 1] - c : 0)
    }

    /// (∇ᵀp) at voxel i: the forward differences that involve it, zero across the far edges.
    @inline(__always)
    static func adjointAt(_ py: SharedReadBuffer<Float>, _ px: SharedReadBuffer<Float>, _ i: Int, y: Int, x: Int, ny: Int, nx: Int) -> Float {
        var value: Float = 0
        if y + 1 < ny { value -= py[i] }
        if y > 0 { value += py[i - nx] }
        if x + 1 < nx { value -= px[i] }
        if x > 0 { value += px[i - 1] }
        return value
    }

    /// p ← proj_{|p| ≤ λ}(p + ½ ∇x̄) per voxel (σ = ½ for a difference row of two entries).
    static func dualStep(_ p: inout Field, _ xBar: Grid<Float>, lambda: Float) {
        let (nz, ny, nx) = (xBar.shape[0], xBar.shape[1], xBar.shape[2])
        Parallel.withDisjointWrites(&p.y) { py in Parallel.withDisjointWrites(&p.x) { px in Parallel.sharing(xBar) { v in
            Parallel.forEachChunk(count: nz * ny, minimumChunk: 16) { rows in
                for row in rows {
                    let y = row % ny, base = row * nx
                    for xi in 0..<nx {
                        let i = base + xi
                        let (gy, gx) = gradient(v, i, y: y, x: xi, ny: ny, nx: nx)
                        var qy = py[i] + 0.5 * gy, qx = px[i] + 0.5 * gx
                        let magnitude = (qy * qy + qx * qx).squareRoot()
                        if magnitude > lambda { let f = lambda / magnitude; qy *= f; qx *= f }
                        py[i] = qy; px[i] = qx
                    }
                }
            }
        } } }
    }

    /// x ← clamp(x − τ ∘ (back + ∇ᵀp)), ∇ᵀp = −div p.
    static func primalStep(_ x: inout Grid<Float>, back: Grid<Float>, dual p: Field, tau: Grid<Float>, nonNegative: Bool, upper: Double?) {
        let (nz, ny, nx) = (x.shape[0], x.shape[1], x.shape[2])
        let lo: Float = nonNegative ? 0 : -.infinity, hi = upper.map { Float($0) } ?? Float.infinity
        Parallel.withDisjointWrites(&x) { x in Parallel.sharing(back) { back in Parallel.sharing(p.y) { py in Parallel.sharing(p.x) { px in Parallel.sharing(tau) { t in
            Parallel.forEachChunk(count: nz * ny, minimumChunk: 16) { rows in
                for row in rows {
                    let y = row % ny, base = row * nx
                    for xi in 0..<nx {
                        let i = base + xi
                        let adjoint = adjointAt(py, px, i, y: y, x: xi, ny: ny, nx: nx)
                        x[i] = Swift.min(hi, Swift.max(lo, x[i] - t[i] * (back[i] + adjoint)))
                    }
                }
            }
        } } } } }
    }

    /// Σ |∇x| over every slice (isotropic).
    static func totalVariation(_ v: Grid<Float>) -> Double {
        let (nz, ny, nx) = (v.shape[0], v.shape[1], v.shape[2])
        return Parallel.sharing(v) { v in
            Parallel.mapChunks(count: nz * ny, chunks: Swift.max(1, Swift.min(nz * ny, 64))) { rows in
                var s = 0.0
                for row in rows {
                    let y = row % ny, base = row * nx
                    for xi in 0..<nx {
                        let (gy, gx) = gradient(v, base + xi, y: y, x: xi, ny: ny, nx: nx)
                        s += Double((gy * gy + gx * gx).squareRoot())
                    }
                }
                return s
            }.reduce(0, +)
        }
    }
}
