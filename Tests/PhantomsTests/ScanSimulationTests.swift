import Foundation
import LensCore
import LensIO
import Phantoms
import Testing
import Tomography

@Suite struct ScanSimulationTests {
    /// A uniform cylinder (μ along the rotation axis) for checks with known line integrals.
    func cylinder(n: Int = 48, rows: Int = 4, mu: Float = 0.01, radius: Double = 18) -> Grid<Float> {
        let c = Double(n - 1) / 2
        return Grid(shape: Shape(rows, n, n), geometry: .isotropic(1, rank: 3)) { i in
            let y = (i / n) % n, x = i % n
            let d = (Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)
            return d <= radius * radius ? mu : 0
        }
    }

    @Test func noiseFreeCountsInvertToTheLineIntegrals() throws {
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 12
        acquisition.incidentPhotons = nil
        acquisition.flatCount = 2; acquisition.darkCount = 2
        let volume = cylinder()
        let scan = try ParallelScanSimulator.simulate(volume, acquisition)
        let projector = try JosephProjector(geometry: scan.truth.geometry, volumeShape: volume.shape)
        let p = try projector.project(volume)
        var worst = 0.0
        for a in 0..<12 { for r in 0..<4 { for c in 0..<48 {
            let i = Double(scan.projections[a, r, c]), f = Double(scan.flats[0, r, c]), d = Double(scan.darks[0, r, c])
            worst = max(worst, abs(-log((i - d) / (f - d)) - Double(p[a, r, c])))
        } } }
        // Counts are integers: rounding ±0.5 count on ≥ 6 000 counts → ≤ 1e-4 in −ln.
        #expect(worst < 2e-4)
        #expect(scan.truth.rotationAxisColumn == 23.5)
    }

    @Test func countsArePoissonAndDefectsZingersAndJitterAreRecorded() throws {
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 40
        acquisition.incidentPhotons = 2_000
        acquisition.darkCounts = 20
        acquisition.defectivePixelFraction = 0.05
        acquisition.zingerProbability = 0.001
        acquisition.jitterPixels = 0.3
        acquisition.centreOffsetPixels = -4.25
        let scan = try ParallelScanSimulator.simulate(cylinder(), acquisition)
        // Open-beam corner pixel (outside the cylinder at every angle): variance ≈ mean.
        var values = [Double]()
        for a in 0..<40 { values.append(Double(scan.projections[a, 1, 0])) }
        let flatValues = (0..<10).map { Double(scan.flats[$0, 1, 0]) }
        let all = values + flatValues
        let mean = all.reduce(0, +) / Double(all.count)
        let variance = all.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(all.count - 1)
        #expect(abs(variance / mean - 1) < 0.6)   // 50 samples: the variance ratio's σ is ~0.2
        // Zingers: expected 40 × 4 × 48 × 0.001 = 7.7; binomial 99.9 % range.
        #expect(scan.truth.zingerCount >= 0 && scan.truth.zingerCount <= 20)
        #expect(!scan.truth.defectivePixels.isEmpty)
        #expect(scan.truth.geometry.projectionShiftsPixels.count == 40)
        #expect(scan.truth.rotationAxisColumn == 23.5 - 4.25)
        // Same seed, same bytes.
        let again = try ParallelScanSimulator.simulate(cylinder(), acquisition)
        #expect(again.projections.elementsEqual(scan.projections) && again.flats.elementsEqual(scan.flats))
    }

    @Test func dataExchangeFileRoundTrips() throws {
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 30
        acquisition.angularRangeDegrees = 135
        acquisition.startAngleDegrees = -67.5
        let scan = try ParallelScanSimulator.simulate(cylinder(), acquisition)
        let path = NSTemporaryDirectory() + "scan-\(UUID().uuidString).h5"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ParallelScanSimulator.writeDataExchange(projections: scan.projections, flats: scan.flats, darks: scan.darks, truth: scan.truth, to: path)
        let reader = try TomographyScanReader(path: path)
        #expect(reader.projectionCount == 30 && reader.flatFrames.count == 10 && reader.darkFrames.count == 10)
        #expect(abs(reader.anglesDegrees.first! + 67.5) < 1e-9 && abs(reader.anglesDegrees.last! - (67.5 - 4.5)) < 1e-9)
        let projections = try reader.readProjections(0..<30).converted(to: UInt16.self)
        #expect(projections.elementsEqual(scan.projections))
    }
}

@Suite struct ConeBeamScanTests {
    @Test func noiseFreeConeBeamCountsInvertToTheLineIntegrals() throws {
        let volume = Grid<Float>(shape: Shape(16, 16, 16), geometry: .isotropic(50, rank: 3)) { i in (i / 16) % 16 > 4 ? 0.0004 : 0 }
        let geometry = ConeBeamGeometry(anglesDegrees: [0, 60, 120], detectorRows: 20, detectorColumns: 24, detectorPixelMillimetres: 0.1,
                                        sourceToAxisMillimetres: 20, sourceToDetectorMillimetres: 50, voxelSizeMicrometres: 50)
        var acquisition = AcquisitionParameters()
        acquisition.incidentPhotons = nil
        acquisition.flatCount = 1; acquisition.darkCount = 1
        let scan = try ParallelScanSimulator.simulateConeBeam(volume, geometry: geometry, acquisition)
        let p = try ConeBeamProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var worst = 0.0
        for i in 0..<p.count {
            let k = i % (20 * 24)
            let corrected = -log((Double(scan.projections[linear: i]) - Double(scan.darks[linear: k])) / (Double(scan.flats[linear: k]) - Double(scan.darks[linear: k])))
            worst = max(worst, abs(corrected - Double(p[linear: i])))
        }
        #expect(worst < 2e-4)
        #expect(scan.truth.coneGeometry == geometry)
        #expect(p.elements.max()! > 0.1)
    }
}

@Suite struct OffsetAxisScanTests {
    /// An offset-axis 360° scan: the detector sees only a bit more than half of the sample, the
    /// axis near one edge; projection θ + 180° is the mirror of θ, which is what stitching uses.
    @Test func projectionsAt180DegreesApartAreMirrored() throws {
        let n = 48
        var rng = SeededRandom(seed: 2)
        let volume = Grid<Float>(shape: Shape(2, n, n), geometry: .isotropic(1, rank: 3), elements: (0..<(2 * n * n)).map { _ in Float(rng.uniform() * 0.01) })
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 8
        acquisition.angularRangeDegrees = 360
        acquisition.detectorColumns = 30
        acquisition.centreOffsetPixels = 14.5 - 4   // axis at column 10: 10 px overlap past the axis
        acquisition.incidentPhotons = nil
        acquisition.flatCount = 1; acquisition.darkCount = 1
        let geometry = try ParallelScanSimulator.simulate(volume, acquisition).truth.geometry
        #expect(geometry.axisColumn == 25)
        let p = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        // Column c at θ sees the ray at u = c − 25; at θ + 180° the same ray is at u' = −u,
        // i.e. column 50 − c, which exists on the detector for c in 21…29.
        for a in 0..<4 { for c in 21..<30 {
            #expect(abs(p[a, 0, c] - p[a + 4, 0, 50 - c]) < 1e-4 * max(1, abs(p[a, 0, c])))
        } }
    }

    @Test func scansCanBeWrittenAsTIFFStacks() throws {
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 6
        let volume = Grid<Float>(shape: Shape(3, 16, 16), geometry: .isotropic(0.5, rank: 3), repeating: 0.001)
        let scan = try ParallelScanSimulator.simulate(volume, acquisition)
        let folder = NSTemporaryDirectory() + "tiffscan-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try ParallelScanSimulator.writeTIFFStacks(projections: scan.projections, flats: scan.flats, darks: scan.darks, truth: scan.truth, to: folder)
        #expect(try VolumeIO.read(folder + "/projections.tif").converted(to: UInt16.self).elementsEqual(scan.projections))
        #expect(try NumericColumns.read(folder + "/angles.txt").columns[0].count == 6)
        #expect(try VolumeIO.open(folder + "/flats.tif").info.shape == Shape(10, 3, 16))
    }
}
