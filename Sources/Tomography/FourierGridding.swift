import Foundation
import LensCore
import Signal

/// Filtered back projection by Fourier gridding (the family of TomoPy's gridrec and tomocupy's
/// fourierrec): the same sum as ``FilteredBackProjection`` — Σ_θ w_θ · (p_θ ∗ h)(x cos θ − y sin θ)
/// with the same ramp filter h, angle weights w_θ and 1/µm scaling — evaluated in Fourier
/// space. Each filtered projection's spectrum is a line through the slice's 2D spectrum
/// (Fourier slice theorem); its samples are spread onto a Cartesian grid with a Kaiser–Bessel
/// kernel (6 grid points wide), one 2D inverse FFT gives the slice times the kernel's
/// transform, which is divided out (Beatty, Nishimura & Pauly, IEEE TMI 2005: kernel width 6,
/// oversampling σ, β = π√((W/σ)²(σ − ½)² − 0.8)). Cost per slice ~ P·M·36 + M² log M instead
/// of back projection's N²·P: the fast path for large detectors.
public enum FourierGridding {
    /// Half the kernel width in grid points (the spreader's 6-tap SIMD rows are written for 3).
    static let halfWidth = 3
    /// Grid oversampling σ = m / N. With a 6-point Kaiser–Bessel kernel, σ = 1.5 gives the same
    /// RMSE as σ = 2 to four digits on the disc fixture (1.0434e-3 vs 1.0435e-3 Shepp–Logan;
    /// σ = 1.25 costs 0.5 %) and on the tooth scan (correlation with FBP 0.99634 both), for
    /// 44 % fewer grid points to transform.
    static let oversampling = 1.5

    public static func reconstruct(_ lineIntegrals: Grid<Float>, geometry: ParallelBeamGeometry, options: FBPOptions = FBPOptions(),
                                   progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> Grid<Float> {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == geometry.projectionCount,
              lineIntegrals.shape[1] == geometry.detectorRows, lineIntegrals.shape[2] == geometry.detectorColumns else {
            throw LensError.invalidArgument("projections \(lineIntegrals.shape) do not match the geometry (\(geometry.projectionCount) angles, \(geometry.detectorRows)×\(geometry.detectorColumns))")
        }
        guard geometry.projectionShiftsPixels.allSatisfy({ $0.allSatisfy { $0 == 0 } }) else {
            throw LensError.invalidArgument("gridding reconstructs aligned projections only: apply the per-projection shifts first (align)")
        }
        let (angles, rows, n) = (geometry.projectionCount, geometry.detectorRows, geometry.detectorColumns)
        // The grid is the padded projection length m = σ·N (the projections' zero padding and
        // the gridding oversampling in one; FBP's `paddingFactor` is not used).
        // Even, for the centred grid's (−1)^(x+y).
        var even = FFT.fastLength(atLeast: Int((Double(n) * oversampling).rounded(.up)))
        while even % 2 != 0 { even = FFT.fastLength(atLeast: even + 1) }
        let m = even
        let response = FilteredBackProjection.filterResponse(size: m, window: options.window)
        let weights = FilteredBackProjection.angularWeights(geometry.anglesRadians)
        let scale = 1 / geometry.pixelSizeMicrometres
        let kernel = KaiserBessel(halfWidth: Double(halfWidth), oversampling: Double(m) / Double(n))
        // Output pixel (r, j) sits at x = j − (n − 1)/2: the integer j − n/2 plus `origin`,
        // applied to each sample as a phase so the inverse FFT lands on whole pixels.
        let half = n / 2, origin = Double(half) - Double(n - 1) / 2
        let deapodization = (0..<n).map { Float(1 / kernel.transform(Double($0 - half), gridSize: m)) }
        var volume = Grid<Float>(shape: Shape(rows, n, n), geometry: .isotropic(geometry.pixelSizeMicrometres, rank: 3))
        let plane = n * n
        let cosines = geometry.anglesRadians.map { cos($0) }, sines = geometry.anglesRadians.map { -sin($0) }   // u = x cos θ − y sin θ
        let axis = geometry.axisColumn
        // Two slices per transform (the classic gridrec packing): the projections of slices A
        // and B enter as p_A + i·p_B; every operation up to the image is linear and the
        // samples are spread over the whole frequency line (k and −k, Nyquist split half and
        // half so each slice's part stays Hermitian), so the inverse 2D FFT returns A + i·B.
        let pairs = (rows + 1) / 2
        try Parallel.withDisjointWrites(&volume) { out in
            try Parallel.sharing(lineIntegrals) { p in
                try Parallel.forEachChunk(count: pairs, minimumChunk: 1, cancellation: cancellation) { pairRange in
                    let lines = ComplexFFT<Float>(shape: [m], batch: angles)
                    let image = ComplexFFT<Float>(shape: [m, m])
                    let spreader = Spreader(size: m, kernel: kernel)
                    for pair in pairRange {
                        let rowA = 2 * pair, rowB = rowA + 1 < rows ? rowA + 1 : nil
                        let q = lines.data
                        q.update(repeating: .zero)
                        for a in 0..<angles {
                            let baseA = (a * rows + rowA) * n, baseB = rowB.map { (a * rows + $0) * n }
                            for j in 0..<n {
                                q[a * m + j] = ComplexFloat32(p[baseA + j], baseB.map { p[$0 + j] } ?? 0)
                            }
                        }
                        lines.forward()
                        let g = image.data
                        g.update(repeating: .zero)
                        for a in 0..<angles {
                            let (c, s) = (cosines[a], sines[a])
                            // P[k]·e^{2πi k·axis/m} (centred on the axis) times the output
                            // origin's phase e^{2πi (gx + gy)·origin/m}: e^{iαk}, by recurrence.
                            let alpha = 2 * Double.pi * (axis + (c + s) * origin) / Double(m)
                            let (stepRe, stepIm) = (cos(alpha), sin(alpha))
                            var (zRe, zIm) = (1.0, 0.0)
                            let row = a * m
                            for k in 0...(m / 2) {
                                defer { (zRe, zIm) = (zRe * stepRe - zIm * stepIm, zRe * stepIm + zIm * stepRe) }
                                let amplitude = weights[a] * scale * response[k] / Double(m) * (k == m / 2 ? 0.5 : 1)
                                guard amplitude != 0 else { continue }
                                let (gx, gy) = (Double(k) * c, Double(k) * s)
                                let f = q[row + k]
                                spreader.add(into: g, at: gx, gy,
                                             re: Float((Double(f.real) * zRe - Double(f.imaginary) * zIm) * amplitude),
                                             im: Float((Double(f.real) * zIm + Double(f.imaginary) * zRe) * amplitude))
                                guard k > 0 else { continue }
                                // −k: the same response, the conjugate phase.
                                let h = q[row + (m - k) % m]
                                spreader.add(into: g, at: -gx, -gy,
                                             re: Float((Double(h.real) * zRe + Double(h.imaginary) * zIm) * amplitude),
                                             im: Float((Double(h.imaginary) * zRe - Double(h.real) * zIm) * amplitude))
                            }
                        }
                        image.backward()
                        for r in 0..<n {
                            let iy = ((r - half) % m + m) % m
                            for j in 0..<n {
                                let ix = ((j - half) % m + m) % m
                                // The grid is centred (frequency 0 at m/2): undo its (−1)^(x+y).
                                let sign: Float = (r + j) % 2 == 0 ? 1 : -1
                                let value = g[iy * m + ix], d = sign * deapodization[r] * deapodization[j]
                                out[rowA * plane + r * n + j] = value.real * d
                                if let rowB { out[rowB * plane + r * n + j] = value.imaginary * d }
                            }
                        }
                        progress?.advance(by: rowB == nil ? 1 : 2)
                    }
                }
            }
        }
        if options.circularMask { FilteredBackProjection.applyCircularMask(&volume) }
        return volume
    }

    /// Spreads samples onto the periodic m × m grid with the separable kernel, 2·halfWidth
    /// points per axis: the points within the kernel's support |d| ≤ halfWidth (a seventh point
    /// exactly at |d| = halfWidth, reached only when a sample sits on a grid line, carries
    /// φ(W/2)/φ(0) = 1/I₀(β) ≈ 10⁻⁵ of the weight and is left out). The grid is centred —
    /// frequency g at index g + m/2 — so only samples at the Nyquist edge wrap; the others add
    /// a 6 × 6 block as six 12-float rows. Centring multiplies the image by (−1)^(x+y).
    final class Spreader {
        let size: Int
        /// φ(d) for d = 0, 1/samplesPerUnit, …, in Float.
        let table: UnsafeMutableBufferPointer<Float>
        let unitsPerSample: Float

        init(size: Int, kernel: KaiserBessel) {
            self.size = size
            table = .allocate(capacity: kernel.table.count)
            for (i, v) in kernel.table.enumerated() { table[i] = Float(v) }
            unitsPerSample = Float(KaiserBessel.samplesPerUnit)
        }

        deinit { table.deallocate() }

        @inline(__always) func weight(_ d: Float) -> Float {
            let x = abs(d) * unitsPerSample
            let i = Int(x)
            guard i + 1 < table.count else { return 0 }
            let f = x - Float(i)
            return table[i] + (table[i + 1] - table[i]) * f
        }

        @inline(__always)
        func add(into g: UnsafeMutableBufferPointer<ComplexFloat32>, at gx: Double, _ gy: Double, re: Float, im: Float) {
            let m = size, centre = Double(m / 2), hw = Double(FourierGridding.halfWidth)
            let (cx, cy) = (gx + centre, gy + centre)
            let x0 = Int((cx - hw).rounded(.up)), y0 = Int((cy - hw).rounded(.up))
            let (fx, fy) = (Float(Double(x0) - cx), Float(Double(y0) - cy))
            // Built whole from scalars (element-wise insertion goes through the stack and stalls).
            let wx = SIMD8<Float>(weight(fx), weight(fx + 1), weight(fx + 2), weight(fx + 3), weight(fx + 4), weight(fx + 5), 0, 0)
            let wy = SIMD8<Float>(weight(fy), weight(fy + 1), weight(fy + 2), weight(fy + 3), weight(fy + 4), weight(fy + 5), 0, 0)
            // (re, im) weighted by wx, interleaved as the row's 6 complex values; 4 spare lanes 0.
            let pairs = SIMD16<Float>(lowHalf: SIMD8(wx[0], wx[0], wx[1], wx[1], wx[2], wx[2], wx[3], wx[3]),
                                      highHalf: SIMD8(wx[4], wx[4], wx[5], wx[5], 0, 0, 0, 0))
            let u = pairs * SIMD16<Float>(re, im, re, im, re, im, re, im, re, im, re, im, re, im, re, im)
            if x0 >= 0, x0 + 8 <= m, y0 >= 0, y0 + 6 <= m {
                let base = UnsafeMutableRawPointer(g.baseAddress!)
                for iy in 0..<6 {
                    let p = base + ((y0 + iy) * m + x0) * MemoryLayout<ComplexFloat32>.stride
                    let row = p.loadUnaligned(as: SIMD16<Float>.self)
                    p.storeBytes(of: row + wy[iy] * u, as: SIMD16<Float>.self)
                }
                return
            }
            for iy in 0..<6 {
                var y = y0 + iy
                if y < 0 { y += m } else if y >= m { y -= m }
                for t in 0..<6 {
                    var x = x0 + t
                    if x < 0 { x += m } else if x >= m { x -= m }
                    g[y * m + x].real += wy[iy] * u[2 * t]
                    g[y * m + x].imaginary += wy[iy] * u[2 * t + 1]
                }
            }
        }
    }
}

/// The Kaiser–Bessel gridding kernel φ(d) = I₀(β √(1 − (d/W)²)) for |d| ≤ W (grid units), with
/// β for the oversampling σ (Beatty et al. 2005), tabulated; and its Fourier transform at an
/// output position (numerically, for deapodization).
struct KaiserBessel: Sendable {
    let halfWidth: Double, beta: Double
    let table: [Double]
    static let samplesPerUnit = 2000

    init(halfWidth: Double, oversampling sigma: Double) {
        self.halfWidth = halfWidth
        let width = 2 * halfWidth
        beta = Double.pi * ((width / sigma) * (width / sigma) * (sigma - 0.5) * (sigma - 0.5) - 0.8).squareRoot()
        let count = Int(halfWidth * Double(Self.samplesPerUnit)) + 2
        let b = beta, hw = halfWidth
        table = (0..<count).map { i in
            let d = Double(i) / Double(Self.samplesPerUnit)
            guard d <= hw else { return 0 }
            return Self.besselI0(b * (1 - (d / hw) * (d / hw)).squareRoot())
        }
    }

    @inline(__always) func value(_ d: Double) -> Double {
        let x = abs(d) * Double(Self.samplesPerUnit)
        let i = Int(x)
        guard i + 1 < table.count else { return 0 }
        let f = x - Double(i)
        return table[i] * (1 - f) + table[i + 1] * f
    }

    /// ∫ φ(d) e^{2πi d t / m} dd over the kernel's support (real: φ is even).
    func transform(_ t: Double, gridSize m: Int) -> Double {
        let steps = 4000
        let h = 2 * halfWidth / Double(steps)
        var sum = 0.0
        for i in 0...steps {
            let d = -halfWidth + Double(i) * h
            let w = (i == 0 || i == steps) ? 0.5 : 1
            sum += w * value(d) * cos(2 * Double.pi * d * t / Double(m))
        }
        return sum * h
    }

    /// The modified Bessel function I₀ (power series; converges for the β used here).
    static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0
        let q = x * x / 4
        for k in 1..<200 {
            term *= q / Double(k * k)
            sum += term
            if term < 1e-17 * sum { break }
        }
        return sum
    }
}
