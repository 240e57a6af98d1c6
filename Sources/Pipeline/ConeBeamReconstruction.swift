import Foundation
import LensCore
import LensIO
import Tomography

/// The cone-beam geometry a reconstruction used, for its summary.
public struct ConeBeamRecord: Codable, Sendable, Equatable {
    public var sourceToAxisMillimetres: Double
    public var sourceToDetectorMillimetres: Double
    public var magnification: Double
    public var detectorPixelMillimetres: Double
    public var halfFanAngleDegrees: Double
    public var halfConeAngleDegrees: Double
    /// "full circle", "short scan, Parker weights (…)", or how an iterative solve started.
    public var weighting: String
    /// Where the distances came from ("--cone" or the scan file's datasets).
    public var distancesFrom: String
}

/// Circular cone-beam reconstruction of a scan (lab micro-CT): the projections' rows are
/// prepared as for parallel beam (flat field, zingers, stripe removal — all per detector row),
/// the centre found from the mid-plane's conjugate rays (``FanBeamCentreFinder``) unless given,
/// then FDK (``FeldkampReconstruction``) slab by slab of volume slices, each slab reading only
/// the detector rows its rays reach; or an iterative solver over the cone-beam projector with
/// the whole volume in memory, started from FDK when the scan allows it (short scans of less
/// than 180° + the fan angle start from zero). The volume is (detector rows, columns, columns)
/// voxels of the pixel size at the axis, centred on the axis and the detector's middle row, in
/// ``ConeBeamGeometry``'s orientation (a distant source gives the parallel-beam result).
public enum ConeBeamScanReconstruction {
    public static func run(source: ProjectionSource, distances: ConeBeamDistances, settings: ReconstructionSettings, output: String,
                           inputs: [String], progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> ReconstructionReport {
        for (unsupported, what) in [(settings.offsetAxis != nil, "offset-axis stitching"), (settings.paganin != nil, "Paganin phase retrieval"), (settings.holotomography != nil, "holotomography (CTF phase retrieval)"),
                                    (settings.alignment != nil, "projection alignment"), (settings.algorithm == .gridrec, "gridrec"),
                                    (settings.fbpComparisonOutput != nil, "--compare-fbp"), (settings.outputType != .float32, "an integer output type")] where unsupported {
            throw LensError.invalidArgument("\(what) is for parallel-beam scans; \(source.source) is reconstructed as a cone-beam scan (\(distances.source)) — drop it, or reconstruct as parallel beam if the cone angle is negligible")
        }
        guard distances.sourceToAxisMillimetres > 0, distances.sourceToDetectorMillimetres > distances.sourceToAxisMillimetres,
              distances.sourceToAxisMillimetres.isFinite, distances.sourceToDetectorMillimetres.isFinite else {
            throw LensError.invalidArgument("cone beam needs 0 < source-to-axis < source-to-detector distance (got \(distances.sourceToAxisMillimetres) and \(distances.sourceToDetectorMillimetres) mm, from \(distances.source))")
        }
        guard let pixel = settings.pixelSizeMicrometres, pixel > 0, pixel.isFinite else {
            throw LensError.invalidArgument("\(source.source): a cone-beam reconstruction needs the pixel size at the rotation axis (the detector pixel ÷ magnification) to place the source; declare it with --pixel-um")
        }
        let (detectorRows, cols) = (source.frameShape[0], source.frameShape[1])
        var geometry = ConeBeamGeometry(anglesDegrees: source.anglesDegrees, detectorRows: detectorRows, detectorColumns: cols,
                                        detectorPixelMillimetres: pixel * distances.magnification / 1000,
                                        sourceToAxisMillimetres: distances.sourceToAxisMillimetres,
                                        sourceToDetectorMillimetres: distances.sourceToDetectorMillimetres, voxelSizeMicrometres: pixel)
        let slices = settings.slices ?? 0..<detectorRows
        guard slices.lowerBound >= 0, slices.upperBound <= detectorRows, !slices.isEmpty else {
            throw LensError.invalidArgument("slices \(slices.lowerBound):\(slices.upperBound) outside 0:\(detectorRows)")
        }
        if settings.algorithm.isIterative { try settings.iterative.validate(algorithm: settings.algorithm) }
        let fdkWeighting = Result { try FeldkampReconstruction.weighting(for: geometry) }
        if !settings.algorithm.isIterative, case .failure(let error) = fdkWeighting { throw error }

        let preparation = try LineIntegralPreparation(source: source, settings: settings)
        var normalization = preparation.flatField == nil ? nil : NormalizationReport()
        var zingers = 0
        var content = LineIntegralContent()
        func prepare(_ r: Range<Int>) throws -> Grid<Float> {
            var lines = try preparation.prepare(r, normalization: &normalization, content: &content, zingers: &zingers)
            StripeRemoval.apply(&lines, options: settings.stripes)
            return lines
        }
        func requireInformative(_ what: String) throws {
            guard !content.isInformative, !settings.allowUninformativeData else { return }
            throw LensError.badInput(file: source.source, problem: "\(what) hold no information: " + content.description
                + " — all-zero or all-NaN projections, or flats equal to the data? (recon --force reconstructs anyway)")
        }

        // The centre, from the mid-plane (a fan beam) unless given.
        var estimate: CentreEstimate?
        var warnings = [String]()
        switch settings.centre {
        case .given(let column):
            guard column >= 0, column <= Double(cols - 1) else { throw LensError.invalidArgument("centre \(column) lies outside the detector (0…\(cols - 1))") }
            geometry.centreOffsetPixels = column - Double(cols - 1) / 2
        case .auto(let method):
            if let method { throw LensError.invalidArgument("--center-method \(method.rawValue) is for parallel-beam scans; a cone-beam scan's centre comes from its mid-plane's conjugate rays (or give --center)") }
            let middle = detectorRows % 2 == 0 ? (detectorRows / 2 - 1)..<(detectorRows / 2 + 1) : (detectorRows / 2)..<(detectorRows / 2 + 1)
            let band = try prepare(middle)
            try requireInformative("the line integrals of the middle rows (used to find the centre)")
            let midPlane = Grid<Float>(shape: Shape(band.shape[0], cols)) { i in
                let (a, j) = (i / cols, i % cols)
                var sum: Float = 0
                for r in 0..<middle.count { sum += band[a, r, j] }
                return sum / Float(middle.count)
            }
            let found = try FanBeamCentreFinder.find(midPlane: midPlane, anglesDegrees: source.anglesDegrees,
                                                     sourceToAxisPixels: distances.sourceToAxisMillimetres * 1000 / pixel)
            if found.atSearchEdge { warnings.append(String(format: "the centre %.2f lies at the edge of the searched range; check it or give --center", found.column)) }
            estimate = found
            geometry.centreOffsetPixels = found.column - Double(cols - 1) / 2
        }

        let volumeShape = Shape(detectorRows, cols, cols)
        let info = VolumeInfo(shape: Shape(slices.count, cols, cols), dataType: .float32,
                              geometry: GridGeometry(voxelSizeMicrometres: [pixel, pixel, pixel], originMicrometres: [Double(slices.lowerBound) * pixel, 0, 0]),
                              format: "", metadata: ["units": "1/um"])
        let writer = try VolumeIO.create(output, info: info, inputs: inputs)
        content = LineIntegralContent()
        zingers = 0
        var written = ValueStatistics()
        var slabs = 0, slabRows = slices.count
        var iterativeRecord: IterativeRunRecord?
        var weightingText: String
        do {
            if settings.algorithm.isIterative {
                // The whole volume and scan in memory: data-space vectors and volume vectors as
                // for a parallel-beam slab.
                try MemoryBudget.require(elements: source.projectionCount * detectorRows * cols * 6 + volumeShape.count * 8, elementBytes: 4,
                                         for: "an iterative cone-beam reconstruction of \(source.source) in memory",
                                         hint: "reconstruct with FDK (--algorithm fbp), or bin the scan (--bin 2)")
                let lines = try prepare(0..<detectorRows)
                try requireInformative("the line integrals")
                let projector = try ConeBeamProjector(geometry: geometry, volumeShape: volumeShape)
                var start: Grid<Float>?
                if settings.iterative.warmStart, case .success = fdkWeighting {
                    start = try FeldkampReconstruction.reconstruct(lines, geometry: geometry, volumeShape: volumeShape, options: settings.fbp,
                                                                   cancellation: cancellation)
                    weightingText = "iterative from FDK"
                } else {
                    weightingText = settings.iterative.warmStart ? "iterative from zero (too short a scan for FDK)" : "iterative from zero"
                }
                progress?.advance(by: slices.count)
                let outcome = try IterativeReconstruction.solve(projector, data: lines, algorithm: settings.algorithm, settings: settings.iterative,
                                                                initial: start, tvScale: Double(source.projectionCount) * pixel,
                                                                cancellation: cancellation) { _ in progress?.advance(by: slices.count) }
                progress?.advance(by: slices.count * (settings.iterative.iterations - outcome.history.count))
                var slab = outcome.volume.slab(slices)
                slab.geometry = .isotropic(pixel, rank: 3)
                if settings.fbp.circularMask { FilteredBackProjection.applyCircularMask(&slab) }
                if settings.polarRingFilter { PolarRingFilter.apply(&slab) }
                written.merge(slab.valueStatistics())
                try writer.writeSlab(AnyGrid(slab), at: 0)
                slabs = 1
                iterativeRecord = IterativeRunRecord(algorithm: settings.algorithm, settings: settings.iterative,
                                                     tvWeightInObjective: settings.algorithm == .tv ? settings.iterative.tvWeight * Double(source.projectionCount) * pixel : nil,
                                                     slabs: [.init(rows: [slices.lowerBound, slices.upperBound], stoppedBy: outcome.stoppedBy, history: outcome.history)],
                                                     fbpComparison: nil)
            } else {
                weightingText = try fdkWeighting.get().description
                // Slabs of about 512 MiB of filtered projections (the rows each slab's rays reach).
                // Detector rows per slice: the largest magnification within the volume.
                let rowsPerSlice = Swift.min(FeldkampReconstruction.magnificationRange(volumeShape: volumeShape, geometry: geometry).largest, 10)
                let perSlice = Double(source.projectionCount * (cols + 2) * 4 * 3) * rowsPerSlice
                slabRows = settings.slabRows.map { Swift.max(1, $0) } ?? Swift.max(8, Swift.min(256, Int(Double(512 << 20) / perSlice)))
                for start in stride(from: slices.lowerBound, to: slices.upperBound, by: slabRows) {
                    try cancellation?.check()
                    let z = start..<Swift.min(slices.upperBound, start + slabRows)
                    let rows = FeldkampReconstruction.detectorRows(forSlices: z, volumeShape: volumeShape, geometry: geometry)
                    var slab: Grid<Float>
                    if rows.isEmpty {
                        slab = Grid(shape: Shape(z.count, cols, cols), geometry: .isotropic(pixel, rank: 3))
                    } else {
                        let lines = try prepare(rows)
                        slab = try FeldkampReconstruction.reconstruct(lines, geometry: geometry, rows: rows, volumeShape: volumeShape, slices: z,
                                                                      options: settings.fbp, cancellation: cancellation)
                    }
                    if settings.polarRingFilter { PolarRingFilter.apply(&slab) }
                    written.merge(slab.valueStatistics())
                    try writer.writeSlab(AnyGrid(slab), at: z.lowerBound - slices.lowerBound)
                    slabs += 1
                    progress?.advance(by: z.count)
                }
                try requireInformative("the line integrals of the reconstructed slices")
            }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
        if let n = normalization, n.nonFinite > 0 {
            warnings.append("\(n.nonFinite) non-finite projection, flat or dark values were replaced before the logarithm")
        }
        if content.finite < content.values {
            warnings.append("\(content.values - content.finite) of \(content.values) line integrals are not finite (they reconstruct as NaN)")
        }
        let record = ConeBeamRecord(sourceToAxisMillimetres: distances.sourceToAxisMillimetres, sourceToDetectorMillimetres: distances.sourceToDetectorMillimetres,
                                    magnification: distances.magnification, detectorPixelMillimetres: geometry.detectorPixelMillimetres,
                                    halfFanAngleDegrees: geometry.halfFanAngleRadians * 180 / .pi, halfConeAngleDegrees: geometry.halfConeAngleRadians * 180 / .pi,
                                    weighting: weightingText, distancesFrom: distances.source)
        return ReconstructionReport(axisColumn: geometry.axisColumn, centre: estimate, stitch: nil, normalization: normalization, zingersReplaced: zingers,
                                    volumeShape: info.shape.dims, slabRows: slabRows, slabs: slabs, peakResidentBytes: MemoryUsage.peakResidentBytes(),
                                    angularCoverage: FilteredBackProjection.coverage(anglesDegrees: source.anglesDegrees), units: "1/um",
                                    outputType: DataType.float32.rawValue, valueMapping: nil, valueStatistics: written, iterative: iterativeRecord,
                                    alignment: nil, warnings: warnings, coneBeam: record)
    }
}
