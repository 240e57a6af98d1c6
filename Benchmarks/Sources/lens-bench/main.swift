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

default:
    print("unknown case \(command)")
    exit(2)
}
