import Foundation
import LensCore
import Testing
import Tomography
import Phantoms

@Suite struct RingRemovalTests {
    /// db5 is orthonormal with five vanishing moments (Σh = √2, Σh² = 1, even shifts
    /// orthogonal, Σ(−1)^k k^p h_k = 0 for p < 5), and one 2D level reconstructs exactly.
    @Test func daubechiesFiveIsOrthonormalAndReconstructs() {
        let h = Daubechies.lowPass
        #expect(abs(h.reduce(0, +) - 2.0.squareRoot()) < 1e-12)
        for shift in stride(from: 0, to: h.count, by: 2) {
            let dot = (0..<(h.count - shift)).reduce(0.0) { $0 + h[$1] * h[$1 + shift] }
            #expect(abs(dot - (shift == 0 ? 1 : 0)) < 1e-11, "shift \(shift): \(dot)")
        }
        for p in 0..<5 {
            let moment = (0..<h.count).reduce(0.0) { $0 + ($1 % 2 == 0 ? 1 : -1) * pow(Double($1), Double(p)) * h[$1] }
            #expect(abs(moment) < 1e-8 * pow(10, Double(p)), "moment \(p): \(moment)")
        }
        var rng = SeededRandom(seed: 4)
        let image = (0..<(24 * 32)).map { _ in rng.normal() }
        let (ll, lh, hl, hh) = Daubechies.analyze2D(image, rows: 24, cols: 32)
        let back = Daubechies.synthesize2D(ll: ll, lh: lh, hl: hl, hh: hh, rows: 12, cols: 16)
        #expect(zip(image, back).map { abs($0 - $1) }.max()! < 1e-10)
    }

    @Test func stripeDetectorFindsOutliersOnly() {
        var rng = SeededRandom(seed: 9)
        var values = (0..<200).map { _ in 1 + 0.01 * rng.normal() }
        #expect(!StripeRemoval.detectStripes(values, snr: 3).contains(true))
        values[50] = 1.3; values[120] = 0.6
        let mask = StripeRemoval.detectStripes(values, snr: 3)
        #expect(mask[50] && mask[120] && mask.filter { $0 }.count == 2)
    }

    /// A phantom scan (384², 540 angles) with 2 % miscalibrated detector pixels (gain errors
    /// σ = 5 %, i.e. offsets of the line integrals), one dead pixel and photon noise (10⁶ counts):
    /// each method lowers the ring metric of the uniform centre at least 5× and keeps the
    /// particles' mean attenuation within 1 % of the reconstruction of the defect-free scan with
    /// the same noise. (The stripe methods need noise: Vo's detectors tell a dead pixel by its
    /// missing noise.)
    @Test(arguments: ["sort", "wavelet", "polar"])
    func removesRingsWithoutBiasingParticles(method: String) throws {
        let (n, angles) = (384, 540)
        let (volume, particles, uniformRadius) = discWithParticles(size: n)
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: angles), detectorColumns: n, detectorRows: 1)
        let clean = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var rng = SeededRandom(seed: 77)
        var defective = clean, noisyClean = clean
        var defects = 0
        for c in 0..<n where rng.uniform() < 0.02 {
            defects += 1
            let offset = Float(-log(1 + 0.05 * rng.normal()))
            for a in 0..<angles { defective[a, 0, c] += offset }
        }
        for a in 0..<angles { defective[a, 0, 200] = 0.3 }   // dead: a constant reading
        #expect(defects >= 5)
        for i in 0..<clean.count {
            let noise = Float(rng.normal() / (1e6 * exp(-Double(clean[linear: i]))).squareRoot())
            defective[linear: i] += i % n == 200 ? 0 : noise
            noisyClean[linear: i] += noise
        }
        let reference = try FilteredBackProjection.reconstruct(noisyClean, geometry: geometry)
        let before = try FilteredBackProjection.reconstruct(defective, geometry: geometry)
        var after: Grid<Float>
        switch method {
        case "polar":
            after = before
            PolarRingFilter.apply(&after)
        default:
            var filtered = defective
            StripeRemoval.apply(&filtered, options: StripeRemovalOptions(method: StripeRemovalMethod(rawValue: method)!))
            after = try FilteredBackProjection.reconstruct(filtered, geometry: geometry)
        }
        let (m0, m1) = (ringMetric(before, maxRadius: uniformRadius), ringMetric(after, maxRadius: uniformRadius))
        #expect(m1 * 5 <= m0, "\(method): ring metric \(m0) → \(m1)")
        func particleMean(_ g: Grid<Float>) -> Double {
            var s = 0.0, k = 0.0
            for i in 0..<(n * n) where particles[i] { s += Double(g[linear: i]); k += 1 }
            return s / k
        }
        let change = particleMean(after) / particleMean(reference) - 1
        #expect(abs(change) < 0.01, "\(method): particle mean changed by \(change * 100) %")
    }

    /// A dead (constant, noise-free) detector column in a noisy sinogram is found and
    /// interpolated by the combined method.
    @Test func deadColumnIsInterpolated() throws {
        let (volume, _, _) = discWithParticles(size: 256)
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 360), detectorColumns: 256, detectorRows: 1)
        var s = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume).elements
        let (angles, cols) = (360, 256)
        let truth = s
        var rng = SeededRandom(seed: 3)
        for i in s.indices { s[i] += Float(0.002 * rng.normal()) }
        for a in 0..<angles { s[a * cols + 100] = 0.5 }
        StripeRemoval.removeAllStripes(&s, angles: angles, columns: cols, options: StripeRemovalOptions(method: .sort))
        // Interpolating across the 3 replaced columns cannot follow particle edges crossing them
        // at some angles, so the mean error is judged: ≤ 2 % of the column's mean value
        // (the dead reading was 85 % off).
        let error = (0..<angles).map { abs(s[$0 * cols + 100] - truth[$0 * cols + 100]) }.reduce(0, +) / Float(angles)
        let level = (0..<angles).map { truth[$0 * cols + 100] }.reduce(0, +) / Float(angles)
        #expect(error < 0.02 * level, "dead column mean error \(error) at level \(level)")
    }
}

/// Ring removal on ring-free data must not degrade it noticeably (issue 17: sort and wavelet
/// dropped the correlation with the truth from 0.97 to 0.94). Sort now corrects one offset per
/// column: on a ring-free noisy phantom the slice's correlation with the truth stays within
/// 0.015 of no removal (measured: 0.975 → 0.965 on the electrode phantom; README).
@Suite struct RingFreeDataTests {
    @Test func sortingBarelyTouchesRingFreeData() throws {
        var p = ElectrodeParameters()
        p.shape = [4, 128, 128]
        p.seed = 4
        let volume = try ElectrodePhantom.generate(p).attenuation
        let geometry = ParallelBeamGeometry(anglesDegrees: ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 360), detectorColumns: 128, detectorRows: 4,
                                            pixelSizeMicrometres: 0.5)
        let clean = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var rng = SeededRandom(seed: 21)
        let noise = (0..<clean.count).map { _ in Float(0.02 * rng.normal()) }
        let noisy = Grid(shape: clean.shape) { clean[linear: $0] + noise[$0] }
        func correlation(_ method: StripeRemovalMethod) throws -> Double {
            var lines = noisy
            StripeRemoval.apply(&lines, options: StripeRemovalOptions(method: method))
            let slice = try FilteredBackProjection.reconstruct(lines, geometry: geometry, options: FBPOptions())
            let a = slice.elements.map(Double.init), b = volume.elements.map(Double.init)
            let (ma, mb) = (a.reduce(0, +) / Double(a.count), b.reduce(0, +) / Double(b.count))
            var ab = 0.0, aa = 0.0, bb = 0.0
            for (x, y) in zip(a, b) { ab += (x - ma) * (y - mb); aa += (x - ma) * (x - ma); bb += (y - mb) * (y - mb) }
            return ab / (aa * bb).squareRoot()
        }
        let none = try correlation(.none), sort = try correlation(.sort)
        #expect(none - sort < 0.015, "correlation without removal \(none), with sort \(sort)")
    }
}
