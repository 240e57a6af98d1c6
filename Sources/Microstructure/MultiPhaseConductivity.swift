import Foundation
import LensCore

/// Effective conductivity of a multi-phase volume along one axis.
public struct ConductivityResult: Codable, Sendable, Equatable {
    public var axis: Int
    /// κ_eff = flux·L / (A·ΔV), in the units of the given conductivities (L between the fixed
    /// nodes, N + 1 voxels).
    public var effectiveConductivity: Double
    /// Σ εᵢκᵢ over all labels: what κ_eff would be if every phase ran straight through.
    public var volumeAveragedConductivity: Double
    /// τ = Σ εᵢκᵢ / κ_eff (TauFactor's MultiPhaseSolver convention; 1 for straight parallel
    /// phases, ∞ when nothing conducts from face to face).
    public var tortuosityFactor: Double
    /// Volume fraction of each label code present.
    public var volumeFractions: [String: Double]
    /// Fraction of all voxels in the conducting network that joins the two faces.
    public var percolatingFraction: Double
    public var iterations: Int
    public var fluxImbalance: Double
    public var converged: Bool
}

/// Effective conductivity of a volume whose labels each carry a conductivity (an NMC +
/// carbon–binder electronic network, an electrolyte with a partly conducting binder), by the
/// steady-state solve of ``Tortuosity`` on every voxel with κ > 0: links between neighbours take
/// the harmonic mean of their conductivities (exact for layers in series), the potentials 1 and
/// 0 are held one voxel outside the first and last layers, linked to them with the layer's own
/// conductivity, and κ_eff = flux·(N + 1)/(A·ΔV); the other faces are insulating. This is
/// TauFactor 2's `MultiPhaseSolver` discretization (its single-phase `Solver` puts the faces
/// half a voxel out instead, as ``Tortuosity`` does; the two differ by O(1/N)).
public enum MultiPhaseConductivity {
    /// - Parameter conductivities: label code → κ ≥ 0; every code present must be given (no
    ///   silent default: an unlisted phase is an error).
    public static func compute(labels: Grid<Int32>, conductivities: [Int: Double], axis: Int,
                               settings: Tortuosity.Settings = Tortuosity.Settings(), progress: ProgressReporter? = nil) throws -> ConductivityResult {
        guard conductivities.values.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw LensError.invalidArgument("conductivities must be finite and ≥ 0") }
        guard conductivities.values.contains(where: { $0 > 0 }) else { throw LensError.invalidArgument("no phase conducts (every conductivity is 0)") }
        var counts = [Int: Int]()
        labels.withUnsafeBufferPointer { for v in $0 { counts[Int(v), default: 0] += 1 } }
        let missing = counts.keys.filter { conductivities[$0] == nil }.sorted()
        guard missing.isEmpty else {
            throw LensError.invalidArgument("no conductivity given for label code\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) (present: \(counts.keys.sorted().map(String.init).joined(separator: ", "))): give one for every phase, 0 for insulators")
        }
        let total = Double(labels.count)
        let kappa = labels.elements.map { conductivities[Int($0)]! }
        let mask = Grid<UInt8>(shape: labels.shape, geometry: labels.geometry, elements: kappa.map { $0 > 0 ? 1 : 0 })
        let averaged = counts.reduce(0.0) { $0 + Double($1.value) / total * conductivities[$1.key]! }
        let fractions = Dictionary(uniqueKeysWithValues: counts.map { (String($0.key), Double($0.value) / total) })
        let system = try DiffusionSystem(phase: mask, axis: axis, outlet: .fixed, conductivity: kappa, periodic: settings.periodic,
                                         boundaryDistanceVoxels: 1)
        guard let level = system.level else {
            return ConductivityResult(axis: axis, effectiveConductivity: 0, volumeAveragedConductivity: averaged, tortuosityFactor: .infinity,
                                      volumeFractions: fractions, percolatingFraction: 0, iterations: 0, fluxImbalance: 0, converged: true)
        }
        let n = system.unknowns
        let rhs = UnsafeMutablePointer<Double>.allocate(capacity: n), solution = UnsafeMutablePointer<Double>.allocate(capacity: n)
        rhs.initialize(repeating: 0, count: n)
        defer { rhs.deallocate(); solution.deallocate() }
        system.linearProfile(into: solution)
        for (k, u) in system.inlet.enumerated() { rhs[Int(u)] = system.inletConductance[k] }
        let outcome = MultigridHierarchy(finest: level).solve(rhs: rhs, solution: solution, settings: settings, progress: progress,
                                                              measure: system.relativeDiffusivity)
        let (effective, imbalance) = system.relativeDiffusivity(solution, corrected: outcome.correction)
        return ConductivityResult(axis: axis, effectiveConductivity: effective, volumeAveragedConductivity: averaged,
                                  tortuosityFactor: effective > 0 ? averaged / effective : .infinity, volumeFractions: fractions,
                                  percolatingFraction: system.unknownFraction, iterations: outcome.iterations, fluxImbalance: imbalance,
                                  converged: outcome.converged)
    }
}
