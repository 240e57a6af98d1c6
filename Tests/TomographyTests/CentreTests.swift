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
        var p = ElectrodeParameters()
        p.shape = [4, 96, 96]
        p.medianParticleDiameterMicrometres = 6
        p.seed = 21
        let phantom = try ElectrodePhantom.generate(p)
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 361
        acquisition.angularRangeDegrees = 360 * 361 / 360.0   // includes 0° and 180°
        acquisition.detectorColumns = 128
        acquisition.centreOffsetPixels = offset
        acquisition.incidentPhotons = 5_000
        let scan = try ParallelScanSimulator.simulate(phantom.attenuation, acquisition)
        let (lines, _) = try FlatFieldCorrection.lineIntegrals(projections: scan.projections.converted(to: Float.self),
                                                               flats: scan.flats.converted(to: Float.self), darks: scan.darks.converted(to: Float.self))
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
