import Foundation
import ImageAnalysis
import LensCore
import Microstructure
import Phantoms
import Signal
import Testing
import Tomography

/// The segmentation chain against the phantom's truth: scan with Poisson noise → FBP →
/// recipe → porosity per depth region, particles after watershed.
@Suite(.serialized) struct PhantomAccuracyTests {
    /// A binder-free, crack-free electrode (the two-class recipe cannot tell carbon–binder of
    /// the phantom's attenuation from pore, and sub-voxel cracks are not resolvable), 96³ at
    /// 0.5 µm, particles of median 6 µm.
    static let phantom: ElectrodePhantom = {
        var p = ElectrodeParameters()
        p.shape = [96, 96, 96]
        p.voxelSizeMicrometres = 0.5
        p.medianParticleDiameterMicrometres = 6
        p.minimumParticleDiameterMicrometres = 3
        p.diameterLogSigma = 0.2
        p.binderCoatingMicrometres = 0; p.binderCoverage = 0; p.binderBridgeMicrometres = 0
        p.crackProbability = 0
        p.allowedOverlap = 0.1
        p.seed = 5
        return try! ElectrodePhantom.generate(p)
    }()

    /// Reconstruction of a noisy parallel-beam scan of the phantom (180 angles, 10⁴ photons
    /// per pixel in the flat, detector wide enough for the corners).
    static let reconstruction: Grid<Float> = {
        var a = AcquisitionParameters()
        a.projectionCount = 180
        a.detectorColumns = 140
        a.incidentPhotons = 10_000
        a.seed = 11
        let scan = try! ParallelScanSimulator.simulate(phantom.attenuation, a)
        let (lines, _) = try! FlatFieldCorrection.lineIntegrals(projections: scan.projections.map { Float($0) },
                                                                flats: scan.flats.map { Float($0) }, darks: scan.darks.map { Float($0) })
        var volume = try! FilteredBackProjection.reconstruct(lines, geometry: scan.truth.geometry, size: 96)
        volume.geometry = phantom.attenuation.geometry
        return volume
    }()

    /// Porosity per depth region within 0.5 % absolute of the truth (the target).
    @Test func porosityPerRegionAfterReconstruction() throws {
        var parameters = ElectrodeSegmentation.Parameters()
        parameters.unsharpAmount = 0.5
        let result = try ElectrodeSegmentation.segment(Self.reconstruction, parameters: parameters)
        let profile = try PhaseProfile.of(result.labels, regionOfInterest: result.labels.map { $0 != 0 ? 1 : 0 })
        let regions = DepthRegions.equal(0..<96, count: 3)
        for (k, region) in regions.enumerated() {
            let measured = profile.region(region, axis: 0, phase: [1]).phaseFraction
            let truth = Self.phantom.truth.depthRegions[k].phases.porosity
            print("region", k, "porosity measured", measured, "truth", truth)
            #expect(abs(measured - truth) < 0.005)
        }
        #expect(result.electrodeVoxels == 96 * 96 * 96)
    }

    /// Watershed on the segmented solid: particle count and median equivalent diameter within 5 %.
    @Test func particlesAfterWatershed() throws {
        let result = try ElectrodeSegmentation.segment(Self.reconstruction)
        let solid = result.labels.map { $0 == 2 ? UInt8(1) : 0 }
        // Defaults: h = 0.5 voxel on the distance map smoothed with σ = 0.5 voxel. (h = 1 merges
        // 9 % of these 12-voxel particles at 10 % contact overlap; see the closing note.)
        let particles = try Watershed.separateParticles(solid)
        let properties = try RegionAnalysis.measure(particles.labels, options: .init(measureSurface: false))
        let measured = properties.filter { $0.voxelCount >= 27 }
        let truth = Self.phantom.truth.particles.filter { $0.envelopeVolumeCubicMicrometres > 27 * 0.125 }
        let measuredMedian = Statistics.median(measured.map(\.equivalentDiameterMicrometres))
        let trueMedian = Statistics.median(truth.map(\.equivalentDiameterMicrometres))
        print("particles", measured.count, "truth", truth.count, "median D", measuredMedian, "truth", trueMedian)
        #expect(abs(Double(measured.count - truth.count)) / Double(truth.count) <= 0.05)
        #expect(abs(measuredMedian - trueMedian) / trueMedian <= 0.05)
    }
}
