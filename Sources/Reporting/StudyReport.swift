import Foundation
import LensCore
import LensIO

/// The numbers of a study report, as written to `STUDY/summary.json` (schema
/// `Schemas/report.schema.json`): the truth checks, then one section per step with its
/// numbers (units and uncertainties), figures and provenance (command, input checksums).
public struct ReportSummary: Codable, Sendable {
    public struct Number: Codable, Sendable, Equatable {
        public var name: String
        /// The value as shown (numbers rounded for reading; `number` keeps the full value).
        public var text: String
        public var number: Double?
        /// 1σ, or the half-width of the interval named in `name` when it is a confidence interval.
        public var sigma: Double?
        public var unit: String?
    }
    public struct Section: Codable, Sendable {
        public var step: String
        public var workflow: String
        public var status: String
        public var seconds: Double
        public var command: [String]
        public var inputs: [InputRecord]
        public var numbers: [Number]
        /// Files under `report/`, relative to it.
        public var figures: [String]
        public var notes: [String]
    }
    public var schema = "batterylens-report/1"
    public var study: String
    public var recipe: String
    public var version: String
    public var generatedAt: String
    public var studyStatus: String
    public var truthChecks: [TruthCheck]
    /// nil when the study has no truth to compare with.
    public var allTruthChecksPassed: Bool?
    public var sections: [Section]
}

/// Builds the report of a study folder written by `batterylens run` (its `study.json`, and each
/// step's `summary.json` and outputs): `STUDY/report/index.html` with its figures in
/// `STUDY/report/figures/` (self-contained: readable offline, no scripts), and the same numbers
/// in `STUDY/summary.json`. Known workflows get their own figures (slices with scale and colour
/// bars, label maps, porosity by depth, τ per axis, size distributions, cracking statistics,
/// XANES maps, Li per region); every other step gets the scalar numbers of its summary.
public enum StudyReport {
    /// A figure being built: its file name under `figures/`, caption and content.
    struct Figure {
        enum Content { case png(SliceFigure), svg(String) }
        var name: String
        var caption: String
        var content: Content
    }

    /// What one section shows.
    struct SectionContent {
        var numbers: [ReportSummary.Number] = []
        var figures: [Figure] = []
        var notes: [String] = []
        mutating func add(_ name: String, _ value: Double?, sigma: Double? = nil, unit: String? = nil, digits: Int = 4) {
            guard let value else { return }
            numbers.append(.init(name: name, text: StudyReport.format(value, digits: digits), number: value.isFinite ? value : nil,
                                 sigma: sigma, unit: unit))
        }
        mutating func add(_ name: String, text: String) {
            numbers.append(.init(name: name, text: text, number: nil, sigma: nil, unit: nil))
        }
    }

    /// Builds the report of `studyFolder` (with optional truth checks, e.g. from the demo's
    /// phantoms) and returns its summary. Replaces only a report and summary BatteryLens wrote.
    @discardableResult
    public static func build(studyFolder: String, title: String? = nil, truthChecks: [TruthCheck] = []) throws -> ReportSummary {
        let recordPath = studyFolder + "/study.json"
        guard FileManager.default.fileExists(atPath: recordPath) else {
            throw LensError.badInput(file: recordPath, problem: "no study record: the folder was not written by `batterylens run` (run a recipe first)")
        }
        let record: StudyRecord
        do { record = try JSONOutput.read(StudyRecord.self, from: recordPath) } catch {
            throw LensError.badInput(file: recordPath, problem: "is not a study record (\(error))")
        }
        var sections: [ReportSummary.Section] = []
        var contents: [SectionContent] = []
        for step in record.steps {
            var content = SectionContent()
            if step.status == "ran" || step.status == "skipped" {
                let summaryPath = studyFolder + "/" + step.name + "/summary.json"
                let summary = try? JSONOutput.read(JSONValue.self, from: summaryPath)
                do { content = try describe(step: step, folder: studyFolder + "/" + step.name, summary: summary) } catch {
                    content.notes.append("could not draw this step's figures: \(error)")
                }
            } else {
                content.notes.append("step \(step.status)")
            }
            contents.append(content)
            sections.append(.init(step: step.name, workflow: step.workflow, status: step.status, seconds: step.seconds,
                                  command: step.command, inputs: step.inputs, numbers: content.numbers,
                                  figures: content.figures.map { "figures/" + $0.name }, notes: content.notes))
        }
        let summary = ReportSummary(study: record.study, recipe: record.recipe, version: BatteryLensVersion.string,
                                    generatedAt: ISO8601DateFormatter().string(from: Date()), studyStatus: record.status,
                                    truthChecks: truthChecks, allTruthChecksPassed: truthChecks.isEmpty ? nil : truthChecks.allSatisfy(\.passed),
                                    sections: sections)
        let html = page(summary: summary, contents: contents, title: title ?? "BatteryLens study: \(record.study)")
        try AtomicOutput.write(to: studyFolder + "/report") { temporary in
            try FileManager.default.createDirectory(atPath: temporary + "/figures", withIntermediateDirectories: true)
            for figure in contents.flatMap(\.figures) {
                let path = temporary + "/figures/" + figure.name
                switch figure.content {
                case let .png(f): try f.writePNG(to: path)
                case let .svg(text): try AtomicOutput.write(Data(text.utf8), to: path)
                }
            }
            try AtomicOutput.write(Data(html.utf8), to: temporary + "/index.html")
        }
        try JSONOutput.write(summary, to: studyFolder + "/summary.json")
        return summary
    }

    // MARK: - Sections

    static func describe(step: StudyRecord.StepRecord, folder: String, summary: JSONValue?) throws -> SectionContent {
        var c = SectionContent()
        let s = summary ?? .null
        let prefix = step.name
        func output(_ name: String) -> String? { step.outputs[name].flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } }
        switch step.workflow {
        case "phantom series":
            let root = output("series") ?? folder + "/series"
            var cracked: [Double] = [], porosity: [Double] = []
            for k in 0..<5 {
                guard let t = try? JSONOutput.read(JSONValue.self, from: root + "/state_\(k)/truth.json") else { continue }
                cracked.append(t["truth"]?["cracked_particle_count"]?.doubleValue ?? .nan)
                porosity.append(t["truth"]?["electrode"]?["porosity"]?.doubleValue ?? .nan)
                if k == 0 { c.add("particles (design)", t["truth"]?["particle_count"]?.doubleValue, digits: 0)
                            c.add("voxel size", t["truth"]?["voxel_size_micrometres"]?.doubleValue, unit: "µm") }
            }
            for (k, n) in cracked.enumerated() { c.add("cracked particles, state \(k) (design)", n, digits: 0) }
            var plot = SVGPlot(title: "Cracked particles through cycling (design)", xLabel: "state", yLabel: "cracked particles")
            plot.xCategories = ["Tomo 00", "Tomo 01", "Tomo 02", "Tomo 03", "Tomo 04"].prefix(cracked.count).map { $0 }
            plot.series = [.init("", kind: .bars, x: cracked.indices.map(Double.init), y: cracked)]
            c.figures.append(Figure(name: prefix + "_cracked.svg", caption: "Particles with cracks in each state of the phantom (its design, the truth later steps are scored against).", content: .svg(plot.render())))
            if let f = try slice(root + "/state_0/attenuation.tif", valueLabel: "μ (1/µm)") {
                c.figures.append(Figure(name: prefix + "_state0.png", caption: "Phantom attenuation, pristine state, middle slice across the depth.", content: .png(f)))
            }
            if let f = try slice(root + "/state_4/phases.tif", categorical: true) {
                c.figures.append(Figure(name: prefix + "_state4_phases.png", caption: "Phantom phases after 30 cycles, middle slice.", content: .png(f)))
            }
        case "phantom electrode":
            if let root = output("phantom"), let f = try slice(root + "/attenuation.tif", valueLabel: "μ (1/µm)") {
                c.figures.append(Figure(name: prefix + "_attenuation.png", caption: "Phantom attenuation, middle slice.", content: .png(f)))
            }
            c.numbers += scalars(s)
        case "phantom projections":
            let acquisition = s["scan"]?["acquisition"]
            c.add("projections", acquisition?["projection_count"]?.doubleValue, digits: 0)
            c.add("angular range", acquisition?["angular_range_degrees"]?.doubleValue, unit: "°")
            c.add("rotation axis column (truth)", s["scan"]?["rotation_axis_column"]?.doubleValue, unit: "pixel")
            c.add("incident photons per pixel", acquisition?["incident_photons"]?.doubleValue, digits: 0)
            c.add("ring-defect pixel fraction", acquisition?["defective_pixel_fraction"]?.doubleValue)
            c.add("jitter σ", acquisition?["jitter_pixels"]?.doubleValue, unit: "pixel")
            if let scan = output("scan"), let reader = try? VolumeIO.open(scan + ":/exchange/data") {
                let rows = reader.info.shape[1]
                let sino = try SliceExtraction.extract(reader, axis: .y, index: rows / 2)
                var style = SliceFigureStyle(mode: .continuous(.grey, .automatic), pixelSizeMicrometres: nil, valueLabel: "counts")
                style.scaleBar = false
                c.figures.append(Figure(name: prefix + "_sinogram.png", caption: "Sinogram of the middle detector row (rows: projections; columns: detector pixels), raw counts.",
                                        content: .png(try SliceFigure.render(sino, style: style))))
            }
        case "recon":
            let cone = s["reconstruction"]?["cone_beam"]
            let algorithm = s["algorithm"]?.stringValue ?? "?"
            c.add("algorithm", text: cone != nil && algorithm == "fbp" ? "FDK (cone beam)" : algorithm)
            c.add("rotation centre (column)", s["centre_column"]?.doubleValue, unit: "pixel")
            c.add(text: s["centre_method"]?.stringValue, "centre method")
            if let phase = s["phase"]?.stringValue, phase != "none" {
                let p = s["provenance"]?["parameters"]
                let details = [("δ/β", p?["delta_beta"]?.doubleValue), ("distance mm", p?["distance_mm"]?.doubleValue), ("keV", p?["energy_kev"]?.doubleValue)]
                    .compactMap { name, v in v.map { String(format: "%@ %g", name, $0) } }.joined(separator: ", ")
                c.add("phase retrieval", text: details.isEmpty ? phase : "\(phase) (\(details))")
            }
            if let cone {
                c.add("source to axis", cone["source_to_axis_millimetres"]?.doubleValue, unit: "mm")
                c.add("magnification", cone["magnification"]?.doubleValue)
                c.add("half fan angle", cone["half_fan_angle_degrees"]?.doubleValue, unit: "°")
                c.add("half cone angle", cone["half_cone_angle_degrees"]?.doubleValue, unit: "°")
                c.add(text: cone["weighting"]?.stringValue, "angular weighting")
            } else {
                c.add("angular coverage", s["angular_coverage_deg"]?.doubleValue, unit: "°")
                c.add("missing wedge", s["missing_wedge_deg"]?.doubleValue, unit: "°")
            }
            c.add("voxel size", s["voxel_size_um"]?.doubleValue, unit: "µm")
            if case .array(let warnings)? = s["reconstruction"]?["warnings"] { c.notes += warnings.compactMap(\.stringValue) }
            let unit = (s["units"]?.stringValue ?? "").replacingOccurrences(of: "um", with: "µm")
            if let v = output("volume"), let f = try slice(v, valueLabel: unit.isEmpty ? "value" : "μ (\(unit))") {
                c.figures.append(Figure(name: prefix + "_slice.png", caption: "Reconstructed middle slice (\(cone != nil && algorithm == "fbp" ? "FDK" : algorithm)); colour bar in \(unit.isEmpty ? "the volume's units" : unit).", content: .png(f)))
            }
        case "segment phases", "segment electrode":
            c.add("porosity", s["porosity"]?.doubleValue)
            c.add(text: s["porosity_region"]?.stringValue, "porosity refers to")
            if case .object(let fractions)? = s["fractions_in_electrode"] {
                for (code, v) in fractions.sorted(by: { $0.key < $1.key }) { c.add("fraction of code \(code)", v.doubleValue) }
            }
            if let v = output("labels"), let f = try slice(v, categorical: true) {
                c.figures.append(Figure(name: prefix + "_labels.png", caption: "Segmented phases, middle slice.", content: .png(f)))
            }
        case "porosity":
            // Depth in µm only when the summary gives both the unit and the spacing along the axis.
            let spacing = s["voxel_size"]?.doubleValue
            let unit = s["unit"]?.stringValue == "µm" && spacing != nil ? "µm" : "voxel"
            c.add("porosity (electrode)", s["porosity"]?.doubleValue)
            var x: [Double] = [], y: [Double] = []
            if case .array(let regions)? = s["regions"] {
                for (k, r) in regions.enumerated() {
                    let start = r["start"]?.doubleValue ?? .nan, end = r["end"]?.doubleValue ?? .nan
                    c.add("porosity, region \(k + 1) (slices \(Int(start))–\(Int(end)))", r["phase_fraction"]?.doubleValue)
                    x.append((start + end) / 2 * (unit == "µm" ? spacing! : 1)); y.append(r["phase_fraction"]?.doubleValue ?? .nan)
                }
            }
            var plot = SVGPlot(title: "Porosity by depth", xLabel: "depth, region centre (\(unit))", yLabel: "porosity")
            plot.series = [.init("porosity", x: x, y: y)]
            c.figures.append(Figure(name: prefix + "_depth.svg", caption: "Porosity of each depth region.", content: .svg(plot.render())))
            if let labels = step.inputs.first?.path, s["axis"]?.stringValue == "z" {
                c.figures += try porosityMaps(labels: labels, summary: s, prefix: prefix)
            }
        case "tortuosity" where s["kind"]?.stringValue == "electrode":
            var axes: [String] = [], taus: [Double] = []
            if case .array(let results)? = s["electrode_results"] {
                for r in results {
                    let axis = r["axis_name"]?.stringValue ?? "?"
                    let tau = r["electrode_tortuosity_factor"]?.doubleValue
                    c.add("electrode τ_e (\(axis))", tau)
                    c.add("ionic resistance 3·Re Z₀ (\(axis), TauFactor units)", r["ionic_resistance"]?.doubleValue)
                    axes.append(axis); taus.append(tau ?? .nan)
                }
            }
            var plot = SVGPlot(title: "Electrode tortuosity factor per axis", xLabel: "axis the ions enter along", yLabel: "τ_e")
            plot.xCategories = axes
            plot.series = [.init("τ_e", kind: .bars, x: axes.indices.map(Double.init), y: taus)]
            c.figures.append(Figure(name: prefix + "_tau_e.svg", caption: "Electrode tortuosity factor τ_e (TauFactor's ElectrodeSolver: ions enter at the first face, the pore/solid interface charges as a double layer, the far face is closed; ω → 0).", content: .svg(plot.render())))
        case "rev":
            if let rev = s["rev"] {
                let known = s["voxel_size_known"] == .bool(true)
                c.add(text: s["representative"] == .bool(true) ? "yes" : "no (the fraction still varies at the largest sub-volume)", "representative")
                if let edge = rev["representative_edge_voxels"]?.doubleValue {
                    c.add("representative edge", edge, unit: "voxel", digits: 0)
                }
                c.add("whole-volume \(rev["statistic"]?.stringValue ?? "value")", rev["whole_value"]?.doubleValue)
                if case .array(let steps)? = rev["steps"] {
                    let x = steps.compactMap { (known ? $0["edge_micrometres"] : $0["edge_voxels"])?.doubleValue }
                    let mean = steps.compactMap { $0["mean"]?.doubleValue }, sd = steps.compactMap { $0["standard_deviation"]?.doubleValue }
                    if x.count == mean.count && mean.count == sd.count && !x.isEmpty {
                        var plot = SVGPlot(title: "Representative volume", xLabel: "sub-volume edge (\(known ? "µm" : "voxel"))", yLabel: rev["statistic"]?.stringValue ?? "value")
                        plot.yIncludesZero = false
                        plot.series = [.init("random sub-volumes (mean ± sd)", kind: .lineAndPoints, x: x, y: mean, yInterval: zip(mean, sd).map { ($0 - $1, $0 + $1) })]
                        if let whole = rev["whole_value"]?.doubleValue {
                            plot.series.append(.init("whole volume", kind: .line, x: [x.first!, x.last!], y: [whole, whole]))
                        }
                        c.figures.append(Figure(name: prefix + "_rev.svg", caption: "The phase fraction of random sub-volumes by edge length: representative once its spread and its offset from the whole fall within the tolerance.", content: .svg(plot.render())))
                    }
                }
            }
        case "network":
            let unit = s["length_unit"]?.stringValue ?? "voxel"
            c.add("pores", s["pores"]?.doubleValue, digits: 0)
            c.add("throats", s["throats"]?.doubleValue, digits: 0)
            c.add("mean coordination number", s["mean_coordination"]?.doubleValue)
            c.add("isolated pores (no throat)", s["isolated_pores"]?.doubleValue, digits: 0)
            c.add("pore voxels in no pore (too thin for a peak)", s["unassigned_pore_voxels"]?.doubleValue, digits: 0)
            if let d = s["equivalent_diameter"], d != .null {
                for key in ["number_d10", "number_d50", "number_d90"] {
                    guard let q = d[key], let v = q["value"]?.doubleValue else { continue }
                    let lo = q["lower"]?.doubleValue, hi = q["upper"]?.doubleValue
                    c.add("pore \(key.replacingOccurrences(of: "_", with: " ").uppercased()) (95 % bootstrap interval \(format(lo ?? .nan, digits: 3))–\(format(hi ?? .nan, digits: 3)))",
                          v, sigma: lo.flatMap { l in hi.map { ($0 - l) / 2 } }, unit: unit)
                }
                if let plot = sizeDistributionPlot(d, title: "Pore size distribution (SNOW regions)", unit: unit) {
                    c.figures.append(Figure(name: prefix + "_pore_sizes.svg", caption: "Equivalent diameter of the pores (the sphere of each region's volume).", content: .svg(plot.render())))
                }
            }
            if case .array(let histogram)? = s["coordination_histogram"] {
                let counts = histogram.compactMap(\.doubleValue)
                var plot = SVGPlot(title: "Coordination number", xLabel: "throats per pore", yLabel: "pores")
                plot.series = [.init("pores", kind: .bars, x: counts.indices.map(Double.init), y: counts)]
                c.figures.append(Figure(name: prefix + "_coordination.svg", caption: "How many throats join each pore to its neighbours.", content: .svg(plot.render())))
            }
            if let root = output("network"), let f = try slice(root + "/regions.tif", categorical: true, named: false) {
                c.figures.append(Figure(name: prefix + "_regions.png", caption: "Pore regions (SNOW watershed), middle slice; neighbouring pores in different colours.", content: .png(f)))
            }
        case "tortuosity":
            var axes: [String] = [], taus: [Double] = []
            if case .array(let results)? = s["results"] {
                for r in results {
                    let axis = r["axis"]?.stringValue ?? "?"
                    let tau = r["tortuosity_factor"]?.doubleValue
                    c.add("τ (\(axis))", tau)
                    c.add("ε (\(axis))", r["volume_fraction"]?.doubleValue)
                    axes.append(axis); taus.append(tau ?? .nan)
                }
            }
            c.add("anisotropy", s["anisotropy"]?.doubleValue)
            if let b = s["bruggeman"] { c.add("Bruggeman exponent", b["exponent"]?.doubleValue, sigma: b["standard_error"]?.doubleValue) }
            var plot = SVGPlot(title: "Tortuosity factor per axis", xLabel: "flow axis", yLabel: "τ")
            plot.xCategories = axes
            plot.series = [.init("whole volume", kind: .bars, x: axes.indices.map(Double.init), y: taus)]
            if case .array(let regions)? = s["regions"] {
                for (k, region) in regions.enumerated() {
                    guard case .array(let rr)? = region["results"] else { continue }
                    let y = axes.map { axis in rr.first { $0["axis"]?.stringValue == axis }?["tortuosity_factor"]?.doubleValue ?? .nan }
                    plot.series.append(.init("depth region \(k + 1)", kind: .bars, x: axes.indices.map(Double.init), y: y))
                }
            }
            c.figures.append(Figure(name: prefix + "_tau.svg", caption: "Tortuosity factor τ = ε·D/D_eff of the phase along each axis, for the whole volume and each depth region.", content: .svg(plot.render())))
        case "cell":
            let unit = s["unit"]?.stringValue ?? "voxel"
            c.add("slices with a winding (of those inspected)", s["slices_with_winding"]?.doubleValue, digits: 0)
            c.add("can inner radius", s["can_inner_radius"]?.doubleValue, unit: unit)
            c.add("can wall thickness", s["can_wall_thickness"]?.doubleValue, unit: unit)
            c.add("can out-of-roundness (max − min inner radius)", s["can_out_of_roundness"]?.doubleValue, unit: unit)
            c.add("axis drift", s["axis_drift_pixels_per_slice"]?.doubleValue, unit: "pixel per slice")
            c.add("axis tilt", s["axis_tilt_degrees"]?.doubleValue, unit: "°")
            c.add("turns of the bright electrode", s["turns"]?.doubleValue)
            c.add("winding pitch", s["pitch"]?.doubleValue, unit: unit)
            c.add("bright layer thickness (FWHM)", s["layer_thickness"]?.doubleValue, unit: unit)
            c.add("strip length per slice", s["strip_length"]?.doubleValue, unit: unit)
            c.add("strip followed from its inner end (virtual unrolling)", s["followed_strip_length"]?.doubleValue, unit: unit)
            c.add("gaps off the median pitch by > 30 %", s["anomalous_gap_fraction"]?.doubleValue)
            if case .array(let sectors)? = s["widest_anomalies"] {
                for sector in sectors.prefix(3) {
                    guard let slice = sector["slice"]?.doubleValue, let a = sector["start_degrees"]?.doubleValue, let b = sector["end_degrees"]?.doubleValue else { continue }
                    c.add(text: String(format: "slice %d, %.1f–%.1f°, radius %@–%@ %@, pitch off by up to %.0f %%", Int(slice), a, b,
                                       format(sector["inner_radius"]?.doubleValue ?? .nan, digits: 4), format(sector["outer_radius"]?.doubleValue ?? .nan, digits: 4),
                                       unit, (sector["largest_pitch_deviation"]?.doubleValue ?? .nan) * 100), "irregular winding")
                }
            }
            if case .array(let rows)? = s["slices"] {
                let measured = rows.filter { $0["pitch"]?.doubleValue != nil }
                var plot = SVGPlot(title: "Winding through the cell", xLabel: "slice", yLabel: "length (\(unit))")
                plot.yIncludesZero = false
                plot.series = [.init("pitch", kind: .lineAndPoints, x: measured.compactMap { $0["slice"]?.doubleValue }, y: measured.compactMap { $0["pitch"]?.doubleValue }),
                               .init("bright layer thickness", kind: .lineAndPoints, x: measured.compactMap { $0["slice"]?.doubleValue },
                                     y: measured.compactMap { $0["layer_thickness"]?.doubleValue })]
                c.figures.append(Figure(name: prefix + "_winding.svg", caption: "Pitch and bright-layer thickness (medians over the rays) slice by slice.", content: .svg(plot.render())))
            }
            if let input = step.inputs.first?.path, let root = output("inspection"),
               let f = try slice(input, overlay: (root + "/layers.tif", "bright electrode layers found")) {
                c.figures.append(Figure(name: prefix + "_cross_section.png", caption: "Middle cross-section with the bright electrode's layers found (half-maximum edges).", content: .png(f)))
            }
        case "particles":
            c.add("particles", s["particles"]?.doubleValue, digits: 0)
            let unit = s["unit"]?.stringValue ?? "voxel"
            if let d = s["size_distribution_interior"] {
                c.add("particles inside the field of view", d["count"]?.doubleValue, digits: 0)
                for key in ["number_d10", "number_d50", "number_d90", "volume_d50"] {
                    guard let q = d[key], let v = q["value"]?.doubleValue else { continue }
                    let lo = q["lower"]?.doubleValue, hi = q["upper"]?.doubleValue
                    c.add("\(key.replacingOccurrences(of: "_", with: " ").uppercased()) (95 % bootstrap interval \(format(lo ?? .nan, digits: 3))–\(format(hi ?? .nan, digits: 3)))",
                          v, sigma: lo.flatMap { l in hi.map { ($0 - l) / 2 } }, unit: unit)
                }
                if let plot = sizeDistributionPlot(d, title: "Particle size distribution (interior particles)", unit: unit) {
                    c.figures.append(Figure(name: prefix + "_sizes.svg", caption: "Equivalent-diameter distribution of the particles that do not touch the volume's faces.", content: .svg(plot.render())))
                }
            }
            if let v = output("labels"), let f = try slice(v, categorical: true, named: false) {
                c.figures.append(Figure(name: prefix + "_labels.png", caption: "Particle labels (watershed), middle slice; neighbouring particles in different colours.", content: .png(f)))
            }
        case "thickness":
            let unit = s["unit"]?.stringValue ?? "voxel"
            c.add("mean local thickness", s["mean"]?.doubleValue, unit: unit)
            for key in ["volume_weighted_d10", "volume_weighted_d50", "volume_weighted_d90"] {
                c.add(key.replacingOccurrences(of: "_", with: " "), s[key]?.doubleValue, unit: unit)
            }
            if let v = output("map"), let f = try slice(v, colormap: .viridis, valueLabel: "thickness (\(unit))", zeroIsMasked: true) {
                c.figures.append(Figure(name: prefix + "_map.png", caption: "Local thickness (diameter of the largest inscribed ball), middle slice; other phases masked.", content: .png(f)))
            }
        case "track":
            c.add("tracks", (s["tracks"]?.doubleValue) ?? arrayCount(s["tracks"]), digits: 0)
            let growth = s["cracking_last_state"]
            c.add("cracked particles, last state", growth?["cracked"]?.doubleValue, digits: 0)
            if let calibration = s["damage_calibration"], calibration != .null {
                c.add("mild crack fraction, calibrated on the pristine state", calibration["mild_crack_fraction"]?.doubleValue)
                c.add("severe crack fraction, calibrated", calibration["severe_crack_fraction"]?.doubleValue)
                c.add("pristine particles split into fragments (share)", calibration["pristine_fragmented_share"]?.doubleValue)
            }
            if case .array(let coefficients)? = growth?["fit"]?["coefficients"] {
                for k in coefficients {
                    c.add("logistic slope per sd of \(k["name"]?.stringValue ?? "?") (p = \(format(k["p_value"]?.doubleValue ?? .nan, digits: 2)))",
                          k["per_standard_deviation"]?.doubleValue)
                }
            }
            if case .array(let bins)? = growth?["size_bins"] {
                let x = bins.map { (($0["lower"]?.doubleValue ?? .nan) + ($0["upper"]?.doubleValue ?? .nan)) / 2 }
                let y = bins.map { $0["cracked"]?["proportion"]?.doubleValue ?? .nan }
                let ci = bins.map { ($0["cracked"]?["lower"]?.doubleValue ?? .nan, $0["cracked"]?["upper"]?.doubleValue ?? .nan) }
                let unit = growth?["size_unit"]?.stringValue ?? "voxel"
                var plot = SVGPlot(title: "Cracking probability vs particle size (last state)", xLabel: "equivalent diameter (\(unit))", yLabel: "fraction cracked")
                plot.series = [.init("cracked fraction, 95 % Wilson interval", kind: .points, x: x, y: y, yInterval: ci)]
                c.figures.append(Figure(name: prefix + "_size.svg", caption: "Share of particles cracked in each size bin with its 95 % Wilson interval.", content: .svg(plot.render())))
            }
            // Damage classes per state, from the track table (one row per track and state).
            if let table = output("tracks").flatMap({ try? String(contentsOfFile: $0 + "/tracks.csv", encoding: .utf8) }) {
                let lines = table.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                if let header = lines.first, let st = header.firstIndex(of: "state"), let cls = header.firstIndex(of: "damage_class") {
                    var counts: [String: [Int: Int]] = [:]
                    var states = Set<Int>()
                    for row in lines.dropFirst() where row.count > Swift.max(st, cls) {
                        guard let state = Int(row[st]), !row[cls].isEmpty else { continue }
                        states.insert(state); counts[row[cls], default: [:]][state, default: 0] += 1
                    }
                    let order = ["least", "mild", "severe"].filter { counts[$0] != nil } + counts.keys.filter { !["least", "mild", "severe"].contains($0) }.sorted()
                    let sortedStates = states.sorted()
                    if !sortedStates.isEmpty {
                        var plot = SVGPlot(title: "Damage classes through cycling", xLabel: "state", yLabel: "particles")
                        plot.xCategories = sortedStates.map { "state \($0)" }
                        plot.series = order.map { name in
                            .init(name, kind: .bars, x: sortedStates.indices.map(Double.init), y: sortedStates.map { Double(counts[name]?[$0] ?? 0) })
                        }
                        c.figures.append(Figure(name: prefix + "_classes.svg", caption: "Tracked particles in each damage class (crack fraction thresholds of the crack analysis) in every state.", content: .svg(plot.render())))
                    }
                    // Crack width through cycling: median and quartiles over the cracked particles of each state.
                    if let w = header.firstIndex(where: { $0.hasPrefix("crack_width_median") }), !sortedStates.isEmpty {
                        var widths: [Int: [Double]] = [:]
                        for row in lines.dropFirst() where row.count > Swift.max(st, w) {
                            if let state = Int(row[st]), let v = Double(row[w]), v.isFinite { widths[state, default: []].append(v) }
                        }
                        func quantile(_ v: [Double], _ q: Double) -> Double {
                            let s = v.sorted(), r = q * Double(s.count - 1), lo = Int(r), hi = Swift.min(lo + 1, s.count - 1)
                            return s[lo] + (r - Double(lo)) * (s[hi] - s[lo])
                        }
                        let present = sortedStates.filter { (widths[$0]?.count ?? 0) >= 3 }
                        if present.count >= 2 {
                            let unit = header[w].contains("[") ? String(header[w].split(separator: "[").last!.dropLast()) : "voxel"
                            var plot = SVGPlot(title: "Crack width through cycling", xLabel: "state", yLabel: "median crack width per particle (\(unit))")
                            plot.series = [.init("median over cracked particles, quartile band", x: present.map(Double.init),
                                                 y: present.map { quantile(widths[$0]!, 0.5) },
                                                 band: present.map { (quantile(widths[$0]!, 0.25), quantile(widths[$0]!, 0.75)) })]
                            c.figures.append(Figure(name: prefix + "_widths.svg", caption: "Per-particle median crack width (local thickness of the crack phase) in each state: median over the cracked particles, with the interquartile band.", content: .svg(plot.render())))
                            for k in present { c.add("crack width, state \(k): median over \(widths[k]!.count) cracked particles", quantile(widths[k]!, 0.5), unit: unit) }
                        }
                    }
                }
            }
            if case .array(let regions)? = growth?["depth_regions"] {
                let y = regions.map { $0["severe"]?["proportion"]?.doubleValue ?? .nan }
                let ci = regions.map { ($0["severe"]?["lower"]?.doubleValue ?? .nan, $0["severe"]?["upper"]?.doubleValue ?? .nan) }
                var plot = SVGPlot(title: "Severely damaged particles by depth (last state)", xLabel: "depth region", yLabel: "fraction severe")
                plot.xCategories = regions.indices.map { "region \($0 + 1)" }
                plot.series = [.init("severe, 95 % Wilson interval", kind: .bars, x: regions.indices.map(Double.init), y: y, yInterval: ci)]
                c.figures.append(Figure(name: prefix + "_depth.svg", caption: "Severe damage class by depth region.", content: .svg(plot.render())))
                for (k, v) in y.enumerated() { c.add("severe fraction, depth region \(k + 1)", v, sigma: (ci[k].1 - ci[k].0) / 2) }
            }
        case "xanes":
            c.add("E0", s["e0_ev"]?.doubleValue, unit: "eV", digits: 6)
            c.add("edge energy, mean over pixels", s["edge_energy_ev"]?["mean"]?.doubleValue, sigma: s["edge_energy_ev"]?["std"]?.doubleValue, unit: "eV", digits: 6)
            c.add("edge energy 1σ per pixel, median", s["edge_energy_sigma_ev"]?["median"]?.doubleValue, unit: "eV")
            c.add("analysed pixels", s["edge_energy_ev"]?["count"]?.doubleValue, digits: 0)
            if case .object(let fractions)? = s["fractions"] {
                for (name, v) in fractions.sorted(by: { $0.key < $1.key }) { c.add("fraction \(name), mean", v["mean"]?.doubleValue, sigma: v["std"]?.doubleValue) }
            }
            if let root = output("maps") {
                if let f = try slice(root + "/edge_energy.tif", colormap: .viridis, valueLabel: "edge energy (eV)") {
                    c.figures.append(Figure(name: prefix + "_edge.png", caption: "Edge energy (half height) per pixel; pixels without enough edge jump are masked.", content: .png(f)))
                }
                if let f = try slice(root + "/fraction_charged.tif", colormap: .magma, window: .range(0, 1), valueLabel: "charged fraction") {
                    c.figures.append(Figure(name: prefix + "_soc.png", caption: "State of charge (charged fraction by linear combination fitting) per pixel.", content: .png(f)))
                }
                // Per particle (with --labels): mean edge energy against size, one colour per
                // class (with --label-classes, e.g. the damage classes of a track step).
                if let table = try? String(contentsOfFile: root + "/labels_edge_energy.csv", encoding: .utf8) {
                    let lines = table.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                    if let header = lines.first, let sz = header.firstIndex(where: { $0.hasPrefix("size") }),
                       let mean = header.firstIndex(where: { $0.hasPrefix("edge_energy_mean") }) {
                        let cls = header.firstIndex(of: "class")
                        var points: [String: [(Double, Double)]] = [:]
                        for row in lines.dropFirst() where row.count == header.count {
                            guard let x = Double(row[sz]), let y = Double(row[mean]), x.isFinite, y.isFinite else { continue }
                            points[cls.map { row[$0].isEmpty ? "no class" : row[$0] } ?? "particles", default: []].append((x, y))
                        }
                        let order = ["least", "mild", "severe"].filter { points[$0] != nil } + points.keys.filter { !["least", "mild", "severe"].contains($0) }.sorted()
                        if points.values.map(\.count).reduce(0, +) >= 3 {
                            let sizeUnit = header[sz].contains("[") ? String(header[sz].split(separator: "[").last!.dropLast()) : "pixels"
                            var plot = SVGPlot(title: "Edge energy per particle" + (cls == nil ? "" : " by class"), xLabel: "particle size (\(sizeUnit))", yLabel: "mean edge energy (eV)")
                            plot.yIncludesZero = false
                            let colours = ["least": "#2ca02c", "mild": "#ff7f0e", "severe": "#d62728"]
                            plot.series = order.map { name in
                                var series = SVGPlot.Series(name, kind: .points, x: points[name]!.map(\.0), y: points[name]!.map(\.1))
                                series.colour = colours[name]
                                return series
                            }
                            c.figures.append(Figure(name: prefix + "_particles.svg",
                                                    caption: "Mean edge energy of each labelled particle against its size" + (cls == nil ? "." : ", coloured by its class (damage classes: least, mild, severe)."),
                                                    content: .svg(plot.render())))
                        }
                    }
                }
                if let reader = try? VolumeIO.open(root + "/edge_energy.tif") {
                    // Two passes over slabs (range, then counts): a 3D map need not fit in memory.
                    let extent = reader.info.shape[0], step = Swift.max(1, reader.slabThickness(targetBytes: 64 << 20))
                    func eachSlab(_ body: ([Float]) -> Void) throws {
                        var z = 0
                        while z < extent { body(try reader.readSlab(z..<Swift.min(extent, z + step)).float32().elements); z += step }
                    }
                    var lo = Double.infinity, hi = -Double.infinity
                    try eachSlab { for v in $0 where v.isFinite { lo = Swift.min(lo, Double(v)); hi = Swift.max(hi, Double(v)) } }
                    if lo.isFinite, hi > lo {
                        let bins = 30, w = (hi - lo) / Double(bins)
                        var counts = [Double](repeating: 0, count: bins)
                        try eachSlab { for v in $0 where v.isFinite { counts[Swift.min(bins - 1, Int((Double(v) - lo) / w))] += 1 } }
                        var plot = SVGPlot(title: "Edge energies of analysed pixels", xLabel: "edge energy (eV)", yLabel: "pixels")
                        plot.series = [.init("", kind: .bars, x: (0..<bins).map { lo + (Double($0) + 0.5) * w }, y: counts)]
                        c.figures.append(Figure(name: prefix + "_edge_hist.svg", caption: "Histogram of per-pixel edge energies.", content: .svg(plot.render())))
                    }
                }
            }
        case "compton correlate":
            var series = [SVGPlot.Series]()
            if case .array(let regions)? = s["regions"] {
                for r in regions {
                    let k = Int(r["region"]?.doubleValue ?? Double(series.count + 1))
                    c.add("Pearson r, Li vs porosity, region \(k)", r["pearson_r"]?.doubleValue)
                    c.add("slope d(1 − x)/dε, region \(k)", r["slope"]?.doubleValue)
                    c.add("registration shift, region \(k)", r["shift_px"]?[0]?.doubleValue.flatMap { a in r["shift_px"]?[1]?.doubleValue.map { (a * a + $0 * $0).squareRoot() } }, unit: "Compton pixel")
                    c.add("pixels compared, region \(k)", r["pixels"]?.doubleValue, digits: 0)
                    // The pixel pairs, for the scatter plot.
                    if let root = output("maps"), let pairs = try? NumericColumns.read(root + "/region_\(k)_pairs.csv"),
                       let p = pairs.names.firstIndex(of: "porosity"), let l = pairs.names.firstIndex(of: "lithium"), !pairs.columns[p].isEmpty {
                        series.append(.init("region \(k)", kind: .points, x: pairs.columns[p], y: pairs.columns[l]))
                    }
                }
            }
            if !series.isEmpty {
                var plot = SVGPlot(title: "Compton Li stoichiometry against CT porosity, pixel by pixel", xLabel: "porosity of the CT column (registered)", yLabel: "1 − x")
                plot.yIncludesZero = false
                plot.series = series
                c.figures.append(Figure(name: prefix + "_pairs.svg", caption: "Each Compton pixel's 1 − x against the porosity of the CT projected onto it, per depth region.", content: .svg(plot.render())))
            }
        case "compton analyze":
            var x: [Double] = [], y: [Double] = [], ci: [(Double, Double)] = []
            if case .array(let regions)? = s["regions"] {
                for r in regions {
                    let k = r["region"]?.doubleValue ?? Double(x.count + 1)
                    let li = r["lithium"]?.doubleValue ?? .nan, sigma = r["lithium_sigma"]?.doubleValue ?? .nan
                    c.add("Li stoichiometry 1 − x, region \(Int(k))", li, sigma: sigma)
                    c.add("S parameter, region \(Int(k))", r["s"]?.doubleValue, sigma: r["s_sigma"]?.doubleValue)
                    x.append(k); y.append(li); ci.append((li - sigma, li + sigma))
                }
            }
            // The Li maps of the regions on one colour scale, so that regions compare by colour.
            if let root = output("maps") {
                let maps = x.map { root + "/region_\(Int($0))_lithium.tif" }.filter { FileManager.default.fileExists(atPath: $0) }
                let values = try maps.map { try VolumeIO.open($0).readAll().float32().elements.filter { $0.isFinite } }.flatMap { $0 }
                if let lo = values.min(), let hi = values.max(), hi > lo {
                    for (k, path) in maps.enumerated() {
                        if let f = try slice(path, colormap: .viridis, window: .range(Double(lo), Double(hi)), valueLabel: "Li 1 − x") {
                            c.figures.append(Figure(name: prefix + "_region_\(k + 1).png", caption: "Li stoichiometry map of depth region \(Int(x[k])) (Compton pixels; scale bar in pixels, their size at the sample is not part of the analysis); pixels without enough counts are masked.", content: .png(f)))
                        }
                    }
                }
            }
            var plot = SVGPlot(title: "Lithium stoichiometry by depth region (Compton S parameter)", xLabel: "depth region", yLabel: "1 − x (±1σ)")
            plot.series = [.init("1 − x", x: x, y: y, yInterval: ci)]
            c.figures.append(Figure(name: prefix + "_lithium.svg", caption: "Li stoichiometry from the Compton S parameter per depth region, ±1σ.", content: .svg(plot.render())))
        case "diffraction integrate":
            c.add("frames", s["frames"]?.doubleValue, digits: 0)
            c.add("2θ bins", s["bins"]?.doubleValue, digits: 0)
            if case .array(let r)? = s["two_theta_range_degrees"], r.count == 2 {
                c.add("2θ range", text: String(format: "%.3f … %.3f°", r[0].doubleValue ?? .nan, r[1].doubleValue ?? .nan))
            }
            c.add("sample–detector distance", s["geometry"]?["distance_metres"]?.doubleValue.map { $0 * 1000 }, unit: "mm")
            c.add("masked pixels", s["masked_pixels"]?.doubleValue, digits: 0)
            c.add("polarization factor", s["polarization_factor"]?.doubleValue)
            if let frames = s["file"]?.stringValue, let f = try slice(frames, colormap: .viridis, valueLabel: "counts") {
                c.figures.append(Figure(name: prefix + "_frame.png", caption: "The middle detector frame: Debye–Scherrer rings (scale bar in detector pixels).", content: .png(f)))
            }
        case "diffraction series":
            if case .array(let phases)? = s["phases"] {
                for p in phases {
                    let name = p["name"]?.stringValue ?? "phase"
                    if case .array(let f)? = p["fraction_range"], f.count == 2 {
                        c.add("\(name): fraction range", text: String(format: "%.3f … %.3f", f[0].doubleValue ?? .nan, f[1].doubleValue ?? .nan))
                    }
                    if case .object(let ranges)? = p["lattice_range_angstrom"] {
                        for (parameter, range) in ranges.sorted(by: { $0.key < $1.key }) {
                            c.add("\(name): \(parameter) range", text: String(format: "%.4f … %.4f Å", range[0]?.doubleValue ?? .nan, range[1]?.doubleValue ?? .nan))
                        }
                    }
                    c.add("\(name): patterns with a refined lattice", p["patterns_refined"]?.doubleValue, digits: 0)
                }
            }
            c.add("patterns", s["patterns"]?.doubleValue, digits: 0)
            c.add("wavelength", s["wavelength_angstrom"]?.doubleValue, unit: "Å", digits: 5)
            if case .array(let r)? = s["weighted_profile_r_range"], r.count == 2 {
                c.add("weighted-profile R", text: String(format: "%.3f … %.3f", r[0].doubleValue ?? .nan, r[1].doubleValue ?? .nan))
            }
            let captions = ["heatmap": "The series as a heat map (2θ across, one row per pattern) beside the cell voltage of each pattern.",
                            "fractions": "Phase fractions per pattern from the refined scale factors, ±1σ propagated from the fitted peak areas.",
                            "lattice": "Refined lattice parameter of each phase per pattern, ±1σ (only where the phase makes up enough of the pattern to refine)."]
            for key in ["heatmap", "fractions", "lattice"] {
                if let root = output("results"), let text = try? String(contentsOfFile: root + "/\(key).svg", encoding: .utf8) {
                    c.figures.append(Figure(name: prefix + "_\(key).svg", caption: captions[key]!, content: .svg(text)))
                }
            }
        case "diffraction calibrate":
            let cal = s["calibration"]
            c.add("zero shift", cal?["zero_shift_degrees"]?.doubleValue, sigma: cal?["zero_shift_error_degrees"]?.doubleValue, unit: "°")
            c.add("wavelength", cal?["wavelength_angstrom"]?.doubleValue, sigma: cal?["wavelength_error_angstrom"]?.doubleValue, unit: "Å", digits: 7)
            c.add("RMS residual", cal?["rms_residual_degrees"]?.doubleValue, unit: "°")
            if case .array(let lines)? = cal?["lines"] { c.add("reflections fitted", Double(lines.count), digits: 0) }
            if let root = output("results"), let text = try? String(contentsOfFile: root + "/residuals.svg", encoding: .utf8) {
                c.figures.append(Figure(name: prefix + "_residuals.svg", caption: "Fitted minus calibrated 2θ of each reflection of the standard, ±1σ.", content: .svg(text)))
            }
        case "impedance":
            c.numbers += scalars(s)
            if let csv = output("spectrum"), let table = try? String(contentsOfFile: csv, encoding: .utf8) {
                let lines = table.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
                if let header = lines.first, let re = header.firstIndex(where: { $0.lowercased().contains("real") }),
                   let im = header.firstIndex(where: { $0.lowercased().contains("imag") }) {
                    let rows = lines.dropFirst().compactMap { r -> (Double, Double)? in
                        guard r.count > Swift.max(re, im), let a = Double(r[re]), let b = Double(r[im]) else { return nil }
                        return (a, -b)
                    }
                    var plot = SVGPlot(title: "Nyquist plot", xLabel: "Re Z̃ (normalized impedance Z·A·D/L)", yLabel: "−Im Z̃")
                    plot.equalAspect = true
                    plot.series = [.init("", x: rows.map(\.0), y: rows.map(\.1))]
                    c.figures.append(Figure(name: prefix + "_nyquist.svg", caption: "Impedance of the pore network (transmission-line model of the segmented electrode).", content: .svg(plot.render())))
                }
            }
        default:
            c.numbers += scalars(s)
        }
        return c
    }

    /// Porosity maps of each depth region along z: per (y, x) column, the void voxels over the
    /// electrode voxels through the region's slices (void and outside codes from the porosity
    /// summary); columns without electrode are masked. Read in slabs of 16 slices. One colour
    /// scale for all regions, so that they compare by colour (as beside Compton's Li maps).
    static func porosityMaps(labels: String, summary s: JSONValue, prefix: String) throws -> [Figure] {
        guard case .array(let regions)? = s["regions"], case .array(let poreCodes)? = s["pore_codes"] else { return [] }
        let pore = Set(poreCodes.compactMap { $0.doubleValue.map { Int($0) } })
        let outside: Set<Int> = { if case .array(let o)? = s["outside_codes"] { return Set(o.compactMap { $0.doubleValue.map { Int($0) } }) }; return [] }()
        let reader = try VolumeIO.open(labels)
        let shape = reader.info.shape
        guard shape.rank == 3 else { return [] }
        let plane = shape[1] * shape[2]
        var maps: [(Int, Int, Grid<Float>)] = []
        for r in regions {
            guard let a = r["start"]?.doubleValue.map({ Int($0) }), let b = r["end"]?.doubleValue.map({ Int($0) }), a >= 0, b <= shape[0], a < b else { continue }
            var voids = [Int](repeating: 0, count: plane), electrode = [Int](repeating: 0, count: plane)
            var z = a
            while z < b {
                let slab = try reader.readSlab(z..<Swift.min(b, z + 16)).float32().elements
                for (i, v) in slab.enumerated() {
                    // Labels were checked by the porosity step; a value that is no code counts as neither.
                    guard v.isFinite, abs(v) <= Float(Int32.max) else { continue }
                    let code = Int(v)
                    if outside.contains(code) { continue }
                    electrode[i % plane] += 1
                    if pore.contains(code) { voids[i % plane] += 1 }
                }
                z += 16
            }
            let map = Grid<Float>(shape: Shape(shape[1], shape[2]), geometry: reader.info.geometry.sliceGeometry,
                                  elements: (0..<plane).map { electrode[$0] > 0 ? Float(voids[$0]) / Float(electrode[$0]) : .nan })
            maps.append((a, b, map))
        }
        let g = reader.info.geometry
        let square = g.isCalibrated && Set(g.voxelSizeMicrometres.suffix(2)).count == 1
        var figures: [Figure] = []
        for (k, (a, b, map)) in maps.enumerated() {
            let style = SliceFigureStyle(mode: .continuous(.viridis, .range(0, 1)), pixelSizeMicrometres: square ? g.voxelSizeMicrometres.last : nil,
                                         valueLabel: "porosity")
            figures.append(Figure(name: prefix + "_map_\(k + 1).png", caption: "Porosity map of depth region \(k + 1) (slices \(a)–\(b)): void over electrode voxels through the region.",
                                  content: .png(try SliceFigure.render(map, style: style))))
        }
        return figures
    }

    /// The number of elements of an array value.
    static func arrayCount(_ v: JSONValue?) -> Double? { if case .array(let a)? = v { return Double(a.count) }; return nil }

    /// The scalar numbers and strings of a summary, one level of nesting deep (keys joined by
    /// "."), provenance left out.
    static func scalars(_ s: JSONValue) -> [ReportSummary.Number] {
        guard case .object(let o) = s else { return [] }
        var out: [ReportSummary.Number] = []
        for (key, value) in o.sorted(by: { $0.key < $1.key }) where key != "provenance" && key != "label_scheme" {
            switch value {
            case .number(let n): out.append(.init(name: key, text: format(n, digits: 4), number: n, sigma: nil, unit: nil))
            case .string(let t) where t.count < 120 && !t.hasPrefix("/"): out.append(.init(name: key, text: t, number: nil, sigma: nil, unit: nil))
            case .bool(let b): out.append(.init(name: key, text: b ? "yes" : "no", number: nil, sigma: nil, unit: nil))
            case .object(let inner):
                for (k, v) in inner.sorted(by: { $0.key < $1.key }) {
                    if case .number(let n) = v { out.append(.init(name: key + "." + k, text: format(n, digits: 4), number: n, sigma: nil, unit: nil)) }
                }
            default: break
            }
        }
        return Array(out.prefix(40))
    }

    /// The number histogram (with each bin's bootstrap interval when the summary has it) and the
    /// volume-weighted line of a ``SizeDistribution`` summary; nil when its bins are missing.
    static func sizeDistributionPlot(_ d: JSONValue, title: String, unit: String) -> SVGPlot? {
        guard case .array(let edges)? = d["bin_edges"], case .array(let fractions)? = d["number_fractions"] else { return nil }
        let e = edges.compactMap(\.doubleValue), f = fractions.compactMap(\.doubleValue)
        guard e.count == f.count + 1, !f.isEmpty else { return nil }
        var plot = SVGPlot(title: title, xLabel: "equivalent diameter (\(unit))", yLabel: "number fraction")
        var intervals: [(Double, Double)]?
        if case .array(let list)? = d["number_fraction_intervals"] {
            let pairs = list.compactMap { p -> (Double, Double)? in
                guard let lo = p[0]?.doubleValue, let hi = p[1]?.doubleValue else { return nil }
                return (lo, hi)
            }
            if pairs.count == f.count { intervals = pairs }
        }
        let centres = zip(e, e.dropFirst()).map { ($0 + $1) / 2 }
        plot.series = [.init(intervals == nil ? "number" : "number (95 % bootstrap interval)", kind: .bars, x: centres, y: f, yInterval: intervals)]
        if case .array(let vf)? = d["volume_fractions"] {
            plot.series.append(.init("volume", kind: .lineAndPoints, x: centres, y: vf.compactMap(\.doubleValue)))
        }
        return plot
    }

    /// The middle z slice of a volume as a figure (nil when the file is not there or not 3D/2D).
    /// Label volumes (`categorical`) take phase names from their scheme when `named`.
    static func slice(_ path: String, categorical: Bool = false, named: Bool = true, colormap: Colormap = .grey,
                      window: DisplayWindow = .automatic, valueLabel: String = "value", zeroIsMasked: Bool = false,
                      overlay: (path: String, name: String)? = nil) throws -> SliceFigure? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let reader = try VolumeIO.open(path)
        let shape = reader.info.shape
        guard shape.rank == 2 || shape.rank == 3, shape.count > 0 else { return nil }
        let plane: Grid<Float> = shape.rank == 3 ? try SliceExtraction.extract(reader, axis: .z, index: shape[0] / 2)
                                                 : try reader.readAll().float32()
        let geometry = reader.info.geometry
        let edge = geometry.isCalibrated ? geometry.voxelSizeMicrometres.last : nil
        let square = geometry.isCalibrated && Set(geometry.voxelSizeMicrometres.suffix(2)).count == 1
        var style: SliceFigureStyle
        if categorical {
            var names: [Int: String]?
            if named, let scheme = try? LabelSchemeFile.read(forVolume: path) {
                names = Dictionary(scheme.phases.map { ($0.code, $0.name) }, uniquingKeysWith: { a, _ in a })
            }
            style = SliceFigureStyle(mode: .categorical(names: names), pixelSizeMicrometres: square ? edge : nil)
        } else {
            // Without a label of its own, the colour bar names the file's units when it has them.
            let label = valueLabel == "value" ? reader.info.metadata["units"].map { "value (\($0.replacingOccurrences(of: "um", with: "µm")))" } ?? valueLabel : valueLabel
            style = SliceFigureStyle(mode: .continuous(colormap, window), pixelSizeMicrometres: square ? edge : nil, valueLabel: label)
            if zeroIsMasked { style.mask = Grid(shape: plane.shape, elements: plane.elements.map { $0 == 0 ? 1 : 0 }) }
        }
        // A mask on the same grid (e.g. the layers found) drawn over the same slice.
        if let overlay, FileManager.default.fileExists(atPath: overlay.path) {
            let other = try VolumeIO.open(overlay.path)
            if other.info.shape == shape {
                let mask: Grid<Float> = shape.rank == 3 ? try SliceExtraction.extract(other, axis: .z, index: shape[0] / 2) : try other.readAll().float32()
                style.overlays = [SliceOverlay(mask: Grid(shape: mask.shape, elements: mask.elements.map { $0 != 0 && $0.isFinite ? 1 : 0 }),
                                               colour: RGB(255, 40, 40), name: overlay.name, opacity: 0.45)]
            }
        }
        return try SliceFigure.render(plane, style: style)
    }

    static func format(_ v: Double, digits: Int) -> String {
        guard v.isFinite else { return "n/a" }
        if digits == 0 { return String(Int(v.rounded())) }
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e6) { return String(format: "%.\(Swift.max(1, digits - 1))e", v) }
        return String(format: "%.\(digits)g", v)
    }
}

extension StudyReport.SectionContent {
    /// Adds a text row when `value` is there.
    mutating func add(text value: String?, _ name: String) { if let value { add(name, text: value) } }
}
