import Foundation
import ImageAnalysis
import LensCore

/// One axis's result of the steady-state diffusion simulation.
public struct TortuosityResult: Sendable, Codable {
    /// 0 = z, 1 = y, 2 = x.
    public var axis: Int
    /// Fraction of all voxels in the phase, isolated and dead-end pores included (TauFactor's ε).
    public var volumeFraction: Double
    /// Fraction of all voxels in the phase's components that connect the two faces.
    public var percolatingFraction: Double
    /// D_eff / D = flux · L / (A · ΔC), the same for both conventions.
    public var relativeDiffusivity: Double
    /// τ = ε / (D_eff/D) with ε the whole phase fraction (TauFactor's convention); ∞ when the
    /// phase does not connect the faces.
    public var tortuosityFactor: Double
    /// τ with ε the percolating fraction only (isolated and dead-end-free clusters removed).
    public var percolatingTortuosityFactor: Double
    /// Iterations of preconditioned conjugate gradients.
    public var iterations: Int
    /// |F_in − F_out| / mean(F_in, F_out) of the field at the end. D_eff comes from the
    /// adjoint-corrected fluxes, which balance exactly and are far more accurate than the
    /// field's own (see ``estimatedRelativeError``), so this is larger than their error.
    public var fluxImbalance: Double
    /// Residual 2-norm relative to the right-hand side's at the end.
    public var relativeResidual: Double
    public var converged: Bool
    /// Estimated relative error of D_eff (and τ) at the end: twice the geometric tail of the
    /// corrected flux's last decreases (the convergence test; see `MultigridHierarchy.OutputTail`).
    public var estimatedRelativeError: Double?
    public var percolates: Bool { relativeDiffusivity > 0 }
}

/// Tortuosity factor and effective diffusivity of one phase from a steady-state diffusion
/// simulation (Cooper et al. 2016, TauFactor): 6-neighbour finite volumes on the voxels of the
/// phase, concentration fixed at 1 and 0 on the outer faces of the first and last voxel layers
/// along the axis (half a voxel from their centres), zero flux on all other faces and on the
/// phase boundary. The linear system (the graph Laplacian of the phase plus the two boundary
/// conductances) is symmetric positive definite on the components that touch both faces and is
/// solved by flexible conjugate gradients preconditioned with one aggregation multigrid cycle
/// (see ``MultigridHierarchy``: smoothed on the voxel grids, a K-cycle on the first coarse
/// level) from a linear initial guess.
/// Components that touch one face or none carry no steady flux and are left out of the solve
/// (they would make the system singular) but stay in ε for TauFactor's τ.
///
/// D_eff comes from the adjoint-corrected mean flux, whose error is quadratic in the field's;
/// converged when its estimated error (from its last decreases) is within `tolerance`
/// (relative; see ``MultigridHierarchy/solve(rhs:solution:settings:progress:measure:)``).
public enum Tortuosity {
    public struct Settings: Sendable {
        public var tolerance: Double = 1e-5
        public var maximumIterations: Int = 100_000
        /// Join the faces across the other two axes (periodic boundaries; even sizes there).
        public var periodic = false
        public init(tolerance: Double = 1e-5, maximumIterations: Int = 100_000, periodic: Bool = false) {
            self.tolerance = tolerance; self.maximumIterations = maximumIterations; self.periodic = periodic
        }
    }

    /// τ of the voxels where `phase` ≠ 0 along `axis` (0 = z, 1 = y, 2 = x).
    public static func compute(phase: Grid<UInt8>, axis: Int, settings: Settings = Settings(),
                               progress: ProgressReporter? = nil) throws -> TortuosityResult {
        try compute(phase: phase, axis: axis, settings: settings, progress: progress, gridMinimumUnknowns: StructuredLevel.minimumUnknowns)
    }

    /// ``compute(phase:axis:settings:progress:)`` with the multigrid levels smoothed on their
    /// grids from `gridMinimumUnknowns` unknowns (`Int.max`: none) and the finest level's
    /// storage chosen, for comparing the paths.
    package static func compute(phase: Grid<UInt8>, axis: Int, settings: Settings = Settings(), progress: ProgressReporter? = nil,
                                gridMinimumUnknowns: Int, storage: FinestLevelStorage = .automatic) throws -> TortuosityResult {
        let assembled = try DiffusionSystem(phase: phase, axis: axis, outlet: .fixed, periodic: settings.periodic, storage: storage)
        let epsilon = assembled.volumeFraction, n = assembled.unknowns
        let percolatingFraction = assembled.unknownFraction
        let hierarchy: MultigridHierarchy
        if let bitmap = assembled.bitmap {
            hierarchy = MultigridHierarchy(bitmap: bitmap, gridMinimumUnknowns: gridMinimumUnknowns)
                ?? MultigridHierarchy(finest: bitmap.compactLevel(), gridMinimumUnknowns: gridMinimumUnknowns)
        } else if let level = assembled.level {
            hierarchy = MultigridHierarchy(finest: level, gridMinimumUnknowns: gridMinimumUnknowns)
        } else {
            return TortuosityResult(axis: axis, volumeFraction: epsilon, percolatingFraction: 0, relativeDiffusivity: 0,
                                    tortuosityFactor: .infinity, percolatingTortuosityFactor: .infinity, iterations: 0,
                                    fluxImbalance: 0, relativeResidual: 0, converged: true)
        }
        let rhs = UnsafeMutablePointer<Double>.allocate(capacity: n), solution = UnsafeMutablePointer<Double>.allocate(capacity: n)
        rhs.initialize(repeating: 0, count: n)
        defer { rhs.deallocate(); solution.deallocate() }
        assembled.linearProfile(into: solution)
        for (k, u) in assembled.inlet.enumerated() { rhs[Int(u)] = assembled.inletConductance[k] }
        let outcome = hierarchy.solve(rhs: rhs, solution: solution, settings: settings, progress: progress) { c, sums in
            assembled.relativeDiffusivity(c, corrected: sums)
        }
        let (deff, imbalance) = assembled.relativeDiffusivity(solution, corrected: outcome.correction)
        return TortuosityResult(axis: axis, volumeFraction: epsilon, percolatingFraction: percolatingFraction,
                                relativeDiffusivity: deff, tortuosityFactor: epsilon / deff,
                                percolatingTortuosityFactor: percolatingFraction / deff, iterations: outcome.iterations,
                                fluxImbalance: imbalance, relativeResidual: outcome.relativeResidual, converged: outcome.converged,
                                estimatedRelativeError: outcome.estimatedRelativeError)
    }
}

/// The multigrid preconditioner of the tortuosity system, opened for tests of its two paths
/// (grid and compact levels) through the package's API.
package enum DiffusionPreconditionerProbe {
    /// One V-cycle of the steady-state system of `phase` along `axis` applied to the vector
    /// `value(u)` over its unknowns (the percolating phase voxels in (z, y, x) order), with grid
    /// levels from `gridMinimumUnknowns` unknowns and the plain V-cycle throughout (no K-cycle);
    /// and how many levels were smoothed on a grid.
    /// With `conductivity` (one value per voxel, 0 outside the conducting phases) the finest
    /// level has a conductance per link (harmonic means), as in ``MultiPhaseConductivity``.
    package static func vCycle(phase: Grid<UInt8>, axis: Int, periodic: Bool = false, conductivity: [Double]? = nil,
                               gridMinimumUnknowns: Int, value: (Int) -> Double) throws -> (result: [Double], gridLevels: Int) {
        let system = try DiffusionSystem(phase: phase, axis: axis, outlet: .fixed, conductivity: conductivity, periodic: periodic)
        guard let level = system.level else { return ([], 0) }
        let hierarchy = MultigridHierarchy(finest: level, gridMinimumUnknowns: gridMinimumUnknowns, coarseKrylov: false)
        return (hierarchy.apply((0..<level.count).map(value)), hierarchy.structured.count)
    }
}

extension DiffusionPreconditionerProbe {
    /// One V-cycle (no K-cycle) over a bitmap finest level (``BitmapLevel``) applied to
    /// `value(u)`; nil where its first coarse level is not a grid.
    package static func bitmapCycle(phase: Grid<UInt8>, axis: Int, gridMinimumUnknowns: Int, value: (Int) -> Double) throws -> [Double]? {
        let system = try DiffusionSystem(phase: phase, axis: axis, outlet: .fixed, storage: .bitmap)
        guard let bitmap = system.bitmap,
              let hierarchy = MultigridHierarchy(bitmap: bitmap, gridMinimumUnknowns: gridMinimumUnknowns, coarseKrylov: false) else { return nil }
        return hierarchy.apply((0..<bitmap.count).map(value))
    }

    /// How many entries of the bitmap's finest level (as compact rows) and of its Galerkin
    /// coarse level differ from those the compact path builds for the same system (neighbour
    /// slots and coordinates exactly, diagonals and links to 1e-12 relative).
    package static func bitmapMismatches(phase: Grid<UInt8>, axis: Int, blockingOutlet: Bool) throws -> (finest: Int, coarse: Int) {
        let outlet: DiffusionSystem.Outlet = blockingOutlet ? .blocking : .fixed
        let compact = try DiffusionSystem(phase: phase, axis: axis, outlet: outlet, storage: .compact)
        let packed = try DiffusionSystem(phase: phase, axis: axis, outlet: outlet, storage: .bitmap)
        guard let reference = compact.level, let bitmap = packed.bitmap else { return (compact.level == nil && packed.bitmap == nil) ? (0, 0) : (1, 1) }
        func mismatches(_ a: DiffusionLevel, _ b: DiffusionLevel) -> Int {
            guard a.count == b.count else { return max(a.count, b.count) }
            var wrong = 0
            for u in 0..<a.count {
                var same = a.coordinates[u] == b.coordinates[u] && abs(a.diagonal[u] - b.diagonal[u]) <= 1e-12 * abs(a.diagonal[u])
                for s in 0..<6 {
                    same = same && a.neighbours[u * 6 + s] == b.neighbours[u * 6 + s]
                        && abs(a.conductance(u, s) - b.conductance(u, s)) <= 1e-12 * abs(a.conductance(u, s))
                }
                if !same { wrong += 1 }
            }
            return wrong
        }
        let finest = bitmap.compactLevel()
        let coarseReference = MultigridHierarchy.coarsen(reference)
        defer { coarseReference.1.deallocate(); coarseReference.2.deallocate(); coarseReference.3.deallocate() }
        return (mismatches(finest, reference), mismatches(bitmap.coarsen(), coarseReference.0))
    }

    /// One V-cycle of L + shift·I applied to `value(u)`: from a hierarchy built on the shifted
    /// matrix, and from one built on L and then shifted in place (``MultigridHierarchy/setDiagonalShift(_:)``,
    /// as the impedance sweep does), shifted first by `detour` and then by `shift`.
    package static func shiftedCycles(phase: Grid<UInt8>, axis: Int, shift: Double, detour: Double,
                                      value: (Int) -> Double) throws -> (built: [Double], shifted: [Double]) {
        let system = try DiffusionSystem(phase: phase, axis: axis, outlet: .blocking)
        guard let level = system.level else { return ([], []) }
        let vector = (0..<level.count).map(value)
        let built = MultigridHierarchy(finest: DiffusionLevel(copying: level, diagonalShift: shift), gridMinimumUnknowns: 64, coarseKrylov: false)
        let shifted = MultigridHierarchy(finest: DiffusionLevel(copying: level, diagonalShift: 0), gridMinimumUnknowns: 64, coarseKrylov: false,
                                         diagonalShifts: true)
        shifted.setDiagonalShift(detour)
        shifted.setDiagonalShift(shift)
        return (built.apply(vector), shifted.apply(vector))
    }
}

/// How the finest level of a ``DiffusionSystem`` is stored: compact rows (``DiffusionLevel``,
/// smoothed on its voxel grid where that qualifies), a bitmap of the unknowns (``BitmapLevel``:
/// uniform conductances, no periodic wrap), or the bitmap only where the compact level and its
/// grids would take more than `DiffusionSystem.bitmapAboveBytes`.
package enum FinestLevelStorage: Sendable { case compact, bitmap, automatic }

/// The finite-volume diffusion system of one phase along one axis (shared by ``Tortuosity``
/// and ``Impedance``): 6-neighbour links between phase voxels with conductance D·A/Δ (D = 1),
/// the inlet face held at a fixed concentration half a voxel outside the first layer (twice the
/// link conductance), the outlet face either fixed (steady-state τ) or blocking (zero flux: an
/// electrode's current collector). Only components that can carry a flux are unknowns: those
/// touching both faces when the outlet is fixed, those touching the inlet when it blocks (dead
/// ends then store and release material, which impedance sees).
struct DiffusionSystem {
    enum Outlet { case fixed, blocking }
    /// Above this estimate of the compact path's memory (16 bytes per voxel of the box and 110
    /// per unknown) `automatic` storage takes the bitmap: the grids are faster, the bitmap about
    /// 60 bytes per unknown leaner (TauFactor's 500³ cube: 6.4 → 2.6 GB).
    static let bitmapAboveBytes = 2 << 30
    let volumeFraction: Double
    let unknowns: Int
    /// Unknowns over all voxels.
    let unknownFraction: Double
    /// The finest level in compact storage; nil when there are no unknowns or it is a bitmap.
    let level: DiffusionLevel?
    /// The finest level as a bitmap (see ``FinestLevelStorage``).
    let bitmap: BitmapLevel?
    let inlet: [Int32], outlet: [Int32]
    /// Each unknown's layer index along the axis; empty when the finest level is a bitmap (see
    /// ``linearProfile(into:)``).
    let position: [Int32]
    let length: Int
    let boundaryConductance: Double
    let lengthAlongAxis: Double, crossSection: Double
    /// The volume of one voxel in the spacing's units (storage per unit concentration).
    let voxelVolume: Double

    /// The conductance of each inlet / outlet unknown to its fixed face (2·κ·A/Δ).
    let inletConductance: [Double], outletConductance: [Double]

    /// - Parameter conductivity: per voxel (the grid's linear order), for several conducting
    ///   phases (links take the harmonic mean of their two voxels, TauFactor's MultiPhaseSolver);
    ///   nil: κ = 1 on the phase. The phase is then the voxels with κ > 0.
    ///   - periodic: the faces across the other two axes join (what leaves through one enters
    ///     through the opposite face), for a sample taken from a larger homogeneous electrode.
    ///   - boundaryDistanceVoxels: how far outside the first and last layers the fixed faces
    ///     lie: ½ (the faces of the volume; TauFactor's `Solver`) or 1 (a node one voxel out
    ///     with the layer's own conductivity; TauFactor's `MultiPhaseSolver` and
    ///     `ElectrodeSolver`). The length between the faces is then N − 1 + 2d voxels.
    init(phase: Grid<UInt8>, axis: Int, outlet outletCondition: Outlet, conductivity: [Double]? = nil, periodic: Bool = false,
         boundaryDistanceVoxels: Double = 0.5, storage: FinestLevelStorage = .compact) throws {
        guard boundaryDistanceVoxels > 0 else { throw LensError.invalidArgument("the boundary distance must be positive") }
        try Morphology.requireBinary(phase, name: "the phase mask")
        let lattice = Lattice(phase)
        let dims = [lattice.nz, lattice.ny, lattice.nx]
        guard (0..<3).contains(axis), phase.rank == 3 || axis > 0 else {
            throw LensError.invalidArgument("axis \(axis) does not exist in a volume of shape \(phase.shape)")
        }
        guard dims[axis] >= 2 else { throw LensError.invalidArgument("the volume is only \(dims[axis]) voxel thick along axis \(axis)") }
        let total = lattice.count
        guard total < Int(Int32.max) else {
            throw LensError.invalidArgument("the volume has \(total) voxels; the diffusion solver indexes them with 32 bits (at most 2³¹ − 1): crop or bin it")
        }
        let phaseCount = phase.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard phaseCount > 0 else { throw LensError.numerical("the phase is empty: no voxel belongs to it") }
        volumeFraction = Double(phaseCount) / Double(total)
        length = dims[axis]

        // Components (faces connectivity: diffusion passes through faces) and the faces they touch.
        let components = ConnectedComponents.label(phase, connectivity: .faces)
        let strides = [lattice.ny * lattice.nx, lattice.nx, 1]
        // With periodic faces, components that meet across a joined face are one (union–find
        // over the labels).
        var root = Array(0...components.count)
        func find(_ a: Int) -> Int { var a = a; while root[a] != a { root[a] = root[root[a]]; a = root[a] }; return a }
        let wrapAxes = periodic ? (0..<3).filter { $0 != axis && dims[$0] > 2 } : []
        // The red–black smoother needs neighbours of opposite colour, also across a joined face.
        if let odd = wrapAxes.first(where: { dims[$0] % 2 != 0 }) {
            throw LensError.invalidArgument("periodic faces need an even size across axis \(odd) (it is \(dims[odd])): crop one slice")
        }
        components.labels.withUnsafeBufferPointer { lab in
            for a in wrapAxes {
                for i in 0..<total where (i / strides[a]) % dims[a] == 0 && lab[i] != 0 {
                    let j = i + (dims[a] - 1) * strides[a]
                    if lab[j] != 0 { let (x, y) = (find(Int(lab[i])), find(Int(lab[j]))); if x != y { root[x] = y } }
                }
            }
        }
        var touchesInlet = [Bool](repeating: false, count: components.count + 1)
        var touchesOutlet = touchesInlet
        components.labels.withUnsafeBufferPointer { lab in
            for i in 0..<total where lab[i] != 0 {
                let position = (i / strides[axis]) % dims[axis]
                if position == 0 { touchesInlet[find(Int(lab[i]))] = true }
                if position == dims[axis] - 1 { touchesOutlet[find(Int(lab[i]))] = true }
            }
        }
        let carries = (0...components.count).map { c in
            c != 0 && touchesInlet[find(c)] && (outletCondition == .blocking || touchesOutlet[find(c)])
        }
        // The label volume becomes the map from voxel to unknown (−1: none) in place (it is the
        // largest temporary), and the unknowns' voxels are listed in (z, y, x) order.
        var unknownOf = (consume components).labels
        var n = 0
        unknownOf.withUnsafeMutableBufferPointer { lab in
            for i in 0..<total { if lab[i] != 0 && carries[Int(lab[i])] { lab[i] = Int32(n); n += 1 } else { lab[i] = -1 } }
        }
        var voxelOf = [Int32](repeating: 0, count: n)
        unknownOf.withUnsafeBufferPointer { lab in
            voxelOf.withUnsafeMutableBufferPointer { list in for i in 0..<total where lab[i] >= 0 { list[Int(lab[i])] = Int32(i) } }
        }
        unknowns = n
        unknownFraction = Double(n) / Double(total)
        let spacing = [lattice.spacing.z, lattice.spacing.y, lattice.spacing.x]
        voxelVolume = spacing.reduce(1, *)
        lengthAlongAxis = (Double(dims[axis]) - 1 + 2 * boundaryDistanceVoxels) * spacing[axis]
        crossSection = (0..<3).filter { $0 != axis }.map { Double(dims[$0]) * spacing[$0] }.reduce(1, *)
        // Conductances D·A/Δ per axis (D = 1) and to the fixed faces (d voxels away).
        let area = (0..<3).map { k in spacing.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *) }
        let conductance = (0..<3).map { area[$0] / spacing[$0] }
        let faceConductance = conductance[axis] / boundaryDistanceVoxels
        boundaryConductance = faceConductance
        // What the solvers still allocate, measured on TauFactor's 500³ cube (37.5 M unknowns),
        // for a clear refusal instead of the system killing the run. Compact finest level (6.4 GB
        // peak there): the multigrid's voxel grids (~16 bytes per voxel), the compact level, CG's
        // vectors and the first coarse level (~110 bytes per unknown). Bitmap (2.6 GB): the input,
        // its mask and the labels while assembling (~6 bytes per voxel), CG's four vectors and
        // the V-cycle's two (40 bytes per unknown) and the first coarse level (~24).
        let compactBytes = 16 * total + 110 * n
        let bitmapAllowed = conductivity == nil && wrapAxes.isEmpty
        if storage == .bitmap && !bitmapAllowed {
            throw LensError.invalidArgument("a bitmap finest level needs one conductance per axis and no periodic faces")
        }
        let useBitmap = bitmapAllowed && (storage == .bitmap || (storage == .automatic && compactBytes > Self.bitmapAboveBytes))
        try MemoryBudget.require(elements: useBitmap ? 6 * total + 64 * n : compactBytes, elementBytes: 1,
                                 for: "the diffusion solver (\(n) unknowns in \(total) voxels)",
                                 hint: "crop the volume, or bin it")
        guard n > 0 else { level = nil; bitmap = nil; inlet = []; outlet = []; position = []; inletConductance = []; outletConductance = []; return }
        if useBitmap {
            bitmap = unknownOf.withUnsafeBufferPointer { unknownOf in
                BitmapLevel(unknownOf: unknownOf, count: n, extents: (dims[0], dims[1], dims[2]),
                            conductance: (conductance[0], conductance[1], conductance[2]), axis: axis,
                            inletConductance: faceConductance, outletConductance: outletCondition == .fixed ? faceConductance : 0)
            }
        } else { bitmap = nil }
        let system = useBitmap ? nil : conductivity == nil ? DiffusionLevel(count: n, uniformConductance: conductance) : DiffusionLevel(coarseCount: n)
        var position = [Int32](repeating: 0, count: n)
        let (nzv, nyv, nxv) = (dims[0], dims[1], dims[2])
        let (gz, gy, gx) = (conductance[0], conductance[1], conductance[2])
        // Rows in parallel (each writes only its own), the faces' lists afterwards in row order.
        unknownOf.withUnsafeBufferPointer { unknownBuffer in voxelOf.withUnsafeBufferPointer { voxelBuffer in
            position.withUnsafeMutableBufferPointer { positionBuffer in
                nonisolated(unsafe) let (unknownOf, voxelOf, position) = (unknownBuffer, voxelBuffer, positionBuffer)
                Parallel.forEachChunk(count: n, minimumChunk: 32_768) { range in
                    for u in range {
                        let i = Int(voxelOf[u])
                        let z = i / strides[0], y = (i / nxv) % nyv, x = i % nxv
                        position[u] = Int32(axis == 0 ? z : axis == 1 ? y : x)
                        guard let system else { continue }
                        let nb = system.neighbours + u * 6
                        nb[0] = z > 0 ? unknownOf[i - strides[0]] : -1
                        nb[1] = z < nzv - 1 ? unknownOf[i + strides[0]] : -1
                        nb[2] = y > 0 ? unknownOf[i - nxv] : -1
                        nb[3] = y < nyv - 1 ? unknownOf[i + nxv] : -1
                        nb[4] = x > 0 ? unknownOf[i - 1] : -1
                        nb[5] = x < nxv - 1 ? unknownOf[i + 1] : -1
                        // Joined faces: the neighbour across the wrap.
                        if wrapAxes.contains(0) { if z == 0 { nb[0] = unknownOf[i + (nzv - 1) * strides[0]] }; if z == nzv - 1 { nb[1] = unknownOf[i - (nzv - 1) * strides[0]] } }
                        if wrapAxes.contains(1) { if y == 0 { nb[2] = unknownOf[i + (nyv - 1) * nxv] }; if y == nyv - 1 { nb[3] = unknownOf[i - (nyv - 1) * nxv] } }
                        if wrapAxes.contains(2) { if x == 0 { nb[4] = unknownOf[i + nxv - 1] }; if x == nxv - 1 { nb[5] = unknownOf[i - (nxv - 1)] } }
                        var diagonal = 0.0
                        if let kappa = conductivity {
                            let own = kappa[i]
                            for slot in 0..<6 where nb[slot] >= 0 {
                                let other = kappa[Int(voxelOf[Int(nb[slot])])]
                                let g = 2 * own * other / (own + other) * (slot < 2 ? gz : slot < 4 ? gy : gx)
                                system.links![u * 6 + slot] = g
                                diagonal += g
                            }
                        } else {
                            for slot in 0..<6 where nb[slot] >= 0 { diagonal += slot < 2 ? gz : slot < 4 ? gy : gx }
                        }
                        system.diagonal[u] = diagonal
                        system.coordinates[u] = (Int32(z), Int32(y), Int32(x))
                    }
                }
            }
        } }
        var inletConductance = [Double](), outletConductance = [Double]()
        var inlet: [Int32] = [], outlet: [Int32] = []
        for u in 0..<n where position[u] == 0 || Int(position[u]) == dims[axis] - 1 {
            var face = boundaryConductance
            if let kappa = conductivity { face *= kappa[Int(voxelOf[u])] }
            if position[u] == 0 { system?.diagonal[u] += face; inlet.append(Int32(u)); inletConductance.append(face) }
            if Int(position[u]) == dims[axis] - 1 {
                if outletCondition == .fixed { system?.diagonal[u] += face }
                outlet.append(Int32(u)); outletConductance.append(face)
            }
        }
        level = system
        self.inlet = inlet; self.outlet = outlet; self.position = useBitmap ? [] : position
        self.inletConductance = inletConductance; self.outletConductance = outletConductance
    }
}

extension DiffusionSystem {
    /// The linear profile 1 − (layer + ½)/N along the axis on every unknown: the initial guess
    /// of the steady solves.
    func linearProfile(into solution: UnsafeMutablePointer<Double>) {
        let length = Double(length)
        if let bitmap, position.isEmpty {
            nonisolated(unsafe) let solution = solution
            let axis = bitmap.axis
            let slabs = Parallel.chunkRanges(count: bitmap.nz, minimumChunk: 2)
            DispatchQueue.concurrentPerform(iterations: slabs.count) { s in
                bitmap.forEachUnknown(planes: slabs[s], colour: nil) { u, z, y, x, _ in
                    solution[u] = 1 - (Double(axis == 0 ? z : axis == 1 ? y : x) + 0.5) / length
                }
            }
        } else {
            for u in 0..<unknowns { solution[u] = 1 - (Double(position[u]) + 0.5) / length }
        }
    }

    /// D_eff/D (or κ_eff) of a steady field c with concentration 1 and 0 on the faces (a fixed
    /// outlet), from the mean of its inlet and outlet fluxes F_in = Σ g_in(1 − c) and
    /// F_out = Σ g_out·c with their adjoint corrections, and the field's own imbalance
    /// |F_in − F_out| / mean. F_in = Σg_in − bᵀc (b: g_in on the inlet rows) has the adjoint c
    /// itself: corrected F_in − cᵀr. F_out's weights w are the outlet conductances and
    /// A·1 = b + w, so its adjoint is 1 − c: corrected F_out + Σr − cᵀr. Their mean is
    /// F + ½Σr − cᵀr (the corrected fluxes balance exactly, since F_in − F_out = Σr). See
    /// ``MultigridHierarchy/solve(rhs:solution:settings:progress:measure:)``.
    func relativeDiffusivity(_ c: UnsafeMutablePointer<Double>, corrected sums: MultigridHierarchy.ResidualSums) -> (Double, Double) {
        var fin = 0.0, fout = 0.0
        for (k, u) in inlet.enumerated() { fin += inletConductance[k] * (1 - c[Int(u)]) }
        for (k, u) in outlet.enumerated() { fout += outletConductance[k] * c[Int(u)] }
        let flux = 0.5 * (fin + fout)
        let corrected = flux + 0.5 * sums.residual - sums.solutionTimesResidual
        return (corrected * lengthAlongAxis / crossSection, abs(fin - fout) / Swift.max(flux, .leastNormalMagnitude))
    }
}
