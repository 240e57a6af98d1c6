import Foundation
import LensCore
import Tomography

/// A test slice: a uniform disc (μ = `matrix`, radius 0.36 n) centred 0.06 n off the rotation
/// axis — real samples are never exactly centred, and a centred disc's sinogram is constant
/// along angles, which every stripe method must leave alone — with denser particles on a
/// ring near its edge, anti-aliased by 4×4 supersampling. Returns the volume (slices
/// identical), a mask of particle interiors (1.5 px inside their edges), and the radius
/// around the axis inside which the slice is uniform.
func discWithParticles(size n: Int, slices: Int = 1, matrix: Float = 0.01, particle: Float = 0.04) -> (Grid<Float>, [Bool], Double) {
    let axis = Double(n - 1) / 2, c = axis + 0.06 * Double(n), radius = 0.36 * Double(n)
    let centres = (0..<10).map { k -> (Double, Double) in
        let phi = 2 * Double.pi * Double(k) / 10
        return (c + 0.75 * radius * cos(phi), axis + 0.75 * radius * sin(phi))
    }
    let particleRadius = 0.07 * Double(n)
    func value(_ x: Double, _ y: Double) -> Float {
        if centres.contains(where: { ($0.0 - x) * ($0.0 - x) + ($0.1 - y) * ($0.1 - y) <= particleRadius * particleRadius }) { return particle }
        return (x - c) * (x - c) + (y - axis) * (y - axis) <= radius * radius ? matrix : 0
    }
    var plane = [Float](repeating: 0, count: n * n), mask = [Bool](repeating: false, count: n * n)
    for y in 0..<n { for x in 0..<n {
        var total: Float = 0
        for s in 0..<16 { total += value(Double(x) + (Double(s % 4) + 0.5) / 4 - 0.5, Double(y) + (Double(s / 4) + 0.5) / 4 - 0.5) }
        plane[y * n + x] = total / 16
        mask[y * n + x] = centres.contains { ($0.0 - Double(x)) * ($0.0 - Double(x)) + ($0.1 - Double(y)) * ($0.1 - Double(y)) <= (particleRadius - 1.5) * (particleRadius - 1.5) }
    } }
    let frozen = plane
    let volume = Grid<Float>(shape: Shape(slices, n, n), geometry: .isotropic(1, rank: 3)) { frozen[$0 % (n * n)] }
    return (volume, mask, 0.75 * radius - particleRadius - 0.06 * Double(n) - 2)
}

/// Ring metric: the variance of the radial profile (mean over each 1-px annulus) of slice `z`
/// inside radius `maxRadius`, where the true object is uniform.
func ringMetric(_ volume: Grid<Float>, slice z: Int = 0, maxRadius: Double) -> Double {
    let n = volume.shape[1]
    let c = Double(n - 1) / 2
    var sums = [Double](repeating: 0, count: Int(maxRadius) + 1), counts = sums
    for y in 0..<n { for x in 0..<n {
        let r = ((Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)).squareRoot()
        guard r < maxRadius, r >= 2 else { continue }
        sums[Int(r)] += Double(volume[z, y, x]); counts[Int(r)] += 1
    } }
    let profile = zip(sums, counts).compactMap { $1 > 0 ? $0 / $1 : nil }
    let mean = profile.reduce(0, +) / Double(profile.count)
    return profile.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(profile.count)
}

func rmse(_ a: Grid<Float>, _ b: Grid<Float>, where include: (Int) -> Bool = { _ in true }) -> Double {
    var total = 0.0, count = 0.0
    for i in 0..<a.count where include(i) { let d = Double(a[linear: i]) - Double(b[linear: i]); total += d * d; count += 1 }
    return (total / count).squareRoot()
}
