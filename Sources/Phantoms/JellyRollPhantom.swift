import Foundation
import LensCore
import ImageAnalysis

/// A cross-section of a cylindrical cell with a known winding: a can, and inside it an
/// Archimedean spiral of the bright electrode (r = r₀ + p·φ/2π for 0 ≤ φ ≤ 2π·turns, thickness
/// t), the other electrode as a fainter spiral half a pitch further out, dark separator and
/// electrolyte between them, an empty core — optionally with a buckle that pushes the inner
/// turns inwards over a sector, as a collapsed core does. Rendered with 4 × 4 sub-pixel
/// samples (partial volume), blurred and with Gaussian noise, like a lab CT slice.
public struct JellyRollDesign: Codable, Sendable, Equatable {
    public var size = 352
    /// The cell's axis (pixels, x along columns, y along rows).
    public var centreX = 177.3, centreY = 174.6
    /// Mid-line radius of the bright strip where it starts (φ = 0), its pitch and thickness (pixels).
    public var startRadius = 24.0
    public var pitch = 10.0
    public var brightThickness = 4.0
    public var greyThickness = 2.5
    public var turns = 12.4
    /// The polar angle where the strip starts (degrees, PolarAngle's convention).
    public var startAngleDegrees = 35.0
    public var canInnerRadius = 162.0
    public var canWall = 6.0
    public var darkLevel: Float = 0.2, greyLevel: Float = 0.45, brightLevel: Float = 0.85, canLevel: Float = 1.0, outsideLevel: Float = 0.05
    /// A buckle: the inner `buckleTurns` turns are pushed inwards by up to `buckleDepth` pixels
    /// (cos² across ±`buckleHalfWidthDegrees`, fading outwards turn by turn); depth 0 = none.
    public var buckleAngleDegrees = 250.0
    public var buckleHalfWidthDegrees = 20.0
    public var buckleDepth = 0.0
    public var buckleTurns = 2
    /// A defect on the bright strip (a patch of lost coating, drawn at the grey level): its
    /// start along the strip as the unwrapped angle from the strip's start (degrees) and its
    /// extent (degrees of that angle); nil: none.
    public var defectStartDegrees: Double?
    public var defectExtentDegrees = 20.0
    public var blurSigma = 0.7
    public var noise: Float = 0.02
    public var seed: UInt64 = 11
    public init() {}
    /// Attenuation (1/µm) of grey level 1 when the cross-sections are written as attenuation:
    /// 1/mm, the order of a steel can at ~150 kV.
    public static let attenuationPerLevelPerMicrometre = 1e-3
}

/// What the phantom holds, in pixels.
public struct JellyRollTruth: Codable, Sendable, Equatable {
    public var centreX: Double, centreY: Double
    public var canInnerRadius: Double
    public var canWall: Double
    public var turns: Double
    public var pitch: Double
    public var brightThickness: Double
    /// Arc length of the bright strip's mid-line (pixels), by numerical integration of
    /// √(r² + (dr/dφ)²) over the undisturbed spiral.
    public var stripLength: Double
    /// The buckle's centre angle (degrees) and its half width, when there is one.
    public var buckleAngleDegrees: Double?
    public var buckleHalfWidthDegrees: Double?
    /// The defect's start and end along the strip's mid-line (arc length from the strip's inner
    /// end, pixels), when there is one.
    public var defectStartArc: Double?
    public var defectEndArc: Double?
    /// For a stack: the axis moves by this much per slice (pixels; x and y), and the centre
    /// above is that of slice 0.
    public var driftXPerSlice: Double?
    public var driftYPerSlice: Double?
}

public enum JellyRollPhantom {
    public static func make(_ d: JellyRollDesign) throws -> (image: Grid<Float>, truth: JellyRollTruth) {
        let outer = d.startRadius + d.pitch * d.turns + d.pitch / 2 + d.greyThickness
        guard d.size >= 32, d.size <= 8192, d.pitch > d.brightThickness + d.greyThickness, d.startRadius > d.brightThickness,
              outer < d.canInnerRadius, d.canInnerRadius + d.canWall + 2 < Double(d.size) / 2 - abs(d.centreX - Double(d.size) / 2) - abs(d.centreY - Double(d.size) / 2) else {
            throw LensError.invalidArgument("the jelly-roll design does not fit: the winding must lie inside the can and the can inside the image")
        }
        let start = d.startAngleDegrees * .pi / 180, buckle = d.buckleAngleDegrees * .pi / 180, halfWidth = d.buckleHalfWidthDegrees * .pi / 180
        let twoPi = 2 * Double.pi
        /// Inward push of turn m at polar angle ψ.
        @Sendable func push(_ psi: Double, turn m: Int) -> Double {
            guard d.buckleDepth > 0, m >= 0, m < d.buckleTurns else { return 0 }
            var delta = abs(psi - buckle).truncatingRemainder(dividingBy: twoPi)
            if delta > .pi { delta = twoPi - delta }
            guard delta < halfWidth else { return 0 }
            let c = cos(delta / halfWidth * .pi / 2)
            return d.buckleDepth * c * c * Double(d.buckleTurns - m) / Double(d.buckleTurns)
        }
        @Sendable func level(_ x: Double, _ y: Double) -> Float {
            let rho = hypot(x, y)
            if rho >= d.canInnerRadius + d.canWall { return d.outsideLevel }
            if rho >= d.canInnerRadius { return d.canLevel }
            var psi = atan2(y, x); if psi < 0 { psi += twoPi }
            // Unwrapped angle from the strip's start: φ = (ψ − start) mod 2π + 2πm.
            var base = (psi - start).truncatingRemainder(dividingBy: twoPi); if base < 0 { base += twoPi }
            let m0 = Int(((rho - d.startRadius) / d.pitch - base / twoPi).rounded(.down))
            for m in (m0 - 1)...(m0 + 2) where m >= 0 {
                let phi = base + twoPi * Double(m)
                guard phi <= twoPi * d.turns else { continue }
                let r = d.startRadius + d.pitch * phi / twoPi - push(psi, turn: m)
                if abs(rho - r) <= d.brightThickness / 2 {
                    if let start = d.defectStartDegrees, phi * 180 / .pi >= start, phi * 180 / .pi < start + d.defectExtentDegrees { return d.greyLevel }
                    return d.brightLevel
                }
                let g = r + d.pitch / 2 - (push(psi, turn: m) + push(psi, turn: m + 1)) / 2
                if abs(rho - g) <= d.greyThickness / 2 { return d.greyLevel }
            }
            return rho < d.startRadius - d.brightThickness ? d.outsideLevel : d.darkLevel
        }
        let n = d.size
        var image = Grid<Float>(shape: Shape(n, n))
        Parallel.forEachRowChunk(rows: n, rowLength: n, minimumChunk: 8, writing: &image) { p in
                for i in p.rows { for j in 0..<n {
                    var sum: Float = 0
                    for a in 0..<4 { for b in 0..<4 {
                        sum += level(Double(j) + (Double(b) + 0.5) / 4 - 0.5 - d.centreX, Double(i) + (Double(a) + 0.5) / 4 - 0.5 - d.centreY)
                    } }
                    p[i * n + j] = sum / 16
                } }
        }
        if d.blurSigma > 0 { image = Filters.gaussian(image, sigma: d.blurSigma) }
        if d.noise > 0 {
            var random = SeededRandom(seed: d.seed)
            image.withUnsafeMutableBufferPointer { v in for k in v.indices { v[k] += d.noise * Float(random.normal()) } }
        }
        // Arc length of r(φ) = r₀ + pφ/2π by the midpoint rule on 0.1° steps.
        func arc(to end: Double) -> Double {
            let steps = Swift.max(1, Int(end / twoPi * 3600)), h = end / Double(steps)
            var length = 0.0
            for k in 0..<steps {
                let r = d.startRadius + d.pitch * (Double(k) + 0.5) * h / twoPi
                length += (r * r + (d.pitch / twoPi) * (d.pitch / twoPi)).squareRoot() * h
            }
            return length
        }
        let length = arc(to: twoPi * d.turns)
        let truth = JellyRollTruth(centreX: d.centreX, centreY: d.centreY, canInnerRadius: d.canInnerRadius, canWall: d.canWall, turns: d.turns,
                                   pitch: d.pitch, brightThickness: d.brightThickness, stripLength: length,
                                   buckleAngleDegrees: d.buckleDepth > 0 ? d.buckleAngleDegrees : nil,
                                   buckleHalfWidthDegrees: d.buckleDepth > 0 ? d.buckleHalfWidthDegrees : nil,
                                   defectStartArc: d.defectStartDegrees.map { arc(to: $0 * .pi / 180) },
                                   defectEndArc: d.defectStartDegrees.map { arc(to: ($0 + d.defectExtentDegrees) * .pi / 180) })
        return (image, truth)
    }

    /// A stack of `slices` cross-sections of the same cell whose axis moves by (dx, dy) pixels
    /// per slice (a tilted cell), each with its own noise.
    public static func stack(_ d: JellyRollDesign, slices: Int, driftXPerSlice dx: Double, driftYPerSlice dy: Double) throws -> (volume: Grid<Float>, truth: JellyRollTruth) {
        guard (1...4096).contains(slices), dx.isFinite, dy.isFinite else { throw LensError.invalidArgument("a jelly-roll stack needs 1…4096 slices and a finite drift") }
        var volume = Grid<Float>(shape: Shape(slices, d.size, d.size))
        var truth: JellyRollTruth?
        for z in 0..<slices {
            var design = d
            design.centreX += dx * Double(z); design.centreY += dy * Double(z)
            var random = SeededRandom(seed: d.seed).split(UInt64(z))
            design.seed = random.next()
            let (image, t) = try make(design)
            volume.replaceSlab(at: z, with: image.reshaped(Shape(1, d.size, d.size)))
            if z == 0 { truth = t }
        }
        truth!.driftXPerSlice = dx; truth!.driftYPerSlice = dy
        return (volume, truth!)
    }
}
