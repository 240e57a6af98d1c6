import Foundation
import ImageAnalysis
import LensCore

/// The electrode tortuosity factor τ_e of a pore phase (Nguyen et al. 2020, "The electrode
/// tortuosity factor: why the conventional tortuosity factor is not well suited for quantifying
/// transport in porous Li-ion battery electrodes and what to use instead", npj Comput. Mater. 6,
/// 123; TauFactor 2's `ElectrodeSolver`).
public struct ElectrodeTortuosityResult: Codable, Sendable, Equatable {
    public var axis: Int
    /// τ_e = ε · 3 Re Z₀ · A / (L + 2) in TauFactor's units (link conductance 1, L and A in voxels).
    public var electrodeTortuosityFactor: Double
    /// The low-frequency real impedance Re Z₀ (ionic part plus the interfaces' series resistance).
    public var lowFrequencyResistance: Double
    /// The ionic resistance of the equivalent transmission line, 3 Re Z₀.
    public var ionicResistance: Double
    /// ε: the whole phase fraction (TauFactor's VF).
    public var volumeFraction: Double
    /// Pore voxels face-connected to the inlet face, as a fraction of all voxels (the other
    /// pore voxels carry no current).
    public var connectedFraction: Double
    /// Faces between connected pore voxels and anything that is not pore (solid, the side
    /// walls and the closed far face): the reactive double-layer interface.
    public var interfaceFaces: Int
    public var iterations: Int
    public var converged: Bool
}

/// The electrode tortuosity factor by the low-frequency limit of the electrode's impedance.
///
/// Model (TauFactor 2's `ElectrodeSolver`): ions migrate through the pore voxels (conductance 1
/// per shared face); the current enters from an electrolyte layer held at potential 1 one voxel
/// before the first layer along `axis`; every face of a pore voxel that does not open onto
/// another pore voxel (solid, the side walls, the closed far face) is a double-layer interface,
/// an admittance 2/(1 + 1/(iω)) (R_ct = ½, C_dl = 2 per face); τ_e = ε·3·Re Z·A/(L + 2) with Z
/// the inverse inlet current. TauFactor iterates SOR at falling ω until τ_e stops changing; here
/// the ω → 0 limit is taken exactly: the interfaces then charge uniformly, each voxel drawing the
/// current share s = c/C of its capacitance, so Re Z₀ = sᵀ L⁻¹ s + 1/(2 N_faces), one
/// symmetric positive definite solve (L the Laplacian of the connected pores with the inlet
/// link) by the multigrid-preconditioned CG of ``Tortuosity``.
public enum ElectrodeTortuosity {
    public static func compute(phase: Grid<UInt8>, axis: Int, settings: Tortuosity.Settings = Tortuosity.Settings(),
                               progress: ProgressReporter? = nil) throws -> ElectrodeTortuosityResult {
        guard phase.rank == 3 else { throw LensError.invalidArgument("the electrode tortuosity needs a 3D volume, got \(phase.shape)") }
        guard !Lattice(phase).isAnisotropic else {
            throw LensError.invalidArgument("the electrode tortuosity counts interface faces and needs cubic voxels (the volume declares \(phase.geometry.voxelSizeMicrometres) µm): resample first")
        }
        guard !settings.periodic else { throw LensError.invalidArgument("the electrode tortuosity has closed side walls (TauFactor's ElectrodeSolver); periodic faces do not apply") }
        // The electrolyte layer is one voxel before the first layer (TauFactor pads the image):
        // link conductance 1, not the half-voxel face of the steady-state solver.
        let system = try DiffusionSystem(phase: phase, axis: axis, outlet: .blocking, boundaryDistanceVoxels: 1)
        guard let level = system.level else {
            throw LensError.numerical("no voxel of the phase connects to the inlet face along axis \(axis): no current can enter")
        }
        let n = system.unknowns
        // Interface faces per unknown: six minus its pore neighbours (and minus the inlet link).
        var capacitance = [Double](repeating: 0, count: n)
        var faces = 0
        for u in 0..<n {
            var open = 0
            for slot in 0..<6 where level.neighbours[u * 6 + slot] >= 0 { open += 1 }
            if system.position[u] == 0 { open += 1 }
            capacitance[u] = Double(6 - open)
            faces += 6 - open
        }
        guard faces > 0 else { throw LensError.numerical("the connected pore has no interface: nothing to charge, τ_e is undefined") }
        let source = capacitance.map { $0 / Double(faces) }
        let hierarchy = MultigridHierarchy(finest: level)
        var rhs = source
        var solution = [Double](repeating: 0, count: n)
        let outcome = rhs.withUnsafeMutableBufferPointer { b in
            solution.withUnsafeMutableBufferPointer { x in
                hierarchy.solve(rhs: b.baseAddress!, solution: x.baseAddress!, settings: settings, progress: progress) { u, sums in
                    // The quantity and the balance: Re Z = Σ s·u with its adjoint correction
                    // uᵀr (the weights are the right-hand side, so the adjoint is u itself),
                    // and the current leaving through the inlet link against the unit drawn.
                    var resistance = sums.solutionTimesResidual, outflow = 0.0
                    for k in 0..<n { resistance += source[k] * u[k] }
                    for k in system.inlet { outflow += u[Int(k)] }
                    return (resistance, abs(outflow - 1))
                }
            }
        }
        let ionic = zip(source, solution).reduce(0) { $0 + $1.0 * $1.1 } + outcome.correction.solutionTimesResidual
        let resistance = ionic + 1 / (2 * Double(faces))
        let dims = phase.shape.dims
        let crossSection = Double((0..<3).filter { $0 != axis }.map { dims[$0] }.reduce(1, *))
        let tau = system.volumeFraction * 3 * resistance * crossSection / Double(dims[axis] + 2)
        return ElectrodeTortuosityResult(axis: axis, electrodeTortuosityFactor: tau, lowFrequencyResistance: resistance, ionicResistance: 3 * resistance,
                                         volumeFraction: system.volumeFraction, connectedFraction: system.unknownFraction,
                                         interfaceFaces: faces, iterations: outcome.iterations, converged: outcome.converged)
    }
}
