import Foundation
import LensCore

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
/// the mean squared difference is minimized over the shift — first on integer shifts, then on
/// a 0.05-pixel grid around the best, with a parabola through the three lowest points. Works
/// on line integrals (−log data); several pairs are averaged.
public enum MirrorCentreFinder {
    public static func find(lineIntegrals: Grid<Float>, anglesDegrees: [Double], rows: Range<Int>? = nil,
                            maxPairs: Int = 8, searchHalfWidthPixels: Double? = nil) throws -> CentreEstimate {
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
            var total = 0.0, n = 0
            lineIntegrals.withUnsafeBufferPointer { p in
                for (a, b, _) in chosen { for r in useRows {
                    let baseA = (a * detectorRows + r) * cols, baseB = (b * detectorRows + r) * cols
                    for j in 0..<cols {
                        // mirrored partner q(j) = p_b(cols − 1 − j) equals p_a(j + s).
                        let x = Double(j) + s
                        guard x >= 0 && x <= Double(cols - 1) else { continue }
                        let x0 = Swift.min(cols - 2, Int(x)), f = x - Double(x0)
                        let va = Double(p[baseA + x0]) * (1 - f) + Double(p[baseA + x0 + 1]) * f
                        let d = va - Double(p[baseB + cols - 1 - j])
                        total += d * d; n += 1
                    }
                } }
            }
            // Require a reasonable overlap so extreme shifts are not favoured by tiny overlaps.
            return n >= cols / 4 * chosen.count * useRows.count ? total / Double(n) : .infinity
        }
        var columns = [Double](), values = [Double]()
        var bestS = 0.0, bestValue = Double.infinity
        for s in Int(sMin.rounded(.up))...Int(sMax.rounded(.down)) {
            let v = metric(Double(s))
            columns.append((Double(cols - 1) + Double(s)) / 2); values.append(v)
            if v < bestValue { bestValue = v; bestS = Double(s) }
        }
        let atEdge = bestS <= sMin + 1 || bestS >= sMax - 1
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
            if denominator > 0 { fineBest = x0 + 0.05 * (1 + 0.5 * (y0 - y2) / denominator) }
        }
        return CentreEstimate(column: (Double(cols - 1) + fineBest) / 2, method: "mirror-0-180",
                              pairs: chosen.map { [$0.0, $0.1] }, worstPairMismatchDegrees: chosen.map(\.2).max() ?? 0,
                              metricColumns: columns, metric: values, atSearchEdge: atEdge)
    }
}
