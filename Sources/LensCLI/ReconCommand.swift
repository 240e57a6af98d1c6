import ArgumentParser
import Foundation
import LensCore
import LensIO
import Reporting
import Pipeline
import Tomography

/// `batterylens recon`: parallel-beam projections to a calibrated volume.
struct ReconCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recon",
        abstract: "Reconstruct a scan — parallel beam by filtered back projection, cone beam by FDK, or iteratively — streamed in slabs of detector rows.",
        discussion: """
        Inputs: a Data Exchange or NXtomo HDF5 scan; a Zeiss Xradia .txrm series (angles and pixel \
        size from the file; its reference image, or --flats REF.xrm, as flat); a projection stack (multi-page TIFF, a folder \
        of TIFFs, .npy, file.h5:/dataset) with --angles and --flats/--darks; or a MATLAB sinogram \
        (file.mat with --sinogram and --angle-variable). Steps: flat/dark correction (flats before \
        and after interpolated by projection index) and −log, optional zinger removal, Paganin \
        phase retrieval, offset-axis stitching, stripe removal (sort: Vo 2018; wavelet: Münch 2009), \
        FBP in 1/µm, optional polar ring filter. The centre is found automatically (mirror pairs or \
        Vo's Fourier metric) unless --center is given; --sweep writes one PNG per candidate centre. \
        --preview writes the middle slice before and after ring removal and the centre metric curve. \
        --algorithm sirt|sart|cgls|tv|fista-tv solves iteratively from the FBP of each slab (limited-angle \
        scans: tv keeps cracks open and particles round where FBP smears them along the missing \
        wedge); the summary records the objective and residual of every iteration; --compare-fbp \
        writes the FBP beside the result. Cone-beam scans (distances from --cone SOD:SDD or the scan \
        file's source and detector distances) are reconstructed by FDK (full circle, or a Parker \
        short scan of 180° + the fan angle) with the centre from the mid-plane's conjugate rays, or \
        by an iterative --algorithm over the cone-beam projector.
        """)

    @Option(help: "Output volume (.tif, .h5, .npy, .raw or a folder).") var out: String?
    @Option(help: "Centre of rotation: 'auto' or a detector column.") var center: String = "auto"
    @Option(name: .customLong("center-method"), help: "Automatic centre method: mirror (0°/180° pairs), fourier (Vo 2014, ≥ 170°), centroid (sinusoid of projection centroids, any angular range) or negativity (least negative slice: any range, truncated projections too). Default: mirror when the scan has 180° pairs, else centroid when the sample stays in view, else negativity. fourier and centroid need the sample inside the field of view.") var centerMethod: CentreMethod?
    @Option(help: "Offset-axis 360° scan: 'auto' or the axis column; stitches to a 180° sinogram.") var offsetAxis: String?
    @Option(help: "Stripe (ring) removal on sinograms (sort: Vo 2018; wavelet: Münch 2009).") var rings: StripeRemovalMethod = .none
    @Option(name: .customLong("ring-snr"), help: "Stripe detection threshold (sort).") var ringSNR: Double = 3
    @Option(name: .customLong("ring-window"), help: "Median window for small stripes (sort).") var ringWindow: Int = 21
    @Option(name: .customLong("wavelet-levels"), help: "Decomposition levels (wavelet).") var waveletLevels: Int = 4
    @Option(name: .customLong("wavelet-sigma"), help: "Damping width (wavelet).") var waveletSigma: Double = 2
    @Flag(name: .customLong("polar-rings"), help: "Apply the polar ring filter to the reconstructed slices.") var polarRings = false
    @Flag(help: "Remove zingers (bright outliers) before reconstruction.") var zingers = false
    @Option(help: "Phase retrieval.") var phase: PhaseRetrievalName = .none
    @Option(name: .customLong("energy-kev"), help: "Photon energy in keV (Paganin, CTF).") var energyKeV: Double?
    @Option(name: .customLong("distance-mm"), help: "Sample–detector distance in mm (Paganin); for --phase ctf one effective distance per recording, comma-separated: the scan's first, then each --holo-scan's.") var distanceMillimetres: String?
    @Option(name: .customLong("delta-beta"), help: "δ/β of the material (Paganin, CTF).") var deltaBeta: Double?
    @Option(name: .customLong("holo-scan"), help: "Holotomography: the same projections recorded at a further distance (a scan file with its own flats, or line integrals; on the scan's grid: same frames and angles, magnification scaled out). Repeat per distance.") var holoScans: [String] = []
    @Option(name: .customLong("ctf-iterations"), help: "Refinements of the CTF estimate against the exact Fresnel model (0: the linear CTF alone; 5 recovers objects of up to about a radian of phase).") var ctfIterations: Int = 0
    @Option(name: .customLong("ctf-alpha"), help: "Tikhonov weight at the CTF's zeros.") var ctfAlpha: Double = 0.01
    @Option(help: "Filter window.") var filter: FilterWindow = .sheppLogan
    @Option(help: "Reconstruction algorithm: fbp; gridrec (the same filtered back projection by Fourier gridding, faster on large detectors); or an iterative solver started from the FBP: sirt, sart (ordered subsets), cgls (least squares, unconstrained), tv (total variation by the primal–dual method, for limited-angle and few-view scans) or fista-tv (the same objective by FISTA).") var algorithm: ReconstructionAlgorithm = .fbp
    @Option(help: "Iterations of an iterative --algorithm.") var iterations: Int = 100
    @Option(name: .customLong("tv-weight"), help: "TV weight w in ½‖Ax − b‖²/P + w·TV(μ·voxel): independent of the angle count P and the voxel size; larger smooths more (typical 1e-4…1e-2).") var tvWeight: Double = 0.001
    @Option(help: "Angle subsets of --algorithm sart.") var subsets: Int = 10
    @Option(help: "Relaxation of sirt and sart, in (0, 2).") var relaxation: Double = 1
    @Option(name: .customLong("stop-change"), help: "Stop an iterative solve early when the relative change of the volume per iteration falls below this.") var stopChange: Double?
    @Option(name: .customLong("upper-bound"), help: "Clamp iterative solutions to at most this value (the volume's units).") var upperBound: Double?
    @Flag(name: .customLong("allow-negative"), help: "Do not clamp iterative solutions at zero.") var allowNegative = false
    @Flag(name: .customLong("zero-start"), help: "Start iterative solvers from zero instead of the FBP.") var zeroStart = false
    @Option(name: .customLong("compare-fbp"), help: "Also write the FBP volume here (beside an iterative result).") var compareFBP: String?
    @Option(help: "Align the projections first (the whole scan in memory): auto (gold-bead markers when at least three are tracked, else marker-free), reprojection (marker-free: row sums and reprojection alignment) or none.") var align: AlignmentChoice = .none
    @Option(name: .customLong("marker-radius"), help: "Radius of the alignment markers (gold beads) in detector pixels.") var markerRadius: Double = 2
    @Option(help: "Detector rows (slices) A:B to reconstruct.") var slices: String?
    @Flag(help: "Zero the voxels outside the reconstruction circle.") var mask = false
    @Option(name: .customLong("to-dtype"), help: "Output element type: float32 (default), or uint16/int16/uint8 holding the values rescaled from --range, the calibration (value = c0 + c1 × stored) recorded in the file.") var toDtype: String?
    @Option(help: "Value range LOW:HIGH mapped onto an integer --to-dtype (default: the volume's min…max).") var range: String?
    @Flag(help: "Reconstruct even projections that hold no information (all equal or non-finite after correction).") var force = false
    @Option(name: .customLong("slab-rows"), help: "Detector rows per streamed slab (default: ~256 MiB slabs).") var slabRows: Int?
    @Option(help: "Centre sweep FIRST:LAST:STEP (columns): one PNG slice per candidate into --sweep-dir, then stop.") var sweep: String?
    @Option(name: .customLong("sweep-dir"), help: "Folder for the sweep PNGs and sweep.csv.") var sweepDir: String?
    @Option(help: "Folder for preview PNGs (middle slice before/after ring removal) and centre_metric.csv.") var preview: String?
    @Option(help: "Cone beam (lab micro-CT): source-to-axis and source-to-detector distances in mm, SOD:SDD (default: the scan file's, when it records them); reconstructed by FDK, or iteratively with --algorithm.") var cone: String?
    @Flag(name: .customLong("parallel-beam"), help: "Reconstruct as parallel beam although the scan file records cone-beam distances.") var parallelBeam = false
    @Option(help: "Write the numbers (centre, clamps, geometry, provenance) as JSON.") var summary: String?
    @OptionGroup var scan: ScanInputOptions
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(waveletLevels, "--wavelet-levels", in: 1...12)
        try requirePositive(waveletSigma, "--wavelet-sigma", atMost: 1000)
        try requirePositive(ringSNR, "--ring-snr", atMost: 1000)
        try requireOption(ringWindow, "--ring-window", in: 1...1001)
        if let slabRows { try requireOption(slabRows, "--slab-rows", in: 1...1_000_000) }
        if let pixel = scan.pixelMicrometres { try requirePositive(pixel, "--pixel-um") }
        guard scan.scale.isFinite, scan.scale != 0 else { throw LensError.invalidArgument("--scale must be a finite, non-zero number") }
        for (value, option) in [(energyKeV, "--energy-kev"), (deltaBeta, "--delta-beta")] {
            if let value { try requirePositive(value, option) }
        }
        for d in try distances { try requirePositive(d, "--distance-mm", atMost: 1e6) }
        try requireOption(ctfIterations, "--ctf-iterations", in: 0...1000)
        try requirePositive(ctfAlpha, "--ctf-alpha", atMost: 1e6)
        guard holoScans.isEmpty || phase == .ctf else { throw LensError.invalidArgument("--holo-scan records further distances for --phase ctf") }
        let inputs = scan.inputFiles + holoScans.map { DatasetReference($0).filePath }
        if sweep == nil && out == nil { throw LensError.invalidArgument("recon needs --out (or --sweep)") }
        if sweep != nil && sweepDir == nil { throw LensError.invalidArgument("--sweep needs --sweep-dir") }
        if algorithm.isIterative { try iterativeSettings.validate(algorithm: algorithm) }
        if compareFBP != nil && !algorithm.isIterative { throw LensError.invalidArgument("--compare-fbp needs an iterative --algorithm (sirt, sart, cgls or tv)") }
        try global.outputs(inputs: inputs) { outputs in
            if sweep != nil {
                let sweepPath: String = try outputs.folder(sweepDir!, option: "--sweep-dir")
                try run(inputs: inputs, out: nil, summary: nil, preview: nil, sweepDir: sweepPath, comparison: nil)
            } else {
                let outPath: String = try outputs.file(out!, option: "--out")
                try run(inputs: inputs, out: outPath, summary: try outputs.file(summary, option: "--summary"),
                        preview: try outputs.folder(preview, option: "--preview"), sweepDir: nil,
                        comparison: try outputs.file(compareFBP, option: "--compare-fbp"))
            }
        }
    }

    /// --distance-mm as a list (empty when not given).
    var distances: [Double] {
        get throws { try distanceMillimetres.map { try parseList($0, option: "--distance-mm") } ?? [] }
    }

    /// The iterative solver's settings from the options.
    var iterativeSettings: IterativeSettings {
        var s = IterativeSettings()
        s.iterations = iterations; s.tvWeight = tvWeight; s.subsets = subsets; s.relaxation = relaxation
        s.relativeChangeTolerance = stopChange; s.upperBound = upperBound; s.nonNegative = !allowNegative; s.warmStart = !zeroStart
        return s
    }

    func run(inputs: [String], out outPath: String?, summary summaryPath: String?, preview previewPath: String?, sweepDir sweepPath: String?,
             comparison comparisonPath: String?) throws {
        let window = filter, stripeMethod = rings
        let source = try scan.openSource()
        if let bad = source.anglesDegrees.firstIndex(where: { !$0.isFinite }) {
            throw LensError.badInput(file: scan.angles ?? scan.input, problem: "angle \(bad + 1) is \(source.anglesDegrees[bad]), not a number of degrees")
        }
        guard source.frameShape.rank == 2, source.frameShape[0] > 0, source.frameShape[1] >= 8 else {
            throw LensError.badInput(file: scan.input, problem: "frames of \(source.frameShape) pixels: reconstruction needs at least 8 detector columns")
        }
        // --pixel-um, else --voxel-um, else the file's; unknown: reconstruct in 1/pixel and say so.
        // --pixel-um is the detector pixel before binning.
        let pixel: Double? = scan.pixelMicrometres.map { $0 * Double(scan.bin) } ?? global.voxelMicrometres?.last ?? source.pixelSizeMicrometres
        if pixel == nil {
            Notices.emit("\(scan.input) does not give the detector pixel size: the volume is in 1/pixel (attenuation per voxel edge), not 1/µm; declare the size with --pixel-um for 1/µm")
        }
        var settings = ReconstructionSettings(pixelSizeMicrometres: pixel)
        settings.fbp.window = window
        settings.fbp.circularMask = mask
        settings.algorithm = algorithm
        settings.iterative = iterativeSettings
        settings.alignment = try align.settings(markerRadius: markerRadius)
        settings.fbpComparisonOutput = comparisonPath
        settings.stripes = StripeRemovalOptions(method: stripeMethod)
        settings.stripes.snr = ringSNR
        settings.stripes.smallWindow = ringWindow
        settings.stripes.waveletLevels = waveletLevels
        settings.stripes.waveletSigma = waveletSigma
        settings.polarRingFilter = polarRings
        settings.removeZingers = zingers
        settings.allowUninformativeData = force
        if let toDtype {
            guard let type = DataType(name: toDtype), [.float32, .uint16, .int16, .uint8].contains(type) else {
                throw LensError.invalidArgument("--to-dtype must be float32, uint16, int16 or uint8, got '\(toDtype)'")
            }
            settings.outputType = type
        }
        if let range {
            guard settings.outputType != .float32 else { throw LensError.invalidArgument("--range maps values onto an integer --to-dtype; give --to-dtype uint16 (or int16, uint8)") }
            settings.outputRange = try parseValueRange(range, option: "--range")
        }
        settings.slabRows = slabRows
        settings.slices = try slices.map { try parseRange($0, extent: source.frameShape[0], option: "--slices") }
        settings.centre = try parseCentre(center, option: "--center", columns: source.frameShape[1])
        if let offsetAxis { settings.offsetAxis = try parseCentre(offsetAxis, option: "--offset-axis", columns: source.frameShape[1]) }
        switch phase {
        case .none: break
        case .paganin:
            let d = try distances
            guard let energyKeV, d.count == 1, let deltaBeta else {
                throw LensError.invalidArgument("--phase paganin needs --energy-kev, one --distance-mm and --delta-beta")
            }
            settings.paganin = PaganinParameters(energyKeV: energyKeV, distanceMillimetres: d[0], deltaOverBeta: deltaBeta,
                                                 pixelSizeMicrometres: pixel ?? 1)
        case .ctf:
            let d = try distances
            guard let energyKeV, let deltaBeta, !d.isEmpty else {
                throw LensError.invalidArgument("--phase ctf needs --energy-kev, --distance-mm (one per recording) and --delta-beta")
            }
            guard d.count == holoScans.count + 1 else {
                throw LensError.invalidArgument("--phase ctf: \(d.count) distance(s) for \(holoScans.count + 1) recording(s) (the scan and \(holoScans.count) --holo-scan)")
            }
            settings.holotomography = HolotomographyParameters(energyKeV: energyKeV, distancesMillimetres: d, deltaOverBeta: deltaBeta,
                                                               pixelSizeMicrometres: pixel ?? 1, regularization: ctfAlpha, iterations: ctfIterations)
            settings.holotomographyRecordings = try holoScans.map { path in
                let reference = DatasetReference(path)
                guard ["h5", "hdf5", "hdf", "nxs", "cxi"].contains(reference.fileExtension) || VolumeIO.xradiaExtensions.contains(reference.fileExtension) else {
                    throw LensError.badInput(file: path, problem: "a --holo-scan is a scan file that carries its flats and angles (HDF5/NeXus, Xradia)")
                }
                let opened: ProjectionSource = VolumeIO.xradiaExtensions.contains(reference.fileExtension)
                    ? try XradiaProjectionSource(path: reference.filePath, flats: nil, darks: nil) : try TomographyScanReader(path: reference.filePath)
                return ProjectionRecording(scan.bin == 1 ? opened : try BinnedProjectionSource(opened, factor: scan.bin))
            }
        }
        let cone = try coneBeam(source: source, pixel: pixel)
        if cone != nil {
            for (given, option) in [(sweep != nil, "--sweep"), (previewPath != nil, "--preview")] where given {
                throw LensError.invalidArgument("\(option) is for parallel-beam scans; \(scan.input) is reconstructed as a cone-beam scan (give --center to place the axis, or --parallel-beam)")
            }
        }
        if let sweep, let sweepPath { try runSweep(sweep, folder: sweepPath, source: source, settings: settings); return }
        guard let out, let outPath else { throw LensError.invalidArgument("recon needs --out (or --sweep)") }
        let rows = settings.slices ?? 0..<source.frameShape[0]
        let method = algorithm.isIterative ? algorithm.rawValue : (cone == nil ? nil : "FDK")
        let label = "reconstructing slices" + (cone == nil ? "" : " (cone beam") + (method.map { (cone == nil ? " (" : ", ") + $0 + ")" } ?? "")
        let progress = ProgressReporter(label: label,
                                        total: rows.count * ScanReconstruction.progressUnitsPerRow(settings))
        let report = try cone.map {
            try ConeBeamScanReconstruction.run(source: source, distances: $0, settings: settings, output: outPath, inputs: inputs,
                                               progress: progress, cancellation: CLIRuntime.cancellation)
        } ?? ScanReconstruction.run(source: source, settings: settings, output: outPath, inputs: inputs,
                                    progress: progress, cancellation: CLIRuntime.cancellation)
        progress.finish()
        for warning in report.warnings { FileHandle.standardError.write(Data("batterylens: warning: \(warning)\n".utf8)) }
        print(String(format: "wrote %@: %@ voxels of %@ in %@, angles covering %.1f°, centre %.2f (%@), %d slab(s) of %d rows, peak memory %.0f MiB",
                     out, report.volumeShape.map(String.init).joined(separator: "×"), pixel.map { String(format: "%g µm", $0) } ?? "1 pixel (size unknown)",
                     report.units, report.angularCoverage.coveredDegrees, report.axisColumn,
                     report.centre?.method ?? "given", report.slabs, report.slabRows, Double(report.peakResidentBytes) / 1_048_576))
        if let c = report.coneBeam {
            print(String(format: "cone beam: source %.4g mm from the axis, %.4g mm from the detector (magnification %.3f, from %@), half fan angle %.2f°, half cone angle %.2f°, %@",
                         c.sourceToAxisMillimetres, c.sourceToDetectorMillimetres, c.magnification, c.distancesFrom, c.halfFanAngleDegrees, c.halfConeAngleDegrees, c.weighting))
        }
        if zingers {
            let pixels = Double(source.projectionCount * (settings.slices?.count ?? source.frameShape[0]) * source.frameShape[1])
            print(String(format: "zingers: %d pixels replaced (%.2g of the projections' pixels)", report.zingersReplaced, Double(report.zingersReplaced) / pixels))
        }
        if let previewPath { try writePreview(previewPath, source: source, settings: settings, report: report) }
        if let summaryPath {
            let stats = report.valueStatistics
            let object: [String: JSONValue] = [
                "output": .string(out), "shape": .array(report.volumeShape.map { .number(Double($0)) }),
                "voxel_size_um": pixel.map(JSONValue.number) ?? .null, "units": .string(report.units), "centre_column": .number(report.axisColumn),
                "output_type": .string(report.outputType), "value_mapping": report.valueMapping.map(JSONValue.string) ?? .null,
                "angular_coverage_deg": .number(report.angularCoverage.coveredDegrees), "missing_wedge_deg": .number(report.angularCoverage.missingWedgeDegrees),
                "centre_method": .string(report.centre?.method ?? "given"), "filter": .string(window.rawValue), "algorithm": .string(algorithm.rawValue),
                "beam": .string(report.coneBeam == nil ? "parallel" : "cone"),
                "rings": .string(rings.rawValue), "polar_rings": .bool(polarRings), "phase": .string(phase.rawValue),
                "reconstruction": try JSONValue(encoding: report),
                "value_range": ["min": .finite(stats.minimum), "max": .finite(stats.maximum), "mean": .finite(stats.mean)],
                "provenance": try provenanceJSON(inputs: inputs, parameters: parameters()),
            ]
            try JSONOutput.write(JSONValue.object(object), to: summaryPath, inputs: inputs)
        }
    }

    func parameters() -> [String: JSONValue] {
        var p: [String: JSONValue] = ["center": .string(center), "filter": .string(filter.rawValue), "rings": .string(rings.rawValue), "phase": .string(phase.rawValue),
                                      "algorithm": .string(algorithm.rawValue), "align": .string(align.rawValue),
                                      "polar_rings": .bool(polarRings), "zingers": .bool(zingers), "line_integrals": .bool(scan.lineIntegrals),
                                      "force": .bool(force), "parallel_beam": .bool(parallelBeam)]
        for (k, v) in [("slices", slices), ("offset_axis", offsetAxis), ("cone", cone), ("center_method", centerMethod?.rawValue), ("angles", scan.angles), ("flats", scan.flats),
                       ("flats_after", scan.flatsAfter), ("darks", scan.darks)] { if let v { p[k] = .string(v) } }
        for (k, v) in [("energy_kev", energyKeV), ("delta_beta", deltaBeta), ("pixel_um", scan.pixelMicrometres)] {
            if let v { p[k] = .number(v) }
        }
        if let d = try? distances, !d.isEmpty { p["distance_mm"] = d.count == 1 ? .number(d[0]) : .array(d.map(JSONValue.number)) }
        if phase == .ctf {
            p["holo_scans"] = .array(holoScans.map(JSONValue.string))
            p["ctf_iterations"] = .number(Double(ctfIterations)); p["ctf_alpha"] = .number(ctfAlpha)
        }
        if scan.scale != 1 { p["scale"] = .number(scan.scale) }
        return p
    }

    /// The cone-beam distances to reconstruct with: --cone, else the scan file's unless
    /// --parallel-beam — nil for parallel beam. A file's distances whose cone is negligible
    /// (the detector's half width, at the axis, under 1/1000 of the source distance: a
    /// synchrotron's source tens of metres away) are noted and reconstructed as parallel beam.
    func coneBeam(source: ProjectionSource, pixel: Double?) throws -> ConeBeamDistances? {
        if let cone {
            guard !parallelBeam else { throw LensError.invalidArgument("--cone and --parallel-beam contradict each other: give one") }
            let d = try parseValueRange(cone, option: "--cone")
            guard d.lowerBound > 0, d.upperBound > d.lowerBound, d.upperBound.isFinite else {
                throw LensError.invalidArgument("--cone must be SOD:SDD in mm with 0 < SOD < SDD (the detector beyond the axis), got \(cone)")
            }
            return ConeBeamDistances(sourceToAxisMillimetres: d.lowerBound, sourceToDetectorMillimetres: d.upperBound, source: "--cone")
        }
        if !parallelBeam, let xradia = source as? XradiaProjectionSource, let d = xradia.recordedSourceAndDetectorDistances {
            // Lab (Versa) scans are cone beam; TXMs are not: say what the file records, do not guess.
            Notices.emit(String(format: "%@ records a source %g and a detector %g from the rotation axis (mm on Versa systems): reconstructed as parallel beam; if this is a cone-beam scan, give --cone %g:%g", scan.input, d.source, d.detector, d.source, d.source + d.detector))
        }
        guard !parallelBeam, let recorded = scan.recordedConeBeam() else { return nil }
        if let pixel, recorded.isNegligible(columns: source.frameShape[1], pixelMicrometres: pixel) {
            Notices.emit(String(format: "%@ records a source %.4g m from the sample: the cone is negligible at this detector width, reconstructed as parallel beam", scan.input, recorded.sourceToAxisMillimetres / 1000))
            return nil
        }
        return recorded
    }

    func parseCentre(_ text: String, option: String, columns: Int) throws -> CentreChoice {
        if text == "auto" {
            return .auto(centerMethod)
        }
        guard let value = Double(text) else { throw LensError.invalidArgument("\(option) must be 'auto' or a number") }
        guard value >= 0, value <= Double(columns - 1) else {
            throw LensError.invalidArgument("\(option) \(value) lies outside the detector (0…\(columns - 1))")
        }
        return .given(value)
    }

    /// One slice per candidate centre, as PNGs in a common grey window, and sweep.csv.
    func runSweep(_ text: String, folder: String, source: ProjectionSource, settings: ReconstructionSettings) throws {
        let parts = text.split(separator: ":").map { Double($0) }
        guard parts.count == 3, let first = parts[0], let last = parts[1], let step = parts[2], step > 0, last >= first,
              (last - first) / step <= 1000 else {
            throw LensError.invalidArgument("--sweep must be FIRST:LAST:STEP with FIRST ≤ LAST, STEP > 0 and at most 1000 candidates")
        }
        let row = settings.slices.map { ($0.lowerBound + $0.upperBound) / 2 } ?? source.frameShape[0] / 2
        let lines = try ScanReconstruction.lineIntegrals(source: source, rows: row..<(row + 1), settings: settings)
        let geometry = ParallelBeamGeometry(anglesDegrees: source.anglesDegrees, detectorColumns: source.frameShape[1], detectorRows: 1,
                                            pixelSizeMicrometres: settings.pixelSizeMicrometres ?? 1)
        let candidates = stride(from: first, through: last + 1e-9, by: step).map { $0 }
        for c in candidates where c < 0 || c > Double(source.frameShape[1] - 1) {
            throw LensError.invalidArgument("sweep centre \(c) lies outside the detector (0…\(source.frameShape[1] - 1))")
        }
        let results = try CentreSweep.run(lineIntegrals: lines, geometry: geometry, row: 0, candidates: candidates, options: settings.fbp)
        // One window for all, so brightness differences are real.
        let all = results.flatMap { $0.slice.elements }
        let limits = all.withUnsafeBufferPointer { SliceRenderer.limits(of: $0, window: .automatic) }
        var table = Table(columns: [TableColumn("centre_column", unit: "px"), TableColumn("entropy", unit: "bit"), TableColumn("tv_ratio"),
                                    TableColumn("negative_fraction"), TableColumn("reprojection_residual"), TableColumn("png")])
        for r in results {
            let name = String(format: "centre_%08.2f.png", r.column)
            let plane = r.slice.reshaped(Shape(r.slice.shape[1], r.slice.shape[2]))
            try SliceFigure.write(plane, to: "\(folder)/\(name)", window: .range(limits.0, limits.1), pixelSizeMicrometres: settings.pixelSizeMicrometres,
                                  valueLabel: settings.pixelSizeMicrometres == nil ? "μ (1/pixel)" : "μ (1/µm)")
            table.append([.number(r.column), .number(r.entropyBits), .number(r.totalVariationRatio), .number(r.negativeFraction),
                          .number(r.reprojectionResidual), .text(name)])
        }
        try table.write(to: "\(folder)/sweep.csv")
        // The hint: the least negative slice, or for scans over more than 200° the smallest
        // reprojection residual (entropy picks wrong centres: on the TomoPy tooth scan the right
        // centre has the highest entropy).
        let criterion = CentreSweep.Criterion(anglesDegrees: source.anglesDegrees)
        if FilteredBackProjection.coverage(anglesDegrees: source.anglesDegrees).isLimitedAngle {
            print(String(format: "wrote %d slices of row %d to %@; limited-angle scan: no image criterion is reliable here, judge by eye (or try --center-method centroid if the sample stays in view)",
                         results.count, row, sweepDir ?? folder))
        } else {
            let k = results.indices.min { criterion.value(results[$0]) < criterion.value(results[$1]) }!
            let best = results[k]
            print(String(format: "wrote %d slices of row %d to %@; best %@ at centre %.2f (judge by eye)", results.count, row, sweepDir ?? folder,
                         criterion.rawValue, best.column))
            if results.count > 2 && (k == 0 || k == results.count - 1) {
                Notices.emit(String(format: "the best %@ is at the edge of the swept range (%.2f): the centre may lie outside it; widen the sweep", criterion.rawValue, best.column))
            }
        }
    }

    /// Middle slice before/after ring removal and the centre metric curve.
    func writePreview(_ folder: String, source: ProjectionSource, settings: ReconstructionSettings, report: ReconstructionReport) throws {
        let rows = settings.slices ?? 0..<source.frameShape[0]
        let middle = (rows.lowerBound + rows.upperBound) / 2
        var plain = settings
        plain.slices = middle..<(middle + 1)
        plain.centre = .given(report.axisColumn)
        if plain.offsetAxis != nil { plain.offsetAxis = .given(report.axisColumn) }
        var variants = [("after_rings", plain)]
        plain.stripes.method = .none
        plain.polarRingFilter = false
        variants.append(("before_rings", plain))
        var slices = [(String, Grid<Float>)]()
        let temporary = folder + "/" + OutputSafety.temporaryName(suffix: "npy")
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        for (name, s) in variants {
            _ = try ScanReconstruction.run(source: source, settings: s, output: temporary, inputs: [])
            let g = try VolumeIO.read(temporary).float32()
            slices.append((name, g.reshaped(Shape(g.shape[1], g.shape[2]))))
            try? FileManager.default.removeItem(atPath: temporary)
        }
        let limits = slices[1].1.withUnsafeBufferPointer { SliceRenderer.limits(of: $0, window: .automatic) }
        for (name, plane) in slices {
            try SliceFigure.write(plane, to: "\(folder)/slice_\(middle)_\(name).png", window: .range(limits.0, limits.1),
                                  pixelSizeMicrometres: settings.pixelSizeMicrometres,
                                  valueLabel: settings.pixelSizeMicrometres == nil ? "μ (1/pixel)" : "μ (1/µm)")
        }
        if let centre = report.centre {
            var table = Table(columns: [TableColumn("centre_column", unit: "px"), TableColumn("metric")])
            for (c, m) in zip(centre.metricColumns, centre.metric) where m.isFinite { table.append([.number(c), .number(m)]) }
            try table.write(to: "\(folder)/centre_metric.csv")
        }
    }
}

/// The scan a command reads: the file and, for projection stacks and MATLAB sinograms, the
/// angles, flats and darks that go with it — shared by `recon` and `align`.
struct ScanInputOptions: ParsableArguments {
    @Argument(help: "Scan: .h5/.nxs (Data Exchange or NXtomo), .txrm (Xradia), a projection stack, or a .mat sinogram.") var input: String
    @Option(help: "Angle list file (one angle in degrees per line) for stacks.") var angles: String?
    @Option(name: .customLong("angle-lines"), help: "Lines A:B of the angle file that belong to the projections (0-based).") var angleLines: String?
    @Option(name: .customLong("angle-range"), help: "Evenly spaced angles FIRST:LAST in degrees (LAST excluded) instead of a file.") var angleRange: String?
    @Option(help: "Flat (open-beam) frames for stacks.") var flats: String?
    @Option(name: .customLong("flats-after"), help: "Flats taken after the scan (interpolated with --flats by projection index).") var flatsAfter: String?
    @Option(help: "Dark frames for stacks.") var darks: String?
    @Flag(name: .customLong("line-integrals"), help: "The input is already −log data (no flats).") var lineIntegrals = false
    @Option(help: "Factor applied to line-integral input (e.g. 0.001 for data saved ×1000).") var scale: Double = 1
    @Option(help: "Sinogram variable of a .mat input (angle, column) or (column, angle).") var sinogram: String?
    @Option(name: .customLong("angle-variable"), help: "Angle variable of a .mat input.") var angleVariable: String?
    @Option(name: .customLong("angle-units"), help: "Units of --angle-variable / --angles.") var angleUnits: AngleUnitName = .deg
    @Option(name: .customLong("pixel-um"), help: "Detector pixel size at the sample in µm, before any --bin (if the file does not say).") var pixelMicrometres: Double?

    @Option(help: "Bin projections, flats and darks by N × N pixels on read (the pixel size grows N×): a 1024² series reconstructed at 512².") var bin: Int = 1

    /// The scan, binned on read when asked.
    func openSource() throws -> ProjectionSource {
        guard (1...64).contains(bin) else { throw LensError.invalidArgument("--bin must be 1…64, got \(bin)") }
        let source = try openUnbinnedSource()
        return bin == 1 ? source : try BinnedProjectionSource(source, factor: bin)
    }

    func openUnbinnedSource() throws -> ProjectionSource {
        let reference = DatasetReference(input)
        if reference.fileExtension == "mat" {
            guard let sinogram, let angleVariable else { throw LensError.invalidArgument("a .mat input needs --sinogram and --angle-variable") }
            return try MATSinogramSource(path: reference.filePath, sinogram: sinogram, angles: angleVariable, anglesInRadians: angleUnits == .rad, scale: scale)
        }
        if VolumeIO.xradiaExtensions.contains(reference.fileExtension) && angles == nil && angleRange == nil {
            return try XradiaProjectionSource(path: reference.filePath, flats: flats, darks: darks)
        }
        let isScanFile = ["h5", "hdf5", "hdf", "nxs", "cxi"].contains(reference.fileExtension) && reference.datasetPath == nil
        if isScanFile && angles == nil && angleRange == nil {
            guard flats == nil, darks == nil else { throw LensError.invalidArgument("--flats/--darks apply to stacks; the scan file carries its own") }
            return try TomographyScanReader(path: reference.filePath)
        }
        let count = try VolumeIO.open(input).info.shape[0]
        var list: [Double]
        if let angles {
            list = try readAngleFile(angles)
            if let angleLines { list = Array(list[try parseRange(angleLines, extent: list.count, option: "--angle-lines")]) }
            if angleUnits == .rad { list = list.map { $0 * 180 / .pi } }
        } else if let angleRange {
            let r = try parseValueRange(angleRange, option: "--angle-range")
            list = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: count, rangeDegrees: r.upperBound - r.lowerBound, startDegrees: r.lowerBound)
        } else {
            throw LensError.invalidArgument("a projection stack needs --angles FILE or --angle-range FIRST:LAST")
        }
        return try StackProjectionSource(projections: input, anglesDegrees: list, flats: flats, flatsAfter: flatsAfter, darks: darks,
                                         isLineIntegrals: lineIntegrals, scale: scale, pixelSizeMicrometres: pixelMicrometres)
    }

    func readAngleFile(_ path: String) throws -> [Double] {
        guard let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw LensError.badInput(file: path, problem: "cannot read the angle file")
        }
        var values = [Double]()
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let value = Double(trimmed.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).last.map(String.init) ?? "") else {
                throw LensError.badInput(file: path, problem: "line \(n + 1) is not an angle: '\(trimmed)'")
            }
            values.append(value)
        }
        guard !values.isEmpty else { throw LensError.badInput(file: path, problem: "no angles") }
        return values
    }

    /// The cone-beam distances a Data Exchange or NXtomo scan file records, if any.
    func recordedConeBeam() -> ConeBeamDistances? {
        let reference = DatasetReference(input)
        guard ["h5", "hdf5", "hdf", "nxs", "cxi"].contains(reference.fileExtension), reference.datasetPath == nil, angles == nil, angleRange == nil else { return nil }
        return (try? TomographyScanReader(path: reference.filePath))?.recordedConeBeam
    }

    /// The input files (for output safety and provenance).
    var inputFiles: [String] {
        [DatasetReference(input).filePath] + [angles, flats, flatsAfter, darks].compactMap { $0 }.map { DatasetReference($0).filePath }
    }
}

/// `--align` / `--markers`: how projections are aligned.
enum AlignmentChoice: String, CaseIterable, ExpressibleByArgument {
    case none, auto, reprojection

    /// The aligner's settings, nil for none.
    func settings(markerRadius: Double) throws -> AlignmentSettings? {
        guard self != .none else { return nil }
        var s = AlignmentSettings()
        s.markers = self == .auto ? .auto : .none
        s.markerRadiusPixels = markerRadius
        try s.validate()
        return s
    }
}

/// `batterylens align`: projection alignment on its own, writing the aligned line integrals.
struct AlignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Align the projections of a scan (drift, axis tilt) with gold-bead markers or without, and write the aligned line integrals.",
        discussion: """
        The scan's line integrals (flat-field corrected, −log) are aligned in memory: with \
        --markers auto, gold beads (bright blobs of --marker-radius) are detected in every \
        projection, linked into trajectories and fitted with a sinusoid each, per-projection \
        shifts and the axis tilt (outliers rejected); when fewer than three are tracked, or with \
        --markers none, vertical drift comes from the projections' row sums and both directions \
        from reprojection alignment. The aligned projections go to --out (angle, row, column) \
        with their angles in --angles-out; reconstruct them with \
        `recon OUT --line-integrals --angles ANGLES --center C` (C: the axis column in the summary).
        """)
    @OptionGroup var scan: ScanInputOptions
    @Option(help: "Aligned line integrals (.npy, .h5, .tif).") var out: String
    @Option(name: .customLong("angles-out"), help: "The projections' angles in degrees, one per line.") var anglesOut: String
    @Option(help: "Markers: auto (gold beads when at least three are tracked, else marker-free) or none (marker-free).") var markers: AlignmentSettings.Markers = .auto
    @Option(name: .customLong("marker-radius"), help: "Bead radius in detector pixels.") var markerRadius: Double = 2
    @Option(help: "JSON summary (shifts, tilt, axis column, markers and their residuals).") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var settings = AlignmentSettings()
        settings.markers = markers; settings.markerRadiusPixels = markerRadius
        try settings.validate()
        try global.outputs(inputs: scan.inputFiles) { outputs in
            let outPath = try outputs.file(out, option: "--out")
            let anglesPath = try outputs.file(anglesOut, option: "--angles-out")
            let summaryPath = try outputs.file(summary, option: "--summary")
            let source = try scan.openSource()
            let pixel = scan.pixelMicrometres.map { $0 * Double(scan.bin) } ?? global.voxelMicrometres?.last ?? source.pixelSizeMicrometres
            // The same rule as recon's: a cone that is not negligible (or cannot be judged without
            // the pixel size) is not aligned as parallel beam.
            if let cone = scan.recordedConeBeam(), !(pixel.map { cone.isNegligible(columns: source.frameShape[1], pixelMicrometres: $0) } ?? false) {
                throw LensError.invalidArgument("\(scan.input) records a cone-beam geometry (source \(String(format: "%g", cone.sourceToAxisMillimetres)) mm from the axis); `align` models parallel-beam projections — reconstruct it with `recon` (FDK)")
            }
            let outcome = try ScanAlignment.run(source: source, settings: ReconstructionSettings(pixelSizeMicrometres: pixel), alignment: settings)
            var lines = outcome.lines
            if let pixel { lines.geometry = .isotropic(pixel, rank: 3) }
            try VolumeIO.write(lines, to: outPath, inputs: scan.inputFiles)
            try AtomicOutput.write(Data(source.anglesDegrees.map { String($0) }.joined(separator: "\n").appending("\n").utf8), to: anglesPath)
            let a = outcome.alignment
            let shifts = a.shiftsPixels.flatMap { $0 }.map(abs)
            print(String(format: "%@ alignment of %d projections: largest shift %.2f px, tilt %.3f°%@; wrote %@ and %@", a.method, a.shiftsPixels.count,
                         shifts.max() ?? 0, a.tiltDegrees, a.axisColumn.map { String(format: ", axis column %.2f", $0) } ?? "", out, anglesOut))
            if let report = a.markers {
                print(String(format: "markers: %d tracked, %d rejected, residual %.3f px", report.markers.count, report.markers.filter(\.rejected).count, report.residualRMSPixels))
            }
            if let c = a.consistency {
                print(String(format: "consistency of the aligned projections: centre of mass %@, row sums %@",
                             c.horizontalPixels.map { String(format: "%.3f px", $0) } ?? "not checked (the sample reaches the detector's sides)",
                             c.verticalPixels.map { String(format: "%.3f px", $0) } ?? "not checked"))
            }
            for note in a.notes { print("note: \(note)") }
            for warning in a.warnings { FileHandle.standardError.write(Data("batterylens: warning: \(warning)\n".utf8)) }
            guard let summaryPath, case .object(var fields) = try JSONValue(encoding: a) else { return }
            fields["output"] = .string(out); fields["angles_output"] = .string(anglesOut)
            fields["provenance"] = try provenanceJSON(inputs: scan.inputFiles, parameters: ["markers": .string(markers.rawValue), "marker_radius": .number(markerRadius)])
            try JSONOutput.write(JSONValue.object(fields), to: summaryPath, inputs: scan.inputFiles)
        }
    }
}
