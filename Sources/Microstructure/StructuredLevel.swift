import Dispatch
import LensCore

/// A level of ``MultigridHierarchy`` on its voxel grid, for the smoothing and the transfers of
/// the V-cycle (the conjugate-gradient vectors stay in the compact, phase-only storage of
/// ``DiffusionLevel``).
///
/// Why: on a compact level every stencil goes through a table of six neighbour indices per
/// unknown (24 bytes, read for each sweep and each residual) and branches on whether each
/// neighbour exists, which a porous phase makes unpredictable. On the grid the neighbours are
/// fixed offsets, cells outside the phase hold 0 and a reciprocal diagonal of 0 (so they stay 0
/// without a branch), and eight voxels of a row are updated as one SIMD vector. Red–black
/// Gauss–Seidel is kept exactly (the colour is chosen per lane), in single precision: the V-cycle
/// is only the preconditioner of CG, which runs in double precision on the compact vectors.
/// The aggregates of the coarser level are the 2×2×2 blocks of this grid, so the next level is
/// again a grid (half the extent) and the transfers are structured: restriction sums a block,
/// prolongation copies the block's value to its voxels.
///
/// The finest level of a single-phase system has one conductance per axis; coarser (Galerkin)
/// levels store the conductance of each voxel's link to its +z, +y and +x neighbour (0 where
/// there is none; the link to −z is the −z neighbour's +z link).
///
/// One V-cycle on this level: a forward sweep (red from a zero start, then black); residual and
/// restriction in one pass; the coarse cycle; prolongation with the over-correction α; a
/// backward sweep (black, then red). Each sweep is fused plane by plane (the second colour of
/// plane z − 1 right after the first colour of plane z), so it reads the grid once; slabs of
/// planes run on all cores, their boundary planes updated before and after (see
/// ``sweep(first:fromZero:)``).
///
/// Used only where the level's links join face neighbours (no periodic wrap), where it fills at
/// least a sixth of its padded box, and where it is large enough to be worth it.
final class StructuredLevel: @unchecked Sendable {
    let nz: Int, ny: Int, nx: Int
    /// Padded extents: one zero plane and row on each side, 8 zero voxels before each row and at
    /// least 8 after it, rows a multiple of 8 long (aligned SIMD8 loads at x = 0, 8, 16, …).
    let planeStride: Int, rowStride: Int, paddedCount: Int
    let gz: Float, gy: Float, gx: Float
    /// Per-voxel link conductances to the +z, +y, +x neighbour; nil when uniform.
    let linkZ: UnsafeMutablePointer<Float>?, linkY: UnsafeMutablePointer<Float>?, linkX: UnsafeMutablePointer<Float>?
    /// 1 / diagonal on the unknowns, 0 everywhere else.
    let inverseDiagonal: UnsafeMutablePointer<Float>
    let x: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>
    /// Grid index of each compact unknown.
    let gridIndex: UnsafeMutablePointer<Int32>
    let unknowns: Int
    /// Coarse compact row of each 2×2×2 block (−1: no unknown in it), when the next level is
    /// compact; blocks in (z, y, x) order with `blockRowStride` per row.
    private(set) var blockAggregate: UnsafeMutablePointer<Int32>?
    var blockPlanes: Int { (nz + 1) / 2 }
    var blockRows: Int { (ny + 1) / 2 }
    var blockRowStride: Int { (rowStride - 16) / 2 }

    static let minimumUnknowns = 32_768

    /// Work vectors of the K-cycle on this level (see ``MultigridHierarchy``): the right-hand
    /// side, the first correction and the products of both corrections with A.
    private(set) var krylov: (rhs: UnsafeMutablePointer<Float>, first: UnsafeMutablePointer<Float>,
                              firstProduct: UnsafeMutablePointer<Float>, secondProduct: UnsafeMutablePointer<Float>)?

    /// - Parameters:
    ///   - minimumUnknowns: smaller levels stay compact (a grid's parallel passes cost more
    ///     than they save there).
    ///   - extents: the grid's (nz, ny, nx); nil: from the level's coordinates.
    init?(_ level: DiffusionLevel, minimumUnknowns: Int = StructuredLevel.minimumUnknowns, extents: (Int, Int, Int)?) {
        guard level.count >= minimumUnknowns else { return nil }
        let count = level.count
        nonisolated(unsafe) let coordinates = level.coordinates, neighbours = level.neighbours
        nonisolated(unsafe) let diagonal = level.diagonal, links = level.links
        let chunks = Parallel.threadCount * 4
        if let extents { (nz, ny, nx) = extents } else {
            let extents: [SIMD3<Int32>] = Parallel.mapChunks(count: count, chunks: chunks) { range in
                var e = SIMD3<Int32>(repeating: 0)
                for u in range { let c = coordinates[u]; e = pointwiseMax(e, SIMD3(c.0, c.1, c.2)) }
                return e
            }
            let extent = extents.reduce(SIMD3<Int32>(repeating: 0)) { pointwiseMax($0, $1) }
            nz = Int(extent[0]) + 1; ny = Int(extent[1]) + 1; nx = Int(extent[2]) + 1
        }
        let roundedX = (nx + 7) / 8 * 8
        rowStride = 8 + roundedX + 8
        planeStride = (ny + 2) * rowStride
        paddedCount = (nz + 2) * planeStride
        guard paddedCount < Int(Int32.max), count * 6 >= paddedCount else { return nil }
        unknowns = count
        let (nz, ny, nx, rowStride, planeStride) = (nz, ny, nx, rowStride, planeStride)
        nonisolated(unsafe) let gridIndex = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        let inside = Parallel.mapChunks(count: count, chunks: chunks) { range in
            for u in range {
                let c = coordinates[u]
                guard c.0 >= 0, c.1 >= 0, c.2 >= 0, Int(c.0) < nz, Int(c.1) < ny, Int(c.2) < nx else { return false }
                let z = Int(c.0) + 1, y = Int(c.1) + 1
                gridIndex[u] = Int32(z * planeStride + y * rowStride + 8 + Int(c.2))
            }
            return true
        }.allSatisfy { $0 }
        guard inside else { gridIndex.deallocate(); return nil }
        // Every link must join face neighbours on the grid (a periodic wrap does not). With one
        // conductance per axis, every face neighbour that is an unknown must also be linked (the
        // grid stencil couples them all); with stored links a missing one is a zero conductance.
        let words = (paddedCount + 63) / 64
        nonisolated(unsafe) let occupied = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        occupied.initialize(repeating: 0, count: words)
        defer { occupied.deallocate() }
        for u in 0..<count { let i = Int(gridIndex[u]); occupied[i >> 6] |= 1 << UInt64(i & 63) }
        let uniform = links == nil
        let geometric = Parallel.mapChunks(count: count, chunks: chunks) { range in
            let offsets: [Int] = [-planeStride, planeStride, -rowStride, rowStride, -1, 1]
            for u in range {
                let i = Int(gridIndex[u])
                for s in 0..<6 {
                    let v = neighbours[u * 6 + s], j = i + offsets[s]
                    if v >= 0 {
                        if Int(gridIndex[Int(v)]) != j { return false }
                    } else if uniform && occupied[j >> 6] & (1 << UInt64(j & 63)) != 0 { return false }
                }
            }
            return true
        }.allSatisfy { $0 }
        guard geometric else { gridIndex.deallocate(); return nil }
        self.gridIndex = gridIndex
        (gz, gy, gx) = (Float(level.uniform.0), Float(level.uniform.1), Float(level.uniform.2))
        let paddedCount = paddedCount
        func zeros() -> UnsafeMutablePointer<Float> { Self.zeroGrid(paddedCount) }
        nonisolated(unsafe) let inverse = zeros()
        inverseDiagonal = inverse; x = zeros(); b = zeros()
        if uniform {
            (linkZ, linkY, linkX) = (nil, nil, nil)
        } else {
            nonisolated(unsafe) let (lz, ly, lx) = (zeros(), zeros(), zeros())
            (linkZ, linkY, linkX) = (lz, ly, lx)
            Parallel.forEachChunk(count: count, minimumChunk: 65_536) { range in
                for u in range {
                    let i = Int(gridIndex[u]), l = links! + u * 6
                    lz[i] = Float(l[1]); ly[i] = Float(l[3]); lx[i] = Float(l[5])
                }
            }
        }
        Parallel.forEachChunk(count: count, minimumChunk: 65_536) { range in
            for u in range { inverse[Int(gridIndex[u])] = Float(1 / diagonal[u]) }
        }
    }

    /// 1 / diagonal from the level's (changed) diagonal.
    func updateInverseDiagonal(from level: DiffusionLevel) {
        nonisolated(unsafe) let (diagonal, inverse, index) = (level.diagonal, inverseDiagonal, gridIndex)
        Parallel.forEachChunk(count: unknowns, minimumChunk: 65_536) { range in
            for u in range { inverse[Int(index[u])] = Float(1 / diagonal[u]) }
        }
    }

    /// Records the compact coarse level's row of each block (for a compact next level).
    func attach(compactCoarse coarse: DiffusionLevel) {
        let blocks = blockPlanes * blockRows * blockRowStride
        let map = UnsafeMutablePointer<Int32>.allocate(capacity: blocks)
        map.initialize(repeating: -1, count: blocks)
        for a in 0..<coarse.count {
            let c = coarse.coordinates[a]
            map[(Int(c.0) * blockRows + Int(c.1)) * blockRowStride + Int(c.2)] = Int32(a)
        }
        blockAggregate?.deallocate()
        blockAggregate = map
    }

    func allocateKrylovVectors() {
        guard krylov == nil else { return }
        krylov = (Self.zeroGrid(paddedCount), Self.zeroGrid(paddedCount), Self.zeroGrid(paddedCount), Self.zeroGrid(paddedCount))
    }

    /// A zeroed grid array (zeroed on all cores: first touch of the pages is most of its cost).
    private static func zeroGrid(_ count: Int) -> UnsafeMutablePointer<Float> {
        nonisolated(unsafe) let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
        Parallel.forEachChunk(count: count, minimumChunk: 1 << 20) { range in
            (p + range.lowerBound).initialize(repeating: 0, count: range.count)
        }
        return p
    }

    deinit {
        if let k = krylov { k.rhs.deallocate(); k.first.deallocate(); k.firstProduct.deallocate(); k.secondProduct.deallocate() }
        gridIndex.deallocate(); inverseDiagonal.deallocate(); x.deallocate(); b.deallocate(); blockAggregate?.deallocate()
        linkZ?.deallocate(); linkY?.deallocate(); linkX?.deallocate()
    }

    typealias Vector = SIMD8<Float>
    private static let evenLanes = SIMD8<Int32>(0, 1, 0, 1, 0, 1, 0, 1) .== 0

    @inline(__always) private static func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> Vector {
        UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
    }
    @inline(__always) private static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self)
    }
    @inline(__always) func rowStart(_ z: Int, _ y: Int) -> Int { (z + 1) * planeStride + (y + 1) * rowStride + 8 }

    /// b + Σ g·x over the six neighbours, for the eight voxels from grid index i.
    @inline(__always) private func neighbourSum(_ i: Int) -> Vector { Self.load(b, i) + offDiagonal(x, i) }

    /// Σ g·v over the six neighbours, for the eight voxels from grid index i.
    @inline(__always) private func offDiagonal(_ v: UnsafeMutablePointer<Float>, _ i: Int) -> Vector {
        if let lz = linkZ, let ly = linkY, let lx = linkX {
            var s = Self.load(lx, i) * Self.load(v, i + 1) + Self.load(lx, i - 1) * Self.load(v, i - 1)
            s += Self.load(ly, i) * Self.load(v, i + rowStride) + Self.load(ly, i - rowStride) * Self.load(v, i - rowStride)
            s += Self.load(lz, i) * Self.load(v, i + planeStride) + Self.load(lz, i - planeStride) * Self.load(v, i - planeStride)
            return s
        }
        let sx = Self.load(v, i - 1) + Self.load(v, i + 1)
        let sy = Self.load(v, i - rowStride) + Self.load(v, i + rowStride)
        let sz = Self.load(v, i - planeStride) + Self.load(v, i + planeStride)
        return gx * sx + gy * sy + gz * sz
    }

    /// The Gauss–Seidel update of the voxels of one colour in plane z (the others keep their
    /// values). From a zero start the update is b / d and the other colour is set to 0.
    /// Each row is computed into a buffer first and then blended into x: storing a vector and
    /// loading x[i − 1] of the next one would overlap the store and stall store forwarding.
    private func relaxPlane(_ z: Int, colour: Int, fromZero: Bool) {
        let vectors = (rowStride - 16) / 8
        withUnsafeTemporaryAllocation(of: Vector.self, capacity: vectors) { buffer in
            let row = buffer.baseAddress!
            for y in 0..<ny {
                let start = rowStart(z, y)
                // Lanes start at an even x, so lane k has colour (z + y + k) mod 2.
                let mask = (z + y + colour) & 1 == 0 ? Self.evenLanes : .!Self.evenLanes
                if fromZero {
                    for k in 0..<vectors {
                        let i = start + 8 * k
                        let updated = Self.load(b, i) * Self.load(inverseDiagonal, i)
                        Self.store(Vector(repeating: 0).replacing(with: updated, where: mask), x, i)
                    }
                } else {
                    for k in 0..<vectors {
                        let i = start + 8 * k
                        row[k] = neighbourSum(i) * Self.load(inverseDiagonal, i)
                    }
                    for k in 0..<vectors {
                        let i = start + 8 * k
                        Self.store(Self.load(x, i).replacing(with: row[k], where: mask), x, i)
                    }
                }
            }
        }
    }

    /// A symmetric half of the smoother: every voxel of colour `first`, then every voxel of the
    /// other colour, fused plane by plane. Slab boundaries: the first colour of the two planes
    /// either side of each boundary is updated first (they read only the other colour, unchanged
    /// so far), then each slab runs its wavefront without writing its last plane's second colour
    /// (which reads the next slab's first plane), which is done last. No plane is read by one
    /// thread while another writes it.
    func sweep(first: Int, fromZero: Bool) {
        let slabs = Parallel.chunkRanges(count: nz, minimumChunk: 4)
        let second = 1 - first
        let boundaries = slabs.dropFirst().map(\.lowerBound)
        if !boundaries.isEmpty {
            DispatchQueue.concurrentPerform(iterations: boundaries.count) { k in
                relaxPlane(boundaries[k] - 1, colour: first, fromZero: fromZero)
                relaxPlane(boundaries[k], colour: first, fromZero: fromZero)
            }
        }
        let work: @Sendable (Range<Int>) -> Void = { slab in
            let (s, e) = (slab.lowerBound, slab.upperBound)
            for z in s..<e {
                let done = (z == s && s > 0) || (z == e - 1 && e < self.nz)
                if !done { self.relaxPlane(z, colour: first, fromZero: fromZero) }
                if z > s { self.relaxPlane(z - 1, colour: second, fromZero: false) }
            }
            if e == self.nz { self.relaxPlane(e - 1, colour: second, fromZero: false) }
        }
        if slabs.count == 1 { work(slabs[0]) } else { DispatchQueue.concurrentPerform(iterations: slabs.count) { work(slabs[$0]) } }
        if !boundaries.isEmpty {
            DispatchQueue.concurrentPerform(iterations: boundaries.count) { k in
                relaxPlane(boundaries[k] - 1, colour: second, fromZero: false)
            }
        }
    }

    /// The residual b − A·x summed over each 2×2×2 block (the restriction Pᵀ of piecewise-constant
    /// aggregation), in one pass, into the next level's grid right-hand side or, when that level
    /// is compact, its rows; block layers run in parallel.
    func restrictResidual(toGrid coarse: StructuredLevel?, orRows coarseRHS: UnsafeMutablePointer<Double>?) {
        nonisolated(unsafe) let cb = coarseRHS
        let vectors = (rowStride - 16) / 8
        Parallel.forEachChunk(count: blockPlanes, minimumChunk: 1) { range in
            withUnsafeTemporaryAllocation(of: Vector.self, capacity: vectors) { buffer in
                let sums = buffer.baseAddress!
                for bz in range {
                    for by in 0..<self.blockRows {
                        sums.update(repeating: Vector(repeating: 0), count: vectors)
                        // One row at a time (few concurrent memory streams), summed per block row.
                        for dz in 0..<2 where 2 * bz + dz < self.nz {
                            for dy in 0..<2 where 2 * by + dy < self.ny {
                                let start = self.rowStart(2 * bz + dz, 2 * by + dy)
                                for k in 0..<vectors {
                                    let g = start + 8 * k
                                    let inverse = Self.load(self.inverseDiagonal, g)
                                    let residual = self.neighbourSum(g) - Self.load(self.x, g) / inverse
                                    sums[k] += Vector(repeating: 0).replacing(with: residual, where: inverse .> 0)
                                }
                            }
                        }
                        if let coarse {
                            // Blocks beyond the coarse row's extent hold 0 (masked lanes) and land
                            // in its zero padding.
                            let target = coarse.b + coarse.rowStart(bz, by)
                            for k in 0..<vectors {
                                let sum = sums[k]
                                for j in 0..<4 { target[4 * k + j] = sum[2 * j] + sum[2 * j + 1] }
                            }
                        } else if let cb, let map = self.blockAggregate {
                            let blockRow = (bz * self.blockRows + by) * self.blockRowStride
                            for k in 0..<vectors {
                                let sum = sums[k]
                                for j in 0..<4 {
                                    let a = map[blockRow + 4 * k + j]
                                    if a >= 0 { cb[Int(a)] = Double(sum[2 * j] + sum[2 * j + 1]) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// x += α · (the coarse correction of the voxel's block), on the unknowns; the correction
    /// from the next level's grid or, when that level is compact, its rows.
    func prolong(fromGrid coarse: StructuredLevel?, orRows coarseSolution: UnsafeMutablePointer<Double>?, overCorrection alpha: Double) {
        nonisolated(unsafe) let cx = coarseSolution
        let vectors = (rowStride - 16) / 8
        let scale = Float(alpha)
        Parallel.forEachChunk(count: nz, minimumChunk: 2) { range in
            for z in range {
                for y in 0..<self.ny {
                    let start = self.rowStart(z, y)
                    let source = coarse.map { $0.x + $0.rowStart(z >> 1, y >> 1) }
                    let blockRow = ((z >> 1) * self.blockRows + (y >> 1)) * self.blockRowStride
                    for k in 0..<vectors {
                        var correction = Vector(repeating: 0)
                        for j in 0..<4 {
                            var value: Float = 0
                            if let source { value = scale * source[4 * k + j] } else if let cx, let map = self.blockAggregate {
                                let a = map[blockRow + 4 * k + j]
                                if a >= 0 { value = Float(alpha * cx[Int(a)]) }
                            }
                            correction[2 * j] = value; correction[2 * j + 1] = value
                        }
                        let g = start + 8 * k
                        let current = Self.load(self.x, g)
                        Self.store(current.replacing(with: current + correction, where: Self.load(self.inverseDiagonal, g) .> 0), self.x, g)
                    }
                }
            }
        }
    }

    /// out = A·v on the unknowns (0 elsewhere); v must be 0 off the unknowns.
    func multiply(_ v: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (v, out) = (v, out)
        let vectors = (rowStride - 16) / 8
        Parallel.forEachChunk(count: nz, minimumChunk: 2) { range in
            for z in range {
                for y in 0..<self.ny {
                    let start = self.rowStart(z, y)
                    for k in 0..<vectors {
                        let i = start + 8 * k
                        let inverse = Self.load(self.inverseDiagonal, i)
                        let product = Self.load(v, i) / inverse - self.offDiagonal(v, i)
                        Self.store(Vector(repeating: 0).replacing(with: product, where: inverse .> 0), out, i)
                    }
                }
            }
        }
    }

    /// Σ a·b over the grid (both 0 off the unknowns), accumulated in double precision per row.
    func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) -> Double {
        nonisolated(unsafe) let (a, b) = (a, b)
        let vectors = (rowStride - 16) / 8
        return Parallel.mapChunks(count: nz, chunks: Parallel.chunkRanges(count: nz, minimumChunk: 2).count) { range in
            var total = 0.0
            for z in range {
                for y in 0..<self.ny {
                    let start = self.rowStart(z, y)
                    var row = Vector(repeating: 0)
                    for k in 0..<vectors { let i = start + 8 * k; row += Self.load(a, i) * Self.load(b, i) }
                    total += Double(row.sum())
                }
            }
            return total
        }.reduce(0, +)
    }

    /// out = α·a + β·b over the grid.
    func combine(_ alpha: Float, _ a: UnsafeMutablePointer<Float>, _ beta: Float, _ b: UnsafeMutablePointer<Float>,
                 into out: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (a, b, out) = (a, b, out)
        Parallel.forEachChunk(count: paddedCount, minimumChunk: 1 << 16) { range in
            for i in range { out[i] = alpha * a[i] + beta * b[i] }
        }
    }

    /// Compact rows onto the grid's right-hand side.
    func scatter(_ compact: UnsafeMutablePointer<Double>) {
        nonisolated(unsafe) let source = compact
        Parallel.forEachChunk(count: unknowns, minimumChunk: 65_536) { range in
            for u in range { self.b[Int(self.gridIndex[u])] = Float(source[u]) }
        }
    }

    /// The grid solution back to compact rows, returning its dot products with `first` and
    /// `second`.
    func gather(into compact: UnsafeMutablePointer<Double>, dotWith first: UnsafeMutablePointer<Double>,
                and second: UnsafeMutablePointer<Double>) -> (Double, Double) {
        nonisolated(unsafe) let (target, f, s) = (compact, first, second)
        return Parallel.mapChunks(count: unknowns, chunks: Parallel.chunkRanges(count: unknowns, minimumChunk: 65_536).count) { range in
            var (a, b) = (0.0, 0.0)
            for u in range { let v = Double(self.x[Int(self.gridIndex[u])]); target[u] = v; a += v * f[u]; b += v * s[u] }
            return SIMD2(a, b)
        }.reduce(SIMD2<Double>(0, 0), +).tuple
    }

    /// The grid solution back to compact rows.
    func gather(into compact: UnsafeMutablePointer<Double>) {
        nonisolated(unsafe) let target = compact
        Parallel.forEachChunk(count: unknowns, minimumChunk: 65_536) { range in
            for u in range { target[u] = Double(self.x[Int(self.gridIndex[u])]) }
        }
    }
}

private extension SIMD2 where Scalar == Double {
    var tuple: (Double, Double) { (self[0], self[1]) }
}
