import LensCore
import ImageAnalysis
import Signal

/// Splits that a voxel threshold misses. A crack one or two voxels wide that runs right through
/// a particle is, in a reconstruction, a sheet only partly darker than the solid (partial volume,
/// the reconstruction's blur): few of its voxels fall below the crack threshold, and the pieces
/// on either side stay joined through the rest. Averaged over the whole sheet, though, the
/// deficit is clear of the noise.
///
/// The method is region-adjacency merging (the scheme of scikit-image's `merge_hierarchical`):
/// an over-segmenting watershed of the smoothed grey (Gaussian σ = 1 voxel; h-maxima markers of
/// the region alone) cuts the particle along its dark valleys; then, repeatedly, the two adjacent
/// regions whose shared surface is the weakest crack are merged, until every remaining surface is
/// a crack by at least one of two measures (``Criteria``):
/// - **mean deficit**: the surface's mean grey lies far enough below the solid (a dark sheet);
/// - **width**: the crack's width across the surface — the grey deficit integrated along a line
///   through each face over a window that follows the surface's mean dip, which blur spreads
///   but does not change (the area of the dip) — reaches the thickness of the thinnest sheet of
///   voxels that disconnects the voxel lattice in the surface's direction, on most of the
///   surface.
///
/// What is left apart is separated by a crack along the surface where the two regions meet — a
/// split; a crack that leaves a bridge has a bright patch on that surface (or the bridge joins
/// the two sides into one region from the start) and does not split.
public enum SeparatingSurfaces {
    /// When a surface between two regions is a crack that separates them.
    public struct Criteria: Sendable, Equatable {
        /// Grey of the particle's solid and of void (crack, pore); solid > void.
        public var solidGrey: Double
        public var voidGrey: Double
        /// A crack where the surface's mean grey is at least this fraction of the solid−void
        /// contrast below the solid (nil: this measure off).
        public var meanDeficit: Double?
        /// A crack where its width across the surface is at least this multiple of the lattice
        /// thickness (``latticeThickness(normal:)``) on average, and at least half of it on
        /// ``minimumCoverage`` of the surface's faces (nil: this measure off).
        public var latticeWidths: Double?
        /// Peaks of the smoothed grey lower than this fraction of the contrast above their saddle
        /// start no region of their own (noise).
        public var markerHeight: Double

        public init(solidGrey: Double, voidGrey: Double, meanDeficit: Double?, latticeWidths: Double?, markerHeight: Double) {
            self.solidGrey = solidGrey; self.voidGrey = voidGrey
            self.meanDeficit = meanDeficit; self.latticeWidths = latticeWidths; self.markerHeight = markerHeight
        }

        var contrast: Double { solidGrey - voidGrey }
    }

    /// Fraction of a surface's measured faces on which the crack must be at least half the
    /// required width for the width measure: a crack bridged over more than a fifth of the
    /// surface between two regions does not separate them, and a face's own width is noisy.
    public static let minimumCoverage = 0.8

    /// Faces' width profiles reach up to this many voxels on either side of the face along the
    /// surface's normal: the inner 2·(radius − 2) + 1 samples are integrated, the outer two on
    /// each side give the local solid grey. Where a face's profile would leave the region (small
    /// particles, faces near the surface) the longest shorter one is taken, down to 3, which
    /// still holds a blurred one-voxel crack.
    /// The longest radius a surface uses is set by the width of its mean dip
    /// (``windowRadius(meanProfile:)``): 5 (a crack of up to about three voxels blurred by a
    /// voxel or two) unless the dip is broader — a crack whose normal lies in a limited-angle
    /// scan's missing wedge is smeared along it over ±4–5 voxels, and a window of ±3 would cut
    /// off the dip's tails and take its local solid from inside it.
    static let profileRadii = [8, 7, 6, 5, 4, 3]
    /// The window radius of a surface whose mean dip is no broader than that of a crack of a
    /// few voxels blurred by a voxel or two, or whose faces reach no further.
    static let standardRadius = 5

    /// Thickness (voxels) of the thinnest sheet of voxels with unit normal `normal` (voxel index
    /// space, any sign) that disconnects face-connected voxels: the naive digital plane, whose
    /// thickness is max|nᵢ| — but no less than half Σ|nᵢ|, below which the voxels at least half
    /// inside a crack band of that width (the partial-volume rule by which a crack voxel is
    /// counted) leave gaps. A crack narrower than this leaves the voxelised pieces joined.
    public static func latticeThickness(normal: SIMD3<Double>) -> Double {
        let n = SIMD3(abs(normal.x), abs(normal.y), abs(normal.z))
        let length = (n * n).sum().squareRoot()
        guard length > 0 else { return 1 }
        let unit = n / length
        return Swift.max(unit.max(), unit.sum() / 2)
    }

    /// Regions of `within` (1 = voxel of the particle to divide) after merging, labelled 1…n.
    /// `values`: grey values on the same grid (non-finite ones count as solid).
    public static func regions(values: Grid<Float>, within: Grid<UInt8>, criteria: Criteria) throws -> ComponentLabels {
        try values.requireSameShape(as: within, "the grey values", "the mask")
        let c = criteria
        guard c.contrast > 0, c.markerHeight > 0 else { throw LensError.invalidArgument("the solid grey must exceed the void grey and the marker height must be > 0") }
        if let d = c.meanDeficit, !(d > 0) { throw LensError.invalidArgument("the surface deficit must be > 0, got \(d)") }
        if let w = c.latticeWidths, !(w > 0) { throw LensError.invalidArgument("the surface width must be > 0 lattice thicknesses, got \(w)") }
        let cleaned = values.map { $0.isFinite ? $0 : Float(c.solidGrey) }
        let smoothed = Filters.gaussian(cleaned, sigma: 1)
        // Peaks and their saddles are those of the region alone: outside it (a brighter
        // neighbouring particle in the box) the relief lies below everything, so that no path
        // between two peaks leaves the region.
        let floor = (smoothed.elements.min() ?? 0) - 1
        var relief = smoothed
        for i in 0..<relief.count where within[linear: i] == 0 { relief[linear: i] = floor }
        let markers = try Watershed.hMaximaMarkers(relief, h: c.markerHeight * c.contrast, mask: within)
        guard markers.count >= 2 else { return ConnectedComponents.label(within, connectivity: .faces) }
        let basins = try Watershed.flood(relief: smoothed.map { -$0 }, markers: markers.labels, mask: within, connectivity: .faces)

        var surfaces = measureSurfaces(basins: basins, grey: cleaned, within: within, criteria: c)

        // Merge across the weakest surface (the largest weakness) while any is weak (> 0).
        func weakness(_ s: Surface) -> Double {
            var w = -Double.infinity, measured = false
            if let d = c.meanDeficit {
                measured = true
                w = Swift.max(w, d - s.meanDeficit(c))
            }
            if let f = c.latticeWidths {
                let byWidth = Swift.max(f - s.widthVoxels / s.latticeThickness, minimumCoverage - s.coverage)
                w = measured ? Swift.min(w, byWidth) : byWidth
                measured = true
            }
            return measured ? w : 1
        }
        var parent = Array(0...Int32(markers.count))
        func root(_ r: Int32) -> Int32 { var r = r; while parent[Int(r)] != r { r = parent[Int(r)] }; return r }
        while let (key, s) = surfaces.max(by: { weakness($0.value) < weakness($1.value) }), weakness(s) > 0 {
            let (keep, gone) = (key[0], key[1])
            parent[Int(gone)] = keep
            surfaces[key] = nil
            // The surfaces of the merged region are the sums of both regions' surfaces.
            for (other, s) in surfaces where other[0] == gone || other[1] == gone {
                surfaces[other] = nil
                let third = other[0] == gone ? other[1] : other[0]
                let merged = SIMD2(Swift.min(keep, third), Swift.max(keep, third))
                surfaces[merged] = (surfaces[merged] ?? Surface()).adding(s)
            }
        }
        var regions = Grid<Int32>(shape: within.shape, geometry: within.geometry)
        for i in 0..<basins.count where basins[linear: i] > 0 { regions[linear: i] = root(basins[linear: i]) }
        // Number the roots 1…n in raster order of their first voxel, with their sizes.
        var number = [Int32: Int32](), sizes = [within.count]
        for i in 0..<regions.count where regions[linear: i] > 0 {
            let r = regions[linear: i]
            let n = number[r] ?? { let n = Int32(number.count + 1); number[r] = n; sizes.append(0); return n }()
            regions[linear: i] = n
            sizes[Int(n)] += 1
            sizes[0] -= 1
        }
        return ComponentLabels(labels: regions, count: number.count, sizes: sizes)
    }

    /// What is known of the surface between two regions, summed over its faces (so that the
    /// surfaces of merged regions add).
    struct Surface {
        /// Grey summed over both voxels of every face, and their number.
        var greySum = 0.0, greyCount = 0
        /// Faces across z, y and x: a plane with unit normal n has faces across axis k in
        /// proportion to |nₖ|, so these give the surface's orientation (sign-free).
        var faces = SIMD3<Double>()
        /// Σ of the faces' midpoints and of their products (zz, yy, xx, zy, zx, yx): the plane
        /// fitted to them gives the normal along which the faces' profiles are taken.
        var moment1 = SIMD3<Double>(), moment2 = SIMD3<Double>(), moment2Cross = SIMD3<Double>()
        /// Per longest window radius R (lane k for ``profileRadii``[k], R ≥ ``standardRadius``):
        /// faces with a profile of radius ≤ R within the region, the sum of their crack widths
        /// (voxels; each face's longest such profile), and those whose own width is at least
        /// half the required width.
        var profiled = SIMD4<Double>(), widthSum = SIMD4<Double>(), coveredFaces = SIMD4<Double>()
        /// Σ of the faces' grey profiles along the normal (t = −8…8, each face's longest profile
        /// within the region) and how many faces reach each t: their mean is the surface's dip.
        /// (Lanes 0…16; fixed-size so that updating a surface in the dictionary allocates nothing.)
        var profileSum = SIMD32<Double>(), profileCount = SIMD32<Double>()

        func adding(_ r: Surface) -> Surface {
            Surface(greySum: greySum + r.greySum, greyCount: greyCount + r.greyCount, faces: faces + r.faces,
                    moment1: moment1 + r.moment1, moment2: moment2 + r.moment2, moment2Cross: moment2Cross + r.moment2Cross,
                    profiled: profiled + r.profiled, widthSum: widthSum + r.widthSum, coveredFaces: coveredFaces + r.coveredFaces,
                    profileSum: profileSum + r.profileSum, profileCount: profileCount + r.profileCount)
        }
        var latticeThickness: Double { SeparatingSurfaces.latticeThickness(normal: faces) }
        func meanDeficit(_ c: Criteria) -> Double { greyCount > 0 ? (c.solidGrey - greySum / Double(greyCount)) / c.contrast : 0 }
        /// The lane of the window radius the surface's mean dip asks for.
        var lane: Int {
            let mean = (0...(2 * profileRadii[0])).map { profileCount[$0] > 0 ? profileSum[$0] / profileCount[$0] : Double.nan }
            return profileRadii.firstIndex(of: windowRadius(meanProfile: mean)) ?? profileRadii.firstIndex(of: standardRadius)!
        }
        /// Mean crack width across the surface (voxels).
        var widthVoxels: Double { let k = lane; return profiled[k] > 0 ? widthSum[k] / profiled[k] : 0 }
        var coverage: Double { let k = lane; return profiled[k] > 0 ? coveredFaces[k] / profiled[k] : 0 }

        /// Unit normal of the plane fitted to the face midpoints (least squares: the
        /// eigenvector of their covariance with the smallest eigenvalue); nil for fewer than
        /// three faces.
        var fittedNormal: SIMD3<Double>? {
            let n = Double(greyCount / 2)
            guard n >= 3 else { return nil }
            let mean = moment1 / n
            let diagonal = moment2 / n - mean * mean
            let cross = moment2Cross / n - SIMD3(mean.x * mean.y, mean.x * mean.z, mean.y * mean.z)
            var covariance = Matrix(rows: 3, columns: 3)
            for a in 0..<3 { covariance[a, a] = diagonal[a] }
            (covariance[0, 1], covariance[0, 2], covariance[1, 2]) = (cross.x, cross.y, cross.z)
            (covariance[1, 0], covariance[2, 0], covariance[2, 1]) = (cross.x, cross.y, cross.z)
            guard let eigen = try? SymmetricEigen(covariance) else { return nil }
            return SIMD3(eigen.vectors[2])
        }
    }

    /// The surfaces between the watershed's basins, keyed by (lower, higher) label. A first pass
    /// collects each surface's grey and geometry; where the width measure is on, a second takes
    /// each face's deficit profile along its surface's fitted normal and judges its width
    /// against the surface's lattice thickness.
    static func measureSurfaces(basins: Grid<Int32>, grey: Grid<Float>, within: Grid<UInt8>, criteria c: Criteria) -> [SIMD2<Int32>: Surface] {
        let (nz, ny, nx) = (grey.shape[0], grey.shape[1], grey.shape[2])
        let strides = [ny * nx, nx, 1], extents = [nz, ny, nx]
        var surfaces = [SIMD2<Int32>: Surface]()
        var geometry = [SIMD2<Int32>: (normal: SIMD3<Double>, lattice: Double)]()
        for pass in 0..<(c.latticeWidths == nil ? 1 : 2) {
            if pass == 1 {
                for (key, s) in surfaces { if let n = s.fittedNormal { geometry[key] = (n, s.latticeThickness) } }
            }
            for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
                let i = (z * ny + y) * nx + x
                let a = basins[linear: i]
                guard a > 0 else { continue }
                let voxel = SIMD3(z, y, x), position = SIMD3(Double(z), Double(y), Double(x))
                for k in 0..<3 where voxel[k] + 1 < extents[k] {
                    let j = i + strides[k]
                    let b = basins[linear: j]
                    guard b > 0, b != a else { continue }
                    let key = SIMD2(Swift.min(a, b), Swift.max(a, b))
                    var s = surfaces[key] ?? Surface()
                    var midpoint = position
                    midpoint[k] += 0.5
                    if pass == 0 {
                        s.greySum += Double(grey[linear: i]) + Double(grey[linear: j])
                        s.greyCount += 2
                        s.faces[k] += 1
                        s.moment1 += midpoint
                        s.moment2 += midpoint * midpoint
                        s.moment2Cross += SIMD3(midpoint.x * midpoint.y, midpoint.x * midpoint.z, midpoint.y * midpoint.z)
                    } else if let (normal, lattice) = geometry[key],
                              let samples = profileRadii.lazy.compactMap({ profile(grey: grey, within: within, at: midpoint, along: normal, radius: $0) }).first {
                        let radius = samples.count / 2, centre = profileRadii[0]
                        for (t, v) in samples.enumerated() { s.profileSum[centre - radius + t] += v; s.profileCount[centre - radius + t] += 1 }
                        // Each lane's width from the face's longest profile within its radius.
                        for lane in 0...profileRadii.firstIndex(of: standardRadius)! {
                            let r = Swift.min(radius, profileRadii[lane])
                            guard r >= profileRadii.last! else { continue }
                            let width = crackWidth(samples: samples[(radius - r)...(radius + r)], contrast: c.contrast)
                            s.profiled[lane] += 1
                            s.widthSum[lane] += width
                            if width >= 0.5 * lattice * c.latticeWidths! { s.coveredFaces[lane] += 1 }
                        }
                    }
                    surfaces[key] = s
                }
            } } }
        }
        return surfaces
    }

    /// Grey samples at `point` + t·`normal`, t = −radius…radius (unit steps, trilinear); nil
    /// where one leaves the region.
    static func profile(grey: Grid<Float>, within: Grid<UInt8>, at point: SIMD3<Double>, along normal: SIMD3<Double>, radius: Int) -> [Double]? {
        let (nz, ny, nx) = (grey.shape[0], grey.shape[1], grey.shape[2])
        var samples = [Double]()
        samples.reserveCapacity(2 * radius + 1)
        for t in -radius...radius {
            let p = point + Double(t) * normal
            let lower = SIMD3(p.x.rounded(.down), p.y.rounded(.down), p.z.rounded(.down))
            let (z0, y0, x0) = (Int(lower.x), Int(lower.y), Int(lower.z))
            guard z0 >= 0, y0 >= 0, x0 >= 0, z0 + 1 < nz, y0 + 1 < ny, x0 + 1 < nx else { return nil }
            let f = p - lower
            var value = 0.0
            for corner in 0..<8 {
                let (dz, dy, dx) = (corner >> 2, (corner >> 1) & 1, corner & 1)
                let v = ((z0 + dz) * ny + y0 + dy) * nx + x0 + dx
                guard within[linear: v] != 0 else { return nil }
                let w = (dz == 1 ? f.x : 1 - f.x) * (dy == 1 ? f.y : 1 - f.y) * (dx == 1 ? f.z : 1 - f.z)
                value += w * Double(grey[linear: v])
            }
            samples.append(value)
        }
        return samples
    }

    /// The crack width (voxels) across a sheet from a profile along its normal (samples at
    /// t = −radius…radius): the grey deficit below the local solid, in units of the contrast,
    /// integrated over |t| ≤ radius − 2, the local solid being the mean at |t| = radius − 1
    /// and radius.
    static func crackWidth(samples: ArraySlice<Double>, contrast: Double) -> Double {
        let radius = samples.count / 2
        var ends = 0.0, middle = 0.0
        for (k, value) in samples.enumerated() {
            if abs(k - radius) >= radius - 1 { ends += value } else { middle += value }
        }
        let inner = Double(2 * (radius - 2) + 1)
        return (ends / 4 * inner - middle) / contrast
    }

    /// The window radius for a surface's mean dip (mean grey profile along its normal, t =
    /// −8…8; NaN where no face reaches): integrate over ±0.85 of the dip's full width at half
    /// depth (±2σ of a Gaussian blur, 95 % of its area), so radius = 2 + ⌈0.85·FWHM⌉, within
    /// ``standardRadius``…8. Depth is measured from the two outermost samples on each side,
    /// which must lie beyond the standard radius.
    package static func windowRadius(meanProfile mean: [Double]) -> Int {
        let centre = mean.count / 2
        // The two outermost samples that faces reach on each side.
        guard let low = mean.firstIndex(where: \.isFinite), let high = mean.lastIndex(where: \.isFinite),
              centre - low > standardRadius, high - centre > standardRadius else { return standardRadius }
        let solid = (mean[low] + mean[low + 1] + mean[high - 1] + mean[high]) / 4
        let bottom = mean[(centre - 1)...(centre + 1)].filter(\.isFinite).min() ?? mean[centre]
        guard solid > bottom else { return standardRadius }
        let half = (solid + bottom) / 2
        // The dip's extent on each side: where the mean first rises back above half depth
        // (linear between samples).
        func reach(_ step: Int) -> Double {
            var t = centre
            while t + step >= 0, t + step < mean.count, mean[t + step].isFinite, mean[t + step] < half { t += step }
            let next = t + step
            guard next >= 0, next < mean.count, mean[next].isFinite, mean[next] != mean[t] else { return Double(abs(t - centre)) }
            return Double(abs(t - centre)) + Swift.max(0, Swift.min(1, (half - mean[t]) / (mean[next] - mean[t])))
        }
        let fwhm = reach(-1) + reach(1)
        let radius = 2 + Int((0.85 * fwhm).rounded(.up))
        return Swift.min(profileRadii[0], Swift.max(standardRadius, radius))
    }
}
