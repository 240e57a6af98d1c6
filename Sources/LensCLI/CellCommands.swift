import ArgumentParser
import Foundation
import BatteryLens

struct CellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cell",
        abstract: "Inspect a cylindrical cell's CT slice by slice: can, axis drift, winding (turns, pitch, layer thickness, strip length) and where the winding is irregular.",
        discussion: """
        INPUT is a cross-section (2D) or a stack of them along the cell's axis (3D; any height, \
        read slab by slab). Per slice: the can is found as the brightest ring (robust circle fit) \
        and traced ray by ray (inner radius, wall, out-of-roundness, deepest dent); the slice is \
        unrolled about the can's centre (polar angle from +x towards +y, i.e. clockwise on the \
        screen); on each ray the bright electrode's layers are the runs above the upper of three \
        Otsu thresholds inside the can (dark separator, grey electrode, bright electrode), \
        measured at half maximum. Turns = layers per ray averaged over the rays; \
        a gap between layers off the median pitch by more than --pitch-tolerance is anomalous \
        (buckling, a collapsed core, delamination, a missing layer). Without a can (a cropped \
        jelly roll) give --centre and --can-radius. Writes in --out: unrolled.tif (slice, angle, \
        radius), layers.tif (1 = bright electrode, on the input's grid), slices.csv, \
        sectors.csv, cross_section.png (a typical slice with its layers), strip_sheet.tif (the \
        bright strip followed from its inner end — virtual unrolling — one row per slice, a grey \
        value per pixel of arc length), and for a single cross-section layers.csv (each layer \
        crossing) and strip.csv (the strip along its length). Lengths are in µm when the pixel size is \
        known (file or --voxel-um), else in pixels ("voxel").
        """)
    @Argument(help: "Cross-section or stack of cross-sections (file, folder of TIFFs, file.h5:/dataset).") var input: String
    @Option(help: "Output folder.") var out: String
    @Option(help: "JSON summary.") var summary: String?
    @Option(help: "Slices A:B to inspect (default: all).") var slices: String?
    @Option(help: "Inspect every N-th slice.") var step: Int = 1
    @Option(help: "The cell's axis X,Y in pixels (column, row), with --can-radius: skips the can search.") var centre: String?
    @Option(name: .customLong("can-radius"), help: "Inner can radius (or the radius to search for layers within), pixels; with --centre.") var canRadius: Double?
    @Option(help: "Rays per turn (default: one pixel of arc at the can).") var angles: Int?
    @Option(help: "Grey level above which a pixel is bright electrode (default: the upper three-class Otsu threshold inside the can, per slice).") var threshold: Double?
    @Option(name: .customLong("pitch-tolerance"), help: "A gap between layers is anomalous when it differs from the median pitch by more than this fraction.") var pitchTolerance: Double = 0.3
    @Option(name: .customLong("min-thickness"), help: "Thinner layers (at half maximum, pixels) are noise.") var minThickness: Double = 0.75
    @OptionGroup var raw: RawOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(step, "--step", in: 1...100_000)
        try requireOption(pitchTolerance, "--pitch-tolerance", in: 0.01...5)
        try requireOption(minThickness, "--min-thickness", in: 0...1000)
        if let angles { try requireOption(angles, "--angles", in: 16...65_536) }
        var declaredCentre: PixelPoint?
        if let centre {
            let values = try parseList(centre, option: "--centre")
            guard values.count == 2, values.allSatisfy({ $0.isFinite && abs($0) < 1e7 }) else { throw LensError.invalidArgument("--centre must be X,Y in pixels, got '\(centre)'") }
            declaredCentre = PixelPoint(x: values[0], y: values[1])
        }
        if let canRadius { try requireOption(canRadius, "--can-radius", in: 4...1e6) }
        guard (declaredCentre == nil) == (canRadius == nil) else {
            throw LensError.invalidArgument("--centre and --can-radius go together (or leave both out to find the can)")
        }
        let inspection = WoundCellInspection.Settings(centre: declaredCentre, canInnerRadius: canRadius, angularSamples: angles, layerThreshold: threshold,
                                                      pitchTolerance: pitchTolerance, minimumThickness: minThickness)
        try inspection.validate()
        try global.outputs(inputs: [input]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let reader = try VolumeIO.open(input, raw: try raw.layout())
            let depth = reader.info.shape.rank == 3 ? reader.info.shape[0] : 1
            let range = try slices.map { try parseRange($0, extent: depth, option: "--slices") } ?? 0..<depth
            let settings = CellInspectionWorkflow.Settings(inspection: inspection, firstSlice: range.lowerBound, endSlice: range.upperBound, step: step)
            let count = (range.count + step - 1) / step
            let progress = ProgressReporter(label: "inspecting cell slices", total: count)
            let written = CellInspectionWorkflow.Outputs(
                unrolled: { try VolumeIO.create(folder + "/unrolled.tif", info: $0, inputs: [input]) },
                layers: { try VolumeIO.create(folder + "/layers.tif", info: $0, inputs: [input]) },
                sheet: { try VolumeIO.create(folder + "/strip_sheet.tif", info: $0, inputs: [input]) })
            let (record, rows, crossings, strip, figure) = try CellInspectionWorkflow.run(reader, settings: settings, outputs: written, progress: progress,
                                                                          cancellation: CLIRuntime.cancellation)
            progress.finish()
            guard record.slicesWithWinding + record.slicesWithCan > 0 else {
                throw LensError.badInput(file: input, problem: "no slice shows a can or a winding (\(rows.first?.status ?? "")); declare --centre and --can-radius, or check the slices")
            }
            try writeTables(record: record, rows: rows, crossings: crossings, strip: strip, folder: folder)
            if let figure { try writeFigure(reader: reader, slice: figure.slice, layers: figure.layers, record: record, folder: folder) }
            report(record)
            guard let summaryPath, case .object(var fields) = try JSONValue(encoding: record) else { return }
            fields["slices"] = try JSONValue(encoding: rows.count <= 2_000 ? rows : [])
            try writeSummary(summaryPath, fields, inputs: [input],
                             parameters: ["slices": .string("\(range.lowerBound):\(range.upperBound)"), "step": .number(Double(step)),
                                          "centre": centre.map(JSONValue.string) ?? .null, "can_radius": canRadius.map(JSONValue.number) ?? .null,
                                          "angles": .number(Double(record.angularSamples)), "threshold": threshold.map(JSONValue.number) ?? .null,
                                          "pitch_tolerance": .number(pitchTolerance), "min_thickness": .number(minThickness)])
        }
    }

    private func writeTables(record: CellInspectionWorkflow.Record, rows: [CellInspectionWorkflow.SliceRow], crossings: [[LayerCrossing]]?, strip: StripProfile?,
                             folder: String) throws {
        let u = record.unit
        var table = Table(columns: [TableColumn("slice"), TableColumn("status"), TableColumn("centre_x", unit: "pixel"), TableColumn("centre_y", unit: "pixel"),
                                    TableColumn("can_inner_radius", unit: u), TableColumn("can_wall", unit: u), TableColumn("can_out_of_roundness", unit: u),
                                    TableColumn("can_deepest_dent", unit: u), TableColumn("can_dent_angle", unit: "degree"), TableColumn("threshold"),
                                    TableColumn("turns"), TableColumn("pitch", unit: u), TableColumn("layer_thickness", unit: u), TableColumn("strip_length", unit: u),
                                    TableColumn("anomalous_gap_fraction"), TableColumn("complete_ray_fraction"), TableColumn("followed_strip_length", unit: u),
                                    TableColumn("strip_gaps"), TableColumn("anomalous_sectors")])
        for r in rows {
            func n(_ v: Double?) -> TableValue { .number(v ?? .nan) }
            table.append([.number(Double(r.slice)), .text(r.status), n(r.centreX), n(r.centreY), n(r.canInnerRadius), n(r.canWall), n(r.canOutOfRoundness),
                          n(r.canDeepestDent), n(r.canDentAngleDegrees), n(r.threshold), n(r.turns), n(r.pitch), n(r.layerThickness), n(r.stripLength),
                          n(r.anomalousGapFraction), n(r.completeRayFraction), n(r.followedStripLength), n(r.stripGaps.map(Double.init)),
                          .number(Double(r.anomalousSectors.count))])
        }
        try table.write(to: folder + "/slices.csv")
        var sectors = Table(columns: [TableColumn("slice"), TableColumn("start_angle", unit: "degree"), TableColumn("end_angle", unit: "degree"),
                                      TableColumn("largest_pitch_deviation"), TableColumn("inner_radius", unit: u), TableColumn("outer_radius", unit: u)])
        for r in rows { for s in r.anomalousSectors {
            sectors.append([.number(Double(r.slice)), .number(s.startDegrees), .number(s.endDegrees), .number(s.largestPitchDeviation), .number(s.innerRadius), .number(s.outerRadius)])
        } }
        try sectors.write(to: folder + "/sectors.csv")
        guard let crossings else { return }
        var layers = Table(columns: [TableColumn("angle", unit: "degree"), TableColumn("layer"), TableColumn("inner_radius", unit: u),
                                     TableColumn("outer_radius", unit: u), TableColumn("thickness", unit: u)])
        for (j, ray) in crossings.enumerated() { for (k, c) in ray.enumerated() {
            layers.append([.number(360 * Double(j) / Double(crossings.count)), .number(Double(k + 1)), .number(c.innerRadius * record.pixelSize),
                           .number(c.outerRadius * record.pixelSize), .number(c.thickness * record.pixelSize)])
        } }
        try layers.write(to: folder + "/layers.csv")
        guard let strip else { return }
        var along = Table(columns: [TableColumn("arc_length", unit: u), TableColumn("angle", unit: "degree"), TableColumn("radius", unit: u),
                                    TableColumn("grey"), TableColumn("layer_found")])
        for i in strip.arcLength.indices {
            along.append([.number(strip.arcLength[i] * record.pixelSize), .number(strip.angle[i] * 180 / .pi), .number(strip.radius[i] * record.pixelSize),
                          .number(Double(strip.grey[i])), .text(strip.found[i] ? "yes" : "no")])
        }
        try along.write(to: folder + "/strip.csv")
    }

    /// The measured slice nearest the middle with its layers drawn over it (scale bar in µm when known).
    private func writeFigure(reader: VolumeReader, slice z: Int, layers: Grid<UInt8>, record: CellInspectionWorkflow.Record, folder: String) throws {
        let plane = reader.info.shape.rank == 3 ? try reader.readSlab(z..<(z + 1)).converted(to: Float.self).slice(0) : try reader.readAll().converted(to: Float.self)
        var style = SliceFigureStyle(mode: .continuous(.grey, .automatic), pixelSizeMicrometres: record.unit == "µm" ? record.pixelSize : nil,
                                     valueLabel: reader.info.metadata["units"].map { "value (\($0))" } ?? "value (no unit declared)")
        style.overlays = [SliceOverlay(mask: layers, colour: RGB(255, 40, 40), name: "bright electrode layers (slice \(z))", opacity: 0.45)]
        try SliceFigure.render(plane, style: style).writePNG(to: folder + "/cross_section.png")
    }

    private func report(_ r: CellInspectionWorkflow.Record) {
        func f(_ v: Double?, _ digits: Int = 2) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        print("\(r.slicesInspected) slice\(r.slicesInspected == 1 ? "" : "s") inspected, \(r.slicesWithCan) with a can, \(r.slicesWithWinding) with a winding (\(r.angularSamples) rays per turn); lengths in \(r.unit)")
        if r.slicesWithCan > 0 {
            print("can: inner radius \(f(r.canInnerRadius)), wall \(f(r.canWallThickness)), out-of-roundness \(f(r.canOutOfRoundness)), deepest dent \(f(r.canDeepestDent)) at slice \(r.canDeepestDentSlice.map(String.init) ?? "–"), \(f(r.canDeepestDentAngleDegrees, 1))°"
                  + (r.axisDriftPixelsPerSlice.map { String(format: "; axis drift %.3f px/slice", $0) } ?? "") + (r.axisTiltDegrees.map { String(format: ", tilt %.3f°", $0) } ?? ""))
        }
        if r.slicesWithWinding > 0 {
            print("winding: \(f(r.turns)) turns, pitch \(f(r.pitch)), bright layer \(f(r.layerThickness)) thick, strip \(f(r.stripLength, 1)) long per slice"
                  + (r.electrodeAreaInView.map { String(format: ", %.4g %@² of electrode in view", $0, r.unit) } ?? ""))
            print("irregular winding: \(f(r.anomalousGapFraction.map { $0 * 100 }, 2)) % of gaps off the pitch" + (r.widestAnomalies.first.map {
                String(format: "; widest sector %.1f–%.1f° at slice %d (radius %.1f–%.1f, pitch off by %.0f %%)", $0.startDegrees, $0.endDegrees, $0.slice, $0.innerRadius, $0.outerRadius, $0.largestPitchDeviation * 100)
            } ?? ""))
        }
        for note in r.notes { print("note: \(note)") }
    }
}
