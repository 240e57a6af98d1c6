import LensCore

/// Which neighbours connect two voxels: faces (6), faces and edges (18), or faces, edges and
/// corners (26). In 2D, 6 and 18 mean 4-connectivity and 26 means 8-connectivity.
public enum Connectivity: Int, Sendable, CaseIterable, Codable {
    case faces = 6, edges = 18, corners = 26

    /// The most axes along which a neighbour may differ by one step.
    var maximumNonZeroSteps: Int { self == .faces ? 1 : self == .edges ? 2 : 3 }

    /// Offsets (dz, dy, dx) of the already-visited neighbours in a raster scan (z, y, x order).
    var backwardOffsets: [(Int, Int, Int)] {
        var result = [(Int, Int, Int)]()
        for dz in -1...0 { for dy in -1...1 { for dx in -1...1 {
            let order = dz * 9 + dy * 3 + dx
            guard order < 0 else { continue }        // only neighbours scanned before this voxel
            guard abs(dz) + abs(dy) + abs(dx) <= maximumNonZeroSteps else { continue }
            result.append((dz, dy, dx))
        } } }
        return result
    }
}

/// The result of labelling: a label per voxel (0 = background, 1…count) and each label's size.
public struct ComponentLabels: Sendable {
    public var labels: Grid<Int32>
    public var count: Int
    /// Voxels per label; index 0 is the background.
    public var sizes: [Int]

    public init(labels: Grid<Int32>, count: Int, sizes: [Int]) {
        self.labels = labels
        self.count = count
        self.sizes = sizes
    }
}

/// Connected-component labelling by the two-pass algorithm with union–find (Rosenfeld &
/// Pfaltz 1966; union to the smaller label with path halving as in Wu, Otoo & Suzuki 2009).
/// Labels are numbered in raster order of each component's first voxel, like scikit-image's
/// `label` and cc3d.
///
/// The volume is cut into slabs of planes labelled concurrently, each with its own label
/// equivalences; the seams between slabs are then merged (a plane and the one before it), and a
/// last parallel pass writes the final numbers. ``SlabwiseLabelling`` uses the same seam merge
/// to label volumes larger than memory, one slab at a time.
public enum ConnectedComponents {
    /// Labels the voxels where `mask` is non-zero. 2D grids are treated as one slice.
    public static func label<T: GridElement>(_ mask: Grid<T>, connectivity: Connectivity = .faces) -> ComponentLabels {
        precondition(mask.rank == 2 || mask.rank == 3, "labelling needs a 2D or 3D grid")
        let binary: Grid<UInt8> = T.self == UInt8.self ? mask as! Grid<UInt8> : mask.map { $0 != T.zero ? 1 : 0 }
        let (nz, ny, nx) = mask.rank == 3 ? (mask.shape[0], mask.shape[1], mask.shape[2]) : (1, mask.shape[0], mask.shape[1])
        var labels = Grid<Int32>(shape: mask.shape, geometry: mask.geometry)
        let plan = PlaneScan(ny: ny, nx: nx, connectivity: connectivity, volumetric: nz > 1)
        let planeCount = ny * nx
        // One slab of planes per thread (at least 4 planes each), each labelled on its own.
        let slabCount = Swift.max(1, Swift.min(Parallel.threadCount, nz / 4))
        let slabs = (0..<slabCount).map { i in (i * nz / slabCount)..<((i + 1) * nz / slabCount) }
        // Each slab's provisional labels and their equivalences (parents), in parallel.
        // Each worker owns one slab of planes.
        let local: [[Int32]] = Parallel.withDisjointWrites(&labels) { (out: DisjointWriteBuffer<Int32>) in
            Parallel.sharing(binary) { m in
                Parallel.mapChunks(count: slabCount, chunks: slabCount) { range in
                    let planes = slabs[range.lowerBound]
                    return plan.labelSlab(mask: m.baseAddress! + planes.lowerBound * planeCount,
                                          labels: out.baseAddress! + planes.lowerBound * planeCount, planes: planes.count)
                }
            }
        }
        // One forest over all slabs (slab s's label l is offsets[s] + l); merge the seams.
        let offsets = local.indices.map { s in Int32(local[..<s].reduce(0) { $0 + $1.count - 1 }) }
        var forest = LabelForest(count: 0)
        for s in 0..<slabCount { forest.parent += local[s].dropFirst().map { $0 + offsets[s] } }
        labels.withUnsafeBufferPointer { out in
            for s in 1..<Swift.max(1, slabCount) {
                let z = slabs[s].lowerBound
                plan.mergeSeam(previous: out.baseAddress! + (z - 1) * planeCount, previousOffset: offsets[s - 1],
                               current: out.baseAddress! + z * planeCount, currentOffset: offsets[s], forest: &forest)
            }
        }
        let roots = forest.renumber(sizes: nil, minimumVoxels: 0)
        // Final numbers and sizes, slab by slab in parallel.
        let slabSizes: [[Int]] = Parallel.withDisjointWrites(&labels) { (outBase: DisjointWriteBuffer<Int32>) in
            Parallel.sharing(roots.finalLabel) { map in
                Parallel.mapChunks(count: slabCount, chunks: slabCount) { range in
                    let s = range.lowerBound
                    let offset = Int(offsets[s])
                    var sizes = [Int](repeating: 0, count: roots.count + 1)
                    for i in (slabs[s].lowerBound * planeCount)..<(slabs[s].upperBound * planeCount) where outBase[i] != 0 {
                        let l = map[offset + Int(outBase[i])]
                        outBase[i] = l
                        sizes[Int(l)] += 1
                    }
                    return sizes
                }
            }
        }
        var sizes = [Int](repeating: 0, count: roots.count + 1)
        for part in slabSizes { for l in 1..<sizes.count { sizes[l] += part[l] } }
        return ComponentLabels(labels: labels, count: roots.count, sizes: sizes)
    }
}

/// Labels a volume delivered slab by slab along axis 0 (a file larger than memory): each slab is
/// labelled on its own, its labels shifted past those of the slabs before it and merged with
/// the last plane of the previous slab. Only that plane and the label equivalences (one integer
/// per provisional label) are kept between slabs. ``finish(minimumVoxels:)`` returns the map from
/// the provisional labels of ``label(slab:)`` to the final ones, which the caller applies in a
/// second pass over the provisional labels it stored (`batterylens label` keeps them in a
/// temporary file).
public struct SlabwiseLabelling: Sendable {
    public let connectivity: Connectivity
    private let plan: PlaneScan
    private let planeShape: (ny: Int, nx: Int)
    private var forest = LabelForest(count: 0)
    private var sizes: [Int] = [0]
    private var lastPlane: [Int32] = []
    /// Planes labelled so far.
    public private(set) var planesDone = 0

    /// `planeShape`: (rows, columns) of each plane.
    public init(planeShape: (ny: Int, nx: Int), connectivity: Connectivity) {
        self.connectivity = connectivity
        self.planeShape = planeShape
        plan = PlaneScan(ny: planeShape.ny, nx: planeShape.nx, connectivity: connectivity, volumetric: true)
    }

    /// Labels the next slab (planes × rows × columns, non-zero = foreground) and returns its
    /// provisional labels (0 = background), to be stored and renumbered after ``finish(minimumVoxels:)``.
    public mutating func label<T: GridElement>(slab: Grid<T>) throws -> Grid<Int32> {
        guard slab.rank == 3, slab.shape[1] == planeShape.ny, slab.shape[2] == planeShape.nx else {
            throw LensError.invalidArgument("slab of shape \(slab.shape) does not continue planes of \(planeShape.ny)×\(planeShape.nx)")
        }
        var part = ConnectedComponents.label(slab, connectivity: connectivity)
        let offset = Int32(sizes.count - 1)
        let planeCount = planeShape.ny * planeShape.nx
        part.labels.withUnsafeMutableBufferPointer { out in
            for i in 0..<out.count where out[i] != 0 { out[i] += offset }
        }
        forest.append(count: part.count)
        sizes += part.sizes.dropFirst()
        if !lastPlane.isEmpty {
            part.labels.withUnsafeBufferPointer { out in
                lastPlane.withUnsafeBufferPointer { previous in
                    plan.mergeSeam(previous: previous.baseAddress!, previousOffset: 0, current: out.baseAddress!, currentOffset: 0, forest: &forest)
                }
            }
        }
        lastPlane = part.labels.withUnsafeBufferPointer { Array($0[(($0.count - planeCount))...]) }
        planesDone += slab.shape[0]
        return part.labels
    }

    /// The provisional labels handed out so far.
    public var provisionalCount: Int { sizes.count - 1 }

    /// The map from provisional to final labels (raster order of first voxels, components below
    /// `minimumVoxels` dropped to 0) and the final components' sizes.
    public func finish(minimumVoxels: Int = 0) -> LabelRenumbering {
        var copy = forest
        return copy.renumber(sizes: sizes, minimumVoxels: minimumVoxels)
    }
}

/// Final labels for provisional ones: `finalLabel[p]` (0 for background or dropped
/// components), the component count and sizes (index 0 unused, 0).
public struct LabelRenumbering: Sendable {
    public let finalLabel: [Int32]
    public let count: Int
    public let sizes: [Int]

    /// Replaces provisional labels by final ones in place.
    public func apply(to labels: inout Grid<Int32>) {
        finalLabel.withUnsafeBufferPointer { map in
            labels.withUnsafeMutableBufferPointer { out in
                for i in 0..<out.count where out[i] != 0 { out[i] = map[Int(out[i])] }
            }
        }
    }
}

/// Equivalences between provisional labels 1…n: union–find whose roots are the smallest label of
/// their set, so a set's root is its first label in raster order.
struct LabelForest: Sendable {
    var parent: [Int32]

    init(count: Int) { parent = (0...count).map { Int32($0) } }

    mutating func append(count: Int) {
        let start = parent.count
        parent.reserveCapacity(start + count)
        for l in 0..<count { parent.append(Int32(start + l)) }
    }

    /// Renumbers the roots 1, 2, … in increasing order, leaving out sets smaller than
    /// `minimumVoxels` (`sizes[p]` = voxels of provisional label p; nil: sizes unknown, every
    /// set kept and the returned sizes left empty).
    mutating func renumber(sizes: [Int]?, minimumVoxels: Int) -> LabelRenumbering {
        let n = parent.count
        var rootSize = [Int](repeating: 0, count: sizes == nil ? 0 : n)
        parent.withUnsafeMutableBufferPointer { p in
            // Parents are always smaller than their children, so one ascending sweep flattens.
            for l in 1..<Swift.max(1, n) { p[l] = p[Int(p[l])] }
            if let sizes { for l in 1..<Swift.max(1, n) { rootSize[Int(p[l])] += sizes[l] } }
        }
        var finalLabel = [Int32](repeating: 0, count: n)
        var finalSizes = [0]
        var next: Int32 = 0
        for l in 1..<Swift.max(1, n) {
            let root = Int(parent[l])
            if root == l {
                if sizes == nil { next += 1; finalLabel[l] = next; continue }
                if rootSize[l] >= minimumVoxels && rootSize[l] > 0 {
                    finalSizes.append(rootSize[l])
                    next += 1
                    finalLabel[l] = next
                }
            } else {
                finalLabel[l] = finalLabel[root]
            }
        }
        return LabelRenumbering(finalLabel: finalLabel, count: Int(next), sizes: sizes == nil ? [] : finalSizes)
    }
}

/// The raster scan of one slab. Two phase voxels that are neighbours and both already scanned
/// are always already united (the later one looked at the earlier one), so once a backward
/// neighbour is found in the phase, every backward neighbour adjacent to it can be skipped — the
/// idea of Wu, Otoo & Suzuki's decision tree, here as bit masks: for 26-connectivity the voxel
/// straight behind (z − 1) is adjacent to all 13, and one load usually settles a voxel.
struct PlaneScan: Sendable {
    let ny: Int, nx: Int
    /// The backward neighbours, most covering first: linear offsets and, for each, the bit mask
    /// of the neighbours adjacent to it (itself included).
    private let offsets: [Int]
    private let cover: [UInt16]
    /// Per row kind (bit 0: a plane before, bit 1: a row before, bit 2: a row after) and x
    /// position (0 interior, 1 first, 2 last, 3 both), the mask of neighbours outside the slab.
    private let outside: [UInt16]
    /// The neighbours in the previous plane (dz = −1) as (dy, dx), for seams.
    private let seamOffsets: [(dy: Int, dx: Int)]

    init(ny: Int, nx: Int, connectivity: Connectivity, volumetric: Bool) {
        self.ny = ny; self.nx = nx
        let all = connectivity.backwardOffsets.filter { volumetric || $0.0 == 0 }
        func adjacent(_ a: (Int, Int, Int), _ b: (Int, Int, Int)) -> Bool {
            let d = [a.0 - b.0, a.1 - b.1, a.2 - b.2]
            let nonZero = d.filter { $0 != 0 }.count
            return d.allSatisfy { abs($0) <= 1 } && nonZero <= connectivity.maximumNonZeroSteps
        }
        let coverCount = all.map { a in all.filter { adjacent(a, $0) }.count }
        let order = all.indices.sorted { coverCount[$0] != coverCount[$1] ? coverCount[$0] > coverCount[$1] : $0 < $1 }
        let ordered = order.map { all[$0] }
        offsets = ordered.map { (dz, dy, dx) in (dz * ny + dy) * nx + dx }
        cover = ordered.map { a in
            ordered.indices.reduce(UInt16(0)) { mask, j in
                let b = ordered[j]
                return (a == b || adjacent(a, b)) ? mask | (1 << j) : mask
            }
        }
        outside = (0..<32).map { code in
            let kind = code >> 2, xpos = code & 3
            return ordered.indices.reduce(UInt16(0)) { mask, j in
                let (dz, dy, dx) = ordered[j]
                let missing = (dz == -1 && kind & 1 == 0) || (dy == -1 && kind & 2 == 0) || (dy == 1 && kind & 4 == 0)
                    || (dx == -1 && xpos & 1 != 0) || (dx == 1 && xpos & 2 != 0)
                return missing ? mask | (1 << j) : mask
            }
        }
        seamOffsets = all.filter { $0.0 == -1 }.map { (dy: $0.1, dx: $0.2) }
    }

    /// Labels `planes` planes on their own with provisional labels 1…k (created in raster
    /// order) and returns their k + 1 parents (each smaller than its label; index 0 unused).
    func labelSlab(mask: UnsafePointer<UInt8>, labels out: UnsafeMutablePointer<Int32>, planes: Int) -> [Int32] {
        let voxels = planes * ny * nx
        // A new label needs a voxel with no neighbour before it: at most half the voxels, plus one.
        let capacity = voxels / 2 + 2
        let parent = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        defer { parent.deallocate() }
        parent[0] = 0
        var next: Int32 = 1
        let m = offsets.count
        let all = UInt16((1 << m) - 1)
        offsets.withUnsafeBufferPointer { offsets in
            cover.withUnsafeBufferPointer { cover in
                outside.withUnsafeBufferPointer { outside in
                    for z in 0..<planes {
                        for y in 0..<ny {
                            let code = ((z > 0 ? 1 : 0) | (y > 0 ? 2 : 0) | (y < ny - 1 ? 4 : 0)) << 2
                            let row = (z * ny + y) * nx
                            for x in 0..<nx {
                                let i = row + x
                                guard mask[i] != 0 else { out[i] = 0; continue }
                                var skip = outside[code | (x == 0 ? 1 : 0) | (x == nx - 1 ? 2 : 0)]
                                var current: Int32 = 0
                                var k = 0
                                while k < m && skip != all {
                                    if skip & (1 << UInt16(k)) == 0 {
                                        let n = out[i + offsets[k]]
                                        if n != 0 {
                                            skip |= cover[k]
                                            if current == 0 {
                                                current = n
                                            } else if n != current {
                                                current = LabelForest.union(current, n, in: parent)
                                            }
                                        }
                                    }
                                    k += 1
                                }
                                if current == 0 {
                                    current = next
                                    parent[Int(next)] = next
                                    next += 1
                                }
                                out[i] = current
                            }
                        }
                    }
                }
            }
        }
        return Array(UnsafeBufferPointer(start: parent, count: Int(next)))
    }

    /// Unites the labels of `current` (a plane) with those of its neighbours in `previous` (the
    /// plane before it); each plane's labels are shifted by its offset into the forest's labels.
    func mergeSeam(previous: UnsafePointer<Int32>, previousOffset: Int32, current: UnsafePointer<Int32>, currentOffset: Int32,
                   forest: inout LabelForest) {
        for y in 0..<ny {
            for x in 0..<nx {
                let c = current[y * nx + x]
                guard c != 0 else { continue }
                for (dy, dx) in seamOffsets {
                    let yy = y + dy, xx = x + dx
                    guard yy >= 0, yy < ny, xx >= 0, xx < nx else { continue }
                    let p = previous[yy * nx + xx]
                    if p != 0 { _ = forest.union(c + currentOffset, p + previousOffset) }
                }
            }
        }
    }
}

extension LabelForest {
    /// The root of `a`, halving the path on the way (parents stored at `parent`).
    @inline(__always)
    static func find(_ a: Int32, in parent: UnsafeMutablePointer<Int32>) -> Int32 {
        var x = Int(a)
        while Int(parent[x]) != x {
            parent[x] = parent[Int(parent[x])]
            x = Int(parent[x])
        }
        return Int32(x)
    }

    /// Unites two sets; returns the root (the smaller of the two roots).
    @inline(__always)
    static func union(_ a: Int32, _ b: Int32, in parent: UnsafeMutablePointer<Int32>) -> Int32 {
        let ra = find(a, in: parent), rb = find(b, in: parent)
        if ra == rb { return ra }
        let (small, large) = ra < rb ? (ra, rb) : (rb, ra)
        parent[Int(large)] = small
        return small
    }

    @inline(__always)
    mutating func union(_ a: Int32, _ b: Int32) -> Int32 {
        parent.withUnsafeMutableBufferPointer { Self.union(a, b, in: $0.baseAddress!) }
    }
}
