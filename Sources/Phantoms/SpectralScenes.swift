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
