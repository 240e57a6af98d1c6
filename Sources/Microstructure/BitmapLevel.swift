import Dispatch
import LensCore

/// The finest level of a single-phase diffusion system (one conductance per axis, fixed faces
/// along one axis, no periodic wrap) stored as a bitmap of its unknowns on the voxel grid: one
/// bit per voxel, rows padded to whole 64-bit words, and the number of unknowns before each
/// word. An unknown's compact index is that count plus the set bits below it in its word (a
/// rank query, one popcount), so the six neighbours of every unknown are found from the bitmap
/// alone, and its diagonal (the conductances of its present links plus that of a fixed face)
/// from which neighbours are present.
///
/// Why: the compact level stores 24 bytes of neighbour indices, 12 of coordinates and 8 of
/// diagonal per unknown, and the voxel grids of ``StructuredLevel`` 12 bytes per voxel of the
/// box; on TauFactor's 500³ cube (37.5 M unknowns, ε = 0.30) they took 3.2 GB of a 6.4 GB run.
/// The bitmap takes 1/8 byte per voxel and 4 bytes per 64 voxels, and the V-cycle's own vectors
/// here are single precision and compact (8 bytes per unknown); the cube's three axes then run
/// in 2.6 GB. The price is scalar work per unknown instead of eight voxels per SIMD vector: on
/// TauFactor's 256³ electrode the command took 2.0 s against the grids' 1.5 s (on the 500³ cube
/// the two are level, 21–24 s for three axes, as the bitmap's assembly is cheaper). So
/// ``DiffusionSystem`` takes this level only where the grids would need more than 2 GiB (see
/// ``FinestLevelStorage``).
///
/// Its V-cycle part is the same as ``StructuredLevel``'s: red–black Gauss–Seidel in single
/// precision (a forward sweep red then black from zero, a backward sweep black then red), the
/// residual summed over 2×2×2 blocks into the next level's grid, the coarse correction copied
/// back with the over-correction α. CG's product is exact, in double precision.
final class BitmapLevel: @unchecked Sendable {
    let nz: Int, ny: Int, nx: Int
    let wordsPerRow: Int
    /// Bit x & 63 of word (z·ny + y)·wordsPerRow + x >> 6: voxel (z, y, x) is an unknown.
    let bits: UnsafeMutablePointer<UInt64>
    /// Unknowns before each word (one more entry than words: the total).
    let rank: UnsafeMutablePointer<Int32>
    let count: Int
    let gz: Double, gy: Double, gx: Double
    /// The axis of the fixed faces and their conductances (outlet 0 where it blocks).
    let axis: Int
    let inletConductance: Double, outletConductance: Double
    /// The diagonal by neighbour code (see ``code(_:_:_:_:_:)``) and its single-precision inverse.
    private let diagonalTable: [Double]
    private let inverseTable: [Float]
    /// The V-cycle's solution and right-hand side, compact, with a trailing 0 (the value read for
    /// a missing neighbour).
    let x: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>

    /// - Parameter unknownOf: per voxel in (z, y, x) order, the unknown's index (numbered in that
    ///   order) or −1.
    init(unknownOf: UnsafeBufferPointer<Int32>, count: Int, extents: (Int, Int, Int), conductance: (Double, Double, Double),
         axis: Int, inletConductance: Double, outletConductance: Double) {
        (nz, ny, nx) = extents
        self.count = count
        (gz, gy, gx) = conductance
        self.axis = axis
        self.inletConductance = inletConductance; self.outletConductance = outletConductance
        let wordsPerRow = (nx + 63) / 64
        self.wordsPerRow = wordsPerRow
        let rows = nz * ny, words = rows * wordsPerRow
        nonisolated(unsafe) let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        let rank = UnsafeMutablePointer<Int32>.allocate(capacity: words + 1)
        let nx = nx
        nonisolated(unsafe) let voxels = unknownOf
        Parallel.forEachChunk(count: rows, minimumChunk: 256) { range in
            for row in range {
                let w = bits + row * wordsPerRow
                w.initialize(repeating: 0, count: wordsPerRow)
                let start = row * nx
                for x in 0..<nx where voxels[start + x] >= 0 { w[x >> 6] |= 1 << UInt64(x & 63) }
            }
        }
        var total: Int32 = 0
        for k in 0..<words { rank[k] = total; total += Int32(bits[k].nonzeroBitCount) }
        rank[words] = total
        precondition(Int(total) == count, "the bitmap holds \(total) unknowns, the system \(count)")
        self.bits = bits; self.rank = rank
        var diagonal = [Double](repeating: 0, count: 81)
        for nzc in 0..<3 { for nyc in 0..<3 { for nxc in 0..<3 { for face in 0..<3 {
            let faceTerm = face == 1 ? inletConductance : face == 2 ? outletConductance : 0
            diagonal[((nzc * 3 + nyc) * 3 + nxc) * 3 + face] = gz * Double(nzc) + gy * Double(nyc) + gx * Double(nxc) + faceTerm
        } } } }
        diagonalTable = diagonal
        inverseTable = diagonal.map { $0 > 0 ? Float(1 / $0) : 0 }
        x = .allocate(capacity: count + 1); b = .allocate(capacity: count + 1)
        x.initialize(repeating: 0, count: count + 1); b.initialize(repeating: 0, count: count + 1)
    }

    deinit { bits.deallocate(); rank.deallocate(); x.deallocate(); b.deallocate() }

    /// The neighbours of one unknown: compact indices (`count`, the zero entry, where absent) and
    /// the code of its diagonal: present links per axis (0–2) and its fixed face (0 none,
    /// 1 inlet, 2 outlet).
    struct Neighbours {
        var zm: Int, zp: Int, ym: Int, yp: Int, xm: Int, xp: Int, code: Int
        /// The neighbour in slot −z, +z, −y, +y, −x, +x (0–5).
        @inline(__always) func slot(_ s: Int) -> Int {
            switch s { case 0: zm; case 1: zp; case 2: ym; case 3: yp; case 4: xm; default: xp }
        }
    }

    /// Calls `body(u, z, y, x, neighbours)` for the unknowns of planes `planes` (of one colour
    /// (z + y + x) mod 2 when `colour` is 0 or 1), in compact order.
    @inline(__always)
    func forEachUnknown(planes: Range<Int>, colour: Int?, _ body: (Int, Int, Int, Int, Neighbours) -> Void) {
        let planeWords = ny * wordsPerRow
        let padding = count
        let lastAlong = (axis == 0 ? nz : axis == 1 ? ny : nx) - 1
        for z in planes {
            for y in 0..<ny {
                let row = (z * ny + y) * wordsPerRow
                let hasZm = z > 0, hasZp = z < nz - 1, hasYm = y > 0, hasYp = y < ny - 1
                let selected: UInt64
                if let colour { selected = (colour - z - y) & 1 == 0 ? 0x5555_5555_5555_5555 : 0xAAAA_AAAA_AAAA_AAAA } else { selected = ~0 }
                for k in 0..<wordsPerRow {
                    let full = bits[row + k]
                    var word = full & selected
                    if word == 0 { continue }
                    let base = Int(rank[row + k])
                    let wzm = hasZm ? bits[row + k - planeWords] : 0, rzm = hasZm ? Int(rank[row + k - planeWords]) : 0
                    let wzp = hasZp ? bits[row + k + planeWords] : 0, rzp = hasZp ? Int(rank[row + k + planeWords]) : 0
                    let wym = hasYm ? bits[row + k - wordsPerRow] : 0, rym = hasYm ? Int(rank[row + k - wordsPerRow]) : 0
                    let wyp = hasYp ? bits[row + k + wordsPerRow] : 0, ryp = hasYp ? Int(rank[row + k + wordsPerRow]) : 0
                    // x − 1 of bit 0 is bit 63 of the previous word; x + 1 of bit 63 is bit 0 of the next.
                    let previous = k > 0 ? bits[row + k - 1] >> 63 : 0
                    let next = k + 1 < wordsPerRow ? bits[row + k + 1] << 63 : 0
                    let left = (full << 1) | previous, right = (full >> 1) | next
                    while word != 0 {
                        let t = word.trailingZeroBitCount
                        let bit: UInt64 = 1 << UInt64(t), below = bit &- 1
                        word &= word &- 1
                        let u = base + (full & below).nonzeroBitCount
                        let x = k << 6 + t
                        let pzm = wzm & bit != 0, pzp = wzp & bit != 0, pym = wym & bit != 0, pyp = wyp & bit != 0
                        let pxm = left & bit != 0, pxp = right & bit != 0
                        let along = axis == 0 ? z : axis == 1 ? y : x
                        let face = along == 0 ? 1 : along == lastAlong ? 2 : 0
                        let nzc = (pzm ? 1 : 0) + (pzp ? 1 : 0), nyc = (pym ? 1 : 0) + (pyp ? 1 : 0), nxc = (pxm ? 1 : 0) + (pxp ? 1 : 0)
                        let neighbours = Neighbours(
                            zm: pzm ? rzm + (wzm & below).nonzeroBitCount : padding,
                            zp: pzp ? rzp + (wzp & below).nonzeroBitCount : padding,
                            ym: pym ? rym + (wym & below).nonzeroBitCount : padding,
                            yp: pyp ? ryp + (wyp & below).nonzeroBitCount : padding,
                            xm: pxm ? u - 1 : padding, xp: pxp ? u + 1 : padding,
                            code: ((nzc * 3 + nyc) * 3 + nxc) * 3 + face)
                        body(u, z, y, x, neighbours)
                    }
                }
            }
        }
    }

    /// Slabs of planes for the parallel passes.
    private var slabs: [Range<Int>] { Parallel.chunkRanges(count: nz, minimumChunk: 2) }

    /// q = A·p with pᵀq and pᵀr, in double precision; p has count + 1 entries, the last 0.
    func multiply(_ p: UnsafeMutablePointer<Double>, into q: UnsafeMutablePointer<Double>, dotWith r: UnsafeMutablePointer<Double>) -> (Double, Double) {
        nonisolated(unsafe) let (p, q, r) = (p, q, r)
        let slabs = slabs
        let sums = Parallel.mapChunks(count: slabs.count, chunks: slabs.count) { chunk in
            var (pq, pr) = (0.0, 0.0)
            self.diagonalTable.withUnsafeBufferPointer { diagonal in
                for s in chunk {
                    self.forEachUnknown(planes: slabs[s], colour: nil) { u, _, _, _, n in
                        let off = self.gz * (p[n.zm] + p[n.zp]) + self.gy * (p[n.ym] + p[n.yp]) + self.gx * (p[n.xm] + p[n.xp])
                        let value = diagonal[n.code] * p[u] - off
                        q[u] = value; pq += p[u] * value; pr += p[u] * r[u]
                    }
                }
            }
            return SIMD2(pq, pr)
        }.reduce(SIMD2<Double>(0, 0), +)
        return (sums[0], sums[1])
    }

    /// One Gauss–Seidel pass over the unknowns of one colour (they read only the other colour,
    /// so the planes run in parallel).
    func relax(colour: Int) {
        nonisolated(unsafe) let (x, b) = (x, b)
        let (gz, gy, gx) = (Float(gz), Float(gy), Float(gx))
        let slabs = slabs
        DispatchQueue.concurrentPerform(iterations: slabs.count) { s in
            inverseTable.withUnsafeBufferPointer { inverse in
                forEachUnknown(planes: slabs[s], colour: colour) { u, _, _, _, n in
                    let sum = b[u] + gz * (x[n.zm] + x[n.zp]) + gy * (x[n.ym] + x[n.yp]) + gx * (x[n.xm] + x[n.xp])
                    x[u] = sum * inverse[n.code]
                }
            }
        }
    }

    /// The forward sweep from a zero start (red then black) or the backward sweep (black then red).
    func sweep(forward: Bool) {
        if forward { x.update(repeating: 0, count: count); relax(colour: 0); relax(colour: 1) } else { relax(colour: 1); relax(colour: 0) }
    }

    /// The residual b − A·x summed over each 2×2×2 block into the coarse grid's right-hand side
    /// (rows of whole block planes are cleared first; each slab of block planes is one task).
    func restrictResidual(to coarse: StructuredLevel) {
        nonisolated(unsafe) let (x, b, cb) = (x, b, coarse.b)
        let (gz, gy, gx) = (Float(gz), Float(gy), Float(gx))
        let blockPlanes = (nz + 1) / 2, blockRows = (ny + 1) / 2, width = coarse.rowStride - 16
        let diagonal = diagonalTable.map { Float($0) }
        Parallel.forEachChunk(count: blockPlanes, minimumChunk: 1) { range in
            for bz in range { for by in 0..<blockRows { (cb + coarse.rowStart(bz, by)).update(repeating: 0, count: width) } }
            diagonal.withUnsafeBufferPointer { diagonal in
                self.forEachUnknown(planes: 2 * range.lowerBound..<min(2 * range.upperBound, self.nz), colour: nil) { u, z, y, xi, n in
                    let off = gz * (x[n.zm] + x[n.zp]) + gy * (x[n.ym] + x[n.yp]) + gx * (x[n.xm] + x[n.xp])
                    cb[coarse.rowStart(z >> 1, y >> 1) + xi >> 1] += b[u] + off - diagonal[n.code] * x[u]
                }
            }
        }
    }

    /// x += α · (the coarse grid's correction of the unknown's block).
    func prolong(from coarse: StructuredLevel, overCorrection alpha: Double) {
        nonisolated(unsafe) let (x, cx) = (x, coarse.x)
        let scale = Float(alpha)
        let slabs = slabs
        DispatchQueue.concurrentPerform(iterations: slabs.count) { s in
            forEachUnknown(planes: slabs[s], colour: nil) { u, z, y, xi, _ in
                x[u] += scale * cx[coarse.rowStart(z >> 1, y >> 1) + xi >> 1]
            }
        }
    }

    /// The Galerkin coarse level PᵀAP of piecewise-constant aggregation over 2×2×2 blocks, in
    /// block order (z, y, x): links between blocks summed per direction, links inside a block
    /// folded into its diagonal (as ``MultigridHierarchy/coarsen(_:)`` does for compact levels).
    func coarsen() -> DiffusionLevel {
        let (bz, by, bx) = ((nz + 1) / 2, (ny + 1) / 2, (nx + 1) / 2)
        nonisolated(unsafe) let blockIndex = UnsafeMutablePointer<Int32>.allocate(capacity: bz * by * bx)
        blockIndex.initialize(repeating: -1, count: bz * by * bx)
        defer { blockIndex.deallocate() }
        let planeSlabs = Parallel.chunkRanges(count: bz, minimumChunk: 1)
        DispatchQueue.concurrentPerform(iterations: planeSlabs.count) { s in
            let range = planeSlabs[s]
            forEachUnknown(planes: 2 * range.lowerBound..<min(2 * range.upperBound, nz), colour: nil) { _, z, y, x, _ in
                blockIndex[((z >> 1) * by + (y >> 1)) * bx + x >> 1] = 0
            }
        }
        var coarseCount = 0
        for k in 0..<(bz * by * bx) where blockIndex[k] >= 0 { blockIndex[k] = Int32(coarseCount); coarseCount += 1 }
        let coarse = DiffusionLevel(coarseCount: coarseCount)
        for k in 0..<(bz * by * bx) where blockIndex[k] >= 0 {
            coarse.coordinates[Int(blockIndex[k])] = (Int32(k / (by * bx)), Int32((k / bx) % by), Int32(k % bx))
        }
        nonisolated(unsafe) let (neighbours, links, diagonal) = (coarse.neighbours, coarse.links!, coarse.diagonal)
        DispatchQueue.concurrentPerform(iterations: planeSlabs.count) { s in
            let range = planeSlabs[s]
            diagonalTable.withUnsafeBufferPointer { table in
                forEachUnknown(planes: 2 * range.lowerBound..<min(2 * range.upperBound, nz), colour: nil) { _, z, y, x, n in
                    let a = Int(blockIndex[((z >> 1) * by + (y >> 1)) * bx + x >> 1])
                    var d = table[n.code]
                    // The neighbours' blocks, slot by slot (−z, +z, −y, +y, −x, +x).
                    for slot in 0..<6 where n.slot(slot) != self.count {
                        let step = slot & 1 == 0 ? -1 : 1
                        let (cz, cy, cx) = slot < 2 ? (z + step, y, x) : slot < 4 ? (z, y + step, x) : (z, y, x + step)
                        let other = blockIndex[((cz >> 1) * by + (cy >> 1)) * bx + cx >> 1]
                        let g = slot < 2 ? self.gz : slot < 4 ? self.gy : self.gx
                        if Int(other) == a { d -= g } else {
                            neighbours[a * 6 + slot] = other
                            links[a * 6 + slot] += g
                        }
                    }
                    diagonal[a] += d
                }
            }
        }
        return coarse
    }

    /// The same system as a compact level (neighbour slots, coordinates, diagonal), where the
    /// bitmap's first coarse level is not a grid, and for tests.
    func compactLevel() -> DiffusionLevel {
        let level = DiffusionLevel(count: count, uniformConductance: [gz, gy, gx])
        nonisolated(unsafe) let (neighbours, diagonal, coordinates) = (level.neighbours, level.diagonal, level.coordinates)
        let slabs = slabs
        diagonalTable.withUnsafeBufferPointer { table in
            nonisolated(unsafe) let table = table
            DispatchQueue.concurrentPerform(iterations: slabs.count) { s in
                forEachUnknown(planes: slabs[s], colour: nil) { u, z, y, x, n in
                    for slot in 0..<6 { let v = n.slot(slot); neighbours[u * 6 + slot] = v == self.count ? -1 : Int32(v) }
                    diagonal[u] = table[n.code]
                    coordinates[u] = (Int32(z), Int32(y), Int32(x))
                }
            }
        }
        return level
    }
}
