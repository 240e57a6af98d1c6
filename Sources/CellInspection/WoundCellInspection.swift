import Foundation
import LensCore
import Signal
import ImageAnalysis

/// One bright electrode layer crossed by a ray from the cell's axis: its edges at half
/// maximum (pixels from the axis).
public struct LayerCrossing: Codable, Sendable, Equatable {
    public var innerRadius: Double
    public var outerRadius: Double
    public var centreRadius: Double { (innerRadius + outerRadius) / 2 }
    /// Full width at half maximum along the ray (pixels): the layer's thickness.
    public var thickness: Double { outerRadius - innerRadius }
}

/// An angular range where the winding departs from its regular pitch (buckling, a collapsed
/// core, delamination, a missing layer).
public struct AnomalousSector: Codable, Sendable, Equatable {
    /// Polar angles bounding the sector; `endDegrees` exceeds 360 when the sector spans 0°.
    public var startDegrees: Double
    public var endDegrees: Double
    /// Largest |local pitch − median pitch| / median pitch inside the sector.
    public var largestPitchDeviation: Double
    /// Radii (pixels) of the innermost and outermost anomalous layer gap inside the sector.
    public var innerRadius: Double
    public var outerRadius: Double
}

/// Robust spread of a set of measurements: median and quartiles.
public struct Quartiles: Codable, Sendable, Equatable {
    public var median: Double, lower: Double, upper: Double
    public var count: Int
    init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else { median = .nan; lower = .nan; upper = .nan; return }
        let q = Statistics.percentiles(values, [25, 50, 75])
        lower = q[0]; median = q[1]; upper = q[2]
    }
}

/// What one cross-section of a wound (jelly-roll) cell shows, in pixels.
public struct WindingMeasurement: Codable, Sendable, Equatable {
    /// Turns of the bright electrode: the mean number of layers a ray crosses (complete rays
    /// only). For a spiral
    /// wound from angle φ₀ to φ₁ this equals (φ₁ − φ₀)/2π exactly, fractional turns included.
    public var turns: Double
    /// Rays that reach the can inside the image: turns and strip length come from these (scaled
    /// to the whole turn when some rays leave the image first).
    public var completeRays: Int
    /// Layers per ray: fewest, median, most.
    public var layersMinimum: Int, layersMedian: Double, layersMaximum: Int
    /// Radial distance between successive layers on one ray (pixels).
    public var pitch: Quartiles
    /// Layer thickness at half maximum (pixels).
    public var thickness: Quartiles
    /// Length of the bright electrode strip along its mid-line (pixels): Σ over rays and
    /// layers of r·Δθ·√(1 + (p/2πr)²), the arc length of an Archimedean spiral of pitch p.
    public var stripLength: Double
    /// Radii of the innermost and outermost layer (pixels, medians over the rays that have them).
    public var innermostRadius: Double
    public var outermostRadius: Double
    /// Fraction of layer gaps whose pitch departs from the median by more than the tolerance.
    public var anomalousGapFraction: Double
    public var anomalousSectors: [AnomalousSector]
}

/// Inspection of a cylindrical cell's cross-section: can, winding and its defects — what users
/// do by hand in ImageJ (polar transform, line profiles across the jelly roll, counting turns)
/// for lab CT of 18650/21700 cells.
///
/// 1. The can is found (``CanOutline``) or the axis and inner can radius are declared.
/// 2. The slice is unrolled about the axis: a polar image (angle, radius) sampled bilinearly,
///    one pixel per radial step and about one pixel of arc per angle step at the can.
/// 3. On each ray, the peaks that stand out from their dips by a quarter of the contrast
///    (95th percentile inside the can minus the dark level, the lower three-class Otsu
///    threshold) are the layers of both electrodes; the bright electrode's are those whose
///    peak lies above Otsu's split of all peak values (when the peaks form two groups). Each is
///    measured at half maximum between its peak and the dip on each side (the FWHM a user reads
///    off a line profile).
/// 4. Turns, pitch, thickness and strip length follow from the crossings; a gap between
///    successive layers that departs from the median pitch by more than `pitchTolerance` is
///    anomalous, and neighbouring anomalous rays form sectors.
public enum WoundCellInspection {
    public struct Settings: Codable, Sendable, Equatable {
        /// The cell's axis in this slice (pixels); with `canInnerRadius` it replaces the can search.
        public var centre: PixelPoint?
        /// Inner radius of the can, or the radius within which to look for layers (pixels).
        public var canInnerRadius: Double?
        /// Rays per turn (default: one pixel of arc at the can, 360…16384).
        public var angularSamples: Int?
        /// Peak level above which a layer is the bright electrode (default: Otsu's split of the
        /// layer peaks, see ``WoundCellInspection``).
        public var layerThreshold: Double?
        /// A gap between layers is anomalous when |gap − median pitch| > tolerance × median pitch.
        public var pitchTolerance: Double
        /// Layers thinner than this at half maximum are noise (pixels).
        public var minimumThickness: Double
        /// Anomalous sectors narrower than this are left out of the list (degrees).
        public var minimumSectorDegrees: Double

        public init(centre: PixelPoint? = nil, canInnerRadius: Double? = nil, angularSamples: Int? = nil, layerThreshold: Double? = nil,
                    pitchTolerance: Double = 0.3, minimumThickness: Double = 0.75, minimumSectorDegrees: Double = 1) {
            self.centre = centre; self.canInnerRadius = canInnerRadius; self.angularSamples = angularSamples; self.layerThreshold = layerThreshold
            self.pitchTolerance = pitchTolerance; self.minimumThickness = minimumThickness; self.minimumSectorDegrees = minimumSectorDegrees
        }

        public func validate() throws {
            guard (centre == nil) == (canInnerRadius == nil) else {
                throw LensError.invalidArgument("declare the cell's centre and its inner can radius together (or neither, to find the can)")
            }
            if let c = centre, !(c.x.isFinite && c.y.isFinite) { throw LensError.invalidArgument("the cell's centre must be finite, got \(c)") }
            if let r = canInnerRadius, !(r.isFinite && r >= 4 && r <= 1e6) { throw LensError.invalidArgument("the inner can radius must be 4…1e6 pixels, got \(r)") }
            if let n = angularSamples, !(16...65_536).contains(n) { throw LensError.invalidArgument("angular samples must be 16…65536, got \(n)") }
            if let t = layerThreshold, !t.isFinite { throw LensError.invalidArgument("the layer threshold must be finite") }
            guard pitchTolerance.isFinite, pitchTolerance > 0, pitchTolerance < 10 else {
                throw LensError.invalidArgument("the pitch tolerance must be a fraction in (0, 10), got \(pitchTolerance)")
            }
            guard minimumThickness.isFinite, minimumThickness >= 0, minimumThickness < 1e4 else {
                throw LensError.invalidArgument("the minimum layer thickness must be 0…1e4 pixels, got \(minimumThickness)")
            }
            guard minimumSectorDegrees.isFinite, (0...360).contains(minimumSectorDegrees) else {
                throw LensError.invalidArgument("the minimum sector width must be 0…360°, got \(minimumSectorDegrees)")
            }
        }
    }

    /// The inspection of one cross-section.
    public struct Result: Sendable {
        /// The can, when it was searched for (nil when the axis was declared).
        public var can: CanOutline?
        public var centre: PixelPoint
        /// Radius per ray within which layers are looked for (pixels).
        public var limitRadii: [Double]
        /// The peak level above which a layer counted as bright electrode.
        public var threshold: Double
        /// Layer crossings per ray, outwards.
        public var crossings: [[LayerCrossing]]
        /// The slice unrolled about the axis: shape (angle, radius), pixel steps in radius.
        public var unrolled: Grid<Float>
        public var winding: WindingMeasurement
        public var angularSamples: Int { crossings.count }

        /// The bright-electrode layers drawn back on the cross-section's grid (1 inside a
        /// crossing of the nearest ray, else 0).
        public func layerMask(rows: Int, columns: Int) -> Grid<UInt8> {
            let map = (polar?.ray.count == rows * columns ? polar : nil) ?? PolarPixelMap(rows: rows, columns: columns, centre: centre, rays: crossings.count)
            var mask = Grid<UInt8>(shape: Shape(rows, columns), repeating: 0)
            mask.withUnsafeMutableBufferPointer { m in
                for k in 0..<(rows * columns) {
                    let rho = Double(map.radius[k])
                    if crossings[Int(map.ray[k])].contains(where: { rho >= $0.innerRadius && rho <= $0.outerRadius }) { m[k] = 1 }
                }
            }
            return mask
        }
        /// The slice's pixels in polar coordinates about `centre` (shared by the masks).
        let polar: PolarPixelMap?
    }

    /// Inspects one 2D cross-section (rows × columns). Throws ``LensError/numerical(_:)``
    /// when no can is found and none is declared, or when the slice shows no wound layers.
    public static func inspect(_ image: Grid<Float>, settings: Settings) throws -> Result {
        try settings.validate()
        guard image.rank == 2, image.shape[0] >= 16, image.shape[1] >= 16 else {
            throw LensError.invalidArgument("a cell cross-section is a 2D image of at least 16×16 pixels, got \(image.shape)")
        }
        let rows = image.shape[0], columns = image.shape[1]
        var can: CanOutline?
        let centre: PixelPoint
        var limits: [Double]
        if let c = settings.centre, let r = settings.canInnerRadius {
            centre = c
            limits = [Double](repeating: r, count: settings.angularSamples ?? Swift.min(16_384, Swift.max(360, Int((2 * Double.pi * r).rounded(.up)))))
        } else {
            let found = try CanFinder.find(image, angularSamples: settings.angularSamples)
            can = found; centre = found.centre; limits = found.innerRadii
        }
        let samples = limits.count
        // Stay a pixel clear of the can's inner wall (its blur).
        limits = limits.map { Swift.max(0, $0 - 1) }
        let maxRadius = Int(limits.max()!.rounded(.up)) + 1
        var unrolled = Grid<Float>(shape: Shape(samples, maxRadius), repeating: .nan)
        Parallel.sharing(image) { v in
            Parallel.forEachRowChunk(rows: samples, rowLength: maxRadius, minimumChunk: 64, writing: &unrolled) { out in
                for j in out.rows {
                    let theta = PolarAngle.radians(sample: j, of: samples)
                    let (dx, dy) = (cos(theta), sin(theta))
                    for i in 0..<maxRadius {
                        out[j * maxRadius + i] = bilinear(v, rows: rows, columns: columns, x: centre.x + Double(i) * dx, y: centre.y + Double(i) * dy)
                    }
                }
            }
        }
        // Candidates: the peaks of each ray's profile that stand out from the dips beside them by
        // a quarter of the bright-to-dark contrast; the bright electrode's layers are those whose
        // peak is above the peak-level split.
        let polar = PolarPixelMap(rows: rows, columns: columns, centre: centre, rays: samples)
        let dark = try darkThreshold(image, polar: polar, limits: limits)
        let contrast = unrolled.withUnsafeBufferPointer { u -> Double in
            let inside = (0..<samples).flatMap { j in (0..<Swift.min(maxRadius, Int(limits[j]))).map { u[j * maxRadius + $0] } }.filter(\.isFinite)
            return inside.isEmpty ? 0 : Statistics.percentile(inside.map(Double.init), 95) - dark.level
        }
        guard contrast > 0 else { throw LensError.numerical("the cross-section inside the can has no contrast") }
        let peaks: [[Int]] = unrolled.withUnsafeBufferPointer { u in
            (0..<samples).map { j in
                prominentPeaks(UnsafeBufferPointer(rebasing: u[(j * maxRadius)..<((j + 1) * maxRadius)]), limit: limits[j], rise: Float(0.25 * contrast))
            }
        }
        let peakValues = unrolled.withUnsafeBufferPointer { u in peaks.enumerated().flatMap { j, ray in ray.map { u[j * maxRadius + $0] } } }
        // A binary image (a segmentation) has one kind of layer; grey images are split by peak level.
        let threshold = try settings.layerThreshold ?? (dark.levels < 3 ? dark.level : brightPeakLevel(peakValues.filter { Double($0) > dark.level }, floor: dark.level))
        let crossings = unrolled.withUnsafeBufferPointer { u in
            (0..<samples).map { j in
                layerCrossings(UnsafeBufferPointer(rebasing: u[(j * maxRadius)..<((j + 1) * maxRadius)]), peaks: peaks[j],
                               bright: Float(threshold), limit: limits[j], minimumThickness: settings.minimumThickness)
            }
        }
        let total = crossings.reduce(0) { $0 + $1.count }
        guard total >= samples / 2 else {
            throw LensError.numerical("no wound electrode layers in this cross-section (\(total) layer crossings on \(samples) rays above the threshold \(threshold))")
        }
        // Rays that leave the image (or meet masked pixels) before the can see only part of the
        // winding: turns and length come from the complete rays, and too few of them is an error.
        let complete = unrolled.withUnsafeBufferPointer { u in
            (0..<samples).map { j in (0..<Swift.min(maxRadius, Int(limits[j]) + 1)).allSatisfy { u[j * maxRadius + $0].isFinite } }
        }
        let completeCount = complete.filter { $0 }.count
        guard completeCount * 4 >= samples else {
            throw LensError.numerical("the image cuts the winding: only \(completeCount) of \(samples) rays from the axis reach the can inside the image")
        }
        let winding = measure(crossings, complete: complete, settings: settings)
        // A winding repeats: most rays cross several layers at a steady pitch.
        let spread = (winding.pitch.upper - winding.pitch.lower) / winding.pitch.median
        guard winding.layersMedian >= 2 else {
            throw LensError.numerical(String(format: "no winding in this cross-section (the median ray crosses %.0f bright layer%@)", winding.layersMedian,
                                             winding.layersMedian == 1 ? "" : "s"))
        }
        guard spread.isFinite, spread <= 0.5 else {
            throw LensError.numerical(String(format: "no regular winding in this cross-section (pitch quartiles %.1f–%.1f px)", winding.pitch.lower, winding.pitch.upper))
        }
        return Result(can: can, centre: centre, limitRadii: limits, threshold: threshold, crossings: crossings, unrolled: unrolled, winding: winding, polar: polar)
    }

    /// The level below which a pixel is separator or electrolyte, from the finite pixels inside
    /// the can (within each ray's limit): a cross-section shows three grey levels — separator
    /// and electrolyte (dark), one electrode (grey), the other with its denser coating or foil
    /// (bright) — so the lower of the three-class Otsu thresholds; two-class Otsu where the
    /// pixels hold fewer than three levels (a binary mask).
    static func darkThreshold(_ image: Grid<Float>, polar: PolarPixelMap, limits: [Double]) throws -> (level: Double, levels: Int) {
        var mask = Grid<UInt8>(shape: image.shape, repeating: 0)
        mask.withUnsafeMutableBufferPointer { m in
            for k in 0..<m.count where Double(polar.radius[k]) <= limits[Int(polar.ray[k])] { m[k] = 1 }
        }
        let histogram = try ValueHistogram(image, mask: mask)
        if let three = try? Thresholds.multiOtsu(histogram, classes: 3) { return (three[0], 3) }
        return (try Thresholds.otsu(histogram), 2)
    }

    /// The peak level that separates the bright electrode's layers from the grey one's: Otsu's
    /// split of the layer peaks' values when they form two groups (Ashman's D > 3.5 between the
    /// two classes), else `floor` (one kind of layer: every peak is a layer). Peak values
    /// separate the two electrodes far better than pixel values, which partial volume blurs.
    static func brightPeakLevel(_ values: [Float], floor: Double) throws -> Double {
        guard values.count >= 16 else { return floor }
        let histogram = try ValueHistogram(Grid(shape: Shape(values.count), elements: values))
        guard let split = try? Thresholds.otsu(histogram) else { return floor }
        var low = RunningStatistics(), high = RunningStatistics()
        for v in values { if Double(v) > split { high.add(Double(v)) } else { low.add(Double(v)) } }
        guard low.count >= 2, high.count >= 2 else { return floor }
        let d = 2.squareRoot() * abs(high.mean - low.mean) / (low.variance + high.variance).squareRoot()
        // A single normal group split at its mean gives D ≈ 2.7: two groups must stand further apart.
        return d > 3.5 ? split : floor
    }

    /// The peaks of a ray's profile inside `limit` (Billauer's peak detection with hysteresis):
    /// a maximum counts once the profile has fallen `rise` below it, and the next is looked for
    /// once it has risen `rise` above the minimum after it — noise on a layer's plateau makes no
    /// extra peaks, and the first peak needs a rise (a bright pin on the axis is no layer).
    static func prominentPeaks(_ profile: UnsafeBufferPointer<Float>, limit: Double, rise: Float) -> [Int] {
        let end = Swift.min(profile.count, Int(limit) + 1)
        var result: [Int] = []
        var high = -Float.infinity, highAt = 0, low = Float.infinity
        var lookingForMaximum = false
        for i in 0..<end where profile[i].isFinite {
            let v = profile[i]
            if v > high { high = v; highAt = i }
            if v < low { low = v }
            if lookingForMaximum {
                if v < high - rise { result.append(highAt); low = v; lookingForMaximum = false }
            } else if v > low + rise {
                high = v; highAt = i; lookingForMaximum = true
            }
        }
        return result
    }

    /// The layers one ray crosses, one per bright peak (value ≥ `bright`): each edge at half
    /// maximum between the peak and the darkest point between it and the neighbouring peak on
    /// that side (the FWHM a user reads off a line profile, with the dip on each side as its
    /// base). Layers whose half level is not reached inside the ray are left out.
    static func layerCrossings(_ profile: UnsafeBufferPointer<Float>, peaks: [Int], bright: Float, limit: Double, minimumThickness: Double) -> [LayerCrossing] {
        let end = Swift.min(profile.count, Int(limit) + 1)
        var result: [LayerCrossing] = []
        for (k, peak) in peaks.enumerated() where profile[peak] >= bright {
            let lowerBound = k > 0 ? peaks[k - 1] : 0
            let upperBound = k + 1 < peaks.count ? peaks[k + 1] : end - 1
            guard let inner = halfMaximumEdge(profile, peak: peak, step: -1, bound: lowerBound),
                  let outer = halfMaximumEdge(profile, peak: peak, step: 1, bound: upperBound) else { continue }
            let crossing = LayerCrossing(innerRadius: inner, outerRadius: outer)
            if crossing.thickness >= minimumThickness { result.append(crossing) }
        }
        return result
    }

    static func measure(_ crossings: [[LayerCrossing]], complete: [Bool], settings: Settings) -> WindingMeasurement {
        let n = crossings.count
        let counts = crossings.indices.filter { complete[$0] }.map { crossings[$0].count }
        // The complete rays stand for the whole turn (each ray covers 2π/n).
        let coverage = Double(n) / Double(Swift.max(1, counts.count))
        var gaps: [Double] = [], thicknesses: [Double] = []
        for ray in crossings {
            thicknesses += ray.map(\.thickness)
            for k in ray.indices.dropFirst() { gaps.append(ray[k].centreRadius - ray[k - 1].centreRadius) }
        }
        let pitch = Quartiles(gaps)
        let p = pitch.median.isFinite ? pitch.median : 0
        let step = 2 * Double.pi / Double(n)
        var length = 0.0
        for (j, ray) in crossings.enumerated() where complete[j] { for c in ray where c.centreRadius > 0 {
            let slope = p / (2 * .pi * c.centreRadius)
            length += c.centreRadius * step * (1 + slope * slope).squareRoot()
        } }
        length *= coverage
        // Anomalous gaps, and the rays that hold one.
        var anomalous = 0
        var rayDeviation = [Double](repeating: 0, count: n)
        var rayRadii = [(Double, Double)](repeating: (.infinity, -.infinity), count: n)
        if p > 0 {
            for (j, ray) in crossings.enumerated() { for k in ray.indices.dropFirst() {
                let deviation = abs(ray[k].centreRadius - ray[k - 1].centreRadius - p) / p
                if deviation > settings.pitchTolerance {
                    anomalous += 1
                    rayDeviation[j] = Swift.max(rayDeviation[j], deviation)
                    rayRadii[j] = (Swift.min(rayRadii[j].0, ray[k - 1].centreRadius), Swift.max(rayRadii[j].1, ray[k].centreRadius))
                }
            } }
        }
        let sectors = anomalousSectors(rayDeviation, radii: rayRadii, minimumDegrees: settings.minimumSectorDegrees)
        let inner = crossings.compactMap { $0.first?.centreRadius }, outer = crossings.compactMap { $0.last?.centreRadius }
        return WindingMeasurement(turns: Double(counts.reduce(0, +)) / Double(Swift.max(1, counts.count)), completeRays: counts.count, layersMinimum: counts.min() ?? 0,
                                  layersMedian: Statistics.median(counts.map(Double.init)), layersMaximum: counts.max() ?? 0,
                                  pitch: pitch, thickness: Quartiles(thicknesses), stripLength: length,
                                  innermostRadius: inner.isEmpty ? .nan : Statistics.median(inner),
                                  outermostRadius: outer.isEmpty ? .nan : Statistics.median(outer),
                                  anomalousGapFraction: gaps.isEmpty ? 0 : Double(anomalous) / Double(gaps.count), anomalousSectors: sectors)
    }

    /// Runs of rays with an anomalous gap (wrapping around 360°), widest first.
    static func anomalousSectors(_ deviation: [Double], radii: [(Double, Double)], minimumDegrees: Double) -> [AnomalousSector] {
        let n = deviation.count
        guard let clear = deviation.firstIndex(where: { $0 == 0 }) else {
            return [AnomalousSector(startDegrees: 0, endDegrees: 360, largestPitchDeviation: deviation.max() ?? 0,
                                    innerRadius: radii.map(\.0).min() ?? .nan, outerRadius: radii.map(\.1).max() ?? .nan)]
        }
        var sectors: [AnomalousSector] = []
        var k = 0
        while k < n {
            let j = (clear + k) % n
            guard deviation[j] > 0 else { k += 1; continue }
            var width = 0, worst = 0.0, lo = Double.infinity, hi = -Double.infinity
            while k < n, deviation[(clear + k) % n] > 0 {
                let m = (clear + k) % n
                worst = Swift.max(worst, deviation[m]); lo = Swift.min(lo, radii[m].0); hi = Swift.max(hi, radii[m].1)
                width += 1; k += 1
            }
            let degrees = 360 / Double(n)
            if Double(width) * degrees >= minimumDegrees {
                sectors.append(AnomalousSector(startDegrees: Double(j) * degrees, endDegrees: Double(j + width) * degrees,
                                               largestPitchDeviation: worst, innerRadius: lo, outerRadius: hi))
            }
        }
        return sectors.sorted { $0.endDegrees - $0.startDegrees > $1.endDegrees - $1.startDegrees }
    }
}
