import ArgumentParser
import Damage
import Foundation
import LensCore
import LensIO
import Pipeline

/// `batterylens cracks`: cracks inside particles, per particle.
struct CracksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cracks",
        abstract: "Cracks inside particles: crack voxels, crack count, fragments, crack width and a damage class per particle.",
        discussion: """
        VOLUME is the grey reconstruction; --labels the particle labels (int, 0 outside particles) \
        on the same grid, covering the cracks (phantom particle ids, or `particles` output closed \
        with --close R). A voxel of a particle is crack when darker than void + --level·(solid − \
        void): solid is the particle's 75th-percentile grey, void the median grey outside the \
        particles (or --void-grey). Writes cracks.tif (0/1) and particles.csv (id, envelope and \
        crack voxels, crack fraction, cracks, fragments, class, crack width median/max) in --out. \
        Classes: severe when split into ≥ 2 fragments or ≥ --severe of it is crack, mild from \
        --mild, least otherwise. On reconstructions give --margin 1 (the edge blur darkens the \
        particles' surface like a crack).
        """)
    @Argument(help: "Grey volume (reconstruction).") var input: String
    @Option(help: "Particle labels on the same grid.") var labels: String
    @Option(help: "Output folder.") var out: String
    @Option(help: "Crack level between void (0) and solid (1).") var level: Double = 0.5
    @Option(name: .customLong("void-grey"), help: "Grey value of void (default: the median outside the particles).") var voidGrey: Double?
    @Option(help: "Close each particle by a ball of this radius (voxels) and fill holes to get its envelope (0: the labels cover the cracks).") var close: Double = 0
    @Option(help: "Surface shell (voxels) not judged for cracks.") var margin: Double = 0
    @Option(name: .customLong("min-crack"), help: "Smallest crack component, voxels.") var minCrack: Int = 3
    @Option(name: .customLong("min-fragment"), help: "Smallest fragment counted, voxels.") var minFragment: Int = 27
    @Option(help: "Crack fraction from which a particle is mildly damaged.") var mild: Double = 0.0005
    @Option(help: "Crack fraction from which a particle is severely damaged.") var severe: Double = 0.05
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = CrackSettings()
        settings.level = level; settings.voidGrey = voidGrey; settings.envelopeClosingRadius = close; settings.surfaceMarginVoxels = margin
        settings.minimumCrackVoxels = minCrack; settings.minimumFragmentVoxels = minFragment
        settings.mildCrackFraction = mild; settings.severeCrackFraction = severe
        try settings.validate()
        guard (0...10).contains(margin) else { throw LensError.invalidArgument("--margin must be 0…10 voxels") }
        try global.outputs(inputs: [input, labels]) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let grey = try VolumeIO.read(input).float32()
            let particles = try VolumeIO.read(labels)
            guard !particles.dataType.isComplex, !particles.dataType.isFloatingPoint else {
                throw LensError.badInput(file: labels, problem: "particle labels must be integers, not \(particles.dataType)")
            }
            let progress = ProgressReporter(label: "cracks per particle", total: 0)
            let result = try CrackAnalysis.analyse(grey: grey, particles: try particles.converted(to: Int32.self), settings: settings, progress: progress)
            progress.finish()
            try VolumeIO.write(result.cracks, to: folder + "/cracks.tif", inputs: [input, labels])
            let unit = LengthUnit(grey.geometry)
            let edge = unit.isPhysical ? grey.geometry.voxelSizeMicrometres.min() ?? 1 : 1
            var table = Table(columns: [TableColumn("id"), TableColumn("envelope_voxels"), TableColumn("crack_voxels"), TableColumn("crack_fraction"),
                                        TableColumn("cracks"), TableColumn("fragments"), TableColumn("damage_class"),
                                        TableColumn("crack_width_median", unit: unit.name), TableColumn("crack_width_max", unit: unit.name),
                                        TableColumn("centre_z", unit: "voxel"), TableColumn("centre_y", unit: "voxel"), TableColumn("centre_x", unit: "voxel")])
            for d in result.damage {
                table.append([.number(Double(d.id)), .number(Double(d.envelopeVoxels)), .number(Double(d.crackVoxels)), .number(d.crackFraction),
                              .number(Double(d.cracks)), .number(Double(d.fragments)), .text(d.damageClass),
                              .number((d.crackWidthMedianVoxels ?? .nan) * edge), .number((d.crackWidthMaximumVoxels ?? .nan) * edge),
                              .number(d.centreVoxels[0]), .number(d.centreVoxels[1]), .number(d.centreVoxels[2])])
            }
            try table.write(to: folder + "/particles.csv")
            let counts = Dictionary(grouping: result.damage, by: \.damageClass).mapValues(\.count)
            print("\(result.damage.count) particles: \(counts["least"] ?? 0) least, \(counts["mild"] ?? 0) mild, \(counts["severe"] ?? 0) severe damaged; void grey \(String(format: "%.4g", result.voidGrey)); wrote \(out)/cracks.tif and particles.csv")
            guard let summaryPath else { return }
            try JSONOutput.write(JSONValue.object([
                "particles": .number(Double(result.damage.count)),
                "classes": .object(["least": .number(Double(counts["least"] ?? 0)), "mild": .number(Double(counts["mild"] ?? 0)), "severe": .number(Double(counts["severe"] ?? 0))]),
                "void_grey": .number(result.voidGrey), "width_unit": .string(unit.name),
                "outputs": .object(["cracks": .string(out + "/cracks.tif"), "table": .string(out + "/particles.csv")]),
                "provenance": try provenanceJSON(inputs: [input, labels], parameters: ["settings": try JSONValue(encoding: settings)]),
            ]), to: summaryPath, inputs: [input, labels])
        }
    }
}
