import Foundation
import ImageAnalysis
import LensCore
import Synchronization

/// Settings of the SNOW partition (Gostick 2017, "Versatile and efficient pore network
/// extraction method using marker-based watershed segmentation", Phys. Rev. E 96, 023307).
/// The defaults are PoreSpy's `snow2` defaults.
public struct SNOWSettings: Codable, Sendable, Equatable {
    /// σ of the Gaussian that smooths the distance map before its peaks are sought, in voxels.
    public var smoothingSigmaVoxels: Double
    /// Radius of the spherical neighbourhood (distance < r) in which a peak must be the
    /// maximum, in voxels (PoreSpy's `r_max`).
    public var peakRadiusVoxels: Double
    /// Steps a peak plateau may be grown while deciding whether it is a saddle (PoreSpy's `maxiter`).
    public var saddleIterations: Int
    /// Two peaks closer than `nearbyFactor` × the larger one's distance to the solid are one
    /// pore: the peak nearer the solid is dropped (PoreSpy's `f` of `trim_nearby_peaks`).
    public var nearbyFactor: Double

    public init(smoothingSigmaVoxels: Double = 0.4, peakRadiusVoxels: Double = 4, saddleIterations: Int = 20, nearbyFactor: Double = 1) {
        self.smoothingSigmaVoxels = smoothingSigmaVoxels
        self.peakRadiusVoxels = peakRadiusVoxels
        self.saddleIterations = saddleIterations
        self.nearbyFactor = nearbyFactor
    }

    /// Refuses settings outside their meaningful ranges, naming the setting.
    public func validate() throws {
        guard smoothingSigmaVoxels >= 0, smoothingSigmaVoxels <= 10 else { throw LensError.invalidArgument("the SNOW smoothing σ must be 0–10 voxels, got \(smoothingSigmaVoxels)") }
        guard peakRadiusVoxels >= 1, peakRadiusVoxels <= 32 else { throw LensError.invalidArgument("the SNOW peak radius must be 1–32 voxels, got \(peakRadiusVoxels)") }
        guard (1...1000).contains(saddleIterations) else { throw LensError.invalidArgument("the SNOW saddle iterations must be 1–1000, got \(saddleIterations)") }
        guard nearbyFactor >= 0, nearbyFactor <= 100 else { throw LensError.invalidArgument("the SNOW nearby factor must be 0–100, got \(nearbyFactor)") }
    }
}

/// How many distance-map peaks each SNOW stage kept (26-connected plateaus count once).
public struct SNOWPeakCounts: Codable, Sendable, Equatable {
    public var found: Int
    public var afterSaddles: Int
    public var afterNearby: Int
}

/// The pore phase cut into pore regions by SNOW.
public struct SNOWPartition: Sendable {
    /// Pore region of every voxel, 1…`regionCount`; 0 in the solid and in pore voxels no marker
    /// reaches (isolated pores too thin to hold a peak, see `unassignedPoreVoxels`).
    public var regions: Grid<Int32>
    /// Euclidean distance of every pore voxel to the nearest solid voxel, in voxel edges
    /// (outside the volume is not solid).
    public var distance: Grid<Float>
    public var regionCount: Int
    public var peaks: SNOWPeakCounts
    /// Pore voxels in no region: pore components none of whose voxels is a peak (every voxel
    /// lies within the peak radius of the solid at smoothed depth < 2 voxels). PoreSpy floods
    /// them through the solid into whichever region gets there first; here they stay out of the
    /// network, and their count is reported.
    public var unassignedPoreVoxels: Int
}

/// A pore network: pores (SNOW regions) and throats (the faces where two regions touch), with
/// PoreSpy's `regions_to_network` definitions. Lengths are in voxel edges.
public struct PoreNetwork: Codable, Sendable {
    public struct Pore: Codable, Sendable, Equatable {
        /// Region label in the partition (1-based).
        public var label: Int
        public var volumeVoxels: Int
        /// Centre of mass, array indices (z, y, x).
        public var centroid: [Double]
        /// Diameter of the sphere of the region's volume, 2 (3V/4π)^⅓.
        public var equivalentDiameter: Double
        /// Twice the largest distance from a region voxel to anything not in the region
        /// (the largest sphere inside the region alone).
        public var inscribedDiameter: Double
        /// Twice the largest distance from a region voxel to the solid (the sphere may reach
        /// into neighbouring regions).
        public var extendedDiameter: Double
        /// Number of throats.
        public var coordination: Int
        /// Voxel faces the region shares with the solid.
        public var solidContactFaces: Int
        /// Faces of the volume the region touches: "z-", "z+", "y-", "y+", "x-", "x+".
        public var boundaryFaces: [String]
    }

    public struct Throat: Codable, Sendable, Equatable {
        /// Labels of the two pores (first < second).
        public var pores: [Int]
        /// Voxels of the second pore face-adjacent to the first (PoreSpy's throat area, "standard" accuracy).
        public var areaVoxels: Int
        /// √(4A/π).
        public var equivalentDiameter: Double
        /// Twice the largest distance to the solid over the throat voxels.
        public var inscribedDiameter: Double
        /// Throat voxels within 2 voxels of the solid.
        public var perimeterVoxels: Int
        /// The throat voxel farthest from the solid (first in raster order on ties), (z, y, x).
        public var peak: [Int]
        /// Centroid to throat peak to centroid.
        public var totalLength: Double
        /// Centroid to centroid.
        public var directLength: Double
    }

    public var shape: [Int]
    public var pores: [Pore]
    public var throats: [Throat]
    public var unassignedPoreVoxels: Int

    /// Mean coordination number 2·throats/pores.
    public var meanCoordination: Double { pores.isEmpty ? 0 : 2 * Double(throats.count) / Double(pores.count) }

    /// The network as the dictionary PoreSpy's `regions_to_network` returns and OpenPNM loads
    /// (`pore.coords`, `throat.conns` with 0-based pore indices, diameters, lengths, areas),
    /// lengths multiplied by `lengthPerVoxel`. Coordinates are centres of mass in array-axis
    /// order (z, y, x), as PoreSpy gives them for the same array. Adds `pore.zmin` … `pore.xmax`
    /// flags for pores touching each face (PoreSpy names array axis 0 "x").
    public func openPNMDictionary(lengthPerVoxel h: Double = 1) -> JSONValue {
        func numbers(_ values: [Double]) -> JSONValue { .array(values.map { .number($0) }) }
        func pairs(_ values: [[Double]]) -> JSONValue { .array(values.map { numbers($0) }) }
        var d: [String: JSONValue] = [
            "pore.coords": pairs(pores.map { $0.centroid.map { $0 * h } }),
            "pore.region_label": numbers(pores.map { Double($0.label) }),
            "pore.region_volume": numbers(pores.map { Double($0.volumeVoxels) * h * h * h }),
            "pore.volume": numbers(pores.map { Double($0.volumeVoxels) * h * h * h }),
            "pore.equivalent_diameter": numbers(pores.map { $0.equivalentDiameter * h }),
            "pore.inscribed_diameter": numbers(pores.map { $0.inscribedDiameter * h }),
            "pore.extended_diameter": numbers(pores.map { $0.extendedDiameter * h }),
            "pore.surface_area": numbers(pores.map { Double($0.solidContactFaces) * h * h }),
            "throat.conns": pairs(throats.map { [Double($0.pores[0] - 1), Double($0.pores[1] - 1)] }),
            "throat.inscribed_diameter": numbers(throats.map { $0.inscribedDiameter * h }),
            "throat.equivalent_diameter": numbers(throats.map { $0.equivalentDiameter * h }),
            "throat.cross_sectional_area": numbers(throats.map { Double($0.areaVoxels) * h * h }),
            "throat.perimeter": numbers(throats.map { Double($0.perimeterVoxels) * h }),
            "throat.total_length": numbers(throats.map { $0.totalLength * h }),
            "throat.direct_length": numbers(throats.map { $0.directLength * h }),
            "throat.global_peak": pairs(throats.map { $0.peak.map { Double($0) * h } }),
        ]
        for (face, key) in [("z-", "pore.zmin"), ("z+", "pore.zmax"), ("y-", "pore.ymin"), ("y+", "pore.ymax"), ("x-", "pore.xmin"), ("x+", "pore.xmax")] {
            d[key] = .array(pores.map { .bool($0.boundaryFaces.contains(face)) })
        }
        return .object(d)
    }
}

/// SNOW pore-network extraction: the distance map's peaks (smoothed, saddles and nearby peaks
/// trimmed) seed a marker watershed of the pore phase, whose regions are the pores and whose
/// contacts are the throats. The stages follow PoreSpy 3.2's `snow_partitioning` and
/// `regions_to_network`, so the pore and throat counts and sizes compare with `snow2`.
public enum SNOW {
    /// Cuts the pore phase (non-zero voxels of `pore`) into regions. Needs cubic voxels (or none
    /// declared): peak radii and distances are counted in voxel edges.
    public static func partition(pore: Grid<UInt8>, settings: SNOWSettings = SNOWSettings(),
                                 progress: ProgressReporter? = nil) throws -> SNOWPartition {
        try settings.validate()
        try Morphology.requireBinary(pore, name: "the pore mask")
        guard pore.rank == 3 else { throw LensError.invalidArgument("network extraction needs a 3D pore mask, got \(pore.shape)") }
        let lattice = Lattice(pore)
        guard !lattice.isAnisotropic else {
            throw LensError.invalidArgument("network extraction needs cubic voxels (the volume declares \(pore.geometry.voxelSizeMicrometres) µm): resample first")
        }
        let poreVoxels = pore.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard poreVoxels > 0 else { throw LensError.numerical("the pore phase is empty") }
        guard poreVoxels < pore.count else {
            throw LensError.numerical("the phase fills the whole volume (no voxel of another phase): there is no distance map to cut into pores")
        }
        let distance = DistanceTransform.euclidean(pore).distances
        progress?.advance(by: 1)
        var peaks = findPeaks(distance: distance, pore: pore, settings: settings)
        let found = ConnectedComponents.label(peaks, connectivity: .corners).count
        progress?.advance(by: 1)
        peaks = trimSaddlePoints(peaks: peaks, distance: distance, iterations: settings.saddleIterations)
        let afterSaddles = ConnectedComponents.label(peaks, connectivity: .corners).count
        let markers = trimNearbyPeaks(peaks: peaks, distance: distance, factor: settings.nearbyFactor)
        progress?.advance(by: 1)
        // Watershed of −distance: the distances are square roots of whole numbers (cubic
        // voxels), so the squared distance orders the flood exactly and a bucket queue serves.
        let deepest = distance.withUnsafeBufferPointer { $0.max() ?? 0 }
        let regions: Grid<Int32>
        if Double(deepest) * Double(deepest) < Double(1 << 24) {
            let top = Int32((deepest * deepest).rounded())
            let levels = distance.map { d in top - Int32((d * d).rounded()) }
            regions = try Watershed.flood(levels: levels, markers: markers.labels, mask: pore, connectivity: .faces)
        } else {
            // Pores over 4096 voxels deep: too many levels for buckets, the heap flood serves.
            regions = try Watershed.flood(relief: distance.map { -$0 }, markers: markers.labels, mask: pore, connectivity: .faces)
        }
        progress?.advance(by: 1)
        let assigned = regions.withUnsafeBufferPointer { $0.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
        return SNOWPartition(regions: regions, distance: distance, regionCount: markers.count,
                             peaks: SNOWPeakCounts(found: found, afterSaddles: afterSaddles, afterNearby: markers.count),
                             unassignedPoreVoxels: poreVoxels - assigned)
    }

    /// Partition and network in one call.
    public static func extract(pore: Grid<UInt8>, settings: SNOWSettings = SNOWSettings(),
                               progress: ProgressReporter? = nil) throws -> (partition: SNOWPartition, network: PoreNetwork) {
        let partition = try self.partition(pore: pore, settings: settings, progress: progress)
        let network = try self.network(partition: partition)
        progress?.advance(by: 1)
        return (partition, network)
    }

    // MARK: peaks

    /// Index reflected into 0..<n as scipy.ndimage's "reflect" mode (d c b a | a b c d | d c b a).
    @inline(__always) static func reflect(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        let period = 2 * n
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - 1 - m
    }

    /// Voxels of the pore whose smoothed distance is the maximum of the spherical neighbourhood
    /// (distance < r) with solid voxels counted as 2 (so no peak lies within r of the solid at
    /// depth < 2), PoreSpy's `find_peaks` on `gaussian_filter(dt, σ)·im` with reflected borders.
    static func findPeaks(distance: Grid<Float>, pore: Grid<UInt8>, settings: SNOWSettings) -> Grid<UInt8> {
        var smoothed = settings.smoothingSigmaVoxels > 0 ? Filters.gaussian(distance, sigma: settings.smoothingSigmaVoxels) : distance.copy()
        let lattice = Lattice(pore)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        // The filtered surface: smoothed distance in the pore, 2 in the solid.
        smoothed.withUnsafeMutableBufferPointer { s in
            pore.withUnsafeBufferPointer { p in for i in 0..<s.count { s[i] = p[i] != 0 ? s[i] : 2 } }
        }
        let r = settings.peakRadiusVoxels
        let reach = Int(r.rounded(.up))
        var offsets: [(Int, Int, Int)] = []
        for dz in -reach...reach { for dy in -reach...reach { for dx in -reach...reach {
            let d2 = Double(dz * dz + dy * dy + dx * dx)
            if d2 > 0 && d2.squareRoot() < r { offsets.append((dz, dy, dx)) }
        } } }
        let ball = offsets
        let near = ball.filter { abs($0.0) <= 1 && abs($0.1) <= 1 && abs($0.2) <= 1 }
        var peaks = Grid<UInt8>(shape: pore.shape, geometry: pore.geometry)
        Parallel.sharing(smoothed) { s in
            Parallel.sharing(pore) { p in
                Parallel.withDisjointWrites(&peaks) { out in
                    Parallel.forEachChunk(count: nz, minimumChunk: 1) { planes in
                        func value(_ z: Int, _ y: Int, _ x: Int) -> Float {
                            s[(reflect(z, nz) * ny + reflect(y, ny)) * nx + reflect(x, nx)]
                        }
                        for z in planes { for y in 0..<ny { for x in 0..<nx {
                            let i = (z * ny + y) * nx + x
                            guard p[i] != 0 else { continue }
                            let v = s[i]
                            // The 26 neighbours first: most voxels fail there.
                            var isPeak = true
                            for (dz, dy, dx) in near where value(z + dz, y + dy, x + dx) > v { isPeak = false; break }
                            if isPeak { for (dz, dy, dx) in ball where value(z + dz, y + dy, x + dx) > v { isPeak = false; break } }
                            if isPeak { out[i] = 1 }
                        } } }
                    }
                }
            }
        }
        return peaks
    }

    /// Linear indices of each component's voxels, by label (index 0 unused).
    static func members(of components: ComponentLabels) -> [[Int]] {
        var lists = [[Int]](repeating: [], count: components.count + 1)
        components.labels.withUnsafeBufferPointer { l in
            for i in 0..<l.count where l[i] != 0 { lists[Int(l[i])].append(i) }
        }
        return lists
    }

    /// Drops peaks that sit on a saddle or ridge of the (unsmoothed) distance map (PoreSpy's
    /// `trim_saddle_points`): each face-connected peak plateau is grown, step by step, to the
    /// voxels of its 3×3×3 dilation that hold the dilation's maximum distance. A plateau that
    /// stops growing is a true peak; one whose maximum moves off it is a saddle; one still
    /// growing after `iterations` steps is dropped. The peak voxels of kept plateaus remain.
    static func trimSaddlePoints(peaks: Grid<UInt8>, distance: Grid<Float>, iterations: Int) -> Grid<UInt8> {
        let components = ConnectedComponents.label(peaks, connectivity: .faces)
        let lists = members(of: components)
        let lattice = Lattice(peaks)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let kept: [[Int]] = Parallel.sharing(distance) { dt in
            Parallel.mapChunks(count: components.count, chunks: Swift.min(components.count, Parallel.threadCount * 8)) { range -> [Int] in
                var out: [Int] = []
                for label in range {
                    var plateau = lists[label + 1]
                    var plateauSet = Set(plateau)
                    for _ in 0..<iterations {
                        var dilation = Set<Int>(minimumCapacity: plateau.count * 8)
                        for i in plateau {
                            let z = i / (ny * nx), y = (i / nx) % ny, x = i % nx
                            for dz in -1...1 where z + dz >= 0 && z + dz < nz {
                                for dy in -1...1 where y + dy >= 0 && y + dy < ny {
                                    for dx in -1...1 where x + dx >= 0 && x + dx < nx {
                                        dilation.insert(i + (dz * ny + dy) * nx + dx)
                                    }
                                }
                            }
                        }
                        var top: Float = 0
                        for i in dilation where dt[i] > top { top = dt[i] }
                        let extended = Set(dilation.filter { dt[$0] == top && dt[$0] > 0 })
                        if extended == plateauSet { out.append(contentsOf: plateau); break }
                        if extended.isDisjoint(with: plateauSet) { break }
                        plateauSet = extended
                        plateau = Array(extended)
                    }
                }
                return out
            }
        }
        // Kept plateaus may have grown over neighbouring peak voxels; only original peak voxels stay.
        var result = Grid<UInt8>(shape: peaks.shape, geometry: peaks.geometry)
        result.withUnsafeMutableBufferPointer { r in
            peaks.withUnsafeBufferPointer { p in
                for list in kept { for i in list where p[i] != 0 { r[i] = 1 } }
            }
        }
        return result
    }

    /// Drops the weaker of two peaks closer to each other than to the solid (PoreSpy's
    /// `trim_nearby_peaks`): every 26-connected peak is reduced to its centre of mass (truncated
    /// to a voxel) and its distance L there (plus 10⁻⁶ × its index, PoreSpy's tie-break); a
    /// peak whose nearest other peak lies within `factor`·L drops whichever of the two has the
    /// smaller L. Returns the surviving peaks labelled 1…n in raster order.
    static func trimNearbyPeaks(peaks: Grid<UInt8>, distance: Grid<Float>, factor: Double) -> ComponentLabels {
        let components = ConnectedComponents.label(peaks, connectivity: .corners)
        let n = components.count
        guard n > 1 else { return components }
        let lattice = Lattice(peaks)
        let (ny, nx) = (lattice.ny, lattice.nx)
        var sums = [(Double, Double, Double)](repeating: (0, 0, 0), count: n + 1)
        components.labels.withUnsafeBufferPointer { l in
            for i in 0..<l.count where l[i] != 0 {
                let k = Int(l[i])
                sums[k].0 += Double(i / (ny * nx)); sums[k].1 += Double((i / nx) % ny); sums[k].2 += Double(i % nx)
            }
        }
        let points: [(Int, Int, Int)] = (1...n).map { k in
            let c = Double(components.sizes[k])
            return (Int(sums[k].0 / c), Int(sums[k].1 / c), Int(sums[k].2 / c))
        }
        let depth: [Double] = distance.withUnsafeBufferPointer { dt in
            points.enumerated().map { k, p in Double(dt[(p.0 * ny + p.1) * nx + p.2]) + Double(k) * 1e-6 }
        }
        let nearest = NearestPoints(points)
        var drop = Set<Int>()
        for k in 0..<n {
            guard let (other, d) = nearest.nearest(to: k), d <= factor * depth[k] else { continue }
            drop.insert(depth[k] < depth[other] ? k : other)
        }
        var labels = components.labels
        labels.withUnsafeMutableBufferPointer { l in
            for i in 0..<l.count where l[i] != 0 && drop.contains(Int(l[i]) - 1) { l[i] = 0 }
        }
        return ConnectedComponents.label(labels, connectivity: .corners)
    }

    // MARK: network

    /// Pores and throats of a partition, PoreSpy's `regions_to_network` ("standard" accuracy).
    public static func network(partition: SNOWPartition) throws -> PoreNetwork {
        let regions = partition.regions
        let n = partition.regionCount
        let lattice = Lattice(regions)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        // Distance to anything outside the region, the volume's border included (PoreSpy pads
        // each region's box with zeros).
        let local = DistanceTransform.euclidean(regions, borderIsFeature: true).distances

        struct RegionSums { var count = 0; var z = 0.0, y = 0.0, x = 0.0; var localMax: Float = 0; var globalMax: Float = 0
            var solidFaces = 0; var low = SIMD3<Int>(repeating: .max); var high = SIMD3<Int>(repeating: .min) }
        struct ThroatSums { var area = 0; var perimeter = 0; var top: Float = -1; var peak = 0 }
        struct Slab { var regions: [RegionSums]; var throats: [UInt64: ThroatSums] }

        let slabs: [Slab] = Parallel.sharing(regions) { lab in
            Parallel.sharing(partition.distance) { dt in
                Parallel.sharing(local) { loc in
                    Parallel.mapChunks(count: nz, chunks: Swift.min(nz, Parallel.threadCount * 2)) { planes -> Slab in
                        var slab = Slab(regions: [RegionSums](repeating: RegionSums(), count: n + 1), throats: [:])
                        var seen: [Int32] = []
                        for z in planes { for y in 0..<ny { for x in 0..<nx {
                            let i = (z * ny + y) * nx + x
                            let b = lab[i]
                            guard b != 0 else { continue }
                            let k = Int(b)
                            slab.regions[k].count += 1
                            slab.regions[k].z += Double(z); slab.regions[k].y += Double(y); slab.regions[k].x += Double(x)
                            slab.regions[k].localMax = Swift.max(slab.regions[k].localMax, loc[i])
                            slab.regions[k].globalMax = Swift.max(slab.regions[k].globalMax, dt[i])
                            let c = SIMD3(z, y, x)
                            slab.regions[k].low = pointwiseMin(slab.regions[k].low, c); slab.regions[k].high = pointwiseMax(slab.regions[k].high, c)
                            // Face neighbours: the solid, or lower-labelled regions this voxel borders.
                            seen.removeAll(keepingCapacity: true)
                            func visit(_ j: Int) {
                                let a = lab[j]
                                if a == 0 { if dt[j] == 0 { slab.regions[k].solidFaces += 1 }; return }
                                if a < b && !seen.contains(a) { seen.append(a) }
                            }
                            if z > 0 { visit(i - ny * nx) }; if z < nz - 1 { visit(i + ny * nx) }
                            if y > 0 { visit(i - nx) }; if y < ny - 1 { visit(i + nx) }
                            if x > 0 { visit(i - 1) }; if x < nx - 1 { visit(i + 1) }
                            for a in seen {
                                let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
                                var t = slab.throats[key, default: ThroatSums()]
                                t.area += 1
                                if dt[i] < 2 { t.perimeter += 1 }
                                if dt[i] > t.top { t.top = dt[i]; t.peak = i }
                                slab.throats[key] = t
                            }
                        } } }
                        return slab
                    }
                }
            }
        }
        // Merge the slabs in order (raster order decides the throat peak on ties).
        var sums = [RegionSums](repeating: RegionSums(), count: n + 1)
        var throatSums: [UInt64: ThroatSums] = [:]
        for slab in slabs {
            for k in 1..<(n + 1) {
                let s = slab.regions[k]
                guard s.count > 0 else { continue }
                sums[k].count += s.count; sums[k].z += s.z; sums[k].y += s.y; sums[k].x += s.x
                sums[k].localMax = max(sums[k].localMax, s.localMax); sums[k].globalMax = max(sums[k].globalMax, s.globalMax)
                sums[k].solidFaces += s.solidFaces
                sums[k].low = pointwiseMin(sums[k].low, s.low); sums[k].high = pointwiseMax(sums[k].high, s.high)
            }
            for (key, t) in slab.throats {
                var m = throatSums[key, default: ThroatSums()]
                m.area += t.area; m.perimeter += t.perimeter
                if t.top > m.top { m.top = t.top; m.peak = t.peak }
                throatSums[key] = m
            }
        }
        let dims = [nz, ny, nx]
        var pores: [PoreNetwork.Pore] = (1..<(n + 1)).compactMap { k in
            guard sums[k].count > 0 else { return nil }
            let s = sums[k]
            let v = Double(s.count)
            var faces: [String] = []
            for a in 0..<3 {
                if s.low[a] == 0 { faces.append(["z-", "y-", "x-"][a]) }
                if s.high[a] == dims[a] - 1 { faces.append(["z+", "y+", "x+"][a]) }
            }
            return PoreNetwork.Pore(label: k, volumeVoxels: s.count, centroid: [s.z / v, s.y / v, s.x / v],
                                    equivalentDiameter: 2 * pow(3 * v / (4 * Double.pi), 1.0 / 3), inscribedDiameter: 2 * Double(s.localMax),
                                    extendedDiameter: 2 * Double(s.globalMax), coordination: 0, solidContactFaces: s.solidFaces, boundaryFaces: faces)
        }
        guard pores.count == n else { throw LensError.numerical("SNOW: \(n - pores.count) of \(n) regions hold no voxel") }
        var throats: [PoreNetwork.Throat] = throatSums.keys.sorted().map { key in
            let t = throatSums[key]!
            let a = Int(key >> 32), b = Int(key & 0xFFFF_FFFF)
            let peak = [t.peak / (ny * nx), (t.peak / nx) % ny, t.peak % nx]
            func length(_ p: [Double], _ q: [Double]) -> Double { sqrt(zip(p, q).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }) }
            let ca = pores[a - 1].centroid, cb = pores[b - 1].centroid
            let pk = peak.map(Double.init)
            return PoreNetwork.Throat(pores: [a, b], areaVoxels: t.area, equivalentDiameter: sqrt(4 * Double(t.area) / Double.pi),
                                      inscribedDiameter: 2 * Double(t.top), perimeterVoxels: t.perimeter, peak: peak,
                                      totalLength: length(ca, pk) + length(cb, pk), directLength: length(ca, cb))
        }
        for t in throats { pores[t.pores[0] - 1].coordination += 1; pores[t.pores[1] - 1].coordination += 1 }
        throats.sort { ($0.pores[0], $0.pores[1]) < ($1.pores[0], $1.pores[1]) }
        return PoreNetwork(shape: dims, pores: pores, throats: throats, unassignedPoreVoxels: partition.unassignedPoreVoxels)
    }
}

/// Nearest other point of a point set, by a uniform bucket grid searched in growing shells
/// (the role of PoreSpy's KD-tree query with k = 2).
struct NearestPoints {
    let points: [(Int, Int, Int)]
    let cell: Int
    let cellsPerAxis: (Int, Int, Int)
    let origin: (Int, Int, Int)
    var buckets: [Int: [Int]] = [:]

    init(_ points: [(Int, Int, Int)]) {
        self.points = points
        let lo = (points.map(\.0).min() ?? 0, points.map(\.1).min() ?? 0, points.map(\.2).min() ?? 0)
        let hi = (points.map(\.0).max() ?? 0, points.map(\.1).max() ?? 0, points.map(\.2).max() ?? 0)
        let volume = Double(hi.0 - lo.0 + 1) * Double(hi.1 - lo.1 + 1) * Double(hi.2 - lo.2 + 1)
        // About two points per cell: cell³ ≈ 2·volume/points.
        cell = max(1, Int(cbrt(2 * volume / Double(max(points.count, 1))).rounded(.up)))
        origin = lo
        cellsPerAxis = ((hi.0 - lo.0) / cell + 1, (hi.1 - lo.1) / cell + 1, (hi.2 - lo.2) / cell + 1)
        for (k, p) in points.enumerated() { buckets[key(cellOf(p)), default: []].append(k) }
    }

    func cellOf(_ p: (Int, Int, Int)) -> (Int, Int, Int) { ((p.0 - origin.0) / cell, (p.1 - origin.1) / cell, (p.2 - origin.2) / cell) }
    func key(_ c: (Int, Int, Int)) -> Int { (c.0 * cellsPerAxis.1 + c.1) * cellsPerAxis.2 + c.2 }

    /// The nearest other point to point `k` and its distance; nil for a single point.
    func nearest(to k: Int) -> (Int, Double)? {
        guard points.count > 1 else { return nil }
        let p = points[k]
        let c = cellOf(p)
        var best: (Int, Double)?
        let maxShell = max(cellsPerAxis.0, cellsPerAxis.1, cellsPerAxis.2)
        for shell in 0...maxShell {
            // Every point outside the shells searched so far is at least (shell − 1)·cell away.
            if let best, Double((shell - 1) * cell) > best.1 { break }
            for a in (c.0 - shell)...(c.0 + shell) where a >= 0 && a < cellsPerAxis.0 {
                for b in (c.1 - shell)...(c.1 + shell) where b >= 0 && b < cellsPerAxis.1 {
                    for d in (c.2 - shell)...(c.2 + shell) where d >= 0 && d < cellsPerAxis.2 {
                        guard max(abs(a - c.0), abs(b - c.1), abs(d - c.2)) == shell, let list = buckets[key((a, b, d))] else { continue }
                        for j in list where j != k {
                            let q = points[j]
                            let d2 = Double((q.0 - p.0) * (q.0 - p.0) + (q.1 - p.1) * (q.1 - p.1) + (q.2 - p.2) * (q.2 - p.2)).squareRoot()
                            if best == nil || d2 < best!.1 || (d2 == best!.1 && j < best!.0) { best = (j, d2) }
                        }
                    }
                }
            }
        }
        return best
    }
}
