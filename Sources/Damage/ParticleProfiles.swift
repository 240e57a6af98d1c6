import Foundation
import ImageAnalysis
import LensCore
import Signal

/// A crack's width as users measure it by hand (science brief §4): on a section through the
/// crack, a line along the crack's normal (its in-plane projection), the width of the dark dip
/// at half depth (``DipWidth``, sub-voxel by interpolation).
public struct SectionWidth: Codable, Sendable, Equatable {
    /// "XY" (a z section), "YZ" (an x section) or "XZ" (a y section).
    public var section: String
    /// The width seen on the section, in voxel edges.
    public var apparentVoxels: Double
    /// The apparent width times the in-plane part of the crack normal: the width across the
    /// crack plane (a section cutting the crack obliquely sees it wider by 1/|n_in-plane|).
    public var normalVoxels: Double
    /// The stated uncertainty of a hand-style measurement: ±1 voxel.
    public var errorVoxels: Double
}

/// Grey level against depth below a particle's surface, and what it says about unresolved
/// damage: cracks finer than the voxel lower the grey of the core without showing as crack
/// voxels (the radial-profile practice of the cathode-cracking literature: mean grey per
/// one-voxel shell of distance from the surface, normalized by the particle's solid grey).
public struct RadialProfile: Codable, Sendable, Equatable {
    /// Mean grey of shell k (depth k+1 voxels: k = 0 is the surface layer) over the solid grey;
    /// resolved crack voxels are left out.
    public var normalizedGrey: [Double]
    /// Mean normalized grey of the inner third of the depth over that of the shell below the
    /// surface layer (depths 2 … max(2, depth/3)); nil for particles under 6 voxels deep.
    public var coreToShellRatio: Double?
    /// The core is darker than the shell by more than the threshold.
    public var darkCore: Bool
}

enum ParticleProfiles {
    /// The radial profile of one particle in its box: `envelope` and `crack` 0/1, `values` grey.
    static func radialProfile(values: Grid<Float>, envelope: Grid<UInt8>, crack: Grid<UInt8>, solidGrey: Double,
                              darkCoreRatio: Double) -> RadialProfile {
        let depth = DistanceTransform.euclidean(envelope, borderIsFeature: true).distances
        var sums = [Double](), counts = [Int]()
        for i in 0..<envelope.count where envelope[linear: i] == 1 && crack[linear: i] == 0 && values[linear: i].isFinite {
            let shell = Swift.max(0, Int(depth[linear: i].rounded(.down)) - 1)
            if shell >= sums.count { sums += [Double](repeating: 0, count: shell + 1 - sums.count); counts += [Int](repeating: 0, count: shell + 1 - counts.count) }
            sums[shell] += Double(values[linear: i]); counts[shell] += 1
        }
        let scale = solidGrey != 0 ? solidGrey : 1
        let profile = zip(sums, counts).map { $1 > 0 ? $0 / Double($1) / scale : .nan }
        guard profile.count >= 6 else { return RadialProfile(normalizedGrey: profile, coreToShellRatio: nil, darkCore: false) }
        func mean(_ range: Range<Int>) -> Double {
            var (s, n) = (0.0, 0)
            for k in range where counts[k] > 0 { s += sums[k]; n += counts[k] }
            return n > 0 ? s / Double(n) / scale : .nan
        }
        let deepest = profile.count
        let shell = mean(1..<Swift.max(2, deepest / 3)), core = mean((2 * deepest / 3)..<deepest)
        let ratio = shell > 0 ? core / shell : nil
        return RadialProfile(normalizedGrey: profile, coreToShellRatio: ratio, darkCore: ratio.map { $0 < darkCoreRatio } ?? false)
    }

    /// The fraction of a particle's free surface (envelope faces towards voxels of no particle)
    /// that touches the binder (carbon–binder domain): 1 fully wetted, 0 detached.
    static func binderContact(envelope: Grid<UInt8>, box lo: [Int], particles: SharedReadBuffer<Int32>, binder: SharedReadBuffer<UInt8>, shape: [Int]) -> Double? {
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        let b = envelope.shape.dims
        var (free, wetted) = (0, 0)
        for z in 0..<b[0] { for y in 0..<b[1] { for x in 0..<b[2] where envelope[z, y, x] == 1 {
            for (dz, dy, dx) in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)] {
                let (bz, by, bx) = (z + dz, y + dy, x + dx)
                if bz >= 0, by >= 0, bx >= 0, bz < b[0], by < b[1], bx < b[2], envelope[bz, by, bx] == 1 { continue }
                let (gz, gy, gx) = (bz + lo[0], by + lo[1], bx + lo[2])
                guard gz >= 0, gy >= 0, gx >= 0, gz < nz, gy < ny, gx < nx else { continue }
                let g = (gz * ny + gy) * nx + gx
                guard particles[g] == 0 else { continue }   // touching another particle: not free surface
                free += 1
                if binder[g] != 0 { wetted += 1 }
            }
        } } }
        return free > 0 ? Double(wetted) / Double(free) : nil
    }

    /// The plane of a crack grid's largest component (26-connected): its centroid and unit normal
    /// (z, y, x; the direction of least spread of its voxels, principal component analysis);
    /// nil for fewer than 6 voxels.
    static func largestCrackPlane(_ crack: Grid<UInt8>) -> CrackPlane? {
        let components = ConnectedComponents.label(crack, connectivity: .corners)
        guard components.count > 0 else { return nil }
        let largest = Int32((1...components.count).max { components.sizes[$0] < components.sizes[$1] }!)
        var points = [SIMD3<Double>]()
        let d = crack.shape.dims
        for z in 0..<d[0] { for y in 0..<d[1] { for x in 0..<d[2] where components.labels[z, y, x] == largest {
            points.append(SIMD3(Double(z), Double(y), Double(x)))
        } } }
        guard points.count >= 6 else { return nil }
        let centroid = points.reduce(SIMD3<Double>(0, 0, 0), +) / Double(points.count)
        var covariance = Matrix(rows: 3, columns: 3)
        for p in points {
            let v = p - centroid
            for a in 0..<3 { for b in 0..<3 { covariance[a, b] += v[a] * v[b] / Double(points.count) } }
        }
        guard let eigen = try? SymmetricEigen(covariance) else { return nil }
        return CrackPlane(centroid: centroid, normal: SIMD3(eigen.vectors[2]))
    }

    /// A crack's centroid and unit normal (z, y, x), in the particle box's voxel indices.
    struct CrackPlane {
        var centroid: SIMD3<Double>, normal: SIMD3<Double>
    }

    /// Hand-style widths of a crack on the XY, YZ and XZ sections through its centroid, along
    /// the in-plane projection of its normal (``largestCrackPlane(_:)``). Sections cutting the
    /// crack at a glancing angle (in-plane normal below 0.5) are skipped, as a user would skip
    /// them.
    static func sectionWidths(values: Grid<Float>, plane: CrackPlane, halfLengthVoxels: Double) -> [SectionWidth] {
        let (centroid, normal) = (plane.centroid, plane.normal)
        let d = values.shape.dims
        let centre = (0..<3).map { Int(centroid[$0].rounded()) }
        // Section planes: (fixed axis, its name, the two in-plane axes as (row, column)).
        let sections: [(fixed: Int, name: String, rows: Int, columns: Int)] = [(0, "XY", 1, 2), (2, "YZ", 0, 1), (1, "XZ", 0, 2)]
        var out = [SectionWidth]()
        for s in sections {
            let inPlane = SIMD2(normal[s.rows], normal[s.columns])
            let length = (inPlane * inPlane).sum().squareRoot()
            guard length >= 0.5 else { continue }
            let direction = inPlane / length
            let (h, w) = (d[s.rows], d[s.columns])
            let image = Grid<Float>(shape: Shape(h, w)) { i in
                var index = [0, 0, 0]
                index[s.fixed] = centre[s.fixed]; index[s.rows] = i / w; index[s.columns] = i % w
                return values[index[0], index[1], index[2]]
            }
            let c = (row: centroid[s.rows], column: centroid[s.columns])
            let start = (row: c.row - direction.x * halfLengthVoxels, column: c.column - direction.y * halfLengthVoxels)
            let end = (row: c.row + direction.x * halfLengthVoxels, column: c.column + direction.y * halfLengthVoxels)
            let step = 0.1
            guard let sampled = try? LineProfile.sample(image, from: start, to: end, step: step) else { continue }
            // The finite stretch around the centre (the line may leave the particle's box),
            // kept symmetric so the dip stays in the middle.
            let middle = sampled.count / 2
            var reach = 0
            while middle - reach - 1 >= 0, middle + reach + 1 < sampled.count, sampled[middle - reach - 1].isFinite, sampled[middle + reach + 1].isFinite { reach += 1 }
            let profile = Array(sampled[(middle - reach)...(middle + reach)])
            guard let dip = DipWidth.measure(profile, spacing: step) else { continue }
            out.append(SectionWidth(section: s.name, apparentVoxels: dip.width, normalVoxels: dip.width * length, errorVoxels: 1))
        }
        return out
    }
}

extension ParticleProfiles {
    /// Multi-scale sheetness of dark sheets (cracks) in a grey box: at each scale σ the Hessian
    /// of the Gaussian-smoothed grey (central differences), its eigenvalues λ₁ ≥ λ₂ ≥ λ₃ in
    /// closed form (Smith 1961); a dark sheet is bright on both sides along its normal, so λ₁ is
    /// large and positive while the in-plane curvatures are small: the response is σ²·λ₁ where
    /// λ₁ > 0 and |λ₂|, |λ₃| ≤ λ₁/2, else 0 (σ² normalizes across scales, Lindeberg 1998); the
    /// maximum over scales is kept. In grey units: compare with the solid−void contrast.
    static func sheetness(values: Grid<Float>, scales: [Double]) -> Grid<Float> {
        let d = values.shape.dims
        var best = [Float](repeating: 0, count: values.count)
        // NaN (outside a reconstruction's field) would spread through the smoothing: use 0.
        let clean = Grid<Float>(shape: values.shape, geometry: values.geometry, elements: values.elements.map { $0.isFinite ? $0 : 0 })
        for sigma in scales {
            let g = Filters.gaussian(clean, sigma: sigma)
            let s2 = Float(sigma * sigma)
            let strides = [d[1] * d[2], d[2], 1]
            g.withUnsafeBufferPointer { v in
                for z in 1..<(d[0] - 1) { for y in 1..<(d[1] - 1) { for x in 1..<(d[2] - 1) {
                    let i = (z * d[1] + y) * d[2] + x
                    func second(_ a: Int) -> Double { Double(v[i + strides[a]]) - 2 * Double(v[i]) + Double(v[i - strides[a]]) }
                    func mixed(_ a: Int, _ b: Int) -> Double {
                        (Double(v[i + strides[a] + strides[b]]) - Double(v[i + strides[a] - strides[b]])
                         - Double(v[i - strides[a] + strides[b]]) + Double(v[i - strides[a] - strides[b]])) / 4
                    }
                    let (lambda1, lambda2, lambda3) = symmetricEigenvalues(second(0), second(1), second(2), mixed(0, 1), mixed(0, 2), mixed(1, 2))
                    guard lambda1 > 0, abs(lambda2) <= lambda1 / 2, abs(lambda3) <= lambda1 / 2 else { continue }
                    best[i] = Swift.max(best[i], s2 * Float(lambda1))
                } } }
            }
        }
        return Grid(shape: values.shape, geometry: values.geometry, elements: best)
    }

    /// Eigenvalues of [[a, d, e], [d, b, f], [e, f, c]] in decreasing order (trigonometric
    /// solution of the characteristic cubic).
    static func symmetricEigenvalues(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ e: Double, _ f: Double) -> (Double, Double, Double) {
        let p1 = d * d + e * e + f * f
        let q = (a + b + c) / 3
        if p1 < 1e-30 * (a * a + b * b + c * c + 1e-300) {
            let sorted = [a, b, c].sorted(by: >)
            return (sorted[0], sorted[1], sorted[2])
        }
        let p2 = (a - q) * (a - q) + (b - q) * (b - q) + (c - q) * (c - q) + 2 * p1
        let p = (p2 / 6).squareRoot()
        let (ba, bb, bc, bd, be, bf) = ((a - q) / p, (b - q) / p, (c - q) / p, d / p, e / p, f / p)
        let determinant = ba * (bb * bc - bf * bf) - bd * (bd * bc - bf * be) + be * (bd * bf - bb * be)
        let r = Swift.max(-1, Swift.min(1, determinant / 2))
        let phi = acos(r) / 3
        let largest = q + 2 * p * cos(phi), smallest = q + 2 * p * cos(phi + 2 * Double.pi / 3)
        return (largest, 3 * q - largest - smallest, smallest)
    }
}

extension ParticleProfiles {
    /// Grey black top-hat: the closing (dilation then erosion by a ball of `radius` voxels, the
    /// maximum then minimum over the ball) minus the grey. It is large where a dark feature is
    /// narrower than the ball, whatever the level around it: cracks up to 2·radius wide.
    static func blackTopHat(values: Grid<Float>, radius: Double) -> Grid<Float> {
        let d = values.shape.dims
        let r = Int(radius.rounded(.down))
        var ball = [(Int, Int, Int)]()
        for dz in -r...r { for dy in -r...r { for dx in -r...r where Double(dz * dz + dy * dy + dx * dx) <= radius * radius { ball.append((dz, dy, dx)) } } }
        let clean = values.elements.map { $0.isFinite ? $0 : 0 }
        func filter(_ input: [Float], maximum: Bool) -> [Float] {
            var out = input
            for z in 0..<d[0] { for y in 0..<d[1] { for x in 0..<d[2] {
                var v = input[(z * d[1] + y) * d[2] + x]
                for (dz, dy, dx) in ball {
                    let (a, b, c) = (z + dz, y + dy, x + dx)
                    guard a >= 0, b >= 0, c >= 0, a < d[0], b < d[1], c < d[2] else { continue }
                    let w = input[(a * d[1] + b) * d[2] + c]
                    v = maximum ? Swift.max(v, w) : Swift.min(v, w)
                }
                out[(z * d[1] + y) * d[2] + x] = v
            } } }
            return out
        }
        let closing = filter(filter(clean, maximum: true), maximum: false)
        return Grid(shape: values.shape, geometry: values.geometry, elements: zip(closing, clean).map { $0 - $1 })
    }
}
