import Foundation
import LensCore


/// The valence gradient model of per-particle state-of-charge patterns (science brief §5): at
/// each pixel/voxel of a particle, u is the vector of oxidation-state differences to the face
/// neighbours summed per axis — along axis a, (s(p + eₐ) − s(p))·eₐ + (s(p − eₐ) − s(p))·(−eₐ) =
/// (s(p + eₐ) − s(p − eₐ))·eₐ, twice the central-difference gradient (one-sided, doubled, where
/// one neighbour is outside the particle or masked) — and v points from the pixel to the
/// particle's centre of mass. The angle θ between them tells whether the particle reacts from
/// the surface inwards (θ ≈ 180°: the state rises outwards) or from the core (θ ≈ 0°); random
/// patterns spread θ with density ∝ sin θ in 3D and uniformly in 2D.
public struct ValenceGradientAnalysis: Sendable {
    public struct Particle: Sendable, Equatable {
        public var label: Int
        /// Pixels with a defined angle (non-zero u, not at the centre of mass).
        public var count: Int
        /// Histogram of θ in `binWidthDegrees` bins from 0° to 180°.
        public var histogram: [Int]
        public var meanCosine: Double
        /// Share of pixels within 30° of radial: towards the centre (θ < 30°) or towards the
        /// surface (θ > 150°), and the share a random pattern would have.
        public var towardCentre: Double, towardSurface: Double, randomExpectation: Double
        /// (towardCentre + towardSurface) / (2 × randomExpectation): 1 for a random pattern,
        /// above 1 for radial gradients.
        public var radialIndex: Double { count > 0 ? (towardCentre + towardSurface) / (2 * randomExpectation) : .nan }
    }
    public var particles: [Particle]
    public var binWidthDegrees: Double
    public static let radialConeDegrees = 30.0

    /// - Parameters:
    ///   - map: oxidation state or its proxy (edge energy), NaN where masked; 2D or 3D.
    ///   - labels: particles (0 = background), same shape.
    public init(map: Grid<Float>, labels: Grid<Int32>, binWidthDegrees: Double = 10, minimumPixels: Int = 10) throws {
        guard map.shape == labels.shape else { throw LensError.invalidArgument("the label image has shape \(labels.shape) but the map \(map.shape)") }
        guard map.rank == 2 || map.rank == 3 else { throw LensError.invalidArgument("the valence gradient model needs a 2D or 3D map, got \(map.shape)") }
        guard binWidthDegrees > 0, binWidthDegrees <= 90 else { throw LensError.invalidArgument("the bin width must be in (0, 90]°") }
        let dims = map.shape.dims, rank = dims.count
        var strides = [Int](repeating: 1, count: rank)
        for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * dims[a + 1] }
        // Physical spacing per axis, so gradients and centre vectors share units.
        let spacing = labels.geometry.isCalibrated ? labels.geometry.voxelSizeMicrometres : [Double](repeating: 1, count: rank)
        // Centres of mass per label.
        var sums = [Int: [Double]](), counts = [Int: Int]()
        labels.withUnsafeBufferPointer { l in
            for i in 0..<l.count where l[i] != 0 {
                let label = Int(l[i])
                var rest = i, position = [Double](repeating: 0, count: rank)
                for a in 0..<rank { position[a] = Double(rest / strides[a]) * spacing[a]; rest %= strides[a] }
                sums[label, default: [Double](repeating: 0, count: rank)] = zip(sums[label] ?? [Double](repeating: 0, count: rank), position).map { $0 + $1 }
                counts[label, default: 0] += 1
            }
        }
        let bins = Int((180 / binWidthDegrees).rounded(.up))
        var histograms = [Int: [Int]](), cosineSums = [Int: Double](), centre = [Int: Int](), surface = [Int: Int]()
        let cone = cos(Self.radialConeDegrees * .pi / 180)
        map.withUnsafeBufferPointer { m in
            labels.withUnsafeBufferPointer { l in
                for i in 0..<m.count where l[i] != 0 && m[i].isFinite {
                    let label = Int(l[i])
                    guard let n = counts[label], n >= minimumPixels else { continue }
                    var rest = i, index = [Int](repeating: 0, count: rank)
                    for a in 0..<rank { index[a] = rest / strides[a]; rest %= strides[a] }
                    var u = [Double](repeating: 0, count: rank), v = [Double](repeating: 0, count: rank)
                    for a in 0..<rank {
                        func value(_ offset: Int) -> Double? {
                            let j = index[a] + offset
                            guard j >= 0, j < dims[a] else { return nil }
                            let k = i + offset * strides[a]
                            return l[k] == l[i] && m[k].isFinite ? Double(m[k]) : nil
                        }
                        let here = Double(m[i])
                        switch (value(1), value(-1)) {
                        case let (plus?, minus?): u[a] = (plus - minus) / spacing[a]
                        case let (plus?, nil): u[a] = 2 * (plus - here) / spacing[a]
                        case let (nil, minus?): u[a] = 2 * (here - minus) / spacing[a]
                        default: u[a] = 0
                        }
                        v[a] = sums[label]![a] / Double(n) - Double(index[a]) * spacing[a]
                    }
                    let uu = u.reduce(0) { $0 + $1 * $1 }, vv = v.reduce(0) { $0 + $1 * $1 }
                    guard uu > 0, vv > 0 else { continue }
                    let cosine = max(-1, min(1, zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } / (uu * vv).squareRoot()))
                    let theta = acos(cosine) * 180 / .pi
                    histograms[label, default: [Int](repeating: 0, count: bins)][min(bins - 1, Int(theta / binWidthDegrees))] += 1
                    cosineSums[label, default: 0] += cosine
                    if cosine >= cone { centre[label, default: 0] += 1 }
                    if cosine <= -cone { surface[label, default: 0] += 1 }
                }
            }
        }
        // Random directions: P(θ < 30°) = (1 − cos 30°)/2 in 3D, 30/180 in 2D.
        let random = rank == 3 ? (1 - cone) / 2 : Self.radialConeDegrees / 180
        particles = counts.keys.sorted().map { label in
            let h = histograms[label] ?? [Int](repeating: 0, count: bins)
            let total = h.reduce(0, +)
            return Particle(label: label, count: total, histogram: h,
                            meanCosine: total > 0 ? cosineSums[label, default: 0] / Double(total) : .nan,
                            towardCentre: total > 0 ? Double(centre[label, default: 0]) / Double(total) : .nan,
                            towardSurface: total > 0 ? Double(surface[label, default: 0]) / Double(total) : .nan,
                            randomExpectation: random)
        }
        self.binWidthDegrees = binWidthDegrees
    }

    /// One row per particle: counts, summary and the histogram.
    public func table() -> Table {
        let bins = particles.first?.histogram.count ?? 0
        var table = Table(columns: [TableColumn("label"), TableColumn("pixels_with_angle"), TableColumn("mean_cosine"),
                                    TableColumn("toward_centre"), TableColumn("toward_surface"), TableColumn("random_expectation"),
                                    TableColumn("radial_index")]
                          + (0..<bins).map { TableColumn("theta_\(Int(Double($0) * binWidthDegrees))_\(Int(min(180, Double($0 + 1) * binWidthDegrees)))", unit: "pixels") })
        for p in particles {
            table.append([.number(Double(p.label)), .number(Double(p.count)), .number(p.meanCosine), .number(p.towardCentre),
                          .number(p.towardSurface), .number(p.randomExpectation), .number(p.radialIndex)] + p.histogram.map { .number(Double($0)) })
        }
        return table
    }
}
