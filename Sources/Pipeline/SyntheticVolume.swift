import LensCore

/// A quick two-phase test volume (spheres of active material in pore space, with grey-value
/// variation and Gaussian noise) with its exact truth, for the foundation demo and I/O
/// benchmarks. The full electrode phantoms with cracks, binder and forward models come with
/// the Phantoms module.
public struct SphereVolume: Sendable {
    public struct Sphere: Sendable, Codable, Equatable {
        public var centreVoxels: [Double]
        public var radiusVoxels: Double
        /// Attenuation of this particle in 1/µm (density variation between particles).
        public var attenuationPerMicrometre: Double
    }

    /// Noise-free attenuation in 1/µm.
    public var clean: Grid<Float>
    /// With additive Gaussian noise of `noiseSigma`.
    public var noisy: Grid<Float>
    /// 1 inside a particle, 0 in the pore space.
    public var solidMask: Grid<UInt8>
    public var spheres: [Sphere]
    public var poreAttenuation: Double
    public var noiseSigma: Double

    /// Exact solid fraction of the voxel grid (voxel centres inside any sphere).
    public var solidFraction: Double {
        Double(solidMask.elements.reduce(0) { $0 + Int($1) }) / Double(solidMask.count)
    }

    /// - Parameters:
    ///   - size: edge length in voxels (cubic volume).
    ///   - voxelSizeMicrometres: isotropic spacing.
    ///   - targetSolidFraction: spheres are added until their nominal volume reaches this.
    public static func generate(size: Int, voxelSizeMicrometres: Double = 0.5, targetSolidFraction: Double = 0.45,
                                medianRadiusVoxels: Double = 7, noiseSigma: Double = 0.004, seed: UInt64 = 1) -> SphereVolume {
        var rng = SeededRandom(seed: seed)
        var spheres = [Sphere]()
        var nominal = 0.0
        let total = Double(size * size * size)
        while nominal < targetSolidFraction * total * 1.15 && spheres.count < 100_000 {
            let r = Swift.min(Double(size) / 4, Swift.max(2, rng.logNormal(median: medianRadiusVoxels, sigma: 0.35)))
            let c = (0..<3).map { _ in rng.uniform() * Double(size - 1) }
            let mu = 0.05 * (1 + 0.08 * rng.normal())
            spheres.append(Sphere(centreVoxels: c, radiusVoxels: r, attenuationPerMicrometre: mu))
            nominal += 4.0 / 3.0 * Double.pi * r * r * r
        }
        let shape = Shape(size, size, size)
        let geometry = GridGeometry.isotropic(voxelSizeMicrometres, rank: 3)
        let pore = 0.002
        // Each sphere is rasterized over its bounding box; later spheres lie on top.
        var ownerValues = [Int32](repeating: -1, count: shape.count)
        for (k, s) in spheres.enumerated() {
            let lo = s.centreVoxels.map { Swift.max(0, Int((($0 - s.radiusVoxels)).rounded(.up))) }
            let hi = s.centreVoxels.map { Swift.min(size - 1, Int((($0 + s.radiusVoxels)).rounded(.down))) }
            guard lo[0] <= hi[0], lo[1] <= hi[1], lo[2] <= hi[2] else { continue }
            let r2 = s.radiusVoxels * s.radiusVoxels
            for z in lo[0]...hi[0] {
                let dz = Double(z) - s.centreVoxels[0]
                for y in lo[1]...hi[1] {
                    let dy = Double(y) - s.centreVoxels[1]
                    for x in lo[2]...hi[2] {
                        let dx = Double(x) - s.centreVoxels[2]
                        if dz * dz + dy * dy + dx * dx <= r2 { ownerValues[(z * size + y) * size + x] = Int32(k) }
                    }
                }
            }
        }
        let cells = spheres
        let owner = Grid(shape: shape, geometry: geometry, elements: ownerValues)
        let clean = owner.map { k in Float(k >= 0 ? cells[Int(k)].attenuationPerMicrometre : pore) }
        let mask = owner.map { UInt8($0 >= 0 ? 1 : 0) }
        var noiseRng = rng.split(7)
        var noisyValues = clean.elements
        for i in noisyValues.indices { noisyValues[i] += Float(noiseSigma * noiseRng.normal()) }
        let noisy = Grid(shape: shape, geometry: geometry, elements: noisyValues)
        return SphereVolume(clean: clean, noisy: noisy, solidMask: mask, spheres: spheres, poreAttenuation: pore, noiseSigma: noiseSigma)
    }
}
