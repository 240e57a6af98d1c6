import Foundation
import LensCore

/// Phase codes of electrode label volumes.
public enum ElectrodePhase: UInt8, CaseIterable, Codable, Sendable {
    case pore = 0, active = 1, binder = 2, crack = 3, separator = 4, currentCollector = 5, fiducial = 6

    public var name: String {
        switch self {
        case .pore: return "pore"
        case .active: return "active"
        case .binder: return "carbon-binder"
        case .crack: return "crack"
        case .separator: return "separator"
        case .currentCollector: return "current-collector"
        case .fiducial: return "fiducial"
        }
    }
}

/// Linear attenuation coefficients of each phase in 1/µm at `referenceEnergyKeV`, scaled to
/// other energies as E⁻³ (photoelectric absorption dominates for NMC, Al and Au at 15–60 keV;
/// an approximation for simulation, not tabulated data). Defaults at 20 keV from densities and
/// approximate mass attenuation: NMC811 (4.7 g/cm³), carbon–binder (1.5 g/cm³), LiPF6
/// electrolyte (1.2 g/cm³), polyolefin separator, aluminium, gold.
public struct PhaseAttenuation: Codable, Sendable, Equatable {
    public var referenceEnergyKeV = 20.0
    public var activePerMicrometre = 0.0165
    public var binderPerMicrometre = 0.00007
    public var porePerMicrometre = 0.00008
    public var separatorPerMicrometre = 0.00003
    public var currentCollectorPerMicrometre = 0.00093
    public var fiducialPerMicrometre = 0.15
    public init() {}

    /// Coefficients at `energyKeV`.
    public func at(energyKeV: Double) -> PhaseAttenuation {
        var a = self
        let f = pow(referenceEnergyKeV / energyKeV, 3)
        a.referenceEnergyKeV = energyKeV
        a.activePerMicrometre *= f; a.binderPerMicrometre *= f; a.porePerMicrometre *= f
        a.separatorPerMicrometre *= f; a.currentCollectorPerMicrometre *= f; a.fiducialPerMicrometre *= f
        return a
    }

    func value(_ phase: ElectrodePhase) -> Double {
        switch phase {
        case .pore, .crack: return porePerMicrometre
        case .active: return activePerMicrometre
        case .binder: return binderPerMicrometre
        case .separator: return separatorPerMicrometre
        case .currentCollector: return currentCollectorPerMicrometre
        case .fiducial: return fiducialPerMicrometre
        }
    }
}

/// Everything that defines a synthetic electrode. Depth runs along z (axis 0), from the
/// separator (z = 0) to the current collector.
public struct ElectrodeParameters: Codable, Sendable, Equatable {
    public var shape: [Int] = [128, 128, 128]
    public var voxelSizeMicrometres = 0.5
    public var separatorThicknessVoxels = 0
    public var currentCollectorThicknessVoxels = 0
    /// Secondary particles: log-normal equivalent diameters.
    public var medianParticleDiameterMicrometres = 8.0
    public var diameterLogSigma = 0.3
    public var minimumParticleDiameterMicrometres = 2.0
    /// Fraction of particles that are ellipsoids (axis ratios up to `maximumAspectRatio`).
    public var ellipsoidFraction = 0.3
    public var maximumAspectRatio = 1.6
    /// Target active-material fraction near the separator and near the current collector
    /// (a linear porosity gradient through the thickness).
    public var solidFractionAtSeparator = 0.50
    public var solidFractionAtCollector = 0.60
    /// Particle centres may come closer than the sum of their equivalent radii by this fraction
    /// (contacts between particles).
    public var allowedOverlap = 0.15
    /// Primary grains per particle (Voronoi cells); 0 for single-crystal particles.
    public var grainsPerParticle = 0
    /// Relative spread of particle density (grey value), e.g. 0.05 for ±5 %.
    public var densitySigma = 0.05
    /// Carbon–binder: coating thickness, fraction of particle surface coated, bridge distance.
    public var binderCoatingMicrometres = 0.5
    public var binderCoverage = 0.5
    public var binderBridgeMicrometres = 1.0
    /// Vertically aligned pore channels (ice-templated electrodes): count and radius.
    public var poreChannelCount = 0
    public var poreChannelRadiusMicrometres = 4.0
    /// Cracks: base probability that a median particle is cracked (larger and less dense
    /// particles crack more often), width range, and the fraction with a second (branch) crack.
    public var crackProbability = 0.3
    public var crackWidthRangeMicrometres = [0.1, 1.5]
    public var branchedCrackFraction = 0.3
    /// Gold fiducial beads on the sample's side faces, at random depths.
    public var fiducialBeadCount = 0
    public var fiducialBeadDiameterMicrometres = 2.0
    public var attenuation = PhaseAttenuation()
    public var energyKeV = 20.0
    /// Depth regions for the per-region truth.
    public var depthRegions = 3
    public var seed: UInt64 = 1

    public init() {}

    public var gridShape: Shape { Shape(shape) }
    var electrodeRange: Range<Int> { separatorThicknessVoxels..<(shape[0] - currentCollectorThicknessVoxels) }

    public func validate() throws {
        guard shape.count == 3, shape.allSatisfy({ $0 >= 4 }) else { throw LensError.invalidArgument("electrode shape must be 3 sizes ≥ 4, got \(shape)") }
        guard voxelSizeMicrometres > 0 else { throw LensError.invalidArgument("voxel size must be positive") }
        guard electrodeRange.count >= 4 else { throw LensError.invalidArgument("separator and current collector leave no electrode") }
        guard medianParticleDiameterMicrometres > 0, diameterLogSigma >= 0 else { throw LensError.invalidArgument("particle sizes must be positive") }
        guard (0...0.9).contains(solidFractionAtSeparator), (0...0.9).contains(solidFractionAtCollector) else {
            throw LensError.invalidArgument("solid fractions must be within 0…0.9")
        }
        guard crackWidthRangeMicrometres.count == 2, crackWidthRangeMicrometres[0] > 0,
              crackWidthRangeMicrometres[0] <= crackWidthRangeMicrometres[1] else {
            throw LensError.invalidArgument("crack width range must be two positive numbers, low ≤ high")
        }
        guard depthRegions >= 1, depthRegions <= electrodeRange.count else { throw LensError.invalidArgument("depth regions must be 1…electrode thickness") }
        guard energyKeV > 0 else { throw LensError.invalidArgument("energy must be positive") }
    }
}

/// One planar crack of a particle: the voxels within `widthMicrometres / 2` of the plane
/// n·(p − centre) = offset (µm), optionally only on one side of another plane (a branch).
public struct CrackPlane: Codable, Sendable, Equatable {
    public var normal: [Double]
    public var offsetMicrometres: Double
    public var widthMicrometres: Double
    /// For a branch: keep only where (p − centre)·branchSideNormal ≥ 0.
    public var branchSideNormal: [Double]?

    public init(normal: [Double], offsetMicrometres: Double, widthMicrometres: Double, branchSideNormal: [Double]? = nil) {
        let n = sqrt(normal.map { $0 * $0 }.reduce(0, +))
        self.normal = normal.map { $0 / n }
        self.offsetMicrometres = offsetMicrometres
        self.widthMicrometres = widthMicrometres
        self.branchSideNormal = branchSideNormal
    }
}

/// One secondary particle of the design: an ellipsoid with a density factor, cracks and grains.
public struct ParticleDesign: Codable, Sendable, Equatable {
    public var id: Int32
    /// Centre in µm (z, y, x) from the volume's first voxel centre.
    public var centreMicrometres: [Double]
    /// Semi-axes in µm along the particle's own axes.
    public var semiAxesMicrometres: [Double]
    /// Rows of the rotation from volume (z, y, x) to particle axes.
    public var rotation: [[Double]]
    /// Multiplies the active phase's attenuation (grey-value variation).
    public var densityFactor: Double
    public var cracks: [CrackPlane]
    /// Grain seed points in µm (absolute), for polycrystalline particles.
    public var grainSeedsMicrometres: [[Double]]

    public init(id: Int32, centreMicrometres: [Double], semiAxesMicrometres: [Double],
                rotation: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]], densityFactor: Double = 1,
                cracks: [CrackPlane] = [], grainSeedsMicrometres: [[Double]] = []) {
        self.id = id; self.centreMicrometres = centreMicrometres; self.semiAxesMicrometres = semiAxesMicrometres
        self.rotation = rotation; self.densityFactor = densityFactor; self.cracks = cracks
        self.grainSeedsMicrometres = grainSeedsMicrometres
    }

    public var equivalentDiameterMicrometres: Double { 2 * pow(semiAxesMicrometres.reduce(1, *), 1.0 / 3) }
    public var nominalVolumeCubicMicrometres: Double { 4.0 / 3 * .pi * semiAxesMicrometres.reduce(1, *) }
    /// Knud Thomsen's approximation of an ellipsoid's surface (within 1.1 %).
    public var nominalSurfaceSquareMicrometres: Double {
        let p = 1.6075, a = semiAxesMicrometres
        return 4 * .pi * pow((pow(a[0] * a[1], p) + pow(a[0] * a[2], p) + pow(a[1] * a[2], p)) / 3, 1 / p)
    }
    var maximumRadius: Double { semiAxesMicrometres.max()! }
}

/// The analytic description of an electrode: what is rasterized into voxels. Cycling states are
/// produced by changing the design (crack widths, scale, drift) and rasterizing again.
public struct ElectrodeDesign: Codable, Sendable, Equatable {
    public var parameters: ElectrodeParameters
    public var particles: [ParticleDesign]
    /// Pore channel axes (y, x) in µm.
    public var poreChannelsMicrometres: [[Double]]
    /// Fiducial bead centres in µm.
    public var fiducialsMicrometres: [[Double]]
    /// Seed of the binder coverage field.
    public var binderFieldSeed: UInt64
    /// Uniform scale of particle sizes about their centres (1 = pristine; ~1.02 swelling).
    public var particleScale = 1.0
    /// Rigid shift of everything, in µm (z, y, x): drift between scans.
    public var driftMicrometres = [0.0, 0.0, 0.0]

    public init(parameters: ElectrodeParameters, particles: [ParticleDesign], poreChannelsMicrometres: [[Double]] = [],
                fiducialsMicrometres: [[Double]] = [], binderFieldSeed: UInt64 = 1) {
        self.parameters = parameters; self.particles = particles; self.poreChannelsMicrometres = poreChannelsMicrometres
        self.fiducialsMicrometres = fiducialsMicrometres; self.binderFieldSeed = binderFieldSeed
    }

    /// Places particles by random sequential addition with limited overlap until the nominal
    /// solid fraction of every depth bin reaches its target, rejecting pore channels.
    public static func generate(_ parameters: ElectrodeParameters) throws -> ElectrodeDesign {
        try parameters.validate()
        var rng = SeededRandom(seed: parameters.seed)
        let h = parameters.voxelSizeMicrometres
        let size = parameters.shape.map { Double($0) * h }
        let zRange = parameters.electrodeRange
        let zLow = Double(zRange.lowerBound) * h, zHigh = Double(zRange.upperBound) * h

        var channels = [[Double]]()
        for _ in 0..<parameters.poreChannelCount {
            channels.append([rng.uniform() * size[1], rng.uniform() * size[2]])
        }
        // Depth bins for the porosity gradient.
        let bins = 16
        let binHeight = (zHigh - zLow) / Double(bins)
        let binVolume = binHeight * size[1] * size[2]
        var filled = [Double](repeating: 0, count: bins)
        func target(_ bin: Int) -> Double {
            let t = (Double(bin) + 0.5) / Double(bins)
            return parameters.solidFractionAtSeparator + t * (parameters.solidFractionAtCollector - parameters.solidFractionAtSeparator)
        }
        // Spatial hash of placed particles, cells as large as the largest particle so an overlap
        // search looks at the 27 neighbouring cells only.
        let maxDiameter = parameters.medianParticleDiameterMicrometres * exp(3 * parameters.diameterLogSigma)
        let cell = Swift.max(maxDiameter * parameters.maximumAspectRatio, 1)
        var grid = [SIMD3<Int32>: [Int]]()
        func key(_ p: [Double]) -> SIMD3<Int32> { SIMD3(Int32((p[0] / cell).rounded(.down)), Int32((p[1] / cell).rounded(.down)), Int32((p[2] / cell).rounded(.down))) }
        var particles = [ParticleDesign]()
        let reach: Int32 = 1
        // Sizes are drawn first until their nominal volume reaches the target, then placed
        // largest first (random sequential addition fills gaps with the small ones; placing in
        // drawing order would bias the placed sizes small near jamming). Each particle gets up to
        // 300 tries at a depth bin chosen by remaining capacity (the porosity gradient).
        let totalTarget = (0..<bins).reduce(0.0) { $0 + target($1) * binVolume }
        var diameters = [Double]()
        var drawn = 0.0
        while drawn < totalTarget {
            let d = Swift.min(maxDiameter, Swift.max(parameters.minimumParticleDiameterMicrometres,
                              rng.logNormal(median: parameters.medianParticleDiameterMicrometres, sigma: parameters.diameterLogSigma)))
            diameters.append(d)
            drawn += .pi / 6 * d * d * d
        }
        diameters.sort(by: >)
        var centres = [SIMD3<Double>]()
        var radii = [Double]()
        for diameter in diameters {
            var semi = [diameter / 2, diameter / 2, diameter / 2]
            if rng.uniform() < parameters.ellipsoidFraction {
                let aspect = 1 + rng.uniform() * (parameters.maximumAspectRatio - 1)
                let r = diameter / 2
                semi = [r * pow(aspect, 2.0 / 3), r / pow(aspect, 1.0 / 3), r / pow(aspect, 1.0 / 3)]
            }
            let radius = semi.max()!
            let rB = diameter / 2
            var placed: [Double]?
            for _ in 0..<300 {
                let remaining = (0..<bins).map { Swift.max(0, target($0) * binVolume - filled[$0]) }
                let total = remaining.reduce(0, +)
                guard total > 0 else { break }
                var pick = rng.uniform() * total, bin = 0
                while bin < bins - 1 && pick >= remaining[bin] { pick -= remaining[bin]; bin += 1 }
                let centre = [zLow + (Double(bin) + rng.uniform()) * binHeight, rng.uniform() * size[1], rng.uniform() * size[2]]
                // Keep clear of pore channels.
                if channels.contains(where: { hypot($0[0] - centre[1], $0[1] - centre[2]) < parameters.poreChannelRadiusMicrometres + radius }) {
                    continue
                }
                let k = key(centre)
                let c = SIMD3(centre[0], centre[1], centre[2])
                var overlaps = false
                search: for dz in -reach...reach { for dy in -reach...reach { for dx in -reach...reach {
                    guard let members = grid[k &+ SIMD3(dz, dy, dx)] else { continue }
                    for other in members {
                        // Equivalent-sphere radii may overlap by the allowed fraction (contacts).
                        let d = c - centres[other]
                        let limit = (radii[other] + rB) * (1 - parameters.allowedOverlap)
                        if (d * d).sum() < limit * limit { overlaps = true; break search }
                    }
                } } }
                if !overlaps { placed = centre; break }
            }
            guard let centre = placed else { continue }
            let c = SIMD3(centre[0], centre[1], centre[2])
            let k = key(centre)
            let rotation = randomRotation(&rng)
            let density = Swift.max(0.5, 1 + parameters.densitySigma * rng.normal())
            var seeds = [[Double]]()
            for _ in 0..<parameters.grainsPerParticle {
                // Uniform in the unit ball, mapped into the ellipsoid.
                var q: [Double]
                repeat { q = (0..<3).map { _ in rng.uniform() * 2 - 1 } } while q.map { $0 * $0 }.reduce(0, +) > 1
                let local = zip(q, semi).map { $0 * $1 }
                seeds.append((0..<3).map { i in centre[i] + (0..<3).reduce(0) { $0 + rotation[$1][i] * local[$1] } })
            }
            var p = ParticleDesign(id: Int32(particles.count + 1), centreMicrometres: centre, semiAxesMicrometres: semi,
                                   rotation: rotation, densityFactor: density, cracks: [], grainSeedsMicrometres: seeds)
            p.cracks = makeCracks(for: p, parameters: parameters, rng: &rng)
            grid[k, default: []].append(particles.count)
            particles.append(p)
            centres.append(c)
            radii.append(rB)
            filled[Swift.min(bins - 1, Swift.max(0, Int((centre[0] - zLow) / binHeight)))] += p.nominalVolumeCubicMicrometres
        }
        var beads = [[Double]]()
        // On the sample's side faces at random depths, as gold particles dispersed on an operando
        // pillar: different detector rows at every angle (what fixes the axis tilt), in view, and
        // off the interior the analysis measures.
        for _ in 0..<parameters.fiducialBeadCount {
            let r = parameters.fiducialBeadDiameterMicrometres / 2
            let depth = r + rng.uniform() * Swift.max(0, size[0] - 2 * r)
            let along = rng.uniform(), side = Int(rng.uniform() * 4) % 4
            let (y, x): (Double, Double)
            switch side {
            case 0: (y, x) = (r, r + along * (size[2] - 2 * r))
            case 1: (y, x) = (size[1] - r, r + along * (size[2] - 2 * r))
            case 2: (y, x) = (r + along * (size[1] - 2 * r), r)
            default: (y, x) = (r + along * (size[1] - 2 * r), size[2] - r)
            }
            beads.append([depth, y, x])
        }
        return ElectrodeDesign(parameters: parameters, particles: particles, poreChannelsMicrometres: channels,
                               fiducialsMicrometres: beads, binderFieldSeed: rng.next())
    }

    /// Crack probability grows with size ((d/d50)^1.5) and with lower density; widths uniform
    /// in the configured range; a branch is a half-plane on one side of the main crack.
    static func makeCracks(for p: ParticleDesign, parameters: ElectrodeParameters, rng: inout SeededRandom) -> [CrackPlane] {
        let sizeFactor = pow(p.equivalentDiameterMicrometres / parameters.medianParticleDiameterMicrometres, 1.5)
        let densityFactor = Swift.max(0, 1 - 5 * (p.densityFactor - 1))
        let probability = Swift.min(0.95, parameters.crackProbability * sizeFactor * densityFactor)
        guard rng.uniform() < probability else { return [] }
        let w = parameters.crackWidthRangeMicrometres
        let rMin = p.semiAxesMicrometres.min()!
        let main = CrackPlane(normal: randomUnitVector(&rng), offsetMicrometres: (rng.uniform() - 0.5) * 0.6 * rMin,
                              widthMicrometres: w[0] + rng.uniform() * (w[1] - w[0]), branchSideNormal: nil)
        var cracks = [main]
        if rng.uniform() < parameters.branchedCrackFraction {
            cracks.append(CrackPlane(normal: randomUnitVector(&rng), offsetMicrometres: (rng.uniform() - 0.5) * 0.4 * rMin,
                                     widthMicrometres: main.widthMicrometres * (0.4 + 0.4 * rng.uniform()),
                                     branchSideNormal: main.normal))
        }
        return cracks
    }

    static func randomUnitVector(_ rng: inout SeededRandom) -> [Double] {
        let v = (0..<3).map { _ in rng.normal() }
        let n = sqrt(v.map { $0 * $0 }.reduce(0, +))
        return v.map { $0 / Swift.max(n, 1e-12) }
    }

    /// A uniformly random rotation (from a random unit quaternion).
    static func randomRotation(_ rng: inout SeededRandom) -> [[Double]] {
        var q = (0..<4).map { _ in rng.normal() }
        let n = sqrt(q.map { $0 * $0 }.reduce(0, +))
        q = q.map { $0 / n }
        let (w, x, y, z) = (q[0], q[1], q[2], q[3])
        return [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    }
}
