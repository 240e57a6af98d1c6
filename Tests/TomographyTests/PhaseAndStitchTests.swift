import Foundation
import LensCore
import Phantoms
import Testing
import Tomography

@Suite struct PhaseAndStitchTests {
    /// Paganin on simulated propagation data (a sphere of one material, δ/β = 300, 20 keV,
    /// 1 µm pixels, 20 mm: a fringed image) recovers the projected thickness within
    /// 2 % inside the sphere's projection (away from its rim, where the filter's blur acts).
    @Test func paganinRecoversProjectedThickness() throws {
        let (n, pixel, mu, radius) = (128, 1.0, 0.002, 40.0)   // μ in 1/µm, radius in px
        let c = Double(n - 1) / 2
        var thickness = Grid<Float>(shape: Shape(1, n, n))
        for y in 0..<n { for x in 0..<n {
            let r2 = (Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)
            thickness[0, y, x] = r2 < radius * radius ? Float(2 * (radius * radius - r2).squareRoot() * pixel) : 0
        } }
        let lineIntegrals = thickness.map { $0 * Float(mu) }
        let parameters = PaganinParameters(energyKeV: 20, distanceMillimetres: 5, deltaOverBeta: 300, pixelSizeMicrometres: pixel)
        let intensity = FresnelPropagation.propagate(lineIntegrals: lineIntegrals, pixelSizeMicrometres: pixel, energyKeV: 20,
                                                     distanceMillimetres: 5, deltaOverBeta: 300)
        var measured = intensity.map { -log(Swift.max($0, 1e-12)) }
        // Without retrieval the fringes are far from the thickness.
        var rawWorst = 0.0, worst = 0.0
        try PaganinPhaseRetrieval.apply(toLineIntegrals: &measured, parameters)
        for y in 0..<n { for x in 0..<n {
            let r = ((Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)).squareRoot()
            guard r < 0.8 * radius else { continue }
            let truth = Double(thickness[0, y, x])
            worst = Swift.max(worst, abs(Double(measured[0, y, x]) / mu - truth) / truth)
            rawWorst = Swift.max(rawWorst, abs(-log(Double(intensity[0, y, x])) / mu - truth) / truth)
        } }
        #expect(worst < 0.02, "worst relative thickness error \(worst)")
        #expect(rawWorst > 0.05, "the test data should need phase retrieval (raw error \(rawWorst))")
        #expect(parameters.decayLengthPixels > 1)
        #expect(throws: LensError.self) {
            try PaganinPhaseRetrieval.apply(toLineIntegrals: &measured, PaganinParameters(energyKeV: 0, distanceMillimetres: 1, deltaOverBeta: 1, pixelSizeMicrometres: 1))
        }
    }

    /// A 360° offset-axis scan (axis 20 px from the detector edge, 60 % of the full width)
    /// stitched into a 180° sinogram reconstructs the phantom with an RMSE within 1.1× of a
    /// full-field 180° scan of the same phantom with the same angular and sub-pixel sampling — for the axis
    /// on either side — and the axis is found automatically from the 180° pairs.
    @Test(arguments: [true, false])
    func offsetAxisMatchesFullField(axisOnRight: Bool) throws {
        let n = 160, angles = 720
        let (volume, _, _) = discWithParticles(size: n)
        // Half detector: 100 columns; the axis (the volume centre) 20.3 px from one edge.
        let columns = 100
        let axis = axisOnRight ? Double(columns - 1) - 20.3 : 20.3
        // The full-field detector samples the object at the same sub-pixel phase.
        let fullAxis = 79 + (axis - axis.rounded(.down))
        let full = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles / 2), detectorColumns: n,
                                        detectorRows: 1, centreOffsetPixels: fullAxis - Double(n - 1) / 2)
        let fullSinogram = try JosephProjector(geometry: full, volumeShape: volume.shape).project(volume)
        let fullRecon = try FilteredBackProjection.reconstruct(fullSinogram, geometry: full)
        let offset = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles, rangeDegrees: 360),
                                          detectorColumns: columns, detectorRows: 1, centreOffsetPixels: axis - Double(columns - 1) / 2)
        let scan = try JosephProjector(geometry: offset, volumeShape: volume.shape).project(volume)
        let found = try MirrorCentreFinder.find(lineIntegrals: scan, anglesDegrees: offset.anglesDegrees, searchHalfWidthPixels: Double(columns) / 2,
                                                minimumOverlapFraction: 0.05)
        #expect(abs(found.column - axis) < 0.25, "offset axis found at \(found.column), truth \(axis)")
        let (stitched, plan) = try OffsetAxisStitching.stitch(scan, anglesDegrees: offset.anglesDegrees, axisColumn: found.column)
        #expect(plan.pairCount == angles / 2 && plan.stitchedColumns >= 2 * (columns - 21))
        let geometry = ParallelBeamGeometry(anglesDegrees: plan.anglesDegrees, detectorColumns: plan.stitchedColumns, detectorRows: 1,
                                            centreOffsetPixels: plan.stitchedAxisColumn - Double(plan.stitchedColumns - 1) / 2)
        let recon = try FilteredBackProjection.reconstruct(stitched, geometry: geometry, size: n)
        // Compare inside the field of view of the stitched scan.
        let c = Double(n - 1) / 2, fov = plan.stitchedAxisColumn - 2
        let inside: (Int) -> Bool = { i in
            let y = (i / n) % n, x = i % n
            return (Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c) < fov * fov
        }
        let (e1, e0) = (rmse(recon, volume, where: inside), rmse(fullRecon, volume, where: inside))
        #expect(e1 <= 1.1 * e0, "stitched RMSE \(e1) vs full-field \(e0)")
        #expect(throws: LensError.self) { try OffsetAxisStitching.stitch(fullSinogram, anglesDegrees: full.anglesDegrees, axisColumn: 80) }
    }

    /// Zingers are found and replaced; the rest of the data is left nearly alone.
    @Test func zingersAreRemoved() throws {
        let (volume, _, _) = discWithParticles(size: 64, slices: 2)
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 180), detectorColumns: 64, detectorRows: 2)
        let clean = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var rng = SeededRandom(seed: 5)
        var noisy = clean
        for i in 0..<noisy.count { noisy[linear: i] += Float(0.003 * rng.normal()) }
        let reference = noisy
        var hits = [Int]()
        for _ in 0..<40 { let i = Int(rng.uniform() * Double(noisy.count)); hits.append(i); noisy[linear: i] -= 1.5 }
        let report = ZingerRemoval.apply(&noisy)
        // Every zinger (−1.5) is replaced by its neighbourhood median (within 0.25 even at the
        // sharp particle edges of this small phantom); fewer than 0.5 % of the other pixels are.
        #expect(hits.allSatisfy { abs(noisy[linear: $0] - reference[linear: $0]) < 0.25 })
        #expect(report.replaced >= 40 && report.replaced <= 40 + noisy.count / 200, "replaced \(report.replaced)")
    }

    /// Flats before and after a scan whose beam dropped by 10 %: the open beam is interpolated by
    /// projection index, so a constant object gives the same line integral at the start, the
    /// middle and the end.
    @Test func flatsBeforeAndAfterAreInterpolated() throws {
        let count = 11
        var projections = Grid<Float>(shape: Shape(count, 1, 4))
        for a in 0..<count { for c in 0..<4 { projections[a, 0, c] = 0.5 * Float(1000 * (1 - 0.1 * Double(a) / Double(count - 1))) + 100 } }
        let before = Grid<Float>(shape: Shape(2, 1, 4), elements: [Float](repeating: 1100, count: 8))
        let after = Grid<Float>(shape: Shape(2, 1, 4), elements: [Float](repeating: 1000, count: 8))
        let darks = Grid<Float>(shape: Shape(1, 1, 4), elements: [Float](repeating: 100, count: 4))
        let field = try FlatField(flatGroups: [FlatGroup(position: 0, frames: before), FlatGroup(position: Double(count - 1), frames: after)], darks: darks)
        let (p, _) = try field.apply(projections, rows: 0..<1)
        for a in 0..<count { #expect(abs(Double(p[a, 0, 2]) - log(2)) < 1e-5, "projection \(a): \(p[a, 0, 2])") }
        // Rows of a slab use their own part of the frames.
        let (slab, _) = try field.apply(Grid<Float>(shape: Shape(3, 1, 4), elements: Array(projections.elements[20..<32])), rows: 0..<1, firstProjection: 5)
        #expect(slab[0, 0, 0] == p[5, 0, 0])
        #expect(throws: LensError.self) { try FlatField(flatGroups: [FlatGroup(position: 0, frames: Grid<Float>(shape: Shape(1, 1, 4)))], darks: darks) }
    }
}
