import Foundation
import LensCore
import Phantoms
import Testing
import Tomography

@Suite struct CentreTests {
    /// Noisy scans of an electrode phantom with the axis 10.3 px right or left of the detector
    /// centre: the mirror method finds it within 0.25 px.
    @Test(arguments: [10.3, -10.3])
    func findsAnOffsetAxisWithinAQuarterPixel(offset: Double) throws {
        // 361 angles over 361°: includes 0° and 180°.
        let (scan, lines) = try noisyElectrodeScan(offset: offset, projections: 361, rangeDegrees: 361)
        let estimate = try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.truth.geometry.anglesDegrees)
        #expect(abs(estimate.column - scan.truth.rotationAxisColumn) <= 0.25,
                "found \(estimate.column), truth \(scan.truth.rotationAxisColumn)")
        #expect(!estimate.atSearchEdge)
        #expect(estimate.metric.count == estimate.metricColumns.count)
    }

    @Test func refusesScansWithoutOpposingProjections() {
        let lines = Grid<Float>(shape: Shape(3, 1, 10))
        #expect(throws: LensError.self) { try MirrorCentreFinder.find(lineIntegrals: lines, anglesDegrees: [0, 30, 60]) }
    }
}

@Suite struct FourierCentreTests {
    /// The second, independent method (Vo's Fourier metric on a 180° scan) also finds an
    /// axis 10.3 px off-centre within 0.25 px on noisy data, and its metric curve is returned.
    @Test(arguments: [10.3, -10.3])
    func findsTheAxisWithinAQuarterPixel(offset: Double) throws {
        let (scan, lines) = try noisyElectrodeScan(offset: offset, projections: 360, rangeDegrees: 180)
        let estimate = try FourierCentreFinder.find(lineIntegrals: lines, anglesDegrees: scan.truth.geometry.anglesDegrees)
        #expect(abs(estimate.column - scan.truth.rotationAxisColumn) <= 0.25, "found \(estimate.column), truth \(scan.truth.rotationAxisColumn)")
        #expect(!estimate.atSearchEdge && estimate.metric.count == estimate.metricColumns.count)
        // The sweep: the candidate at the true centre is the sharpest (lowest entropy) of ±3 px.
        let geometry = ParallelBeamGeometry(anglesDegrees: scan.truth.geometry.anglesDegrees, detectorColumns: 128, detectorRows: 4)
        let truth = scan.truth.rotationAxisColumn
        let sweep = try CentreSweep.run(lineIntegrals: lines, geometry: geometry, row: 2, candidates: [truth - 3, truth, truth + 3])
        #expect(sweep.count == 3 && sweep[1].entropyBits < min(sweep[0].entropyBits, sweep[2].entropyBits))
    }
}

/// A 4×96² electrode phantom scanned onto 128 columns with the axis `offset` px off-centre at
/// 5 000 photons per pixel, and its line integrals.
func noisyElectrodeScan(offset: Double, projections: Int, rangeDegrees: Double) throws
    -> (scan: (projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth), lines: Grid<Float>) {
    var p = ElectrodeParameters()
    p.shape = [4, 96, 96]
    p.medianParticleDiameterMicrometres = 6
    p.seed = 21
    let phantom = try ElectrodePhantom.generate(p)
    var acquisition = AcquisitionParameters()
    acquisition.projectionCount = projections
    acquisition.angularRangeDegrees = rangeDegrees
    acquisition.detectorColumns = 128
    acquisition.centreOffsetPixels = offset
    acquisition.incidentPhotons = 5_000
    let scan = try ParallelScanSimulator.simulate(phantom.attenuation, acquisition)
    let (lines, _) = try FlatFieldCorrection.lineIntegrals(projections: scan.projections.converted(to: Float.self),
                                                           flats: scan.flats.converted(to: Float.self), darks: scan.darks.converted(to: Float.self))
    return (scan, lines)
}
