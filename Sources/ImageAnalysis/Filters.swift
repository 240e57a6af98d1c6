import Foundation
import LensCore
import Signal

/// Smoothing and sharpening filters for 2D and 3D images (a 2D image is one slice), parallel
/// over slices, with anisotropic voxels respected: widths are given in units of the smallest
/// voxel edge and converted per axis. Borders are mirrored as scipy.ndimage's default
/// `reflect` mode (d c b a | a b c d), so results compare voxel for voxel with scipy.
public enum Filters {
    /// Index of a position mirrored into 0..<n (scipy `reflect`, edge sample repeated).
    @inline(__always) static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        var j = i
        let period = 2 * n
        j %= period; if j < 0 { j += period }
        return j < n ? j : period - 1 - j
    }

    // MARK: Separable convolution

    /// Convolves along one axis (0 = z, 1 = y, 2 = x of the lattice) with a symmetric kernel
    /// `weights` of odd length centred on its middle element.
    static func convolve(_ input: [Float], lattice: Lattice, axis: Int, weights: [Float]) -> [Float] {
        let r = weights.count / 2
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        var output = [Float](repeating: 0, count: input.count)
        let extent = [nz, ny, nx][axis]
        if extent == 1 || r == 0 {
            let w = weights.reduce(0, +)
            return input.map { $0 * w }
        }
        let mirrored = (-r..<(extent + r)).map { reflect($0, extent) }
        Parallel.sharing(input) { src in
            switch axis {
            case 2:
                Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 16, writing: &output) { dst in
                    let rows = dst.rows
                    var padded = [Float](repeating: 0, count: nx + 2 * r)
                    for row in rows {
                        let base = row * nx
                        for i in 0..<(nx + 2 * r) { padded[i] = src[base + mirrored[i]] }
                        for x in 0..<nx {
                            var sum: Float = 0
                            for k in 0...(2 * r) { sum += weights[k] * padded[x + k] }
                            dst[base + x] = sum
                        }
                    }
                }
            default:
                // Lines along z or y: accumulate whole contiguous rows (vectorizes).
                let plane = ny * nx
                let outer = axis == 0 ? 1 : nz
                let stride = axis == 0 ? plane : nx
                let inner = axis == 0 ? plane : nx
                let count = axis == 0 ? nz : ny
                Parallel.forEachRowChunk(rows: outer * count, rowLength: inner, minimumChunk: 1, writing: &output) { dst in
                    let items = dst.rows
                    for item in items {
                        let o = item / count, p = item % count
                        let outBase = o * (axis == 0 ? 0 : plane) + p * stride
                        for i in 0..<inner { dst[outBase + i] = 0 }
                        for k in 0...(2 * r) {
                            let q = mirrored[p + k]
                            let inBase = o * (axis == 0 ? 0 : plane) + q * stride
                            let w = weights[k]
                            for i in 0..<inner { dst[outBase + i] += w * src[inBase + i] }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Normalized Gaussian kernel of standard deviation `sigma` voxels truncated at 4σ (scipy's default).
    static func gaussianKernel(sigma: Double) -> [Float] {
        guard sigma > 0 else { return [1] }
        let r = Int((4 * sigma).rounded())
        var w = (-r...r).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = w.reduce(0, +)
        w = w.map { $0 / total }
        return w.map { Float($0) }
    }

    /// Gaussian smoothing, separable; `sigma` in units of the smallest voxel edge (per axis
    /// σ / spacing voxels). Equals `scipy.ndimage.gaussian_filter(image, σ/spacing)`.
    public static func gaussian(_ image: Grid<Float>, sigma: Double) -> Grid<Float> {
        let lattice = Lattice(image)
        var data = image.elements
        let spacing = [lattice.spacing.z, lattice.spacing.y, lattice.spacing.x]
        for axis in 0..<3 where [lattice.nz, lattice.ny, lattice.nx][axis] > 1 {
            data = convolve(data, lattice: lattice, axis: axis, weights: gaussianKernel(sigma: sigma / spacing[axis]))
        }
        return Grid(shape: image.shape, geometry: image.geometry, elements: data)
    }

    /// Unsharp mask: image + amount · (image − Gaussian(image, radius)) (scikit-image's
    /// `unsharp_mask` without its rescaling), sharpening edges before a threshold.
    public static func unsharpMask(_ image: Grid<Float>, radius: Double, amount: Double) -> Grid<Float> {
        let blurred = gaussian(image, sigma: radius)
        let a = Float(amount)
        return Grid(shape: image.shape, geometry: image.geometry) { i in
            image[linear: i] + a * (image[linear: i] - blurred[linear: i])
        }
    }

    // MARK: Median

    /// Median over a cube of (2·radius + 1) voxels per edge (radius per axis divided by the
    /// spacing, at least 0), mirrored borders: `scipy.ndimage.median_filter(size=2r+1)`.
    /// 8- and 16-bit data use a sliding histogram along x (Huang 1979, median tracked as the
    /// window moves); other data select the median of each window.
    public static func median<T: RealGridElement>(_ image: Grid<T>, radius: Int) -> Grid<T> {
        let lattice = Lattice(image)
        let radii = [lattice.spacing.z, lattice.spacing.y, lattice.spacing.x].enumerated().map { axis, s in
            [lattice.nz, lattice.ny, lattice.nx][axis] == 1 ? 0 : Int((Double(radius) / s).rounded())
        }
        if T.self == UInt8.self { return histogramMedian(image, lattice: lattice, radii: radii, bins: 256) }
        if T.self == UInt16.self { return histogramMedian(image, lattice: lattice, radii: radii, bins: 65536) }
        return selectionMedian(image, lattice: lattice, radii: radii)
    }

    static func histogramMedian<T: RealGridElement>(_ image: Grid<T>, lattice: Lattice, radii: [Int], bins: Int) -> Grid<T> {
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let (rz, ry, rx) = (radii[0], radii[1], radii[2])
        let windowCount = (2 * rz + 1) * (2 * ry + 1) * (2 * rx + 1)
        let half = windowCount / 2                  // the median is the (half)-th smallest, 0-based
        var output = Grid<T>(shape: image.shape, geometry: image.geometry)
        let zs = (-rz..<(nz + rz)).map { reflect($0, nz) }, ys = (-ry..<(ny + ry)).map { reflect($0, ny) }
        let xs = (-rx..<(nx + rx)).map { reflect($0, nx) }
        Parallel.sharing(image) { src in
            Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 4, writing: &output) { dst in
                let rows = dst.rows
                var histogram = [Int32](repeating: 0, count: bins)
                var columnOffsets = [Int](repeating: 0, count: (2 * rz + 1) * (2 * ry + 1))
                for row in rows {
                    let z = row / ny, y = row % ny
                    var c = 0
                    for dz in 0...(2 * rz) { for dy in 0...(2 * ry) { columnOffsets[c] = (zs[z + dz] * ny + ys[y + dy]) * nx; c += 1 } }
                    for i in 0..<bins { histogram[i] = 0 }
                    for k in 0...(2 * rx) { for off in columnOffsets { histogram[Int(src[off + xs[k]].doubleValue)] += 1 } }
                    var med = 0, below = 0
                    // Track the median bin: `below` counts values in bins < med.
                    func settle() {
                        while below > half { med -= 1; below -= Int(histogram[med]) }
                        while below + Int(histogram[med]) <= half { below += Int(histogram[med]); med += 1 }
                    }
                    settle()
                    dst[row * nx] = T(clampingRounded: Double(med))
                    for x in 1..<Swift.max(nx, 1) {
                        let leaving = xs[x - 1], entering = xs[x + 2 * rx]
                        for off in columnOffsets {
                            let o = Int(src[off + leaving].doubleValue), e = Int(src[off + entering].doubleValue)
                            histogram[o] -= 1; if o < med { below -= 1 }
                            histogram[e] += 1; if e < med { below += 1 }
                        }
                        settle()
                        dst[row * nx + x] = T(clampingRounded: Double(med))
                    }
                }
            }
        }
        return output
    }

    static func selectionMedian<T: RealGridElement>(_ image: Grid<T>, lattice: Lattice, radii: [Int]) -> Grid<T> {
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let (rz, ry, rx) = (radii[0], radii[1], radii[2])
        let windowCount = (2 * rz + 1) * (2 * ry + 1) * (2 * rx + 1)
        var output = Grid<T>(shape: image.shape, geometry: image.geometry)
        let zs = (-rz..<(nz + rz)).map { reflect($0, nz) }, ys = (-ry..<(ny + ry)).map { reflect($0, ny) }
        let xs = (-rx..<(nx + rx)).map { reflect($0, nx) }
        Parallel.sharing(image) { src in
            Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 4, writing: &output) { dst in
                let rows = dst.rows
                var window = [Double](repeating: 0, count: windowCount)
                var columnOffsets = [Int](repeating: 0, count: (2 * rz + 1) * (2 * ry + 1))
                window.withUnsafeMutableBufferPointer { w in
                    for row in rows {
                        let z = row / ny, y = row % ny
                        var c = 0
                        for dz in 0...(2 * rz) { for dy in 0...(2 * ry) { columnOffsets[c] = (zs[z + dz] * ny + ys[y + dy]) * nx; c += 1 } }
                        for x in 0..<nx {
                            var k = 0
                            for dx in 0...(2 * rx) { let xx = xs[x + dx]; for off in columnOffsets { w[k] = src[off + xx].doubleValue; k += 1 } }
                            dst[row * nx + x] = T(clampingRounded: Selection.kthSmallest(w, windowCount / 2))
                        }
                    }
                }
            }
        }
        return output
    }

    // MARK: Edge-preserving denoising

    /// Bilateral filter (Tomasi & Manduchi 1998): each voxel becomes the mean of its
    /// neighbourhood (radius ⌈2σ_s⌉ in units of the smallest voxel) weighted by
    /// exp(−d²/2σ_s²) · exp(−Δ²/2σ_r²), smoothing within phases and not across their edges.
    public static func bilateral(_ image: Grid<Float>, spatialSigma: Double, rangeSigma: Double) -> Grid<Float> {
        let lattice = Lattice(image)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let s = [lattice.spacing.z, lattice.spacing.y, lattice.spacing.x]
        let reach = 2 * spatialSigma
        let r = s.enumerated().map { axis, sp in [nz, ny, nx][axis] == 1 ? 0 : Int((reach / sp).rounded(.up)) }
        var offsets: [(Int, Int, Int, Float)] = []
        for dz in -r[0]...r[0] { for dy in -r[1]...r[1] { for dx in -r[2]...r[2] {
            let d2 = pow(Double(dz) * s[0], 2) + pow(Double(dy) * s[1], 2) + pow(Double(dx) * s[2], 2)
            if d2 <= reach * reach { offsets.append((dz, dy, dx, Float(exp(-0.5 * d2 / (spatialSigma * spatialSigma))))) }
        } } }
        let inverseRange = Float(-0.5 / (rangeSigma * rangeSigma))
        let kernel = offsets
        var output = Grid<Float>(shape: image.shape, geometry: image.geometry)
        Parallel.sharing(image) { src in
            Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 2, writing: &output) { dst in
                for row in dst.rows {
                    let z = row / ny, y = row % ny
                    for x in 0..<nx {
                        let centre = src[row * nx + x]
                        var sum: Float = 0, weight: Float = 0
                        for (dz, dy, dx, w) in kernel {
                            let v = src[(reflect(z + dz, nz) * ny + reflect(y + dy, ny)) * nx + reflect(x + dx, nx)]
                            let d = v - centre
                            let ww = w * Foundation.exp(d * d * inverseRange)
                            sum += ww * v; weight += ww
                        }
                        dst[row * nx + x] = sum / weight
                    }
                }
            }
        }
        return output
    }

    /// Non-local means (Buades, Coll & Morel 2005) in the blockwise-by-offset form of Darbon
    /// et al. 2008 (as scikit-image's `fast_mode`): for every offset δ in the search window the
    /// squared difference image is box-averaged over the patch and turned into a weight
    /// exp(−max(d² − 2σ², 0) / h²). Defaults for 3D: patch 3³, search window 7³.
    /// `noiseSigma` is the noise standard deviation (estimate it from a uniform region), `h`
    /// the filtering strength (0.8 σ is scikit-image's suggestion).
    public static func nonLocalMeans(_ image: Grid<Float>, noiseSigma: Double, h: Double? = nil,
                                     patchRadius: Int = 1, searchRadius: Int = 3) -> Grid<Float> {
        let lattice = Lattice(image)
        let (nz, ny, nx) = (lattice.nz, lattice.ny, lattice.nx)
        let strength = h ?? 0.8 * noiseSigma
        let n = lattice.count
        let src = image.elements
        var numerator = [Float](repeating: 0, count: n), denominator = [Float](repeating: 0, count: n)
        let patch = [Float](repeating: 1 / Float(2 * patchRadius + 1), count: 2 * patchRadius + 1)
        let sr = [nz, ny, nx].map { $0 == 1 ? 0 : searchRadius }
        let bias = Float(2 * noiseSigma * noiseSigma), inverseH2 = Float(1 / (strength * strength))
        for dz in -sr[0]...sr[0] { for dy in -sr[1]...sr[1] { for dx in -sr[2]...sr[2] {
            var difference = [Float](repeating: 0, count: n)
            Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 8, writing: &difference) { d in
                for row in d.rows {
                    let z = row / ny, y = row % ny
                    let other = (reflect(z + dz, nz) * ny + reflect(y + dy, ny)) * nx
                    for x in 0..<nx { let e = src[row * nx + x] - src[other + reflect(x + dx, nx)]; d[row * nx + x] = e * e }
                }
            }
            for axis in 0..<3 where [nz, ny, nx][axis] > 1 { difference = convolve(difference, lattice: lattice, axis: axis, weights: patch) }
            let smoothed = difference
            Parallel.forEachRowChunk(rows: nz * ny, rowLength: nx, minimumChunk: 8, writing: &numerator, &denominator) { num, den in
                for row in num.rows {
                    let z = row / ny, y = row % ny
                    let other = (reflect(z + dz, nz) * ny + reflect(y + dy, ny)) * nx
                    for x in 0..<nx {
                        let w = Foundation.exp(-Swift.max(smoothed[row * nx + x] - bias, 0) * inverseH2)
                        num[row * nx + x] += w * src[other + reflect(x + dx, nx)]
                        den[row * nx + x] += w
                    }
                }
            }
        } } }
        let (num, den) = (numerator, denominator)
        return Grid(shape: image.shape, geometry: image.geometry) { num[$0] / den[$0] }
    }
}
