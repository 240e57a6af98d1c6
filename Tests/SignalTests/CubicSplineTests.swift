import Foundation
import Signal
import Testing

/// Not-a-knot cubic interpolation reproduces any cubic polynomial exactly (between and at the
/// nodes, on an uneven grid), and B-spline basis values sum to one (partition of unity).
struct CubicSplineTests {
    @Test func reproducesCubicsAndPartitionOfUnity() throws {
        let x = [0.0, 0.3, 1.1, 1.5, 2.7, 3.0, 4.2, 5.5, 6.1]
        let cubic = { (t: Double) in 1 - 2 * t + 0.5 * t * t - 0.07 * t * t * t }
        let interpolator = try CubicSplineInterpolator(x: x)
        let c = interpolator.coefficients(x.map(cubic))
        for t in stride(from: 0.0, through: 6.1, by: 0.137) {
            #expect(abs(interpolator.spline.value(at: t, coefficients: c) - cubic(t)) < 1e-10)
            let (_, b) = interpolator.spline.basis(at: t)
            #expect(abs(b.reduce(0, +) - 1) < 1e-12)
        }
        #expect(throws: (any Error).self) { _ = try CubicSplineInterpolator(x: [0, 1, 1, 2]) }
    }
}
