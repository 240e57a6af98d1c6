// Times BatteryLens operations for the side-by-side benchmarks. Each case prints one JSON line:
// {"case": ..., "seconds": best of N, "repeats": N, ...}. The runner (run.sh) times the Python
// peers on the same inputs and computes the ratios.
import BatteryLens
import Dispatch
import Foundation

func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    var times = [Double]()
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.min()!
}

func emit(_ fields: [String: JSONValue]) {
    let data = try! JSONOutput.encode(JSONValue.object(fields))
    print(String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\n", with: " "))
}

/// The peer script's phantom (Tests/TomographyTests/Fixtures/iradon_512.json, written by
/// peers/fbp_reference.py) scaled to `size` pixels.
func discPhantom(size: Int) -> AnalyticDiscSlice {
    struct Fixture: Decodable { let size: Int; let discs: [AnalyticDiscSlice.Disc] }
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Tests/TomographyTests/Fixtures/iradon_512.json").standardized
    let fixture = try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    let scale = Double(size) / Double(fixture.size)
    return AnalyticDiscSlice(discs: fixture.discs.map { .init(x: $0.x * scale, y: $0.y * scale, radius: $0.radius * scale, mu: $0.mu / scale) })
}

/// Bytes per second of a large single-threaded memcpy (read + write counted once each, as
/// STREAM's copy does), best of three.
func copyBandwidthBytesPerSecond() -> Double {
    let count = 256 << 20
    let a = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64), b = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
    defer { a.deallocate(); b.deallocate() }
    memset(a, 1, count); memset(b, 2, count)
    let seconds = best(3) { memcpy(b, a, count) }
    return 2 * Double(count) / seconds
}

/// SLICES identical slices of the disc phantom's exact sinogram (SIZE², the given angles,
/// rotation centre at `axisColumn`): (angle, slice, column).
func discStack(size n: Int, angles: [Double], slices: Int, axisColumn: Double) -> Grid<Float> {
    let sinogram = discPhantom(size: n).sinogram(anglesDegrees: angles, columns: n, axisColumn: axisColumn)
    return Grid<Float>(shape: Shape(angles.count, slices, n)) { sinogram[linear: ($0 / (slices * n)) * n + $0 % n] }
}

ProgressSettings.mode = .silent
let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    print("usage: lens-bench read PATH [repeats] | fft-batch ROWS LENGTH [repeats]")
    exit(2)
}

switch command {
case "read":
    let path = args[1]
    let repeats = args.count > 2 ? Int(args[2])! : 3
    var bytes = 0
    _ = try VolumeIO.read(path)   // warm the page cache like the peer does
    let seconds = try best(repeats) {
        let grid = try VolumeIO.read(path)
        bytes = grid.byteCount
    }
    emit(["case": .string("read \(URL(fileURLWithPath: DatasetReference(path).filePath).pathExtension)"), "seconds": .number(seconds),
          "repeats": .number(Double(repeats)), "bytes": .number(Double(bytes)), "gigabytes_per_second": .number(Double(bytes) / seconds / 1e9)])

case "fft-batch":
    let rows = Int(args[1])!, length = Int(args[2])!
    let repeats = args.count > 3 ? Int(args[3])! : 5
    var rng = SeededRandom(seed: 1)
    let input = Grid<Float>(shape: Shape(rows, length), elements: (0..<(rows * length)).map { _ in Float(rng.uniform()) })
    _ = FFT.forward(input, axes: [1])   // plan once (cached), as numpy's first call also warms up
    var checksum = 0.0
    let seconds = best(repeats) {
        let spectrum = FFT.forward(input, axes: [1])
        checksum = Double(spectrum[rows - 1, 1].real)
    }
    emit(["case": .string("fft r2c float32 \(rows)x\(length)"), "seconds": .number(seconds), "repeats": .number(Double(repeats)),
          "threads": .number(Double(Parallel.threadCount)), "checksum": .number(checksum)])

case "project":
    let n = Int(args[1])!, angles = Int(args[2])!
    let repeats = args.count > 3 ? Int(args[3])! : 1
    var rng = SeededRandom(seed: 1)
    let volume = Grid<Float>(shape: Shape(n, n, n), elements: (0..<(n * n * n)).map { _ in Float(rng.uniform()) })
    let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles),
                                        detectorColumns: n, detectorRows: n)
    let projector = try JosephProjector(geometry: geometry, volumeShape: volume.shape)
    let forward = try best(repeats) { _ = try projector.project(volume) }
    let sinogram = try projector.project(volume)
    let back = try best(repeats) { _ = try projector.backProject(sinogram) }
    emit(["case": .string("joseph \(n)^3 x \(angles)"), "forward_seconds": .number(forward), "back_seconds": .number(back),
          "samples_per_second": .number(Double(n * n * n) * Double(angles) / forward)])

case "phantom":
    let n = Int(args[1])!
    var parameters = ElectrodeParameters()
    parameters.shape = [n, n, n]
    parameters.grainsPerParticle = args.count > 2 ? Int(args[2])! : 0
    let start = DispatchTime.now().uptimeNanoseconds
    let design = try ElectrodeDesign.generate(parameters)
    let designed = DispatchTime.now().uptimeNanoseconds
    let phantom = try ElectrodePhantom.rasterize(design)
    let end = DispatchTime.now().uptimeNanoseconds
    emit(["case": .string("electrode phantom \(n)^3"), "design_seconds": .number(Double(designed - start) / 1e9),
          "rasterize_and_truth_seconds": .number(Double(end - designed) / 1e9), "particles": .number(Double(phantom.truth.particleCount)),
          "cracked": .number(Double(phantom.truth.crackedParticleCount)), "porosity": .number(phantom.truth.electrode.porosity),
          "active": .number(phantom.truth.electrode.fractions["active"]!), "binder": .number(phantom.truth.electrode.fractions["carbon-binder"]!)])

case "phantom-scan":
    // The phantom issue's target: a 512³ electrode and its 720 parallel projections at 512².
    let n = Int(args[1])!, angles = Int(args[2])!
    var parameters = ElectrodeParameters()
    parameters.shape = [n, n, n]
    let start = DispatchTime.now().uptimeNanoseconds
    let phantom = try ElectrodePhantom.generate(parameters)
    let generated = DispatchTime.now().uptimeNanoseconds
    var acquisition = AcquisitionParameters()
    acquisition.projectionCount = angles
    let scan = try ParallelScanSimulator.simulate(phantom.attenuation, acquisition)
    let end = DispatchTime.now().uptimeNanoseconds
    emit(["case": .string("electrode \(n)^3 + \(angles) projections"), "electrode_seconds": .number(Double(generated - start) / 1e9),
          "scan_seconds": .number(Double(end - generated) / 1e9), "total_seconds": .number(Double(end - start) / 1e9),
          "particles": .number(Double(phantom.truth.particleCount)), "projections_shape": .string(scan.projections.shape.description),
          "peak_resident_gib": .number(Double(MemoryUsage.peakResidentBytes()) / 1_073_741_824)])

case "fbp":
    // Filtered back projection of SLICES identical slices of the peer script's disc phantom
    // (scaled to SIZE), ANGLES over 180°, Shepp–Logan — the same work the peers do per slice.
    let n = Int(args[1])!, angles = Int(args[2])!, slices = Int(args[3])!
    let repeats = args.count > 4 ? Int(args[4])! : 1
    let angleList = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles)
    let stack = discStack(size: n, angles: angleList, slices: slices, axisColumn: Double(n) / 2)
    let geometry = ParallelBeamGeometry(anglesDegrees: angleList, detectorColumns: n, detectorRows: slices, centreOffsetPixels: 0.5)
    var volume = Grid<Float>(shape: Shape(1, 1, 1))
    let seconds = try best(repeats) { volume = try FilteredBackProjection.reconstruct(stack, geometry: geometry) }
    let voxels = Double(n * n * slices)
    // The least memory traffic FBP needs (read the sinograms, write the volume) against the
    // machine's copy bandwidth: how far from memory-bound the run is.
    let minimumBytes = Double(stack.count + volume.count) * 4
    let bandwidth = copyBandwidthBytesPerSecond()
    emit(["case": .string("fbp \(n)^2 x \(angles) angles x \(slices) slices"), "seconds": .number(seconds), "repeats": .number(Double(repeats)),
          "voxels_per_second": .number(voxels / seconds), "voxel_angle_updates_per_second": .number(voxels * Double(angles) / seconds),
          "copy_bandwidth_gb_per_second": .number(bandwidth / 1e9), "bandwidth_fraction": .number(minimumBytes / seconds / bandwidth),
          "threads": .number(Double(Parallel.threadCount)), "centre_value": .number(Double(volume[0, n / 2, n / 2]))])

case "iterative":
    // SIRT, CGLS and TV (Chambolle–Pock) per iteration on SLICES identical slices of the disc phantom (SIZE²),
    // ANGLES evenly over RANGE degrees centred on 0 (the operando TXM's −67.5…+67.5 for 135),
    // from zero, ITERATIONS each; and one forward + back projection pair (the solvers' unit
    // of work), so the solver's overhead over its projector is visible.
    let n = Int(args[1])!, angles = Int(args[2])!, range = Double(args[3])!, slices = Int(args[4])!, iterations = Int(args[5])!
    let angleList = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles, rangeDegrees: range, startDegrees: -range / 2)
    let stack = discStack(size: n, angles: angleList, slices: slices, axisColumn: Double(n - 1) / 2)
    let geometry = ParallelBeamGeometry(anglesDegrees: angleList, detectorColumns: n, detectorRows: slices)
    let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(slices, n, n))
    let pair = try best(2) { _ = try projector.backProject(try projector.project(Grid(shape: Shape(slices, n, n), repeating: 0.01))) }
    var fields: [String: JSONValue] = ["case": .string("iterative \(n)^2 x \(angles) angles over \(range)° x \(slices) slices"),
                                       "projector_pair_seconds_per_slice": .number(pair / Double(slices)), "threads": .number(Double(Parallel.threadCount))]
    let algorithms = args.count > 6 ? args[6].split(separator: ",").compactMap { ReconstructionAlgorithm(rawValue: String($0)) }
                                    : [ReconstructionAlgorithm.sirt, .cgls, .tv]
    for algorithm in algorithms {
        var settings = IterativeSettings()
        settings.iterations = iterations; settings.nonNegative = false; settings.warmStart = false
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try IterativeReconstruction.solve(projector, data: stack, algorithm: algorithm, settings: settings)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        fields["\(algorithm.rawValue)_seconds_per_iteration_per_slice"] = .number(seconds / Double(iterations * slices))
    }
    emit(fields)

case "projector":
    // The Joseph projector's forward and adjoint separately on SLICES slices of SIZE² for
    // ANGLES over RANGE degrees, best of 3: seconds per slice and steps (voxel-angle
    // interpolations) per second, the unit of work of every iterative solver.
    let n = Int(args[1])!, angles = Int(args[2])!, range = Double(args[3])!, slices = Int(args[4])!
    let start = args.count > 5 ? Double(args[5])! : -range / 2
    let angleList = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles, rangeDegrees: range, startDegrees: start)
    let geometry = ParallelBeamGeometry(anglesDegrees: angleList, detectorColumns: n, detectorRows: slices)
    let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(slices, n, n))
    let volume = Grid<Float>(shape: Shape(slices, n, n), repeating: 0.01)
    var sinogram = Grid<Float>(shape: Shape(1, 1, 1))
    let forward = try best(3) { sinogram = try projector.project(volume) }
    let adjoint = try best(3) { _ = try projector.backProject(sinogram) }
    let steps = Double(n * n * angles * slices)
    emit(["case": .string("joseph \(n)^2 x \(angles) angles over \(range)° x \(slices) slices"),
          "forward_seconds_per_slice": .number(forward / Double(slices)), "adjoint_seconds_per_slice": .number(adjoint / Double(slices)),
          "forward_steps_per_second": .number(steps / forward), "adjoint_steps_per_second": .number(steps / adjoint),
          "threads": .number(Double(Parallel.threadCount))])

case "gridrec":
    // Fourier gridding against our back projector on the same SLICES slices of the disc
    // phantom (SIZE², ANGLES over 180°), best of REPEATS each, with the RMS difference.
    let n = Int(args[1])!, angles = Int(args[2])!, slices = Int(args[3])!
    let repeats = args.count > 4 ? Int(args[4])! : 1
    let angleList = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles)
    let stack = discStack(size: n, angles: angleList, slices: slices, axisColumn: Double(n) / 2)
    let geometry = ParallelBeamGeometry(anglesDegrees: angleList, detectorColumns: n, detectorRows: slices, centreOffsetPixels: 0.5)
    var a = Grid<Float>(shape: Shape(1, 1, 1)), b = a
    let fbp = try best(repeats) { a = try FilteredBackProjection.reconstruct(stack, geometry: geometry) }
    let gridrec = try best(repeats) { b = try FourierGridding.reconstruct(stack, geometry: geometry) }
    let difference = (zip(a.elements, b.elements).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)).squareRoot()
    emit(["case": .string("gridrec vs back projection \(n)^2 x \(angles) angles x \(slices) slices"), "fbp_seconds": .number(fbp),
          "gridrec_seconds": .number(gridrec), "speedup": .number(fbp / gridrec), "rms_difference": .number(difference),
          "threads": .number(Double(Parallel.threadCount))])

case "stream-recon":
    // A SIZE-wide scan of ANGLES projections and SIZE detector rows written as Data Exchange
    // HDF5 (uint16 counts of the disc phantom, every row alike), then reconstructed slab by
    // slab through ScanReconstruction (the `recon` command's engine) for slices A..<B: peak
    // memory is what a full 2048³ run holds at any time (the same slabs, more of them).
    let folder = args[1], n = Int(args[2])!, angles = Int(args[3])!
    let slices = Int(args[4])!..<Int(args[5])!
    let scanPath = folder + "/scan_\(n)x\(angles).h5"
    let angleList = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles)
    let writeStart = DispatchTime.now().uptimeNanoseconds
    if !FileManager.default.fileExists(atPath: scanPath) {
        let sinogram = discPhantom(size: n).sinogram(anglesDegrees: angleList, columns: n, axisColumn: Double(n) / 2)
        let incident: Float = 20_000
        try AtomicOutput.write(to: scanPath) { temporary in
            let file = try HDF5File(creating: temporary)
            let data = try file.createDataset("/exchange/data", shape: Shape(angles, n, n), dataType: .uint16)
            let batch = 16
            for a0 in stride(from: 0, to: angles, by: batch) {
                let count = Swift.min(batch, angles - a0)
                let frames = Grid<UInt16>(shape: Shape(count, n, n)) { i in
                    let a = a0 + i / (n * n), col = i % n
                    return UInt16((incident * exp(-sinogram[a, col])).rounded())
                }
                try data.write(AnyGrid(frames), at: a0)
            }
            let flats = try file.createDataset("/exchange/data_white", shape: Shape(2, n, n), dataType: .uint16)
            try flats.write(AnyGrid(Grid<UInt16>(shape: Shape(2, n, n), repeating: UInt16(incident))), at: 0)
            try file.writeDoubles(angleList, to: "/exchange/theta")
            try file.setAttribute("units", string: "degrees", on: "/exchange/theta")
            try file.flush()
        }
    }
    let written = DispatchTime.now().uptimeNanoseconds
    let source = try TomographyScanReader(path: scanPath)
    var settings = ReconstructionSettings(pixelSizeMicrometres: 1)
    settings.centre = .given(Double(n) / 2)
    settings.slices = slices
    let output = folder + "/recon_\(n)x\(angles)_\(slices.lowerBound)_\(slices.upperBound).h5"
    try? FileManager.default.removeItem(atPath: output)
    let report = try ScanReconstruction.run(source: source, settings: settings, output: output, inputs: [scanPath])
    let end = DispatchTime.now().uptimeNanoseconds
    let voxels = Double(n * n * slices.count)
    let scanBytes = Double(angles * n * n * 2)
    emit(["case": .string("stream recon \(n)^2 x \(angles) angles, slices \(slices.lowerBound):\(slices.upperBound)"),
          "scan_gib": .number(scanBytes / 1_073_741_824), "write_scan_seconds": .number(Double(written - writeStart) / 1e9),
          "recon_seconds": .number(Double(end - written) / 1e9), "voxels_per_second": .number(voxels / (Double(end - written) / 1e9)),
          "slab_rows": .number(Double(report.slabRows)), "slabs": .number(Double(report.slabs)),
          "peak_resident_gib": .number(Double(report.peakResidentBytes) / 1_073_741_824)])
    try? FileManager.default.removeItem(atPath: output)

case "compton-events":
    // Writes DIR/events_<M>M.bin: M million phantom events (80×80 pixels, 115 keV at 90°,
    // 2 events per frame, 10 % charge sharing) — simulated once (10⁷), then repeated with the
    // frame numbers shifted for larger counts, so 10⁹ events are written in minutes.
    let folder = args[1], millions = Int(args[2])!
    let path = folder + "/events_\(millions)M.bin"
    if !FileManager.default.fileExists(atPath: path) {
        var p = ComptonParameters()
        p.eventsPerFrame = 2
        p.totalEvents = Swift.min(millions, 10) * 1_000_000
        let lithium = (0..<(p.rows * p.columns)).map { 0.1 + 0.6 * Double($0 % p.columns) / Double(p.columns) }
        let block = folder + "/events_block.bin"
        _ = try ComptonSimulator.writeEvents(lithium: lithium, parameters: p, to: block)
        let blockData = try Data(contentsOf: URL(fileURLWithPath: block))
        let frames = blockData.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: blockData.count - 12, as: UInt32.self)) + 1 }
        let repeats = Swift.max(1, millions / 10)
        try AtomicOutput.write(to: path) { temporary in
            guard let f = fopen(temporary, "wb") else { throw LensError.badOutput(file: path, problem: "cannot create") }
            defer { fclose(f) }
            var copy = [UInt8](blockData)
            for r in 0..<repeats {
                if r > 0 {
                    copy.withUnsafeMutableBytes { raw in
                        for o in stride(from: 0, to: raw.count, by: 12) {
                            let frame = raw.loadUnaligned(fromByteOffset: o, as: UInt32.self) + UInt32(frames)
                            raw.storeBytes(of: frame, toByteOffset: o, as: UInt32.self)
                        }
                    }
                }
                guard fwrite(copy, 1, copy.count, f) == copy.count else { throw LensError.badOutput(file: path, problem: "write failed") }
            }
        }
        try? FileManager.default.removeItem(atPath: block)
    }
    print(path)

case "compton-histogram":
    // Histograms an event file into 80×80 × 1300 spectra (0.1 keV bins), without and with
    // charge-sharing discrimination; peak memory shows it streams.
    let path = args[1]
    let mode = ChargeSharingCorrection(rawValue: args.count > 2 ? args[2] : "none")!
    var spectra: PixelSpectra?
    let seconds = try best(1) { spectra = try PixelSpectra.build(events: path, rows: 80, columns: 80, correction: mode) }
    let events = Double(spectra!.statistics.eventsRead)
    emit(["case": .string("compton histogram \(mode.rawValue)"), "seconds": .number(seconds), "events": .number(events),
          "events_per_second": .number(events / seconds), "counted": .number(Double(spectra!.statistics.eventsCounted)),
          "peak_resident_gib": .number(Double(MemoryUsage.peakResidentBytes()) / 1_073_741_824)])

case "compton-read":
    // Reading and decoding alone (no histogram): the part of `compton-histogram` that is serial.
    var total = 0
    let seconds = try best(1) { try PhotonEventFile(path: args[1]).forEachBatch { total += $0.count } }
    emit(["case": .string("compton read"), "seconds": .number(seconds), "events_per_second": .number(Double(total) / seconds)])

case "compton-fit":
    // Per-pixel peak fit and S of 6 400 spectra (80×80) from an event file.
    let path = args[1]
    let spectra = try PixelSpectra.build(events: path, rows: 80, columns: 80, correction: .discriminate)
    var pixels = 0
    let seconds = try best(2) { pixels = try ComptonAnalysis.analyze(spectra, settings: ComptonAnalysisSettings()).region.pixelsAnalysed }
    emit(["case": .string("compton per-pixel fit, 80x80"), "seconds": .number(seconds), "pixels_analysed": .number(Double(pixels)),
          "threads": .number(Double(Parallel.threadCount))])

case "segmentation":
    // The segmentation peers' operations on peers/segmentation_bench.py's electrode.
    let (dir, n) = (args[1], args[2])
    let mask = try VolumeIO.read("\(dir)/electrode_\(n)_mask.npy").converted(to: UInt8.self)
    let grey = try VolumeIO.read("\(dir)/electrode_\(n)_grey.npy").converted(to: UInt8.self)
    // Optional third argument: a comma-separated subset of the operations.
    let only = args.count > 3 ? Set(args[3].split(separator: ",").map(String.init)) : nil
    func wanted(_ op: String) -> Bool { only?.contains(op) ?? true }
    if wanted("label26") { emit(["op": .string("label26"), "seconds": .number(best(3) { _ = ConnectedComponents.label(mask, connectivity: .corners) })]) }
    if wanted("edt") { emit(["op": .string("edt"), "seconds": .number(best(3) { _ = DistanceTransform.euclidean(mask) })]) }
    if wanted("median3") { emit(["op": .string("median3"), "seconds": .number(best(2) { _ = Filters.median(grey, radius: 1) })]) }
    if wanted("watershed") {
        emit(["op": .string("watershed"), "seconds": .number(try best(1) { _ = try Watershed.separateParticles(mask, h: 0.5, smoothingSigma: 0) })])
    }
    if wanted("tortuosity") {
        // At tolerance 1e-3 (flux balance and τ change), our τ agrees with the 1e-5 solution to
        // ~0.02 %, as TauFactor's default (conv_crit 1e-2) does; the 1e-5 run is the library default.
        let pores = mask.map { $0 == 0 ? UInt8(1) : 0 }
        for (op, tolerance) in [("tortuosity", 1e-3), ("tortuosity_1e-5", 1e-5)] {
            var result: TortuosityResult?
            let seconds = try best(1) { result = try Tortuosity.compute(phase: pores, axis: 0, settings: .init(tolerance: tolerance)) }
            emit(["op": .string(op), "seconds": .number(seconds), "tau": .number(result!.tortuosityFactor),
                  "tau_percolating": .number(result!.percolatingTortuosityFactor)])
        }
    }

case "matbox":
    // The MATBOX NMC cathode (labels 0 pore, 1 NMC, 2 CBD): phase fractions, local thickness of
    // the pore and NMC phases (PoreSpy's method, 25 radii), and the pore tortuosity factor
    // through the electrode (array axis 0, tolerance 1e-3 as in the segmentation case).
    let labels = try VolumeIO.read(args[1]).converted(to: UInt8.self)
    var counts = [Int](repeating: 0, count: 256)
    labels.withUnsafeBufferPointer { for v in $0 { counts[Int(v)] += 1 } }
    emit(["op": .string("fractions"), "pore": .number(Double(counts[0]) / Double(labels.count)),
          "nmc": .number(Double(counts[1]) / Double(labels.count)), "cbd": .number(Double(counts[2]) / Double(labels.count))])
    for (name, value) in [("pore", UInt8(0)), ("nmc", UInt8(1))] {
        let phase = labels.map { $0 == value ? UInt8(1) : 0 }
        var result: LocalThickness.Result?
        let seconds = try best(1) { result = try LocalThickness.compute(phase: phase, sizes: 25) }
        let inside = result!.thickness.elements.enumerated().filter { phase[linear: $0.offset] == 1 }.map { Double($0.element) }
        emit(["op": .string("local_thickness_\(name)"), "seconds": .number(seconds), "mean": .number(Statistics.mean(inside)),
              "median": .number(Statistics.median(inside))])
    }
    let pores = labels.map { $0 == 0 ? UInt8(1) : 0 }
    var result: TortuosityResult?
    let seconds = try best(1) { result = try Tortuosity.compute(phase: pores, axis: 0, settings: .init(tolerance: 1e-3)) }
    emit(["op": .string("tortuosity_pore_axis0"), "seconds": .number(seconds), "tau": .number(result!.tortuosityFactor),
          "tau_percolating": .number(result!.percolatingTortuosityFactor)])

case "xanes":
    // peers/xanes_bench.py's stack: normalization with one E0 and fixed ranges, edge energies,
    // white line and two-reference LCF with uncertainties, per pixel.
    let (dir, name) = (args[1], args[2])
    let intensity = try VolumeIO.read("\(dir)/\(name)_intensity.npy").float32()
    let energies = try NumericColumns.read("\(dir)/\(name)_energies.txt").columns[0]
    let references = try SpectrumFile.references("\(dir)/\(name)_references.csv")
    var settings = XANESSettings()
    settings.e0 = 8343
    settings.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
    var maps: XANESMaps?
    let seconds = try best(intensity.rank == 3 ? 2 : 1) {
        maps = try XANESAnalysis.analyse(intensity: intensity, flat: nil, energies: energies.map { $0 }, references: references, settings: settings)
    }
    // The stack is I with I0 = 1e5: transmission scaling does not change normalized μ.
    emit(["op": .string("xanes_\(name)"), "seconds": .number(seconds), "pixels": .number(Double(maps!.mask.count)),
          "valid": .number(Double(maps!.maskCounts[.valid] ?? 0)), "peak_memory_mib": .number(Double(MemoryUsage.peakResidentBytes()) / 1048576)])

case "register":
    // Rigid registration of an electrode phantom (SIZE³, attenuation) against a copy moved by a
    // known rigid transform (cubic resampling, 1 % Gaussian noise on both), written to FOLDER
    // as fixed.npy / moving.npy / truth.json for peers/register_bench.py; then timed here.
    let n = Int(args[1])!, folder = args[2]
    var parameters = ElectrodeParameters()
    parameters.shape = [n, n, n]
    parameters.medianParticleDiameterMicrometres = Double(n) / 24
    let phantom = try ElectrodePhantom.rasterize(try ElectrodeDesign.generate(parameters))
    let centre = (0..<3).map { _ in Double(n - 1) / 2 }
    let truth = SimilarityTransform(translationVoxels: [2.3, -1.6, 3.1], rotationVectorDegrees: [1.0, -0.5, 0.8], centreVoxels: centre)
    let peak = Double(phantom.attenuation.elements.max() ?? 1)
    var rng = SeededRandom(seed: 5)
    func noisy(_ g: Grid<Float>) -> Grid<Float> {
        var out = g
        out.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = (b[i].isFinite ? b[i] : 0) + Float(0.01 * peak * rng.normal()) } }
        return out
    }
    let fixed = noisy(phantom.attenuation)
    let moving = noisy(VolumeRegistration.resample(phantom.attenuation, transform: truth.inverse, shape: phantom.attenuation.shape, interpolation: .cubic, fill: 0))
    if !FileManager.default.fileExists(atPath: folder) { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    try VolumeIO.write(fixed, to: folder + "/fixed.npy")
    try VolumeIO.write(moving, to: folder + "/moving.npy")
    try JSONEncoder().encode(truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
    var result: VolumeRegistrationResult?
    var settings = VolumeRegistrationSettings()
    if args.count > 3 { settings.maximumSamples = Int(args[3])! }
    let seconds = try best(1) { result = try VolumeRegistration.register(fixed: fixed, moving: moving, settings: settings) }
    var worst = 0.0
    for corner in 0..<8 {
        let p = SIMD3((0..<3).map { (corner >> $0) & 1 == 1 ? Double(n - 1) : 0 })
        let d = result!.transform.apply(p) - truth.apply(p)
        worst = max(worst, (d * d).sum().squareRoot())
    }
    emit(["case": .string("rigid registration \(n)^3"), "seconds": .number(seconds), "corner_error_voxels": .number(worst),
          "translation": .array(result!.transform.translationVoxels.map { .number($0) }), "rotation_degrees": .number(result!.transform.rotationAngleDegrees),
          "iterations": .array(result!.iterationsPerLevel.map { .number(Double($0)) }), "threads": .number(Double(Parallel.threadCount)),
          "peak_memory_mib": .number(Double(MemoryUsage.peakResidentBytes()) / 1048576)])

case "series":
    // The damage-and-4D chain on the phantom cycling series: 5 states of SIZE³ (median particle
    // diameter DIAMETER µm at 0.5 µm voxels), each state's attenuation and particle ids held;
    // then timed: rigid registration of states 1–4 to state 0, tracking through all five, and
    // crack analysis of every state.
    let n = Int(args[1])!, diameter = Double(args[2])!
    var parameters = ElectrodeParameters()
    parameters.shape = [n, n, n]
    parameters.medianParticleDiameterMicrometres = diameter
    let t0 = DispatchTime.now().uptimeNanoseconds
    let designs = CyclingSeries.designs(pristine: try ElectrodeDesign.generate(parameters), states: CyclingState.tomo00to04)
    var greys = [Grid<Float>](), labels = [Grid<Int32>]()
    var particles = 0
    for design in designs {
        let phantom = try ElectrodePhantom.rasterize(design)
        greys.append(phantom.attenuation); labels.append(phantom.particleIDs)
        particles = phantom.truth.particleCount
    }
    let t1 = DispatchTime.now().uptimeNanoseconds
    var transforms: [SimilarityTransform?] = [nil]
    for k in 1..<greys.count { transforms.append(try VolumeRegistration.register(fixed: greys[0], moving: greys[k]).transform) }
    let t2 = DispatchTime.now().uptimeNanoseconds
    let tracking = try ParticleTracking.track(labels: labels, transforms: transforms)
    let t3 = DispatchTime.now().uptimeNanoseconds
    var damaged = 0
    for k in greys.indices { damaged = try CrackAnalysis.analyse(grey: greys[k], particles: labels[k]).damage.filter { $0.damageClass != "least" }.count }
    let t4 = DispatchTime.now().uptimeNanoseconds
    func s(_ a: UInt64, _ b: UInt64) -> JSONValue { .number(Double(b - a) / 1e9) }
    emit(["case": .string("series 5 x \(n)^3, \(particles) particles"), "phantoms_seconds": s(t0, t1), "registration_seconds": s(t1, t2),
          "tracking_seconds": s(t2, t3), "cracks_seconds": s(t3, t4), "chain_seconds": s(t1, t4), "tracks": .number(Double(tracking.tracks.count)),
          "damaged_last_state": .number(Double(damaged)), "threads": .number(Double(Parallel.threadCount)),
          "peak_memory_mib": .number(Double(MemoryUsage.peakResidentBytes()) / 1048576)])

case "porosimetry":
    // Simulated mercury intrusion of the MATBOX pore phase (label 0), PoreSpy's defaults.
    let labels = try VolumeIO.read(args[1]).converted(to: Int32.self)
    let pore = labels.map { $0 == 0 ? UInt8(1) : 0 }
    var curve: PorosimetryCurve?
    let seconds = try best(1) { curve = try Porosimetry.drainage(pore: pore) }
    emit(["case": .string("porosimetry \(labels.shape)"), "seconds": .number(seconds), "radii": .number(Double(curve!.radiiVoxels.count)),
          "saturation": .array(curve!.saturation.map { .number($0) }), "threads": .number(Double(Parallel.threadCount))])

case "electrode":
    // Electrode tortuosity τ_e of the MATBOX pore phase on a crop z0:z1,y0:y1,x0:x1, along z.
    let labels = try VolumeIO.read(args[1]).converted(to: Int32.self)
    let b = args[2].split(separator: ",").map { $0.split(separator: ":").map { Int($0)! } }
    let d = labels.shape.dims
    let (ez, ey, ex) = (b[0][1] - b[0][0], b[1][1] - b[1][0], b[2][1] - b[2][0])
    let pore = Grid<UInt8>(shape: Shape(ez, ey, ex)) { i in
        let (z, y, x) = (i / (ey * ex), (i / ex) % ey, i % ex)
        return labels[linear: ((z + b[0][0]) * d[1] + y + b[1][0]) * d[2] + x + b[2][0]] == 0 ? 1 : 0
    }
    var result: ElectrodeTortuosityResult?
    let seconds = try best(3) { result = try ElectrodeTortuosity.compute(phase: pore, axis: 0) }
    emit(["case": .string("electrode tortuosity \(pore.shape)"), "seconds": .number(seconds), "tau_e": .number(result!.electrodeTortuosityFactor),
          "threads": .number(Double(Parallel.threadCount))])

case "network":
    // SNOW pore-network extraction of the MATBOX pore phase (label 0), PoreSpy's snow2 defaults.
    let labels = try VolumeIO.read(args[1]).converted(to: Int32.self)
    let pore = labels.map { $0 == 0 ? UInt8(1) : 0 }
    var network: PoreNetwork?
    let seconds = try best(3) { network = try SNOW.extract(pore: pore).network }
    emit(["case": .string("snow network \(labels.shape)"), "seconds": .number(seconds), "pores": .number(Double(network!.pores.count)),
          "throats": .number(Double(network!.throats.count)), "mean_coordination": .number(network!.meanCoordination),
          "threads": .number(Double(Parallel.threadCount)), "peak_memory_mib": .number(Double(MemoryUsage.peakResidentBytes()) / 1048576)])

default:
    print("unknown case \(command)")
    exit(2)
}
