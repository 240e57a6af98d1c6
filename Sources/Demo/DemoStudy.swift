import Foundation
import LensCore
import LensIO
import Reporting
import Signal

/// `batterylens demo`: the whole study on built-in phantoms, written as a recipe that a
/// scientist can copy and edit, run by `batterylens run`, scored against the phantoms' truth
/// and reported. The chain: an electrode through five cycling states (Tomo 00–04) → a full
/// 180° scan with ring defects and an offset axis → FBP with automatic centre and ring removal
/// → a 135° limited-angle scan with projection drift → alignment and TV reconstruction → a
/// cone-beam scan over 360° reconstructed by FDK → a phase-contrast scan reconstructed after
/// Paganin phase retrieval → three-phase segmentation → porosity by depth, tortuosity per axis and depth region (and the
/// same solver on the true labels), the representative volume, particles with bootstrap size
/// intervals, local thickness, the pore network, the electrode tortuosity and the impedance →
/// cracks, damage classes and particle tracking through the states → a TXM-XANES stack of
/// particles with known state of charge → Compton events for three depth regions, correlated
/// pixel by pixel with the segmented CT → operando diffraction frames integrated azimuthally and
/// refined pattern by pattern (phase fractions, lattices) → the report.
public enum DemoStudy {
    /// `small` (a 64³ electrode, ~90 particles) finishes in about half a minute on 2 cores;
    /// `default` (128³, ~830 particles) in about a minute and a half.
    public enum Size: String, CaseIterable, Sendable {
        case small, `default`
        var electrodeVoxels: Int { self == .small ? 64 : 128 }
        var projections: Int { self == .small ? 120 : 240 }
        var limitedProjections: Int { self == .small ? 61 : 121 }
        var tvIterations: Int { self == .small ? 20 : 40 }
        var coneProjections: Int { self == .small ? 180 : 240 }
        var comptonEvents: Int { self == .small ? 2_000_000 : 4_000_000 }
        var diffractionPatterns: Int { self == .small ? 24 : 60 }
        var diffractionDetector: Int { self == .small ? 256 : 512 }
        var cellSlices: Int { self == .small ? 4 : 8 }
    }

    /// The file `demo` writes beside its recipe: what marks a folder as the demo's (so that
    /// `report` scores it against the phantoms, and a rerun may resume there).
    public static let markerFile = "demo.json"

    /// The recipe (YAML), with comments saying what each step is for.
    public static func recipe(size: Size) -> String {
        let n = size.electrodeVoxels
        let detector = n * 3 / 2, margin = (detector - n) / 2
        // The cone-beam detector also covers the magnified near side of the sample.
        let (coneColumns, coneRows) = (n * 7 / 4, n * 5 / 4)
        let coneSourceMillimetres = Double(n) / 256
        let (zMargin, xyMargin) = ((coneRows - n) / 2, (coneColumns - n) / 2)
        // 16 × 16 Compton pixels over the electrode's width.
        let comptonPixel = Double(n) * 0.5 / 16
        let coneCrop = "\(zMargin):\(zMargin + n),\(xyMargin):\(xyMargin + n),\(xyMargin):\(xyMargin + n)"
        return """
        # BatteryLens demo study (\(size.rawValue)): every number it measures is scored against the
        # phantoms' design in the report. Copy this file and point the inputs at your own data.
        # Run: batterylens run recipe.yaml   (report: batterylens report .)
        study: batterylens-demo
        output: .
        variables:
          size: \(n)
          detector: \(detector)
          crop: "\(":,\(margin):\(margin + n),\(margin):\(margin + n)")"
        steps:
          # An NMC electrode (0.5 µm voxels, z = depth) through five cycling states; particle ids
          # stay the same across states, cracks open and grow.
          - name: series
            workflow: phantom series
            settings: {size: "${size}", seed: 7}
          # A 180° parallel-beam scan of the pristine state: photon noise, miscalibrated pixels
          # (rings), the rotation axis 3.5 pixels off the detector centre. The detector is wider
          # than the electrode so that the whole sample stays in view.
          - name: scan
            workflow: phantom projections
            inputs: {volume: {from: series.state_0_attenuation}}
            settings: {angles: \(size.projections), columns: "${detector}", rings: 0.01, offset: 3.5, photons: 20000, seed: 2}
          - name: recon
            workflow: recon
            inputs: {scan: {from: scan.scan}}
            settings: {rings: sort}
          # Back to the electrode's own grid, so that segmentation and truth share voxels.
          - name: electrode
            workflow: convert
            inputs: {volume: {from: recon.volume}}
            settings: {crop: "${crop}"}
          # Lab nano-CT of the charged state: 135° (−67.5°…+67.5°) with projection drift,
          # aligned by reprojection and reconstructed by total variation.
          - name: scan_limited
            workflow: phantom projections
            inputs: {volume: {from: series.state_1_attenuation}}
            settings: {angles: \(size.limitedProjections), range-deg: 135, start-deg: -67.5, columns: "${detector}", jitter: 0.5, photons: 20000, seed: 3}
          - name: recon_tv
            workflow: recon
            inputs: {scan: {from: scan_limited.scan}}
            settings: {algorithm: tv, iterations: \(size.tvIterations), align: reprojection}
          - name: electrode_tv
            workflow: convert
            inputs: {volume: {from: recon_tv.volume}}
            settings: {crop: "${crop}"}
          # Lab micro-CT of the first discharge: a circular cone-beam scan over 360° (source
          # \(coneSourceMillimetres) mm from the axis, magnification 10, a ~7° half fan angle; the file records the
          # distances), reconstructed by FDK with the centre found from the mid-plane.
          - name: scan_cone
            workflow: phantom projections
            inputs: {volume: {from: series.state_2_attenuation}}
            settings: {angles: \(size.coneProjections), range-deg: 360, cone: "\(coneSourceMillimetres):\(coneSourceMillimetres * 10)", columns: \(coneColumns), rows: \(coneRows), offset: 2.5, photons: 20000, seed: 4}
          - name: recon_cone
            workflow: recon
            inputs: {scan: {from: scan_cone.scan}}
          - name: electrode_cone
            workflow: convert
            inputs: {volume: {from: recon_cone.volume}}
            settings: {crop: "\(coneCrop)"}
          # Synchrotron phase-contrast tomography after 5 cycles: 1 mm of free-space propagation
          # at 20 keV (δ/β 50) adds edge fringes; single-distance Paganin phase retrieval removes
          # them before FBP.
          - name: scan_phase
            workflow: phantom projections
            inputs: {volume: {from: series.state_3_attenuation}}
            settings: {angles: \(size.projections), columns: "${detector}", offset: 3.5, photons: 20000, distance-mm: 1, delta-beta: 50, energy-kev: 20, seed: 6}
          - name: recon_phase
            workflow: recon
            inputs: {scan: {from: scan_phase.scan}}
            settings: {phase: paganin, distance-mm: 1, delta-beta: 50, energy-kev: 20}
          - name: electrode_phase
            workflow: convert
            inputs: {volume: {from: recon_phase.volume}}
            settings: {crop: "${crop}"}
          # Holotomography of the same state: the 1 mm recording and three more at 2, 4 and 8 mm,
          # combined by the contrast transfer functions of all four distances and refined against
          # the Fresnel model. (With δ/β 50 the phase reaches several radians here, where the
          # CTF's linearization stops helping: expect Paganin's quality, not better.)
          - name: scan_holo_2
            workflow: phantom projections
            inputs: {volume: {from: series.state_3_attenuation}}
            settings: {angles: \(size.projections), columns: "${detector}", offset: 3.5, photons: 20000, distance-mm: 2, delta-beta: 50, energy-kev: 20, seed: 6}
          - name: scan_holo_4
            workflow: phantom projections
            inputs: {volume: {from: series.state_3_attenuation}}
            settings: {angles: \(size.projections), columns: "${detector}", offset: 3.5, photons: 20000, distance-mm: 4, delta-beta: 50, energy-kev: 20, seed: 6}
          - name: scan_holo_8
            workflow: phantom projections
            inputs: {volume: {from: series.state_3_attenuation}}
            settings: {angles: \(size.projections), columns: "${detector}", offset: 3.5, photons: 20000, distance-mm: 8, delta-beta: 50, energy-kev: 20, seed: 6}
          - name: recon_holo
            workflow: recon
            inputs: {scan: {from: scan_phase.scan}, holo_scans: [{from: scan_holo_2.scan}, {from: scan_holo_4.scan}, {from: scan_holo_8.scan}]}
            settings: {phase: ctf, distance-mm: "1,2,4,8", delta-beta: 50, energy-kev: 20, ctf-iterations: 3}
          - name: electrode_holo
            workflow: convert
            inputs: {volume: {from: recon_holo.volume}}
            settings: {crop: "${crop}"}
          # Dark and bright phases by Otsu in the whole cropped volume. At 20 keV the carbon–binder
          # absorbs like the pore space (μ 7·10⁻⁵ vs 8·10⁻⁵ per µm), so absorption CT sees
          # "pore + carbon–binder" as one phase: two classes, and the truth is scored the same way.
          - name: segment
            workflow: segment phases
            inputs: {volume: {from: electrode.volume}}
            settings: {region: all, classes: 2}
          - name: porosity
            workflow: porosity
            inputs: {labels: {from: segment.labels}}
            settings: {regions: 3}
          - name: tortuosity
            workflow: tortuosity
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore, depth-regions: 3}
          # The same solver on the phantom's true phases (pore, carbon–binder and cracks: what the
          # segmentation calls pore): the truth for the measured τ.
          - name: tortuosity_truth
            workflow: tortuosity
            inputs: {labels: {from: series.state_0_phases}}
            settings: {phase: "pore,carbon-binder,crack", axis: z}
          - name: particles
            workflow: particles
            inputs: {labels: {from: segment.labels}}
            settings: {phase: solid}
          - name: thickness
            workflow: thickness
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore}
          # The pore space as pores joined by throats (SNOW, as PoreSpy's snow2), and the electrode
          # tortuosity with the pore/solid interface as a double layer (TauFactor's ElectrodeSolver).
          # How large a sub-volume must be for its porosity to stand for the electrode (REV).
          - name: rev
            workflow: rev
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore}
          - name: network
            workflow: network
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore}
          - name: tortuosity_electrode
            workflow: tortuosity
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore, axis: z, electrode: true}
          # The pore network's impedance (frequency-domain diffusion through the segmented pores,
          # fixed outlet): its Nyquist plot and transmission-line fit; at ω̃ → 0 it is the
          # steady-state resistance τ/ε.
          - name: impedance
            workflow: impedance
            inputs: {labels: {from: segment.labels}}
            settings: {phase: pore, axis: z, outlet: fixed, from: 0.01, to: 100, count: 16}
          # Cracks judged in every state and joined to particle tracks (registration between
          # states, damage classes, cracking vs size and depth).
          - name: track
            workflow: track
            inputs:
              states: [{from: series.state_0_attenuation}, {from: series.state_1_attenuation}, {from: series.state_2_attenuation}, {from: series.state_3_attenuation}, {from: series.state_4_attenuation}]
              labels: [{from: series.state_0_particles}, {from: series.state_1_particles}, {from: series.state_2_particles}, {from: series.state_3_particles}, {from: series.state_4_particles}]
            settings: {cracks: true}
          # TXM-XANES at the Ni K edge of the same electrode after 30 cycles, charged: a map of
          # its middle slice, each particle charged according to its true damage (cracked
          # particles lag: least 0.85, mild 0.65, severe 0.45), photon noise. The analysis takes the
          # particle labels and the damage classes the track step measured, so edge energy and
          # state of charge come out per particle and per damage class.
          - name: xanes_phantom
            workflow: phantom xanes
            inputs: {particles: {from: series.state_4_particles}, particles_truth: {from: series.state_4_truth}}
            settings: {photons: 100000, seed: 5}
          - name: xanes
            workflow: xanes
            inputs: {stack: {from: xanes_phantom.stack}, references: {from: xanes_phantom.references},
                     labels: {from: xanes_phantom.labels}, label_classes: {from: track.classes}}
          # Full-field Compton imaging of the pristine electrode's three depth regions on a 16 × 16
          # pixel grid: Li stoichiometry 0.15, 0.10, 0.06 per region, and within each region rising
          # with the local porosity of the true (dark) phases by 0.1 per unit porosity. The maps are
          # analysed, then correlated pixel by pixel with the segmented CT.
          - name: compton_phantom
            workflow: phantom compton
            inputs: {ct: {from: series.state_0_phases}}
            settings: {events: \(size.comptonEvents), compton-pixel-um: \(comptonPixel), lithium: "0.15,0.10,0.06", lithium-slope: 0.1, pore: "pore,carbon-binder,crack"}
          - name: spectra_1
            workflow: compton spectra
            inputs: {events: {from: compton_phantom.region_1}}
            settings: {rows: 16, columns: 16}
          - name: spectra_2
            workflow: compton spectra
            inputs: {events: {from: compton_phantom.region_2}}
            settings: {rows: 16, columns: 16}
          - name: spectra_3
            workflow: compton spectra
            inputs: {events: {from: compton_phantom.region_3}}
            settings: {rows: 16, columns: 16}
          - name: lithium
            workflow: compton analyze
            inputs: {cubes: [{from: spectra_1.cube}, {from: spectra_2.cube}, {from: spectra_3.cube}]}
            settings: {slope: 2.303, intercept: 0.6497, attenuation: "1.015,1.010,1.005"}
          - name: compton_ct
            workflow: compton correlate
            inputs: {ct: {from: segment.labels}, compton: {from: lithium.maps}}
            settings: {compton-pixel-um: \(comptonPixel)}
          # Lab cone-beam CT of a whole cylindrical cell (10 µm voxels at the axis; source 40 mm
          # from the axis, magnification 10, 360°): a cell whose axis leans by 0.1 voxel per slice,
          # with the two inner turns buckled over 40° (a collapsing core), reconstructed by FDK and
          # inspected slice by slice: the can, the axis tilt, the winding's turns, pitch and layer
          # thickness, and where the winding is irregular.
          - name: cell_phantom
            workflow: phantom cell
            settings: {slices: \(size.cellSlices), buckle: 8, drift: 0.1, seed: 12}
          - name: scan_cell
            workflow: phantom projections
            inputs: {volume: {from: cell_phantom.cell}}
            settings: {angles: 360, range-deg: 360, cone: "40:400", columns: 420, rows: \(size.cellSlices), photons: 20000, seed: 4}
          - name: recon_cell
            workflow: recon
            inputs: {scan: {from: scan_cell.scan}}
          - name: cell
            workflow: cell
            inputs: {volume: {from: recon_cell.volume}}
          # Operando diffraction through the first charge (59.8 keV): the layered oxide's Li-rich
          # phase gives way to a Li-poor one while both lattices drift. The area detector's frames
          # are integrated azimuthally (solid angle and polarization corrected), then every
          # pattern is refined whole against the two phases' starting cells.
          - name: xrd_phantom
            workflow: phantom xrd
            settings: {patterns: \(size.diffractionPatterns), detector: \(size.diffractionDetector)}
          - name: xrd_integrate
            workflow: diffraction integrate
            inputs: {frames: {from: xrd_phantom.frames}, poni: {from: xrd_phantom.poni}}
            settings: {polarization: 0.95, bins: \(size.diffractionDetector * 4)}
          - name: xrd
            workflow: diffraction series
            inputs: {series: {from: xrd_integrate.series}, phases: {from: xrd_phantom.phases}}

        """
    }

    /// Scores the demo study in `folder` against the phantoms' truth: one row per headline
    /// number, with the tolerance of the issue that built the method. A step whose outputs are
    /// missing is an error (the study did not finish).
    public static func truthChecks(studyFolder folder: String) throws -> [TruthCheck] {
        func json(_ path: String) throws -> JSONValue { try JSONOutput.read(JSONValue.self, from: folder + "/" + path) }
        func volume(_ path: String) throws -> Grid<Float> { try VolumeIO.open(folder + "/" + path).readAll().float32() }
        func number(_ value: JSONValue?, _ what: String) throws -> Double {
            guard let v = value?.doubleValue else { throw LensError.badInput(file: folder, problem: "the demo study has no \(what)") }
            return v
        }
        var checks: [TruthCheck] = []
        let state0 = try json("series/series/state_0/truth.json")["truth"]
        let state4 = try json("series/series/state_4/truth.json")["truth"]

        // Reconstruction.
        let scan = try json("scan/summary.json")["scan"]
        checks.append(TruthCheck(quantity: "rotation centre (column)", step: "recon",
                                 measured: try number(try json("recon/summary.json")["centre_column"], "reconstruction centre"),
                                 truth: try number(scan?["rotation_axis_column"], "scan axis"), tolerance: 0.5, unit: "pixel",
                                 note: "the scan's axis; half a pixel keeps FBP arcs below the resolution"))
        let truth0 = try volume("series/series/state_0/attenuation.tif"), truth1 = try volume("series/series/state_1/attenuation.tif")
        checks.append(TruthCheck(quantity: "FBP vs phantom, Pearson r", step: "recon",
                                 measured: pearson(try volume("electrode/volume.tif"), truth0), truth: 1, tolerance: 0.08, unit: "",
                                 note: "phantom attenuation; 2·10⁴ photons per pixel leave r ≈ 0.96"))
        checks.append(TruthCheck(quantity: "TV, 135° limited angle, Pearson r", step: "recon_tv",
                                 measured: pearson(try volume("electrode_tv/volume.tif"), truth1), truth: 1, tolerance: 0.15, unit: "",
                                 note: "charged-state attenuation; the 45° missing wedge and drift cost more than noise"))
        let coneScan = try json("scan_cone/summary.json")["scan"]
        checks.append(TruthCheck(quantity: "cone-beam rotation centre (column)", step: "recon_cone",
                                 measured: try number(try json("recon_cone/summary.json")["centre_column"], "cone-beam reconstruction centre"),
                                 truth: try number(coneScan?["rotation_axis_column"], "cone-beam scan axis"), tolerance: 0.5, unit: "pixel",
                                 note: "the scan's axis, found from the mid-plane's conjugate rays"))
        checks.append(TruthCheck(quantity: "FDK cone beam vs phantom, Pearson r", step: "recon_cone",
                                 measured: pearson(try volume("electrode_cone/volume.tif"), try volume("series/series/state_2/attenuation.tif")),
                                 truth: 1, tolerance: 0.08, unit: "",
                                 note: "first-discharge attenuation; the same photon budget as the parallel scan"))
        checks.append(TruthCheck(quantity: "phase contrast, Paganin + FBP vs phantom, Pearson r", step: "recon_phase",
                                 measured: pearson(try volume("electrode_phase/volume.tif"), try volume("series/series/state_3/attenuation.tif")),
                                 truth: 1, tolerance: 0.08, unit: "",
                                 note: "5-cycle attenuation; without phase retrieval the fringes leave r ≈ 0.87"))
        checks.append(TruthCheck(quantity: "holotomography, 4 distances (CTF, refined) + FBP vs phantom, Pearson r", step: "recon_holo",
                                 measured: pearson(try volume("electrode_holo/volume.tif"), try volume("series/series/state_3/attenuation.tif")),
                                 truth: 1, tolerance: 0.08, unit: "",
                                 note: "the same state at 1, 2, 4 and 8 mm; with phase shifts of several radians the CTF's linearization no longer helps, so Paganin's tolerance"))
        // Microstructure.
        let porosity = try json("porosity/summary.json")
        if case .array(let measured)? = porosity["regions"], case .array(let truth)? = state0?["depth_regions"], measured.count == truth.count {
            for (k, (m, t)) in zip(measured, truth).enumerated() {
                let dark = ["pore", "carbon-binder", "crack"].compactMap { t["phases"]?["fractions"]?[$0]?.doubleValue }
                guard dark.count == 3 else { throw LensError.badInput(file: folder, problem: "the phantom's truth has no phase fractions by depth") }
                checks.append(TruthCheck(quantity: "pore + carbon–binder fraction, depth region \(k + 1)", step: "porosity",
                                         measured: try number(m["phase_fraction"], "porosity"), truth: dark.reduce(0, +),
                                         tolerance: 0.02, unit: "", note: "phantom phases (binder absorbs like pore at 20 keV); partial volume at phase walls after FBP noise"))
            }
        }
        func tauZ(_ s: JSONValue) throws -> Double {
            guard case .array(let results)? = s["results"], let z = results.first(where: { $0["axis"]?.stringValue == "z" }) else {
                throw LensError.badInput(file: folder, problem: "the demo study has no τ along z")
            }
            return try number(z["tortuosity_factor"], "τ")
        }
        checks.append(TruthCheck(quantity: "pore tortuosity factor τ (z, through the electrode)", step: "tortuosity",
                                 measured: try tauZ(try json("tortuosity/summary.json")), truth: try tauZ(try json("tortuosity_truth/summary.json")),
                                 tolerance: 0.1, relative: true, unit: "",
                                 note: "the same solver on the true phases; segmentation moves τ more than porosity"))
        // Impedance: ε·Re Z̃ at the lowest frequency (ω̃ = 0.01, where the capacitive correction
        // is ~10⁻⁵) against the steady-state τ of the same pores.
        let impedance = try json("impedance/summary.json")["result"]
        guard case .array(let points)? = impedance?["points"], let lowest = points.first else {
            throw LensError.badInput(file: folder, problem: "the demo study has no impedance spectrum")
        }
        checks.append(TruthCheck(quantity: "τ from the impedance's ω → 0 limit (ε·Re Z̃)", step: "impedance",
                                 measured: try number(impedance?["volume_fraction"], "impedance volume fraction") * (try number(lowest["real"], "Re Z̃")),
                                 truth: try tauZ(try json("tortuosity/summary.json")), tolerance: 0.01, relative: true, unit: "",
                                 note: "the steady-state solver on the same pores (issue 21: τ from impedance within 1 %)"))
        let interior = (state0?["particles"].flatMap { v -> [JSONValue]? in if case .array(let a) = v { return a }; return nil } ?? [])
            .filter { $0["touches_border"] == .bool(false) }.compactMap { $0["equivalent_diameter_micrometres"]?.doubleValue }.sorted()
        let d50 = try json("particles/summary.json")["size_distribution_interior"]?["number_d50"]
        if !interior.isEmpty {
            let lo = d50?["lower"]?.doubleValue, hi = d50?["upper"]?.doubleValue
            checks.append(TruthCheck(quantity: "particle D50 (number, interior)", step: "particles",
                                     measured: try number(d50?["value"], "D50"), measuredSigma: lo.flatMap { l in hi.map { ($0 - l) / 2 } },
                                     truth: Statistics.median(interior), tolerance: 0.15, relative: true, unit: "µm",
                                     note: "phantom particles not touching a face; watershed splits and merges"))
        }
        // Damage.
        let track = try json("track/summary.json")
        checks.append(TruthCheck(quantity: "cracked particles, 30 cycles", step: "track",
                                 measured: try number(track["cracking_last_state"]?["cracked"], "cracked count"),
                                 truth: try number(state4?["cracked_particle_count"], "true cracked count"), tolerance: 0.1, relative: true, unit: "particles",
                                 note: "design's cracked particles; class agreement ≥ 90 %"))
        let tracks: Double = { if case .array(let a)? = track["tracks"] { return Double(a.count) }; return track["tracks"]?.doubleValue ?? .nan }()
        checks.append(TruthCheck(quantity: "particles tracked through 5 states", step: "track", measured: tracks,
                                 truth: try number(state0?["particle_count"], "particle count"), tolerance: 0, unit: "particles",
                                 note: "ids are stable in the design: every particle must be followed"))
        // XANES.
        let soc = try volume("xanes/maps/fraction_charged.tif"), socTruth = try volume("xanes_phantom/phantom/state_of_charge.tif")
        let labels = try volume("xanes_phantom/phantom/labels.tif")
        var sum = 0.0, count = 0
        let (s, t, l) = (soc.elements, socTruth.elements, labels.elements)   // `elements` copies: read once
        for i in 0..<Swift.min(s.count, t.count, l.count) where l[i] > 0 && s[i].isFinite && t[i].isFinite {
            let d = Double(s[i] - t[i]); sum += d * d; count += 1
        }
        checks.append(TruthCheck(quantity: "state of charge, RMS error per pixel", step: "xanes", measured: count > 0 ? (sum / Double(count)).squareRoot() : .nan,
                                 truth: 0, tolerance: 0.02, unit: "charged fraction", note: "phantom's SOC map; the LCF bound of the XANES issue at 10⁵ photons"))
        // Chemistry per damage class: the charge lag of severely damaged particles, measured
        // with the damage classes the track step found, against the design's with the true ones.
        // A class the measurement lacks is an error, not a check left out.
        let xanesClasses = try json("xanes/summary.json")["labels"]?["fraction_charged"]?["classes"]
        let measuredLeast = try number(xanesClasses?["least"]?["mean_of_label_means"], "state of charge of the least damaged class")
        let measuredSevere = try number(xanesClasses?["severe"]?["mean_of_label_means"], "state of charge of the severely damaged class")
        let table = try String(contentsOfFile: folder + "/xanes_phantom/phantom/particles.csv", encoding: .utf8)
        var byClass: [String: [Double]] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            if f.count == 3, let v = Double(f[2]) { byClass[f[1], default: []].append(v) }
        }
        guard let least = byClass["least"], let severe = byClass["severe"], !least.isEmpty, !severe.isEmpty else {
            throw LensError.badInput(file: folder + "/xanes_phantom/phantom/particles.csv", problem: "the mapped slice holds no least or no severely damaged particle")
        }
        checks.append(TruthCheck(quantity: "state of charge, least − severely damaged particles", step: "xanes",
                                 measured: measuredLeast - measuredSevere,
                                 truth: least.reduce(0, +) / Double(least.count) - severe.reduce(0, +) / Double(severe.count),
                                 tolerance: 0.05, unit: "charged fraction",
                                 note: "per-particle means by the measured damage classes vs the phantom's by the true ones (0.85 vs 0.45 ± 0.05 by design)"))
        // Compton.
        // The maps follow the CT. A region's value comes from its summed spectrum, which weighs
        // pixels by their events (denser, less porous pixels more: −0.007 against the per-pixel
        // mean here) while the calibration adds ≈ +0.005 (as on a uniform map): the truth is the
        // per-pixel mean of the designed map, the tolerance the Compton issue's 0.01.
        let correlationTruth = try json("compton_phantom/phantom/correlation_truth.json")
        guard case .array(let truthRegions)? = correlationTruth["regions"] else {
            throw LensError.badInput(file: folder, problem: "the Compton phantom has no correlation truth")
        }
        guard case .array(let lithiumRegions)? = try json("lithium/summary.json")["regions"], lithiumRegions.count == truthRegions.count else {
            throw LensError.badInput(file: folder, problem: "the Compton analysis has not one result per designed region")
        }
        for (k, (m, t)) in zip(lithiumRegions, truthRegions).enumerated() {
            checks.append(TruthCheck(quantity: "Li stoichiometry 1 − x, region \(k + 1)", step: "lithium",
                                     measured: try number(m["lithium"], "lithium"), measuredSigma: m["lithium_sigma"]?.doubleValue,
                                     truth: try number(t["base_lithium"], "the designed mean"), tolerance: 0.01, unit: "",
                                     note: "the designed map's mean over the region's electrode pixels; σ ≈ 0.001 at 2·10⁶ events; event weighting and calibration move it by < 0.01"))
        }
        let designSlope = try number(correlationTruth["slope"], "the designed slope")
        guard case .array(let correlated)? = try json("compton_ct/summary.json")["regions"], correlated.count == truthRegions.count else {
            throw LensError.badInput(file: folder, problem: "the Compton–CT correlation has not one result per designed region")
        }
        for r in correlated {
            let k = Int(try number(r["region"], "region"))
            checks.append(TruthCheck(quantity: "Li vs CT porosity, slope d(1 − x)/dε, region \(k)", step: "compton_ct",
                                     measured: try number(r["slope"], "correlation slope"), truth: designSlope, tolerance: 0.02, unit: "",
                                     note: "the phantom's slope on its true dark phases; measured against the segmented CT after registration"))
        }
        // Operando diffraction: the refined fractions and lattices against the simulated ones.
        let xrdTruth = try json("xrd_phantom/phantom/truth.json")
        guard case .array(let fractionsTruth)? = xrdTruth["second_phase_fraction"], case .array(let latticeTruth)? = xrdTruth["lattice"] else {
            throw LensError.badInput(file: folder, problem: "the diffraction phantom has no truth")
        }
        let results = try NumericColumns.read(folder + "/xrd/results/results.csv")
        func column(_ name: String) throws -> [Double] {
            guard let k = results.names.firstIndex(of: name) else { throw LensError.badInput(file: folder + "/xrd/results/results.csv", problem: "no column \(name)") }
            return results.columns[k]
        }
        let measuredFraction = try column("fraction_delithiated"), cLithiated = try column("c_lithiated"), cDelithiated = try column("c_delithiated")
        guard measuredFraction.count == fractionsTruth.count, latticeTruth.count == fractionsTruth.count else {
            throw LensError.badInput(file: folder, problem: "the diffraction refinement has not one result per simulated pattern")
        }
        var fractionSquares = 0.0, cSquares = 0.0, cCount = 0
        for k in fractionsTruth.indices {
            let f = try number(fractionsTruth[k], "simulated fraction")
            fractionSquares += pow(measuredFraction[k] - f, 2)
            // Lattices where the phase makes up at least a tenth (NaN: not refined there).
            for (phase, measured, share) in [(0, cLithiated[k], 1 - f), (1, cDelithiated[k], f)] where share >= 0.1 {
                let truth = try number(latticeTruth[k][phase]?[1], "simulated c")
                cSquares += measured.isFinite ? pow(measured - truth, 2) : .infinity
                cCount += 1
            }
        }
        checks.append(TruthCheck(quantity: "operando XRD: Li-poor phase fraction, RMS error", step: "xrd",
                                 measured: (fractionSquares / Double(fractionsTruth.count)).squareRoot(), truth: 0, tolerance: 0.01, unit: "",
                                 note: "the simulated two-phase reaction, from the detector frames through azimuthal integration; Poisson noise leaves ≈ 0.001–0.002"))
        checks.append(TruthCheck(quantity: "operando XRD: c lattice parameter, RMS error", step: "xrd",
                                 measured: cCount > 0 ? (cSquares / Double(cCount)).squareRoot() : .nan, truth: 0, tolerance: 0.002, unit: "Å",
                                 note: "both phases wherever they make up ≥ 10 % (0.014 % of c: a fifteenth of the 0.2 % drift through the series)"))

        // Cell inspection: the winding and the can against the jelly-roll phantom's design.
        let cellTruth = try json("cell_phantom/phantom/truth.json"), cell = try json("cell/summary.json")
        let pixel = try number(cellTruth["pixel_size_micrometres"], "cell phantom pixel size")
        checks.append(TruthCheck(quantity: "wound cell: turns of the bright electrode", step: "cell", measured: try number(cell["turns"], "cell turns"),
                                 truth: try number(cellTruth["turns"], "cell truth turns"), tolerance: 0.1, unit: "",
                                 note: "mean layers per ray over 360° (a spiral from φ₀ to φ₁ gives (φ₁ − φ₀)/2π); the strip's two ends blur over some degrees of arc in the reconstruction"))
        checks.append(TruthCheck(quantity: "wound cell: winding pitch", step: "cell", measured: try number(cell["pitch"], "cell pitch"),
                                 truth: try number(cellTruth["pitch"], "cell truth pitch") * pixel, tolerance: 0.02, relative: true, unit: "µm",
                                 note: "median distance between successive layers on a ray; the buckled sector is a few per cent of the gaps"))
        checks.append(TruthCheck(quantity: "wound cell: can inner radius", step: "cell", measured: try number(cell["can_inner_radius"], "can radius"),
                                 truth: try number(cellTruth["can_inner_radius"], "cell truth can radius") * pixel, tolerance: 0.5 * pixel, unit: "µm",
                                 note: "robust circle fit, then each ray's inner wall at half maximum: within half a voxel"))
        // Each centre is good to σ ≈ 0.03 px, so the fitted slope to σ/√Σ(z − z̄)²; three of those.
        let slices = try number(cellTruth["slices"], "cell truth slices")
        let spread = (0..<Int(slices)).reduce(0.0) { $0 + pow(Double($1) - (slices - 1) / 2, 2) }
        checks.append(TruthCheck(quantity: "wound cell: axis drift", step: "cell", measured: try number(cell["axis_drift_pixels_per_slice"], "axis drift"),
                                 truth: abs(try number(cellTruth["drift_x_per_slice"], "cell truth drift")), tolerance: 3 * 0.03 / spread.squareRoot(), unit: "pixel/slice",
                                 note: "straight-line fit of the can's centres through the slices: each centre is good to ≈ 0.03 px, the tolerance is 3σ of the slope"))
        checks.append(TruthCheck(quantity: "wound cell: strip followed along its length (virtual unrolling)", step: "cell",
                                 measured: try number(cell["followed_strip_length"], "followed strip length"),
                                 truth: try number(cellTruth["strip_length"], "cell truth strip length") * pixel, tolerance: 0.02, relative: true, unit: "µm",
                                 note: "the bright layer linked ray to ray from its inner end; the reconstruction's noise on the mid-line radius adds a little length"))
        let buckle = try number(cellTruth["buckle_angle_degrees"], "cell truth buckle")
        let widest = cell["widest_anomalies"]?[0]
        let start = try number(widest?["start_degrees"], "widest anomalous sector"), end = try number(widest?["end_degrees"], "widest anomalous sector")
        checks.append(TruthCheck(quantity: "wound cell: buckle found at its angle (sector centre)", step: "cell", measured: (start + end) / 2, truth: buckle,
                                 tolerance: try number(cellTruth["buckle_half_width_degrees"], "buckle width"), unit: "°",
                                 note: "the widest sector of gaps off the median pitch by > 30 % must centre within the buckle's half width"))
        return checks
    }

    /// Pearson r of two volumes on the same grid (NaN when the grids differ).
    static func pearson(_ a: Grid<Float>, _ b: Grid<Float>) -> Double {
        guard a.shape == b.shape else { return .nan }
        return Statistics.correlation(a.elements.map(Double.init), b.elements.map(Double.init))
    }
}
