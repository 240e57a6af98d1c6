import Foundation
import LensCore

/// The translation that best maps one 2D image onto another.
public struct ImageShift: Sendable, Equatable, Codable {
    /// Shift (rows, columns) in pixels: `moving(y, x) ≈ reference(y − rows, x − columns)`.
    public var rows: Double
    public var columns: Double
    /// Normalized cross-correlation of the overlap after shifting (−1…1).
    public var correlation: Double
    public init(rows: Double, columns: Double, correlation: Double) { self.rows = rows; self.columns = columns; self.correlation = correlation }
}

/// 2D translation registration: phase correlation (Kuglin & Hines 1975; the cross-power
/// spectrum divided by the square root of its magnitude) for the integer peak,
/// a parabola through the peak and its neighbours for the first sub-pixel estimate, then an
/// intensity refinement that maximizes the normalized cross-correlation of the overlap over
/// sub-pixel shifts (bilinear resampling, coordinate search with halving steps to 1/64 px).
public enum ImageRegistration {
    public static func translation(reference: Grid<Double>, moving: Grid<Double>, refine: Bool = true) throws -> ImageShift {
        let (_, surface, py, px) = try correlationPeak(reference, moving)
        let (h, w) = (reference.shape[0], reference.shape[1])
        func value(_ y: Int, _ x: Int) -> Double { surface[linear: ((y + h) % h) * w + (x + w) % w].real }
        func vertex(_ m: Double, _ c: Double, _ p: Double) -> Double { parabolicVertexOffset(before: m, centre: c, after: p) }
        var dy = Double(py) + vertex(value(py - 1, px), value(py, px), value(py + 1, px))
        var dx = Double(px) + vertex(value(py, px - 1), value(py, px), value(py, px + 1))
        if dy > Double(h) / 2 { dy -= Double(h) }
        if dx > Double(w) / 2 { dx -= Double(w) }
        var score = overlapCorrelation(reference, moving, dy, dx)
        if refine {
            var step = 0.5
            while step >= 1.0 / 64 {
                var improved = true
                while improved {
                    improved = false
                    for (sy, sx) in [(step, 0.0), (-step, 0), (0, step), (0, -step)] {
                        let s = overlapCorrelation(reference, moving, dy + sy, dx + sx)
                        if s > score { score = s; dy += sy; dx += sx; improved = true }
                    }
                }
                step /= 2
            }
        }
        return ImageShift(rows: dy, columns: dx, correlation: score)
    }

    /// Sub-pixel translation by upsampled phase correlation (Guizar-Sicairos, Thurman & Fienup,
    /// Opt. Lett. 33, 156 (2008)): the integer peak of the (half-whitened, Hann-windowed)
    /// cross-power spectrum's inverse transform, then the inverse DFT evaluated directly on a grid
    /// 1/`upsampling` pixel fine over ±0.75 pixel around it (two small matrix products), and a
    /// parabola through the finest peak. Unlike refining by interpolating one image, this has no
    /// bias towards half-pixel shifts on noisy images (interpolation smooths the noise of the
    /// shifted image and so raises its correlation at fractional shifts).
    public static func phaseCorrelation(reference: Grid<Double>, moving: Grid<Double>, upsampling: Int = 64) throws -> ImageShift {
        let (cross, _, peakRow, peakColumn) = try correlationPeak(reference, moving)
        let (h, w) = (reference.shape[0], reference.shape[1])
        var (py, px) = (Double(peakRow), Double(peakColumn))
        if py > Double(h) / 2 { py -= Double(h) }
        if px > Double(w) / 2 { px -= Double(w) }
        let u = Double(max(1, upsampling))
        let n = Int((1.5 * u).rounded(.up)), centre = n / 2
        // Signed frequencies (FFT order) and the fine offsets around the integer peak.
        let fy = (0..<h).map { Double($0 < (h + 1) / 2 ? $0 : $0 - h) }, fx = (0..<w).map { Double($0 < (w + 1) / 2 ? $0 : $0 - w) }
        let ys = (0..<n).map { py + Double($0 - centre) / u }, xs = (0..<n).map { px + Double($0 - centre) / u }
        // T[v][l] = Σ_x cross[v][x] e^{2πi fx·xs[l]/w}, then out[j][l] = Σ_v e^{2πi fy·ys[j]/h} T[v][l].
        var tr = [Double](repeating: 0, count: h * n), ti = [Double](repeating: 0, count: h * n)
        for l in 0..<n {
            let phase = (0..<w).map { 2 * Double.pi * fx[$0] * xs[l] / Double(w) }
            let (c, s) = (phase.map(cos), phase.map(sin))
            for v in 0..<h {
                var re = 0.0, im = 0.0
                for x in 0..<w {
                    let z = cross[linear: v * w + x]
                    re += z.real * c[x] - z.imaginary * s[x]; im += z.real * s[x] + z.imaginary * c[x]
                }
                tr[v * n + l] = re; ti[v * n + l] = im
            }
        }
        var fine = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            let phase = (0..<h).map { 2 * Double.pi * fy[$0] * ys[j] / Double(h) }
            let (c, s) = (phase.map(cos), phase.map(sin))
            for l in 0..<n {
                var re = 0.0
                for v in 0..<h { re += c[v] * tr[v * n + l] - s[v] * ti[v * n + l] }
                fine[j * n + l] = re
            }
        }
        var top = 0
        for i in 0..<fine.count where fine[i] > fine[top] { top = i }
        let (jy, lx) = (top / n, top % n)
        func vertex(_ m: Double, _ c: Double, _ p: Double) -> Double { parabolicVertexOffset(before: m, centre: c, after: p) }
        let oy = jy > 0 && jy < n - 1 ? vertex(fine[(jy - 1) * n + lx], fine[top], fine[(jy + 1) * n + lx]) : 0
        let ox = lx > 0 && lx < n - 1 ? vertex(fine[jy * n + lx - 1], fine[top], fine[jy * n + lx + 1]) : 0
        let dy = ys[jy] + oy / u, dx = xs[lx] + ox / u
        return ImageShift(rows: dy, columns: dx, correlation: overlapCorrelation(reference, moving, dy, dx))
    }

    /// The cross-power spectrum of two images, its inverse transform (the correlation surface)
    /// and the surface's integer peak (row, column in 0..<h, 0..<w; wrap-around for negative shifts).
    static func correlationPeak(_ reference: Grid<Double>, _ moving: Grid<Double>) throws
        -> (cross: Grid<ComplexFloat64>, surface: Grid<ComplexFloat64>, row: Int, column: Int) {
        guard reference.rank == 2, reference.shape == moving.shape else {
            throw LensError.invalidArgument("registration needs two 2D images of one shape, got \(reference.shape) and \(moving.shape)")
        }
        let cross = crossPowerSpectrum(reference, moving)
        let surface = FFT.transform(cross, inverse: true)
        var best = 0
        for i in 0..<surface.count where surface[linear: i].real > surface[linear: best].real { best = i }
        return (cross, surface, best / reference.shape[1], best % reference.shape[1])
    }

    /// B·conj(A)/√|B·conj(A)| of the mean-removed images under a Hann window (which keeps the
    /// image borders from dominating the spectrum): half-way between plain cross-correlation
    /// (broad peaks on smooth images) and full phase correlation (whitening lifts numerical
    /// noise and masked edges to the level of the signal on smooth maps).
    static func crossPowerSpectrum(_ reference: Grid<Double>, _ moving: Grid<Double>) -> Grid<ComplexFloat64> {
        let (h, w) = (reference.shape[0], reference.shape[1])
        func centred(_ g: Grid<Double>) -> Grid<Double> {
            let finite = g.elements.filter(\.isFinite)
            let mean = finite.isEmpty ? 0 : finite.reduce(0, +) / Double(finite.count)
            return Grid(shape: g.shape) { i in
                let (y, x) = (i / w, i % w)
                let v = g[linear: i].isFinite ? g[linear: i] - mean : 0
                return v * (0.5 - 0.5 * cos(2 * .pi * (Double(y) + 0.5) / Double(h))) * (0.5 - 0.5 * cos(2 * .pi * (Double(x) + 0.5) / Double(w)))
            }
        }
        let a = FFT.transform(Grid(shape: reference.shape, elements: centred(reference).elements.map { ComplexFloat64($0) }))
        let b = FFT.transform(Grid(shape: moving.shape, elements: centred(moving).elements.map { ComplexFloat64($0) }))
        return Grid<ComplexFloat64>(shape: a.shape) { i in
            let p = b[linear: i], q = a[linear: i]
            let re = p.real * q.real + p.imaginary * q.imaginary, im = p.imaginary * q.real - p.real * q.imaginary
            let m = (re * re + im * im).squareRoot().squareRoot()
            return m > 1e-30 ? ComplexFloat64(re / m, im / m) : ComplexFloat64(0)
        }
    }

    /// Normalized cross-correlation between `moving` and `reference` shifted by (dy, dx)
    /// (bilinear), over the pixels where both are finite.
    public static func overlapCorrelation(_ reference: Grid<Double>, _ moving: Grid<Double>, _ dy: Double, _ dx: Double) -> Double {
        let (h, w) = (reference.shape[0], reference.shape[1])
        var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, n = 0.0
        for y in 0..<h { for x in 0..<w {
            let m = moving[y, x]
            guard m.isFinite, let r = sample(reference, Double(y) - dy, Double(x) - dx) else { continue }
            sa += r; sb += m; saa += r * r; sbb += m * m; sab += r * m; n += 1
        } }
        guard n > 2 else { return -1 }
        let cov = sab / n - sa / n * sb / n, va = saa / n - sa / n * sa / n, vb = sbb / n - sb / n * sb / n
        return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : -1
    }

    /// Bilinear sample of a 2D grid at (y, x) in pixel coordinates; nil outside or next to a
    /// non-finite value.
    public static func sample(_ g: Grid<Double>, _ y: Double, _ x: Double) -> Double? {
        let (h, w) = (g.shape[0], g.shape[1])
        guard y >= 0, x >= 0, y <= Double(h - 1), x <= Double(w - 1) else { return nil }
        // The cell's lower corner; on the last row or column the cell is the one before it.
        let y0 = Swift.max(0, Swift.min(Int(y), h - 2)), x0 = Swift.max(0, Swift.min(Int(x), w - 2))
        let fy = y - Double(y0), fx = x - Double(x0)
        let y1 = Swift.min(y0 + 1, h - 1), x1 = Swift.min(x0 + 1, w - 1)
        let v = (1 - fy) * ((1 - fx) * g[y0, x0] + fx * g[y0, x1]) + fy * ((1 - fx) * g[y1, x0] + fx * g[y1, x1])
        return v.isFinite ? v : nil
    }

    /// `image` moved by (dy, dx): out(y, x) = image(y − dy, x − dx), NaN where that falls outside.
    public static func shifted(_ image: Grid<Double>, rows dy: Double, columns dx: Double) -> Grid<Double> {
        let w = image.shape[1]
        return Grid(shape: image.shape) { i in sample(image, Double(i / w) - dy, Double(i % w) - dx) ?? .nan }
    }
}
