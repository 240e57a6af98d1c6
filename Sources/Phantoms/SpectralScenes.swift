import Foundation
import LensCore

/// Ready-made scenes for the spectral simulators, built from electrode phantoms.
public enum SpectralScenes {
    /// A state-of-charge scene from an electrode: every particle gets a mean state of charge
    /// (uniform in 0.15…0.85) and a radial gradient (±0.15 from core to surface: charged shells),
    /// so per-particle means and intra-particle spreads are both known.
    /// - Parameter rank: 2 for a map (the middle slice), 3 for a volume.
    public static func stateOfCharge(size: Int, rank: Int, seed: UInt64) throws
        -> (stateOfCharge: Grid<Float>, thickness: Grid<Float>, labels: Grid<Int32>) {
        var p = ElectrodeParameters()
        p.shape = rank == 2 ? [12, size, size] : [size, size, size]
        p.medianParticleDiameterMicrometres = Double(size) / 8 * p.voxelSizeMicrometres * 2
        p.crackProbability = 0
        p.binderCoverage = 0
        p.binderBridgeMicrometres = 0
        p.seed = seed
        let phantom = try ElectrodePhantom.generate(p)
        var rng = SeededRandom(seed: seed ^ 0x5A5A)
        let means = (0..<(phantom.design.particles.count + 1)).map { _ in 0.15 + 0.7 * rng.uniform() }
        let ids = rank == 2 ? phantom.particleIDs.slice(6).copy() : phantom.particleIDs
        let shape = ids.shape
        let h = p.voxelSizeMicrometres
        var soc = [Float](repeating: 0, count: shape.count), thickness = [Float](repeating: 0, count: shape.count)
        let (ny, nx) = (shape[shape.rank - 2], shape[shape.rank - 1])
        for i in 0..<shape.count {
            let id = Int(ids[linear: i])
            guard id > 0 else { continue }
            let particle = phantom.design.particles[id - 1]
            let x = Double(i % nx) * h, y = Double((i / nx) % ny) * h
            let z = rank == 2 ? 6 * h : Double(i / (nx * ny)) * h
            let d = [z, y, x].enumerated().map { $1 - particle.centreMicrometres[$0] }
            let r = (d.map { $0 * $0 }.reduce(0, +)).squareRoot() / particle.semiAxesMicrometres.max()!
            soc[i] = Float(Swift.min(1, Swift.max(0, means[id] + 0.15 * (2 * Swift.min(1, r) - 1))))
            thickness[i] = 1
        }
        return (Grid(shape: shape, elements: soc), Grid(shape: shape, elements: thickness), ids)
    }
}

/// The state of charge a damaged particle reaches in the charged state of the XANES phantom
/// built on a cycled electrode: cracks that cut particles into fragments cost them electronic
/// contact, so damaged particles lag in delithiation (the chemo-mechanical coupling TXM-XANES
/// of cycled NMC shows). The design's values, per damage class.
public enum DamagedParticleCharge {
    public static let byClass: [String: Double] = ["least": 0.85, "mild": 0.65, "severe": 0.45]
    /// Per-particle spread (uniform ± this) around its class's value.
    public static let spread = 0.05
}

extension SpectralScenes {
    /// A state-of-charge map of slice `slice` of a cycled electrode's particles: each particle's
    /// state of charge is its damage class's (``DamagedParticleCharge``) ± the spread (seeded),
    /// uniform inside it; thickness 1 inside particles. Returns the 2D labels (the slice's
    /// particle ids, with the volume's in-plane voxel size) and each id's class and value.
    public static func damagedParticles(particles: Grid<Int32>, classes: [Int: String], slice: Int, seed: UInt64) throws
        -> (stateOfCharge: Grid<Float>, thickness: Grid<Float>, labels: Grid<Int32>, particles: [(id: Int, damageClass: String, stateOfCharge: Double)]) {
        guard particles.rank == 3 else { throw LensError.invalidArgument("the particle labels must be a 3D volume, got \(particles.shape)") }
        guard (0..<particles.shape[0]).contains(slice) else { throw LensError.invalidArgument("slice \(slice) outside 0..<\(particles.shape[0])") }
        let (ny, nx) = (particles.shape[1], particles.shape[2])
        var labels = particles.slab(slice..<(slice + 1)).reshaped(Shape(ny, nx))
        let g = particles.geometry
        labels.geometry = GridGeometry(voxelSizeMicrometres: Array(g.voxelSizeMicrometres.suffix(2)), isCalibrated: g.isCalibrated)
        let ids = Set(labels.elements.filter { $0 > 0 }.map(Int.init)).sorted()
        var rng = SeededRandom(seed: seed ^ 0xC4A2)
        var values = [Int: Double](), table = [(id: Int, damageClass: String, stateOfCharge: Double)]()
        for id in ids {
            guard let c = classes[id], let mean = DamagedParticleCharge.byClass[c] else {
                throw LensError.invalidArgument("particle \(id) has no damage class (least, mild or severe) in the truth")
            }
            let v = mean + DamagedParticleCharge.spread * (2 * rng.uniform() - 1)
            values[id] = v
            table.append((id, c, v))
        }
        let l = labels.elements
        let soc = l.map { $0 > 0 ? Float(values[Int($0)]!) : 0 }
        let thickness = l.map { $0 > 0 ? Float(1) : 0 }
        return (Grid(shape: labels.shape, elements: soc), Grid(shape: labels.shape, elements: thickness), labels, table)
    }
}
