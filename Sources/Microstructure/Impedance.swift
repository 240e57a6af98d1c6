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
    /// Relative accuracy of each Z̃ at which its solve stops: both estimates of the error of the
    /// (adjoint-corrected) inlet flux must be within this fraction (see
    /// ``Impedance/solve(level:hierarchy:shift:rhs:settings:workspace:)``). On TauFactor's 256³
    /// electrode (20 frequencies, fixed outlet, against a solve to 10⁻¹⁰ of the residual) the
    /// worst |ΔZ̃|/|Z̃| was 2.3·10⁻⁶ at the default 10⁻⁵ (247 iterations, 46 s; blocking outlet
    /// 4.5·10⁻⁶, 301 iterations, 54 s) and 2·10⁻⁷ at 10⁻⁶ (358 iterations), where the old
    /// rule, ‖r‖ ≤ 10⁻⁷‖b‖, needed 876 iterations and 162 s for 1.8·10⁻⁶. The default matches ``Tortuosity``'s and lies far inside the 0.5–1 % the model
    /// and its fit are judged by.
    public var tolerance = 1e-5
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
        // Each frequency starts from the solution at the one before, left in the workspace (the
        // frequencies are swept in order, and neighbouring log-spaced ones have close fields):
        // fewer iterations, the same stopping rule.
        let workspace = Workspace(count: n)
        // One hierarchy for the sweep, on a copy of L whose diagonal each frequency shifts.
        let hierarchy = MultigridHierarchy(finest: DiffusionLevel(copying: level, diagonalShift: 0), coarseKrylov: false, diagonalShifts: true)
        for omegaTilde in settings.normalizedFrequencies {
            // Storage term: iω·V per voxel with ω = ω̃·D/L².
            let shift = omegaTilde / (system.lengthAlongAxis * system.lengthAlongAxis) * system.voxelVolume
            let solution = solve(level: level, hierarchy: hierarchy, shift: shift, rhs: rhs, settings: settings, workspace: workspace)
            // Inlet flux Ĵ = Σ g_b (1 − Ĉ) = Σ g_b − bᵀĈ, with bᵀĈ the solve's corrected estimate,
            // and Z̃ = (1/Ĵ)·A/L (D = 1).
            let inletConductance = system.boundaryConductance * Double(system.inlet.count)
            let (jr, ji) = (inletConductance - solution.output.0, -solution.output.1)
            let (iterations, converged) = (solution.iterations, solution.converged)
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

    /// One frequency's solve: the output bᵀĈ with its adjoint correction (see
    /// ``solve(level:hierarchy:shift:rhs:settings:workspace:)``), and how the iteration ended.
    /// The field Ĉ itself is left in the workspace.
    struct Solution {
        /// bᵀĈ + Ĉᵀr (unconjugated), the corrected output.
        var output: (Double, Double)
        var iterations: Int
        var converged: Bool
    }

    /// COCG's vectors, allocated once for a sweep: fresh ones at every frequency (ten vectors of
    /// the unknowns' size) had their pages faulted in and zeroed again each time, 4–5 s of a
    /// one-minute sweep on TauFactor's 256³ electrode. The solution (xr, xi) stays from one
    /// frequency to the next as its start.
    final class Workspace {
        let count: Int
        let xr: UnsafeMutablePointer<Double>, xi: UnsafeMutablePointer<Double>
        let rr: UnsafeMutablePointer<Double>, ri: UnsafeMutablePointer<Double>
        let zr: UnsafeMutablePointer<Double>, zi: UnsafeMutablePointer<Double>
        let qr: UnsafeMutablePointer<Double>, qi: UnsafeMutablePointer<Double>
        /// The directions, with a trailing zero entry for the branch-free product.
        let pr: UnsafeMutablePointer<Double>, pi: UnsafeMutablePointer<Double>
        /// Whether (xr, xi) hold a solution to start from (false: zero).
        var holdsStart = false

        init(count: Int) {
            self.count = count
            func zeros(_ count: Int) -> UnsafeMutablePointer<Double> {
                let p = UnsafeMutablePointer<Double>.allocate(capacity: count); p.initialize(repeating: 0, count: count); return p
            }
            (xr, xi, rr, ri, zr, zi, qr, qi) = (zeros(count), zeros(count), zeros(count), zeros(count), zeros(count), zeros(count), zeros(count), zeros(count))
            (pr, pi) = (zeros(count + 1), zeros(count + 1))
        }

        deinit { for p in [xr, xi, rr, ri, zr, zi, qr, qi, pr, pi] { p.deallocate() } }
    }

    /// How many iterations back the change of the output is measured over (the error estimate's
    /// delay, Strakoš & Tichý 2002).
    static let outputDelay = 3

    /// COCG on (L + i·shift·I) x = rhs (rhs real), preconditioned by one V-cycle of L + shift·I
    /// applied to the real and imaginary parts, from the workspace's last solution (zero at the
    /// first frequency), which it leaves there. `hierarchy` is built once for the sweep on a
    /// copy of L and shifted here. The V-cycle is the plain one (no K-cycle): COCG needs a fixed
    /// linear preconditioner.
    ///
    /// What the sweep needs is not the field but one number, the output bᵀx (the inlet flux is
    /// Σ g_b − bᵀx, b being g_b on the inlet rows). A is complex symmetric and the output's
    /// weights are b itself, so the adjoint problem is the primal one and the corrected output
    /// bᵀx + xᵀr misses bᵀx* by eᵀAe = rᵀA⁻¹r, quadratic in the error e = x* − x (the adjoint
    /// error correction of Giles & Süli 2002; for CG from zero the correction vanishes by
    /// Galerkin orthogonality, but each frequency here starts from the previous one's field).
    /// The iteration stops when two estimates of that remainder are within `tolerance` of the
    /// flux:
    /// - the output's change over the last ``outputDelay`` iterations, a delayed estimate of
    ///   its error (Strakoš & Tichý 2002 for CG's energy norm; here the output's own sequence).
    ///   Alone it stopped too early at high frequencies, where COCG's convergence is irregular
    ///   (14× the tolerance at ω̃ = 1000 on TauFactor's electrode).
    /// - √2·(r_reᵀM⁻¹r_re + r_imᵀM⁻¹r_im), the conjugated residual energy through the
    ///   preconditioner: in the generalized eigenvectors of (L, V), which are M-orthonormal,
    ///   |rᵀA⁻¹r| = |Σ c_k²/λ_k| ≤ √2·Σ|c_k|² since |λ_k| = |μ + iω|/(μ + ω) ≥ 1/√2. It is free
    ///   (the preconditioning pass returns both products) but trusts the V-cycle for M⁻¹,
    ///   which underestimates the smoothest modes: alone it stopped too early at the lowest
    ///   frequencies (2× the tolerance).
    /// Or when the residual is ‖r‖ ≤ 10⁻¹⁴‖b‖. Measured on TauFactor's 256³ electrode, 20
    /// frequencies, fixed outlet, against a solve to 10⁻¹⁰ of the residual: worst |ΔZ̃|/|Z̃|
    /// 2.3·10⁻⁶ at the default 10⁻⁵ (247 iterations) and 2·10⁻⁷ at 10⁻⁶ (358 iterations; the
    /// old rule, ‖r‖ ≤ 10⁻⁷‖b‖, took 876 for 1.8·10⁻⁶).
    static func solve(level: DiffusionLevel, hierarchy: MultigridHierarchy, shift: Double, rhs: [Double], settings: ImpedanceSettings,
                      workspace: Workspace) -> Solution {
        let n = level.count
        Swift.precondition(workspace.count == n, "a workspace for \(workspace.count) unknowns, not \(n)")
        hierarchy.setDiagonalShift(shift)
        nonisolated(unsafe) let (xr, xi, rr, ri, zr, zi) = (workspace.xr, workspace.xi, workspace.rr, workspace.ri, workspace.zr, workspace.zi)
        nonisolated(unsafe) let (qr, qi, pr, pi) = (workspace.qr, workspace.qi, workspace.pr, workspace.pi)
        let start = workspace.holdsStart
        if !start { xr.update(repeating: 0, count: n); xi.update(repeating: 0, count: n) }
        workspace.holdsStart = true
        let bNorm = rhs.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard bNorm > 0 else {
            xr.update(repeating: 0, count: n); xi.update(repeating: 0, count: n)
            return Solution(output: (0, 0), iterations: 0, converged: true)
        }
        // The rows where b is non-zero (the inlet), for the output bᵀx.
        let sources = rhs.indices.filter { rhs[$0] != 0 }
        rr.update(from: rhs, count: n); ri.update(repeating: 0, count: n)
        pr[n] = 0; pi[n] = 0
        let chunks = Parallel.chunkRanges(count: n, minimumChunk: 65_536).count
        /// Σ over chunks of up to four sums.
        func sums(_ body: @Sendable (Range<Int>) -> SIMD4<Double>) -> SIMD4<Double> {
            Parallel.mapChunks(count: n, chunks: chunks, body).reduce(SIMD4<Double>(repeating: 0), +)
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
                return SIMD4(re, im, 0, 0)
            }
            return (s[0], s[1])
        }
        /// z = M⁻¹r part by part, returning ρ = rᵀz (unconjugated).
        func precondition() -> (rho: (Double, Double), energy: Double) {
            let (rrzr, rizr) = hierarchy.precondition(rr, into: zr, dotWith: rr, and: ri)
            let (rizi, rrzi) = hierarchy.precondition(ri, into: zi, dotWith: ri, and: rr)
            return ((rrzr - rizi, rrzi + rizr), rrzr + rizi)
        }
        /// The corrected output bᵀx + xᵀr from the sum xᵀr.
        func output(_ xTr: (Double, Double)) -> (Double, Double) {
            var (a, c) = xTr
            for u in sources { a += rhs[u] * xr[u]; c += rhs[u] * xi[u] }
            return (a, c)
        }
        let scale = sources.reduce(0.0) { $0 + rhs[$1] }
        /// The outputs of the last iterations (a ring), for the change over ``outputDelay``.
        var recent = [(Double, Double)](repeating: (.nan, .nan), count: outputDelay)
        func settled(_ iteration: Int, _ value: (Double, Double)) -> Bool {
            let old = recent[iteration % outputDelay]
            recent[iteration % outputDelay] = value
            guard iteration >= outputDelay else { return false }
            let (dr, di) = (value.0 - old.0, value.1 - old.1)
            let (fr, fi) = (scale - value.0, -value.1)
            return (dr * dr + di * di).squareRoot() <= settings.tolerance * (fr * fr + fi * fi).squareRoot()
        }
        var current = (0.0, 0.0)
        if start {
            // r = b − A·x₀ (x₀ copied into the directions for the product)
            for u in 0..<n { pr[u] = xr[u]; pi[u] = xi[u] }
            _ = multiply(pr, pi)
            let s = sums { range in
                var (s, a, c) = (0.0, 0.0, 0.0)
                for u in range {
                    rr[u] -= qr[u]; ri[u] = -qi[u]; s += rr[u] * rr[u] + ri[u] * ri[u]
                    a += xr[u] * rr[u] - xi[u] * ri[u]; c += xr[u] * ri[u] + xi[u] * rr[u]
                }
                return SIMD4(s, a, c, 0)
            }
            current = output((s[1], s[2]))
            if s[0].squareRoot() <= 1e-14 * bNorm { return Solution(output: current, iterations: 0, converged: true) }
        }
        _ = settled(0, current)
        var rho = precondition().rho
        Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { pr[u] = zr[u]; pi[u] = zi[u] } }
        var iteration = 0, converged = false
        while iteration < settings.maximumIterations {
            iteration += 1
            let pq = multiply(pr, pi)
            let d = pq.0 * pq.0 + pq.1 * pq.1
            guard d > 0 else { break }
            // α = ρ / (pᵀq)
            let alpha = ((rho.0 * pq.0 + rho.1 * pq.1) / d, (rho.1 * pq.0 - rho.0 * pq.1) / d)
            let s = sums { range in
                var (s, a, c) = (0.0, 0.0, 0.0)
                for u in range {
                    xr[u] += alpha.0 * pr[u] - alpha.1 * pi[u]; xi[u] += alpha.0 * pi[u] + alpha.1 * pr[u]
                    rr[u] -= alpha.0 * qr[u] - alpha.1 * qi[u]; ri[u] -= alpha.0 * qi[u] + alpha.1 * qr[u]
                    s += rr[u] * rr[u] + ri[u] * ri[u]
                    a += xr[u] * rr[u] - xi[u] * ri[u]; c += xr[u] * ri[u] + xi[u] * rr[u]
                }
                return SIMD4(s, a, c, 0)
            }
            current = output((s[1], s[2]))
            let (rhoNew, energy) = precondition()
            // Both estimates of the output's error within the tolerance (see above).
            let flux = ((scale - current.0) * (scale - current.0) + current.1 * current.1).squareRoot()
            let bounded = 2.squareRoot() * energy <= settings.tolerance * flux
            if s[0].squareRoot() <= 1e-14 * bNorm || (settled(iteration, current) && bounded) { converged = true; break }
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
        return Solution(output: current, iterations: iteration, converged: converged)
    }
}
