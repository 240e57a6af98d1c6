import Foundation
import LensCore

/// The bright electrode followed along its length through one cross-section: the "virtual
/// unrolling" of a wound cell (Kok et al., J. Electrochem. Soc. 166, A1292, 2019), in which the
/// spiral strip becomes a straight line so that defects on it (lost coating, cracks, plating)
/// sit at an arc length that can be compared slice by slice and with the cell's other scans.
public struct StripProfile: Sendable, Equatable {
    /// Arc length along the strip's mid-line from its inner end (pixels), one sample per ray step.
    public var arcLength: [Double]
    /// Polar angle (radians, ``PolarAngle``'s convention) and mid-line radius (pixels) of each sample.
    public var angle: [Double]
    public var radius: [Double]
    /// Mean grey value across the layer at each sample (between its half-maximum edges where the
    /// layer was found; on the interpolated mid-line where it was not — a gap in the layer).
    public var grey: [Float]
    /// Whether the layer itself was found at the sample (false inside bridged gaps).
    public var found: [Bool]
    /// Gaps bridged (runs of rays where the layer was not found between two stretches of it).
    public var bridgedGaps: Int
    public var length: Double { arcLength.last ?? 0 }

    /// The grey values on a regular arc-length grid of `step` pixels from the inner end (linear
    /// interpolation), `count` samples, NaN past the strip's end.
    public func resampled(step: Double, count: Int) -> [Float] {
        guard arcLength.count > 1 else { return [Float](repeating: .nan, count: count) }
        var out = [Float](repeating: .nan, count: count)
        var k = 0
        for i in 0..<count {
            let s = Double(i) * step
            guard s <= arcLength.last! else { break }
            while k + 1 < arcLength.count - 1 && arcLength[k + 1] < s { k += 1 }
            let span = arcLength[k + 1] - arcLength[k]
            let t = span > 0 ? Float((s - arcLength[k]) / span) : 0
            out[i] = grey[k] * (1 - t) + grey[k + 1] * t
        }
        return out
    }
}

/// Follows the bright layer found on each ray from ray to ray: a crossing continues on the next
/// ray at the nearest radius within a third of the pitch (the spiral's radius changes by only
/// pitch/rays per step, its neighbouring turns are a pitch away, so the link is unambiguous and
/// carries across 360° to the next turn by itself). Where the layer is missing on up to
/// `maximumGapDegrees` of rays (a defect in the coating reads as the darker electrode) the
/// strip is bridged at the interpolated radius. The longest chain is the strip, oriented from
/// its inner end.
public enum StripUnrolling {
    public static func follow(_ result: WoundCellInspection.Result, maximumGapDegrees: Double = 30) -> StripProfile {
        let crossings = result.crossings, n = crossings.count
        let pitch = result.winding.pitch.median
        let empty = StripProfile(arcLength: [], angle: [], radius: [], grey: [], found: [], bridgedGaps: 0)
        guard n > 2, pitch.isFinite, pitch > 0 else { return empty }
        let tolerance = pitch / 3
        let maximumGap = Swift.max(1, Int(maximumGapDegrees / 360 * Double(n)))
        // next[j][k] = (ray, layer) the crossing continues to, the first ray ahead that holds it.
        var next = crossings.map { [(Int, Int)?](repeating: nil, count: $0.count) }
        var hasPrevious = crossings.map { [Bool](repeating: false, count: $0.count) }
        func nearest(_ radius: Double, on ray: Int) -> Int? {
            guard let m = crossings[ray].indices.min(by: { abs(crossings[ray][$0].centreRadius - radius) < abs(crossings[ray][$1].centreRadius - radius) }),
                  abs(crossings[ray][m].centreRadius - radius) < tolerance else { return nil }
            return m
        }
        // First neighbouring rays, mutually nearest pairs only; then the ends left open look
        // further ahead across gaps, to crossings nothing continues into yet.
        for j in 0..<n {
            let j2 = (j + 1) % n
            for (k, c) in crossings[j].enumerated() {
                guard let m = nearest(c.centreRadius, on: j2), nearest(crossings[j2][m].centreRadius, on: j) == k else { continue }
                next[j][k] = (j2, m); hasPrevious[j2][m] = true
            }
        }
        for j in 0..<n {
            for (k, c) in crossings[j].enumerated() where next[j][k] == nil {
                for step in 2...Swift.max(2, maximumGap) {
                    let j2 = (j + step) % n
                    guard let m = nearest(c.centreRadius, on: j2) else { continue }
                    if !hasPrevious[j2][m] { next[j][k] = (j2, m); hasPrevious[j2][m] = true }
                    break
                }
            }
        }
        // Chains from their first crossing; the longest (in rays covered) is the strip.
        var best: [(Int, Int)] = []
        var bestSpan = 0
        for j in 0..<n { for k in crossings[j].indices where !hasPrevious[j][k] {
            var chain = [(j, k)], span = 0
            var current = (j, k)
            while let following = next[current.0][current.1], chain.count <= n * 1000 {
                span += (following.0 - current.0 + n) % n
                chain.append(following); current = following
            }
            if span > bestSpan { best = chain; bestSpan = span }
        } }
        guard best.count > 1 else { return empty }
        if crossings[best.first!.0][best.first!.1].centreRadius > crossings[best.last!.0][best.last!.1].centreRadius { best.reverse() }
        // Samples on every ray along the chain, bridged gaps interpolated.
        var profile = empty
        let width = result.unrolled.shape[1]
        func grey(ray: Int, from inner: Double, to outer: Double) -> Float {
            let lo = Swift.max(0, Int(inner.rounded(.up))), hi = Swift.min(width - 1, Int(outer.rounded(.down)))
            var sum: Float = 0, count = 0
            if lo <= hi { for i in lo...hi where result.unrolled[ray, i].isFinite { sum += result.unrolled[ray, i]; count += 1 } }
            if count == 0 {
                let i = Swift.min(width - 1, Swift.max(0, Int(((inner + outer) / 2).rounded())))
                return result.unrolled[ray, i]
            }
            return sum / Float(count)
        }
        func append(ray: Int, radius: Double, grey g: Float, found: Bool) {
            let theta = PolarAngle.radians(sample: ray, of: n)
            if let lastRadius = profile.radius.last {
                let dTheta = 2 * Double.pi / Double(n)
                let mean = (lastRadius + radius) / 2
                profile.arcLength.append(profile.arcLength.last! + ((radius - lastRadius) * (radius - lastRadius) + mean * mean * dTheta * dTheta).squareRoot())
            } else { profile.arcLength.append(0) }
            profile.angle.append(theta); profile.radius.append(radius); profile.grey.append(g); profile.found.append(found)
        }
        let direction = best.count > 1 && (best[1].0 - best[0].0 + n) % n <= maximumGap ? 1 : -1
        for (index, node) in best.enumerated() {
            let c = crossings[node.0][node.1]
            append(ray: node.0, radius: c.centreRadius, grey: grey(ray: node.0, from: c.innerRadius, to: c.outerRadius), found: true)
            guard index + 1 < best.count else { break }
            let following = best[index + 1]
            let gap = direction > 0 ? (following.0 - node.0 + n) % n : (node.0 - following.0 + n) % n
            guard gap > 1 else { continue }
            profile.bridgedGaps += 1
            let c2 = crossings[following.0][following.1]
            for g in 1..<gap {
                let t = Double(g) / Double(gap)
                let ray = (node.0 + direction * g + n) % n
                let inner = c.innerRadius + t * (c2.innerRadius - c.innerRadius), outer = c.outerRadius + t * (c2.outerRadius - c.outerRadius)
                append(ray: ray, radius: (inner + outer) / 2, grey: grey(ray: ray, from: inner, to: outer), found: false)
            }
        }
        return profile
    }
}
