import Foundation
import LensCore
import LensIO
import Tomography

/// How a simulated parallel-beam scan is acquired.
public struct AcquisitionParameters: Codable, Sendable, Equatable {
    public var projectionCount = 180
    public var angularRangeDegrees = 180.0
    public var startAngleDegrees = 0.0
    /// Detector columns (nil: the volume's width). Narrower than the sample with a large
    /// `centreOffsetPixels` and 360° gives an offset-axis ("double field of view") scan.
    public var detectorColumns: Int?
    /// Rotation axis column minus the detector centre column, pixels.
    public var centreOffsetPixels = 0.0
    /// Mean open-beam counts per pixel; nil for noise-free data (counts = expectation).
    public var incidentPhotons: Double? = 10_000
    /// Mean dark counts per pixel.
    public var darkCounts = 100.0
    public var flatCount = 10
    public var darkCount = 10
    /// Fraction of detector pixels whose gain during the projections differs from the flats by a
    /// few percent (σ = `defectGainSigma`): after flat-field correction they leave stripes in
    /// the sinogram, i.e. ring artefacts.
    public var defectivePixelFraction = 0.0
    public var defectGainSigma = 0.05
    /// Probability per pixel per projection of a zinger (a direct hit adding 5–20× the open beam).
    public var zingerProbability = 0.0
    /// Standard deviation of random sample jitter per projection (column, row), pixels.
    public var jitterPixels = 0.0
    /// Phase contrast: propagation distance (mm, 0 = contact/absorption only), δ/β of the
    /// material and the energy (keV) for the wavelength.
    public var propagationDistanceMillimetres = 0.0
    public var deltaOverBeta = 0.0
    public var energyKeV = 20.0
    public var seed: UInt64 = 1
    public init() {}
}

/// What is known about a simulated scan: its geometry and the defects put in.
public struct ScanTruth: Codable, Sendable, Equatable {
    public var geometry: ParallelBeamGeometry
    /// Detector column on which the rotation axis projects (what centre finding must recover).
    public var rotationAxisColumn: Double
    public var acquisition: AcquisitionParameters
    /// Detector pixels (row, column) with miscalibrated gain and their relative gain error.
    public var defectivePixels: [[Double]]
    public var zingerCount: Int
    public var clippedCount: Int
    /// Set for cone-beam scans (then `geometry` holds only the angles and detector size).
    public var coneGeometry: ConeBeamGeometry?
}

/// Simulates parallel-beam acquisitions of an attenuation volume.
public enum ParallelScanSimulator {
    /// Projects `attenuation` (1/µm, with its voxel size) and turns line integrals into detector
    /// counts: I = gain · I0 · exp(−p) + dark with Poisson noise, plus flats (gain · I0 + dark)
    /// and darks, as uint16 (clipped at 65535, counted).
    public static func simulate(_ attenuation: Grid<Float>, _ acquisition: AcquisitionParameters,
                                progress: ProgressReporter? = nil) throws
        -> (projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth) {
        guard attenuation.rank == 3 else { throw LensError.invalidArgument("attenuation must be a 3D volume") }
        guard acquisition.projectionCount > 0, acquisition.flatCount >= 0, acquisition.darkCount >= 0 else {
            throw LensError.invalidArgument("projection, flat and dark counts must be non-negative (and projections positive)")
        }
        let rows = attenuation.shape[0]
        let columns = acquisition.detectorColumns ?? attenuation.shape[2]
        var rng = SeededRandom(seed: acquisition.seed)
        let shifts: [[Double]] = acquisition.jitterPixels > 0
            ? (0..<acquisition.projectionCount).map { _ in [acquisition.jitterPixels * rng.normal(), acquisition.jitterPixels * rng.normal()] }
            : []
        let geometry = ParallelBeamGeometry(
            anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: acquisition.projectionCount,
                                                                          rangeDegrees: acquisition.angularRangeDegrees,
                                                                          startDegrees: acquisition.startAngleDegrees),
            detectorColumns: columns, detectorRows: rows, centreOffsetPixels: acquisition.centreOffsetPixels,
            projectionShiftsPixels: shifts, pixelSizeMicrometres: attenuation.geometry.voxelSizeMicrometres[2])
        let projector = try JosephProjector(geometry: geometry, volumeShape: attenuation.shape)
        let lineIntegrals = try projector.project(attenuation, progress: progress)
        // With propagation, the detector sees the Fresnel intensity instead of exp(−p); the
        // counts below use −ln of it as their effective line integral.
        var effective = lineIntegrals
        if acquisition.propagationDistanceMillimetres > 0 {
            let intensity = FresnelPropagation.propagate(lineIntegrals: lineIntegrals, pixelSizeMicrometres: geometry.pixelSizeMicrometres,
                                                         energyKeV: acquisition.energyKeV, distanceMillimetres: acquisition.propagationDistanceMillimetres,
                                                         deltaOverBeta: acquisition.deltaOverBeta)
            effective = intensity.map { -Float(log(Double(Swift.max($0, 1e-12)))) }
        }

        let d = detectorCounts(effective, acquisition, rng: &rng)
        let truth = ScanTruth(geometry: geometry, rotationAxisColumn: geometry.axisColumn, acquisition: acquisition,
                              defectivePixels: d.defects, zingerCount: d.zingers, clippedCount: d.clipped, coneGeometry: nil)
        return (d.projections, d.flats, d.darks, truth)
    }

    /// A cone-beam scan (lab micro-CT): the same detector model on cone-beam line integrals.
    public static func simulateConeBeam(_ attenuation: Grid<Float>, geometry: ConeBeamGeometry, _ acquisition: AcquisitionParameters) throws
        -> (projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth) {
        let lineIntegrals = try ConeBeamProjector(geometry: geometry, volumeShape: attenuation.shape).project(attenuation)
        var rng = SeededRandom(seed: acquisition.seed)
        let d = detectorCounts(lineIntegrals, acquisition, rng: &rng)
        let flat = ParallelBeamGeometry(anglesDegrees: geometry.anglesRadians.map { $0 * 180 / .pi }, detectorColumns: geometry.detectorColumns,
                                        detectorRows: geometry.detectorRows, centreOffsetPixels: geometry.centreOffsetPixels,
                                        pixelSizeMicrometres: geometry.detectorPixelMillimetres * 1000 / geometry.magnification)
        let truth = ScanTruth(geometry: flat, rotationAxisColumn: flat.axisColumn, acquisition: acquisition,
                              defectivePixels: d.defects, zingerCount: d.zingers, clippedCount: d.clipped, coneGeometry: geometry)
        return (d.projections, d.flats, d.darks, truth)
    }

    /// Line integrals (angle, row, column) → uint16 counts with flats and darks: smooth detector
    /// gain, miscalibrated pixels, Poisson noise, zingers; returns the defects put in and the
    /// zinger and clipping counts (the caller, who knows the geometry, writes the truth).
    static func detectorCounts(_ effective: Grid<Float>, _ acquisition: AcquisitionParameters, rng: inout SeededRandom)
        -> (projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, defects: [[Double]], zingers: Int, clipped: Int) {
        let rows = effective.shape[1], columns = effective.shape[2], projectionCount = effective.shape[0]
        // Detector: smooth gain (vignetting-like, ±3 %) and miscalibrated pixels.
        let pixels = rows * columns
        var gain = [Double](repeating: 1, count: pixels)
        var flatGain = [Double](repeating: 1, count: pixels)
        var defects = [[Double]]()
        for r in 0..<rows { for c in 0..<columns {
            let u = Double(c) / Double(Swift.max(1, columns - 1)) - 0.5, v = Double(r) / Double(Swift.max(1, rows - 1)) - 0.5
            let g = 1 - 0.06 * (u * u + v * v)
            gain[r * columns + c] = g
            flatGain[r * columns + c] = g
            if rng.uniform() < acquisition.defectivePixelFraction {
                let error = acquisition.defectGainSigma * rng.normal()
                gain[r * columns + c] = g * (1 + error)
                defects.append([Double(r), Double(c), error])
            }
        } }
        let i0 = acquisition.incidentPhotons ?? 10_000
        let noisy = acquisition.incidentPhotons != nil
        let dark = acquisition.darkCounts
        var projections = Grid<UInt16>(shape: effective.shape)
        let counters = CountBox()
        let baseSeed = rng.next()
        let (g, z) = (gain, acquisition.zingerProbability)
        // Each worker owns whole projections.
        Parallel.withDisjointWrites(&projections) { out in
            Parallel.sharing(effective) { p in
                Parallel.forEachChunk(count: projectionCount, minimumChunk: 1) { range in
                    var zingers = 0, clipped = 0
                    for a in range {
                        var local = SeededRandom(seed: baseSeed).split(UInt64(a))
                        for k in 0..<pixels {
                            var mean = g[k] * i0 * exp(-Double(p[a * pixels + k])) + dark
                            if z > 0 && local.uniform() < z { mean += i0 * (5 + 15 * local.uniform()); zingers += 1 }
                            let value = noisy ? poisson(mean, &local) : mean.rounded()
                            if value > 65535 { clipped += 1 }
                            out[a * pixels + k] = UInt16(Swift.min(65535, Swift.max(0, value)))
                        }
                    }
                    counters.add(zingers: zingers, clipped: clipped)
                }
            }
        }
        var frameRng = SeededRandom(seed: baseSeed).split(UInt64.max)
        func frames(_ count: Int, flat: Bool) -> Grid<UInt16> {
            var grid = Grid<UInt16>(shape: Shape(count, rows, columns))
            for f in 0..<count { for k in 0..<pixels {
                let mean = (flat ? flatGain[k] * i0 : 0) + dark
                let value = noisy ? poisson(mean, &frameRng) : mean.rounded()
                grid[linear: f * pixels + k] = UInt16(Swift.min(65535, Swift.max(0, value)))
            } }
            return grid
        }
        let flats = frames(acquisition.flatCount, flat: true)
        let darks = frames(acquisition.darkCount, flat: false)
        return (projections, flats, darks, defects, counters.zingers, counters.clipped)
    }

    /// Writes a simulated scan as Data Exchange HDF5 (`/exchange/data`, `data_white`, `data_dark`,
    /// `theta`), the layout TomoPy and BatteryLens read.
    public static func writeDataExchange(projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth, to path: String) throws {
        try DataExchangeWriter.write(projections: AnyGrid(projections), flats: flats.shape[0] > 0 ? AnyGrid(flats) : nil,
                                     darks: darks.shape[0] > 0 ? AnyGrid(darks) : nil, anglesDegrees: truth.geometry.anglesDegrees,
                                     pixelSizeMicrometres: truth.geometry.pixelSizeMicrometres,
                                     coneBeam: truth.coneGeometry.map {
                                         ConeBeamDistances(sourceToAxisMillimetres: $0.sourceToAxisMillimetres,
                                                           sourceToDetectorMillimetres: $0.sourceToDetectorMillimetres, source: "simulated")
                                     }, to: path)
    }

    /// Writes a simulated scan as TIFF stacks in a new folder: projections.tif (angle pages),
    /// flats.tif, darks.tif and angles.txt (degrees, one per line) — the layout of TIFF-based
    /// beamline exports.
    public static func writeTIFFStacks(projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth, to folder: String) throws {
        try AtomicOutput.write(to: folder) { temporary in
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
            var p = projections
            p.geometry = GridGeometry(voxelSizeMicrometres: [1, truth.geometry.pixelSizeMicrometres, truth.geometry.pixelSizeMicrometres])
            try VolumeIO.write(p, to: temporary + "/projections.tif")
            if flats.shape[0] > 0 { try VolumeIO.write(flats, to: temporary + "/flats.tif") }
            if darks.shape[0] > 0 { try VolumeIO.write(darks, to: temporary + "/darks.tif") }
            let text = truth.geometry.anglesDegrees.map { String(format: "%.6f", $0) }.joined(separator: "\n") + "\n"
            try AtomicOutput.write(Data(text.utf8), to: temporary + "/angles.txt")
        }
    }

    /// A Poisson sample: Knuth's product method for small means, the normal approximation with
    /// continuity correction above 50 (error in the variance < 1 %).
    static func poisson(_ mean: Double, _ rng: inout SeededRandom) -> Double {
        if mean <= 0 { return 0 }
        if mean > 50 { return Swift.max(0, (mean + mean.squareRoot() * rng.normal()).rounded()) }
        let limit = exp(-mean)
        var k = 0.0, product = rng.uniform()
        while product > limit { k += 1; product *= rng.uniform() }
        return k
    }
}

/// Thread-safe counters for the simulation.
final class CountBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var zingers = 0
    private(set) var clipped = 0
    func add(zingers z: Int, clipped c: Int) { lock.lock(); zingers += z; clipped += c; lock.unlock() }
}
