import Foundation
import LensCore
import LensIO
import Signal
import CellInspection

/// Inspection of a cylindrical cell scanned by lab CT (18650, 21700, …), slice by slice: the
/// can (centre, inner radius, wall, out-of-roundness, dents), the axis drift and tilt through
/// the slices, the wound electrode (turns, pitch, layer thickness, strip length, electrode area
/// in view) and where the winding departs from its regular pitch. Read slab by slab (any
/// height); the unrolled slices (angle, radius) and the layer mask are streamed to their files.
public enum CellInspectionWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        public var inspection: WoundCellInspection.Settings
        /// Slices to inspect: [first, end) along z (default all), every `step`-th.
        public var firstSlice: Int?
        public var endSlice: Int?
        public var step: Int
        public init(inspection: WoundCellInspection.Settings = .init(), firstSlice: Int? = nil, endSlice: Int? = nil, step: Int = 1) {
            self.inspection = inspection; self.firstSlice = firstSlice; self.endSlice = endSlice; self.step = step
        }
    }

    /// One inspected slice; lengths in the record's unit, angles in degrees.
    public struct SliceRow: Codable, Sendable, Equatable {
        public var slice: Int
        /// "ok", or why the slice has no measurement (no can, no wound layers).
        public var status: String
        public var centreX: Double?, centreY: Double?
        public var canInnerRadius: Double?, canWall: Double?, canOutOfRoundness: Double?, canDeepestDent: Double?, canDentAngleDegrees: Double?
        public var threshold: Double?
        public var turns: Double?
        public var pitch: Double?, layerThickness: Double?, stripLength: Double?
        public var anomalousGapFraction: Double?
        /// Share of the rays that reach the can inside the image (turns and length from these).
        public var completeRayFraction: Double?
        /// The strip followed from its inner end (virtual unrolling): its length and the gaps in
        /// the bright layer bridged on the way (lost coating, a break).
        public var followedStripLength: Double?
        public var stripGaps: Int?
        public var anomalousSectors: [AnomalousSector]
    }

    /// What the run measured; its encoding is the summary.
    public struct Record: Codable, Sendable {
        /// Unit of every length ("µm" when the in-plane pixel size is known, else "voxel").
        public var unit: String
        public var pixelSize: Double
        public var sliceSpacing: Double
        public var slicesInspected: Int
        public var slicesWithCan: Int
        public var slicesWithWinding: Int
        public var angularSamples: Int
        /// Medians over the slices that have them.
        public var canInnerRadius: Double?
        public var canWallThickness: Double?
        public var canOutOfRoundness: Double?
        /// The deepest dent of the can over all slices: depth, slice and polar angle.
        public var canDeepestDent: Double?
        public var canDeepestDentSlice: Int?
        public var canDeepestDentAngleDegrees: Double?
        /// Drift of the can's centre per slice (pixels per slice, from a straight-line fit of the
        /// centres), and the axis tilt against z in degrees when the voxel size is known.
        public var axisDriftPixelsPerSlice: Double?
        public var axisTiltDegrees: Double?
        /// Medians over the slices with a winding: turns, pitch, bright-layer thickness, strip
        /// length per slice, and (below) the share of gaps off the pitch.
        public var turns: Double?
        public var pitch: Double?
        public var layerThickness: Double?
        public var stripLength: Double?
        /// The strip followed along its length from its inner end (median over the slices), and
        /// the median count of gaps bridged on the way.
        public var followedStripLength: Double?
        public var stripGaps: Double?
        /// Σ strip length × slice spacing × step over the slices with a winding: the area of
        /// bright electrode in the inspected height (unit²).
        public var electrodeAreaInView: Double?
        public var anomalousGapFraction: Double?
        /// The widest anomalous sectors over all slices (up to 20), radii in the unit.
        public var widestAnomalies: [SliceSector]
        public var notes: [String]
    }

    public struct SliceSector: Codable, Sendable, Equatable {
        public var slice: Int
        public var startDegrees: Double, endDegrees: Double
        public var largestPitchDeviation: Double
        public var innerRadius: Double, outerRadius: Double
    }

    /// Where the streamed outputs go (nil: not written). Each writer is made once the shapes
    /// are known: the unrolled volume is (slices, angles, radii) float32, the layer mask the
    /// inspected slices × rows × columns uint8 (1 = bright electrode).
    public struct Outputs {
        public var unrolled: ((VolumeInfo) throws -> VolumeWriter)?
        public var layers: ((VolumeInfo) throws -> VolumeWriter)?
        /// The strip followed along its length (``StripUnrolling``): one row per slice, the grey
        /// value every pixel of arc length from the strip's inner end (NaN past its end).
        public var sheet: ((VolumeInfo) throws -> VolumeWriter)?
        public init(unrolled: ((VolumeInfo) throws -> VolumeWriter)? = nil, layers: ((VolumeInfo) throws -> VolumeWriter)? = nil,
                    sheet: ((VolumeInfo) throws -> VolumeWriter)? = nil) {
            self.unrolled = unrolled; self.layers = layers; self.sheet = sheet
        }
    }

    /// A run's results: the record, one row per inspected slice, the layer crossings of a
    /// single cross-section and its strip followed along its length, and the layer mask of a typical slice (turns nearest the median; for a figure).
    public typealias Run = (record: Record, slices: [SliceRow], crossings: [[LayerCrossing]]?, strip: StripProfile?, figure: (slice: Int, layers: Grid<UInt8>)?)

    public static func run(_ reader: VolumeReader, settings: Settings, outputs: Outputs = Outputs(),
                           progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> Run {
        try settings.inspection.validate()
        let input = reader.source, info = reader.info
        guard info.shape.rank == 2 || info.shape.rank == 3 else { throw LensError.badInput(file: input, problem: "a cell cross-section (2D) or a stack of them (3D) is needed, got shape \(info.shape)") }
        guard !info.dataType.isComplex else { throw LensError.badInput(file: input, problem: "complex values cannot be inspected") }
        let isStack = info.shape.rank == 3
        let depth = isStack ? info.shape[0] : 1
        let rows = info.shape[info.shape.rank - 2], columns = info.shape[info.shape.rank - 1]
        guard rows >= 16, columns >= 16 else { throw LensError.badInput(file: input, problem: "cross-sections of \(rows)×\(columns) pixels are too small (16×16 at least)") }
        guard (1...100_000).contains(settings.step) else { throw LensError.invalidArgument("the slice step must be 1…100000, got \(settings.step)") }
        let first = settings.firstSlice ?? 0, end = settings.endSlice ?? depth
        guard first >= 0, end <= depth, first < end else { throw LensError.invalidArgument("slices \(first):\(end) are empty or outside 0:\(depth) of \(input)") }
        let chosen = Array(stride(from: first, to: end, by: settings.step))
        let geometry = info.geometry
        let inPlane = Array(geometry.voxelSizeMicrometres.suffix(2))
        let physical = geometry.isCalibrated
        if physical, abs(inPlane[0] - inPlane[1]) > 1e-6 * Swift.max(inPlane[0], inPlane[1]) {
            throw LensError.badInput(file: input, problem: "in-plane pixels of \(inPlane[0])×\(inPlane[1]) µm are not square; resample to square pixels or declare --voxel-um")
        }
        let pixel = physical ? inPlane[1] : 1
        let spacing = physical && isStack ? geometry.voxelSizeMicrometres[0] : 1

        func readSlice(_ z: Int) throws -> Grid<Float> {
            let slab = try reader.readSlab(isStack ? z..<(z + 1) : 0..<rows).converted(to: Float.self)
            return isStack ? slab.slice(0) : slab
        }
        // The middle inspected slice fixes the rays per turn and the unrolled radius (so the
        // unrolled slices stack into one volume); a slice without a can gives way to the next.
        var inspection = settings.inspection
        var reference: WoundCellInspection.Result?
        // Up to 24 slices spread over the range, nearest the middle first.
        let spread = Array(stride(from: 0, to: chosen.count, by: Swift.max(1, chosen.count / 24)))
        let order = spread.sorted { abs($0 - chosen.count / 2) < abs($1 - chosen.count / 2) }
        for k in order {
            if let r = try? WoundCellInspection.inspect(try readSlice(chosen[k]), settings: inspection) { reference = r; break }
        }
        let angular = reference?.angularSamples ?? inspection.angularSamples ?? 720
        inspection.angularSamples = angular
        let radial = reference?.unrolled.shape[1] ?? Swift.max(rows, columns) / 2

        let unrolledWriter = try outputs.unrolled?(VolumeInfo(shape: Shape(chosen.count, angular, radial), dataType: .float32,
                                                              geometry: .uncalibrated(rank: 3), format: "",
                                                              metadata: ["axes": "slice, polar angle (360°/\(angular) per step from +x towards +y), radius (pixels)"]))
        // The sheet's rows (the strip of each slice, a sample per pixel of arc length), kept until
        // the longest is known: the sheet is one 2D image as wide as the longest strip.
        var sheetRows: [(index: Int, values: [Float])] = []
        let layerWriter = try outputs.layers?(VolumeInfo(shape: Shape(chosen.count, rows, columns), dataType: .uint8,
                                                         geometry: isStack ? geometry : GridGeometry(voxelSizeMicrometres: [spacing] + inPlane, isCalibrated: physical), format: ""))
        var rowsOut: [SliceRow] = []
        var singleCrossings: [[LayerCrossing]]?
        var singleStrip: StripProfile?
        var centres: [(z: Double, x: Double, y: Double)] = []
        do {
            // Slices are read in order and inspected a batch at a time, one per core.
            let expectedRadius = reference?.can?.meanInnerRadius
            let wantMask = layerWriter != nil, single = chosen.count == 1, sliceSettings = inspection
            let batch = Swift.max(1, Parallel.threadCount)
            var first = 0
            while first < chosen.count {
                try cancellation?.check()
                let range = first..<Swift.min(chosen.count, first + batch)
                let images = try range.map { try readSlice(chosen[$0]) }
                let measured = Parallel.map(count: range.count) { i -> Swift.Result<SliceOutcome, Error> in
                    Swift.Result {
                        try measure(images[i], slice: chosen[range.lowerBound + i], settings: sliceSettings, expectedCanRadius: expectedRadius, pixel: pixel,
                                    angular: angular, radial: radial, mask: wantMask, keepCrossings: single)
                    }
                }
                for (i, result) in measured.enumerated() {
                    let outcome = try result.get()
                    if let c = outcome.canCentre { centres.append((Double(outcome.row.slice), c.x, c.y)) }
                    if let crossings = outcome.crossings { singleCrossings = crossings; singleStrip = outcome.strip }
                    if outputs.sheet != nil, let strip = outcome.strip {
                        sheetRows.append((range.lowerBound + i, strip.resampled(step: 1, count: Int(strip.length.rounded(.down)) + 1)))
                    }
                    try unrolledWriter?.writeSlab(AnyGrid(outcome.unrolled), at: range.lowerBound + i)
                    try layerWriter?.writeSlab(AnyGrid(outcome.mask ?? Grid<UInt8>(shape: Shape(1, rows, columns), repeating: 0)), at: range.lowerBound + i)
                    rowsOut.append(outcome.row)
                }
                progress?.advance(by: range.count)
                first = range.upperBound
            }
            try unrolledWriter?.finish()
            try layerWriter?.finish()
            if let create = outputs.sheet {
                let width = Swift.max(1, sheetRows.map(\.values.count).max() ?? 1)
                try MemoryBudget.require(elements: chosen.count * width, elementBytes: 4, for: "the strip sheet of \(chosen.count) slices × \(width) px of arc",
                                         hint: "inspect fewer slices (--slices A:B, --step N)")
                var sheet = Grid<Float>(shape: Shape(chosen.count, width), repeating: .nan)
                sheet.withUnsafeMutableBufferPointer { v in
                    for row in sheetRows { for (x, value) in row.values.enumerated() { v[row.index * width + x] = value } }
                }
                let writer = try create(VolumeInfo(shape: sheet.shape, dataType: .float32, geometry: .uncalibrated(rank: 2), format: "",
                                                   metadata: ["axes": "slice, arc length along the strip from its inner end (pixels)"]))
                do { try writer.writeSlab(AnyGrid(sheet), at: 0); try writer.finish() } catch { writer.abort(); throw error }
            }
        } catch {
            unrolledWriter?.abort(); layerWriter?.abort()
            throw error
        }
        let record = summarize(rowsOut, centres: centres, physical: physical, pixel: pixel, spacing: spacing, step: settings.step, angular: angular, isStack: isStack)
        // A typical slice for a figure: the measured one whose turns are nearest the median.
        var figure: (slice: Int, layers: Grid<UInt8>)?
        if let turns = record.turns, let typical = rowsOut.filter({ $0.turns != nil }).min(by: { abs($0.turns! - turns) < abs($1.turns! - turns) }) {
            let r = try WoundCellInspection.inspect(try readSlice(typical.slice), settings: inspection)
            figure = (typical.slice, r.layerMask(rows: rows, columns: columns))
        }
        return (record, rowsOut, singleCrossings, singleStrip, figure)
    }

    /// One slice's measurements and streamed outputs.
    struct SliceOutcome: @unchecked Sendable {
        var row: SliceRow
        var unrolled: Grid<Float>
        var mask: Grid<UInt8>?
        var canCentre: PixelPoint?
        var crossings: [[LayerCrossing]]?
        var strip: StripProfile?
    }

    /// Inspects one slice: a numerical failure (no can, no winding) becomes the row's status.
    static func measure(_ image: Grid<Float>, slice z: Int, settings inspection: WoundCellInspection.Settings, expectedCanRadius: Double?, pixel: Double,
                        angular: Int, radial: Int, mask wantMask: Bool, keepCrossings: Bool) throws -> SliceOutcome {
        let (rows, columns) = (image.shape[0], image.shape[1])
        var outcome = SliceOutcome(row: SliceRow(slice: z, status: "ok", anomalousSectors: []),
                                   unrolled: Grid<Float>(shape: Shape(1, angular, radial), repeating: .nan))
        do {
            let r = try WoundCellInspection.inspect(image, settings: inspection)
            // One cell per stack: a ring of another size is some other part (a cap, a tab).
            if let can = r.can, let expected = expectedCanRadius, abs(can.meanInnerRadius / expected - 1) > 0.1 {
                throw LensError.numerical(String(format: "the ring found (inner radius %.1f px) is not the can of the reference slice (%.1f px)",
                                                 can.meanInnerRadius, expected))
            }
            var row = outcome.row
            row.centreX = r.centre.x; row.centreY = r.centre.y
            if let can = r.can {
                row.canInnerRadius = can.meanInnerRadius * pixel; row.canWall = can.wallThickness * pixel
                row.canOutOfRoundness = can.outOfRoundness * pixel; row.canDeepestDent = can.deepestDent * pixel
                row.canDentAngleDegrees = can.deepestDentAngleDegrees
                outcome.canCentre = can.centre
            }
            let w = r.winding
            row.threshold = r.threshold; row.turns = w.turns; row.pitch = w.pitch.median * pixel
            row.layerThickness = w.thickness.median * pixel; row.stripLength = w.stripLength * pixel
            row.anomalousGapFraction = w.anomalousGapFraction
            row.completeRayFraction = Double(w.completeRays) / Double(r.angularSamples)
            row.anomalousSectors = w.anomalousSectors.map { s in
                var scaled = s; scaled.innerRadius *= pixel; scaled.outerRadius *= pixel; return scaled
            }
            outcome.row = row
            let width = Swift.min(radial, r.unrolled.shape[1])
            r.unrolled.withUnsafeBufferPointer { src in
                outcome.unrolled.withUnsafeMutableBufferPointer { dst in
                    for a in 0..<Swift.min(angular, r.unrolled.shape[0]) { for i in 0..<width { dst[a * radial + i] = src[a * r.unrolled.shape[1] + i] } }
                }
            }
            if wantMask { outcome.mask = r.layerMask(rows: rows, columns: columns).reshaped(Shape(1, rows, columns)) }
            if keepCrossings { outcome.crossings = r.crossings }
            let strip = StripUnrolling.follow(r)
            if strip.arcLength.count > 1 {
                outcome.strip = strip
                outcome.row.followedStripLength = strip.length * pixel; outcome.row.stripGaps = strip.bridgedGaps
            }
        } catch let error as LensError {
            guard case .numerical(let why) = error else { throw error }
            outcome.row.status = why
        }
        return outcome
    }

    static func summarize(_ rows: [SliceRow], centres: [(z: Double, x: Double, y: Double)], physical: Bool, pixel: Double, spacing: Double,
                          step: Int, angular: Int, isStack: Bool) -> Record {
        func median(_ values: [Double?]) -> Double? {
            let v = values.compactMap { $0 }.filter(\.isFinite)
            return v.isEmpty ? nil : Statistics.median(v)
        }
        let winding = rows.filter { $0.turns != nil }
        var notes: [String] = []
        if !physical { notes.append("the pixel size is not known: lengths are in pixels (voxel); declare --voxel-um for µm") }
        var drift: Double?, tilt: Double?
        if centres.count >= 3 {
            let z = centres.map(\.z)
            let sx = Statistics.pearsonAndSlope(z, centres.map(\.x)).slope, sy = Statistics.pearsonAndSlope(z, centres.map(\.y)).slope
            drift = hypot(sx, sy)
            if physical { tilt = atan(hypot(sx, sy) * pixel / spacing) * 180 / .pi }
            else { notes.append("the axis tilt needs the voxel size (the drift per slice is given in pixels)") }
        }
        let dent = rows.filter { $0.canDeepestDent != nil }.max { $0.canDeepestDent! < $1.canDeepestDent! }
        let sectors = rows.flatMap { r in r.anomalousSectors.map { SliceSector(slice: r.slice, startDegrees: $0.startDegrees, endDegrees: $0.endDegrees,
                                                                              largestPitchDeviation: $0.largestPitchDeviation, innerRadius: $0.innerRadius, outerRadius: $0.outerRadius) } }
            .sorted { $0.endDegrees - $0.startDegrees > $1.endDegrees - $1.startDegrees }
        if let partial = rows.filter({ ($0.completeRayFraction ?? 1) < 1 }).min(by: { $0.completeRayFraction! < $1.completeRayFraction! }) {
            notes.append(String(format: "some rays leave the image before reaching the can (slice %d: %.0f %% of the rays reach it): turns and strip length come from the complete rays, scaled to the whole turn",
                                partial.slice, partial.completeRayFraction! * 100))
        }
        let skipped = rows.filter { $0.status != "ok" }
        if !skipped.isEmpty { notes.append("\(skipped.count) of \(rows.count) slices have no measurement (first: slice \(skipped[0].slice): \(skipped[0].status))") }
        let lengths = winding.compactMap(\.stripLength)
        return Record(unit: physical ? "µm" : "voxel", pixelSize: pixel, sliceSpacing: spacing, slicesInspected: rows.count,
                      slicesWithCan: rows.filter { $0.canInnerRadius != nil }.count, slicesWithWinding: winding.count, angularSamples: angular,
                      canInnerRadius: median(rows.map(\.canInnerRadius)), canWallThickness: median(rows.map(\.canWall)),
                      canOutOfRoundness: median(rows.map(\.canOutOfRoundness)),
                      canDeepestDent: dent?.canDeepestDent, canDeepestDentSlice: dent?.slice, canDeepestDentAngleDegrees: dent?.canDentAngleDegrees,
                      axisDriftPixelsPerSlice: drift, axisTiltDegrees: tilt,
                      turns: median(winding.map(\.turns)), pitch: median(winding.map(\.pitch)), layerThickness: median(winding.map(\.layerThickness)),
                      stripLength: median(winding.map(\.stripLength)),
                      followedStripLength: median(winding.map(\.followedStripLength)), stripGaps: median(winding.map { $0.stripGaps.map(Double.init) }),
                      electrodeAreaInView: isStack && !lengths.isEmpty ? lengths.reduce(0, +) * spacing * Double(step) : nil,
                      anomalousGapFraction: median(winding.map(\.anomalousGapFraction)),
                      widestAnomalies: Array(sectors.prefix(20)), notes: notes)
    }
}
