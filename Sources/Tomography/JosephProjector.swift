import Foundation
import LensCore

/// Exact line integrals through a voxel volume for parallel-beam geometry, and the exact
/// adjoint (back projection with the same weights), by Joseph's method (P. M. Joseph, "An
/// improved algorithm for reprojecting rays through pixel images", IEEE TMI 1982): each ray
/// steps one voxel at a time along the axis it is most aligned with, interpolates linearly
/// between the two nearest voxels across it, and weights each step by the path length
/// 1/max(|cos θ|, |sin θ|). The volume is taken as piecewise linear between voxel centres and
/// zero outside.
///
/// Rays never mix z slices in parallel beam, so the volume is processed in chunks of 16
/// slices held as `SIMD16<Float>` columns: one interpolation updates 16 detector rows at once,
/// and each ray's position is computed once for all of them. A chunk is walked strip by strip
/// (32 rows or columns, ``stripLength``), which stays in the core's caches while all rays pass.
///
/// Units: volumes in 1/µm (attenuation), projections are dimensionless line integrals
/// (Σ μ · path length in µm), using the geometry's pixel size.
public struct JosephProjector: Sendable {
    public let geometry: ParallelBeamGeometry
    public let volumeShape: Shape

    /// Chunk columns, ray sums and ray values, kept from call to call (an iterative solver
    /// projects and back-projects every iteration; fresh pages would be zeroed each time).
    let scratch = ScratchPool()

    public init(geometry: ParallelBeamGeometry, volumeShape: Shape) throws {
        try geometry.validate(volumeShape: volumeShape)
        self.geometry = geometry
        self.volumeShape = volumeShape
    }

    /// Shape of the projection stack (angle, row, column).
    /// Slices processed together: one SIMD vector holds the same voxel of `lanes` slices.
    typealias Lanes = SIMD16<Float>
    var lanes: Int { Lanes.scalarCount }
    /// Slices per unit of work (one core's chunk): volumes of a multiple of this many slices
    /// per core keep every lane and every core busy.
    public static var slicesPerChunk: Int { Lanes.scalarCount }

    public var projectionShape: Shape { Shape(geometry.projectionCount, geometry.detectorRows, geometry.detectorColumns) }

    // MARK: Forward

    /// Line integrals of `volume` (z, y, x) for every angle: (angle, row, column).
    public func project(_ volume: Grid<Float>, progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> Grid<Float> {
        guard volume.shape == volumeShape else {
            throw LensError.invalidArgument("volume \(volume.shape) does not match the projector's \(volumeShape)")
        }
        var output = Grid<Float>(shape: projectionShape)
        let nz = volumeShape[0]
        let chunkCount = (nz + lanes - 1) / lanes
        let threads = Parallel.threadCount
        let angles = geometry.projectionCount
        try Parallel.withDisjointWrites(&output) { out in
            try Parallel.sharing(volume) { vol in
                if chunkCount >= threads {
                    try Parallel.forEachChunk(count: chunkCount, minimumChunk: 1, cancellation: cancellation) { chunks in
                        for c in chunks {
                            let columns = gatherChunk(vol, chunk: c)
                            defer { scratch.recycle(columns) }
                            Parallel.sharing(UnsafeBufferPointer(columns)) { projectChunk($0, chunk: c, angles: 0..<angles, into: out) }
                            progress?.advance(by: Swift.min(lanes, nz - c * lanes))
                        }
                    }
                } else {
                    for c in 0..<chunkCount {
                        let columns = gatherChunk(vol, chunk: c)
                        defer { scratch.recycle(columns) }
                        try Parallel.sharing(UnsafeBufferPointer(columns)) { cols in
                            try Parallel.forEachChunk(count: angles, minimumChunk: 1, cancellation: cancellation) { range in
                                projectChunk(cols, chunk: c, angles: range, into: out)
                            }
                        }
                        progress?.advance(by: Swift.min(lanes, nz - c * lanes))
                    }
                }
            }
        }
        return applyRowShifts(output, adjoint: false)
    }

    /// The slices of chunk `c` as columns on the padded plane ((nx + 2) × (ny + 2), a zero
    /// border of one voxel): element ((y + 1)·(nx + 2) + x + 1) holds slices
    /// 16c…16c+15 at (y, x). The border lets the kernels read both interpolation neighbours of
    /// every step without bounds tests (a step's neighbours lie in −1…n, see ``stepRange``).
    func gatherChunk(_ vol: SharedReadBuffer<Float>, chunk c: Int) -> UnsafeMutableBufferPointer<Lanes> {
        let nz = volumeShape[0], ny = volumeShape[1], nx = volumeShape[2]
        let plane = ny * nx, width = nx + 2
        let columns = scratch.buffer(of: Lanes.self, count: paddedPlane)
        columns.update(repeating: Lanes())
        for k in 0..<lanes {
            let z = c * lanes + k
            guard z < nz else { break }
            let base = z * plane
            for y in 0..<ny {
                let row = (y + 1) * width + 1, source = base + y * nx
                for x in 0..<nx { columns[row + x][k] = vol[source + x] }
            }
        }
        return columns
    }

    /// Elements of a padded plane (see ``gatherChunk(_:chunk:)``).
    var paddedPlane: Int { (volumeShape[1] + 2) * (volumeShape[2] + 2) }

    /// One ray's samples: along y (steps over rows) or along x, with start position and slope.
    struct Ray {
        var alongY: Bool
        /// Position across the stepping axis at step index `first`, and its increment per step.
        var position: Double
        var slope: Double
        var first: Int
        var last: Int        // inclusive; last < first means the ray misses the slice
        var weight: Float    // path length per step in µm
    }

    /// The samples of the ray for detector column `j` at angle `a`.
    @inline(__always)
    func ray(angle a: Int, column j: Int, cos c: Double, sin s: Double) -> Ray {
        let ny = volumeShape[1], nx = volumeShape[2]
        let cx = Double(nx - 1) / 2, cy = Double(ny - 1) / 2
        let u = Double(j) - geometry.axisColumn - geometry.shift(a).column
        let pixel = geometry.pixelSizeMicrometres
        if abs(c) >= abs(s) {
            // Points with (x − cx)c + (y − cy)s = u: x = cx + (u − (y − cy)s)/c, stepping y.
            let x0 = cx + (u + cy * s) / c
            // A slope of rounding size (sin 180° = 1.2e-16) is zero: its drift over the steps
            // could otherwise carry a ray sitting just inside the edge out of the slice.
            let dx = abs(s / c) < 1e-12 ? 0 : -s / c
            let (first, last) = stepRange(start: x0, slope: dx, steps: ny, extent: nx)
            return Ray(alongY: true, position: x0 + dx * Double(first), slope: dx, first: first, last: last, weight: Float(pixel / abs(c)))
        } else {
            let y0 = cy + (u + cx * c) / s
            let dy = abs(c / s) < 1e-12 ? 0 : -c / s
            let (first, last) = stepRange(start: y0, slope: dy, steps: nx, extent: ny)
            return Ray(alongY: false, position: y0 + dy * Double(first), slope: dy, first: first, last: last, weight: Float(pixel / abs(s)))
        }
    }

    /// Steps k in 0..<steps with start + slope·k strictly inside (−1, extent), where linear
    /// interpolation touches at least one voxel.
    @inline(__always)
    func stepRange(start: Double, slope: Double, steps: Int, extent: Int) -> (Int, Int) {
        let lo = -1.0, hi = Double(extent)
        var kMin = 0.0, kMax = Double(steps - 1)
        if abs(slope) < 1e-12 {
            if !(start > lo && start < hi) { return (0, -1) }
        } else {
            var a = (lo - start) / slope, b = (hi - start) / slope
            if a > b { swap(&a, &b) }
            kMin = Swift.max(kMin, (a + 1e-9).rounded(.up))
            kMax = Swift.min(kMax, (b - 1e-9).rounded(.down))
        }
        guard kMin <= kMax else { return (0, -1) }
        return (Int(kMin), Int(kMax))
    }

    /// Projects one chunk for `angles`. The slice plane is cut into strips of ``stripLength`` rows
    /// (for rays that step along y) or columns (rays stepping along x), which stay in the
    /// core's caches while every ray of every angle adds its partial sum through them; each
    /// ray's position and slope are computed once.
    func projectChunk(_ columns: SharedReadBuffer<Lanes>, chunk c: Int, angles: Range<Int>,
                      into out: DisjointWriteBuffer<Float>) {
        let ny = volumeShape[1], nx = volumeShape[2]
        let nz = volumeShape[0]
        let rows = geometry.detectorRows, cols = geometry.detectorColumns
        let zCount = Swift.min(lanes, nz - c * lanes)
        let rays: [Ray] = angles.flatMap { a -> [Ray] in
            let theta = geometry.anglesRadians[a]
            let cosT = cos(theta), sinT = -sin(theta)  // u = x cos θ − y sin θ (ParallelBeamGeometry)
            return (0..<cols).map { ray(angle: a, column: $0, cos: cosT, sin: sinT) }
        }
        let sums = scratch.buffer(of: Lanes.self, count: rays.count)
        sums.update(repeating: Lanes())
        defer { scratch.recycle(sums) }
        let (alongY, alongX) = PlaneWalk.walks(ny: ny, nx: nx)
        let strip = Self.stripLength
        rays.withUnsafeBufferPointer { rays in
            // Rays stepping along y, strip by strip of rows.
            for y0 in stride(from: 0, to: ny, by: strip) {
                let y1 = Swift.min(ny, y0 + strip) - 1
                for k in 0..<rays.count where rays[k].alongY {
                    let r = rays[k]
                    let lo = Swift.max(r.first, y0), hi = Swift.min(r.last, y1)
                    guard lo <= hi else { continue }
                    sums[k] += walkSum(columns, ray: r, from: lo, to: hi, walk: alongY, alongY: true)
                }
            }
            // Rays stepping along x, strip by strip of columns.
            for x0s in stride(from: 0, to: nx, by: strip) {
                let x1 = Swift.min(nx, x0s + strip) - 1
                for k in 0..<rays.count where !rays[k].alongY {
                    let r = rays[k]
                    let lo = Swift.max(r.first, x0s), hi = Swift.min(r.last, x1)
                    guard lo <= hi else { continue }
                    sums[k] += walkSum(columns, ray: r, from: lo, to: hi, walk: alongX, alongY: false)
                }
            }
            for (ai, a) in angles.enumerated() {
                for j in 0..<cols {
                    let k = ai * cols + j
                    let value = sums[k] * rays[k].weight
                    let base = (a * rows + c * lanes) * cols + j
                    for z in 0..<zCount { out[base + z * cols] = value[z] }
                }
            }
        }
    }

    // MARK: Adjoint

    /// The adjoint of ``project(_:progress:cancellation:)``: ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ to float
    /// precision. (Unfiltered back projection; FBP adds the ramp filter and scaling.)
    public func backProject(_ projections: Grid<Float>, progress: ProgressReporter? = nil,
                            cancellation: CancellationToken? = nil) throws -> Grid<Float> {
        guard projections.shape == projectionShape else {
            throw LensError.invalidArgument("projections \(projections.shape) do not match the geometry's \(projectionShape)")
        }
        let shifted = applyRowShifts(projections, adjoint: true)
        var volume = Grid<Float>(shape: volumeShape)
        let nz = volumeShape[0], plane = volumeShape[1] * volumeShape[2]
        let chunkCount = (nz + lanes - 1) / lanes
        let threads = Parallel.threadCount
        let angles = geometry.projectionCount
        try Parallel.withDisjointWrites(&volume) { vol in
            try Parallel.sharing(shifted) { proj in
                let (ny, nx) = (volumeShape[1], volumeShape[2])
                let padded = paddedPlane
                // The interior of a padded accumulator into the chunk's slices (the border
                // collected the weights of neighbours outside the slice, which are zero voxels).
                let scatter: @Sendable (Int, UnsafeMutableBufferPointer<Lanes>) -> Void = { c, columns in
                    for k in 0..<lanes {
                        let z = c * lanes + k
                        guard z < nz else { break }
                        for y in 0..<ny {
                            let row = (y + 1) * (nx + 2) + 1, target = z * plane + y * nx
                            for x in 0..<nx { vol[target + x] = columns[row + x][k] }
                        }
                    }
                }
                if chunkCount >= threads {
                    try Parallel.forEachChunk(count: chunkCount, minimumChunk: 1, cancellation: cancellation) { chunks in
                        for c in chunks {
                            let columns = scratch.buffer(of: Lanes.self, count: padded)
                            defer { scratch.recycle(columns) }
                            backProjectChunk(proj, chunk: c, angles: 0..<angles, into: columns)
                            scatter(c, columns)
                            progress?.advance(by: Swift.min(lanes, nz - c * lanes))
                        }
                    }
                } else {
                    // Few slices: split the angles between threads, each with its own
                    // accumulator, then add the partial volumes.
                    for c in 0..<chunkCount {
                        let parts = Parallel.mapChunks(count: angles, chunks: threads) { range -> [Lanes] in
                            let columns = scratch.buffer(of: Lanes.self, count: padded)
                            defer { scratch.recycle(columns) }
                            backProjectChunk(proj, chunk: c, angles: range, into: columns)
                            return Array(columns)
                        }
                        var total = parts[0]
                        for part in parts.dropFirst() { for i in 0..<padded { total[i] += part[i] } }
                        total.withUnsafeMutableBufferPointer { scatter(c, $0) }
                        try cancellation?.check()
                        progress?.advance(by: Swift.min(lanes, nz - c * lanes))
                    }
                }
            }
        }
        return volume
    }

    /// Adds the back projection of chunk `c`'s rows for `angles` into a padded accumulator
    /// (zeroed here), strip by strip like ``projectChunk(_:chunk:angles:into:)``: each ray's
    /// weighted value is spread over one strip of ``stripLength`` rows (or columns) at a time, which stays in
    /// the core's cache while every ray passes through it.
    func backProjectChunk(_ proj: SharedReadBuffer<Float>, chunk c: Int, angles: Range<Int>,
                          into columns: UnsafeMutableBufferPointer<Lanes>) {
        let ny = volumeShape[1], nx = volumeShape[2]
        let nz = volumeShape[0]
        let rows = geometry.detectorRows, cols = geometry.detectorColumns
        let zCount = Swift.min(lanes, nz - c * lanes)
        let (alongY, alongX) = PlaneWalk.walks(ny: ny, nx: nx)
        columns.update(repeating: Lanes())
        let rays: [Ray] = angles.flatMap { a -> [Ray] in
            let theta = geometry.anglesRadians[a]
            let cosT = cos(theta), sinT = -sin(theta)  // u = x cos θ − y sin θ (ParallelBeamGeometry)
            return (0..<cols).map { ray(angle: a, column: $0, cos: cosT, sin: sinT) }
        }
        let values = scratch.buffer(of: Lanes.self, count: rays.count)
        defer { scratch.recycle(values) }
        for (ai, a) in angles.enumerated() {
            for j in 0..<cols {
                var value = Lanes()
                let base = (a * rows + c * lanes) * cols + j
                for k in 0..<zCount { value[k] = proj[base + k * cols] }
                values[ai * cols + j] = value * rays[ai * cols + j].weight
            }
        }
        let strip = Self.stripLength
        rays.withUnsafeBufferPointer { rays in
            for y0 in stride(from: 0, to: ny, by: strip) {
                let y1 = Swift.min(ny, y0 + strip) - 1
                for k in 0..<rays.count where rays[k].alongY {
                    let r = rays[k]
                    let lo = Swift.max(r.first, y0), hi = Swift.min(r.last, y1)
                    guard lo <= hi else { continue }
                    let value = values[k]
                    walkSpread(value, into: columns, ray: r, from: lo, to: hi, walk: alongY, alongY: true)
                }
            }
            for x0s in stride(from: 0, to: nx, by: strip) {
                let x1 = Swift.min(nx, x0s + strip) - 1
                for k in 0..<rays.count where !rays[k].alongY {
                    let r = rays[k]
                    let lo = Swift.max(r.first, x0s), hi = Swift.min(r.last, x1)
                    guard lo <= hi else { continue }
                    let value = values[k]
                    walkSpread(value, into: columns, ray: r, from: lo, to: hi, walk: alongX, alongY: false)
                }
            }
        }
    }

    // MARK: Ray walks

    /// Rows (or columns) per strip of a chunk's walk. Longer strips spread each ray's setup
    /// over more steps; the strip's plane rows (2 MiB at 1024², 16 lanes) need not fit a core's
    /// L2, the walk streams them from L3 well enough. Per slice over 601 angles, forward /
    /// adjoint, against 16-row strips: 256² 2.1 / 2.6 → 1.7 / 2.2 ms, 512² 8.7 / 10.3–11.4 →
    /// 7.5 / 9.1 ms, 1024² 37 / 41.5 → 30 / 34.4 ms (48 rows: about the same; 11: slower).
    static let stripLength = 32

    /// How a ray's steps address the padded plane (see ``gatherChunk(_:chunk:)``): step t with
    /// lower neighbour i across the ray sits at `origin + t·stepStride + i·acrossStride`, the
    /// upper neighbour `acrossStride` further on, and i is at most `lastIndex`.
    struct PlaneWalk {
        var origin: Int, stepStride: Int, acrossStride: Int, lastIndex: Int

        /// Rays stepping along y (over rows, interpolating across x) and along x.
        static func walks(ny: Int, nx: Int) -> (alongY: PlaneWalk, alongX: PlaneWalk) {
            let width = nx + 2
            return (PlaneWalk(origin: width, stepStride: width, acrossStride: 1, lastIndex: nx),
                    PlaneWalk(origin: 1, stepStride: 1, acrossStride: width, lastIndex: ny))
        }

        /// The same walk with its unit stride a constant (across for rays along y, along the
        /// step for rays along x), so that the inlined walk drops a multiplication per step.
        @inline(__always)
        func specialised(alongY: Bool) -> PlaneWalk {
            assert(alongY ? acrossStride == 1 : stepStride == 1, "walks(ny:nx:) sets these unit strides")
            return alongY ? PlaneWalk(origin: origin, stepStride: stepStride, acrossStride: 1, lastIndex: lastIndex)
                   : PlaneWalk(origin: origin, stepStride: 1, acrossStride: acrossStride, lastIndex: lastIndex)
        }
    }

    /// The ray's position across its stepping axis, plus one (the padded index), at step `t`,
    /// in 32.32 fixed point, and the step per t: the walk then needs one integer addition per
    /// step and takes the floor and the interpolation weight from the bits, with no
    /// floating-point conversion in the loop. Over the ≤ 32 steps of one strip the rounding of
    /// the slope adds under 10⁻⁸ voxel. stepRange keeps the position inside (0, n + 1); the
    /// walk keeps the index in 0…n all the same (``staysInside(_:step:steps:lastIndex:)``, else
    /// a clamp per step), so the one-voxel zero border is never left.
    @inline(__always)
    static func fixedPosition(_ r: Ray, at t: Int) -> (position: Int64, step: Int64) {
        let scale = 4_294_967_296.0
        let q = r.position + r.slope * Double(t - r.first) + 1
        return (Int64((q * scale).rounded(.down)), Int64((r.slope * scale).rounded()))
    }

    /// Index of the lower neighbour and its interpolation weight toward the upper one. With
    /// `clamped`, the index is held to 0…lastIndex; without, the caller has proved it is there.
    @inline(__always)
    static func neighbour(_ position: Int64, lastIndex: Int, clamped: Bool) -> (Int, Float) {
        let raw = Int(truncatingIfNeeded: position &>> 32)
        let i = clamped ? Swift.min(Swift.max(raw, 0), lastIndex) : raw
        return (i, Float(position &- (Int64(i) &<< 32)) * 0x1p-32)
    }

    /// Whether every step of a walk from fixed position `p` by `d` per step over `steps` steps
    /// has its lower neighbour in 0…lastIndex. The positions are exact integers p + k·d, so the
    /// index floor((p + k·d)/2³²) is monotonic in k and the two ends bound it: the walks then skip
    /// the per-step clamp (which only ever acts where the fixed-point rounding of a ray grazing
    /// the border crosses it, and then falls back to the clamped walk).
    @inline(__always)
    package static func staysInside(_ p: Int64, step d: Int64, steps: Int, lastIndex: Int) -> Bool {
        let first = p &>> 32, last = (p &+ Int64(steps - 1) &* d) &>> 32
        return Swift.min(first, last) >= 0 && Swift.max(first, last) <= Int64(lastIndex)
    }

    /// Σ over steps lo…hi of the interpolated columns along ray `r` (one strip's part of the
    /// line integral, unweighted).
    @inline(__always)
    func walkSum(_ columns: SharedReadBuffer<Lanes>, ray r: Ray, from lo: Int, to hi: Int, walk w: PlaneWalk, alongY: Bool) -> Lanes {
        let (p, d) = Self.fixedPosition(r, at: lo)
        if Self.staysInside(p, step: d, steps: hi - lo + 1, lastIndex: w.lastIndex) {
            return walkSum(columns, from: p, step: d, lo: lo, hi: hi, walk: w, clamped: false, alongY: alongY)
        }
        return walkSum(columns, from: p, step: d, lo: lo, hi: hi, walk: w, clamped: true, alongY: alongY)
    }

    /// The walk of ``walkSum(_:ray:from:to:walk:alongY:)``: two steps per pass with two sums, so that
    /// neither addition chain sets the pace.
    @inline(__always)
    func walkSum(_ columns: SharedReadBuffer<Lanes>, from p: Int64, step d: Int64, lo: Int, hi: Int, walk w: PlaneWalk, clamped: Bool, alongY: Bool) -> Lanes {
        let w = w.specialised(alongY: alongY)
        var p0 = p, p1 = p &+ d
        let d2 = d &* 2
        var sum0 = Lanes(), sum1 = Lanes()
        var t = lo
        while t < hi {
            let (i0, f0) = Self.neighbour(p0, lastIndex: w.lastIndex, clamped: clamped)
            let (i1, f1) = Self.neighbour(p1, lastIndex: w.lastIndex, clamped: clamped)
            let at0 = w.origin &+ t &* w.stepStride &+ i0 &* w.acrossStride
            let at1 = w.origin &+ (t &+ 1) &* w.stepStride &+ i1 &* w.acrossStride
            let a0 = columns[at0], a1 = columns[at1]
            sum0 += a0.addingProduct(columns[at0 &+ w.acrossStride] - a0, f0)
            sum1 += a1.addingProduct(columns[at1 &+ w.acrossStride] - a1, f1)
            p0 = p0 &+ d2; p1 = p1 &+ d2; t &+= 2
        }
        if t == hi {
            let (i0, f0) = Self.neighbour(p0, lastIndex: w.lastIndex, clamped: clamped)
            let at0 = w.origin &+ t &* w.stepStride &+ i0 &* w.acrossStride, a0 = columns[at0]
            sum0 += a0.addingProduct(columns[at0 &+ w.acrossStride] - a0, f0)
        }
        return sum0 + sum1
    }

    /// The adjoint of ``walkSum(_:ray:from:to:walk:alongY:)``: spreads `value` over the same
    /// neighbours with the same weights.
    @inline(__always)
    func walkSpread(_ value: Lanes, into columns: UnsafeMutableBufferPointer<Lanes>, ray r: Ray, from lo: Int, to hi: Int, walk w: PlaneWalk, alongY: Bool) {
        let (p, d) = Self.fixedPosition(r, at: lo)
        if Self.staysInside(p, step: d, steps: hi - lo + 1, lastIndex: w.lastIndex) {
            walkSpread(value, into: columns, from: p, step: d, lo: lo, hi: hi, walk: w, clamped: false, alongY: alongY)
        } else {
            walkSpread(value, into: columns, from: p, step: d, lo: lo, hi: hi, walk: w, clamped: true, alongY: alongY)
        }
    }

    /// The walk of ``walkSpread(_:into:ray:from:to:walk:alongY:)``: the lower neighbour gets
    /// value − f·value, the upper f·value.
    @inline(__always)
    func walkSpread(_ value: Lanes, into columns: UnsafeMutableBufferPointer<Lanes>, from start: Int64, step d: Int64, lo: Int, hi: Int,
                    walk w: PlaneWalk, clamped: Bool, alongY: Bool) {
        let w = w.specialised(alongY: alongY)
        var p = start
        for t in lo...hi {
            let (i, f) = Self.neighbour(p, lastIndex: w.lastIndex, clamped: clamped)
            let at = w.origin &+ t &* w.stepStride &+ i &* w.acrossStride
            let upper = value * f
            columns[at] += value - upper
            columns[at &+ w.acrossStride] += upper
            p = p &+ d
        }
    }

    // MARK: Row shifts (vertical jitter)

    /// Vertical sample jitter shifts whole projections along the rows. In parallel beam that is
    /// exactly linear interpolation of each projection along its rows (the projector never mixes
    /// slices); `adjoint` applies the transpose.
    func applyRowShifts(_ projections: Grid<Float>, adjoint: Bool) -> Grid<Float> {
        let shifts = (0..<geometry.projectionCount).map { geometry.shift($0).row }
        guard shifts.contains(where: { $0 != 0 }) else { return projections }
        let rows = geometry.detectorRows, cols = geometry.detectorColumns
        var result = Grid<Float>(shape: projections.shape, geometry: projections.geometry)
        result.withUnsafeMutableBufferPointer { out in
            projections.withUnsafeBufferPointer { src in
                for a in 0..<geometry.projectionCount where true {
                    // Output row v takes input position v − shift: out[v] = Σ w·in[r].
                    let d = shifts[a]
                    for v in 0..<rows {
                        let position = Double(v) - d
                        let r0 = Int(position.rounded(.down))
                        let f = Float(position - Double(r0))
                        for (r, w) in [(r0, 1 - f), (r0 + 1, f)] where r >= 0 && r < rows && w != 0 {
                            let outRow = adjoint ? r : v, inRow = adjoint ? v : r
                            let ob = (a * rows + outRow) * cols, ib = (a * rows + inRow) * cols
                            for j in 0..<cols { out[ob + j] += w * src[ib + j] }
                        }
                    }
                }
            }
        }
        return result
    }
}
