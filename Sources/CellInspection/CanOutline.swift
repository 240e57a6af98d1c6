import Foundation
import LensCore
import Signal

/// A position in a cross-section, in pixels: `x` along columns, `y` along rows (rows grow
/// downwards, as the image is stored). The centre of pixel (row i, column j) is (x j, y i).
public struct PixelPoint: Codable, Sendable, Equatable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// Polar angles in a cross-section: θ = atan2(y − y₀, x − x₀) in [0, 2π), measured from the
/// +x (column) axis towards +y (down the rows) — clockwise on screen, as ImageJ's polar
/// transformer and scikit-image's `warp_polar` count them.
public enum PolarAngle {
    /// θ of sample `j` of `count` equal steps: 2πj/count.
    public static func radians(sample j: Int, of count: Int) -> Double { 2 * Double.pi * Double(j) / Double(count) }
    /// θ of a point about `centre`, in [0, 2π).
    public static func radians(of point: PixelPoint, about centre: PixelPoint) -> Double {
        let a = atan2(point.y - centre.y, point.x - centre.x)
        return a < 0 ? a + 2 * Double.pi : a
    }
}

/// Bilinear interpolation of a 2D image at (x, y) in pixels; NaN outside the image.
@inline(__always)
func bilinear(_ v: SharedReadBuffer<Float>, rows: Int, columns: Int, x: Double, y: Double) -> Float {
    guard x >= 0, y >= 0, x <= Double(columns - 1), y <= Double(rows - 1) else { return .nan }
    let x0 = Swift.min(Int(x), columns - 2 < 0 ? 0 : columns - 2), y0 = Swift.min(Int(y), rows - 2 < 0 ? 0 : rows - 2)
    let fx = Float(x - Double(x0)), fy = Float(y - Double(y0))
    let x1 = Swift.min(x0 + 1, columns - 1), y1 = Swift.min(y0 + 1, rows - 1)
    let top = v[y0 * columns + x0] * (1 - fx) + v[y0 * columns + x1] * fx
    let bottom = v[y1 * columns + x0] * (1 - fx) + v[y1 * columns + x1] * fx
    return top * (1 - fy) + bottom * fy
}

/// The edge of a peak at half maximum on a sampled profile — the width a user reads off a line
/// profile: the base is the lowest finite sample from the peak up to `bound` (walking by `step`,
/// ±1), the half level (peak + base)/2, and the edge where the profile, walked from the peak
/// towards `bound`, first falls below it (linear interpolation), in sample units. nil when the
/// profile does not fall below the half level before `bound` (the peak has no edge on that side).
func halfMaximumEdge(_ profile: UnsafeBufferPointer<Float>, peak: Int, step: Int, bound: Int) -> Double? {
    var base = Float.infinity
    var r = peak
    while r != bound { r += step; if profile[r].isFinite { base = Swift.min(base, profile[r]) } }
    guard base.isFinite, base < profile[peak] else { return nil }
    let half = (profile[peak] + base) / 2
    var e = peak
    while e != bound, profile[e + step].isFinite, profile[e + step] >= half { e += step }
    guard e != bound, profile[e + step].isFinite else { return nil }
    return Double(e) + Double(step) * Double((profile[e] - half) / (profile[e] - profile[e + step]))
}

/// The can (steel or aluminium housing) of a cylindrical cell in one cross-section: the
/// brightest ring of the image, located by a robust algebraic circle fit and then traced
/// ray by ray to its inner and outer wall.
public struct CanOutline: Codable, Sendable, Equatable {
    /// Centre of the fitted circle (pixels): the cell's axis in this slice.
    public var centre: PixelPoint
    /// Mean radius of the can's inner wall (pixels).
    public var meanInnerRadius: Double
    /// Median wall thickness over all rays (pixels).
    public var wallThickness: Double
    /// Largest minus smallest inner radius after a 3° running median (pixels): 0 for a
    /// round can, 2(a − b) for an elliptical one.
    public var outOfRoundness: Double
    /// The largest inward deviation of the inner wall from its mean radius (pixels) and the
    /// polar angle where it lies: a dent.
    public var deepestDent: Double
    public var deepestDentAngleDegrees: Double
    /// Inner-wall radius per angle sample (pixels), unsmoothed; the sample count is the
    /// inspection's angular sampling.
    public var innerRadii: [Double]
    /// Grey level of the can and the threshold that separated it from the inside.
    public var canLevel: Double
    public var wallThreshold: Double
}

/// Finds the can: pixels above the 98th percentile (the housing is the densest part of a
/// cell and covers a few per cent of a cross-section), a Kåsa algebraic circle fit
/// (x² + y² + Dx + Ey + F = 0 by linear least squares) repeated with points further than
/// max(2 px, 3 robust σ) from the circle set aside; then on each ray, walking in from outside,
/// the first run above the level halfway between the can and the inside of the cell is the
/// wall, its two edges placed at half maximum (``halfMaximumEdge``).
enum CanFinder {
    static func find(_ image: Grid<Float>, angularSamples: Int?) throws -> CanOutline {
        let rows = image.shape[0], columns = image.shape[1]
        let values = image.elements.filter(\.isFinite).map(Double.init)
        guard values.count >= 64 else { throw LensError.numerical("the cross-section has fewer than 64 finite pixels") }
        let cut = Statistics.percentile(values, 98)
        var points: [(x: Double, y: Double, v: Double)] = []
        image.withUnsafeBufferPointer { v in
            for i in 0..<rows { for j in 0..<columns where v[i * columns + j] >= Float(cut) && v[i * columns + j].isFinite {
                points.append((Double(j), Double(i), Double(v[i * columns + j])))
            } }
        }
        guard points.count >= 16 else { throw LensError.numerical("no bright ring (can) found: declare the cell's centre and inner can radius") }
        // Robust Kåsa fit in centred coordinates (conditioning).
        let mx = points.reduce(0) { $0 + $1.x } / Double(points.count), my = points.reduce(0) { $0 + $1.y } / Double(points.count)
        var kept = Array(points.indices)
        var centre = PixelPoint(x: mx, y: my), radius = 0.0
        for _ in 0..<8 {
            guard kept.count >= 16 else { break }
            let a = Matrix(columns: [kept.map { points[$0].x - mx }, kept.map { points[$0].y - my }, kept.map { _ in 1.0 }])
            let b = kept.map { let p = points[$0]; return -((p.x - mx) * (p.x - mx) + (p.y - my) * (p.y - my)) }
            let c = try LeastSquares.solve(a, b).coefficients
            let cx = -c[0] / 2, cy = -c[1] / 2
            let r2 = cx * cx + cy * cy - c[2]
            guard r2 > 1 else { throw LensError.numerical("no bright ring (can) found: declare the cell's centre and inner can radius") }
            centre = PixelPoint(x: cx + mx, y: cy + my); radius = r2.squareRoot()
            let residuals = points.map { abs(hypot($0.x - centre.x, $0.y - centre.y) - radius) }
            let spread = 1.4826 * Statistics.median(kept.map { residuals[$0] })
            let limit = Swift.max(2, 3 * spread)
            let next = points.indices.filter { residuals[$0] <= limit }
            if next == kept { break }
            kept = next
        }
        // A ring, not a blob: the kept points must surround the centre.
        var sectors = Set<Int>()
        for k in kept { sectors.insert(Int(PolarAngle.radians(of: PixelPoint(x: points[k].x, y: points[k].y), about: centre) / (2 * .pi) * 36) % 36) }
        guard sectors.count >= 27, radius >= 8 else {
            throw LensError.numerical("no closed bright ring (can) found (the brightest pixels cover \(sectors.count * 10)° around their centre): declare the cell's centre and inner can radius")
        }
        let canLevel = Statistics.median(kept.map { points[$0].v })
        // The inside of the cell: the median between 0.5 and 0.9 of the radius.
        var inside: [Double] = []
        image.withUnsafeBufferPointer { v in
            for i in 0..<rows { for j in 0..<columns {
                let dx = Double(j) - centre.x, dy = Double(i) - centre.y
                let r2 = dx * dx + dy * dy
                if r2 > 0.25 * radius * radius, r2 < 0.81 * radius * radius, v[i * columns + j].isFinite { inside.append(Double(v[i * columns + j])) }
            } }
        }
        let insideLevel = inside.isEmpty ? Statistics.percentile(values, 50) : Statistics.median(inside)
        let threshold = (canLevel + insideLevel) / 2
        let samples = angularSamples ?? Swift.min(16_384, Swift.max(360, Int((2 * Double.pi * radius).rounded(.up))))
        var innerRadii = [Double](repeating: .nan, count: samples), walls = [Double](repeating: .nan, count: samples)
        Parallel.sharing(image) { v in
            for j in 0..<samples {
                let theta = PolarAngle.radians(sample: j, of: samples)
                let (dx, dy) = (cos(theta), sin(theta))
                func value(_ r: Double) -> Float { bilinear(v, rows: rows, columns: columns, x: centre.x + r * dx, y: centre.y + r * dy) }
                // The ray from 0.5 to 1.25 of the fitted radius in half-pixel steps. Walking in
                // from outside, the first run above the threshold is the can (the outermost
                // dense structure, also where it is dented); each wall is then placed at half
                // maximum between the run's peak and the minimum beside it within 8 px (the
                // FWHM edges, independent of the detection threshold).
                let first = 0.5 * radius, steps = Int(0.75 * radius / 0.5) + 1
                let profile = (0..<steps).map { value(first + 0.5 * Double($0)) }
                let t = Float(threshold)
                var b = steps - 1
                while b >= 0, !(profile[b].isFinite && profile[b] >= t) { b -= 1 }
                guard b > 0 else { continue }
                var a = b
                while a > 0, profile[a - 1].isFinite, profile[a - 1] >= t { a -= 1 }
                guard a > 0 else { continue }
                var peak = a
                for k in a...b where profile[k] > profile[peak] { peak = k }
                // The base on each side: the lowest point within 8 px (16 samples) beyond the run.
                let (inner, outer) = profile.withUnsafeBufferPointer { p in
                    (halfMaximumEdge(p, peak: peak, step: -1, bound: Swift.max(0, a - 16)),
                     halfMaximumEdge(p, peak: peak, step: 1, bound: Swift.min(steps - 1, b + 16)))
                }
                guard let inner else { continue }
                innerRadii[j] = first + 0.5 * inner
                if let outer { walls[j] = 0.5 * (outer - inner) }
            }
        }
        let traced = innerRadii.filter(\.isFinite)
        guard traced.count >= samples * 3 / 4 else {
            throw LensError.numerical("the can's inner wall was traced on only \(traced.count) of \(samples) rays: declare the cell's centre and inner can radius")
        }
        // Rays that lost the wall take the median so the per-angle limit stays defined.
        let medianInner = Statistics.median(traced)
        innerRadii = innerRadii.map { $0.isFinite ? $0 : medianInner }
        let smoothed = CircularFilter.runningMedian(innerRadii, halfWidth: Swift.max(1, samples / 240))
        let mean = smoothed.reduce(0, +) / Double(samples)
        // A can is round: a ring whose inner wall wanders by more than a fifth of its radius is
        // some other dense part of the cell (a cap, a tab, a terminal plate).
        guard smoothed.max()! - smoothed.min()! <= 0.2 * mean else {
            throw LensError.numerical(String(format: "the brightest ring is not round (inner radius %.1f–%.1f px): not a can; declare the cell's centre and inner can radius", smoothed.min()!, smoothed.max()!))
        }
        let dentIndex = smoothed.indices.max { mean - smoothed[$0] < mean - smoothed[$1] }!
        let wallValues = walls.filter(\.isFinite)
        return CanOutline(centre: centre, meanInnerRadius: mean, wallThickness: wallValues.isEmpty ? .nan : Statistics.median(wallValues),
                          outOfRoundness: smoothed.max()! - smoothed.min()!, deepestDent: mean - smoothed[dentIndex],
                          deepestDentAngleDegrees: PolarAngle.radians(sample: dentIndex, of: samples) * 180 / .pi,
                          innerRadii: innerRadii, canLevel: canLevel, wallThreshold: threshold)
    }
}

/// Every pixel of a cross-section in polar coordinates about a centre: its nearest ray of
/// `rays` equal steps (``PolarAngle``'s convention) and its distance from the centre, computed
/// once per slice for the masks that need them.
struct PolarPixelMap: Sendable {
    let ray: [Int32]
    let radius: [Float]

    init(rows: Int, columns: Int, centre: PixelPoint, rays: Int) {
        var ray = [Int32](repeating: 0, count: rows * columns), radius = [Float](repeating: 0, count: rows * columns)
        let scale = Double(rays) / (2 * Double.pi)
        Parallel.forEachRowChunk(rows: rows, rowLength: columns, minimumChunk: 16, writing: &ray, &radius) { rayOut, radiusOut in
            for i in rayOut.rows { for j in 0..<columns {
                let dx = Double(j) - centre.x, dy = Double(i) - centre.y
                let a = PolarAngle.radians(of: PixelPoint(x: Double(j), y: Double(i)), about: centre)
                rayOut[i * columns + j] = Int32(Int((a * scale).rounded()) % rays)
                radiusOut[i * columns + j] = Float((dx * dx + dy * dy).squareRoot())
            } }
        }
        self.ray = ray; self.radius = radius
    }
}

/// Filters of values sampled around a circle (the last neighbours the first).
enum CircularFilter {
    /// Running median over 2·halfWidth + 1 samples, wrapping around.
    static func runningMedian(_ values: [Double], halfWidth: Int) -> [Double] {
        let n = values.count
        guard n > 2 * halfWidth + 1 else { return values }
        return (0..<n).map { j in
            var window = (-halfWidth...halfWidth).map { values[(j + $0 + n) % n] }
            window.sort()
            return window[halfWidth]
        }
    }
}
