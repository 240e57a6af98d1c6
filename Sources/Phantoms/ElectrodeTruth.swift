import Foundation
import ImageAnalysis
import Microstructure
import LensCore

/// Fractions of each phase in a region.
public struct PhaseFractions: Codable, Sendable, Equatable {
    public var voxelCount: Int
    /// Fraction of the region's voxels per phase name.
    public var fractions: [String: Double]
    /// (pore + crack) / region: the porosity a segmentation of voids measures.
    public var porosity: Double
}

/// One depth region (slab of the electrode along z).
public struct DepthRegionTruth: Codable, Sendable, Equatable {
    public var index: Int
    /// Slices [zStart, zEnd) of the volume.
    public var zStart: Int
    public var zEnd: Int
    public var phases: PhaseFractions
}

/// The truth of one particle, measured from the label volumes (so a segmentation of the same
/// volume can be compared voxel for voxel), with the design values beside them.
public struct ParticleTruth: Codable, Sendable, Equatable {
    public var id: Int32
    /// Centroid of the particle's voxels (active and crack), µm (z, y, x).
    public var centreMicrometres: [Double]
    /// Active + crack voxels (the particle's envelope), µm³.
    public var envelopeVolumeCubicMicrometres: Double
    /// Active voxels only, µm³.
    public var solidVolumeCubicMicrometres: Double
    /// Diameter of the sphere of the envelope volume, µm.
    public var equivalentDiameterMicrometres: Double
    /// Envelope voxel faces that border other voxels or the outside, µm² (a voxel-face count
    /// overestimates a smooth surface by ~1.5×; compare with a mesh area accordingly).
    public var voxelFaceAreaSquareMicrometres: Double
    /// Area of the designed ellipsoid, µm² (Thomsen's formula).
    public var nominalSurfaceAreaSquareMicrometres: Double
    /// Mean attenuation of the active voxels, 1/µm (density proxy), and the design's factor.
    public var meanAttenuationPerMicrometre: Double
    public var densityFactor: Double
    public var crackVolumeCubicMicrometres: Double
    public var crackWidthsMicrometres: [Double]
    /// Connected pieces (6-connectivity) of the particle's active voxels of at least
    /// ``ElectrodeTruth/minimumFragmentVoxels`` voxels: the same rule as the crack analysis's
    /// stated minimum (`CrackSettings.minimumFragmentVoxels`), so that a speck of a few voxels
    /// cut off by a crack's edge is not a fragment in the truth when no analysis could count it.
    public var fragmentCount: Int
    /// Voxels of every piece, largest first (specks included), for another minimum.
    public var fragmentVoxelCounts: [Int]?
    /// "least", "mild" or "severe" (see ``ElectrodeTruth/damageClass(crackFraction:fragments:)``).
    public var damageClass: String
    public var depthRegion: Int
    public var touchesBorder: Bool
}

/// The truth written beside every electrode phantom.
public struct ElectrodeTruth: Codable, Sendable, Equatable {
    public var shape: [Int]
    public var voxelSizeMicrometres: Double
    public var energyKeV: Double
    public var phaseCodes: [String: Int]
    /// Whole volume, and the electrode layer only (without separator and current collector).
    public var overall: PhaseFractions
    public var electrode: PhaseFractions
    public var depthRegions: [DepthRegionTruth]
    public var particles: [ParticleTruth]
    public var particleCount: Int
    public var crackedParticleCount: Int
    public var parameters: ElectrodeParameters
    public var particleScale: Double
    public var driftMicrometres: [Double]

    /// Pieces smaller than this (voxels) are not counted in ``ParticleTruth/fragmentCount``.
    public static let minimumFragmentVoxels = 27

    /// Damage classes as in the battery literature's least/mild/severe grouping: severe when
    /// the particle is split (≥ 2 fragments) or ≥ 5 % of it is crack; mild when it has any crack
    /// voxel; least otherwise.
    public static func damageClass(crackFraction: Double, fragments: Int) -> String {
        if fragments >= 2 || crackFraction >= 0.05 { return "severe" }
        return crackFraction > 0 ? "mild" : "least"
    }

    static func fractions(of counts: [Int], total: Int) -> PhaseFractions {
        var f = [String: Double]()
        for phase in ElectrodePhase.allCases { f[phase.name] = total > 0 ? Double(counts[Int(phase.rawValue)]) / Double(total) : 0 }
        let voids = counts[Int(ElectrodePhase.pore.rawValue)] + counts[Int(ElectrodePhase.crack.rawValue)]
        return PhaseFractions(voxelCount: total, fractions: f, porosity: total > 0 ? Double(voids) / Double(total) : 0)
    }

    /// Measures the truth from the rasterized volumes.
    public static func measure(phases: Grid<UInt8>, particleIDs: Grid<Int32>, attenuation: Grid<Float>, design: ElectrodeDesign) -> ElectrodeTruth {
        let p = design.parameters
        let shape = phases.shape
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        let h = p.voxelSizeMicrometres
        let phaseCount = ElectrodePhase.allCases.count
        let slice = ny * nx
        // Per-slice phase counts and per-particle sums in one parallel pass over z chunks, each
        // with its own accumulators, merged afterwards.
        let n = design.particles.count
        struct Accumulator {
            var active, crack, faces: [Int]
            var sums: [SIMD3<Double>]
            var attenuationSum: [Double]
            var border: [Bool]
            var lo, hi: [SIMD3<Int>]
            var slices: [(Int, [Int])] = []
            init(_ n: Int) {
                active = [Int](repeating: 0, count: n + 1); crack = active; faces = active
                sums = [SIMD3<Double>](repeating: .zero, count: n + 1)
                attenuationSum = [Double](repeating: 0, count: n + 1)
                border = [Bool](repeating: false, count: n + 1)
                lo = [SIMD3<Int>](repeating: SIMD3(Int.max, Int.max, Int.max), count: n + 1)
                hi = [SIMD3<Int>](repeating: SIMD3(-1, -1, -1), count: n + 1)
            }
        }
        let chunks = Swift.max(1, Swift.min(nz, Parallel.threadCount * 4))
        let partials = Parallel.mapChunks(count: nz, chunks: chunks) { zs -> Accumulator in
            var acc = Accumulator(n)
            particleIDs.withUnsafeBufferPointer { ids in
                phases.withUnsafeBufferPointer { ph in
                    attenuation.withUnsafeBufferPointer { att in
                        for z in zs {
                            var counts = [Int](repeating: 0, count: phaseCount)
                            for y in 0..<ny { for x in 0..<nx {
                                let i = (z * ny + y) * nx + x
                                counts[Int(ph[i])] += 1
                                let id = Int(ids[i])
                                guard id > 0 else { continue }
                                if ph[i] == ElectrodePhase.crack.rawValue { acc.crack[id] += 1 } else {
                                    acc.active[id] += 1
                                    acc.attenuationSum[id] += Double(att[i])
                                }
                                acc.sums[id] += SIMD3(Double(z), Double(y), Double(x))
                                let v = SIMD3(z, y, x)
                                acc.lo[id] = pointwiseMin(acc.lo[id], v); acc.hi[id] = pointwiseMax(acc.hi[id], v)
                                if z == 0 || y == 0 || x == 0 || z == nz - 1 || y == ny - 1 || x == nx - 1 { acc.border[id] = true }
                                // Faces to a different label or the outside.
                                acc.faces[id] += (z == 0 || Int(ids[i - slice]) != id ? 1 : 0) + (z == nz - 1 || Int(ids[i + slice]) != id ? 1 : 0)
                                    + (y == 0 || Int(ids[i - nx]) != id ? 1 : 0) + (y == ny - 1 || Int(ids[i + nx]) != id ? 1 : 0)
                                    + (x == 0 || Int(ids[i - 1]) != id ? 1 : 0) + (x == nx - 1 || Int(ids[i + 1]) != id ? 1 : 0)
                            } }
                            acc.slices.append((z, counts))
                        }
                    }
                }
            }
            return acc
        }
        var perSlice = [[Int]](repeating: [Int](repeating: 0, count: phaseCount), count: nz)
        var total = Accumulator(n)
        for part in partials {
            for (z, counts) in part.slices { perSlice[z] = counts }
            for id in 0...n {
                total.active[id] += part.active[id]; total.crack[id] += part.crack[id]; total.faces[id] += part.faces[id]
                total.sums[id] += part.sums[id]; total.attenuationSum[id] += part.attenuationSum[id]
                total.border[id] = total.border[id] || part.border[id]
                total.lo[id] = pointwiseMin(total.lo[id], part.lo[id]); total.hi[id] = pointwiseMax(total.hi[id], part.hi[id])
            }
        }
        let (active, crack, faces, sums, attenuationSum, border, lo, hi) =
            (total.active, total.crack, total.faces, total.sums, total.attenuationSum, total.border, total.lo, total.hi)
        func sum(_ range: Range<Int>) -> [Int] {
            range.reduce(into: [Int](repeating: 0, count: phaseCount)) { acc, z in for k in 0..<phaseCount { acc[k] += perSlice[z][k] } }
        }
        let electrodeRange = p.electrodeRange
        let regions = DepthRegions.equal(electrodeRange, count: p.depthRegions).enumerated().map { k, r in
            DepthRegionTruth(index: k, zStart: r.lowerBound, zEnd: r.upperBound, phases: fractions(of: sum(r), total: r.count * slice))
        }

        // Fragments: connected active voxels of each particle within its bounding box.
        let (activeCounts, lows, highs) = (active, lo, hi)
        let pieceSizes = Parallel.mapChunks(count: n, chunks: Swift.max(1, Parallel.threadCount * 4)) { range -> [[Int]] in
            range.map { k in
                let id = k + 1
                guard activeCounts[id] > 0 else { return [] }
                let a = lows[id], b = highs[id]
                let box = Shape(b.x - a.x + 1, b.y - a.y + 1, b.z - a.z + 1)
                var mask = [UInt8](repeating: 0, count: box.count)
                particleIDs.withUnsafeBufferPointer { ids in
                    phases.withUnsafeBufferPointer { ph in
                        for z in a.x...b.x { for y in a.y...b.y { for x in a.z...b.z {
                            let i = (z * ny + y) * nx + x
                            if Int(ids[i]) == id && ph[i] == ElectrodePhase.active.rawValue {
                                mask[((z - a.x) * box[1] + (y - a.y)) * box[2] + (x - a.z)] = 1
                            }
                        } } }
                    }
                }
                return ConnectedComponents.label(Grid(shape: box, elements: mask), connectivity: .faces).sizes.dropFirst().sorted(by: >)
            }
        }.flatMap { $0 }
        let fragments = pieceSizes.map { sizes in sizes.filter { $0 >= Self.minimumFragmentVoxels }.count }

        let regionOf: (Double) -> Int = { zVoxel in
            regions.firstIndex { Double($0.zStart) - 0.5 <= zVoxel && zVoxel < Double($0.zEnd) - 0.5 } ?? (zVoxel < Double(electrodeRange.lowerBound) ? 0 : regions.count - 1)
        }
        var particleTruth = [ParticleTruth]()
        for (k, design) in design.particles.enumerated() {
            let id = k + 1
            let envelope = active[id] + crack[id]
            guard envelope > 0 else { continue }
            let voxel = h * h * h
            let centre = sums[id] / Double(envelope)
            let crackFraction = Double(crack[id]) / Double(envelope)
            particleTruth.append(ParticleTruth(
                id: design.id,
                centreMicrometres: [centre.x * h, centre.y * h, centre.z * h],
                envelopeVolumeCubicMicrometres: Double(envelope) * voxel,
                solidVolumeCubicMicrometres: Double(active[id]) * voxel,
                equivalentDiameterMicrometres: pow(6 * Double(envelope) * voxel / .pi, 1.0 / 3),
                voxelFaceAreaSquareMicrometres: Double(faces[id]) * h * h,
                nominalSurfaceAreaSquareMicrometres: design.nominalSurfaceSquareMicrometres,
                meanAttenuationPerMicrometre: active[id] > 0 ? attenuationSum[id] / Double(active[id]) : 0,
                densityFactor: design.densityFactor,
                crackVolumeCubicMicrometres: Double(crack[id]) * voxel,
                crackWidthsMicrometres: design.cracks.map(\.widthMicrometres),
                fragmentCount: fragments[k],
                fragmentVoxelCounts: pieceSizes[k],
                damageClass: damageClass(crackFraction: crackFraction, fragments: fragments[k]),
                depthRegion: regionOf(centre.x),
                touchesBorder: border[id]))
        }
        return ElectrodeTruth(
            shape: shape.dims, voxelSizeMicrometres: h, energyKeV: p.energyKeV,
            phaseCodes: Dictionary(uniqueKeysWithValues: ElectrodePhase.allCases.map { ($0.name, Int($0.rawValue)) }),
            overall: fractions(of: sum(0..<nz), total: shape.count),
            electrode: fractions(of: sum(electrodeRange), total: electrodeRange.count * slice),
            depthRegions: regions, particles: particleTruth, particleCount: particleTruth.count,
            crackedParticleCount: particleTruth.filter { $0.crackVolumeCubicMicrometres > 0 }.count,
            parameters: p, particleScale: design.particleScale, driftMicrometres: design.driftMicrometres)
    }
}
