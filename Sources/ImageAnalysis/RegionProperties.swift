import Foundation
import LensCore

/// Measurements of one labelled region (a particle, a pore, a grain). Lengths in µm when the
/// grid is calibrated (otherwise in voxels), coordinates (z, y, x) from the grid's first voxel.
public struct RegionProperties: Sendable, Codable {
    public var label: Int
    public var voxelCount: Int
    public var volumeCubicMicrometres: Double
    /// Diameter of the sphere of the same volume.
    public var equivalentDiameterMicrometres: Double
    /// Inclusive voxel bounds (z, y, x).
    public var boundingBoxMinimum: [Int], boundingBoxMaximum: [Int]
    /// Centroid in µm (z, y, x), measured from the centre of the first voxel.
    public var centroidMicrometres: [Double]
    /// Centroid coordinate along the depth axis in µm.
    public var depthMicrometres: Double
    /// Surface area of the smoothed-indicator marching-tetrahedra mesh (see ``SurfaceArea``).
    public var surfaceAreaSquareMicrometres: Double
    /// π^(1/3) (6V)^(2/3) / A: 1 for a sphere, smaller for anything else.
    public var sphericity: Double
    /// Semi-axes (largest first) of the ellipsoid with the same second moments, √(5 λ_i).
    public var principalSemiAxesMicrometres: [Double]
    /// Grey-value statistics inside the region (when a grey volume was given).
    public var greyMean: Double?, greyStandardDeviation: Double?, greyMinimum: Double?, greyMaximum: Double?
    public var touchesBorder: Bool
}

/// Per-label measurements (scikit-image's `regionprops` and Avizo's label analysis).
public enum RegionAnalysis {
    public struct Options: Sendable {
        /// Axis of the depth coordinate (0 = z, through the electrode in most scans).
        public var depthAxis: Int = 0
        /// Gaussian σ (voxels) of the indicator before meshing; 0 measures the raw staircase.
        public var surfaceSmoothingSigma: Double = 0.7
        /// Skip the surface meshes (area and sphericity then 0).
        public var measureSurface: Bool = true
        public init(depthAxis: Int = 0, surfaceSmoothingSigma: Double = 0.7, measureSurface: Bool = true) {
            self.depthAxis = depthAxis; self.surfaceSmoothingSigma = surfaceSmoothingSigma; self.measureSurface = measureSurface
        }
    }

    private struct Accumulator {
        var count = 0
        var lo = [Int.max, Int.max, Int.max], hi = [Int.min, Int.min, Int.min]
        var sum = SIMD3<Double>.zero
        var second = [Double](repeating: 0, count: 6)   // zz, yy, xx, zy, zx, yx
        var greySum = 0.0, greySquares = 0.0, greyMin = Double.infinity, greyMax = -Double.infinity
        var border = false
    }

    /// Measures every label 1…max of `labels`; `grey` (same shape) adds grey statistics.
    public static func measure(_ labels: Grid<Int32>, grey: Grid<Float>? = nil, options: Options = Options()) throws -> [RegionProperties] {
        if let grey { try labels.requireSameShape(as: grey, "the label volume", "the grey volume") }
        let lattice = Lattice(labels)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let maxLabel = Int(labels.withUnsafeBufferPointer { $0.max() ?? 0 })
        guard maxLabel > 0 else { return [] }
        var acc = [Accumulator](repeating: Accumulator(), count: maxLabel + 1)
        labels.withUnsafeBufferPointer { lab in
            for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
                let i = (z * ny + y) * nx + x
                let l = Int(lab[i])
                guard l > 0 else { continue }
                acc[l].count += 1
                acc[l].lo[0] = min(acc[l].lo[0], z); acc[l].lo[1] = min(acc[l].lo[1], y); acc[l].lo[2] = min(acc[l].lo[2], x)
                acc[l].hi[0] = max(acc[l].hi[0], z); acc[l].hi[1] = max(acc[l].hi[1], y); acc[l].hi[2] = max(acc[l].hi[2], x)
                let p = SIMD3(Double(z), Double(y), Double(x))
                acc[l].sum += p
                acc[l].second[0] += p.x * p.x; acc[l].second[1] += p.y * p.y; acc[l].second[2] += p.z * p.z
                acc[l].second[3] += p.x * p.y; acc[l].second[4] += p.x * p.z; acc[l].second[5] += p.y * p.z
                if let grey {
                    let g = Double(grey[linear: i])
                    acc[l].greySum += g; acc[l].greySquares += g * g
                    acc[l].greyMin = min(acc[l].greyMin, g); acc[l].greyMax = max(acc[l].greyMax, g)
                }
                if (nz > 1 && (z == 0 || z == nz - 1)) || y == 0 || y == ny - 1 || x == 0 || x == nx - 1 { acc[l].border = true }
            } } }
        }
        let sizes = labels.geometry.isCalibrated ? (labels.rank == 3 ? labels.geometry.voxelSizeMicrometres : [lattice.unitMicrometres] + labels.geometry.voxelSizeMicrometres) : [1.0, 1, 1]
        let voxelVolume = sizes.reduce(1, *)
        let unitArea = lattice.unitMicrometres * lattice.unitMicrometres
        let present = (1...maxLabel).filter { acc[$0].count > 0 }
        let bounds = present.map { (acc[$0].lo, acc[$0].hi) }
        let areas: [Double] = options.measureSurface ? Parallel.mapChunks(count: present.count, chunks: Parallel.threadCount * 4) { range in
            range.map { k in surfaceArea(of: Int32(present[k]), labels: labels, lo: bounds[k].0, hi: bounds[k].1,
                                         sigma: options.surfaceSmoothingSigma) * unitArea }
        }.flatMap { $0 } : [Double](repeating: 0, count: present.count)
        return present.enumerated().map { k, l in
            let a = acc[l]
            let n = Double(a.count)
            let mean = a.sum / n
            let volume = n * voxelVolume
            // Covariance in µm² (z, y, x), eigenvalues by Jacobi rotations.
            let m = [mean.x, mean.y, mean.z]
            var c = [[Double]](repeating: [0, 0, 0], count: 3)
            let idx = [[0, 3, 4], [3, 1, 5], [4, 5, 2]]
            for i in 0..<3 { for j in 0..<3 { c[i][j] = (a.second[idx[i][j]] / n - m[i] * m[j]) * sizes[i] * sizes[j] } }
            for i in 0..<3 { c[i][i] += sizes[i] * sizes[i] / 12 }        // a voxel's own extent
            let eigen = symmetricEigenvalues3(c).sorted(by: >)
            let area = areas[k]
            let sphericity = area > 0 ? pow(Double.pi, 1.0 / 3) * pow(6 * volume, 2.0 / 3) / area : 0
            let centroid = (0..<3).map { m[$0] * sizes[$0] }
            return RegionProperties(
                label: l, voxelCount: a.count, volumeCubicMicrometres: volume,
                equivalentDiameterMicrometres: pow(6 * volume / Double.pi, 1.0 / 3),
                boundingBoxMinimum: a.lo, boundingBoxMaximum: a.hi, centroidMicrometres: centroid,
                depthMicrometres: centroid[options.depthAxis], surfaceAreaSquareMicrometres: area, sphericity: sphericity,
                principalSemiAxesMicrometres: eigen.map { (5 * max($0, 0)).squareRoot() },
                greyMean: grey == nil ? nil : a.greySum / n,
                greyStandardDeviation: grey == nil ? nil : max(0, a.greySquares / n - (a.greySum / n) * (a.greySum / n)).squareRoot(),
                greyMinimum: grey == nil ? nil : a.greyMin, greyMaximum: grey == nil ? nil : a.greyMax, touchesBorder: a.border)
        }
    }

    /// Surface area (smallest-voxel units²) of one label, meshed in its bounding box padded by
    /// the smoothing reach plus one voxel.
    static func surfaceArea(of label: Int32, labels: Grid<Int32>, lo: [Int], hi: [Int], sigma: Double) -> Double {
        let lattice = Lattice(labels)
        let dims = [lattice.nz, lattice.ny, lattice.nx]
        let pad = Int((4 * sigma).rounded(.up)) + 1
        var from = [0, 0, 0], to = [0, 0, 0]
        for a in 0..<3 {
            from[a] = dims[a] == 1 ? 0 : lo[a] - pad
            to[a] = dims[a] == 1 ? 0 : hi[a] + pad
        }
        let shape = Shape((0..<3).map { to[$0] - from[$0] + 1 })
        // Outside the grid the label continues by mirroring (as the smoothing does), so cut
        // faces at the border do not become surface.
        var box = Grid<UInt8>(shape: shape, geometry: GridGeometry(voxelSizeMicrometres: [lattice.spacing.z, lattice.spacing.y, lattice.spacing.x]))
        box.withUnsafeMutableBufferPointer { out in
            labels.withUnsafeBufferPointer { lab in
                var i = 0
                for z in from[0]...to[0] { for y in from[1]...to[1] { for x in from[2]...to[2] {
                    let zz = Filters.reflect(z, dims[0]), yy = Filters.reflect(y, dims[1]), xx = Filters.reflect(x, dims[2])
                    out[i] = lab[(zz * dims[1] + yy) * dims[2] + xx] == label ? 1 : 0
                    i += 1
                } } }
            }
        }
        if lattice.nz == 1 { return 0 }
        return SurfaceArea.smoothedIndicatorArea(box, sigma: sigma)
    }
}

/// Eigenvalues of a symmetric 3×3 matrix by cyclic Jacobi rotations (Golub & Van Loan §8.5).
func symmetricEigenvalues3(_ matrix: [[Double]]) -> [Double] {
    var a = matrix
    for _ in 0..<50 {
        let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2]
        if off < 1e-30 { break }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] where a[p][q] != 0 {
            let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
            let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
            let c = 1 / (t * t + 1).squareRoot(), s = t * c
            for k in 0..<3 { let akp = a[k][p], akq = a[k][q]; a[k][p] = c * akp - s * akq; a[k][q] = s * akp + c * akq }
            for k in 0..<3 { let apk = a[p][k], aqk = a[q][k]; a[p][k] = c * apk - s * aqk; a[q][k] = s * apk + c * aqk }
        }
    }
    return [a[0][0], a[1][1], a[2][2]]
}
