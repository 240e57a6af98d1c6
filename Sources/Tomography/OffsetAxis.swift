import Foundation
import LensCore

/// How a 360° offset-axis scan was stitched.
public struct OffsetAxisStitch: Codable, Sendable, Equatable {
    /// Rotation axis column on the original detector.
    public var axisColumn: Double
    /// Columns of the stitched 180° sinogram and the axis column in it.
    public var stitchedColumns: Int
    public var stitchedAxisColumn: Double
    /// Width of the overlap of a projection and its mirrored partner (blended), in pixels.
    public var overlapPixels: Double
    /// Pairs (θ, θ + 180°) used and their worst angular mismatch in degrees.
    public var pairCount: Int
    public var worstPairMismatchDegrees: Double
    /// Angles (degrees) of the stitched sinogram.
    public var anglesDegrees: [Double]
}

/// Offset-axis ("half acquisition", double field of view) scans: with the rotation axis near
/// one edge of the detector and a 360° rotation, projection θ + 180° is the mirror image of the
/// other half of the object at θ. Each projection θ in [θ₀, θ₀ + 180°) is joined with its
/// mirrored partner into one row of a 180° sinogram up to twice as wide, the two blended
/// linearly across their overlap (so a gain step at the seam does not become a ring).
public enum OffsetAxisStitching {
    /// Plans the stitch for a detector of `columns` with the axis at `axisColumn`.
    public static func plan(anglesDegrees: [Double], columns: Int, axisColumn: Double) throws -> (OffsetAxisStitch, pairs: [(Int, Int)]) {
        guard axisColumn >= 0, axisColumn <= Double(columns - 1) else {
            throw LensError.invalidArgument("offset axis column \(axisColumn) lies outside the detector (0…\(columns - 1))")
        }
        let start = anglesDegrees.min() ?? 0
        guard let end = anglesDegrees.max(), end - start > 300 else {
            throw LensError.invalidArgument("an offset-axis scan must cover 360° (this one covers \(start)…\(anglesDegrees.max() ?? start)°)")
        }
        var pairs = [(Int, Int)](), worst = 0.0
        let step = (end - start) / Double(Swift.max(1, anglesDegrees.count - 1))
        for (a, theta) in anglesDegrees.enumerated() where theta < start + 180 - 1e-9 {
            var best = -1, mismatch = Double.infinity
            for (b, other) in anglesDegrees.enumerated() {
                let d = abs(other - theta - 180)
                if d < mismatch { mismatch = d; best = b }
            }
            if mismatch <= 0.51 * step + 1e-9 { pairs.append((a, best)); worst = Swift.max(worst, mismatch) }
        }
        guard pairs.count >= 2 else { throw LensError.invalidArgument("no projection pairs 180° apart for offset-axis stitching") }
        let left = axisColumn, right = Double(columns - 1) - axisColumn
        let extent = Swift.max(left, right)
        let stitchedAxis = left >= right ? axisColumn : extent
        let stitchedColumns = Int((stitchedAxis + extent).rounded(.down)) + 1
        let stitch = OffsetAxisStitch(axisColumn: axisColumn, stitchedColumns: stitchedColumns, stitchedAxisColumn: stitchedAxis,
                                      overlapPixels: 2 * Swift.min(left, right), pairCount: pairs.count, worstPairMismatchDegrees: worst,
                                      anglesDegrees: pairs.map { anglesDegrees[$0.0] })
        return (stitch, pairs)
    }

    /// Stitches line integrals (angle, row, column) of a 360° scan into a 180° stack
    /// (pair, row, stitched column). The direct projection keeps its own samples; the
    /// mirrored partner is interpolated (cubic convolution) at 2c − u.
    public static func stitch(_ lineIntegrals: Grid<Float>, anglesDegrees: [Double], axisColumn: Double) throws -> (Grid<Float>, OffsetAxisStitch) {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("stitching needs (angle, row, column) data with one angle per projection")
        }
        let (rows, cols) = (lineIntegrals.shape[1], lineIntegrals.shape[2])
        let (plan, pairs) = try self.plan(anglesDegrees: anglesDegrees, columns: cols, axisColumn: axisColumn)
        let width = plan.stitchedColumns
        // Stitched column k ↔ u = k − a_s from the axis; the direct projection has detector
        // column x = c + u, the mirrored partner x' = c − u.
        let offset = plan.stitchedAxisColumn - axisColumn
        let halfOverlap = plan.overlapPixels / 2
        let directOnLeft = axisColumn >= Double(cols - 1) - axisColumn
        var out = Grid<Float>(shape: Shape(pairs.count, rows, width), geometry: lineIntegrals.geometry)
        // Each worker owns whole stitched projections.
        Parallel.withDisjointWrites(&out) { o in
            Parallel.sharing(lineIntegrals) { p in
                Parallel.forEachChunk(count: pairs.count, minimumChunk: 1) { range in
                    for k in range {
                        let (a, b) = pairs[k]
                        for r in 0..<rows {
                            let rowA = (a * rows + r) * cols, rowB = (b * rows + r) * cols
                            for j in 0..<width {
                                let u = Double(j) - plan.stitchedAxisColumn
                                let x = Double(j) - offset, xm = axisColumn - u
                                let direct: Float? = x >= 0 && x <= Double(cols - 1) ? sample(p, rowA, x, cols) : nil
                                let mirror: Float? = xm >= 0 && xm <= Double(cols - 1) ? sample(p, rowB, xm, cols) : nil
                                var value: Float = 0
                                switch (direct, mirror) {
                                case let (d?, m?):
                                    // Weight of the direct sample falls from 1 to 0 across the overlap.
                                    let t = halfOverlap > 0 ? (directOnLeft ? (halfOverlap - u) : (u + halfOverlap)) / (2 * halfOverlap) : 0.5
                                    let w = Float(Swift.min(1, Swift.max(0, t)))
                                    value = w * d + (1 - w) * m
                                case let (d?, nil): value = d
                                case let (nil, m?): value = m
                                default: value = 0
                                }
                                o[(k * rows + r) * width + j] = value
                            }
                        }
                    }
                }
            }
        }
        return (out, plan)
    }

    /// Keys cubic convolution (a = −½), edges held: sharper than linear interpolation, so the
    /// mirrored half is not blurred relative to the direct one.
    @inline(__always) static func sample(_ p: SharedReadBuffer<Float>, _ base: Int, _ x: Double, _ cols: Int) -> Float {
        let x0 = Int(x.rounded(.down)), t = Float(x - Double(x0))
        if t == 0 { return p[base + x0] }
        @inline(__always) func at(_ i: Int) -> Float { p[base + Swift.min(cols - 1, Swift.max(0, i))] }
        return keysCubic(at(x0 - 1), at(x0), at(x0 + 1), at(x0 + 2), t)
    }
}

/// Keys cubic convolution (a = −½) between p1 and p2 at fraction t, from four neighbours
/// (Keys, IEEE Trans. ASSP 29, 1153, 1981): sharper than linear interpolation.
@inline(__always) func keysCubic<T: FloatingPoint>(_ p0: T, _ p1: T, _ p2: T, _ p3: T, _ t: T) -> T {
    let half = T(1) / T(2)
    let inner = T(2) * p0 - T(5) * p1 + T(4) * p2 - p3 + t * (T(3) * (p1 - p2) + p3 - p0)
    return p1 + half * t * (p2 - p0 + t * inner)
}
