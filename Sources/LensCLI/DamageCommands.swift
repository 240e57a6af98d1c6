import ArgumentParser
import Damage
import Foundation
import LensCore
import LensIO
import Pipeline
import Signal

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
        crack voxels, crack fraction by voxels and by grey deficit, cracks, fragments, class, crack \
        width median/max) in --out. The deficit fraction is Σ(m − g)/(m − void) over the judged \
        voxels (m their median): blur keeps it where thin cracks stop crossing the level. \
        Classes: severe when split into ≥ 2 fragments or ≥ --severe of it is crack (by voxels, or \
        by deficit when it has crack voxels), mild from --mild, least otherwise. On reconstructions give --margin 1 (the edge blur darkens the \
        particles' surface like a crack). Per particle also: the widths of its largest crack on \
        the XY, YZ and XZ sections through it (half depth of the dip along the crack normal, \
        ±1 voxel), the radial grey profile's core-to-shell ratio (a darker core flags unresolved \
        cracking), and with --phases/--binder the fraction of its free surface touching binder. \
        The summary gives the cracked proportion by size, grey and depth region (95 % Wilson \
        intervals) and a logistic fit of cracking on size and grey. Particles cut by the \
        volume's faces are flagged and left out where size enters (size bins, fit); with \
        --field-of-view circle, particles reaching outside each slice's inscribed circle are \
        flagged and left out of the statistics. With --scan-angles (a limited-angle scan's), \
        each particle's largest crack is flagged where its normal faces the missing wedge.
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
    @Option(help: "Crack fraction (by voxels, or by grey deficit) from which a particle is severely damaged.") var severe: Double = 0.05
    @Option(help: "Also call crack what the Hessian sheetness (dark sheets, σ 1–2 voxels) finds above this fraction of the solid−void contrast (off by default; 0.075 helped one noisy reconstruction and hurt another).") var sheetness: Double?
    @Option(name: .customLong("top-hat"), help: "Also call crack what a grey black top-hat with a ball of this radius (voxels) finds above --top-hat-level of the contrast (off by default).") var topHat: Double?
    @Option(name: .customLong("top-hat-level"), help: "Black top-hat level, a fraction of the solid−void contrast.") var topHatLevel: Double = 0.3
    @Option(name: .customLong("split-deficit"), help: "Also count a particle as split where the surface between two of its regions is, on average, darker than its solid grey by this fraction of the solid−void contrast (thin through-cracks that the reconstruction's blur lifts above --level voxel by voxel); 0: off.") var splitDeficit: Double = 0.45
    @Option(name: .customLong("split-width"), help: "Also count a particle as split where the crack across a surface between two of its regions (its width from the grey deficit integrated across it) is at least this many times the thickness of the thinnest sheet of voxels that disconnects the voxel lattice in its direction, on most of the surface; 0: off.") var splitWidth: Double = 1
    @Option(name: .customLong("dark-core"), help: "Core-to-shell grey ratio below which a particle's core counts as darker (unresolved cracking).") var darkCore: Double = 0.95
    @Option(help: "Phase labels on the same grid, for --binder.") var phases: String?
    @Option(help: "The binder phase of --phases (name or codes): each particle's binder contact fraction.") var binder: String?
    @Option(name: .customLong("depth-regions"), help: "Depth regions along z for the severe-damage fractions.") var depthRegions: Int = 3
    @Option(help: "A per-voxel map on the same grid (e.g. XANES edge energy) averaged over every fragment: writes fragments.csv and the trend with fragment size.") var map: String?
    @Option(name: .customLong("field-of-view"), help: "Where the volume holds data: grid (every voxel) or circle (each slice's inscribed circle, what every projection of a parallel-beam scan as wide as the slice sees). Particles reaching outside are flagged and left out of the statistics.") var fieldOfView: CrackSettings.FieldOfView = .grid
    @Option(name: .customLong("scan-angles"), parsing: .unconditional, help: "The scan's projection angles FIRST:LAST in degrees (BatteryLens's, scikit-image's and ASTRA's convention, as given to `recon`), e.g. -67.5:67.5 for a 135° tilt series: each particle's largest crack is flagged where its normal faces the missing wedge (crack_in_missing_wedge), its widths not to be trusted and cracks like it under-counted. Default: not declared, nothing flagged.") var scanAngles: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var scheme: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard (phases == nil) == (binder == nil) else { throw LensError.invalidArgument("--phases and --binder go together: the phase volume and which of its phases is binder") }
        guard (1...100).contains(depthRegions) else { throw LensError.invalidArgument("--depth-regions must be 1–100, got \(depthRegions)") }
        var settings = CrackSettings()
        settings.darkCoreRatio = darkCore
        settings.sheetnessLevel = sheetness
        settings.splitSurfaceDeficit = splitDeficit == 0 ? nil : splitDeficit
        settings.splitSurfaceWidth = splitWidth == 0 ? nil : splitWidth
        settings.topHatRadius = topHat; settings.topHatLevel = topHatLevel
        settings.level = level; settings.voidGrey = voidGrey; settings.envelopeClosingRadius = close; settings.surfaceMarginVoxels = margin
        settings.minimumCrackVoxels = minCrack; settings.minimumFragmentVoxels = minFragment
        settings.mildCrackFraction = mild; settings.severeCrackFraction = severe
        settings.fieldOfView = fieldOfView
        settings.scanAngles = try scanAngles.map(parseScanAngles)
        try settings.validate()
        guard (0...10).contains(margin) else { throw LensError.invalidArgument("--margin must be 0…10 voxels") }
        let inputs = [input, labels] + (phases.map { [$0] } ?? []) + (map.map { [$0] } ?? [])
        try global.outputs(inputs: inputs) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let grey = try VolumeIO.read(input).float32()
            let particles = try VolumeIO.read(labels)
            guard !particles.dataType.isComplex, !particles.dataType.isFloatingPoint else {
                throw LensError.badInput(file: labels, problem: "particle labels must be integers, not \(particles.dataType)")
            }
            var binderMask: Grid<UInt8>?
            if let phases, let binder {
                let volume = try LabelVolume(phases, schemeOption: scheme)
                guard volume.grid.shape == grey.shape else { throw LensError.badInput(file: phases, problem: "phases \(volume.grid.shape) do not match \(input)'s \(grey.shape)") }
                binderMask = try volume.mask(phase: binder, option: "--binder").mask
            }
            var mapGrid: Grid<Float>?
            if let map {
                let values = try VolumeIO.read(map).float32()
                guard values.shape == grey.shape else { throw LensError.badInput(file: map, problem: "map \(values.shape) does not match \(input)'s \(grey.shape)") }
                mapGrid = values
            }
            let progress = ProgressReporter(label: "cracks per particle", total: 0)
            let result = try CrackAnalysis.analyse(grey: grey, particles: try particles.converted(to: Int32.self), binder: binderMask, map: mapGrid,
                                                   settings: settings, progress: progress)
            progress.finish()
            try VolumeIO.write(result.cracks, to: folder + "/cracks.tif", inputs: [input, labels])
            let unit = LengthUnit(grey.geometry)
            let edge = unit.isPhysical ? grey.geometry.voxelSizeMicrometres.min() ?? 1 : 1
            var table = Table(columns: [TableColumn("id"), TableColumn("envelope_voxels"), TableColumn("crack_voxels"), TableColumn("crack_fraction"),
                                        TableColumn("deficit_crack_fraction"),
                                        TableColumn("cracks"), TableColumn("fragments"), TableColumn("damage_class"),
                                        TableColumn("crack_width_median", unit: unit.name), TableColumn("crack_width_max", unit: unit.name),
                                        TableColumn("centre_z", unit: "voxel"), TableColumn("centre_y", unit: "voxel"), TableColumn("centre_x", unit: "voxel"),
                                        TableColumn("equivalent_diameter", unit: unit.name), TableColumn("solid_grey"),
                                        TableColumn("width_xy", unit: unit.name), TableColumn("width_yz", unit: unit.name), TableColumn("width_xz", unit: unit.name),
                                        TableColumn("width_error", unit: unit.name), TableColumn("core_to_shell"), TableColumn("dark_core"),
                                        TableColumn("binder_contact"), TableColumn("cut_by_volume_face"), TableColumn("outside_field_of_view"),
                                        TableColumn("crack_normal_z"), TableColumn("crack_normal_y"), TableColumn("crack_normal_x"),
                                        TableColumn("crack_in_missing_wedge")])
            for d in result.damage {
                func section(_ name: String) -> TableValue { .number((d.sectionWidths.first { $0.section == name }?.normalVoxels ?? .nan) * edge) }
                table.append([.number(Double(d.id)), .number(Double(d.envelopeVoxels)), .number(Double(d.crackVoxels)), .number(d.crackFraction),
                              .number(d.deficitCrackFraction), .number(Double(d.cracks)), .number(Double(d.fragments)), .text(d.damageClass),
                              .number((d.crackWidthMedianVoxels ?? .nan) * edge), .number((d.crackWidthMaximumVoxels ?? .nan) * edge),
                              .number(d.centreVoxels[0]), .number(d.centreVoxels[1]), .number(d.centreVoxels[2]),
                              .number(d.equivalentDiameterVoxels * edge), .number(d.solidGrey),
                              section("XY"), section("YZ"), section("XZ"), .number(d.sectionWidths.isEmpty ? .nan : edge),
                              .number(d.radialProfile.coreToShellRatio ?? .nan), .text(d.radialProfile.darkCore ? "yes" : "no"),
                              .number(d.binderContactFraction ?? .nan), .text(d.cutByVolumeFace ? "yes" : "no"), .text(d.outsideFieldOfView ? "yes" : "no"),
                              .number(d.crackNormal?[0] ?? .nan), .number(d.crackNormal?[1] ?? .nan), .number(d.crackNormal?[2] ?? .nan),
                              .text(d.crackInMissingWedge.map { $0 ? "yes" : "no" } ?? "")])
            }
            try table.write(to: folder + "/particles.csv")
            var trend: FragmentTrend?
            if mapGrid != nil {
                var fragments = Table(columns: [TableColumn("particle"), TableColumn("fragment"), TableColumn("voxels"),
                                                TableColumn("volume", unit: unit.volumeName), TableColumn("map_mean")])
                let voxelVolume = (0..<3).reduce(1.0) { $0 * unit.size(axis: $1) }
                for d in result.damage {
                    for (k, f) in d.fragmentValues.enumerated() {
                        fragments.append([.number(Double(d.id)), .number(Double(k + 1)), .number(Double(f.voxels)), .number(Double(f.voxels) * voxelVolume),
                                          .number(f.meanValue ?? .nan)])
                    }
                }
                try fragments.write(to: folder + "/fragments.csv")
                trend = FragmentTrend.of(result.damage)
                if let trend {
                    print(String(format: "map vs fragment size: r = %.3f [%.3f, %.3f] over %d fragments, %+.4g per decade of volume", trend.pearsonR,
                                 trend.pearsonRLower, trend.pearsonRUpper, trend.fragments, trend.slopePerDecade))
                }
            }
            let counts = Dictionary(grouping: result.damage, by: \.damageClass).mapValues(\.count)
            print("\(result.damage.count) particles: \(counts["least"] ?? 0) least, \(counts["mild"] ?? 0) mild, \(counts["severe"] ?? 0) severe damaged; void grey \(String(format: "%.4g", result.voidGrey)); wrote \(out)/cracks.tif and particles.csv")
            let statistics = try CrackingStatistics.of(result.damage, voxelSizeMicrometres: unit.isPhysical ? edge : nil, depthRegions: depthRegions)
            let cut = statistics.particles - statistics.wholeParticles
            if cut > 0 || statistics.outsideFieldOfView > 0 {
                print("statistics: \(statistics.outsideFieldOfView) particles outside the field of view left out; \(cut) cut by the volume's faces left out where size enters (size bins, logistic fit)")
            }
            let wedgeCracks = result.damage.filter { $0.crackInMissingWedge == true }.count
            if let scan = settings.scanAngles, scan.coveredDegrees < 180 {
                print(String(format: "scan angles cover %.1f° of the 180° of directions: %d particles' largest crack faces the %.1f° missing wedge (crack_in_missing_wedge; widths unreliable); cracks like them are under-counted", scan.coveredDegrees, wedgeCracks, 180 - scan.coveredDegrees))
            }
            if let fit = statistics.fit {
                print(fit.coefficients.map { String(format: "cracking vs %@: %+.3f per sd (p = %.2g)", $0.name, $0.perStandardDeviation, $0.pValue) }.joined(separator: "\n"))
            } else if let note = statistics.note { print(note) }
            guard let summaryPath else { return }
            try JSONOutput.write(JSONValue.object([
                "particles": .number(Double(result.damage.count)),
                "statistics": try JSONValue(encoding: statistics),
                "fragment_trend": try JSONValue(encoding: trend),
                "dark_core_particles": .number(Double(result.damage.filter { $0.radialProfile.darkCore }.count)),
                "scan_angles_deg": settings.scanAngles.map { .array([.number($0.startDegrees), .number($0.endDegrees)]) } ?? .null,
                "cracks_in_missing_wedge": settings.scanAngles == nil ? .null : .number(Double(wedgeCracks)),
                "classes": .object(["least": .number(Double(counts["least"] ?? 0)), "mild": .number(Double(counts["mild"] ?? 0)), "severe": .number(Double(counts["severe"] ?? 0))]),
                "void_grey": .number(result.voidGrey), "width_unit": .string(unit.name),
                "outputs": .object(["cracks": .string(out + "/cracks.tif"), "table": .string(out + "/particles.csv")]),
                "provenance": try provenanceJSON(inputs: inputs, parameters: ["settings": try JSONValue(encoding: settings),
                                                                              "binder": binder.map { .string($0) } ?? .null]),
            ]), to: summaryPath, inputs: inputs)
        }
    }
}

/// `--scan-angles FIRST:LAST` (degrees) of `cracks` and `track`.
func parseScanAngles(_ text: String) throws -> ScanAngles {
    let range = try parseValueRange(text, option: "--scan-angles")
    return try ScanAngles(startDegrees: range.lowerBound, endDegrees: range.upperBound)
}

/// Both volumes' voxel sizes must agree when both are known: the transform is in voxels.
/// A rotation or scale in voxel coordinates is a rigid or similarity motion only for cubic
/// voxels (and both volumes must share them).
func requireSameVoxelSize(_ a: GridGeometry, _ aPath: String, _ b: GridGeometry, _ bPath: String,
                          model: VolumeRegistrationSettings.Model) throws {
    for (g, path) in [(a, aPath), (b, bPath)] where g.isCalibrated && model != .translation {
        let sizes = g.voxelSizeMicrometres
        guard let low = sizes.min(), let high = sizes.max(), high - low <= 1e-6 * high else {
            throw LensError.badInput(file: path, problem: "voxels of \(sizes) µm are not cubic: a rotation in voxel coordinates would not be rigid; resample to cubic voxels first, or use --model translation")
        }
    }
    if a.isCalibrated != b.isCalibrated {
        Notices.emit("only \(a.isCalibrated ? aPath : bPath) declares a voxel size: the other is taken to have the same voxels (registration works in voxels)")
    }
    guard a.isCalibrated, b.isCalibrated else { return }
    let (sa, sb) = (a.voxelSizeMicrometres, b.voxelSizeMicrometres)
    guard zip(sa, sb).allSatisfy({ abs($0 - $1) <= 1e-6 * Swift.max($0, $1) }) else {
        throw LensError.badInput(file: bPath, problem: "voxel size \(sb) µm differs from \(aPath)'s \(sa) µm: registration works in voxels; resample one volume to the other's voxel size first")
    }
}

/// `batterylens register`: one volume onto another, and optionally the local displacement field.
struct RegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register MOVING onto FIXED (translation, rigid or similarity), write MOVING resampled on FIXED's grid, and optionally the local displacement field (DVC).",
        discussion: """
        The transform T sends a position of FIXED (voxels z, y, x) to the same material in \
        MOVING: T(p) = s·R·(p − c) + c + t about FIXED's centre c; the summary gives t (voxels, \
        and µm when the voxel size is known), the rotation vector in degrees, the scale s, and \
        the normalized cross-correlation before and after. Phase correlation on the coarsest \
        pyramid level gives the start; Gauss–Newton refines it with a grey gain and offset. \
        --field writes a CSV of displacements measured on a node grid (--node-spacing) with \
        windows of ±--window voxels, starting from the global transform.
        """)
    @Argument(help: "Fixed (reference) volume.") var fixed: String
    @Argument(help: "Moving volume.") var moving: String
    @Option(help: "MOVING resampled on FIXED's grid (NaN outside MOVING).") var out: String
    @Option(help: "Transform model.") var model: VolumeRegistrationSettings.Model = .rigid
    @Option(help: "Pyramid levels (default: automatic, coarsest ≥ 24 voxels).") var levels: Int?
    @Option(help: "Gauss–Newton iterations per level.") var iterations: Int = 40
    @Option(help: "Resampling of the output.") var interpolation: VolumeRegistration.Interpolation = .cubic
    @Option(help: "Displacement field CSV (local DVC).") var field: String?
    @Option(name: .customLong("node-spacing"), help: "DVC node spacing, voxels.") var nodeSpacing: Int = 16
    @Option(help: "DVC window half-width, voxels.") var window: Int = 10
    @Option(help: "DVC search radius around the global transform, voxels.") var search: Int = 8
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = VolumeRegistrationSettings()
        settings.model = model; settings.levels = levels; settings.maximumIterations = iterations
        try settings.validate()
        var fieldSettings = DisplacementFieldSettings()
        fieldSettings.nodeSpacingVoxels = nodeSpacing; fieldSettings.windowHalfWidthVoxels = window; fieldSettings.searchRadiusVoxels = search
        if field != nil { try fieldSettings.validate() }
        try global.outputs(inputs: [fixed, moving]) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let fieldPath = try outputs.file(field, option: "--field")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let f = try VolumeIO.read(fixed).float32(), m = try VolumeIO.read(moving).float32()
            guard f.rank == 3 else { throw LensError.badInput(file: fixed, problem: "registration needs a 3D volume, got \(f.shape)") }
            guard m.rank == 3 else { throw LensError.badInput(file: moving, problem: "registration needs a 3D volume, got \(m.shape)") }
            try requireSameVoxelSize(f.geometry, fixed, m.geometry, moving, model: model)
            let progress = ProgressReporter(label: "registering", total: 0)
            let result = try VolumeRegistration.register(fixed: f, moving: m, settings: settings, progress: progress)
            progress.finish()
            let resampled = VolumeRegistration.resample(m, transform: result.transform, shape: f.shape, geometry: f.geometry, interpolation: interpolation)
            try VolumeIO.write(resampled, to: outPath, inputs: [fixed, moving])
            let unit = LengthUnit(f.geometry)
            let t = result.transform.translationVoxels
            print(String(format: "%@: t = (%.3f, %.3f, %.3f) voxel, rotation %.4f°, scale %.5f; NCC %.4f → %.4f; wrote %@", model.rawValue,
                         t[0], t[1], t[2], result.transform.rotationAngleDegrees, result.transform.scale, result.correlationBefore, result.correlationAfter, out))
            var fieldRecord: DisplacementField?
            if let fieldPath {
                let reporter = ProgressReporter(label: "displacement field", total: 0)
                let measured = try VolumeRegistration.displacementField(fixed: f, moving: m, settings: fieldSettings, prior: result.transform, progress: reporter)
                reporter.finish()
                var table = Table(columns: [TableColumn("z", unit: "voxel"), TableColumn("y", unit: "voxel"), TableColumn("x", unit: "voxel"),
                                            TableColumn("u_z", unit: unit.name), TableColumn("u_y", unit: unit.name), TableColumn("u_x", unit: unit.name),
                                            TableColumn("correlation"), TableColumn("status")])
                for node in measured.nodes {
                    let u = node.displacementVoxels ?? [.nan, .nan, .nan]
                    table.append(node.positionVoxels.map { .number(Double($0)) } + (0..<3).map { .number(u[$0] * unit.size(axis: $0)) }
                                 + [.number(node.correlation), .text(node.status.rawValue)])
                }
                try table.write(to: fieldPath)
                print(String(format: "displacement field: %d nodes, %.0f %% measured; wrote %@", measured.nodes.count, 100 * measured.measuredFraction, field!))
                fieldRecord = measured
            }
            guard let summaryPath else { return }
            var object: [String: JSONValue] = [
                "registration": try JSONValue(encoding: result),
                "translation_unit": .string(unit.name),
                "translation": .array((0..<3).map { .number(t[$0] * unit.size(axis: $0)) }),
                "outputs": .object(["resampled": .string(out)]),
                "provenance": try provenanceJSON(inputs: [fixed, moving], parameters: ["settings": try JSONValue(encoding: settings),
                                                                                       "interpolation": .string(interpolation.rawValue)]),
            ]
            if let fieldRecord {
                object["displacement_field"] = .object(["nodes": .number(Double(fieldRecord.nodes.count)), "measured_fraction": .number(fieldRecord.measuredFraction),
                                                        "node_counts": .array(fieldRecord.nodeCounts.map { .number(Double($0)) }),
                                                        "settings": try JSONValue(encoding: fieldSettings), "table": .string(field!)])
            }
            try JSONOutput.write(JSONValue.object(object), to: summaryPath, inputs: [fixed, moving])
        }
    }
}

/// `batterylens track`: particles followed through a series of states.
struct TrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "track",
        abstract: "Follow particles through a cycling series: register every state to the first, match particles by overlap, detect splits, merges and losses.",
        discussion: """
        STATE… are the grey volumes in order (first = reference); --labels gives each state's \
        particle labels (int, 0 outside), once per state in the same order. Writes tracks.csv \
        (with --cracks also last_state_classes.csv: label, damage class of the last state) \
        (one row per track and state: event, the state's labels, voxels, centroid in the first \
        state's voxels) in --out. With --cracks, each state's cracks are judged \
        (as `batterylens cracks`) and joined to the tracks, and the summary gives the \
        probability of cracking (last state) and of crack growth (first → last) vs particle size \
        and grey, binned with 95 % intervals and as logistic fits.
        """)
    @Argument(help: "Grey volume of each state, in order.") var states: [String]
    @Option(name: .customLong("labels"), parsing: .singleValue, help: "Particle labels of a state (once per state, in order).") var labels: [String] = []
    @Option(help: "Output folder.") var out: String
    @Option(help: "Registration model.") var model: VolumeRegistrationSettings.Model = .rigid
    @Option(help: "Fraction of a label's overlapping voxels its track must hold.") var containment: Double = 0.6
    @Option(name: .customLong("min-voxels"), help: "Labels smaller than this are debris.") var minVoxels: Int = 27
    @Flag(help: "Judge cracks in every state and join them to the tracks.") var cracks = false
    @Flag(name: .customLong("calibrate-on-first"), help: "The first state is pristine (with --cracks): the mild crack fraction becomes the 99th percentile of its particles' crack fractions when higher (false positives of noise and blur), severe at least 10× that; every state is classified with them.") var calibrateOnFirst = false
    @Option(name: .customLong("void-grey"), help: "Grey value of void for --cracks (default: per state, the median outside the particles).") var voidGrey: Double?
    @Option(help: "Surface shell (voxels) not judged for cracks.") var margin: Double = 0
    @Option(name: .customLong("field-of-view"), help: "With --cracks, where the volumes hold data: grid or circle (as for `cracks`).") var fieldOfView: CrackSettings.FieldOfView = .grid
    @Option(name: .customLong("scan-angles"), parsing: .unconditional, help: "With --cracks, the scans' projection angles FIRST:LAST in degrees (as for `cracks`): each state's crack is flagged where it faces the missing wedge.") var scanAngles: String?
    @Option(help: "JSON summary.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard states.count >= 2 else { throw LensError.invalidArgument("track needs at least two states, got \(states.count)") }
        guard labels.count == states.count else {
            throw LensError.invalidArgument("give --labels once per state: \(states.count) states, \(labels.count) label volumes")
        }
        var settings = SeriesTrackingWorkflow.Settings()
        settings.registration.model = model
        settings.tracking.containment = containment; settings.tracking.minimumLabelVoxels = minVoxels
        if cracks {
            var c = CrackSettings()
            c.voidGrey = voidGrey; c.surfaceMarginVoxels = margin; c.fieldOfView = fieldOfView
            c.scanAngles = try scanAngles.map(parseScanAngles)
            settings.cracks = c
        }
        if fieldOfView != .grid && !cracks { throw LensError.invalidArgument("--field-of-view is where --cracks judges particles: give --cracks too") }
        if scanAngles != nil && !cracks { throw LensError.invalidArgument("--scan-angles flags the cracks of --cracks: give --cracks too") }
        if calibrateOnFirst && !cracks { throw LensError.invalidArgument("--calibrate-on-first calibrates the damage classes of --cracks: give --cracks too") }
        settings.calibrateOnFirstState = calibrateOnFirst
        try settings.validate()
        try global.outputs(inputs: states + labels) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            var greys = [Grid<Float>](), labelGrids = [Grid<Int32>]()
            for (k, path) in states.enumerated() {
                let grey = try VolumeIO.read(path).float32()
                guard grey.rank == 3 else { throw LensError.badInput(file: path, problem: "tracking needs 3D volumes, got \(grey.shape)") }
                if k > 0 { try requireSameVoxelSize(greys[0].geometry, states[0], grey.geometry, path, model: model) }
                let label = try VolumeIO.read(labels[k])
                guard !label.dataType.isComplex, !label.dataType.isFloatingPoint else {
                    throw LensError.badInput(file: labels[k], problem: "particle labels must be integers, not \(label.dataType)")
                }
                guard label.shape == grey.shape else { throw LensError.badInput(file: labels[k], problem: "labels \(label.shape) do not match \(path)'s \(grey.shape)") }
                greys.append(grey); labelGrids.append(try label.converted(to: Int32.self))
            }
            let unit = LengthUnit(greys[0].geometry)
            let record = try SeriesTrackingWorkflow.run(greys: greys, labels: labelGrids, voxelSizeMicrometres: unit.isPhysical ? greys[0].geometry.voxelSizeMicrometres.min() : nil,
                                                        settings: settings) { label, total in ProgressReporter(label: label, total: total) }
            var columns = [TableColumn("track"), TableColumn("state"), TableColumn("event"), TableColumn("labels"), TableColumn("voxels"),
                           TableColumn("centroid_z", unit: "voxel"), TableColumn("centroid_y", unit: "voxel"), TableColumn("centroid_x", unit: "voxel"),
                           TableColumn("merged_into")]
            if record.damage != nil {
                columns += [TableColumn("crack_fraction"), TableColumn("fragments"), TableColumn("damage_class"), TableColumn("crack_width_median", unit: "voxel"),
                            TableColumn("cut_by_volume_face"), TableColumn("outside_field_of_view"), TableColumn("crack_in_missing_wedge")]
            }
            var table = Table(columns: columns)
            for (t, track) in record.tracking.tracks.enumerated() {
                for entry in track.states {
                    let c = entry.centroidVoxels ?? [.nan, .nan, .nan]
                    var row: [TableValue] = [.number(Double(track.id)), .number(Double(entry.state)), .text(entry.event.rawValue),
                                             .text(entry.labels.map(String.init).joined(separator: ";")), .number(Double(entry.voxels)),
                                             .number(c[0]), .number(c[1]), .number(c[2]), .number(entry.mergedInto.map(Double.init) ?? .nan)]
                    if let damage = record.damage {
                        let d = damage[t][entry.state]
                        row += [.number(d?.crackFraction ?? .nan), .number(d.map { Double($0.fragments) } ?? .nan), .text(d?.damageClass ?? ""),
                                .number(d?.crackWidthMedianVoxels ?? .nan),
                                .text(d.map { $0.cutByVolumeFace ? "yes" : "no" } ?? ""), .text(d.map { $0.outsideFieldOfView ? "yes" : "no" } ?? ""),
                                .text(d?.crackInMissingWedge.map { $0 ? "yes" : "no" } ?? "")]
                    }
                    table.append(row)
                }
            }
            try table.write(to: folder + "/tracks.csv")
            // The last state's particle labels with their damage classes (label, class): what
            // `xanes --label-classes` and other per-label analyses of that state take.
            if let damage = record.damage {
                let last = states.count - 1
                var classes = Table(columns: [TableColumn("label"), TableColumn("damage_class")])
                var rows = [(Int32, String)]()
                for (t, track) in record.tracking.tracks.enumerated() {
                    for entry in track.states where entry.state == last {
                        guard let d = damage[t][last] else { continue }
                        for label in entry.labels { rows.append((label, d.damageClass)) }
                    }
                }
                for (label, c) in rows.sorted(by: { $0.0 < $1.0 }) { classes.append([.number(Double(label)), .text(c)]) }
                try classes.write(to: folder + "/last_state_classes.csv")
            }
            let events = record.tracking.eventCounts.enumerated().map { k, c in
                "state \(k): " + TrackEvent.allCases.compactMap { e in c[e.rawValue].map { "\($0) \(e.rawValue)" } }.joined(separator: ", ")
            }
            print("\(record.tracking.tracks.count) tracks over \(states.count) states\n" + events.joined(separator: "\n") + "\nwrote \(out)/tracks.csv")
            if let c = record.damageCalibration {
                print(String(format: "damage classes calibrated on state 0 (%d particles): %.0f %% of them below a crack fraction of %.3g; mild from %.3g (given %.3g), severe from %.3g (given %.3g); %.1f %% of pristine particles split into fragments",
                             c.pristineParticles, c.quantile * 100, c.pristineCrackFractionAtQuantile, c.mildCrackFraction, c.configuredMild,
                             c.severeCrackFraction, c.configuredSevere, c.pristineFragmentedShare * 100))
            }
            if let fit = record.crackingLastState?.fit {
                print(fit.coefficients.map { String(format: "cracking vs %@: %+.3f per sd (p = %.2g)", $0.name, $0.perStandardDeviation, $0.pValue) }.joined(separator: "\n"))
            }
            guard let summaryPath else { return }
            try JSONOutput.write(JSONValue.object([
                "states": .number(Double(record.states)),
                "tracks": .number(Double(record.tracking.tracks.count)),
                "event_counts": try JSONValue(encoding: record.tracking.eventCounts),
                "registrations": try JSONValue(encoding: record.registrations),
                "cracking_last_state": try JSONValue(encoding: record.crackingLastState),
                "crack_growth": try JSONValue(encoding: record.crackGrowth),
                "damage_calibration": try JSONValue(encoding: record.damageCalibration),
                "outputs": .object(["table": .string(out + "/tracks.csv")].merging(record.damage == nil ? [:] : ["classes": .string(out + "/last_state_classes.csv")]) { a, _ in a }),
                "provenance": try provenanceJSON(inputs: states + labels, parameters: ["settings": try JSONValue(encoding: settings)]),
            ]), to: summaryPath, inputs: states + labels)
        }
    }
}
