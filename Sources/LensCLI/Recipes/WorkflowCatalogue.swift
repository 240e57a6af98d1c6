import Foundation

/// What a recipe step may run: each workflow's command, its inputs (how the command takes
/// them) and its outputs by name (the option that writes them and the file name the runner
/// gives them inside the step's folder). Recipes, the runner and the tests refer to outputs by
/// these names (`from: recon.volume`), never by file names.
struct WorkflowDefinition: Sendable {
    /// How a command takes an input file.
    enum Passing: Sendable, Equatable {
        /// Positional arguments, in slot order.
        case positional
        /// An option, e.g. `--ct`.
        case option(String)
    }

    struct Input: Sendable {
        var name: String
        var passing: Passing
        var required = true
        /// Several files (a stack of one file per energy, one cube per depth region).
        var many = false
    }

    struct Output: Sendable {
        var name: String
        /// The option that names it (`--out`, `--csv`); empty for a positional output.
        var option: String
        /// File or folder name inside the step's folder.
        var path: String
        var isFolder = false
        /// Files the command writes inside a folder output, by name (`phases` → `phases.tif`).
        var members: [String: String] = [:]
        /// Outputs (or members) written with a label scheme beside them (`NAME.labels.json`).
        var labelled: Set<String> = []
    }

    /// `segment phases`, as on the command line.
    var name: String
    /// Options that name phases of the labels input (`--phase active`): names need a scheme.
    var phaseOptions: [String] = []
    var inputs: [Input]
    var outputs: [Output]
    /// Whether the command writes `--summary` (the runner always asks for `summary.json`).
    var summary = true

    init(name: String, phaseOptions: [String] = [], inputs: [Input], outputs: [Output], summary: Bool = true) {
        self.name = name; self.phaseOptions = phaseOptions; self.inputs = inputs; self.outputs = outputs; self.summary = summary
    }

    /// Whether output `name` (or a folder member) is written with a label scheme.
    func isLabelled(output name: String) -> Bool { outputs.contains { $0.labelled.contains(name) } }

    var command: [String] { name.split(separator: " ").map(String.init) }

    /// The options the runner sets itself; a recipe's settings may not.
    var reservedOptions: Set<String> {
        var set = Set(outputs.map(\.option).filter { !$0.isEmpty })
        for input in inputs { if case .option(let o) = input.passing { set.insert(o) } }
        if summary { set.insert("--summary") }
        return set
    }

    /// Output names a step of this workflow offers to later steps: each output, each member of
    /// a folder output (`phantom.phases`), and `summary`.
    func resolve(output: String) -> (path: String, isFolder: Bool)? {
        if output == "summary" && summary { return ("summary.json", false) }
        for o in outputs {
            if o.name == output { return (o.path, o.isFolder) }
            if let member = o.members[output] { return (o.path + "/" + member, false) }
        }
        return nil
    }

    var outputNames: [String] {
        outputs.flatMap { [$0.name] + $0.members.keys.sorted() } + (summary ? ["summary"] : [])
    }
}

enum WorkflowCatalogue {
    typealias W = WorkflowDefinition
    static let labels = W.Input(name: "labels", passing: .positional)
    static let volume = W.Input(name: "volume", passing: .positional)

    static let all: [WorkflowDefinition] = [
        W(name: "phantom electrode", inputs: [],
          outputs: [W.Output(name: "phantom", option: "--out", path: "phantom", isFolder: true,
                             members: ["phases": "phases.tif", "attenuation": "attenuation.tif", "particles": "particles.tif",
                                       "truth": "truth.json", "design": "design.json"], labelled: ["phases"])],
          summary: false),
        W(name: "phantom series", inputs: [],
          outputs: [W.Output(name: "series", option: "--out", path: "series", isFolder: true,
                             members: Dictionary(uniqueKeysWithValues: (0..<5).flatMap { k in
                                 [("state_\(k)_phases", "state_\(k)/phases.tif"), ("state_\(k)_particles", "state_\(k)/particles.tif"),
                                  ("state_\(k)_attenuation", "state_\(k)/attenuation.tif"), ("state_\(k)_truth", "state_\(k)/truth.json")] }),
                             labelled: Set((0..<5).map { "state_\($0)_phases" }))],
          summary: false),
        W(name: "phantom projections", inputs: [volume], outputs: [W.Output(name: "scan", option: "--out", path: "scan.h5")]),
        W(name: "phantom xanes", inputs: [W.Input(name: "particles", passing: .option("--particles"), required: false),
                                          W.Input(name: "particles_truth", passing: .option("--particles-truth"), required: false)],
          outputs: [W.Output(name: "phantom", option: "--out", path: "phantom", isFolder: true,
                             members: ["stack": "stack.h5", "energies": "energies.txt", "references": "references.csv",
                                       "labels": "labels.tif", "truth": "truth.json", "particles": "particles.csv"])],
          summary: false),
        W(name: "phantom compton", phaseOptions: ["--pore", "--solid"], inputs: [W.Input(name: "ct", passing: .option("--ct"), required: false)],
          outputs: [W.Output(name: "phantom", option: "--out", path: "phantom", isFolder: true,
                             members: ["region_1": "region_1.bin", "region_2": "region_2.bin", "region_3": "region_3.bin", "truth": "truth.json",
                                       "correlation_truth": "correlation_truth.json"])],
          summary: false),
        W(name: "phantom xrd", inputs: [],
          outputs: [W.Output(name: "phantom", option: "--out", path: "phantom", isFolder: true,
                             members: ["patterns": "patterns.h5", "phases": "phases.json", "truth": "truth.json", "frames": "frames.h5", "poni": "detector.poni"])],
          summary: false),
        W(name: "phantom cell", inputs: [],
          outputs: [W.Output(name: "phantom", option: "--out", path: "phantom", isFolder: true, members: ["cell": "cell.tif", "truth": "truth.json"])],
          summary: false),
        W(name: "cell", inputs: [volume],
          outputs: [W.Output(name: "inspection", option: "--out", path: "inspection", isFolder: true,
                             members: ["unrolled": "unrolled.tif", "layers": "layers.tif", "slices": "slices.csv", "sectors": "sectors.csv",
                                       "figure": "cross_section.png"])]),
        W(name: "diffraction integrate", inputs: [W.Input(name: "frames", passing: .positional), W.Input(name: "poni", passing: .option("--poni"), required: false),
                                                  W.Input(name: "mask", passing: .option("--mask"), required: false)],
          outputs: [W.Output(name: "series", option: "--out", path: "series.h5")]),
        W(name: "diffraction series", inputs: [W.Input(name: "series", passing: .positional), W.Input(name: "phases", passing: .option("--phases"))],
          outputs: [W.Output(name: "results", option: "--out", path: "results", isFolder: true,
                             members: ["table": "results.csv", "heatmap": "heatmap.svg", "fractions": "fractions.svg", "lattice": "lattice.svg"])]),
        W(name: "diffraction calibrate", inputs: [W.Input(name: "pattern", passing: .positional), W.Input(name: "calibrant", passing: .option("--calibrant"))],
          outputs: [W.Output(name: "results", option: "--out", path: "results", isFolder: true,
                             members: ["lines": "lines.csv", "residuals": "residuals.svg"])]),
        W(name: "recon", inputs: [W.Input(name: "scan", passing: .positional), W.Input(name: "flats", passing: .option("--flats"), required: false),
                                  W.Input(name: "darks", passing: .option("--darks"), required: false),
                                  W.Input(name: "angles", passing: .option("--angles"), required: false),
                                  W.Input(name: "holo_scans", passing: .option("--holo-scan"), required: false, many: true)],
          outputs: [W.Output(name: "volume", option: "--out", path: "volume.tif")]),
        W(name: "align", inputs: [W.Input(name: "scan", passing: .positional), W.Input(name: "flats", passing: .option("--flats"), required: false),
                                  W.Input(name: "darks", passing: .option("--darks"), required: false),
                                  W.Input(name: "angles", passing: .option("--angles"), required: false)],
          outputs: [W.Output(name: "lines", option: "--out", path: "aligned.h5"), W.Output(name: "angles", option: "--angles-out", path: "angles.txt")]),
        W(name: "convert", inputs: [volume], outputs: [W.Output(name: "volume", option: "", path: "volume.tif")]),
        W(name: "filter", inputs: [volume], outputs: [W.Output(name: "volume", option: "--out", path: "filtered.tif")]),
        W(name: "cracks", inputs: [volume, W.Input(name: "labels", passing: .option("--labels"))],
          outputs: [W.Output(name: "damage", option: "--out", path: "damage", isFolder: true, members: ["cracks": "cracks.tif", "table": "particles.csv"])]),
        W(name: "register", inputs: [W.Input(name: "fixed", passing: .positional), W.Input(name: "moving", passing: .positional)],
          outputs: [W.Output(name: "volume", option: "--out", path: "registered.tif")]),
        W(name: "track", inputs: [W.Input(name: "states", passing: .positional, many: true), W.Input(name: "labels", passing: .option("--labels"), many: true)],
          outputs: [W.Output(name: "tracks", option: "--out", path: "tracks", isFolder: true, members: ["table": "tracks.csv", "classes": "last_state_classes.csv"])]),
        W(name: "segment phases", inputs: [volume], outputs: [W.Output(name: "labels", option: "--out", path: "labels.tif", labelled: ["labels"])]),
        W(name: "segment electrode", inputs: [volume], outputs: [W.Output(name: "labels", option: "--out", path: "labels.tif", labelled: ["labels"])]),
        W(name: "label", phaseOptions: ["--phase"], inputs: [labels], outputs: [W.Output(name: "labels", option: "--out", path: "components.tif")]),
        W(name: "particles", phaseOptions: ["--phase"], inputs: [labels],
          outputs: [W.Output(name: "labels", option: "--out", path: "particles.tif"), W.Output(name: "table", option: "--csv", path: "particles.csv")]),
        W(name: "porosity", phaseOptions: ["--pore", "--outside"], inputs: [labels], outputs: [W.Output(name: "regions", option: "--csv", path: "porosity.csv")]),
        W(name: "tortuosity", phaseOptions: ["--phase"], inputs: [labels], outputs: []),
        W(name: "rev", phaseOptions: ["--phase"], inputs: [labels], outputs: []),
        W(name: "impedance", phaseOptions: ["--phase"], inputs: [labels], outputs: [W.Output(name: "spectrum", option: "--csv", path: "impedance.csv")]),
        W(name: "conductivity", inputs: [labels], outputs: []),
        W(name: "descriptors", phaseOptions: ["--phase"], inputs: [labels], outputs: []),
        W(name: "network", phaseOptions: ["--phase"], inputs: [labels],
          outputs: [W.Output(name: "network", option: "--out", path: "network", isFolder: true,
                             members: ["regions": "regions.tif", "pores": "pores.csv", "throats": "throats.csv", "network": "network.json"])]),
        W(name: "porosimetry", phaseOptions: ["--phase"], inputs: [labels], outputs: [W.Output(name: "curve", option: "--csv", path: "porosimetry.csv")]),
        W(name: "thickness", phaseOptions: ["--phase"], inputs: [labels], outputs: [W.Output(name: "map", option: "--out", path: "thickness.tif")]),
        W(name: "xanes", inputs: [W.Input(name: "stack", passing: .positional, many: true),
                                  W.Input(name: "energies", passing: .option("--energies"), required: false),
                                  W.Input(name: "references", passing: .option("--references"), required: false),
                                  W.Input(name: "flat", passing: .option("--flat"), required: false),
                                  W.Input(name: "dark", passing: .option("--dark"), required: false),
                                  W.Input(name: "labels", passing: .option("--labels"), required: false),
                                  W.Input(name: "label_classes", passing: .option("--label-classes"), required: false)],
          outputs: [W.Output(name: "maps", option: "--out", path: "maps", isFolder: true,
                             members: ["edge_energy": "edge_energy.tif", "edge_energy_sigma": "edge_energy_sigma.tif", "mask": "mask.tif",
                                       "white_line_energy": "white_line_energy.tif", "mean_spectrum": "mean_spectrum.csv"])]),
        W(name: "xas", inputs: [W.Input(name: "spectrum", passing: .positional)],
          outputs: [W.Output(name: "results", option: "--out", path: "results", isFolder: true, members: ["normalized": "normalized.csv"])]),
        W(name: "compton spectra", inputs: [W.Input(name: "events", passing: .positional)],
          outputs: [W.Output(name: "cube", option: "--out", path: "cube.h5")]),
        W(name: "compton analyze", inputs: [W.Input(name: "cubes", passing: .positional, many: true),
                                            W.Input(name: "calibration", passing: .option("--calibration"), required: false)],
          outputs: [W.Output(name: "maps", option: "--out", path: "maps", isFolder: true, members: ["regions": "regions.csv"])]),
        W(name: "compton correlate", phaseOptions: ["--pore", "--solid"], inputs: [W.Input(name: "ct", passing: .option("--ct")), W.Input(name: "compton", passing: .option("--compton"))],
          outputs: [W.Output(name: "maps", option: "--out", path: "maps", isFolder: true)]),
    ]

    static func named(_ name: String) -> WorkflowDefinition? {
        let key = name.split(whereSeparator: { $0 == " " || $0 == "_" || $0 == "-" }).joined(separator: " ").lowercased()
        return all.first { $0.name == key }
    }
}
