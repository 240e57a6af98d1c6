import ArgumentParser
import Foundation
import LensCore
import LensIO
import Tomography

/// `batterylens recon`: parallel-beam projections to a calibrated volume.
struct ReconCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon",
        abstract: "Reconstruct a parallel-beam scan (Data Exchange or NXtomo HDF5) by filtered back projection.",
        discussion: """
        Flat/dark correction and −log (non-positive transmissions clamped and counted), centre of \
        rotation found from 180° mirror pairs unless --center is given, FBP with the chosen window, \
        output in 1/µm. The summary records the centre (with its metric curve), the clamp counts, \
        the geometry and provenance. Ring removal, phase retrieval, offset-axis stitching and \
        slab streaming arrive with the rest of the tomography issue.
        """)

    @Argument(help: "Scan file (.h5/.nxs with /exchange/data or an NXtomo entry).") var input: String
    @Option(help: "Output volume (.tif, .h5, .npy or a folder).") var out: String
    @Option(help: "Centre of rotation: 'auto' or a detector column.") var center: String = "auto"
    @Option(help: "Filter window: ram-lak, shepp-logan, cosine, hamming, hann.") var filter: String = "shepp-logan"
    @Option(help: "Detector rows (slices) A:B to reconstruct.") var slices: String?
    @Option(name: .customLong("pixel-um"), help: "Detector pixel size at the sample in µm (if the file does not say).") var pixelMicrometres: Double?
    @Flag(help: "Zero the voxels outside the reconstruction circle.") var mask = false
    @Option(help: "Write the numbers (centre, clamps, geometry, provenance) as JSON.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard let window = FilterWindow(rawValue: filter) else {
            throw LensError.invalidArgument("--filter must be one of \(FilterWindow.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try AtomicOutput.validate(out, inputs: [input])
        if let summary { try AtomicOutput.validate(summary, inputs: [input]) }
        let scan = try TomographyScanReader(path: input)
        guard let flats = try scan.readFlats() else {
            throw LensError.badInput(file: input, problem: "no flat (open-beam) frames; cannot normalize")
        }
        let rowRange = try slices.map { try parseRange($0, extent: scan.frameShape[0], option: "--slices") } ?? 0..<scan.frameShape[0]
        let pixel = try pixelMicrometres ?? storedPixelSize(input) ?? {
            throw LensError.invalidArgument("\(input) does not give the pixel size; pass --pixel-um")
        }()
        let progress = ProgressReporter(label: "reading and normalizing", total: 1)
        let (lines, normalization) = try FlatFieldCorrection.lineIntegrals(
            projections: try scan.readProjections(0..<scan.projectionCount).float32(),
            flats: try flats.float32(), darks: try scan.readDarks()?.float32(), source: input)
        progress.advance(); progress.finish()
        var centreEstimate: CentreEstimate?
        let axisColumn: Double
        if center == "auto" {
            let estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.anglesDegrees, rows: rowRange)
            if estimate.atSearchEdge {
                FileHandle.standardError.write(Data("batterylens: warning: the centre \(estimate.column) lies at the edge of the searched range\n".utf8))
            }
            centreEstimate = estimate
            axisColumn = estimate.column
        } else {
            guard let value = Double(center) else { throw LensError.invalidArgument("--center must be 'auto' or a number") }
            guard value >= 0, value <= Double(scan.frameShape[1] - 1) else {
                throw LensError.invalidArgument("--center \(value) lies outside the detector (0…\(scan.frameShape[1] - 1))")
            }
            axisColumn = value
        }
        let geometry = ParallelBeamGeometry(anglesDegrees: scan.anglesDegrees, detectorColumns: scan.frameShape[1],
                                            detectorRows: scan.frameShape[0],
                                            centreOffsetPixels: axisColumn - Double(scan.frameShape[1] - 1) / 2,
                                            pixelSizeMicrometres: pixel)
        var options = FBPOptions()
        options.window = window
        options.circularMask = mask
        let reconstructing = ProgressReporter(label: "reconstructing slices", total: rowRange.count)
        var volume = try FilteredBackProjection.reconstruct(lines, geometry: geometry, slices: rowRange, options: options,
                                                            progress: reconstructing, cancellation: CLIRuntime.cancellation)
        reconstructing.finish()
        volume.geometry = GridGeometry(voxelSizeMicrometres: [pixel, pixel, pixel],
                                       originMicrometres: [Double(rowRange.lowerBound) * pixel, 0, 0])
        try VolumeIO.write(volume, to: out, inputs: [input])
        let stats = volume.valueStatistics()
        print(String(format: "wrote %@: %@ voxels of %g µm, centre %.2f (%@), attenuation %.4g…%.4g 1/µm",
                     out, volume.shape.description, pixel, axisColumn, centreEstimate == nil ? "given" : "found", stats.minimum, stats.maximum))
        if let summary {
            var object: [String: JSONValue] = [
                "output": .string(out), "shape": .array(volume.shape.dims.map { .number(Double($0)) }),
                "voxel_size_um": .number(pixel), "units": "1/um", "centre_column": .number(axisColumn),
                "centre_method": .string(centreEstimate?.method ?? "given"), "filter": .string(window.rawValue),
                "normalization": try JSONValue(encoding: normalization),
                "value_range": ["min": .finite(stats.minimum), "max": .finite(stats.maximum), "mean": .finite(stats.mean)],
                "provenance": try provenanceJSON(inputs: [input], parameters: ["center": .string(center), "filter": .string(filter),
                                                                             "slices": slices.map(JSONValue.string) ?? .null]),
            ]
            if let estimate = centreEstimate { object["centre"] = try JSONValue(encoding: estimate) }
            try JSONOutput.write(JSONValue.object(object), to: summary, inputs: [input])
        }
    }

    /// The pixel size stored by BatteryLens's Data Exchange writer (voxel_size_um on /exchange/data).
    func storedPixelSize(_ path: String) throws -> Double? {
        let file = try HDF5File(openingForReading: path)
        guard let sizes = file.numericAttribute("voxel_size_um", of: "/exchange/data"), sizes.count == 3, sizes[2] > 0 else { return nil }
        return sizes[2]
    }
}
