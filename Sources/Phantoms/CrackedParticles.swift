import Foundation
import LensCore
import Tomography

/// A slice of cathode particles (discs) each split by a straight crack of known width — the
/// object limited-angle reconstruction is judged on: do the cracks stay open, and how wide do
/// they measure? Particles sit in a weakly absorbing carbon–binder background; a crack is void.
///
/// Coordinates are pixels from the slice centre (x along columns, y along rows, as
/// ``AnalyticDiscSlice``). Rendering and projection are oversampled, so the sinogram is not the
/// reconstruction's own projector applied to its own grid (no "inverse crime").
public struct CrackedParticleSlice: Sendable, Codable, Equatable {
    public struct Particle: Sendable, Codable, Equatable {
        public var x: Double, y: Double, radius: Double
        /// Crack through the centre: its normal's angle (degrees from the +x axis towards +y)
        /// and its full width in pixels.
        public var crackNormalDegrees: Double
        public var crackWidthPixels: Double
    }
    public var size: Int
    public var particles: [Particle]
    /// Attenuation (1/pixel) of particles and of the background inside the electrode disc.
    public var particleAttenuation: Double
    public var backgroundAttenuation: Double

    /// Non-overlapping particles with cracks of widths cycling through `crackWidths`, seeded.
    public static func random(size: Int, count: Int, crackWidths: [Double] = [2, 3, 4], seed: UInt64 = 1,
                              particleAttenuation: Double = 0.05, backgroundAttenuation: Double = 0.008) throws -> CrackedParticleSlice {
        guard size >= 32, count >= 1, !crackWidths.isEmpty, crackWidths.allSatisfy({ $0 > 0 }) else {
            throw LensError.invalidArgument("a cracked-particle slice needs size ≥ 32, at least one particle and positive crack widths")
        }
        var rng = SeededRandom(seed: seed)
        var particles = [Particle]()
        let field = Double(size) * 0.42
        var attempts = 0
        while particles.count < count && attempts < 10_000 {
            attempts += 1
            let radius = Double(size) * (0.07 + 0.05 * rng.uniform())
            let r = (field - radius) * rng.uniform().squareRoot(), phi = 2 * Double.pi * rng.uniform()
            let (x, y) = (r * cos(phi), r * sin(phi))
            guard particles.allSatisfy({ hypot($0.x - x, $0.y - y) > $0.radius + radius + 3 }) else { continue }
            particles.append(Particle(x: x, y: y, radius: radius, crackNormalDegrees: 180 * rng.uniform(),
                                      crackWidthPixels: crackWidths[particles.count % crackWidths.count]))
        }
        guard particles.count == count else { throw LensError.invalidArgument("\(count) particles do not fit in a \(size)-pixel slice") }
        return CrackedParticleSlice(size: size, particles: particles, particleAttenuation: particleAttenuation,
                                    backgroundAttenuation: backgroundAttenuation)
    }

    /// Attenuation at a point (pixels from the centre).
    public func attenuation(x: Double, y: Double) -> Double {
        for p in particles {
            let dx = x - p.x, dy = y - p.y
            guard dx * dx + dy * dy <= p.radius * p.radius else { continue }
            let n = p.crackNormalDegrees * .pi / 180
            return abs(dx * cos(n) + dy * sin(n)) <= p.crackWidthPixels / 2 ? 0 : particleAttenuation
        }
        return x * x + y * y <= (Double(size) * 0.46) * (Double(size) * 0.46) ? backgroundAttenuation : 0
    }

    /// The slice on a grid of `size × oversampling` pixels per side, each the mean of 4 × 4
    /// point samples (1/pixel of that finer grid).
    public func image(oversampling: Int = 1) -> Grid<Float> {
        let n = size * oversampling
        let centre = Double(n - 1) / 2, scale = 1 / Double(oversampling)
        return Grid(shape: Shape(n, n)) { i in
            let (row, column) = (i / n, i % n)
            var sum = 0.0
            for sy in 0..<4 { for sx in 0..<4 {
                let x = (Double(column) - centre + (Double(sx) + 0.5) / 4 - 0.5) * scale
                let y = (Double(row) - centre + (Double(sy) + 0.5) / 4 - 0.5) * scale
                sum += attenuation(x: x, y: y)
            } }
            return Float(sum / 16)
        }
    }

    /// Line integrals (angle, column) of the slice on a detector of `size` pixels centred on
    /// the rotation axis: projected at 4× oversampling in both the slice and the detector
    /// (Joseph's method) and binned, so the data carry partial-pixel detail the reconstruction
    /// grid does not.
    public func sinogram(anglesDegrees: [Double]) throws -> Grid<Float> {
        let factor = 4
        let fine = image(oversampling: factor)
        let n = size * factor
        // The fine grid's pixel is 1/factor of a detector pixel: attenuation per fine pixel is
        // per coarse pixel × 1/factor in path length, which the projector's pixel size carries.
        let geometry = ParallelBeamGeometry(anglesDegrees: anglesDegrees, detectorColumns: n, detectorRows: 1,
                                            pixelSizeMicrometres: 1 / Double(factor))
        let volume = fine.reshaped(Shape(1, n, n))
        let projected = try JosephProjector(geometry: geometry, volumeShape: volume.shape).project(volume)
        var out = Grid<Float>(shape: Shape(anglesDegrees.count, size))
        out.withUnsafeMutableBufferPointer { o in
            projected.withUnsafeBufferPointer { p in
                for a in 0..<anglesDegrees.count {
                    for j in 0..<size {
                        var s: Float = 0
                        for k in 0..<factor { s += p[a * n + j * factor + k] }
                        o[a * size + j] = s / Float(factor)
                    }
                }
            }
        }
        return out
    }
}
