import Foundation
import LensCore
import Signal

/// Miller indices (h k l) of a reflection.
public struct MillerIndex: Codable, Sendable, Hashable, CustomStringConvertible {
    public var h: Int, k: Int, l: Int
    public init(_ h: Int, _ k: Int, _ l: Int) { self.h = h; self.k = k; self.l = l }
    public var description: String { "(\(h) \(k) \(l))" }

    // Encoded as [h, k, l], as crystallographers write them.
    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        h = try c.decode(Int.self); k = try c.decode(Int.self); l = try c.decode(Int.self)
        guard c.isAtEnd else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "Miller indices are three integers [h, k, l]") }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(h); try c.encode(k); try c.encode(l)
    }
}

/// A unit cell of the crystal systems battery materials come in (layered oxides are hexagonal
/// in the R-3m setting, spinels and calibrants cubic, olivines orthorhombic).
///
/// d-spacings: 1/d² = Q(h, k, l) is linear in the reciprocal-metric parameters the refinement
/// fits: cubic (h² + k² + l²)/a²; tetragonal (h² + k²)/a² + l²/c²; hexagonal
/// 4(h² + hk + k²)/(3a²) + l²/c²; orthorhombic h²/a² + k²/b² + l²/c².
public struct UnitCell: Codable, Sendable, Equatable {
    public enum System: String, Codable, Sendable, CaseIterable { case cubic, tetragonal, hexagonal, orthorhombic }
    public var system: System
    /// Lattice parameters in Å (b only for orthorhombic, c for all but cubic).
    public var a: Double
    public var b: Double?
    public var c: Double?

    public init(system: System, a: Double, b: Double? = nil, c: Double? = nil) {
        self.system = system; self.a = a; self.b = b; self.c = c
    }

    public static func cubic(_ a: Double) -> UnitCell { UnitCell(system: .cubic, a: a) }
    public static func hexagonal(a: Double, c: Double) -> UnitCell { UnitCell(system: .hexagonal, a: a, c: c) }

    public func validate(_ what: String) throws {
        let needed: [(String, Double?)] = switch system {
        case .cubic: [("a", a)]
        case .tetragonal, .hexagonal: [("a", a), ("c", c)]
        case .orthorhombic: [("a", a), ("b", b), ("c", c)]
        }
        for (name, value) in needed {
            guard let value, value.isFinite, value > 0.5, value < 200 else {
                throw LensError.invalidArgument("\(what): a \(system.rawValue) cell needs \(name) in Å between 0.5 and 200, got \(value.map { "\($0)" } ?? "none")")
            }
        }
    }

    /// The parameter names in the order of ``parameters``.
    public var parameterNames: [String] {
        switch system {
        case .cubic: ["a"]
        case .tetragonal, .hexagonal: ["a", "c"]
        case .orthorhombic: ["a", "b", "c"]
        }
    }

    /// The free lattice parameters (Å), in the order of ``parameterNames``.
    public var parameters: [Double] {
        switch system {
        case .cubic: [a]
        case .tetragonal, .hexagonal: [a, c ?? a]
        case .orthorhombic: [a, b ?? a, c ?? a]
        }
    }

    /// The same system with new parameters (order of ``parameterNames``).
    public func with(parameters p: [Double]) -> UnitCell {
        switch system {
        case .cubic: UnitCell(system: system, a: p[0])
        case .tetragonal, .hexagonal: UnitCell(system: system, a: p[0], c: p[1])
        case .orthorhombic: UnitCell(system: system, a: p[0], b: p[1], c: p[2])
        }
    }

    /// The coefficients g of 1/d² = Σ gᵢ·xᵢ with xᵢ = 1/(parameter i)².
    public func metricCoefficients(_ m: MillerIndex) -> [Double] {
        let (h, k, l) = (Double(m.h), Double(m.k), Double(m.l))
        switch system {
        case .cubic: return [h * h + k * k + l * l]
        case .tetragonal: return [h * h + k * k, l * l]
        case .hexagonal: return [4 * (h * h + h * k + k * k) / 3, l * l]
        case .orthorhombic: return [h * h, k * k, l * l]
        }
    }

    /// d-spacing of (h k l) in Å.
    public func dSpacing(_ m: MillerIndex) -> Double {
        let q = zip(metricCoefficients(m), parameters).reduce(0.0) { $0 + $1.0 / ($1.1 * $1.1) }
        return 1 / q.squareRoot()
    }

    /// Unit-cell volume in Å³.
    public var volumeCubicAngstrom: Double {
        switch system {
        case .cubic: a * a * a
        case .tetragonal: a * a * (c ?? a)
        case .hexagonal: 3.0.squareRoot() / 2 * a * a * (c ?? a)
        case .orthorhombic: a * (b ?? a) * (c ?? a)
        }
    }
}

/// Bragg's law, λ = 2 d sin θ, in the units diffraction patterns use (2θ in degrees, Å).
public enum BraggLaw {
    /// 2θ in degrees of a d-spacing at wavelength λ; nil when λ > 2d (no reflection).
    public static func twoThetaDegrees(dSpacing d: Double, wavelengthAngstrom lambda: Double) -> Double? {
        let s = lambda / (2 * d)
        guard s > 0, s < 1 else { return nil }
        return 2 * asin(s) * 180 / .pi
    }

    /// d in Å of a reflection at 2θ degrees.
    public static func dSpacing(twoThetaDegrees: Double, wavelengthAngstrom lambda: Double) -> Double {
        lambda / (2 * sin(twoThetaDegrees * .pi / 360))
    }

    /// 2θ of the same d at another wavelength (a Kα₂ line beside its Kα₁ peak).
    public static func twoThetaDegrees(_ twoTheta: Double, from lambda1: Double, to lambda2: Double) -> Double? {
        let s = lambda2 / lambda1 * sin(twoTheta * .pi / 360)
        guard s > 0, s < 1 else { return nil }
        return 2 * asin(s) * 180 / .pi
    }
}

/// One reflection of a phase and its relative intensity in a pattern of the pure phase.
public struct Reflection: Codable, Sendable, Equatable {
    public var hkl: MillerIndex
    public var relativeIntensity: Double
    public init(_ hkl: MillerIndex, relativeIntensity: Double) { self.hkl = hkl; self.relativeIntensity = relativeIntensity }

    enum CodingKeys: String, CodingKey { case hkl, relativeIntensity = "relative_intensity" }
}

/// A crystalline phase: its cell (the starting model) and the reflections to fit. Relative
/// intensities are those of a pattern of the pure phase; phases meant to be compared for
/// fractions need them on one scale (per unit volume of the phase, as measured from patterns of
/// each end member, or computed from structure factors).
public struct CrystalPhase: Codable, Sendable, Equatable {
    public var name: String
    public var cell: UnitCell
    public var reflections: [Reflection]

    public init(name: String, cell: UnitCell, reflections: [Reflection]) {
        self.name = name; self.cell = cell; self.reflections = reflections
    }

    public func validate() throws {
        guard !name.isEmpty else { throw LensError.invalidArgument("a phase needs a name") }
        try cell.validate("phase \(name)")
        guard !reflections.isEmpty else { throw LensError.invalidArgument("phase \(name) lists no reflections") }
        for r in reflections {
            guard (r.hkl.h, r.hkl.k, r.hkl.l) != (0, 0, 0), [r.hkl.h, r.hkl.k, r.hkl.l].allSatisfy({ abs($0) <= 50 }) else {
                throw LensError.invalidArgument("phase \(name): reflection \(r.hkl) is not a lattice plane (indices −50…50, not all zero)")
            }
            guard r.relativeIntensity.isFinite, r.relativeIntensity > 0 else {
                throw LensError.invalidArgument("phase \(name): reflection \(r.hkl) needs a positive relative intensity")
            }
        }
    }

    /// A layered oxide cathode (R-3m, hexagonal setting) in its lithiated state: NMC811-like
    /// a = 2.872, c = 14.20 Å, and the strong reflections with intensities of a typical pattern.
    public static let layeredLithiated = CrystalPhase(name: "lithiated", cell: .hexagonal(a: 2.872, c: 14.20), reflections: layeredReflections)
    /// The same oxide delithiated at high state of charge: a = 2.818, c = 14.45 Å.
    public static let layeredDelithiated = CrystalPhase(name: "delithiated", cell: .hexagonal(a: 2.818, c: 14.45), reflections: layeredReflections)

    static let layeredReflections: [Reflection] = zip([[0, 0, 3], [1, 0, 1], [0, 0, 6], [1, 0, 4], [1, 0, 5], [1, 0, 7], [1, 0, 8], [1, 1, 0]],
                                                       [1.0, 0.45, 0.05, 0.8, 0.1, 0.08, 0.15, 0.12]).map { Reflection(MillerIndex($0[0], $0[1], $0[2]), relativeIntensity: $1) }
}

/// Lattice parameters from measured d-spacings of indexed reflections: weighted linear least
/// squares of 1/d² = Σ gᵢ(hkl)·xᵢ for the reciprocal-metric unknowns xᵢ = 1/pᵢ² (the classic
/// Cohen least-squares cell refinement), then pᵢ = xᵢ^(−1/2) with first-order error propagation.
public enum LatticeRefinement {
    public struct Result: Codable, Sendable, Equatable {
        public var cell: UnitCell
        /// Standard errors of the parameters, Å (order of `cell.parameterNames`); nil without redundancy.
        public var standardErrorsAngstrom: [Double]?
        /// Observed minus calculated d per reflection, Å.
        public var residualsAngstrom: [Double]
    }

    /// - Parameters:
    ///   - observations: reflection, measured d (Å) and its standard error (Å).
    public static func refine(system: UnitCell.System, observations: [(hkl: MillerIndex, dAngstrom: Double, sigmaAngstrom: Double)],
                              template: UnitCell? = nil) throws -> Result {
        let start = template ?? UnitCell(system: system, a: 1, b: 1, c: 1)
        let n = start.parameterNames.count
        let usable = observations.filter { $0.dAngstrom.isFinite && $0.dAngstrom > 0 && $0.sigmaAngstrom.isFinite && $0.sigmaAngstrom > 0 }
        guard usable.count >= n else {
            throw LensError.invalidArgument("a \(system.rawValue) cell needs at least \(n) measured reflections, got \(usable.count)")
        }
        // Rows weighted by 1/σ(Q), σ(Q) = 2σ_d/d³.
        var a = Matrix(rows: usable.count, columns: n)
        var b = [Double](repeating: 0, count: usable.count)
        for (i, o) in usable.enumerated() {
            let w = pow(o.dAngstrom, 3) / (2 * o.sigmaAngstrom)
            let g = start.metricCoefficients(o.hkl)
            for j in 0..<n { a[i, j] = g[j] * w }
            b[i] = w / (o.dAngstrom * o.dAngstrom)
        }
        let solution: LeastSquaresSolution
        do { solution = try LeastSquares.solve(a, b) } catch {
            throw LensError.invalidArgument("the measured reflections do not determine every parameter of the \(system.rawValue) cell (e.g. no reflection with l ≠ 0 for c)")
        }
        guard solution.coefficients.allSatisfy({ $0 > 0 }) else {
            throw LensError.numerical("the cell refinement gave a non-positive reciprocal metric: the reflections are mis-indexed")
        }
        let parameters = solution.coefficients.map { 1 / $0.squareRoot() }
        let cell = start.with(parameters: parameters)
        // With weights 1/σ the unscaled covariance is (AᵀA)⁻¹; scale by χ²_red only when above 1
        // (scatter larger than the stated errors).
        var errors: [Double]?
        let reducedChi2 = usable.count > n ? solution.residualSumOfSquares / Double(usable.count - n) : 0
        if let cov = solution.covariance, reducedChi2 > 0 {
            let scale = Swift.max(1, reducedChi2) / reducedChi2
            errors = (0..<n).map { j in
                let sx = (cov[j, j] * scale).squareRoot()
                return 0.5 * pow(solution.coefficients[j], -1.5) * sx   // |dp/dx| = x^(−3/2)/2
            }
        }
        let residuals = usable.map { $0.dAngstrom - cell.dSpacing($0.hkl) }
        return Result(cell: cell, standardErrorsAngstrom: errors, residualsAngstrom: residuals)
    }
}
