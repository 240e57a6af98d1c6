import Foundation
import ImageAnalysis
import LensCore

/// A rasterized electrode: phase labels, particle ids, grain ids, attenuation, and its truth.
public struct ElectrodePhantom: Sendable {
    /// ``ElectrodePhase`` codes per voxel.
    public var phases: Grid<UInt8>
    /// Particle id per voxel (active and crack voxels of a particle), 0 elsewhere.
    public var particleIDs: Grid<Int32>
    /// Grain id per voxel for polycrystalline particles, 0 elsewhere.
    public var grainIDs: Grid<Int32>
    /// Linear attenuation in 1/µm at the design's energy (cracks narrower than a voxel appear as
    /// partial-volume darkening).
    public var attenuation: Grid<Float>
    public var design: ElectrodeDesign
    public var truth: ElectrodeTruth

    /// Generates a design from `parameters` and rasterizes it.
    public static func generate(_ parameters: ElectrodeParameters, progress: ProgressReporter? = nil) throws -> ElectrodePhantom {
        try rasterize(try ElectrodeDesign.generate(parameters), progress: progress)
    }

    /// Rasterizes a design: each voxel belongs to the particle whose ellipsoid contains its centre
    /// with the smallest normalized radius; cracks are planes of their width (a voxel is crack
    /// when at least half of its extent along the crack normal lies inside); binder fills pore
    /// voxels that bridge two particles or lie in a particle's coating where a smooth random
    /// coverage field is below `binderCoverage`.
    public static func rasterize(_ design: ElectrodeDesign, progress: ProgressReporter? = nil) throws -> ElectrodePhantom {
        let p = design.parameters
        try p.validate()
        let shape = p.gridShape
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        let h = p.voxelSizeMicrometres
        let geometry = GridGeometry.isotropic(h, rank: 3)
        let mu = p.attenuation.at(energyKeV: p.energyKeV)
        let scale = design.particleScale
        let drift = design.driftMicrometres
        let reachOutside = Swift.max(p.binderCoatingMicrometres, p.binderBridgeMicrometres)

        var owner = Grid<Int32>(shape: shape, geometry: geometry)
        var bestRho = Grid<Float>(shape: shape, geometry: geometry, repeating: .infinity)
        var gap1 = Grid<Float>(shape: shape, geometry: geometry, repeating: .infinity)
        var gap2 = Grid<Float>(shape: shape, geometry: geometry, repeating: .infinity)
        let particles = design.particles

        // Pass 1: ownership and distances to the two nearest particle surfaces.
        let chunk = Swift.max(1, nz / (Parallel.threadCount * 8))
        // Each worker owns whole slices of the four fields.
        Parallel.withDisjointWrites(&owner) { own in
        Parallel.withDisjointWrites(&bestRho) { rho in
        Parallel.withDisjointWrites(&gap1) { g1 in
        Parallel.withDisjointWrites(&gap2) { g2 in
            Parallel.forEachChunk(count: nz, minimumChunk: chunk) { zs in
                for particle in particles {
                    let a = particle.semiAxesMicrometres.map { $0 * scale }
                    let rMin = a.min()!
                    let reach = a.max()! + reachOutside + h
                    let c = zip(particle.centreMicrometres, drift).map { $0 + $1 }
                    let lo = c.map { Int((($0 - reach) / h).rounded(.up)) }
                    let hi = c.map { Int((($0 + reach) / h).rounded(.down)) }
                    let z0 = Swift.max(lo[0], zs.lowerBound), z1 = Swift.min(hi[0], zs.upperBound - 1)
                    guard z0 <= z1 else { continue }
                    let y0 = Swift.max(0, lo[1]), y1 = Swift.min(ny - 1, hi[1])
                    let x0 = Swift.max(0, lo[2]), x1 = Swift.min(nx - 1, hi[2])
                    guard y0 <= y1, x0 <= x1 else { continue }
                    let r = particle.rotation
                    let inv = a.map { 1 / $0 }
                    let outerLimit = 1 + reachOutside / rMin
                    for z in z0...z1 {
                        let dz = Double(z) * h - c[0]
                        for y in y0...y1 {
                            let dy = Double(y) * h - c[1]
                            for x in x0...x1 {
                                let dx = Double(x) * h - c[2]
                                let q0 = (r[0][0] * dz + r[0][1] * dy + r[0][2] * dx) * inv[0]
                                let q1 = (r[1][0] * dz + r[1][1] * dy + r[1][2] * dx) * inv[1]
                                let q2 = (r[2][0] * dz + r[2][1] * dy + r[2][2] * dx) * inv[2]
                                let rr = (q0 * q0 + q1 * q1 + q2 * q2).squareRoot()
                                guard rr <= outerLimit else { continue }
                                let i = (z * ny + y) * nx + x
                                if rr <= 1 {
                                    if Float(rr) < rho[i] { rho[i] = Float(rr); own[i] = particle.id }
                                } else {
                                    let gap = Float((rr - 1) * rMin)
                                    if gap < g1[i] { g2[i] = g1[i]; g1[i] = gap } else if gap < g2[i] { g2[i] = gap }
                                }
                            }
                        }
                    }
                }
                progress?.advance(by: zs.count)
            }
        } } } }

        // Pass 2: phases, cracks, grains, binder and attenuation.
        var phases = Grid<UInt8>(shape: shape, geometry: geometry)
        var particleIDs = Grid<Int32>(shape: shape, geometry: geometry)
        var grainIDs = Grid<Int32>(shape: shape, geometry: geometry)
        var attenuation = Grid<Float>(shape: shape, geometry: geometry)
        let electrode = p.electrodeRange
        let field = CoverageField(seed: design.binderFieldSeed, spacingMicrometres: 3)
        let grainsPerParticle = Int32(p.grainsPerParticle)
        // Each worker owns whole slices of the outputs; the pass-1 fields are read only.
        Parallel.withDisjointWrites(&phases) { ph in
        Parallel.withDisjointWrites(&particleIDs) { pid in
        Parallel.withDisjointWrites(&grainIDs) { gid in
        Parallel.withDisjointWrites(&attenuation) { att in
        Parallel.sharing(owner) { own in
        Parallel.sharing(gap1) { g1 in
        Parallel.sharing(gap2) { g2 in
            Parallel.forEachChunk(count: nz, minimumChunk: chunk) { zs in
                for z in zs { for y in 0..<ny { for x in 0..<nx {
                    let i = (z * ny + y) * nx + x
                    // Position in the design's frame (drift removed), µm; scalars, not arrays,
                    // since this runs for every voxel.
                    let pz = Double(z) * h - drift[0], py = Double(y) * h - drift[1], px = Double(x) * h - drift[2]
                    var phase = ElectrodePhase.pore
                    var value = mu.porePerMicrometre
                    if z < electrode.lowerBound {
                        phase = .separator; value = mu.separatorPerMicrometre
                    } else if z >= electrode.upperBound {
                        phase = .currentCollector; value = mu.currentCollectorPerMicrometre
                    } else if own[i] > 0 {
                        let particle = particles[Int(own[i]) - 1]
                        let c = particle.centreMicrometres
                        let rz = pz - c[0], ry = py - c[1], rx = px - c[2]
                        var coverage = 0.0
                        for crack in particle.cracks {
                            if let side = crack.branchSideNormal, rz * side[0] + ry * side[1] + rx * side[2] < 0 { continue }
                            let n = crack.normal
                            let d = rz * n[0] + ry * n[1] + rx * n[2] - crack.offsetMicrometres * scale
                            let extent = (abs(n[0]) + abs(n[1]) + abs(n[2])) * h
                            let half = crack.widthMicrometres / 2
                            let overlap = Swift.max(0, Swift.min(d + extent / 2, half) - Swift.max(d - extent / 2, -half))
                            coverage += overlap / extent
                        }
                        coverage = Swift.min(1, coverage)
                        pid[i] = particle.id
                        phase = coverage >= 0.5 ? .crack : .active
                        value = mu.activePerMicrometre * particle.densityFactor * (1 - coverage) + mu.porePerMicrometre * coverage
                        if !particle.grainSeedsMicrometres.isEmpty {
                            var best = 0, bestDistance = Double.infinity
                            for (k, s) in particle.grainSeedsMicrometres.enumerated() {
                                let d2 = (pz - s[0]) * (pz - s[0]) + (py - s[1]) * (py - s[1]) + (px - s[2]) * (px - s[2])
                                if d2 < bestDistance { bestDistance = d2; best = k }
                            }
                            gid[i] = (particle.id - 1) * grainsPerParticle + Int32(best) + 1
                        }
                    } else if g1[i] <= Float(reachOutside) {
                        var inChannel = false
                        for channel in design.poreChannelsMicrometres where hypot(py - channel[0], px - channel[1]) <= p.poreChannelRadiusMicrometres {
                            inChannel = true
                        }
                        if !inChannel {
                            let bridge = Double(g2[i]) <= p.binderBridgeMicrometres
                            let coated = Double(g1[i]) <= p.binderCoatingMicrometres && field.value(z: pz, y: py, x: px) < p.binderCoverage
                            if bridge || coated { phase = .binder; value = mu.binderPerMicrometre }
                        }
                    }
                    ph[i] = phase.rawValue
                    att[i] = Float(value)
                } } }
            }
        } } } } } } }

        // Fiducial beads override whatever they cover.
        for bead in design.fiducialsMicrometres {
            let r = p.fiducialBeadDiameterMicrometres / 2
            let c = zip(bead, drift).map { $0 + $1 }
            let lo = c.map { Swift.max(0, Int((($0 - r) / h).rounded(.up))) }
            let hi = zip(c, [nz, ny, nx]).map { Swift.min($1 - 1, Int((($0 + r) / h).rounded(.down))) }
            guard lo[0] <= hi[0], lo[1] <= hi[1], lo[2] <= hi[2] else { continue }
            for z in lo[0]...hi[0] { for y in lo[1]...hi[1] { for x in lo[2]...hi[2] {
                let d = [Double(z) * h - c[0], Double(y) * h - c[1], Double(x) * h - c[2]]
                guard d.map({ $0 * $0 }).reduce(0, +) <= r * r else { continue }
                phases[z, y, x] = ElectrodePhase.fiducial.rawValue
                particleIDs[z, y, x] = 0
                grainIDs[z, y, x] = 0
                attenuation[z, y, x] = Float(mu.fiducialPerMicrometre)
            } } }
        }
        let truth = ElectrodeTruth.measure(phases: phases, particleIDs: particleIDs, attenuation: attenuation, design: design)
        return ElectrodePhantom(phases: phases, particleIDs: particleIDs, grainIDs: grainIDs, attenuation: attenuation,
                                design: design, truth: truth)
    }
}

/// A smooth random field in [0, 1): value noise on a cubic lattice with trilinear
/// interpolation, lattice values from a hash of the lattice point and the seed (no storage).
struct CoverageField: Sendable {
    let seed: UInt64
    let spacingMicrometres: Double

    func lattice(_ i: Int, _ j: Int, _ k: Int) -> Double {
        var g = SeededRandom(seed: seed ^ (UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15)
                                   ^ (UInt64(bitPattern: Int64(j)) &* 0xC2B2_AE3D_27D4_EB4F)
                                   ^ (UInt64(bitPattern: Int64(k)) &* 0x1656_67B1_9E37_79F9))
        return g.uniform()
    }

    func value(z: Double, y: Double, x: Double) -> Double {
        let uz = z / spacingMicrometres, uy = y / spacingMicrometres, ux = x / spacingMicrometres
        let iz = Int(uz.rounded(.down)), iy = Int(uy.rounded(.down)), ix = Int(ux.rounded(.down))
        let fz = uz - Double(iz), fy = uy - Double(iy), fx = ux - Double(ix)
        var sum = 0.0
        for dz in 0...1 { for dy in 0...1 { for dx in 0...1 {
            let w = (dz == 0 ? 1 - fz : fz) * (dy == 0 ? 1 - fy : fy) * (dx == 0 ? 1 - fx : fx)
            sum += w * lattice(iz + dz, iy + dy, ix + dx)
        } } }
        return sum
    }
}
