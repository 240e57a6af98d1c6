import Foundation
import LensCore
import Signal

/// How an impedance sweep is run.
public struct ImpedanceSettings: Codable, Sendable, Equatable {
    public enum Outlet: String, Codable, Sendable, CaseIterable {
        /// Zero flux at the far face: a porous electrode on its current collector (TauFactor's
        /// electrode impedance; the transmission line ends open).
        case blocking
        /// Ĉ = 0 at the far face: a membrane or separator between two reservoirs.
        case fixed
    }
    /// Dimensionless angular frequencies ω̃ = ω·L²/D (L the sample's length along the axis).
    public var normalizedFrequencies: [Double]
    public var outlet: Outlet = .blocking
    /// Relative residual ‖r‖/‖b‖ at which each frequency's solve stops. At 1e-7 the spectrum
    /// of TauFactor's electrode (a 128³ crop, 20 frequencies) differs from a 1e-9 solve by at
    /// most 3.6·10⁻⁶ of |Z̃| (1e-6: 5·10⁻⁵), far inside the 0.5–1 % the model and its fit are
    /// judged by, in 30 % less time than at 1e-9 (1e-6: 46 % less).
    public var tolerance = 1e-7
    public var maximumIterations = 5_000

    public init(normalizedFrequencies: [Double] = Impedance.logSpaced(from: 0.01, to: 1000, count: 20)) {
        self.normalizedFrequencies = normalizedFrequencies
    }

    public func validate() throws {
        guard !normalizedFrequencies.isEmpty, normalizedFrequencies.count <= 1000 else { throw LensError.invalidArgument("give 1–1000 frequencies, got \(normalizedFrequencies.count)") }
        guard normalizedFrequencies.allSatisfy({ $0 > 0 && $0.isFinite && $0 <= 1e8 }) else { throw LensError.invalidArgument("normalized frequencies must be positive and at most 10⁸") }
        guard tolerance > 0, tolerance < 1e-2 else { throw LensError.invalidArgument("the solver tolerance (--tolerance) must be in (0, 0.01), got \(tolerance)") }
        guard (1...1_000_000).contains(maximumIterations) else { throw LensError.invalidArgument("iterations must be 1–10⁶") }
    }
}

/// One frequency of the sweep: the normalized impedance Z̃ = Z·A·D/L (Z = ΔĈ / inlet flux).
public struct ImpedancePoint: Codable, Sendable, Equatable {
    public var normalizedFrequency: Double
    public var real: Double
    public var imaginary: Double
    public var magnitude: Double { (real * real + imaginary * imaginary).squareRoot() }
    public var phaseDegrees: Double { atan2(imaginary, real) * 180 / .pi }
    public var iterations: Int
    public var converged: Bool
}

/// The transmission-line model of a porous phase fitted to the sweep (de Levie; TauFactor's
/// impedance): Z̃ = R̃·coth(√(iω̃R̃C̃))/√(iω̃R̃C̃) for a blocking outlet (tanh for a fixed one),
/// with R̃ = D/D_eff = τ/ε the normalized ionic resistance and C̃ the storage (the volume
/// fraction that exchanges with the inlet).
public struct TransmissionLineFit: Codable, Sendable, Equatable {
    public var resistance: Double
    public var resistanceStandardError: Double?
    public var capacitance: Double
    public var capacitanceStandardError: Double?
    /// τ = ε·R̃ with ε the whole phase fraction (TauFactor's convention).
    public var tortuosityFactor: Double
    /// RMS of the relative complex misfit |Z_model − Z|/|Z|.
    public var relativeMisfit: Double
}

public struct ImpedanceResult: Codable, Sendable, Equatable {
    public var axis: Int
    public var outlet: ImpedanceSettings.Outlet
    public var volumeFraction: Double
    /// Fraction of all voxels that exchange with the inlet (the unknowns).
    public var connectedFraction: Double
    public var points: [ImpedancePoint]
    public var fit: TransmissionLineFit?
    /// Angle of the Nyquist line between the two highest frequencies (45° in the transmission
    /// line's diffusive region).
    public var highFrequencyAngleDegrees: Double?
}

/// Simulated impedance of a phase (Cooper et al. 2016, TauFactor's frequency-domain extension):
/// the diffusion equation in the frequency domain, ∇²Ĉ − (iω/D)Ĉ = 0 on the phase's voxels,
/// Ĉ = 1 on the inlet face (half a voxel outside the first layer), blocking or Ĉ = 0 on the
/// outlet, zero flux elsewhere — the same finite volumes as ``Tortuosity``. The complex
/// symmetric system (L + iωV)Ĉ = b is solved by COCG (conjugate orthogonal conjugate gradients,
/// van der Vorst & Melissen 1990) preconditioned by the real shifted operator L + ωV through the
/// aggregation multigrid V-cycle (the eigenvalues of the preconditioned system, (λ + iω)/(λ + ω),
/// stay within 45° of 1 and at least 1/√2 in modulus, so the iteration count barely depends on
/// the frequency).
public enum Impedance {
    /// `count` frequencies from `low` to `high`, evenly spaced in log.
    public static func logSpaced(from low: Double, to high: Double, count: Int) -> [Double] {
        guard count > 1 else { return [low] }
        return (0..<count).map { low * pow(high / low, Double($0) / Double(count - 1)) }
    }

    public static func sweep(phase: Grid<UInt8>, axis: Int, settings: ImpedanceSettings = ImpedanceSettings(),
                             progress: ProgressReporter? = nil) throws -> ImpedanceResult {
        try settings.validate()
        let system = try DiffusionSystem(phase: phase, axis: axis, outlet: settings.outlet == .blocking ? .blocking : .fixed)
        guard let level = system.level else {
            throw LensError.numerical("no voxel of the phase connects to the inlet face along axis \(axis): there is no impedance to simulate")
        }
        let n = system.unknowns
        var points = [ImpedancePoint]()
        var rhs = [Double](repeating: 0, count: n)
        for u in system.inlet { rhs[Int(u)] = system.boundaryConductance }
        // Each frequency starts from the solution at the one before (the frequencies are swept in
        // order, and neighbouring log-spaced ones have close fields): fewer iterations, the same
        // stopping rule (‖r‖ ≤ tolerance·‖b‖).
        var previous: ([Double], [Double])?
        // One hierarchy for the sweep, on a copy of L whose diagonal each frequency shifts.
        let hierarchy = MultigridHierarchy(finest: DiffusionLevel(copying: level, diagonalShift: 0), coarseKrylov: false, diagonalShifts: true)
        for omegaTilde in settings.normalizedFrequencies {
            // Storage term: iω·V per voxel with ω = ω̃·D/L².
            let shift = omegaTilde / (system.lengthAlongAxis * system.lengthAlongAxis) * system.voxelVolume
            let (re, im, iterations, converged) = solve(level: level, hierarchy: hierarchy, shift: shift, rhs: rhs, settings: settings, start: previous)
            previous = (re, im)
            // Inlet flux Σ g_b (1 − Ĉ) and Z̃ = (1/Ĵ)·A/L (D = 1).
            var (jr, ji) = (0.0, 0.0)
            for u in system.inlet { jr += system.boundaryConductance * (1 - re[Int(u)]); ji -= system.boundaryConductance * im[Int(u)] }
            let scale = system.crossSection / system.lengthAlongAxis
            let denominator = jr * jr + ji * ji
            points.append(ImpedancePoint(normalizedFrequency: omegaTilde, real: jr / denominator * scale, imaginary: -ji / denominator * scale,
                                         iterations: iterations, converged: converged))
            progress?.advance()
        }
        let fit = try? fitTransmissionLine(points, outlet: settings.outlet, volumeFraction: system.volumeFraction, storage: system.unknownFraction)
        var angle: Double?
        let sorted = points.sorted { $0.normalizedFrequency < $1.normalizedFrequency }
        if sorted.count >= 2 {
            // From the highest frequency towards the next lower one the line rises (−Im grows
            // with Re): its angle above the real axis.
            let (a, c) = (sorted[sorted.count - 2], sorted[sorted.count - 1])
            angle = atan2(c.imaginary - a.imaginary, a.real - c.real) * 180 / .pi
        }
        return ImpedanceResult(axis: axis, outlet: settings.outlet, volumeFraction: system.volumeFraction, connectedFraction: system.unknownFraction,
                               points: points, fit: fit, highFrequencyAngleDegrees: angle)
    }

    /// The model's Z̃ at ω̃ for R̃, C̃ (complex arithmetic on (re, im) pairs).
    static func transmissionLine(_ omega: Double, resistance r: Double, capacitance c: Double, outlet: ImpedanceSettings.Outlet) -> (Double, Double) {
        // k = √(i·ω̃·R̃·C̃) = √(ω̃R̃C̃/2)·(1 + i)
        let a = (omega * r * c / 2).squareRoot()
        // coth(a + ia) or tanh(a + ia): with x = 2a, coth(z) = (sinh x − i sin x)/(cosh x − cos x),
        // tanh(z) = (sinh x + i sin x)/(cosh x + cos x).
        let x = 2 * a
        var (fr, fi): (Double, Double)
        if x > 40 { (fr, fi) = (1, 0) } else if outlet == .blocking {
            let d = cosh(x) - cos(x); (fr, fi) = (sinh(x) / d, -sin(x) / d)
        } else {
            let d = cosh(x) + cos(x); (fr, fi) = (sinh(x) / d, sin(x) / d)
        }
        // Z̃ = R̃·f/k, 1/k = (1 − i)/(2a)
        let (kr, ki) = (1 / (2 * a), -1 / (2 * a))
        return (r * (fr * kr - fi * ki), r * (fr * ki + fi * kr))
    }

    static func fitTransmissionLine(_ points: [ImpedancePoint], outlet: ImpedanceSettings.Outlet, volumeFraction: Double, storage: Double) throws -> TransmissionLineFit {
        guard points.count >= 2 else { throw LensError.numerical("a transmission-line fit needs at least two frequencies") }
        // Start: R̃ from the low-frequency real part (3·Re for a blocking line, Re for a fixed one).
        let lowest = points.min { $0.normalizedFrequency < $1.normalizedFrequency }!
        let r0 = Swift.max(1e-6, outlet == .blocking ? 3 * lowest.real : lowest.real)
        let result = try LevenbergMarquardt.fit(initial: [log(r0), log(Swift.max(storage, 1e-6))], residualCount: 2 * points.count) { p, r in
            let (rr, cc) = (exp(p[0]), exp(p[1]))
            for (k, point) in points.enumerated() {
                let (mr, mi) = transmissionLine(point.normalizedFrequency, resistance: rr, capacitance: cc, outlet: outlet)
                let m = point.magnitude
                r[2 * k] = (mr - point.real) / m; r[2 * k + 1] = (mi - point.imaginary) / m
            }
        }
        let (rr, cc) = (exp(result.parameters[0]), exp(result.parameters[1]))
        let errors = result.standardErrors
        return TransmissionLineFit(resistance: rr, resistanceStandardError: errors.map { $0[0] * rr }, capacitance: cc,
                                   capacitanceStandardError: errors.map { $0[1] * cc }, tortuosityFactor: volumeFraction * rr,
                                   relativeMisfit: (result.chiSquared / Double(points.count)).squareRoot())
    }

    /// COCG on (L + i·shift·I) x = rhs (rhs real), preconditioned by one V-cycle of L + shift·I
    /// applied to the real and imaginary parts, from `start` (zero when nil). `hierarchy` is
    /// built once for the sweep on a copy of L and shifted here. The V-cycle is the plain one
    /// (no K-cycle): COCG needs a fixed linear preconditioner.
    static func solve(level: DiffusionLevel, hierarchy: MultigridHierarchy, shift: Double, rhs: [Double], settings: ImpedanceSettings,
                      start: ([Double], [Double])? = nil) -> ([Double], [Double], Int, Bool) {
        let n = level.count
        hierarchy.setDiagonalShift(shift)
        let bNorm = rhs.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard bNorm > 0 else { return ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n), 0, true) }
        // Work vectors in owned buffers (parallel passes write them); the directions have a
        // trailing zero entry for the branch-free product.
        func buffer(_ count: Int, from values: [Double]? = nil) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: count)
            if let values { p.initialize(from: values, count: count) } else { p.initialize(repeating: 0, count: count) }
            return p
        }
        nonisolated(unsafe) let xr = buffer(n, from: start?.0.count == n ? start!.0 : nil), xi = buffer(n, from: start?.1.count == n ? start!.1 : nil)
        nonisolated(unsafe) let rr = buffer(n, from: rhs), ri = buffer(n), zr = buffer(n), zi = buffer(n), qr = buffer(n), qi = buffer(n)
        nonisolated(unsafe) let pr = buffer(n + 1), pi = buffer(n + 1)
        defer { for p in [xr, xi, rr, ri, zr, zi, qr, qi, pr, pi] { p.deallocate() } }
        let chunks = Parallel.chunkRanges(count: n, minimumChunk: 65_536).count
        /// Σ over chunks of a pair of sums.
        func sums(_ body: @Sendable (Range<Int>) -> SIMD2<Double>) -> SIMD2<Double> {
            Parallel.mapChunks(count: n, chunks: chunks, body).reduce(SIMD2<Double>(0, 0), +)
        }
        /// q = (L + i·shift)p for the vector with parts (a, c), and pᵀq (unconjugated).
        func multiply(_ a: UnsafeMutablePointer<Double>, _ c: UnsafeMutablePointer<Double>) -> (Double, Double) {
            nonisolated(unsafe) let (a, c) = (a, c)
            let s = sums { range in
                var (re, im) = (0.0, 0.0)
                for u in range {
                    let lr = level.diagonal[u] * a[u] - level.offDiagonalPadded(u, a)
                    let li = level.diagonal[u] * c[u] - level.offDiagonalPadded(u, c)
                    let q0 = lr - shift * c[u], q1 = li + shift * a[u]
                    qr[u] = q0; qi[u] = q1
                    re += a[u] * q0 - c[u] * q1; im += a[u] * q1 + c[u] * q0
                }
                return SIMD2(re, im)
            }
            return (s[0], s[1])
        }
        /// z = M⁻¹r part by part, returning ρ = rᵀz (unconjugated).
        func precondition() -> (Double, Double) {
            let (rrzr, rizr) = hierarchy.precondition(rr, into: zr, dotWith: rr, and: ri)
            let (rizi, rrzi) = hierarchy.precondition(ri, into: zi, dotWith: ri, and: rr)
            return (rrzr - rizi, rrzi + rizr)
        }
        /// The solution as arrays, with the iterations taken and whether it converged.
        func result(_ iterations: Int, _ converged: Bool) -> ([Double], [Double], Int, Bool) {
            (Array(UnsafeBufferPointer(start: xr, count: n)), Array(UnsafeBufferPointer(start: xi, count: n)), iterations, converged)
        }
        if start != nil {
            // r = b − A·x₀ (x₀ copied into the directions for the product)
            for u in 0..<n { pr[u] = xr[u]; pi[u] = xi[u] }
            _ = multiply(pr, pi)
            let residual = sums { range in
                var s = 0.0
                for u in range { rr[u] -= qr[u]; ri[u] = -qi[u]; s += rr[u] * rr[u] + ri[u] * ri[u] }
                return SIMD2(s, 0)
            }[0]
            if residual.squareRoot() <= settings.tolerance * bNorm { return result(0, true) }
        }
        var rho = precondition()
        Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { pr[u] = zr[u]; pi[u] = zi[u] } }
        var iteration = 0
        while iteration < settings.maximumIterations {
            iteration += 1
            let pq = multiply(pr, pi)
            let d = pq.0 * pq.0 + pq.1 * pq.1
            guard d > 0 else { break }
            // α = ρ / (pᵀq)
            let alpha = ((rho.0 * pq.0 + rho.1 * pq.1) / d, (rho.1 * pq.0 - rho.0 * pq.1) / d)
            let residual = sums { range in
                var s = 0.0
                for u in range {
                    xr[u] += alpha.0 * pr[u] - alpha.1 * pi[u]; xi[u] += alpha.0 * pi[u] + alpha.1 * pr[u]
                    rr[u] -= alpha.0 * qr[u] - alpha.1 * qi[u]; ri[u] -= alpha.0 * qi[u] + alpha.1 * qr[u]
                    s += rr[u] * rr[u] + ri[u] * ri[u]
                }
                return SIMD2(s, 0)
            }[0]
            if residual.squareRoot() <= settings.tolerance * bNorm { return result(iteration, true) }
            let rhoNew = precondition()
            let rd = rho.0 * rho.0 + rho.1 * rho.1
            guard rd > 0 else { break }
            let beta = ((rhoNew.0 * rho.0 + rhoNew.1 * rho.1) / rd, (rhoNew.1 * rho.0 - rhoNew.0 * rho.1) / rd)
            rho = rhoNew
            Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in
                for u in range {
                    let (a, c) = (pr[u], pi[u])
                    pr[u] = zr[u] + beta.0 * a - beta.1 * c; pi[u] = zi[u] + beta.0 * c + beta.1 * a
                }
            }
        }
        return result(iteration, false)
    }
}
