import Foundation
import LensCore
import LensIO
import Testing
import Tomography

/// Real scans in ../shared/data with published centres of rotation (its README).
@Suite struct RealCentreTests {
    let shared: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("shared/data/tomography").path
    }()

    /// Gridding on the real tooth scan against FBP at the found centre: the slices correlate at
    /// ≥ 0.99 and differ by ≤ 10 % of their RMS value inside the field of view (measured: 0.996
    /// and 8 % — the difference is the noise that FBP's linear interpolation smooths and
    /// gridding's kernel does not, not structure).
    @Test func griddingMatchesFBPOnTheToothScan() throws {
        let scan = try TomographyScanReader(path: shared + "/tomopy/tooth.h5")
        let (lines, _) = try FlatFieldCorrection.lineIntegrals(
            projections: try scan.readProjections(0..<scan.projectionCount).float32(),
            flats: try #require(try scan.readFlats()).float32(), darks: try scan.readDarks()?.float32())
        let n = lines.shape[2]
        let geometry = ParallelBeamGeometry(anglesDegrees: scan.anglesDegrees, detectorColumns: n, detectorRows: lines.shape[1],
                                            centreOffsetPixels: 295.59 - Double(n - 1) / 2)
        let fbp = try FilteredBackProjection.reconstruct(lines, geometry: geometry)
        let grid = try FourierGridding.reconstruct(lines, geometry: geometry)
        let c = Double(n - 1) / 2
        var (sa, sb, sab, saa, sbb, sd, count) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for z in 0..<fbp.shape[0] { for r in 0..<n { for j in 0..<n where hypot(Double(r) - c, Double(j) - c) < 0.45 * Double(n) {
            let (a, b) = (Double(fbp[z, r, j]), Double(grid[z, r, j]))
            sa += a; sb += b; sab += a * b; saa += a * a; sbb += b * b; sd += (a - b) * (a - b); count += 1
        } } }
        let correlation = (sab / count - sa * sb / (count * count)) / ((saa / count - sa * sa / (count * count)).squareRoot() * (sbb / count - sb * sb / (count * count)).squareRoot())
        let relative = (sd / count).squareRoot() / (saa / count).squareRoot()
        print("tooth: gridrec vs FBP correlation \(correlation), RMS difference \(relative) of FBP's RMS")
        #expect(correlation >= 0.99 && relative <= 0.10)
    }

    @Test func toothScanCentreNear295() throws {
        let scan = try TomographyScanReader(path: shared + "/tomopy/tooth.h5")
        let (lines, _) = try FlatFieldCorrection.lineIntegrals(
            projections: try scan.readProjections(0..<scan.projectionCount).float32(),
            flats: try #require(try scan.readFlats()).float32(), darks: try scan.readDarks()?.float32())
        let estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.anglesDegrees)
        print("tooth centre", estimate.column, "pairs", estimate.pairs.count, "mismatch", estimate.worstPairMismatchDegrees)
        #expect(abs(estimate.column - 295.0) <= 1)
        // The methods for any angular range agree on the real scan; the sweep's entropy does
        // not (the observation): it is highest at the right centre.
        let centroid = try CentroidCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.anglesDegrees)
        let negativity = try NegativityCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.anglesDegrees)
        print("tooth centroid", centroid.column, "negativity", negativity.column)
        #expect(abs(centroid.column - estimate.column) <= 1 && abs(negativity.column - estimate.column) <= 1)
        let geometry = ParallelBeamGeometry(anglesDegrees: scan.anglesDegrees, detectorColumns: lines.shape[2], detectorRows: lines.shape[1])
        let sweep = try CentreSweep.run(lineIntegrals: lines, geometry: geometry, row: 0, candidates: Array(stride(from: 285.0, through: 307, by: 2)))
        let bestNegativity = sweep.min { $0.negativeFraction < $1.negativeFraction }!.column
        #expect(abs(bestNegativity - estimate.column) <= 1.5)
    }

    @Test func savuTiffScanCentreNear85Point5() throws {
        let projections = try VolumeIO.read(shared + "/savu/image_test/tiffs").float32()
        let flat = try VolumeIO.read(shared + "/savu/image_test/flat_00001.tiff").float32()
        let dark = try VolumeIO.read(shared + "/savu/image_test/dark_00001.tiff").float32()
        let angles = Array(try NumericColumns.read(shared + "/savu/image_test/angles.txt").columns[0][10..<101])
        let (lines, _) = try FlatFieldCorrection.lineIntegrals(projections: projections, flats: flat.reshaped(Shape([1] + flat.shape.dims)),
                                                               darks: dark.reshaped(Shape([1] + dark.shape.dims)))
        let estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: angles)
        print("savu centre", estimate.column, "pairs", estimate.pairs, "mismatch", estimate.worstPairMismatchDegrees)
        #expect(abs(estimate.column - 85.5) <= 1)
    }
}
