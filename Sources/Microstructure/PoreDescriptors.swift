import Foundation
import ImageAnalysis
import LensCore

/// The two-point correlation function S₂(r) of a phase: the probability that two points a
/// distance r apart both lie in it (S₂(0) = ε, S₂(∞) → ε²). Measured along each array axis over
/// every pair inside the volume (no periodic wrap), and averaged over the three axes (the
/// isotropic estimate for statistically isotropic media; PoreSpy's `two_point_correlation`).
public struct TwoPointCorrelation: Codable, Sendable, Equatable {
    /// Lags in voxel edges, 0 … maximum.
    public var lagsVoxels: [Int]
    /// S₂ along z, y and x.
    public var alongAxes: [[Double]]
    /// Mean over the axes that are long enough for the lag.
    public var average: [Double]

    public init(phase: Grid<UInt8>, maximumLagVoxels: Int) throws {
        try Morphology.requireBinary(phase, name: "the phase mask")
        guard phase.rank == 3 else { throw LensError.invalidArgument("two-point correlation needs a 3D mask, got \(phase.shape)") }
        guard maximumLagVoxels >= 1, maximumLagVoxels <= 100_000 else { throw LensError.invalidArgument("the maximum lag must be 1–100000 voxels") }
        let d = phase.shape.dims
        let strides = [d[1] * d[2], d[2], 1]
        let lags = Array(0...maximumLagVoxels)
        lagsVoxels = lags
        let axes = try (0..<3).map { axis -> [Double] in
            let lags = Array(0...Swift.min(maximumLagVoxels, d[axis] - 1))
            guard !lags.isEmpty else { throw LensError.invalidArgument("the volume is empty along axis \(axis)") }
            let counts = Parallel.sharing(phase) { p in
                Parallel.mapChunks(count: lags.count, chunks: Swift.min(lags.count, Parallel.threadCount * 4)) { range -> [Int] in
                    range.map { k in
                        let r = lags[k]
                        var hits = 0
                        for z in 0..<d[0] { for y in 0..<d[1] { for x in 0..<d[2] {
                            let position = axis == 0 ? z : axis == 1 ? y : x
                            guard position + r < d[axis] else { continue }
                            let i = (z * d[1] + y) * d[2] + x
                            if p[i] != 0 && p[i + r * strides[axis]] != 0 { hits += 1 }
                        } } }
                        return hits
                    }
                }.flatMap { $0 }
            }
            let plane = d.reduce(1, *) / d[axis]
            return lags.map { r in Double(counts[r]) / Double((d[axis] - r) * plane) }
        }
        alongAxes = axes
        average = lags.map { r in
            let values = axes.compactMap { r < $0.count ? $0[r] : nil }
            return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
    }
}

/// Chord lengths of a phase along one axis: the runs of consecutive phase voxels on every line
/// parallel to the axis. Runs that touch the volume's faces along the axis are cut by the field
/// of view and left out (their length is unknown), as in the stereology of chord distributions.
public struct ChordLengths: Codable, Sendable, Equatable {
    public var axis: Int
    /// Chord lengths in voxel edges.
    public var lengthsVoxels: [Int]
    /// The mean corrected for minus sampling: a chord of length ℓ fits wholly inside a line of
    /// L voxels (not touching either face) at L − ℓ − 1 positions, so long chords are seen less
    /// often; each chord is weighted by 1/(L − ℓ − 1) (Miles–Lantuéjoul).
    public var meanVoxels: Double
    /// The plain mean of the chords seen.
    public var uncorrectedMeanVoxels: Double
    /// Chords cut by the faces and so not counted.
    public var truncated: Int

    public init(phase: Grid<UInt8>, axis: Int) throws {
        try Morphology.requireBinary(phase, name: "the phase mask")
        guard phase.rank == 3, (0..<3).contains(axis) else { throw LensError.invalidArgument("chords need a 3D mask and an axis 0, 1 or 2") }
        let d = phase.shape.dims
        let strides = [d[1] * d[2], d[2], 1]
        let others = (0..<3).filter { $0 != axis }
        var lengths = [Int](), truncated = 0
        phase.withUnsafeBufferPointer { p in
            for a in 0..<d[others[0]] { for b in 0..<d[others[1]] {
                let base = a * strides[others[0]] + b * strides[others[1]]
                var run = 0, start = 0
                for t in 0...d[axis] {
                    let inside = t < d[axis] && p[base + t * strides[axis]] != 0
                    if inside { if run == 0 { start = t }; run += 1; continue }
                    if run > 0 {
                        if start == 0 || t == d[axis] { truncated += 1 } else { lengths.append(run) }
                        run = 0
                    }
                }
            } }
        }
        self.axis = axis
        lengthsVoxels = lengths
        uncorrectedMeanVoxels = lengths.isEmpty ? .nan : Double(lengths.reduce(0, +)) / Double(lengths.count)
        let extent = d[axis]
        let weights = lengths.map { 1 / Double(Swift.max(1, extent - $0 - 1)) }
        let total = weights.reduce(0, +)
        meanVoxels = lengths.isEmpty ? .nan : zip(lengths, weights).reduce(0.0) { $0 + Double($1.0) * $1.1 } / total
        self.truncated = truncated
    }
}

/// Interfaces between the phases of a label volume: the area between every pair of phases
/// (from the smoothed-indicator surfaces of ``SpecificSurface``: A(a|b) = (A_a + A_b − A_a∪b)/2,
/// since the union's surface is what a and b show to the others), the fraction of one phase's
/// surface covered by another (e.g. active material covered by carbon–binder), and the
/// triple-phase-boundary length where three phases meet.
public struct PhaseInterfaces: Codable, Sendable, Equatable {
    public struct Pair: Codable, Sendable, Equatable {
        public var first: Int
        public var second: Int
        /// Interface area (µm², or voxel edges² without a voxel size). The surfaces stop at the
    /// voxel centres of the outer layer: a plane across an n × n field measures (n − 1)².
        public var area: Double
        /// Area per total volume.
        public var perTotalVolume: Double
    }
    public var pairs: [Pair]
    /// Each phase's whole surface area (same unit).
    public var surfaceAreas: [String: Double]

    /// - Parameter codes: the label codes to consider (at least two present in the volume).
    public init(labels: Grid<Int32>, codes: [Int], smoothingSigma: Double = 0.7) throws {
        let unique = Array(Set(codes)).sorted()
        guard unique.count >= 2 else { throw LensError.invalidArgument("interfaces need at least two phases, got \(unique)") }
        func mask(_ set: Set<Int>) -> Grid<UInt8> {
            Grid(shape: labels.shape, geometry: labels.geometry, elements: labels.elements.map { set.contains(Int($0)) ? 1 : 0 })
        }
        var areas = [Int: SpecificSurface]()
        for code in unique { areas[code] = try SpecificSurface(phase: mask([code]), smoothingSigma: smoothingSigma) }
        var pairs = [Pair]()
        for (i, a) in unique.enumerated() { for b in unique[(i + 1)...] {
            let union = try SpecificSurface(phase: mask([a, b]), smoothingSigma: smoothingSigma)
            let area = Swift.max(0, (areas[a]!.areaSquareMicrometres + areas[b]!.areaSquareMicrometres - union.areaSquareMicrometres) / 2)
            let perVolume = areas[a]!.perTotalVolume / Swift.max(areas[a]!.areaSquareMicrometres, .leastNormalMagnitude) * area
            pairs.append(Pair(first: a, second: b, area: area, perTotalVolume: perVolume))
        } }
        self.pairs = pairs
        surfaceAreas = Dictionary(uniqueKeysWithValues: areas.map { (String($0.key), $0.value.areaSquareMicrometres) })
    }

    /// The fraction of phase `covered`'s surface shared with phase `by`.
    public func coverage(of covered: Int, by: Int) -> Double? {
        guard let total = surfaceAreas[String(covered)], total > 0,
              let pair = pairs.first(where: { Set([$0.first, $0.second]) == Set([covered, by]) }) else { return nil }
        return pair.area / total
    }

    /// Triple-phase-boundary length by voxel-edge counting: an edge of the voxel lattice is on
    /// the boundary when the four voxels around it hold all three phases; its length is the
    /// voxel edge along it (µm with a voxel size, voxel edges without). Raw edge counting: a
    /// boundary line oblique to the lattice is over-counted by up to √3 ((|cos|+|cos|+|cos|) for
    /// its direction); a line along an axis is exact.
    public static func triplePhaseBoundaryLength(labels: Grid<Int32>, phases: (Int, Int, Int)) throws -> Double {
        guard labels.rank == 3 else { throw LensError.invalidArgument("a triple-phase boundary needs a 3D label volume") }
        let d = labels.shape.dims
        let spacing = labels.geometry.isCalibrated ? labels.geometry.voxelSizeMicrometres : [1, 1, 1]
        let wanted = Set([Int32(phases.0), Int32(phases.1), Int32(phases.2)])
        guard wanted.count == 3 else { throw LensError.invalidArgument("a triple-phase boundary needs three different phases") }
        let strides = [d[1] * d[2], d[2], 1]
        var length = 0.0
        labels.withUnsafeBufferPointer { l in
            for axis in 0..<3 {
                let (p, q) = axis == 0 ? (1, 2) : axis == 1 ? (0, 2) : (0, 1)
                // Edges along `axis` sit between 2 × 2 voxels in the (p, q) plane.
                for z in 0..<d[0] { for y in 0..<d[1] { for x in 0..<d[2] {
                    let c = [z, y, x]
                    guard c[p] + 1 < d[p], c[q] + 1 < d[q] else { continue }
                    let i = (z * d[1] + y) * d[2] + x
                    let four: Set<Int32> = [l[i], l[i + strides[p]], l[i + strides[q]], l[i + strides[p] + strides[q]]]
                    if wanted.isSubset(of: four) { length += spacing[axis] }
                } } }
            }
        }
        return length
    }
}

/// Geometric tortuosity: the shortest path through the phase from the inlet face to each voxel
/// of the outlet face (Dijkstra on the 26-neighbour voxel graph, steps of 1, √2 and √3 voxel
/// edges), over the straight distance between the faces' voxel centres. The mean over the
/// reachable outlet voxels is the geometric τ (1 for straight channels; Gommes et al. 2009).
public struct GeometricTortuosity: Codable, Sendable, Equatable {
    public var axis: Int
    /// Mean, median and spread of path length / (L − 1) over the reachable outlet voxels.
    public var mean: Double
    public var median: Double
    public var standardDeviation: Double
    /// Outlet voxels of the phase reached from the inlet, over all outlet voxels of the phase.
    public var reachedFraction: Double

    public init(phase: Grid<UInt8>, axis: Int) throws {
        try Morphology.requireBinary(phase, name: "the phase mask")
        guard phase.rank == 3, (0..<3).contains(axis) else { throw LensError.invalidArgument("geometric tortuosity needs a 3D mask and an axis 0, 1 or 2") }
        if phase.geometry.isCalibrated, let low = phase.geometry.voxelSizeMicrometres.min(), let high = phase.geometry.voxelSizeMicrometres.max(),
           high - low > 1e-6 * high {
            throw LensError.invalidArgument("geometric tortuosity counts path steps in voxel edges: voxels of \(phase.geometry.voxelSizeMicrometres) µm are not cubic")
        }
        let d = phase.shape.dims
        guard d[axis] >= 2 else { throw LensError.invalidArgument("the volume is one voxel thick along axis \(axis)") }
        let strides = [d[1] * d[2], d[2], 1]
        let n = phase.count
        var distance = [Double](repeating: .infinity, count: n)
        var queue = VoxelQueue(reservingCapacity: 1024)
        let p = phase.elements
        func coordinate(_ i: Int, _ a: Int) -> Int { (i / strides[a]) % d[a] }
        for i in 0..<n where p[i] != 0 && coordinate(i, axis) == 0 { distance[i] = 0; queue.push(0, i) }
        var offsets = [(Int, Int, Int, Double)]()
        for dz in -1...1 { for dy in -1...1 { for dx in -1...1 where (dz, dy, dx) != (0, 0, 0) {
            offsets.append((dz, dy, dx, Double(abs(dz) + abs(dy) + abs(dx)).squareRoot()))
        } } }
        while !queue.isEmpty {
            let i = queue.pop().index
            let dist = distance[i]
            let (z, y, x) = (i / strides[0], (i / d[2]) % d[1], i % d[2])
            for (dz, dy, dx, step) in offsets {
                let (nz, ny, nx) = (z + dz, y + dy, x + dx)
                guard nz >= 0, ny >= 0, nx >= 0, nz < d[0], ny < d[1], nx < d[2] else { continue }
                let j = (nz * d[1] + ny) * d[2] + nx
                guard p[j] != 0, dist + step < distance[j] else { continue }
                distance[j] = dist + step
                queue.push(Float(dist + step), j)
            }
        }
        var ratios = [Double](), outlet = 0
        for i in 0..<n where p[i] != 0 && coordinate(i, axis) == d[axis] - 1 {
            outlet += 1
            if distance[i].isFinite { ratios.append(distance[i] / Double(d[axis] - 1)) }
        }
        guard !ratios.isEmpty else { throw LensError.numerical("no path through the phase joins the two faces along axis \(axis)") }
        self.axis = axis
        let average = ratios.reduce(0, +) / Double(ratios.count)
        mean = average
        let sorted = ratios.sorted()
        median = sorted[sorted.count / 2]
        standardDeviation = (ratios.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(ratios.count)).squareRoot()
        reachedFraction = Double(ratios.count) / Double(outlet)
    }
}
