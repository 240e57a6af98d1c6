import Foundation
import LensCore
import LensIO
import Signal
import Tomography

/// How the centre of rotation is chosen.
public enum CentreChoice: Sendable, Equatable {
    /// Found automatically by a method (nil: mirror pairs when the scan has them, else Fourier).
    case auto(CentreMethod?)
    /// A detector column given by the user.
    case given(Double)
}

public enum CentreMethod: String, CaseIterable, Codable, Sendable {
    /// 0°/180° projection pairs (``MirrorCentreFinder``).
    case mirror
    /// Vo's Fourier metric of the 360° sinogram (``FourierCentreFinder``).
    case fourier
    /// The sinusoid of projection centroids (``CentroidCentreFinder``): any angular range,
    /// limited-angle scans included; the object must stay inside the field of view.
    case centroid
    /// The least negative slice (``NegativityCentreFinder``): any angular range, and
    /// projections truncated by a sample larger than the field of view.
    case negativity
}

/// Everything `batterylens recon` can do to a parallel-beam scan.
public struct ReconstructionSettings: Sendable {
    public var centre: CentreChoice = .auto(nil)
    /// Offset-axis 360° stitching: nil off; `.auto(nil)` finds the axis; `.given(x)` uses it.
    public var offsetAxis: CentreChoice?
    public var stripes = StripeRemovalOptions()
    public var polarRingFilter = false
    public var removeZingers = false
    /// Energy, distance and δ/β; the pixel size is filled in from ``pixelSizeMicrometres``.
    public var paganin: PaganinParameters?
    /// Multi-distance phase retrieval (holotomography): the scan being reconstructed is the
    /// recording at the first distance, ``holotomographyRecordings`` those at the others, in
    /// order; the pixel size is filled in from ``pixelSizeMicrometres``.
    public var holotomography: HolotomographyParameters?
    public var holotomographyRecordings: [ProjectionRecording] = []
    public var fbp = FBPOptions()
    /// FBP, or an iterative solver (``IterativeReconstruction``) with its settings; iterative
    /// solvers start from the FBP of each slab unless told otherwise.
    public var algorithm: ReconstructionAlgorithm = .fbp
    public var iterative = IterativeSettings()
    /// Also write the FBP volume here (an iterative run's starting point), for a side-by-side
    /// comparison with the iterative result.
    public var fbpComparisonOutput: String?
    /// Align the projections first (``ScanAlignment``: the whole scan's line integrals in
    /// memory), then reconstruct the aligned ones; nil: no alignment.
    public var alignment: AlignmentSettings?
    /// Detector rows (slices) to reconstruct; nil: all.
    public var slices: Range<Int>?
    /// Detector pixel size at the sample; nil when unknown: the volume is then in 1/pixel
    /// (attenuation per voxel edge) and its geometry uncalibrated.
    public var pixelSizeMicrometres: Double?
    /// Rows per streamed slab (a multiple of 8); nil: chosen to keep a slab near 256 MiB.
    public var slabRows: Int?
    /// Rows (around the middle of the slice range) used to find the centre.
    public var centreRows = 16
    /// Reconstruct even when the line integrals hold no information (all equal or
    /// non-finite: all-zero or all-NaN projections, flats equal to the projections). Off by
    /// default: such data would give a plausible-looking constant volume.
    public var allowUninformativeData = false
    /// Element type of the output: float32 (the values), or an integer type holding them
    /// rescaled from `outputRange` (nil: the volume's finite min…max) with the calibration
    /// recorded in the file (``ValueCalibration``).
    public var outputType: DataType = .float32
    public var outputRange: ClosedRange<Double>?

    public init(pixelSizeMicrometres: Double?) { self.pixelSizeMicrometres = pixelSizeMicrometres }
}

/// What a reconstruction did and found, for the summary.
public struct ReconstructionReport: Codable, Sendable {
    public var axisColumn: Double
    public var centre: CentreEstimate?
    public var stitch: OffsetAxisStitch?
    public var normalization: NormalizationReport?
    public var zingersReplaced: Int
    public var volumeShape: [Int]
    public var slabRows: Int
    public var slabs: Int
    public var peakResidentBytes: Int
    /// The line directions the scan covers (a missing wedge for limited-angle scans).
    public var angularCoverage: AngularCoverage
    /// "1/um", or "1/pixel" when the pixel size is unknown.
    public var units: String
    /// The stored element type and, for integer outputs, how values were mapped to it.
    public var outputType: String
    public var valueMapping: String?
    /// Statistics of the values written (merged per slab while writing: the volume is not
    /// read back).
    public var valueStatistics: ValueStatistics
    /// The iterative solve of each slab (nil for FBP).
    public var iterative: IterativeRunRecord?
    /// The alignment applied before reconstruction (nil: none).
    public var alignment: ProjectionAlignment?
    public var warnings: [String]
    /// The cone-beam geometry (nil: parallel beam).
    public var coneBeam: ConeBeamRecord? = nil
}

/// What an iterative reconstruction did, slab by slab.
public struct IterativeRunRecord: Codable, Sendable {
    public struct Slab: Codable, Sendable {
        /// Detector rows [first, last) of the slab.
        public var rows: [Int]
        public var stoppedBy: String
        /// Objective, relative residual and relative change at every iteration.
        public var history: [IterationRecord]
    }
    public var algorithm: ReconstructionAlgorithm
    public var settings: IterativeSettings
    /// The weight of TV(x) in ½‖A x − b‖² + λ·TV(x) that `settings.tvWeight` became (TV only).
    public var tvWeightInObjective: Double?
    public var slabs: [Slab]
    /// The FBP written beside the result, when asked.
    public var fbpComparison: String?
}

/// Parallel-beam reconstruction streamed in slabs of detector rows: each slab of every
/// projection is read, flat-field corrected (flats interpolated by projection index), cleaned
/// of zingers, phase-retrieved (with margin rows so the 2D filter sees what it would on whole
/// frames), stitched (offset-axis scans), de-striped, filtered and back projected, ring-filtered
/// and written before the next is read — memory stays at a few slabs whatever the scan size.
public enum ScanReconstruction {
    /// Units of progress a run reports per reconstructed row: one for FBP, one more per
    /// iteration of an iterative solver.
    public static func progressUnitsPerRow(_ settings: ReconstructionSettings) -> Int {
        settings.algorithm.isIterative ? 1 + settings.iterative.iterations : 1
    }

    public static func run(source: ProjectionSource, settings: ReconstructionSettings, output: String, inputs: [String],
                           progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> ReconstructionReport {
        if let alignmentSettings = settings.alignment {
            // Align the prepared line integrals of the whole scan, then reconstruct them as a
            // line-integral scan (the corrections already applied are not applied again; the
            // axis column the markers fix is used unless a centre was given).
            let aligned = try ScanAlignment.run(source: source, settings: settings, alignment: alignmentSettings)
            var next = settings
            next.alignment = nil; next.removeZingers = false; next.paganin = nil; next.holotomography = nil; next.holotomographyRecordings = []
            next.stripes.method = .none
            if case .auto = settings.centre, settings.offsetAxis == nil, let axis = aligned.alignment.axisColumn { next.centre = .given(axis) }
            let lines = try LineIntegralGridSource(lines: aligned.lines, anglesDegrees: source.anglesDegrees,
                                                   pixelSizeMicrometres: source.pixelSizeMicrometres, source: source.source)
            var report = try run(source: lines, settings: next, output: output, inputs: inputs, progress: progress, cancellation: cancellation)
            report.alignment = aligned.alignment
            report.warnings.append(contentsOf: aligned.alignment.warnings.map { "alignment: \($0)" })
            for note in aligned.alignment.notes { Notices.emit("alignment: \(note)") }
            report.zingersReplaced = aligned.zingersReplaced
            report.normalization = aligned.normalization
            return report
        }
        let (detectorRows, cols) = (source.frameShape[0], source.frameShape[1])
        let rows = settings.slices ?? 0..<detectorRows
        guard rows.lowerBound >= 0, rows.upperBound <= detectorRows, !rows.isEmpty else {
            throw LensError.invalidArgument("slices \(rows.lowerBound):\(rows.upperBound) outside 0:\(detectorRows)")
        }
        if let p = settings.pixelSizeMicrometres, !(p > 0 && p.isFinite) { throw LensError.invalidArgument("the pixel size must be positive") }
        var warnings = [String]()
        let coverage = FilteredBackProjection.coverage(anglesDegrees: source.anglesDegrees)
        if coverage.isLimitedAngle {
            warnings.append(String(format: "limited-angle scan: the angles cover %.1f° of the 180° of line directions; the missing wedge of %.1f° elongates features along the missing directions and biases values (normalised as a full 180° scan)",
                                   coverage.coveredDegrees, coverage.missingWedgeDegrees))
        }
        let preparation = try LineIntegralPreparation(source: source, settings: settings)
        var normalization = preparation.flatField == nil ? nil : NormalizationReport()
        var zingers = 0
        var content = LineIntegralContent()
        /// Throws (naming the scan) if `c` holds no information, unless allowed.
        func requireInformative(_ c: LineIntegralContent, _ what: String) throws {
            guard !c.isInformative, !settings.allowUninformativeData else { return }
            throw LensError.badInput(file: source.source, problem: "\(what) hold no information: " + c.description
                + " — all-zero or all-NaN projections, or flats equal to the data? (recon --force reconstructs anyway)")
        }
        func prepare(_ r: Range<Int>) throws -> Grid<Float> {
            try preparation.prepare(r, normalization: &normalization, content: &content, zingers: &zingers)
        }

        // Centre of rotation (or offset axis) from a band of rows in the middle of the range.
        let middle = (rows.lowerBound + rows.upperBound) / 2
        let band = Swift.max(rows.lowerBound, middle - settings.centreRows / 2)..<Swift.min(rows.upperBound, Swift.max(middle - settings.centreRows / 2, rows.lowerBound) + settings.centreRows)
        var estimate: CentreEstimate?
        let choice = settings.offsetAxis ?? settings.centre
        let axis: Double
        switch choice {
        case .given(let column):
            guard column >= 0, column <= Double(cols - 1) else {
                throw LensError.invalidArgument("centre \(column) lies outside the detector (0…\(cols - 1))")
            }
            axis = column
        case .auto(let method):
            // Found on line integrals before stripe removal: on small sinograms the sorting
            // filter moved the optimum by 1.5 px on the Savu test scan.
            content = LineIntegralContent()
            let lines = try prepare(band)
            try requireInformative(content, "the line integrals of rows \(band.lowerBound):\(band.upperBound) (used to find the centre)")
            if settings.offsetAxis != nil {
                estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees,
                                                       searchHalfWidthPixels: Double(cols) / 2, minimumOverlapFraction: 0.05)
            } else if method == .fourier {
                estimate = try FourierCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees)
            } else if method == .mirror {
                estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees)
            } else if method == .centroid {
                estimate = try CentroidCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees)
            } else if method == .negativity {
                estimate = try NegativityCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees)
            } else {
                // Mirror pairs when the scan has them; else (limited-angle scans) the centroid
                // sinusoid when the sample stays in view; else the least negative slice (which
                // refuses limited-angle scans: no criterion is reliable there).
                if let mirror = try? MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees) {
                    estimate = mirror
                } else if let centroid = try? CentroidCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees) {
                    estimate = centroid
                } else {
                    estimate = try NegativityCentreFinder.find(lineIntegrals: lines, anglesDegrees: source.anglesDegrees)
                }
            }
            if let e = estimate, e.method.hasPrefix("mirror"), e.worstPairMismatchDegrees > 0.5 {
                warnings.append(String(format: "the projection pairs used for the centre are up to %.2f° off 180° (no exact mirror angles): the centre may be off; check it with --sweep or --center-method centroid", e.worstPairMismatchDegrees))
            }
            axis = estimate!.column
            if estimate!.atSearchEdge {
                warnings.append("the centre \(String(format: "%.2f", axis)) lies at the edge of the searched range; check it (sweep) or give --center")
            }
        }

        // Output geometry.
        var stitchPlan: OffsetAxisStitch?
        var geometry: ParallelBeamGeometry
        if settings.offsetAxis != nil {
            let plan = try OffsetAxisStitching.plan(anglesDegrees: source.anglesDegrees, columns: cols, axisColumn: axis).0
            stitchPlan = plan
            geometry = ParallelBeamGeometry(anglesDegrees: plan.anglesDegrees, detectorColumns: plan.stitchedColumns, detectorRows: 0,
                                            centreOffsetPixels: plan.stitchedAxisColumn - Double(plan.stitchedColumns - 1) / 2,
                                            pixelSizeMicrometres: settings.pixelSizeMicrometres ?? 1)
        } else {
            geometry = ParallelBeamGeometry(anglesDegrees: source.anglesDegrees, detectorColumns: cols, detectorRows: 0,
                                            centreOffsetPixels: axis - Double(cols - 1) / 2, pixelSizeMicrometres: settings.pixelSizeMicrometres ?? 1)
        }
        let size = geometry.detectorColumns
        let pixel = settings.pixelSizeMicrometres ?? 1
        let units = settings.pixelSizeMicrometres == nil ? "1/pixel" : "1/um"
        let info = VolumeInfo(shape: Shape(rows.count, size, size), dataType: .float32,
                              geometry: GridGeometry(voxelSizeMicrometres: [pixel, pixel, pixel], originMicrometres: [Double(rows.lowerBound) * pixel, 0, 0],
                                                     isCalibrated: settings.pixelSizeMicrometres != nil),
                              format: "", metadata: ["units": units])
        if settings.algorithm.isIterative { try settings.iterative.validate(algorithm: settings.algorithm) }
        if settings.fbpComparisonOutput != nil && !settings.algorithm.isIterative {
            throw LensError.invalidArgument("an FBP comparison output needs an iterative --algorithm (the result is the FBP already)")
        }
        // Working memory per row: FBP holds the line integrals (three copies through the
        // corrections) and the slice; iterative solvers add the data-space vectors (residual,
        // dual, projections, row weights) and volume vectors (iterate, extrapolation, previous,
        // back projection, step sizes, TV dual, FBP start), and OS-SART one column-weight
        // volume per subset.
        let volumeVectors = settings.algorithm == .sart ? 6 + Swift.min(settings.iterative.subsets, source.projectionCount) : 8
        let bytesPerRow = settings.algorithm.isIterative
            ? source.projectionCount * Swift.max(cols, size) * 4 * 6 + size * size * 4 * volumeVectors
            : source.projectionCount * Swift.max(cols, size) * 4 * 3 + size * size * 4
        // Slabs of about 512 MiB of working memory, in whole groups of rows per core (the
        // projectors' unit of work: 8 slices for FBP's back projector, 16 for the iterative
        // solvers' Joseph projector), so every core is busy even for 2048-wide scans.
        let rowGroup = (settings.algorithm.isIterative ? JosephProjector.slicesPerChunk : 8) * Parallel.threadCount
        let slabRows = settings.slabRows.map { Swift.max(1, $0) }
            ?? Swift.max(rowGroup, Swift.min(256, (512 << 20) / Swift.max(1, bytesPerRow)) / rowGroup * rowGroup)
        // An integer output is reconstructed to a float32 temporary beside it, then rescaled.
        let converting = settings.outputType != .float32
        let floatOutput = converting ? AtomicOutput.scratchPath(beside: output, extension: "npy") : output
        defer { if converting { TemporaryFiles.remove(floatOutput) } }
        let writer = try VolumeIO.create(floatOutput, info: info, inputs: inputs)
        let comparisonWriter: VolumeWriter?
        do {
            comparisonWriter = try settings.fbpComparisonOutput.map { try VolumeIO.create($0, info: info, inputs: inputs) }
        } catch {
            writer.abort()
            throw error
        }
        var iterativeSlabs = [IterativeRunRecord.Slab]()
        let tvScale = Double(geometry.projectionCount) * (settings.pixelSizeMicrometres ?? 1)
        var slabs = 0
        var written = ValueStatistics()
        // The centre band was prepared once already: count its zingers (and content) once.
        content = LineIntegralContent()
        zingers = 0
        do {
            for start in stride(from: rows.lowerBound, to: rows.upperBound, by: slabRows) {
                try cancellation?.check()
                let r = start..<Swift.min(rows.upperBound, start + slabRows)
                var lines = try prepare(r)
                if settings.offsetAxis != nil { lines = try OffsetAxisStitching.stitch(lines, anglesDegrees: source.anglesDegrees, axisColumn: axis).0 }
                StripeRemoval.apply(&lines, options: settings.stripes)
                geometry.detectorRows = r.count
                var slab = settings.algorithm == .gridrec
                    ? try FourierGridding.reconstruct(lines, geometry: geometry, options: settings.fbp, cancellation: cancellation)
                    : try FilteredBackProjection.reconstruct(lines, geometry: geometry, options: settings.fbp, cancellation: cancellation)
                progress?.advance(by: r.count)
                if settings.algorithm.isIterative {
                    try comparisonWriter?.writeSlab(AnyGrid(slab), at: r.lowerBound - rows.lowerBound)
                    let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(r.count, size, size))
                    let outcome = try IterativeReconstruction.solve(projector, data: lines, algorithm: settings.algorithm, settings: settings.iterative,
                                                                    initial: settings.iterative.warmStart ? slab : nil, tvScale: tvScale,
                                                                    cancellation: cancellation) { _ in progress?.advance(by: r.count) }
                    // Early stops leave the iterations they skipped unreported: count them done.
                    progress?.advance(by: r.count * (settings.iterative.iterations - outcome.history.count))
                    slab = outcome.volume
                    slab.geometry = .isotropic(geometry.pixelSizeMicrometres, rank: 3)
                    if settings.fbp.circularMask { FilteredBackProjection.applyCircularMask(&slab) }
                    iterativeSlabs.append(.init(rows: [r.lowerBound, r.upperBound], stoppedBy: outcome.stoppedBy, history: outcome.history))
                }
                if settings.polarRingFilter { PolarRingFilter.apply(&slab) }
                written.merge(slab.valueStatistics())
                try writer.writeSlab(AnyGrid(slab), at: r.lowerBound - rows.lowerBound)
                slabs += 1
            }
            try requireInformative(content, "the line integrals of the reconstructed rows")
            try writer.finish()
            try comparisonWriter?.finish()
        } catch {
            writer.abort()
            comparisonWriter?.abort()
            throw error
        }
        var conversion: ConversionReport?
        if converting {
            let plan = ConversionPlan(targetType: settings.outputType, scaling: .rescale(settings.outputRange))
            let stored = try VolumeIO.open(floatOutput)
            // NumPy holds no voxel size or units: the reconstruction's are given back.
            let floatReader = RelabelledReader.wrap(stored, geometry: info.geometry, metadata: ["units": units])
            conversion = try VolumeConverter.convert(floatReader, to: output, plan: plan, inputs: inputs, cancellation: cancellation)
            if let c = conversion, c.clippedCount > 0 {
                warnings.append("\(c.clippedCount) voxels lay outside the output range and were clipped (\(c.valueMapping))")
            }
        }
        if let n = normalization, n.nonFinite > 0 {
            warnings.append("\(n.nonFinite) non-finite projection, flat or dark values were replaced before the logarithm")
        }
        if content.finite < content.values {
            warnings.append("\(content.values - content.finite) of \(content.values) line integrals are not finite (they reconstruct as NaN)")
        }
        return ReconstructionReport(axisColumn: axis, centre: estimate, stitch: stitchPlan, normalization: normalization, zingersReplaced: zingers,
                                    volumeShape: info.shape.dims, slabRows: slabRows, slabs: slabs,
                                    peakResidentBytes: MemoryUsage.peakResidentBytes(), angularCoverage: coverage, units: units,
                                    outputType: settings.outputType.rawValue, valueMapping: conversion?.valueMapping,
                                    valueStatistics: conversion?.outputStatistics ?? written,
                                    iterative: settings.algorithm.isIterative
                                        ? IterativeRunRecord(algorithm: settings.algorithm, settings: settings.iterative,
                                                             tvWeightInObjective: settings.algorithm == .tv ? settings.iterative.tvWeight * tvScale : nil,
                                                             slabs: iterativeSlabs, fbpComparison: settings.fbpComparisonOutput)
                                        : nil,
                                    alignment: nil, warnings: warnings)
    }

    /// Line integrals of rows `rows` as a reconstruction of them sees them (for centre sweeps):
    /// flat field, zingers, phase retrieval and stripe removal as `settings` ask — a sweep that
    /// skipped the run's corrections would judge centres on other data.
    public static func lineIntegrals(source: ProjectionSource, rows: Range<Int>, settings: ReconstructionSettings) throws -> Grid<Float> {
        let preparation = try LineIntegralPreparation(source: source, settings: settings)
        var normalization: NormalizationReport? = nil, content = LineIntegralContent(), zingers = 0
        var lines = try preparation.prepare(rows, normalization: &normalization, content: &content, zingers: &zingers)
        StripeRemoval.apply(&lines, options: settings.stripes)
        return lines
    }
}

/// Projection alignment of a whole scan: every row's line integrals prepared as a
/// reconstruction prepares them (flat field, zingers, phase retrieval, stripe removal), aligned
/// (``ProjectionAligner``: markers or marker-free) and resampled. The scan is held in memory
/// (4 bytes per detector pixel and projection, three times over while resampling).
public enum ScanAlignment {
    public struct Outcome: Sendable {
        public var lines: Grid<Float>
        public var alignment: ProjectionAlignment
        public var zingersReplaced: Int
        public var normalization: NormalizationReport?
    }

    public static func run(source: ProjectionSource, settings: ReconstructionSettings, alignment: AlignmentSettings) throws -> Outcome {
        try alignment.validate()
        let rows = 0..<source.frameShape[0]
        try MemoryBudget.require(elements: source.projectionCount * rows.count * source.frameShape[1] * 3, elementBytes: 4,
                                 for: "aligning \(source.source) in memory", hint: "reconstruct a band of rows (--slices) of a cropped scan, or align without --align on a binned copy")
        let preparation = try LineIntegralPreparation(source: source, settings: settings)
        var normalization = preparation.flatField == nil ? nil : NormalizationReport()
        var content = LineIntegralContent(), zingers = 0
        var lines = try preparation.prepare(rows, normalization: &normalization, content: &content, zingers: &zingers)
        StripeRemoval.apply(&lines, options: settings.stripes)
        guard content.isInformative || settings.allowUninformativeData else {
            throw LensError.badInput(file: source.source, problem: "the line integrals hold no information: " + content.description)
        }
        let found = try ProjectionAligner.align(lines, anglesDegrees: source.anglesDegrees, settings: alignment)
        return Outcome(lines: try found.apply(to: lines), alignment: found, zingersReplaced: zingers, normalization: normalization)
    }
}

/// A further recording of the same projections (holotomography: another distance), read
/// alongside the scan being reconstructed. Sources are only read, one slab at a time, by the
/// reconstruction that holds them.
public struct ProjectionRecording: @unchecked Sendable {
    public let source: ProjectionSource
    public init(_ source: ProjectionSource) { self.source = source }
}

/// How a reconstruction turns detector rows into line integrals, shared by the run and the
/// centre sweep: flat-field correction (flats interpolated by projection index), zinger
/// removal, Paganin phase retrieval with margin rows (so the 2D filter sees what it would on
/// whole frames).
struct LineIntegralPreparation {
    let source: ProjectionSource
    let settings: ReconstructionSettings
    let flatField: FlatField?
    let paganin: PaganinParameters?
    let holotomography: HolotomographyParameters?
    /// The other distances' recordings with their own flat fields.
    let recordings: [(source: ProjectionSource, flatField: FlatField?)]

    init(source: ProjectionSource, settings: ReconstructionSettings) throws {
        self.source = source
        self.settings = settings
        flatField = try Self.flatField(of: source)
        var paganin = settings.paganin
        if paganin != nil {
            guard let pixel = settings.pixelSizeMicrometres else {
                throw LensError.invalidArgument("Paganin phase retrieval needs the pixel size, which \(source.source) does not give: declare it with --pixel-um")
            }
            paganin?.pixelSizeMicrometres = pixel
        }
        try paganin?.validate()
        self.paganin = paganin
        var holo = settings.holotomography
        if holo != nil {
            guard paganin == nil else { throw LensError.invalidArgument("give one phase retrieval: Paganin (one distance) or CTF (several)") }
            guard let pixel = settings.pixelSizeMicrometres else {
                throw LensError.invalidArgument("holotomography needs the pixel size, which \(source.source) does not give: declare it with --pixel-um")
            }
            holo?.pixelSizeMicrometres = pixel
            try holo?.validate()
            guard holo!.distancesMillimetres.count == settings.holotomographyRecordings.count + 1 else {
                throw LensError.invalidArgument("\(holo!.distancesMillimetres.count) distances for \(settings.holotomographyRecordings.count + 1) recordings (the scan and each --holo-scan)")
            }
        } else if !settings.holotomographyRecordings.isEmpty {
            throw LensError.invalidArgument("further recordings (--holo-scan) need --phase ctf")
        }
        self.holotomography = holo
        recordings = try settings.holotomographyRecordings.map { recording in
            let other = recording.source
            guard other.frameShape == source.frameShape else {
                throw LensError.badInput(file: other.source, problem: "frames of \(other.frameShape) differ from \(source.source)'s \(source.frameShape): every distance must be on one grid (scale the magnified recordings first)")
            }
            guard other.anglesDegrees.count == source.anglesDegrees.count,
                  zip(other.anglesDegrees, source.anglesDegrees).allSatisfy({ abs($0 - $1) < 1e-3 }) else {
                throw LensError.badInput(file: other.source, problem: "its \(other.anglesDegrees.count) angles differ from those of \(source.source): the distances must record the same projections")
            }
            // Recordings at other magnifications must be scaled to one pixel size first.
            if let mine = source.pixelSizeMicrometres, let theirs = other.pixelSizeMicrometres, abs(theirs / mine - 1) > 1e-3 {
                throw LensError.badInput(file: other.source, problem: "its pixel size \(theirs) µm differs from \(source.source)'s \(mine) µm: scale every distance's recording to one pixel size (its effective distance) first")
            }
            return (other, try Self.flatField(of: other))
        }
    }

    /// The flat field of a source of counts (nil for line integrals); a source without flats is refused.
    static func flatField(of source: ProjectionSource) throws -> FlatField? {
        guard !source.isLineIntegrals else { return nil }
        let groups = try source.flatGroups()
        guard !groups.isEmpty else { throw LensError.badInput(file: source.source, problem: "no flat (open-beam) frames; cannot normalize") }
        return try FlatField(flatGroups: groups.map { FlatGroup(position: $0.position, frames: $0.frames) }, darks: try source.darks(), source: source.source)
    }

    /// Line integrals of rows `r` of every projection; merges the flat-field report, counts the
    /// content and the zingers replaced.
    func prepare(_ r: Range<Int>, normalization: inout NormalizationReport?, content: inout LineIntegralContent, zingers: inout Int) throws -> Grid<Float> {
        let (detectorRows, cols) = (source.frameShape[0], source.frameShape[1])
        let margin = paganin.map { Swift.min($0.marginPixels, detectorRows) } ?? holotomography.map { Swift.min($0.marginPixels, detectorRows) } ?? 0
        let read = Swift.max(0, r.lowerBound - margin)..<Swift.min(detectorRows, r.upperBound + margin)
        var lines = try source.readRows(read)
        if let flatField {
            let (corrected, report) = try flatField.apply(lines, rows: read)
            lines = corrected
            normalization?.merge(report)
        }
        content.add(lines)
        if settings.removeZingers { zingers += ZingerRemoval.apply(&lines).replaced }
        if let paganin { try PaganinPhaseRetrieval.apply(toLineIntegrals: &lines, paganin) }
        if let holotomography {
            var all = [lines]
            for recording in recordings {
                var other = try recording.source.readRows(read)
                if let flat = recording.flatField { other = try flat.apply(other, rows: read).0 }
                if settings.removeZingers { zingers += ZingerRemoval.apply(&other).replaced }
                all.append(other)
            }
            lines = try CTFPhaseRetrieval.apply(toLineIntegrals: all, holotomography)
        }
        guard read != r else { return lines }
        let keep = (r.lowerBound - read.lowerBound)..<(r.upperBound - read.lowerBound)
        var cropped = Grid<Float>(shape: Shape(lines.shape[0], r.count, cols))
        for a in 0..<lines.shape[0] { for k in 0..<r.count { for c in 0..<cols { cropped[a, k, c] = lines[a, keep.lowerBound + k, c] } } }
        return cropped
    }
}

/// What the line integrals of a scan hold: finite values and their range. Data with no
/// spread (every value equal or non-finite) carries no image.
struct LineIntegralContent: CustomStringConvertible {
    var values = 0, finite = 0
    var minimum = Float.infinity, maximum = -Float.infinity

    mutating func add(_ lines: Grid<Float>) {
        lines.withUnsafeBufferPointer { v in
            values += v.count
            for x in v where x.isFinite {
                finite += 1
                if x < minimum { minimum = x }
                if x > maximum { maximum = x }
            }
        }
    }

    var isInformative: Bool { finite > 0 && maximum > minimum }

    var description: String {
        finite == 0 ? "none of their \(values) values is finite"
            : "every finite value equals \(minimum) (\(values - finite) of \(values) not finite)"
    }
}
