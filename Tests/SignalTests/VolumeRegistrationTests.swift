import Foundation
import LensCore
import Signal
import Testing

/// A particle-like test volume defined everywhere: soft-edged balls of random radius and grey on
/// a background, so a transformed copy can be rendered exactly (no interpolation in the truth).
struct BallTexture: Sendable {
    struct Ball: Sendable { var centre: SIMD3<Double>; var radius: Double; var grey: Double }
    var balls: [Ball]

    init(extent: [Int], count: Int, seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        balls = (0..<count).map { _ in
            Ball(centre: SIMD3((0..<3).map { Double(extent[$0]) * (rng.uniform() * 1.2 - 0.1) }),
                 radius: 2.5 + 5 * rng.uniform(), grey: 0.4 + 0.6 * rng.uniform())
        }
    }

    func value(_ p: SIMD3<Double>) -> Double {
        var v = 0.1
        for b in balls {
            let d = p - b.centre
            let r = (d * d).sum().squareRoot()
            if r < b.radius + 4 { v += b.grey / (1 + exp((r - b.radius) / 0.7)) }
        }
        return v
    }

    /// Voxel p of the rendered volume shows the texture at `map(p)`, plus Gaussian noise.
    func render(shape: [Int], noise: Double, seed: UInt64, map: @escaping @Sendable (SIMD3<Double>) -> SIMD3<Double>) -> Grid<Float> {
        let texture = self
        var grid = Grid<Float>(shape: Shape(shape)) { i in
            let (z, y, x) = (i / (shape[1] * shape[2]), (i / shape[2]) % shape[1], i % shape[2])
            return Float(texture.value(map(SIMD3(Double(z), Double(y), Double(x)))))
        }
        var rng = SeededRandom(seed: seed)
        grid.withUnsafeMutableBufferPointer { g in for i in 0..<g.count { g[i] += Float(noise * rng.normal()) } }
        return grid
    }
}

@Suite struct VolumeRegistrationTests {
    static let shape = [64, 72, 80]

    /// The largest distance between where two transforms send the corners of the fixed volume.
    func cornerError(_ a: SimilarityTransform, _ b: SimilarityTransform) -> Double {
        var worst = 0.0
        for corner in 0..<8 {
            let p = SIMD3((0..<3).map { (corner >> $0) & 1 == 1 ? Double(Self.shape[$0] - 1) : 0 })
            let d = a.apply(p) - b.apply(p)
            worst = max(worst, (d * d).sum().squareRoot())
        }
        return worst
    }

    @Test func transformInverseAndRotationVector() {
        let t = SimilarityTransform(translationVoxels: [1.5, -2, 0.25], rotationVectorDegrees: [3, -4, 12], scale: 1.03, centreVoxels: [10, 20, 30])
        let p = SIMD3<Double>(4, -7, 19)
        let back = t.inverse.apply(t.apply(p))
        #expect(((back - p) * (back - p)).sum().squareRoot() < 1e-12)
        #expect(abs(t.rotationAngleDegrees - (9.0 + 16 + 144).squareRoot()) < 1e-12)
        // A rotation by 90° about z (the first axis) turns +y into +x in the (z, y, x) frame.
        let quarter = SimilarityTransform(rotationVectorDegrees: [90, 0, 0], centreVoxels: [0, 0, 0])
        let turned = quarter.apply(SIMD3(0, 1, 0))
        #expect(abs(turned.x) < 1e-12 && abs(abs(turned.z) - 1) < 1e-12 && abs(turned.y) < 1e-12)
    }

    /// Phase correlation alone: a shift of (3.4, −5.7, 2.2) voxels between two noisy renderings
    /// is found to within 0.3 voxel per axis (a parabola through the peak).
    @Test func phaseCorrelationFindsTheShift() throws {
        let texture = BallTexture(extent: Self.shape, count: 90, seed: 3)
        let shift = SIMD3<Double>(3.4, -5.7, 2.2)
        let fixed = texture.render(shape: Self.shape, noise: 0.03, seed: 1) { $0 }
        let moving = texture.render(shape: Self.shape, noise: 0.03, seed: 2) { $0 - shift }
        let found = try VolumeRegistration.phaseCorrelationShift(fixed: fixed, moving: moving)
        for axis in 0..<3 { #expect(abs(found[axis] - shift[axis]) < 0.3, "axis \(axis): \(found[axis]) vs \(shift[axis])") }
    }

    /// Rigid and similarity registration of a noisy rendering moved by a known transform (shift
    /// of several voxels, a few degrees about a tilted axis, 2 % scale, contrast changed by
    /// gain 0.8 and offset 0.05): the fitted transform sends every corner of the volume within
    /// 0.2 voxel of where the truth does (the issue asks < 0.5 voxel), the scale within 0.05 %
    /// (issue: < 0.2 %), and the correlation rises to the noise limit.
    @Test(arguments: [VolumeRegistrationSettings.Model.rigid, .similarity])
    func recoversAKnownTransform(model: VolumeRegistrationSettings.Model) throws {
        let texture = BallTexture(extent: Self.shape, count: 110, seed: 7)
        let truth = SimilarityTransform(translationVoxels: [2.6, -3.3, 4.1], rotationVectorDegrees: [2.5, -1.5, 1.0],
                                        scale: model == .similarity ? 1.02 : 1, centreVoxels: Self.shape.map { Double($0 - 1) / 2 })
        let inverse = truth.inverse
        let fixed = texture.render(shape: Self.shape, noise: 0.03, seed: 1) { $0 }
        // moving(T(p)) = texture(p): voxel q of the moving volume shows texture(T⁻¹(q)).
        var moving = texture.render(shape: Self.shape, noise: 0, seed: 2) { inverse.apply($0) }
        var rng = SeededRandom(seed: 9)
        moving.withUnsafeMutableBufferPointer { m in for i in 0..<m.count { m[i] = 0.8 * m[i] + 0.05 + Float(0.03 * rng.normal()) } }
        var settings = VolumeRegistrationSettings()
        settings.model = model
        let result = try VolumeRegistration.register(fixed: fixed, moving: moving, settings: settings)
        let error = cornerError(result.transform, truth)
        print("registration \(model.rawValue): corner error \(error) voxel, scale \(result.transform.scale) (truth \(truth.scale)), rotation \(result.transform.rotationVectorDegrees), NCC \(result.correlationBefore) → \(result.correlationAfter), iterations \(result.iterationsPerLevel)")
        #expect(error < 0.2)
        #expect(abs(result.transform.scale / truth.scale - 1) < 5e-4)
        #expect(result.correlationAfter > 0.95 && result.correlationAfter > result.correlationBefore)
        #expect(abs(result.intensityGain - 1 / 0.8) < 0.05)
        // Resampling the moving volume with the fitted transform puts it back on the fixed one.
        let back = VolumeRegistration.resample(moving, transform: result.transform, shape: fixed.shape, interpolation: .cubic)
        let check = VolumeRegistration.correlation(fixed: fixed, moving: back, transform: .identity(centreOf: fixed.shape))
        #expect(check.correlation > 0.95)
    }

    /// Cubic (Keys) and linear resampling of a smooth field by a pure shift: cubic is closer to
    /// the analytic values than linear; nearest is exact for whole-voxel shifts.
    @Test func resamplingOrders() {
        let shape = [24, 24, 24]
        @Sendable func field(_ p: SIMD3<Double>) -> Double { sin(p.x * 0.4) * cos(p.y * 0.3) + 0.5 * sin(p.z * 0.5) }
        let volume = Grid<Float>(shape: Shape(shape)) { i in Float(field(SIMD3(Double(i / 576), Double((i / 24) % 24), Double(i % 24)))) }
        let shift = SimilarityTransform(translationVoxels: [0.4, -0.3, 0.5], centreVoxels: [11.5, 11.5, 11.5])
        func error(_ g: Grid<Float>) -> Double {
            var worst = 0.0
            for z in 3..<21 { for y in 3..<21 { for x in 3..<21 {
                worst = max(worst, abs(Double(g[z, y, x]) - field(shift.apply(SIMD3(Double(z), Double(y), Double(x))))))
            } } }
            return worst
        }
        let linear = error(VolumeRegistration.resample(volume, transform: shift, shape: volume.shape, interpolation: .linear))
        let cubic = error(VolumeRegistration.resample(volume, transform: shift, shape: volume.shape, interpolation: .cubic))
        #expect(cubic < linear / 3, "cubic \(cubic) vs linear \(linear)")
        let whole = SimilarityTransform(translationVoxels: [1, -2, 3], centreVoxels: [0, 0, 0])
        let moved = VolumeRegistration.resample(volume, transform: whole, shape: volume.shape, interpolation: .nearest)
        #expect(moved[5, 5, 5] == volume[6, 3, 8])
        #expect(moved[23, 0, 0].isNaN)
    }

    /// Local DVC on a known smooth field: u(p) = (1.5 sin(2πx/160 + 0.3), −1.2 cos(2πz/128),
    /// 0.8 sin(2πy/144)) voxels (strains up to 6 %, an electrode's swelling and more), the moving
    /// volume rendered exactly (moving(p + u(p)) = texture(p)) with noise. The RMSE of the
    /// measured displacements at the nodes is below 0.3 voxel (the target); a window
    /// reads the field averaged over its ±10 voxels, which for these wavelengths costs ≤ 0.05 voxel.
    @Test func displacementFieldOfASmoothField() throws {
        let texture = BallTexture(extent: Self.shape, count: 160, seed: 11)
        @Sendable func u(_ p: SIMD3<Double>) -> SIMD3<Double> {
            SIMD3(1.5 * sin(2 * .pi * p.z / 160 + 0.3), -1.2 * cos(2 * .pi * p.x / 128), 0.8 * sin(2 * .pi * p.y / 144))
        }
        let fixed = texture.render(shape: Self.shape, noise: 0.02, seed: 1) { $0 }
        // Voxel q shows texture(p) with p + u(p) = q: p by fixed-point iteration.
        let moving = texture.render(shape: Self.shape, noise: 0.02, seed: 2) { q in
            var p = q
            for _ in 0..<6 { p = q - u(p) }
            return p
        }
        var settings = DisplacementFieldSettings()
        settings.nodeSpacingVoxels = 12
        settings.windowHalfWidthVoxels = 10
        settings.searchRadiusVoxels = 4
        let field = try VolumeRegistration.displacementField(fixed: fixed, moving: moving, settings: settings)
        var (sum, count) = (0.0, 0)
        for node in field.nodes {
            guard let d = node.displacementVoxels else { continue }
            let truth = u(SIMD3(node.positionVoxels.map(Double.init)))
            let e = SIMD3(d) - truth
            sum += (e * e).sum(); count += 1
        }
        let rmse = (sum / Double(max(1, count))).squareRoot()
        print("DVC: \(count) of \(field.nodes.count) nodes measured, displacement RMSE \(rmse) voxel; statuses \(Dictionary(grouping: field.nodes, by: \.status).mapValues(\.count))")
        #expect(field.measuredFraction > 0.9)
        #expect(rmse < 0.3)
    }
}
