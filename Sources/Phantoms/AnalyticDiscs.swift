import Foundation
import LensCore

/// A slice made of discs (μ of overlapping discs adds) whose parallel-beam sinogram is known
/// exactly, so a reconstruction is judged against the object itself and not against a
/// projector's discretization — the way reconstruction codes are compared with each other
/// (the peer script `Benchmarks/peers/fbp_reference.py` builds the same object for
/// scikit-image and ASTRA).
///
/// Coordinates are in pixels from the rotation axis: x along detector columns, y along the
/// slice's row axis (down the image), so a disc at (x, y) projects to u = x cos θ − y sin θ
/// (BatteryLens's ``ParallelBeamGeometry`` convention, that of scikit-image and ASTRA).
public struct AnalyticDiscSlice: Sendable, Equatable {
    public struct Disc: Sendable, Equatable, Codable {
        public var x: Double
        public var y: Double
        public var radius: Double
        /// Attenuation in 1/pixel.
        public var mu: Double
        public init(x: Double, y: Double, radius: Double, mu: Double) { self.x = x; self.y = y; self.radius = radius; self.mu = mu }
    }

    public var discs: [Disc]
    public init(discs: [Disc]) { self.discs = discs }

    /// Line integrals (angle, column) averaged over each detector pixel of width 1: for one
    /// disc, μ [F(s₁) − F(s₀)] with F(s) = s √(r² − s²) + r² asin(s/r), s clamped to ±r, the
    /// exact integral of the chord length 2√(r² − s²) over the pixel. Column j sits at
    /// u = j − `axisColumn`.
    public func sinogram(anglesDegrees: [Double], columns: Int, axisColumn: Double) -> Grid<Float> {
        @Sendable func primitive(_ s: Double, _ r: Double) -> Double {
            let c = Swift.min(Swift.max(s, -r), r)
            return c * (r * r - c * c).squareRoot() + r * r * asin(c / r)
        }
        var out = Grid<Float>(shape: Shape(anglesDegrees.count, columns))
        // Each iteration owns one angle's row.
        Parallel.withDisjointWrites(&out) { p in
            let discs = self.discs
            DispatchQueue.concurrentPerform(iterations: anglesDegrees.count) { a in
                let theta = anglesDegrees[a] * .pi / 180
                // u = x cos θ − y sin θ, y the row offset (ParallelBeamGeometry's convention).
                let (c, s) = (cos(theta), -sin(theta))
                for disc in discs {
                    let u0 = disc.x * c + disc.y * s
                    let first = Swift.max(0, Int((u0 - disc.radius + axisColumn - 1).rounded(.down)))
                    let last = Swift.min(columns - 1, Int((u0 + disc.radius + axisColumn + 1).rounded(.up)))
                    guard first <= last else { continue }
                    for j in first...last {
                        let u = Double(j) - axisColumn - u0
                        p[a * columns + j] += Float(disc.mu * (primitive(u + 0.5, disc.radius) - primitive(u - 0.5, disc.radius)))
                    }
                }
            }
        }
        return out
    }

    /// The slice on an n × n grid whose pixel (row, column) holds the point x = column − centre,
    /// y = row − centre, as the mean of 8 × 8 sub-pixel samples (the area fraction of each disc
    /// to 1/64).
    public func image(size n: Int, centre: Double) -> Grid<Float> {
        let sub = 8
        var out = Grid<Float>(shape: Shape(n, n))
        out.withUnsafeMutableBufferPointer { p in
            for disc in discs {
                let r2 = disc.radius * disc.radius
                let rows = Swift.max(0, Int((disc.y + centre - disc.radius - 1).rounded(.down)))..<Swift.min(n, Int((disc.y + centre + disc.radius + 2).rounded(.up)))
                let cols = Swift.max(0, Int((disc.x + centre - disc.radius - 1).rounded(.down)))..<Swift.min(n, Int((disc.x + centre + disc.radius + 2).rounded(.up)))
                guard !rows.isEmpty, !cols.isEmpty else { continue }
                for row in rows { for col in cols {
                    var inside = 0
                    for a in 0..<sub { for b in 0..<sub {
                        let y = Double(row) + (Double(a) + 0.5) / Double(sub) - 0.5 - centre - disc.y
                        let x = Double(col) + (Double(b) + 0.5) / Double(sub) - 0.5 - centre - disc.x
                        if x * x + y * y <= r2 { inside += 1 }
                    } }
                    p[row * n + col] += Float(disc.mu * Double(inside) / Double(sub * sub))
                } }
            }
        }
        return out
    }
}
