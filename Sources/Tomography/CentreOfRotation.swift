import Foundation
import LensCore
import Signal

/// The centre of rotation found by a method, with its evidence.
public struct CentreEstimate: Codable, Sendable, Equatable {
    /// Detector column of the rotation axis (sub-pixel).
    public var column: Double
    public var method: String
    /// Projection pairs used (indices) and the mismatch of their angles from 180°, degrees.
    public var pairs: [[Int]]
    public var worstPairMismatchDegrees: Double
    /// The metric (mean squared difference) against the candidate column, for plotting.
    public var metricColumns: [Double]
    public var metric: [Double]
    /// True when the optimum sits at the edge of the searched range (widen the search).
    public var atSearchEdge: Bool
}

/// Centre of rotation from projections 180° apart (science brief §2): projection θ + 180° is
/// the mirror image of projection θ about the axis column c, p_{θ+π}(j) = p_θ(2c − j). The
/// mirrored partner is compared with shifted copies of the first (linear interpolation), and
/// the squared difference over the overlap, normalized by the squared values there, is
/// minimized over the shift — first on integer shifts, then on
/// a 0.05-pixel grid around the best, with a parabola through the three lowest points. Works
/// on line integrals (−log data); several pairs are averaged.
public enum MirrorCentreFinder {
    public static func find(lineIntegrals: Grid<Float>, anglesDegrees: [Double], rows: Range<Int>? = nil,
                            maxPairs: Int = 8, searchHalfWidthPixels: Double? = nil,
                            minimumOverlapFraction: Double = 0.25) throws -> CentreEstimate {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("centre finding needs (angle, row, column) data with one angle per projection")
        }
        let (count, detectorRows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        let useRows = rows ?? 0..<detectorRows
        let step = count > 1 ? abs(anglesDegrees[count - 1] - anglesDegrees[0]) / Double(count - 1) : 1
        // Pairs (a, b) with angle(b) − angle(a) closest to 180°.
        var pairs = [(Int, Int, Double)]()
        for a in 0..<count {
            var best = -1, mismatch = Double.infinity
            for b in 0..<count {
                let d = abs(anglesDegrees[b] - anglesDegrees[a] - 180)
                if d < mismatch { mismatch = d; best = b }
            }
            if best >= 0 && mismatch <= 1.5 * Swift.max(step, 1e-9) { pairs.append((a, best, mismatch)) }
        }
        guard !pairs.isEmpty else {
            throw LensError.invalidArgument("no projection pairs 180° apart (scan range \(anglesDegrees.min() ?? 0)…\(anglesDegrees.max() ?? 0)°)")
        }
        pairs.sort { $0.2 < $1.2 }
        let chosen = Array(pairs.prefix(maxPairs))
        let half = searchHalfWidthPixels ?? Double(cols) / 4
        // Shift s = 2c − (cols − 1); search c within ± half of the detector centre.
        let sMin = -2 * half, sMax = 2 * half
        func metric(_ s: Double) -> Double {
            var difference = 0.0, energy = 0.0, n = 0
            lineIntegrals.withUnsafeBufferPointer { p in
                for (a, b, _) in chosen { for r in useRows {
                    let baseA = (a * detectorRows + r) * cols, baseB = (b * detectorRows + r) * cols
                    for j in 0..<cols {
                        // mirrored partner q(j) = p_b(cols − 1 − j) equals p_a(j + s).
                        let x = Double(j) + s
                        guard x >= 0 && x <= Double(cols - 1) else { continue }
                        let x0 = Swift.min(cols - 2, Int(x)), f = x - Double(x0)
                        let va = Double(p[baseA + x0]) * (1 - f) + Double(p[baseA + x0 + 1]) * f
                        let vb = Double(p[baseB + cols - 1 - j])
                        difference += (va - vb) * (va - vb); energy += va * va + vb * vb; n += 1
                    }
                } }
            }
            // Normalized by the signal in the overlap, so an overlap of empty (air) columns
            // does not match trivially; and a minimum overlap.
            guard Double(n) >= minimumOverlapFraction * Double(cols * chosen.count * useRows.count), energy > 0 else { return .infinity }
            return difference / energy
        }
        var columns = [Double](), values = [Double]()
        var bestS = 0.0, bestValue = Double.infinity
        guard cols >= 8, sMin.isFinite, sMax.isFinite else {
            throw LensError.numerical("the detector has \(cols) columns; finding the centre needs at least 8 (give --center)")
        }
        let sLow = Swift.max(Int(sMin.rounded(.up)), -(cols - 2)), sHigh = Swift.min(Int(sMax.rounded(.down)), cols - 2)
        guard sLow <= sHigh else { throw LensError.numerical("no centre candidates in the search range (give --center)") }
        for s in sLow...sHigh {
            let v = metric(Double(s))
            columns.append((Double(cols - 1) + Double(s)) / 2); values.append(v)
            if v < bestValue { bestValue = v; bestS = Double(s) }
        }
        let atEdge = bestS <= Double(sLow) + 1 || bestS >= Double(sHigh) - 1
        // Fine search ±1 pixel in 0.05-pixel steps, then a parabola through the best three.
        var fineBest = bestS, fineValue = bestValue
        var fine = [(Double, Double)]()
        for k in -20...20 {
            let s = bestS + Double(k) * 0.05
            let v = metric(s)
            fine.append((s, v))
            if v < fineValue { fineValue = v; fineBest = s }
        }
        if let i = fine.firstIndex(where: { $0.0 == fineBest }), i > 0, i < fine.count - 1 {
            let (x0, y0) = fine[i - 1], (_, y1) = fine[i], (_, y2) = fine[i + 1]
            let denominator = y0 - 2 * y1 + y2
            if denominator > 0 && denominator.isFinite { fineBest = x0 + 0.05 * (1 + 0.5 * (y0 - y2) / denominator) }
        }
        return CentreEstimate(column: (Double(cols - 1) + fineBest) / 2, method: "mirror-0-180",
                              pairs: chosen.map { [$0.0, $0.1] }, worstPairMismatchDegrees: chosen.map(\.2).max() ?? 0,
                              metricColumns: columns, metric: values, atSearchEdge: atEdge)
    }
}

/// Centre of rotation from the Fourier transform of a 360° sinogram built from a 180° one
/// (Vo, Atwood & Drakopoulos, Opt. Express 22, 19078, 2014): for the right centre c, the
/// sinogram followed by its mirror about c (the projections θ + 180°) is a consistent 360°
/// sinogram, whose 2D spectrum is confined to a double wedge |n| ≤ π|k| (angular harmonic n,
/// detector frequency k of W columns, object within the field of view). A wrong centre breaks
/// the sinogram at 180° and spreads energy outside the wedge; the mean spectral magnitude
/// there is minimized — first on a binned sinogram over half-pixel steps, then at full
/// resolution in 0.05-pixel steps (mirror sampled by cubic convolution), with a parabola
/// through the three lowest points. Rows are averaged first (the sinogram of the
/// row-averaged object is still consistent, and less noisy).
public enum FourierCentreFinder {
    public static func find(lineIntegrals: Grid<Float>, anglesDegrees: [Double], rows: Range<Int>? = nil,
                            searchHalfWidthPixels: Double? = nil) throws -> CentreEstimate {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("centre finding needs (angle, row, column) data with one angle per projection")
        }
        let (detectorRows, cols) = (lineIntegrals.shape[1], lineIntegrals.shape[2])
        let useRows = rows ?? 0..<detectorRows
        guard let start = anglesDegrees.min(), anglesDegrees.count >= 8, cols >= 8 else {
            throw LensError.invalidArgument("the Fourier centre method needs at least 8 angles and 8 columns")
        }
        // The first 180° of the scan, in angle order.
        let order = anglesDegrees.indices.filter { anglesDegrees[$0] < start + 180 - 1e-6 }.sorted { anglesDegrees[$0] < anglesDegrees[$1] }
        let span = order.last.map { anglesDegrees[$0] - start } ?? 0
        guard span > 170 else {
            throw LensError.invalidArgument("the Fourier centre method needs a scan over at least 170° (this one: \(span)°)")
        }
        var sinogram = [Double](repeating: 0, count: order.count * cols)
        lineIntegrals.withUnsafeBufferPointer { p in
            for (k, a) in order.enumerated() { for r in useRows { for j in 0..<cols {
                sinogram[k * cols + j] += Double(p[(a * detectorRows + r) * cols + j]) / Double(useRows.count)
            } } }
        }
        let half = searchHalfWidthPixels ?? Double(cols) / 4
        let centreColumn = Double(cols - 1) / 2
        // Coarse: bin to ≤ 256 columns and ≤ 256 angles, search centres in half-(binned)-pixel steps.
        let binC = Swift.max(1, cols / 256), binA = Swift.max(1, order.count / 256)
        let coarse = bin(sinogram, angles: order.count, cols: cols, binAngles: binA, binCols: binC)
        let coarseCols = cols / binC
        var columns = [Double](), values = [Double]()
        var best = centreColumn, bestValue = Double.infinity
        let steps = Int((half / Double(binC) * 2).rounded(.down))
        for k in -steps...steps {
            // Centre in binned columns (binned column i covers original i·b … i·b + b − 1).
            let cBinned = Double(coarseCols - 1) / 2 + Double(k) / 2
            let c = cBinned * Double(binC) + Double(binC - 1) / 2
            let v = metric(coarse.values, angles: coarse.angles, cols: coarseCols, centre: cBinned)
            columns.append(c); values.append(v)
            if v < bestValue { bestValue = v; best = c }
        }
        let atEdge = abs(best - centreColumn) >= half - Double(binC)
        // Fine: full resolution around the coarse optimum.
        let reach = Double(binC) + 0.5
        var fine = [(Double, Double)]()
        var c = best - reach
        while c <= best + reach + 1e-9 {
            fine.append((c, metric(sinogram, angles: order.count, cols: cols, centre: c)))
            c += 0.05
        }
        let i = fine.indices.min { fine[$0].1 < fine[$1].1 }!
        var column = fine[i].0
        if i > 0, i < fine.count - 1 {
            let (y0, y1, y2) = (fine[i - 1].1, fine[i].1, fine[i + 1].1)
            let d = y0 - 2 * y1 + y2
            if d > 0 { column += 0.05 * 0.5 * (y0 - y2) / d }
        }
        return CentreEstimate(column: column, method: "fourier-vo", pairs: [], worstPairMismatchDegrees: 0,
                              metricColumns: columns, metric: values, atSearchEdge: atEdge)
    }

    static func bin(_ s: [Double], angles: Int, cols: Int, binAngles: Int, binCols: Int) -> (values: [Double], angles: Int) {
        let (na, nc) = (angles / binAngles, cols / binCols)
        var out = [Double](repeating: 0, count: na * nc)
        for a in 0..<(na * binAngles) { for j in 0..<(nc * binCols) { out[(a / binAngles) * nc + j / binCols] += s[a * cols + j] } }
        let scale = 1 / Double(binAngles * binCols)
        return (out.map { $0 * scale }, na)
    }

    /// Mean spectral magnitude outside the double wedge of the 360° sinogram for centre `c`.
    static func metric(_ s: [Double], angles: Int, cols: Int, centre c: Double) -> Double {
        var full = Grid<Double>(shape: Shape(2 * angles, cols))
        full.withUnsafeMutableBufferPointer { f in
            for a in 0..<angles {
                for j in 0..<cols {
                    f[a * cols + j] = s[a * cols + j]
                    f[(a + angles) * cols + j] = cubic(s, a * cols, cols, 2 * c - Double(j))
                }
            }
        }
        let spectrum = FFT.forward(full, threads: 1)
        let bins = cols / 2 + 1
        var total = 0.0, count = 0.0
        spectrum.withUnsafeBufferPointer { p in
            for r in 0..<(2 * angles) {
                let n = Double(r <= angles ? r : r - 2 * angles)
                guard abs(n) >= 2 else { continue }
                for k in 0..<bins where abs(n) > Double.pi * Double(k) + 1 {
                    let weight = k == 0 || (cols % 2 == 0 && k == bins - 1) ? 1.0 : 2.0
                    let v = p[r * bins + k]
                    total += weight * (v.real * v.real + v.imaginary * v.imaginary).squareRoot()
                    count += weight
                }
            }
        }
        return count > 0 ? total / count : .infinity
    }

    /// Keys cubic convolution (a = −½) at position x of a row, edges held.
    @inline(__always) static func cubic(_ s: [Double], _ base: Int, _ n: Int, _ x: Double) -> Double {
        let x0 = Int(x.rounded(.down)), t = x - Double(x0)
        @inline(__always) func at(_ i: Int) -> Double { s[base + Swift.min(n - 1, Swift.max(0, i))] }
        return keysCubic(at(x0 - 1), at(x0), at(x0 + 1), at(x0 + 2), t)
    }
}

/// One reconstruction of a slice at a candidate centre, for judging by eye, with sharpness
/// and consistency measures.
public struct CentreCandidate: Sendable {
    public var column: Double
    public var slice: Grid<Float>
    /// Shannon entropy (bits) of the slice's 256-bin histogram (Donath et al., J. Opt. Soc.
    /// Am. A 23, 1048, 2006). Shown for comparison only: it is not a reliable criterion.
    public var entropyBits: Double
    /// Total variation of the slice over its ℓ1 norm: a wrong centre doubles edges into arcs.
    public var totalVariationRatio: Double
    /// Negative mass over the ℓ1 norm: a wrong centre leaves negative arcs beside features.
    public var negativeFraction: Double
    /// ‖R(FBP(p)) − p‖² / ‖p‖²: how far the measured sinogram is from one the slice explains.
    public var reprojectionResidual: Double
}

/// Centre sweep: reconstructs one detector row at each candidate centre (a common request —
/// users pick the sharpest slice by eye), with measures of each.
public enum CentreSweep {
    public static func run(lineIntegrals: Grid<Float>, geometry: ParallelBeamGeometry, row: Int, candidates: [Double],
                           options: FBPOptions = FBPOptions()) throws -> [CentreCandidate] {
        guard row >= 0, row < geometry.detectorRows else { throw LensError.invalidArgument("sweep row \(row) outside 0..<\(geometry.detectorRows)") }
        let (angles, rows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        let sinogram = Grid<Float>(shape: Shape(angles, 1, cols)) { i in lineIntegrals[linear: ((i / cols) * rows + row) * cols + i % cols] }
        var slices = [CentreCandidate]()
        for column in candidates {
            var g = geometry
            g.detectorRows = 1
            g.centreOffsetPixels = column - Double(geometry.detectorColumns - 1) / 2
            let slice = try FilteredBackProjection.reconstruct(sinogram, geometry: g, options: options)
            let (tv, negative) = sharpness(slice)
            slices.append(CentreCandidate(column: column, slice: slice, entropyBits: entropy(slice), totalVariationRatio: tv,
                                          negativeFraction: negative, reprojectionResidual: try residual(slice, sinogram: sinogram, geometry: g)))
        }
        return slices
    }

    /// Which measure picks the centre: the negative fraction for scans measuring each direction
    /// once (≤ 200°), the reprojection residual for scans measuring them twice.
    public enum Criterion: String, Sendable {
        case negativeFraction = "negative_fraction", reprojectionResidual = "reprojection_residual"
        public init(anglesDegrees: [Double]) {
            let span = (anglesDegrees.max() ?? 0) - (anglesDegrees.min() ?? 0)
            self = span > 200 ? .reprojectionResidual : .negativeFraction
        }
        public func value(_ c: CentreCandidate) -> Double {
            self == .negativeFraction ? c.negativeFraction : c.reprojectionResidual
        }
    }

    /// ‖R(slice) − sinogram‖² / ‖sinogram‖² for a (angle, 1, column) sinogram.
    static func residual(_ slice: Grid<Float>, sinogram: Grid<Float>, geometry g: ParallelBeamGeometry) throws -> Double {
        let reprojected = try JosephProjector(geometry: g, volumeShape: slice.shape).project(slice)
        var residual = 0.0, energy = 0.0
        for i in 0..<sinogram.count {
            let d = Double(reprojected[linear: i]) - Double(sinogram[linear: i])
            residual += d * d; energy += Double(sinogram[linear: i]) * Double(sinogram[linear: i])
        }
        return energy > 0 ? residual / energy : .nan
    }

    /// Total variation and negative mass over the ℓ1 norm, within the reconstruction circle
    /// (outside it, no projection saw the slice whole).
    static func sharpness(_ slice: Grid<Float>) -> (Double, Double) {
        let n = slice.shape[slice.rank - 1], m = slice.shape[slice.rank - 2]
        let (cy, cx) = (Double(m - 1) / 2, Double(n - 1) / 2)
        let r2 = Double(Swift.min(m, n)) * Double(Swift.min(m, n)) / 4
        var tv = 0.0, negative = 0.0, l1 = 0.0
        slice.withUnsafeBufferPointer { p in
            for r in 0..<m { for x in 0..<n {
                let (dy, dx) = (Double(r) - cy, Double(x) - cx)
                guard dy * dy + dx * dx <= r2 else { continue }
                let v = Double(p[r * n + x])
                if x + 1 < n { tv += abs(Double(p[r * n + x + 1]) - v) }
                if r + 1 < m { tv += abs(Double(p[(r + 1) * n + x]) - v) }
                if v < 0 { negative -= v }
                l1 += abs(v)
            } }
        }
        return l1 > 0 ? (tv / l1, negative / l1) : (0, 0)
    }

    static func entropy(_ slice: Grid<Float>) -> Double {
        let stats = slice.valueStatistics()
        let span = stats.maximum - stats.minimum
        guard span > 0 else { return 0 }
        var histogram = [Double](repeating: 0, count: 256)
        slice.withUnsafeBufferPointer { p in
            for v in p { histogram[Swift.min(255, Int((Double(v) - stats.minimum) / span * 256))] += 1 }
        }
        let total = Double(slice.count)
        return -histogram.reduce(0) { $1 > 0 ? $0 + $1 / total * log2($1 / total) : $0 }
    }
}

/// Centre of rotation for any angular range (limited-angle 135° scans included) from the
/// first Helgason–Ludwig consistency condition: the centroid of each projection follows a
/// sinusoid, j̄(θ) = c + A cos θ − B sin θ (the object's centre of mass (A, B) about the axis,
/// in the orientation of ``ParallelBeamGeometry``), so a least-squares fit of j̄ against
/// (1, cos θ, sin θ) gives the axis column c. Needs the whole object inside the field of view
/// (no truncation) and line integrals near zero in air; both are checked.
public enum CentroidCentreFinder {
    public static func find(lineIntegrals: Grid<Float>, anglesDegrees: [Double], rows: Range<Int>? = nil) throws -> CentreEstimate {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("centre finding needs (angle, row, column) data with one angle per projection")
        }
        let (count, detectorRows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        let useRows = rows ?? 0..<detectorRows
        guard count >= 3, cols >= 8 else { throw LensError.numerical("the centroid method needs at least 3 angles and 8 columns") }
        let coverage = FilteredBackProjection.coverage(anglesDegrees: anglesDegrees)
        guard coverage.coveredDegrees >= 20 else {
            throw LensError.numerical(String(format: "the angles cover only %.0f°: too little to fit the centroid sinusoid (give --center)", coverage.coveredDegrees))
        }
        // Row-summed projections: their centroids, and the signal at the detector edges.
        var centroids = [Double](), weights = [Double]()
        lineIntegrals.withUnsafeBufferPointer { p in
            for a in 0..<count {
                var profile = [Double](repeating: 0, count: cols)
                for r in useRows { for j in 0..<cols { profile[j] += Double(p[(a * detectorRows + r) * cols + j]) } }
                // Air reads ~0; the median of the two outermost 5 % of columns is the baseline.
                let margin = Swift.max(1, cols / 20)
                let outer = (Array(profile[0..<margin]) + Array(profile[(cols - margin)..<cols])).sorted()
                let baseline = outer[outer.count / 2]
                var m0 = 0.0, m1 = 0.0
                for j in 0..<cols { let v = Swift.max(0, profile[j] - baseline); m0 += v; m1 += v * Double(j) }
                if m0 > 0 { centroids.append(m1 / m0); weights.append(Double(a)) }
            }
        }
        guard centroids.count >= 3 else { throw LensError.numerical("the projections hold no signal above their edges: cannot find the centre (give --center)") }
        // The object must stay inside the field of view: edge columns near air.
        let absoluteEdge: Double = lineIntegrals.withUnsafeBufferPointer { p in
            var peak = 0.0, edge = 0.0
            for a in 0..<count { for r in useRows {
                let base = (a * detectorRows + r) * cols
                for j in 0..<cols { peak = Swift.max(peak, Double(p[base + j])) }
                edge = Swift.max(edge, abs(Double(p[base])), abs(Double(p[base + cols - 1])))
            } }
            return peak > 0 ? edge / peak : 1
        }
        guard absoluteEdge < 0.05 else {
            throw LensError.numerical(String(format: "the object reaches the detector edge (line integral there %.0f %% of the maximum): the projections are truncated and the centroid method does not apply; give --center (or use --sweep)", 100 * absoluteEdge))
        }
        // Least squares for (c, A, B) in j̄ = c + A cos θ + B sin θ (Householder QR).
        let thetas = weights.map { anglesDegrees[Int($0)] * .pi / 180 }
        let design = Matrix(columns: [thetas.map { _ in 1.0 }, thetas.map { cos($0) }, thetas.map { sin($0) }])
        let fit = try LeastSquares.solve(design, centroids)
        let solution = fit.coefficients
        return CentreEstimate(column: solution[0], method: "centroid-sinusoid", pairs: [], worstPairMismatchDegrees: 0,
                              metricColumns: [], metric: [], atSearchEdge: false)
    }
}

/// Centre of rotation for truncated projections (interior tomography of an electrode larger
/// than the field of view) over a full 180° or 360°: a wrong centre turns every edge into arcs
/// of both signs, so the negative mass of the reconstructed slice, over its ℓ1 norm, is
/// smallest at the right centre (attenuation is non-negative). Validated on a truncated
/// electrode phantom over 180° and 360° and on the TomoPy tooth scan (AnyRangeCentreTests,
/// RealCentreTests). On a limited-angle (135°) truncated electrode every criterion measured —
/// negativity, total variation, reprojection residual, entropy — missed the centre by 5–15 px
/// (the missing wedge's own streaks dominate), so such scans are refused: their centre must be
/// given (`--center`, chosen by eye with `--sweep`), or found by ``CentroidCentreFinder`` when
/// the sample stays in view.
///
/// A scan over more than 200° measures each direction twice: there a wrong centre blurs
/// rather than splits edges, and the criterion is the reprojection residual instead (the two
/// halves disagree unless the centre is right).
///
/// Rows of the band are averaged into one sinogram; candidates are searched on columns binned
/// to ≤ 256 in half-bin steps, then refined on ≤ 512 columns in quarter-bin steps with a
/// parabola through the three lowest points.
public enum NegativityCentreFinder {
    public static func find(lineIntegrals: Grid<Float>, anglesDegrees: [Double], rows: Range<Int>? = nil,
                            searchHalfWidthPixels: Double? = nil) throws -> CentreEstimate {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("centre finding needs (angle, row, column) data with one angle per projection")
        }
        let (count, detectorRows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        guard count >= 8, cols >= 16 else { throw LensError.numerical("the negativity method needs at least 8 angles and 16 columns (give --center)") }
        let coverage = FilteredBackProjection.coverage(anglesDegrees: anglesDegrees)
        guard coverage.coveredDegrees >= 170 else {
            throw LensError.numerical(String(format: "no automatic centre is reliable for this scan: the angles cover %.0f° and the projections are truncated (the sample fills the field of view), and on such data every image criterion tested misses the centre by pixels; give --center (choose it by eye with --sweep)", coverage.coveredDegrees))
        }
        let useRows = rows ?? 0..<detectorRows
        var sinogram = [Double](repeating: 0, count: count * cols)
        lineIntegrals.withUnsafeBufferPointer { p in
            for a in 0..<count { for r in useRows { for j in 0..<cols {
                sinogram[a * cols + j] += Double(p[(a * detectorRows + r) * cols + j]) / Double(useRows.count)
            } } }
        }
        let half = searchHalfWidthPixels ?? Double(cols) / 4
        let centre = Double(cols - 1) / 2
        let averaged = sinogram

        let criterion = CentreSweep.Criterion(anglesDegrees: anglesDegrees)
        /// The criterion of the slice reconstructed from `sinogram` binned by `b` columns, at
        /// the full-resolution centre column `c`.
        func negativity(binning b: Int, at c: Double) throws -> Double {
            let n = cols / b
            let binned = Grid<Float>(shape: Shape(count, 1, n)) { i in
                let (a, j) = (i / n, i % n)
                var s = 0.0
                for k in 0..<b { s += averaged[a * cols + j * b + k] }
                return Float(s / Double(b))
            }
            let binnedCentre = (c - Double(b - 1) / 2) / Double(b)
            let g = ParallelBeamGeometry(anglesDegrees: anglesDegrees, detectorColumns: n, detectorRows: 1,
                                         centreOffsetPixels: binnedCentre - Double(n - 1) / 2)
            let slice = try FilteredBackProjection.reconstruct(binned, geometry: g, options: FBPOptions())
            switch criterion {
            case .negativeFraction: return CentreSweep.sharpness(slice).1
            case .reprojectionResidual: return try CentreSweep.residual(slice, sinogram: binned, geometry: g)
            }
        }

        // Coarse search.
        let coarse = Swift.max(1, cols / 256)
        var columns = [Double](), values = [Double]()
        var c = centre - half
        while c <= centre + half + 1e-9 {
            columns.append(c); values.append(try negativity(binning: coarse, at: c))
            c += 0.5 * Double(coarse)
        }
        guard let k = values.indices.min(by: { values[$0] < values[$1] }) else { throw LensError.numerical("no centre candidates (give --center)") }
        let atEdge = k == 0 || k == values.count - 1
        // Refinement.
        let fineBin = Swift.max(1, cols / 512)
        let step = 0.25 * Double(fineBin)
        var fine = [(Double, Double)]()
        var f = columns[k] - Double(coarse)
        while f <= columns[k] + Double(coarse) + 1e-9 {
            fine.append((f, try negativity(binning: fineBin, at: f)))
            f += step
        }
        let i = fine.indices.min { fine[$0].1 < fine[$1].1 }!
        var column = fine[i].0
        if i > 0, i < fine.count - 1 {
            let (y0, y1, y2) = (fine[i - 1].1, fine[i].1, fine[i + 1].1)
            let d = y0 - 2 * y1 + y2
            if d > 0 { column += step * 0.5 * (y0 - y2) / d }
        }
        return CentreEstimate(column: column, method: criterion == .negativeFraction ? "negativity" : "reprojection", pairs: [], worstPairMismatchDegrees: 0,
                              metricColumns: columns, metric: values, atSearchEdge: atEdge)
    }
}

/// Centre of rotation of a circular cone-beam scan from its mid-plane (the detector row through
/// the source, a fan beam): a ray measured at source angle β and fan angle γ is measured again
/// at β + π − 2γ with −γ (``ConeBeamGeometry``'s orientation; γ = atan(u/D), u the column's
/// distance from the axis at the axis plane, D the source distance). For each candidate axis
/// column the mismatch between every ray and its interpolated conjugate (linear in angle and
/// column) is the normalized mean squared difference; the minimum over integer columns is
/// refined on a 0.05-pixel grid with a parabola through the lowest three. Needs 180° + the fan
/// angle of data (full circles and short scans).
public enum FanBeamCentreFinder {
    /// - Parameters:
    ///   - midPlane: line integrals (angle, column) of the detector's middle row (the average of
    ///     the two middle rows for an even count).
    ///   - sourceToAxisPixels: the source distance in pixels at the axis plane.
    public static func find(midPlane: Grid<Float>, anglesDegrees: [Double], sourceToAxisPixels: Double,
                            searchHalfWidthPixels: Double? = nil) throws -> CentreEstimate {
        guard midPlane.rank == 2, midPlane.shape[0] == anglesDegrees.count, anglesDegrees.count >= 8 else {
            throw LensError.invalidArgument("the cone-beam centre needs (angle, column) mid-plane data with at least 8 angles")
        }
        guard sourceToAxisPixels.isFinite, sourceToAxisPixels > 0 else { throw LensError.invalidArgument("the source distance must be positive") }
        let (count, cols) = (midPlane.shape[0], midPlane.shape[1])
        let radians = anglesDegrees.map { $0 * .pi / 180 }
        let order = radians.indices.sorted { radians[$0] < radians[$1] }
        let sorted = order.map { radians[$0] }
        guard sorted.last! - sorted.first! > .pi else {
            throw LensError.invalidArgument("the cone-beam centre needs more than 180° of angles (each ray and its conjugate)")
        }
        let values = midPlane.elements
        // Up to ~120 angles and ~256 columns enter the metric.
        let angleStride = Swift.max(1, count / 120), columnStride = Swift.max(1, cols / 256)
        /// Linear interpolation of the sinogram at angle β (radians, inside the sorted range) and column x.
        func sample(_ beta: Double, _ x: Double) -> Double? {
            guard x >= 0, x <= Double(cols - 1) else { return nil }
            var b = beta
            let span = 2 * Double.pi
            while b < sorted.first! { b += span }
            while b > sorted.last! { b -= span }
            guard b >= sorted.first! else { return nil }
            var lo = 0, hi = sorted.count - 1
            while hi - lo > 1 { let mid = (lo + hi) / 2; if sorted[mid] <= b { lo = mid } else { hi = mid } }
            let gap = sorted[hi] - sorted[lo]
            // No conjugate across a gap wider than three typical steps.
            guard gap <= 3 * (sorted.last! - sorted.first!) / Double(sorted.count - 1) + 1e-12 else { return nil }
            let t = gap > 0 ? (b - sorted[lo]) / gap : 0
            let j0 = Swift.min(cols - 2, Int(x)), f = x - Double(j0)
            func at(_ k: Int) -> Double {
                let row = order[k] * cols
                return Double(values[row + j0]) * (1 - f) + Double(values[row + j0 + 1]) * f
            }
            return at(lo) * (1 - t) + at(hi) * t
        }
        func metric(_ c: Double) -> Double {
            var difference = 0.0, energy = 0.0, pairs = 0
            for a in stride(from: 0, to: count, by: angleStride) {
                for j in stride(from: 0, to: cols, by: columnStride) {
                    let u = Double(j) - c
                    let gamma = atan(u / sourceToAxisPixels)
                    guard let partner = sample(radians[a] + .pi - 2 * gamma, 2 * c - Double(j)) else { continue }
                    let p = Double(values[a * cols + j])
                    difference += (p - partner) * (p - partner); energy += p * p + partner * partner; pairs += 1
                }
            }
            return pairs > 0 && energy > 0 ? difference / energy : .infinity
        }
        let half = searchHalfWidthPixels ?? Double(cols) / 4
        let middle = Double(cols - 1) / 2
        let coarse = stride(from: (middle - half).rounded(.down), through: (middle + half).rounded(.up), by: 1).map { $0 }.filter { $0 >= 1 && $0 <= Double(cols - 2) }
        guard !coarse.isEmpty else { throw LensError.invalidArgument("no candidate centres on a detector of \(cols) columns") }
        let coarseMetric = coarse.map(metric)
        guard let k = coarseMetric.indices.min(by: { coarseMetric[$0] < coarseMetric[$1] }), coarseMetric[k].isFinite else {
            throw LensError.invalidArgument("no ray has a measured conjugate: the cone-beam centre cannot be found from these angles")
        }
        let fine = stride(from: coarse[k] - 1, through: coarse[k] + 1 + 1e-9, by: 0.05).map { $0 }
        let fineMetric = fine.map(metric)
        let f = fineMetric.indices.min { fineMetric[$0] < fineMetric[$1] }!
        var column = fine[f]
        if f > 0 && f < fine.count - 1 {
            let (y0, y1, y2) = (fineMetric[f - 1], fineMetric[f], fineMetric[f + 1])
            let denominator = y0 - 2 * y1 + y2
            if denominator > 0 { column += 0.05 * 0.5 * (y0 - y2) / denominator }
        }
        return CentreEstimate(column: column, method: "fan-beam conjugate rays", pairs: [], worstPairMismatchDegrees: 0,
                              metricColumns: coarse, metric: coarseMetric, atSearchEdge: k == 0 || k == coarse.count - 1)
    }
}
