import LensCore

/// The result of a Euclidean distance transform.
public struct DistanceMap: Sendable {
    /// Distance of every labelled voxel to the nearest voxel of another label (0 for background
    /// voxels), in units of the smallest voxel edge (multiply by `unitMicrometres` for µm).
    public var distances: Grid<Float>
    /// Length of the distance unit in µm (1 when the grid is not calibrated).
    public var unitMicrometres: Double
    /// For each voxel, the linear index of its nearest feature voxel (a voxel of another label);
    /// −1 where there is none (a label filling the whole grid). Only when requested.
    public var nearestFeature: [Int]?
}

/// Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012, "Distance transforms
/// of sampled functions": one pass of lower envelopes of parabolas per axis), anisotropic and
/// multi-label.
///
/// Multi-label means each voxel is measured to the nearest voxel whose label differs from its
/// own (so touching particles each get their own distance map, as the `edt` package does);
/// background (0) voxels get 0. For a binary mask this is scipy's `distance_transform_edt`.
/// Outside the grid is not a feature unless `borderIsFeature` (edt's `black_border`).
///
/// Each axis pass splits a line into runs of one label; the voxels just beyond a run are
/// features (distance 0), so the envelope of a run only needs the run and its two neighbours.
public enum DistanceTransform {
    @_specialize(exported: true, where T == UInt8)
    @_specialize(exported: true, where T == Int32)
    public static func euclidean<T: GridElement>(_ labels: Grid<T>, borderIsFeature: Bool = false,
                                                 returnNearestFeature: Bool = false) -> DistanceMap {
        let lattice = Lattice(labels)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let n = lattice.count
        // Squared distances, computed in place in the output grid and rooted at the end.
        var distances = Grid<Float>(shape: labels.shape, geometry: labels.geometry)
        var feature = [Int](repeating: -1, count: returnNearestFeature ? n : 0)
        let zero = T.zero
        let s = lattice.spacing
        // Each pass's workers own whole lines (rows along x, columns along y or z).
        Parallel.sharing(labels) { (lab: SharedReadBuffer<T>) in
            Parallel.withDisjointWrites(&distances) { (sq: DisjointWriteBuffer<Float>) in
                Parallel.withDisjointWrites(&feature) { (feat: DisjointWriteBuffer<Int>) in
                    let track = returnNearestFeature
                    // Pass 1: along x, plain run distances.
                    Parallel.forEachChunk(count: nz * ny, minimumChunk: 8) { rows in
                        for row in rows {
                            let base = row * nx
                            var a = 0
                            while a < nx {
                                let value = lab[base + a]
                                var b = a
                                while b + 1 < nx && lab[base + b + 1] == value { b += 1 }
                                if value == zero {
                                    for x in a...b { sq[base + x] = 0; if track { feat[base + x] = base + x } }
                                } else {
                                    let leftFeature = a > 0 ? a - 1 : (borderIsFeature ? -1 : Int.min)
                                    let rightFeature = b < nx - 1 ? b + 1 : (borderIsFeature ? nx : Int.max)
                                    for x in a...b {
                                        let dl = leftFeature == Int.min ? Double.infinity : Double(x - leftFeature)
                                        let dr = rightFeature == Int.max ? Double.infinity : Double(rightFeature - x)
                                        let d = Swift.min(dl, dr) * s.x
                                        sq[base + x] = Float(d * d)
                                        if track {
                                            let fx = dl <= dr ? leftFeature : rightFeature
                                            feat[base + x] = (fx >= 0 && fx < nx) ? base + fx : -1
                                        }
                                    }
                                }
                                a = b + 1
                            }
                        }
                    }
                    // Passes 2 and 3: along y (stride nx) and z (stride nx·ny).
                    if ny > 1 {
                        Parallel.forEachChunk(count: nz, minimumChunk: 1) { slices in
                            let scratch = EnvelopeScratch(capacity: ny + 2)
                            for z in slices {
                                for x in 0..<nx {
                                    scratch.transformLine(labels: lab, squared: sq, feature: track ? feat : nil,
                                                          start: z * ny * nx + x, stride: nx, length: ny,
                                                          spacing: s.y, borderIsFeature: borderIsFeature, zero: zero)
                                }
                            }
                        }
                    }
                    if nz > 1 {
                        Parallel.forEachChunk(count: ny, minimumChunk: 1) { rows in
                            let scratch = EnvelopeScratch(capacity: nz + 2)
                            for y in rows {
                                for x in 0..<nx {
                                    scratch.transformLine(labels: lab, squared: sq, feature: track ? feat : nil,
                                                          start: y * nx + x, stride: ny * nx, length: nz,
                                                          spacing: s.z, borderIsFeature: borderIsFeature, zero: zero)
                                }
                            }
                        }
                    }
                }
            }
        }
        Parallel.forEachRowChunk(rows: distances.count, rowLength: 1, minimumChunk: 1 << 16, writing: &distances) { d in
            for i in d.rows { d[i] = d[i].squareRoot() }
        }
        return DistanceMap(distances: distances, unitMicrometres: lattice.unitMicrometres,
                           nearestFeature: returnNearestFeature ? feature : nil)
    }
}

/// Per-thread work buffers of the lower-envelope pass (raw buffers: the inner loops index them
/// millions of times, and array bounds and uniqueness checks there doubled the pass time).
final class EnvelopeScratch {
    let f: UnsafeMutablePointer<Double>, position: UnsafeMutablePointer<Int>, source: UnsafeMutablePointer<Int>
    let vertex: UnsafeMutablePointer<Int>, boundary: UnsafeMutablePointer<Double>, result: UnsafeMutablePointer<Double>
    let argmin: UnsafeMutablePointer<Int>

    init(capacity: Int) {
        f = .allocate(capacity: capacity); position = .allocate(capacity: capacity); source = .allocate(capacity: capacity)
        vertex = .allocate(capacity: capacity); boundary = .allocate(capacity: capacity + 1)
        result = .allocate(capacity: capacity); argmin = .allocate(capacity: capacity)
    }

    deinit {
        f.deallocate(); position.deallocate(); source.deallocate(); vertex.deallocate(); boundary.deallocate()
        result.deallocate(); argmin.deallocate()
    }

    /// One line of a separable pass: every run of one non-zero label is replaced by the lower
    /// envelope of the parabolas of the run and its two neighbouring features.
    @inline(__always)
    func transformLine<T: GridElement>(labels: SharedReadBuffer<T>, squared: DisjointWriteBuffer<Float>,
                                                feature: DisjointWriteBuffer<Int>?, start: Int, stride: Int,
                                                length: Int, spacing: Double, borderIsFeature: Bool, zero: T) {
        let s2 = spacing * spacing
        var a = 0
        while a < length {
            let value = labels[start + a * stride]
            var b = a
            while b + 1 < length && labels[start + (b + 1) * stride] == value { b += 1 }
            defer { a = b + 1 }
            if value == zero { continue }
            // Gather: optional left feature, the run, optional right feature.
            var m = 0
            if a > 0 || borderIsFeature { f[m] = 0; position[m] = a - 1; source[m] = a > 0 ? start + (a - 1) * stride : -1; m += 1 }
            for p in a...b {
                let i = start + p * stride
                f[m] = Double(squared[i]); position[m] = p; source[m] = i; m += 1
            }
            if b < length - 1 || borderIsFeature { f[m] = 0; position[m] = b + 1; source[m] = b < length - 1 ? start + (b + 1) * stride : -1; m += 1 }
            // Lower envelope of parabolas f(q) + s²(p − q)² over the finite samples.
            var k = -1
            for q in 0..<m where f[q].isFinite {
                let pq = Double(position[q])
                if k < 0 { k = 0; vertex[0] = q; boundary[0] = -.infinity; boundary[1] = .infinity; continue }
                var intersection = 0.0
                while true {
                    let v = vertex[k], pv = Double(position[v])
                    intersection = ((f[q] + s2 * pq * pq) - (f[v] + s2 * pv * pv)) / (2 * s2 * (pq - pv))
                    if intersection <= boundary[k] { k -= 1 } else { break }
                }
                k += 1; vertex[k] = q; boundary[k] = intersection; boundary[k + 1] = .infinity
            }
            guard k >= 0 else { continue }     // no feature and no finite value: stays infinite
            var j = 0
            for q in 0..<m where position[q] >= a && position[q] <= b {
                let p = Double(position[q])
                while boundary[j + 1] < p { j += 1 }
                let v = vertex[j], d = p - Double(position[v])
                result[q] = s2 * d * d + f[v]
                argmin[q] = v
            }
            if let feature {
                // Features are read from the previous pass before any are overwritten.
                for q in 0..<m where position[q] >= a && position[q] <= b {
                    let src = source[argmin[q]]
                    let isBoundaryPoint = position[argmin[q]] < a || position[argmin[q]] > b
                    argmin[q] = isBoundaryPoint ? src : (src >= 0 ? feature[src] : -1)
                }
                for q in 0..<m where position[q] >= a && position[q] <= b { feature[source[q]] = argmin[q] }
            }
            for q in 0..<m where position[q] >= a && position[q] <= b { squared[source[q]] = Float(result[q]) }
        }
    }
}
