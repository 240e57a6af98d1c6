import Foundation
import ImageAnalysis
import LensCore
import Signal

/// How each projection of a scan is displaced from where an ideal rotation would put it:
/// per-projection detector shifts (sample drift, stage wobble), the tilt of the rotation axis
/// in the detector plane, and (from markers) the axis column.
///
/// Convention: a point whose ideal detector position relative to the rotation point (axis
/// column `c`, centre row `v_c = (rows − 1)/2`) is (u', v') is measured in projection k at
/// column c + du_k + u'·cos φ − v'·sin φ and row v_c + dv_k + u'·sin φ + v'·cos φ, with
/// `shiftsPixels[k] = [du_k, dv_k]` and φ = `tiltDegrees`.
public struct ProjectionAlignment: Codable, Sendable, Equatable {
    public var shiftsPixels: [[Double]]
    public var tiltDegrees: Double
    /// Column of the rotation axis (markers fit it; nil: not estimated, the detector centre is used).
    public var axisColumn: Double?
    /// "markers", "reprojection" (marker-free), or "none".
    public var method: String
    public var markers: MarkerFitReport?
    /// Reprojection alignment: the RMS shift update of each iteration (pixels), which falls as it converges.
    public var reprojectionUpdatesPixels: [Double]?
    /// How well the aligned projections keep what parallel beam keeps without markers (nil: not checked).
    public var consistency: AlignmentConsistency?
    /// What the aligner decided and why (a tilt not applied, where the shifts started).
    public var notes: [String] = []
    /// What the user should look at: a marker fit set aside as inconsistent.
    public var warnings: [String] = []

    public init(projections: Int) {
        shiftsPixels = [[Double]](repeating: [0, 0], count: projections); tiltDegrees = 0; method = "none"
    }

    /// The aligned projections: each resampled (bilinear) so the rotation axis is vertical at
    /// its column and every projection sits where the ideal rotation puts it. Samples outside
    /// the measured frame repeat its nearest edge (line integrals continue, they do not drop to 0).
    public func apply(to lines: Grid<Float>) throws -> Grid<Float> { try resample(lines, forward: false) }

    /// The inverse: ideal projections displaced as this alignment says (for simulations).
    public func displace(_ lines: Grid<Float>) throws -> Grid<Float> { try resample(lines, forward: true) }

    func resample(_ lines: Grid<Float>, forward: Bool) throws -> Grid<Float> {
        guard lines.rank == 3, lines.shape[0] == shiftsPixels.count else {
            throw LensError.invalidArgument("alignment of \(shiftsPixels.count) projections applied to data of shape \(lines.shape)")
        }
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        let c = axisColumn ?? Double(cols - 1) / 2, vc = Double(rows - 1) / 2
        let phi = tiltDegrees * .pi / 180, (cp, sp) = (cos(phi), sin(phi))
        var out = Grid<Float>(shape: lines.shape, geometry: lines.geometry)
        let shifts = shiftsPixels
        Parallel.withDisjointWrites(&out) { o in Parallel.sharing(lines) { src in
            Parallel.forEachChunk(count: angles, minimumChunk: 1) { range in
                for k in range {
                    let (du, dv) = (shifts[k][0], shifts[k][1])
                    let base = k * rows * cols
                    for r in 0..<rows { for j in 0..<cols {
                        // forward: the measured pixel (r, j) looks at the ideal point whose
                        // displaced position it is; else the aligned pixel at ideal (u', v')
                        // looks at its measured position.
                        let (row, column): (Double, Double)
                        if forward {
                            let a = Double(j) - c - du, b = Double(r) - vc - dv
                            (column, row) = (c + a * cp + b * sp, vc - a * sp + b * cp)
                        } else {
                            let u = Double(j) - c, v = Double(r) - vc
                            (column, row) = (c + du + u * cp - v * sp, vc + dv + u * sp + v * cp)
                        }
                        let y = Swift.min(Swift.max(row, 0), Double(rows - 1)), x = Swift.min(Swift.max(column, 0), Double(cols - 1))
                        let y0 = Swift.min(Int(y), Swift.max(rows - 2, 0)), x0 = Swift.min(Int(x), Swift.max(cols - 2, 0))
                        let (fy, fx) = (Float(y - Double(y0)), Float(x - Double(x0)))
                        let y1 = Swift.min(y0 + 1, rows - 1), x1 = Swift.min(x0 + 1, cols - 1)
                        let top = src[base + y0 * cols + x0] * (1 - fx) + src[base + y0 * cols + x1] * fx
                        let bottom = src[base + y1 * cols + x0] * (1 - fx) + src[base + y1 * cols + x1] * fx
                        o[base + r * cols + j] = top * (1 - fy) + bottom * fy
                    } }
                }
            }
        } }
        return out
    }
}

/// An independent check of an alignment from two properties of parallel-beam projections that
/// need no markers: while the sample stays in the field of view, (1) each projection's
/// horizontal centre of mass is a constant plus a sinusoid in the angle (the projection of the
/// sample's own centre of mass; Azevedo et al. 1990's consistency condition of order 1), and
/// (2) each row's total is the same at every angle (the slice's mass). Misaligned projections
/// break both: the centre of mass leaves the sinusoid by the horizontal error, the row-sum
/// profiles shift by the vertical one.
public struct AlignmentConsistency: Codable, Sendable, Equatable {
    /// RMS over projections of the aligned horizontal centre of mass about its best constant +
    /// sinusoid, pixels; nil when the sample reaches the detector's side edges (it leaves the
    /// field of view, and the condition does not hold).
    public var horizontalPixels: Double?
    /// RMS of the vertical shifts that register each aligned projection's row sums to their mean, pixels.
    public var verticalPixels: Double?
    /// Largest relative change of the mass between projections in the rows checked.
    public var massVariation: Double

    /// Whether the sample stays inside the detector's width: the two outermost columns on each
    /// side carry under 5 % of the mean line integral, in every projection (a sliver of the sample
    /// passing the edge moves the centre of mass by a small fraction of a pixel).
    public static func sampleInView(_ lines: Grid<Float>) -> Bool {
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        guard cols >= 8 else { return false }
        var total = 0.0, worstEdge = 0.0
        lines.withUnsafeBufferPointer { l in
            for k in 0..<angles {
                var e = 0.0
                for r in 0..<rows {
                    let base = (k * rows + r) * cols
                    for j in 0..<cols { total += Double(l[base + j]) }
                    for j in [0, 1, cols - 2, cols - 1] { e += Double(l[base + j]) }
                }
                worstEdge = Swift.max(worstEdge, e / Double(4 * rows))
            }
        }
        let mean = total / Double(lines.count)
        return mean > 0 && worstEdge < 0.05 * mean
    }

    /// Measures aligned line integrals (angle, row, column); rows within `margin` of the top
    /// and bottom are left out of the horizontal check (their content moved in from outside).
    /// `inView`: the raw projections' `sampleInView`.
    public static func measure(_ aligned: Grid<Float>, anglesDegrees: [Double], margin: Int, inView: Bool) -> AlignmentConsistency {
        let (angles, rows, cols) = (aligned.shape[0], aligned.shape[1], aligned.shape[2])
        let profiles: [(columns: [Double], rows: [Double])] = Parallel.sharing(aligned) { a in
            Parallel.map(count: angles) { k in profile(rows: rows, columns: cols, margin: margin) { a[k * rows * cols + $0] } }
        }
        return measure(profiles: profiles, anglesDegrees: anglesDegrees, inView: inView)
    }

    /// The same for `alignment` applied to `lines`, one projection at a time (no aligned copy
    /// of the whole scan).
    public static func measure(_ lines: Grid<Float>, aligned alignment: ProjectionAlignment, anglesDegrees: [Double], margin: Int, inView: Bool) throws -> AlignmentConsistency {
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        guard lines.rank == 3, alignment.shiftsPixels.count == angles else {
            throw LensError.invalidArgument("alignment of \(alignment.shiftsPixels.count) projections checked against data of shape \(lines.shape)")
        }
        let profiles: [(columns: [Double], rows: [Double])] = Parallel.sharing(lines) { l in
            Parallel.map(count: angles) { k in
                let frame = Grid<Float>(shape: Shape(1, rows, cols), elements: (0..<(rows * cols)).map { l[k * rows * cols + $0] })
                var one = alignment
                one.shiftsPixels = [alignment.shiftsPixels[k]]
                // One projection with its own shift: the shapes agree, so the resampling cannot fail.
                let aligned = (try? one.apply(to: frame)) ?? frame
                return aligned.withUnsafeBufferPointer { a in profile(rows: rows, columns: cols, margin: margin) { a[$0] } }
            }
        }
        return measure(profiles: profiles, anglesDegrees: anglesDegrees, inView: inView)
    }

    /// One aligned projection's column sums over the rows away from the top and bottom margin,
    /// and its row sums.
    static func profile(rows: Int, columns cols: Int, margin: Int, _ value: (Int) -> Float) -> (columns: [Double], rows: [Double]) {
        let band = Swift.min(Swift.max(0, margin), Swift.max(0, (rows - 1) / 2))
        var columns = [Double](repeating: 0, count: cols), rowSums = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            var sum = 0.0
            for j in 0..<cols {
                let v = Double(value(r * cols + j))
                sum += v
                if r >= band && r < rows - band { columns[j] += v }
            }
            rowSums[r] = sum
        }
        return (columns, rowSums)
    }

    static func measure(profiles: [(columns: [Double], rows: [Double])], anglesDegrees: [Double], inView: Bool) -> AlignmentConsistency {
        let angles = profiles.count, rows = profiles.first?.rows.count ?? 0
        let masses = profiles.map { $0.columns.reduce(0, +) }
        let meanMass = masses.reduce(0, +) / Double(Swift.max(1, angles))
        let variation = meanMass > 0 ? ((masses.max() ?? 0) - (masses.min() ?? 0)) / meanMass : .infinity
        var horizontal: Double?
        if inView, meanMass > 0, angles >= 4 {
            let centres = zip(profiles, masses).map { p, m in p.columns.enumerated().reduce(0.0) { $0 + Double($1.offset) * $1.element } / m }
            let residual = ProjectionAligner.removeSinusoid(centres, anglesRadians: anglesDegrees.map { $0 * .pi / 180 }).residual
            horizontal = (residual.reduce(0) { $0 + $1 * $1 } / Double(angles)).squareRoot()
        }
        var vertical: Double?
        if rows >= 8 {
            var mean = [Double](repeating: 0, count: rows)
            for p in profiles { for r in 0..<rows { mean[r] += p.rows[r] / Double(angles) } }
            let shifts = profiles.map { ProjectionAligner.shift1D(reference: mean, moving: $0.rows, maximum: Swift.max(2, Double(rows) / 4)) }
            let m = shifts.reduce(0, +) / Double(angles)
            vertical = (shifts.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(angles)).squareRoot()
        }
        return AlignmentConsistency(horizontalPixels: horizontal, verticalPixels: vertical, massVariation: variation)
    }
}

/// What the marker fit found.
public struct MarkerFitReport: Codable, Sendable, Equatable {
    public struct Marker: Codable, Sendable, Equatable {
        /// Position in the sample (pixels from the rotation point: x, y in the slice, z along the axis).
        public var position: [Double]
        public var observations: Int
        public var residualRMSPixels: Double
        public var rejected: Bool
    }
    public var markers: [Marker]
    /// RMS residual of the kept observations after the fit, pixels.
    public var residualRMSPixels: Double
    /// Observations dropped as outliers (beyond 4 robust σ, at least 0.75 px).
    public var rejectedObservations: Int
    /// The fitted tilt and its jackknife standard error over the kept markers (each left out in
    /// turn, the tilt refitted), degrees; the error is nil with fewer than four kept markers.
    public var fittedTiltDegrees: Double?
    public var tiltStandardErrorDegrees: Double?
    /// Projections in which no kept marker was observed (beads overlapping, out of view, or
    /// missed): the markers cannot place them. `fitMarkerTracks` leaves their shifts at 0 and
    /// says so in a warning; `ProjectionAligner.align` places each from the data
    /// (`placeProjectionsWithoutMarkers`) and replaces the warning with a note.
    public var projectionsWithoutMarkers: [Int] = []
}

public struct AlignmentSettings: Codable, Sendable, Equatable {
    public enum Markers: String, Codable, Sendable, CaseIterable { case auto, none }
    /// `auto`: fiducial markers (gold beads: bright in line integrals) if at least three are
    /// found through enough of the scan, else marker-free; `none`: marker-free.
    public var markers: Markers = .auto
    /// Bead radius in pixels (sets the blob filter).
    public var markerRadiusPixels = 2.0
    /// Most markers tracked (the strongest).
    public var maximumMarkers = 24
    /// A track must cover at least this fraction of the projections.
    public var minimumTrackFraction = 0.25
    /// Fit the axis tilt (markers).
    public var fitTilt = true
    /// Marker-free: iterations of reprojection alignment.
    public var reprojectionIterations = 12
    /// Largest shift searched, pixels.
    public var maximumShiftPixels = 20.0
    /// A marker fit whose aligned projections break parallel-beam consistency (centre of mass,
    /// row sums; `AlignmentConsistency`) by more than this is set aside for marker-free alignment.
    /// Markers are asked for ≤ 0.3 px; the check itself is good to a few hundredths of a pixel.
    public var markerConsistencyLimitPixels = 0.5
    /// A marker fit consistent to within this is kept as it is (markers are asked for ≤ 0.3 px);
    /// between this and the limit it is kept with a warning.
    public var markerConsistencyTrustedPixels = 0.3
    /// A fitted tilt smaller than this many jackknife standard errors is not applied (tilt 0).
    public var tiltSignificance = 2.0
    public init() {}

    public func validate() throws {
        guard markerRadiusPixels >= 0.5, markerRadiusPixels <= 50 else { throw LensError.invalidArgument("--marker-radius must be 0.5…50 px, got \(markerRadiusPixels)") }
        guard (3...500).contains(maximumMarkers) else { throw LensError.invalidArgument("the marker count must be 3…500, got \(maximumMarkers)") }
        guard minimumTrackFraction > 0, minimumTrackFraction <= 1 else { throw LensError.invalidArgument("the track fraction must be in (0, 1]") }
        guard (1...100).contains(reprojectionIterations) else { throw LensError.invalidArgument("reprojection iterations must be 1…100") }
        guard maximumShiftPixels > 0, maximumShiftPixels <= 1000 else { throw LensError.invalidArgument("the largest shift must be in (0, 1000] px") }
        guard markerConsistencyLimitPixels > 0, markerConsistencyLimitPixels.isFinite else { throw LensError.invalidArgument("the marker consistency limit must be a positive number of pixels") }
        guard markerConsistencyTrustedPixels > 0, markerConsistencyTrustedPixels <= markerConsistencyLimitPixels else {
            throw LensError.invalidArgument("the trusted marker consistency must be in (0, limit] pixels")
        }
        guard tiltSignificance >= 0, tiltSignificance.isFinite else { throw LensError.invalidArgument("the tilt significance must be ≥ 0 standard errors") }
    }
}

/// Projection alignment of parallel-beam scans (lab nano-CT drifts): with fiducial markers
/// (detect → link into trajectories → fit sinusoids with per-projection shifts and the axis
/// tilt, outliers rejected) or without (vertical drift from the projections' row sums, which
/// parallel beam keeps constant; horizontal shifts by reprojection alignment — reconstruct,
/// re-project, register each projection to its re-projection, repeat; TomoPy's `align_joint`).
public enum ProjectionAligner {
    public static func align(_ lines: Grid<Float>, anglesDegrees: [Double], settings: AlignmentSettings = AlignmentSettings()) throws -> ProjectionAlignment {
        try settings.validate()
        guard lines.rank == 3, lines.shape[0] == anglesDegrees.count, lines.shape[1] >= 1, lines.shape[2] >= 8 else {
            throw LensError.invalidArgument("alignment needs line integrals (angle, row, column) with one angle per projection, got \(lines.shape) for \(anglesDegrees.count) angles")
        }
        var warnings = [String]()
        if settings.markers == .auto, let fitted = try markerAlignment(lines, anglesDegrees: anglesDegrees, settings: settings) {
            let verdict = try review(markerFit: fitted, lines: lines, anglesDegrees: anglesDegrees, settings: settings)
            if let kept = verdict.kept { return kept }
            warnings += verdict.warnings
        }
        var free = try markerFreeAlignment(lines, anglesDegrees: anglesDegrees, settings: settings)
        free.consistency = try consistency(of: free, lines: lines, anglesDegrees: anglesDegrees)
        free.warnings = warnings
        return free
    }

    /// Whether a marker fit is kept: its aligned projections are checked for parallel-beam
    /// consistency (`AlignmentConsistency`). Within `markerConsistencyTrustedPixels` it is kept;
    /// up to `markerConsistencyLimitPixels` it is kept with a warning; beyond, it is set aside
    /// (`kept` nil) with a warning for the marker-free alignment that replaces it. Few markers
    /// with free per-projection shifts can fit tracks that are not rigid points of the sample
    /// (features that are not beads, tracks that jump between beads) with a small residual:
    /// the projections themselves then disagree.
    public static func review(markerFit: ProjectionAlignment, lines: Grid<Float>, anglesDegrees: [Double],
                              settings: AlignmentSettings = AlignmentSettings()) throws -> (kept: ProjectionAlignment?, warnings: [String]) {
        var fitted = markerFit
        fitted.consistency = try consistency(of: fitted, lines: lines, anglesDegrees: anglesDegrees)
        let worst = Swift.max(fitted.consistency?.horizontalPixels ?? 0, fitted.consistency?.verticalPixels ?? 0)
        if worst <= settings.markerConsistencyTrustedPixels { return (fitted, []) }
        if worst <= settings.markerConsistencyLimitPixels {
            // Kept, with a warning: neither the marker-free alignment's own consistency (it
            // registers the very row sums and centres of mass the check measures) nor the
            // residual says which is nearer the truth here.
            fitted.warnings.append(String(format: "the marker fit is consistent to %.2f px only (markers should give ≤ %.2f px): some tracks may follow features that are not beads or jump between beads; check --marker-radius against the beads' radius in pixels, or compare with --markers none",
                                          worst, settings.markerConsistencyTrustedPixels))
            return (fitted, [])
        }
        return (nil, [String(format: "the marker fit (%d markers, residual %.2f px) was set aside: the projections it aligns break parallel-beam consistency by %.2f px (limit %.2f px; centre of mass %@, row sums %@), so its tracks do not follow rigid points of the sample (features that are not beads, or tracks that jump between beads) — aligned without markers instead; a --marker-radius nearer the beads' radius in pixels may track them",
                             fitted.markers?.markers.filter { !$0.rejected }.count ?? 0, fitted.markers?.residualRMSPixels ?? .nan, worst, settings.markerConsistencyLimitPixels,
                             fitted.consistency?.horizontalPixels.map { String(format: "%.2f px", $0) } ?? "not checked",
                             fitted.consistency?.verticalPixels.map { String(format: "%.2f px", $0) } ?? "not checked")])
    }

    /// The consistency check of `alignment` applied to `lines` (rows a vertical shift brought in left out).
    static func consistency(of alignment: ProjectionAlignment, lines: Grid<Float>, anglesDegrees: [Double]) throws -> AlignmentConsistency {
        let margin = Int((alignment.shiftsPixels.map { abs($0[1]) }.max() ?? 0).rounded(.up)) + 1
        return try AlignmentConsistency.measure(lines, aligned: alignment, anglesDegrees: anglesDegrees, margin: margin, inView: AlignmentConsistency.sampleInView(lines))
    }

    // MARK: Markers

    /// Sub-pixel centres (row, column) of bright blobs of about `radius` pixels in one
    /// projection: a difference of Gaussians (σ = 0.5 r and r: narrow enough that particles of a
    /// few bead radii respond weakly), maxima above both 5 robust σ of the response and a quarter
    /// of its largest value (gold beads are the densest, most compact objects in view), centred by
    /// the vertex of a parabola through the logarithms of the peak and its neighbours along each
    /// axis (exact for a Gaussian peak; only the peak's own samples, so a structure beside the
    /// bead does not pull it) — the strongest `maximum` of them.
    public static func detectMarkers(_ image: Grid<Float>, radius: Double, maximum: Int) -> [(row: Double, column: Double, strength: Double)] {
        let (rows, cols) = (image.shape[0], image.shape[1])
        let narrow = Filters.gaussian(image, sigma: 0.5 * radius), wide = Filters.gaussian(image, sigma: 1.0 * radius)
        let response = zip(narrow.elements, wide.elements).map { Double($0 - $1) }
        let sorted = response.sorted()
        let median = sorted[sorted.count / 2]
        let mad = sorted.map { abs($0 - median) }.sorted()[sorted.count / 2] * 1.4826
        let threshold = Swift.max(median + 5 * Swift.max(mad, 1e-12), 0.25 * (sorted.last ?? 0))
        let reach = Swift.max(1, Int(radius.rounded(.up)) + 1)
        var found = [(row: Double, column: Double, strength: Double)]()
        for r in reach..<Swift.max(reach, rows - reach) { for c in reach..<Swift.max(reach, cols - reach) {
            let v = response[r * cols + c]
            guard v > threshold else { continue }
            var isPeak = true
            peak: for dr in -reach...reach { for dc in -reach...reach where (dr, dc) != (0, 0) {
                let w = response[(r + dr) * cols + c + dc]
                if w > v || (w == v && (dr, dc) < (0, 0)) { isPeak = false; break peak }
            } }
            guard isPeak else { continue }
            // Sub-pixel centre: the vertex of the parabola through the peak and its two
            // neighbours along each axis (only the peak's own 3 × 3 samples, so structures
            // beside the bead do not pull it).
            func vertex(_ a: Double, _ b: Double, _ c: Double) -> Double {
                // Through the logarithms when all three are positive: exact for a Gaussian peak,
                // which a bead's band-passed image nearly is.
                a > 0 && b > 0 && c > 0 ? parabolicVertexOffset(before: log(a), centre: log(b), after: log(c))
                                        : parabolicVertexOffset(before: a, centre: b, after: c)
            }
            let dr = vertex(response[(r - 1) * cols + c], v, response[(r + 1) * cols + c])
            let dc = vertex(response[r * cols + c - 1], v, response[r * cols + c + 1])
            found.append((Double(r) + dr, Double(c) + dc, v))
        } }
        return Array(found.sorted { $0.strength > $1.strength }.prefix(maximum))
    }

    /// Marker fit, or nil when fewer than three markers are tracked through enough of the scan.
    static func markerAlignment(_ lines: Grid<Float>, anglesDegrees: [Double], settings: AlignmentSettings) throws -> ProjectionAlignment? {
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        let frame = rows * cols
        let detections: [[(row: Double, column: Double, strength: Double)]] = Parallel.sharing(lines) { l in
            Parallel.map(count: angles) { k in
                let image = Grid<Float>(shape: Shape(rows, cols), elements: (0..<frame).map { l[k * frame + $0] })
                return detectMarkers(image, radius: settings.markerRadiusPixels, maximum: settings.maximumMarkers)
            }
        }
        let tracks = link(detections, gate: Swift.max(1.5, settings.markerRadiusPixels), maximumShift: settings.maximumShiftPixels)
            .filter { Double($0.count) >= settings.minimumTrackFraction * Double(angles) }
        guard tracks.count >= 3 else { return nil }
        var alignment = fitMarkerTracks(tracks, anglesDegrees: anglesDegrees, rows: rows, columns: cols, fitTilt: settings.fitTilt, significance: settings.tiltSignificance)
        try placeProjectionsWithoutMarkers(&alignment, lines: lines, anglesDegrees: anglesDegrees)
        return alignment
    }

    static func unplacedWarning(_ count: Int, of angles: Int) -> String {
        "\(count) of \(angles) projections have no marker observed in them: their shifts are left at 0, which is a guess — align with ProjectionAligner.align (or `batterylens align`) to place them from the data"
    }

    /// Shifts for the projections no kept marker was seen in (`markers.projectionsWithoutMarkers`),
    /// from the data rather than a guess: each is registered in 2D (`ImageRegistration`: phase
    /// correlation, then normalized cross-correlation refined to sub-pixel) to its nearest
    /// projection the markers placed — a fraction of a degree away, so nearly the same image —
    /// and takes that projection's shift plus the offset found. Horizontally, while the sample
    /// stays inside the detector's width (`AlignmentConsistency.sampleInView`), the centre of
    /// mass is used instead: in parallel beam it is the projection of the sample's own centre
    /// of mass, a constant plus a sinusoid in the angle (fitted over the placed projections,
    /// their centres of mass minus their shifts), so what is left is the shift itself, with no
    /// error carried over from a neighbour.
    package static func placeProjectionsWithoutMarkers(_ alignment: inout ProjectionAlignment, lines: Grid<Float>, anglesDegrees: [Double]) throws {
        guard let uncovered = alignment.markers?.projectionsWithoutMarkers, !uncovered.isEmpty else { return }
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        let missing = Set(uncovered)
        let placed = (0..<angles).filter { !missing.contains($0) }
        guard !placed.isEmpty else { return }
        let frame = rows * cols
        func projection(_ k: Int) -> Grid<Double> { Grid<Double>(shape: Shape(rows, cols), elements: (0..<frame).map { Double(lines[linear: k * frame + $0]) }) }
        let theta = anglesDegrees.map { $0 * .pi / 180 }
        let known = alignment.shiftsPixels
        // The sample's own centre-of-mass sinusoid, from the placed projections.
        var centres = [Double](repeating: .nan, count: angles)
        var model: (c: Double, a: Double, b: Double)?
        if AlignmentConsistency.sampleInView(lines) {
            centres = Parallel.sharing(lines) { l in
                Parallel.map(count: angles) { k in
                    var mass = 0.0, moment = 0.0
                    for r in 0..<rows { for j in 0..<cols { let v = Double(l[k * frame + r * cols + j]); mass += v; moment += v * Double(j) } }
                    return mass > 0 ? moment / mass : .nan
                }
            }
            if placed.allSatisfy({ centres[$0].isFinite }), placed.count >= 3 {
                // c + a cos θ + b sin θ by least squares (3 × 3 normal equations).
                var ata = [Double](repeating: 0, count: 9), atb = [Double](repeating: 0, count: 3)
                for k in placed {
                    let row = [1, cos(theta[k]), sin(theta[k])], value = centres[k] - known[k][0]
                    for p in 0..<3 { atb[p] += row[p] * value; for q in 0..<3 { ata[p * 3 + q] += row[p] * row[q] } }
                }
                if let inverse = Matrix(rows: 3, columns: 3, values: ata).inverseSymmetricPositiveDefinite() {
                    let x = inverse.multiply(atb)
                    model = (x[0], x[1], x[2])
                }
            }
        }
        for k in uncovered {
            let neighbour = placed.min { abs($0 - k) < abs($1 - k) }!
            let offset = try ImageRegistration.translation(reference: projection(neighbour), moving: projection(k))
            var du = known[neighbour][0] + offset.columns
            if let model, centres[k].isFinite { du = centres[k] - (model.c + model.a * cos(theta[k]) + model.b * sin(theta[k])) }
            alignment.shiftsPixels[k] = [du, known[neighbour][1] + offset.rows]
        }
        alignment.warnings.removeAll { $0 == Self.unplacedWarning(uncovered.count, of: angles) }
        alignment.notes.append("\(uncovered.count) of \(angles) projections have no marker observed in them; their shifts come from the projections themselves (each registered to its nearest projection with markers\(model != nil ? "; horizontally, its centre of mass" : ""))")
    }

    /// The marker model fitted to tracks (projection index, row, column per observation): per
    /// projection shifts, the tilt (if asked) and the gauge-fixed axis column, outliers rejected.
    public static func fitMarkerTracks(_ tracks: [[(k: Int, row: Double, column: Double)]], anglesDegrees: [Double], rows: Int, columns cols: Int,
                                       fitTilt: Bool, significance: Double = AlignmentSettings().tiltSignificance) -> ProjectionAlignment {
        let angles = anglesDegrees.count
        let theta = anglesDegrees.map { $0 * .pi / 180 }
        var fit = MarkerFit(tracks: tracks, theta: theta, rows: rows, cols: cols)
        // The tilt by golden-section search on the residual (the rest is linear given it).
        var tilt = 0.0
        if fitTilt { tilt = GoldenSection.minimize(in: (-5.0 * .pi / 180)...(5.0 * .pi / 180), tolerance: 1e-5) { fit.solve(tilt: $0) } }
        _ = fit.solve(tilt: tilt)
        // Outliers: observations beyond 4 robust σ (at least 0.75 px), markers whose RMS exceeds
        // three times the median marker's — twice, refitting between — then the final fit.
        var rejected = fit.rejectOutliers()
        _ = fit.solve(tilt: tilt)
        rejected += fit.rejectOutliers()
        // Markers weighted by their residual scatter from here on (a bead beside a particle
        // or another bead has noisier centroids).
        _ = fit.solve(tilt: tilt)
        fit.weighByResiduals()
        if fitTilt {
            let around = tilt
            tilt = GoldenSection.minimize(in: (around - 0.5 * .pi / 180)...(around + 0.5 * .pi / 180), tolerance: 1e-6) { fit.solve(tilt: $0) }
        }
        _ = fit.solve(tilt: tilt)
        // The tilt's standard error by the jackknife over markers: each kept marker left out in
        // turn and the tilt refitted. It captures what the residual's curvature cannot: a bias
        // of one bead's centroids (a neighbour, the sample's edge behind it) that its own track
        // absorbs as a tilt.
        let fitted = tilt
        var standardError: Double?
        var notes = [String]()
        let kept = fit.tracks.indices.filter { !fit.markerRejected[$0] }
        if fitTilt, kept.count >= 4 {
            let leaveOneOut = kept.map { m -> Double in
                var reduced = fit
                reduced.markerRejected[m] = true
                return GoldenSection.minimize(in: (fitted - 2 * .pi / 180)...(fitted + 2 * .pi / 180), tolerance: 1e-6) { reduced.solve(tilt: $0) }
            }
            let mean = leaveOneOut.reduce(0, +) / Double(kept.count)
            let n = Double(kept.count)
            standardError = ((n - 1) / n * leaveOneOut.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }).squareRoot()
            if let se = standardError, abs(fitted) < significance * se {
                tilt = 0
                _ = fit.solve(tilt: 0)
                notes.append(String(format: "the fitted axis tilt %.3f° ± %.3f° (jackknife over %d markers) is within %.3g standard errors of zero: not applied", fitted * 180 / .pi, se * 180 / .pi, kept.count, significance))
            }
        } else if fitTilt {
            notes.append(String(format: "the axis tilt %.3f° comes from %d markers: too few for its standard error (4 needed), so it is applied unchecked", fitted * 180 / .pi, kept.count))
        }
        let covered = fit.coveredProjections()
        let uncovered = (0..<angles).filter { !covered[$0] }
        var alignment = ProjectionAlignment(projections: angles)
        alignment.notes = notes
        alignment.shiftsPixels = (0..<angles).map { [fit.du[$0], fit.dv[$0]] }
        // The markers cannot place these: said as a warning until the data place them
        // (`placeProjectionsWithoutMarkers`, which `align` runs).
        if !uncovered.isEmpty { alignment.warnings.append(Self.unplacedWarning(uncovered.count, of: angles)) }
        alignment.tiltDegrees = tilt * 180 / .pi
        alignment.axisColumn = fit.axis
        alignment.method = "markers"
        alignment.markers = MarkerFitReport(markers: fit.report(), residualRMSPixels: fit.residualRMS(), rejectedObservations: rejected,
                                            fittedTiltDegrees: fitTilt ? fitted * 180 / .pi : nil, tiltStandardErrorDegrees: standardError.map { $0 * 180 / .pi },
                                            projectionsWithoutMarkers: uncovered)
        return alignment
    }

    /// Links detections into tracks projection by projection. Positions are kept in the first
    /// projection's frame: a running offset O_k follows the random drift from projection to
    /// projection (the step most pairs of predicted track positions and detections agree on,
    /// within `maximumShift`). Each active track predicts where it is from its own motion: a
    /// straight line through its last observations in that frame (a bead's column moves as
    /// x·cos θ + y·sin θ, nearly straight over a dozen projections; without the velocity a track
    /// that misses a few projections comes back beside its bead, and beads that cross are
    /// swapped). Detections pair up mutually nearest within `gate` of the predictions. Where two
    /// beads overlap, their blob is ambiguous: a detection within the gate of two predictions,
    /// or a prediction with two detections within its gate, is given to no track and starts
    /// none, and the tracks coast on their predictions for up to 15 projections. Returns per
    /// track the (projection, row, column) observations.
    public static func link(_ detections: [[(row: Double, column: Double, strength: Double)]], gate: Double, maximumShift: Double) -> [[(k: Int, row: Double, column: Double)]] {
        var tracks = [[(k: Int, row: Double, column: Double)]]()
        var history = [[(k: Int, row: Double, column: Double)]]()   // per track, in the first frame
        var offset = (row: 0.0, column: 0.0)
        let coastLimit = 15, historyLength = 10
        /// Where a track is at projection k in the first frame: the least-squares line through
        /// its recent observations (its last position while it has fewer than 4 spanning 3 projections).
        func predict(_ h: ArraySlice<(k: Int, row: Double, column: Double)>, at k: Int) -> (row: Double, column: Double) {
            guard let last = h.last else { return (0, 0) }
            guard h.count >= 4, last.k - h.first!.k >= 3 else { return (last.row, last.column) }
            let n = Double(h.count)
            let mk = h.reduce(0) { $0 + Double($1.k) } / n
            let mr = h.reduce(0) { $0 + $1.row } / n, mc = h.reduce(0) { $0 + $1.column } / n
            var skk = 0.0, skr = 0.0, skc = 0.0
            for o in h { let d = Double(o.k) - mk; skk += d * d; skr += d * (o.row - mr); skc += d * (o.column - mc) }
            let d = Double(k) - mk
            return (mr + skr / skk * d, mc + skc / skk * d)
        }
        for (k, current) in detections.enumerated() {
            let predicted = history.indices.filter { k - history[$0].last!.k <= coastLimit }.map { t -> (t: Int, row: Double, column: Double) in
                let p = predict(history[t].suffix(historyLength), at: k)
                return (t, p.row + offset.row, p.column + offset.column)
            }
            // The step of the drift since the last projection: the one most pairs agree on.
            var best = (dr: 0.0, dc: 0.0, votes: 0)
            for p in predicted { for c in current {
                let (dr, dc) = (c.row - p.row, c.column - p.column)
                guard abs(dr) <= 2 * maximumShift, abs(dc) <= 2 * maximumShift else { continue }
                var votes = 0
                for q in predicted { for d in current where hypot(d.row - q.row - dr, d.column - q.column - dc) < gate { votes += 1 } }
                if votes > best.votes { best = (dr, dc, votes) }
            } }
            if best.votes >= 2 || (best.votes == 1 && predicted.count == 1) { offset = (offset.row + best.dr, offset.column + best.dc) }
            let step = best.votes >= 2 || (best.votes == 1 && predicted.count == 1) ? (best.dr, best.dc) : (0, 0)
            func distance(_ p: (t: Int, row: Double, column: Double), _ c: (row: Double, column: Double, strength: Double)) -> Double {
                hypot(c.row - p.row - step.0, c.column - p.column - step.1)
            }
            // Overlapping beads: detections near two predictions, predictions near two detections.
            let near = current.map { c in predicted.indices.filter { distance(predicted[$0], c) < gate } }
            let crowded = Set(predicted.indices.filter { i in current.indices.filter { distance(predicted[i], current[$0]) < gate }.count >= 2 })
            var taken = Set<Int>()
            for (i, p) in predicted.enumerated() where !crowded.contains(i) {
                guard let j = current.indices.min(by: { distance(p, current[$0]) < distance(p, current[$1]) }), distance(p, current[j]) < gate,
                      near[j].count == 1, !taken.contains(j) else { continue }
                taken.insert(j)
                tracks[p.t].append((k, current[j].row, current[j].column))
                history[p.t].append((k, current[j].row - offset.row, current[j].column - offset.column))
            }
            for (j, c) in current.enumerated() where !taken.contains(j) && near[j].isEmpty {
                tracks.append([(k, c.row, c.column)])
                history.append([(k, c.row - offset.row, c.column - offset.column)])
            }
        }
        return tracks
    }

    /// `values` minus their least-squares fit c + a·cos θ + b·sin θ, and c: the part of a
    /// per-projection column shift that a rotation-axis position (c) or a sample position
    /// (a, b) explains equally well (the gauge of alignment).
    public static func removeSinusoid(_ values: [Double], anglesRadians theta: [Double]) -> (residual: [Double], constant: Double) {
        guard values.count >= 3 else { let m = values.reduce(0, +) / Double(Swift.max(1, values.count)); return (values.map { $0 - m }, m) }
        var ata = [Double](repeating: 0, count: 9), atb = [Double](repeating: 0, count: 3)
        for (v, t) in zip(values, theta) {
            let row = [1, cos(t), sin(t)]
            for p in 0..<3 { atb[p] += row[p] * v; for q in 0..<3 { ata[p * 3 + q] += row[p] * row[q] } }
        }
        guard let c = Matrix(rows: 3, columns: 3, values: ata).inverseSymmetricPositiveDefinite()?.multiply(atb) else {
            let m = values.reduce(0, +) / Double(values.count); return (values.map { $0 - m }, m)
        }
        return (zip(values, theta).map { $0 - c[0] - c[1] * cos($1) - c[2] * sin($1) }, c[0])
    }

    // MARK: Marker-free

    static func markerFreeAlignment(_ lines: Grid<Float>, anglesDegrees: [Double], settings: AlignmentSettings) throws -> ProjectionAlignment {
        let (angles, rows, cols) = (lines.shape[0], lines.shape[1], lines.shape[2])
        var alignment = ProjectionAlignment(projections: angles)
        alignment.method = "reprojection"
        // The re-projections put the axis at the detector centre, and the shifts move every
        // projection onto it: after alignment the axis is there.
        alignment.axisColumn = Double(cols - 1) / 2
        // Vertical drift: each projection's row sums (the slice's total attenuation, the same
        // at every angle in parallel beam) registered to their mean, three rounds.
        if rows >= 8 {
            let profiles: [[Double]] = (0..<angles).map { k in
                (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + Double(lines[linear: (k * rows + r) * cols + $1]) } }
            }
            var dv = [Double](repeating: 0, count: angles)
            for _ in 0..<3 {
                let mean = try alignedMeanRowProfile(profiles, shifts: dv, of: Array(0..<angles))
                for k in 0..<angles { dv[k] = shift1D(reference: mean, moving: profiles[k], maximum: settings.maximumShiftPixels) }
                let average = dv.reduce(0, +) / Double(angles)
                dv = dv.map { $0 - average }
            }
            for k in 0..<angles { alignment.shiftsPixels[k][1] = dv[k] }
        }
        // Horizontal, first estimate: while the sample stays in view, each projection's centre of
        // mass is a constant plus a sinusoid in the angle (the projection of the sample's own),
        // so what is left after fitting those is the projection's horizontal shift, gauge-free
        // (Azevedo et al. 1990). Reprojection alignment then refines it (or, for a sample wider
        // than the detector, finds it alone).
        if AlignmentConsistency.sampleInView(lines) {
            let centres: [Double] = Parallel.sharing(lines) { l in
                Parallel.map(count: angles) { k in
                    var mass = 0.0, moment = 0.0
                    for r in 0..<rows { for j in 0..<cols { let v = Double(l[(k * rows + r) * cols + j]); mass += v; moment += v * Double(j) } }
                    return mass > 0 ? moment / mass : Double(cols - 1) / 2
                }
            }
            let residual = removeSinusoid(centres, anglesRadians: anglesDegrees.map { $0 * .pi / 180 }).residual
            for k in 0..<angles { alignment.shiftsPixels[k][0] = residual[k] }
            alignment.notes.append("horizontal shifts started from the projections' centres of mass (the sample stays within the detector's width)")
        }
        // Horizontal: reprojection alignment on the vertically aligned data.
        let geometry = ParallelBeamGeometry(anglesDegrees: anglesDegrees, detectorColumns: cols, detectorRows: rows)
        let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(rows, cols, cols))
        var updates = [Double]()
        for _ in 0..<settings.reprojectionIterations {
            let aligned = try alignment.apply(to: lines)
            var s = IterativeSettings()
            s.iterations = 10; s.warmStart = false
            let volume = try IterativeReconstruction.solve(projector, data: aligned, algorithm: .sart, settings: s).volume
            let reprojected = try projector.project(volume)
            // Each projection's offsets from its re-projection: its column profile (rows summed)
            // and its row profile (columns summed) cross-correlated with the re-projection's.
            let offsets: [(du: Double, dv: Double)] = Parallel.sharing(aligned) { a in Parallel.sharing(reprojected) { p in
                Parallel.map(count: angles) { k in
                    var measured = [Double](repeating: 0, count: cols), model = [Double](repeating: 0, count: cols)
                    var measuredRows = [Double](repeating: 0, count: rows), modelRows = [Double](repeating: 0, count: rows)
                    for r in 0..<rows { for j in 0..<cols {
                        let (m, q) = (Double(a[(k * rows + r) * cols + j]), Double(p[(k * rows + r) * cols + j]))
                        measured[j] += m; model[j] += q; measuredRows[r] += m; modelRows[r] += q
                    } }
                    return (shift1D(reference: model, moving: measured, maximum: settings.maximumShiftPixels),
                            rows >= 8 ? shift1D(reference: modelRows, moving: measuredRows, maximum: settings.maximumShiftPixels) : 0)
                }
            } }
            let meanU = offsets.reduce(0.0) { $0 + $1.du } / Double(angles), meanV = offsets.reduce(0.0) { $0 + $1.dv } / Double(angles)
            for k in 0..<angles {
                alignment.shiftsPixels[k][0] += offsets[k].du - meanU
                alignment.shiftsPixels[k][1] += offsets[k].dv - meanV
            }
            updates.append((offsets.reduce(0.0) { $0 + ($1.du - meanU) * ($1.du - meanU) + ($1.dv - meanV) * ($1.dv - meanV) } / Double(angles)).squareRoot())
            if updates.last! < 0.02 { break }
        }
        alignment.reprojectionUpdatesPixels = updates
        return alignment
    }

    /// The mean of the projections' row profiles (row sums) `of` these projections, each read at
    /// its vertical shift (linear interpolation, the end values beyond the frame): the sample's
    /// row-mass profile in the aligned frame, which parallel beam keeps the same at every angle.
    static func alignedMeanRowProfile(_ profiles: [[Double]], shifts dv: [Double], of projections: [Int]) throws -> [Double] {
        let rows = profiles.first?.count ?? 0
        let rowPositions = (0..<rows).map(Double.init)
        var mean = [Double](repeating: 0, count: rows)
        for k in projections {
            let interpolation = try LinearInterpolation(x: rowPositions, y: profiles[k])
            for r in 0..<rows { mean[r] += try interpolation.value(at: Double(r) + dv[k], extrapolation: .clamp) / Double(projections.count) }
        }
        return mean
    }

    /// The shift s (within ± `maximum`, and at most half the profile so that at least half
    /// overlaps) with moving(x) ≈ reference(x − s), as measured by the peak of the
    /// cross-correlation of the mean-removed profiles, each lag's sum divided by its overlap
    /// (a plain sum favours small shifts: the profiles' ends, below their means, add positive
    /// products only while they overlap — broad profiles read 2 px for a 5 px shift), refined
    /// by a parabola.
    static func shift1D(reference: [Double], moving: [Double], maximum: Double) -> Double {
        let n = reference.count
        let mr = reference.reduce(0, +) / Double(n), mm = moving.reduce(0, +) / Double(n)
        let reach = Swift.min(n / 2, Int(maximum.rounded(.up)))
        func correlation(_ s: Int) -> Double {
            var sum = 0.0
            for i in Swift.max(0, s)..<Swift.min(n, n + s) { sum += (moving[i] - mm) * (reference[i - s] - mr) }
            return sum / Double(n - abs(s))
        }
        let values = (-reach...reach).map { correlation($0) }
        guard let best = values.indices.max(by: { values[$0] < values[$1] }) else { return 0 }
        var shift = Double(best - reach)
        if best > 0 && best < values.count - 1 {
            shift += parabolicVertexOffset(before: values[best - 1], centre: values[best], after: values[best + 1])
        }
        return shift
    }
}

/// The marker model's least-squares fit: per marker (x, y, z), per projection (du, dv), the
/// axis column, for a given tilt; alternating between the markers (linear, 3 unknowns each)
/// and the projections' shifts (the mean residual of their markers).
struct MarkerFit {
    var tracks: [[(k: Int, row: Double, column: Double)]]
    let theta: [Double]
    let rows: Int, cols: Int
    var positions: [[Double]]
    var du: [Double], dv: [Double]
    var axis: Double
    var keep: [[Bool]]
    var markerRejected: [Bool]
    /// Each marker's weight in the shifts and the objective: 1 / its residual variance
    /// (`weighByResiduals`), so a bead whose centroids are pulled by a neighbour counts less.
    var weights: [Double]
    /// The tilt of the last solve, radians.
    var phi = 0.0

    init(tracks: [[(k: Int, row: Double, column: Double)]], theta: [Double], rows: Int, cols: Int) {
        self.tracks = tracks; self.theta = theta; self.rows = rows; self.cols = cols
        positions = [[Double]](repeating: [0, 0, 0], count: tracks.count)
        du = [Double](repeating: 0, count: theta.count); dv = du
        axis = Double(cols - 1) / 2
        keep = tracks.map { [Bool](repeating: true, count: $0.count) }
        markerRejected = [Bool](repeating: false, count: tracks.count)
        weights = [Double](repeating: 1, count: tracks.count)
    }

    /// Weights from the current fit: 1 / (marker's RMS residual)², the RMS floored at 0.05 px,
    /// scaled to a mean of 1 over the kept markers.
    mutating func weighByResiduals() {
        let variance = tracks.indices.map { m -> Double in
            let r = residuals(m).enumerated().filter { keep[m][$0.offset] }.map(\.element)
            guard !r.isEmpty else { return 1 }
            return Swift.max(r.reduce(0) { $0 + $1 * $1 } / Double(r.count), 0.05 * 0.05)
        }
        let kept = tracks.indices.filter { !markerRejected[$0] }
        let mean = kept.reduce(0.0) { $0 + 1 / variance[$1] } / Double(Swift.max(1, kept.count))
        weights = variance.map { 1 / $0 / Swift.max(mean, 1e-300) }
    }

    /// RMS residual of the kept observations of the kept markers, unweighted (pixels).
    func residualRMS() -> Double {
        var total = 0.0, count = 0
        for m in tracks.indices where !markerRejected[m] {
            for (i, r) in residuals(m).enumerated() where keep[m][i] { total += r * r; count += 1 }
        }
        return count > 0 ? (total / Double(2 * count)).squareRoot() : .infinity
    }

    /// Fits at `tilt` (radians) from zero shifts; returns the weighted RMS residual (pixels),
    /// the objective of the tilt search.
    mutating func solve(tilt: Double) -> Double {
        phi = tilt
        let (cp, sp) = (cos(phi), sin(phi))
        let vc = Double(rows - 1) / 2
        du = du.map { _ in 0 }; dv = dv.map { _ in 0 }; axis = Double(cols - 1) / 2
        var rms = 0.0
        for _ in 0..<400 {
            // Markers: rows of the 3×3 normal equations per marker.
            for (m, track) in tracks.enumerated() where !markerRejected[m] {
                var ata = [Double](repeating: 0, count: 9), atb = [Double](repeating: 0, count: 3)
                for (i, o) in track.enumerated() where keep[m][i] {
                    let (c, s) = (cos(theta[o.k]), sin(theta[o.k]))
                    // u = axis + du + cp (x c − y s) − sp z ; v = vc + dv + sp (x c − y s) + cp z
                    let ru = o.column - axis - du[o.k], rv = o.row - vc - dv[o.k]
                    for (a, b) in [([cp * c, -cp * s, -sp], ru), ([sp * c, -sp * s, cp], rv)] {
                        for p in 0..<3 { atb[p] += a[p] * b; for q in 0..<3 { ata[p * 3 + q] += a[p] * a[q] } }
                    }
                }
                if let inverse = Matrix(rows: 3, columns: 3, values: ata).inverseSymmetricPositiveDefinite() { positions[m] = inverse.multiply(atb) }
            }
            // Shifts: mean residual per projection, then the gauge (mean du into the axis,
            // mean dv into the markers' z, i.e. zero).
            var su = [Double](repeating: 0, count: theta.count), sv = su, n = su
            var total = 0.0, count = 0.0
            for (m, track) in tracks.enumerated() where !markerRejected[m] {
                let p = positions[m], w = weights[m]
                for (i, o) in track.enumerated() where keep[m][i] {
                    let (c, s) = (cos(theta[o.k]), sin(theta[o.k]))
                    let u0 = p[0] * c - p[1] * s
                    let ru = o.column - (axis + cp * u0 - sp * p[2]), rv = o.row - (vc + sp * u0 + cp * p[2])
                    su[o.k] += w * ru; sv[o.k] += w * rv; n[o.k] += w
                    let eu = ru - du[o.k], ev = rv - dv[o.k]
                    total += w * (eu * eu + ev * ev); count += 2 * w
                }
            }
            let previousRMS = rms
            rms = count > 0 ? (total / count).squareRoot() : .infinity
            for k in theta.indices where n[k] > 0 { du[k] = su[k] / n[k]; dv[k] = sv[k] / n[k] }
            // The gauge: a constant plus a sinusoid a·cos θ − b·sin θ in du is the same as the
            // axis column and every marker moved by (a, b) in the slice — the model cannot tell
            // them apart, and neither can a reconstruction. du keeps no such part (its constant
            // goes into the axis column, its sinusoid into the markers); dv keeps no constant
            // (it goes into the markers' heights).
            let covered = theta.indices.filter { n[$0] > 0 }
            let (gaugeFree, constant) = ProjectionAligner.removeSinusoid(covered.map { du[$0] }, anglesRadians: covered.map { theta[$0] })
            let meanV = covered.reduce(0.0) { $0 + dv[$1] } / Double(Swift.max(1, covered.count))
            axis += constant
            for k in theta.indices { du[k] = 0; dv[k] = n[k] > 0 ? dv[k] - meanV : 0 }
            for (i, k) in covered.enumerated() { du[k] = gaugeFree[i] }
            if abs(previousRMS - rms) < 1e-9 * Swift.max(1, rms) { break }
        }
        return rms
    }

    /// Whether each projection has at least one kept observation of a kept marker.
    func coveredProjections() -> [Bool] {
        var covered = [Bool](repeating: false, count: theta.count)
        for (m, track) in tracks.enumerated() where !markerRejected[m] {
            for (i, o) in track.enumerated() where keep[m][i] { covered[o.k] = true }
        }
        return covered
    }

    /// Residuals of the current fit per observation.
    func residuals(_ m: Int) -> [Double] {
        let p = positions[m]
        let vc = Double(rows - 1) / 2
        let (cp, sp) = (cos(phi), sin(phi))
        return tracks[m].map { o in
            let (c, s) = (cos(theta[o.k]), sin(theta[o.k]))
            let u0 = p[0] * c - p[1] * s
            return hypot(o.column - (axis + du[o.k] + cp * u0 - sp * p[2]), o.row - (vc + dv[o.k] + sp * u0 + cp * p[2]))
        }
    }

    /// Drops observations beyond 4 robust σ (at least 0.75 px) and markers whose RMS is over three
    /// times the median marker's; returns the observations dropped.
    mutating func rejectOutliers() -> Int {
        let all = tracks.indices.flatMap { m in residuals(m).enumerated().filter { keep[m][$0.offset] }.map(\.element) }.sorted()
        guard !all.isEmpty else { return 0 }
        let sigma = all[all.count / 2] * 1.4826
        let limit = Swift.max(0.75, 4 * sigma)
        var dropped = 0
        for m in tracks.indices {
            for (i, r) in residuals(m).enumerated() where keep[m][i] && r > limit { keep[m][i] = false; dropped += 1 }
        }
        let rmsPerMarker = tracks.indices.map { m -> Double in
            let r = residuals(m).enumerated().filter { keep[m][$0.offset] }.map(\.element)
            return r.isEmpty ? .infinity : (r.reduce(0) { $0 + $1 * $1 } / Double(r.count)).squareRoot()
        }
        let median = rmsPerMarker.sorted()[rmsPerMarker.count / 2]
        for m in tracks.indices where rmsPerMarker[m] > Swift.max(3 * median, 0.5) { markerRejected[m] = true }
        return dropped
    }

    func report() -> [MarkerFitReport.Marker] {
        tracks.indices.map { m in
            let r = residuals(m).enumerated().filter { keep[m][$0.offset] }.map(\.element)
            return .init(position: positions[m], observations: r.count,
                         residualRMSPixels: r.isEmpty ? .nan : (r.reduce(0) { $0 + $1 * $1 } / Double(r.count)).squareRoot(),
                         rejected: markerRejected[m])
        }
    }
}
