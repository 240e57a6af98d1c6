import Foundation
import LensCore

/// A similarity transform of voxel positions p = (z, y, x) about a fixed centre c:
///
///     T(p) = s · R · (p − c) + c + t
///
/// It maps a position in the fixed volume to the position of the same material in the moving
/// volume, so the moving volume resampled onto the fixed grid is `moving(T(p))`. R is the rotation
/// by the rotation vector ω (axis × angle, Rodrigues' formula), in the (z, y, x) frame; s is the
/// isotropic scale (s > 1: the moving volume's content is larger, e.g. swollen); t in voxels.
public struct SimilarityTransform: Codable, Sendable, Equatable {
    public var translationVoxels: [Double]
    /// ω in degrees: the rotation is by |ω| about ω/|ω|, components along (z, y, x).
    public var rotationVectorDegrees: [Double]
    public var scale: Double
    public var centreVoxels: [Double]

    public init(translationVoxels: [Double] = [0, 0, 0], rotationVectorDegrees: [Double] = [0, 0, 0], scale: Double = 1, centreVoxels: [Double]) {
        self.translationVoxels = translationVoxels; self.rotationVectorDegrees = rotationVectorDegrees
        self.scale = scale; self.centreVoxels = centreVoxels
    }

    /// The identity about the centre of a volume of `shape`.
    public static func identity(centreOf shape: Shape) -> SimilarityTransform {
        SimilarityTransform(centreVoxels: shape.dims.map { Double($0 - 1) / 2 })
    }

    /// The rotation angle |ω| in degrees.
    public var rotationAngleDegrees: Double { rotationVectorDegrees.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    /// R (rows of a 3 × 3 matrix) by Rodrigues' formula.
    public var rotation: [SIMD3<Double>] { Self.rotationMatrix(SIMD3(rotationVectorDegrees.map { $0 * .pi / 180 })) }

    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
        let r = rotation, c = SIMD3(centreVoxels), v = p - c
        return scale * SIMD3((r[0] * v).sum(), (r[1] * v).sum(), (r[2] * v).sum()) + c + SIMD3(translationVoxels)
    }

    /// The transform mapping moving positions back to fixed ones.
    public var inverse: SimilarityTransform {
        // p = c + Rᵀ(q − c − t)/s: the inverse about the same centre has ω' = −ω, s' = 1/s and
        // t' = −Rᵀt/s.
        let r = rotation, t = SIMD3(translationVoxels)
        let rtT = r[0] * t.x + r[1] * t.y + r[2] * t.z
        let tInverse = -rtT / scale
        return SimilarityTransform(translationVoxels: [tInverse.x, tInverse.y, tInverse.z], rotationVectorDegrees: rotationVectorDegrees.map { -$0 },
                                   scale: 1 / scale, centreVoxels: centreVoxels)
    }

    static func rotationMatrix(_ omega: SIMD3<Double>) -> [SIMD3<Double>] {
        let angle = (omega * omega).sum().squareRoot()
        guard angle > 1e-15 else { return [SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1)] }
        let k = omega / angle, (c, s) = (cos(angle), sin(angle)), v = 1 - c
        return [SIMD3(c + k.x * k.x * v, k.x * k.y * v - k.z * s, k.x * k.z * v + k.y * s),
                SIMD3(k.y * k.x * v + k.z * s, c + k.y * k.y * v, k.y * k.z * v - k.x * s),
                SIMD3(k.z * k.x * v - k.y * s, k.z * k.y * v + k.x * s, c + k.z * k.z * v)]
    }

    /// The rotation vector of a rotation matrix (the inverse of Rodrigues' formula).
    static func rotationVector(_ r: [SIMD3<Double>]) -> SIMD3<Double> {
        let cosine = Swift.max(-1, Swift.min(1, (r[0].x + r[1].y + r[2].z - 1) / 2))
        let angle = acos(cosine)
        let axis = SIMD3(r[2].y - r[1].z, r[0].z - r[2].x, r[1].x - r[0].y)
        let norm = (axis * axis).sum().squareRoot()
        guard angle > 1e-12, norm > 1e-15 else { return SIMD3(0, 0, 0) }
        return axis / norm * angle
    }
}

/// How two volumes are registered.
public struct VolumeRegistrationSettings: Codable, Sendable, Equatable {
    public enum Model: String, Codable, Sendable, CaseIterable {
        /// Shift only.
        case translation
        /// Shift and rotation.
        case rigid
        /// Shift, rotation and one isotropic scale (electrode swelling, lithiation volume change).
        case similarity
    }
    public var model: Model = .rigid
    /// Pyramid levels (each halves the size by 2 × 2 × 2 averaging); the coarsest is also where
    /// phase correlation finds the starting shift. nil: as many as keep the coarsest level ≥ 24
    /// voxels along its shortest axis, at most 4.
    public var levels: Int?
    /// Gauss–Newton iterations per level at most.
    public var maximumIterations = 40
    /// Stop a level when the update moves no point of the volume by more than this (voxels of
    /// that level).
    public var toleranceVoxels = 1e-4
    /// Start from the phase-correlation shift at the coarsest level (off: from the identity or
    /// `initial`).
    public var phaseCorrelation = true
    /// Samples per Gauss–Newton iteration at most (the fixed grid is strided to fit).
    public var maximumSamples = 2_000_000
    /// After the finest level converges on the strided sample grid, at most this many more
    /// iterations on every voxel (0: none): the strided grid is fast but leaves ~0.01 voxel of
    /// error that the full grid removes (0.0005 voxel at 256³).
    public var polishIterations = 1
    /// Fraction of each axis left out at both faces of the fixed volume (spam's `margin`, 10 %
    /// there): material near the faces may have moved out of the other scan's field of view.
    public var marginFraction = 0.05
    public init() {}

    public func validate() throws {
        if let levels, !(1...8).contains(levels) { throw LensError.invalidArgument("registration levels must be 1–8, got \(levels)") }
        guard (1...10_000).contains(maximumIterations) else { throw LensError.invalidArgument("registration iterations must be 1–10000, got \(maximumIterations)") }
        guard toleranceVoxels > 0, toleranceVoxels.isFinite else { throw LensError.invalidArgument("registration tolerance must be positive") }
        guard maximumSamples >= 1000 else { throw LensError.invalidArgument("registration needs at least 1000 samples per iteration") }
        guard (0...100).contains(polishIterations) else { throw LensError.invalidArgument("polish iterations must be 0–100, got \(polishIterations)") }
        guard marginFraction >= 0, marginFraction < 0.4 else { throw LensError.invalidArgument("the registration margin must be in [0, 0.4), got \(marginFraction)") }
    }
}

/// What a registration found and how well it fits.
public struct VolumeRegistrationResult: Codable, Sendable, Equatable {
    public var model: VolumeRegistrationSettings.Model
    public var transform: SimilarityTransform
    /// The phase-correlation shift the refinement started from (voxels; nil when not used).
    public var phaseCorrelationShiftVoxels: [Double]?
    /// Grey-level gain and offset fitted alongside (moving ≈ (fixed − offset)/gain), so a change
    /// of contrast between scans does not pull the geometry.
    public var intensityGain: Double
    public var intensityOffset: Double
    /// Normalized cross-correlation of fixed and resampled moving over the overlap, before
    /// (identity) and after.
    public var correlationBefore: Double
    public var correlationAfter: Double
    /// Fraction of the fixed volume whose transformed position lies inside the moving one.
    public var overlapFraction: Double
    public var iterationsPerLevel: [Int]
    public var converged: Bool
}

/// 3D registration of whole volumes or sub-volumes: phase correlation of the coarsest pyramid
/// level for the starting shift (Kuglin & Hines 1975, Hann-windowed, half-whitened as the 2D
/// ``ImageRegistration``), then Gauss–Newton / Levenberg–Marquardt minimisation of the
/// sum of squared differences between the fixed volume and the gain/offset-corrected, resampled
/// moving one, coarse to fine (the classic intensity-based scheme of elastix and of spam's
/// `register`, which also refines a linear grey-level correction). Trilinear interpolation and
/// its exact gradient give the Jacobian; the rotation is updated multiplicatively (R ← R·exp[δω]×).
public enum VolumeRegistration {
    public static func register(fixed: Grid<Float>, moving: Grid<Float>, settings: VolumeRegistrationSettings = VolumeRegistrationSettings(),
                                initial: SimilarityTransform? = nil, progress: ProgressReporter? = nil) throws -> VolumeRegistrationResult {
        try settings.validate()
        guard fixed.rank == 3, moving.rank == 3 else { throw LensError.invalidArgument("registration needs two 3D volumes, got \(fixed.shape) and \(moving.shape)") }
        guard fixed.shape.dims.allSatisfy({ $0 >= 8 }), moving.shape.dims.allSatisfy({ $0 >= 8 }) else {
            throw LensError.invalidArgument("registration needs volumes of at least 8 voxels along each axis, got \(fixed.shape) and \(moving.shape)")
        }
        if let initial {
            guard initial.translationVoxels.count == 3, initial.rotationVectorDegrees.count == 3, initial.centreVoxels.count == 3, initial.scale > 0 else {
                throw LensError.invalidArgument("the initial transform needs 3 translation, rotation and centre components and a positive scale")
            }
        }
        let shortest = Swift.min(fixed.shape.dims.min()!, moving.shape.dims.min()!)
        let automaticLevels = Swift.max(1, Swift.min(4, 1 + Int(log2(Double(shortest) / 24).rounded(.down))))
        let levels = settings.levels ?? automaticLevels
        var fixedPyramid = [fixed], movingPyramid = [moving]
        for _ in 1..<levels {
            guard fixedPyramid.last!.shape.dims.min()! >= 16, movingPyramid.last!.shape.dims.min()! >= 16 else { break }
            fixedPyramid.append(halved(fixedPyramid.last!)); movingPyramid.append(halved(movingPyramid.last!))
        }
        var state = Parameters(transform: initial ?? .identity(centreOf: fixed.shape))
        let before = correlation(fixed: fixed, moving: moving, transform: .identity(centreOf: fixed.shape))
        var phaseShift: [Double]?
        if settings.phaseCorrelation && initial == nil {
            let top = fixedPyramid.count - 1, factor = Double(1 << top)
            let shift = try phaseCorrelationShift(fixed: fixedPyramid[top], moving: movingPyramid[top])
            // A shift in coarse voxels: full-resolution positions p = f·q + (f − 1)/2 on both
            // sides, so the shift scales by f (the offsets cancel), plus the centre difference of
            // unequal shapes.
            let full = (0..<3).map { shift[$0] * factor }
            phaseShift = full
            state.translation = SIMD3(full)
        }
        // The gain/offset start from the grey statistics.
        let (fm, fs) = meanAndDeviation(fixed), (mm, ms) = meanAndDeviation(moving)
        state.gain = ms > 0 ? fs / ms : 1
        state.offset = fm - state.gain * mm
        var iterations = [Int](), converged = true
        for level in stride(from: fixedPyramid.count - 1, through: 0, by: -1) {
            let (count, done) = refine(&state, fixed: fixedPyramid[level], moving: movingPyramid[level], level: level, settings: settings)
            iterations.append(count)
            if level == 0 { converged = done }
            progress?.advance(by: 1)
        }
        if settings.polishIterations > 0 && fixed.count > settings.maximumSamples {
            var full = settings
            full.maximumSamples = fixed.count
            full.maximumIterations = settings.polishIterations
            let (count, _) = refine(&state, fixed: fixed, moving: moving, level: 0, settings: full)
            iterations.append(count)
        }
        let transform = state.transform
        let after = correlation(fixed: fixed, moving: moving, transform: transform)
        return VolumeRegistrationResult(model: settings.model, transform: transform, phaseCorrelationShiftVoxels: phaseShift,
                                        intensityGain: state.gain, intensityOffset: state.offset,
                                        correlationBefore: before.correlation, correlationAfter: after.correlation,
                                        overlapFraction: after.overlap, iterationsPerLevel: iterations, converged: converged)
    }

    // MARK: Parameters and Gauss–Newton

    struct Parameters {
        var translation = SIMD3<Double>(0, 0, 0)
        var rotation: [SIMD3<Double>] = [SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1)]
        var scale = 1.0
        var gain = 1.0, offset = 0.0
        var centre: SIMD3<Double>

        init(transform: SimilarityTransform) {
            translation = SIMD3(transform.translationVoxels)
            rotation = transform.rotation
            scale = transform.scale
            centre = SIMD3(transform.centreVoxels)
        }

        var transform: SimilarityTransform {
            let omega = SimilarityTransform.rotationVector(rotation) * (180 / .pi)
            return SimilarityTransform(translationVoxels: [translation.x, translation.y, translation.z],
                                       rotationVectorDegrees: [omega.x, omega.y, omega.z], scale: scale, centreVoxels: [centre.x, centre.y, centre.z])
        }
    }

    /// Gauss–Newton with Levenberg–Marquardt damping at one pyramid level. Parameters stay in
    /// full-resolution voxels: a level-l sample at index q sits at p = 2^l·q + (2^l − 1)/2.
    static func refine(_ state: inout Parameters, fixed: Grid<Float>, moving: Grid<Float>, level: Int,
                       settings: VolumeRegistrationSettings) -> (iterations: Int, converged: Bool) {
        let unknowns: Int
        switch settings.model {
        case .translation: unknowns = 5
        case .rigid: unknowns = 8
        case .similarity: unknowns = 9
        }
        let factor = Double(1 << level), half = (factor - 1) / 2
        let fd = fixed.shape.dims
        let strideVoxels = Swift.max(1, Int(ceil(cbrt(Double(fixed.count) / Double(settings.maximumSamples)))))
        let extent = Double(fd.max()!) * factor   // for the tolerance: the largest lever arm
        var lambda = 1e-3
        var current = evaluate(state, fixed: fixed, moving: moving, factor: factor, half: half, stride: strideVoxels, marginFraction: settings.marginFraction, unknowns: unknowns, normalEquations: true)
        for iteration in 1...settings.maximumIterations {
            guard current.samples >= unknowns * 10 else { return (iteration - 1, false) }
            var accepted = false
            for _ in 0..<10 {
                var a = current.jtj
                for i in 0..<unknowns { a[i, i] += lambda * Swift.max(a[i, i], 1e-12) }
                guard let inverse = a.inverseSymmetricPositiveDefinite() else { lambda *= 10; continue }
                let step = inverse.multiply(current.jtr).map { -$0 }
                let trial = updated(state, step: step, model: settings.model)
                let result = evaluate(trial, fixed: fixed, moving: moving, factor: factor, half: half, stride: strideVoxels, marginFraction: settings.marginFraction, unknowns: unknowns, normalEquations: true)
                // Compare mean squared residuals (the overlap may change the sample count).
                if result.samples >= unknowns * 10 && result.cost / Double(result.samples) <= current.cost / Double(current.samples) {
                    state = trial
                    current = result
                    lambda = Swift.max(1e-7, lambda / 3)
                    accepted = true
                    // The largest displacement the step causes anywhere in the volume, in this
                    // level's voxels.
                    var move = (step[0] * step[0] + step[1] * step[1] + step[2] * step[2]).squareRoot()
                    if unknowns >= 8 {
                        let w = SIMD3(step[3], step[4], step[5])
                        move += (w * w).sum().squareRoot() * extent / 2
                    }
                    if unknowns == 9 { move += abs(step[6]) * extent / 2 }
                    if move / factor < settings.toleranceVoxels { return (iteration, true) }
                    break
                }
                lambda *= 10
            }
            if !accepted { return (iteration, true) }   // no step lowers the cost: a minimum
        }
        return (settings.maximumIterations, false)
    }

    static func updated(_ p: Parameters, step: [Double], model: VolumeRegistrationSettings.Model) -> Parameters {
        var q = p
        q.translation += SIMD3(step[0], step[1], step[2])
        var next = 3
        if model != .translation {
            let r = SimilarityTransform.rotationMatrix(SIMD3(step[3], step[4], step[5]))
            // R ← R · exp[δω]×
            q.rotation = (0..<3).map { i in
                let row = p.rotation[i]
                return SIMD3((0..<3).map { j in row.x * r[0][j] + row.y * r[1][j] + row.z * r[2][j] })
            }
            next = 6
        }
        if model == .similarity { q.scale *= exp(step[6]); next = 7 }
        q.gain += step[next]
        q.offset += step[next + 1]
        return q
    }

    struct Evaluation: Sendable {
        var cost = 0.0
        var samples = 0
        var jtj: Matrix
        var jtr: [Double]
    }

    /// Residuals r = gain·M(T(p)) + offset − F(p) over the strided fixed grid, and the normal
    /// equations JᵀJ, Jᵀr (unknowns: t, then δω, ln s, then gain and offset).
    static func evaluate(_ p: Parameters, fixed: Grid<Float>, moving: Grid<Float>, factor: Double, half: Double, stride: Int,
                         marginFraction: Double, unknowns: Int, normalEquations: Bool) -> Evaluation {
        let fd = fixed.shape.dims, md = moving.shape.dims
        let centre = p.centre
        let r = p.rotation, s = p.scale, t = p.translation, gain = p.gain, offset = p.offset
        // Samples away from the fixed volume's faces by the margin (their partners in the moving
        // volume are most likely to have come in from outside the scanned field).
        let edge = (0..<3).map { Int((Double(fd[$0]) * marginFraction).rounded()) }
        let zs = Array(Swift.stride(from: edge[0] + stride / 2, to: fd[0] - edge[0], by: stride))
        let parts = Parallel.sharing(fixed) { f in
            Parallel.sharing(moving) { m in
                Parallel.mapChunks(count: zs.count, chunks: Swift.min(zs.count, Parallel.threadCount * 4)) { range -> Evaluation in
                    var e = Evaluation(jtj: Matrix(rows: unknowns, columns: unknowns), jtr: [Double](repeating: 0, count: unknowns))
                    // Scratch without bounds checks or copy-on-write in the per-voxel loop.
                    let jtj = UnsafeMutableBufferPointer<Double>.allocate(capacity: unknowns * unknowns)
                    let jtr = UnsafeMutableBufferPointer<Double>.allocate(capacity: unknowns)
                    let j = UnsafeMutableBufferPointer<Double>.allocate(capacity: unknowns)
                    jtj.initialize(repeating: 0); jtr.initialize(repeating: 0); j.initialize(repeating: 0)
                    defer { jtj.deallocate(); jtr.deallocate(); j.deallocate() }
                    for zi in range {
                        let z = zs[zi]
                        for y in Swift.stride(from: edge[1] + stride / 2, to: fd[1] - edge[1], by: stride) {
                            for x in Swift.stride(from: edge[2] + stride / 2, to: fd[2] - edge[2], by: stride) {
                                let position = SIMD3(Double(z), Double(y), Double(x)) * factor + half
                                let v = position - centre
                                let rv = SIMD3((r[0] * v).sum(), (r[1] * v).sum(), (r[2] * v).sum())
                                let q = s * rv + centre + t
                                let index = (q - half) / factor
                                guard let sample = trilinear(m, md, index), sample.value.isFinite else { continue }
                                let fixedValue = Double(f[(z * fd[1] + y) * fd[2] + x])
                                guard fixedValue.isFinite else { continue }
                                let residual = gain * sample.value + offset - fixedValue
                                e.cost += residual * residual
                                e.samples += 1
                                guard normalEquations else { continue }
                                // ∂r/∂q through the gradient of the moving volume at T(p), estimated from the
                                // fixed volume's (central differences): at the match M(T(p)) ≈ (F(p) −
                                // offset)/gain, so gain·∇M(T(p)) ≈ R·∇F(p)/s. Smooth where trilinear
                                // interpolation's own gradient jumps at voxel faces, which biases the fit
                                // towards whole-voxel shifts (spam's register uses the fixed gradient too).
                                let i = (z * fd[1] + y) * fd[2] + x
                                func difference(_ axis: Int, _ coordinate: Int, _ step: Int) -> Double {
                                    let extent = fd[axis]
                                    let lower = coordinate > 0 ? i - step : i, upper = coordinate < extent - 1 ? i + step : i
                                    let span = Double((coordinate > 0 ? 1 : 0) + (coordinate < extent - 1 ? 1 : 0))
                                    return span > 0 ? (Double(f[upper]) - Double(f[lower])) / span : 0
                                }
                                let gradientFixed = SIMD3(difference(0, z, fd[1] * fd[2]), difference(1, y, fd[2]), difference(2, x, 1))
                                guard gradientFixed.x.isFinite, gradientFixed.y.isFinite, gradientFixed.z.isFinite else { continue }
                                let g = SIMD3((r[0] * gradientFixed).sum(), (r[1] * gradientFixed).sum(), (r[2] * gradientFixed).sum()) / (s * factor)
                                j[0] = g.x; j[1] = g.y; j[2] = g.z
                                var next = 3
                                if unknowns >= 8 {
                                    // ∂r/∂δω = s · (v × Rᵀg)
                                    let rtg = r[0] * g.x + r[1] * g.y + r[2] * g.z
                                    let cross = SIMD3(v.y * rtg.z - v.z * rtg.y, v.z * rtg.x - v.x * rtg.z, v.x * rtg.y - v.y * rtg.x) * s
                                    j[3] = cross.x; j[4] = cross.y; j[5] = cross.z
                                    next = 6
                                }
                                if unknowns == 9 { j[6] = (g * (s * rv)).sum(); next = 7 }
                                j[next] = sample.value
                                j[next + 1] = 1
                                // Upper triangle of JᵀJ; wrapping arithmetic and raw pointers keep
                                // overflow and bounds checks out of the per-voxel loop.
                                let jp = j.baseAddress!, tp = jtj.baseAddress!, rp = jtr.baseAddress!
                                var a = 0
                                while a < unknowns {
                                    let ja = jp[a]
                                    rp[a] += ja * residual
                                    let row = tp + a &* unknowns
                                    var b = a
                                    while b < unknowns { row[b] += ja * jp[b]; b &+= 1 }
                                    a &+= 1
                                }
                            }
                        }
                    }
                    for a in 0..<unknowns {
                        e.jtr[a] = jtr[a]
                        for b in a..<unknowns { e.jtj[a, b] = jtj[a * unknowns + b]; e.jtj[b, a] = jtj[a * unknowns + b] }
                    }
                    return e
                }
            }
        }
        var total = Evaluation(jtj: Matrix(rows: unknowns, columns: unknowns), jtr: [Double](repeating: 0, count: unknowns))
        for part in parts {
            total.cost += part.cost; total.samples += part.samples
            for i in 0..<(unknowns * unknowns) { total.jtj.values[i] += part.jtj.values[i] }
            for i in 0..<unknowns { total.jtr[i] += part.jtr[i] }
        }
        return total
    }

    /// Trilinear value and its exact gradient at a continuous index (z, y, x); nil outside the
    /// volume (the last plane counts as inside).
    @inline(__always)
    static func trilinear(_ m: SharedReadBuffer<Float>, _ d: [Int], _ q: SIMD3<Double>) -> (value: Double, gradient: SIMD3<Double>)? {
        guard q.x >= 0, q.y >= 0, q.z >= 0, q.x <= Double(d[0] - 1), q.y <= Double(d[1] - 1), q.z <= Double(d[2] - 1) else { return nil }
        let z0 = Swift.min(Int(q.x), d[0] - 2), y0 = Swift.min(Int(q.y), d[1] - 2), x0 = Swift.min(Int(q.z), d[2] - 2)
        let (fz, fy, fx) = (q.x - Double(z0), q.y - Double(y0), q.z - Double(x0))
        let plane = d[1] * d[2], base = (z0 * d[1] + y0) * d[2] + x0
        let c000 = Double(m[base]), c001 = Double(m[base + 1]), c010 = Double(m[base + d[2]]), c011 = Double(m[base + d[2] + 1])
        let c100 = Double(m[base + plane]), c101 = Double(m[base + plane + 1]), c110 = Double(m[base + plane + d[2]]), c111 = Double(m[base + plane + d[2] + 1])
        let c00 = c000 + (c001 - c000) * fx, c01 = c010 + (c011 - c010) * fx
        let c10 = c100 + (c101 - c100) * fx, c11 = c110 + (c111 - c110) * fx
        let c0 = c00 + (c01 - c00) * fy, c1 = c10 + (c11 - c10) * fy
        let value = c0 + (c1 - c0) * fz
        let dz = c1 - c0
        let dy = (c01 - c00) * (1 - fz) + (c11 - c10) * fz
        let dx0 = (c001 - c000) * (1 - fy) + (c011 - c010) * fy, dx1 = (c101 - c100) * (1 - fy) + (c111 - c110) * fy
        let dx = dx0 * (1 - fz) + dx1 * fz
        return (value, SIMD3(dz, dy, dx))
    }

    // MARK: Phase correlation

    /// The shift d (voxels, (z, y, x)) with moving(p + d) ≈ fixed(p), from the peak of the
    /// half-whitened cross-power spectrum of the Hann-windowed, mean-free volumes (both padded to
    /// a common fast size), refined by a parabola through the peak and its neighbours on each
    /// axis. Unequal shapes are compared about their centres.
    public static func phaseCorrelationShift(fixed: Grid<Float>, moving: Grid<Float>) throws -> [Double] {
        guard fixed.rank == 3, moving.rank == 3 else { throw LensError.invalidArgument("phase correlation needs 3D volumes") }
        let dims = (0..<3).map { FFT.fastLength(atLeast: Swift.max(fixed.shape[$0], moving.shape[$0])) }
        let shape = Shape(dims)
        func windowed(_ g: Grid<Float>) -> Grid<Float> {
            let (mean, _) = meanAndDeviation(g)
            let d = g.shape.dims
            let windows = d.map { n in (0..<n).map { i in n > 1 ? 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n - 1)) : 1 } }
            // Centred in the padded box so unequal shapes line up by their centres.
            let offsets = (0..<3).map { (dims[$0] - d[$0]) / 2 }
            var out = Grid<Float>(shape: shape)
            g.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for z in 0..<d[0] { for y in 0..<d[1] {
                        let w = windows[0][z] * windows[1][y]
                        let target = ((z + offsets[0]) * dims[1] + y + offsets[1]) * dims[2] + offsets[2]
                        let source = (z * d[1] + y) * d[2]
                        for x in 0..<d[2] { dst[target + x] = Float((Double(src[source + x]) - mean) * w * windows[2][x]) }
                    } }
                }
            }
            return out
        }
        let a = FFT.forward(windowed(fixed)), b = FFT.forward(windowed(moving))
        var cross = Grid<ComplexFloat32>(shape: a.shape)
        a.withUnsafeBufferPointer { fa in
            b.withUnsafeBufferPointer { fb in
                cross.withUnsafeMutableBufferPointer { c in
                    for i in 0..<c.count {
                        // conj(F)·M: its inverse peaks at +d.
                        let (ar, ai, br, bi) = (Double(fa[i].real), Double(fa[i].imaginary), Double(fb[i].real), Double(fb[i].imaginary))
                        let re = ar * br + ai * bi, im = ar * bi - ai * br
                        let magnitude = (re * re + im * im).squareRoot().squareRoot()
                        c[i] = magnitude > 0 ? ComplexFloat32(Float(re / magnitude), Float(im / magnitude)) : ComplexFloat32(0, 0)
                    }
                }
            }
        }
        let surface = FFT.inverse(cross, realShape: shape)
        var best = 0
        surface.withUnsafeBufferPointer { s in
            for i in 1..<s.count where s[i] > s[best] { best = i }
        }
        let peak = [best / (dims[1] * dims[2]), (best / dims[2]) % dims[1], best % dims[2]]
        func value(_ p: [Int]) -> Double {
            let w = (0..<3).map { ((p[$0] % dims[$0]) + dims[$0]) % dims[$0] }
            return Double(surface[w[0], w[1], w[2]])
        }
        return (0..<3).map { axis in
            var minus = peak, plus = peak
            minus[axis] -= 1; plus[axis] += 1
            let (m, c, p) = (value(minus), value(peak), value(plus))
            let curvature = m - 2 * c + p
            var shift = Double(peak[axis]) + (curvature < 0 ? Swift.max(-0.5, Swift.min(0.5, 0.5 * (m - p) / curvature)) : 0)
            if shift > Double(dims[axis]) / 2 { shift -= Double(dims[axis]) }
            // The volumes sit at offsets o in the padded box: moving index = fixed index + d + o_F − o_M.
            let offsetFixed = (dims[axis] - fixed.shape[axis]) / 2, offsetMoving = (dims[axis] - moving.shape[axis]) / 2
            return shift + Double(offsetFixed - offsetMoving)
        }
    }

    // MARK: Resampling and helpers

    public enum Interpolation: String, Codable, Sendable, CaseIterable {
        case nearest, linear
        /// Keys' cubic convolution (a = −0.5), 4 × 4 × 4 neighbours.
        case cubic
    }

    /// `moving(T(p))` on a grid of `shape` (the fixed volume's), with `fill` outside the moving
    /// volume. The output keeps `geometry` (the fixed volume's voxel size).
    public static func resample(_ moving: Grid<Float>, transform: SimilarityTransform, shape: Shape, geometry: GridGeometry? = nil,
                                interpolation: Interpolation = .linear, fill: Float = .nan) -> Grid<Float> {
        if interpolation == .nearest { return resampleNearest(moving, transform: transform, shape: shape, geometry: geometry, fill: fill) }
        precondition(moving.rank == 3 && shape.rank == 3)
        let md = moving.shape.dims, od = shape.dims
        let map = AffineMap(transform)
        var out = Grid<Float>(shape: shape, geometry: geometry ?? moving.geometry)
        Parallel.sharing(moving) { m in
            Parallel.forEachRowChunk(rows: od[0], rowLength: od[1] * od[2], writing: &out) { o in
                for z in o.rows { for y in 0..<od[1] { for x in 0..<od[2] {
                    let q = map(SIMD3(Double(z), Double(y), Double(x)))
                    o[(z * od[1] + y) * od[2] + x] = interpolation == .linear ? (trilinear(m, md, q).map { Float($0.value) } ?? fill) : (cubic(m, md, q) ?? fill)
                } } }
            }
        }
        return out
    }

    /// Labels moved by nearest neighbour (0 outside), so label codes survive.
    public static func resampleLabels(_ labels: Grid<Int32>, transform: SimilarityTransform, shape: Shape, geometry: GridGeometry? = nil) -> Grid<Int32> {
        resampleNearest(labels, transform: transform, shape: shape, geometry: geometry, fill: 0)
    }

    /// `g(T(p))` by the nearest voxel, `fill` outside.
    static func resampleNearest<T: GridElement>(_ g: Grid<T>, transform: SimilarityTransform, shape: Shape, geometry: GridGeometry?, fill: T) -> Grid<T> {
        precondition(g.rank == 3 && shape.rank == 3)
        let md = g.shape.dims, od = shape.dims
        let map = AffineMap(transform)
        var out = Grid<T>(shape: shape, geometry: geometry ?? g.geometry)
        Parallel.sharing(g) { m in
            Parallel.forEachRowChunk(rows: od[0], rowLength: od[1] * od[2], writing: &out) { o in
                for z in o.rows { for y in 0..<od[1] { for x in 0..<od[2] {
                    let q = map(SIMD3(Double(z), Double(y), Double(x)))
                    let (iz, iy, ix) = (Int(q.x.rounded()), Int(q.y.rounded()), Int(q.z.rounded()))
                    o[(z * od[1] + y) * od[2] + x] = (0..<md[0]).contains(iz) && (0..<md[1]).contains(iy) && (0..<md[2]).contains(ix)
                        ? m[(iz * md[1] + iy) * md[2] + ix] : fill
                } } }
            }
        }
        return out
    }

    /// T as a precomputed affine map q = A·p + b (A = s·R, b = c + t − A·c), for per-voxel loops
    /// (``SimilarityTransform/apply(_:)`` rebuilds R on every call).
    struct AffineMap: Sendable {
        let rows: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)
        let offset: SIMD3<Double>
        init(_ t: SimilarityTransform) {
            let r = t.rotation, c = SIMD3(t.centreVoxels)
            rows = (r[0] * t.scale, r[1] * t.scale, r[2] * t.scale)
            offset = c + SIMD3(t.translationVoxels) - SIMD3((rows.0 * c).sum(), (rows.1 * c).sum(), (rows.2 * c).sum())
        }
        @inline(__always) func callAsFunction(_ p: SIMD3<Double>) -> SIMD3<Double> {
            SIMD3((rows.0 * p).sum(), (rows.1 * p).sum(), (rows.2 * p).sum()) + offset
        }
    }

    /// Keys' cubic convolution weights for offsets −1, 0, 1, 2 from the floor (a = −0.5).
    @inline(__always) static func keys(_ f: Double) -> SIMD4<Double> {
        let a = -0.5
        func w(_ x: Double) -> Double {
            let x = abs(x)
            if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            return 0
        }
        return SIMD4(w(1 + f), w(f), w(1 - f), w(2 - f))
    }

    @inline(__always)
    static func cubic(_ m: SharedReadBuffer<Float>, _ d: [Int], _ q: SIMD3<Double>) -> Float? {
        guard q.x >= 0, q.y >= 0, q.z >= 0, q.x <= Double(d[0] - 1), q.y <= Double(d[1] - 1), q.z <= Double(d[2] - 1) else { return nil }
        let base = [Int(q.x), Int(q.y), Int(q.z)]
        let wz = keys(q.x - Double(base[0])), wy = keys(q.y - Double(base[1])), wx = keys(q.z - Double(base[2]))
        var sum = 0.0
        for a in 0..<4 {
            let z = Swift.min(d[0] - 1, Swift.max(0, base[0] + a - 1))   // edge voxels repeated
            for b in 0..<4 {
                let y = Swift.min(d[1] - 1, Swift.max(0, base[1] + b - 1))
                let row = (z * d[1] + y) * d[2]
                var line = 0.0
                for c in 0..<4 {
                    let x = Swift.min(d[2] - 1, Swift.max(0, base[2] + c - 1))
                    line += wx[c] * Double(m[row + x])
                }
                sum += wz[a] * wy[b] * line
            }
        }
        return Float(sum)
    }

    /// 2 × 2 × 2 block means (a trailing odd plane is dropped).
    static func halved(_ g: Grid<Float>) -> Grid<Float> {
        let d = g.shape.dims, h = d.map { $0 / 2 }
        var out = Grid<Float>(shape: Shape(h), geometry: g.geometry.binned(by: [2, 2, 2]))
        Parallel.sharing(g) { s in
            Parallel.forEachRowChunk(rows: h[0], rowLength: h[1] * h[2], writing: &out) { o in
                for z in o.rows { for y in 0..<h[1] { for x in 0..<h[2] {
                    var sum: Float = 0
                    for dz in 0..<2 { for dy in 0..<2 {
                        let row = ((2 * z + dz) * d[1] + 2 * y + dy) * d[2] + 2 * x
                        sum += s[row] + s[row + 1]
                    } }
                    o[(z * h[1] + y) * h[2] + x] = sum / 8
                } } }
            }
        }
        return out
    }

    static func meanAndDeviation(_ g: Grid<Float>) -> (Double, Double) {
        var (sum, squares, count) = (0.0, 0.0, 0)
        g.withUnsafeBufferPointer { v in for x in v where x.isFinite { sum += Double(x); squares += Double(x) * Double(x); count += 1 } }
        guard count > 0 else { return (0, 0) }
        let mean = sum / Double(count)
        return (mean, Swift.max(0, squares / Double(count) - mean * mean).squareRoot())
    }

    /// Normalized cross-correlation of fixed and moving(T(·)) over their overlap (strided to about
    /// 2 million samples; NaN voxels, such as a resampled volume's outside, are left out), and the
    /// overlap's fraction of the fixed volume.
    public static func correlation(fixed: Grid<Float>, moving: Grid<Float>, transform: SimilarityTransform) -> (correlation: Double, overlap: Double) {
        let fd = fixed.shape.dims, md = moving.shape.dims
        let step = Swift.max(1, Int(ceil(cbrt(Double(fixed.count) / 2e6))))
        let map = AffineMap(transform)
        var (sa, sb, saa, sbb, sab, n, total) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        Parallel.sharing(fixed) { f in
            Parallel.sharing(moving) { m in
                for z in Swift.stride(from: step / 2, to: fd[0], by: step) { for y in Swift.stride(from: step / 2, to: fd[1], by: step) {
                    for x in Swift.stride(from: step / 2, to: fd[2], by: step) {
                        total += 1
                        let q = map(SIMD3(Double(z), Double(y), Double(x)))
                        guard let b = trilinear(m, md, q)?.value, b.isFinite else { continue }
                        let a = Double(f[(z * fd[1] + y) * fd[2] + x])
                        guard a.isFinite else { continue }
                        sa += a; sb += b; saa += a * a; sbb += b * b; sab += a * b; n += 1
                    }
                } }
            }
        }
        guard n > 1 else { return (0, 0) }
        let cov = sab / n - sa / n * sb / n, va = saa / n - sa / n * sa / n, vb = sbb / n - sb / n * sb / n
        return (va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : 0, n / total)
    }
}

// MARK: - Local displacements (digital volume correlation)

/// How a displacement field is measured: sub-volumes ("correlation windows") of the fixed volume
/// on a regular grid of nodes, each registered by translation (and grey gain/offset) into the
/// moving volume — spam's local DVC (`ldic`) scheme.
public struct DisplacementFieldSettings: Codable, Sendable, Equatable {
    /// Node spacing in voxels.
    public var nodeSpacingVoxels = 16
    /// Half the correlation window's side in voxels (window = 2·h + 1 per axis).
    public var windowHalfWidthVoxels = 10
    /// How far (voxels) a node may move from its start before it is reported as lost.
    public var searchRadiusVoxels = 8
    /// Windows whose grey standard deviation is below this fraction of the volume's carry too
    /// little texture to correlate and are skipped (reported as not measured).
    public var minimumTextureFraction = 0.1
    public var maximumIterations = 50
    public init() {}

    public func validate() throws {
        guard nodeSpacingVoxels >= 1, nodeSpacingVoxels <= 4096 else { throw LensError.invalidArgument("node spacing must be 1–4096 voxels, got \(nodeSpacingVoxels)") }
        guard windowHalfWidthVoxels >= 4, windowHalfWidthVoxels <= 256 else { throw LensError.invalidArgument("window half-width must be 4–256 voxels, got \(windowHalfWidthVoxels)") }
        guard searchRadiusVoxels >= 1, searchRadiusVoxels <= 1024 else { throw LensError.invalidArgument("search radius must be 1–1024 voxels, got \(searchRadiusVoxels)") }
        guard minimumTextureFraction >= 0, minimumTextureFraction < 1 else { throw LensError.invalidArgument("minimum texture fraction must be in [0, 1)") }
        guard (1...10_000).contains(maximumIterations) else { throw LensError.invalidArgument("iterations must be 1–10000") }
    }
}

/// A displacement measured at one node: fixed position p moves to p + u in the moving volume.
public struct DisplacementNode: Codable, Sendable, Equatable {
    public var positionVoxels: [Int]
    /// u (z, y, x) in voxels; nil where the window had too little texture, left the volume, or
    /// did not converge within the search radius.
    public var displacementVoxels: [Double]?
    /// Normalized cross-correlation of the window after registration.
    public var correlation: Double
    public var status: Status
    public enum Status: String, Codable, Sendable { case measured, lowTexture, outside, notConverged }
}

/// The nodes of a displacement field, in (z, y, x) node order.
public struct DisplacementField: Codable, Sendable, Equatable {
    public var nodeCounts: [Int]
    public var settings: DisplacementFieldSettings
    /// The global transform the local search started from (its displacement at each node).
    public var prior: SimilarityTransform?
    public var nodes: [DisplacementNode]
    public var measuredFraction: Double { nodes.isEmpty ? 0 : Double(nodes.filter { $0.status == .measured }.count) / Double(nodes.count) }
}

extension VolumeRegistration {
    /// Local digital volume correlation: each node's window of the fixed volume is registered by
    /// translation into the moving volume, starting from `prior`'s displacement at the node
    /// (e.g. the whole-volume rigid or similarity registration), so the field is what the
    /// global transform does not explain plus the global part — u(p) = T(p) − p at the start.
    public static func displacementField(fixed: Grid<Float>, moving: Grid<Float>, settings: DisplacementFieldSettings = DisplacementFieldSettings(),
                                         prior: SimilarityTransform? = nil, progress: ProgressReporter? = nil,
                                         cancellation: CancellationToken? = nil) throws -> DisplacementField {
        try settings.validate()
        guard fixed.rank == 3, moving.rank == 3 else { throw LensError.invalidArgument("displacement fields need two 3D volumes") }
        let h = settings.windowHalfWidthVoxels, margin = settings.searchRadiusVoxels + 2
        let fd = fixed.shape.dims, md = moving.shape.dims
        let axes = (0..<3).map { axis in Array(stride(from: h, to: fd[axis] - h, by: settings.nodeSpacingVoxels)) }
        guard axes.allSatisfy({ !$0.isEmpty }) else {
            throw LensError.invalidArgument("the fixed volume \(fixed.shape) is smaller than one correlation window (\(2 * h + 1) voxels per axis)")
        }
        let (_, globalDeviation) = meanAndDeviation(fixed)
        var positions = [[Int]]()
        for z in axes[0] { for y in axes[1] { for x in axes[2] { positions.append([z, y, x]) } } }
        let positionList = positions
        var windowSettings = VolumeRegistrationSettings()
        windowSettings.model = .translation
        windowSettings.levels = 1
        windowSettings.phaseCorrelation = false
        windowSettings.maximumIterations = settings.maximumIterations
        windowSettings.toleranceVoxels = 1e-3
        let frozen = windowSettings
        let nodes: [DisplacementNode] = try Parallel.sharing(fixed) { f in
            try Parallel.sharing(moving) { m in
                let parts = Parallel.mapChunks(count: positionList.count, chunks: Swift.min(positionList.count, Parallel.threadCount * 8)) { range -> [DisplacementNode]? in
                    var out = [DisplacementNode]()
                    for k in range {
                        if cancellation?.isCancelled == true { return nil }
                        let p = positionList[k]
                        let start = prior.map { $0.apply(SIMD3(p.map(Double.init))) - SIMD3(p.map(Double.init)) } ?? SIMD3(0, 0, 0)
                        let window = Self.extract(f, fd, from: p.map { $0 - h }, size: [2 * h + 1, 2 * h + 1, 2 * h + 1])
                        let (_, deviation) = meanAndDeviation(window)
                        guard deviation > settings.minimumTextureFraction * globalDeviation else {
                            out.append(DisplacementNode(positionVoxels: p, displacementVoxels: nil, correlation: 0, status: .lowTexture)); continue
                        }
                        // The moving window: the fixed window's box moved by the start, widened by the
                        // margin and clipped to the moving volume (the window itself must fit).
                        let low = (0..<3).map { Int((Double(p[$0] - h) + start[$0]).rounded()) }
                        guard (0..<3).allSatisfy({ low[$0] >= 0 && low[$0] + 2 * h + 1 <= md[$0] }) else {
                            out.append(DisplacementNode(positionVoxels: p, displacementVoxels: nil, correlation: 0, status: .outside)); continue
                        }
                        let origin = (0..<3).map { Swift.max(0, low[$0] - margin) }
                        let size = (0..<3).map { Swift.min(md[$0], low[$0] + 2 * h + 1 + margin) - origin[$0] }
                        let search = Self.extract(m, md, from: origin, size: size)
                        // Window index w ↔ fixed p − h + w; moving window index = w + (p − h + start − origin).
                        let offset = (0..<3).map { Double(p[$0] - h) + start[$0] - Double(origin[$0]) }
                        let initial = SimilarityTransform(translationVoxels: offset, centreVoxels: [Double(h), Double(h), Double(h)])
                        guard let result = try? register(fixed: window, moving: search, settings: frozen, initial: initial) else {
                            out.append(DisplacementNode(positionVoxels: p, displacementVoxels: nil, correlation: 0, status: .notConverged)); continue
                        }
                        let t = result.transform.translationVoxels
                        let u = (0..<3).map { t[$0] - Double(p[$0] - h) + Double(origin[$0]) }
                        let moved = (0..<3).map { u[$0] - start[$0] }
                        let distance = moved.reduce(0) { $0 + $1 * $1 }.squareRoot()
                        let ok = result.converged && distance <= Double(settings.searchRadiusVoxels) && result.overlapFraction > 0.95
                        out.append(DisplacementNode(positionVoxels: p, displacementVoxels: ok ? u : nil, correlation: result.correlationAfter,
                                                    status: ok ? .measured : .notConverged))
                    }
                    progress?.advance(by: range.count)
                    return out
                }
                guard parts.allSatisfy({ $0 != nil }) else { throw LensError.cancelled }
                return parts.flatMap { $0! }
            }
        }
        return DisplacementField(nodeCounts: axes.map(\.count), settings: settings, prior: prior, nodes: nodes)
    }

    /// A box copied out of a volume (the box must lie inside).
    static func extract(_ v: SharedReadBuffer<Float>, _ d: [Int], from origin: [Int], size: [Int]) -> Grid<Float> {
        var out = Grid<Float>(shape: Shape(size))
        out.withUnsafeMutableBufferPointer { o in
            for z in 0..<size[0] { for y in 0..<size[1] {
                let source = ((origin[0] + z) * d[1] + origin[1] + y) * d[2] + origin[2]
                let target = (z * size[1] + y) * size[2]
                for x in 0..<size[2] { o[target + x] = v[source + x] }
            } }
        }
        return out
    }
}
