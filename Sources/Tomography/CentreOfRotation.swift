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

/// One reconstruction of a slice at a candidate centre, for judging by eye.
public struct CentreCandidate: Sendable {
    public var column: Double
    public var slice: Grid<Float>
    /// Shannon entropy (bits) of the slice's 256-bin histogram: the right centre gives the
    /// sharpest, least-smeared slice and usually the lowest entropy (Donath et al., J. Opt.
    /// Soc. Am. A 23, 1048, 2006).
    public var entropyBits: Double
}

/// Centre sweep: reconstructs one detector row at each candidate centre (a common request —
/// users pick the sharpest slice by eye), with the entropy of each as a guide.
public enum CentreSweep {
    public static func run(lineIntegrals: Grid<Float>, geometry: ParallelBeamGeometry, row: Int, candidates: [Double],
                           options: FBPOptions = FBPOptions()) throws -> [CentreCandidate] {
        guard row >= 0, row < geometry.detectorRows else { throw LensError.invalidArgument("sweep row \(row) outside 0..<\(geometry.detectorRows)") }
        var slices = [CentreCandidate]()
        for column in candidates {
            var g = geometry
            g.centreOffsetPixels = column - Double(geometry.detectorColumns - 1) / 2
            let slice = try FilteredBackProjection.reconstruct(lineIntegrals, geometry: g, slices: row..<(row + 1), options: options)
            slices.append(CentreCandidate(column: column, slice: slice, entropyBits: entropy(slice)))
        }
        return slices
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
