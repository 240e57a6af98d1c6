import Dispatch
import LensCore
import Signal

/// One level of a 6-neighbour finite-volume diffusion system in compact storage: one row per
/// unknown, six neighbour slots (−z, +z, −y, +y, −x, +x; −1 where there is none), the link
/// conductance of each slot (uniform per axis on the finest level), the diagonal (links plus
/// conductances to fixed-concentration faces), the lattice coordinates (for coarsening and the
/// red–black colouring).
final class DiffusionLevel: @unchecked Sendable {
    let count: Int
    let neighbours: UnsafeMutablePointer<Int32>
    /// Per-slot conductances (coarse levels) or nil when `uniform` applies to every link.
    let links: UnsafeMutablePointer<Double>?
    let uniform: (Double, Double, Double)
    let diagonal: UnsafeMutablePointer<Double>
    let coordinates: UnsafeMutablePointer<(Int32, Int32, Int32)>

    init(count: Int, uniformConductance g: [Double]) {
        self.count = count
        neighbours = .allocate(capacity: count * 6); links = nil; uniform = (g[0], g[1], g[2])
        diagonal = .allocate(capacity: count); coordinates = .allocate(capacity: count)
    }

    init(coarseCount: Int) {
        count = coarseCount
        neighbours = .allocate(capacity: count * 6); neighbours.initialize(repeating: -1, count: count * 6)
        let l = UnsafeMutablePointer<Double>.allocate(capacity: count * 6); l.initialize(repeating: 0, count: count * 6)
        links = l; uniform = (0, 0, 0)
        diagonal = .allocate(capacity: count); diagonal.initialize(repeating: 0, count: count)
        coordinates = .allocate(capacity: count)
    }

    /// The same links with `diagonalShift` added to every diagonal entry (a storage term ω·V).
    init(copying base: DiffusionLevel, diagonalShift: Double) {
        precondition(!base.coordinatesReleased && !base.linksReleased, "copying a level whose structure was released")
        count = base.count
        neighbours = .allocate(capacity: count * 6); neighbours.update(from: base.neighbours, count: count * 6)
        if let baseLinks = base.links {
            let l = UnsafeMutablePointer<Double>.allocate(capacity: count * 6); l.update(from: baseLinks, count: count * 6); links = l
        } else { links = nil }
        uniform = base.uniform
        diagonal = .allocate(capacity: count)
        for u in 0..<count { diagonal[u] = base.diagonal[u] + diagonalShift }
        coordinates = .allocate(capacity: count); coordinates.update(from: base.coordinates, count: count)
    }

    /// What ``release(coordinates:links:)`` has freed (deinit frees the rest).
    private(set) var coordinatesReleased = false, linksReleased = false

    /// Frees the coordinates and optionally the neighbour slots and links once a hierarchy has
    /// no more use for them (a level smoothed on its grid keeps only its diagonal; the finest
    /// keeps its links for CG's products). Using them afterwards is a programming error.
    func release(coordinates releaseCoordinates: Bool, links releaseLinks: Bool) {
        if releaseCoordinates && !coordinatesReleased { coordinates.deallocate(); coordinatesReleased = true }
        if releaseLinks && !linksReleased { neighbours.deallocate(); links?.deallocate(); linksReleased = true }
    }

    deinit {
        if !linksReleased { neighbours.deallocate(); links?.deallocate() }
        if !coordinatesReleased { coordinates.deallocate() }
        diagonal.deallocate()
    }

    @inline(__always) func conductance(_ u: Int, _ slot: Int) -> Double {
        if let links { return links[u * 6 + slot] }
        return slot < 2 ? uniform.0 : slot < 4 ? uniform.1 : uniform.2
    }

    /// Σ_j g_uj x_j over the neighbours of row u.
    @inline(__always) func offDiagonal(_ u: Int, _ x: UnsafeMutablePointer<Double>) -> Double {
        let nb = neighbours + u * 6
        var sum = 0.0
        if let links {
            let l = links + u * 6
            for s in 0..<6 { let v = nb[s]; if v >= 0 { sum += l[s] * x[Int(v)] } }
        } else {
            let (gz, gy, gx) = uniform
            let n0 = nb[0], n1 = nb[1], n2 = nb[2], n3 = nb[3], n4 = nb[4], n5 = nb[5]
            var sz = 0.0, sy = 0.0, sx = 0.0
            if n0 >= 0 { sz += x[Int(n0)] }
            if n1 >= 0 { sz += x[Int(n1)] }
            if n2 >= 0 { sy += x[Int(n2)] }
            if n3 >= 0 { sy += x[Int(n3)] }
            if n4 >= 0 { sx += x[Int(n4)] }
            if n5 >= 0 { sx += x[Int(n5)] }
            sum = gz * sz + gy * sy + gx * sx
        }
        return sum
    }

    /// Σ_j g_uj x_j for a vector with count + 1 entries whose last one is 0: a missing
    /// neighbour (−1) reads that entry instead of being tested for, so the loop has no branch
    /// for the (unpredictable, in a porous phase) pattern of neighbours.
    @inline(__always) func offDiagonalPadded(_ u: Int, _ x: UnsafeMutablePointer<Double>) -> Double {
        let nb = neighbours + u * 6
        @inline(__always) func at(_ s: Int) -> Double { let v = Int(nb[s]); return x[v < 0 ? count : v] }
        if let links {
            let l = links + u * 6
            return l[0] * at(0) + l[1] * at(1) + l[2] * at(2) + l[3] * at(3) + l[4] * at(4) + l[5] * at(5)
        }
        return uniform.0 * (at(0) + at(1)) + uniform.1 * (at(2) + at(3)) + uniform.2 * (at(4) + at(5))
    }

    /// Red–black colour of row u (the 6-neighbour stencil couples only opposite colours).
    @inline(__always) func colour(_ u: Int) -> Int32 { let c = coordinates[u]; return (c.0 + c.1 + c.2) & 1 }
}

/// Aggregation multigrid for the diffusion system (piecewise-constant aggregation of 2×2×2
/// blocks, the Galerkin coarse operator Pᵀ A P, which is again a 6-neighbour Laplacian with
/// Dirichlet terms; Braess 1995, Notay 2010), used as the preconditioner of conjugate
/// gradients: one symmetric V-cycle with a red–black Gauss–Seidel sweep before (red, black)
/// and after (black, red) the coarse correction, and a dense Cholesky solve on the coarsest
/// level. Symmetric and positive definite. Levels that are voxel grids are smoothed there
/// (``StructuredLevel``), and the first coarse grid level runs a K-cycle (``kCycle(_:)``),
/// which makes the preconditioner vary slightly from step to step: the outer iteration is
/// flexible CG, which keeps CG's convergence for that (Notay 2000). The finest level may instead
/// be a bitmap of the phase (``BitmapLevel``, large single-phase volumes): `levels` then begin at
/// its first coarse level, and CG's product and the first smoothing run on the bitmap.
final class MultigridHierarchy: @unchecked Sendable {
    let levels: [DiffusionLevel]
    /// aggregate[l][u]: the row of level l + 1 that row u of level l belongs to.
    let aggregates: [UnsafeMutablePointer<Int32>]
    /// Children of each coarse row (CSR), for parallel restriction.
    let childStart: [UnsafeMutablePointer<Int>], children: [UnsafeMutablePointer<Int32>]
    private(set) var coarsestInverse: Matrix
    /// Work vectors per level: solution, right-hand side, residual.
    let x: [UnsafeMutablePointer<Double>], b: [UnsafeMutablePointer<Double>], r: [UnsafeMutablePointer<Double>]
    /// The rows of each red–black colour per level, so that a half-sweep touches only its rows.
    let colourRows: [[[Int32]]]
    /// The finest levels on their voxel grids, as far as they qualify (see ``StructuredLevel``):
    /// the V-cycle smooths and transfers there.
    let structured: [StructuredLevel]
    static let coarsestSize = 400
    /// Over-correction of the coarse-grid correction (Braess 1995; Blaheta 1986): piecewise-
    /// constant aggregates interpolate too flat a correction, so it is scaled by α. The V-cycle
    /// stays symmetric, and for α < 2 positive definite with an exact coarse solve. With α = 1.6
    /// the CG iterations on TauFactor's 256³ electrode fell from 55 to 30 (α from 1.3 to 1.9
    /// gave 30–40; a W-cycle gave 25 but took longer).
    static let overCorrection = 1.6

    /// - Parameter gridMinimumUnknowns: the smallest level smoothed on its grid
    ///   (``StructuredLevel``); `Int.max` keeps every level compact.
    ///   - coarseKrylov: the K-cycle on the first coarse grid level (see ``kCycle(_:)``); false
    ///     keeps the plain V-cycle (the same cycle as on compact levels, for comparison).
    ///   - diagonalShifts: keep what ``setDiagonalShift(_:)`` needs (the impedance sweep).
    convenience init(finest: DiffusionLevel, gridMinimumUnknowns: Int = StructuredLevel.minimumUnknowns, coarseKrylov: Bool = true,
                     diagonalShifts: Bool = false) {
        self.init(first: finest, bitmap: nil, gridMinimumUnknowns: gridMinimumUnknowns, coarseKrylov: coarseKrylov, diagonalShifts: diagonalShifts)
    }

    /// The hierarchy under a finest level stored as a bitmap (``BitmapLevel``): its Galerkin
    /// coarse level is built from the bitmap and must qualify as a grid (nil otherwise: the
    /// caller then builds the compact finest level, ``BitmapLevel/compactLevel()``).
    convenience init?(bitmap: BitmapLevel, gridMinimumUnknowns: Int = StructuredLevel.minimumUnknowns, coarseKrylov: Bool = true) {
        self.init(first: bitmap.coarsen(), bitmap: bitmap, gridMinimumUnknowns: gridMinimumUnknowns,
                  coarseKrylov: coarseKrylov, diagonalShifts: false)
        if structured.isEmpty { return nil }
    }

    /// The finest level when it is a bitmap; `levels`, `structured` and the rest then start at
    /// its first coarse level.
    let bitmap: BitmapLevel?

    private init(first: DiffusionLevel, bitmap: BitmapLevel?, gridMinimumUnknowns: Int, coarseKrylov: Bool, diagonalShifts: Bool) {
        self.bitmap = bitmap
        let firstExtents = bitmap.map { (($0.nz + 1) / 2, ($0.ny + 1) / 2, ($0.nx + 1) / 2) }
        var levels = [first]
        var aggregates: [UnsafeMutablePointer<Int32>] = [], childStart: [UnsafeMutablePointer<Int>] = [], children: [UnsafeMutablePointer<Int32>] = []
        // Grids from the finest level down, each with a coarser level below it, while they
        // qualify. Each is built as soon as its coarser level exists, and its compact structure
        // (all but the diagonal; the finest keeps its neighbour slots for CG's products) and the
        // maps for compact restriction are freed right away, so the compact levels and the grids
        // are never all held at once (TF-500, 500³, on the compact path: peak 7.3 → 6.4 GB; large
        // volumes now take the bitmap path, ``BitmapLevel``).
        var structured: [StructuredLevel] = []
        var gridsContinue = true
        while levels.last!.count > Self.coarsestSize && levels.count < 20 {
            let (coarse, aggregate, start, list) = Self.coarsen(levels.last!)
            if coarse.count == levels.last!.count { break }
            levels.append(coarse); aggregates.append(aggregate); childStart.append(start); children.append(list)
            let l = levels.count - 2
            guard gridsContinue && l == structured.count,
                  let grid = StructuredLevel(levels[l], minimumUnknowns: gridMinimumUnknowns,
                                             extents: structured.last.map { ($0.blockPlanes, $0.blockRows, ($0.nx + 1) / 2) } ?? firstExtents)
            else { gridsContinue = false; continue }
            structured.append(grid)
            levels[l].release(coordinates: true, links: l > 0 || bitmap != nil)
            start.deallocate(); list.deallocate()
        }
        self.levels = levels; self.aggregates = aggregates; self.childStart = childStart; self.children = children
        coarsestInverse = Self.inverse(of: levels.last!)
        structured.last?.attach(compactCoarse: levels[structured.count])
        // The K-cycle on the first coarse level only: it cut the CG iterations on TauFactor's
        // 256³ electrode from 30–32 to 17–23 (axes z, y, x) and on MATBOX's pore phase from
        // 46–53 to 27–32; K-cycles on the next grid level as well gave 23 on the first (the
        // single-precision inner products of nested cycles vary the preconditioner more).
        // (Under a bitmap finest level the first coarse level is levels[0].)
        let krylovLevel = bitmap == nil ? 1 : 0
        if coarseKrylov && structured.count > krylovLevel { structured[krylovLevel].allocateKrylovVectors() }
        self.structured = structured
        colourRows = levels.enumerated().map { index, l in
            if index < structured.count { return [[], []] }
            var rows: [[Int32]] = [[], []]
            rows[0].reserveCapacity(l.count / 2 + 1); rows[1].reserveCapacity(l.count / 2 + 1)
            for u in 0..<l.count { rows[Int(l.colour(u))].append(Int32(u)) }
            return rows
        }
        // Levels on grids work in the grids' own arrays: of their compact vectors only the
        // finest solution stays (the preconditioner's output, gathered from the grid), which
        // saves 16 bytes per finest unknown during the solve (600 MB on TF-500 on the compact
        // path).
        let gridLevels = structured.count
        x = levels.enumerated().map { l, level in .allocate(capacity: (l > 0 || bitmap != nil) && l < gridLevels ? 1 : level.count) }
        b = levels.enumerated().map { l, level in .allocate(capacity: l < gridLevels ? 1 : level.count) }
        r = levels.enumerated().map { l, level in .allocate(capacity: l < gridLevels ? 1 : level.count) }
        if diagonalShifts { shiftBase = Self.shiftBase(levels, aggregates) }
        for l in 0..<structured.count { aggregates[l].deallocate() }
        releasedMaps = structured.count
    }

    /// Aggregation maps freed after building (the first `releasedMaps` of each list; the
    /// children lists of grid levels as soon as the grid was built).
    private var releasedMaps = 0

    /// The dense inverse of a (small) level's matrix, for the exact solve at the bottom.
    static func inverse(of level: DiffusionLevel) -> Matrix {
        var dense = Matrix(rows: level.count, columns: level.count)
        for u in 0..<level.count {
            dense[u, u] = level.diagonal[u]
            for s in 0..<6 { let v = level.neighbours[u * 6 + s]; if v >= 0 { dense[u, Int(v)] -= level.conductance(u, s) } }
        }
        return dense.inverseSymmetricPositiveDefinite() ?? Matrix(rows: level.count, columns: level.count)
    }

    /// The unshifted diagonals of the levels and the number of finest unknowns in each row of
    /// the coarse levels (level 0's are all 1: left empty), for ``setDiagonalShift(_:)``.
    static func shiftBase(_ levels: [DiffusionLevel], _ aggregates: [UnsafeMutablePointer<Int32>]) -> (diagonals: [[Double]], sizes: [[Double]]) {
        var sizes: [[Double]] = [[Double](repeating: 1, count: levels[0].count)]
        for l in 1..<levels.count {
            var size = [Double](repeating: 0, count: levels[l].count)
            let fineSizes = sizes[l - 1], aggregate = aggregates[l - 1]
            for u in 0..<levels[l - 1].count { size[Int(aggregate[u])] += fineSizes[u] }
            sizes.append(size)
        }
        sizes[0] = []
        return (levels.map { Array(UnsafeBufferPointer(start: $0.diagonal, count: $0.count)) }, sizes)
    }

    /// The unshifted diagonals of the coarse levels and the number of finest unknowns in each
    /// of their rows, kept by ``setDiagonalShift(_:)``.
    private var shiftBase: (diagonals: [[Double]], sizes: [[Double]])?

    /// Adds `shift` to every diagonal entry of the finest level (A + shift·I, a storage term
    /// ω·V) and its Galerkin image Pᵀ(shift·I)P = shift·(aggregate size) to the coarse levels,
    /// in place: the hierarchy serves a frequency sweep without being rebuilt. Shifts replace
    /// one another (each is relative to the matrix the hierarchy was built from).
    func setDiagonalShift(_ shift: Double) {
        guard let base = shiftBase else { preconditionFailure("the hierarchy was built without diagonalShifts") }
        for (l, level) in levels.enumerated() {
            let diagonal = level.diagonal
            base.diagonals[l].withUnsafeBufferPointer { d in
                if l == 0 { for u in 0..<level.count { diagonal[u] = d[u] + shift } } else {
                    base.sizes[l].withUnsafeBufferPointer { size in for u in 0..<level.count { diagonal[u] = d[u] + shift * size[u] } }
                }
            }
            if l < structured.count { structured[l].updateInverseDiagonal(from: level) }
        }
        coarsestInverse = Self.inverse(of: levels.last!)
    }

    /// z = M⁻¹·source (one cycle), written to `target` (n entries), returning z·first and
    /// z·second. On grids the source is scattered straight onto the finest grid and the dot
    /// products taken while gathering z.
    func precondition(_ source: UnsafeMutablePointer<Double>, into target: UnsafeMutablePointer<Double>,
                      dotWith first: UnsafeMutablePointer<Double>, and second: UnsafeMutablePointer<Double>) -> (Double, Double) {
        if let bitmap {
            let n = bitmap.count
            nonisolated(unsafe) let (s, f, g, bb, z) = (source, first, second, bitmap.b, bitmap.x)
            Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { bb[u] = Float(s[u]) } }
            bitmapCycle(bitmap)
            let sums = Parallel.mapChunks(count: n, chunks: Parallel.chunkRanges(count: n, minimumChunk: 65_536).count) { range in
                var (a, c) = (0.0, 0.0)
                for u in range { let v = Double(z[u]); a += v * f[u]; c += v * g[u] }
                return SIMD2(a, c)
            }.reduce(SIMD2<Double>(0, 0), +)
            return (sums[0], sums[1])
        }
        if let grid = structured.first {
            grid.scatter(source)
            vCycle(0)
            return grid.gather(into: target, dotWith: first, and: second)
        }
        let n = levels[0].count
        nonisolated(unsafe) let (s, t, f, g, bb, xx) = (source, target, first, second, b[0], x[0])
        Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { bb[u] = s[u] } }
        vCycle(0)
        let sums = Parallel.mapChunks(count: n, chunks: Parallel.chunkRanges(count: n, minimumChunk: 65_536).count) { range in
            var (a, c) = (0.0, 0.0)
            for u in range { let z = xx[u]; t[u] = z; a += z * f[u]; c += z * g[u] }
            return SIMD2(a, c)
        }.reduce(SIMD2<Double>(0, 0), +)
        return (sums[0], sums[1])
    }

    deinit {
        for p in aggregates.dropFirst(releasedMaps) { p.deallocate() }
        for p in childStart.dropFirst(releasedMaps) { p.deallocate() }
        for p in children.dropFirst(releasedMaps) { p.deallocate() }
        for p in x + b + r { p.deallocate() }
    }

    /// Aggregates 2×2×2 blocks of `fine` into the rows of a coarser level.
    static func coarsen(_ fine: DiffusionLevel) -> (DiffusionLevel, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int32>) {
        let n = fine.count
        nonisolated(unsafe) let coordinates = fine.coordinates, aggregate = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        // Block grid of this level: half the extent of the coordinates, rounded up; and where
        // each block plane's rows begin (rows run in non-decreasing z on every level: the finest
        // in (z, y, x) order, coarse ones in block order). The work then runs in parallel over
        // slabs of block planes, each owning its fine rows and its coarse rows.
        var extent: (Int32, Int32, Int32) = (0, 0, 0)
        var monotone = true
        for u in 0..<n {
            let c = coordinates[u]
            if c.0 < extent.0 { monotone = false }
            extent = (max(extent.0, c.0), max(extent.1, c.1), max(extent.2, c.2))
        }
        let (bz, by, bx) = (Int(extent.0 >> 1) + 1, Int(extent.1 >> 1) + 1, Int(extent.2 >> 1) + 1)
        var planeStart = [Int](repeating: n, count: bz + 1)
        if monotone { for u in stride(from: n - 1, through: 0, by: -1) { planeStart[Int(coordinates[u].0 >> 1)] = u } }
        for p in stride(from: bz - 1, through: 0, by: -1) { planeStart[p] = min(planeStart[p], planeStart[p + 1]) }
        // Not in z order (no level built here is): one slab.
        let slabs = monotone ? Parallel.chunkRanges(count: bz, minimumChunk: 1) : [0..<bz]
        let rowRanges = monotone ? slabs.map { planeStart[$0.lowerBound]..<planeStart[$0.upperBound] } : [0..<n]
        @Sendable @inline(__always) func key(_ c: (Int32, Int32, Int32)) -> Int { (Int(c.0 >> 1) * by + Int(c.1 >> 1)) * bx + Int(c.2 >> 1) }
        func parallel(_ body: @Sendable (Range<Int>) -> Void) {
            if rowRanges.count == 1 { body(rowRanges[0]) } else { DispatchQueue.concurrentPerform(iterations: rowRanges.count) { body(rowRanges[$0]) } }
        }
        // Occupied blocks, numbered in block order (z, y, x).
        nonisolated(unsafe) let blockIndex = UnsafeMutablePointer<Int32>.allocate(capacity: bz * by * bx)
        blockIndex.initialize(repeating: -1, count: bz * by * bx)
        defer { blockIndex.deallocate() }
        parallel { rows in for u in rows { blockIndex[key(coordinates[u])] = 0 } }
        var coarseCount = 0
        for k in 0..<(bz * by * bx) where blockIndex[k] >= 0 { blockIndex[k] = Int32(coarseCount); coarseCount += 1 }
        let coarse = DiffusionLevel(coarseCount: coarseCount)
        for k in 0..<(bz * by * bx) where blockIndex[k] >= 0 {
            coarse.coordinates[Int(blockIndex[k])] = (Int32(k / (by * bx)), Int32((k / bx) % by), Int32(k % bx))
        }
        parallel { rows in for u in rows { aggregate[u] = blockIndex[key(coordinates[u])] } }
        // Children of each coarse row (CSR); a slab's coarse rows get children from it alone.
        nonisolated(unsafe) let start = UnsafeMutablePointer<Int>.allocate(capacity: coarseCount + 1)
        start.initialize(repeating: 0, count: coarseCount + 1)
        parallel { rows in for u in rows { start[Int(aggregate[u]) + 1] += 1 } }
        for i in 0..<coarseCount { start[i + 1] += start[i] }
        nonisolated(unsafe) let list = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        nonisolated(unsafe) let fill = UnsafeMutablePointer<Int>.allocate(capacity: max(coarseCount, 1))
        fill.initialize(repeating: 0, count: max(coarseCount, 1))
        defer { fill.deallocate() }
        parallel { rows in for u in rows { let a = Int(aggregate[u]); list[start[a] + fill[a]] = Int32(u); fill[a] += 1 } }
        // The Galerkin coarse operator PᵀAP: links between aggregates summed, links inside one
        // folded into its diagonal.
        nonisolated(unsafe) let (neighbours, links, diagonal) = (coarse.neighbours, coarse.links!, coarse.diagonal)
        parallel { rows in
            for u in rows {
                let a = Int(aggregate[u])
                var d = fine.diagonal[u]
                for s in 0..<6 {
                    let v = fine.neighbours[u * 6 + s]
                    guard v >= 0 else { continue }
                    let g = fine.conductance(u, s)
                    let b = aggregate[Int(v)]
                    if Int(b) == a { d -= g } else {
                        neighbours[a * 6 + s] = b
                        links[a * 6 + s] += g
                    }
                }
                diagonal[a] += d
            }
        }
        return (coarse, aggregate, start, list)
    }

    /// One Gauss–Seidel half-sweep over the rows of one colour (parallel: a colour's rows only
    /// read the other colour).
    func relax(_ level: Int, colour: Int32) {
        let l = levels[level]
        nonisolated(unsafe) let (xx, bb) = (x[level], b[level])
        colourRows[level][Int(colour)].withUnsafeBufferPointer { rows in
            nonisolated(unsafe) let rows = rows
            Parallel.forEachChunk(count: rows.count, minimumChunk: 16_384) { range in
                for k in range {
                    let u = Int(rows[k])
                    xx[u] = (bb[u] + l.offDiagonal(u, xx)) / l.diagonal[u]
                }
            }
        }
    }

    /// x[level] ≈ A⁻¹ b[level] by one V-cycle from zero; on a grid level, the grid's x from its
    /// b (the caller scatters and gathers the finest).
    func vCycle(_ level: Int) {
        let l = levels[level]
        nonisolated(unsafe) let xx = x[level]
        if level == levels.count - 1 {
            let n = l.count, bb = b[level]
            for i in 0..<n { var s = 0.0; for j in 0..<n { s += coarsestInverse[i, j] * bb[j] }; xx[i] = s }
            return
        }
        if level < structured.count {
            let grid = structured[level]
            let coarseGrid = level + 1 < structured.count ? structured[level + 1] : nil
            grid.sweep(first: 0, fromZero: true)
            grid.restrictResidual(toGrid: coarseGrid, orRows: coarseGrid == nil ? b[level + 1] : nil)
            if coarseGrid != nil { kCycle(level + 1) } else { vCycle(level + 1) }
            grid.prolong(fromGrid: coarseGrid, orRows: coarseGrid == nil ? x[level + 1] : nil, overCorrection: Self.overCorrection)
            grid.sweep(first: 1, fromZero: false)
            return
        }
        xx.update(repeating: 0, count: l.count)
        relax(level, colour: 0); relax(level, colour: 1)
        nonisolated(unsafe) let (bb, rr, cb) = (b[level], r[level], b[level + 1])
        Parallel.forEachChunk(count: l.count, minimumChunk: 32_768) { range in
            for u in range { rr[u] = bb[u] - (l.diagonal[u] * xx[u] - l.offDiagonal(u, xx)) }
        }
        let start = childStart[level], list = children[level]
        nonisolated(unsafe) let (st, ch) = (start, list)
        Parallel.forEachChunk(count: levels[level + 1].count, minimumChunk: 8192) { range in
            for c in range { var s = 0.0; for k in st[c]..<st[c + 1] { s += rr[Int(ch[k])] }; cb[c] = s }
        }
        vCycle(level + 1)
        nonisolated(unsafe) let (cx, agg) = (x[level + 1], aggregates[level])
        let alpha = Self.overCorrection
        Parallel.forEachChunk(count: l.count, minimumChunk: 32_768) { range in
            for u in range { xx[u] += alpha * cx[Int(agg[u])] }
        }
        relax(level, colour: 1); relax(level, colour: 0)
    }

    /// The coarse correction on grid level `level` ≥ 1 by the K-cycle (Notay & Vassilevski 2008):
    /// two V-cycles at this level accelerated by two steps of flexible CG, c = α₁c₁ + α₂c₂ with
    /// c₁ = B r and c₂ = B r̃, r̃ = r − (c₁ᵀr / c₁ᵀAc₁)·Ac₁, skipping the second when r̃ has fallen
    /// below a quarter of r. Piecewise-constant aggregates alone coarsen too roughly for a plain
    /// V-cycle to be level-independent; the Krylov steps restore that, so the outer CG needs
    /// fewer iterations for a cycle that costs little more (the coarse levels are small). The
    /// preconditioner is then no longer a fixed linear map, hence the flexible outer CG.
    /// Reads the grid's right-hand side b and leaves the correction in its x.
    func kCycle(_ level: Int) {
        let grid = structured[level]
        guard let work = grid.krylov else { vCycle(level); return }
        let (r, c1, v1, v2) = (work.rhs, work.first, work.firstProduct, work.secondProduct)
        grid.combine(1, grid.b, 0, grid.b, into: r)
        vCycle(level)
        grid.combine(1, grid.x, 0, grid.x, into: c1)
        grid.multiply(c1, into: v1)
        let rho1 = grid.dot(c1, v1), alpha1 = grid.dot(c1, r)
        guard rho1 > 0 else { return }
        grid.combine(1, r, Float(-alpha1 / rho1), v1, into: grid.b)
        if grid.dot(grid.b, grid.b) <= Self.kCycleThreshold * Self.kCycleThreshold * grid.dot(r, r) {
            grid.combine(Float(alpha1 / rho1), c1, 0, c1, into: grid.x)
            return
        }
        vCycle(level)
        grid.multiply(grid.x, into: v2)
        let gamma = grid.dot(grid.x, v1), beta = grid.dot(grid.x, v2), alpha2 = grid.dot(grid.x, grid.b)
        let rho2 = beta - gamma * gamma / rho1
        guard rho2 > 0 else { grid.combine(Float(alpha1 / rho1), c1, 0, c1, into: grid.x); return }
        grid.combine(Float(alpha1 / rho1 - gamma * alpha2 / (rho1 * rho2)), c1, Float(alpha2 / rho2), grid.x, into: grid.x)
    }

    /// One cycle on a bitmap finest level: its b to its x (see ``BitmapLevel``), the coarse
    /// correction from its first coarse level, a grid, by the K-cycle there.
    func bitmapCycle(_ bitmap: BitmapLevel) {
        bitmap.sweep(forward: true)
        bitmap.restrictResidual(to: structured[0])
        kCycle(0)
        bitmap.prolong(from: structured[0], overCorrection: Self.overCorrection)
        bitmap.sweep(forward: false)
    }

    /// The K-cycle's second step is skipped when the first leaves less than this fraction of the
    /// residual (Notay's t = 0.25).
    static let kCycleThreshold = 0.25

    /// One V-cycle applied to `v`: an approximation of A⁻¹v.
    func apply(_ v: [Double]) -> [Double] {
        if let bitmap {
            for u in 0..<bitmap.count { bitmap.b[u] = Float(v[u]) }
            bitmapCycle(bitmap)
            return (0..<bitmap.count).map { Double(bitmap.x[$0]) }
        }
        let n = levels[0].count
        if let grid = structured.first {
            var source = v
            source.withUnsafeMutableBufferPointer { grid.scatter($0.baseAddress!) }
            vCycle(0)
            grid.gather(into: x[0])
        } else {
            for u in 0..<n { b[0][u] = v[u] }
            vCycle(0)
        }
        return Array(UnsafeBufferPointer(start: x[0], count: n))
    }

    struct Outcome {
        var iterations: Int
        var relativeResidual: Double
        var converged: Bool
        /// The output's relative error at the end as ``OutputTail`` estimates it.
        var estimatedRelativeError: Double
        /// Σr and xᵀr of the final iterate, for the caller's corrected output.
        var correction: ResidualSums
    }

    /// The sums of the residual r = b − Ax that correct an output of the solution (see
    /// ``solve(rhs:solution:settings:progress:measure:)``).
    struct ResidualSums { var residual: Double; var solutionTimesResidual: Double }

    /// The error left in an output that converges monotonically — the adjoint-corrected output
    /// of a symmetric positive definite solve, whose error ±‖e_k‖²_A never grows, since every
    /// step of (flexible) CG is an exact line search in the energy norm — from its last
    /// decreases δ_k = |d_k − d_{k−1}|: the geometric tail Σ_{j>k} δ_j ≈ δ_k·ρ/(1 − ρ) with ρ the
    /// slower of the last two contraction ratios δ_k/δ_{k−1} and δ_{k−1}/δ_{k−2}, doubled for
    /// safety (the tail estimate of an extrapolated sequence, as in Aitken's; Meurant & Tichý
    /// 2019 estimate CG's energy error from the same terms). While the ratios do not show
    /// contraction (ρ ≥ 1) the estimate is infinite. On TauFactor's 256³ electrode the
    /// corrected D_eff read 6.8·10⁻⁶ / 3.0·10⁻⁶ / 1.3·10⁻⁶ from its limit after 8 / 9 / 10
    /// iterations with ratios 0.38–0.50; the tail estimate at 9 is 7.6·10⁻⁶, where the change
    /// over the last three iterations (the rule before) fell below 10⁻⁵ only at 11. In the
    /// first few iterations the contraction is faster than later (the smoother removes rough
    /// error first), so a loose tolerance reached there can be underestimated: at 10⁻⁴ the
    /// same solve stopped after 5 iterations with an estimate of 7.9·10⁻⁵ for an error of
    /// 9.1·10⁻⁵ (still within the tolerance).
    struct OutputTail {
        private var last: [Double] = []

        mutating func add(_ value: Double) {
            last.append(value)
            if last.count > 4 { last.removeFirst() }
        }

        /// The estimated error relative to the last output (∞ until four outputs are in).
        var relativeError: Double {
            guard last.count == 4, let d = last.last else { return .infinity }
            let deltas = (1..<4).map { abs(last[$0] - last[$0 - 1]) }
            if deltas[2] == 0 && deltas[1] == 0 { return 0 }
            guard deltas[1] > 0, deltas[0] > 0 else { return .infinity }
            let rho = Swift.max(deltas[2] / deltas[1], deltas[1] / deltas[0])
            guard rho < 1 else { return .infinity }
            return 2 * deltas[2] * rho / (1 - rho) / Swift.max(abs(d), .leastNormalMagnitude)
        }
    }

    /// Preconditioned (flexible) conjugate gradients in place on `solution`. `measure` returns
    /// the output the solve is for, corrected by the residual sums, and a balance reported
    /// alongside (it no longer decides convergence).
    ///
    /// Why corrected outputs: each caller's output is linear in x with weights w whose adjoint
    /// problem Aᵀy = w has a known solution — w = b (adjoint x*) for the inlet flux and the
    /// electrode's Σ s·u, w = the outlet conductances (adjoint 1 − x*, since A·1 is b plus
    /// them) for the outlet flux. The corrected output wᵀx + yᵀr, with y from the current x,
    /// then misses wᵀx* by ±eᵀAe = ±‖e‖²_A (Giles & Süli 2002's adjoint error correction;
    /// A is symmetric positive definite): quadratic in the error and one-signed, so the
    /// corrected output approaches its limit monotonically, and ``OutputTail`` estimates the
    /// error left from its last decreases. On TauFactor's 256³ electrode the corrected D_eff
    /// was within 1.3·10⁻⁶ after 10 iterations; the fluxes of the field itself needed 17 to
    /// balance to 10⁻⁵. Converged when that estimate is within `tolerance` of the output, or
    /// the residual falls to 10⁻¹⁴‖b‖. `rhs` holds the residual b − A·x on return (its storage
    /// is the residual's).
    func solve(rhs: UnsafeMutablePointer<Double>, solution: UnsafeMutablePointer<Double>, settings: Tortuosity.Settings,
               progress: ProgressReporter?, measure: (UnsafeMutablePointer<Double>, ResidualSums) -> (Double, Double)) -> Outcome {
        let n = bitmap?.count ?? levels[0].count
        let chunks = Parallel.chunkRanges(count: n, minimumChunk: 65_536).count
        nonisolated(unsafe) let bs = rhs
        func sum(_ body: @Sendable (Range<Int>) -> Double) -> Double { Parallel.mapChunks(count: n, chunks: chunks, body).reduce(0, +) }
        let bNorm = sum { range in var s = 0.0; for u in range { s += bs[u] * bs[u] }; return s }.squareRoot()
        // The residual is kept in the right-hand side's storage (one vector less: 300 MB on
        // TauFactor's 500³ cube). The direction has a trailing zero entry for the branch-free
        // product.
        let residual = rhs, direction = UnsafeMutablePointer<Double>.allocate(capacity: n + 1)
        direction[n] = 0
        let product = UnsafeMutablePointer<Double>.allocate(capacity: n)
        defer { direction.deallocate(); product.deallocate() }
        nonisolated(unsafe) let (rr, pp, qq, xs, z) = (residual, direction, product, solution, x[0])
        nonisolated(unsafe) let zBitmap = bitmap?.x
        func precondition() -> (Double, Double) { self.precondition(rr, into: z, dotWith: rr, and: qq) }
        /// q = A·p with pᵀq and pᵀr.
        func multiply() -> SIMD2<Double> {
            if let bitmap { let (pq, pr) = bitmap.multiply(pp, into: qq, dotWith: rr); return SIMD2(pq, pr) }
            let fine = levels[0]
            return Parallel.mapChunks(count: n, chunks: chunks) { range in
                var (pq, pr) = (0.0, 0.0)
                for u in range {
                    let q = fine.diagonal[u] * pp[u] - fine.offDiagonalPadded(u, pp)
                    qq[u] = q; pq += pp[u] * q; pr += pp[u] * rr[u]
                }
                return SIMD2(pq, pr)
            }.reduce(SIMD2<Double>(0, 0), +)
        }
        /// p = z + β·p.
        func updateDirection(_ beta: Double) {
            if let zBitmap {
                nonisolated(unsafe) let zBitmap = zBitmap
                Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { pp[u] = Double(zBitmap[u]) + beta * pp[u] } }
            } else {
                Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { pp[u] = z[u] + beta * pp[u] } }
            }
        }
        // r = b − A·x (A·x as the product with x copied into the direction).
        Parallel.forEachChunk(count: n, minimumChunk: 65_536) { range in for u in range { pp[u] = xs[u] } }
        _ = multiply()
        let initial = Parallel.mapChunks(count: n, chunks: chunks) { range in
            var (t, c) = (0.0, 0.0)
            for u in range {
                let r = bs[u] - qq[u]
                rr[u] = r; qq[u] = 0; t += r; c += xs[u] * r
            }
            return SIMD2(t, c)
        }.reduce(SIMD2<Double>(0, 0), +)
        var sums = ResidualSums(residual: initial[0], solutionTimesResidual: initial[1])
        _ = precondition()
        updateDirection(0)
        // The corrected outputs, for the estimate of the error left.
        var tail = OutputTail()
        tail.add(measure(solution, sums).0)
        var iteration = 0, converged = false, estimate = Double.infinity
        // Flexible CG with one direction kept (Notay 2000, FCG(1)): α = pᵀr / pᵀAp and
        // β = −zᵀAp / pᵀAp, the same as PCG for a fixed preconditioner and robust when the
        // K-cycle makes the preconditioner vary from step to step.
        while iteration < settings.maximumIterations {
            iteration += 1
            let products = multiply()
            let pq = products[0]
            guard pq > 0 else { break }
            let alpha = products[1] / pq
            let updated = Parallel.mapChunks(count: n, chunks: chunks) { range in
                var (t, c) = (0.0, 0.0)
                for u in range {
                    let x = xs[u] + alpha * pp[u], r = rr[u] - alpha * qq[u]
                    xs[u] = x; rr[u] = r; t += r; c += x * r
                }
                return SIMD2(t, c)
            }.reduce(SIMD2<Double>(0, 0), +)
            sums = ResidualSums(residual: updated[0], solutionTimesResidual: updated[1])
            // The convergence test every iteration, on the corrected output's estimated error
            // (the outputs are sums over the faces or the sources only).
            tail.add(measure(solution, sums).0)
            estimate = tail.relativeError
            progress?.advance(by: 1)
            if estimate < settings.tolerance { converged = true; break }
            if iteration % 3 == 0 {
                let r = sum { range in var s = 0.0; for u in range { s += rr[u] * rr[u] }; return s }.squareRoot() / bNorm
                if r < 1e-14 { converged = true; break }
            }
            updateDirection(-precondition().1 / pq)
        }
        let residualNorm = sum { range in var s = 0.0; for u in range { s += rr[u] * rr[u] }; return s }.squareRoot()
        let relative = bNorm > 0 ? residualNorm / bNorm : residualNorm
        // An exact solution (a uniform block: the first step, or the start, solves the system;
        // the search direction then vanishes) has converged, whatever the iteration count.
        if !converged && relative < 1e-12 { converged = true }
        return Outcome(iterations: iteration, relativeResidual: relative, converged: converged,
                       estimatedRelativeError: estimate.isFinite ? estimate : 0, correction: sums)
    }
}
