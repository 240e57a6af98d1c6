import Foundation
import LensCore
import Phantoms
import Signal
import Testing
import Tomography

@Suite struct FBPTests {
    /// The ramp is 2·Re(FFT) of the band-limited spatial kernel (the construction scikit-image's
    /// `iradon` uses), checked against a direct DFT of that kernel; windows only attenuate.
    @Test func rampFilterMatchesTheSpatialKernelDefinition() {
        let ramp = FilteredBackProjection.filterResponse(size: 8, window: .ramLak)
        // 2·Re(FFT(h)), h = [1/4, −1/π², 0, −1/(9π²), 0, −1/(9π²), 0, −1/π²].
        let h: [Double] = [0.25, -1 / (Double.pi * Double.pi), 0, -1 / (9 * Double.pi * Double.pi), 0, -1 / (9 * Double.pi * Double.pi), 0, -1 / (Double.pi * Double.pi)]
        for k in 0..<8 {
            let direct = 2 * (0..<8).reduce(0.0) { $0 + h[$1] * cos(2 * Double.pi * Double(k * $1) / 8) }
            #expect(abs(ramp[k] - direct) < 1e-12)
        }
        #expect(ramp[0] > 0 && ramp[0] < 0.05)            // no DC hole, tiny DC gain
        // At Nyquist the ramp tends to 2·|0.5| = 1 as the kernel grows (0.95 for 8 taps, 0.994 for 64).
        let ramp64 = FilteredBackProjection.filterResponse(size: 64, window: .ramLak)
        #expect(abs(ramp64[32] - 1) < 0.01)
        #expect(abs(ramp64[16] - 0.5) < 0.01)             // linear in |f|
        let hann = FilteredBackProjection.filterResponse(size: 64, window: .hann)
        #expect(hann[32] < 1e-9 && hann[1] < ramp64[1])   // the Hann window closes at Nyquist
        for w in FilterWindow.allCases {
            let r = FilteredBackProjection.filterResponse(size: 64, window: w)
            #expect(r.allSatisfy { $0 >= -1e-12 } && r.count == 64)
        }
    }

    /// A uniform disc reconstructs to its attenuation in 1/µm: the mean inside r < 0.8 R is
    /// within 1 %, and the outside stays near zero.
    @Test func discReconstructsToItsAttenuation() throws {
        let n = 96, radius = 30.0, mu: Float = 0.02, pixel = 0.5
        let c = Double(n - 1) / 2
        let disc = Grid<Float>(shape: Shape(1, n, n), geometry: .isotropic(pixel, rank: 3)) { i in
            let y = (i / n) % n, x = i % n
            var inside = 0
            for s in 0..<16 {
                let dy = Double(y) - c + (Double(s / 4) + 0.5) / 4 - 0.5, dx = Double(x) - c + (Double(s % 4) + 0.5) / 4 - 0.5
                if dx * dx + dy * dy <= radius * radius { inside += 1 }
            }
            return mu * Float(inside) / 16
        }
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 180), detectorColumns: n,
                                            detectorRows: 1, centreOffsetPixels: 2.5, pixelSizeMicrometres: pixel)
        let sinogram = try JosephProjector(geometry: geometry, volumeShape: disc.shape).project(disc)
        let recon = try FilteredBackProjection.reconstruct(sinogram, geometry: geometry)
        var inside = [Double](), outside = [Double]()
        for y in 0..<n { for x in 0..<n {
            let d = ((Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)).squareRoot()
            if d < 0.8 * radius { inside.append(Double(recon[0, y, x])) } else if d > 1.2 * radius && d < 0.45 * Double(n) { outside.append(Double(recon[0, y, x])) }
        } }
        let meanInside = inside.reduce(0, +) / Double(inside.count)
        #expect(abs(meanInside / Double(mu) - 1) < 0.01, "mean inside \(meanInside)")
        #expect(abs(outside.reduce(0, +) / Double(outside.count)) < 0.01 * Double(mu))
        // 360° scans and non-uniform angles give the same answer (angular weights).
        var g360 = geometry
        g360.anglesRadians = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 240, rangeDegrees: 360).map { $0 * .pi / 180 }
        let s360 = try JosephProjector(geometry: g360, volumeShape: disc.shape).project(disc)
        let r360 = try FilteredBackProjection.reconstruct(s360, geometry: g360)
        #expect(abs(Double(r360[0, 48, 48]) / Double(recon[0, 48, 48]) - 1) < 0.02)
    }

    @Test func flatFieldCorrectionCountsClamps() throws {
        let projections = Grid<Float>(shape: Shape(2, 1, 3), elements: [500, 1000, 50, .nan, 2000, 100])
        let flats = Grid<Float>(shape: Shape(2, 1, 3), elements: [1050, 1050, 1050, 1050, 1050, 1050])
        let darks = Grid<Float>(shape: Shape(1, 1, 3), elements: [50, 50, 50])
        let (p, report) = try FlatFieldCorrection.lineIntegrals(projections: projections, flats: flats, darks: darks)
        #expect(abs(Double(p[0, 0, 0]) - -log(0.45)) < 1e-6)
        #expect(abs(Double(p[0, 0, 1]) - -log(0.95)) < 1e-6)
        #expect(report.clampedNonPositive == 1 && report.nonFinite == 1)
        #expect(throws: LensError.self) {
            try FlatFieldCorrection.lineIntegrals(projections: projections, flats: Grid<Float>(shape: Shape(1, 1, 3)), darks: nil)
        }
    }
}
