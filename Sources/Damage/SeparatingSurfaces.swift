import LensCore
import ImageAnalysis

/// Splits that a voxel threshold misses. A crack one or two voxels wide that runs right through
/// a particle is, in a reconstruction, a sheet only partly darker than the solid (partial volume,
/// the reconstruction's blur): few of its voxels fall below the crack threshold, and the pieces
/// on either side stay joined through the rest. Averaged over the whole sheet, though, the
/// deficit is clear of the noise.
///
/// The method is region-adjacency merging by boundary mean (the criterion of scikit-image's
/// `merge_hierarchical` with a boundary-mean weight): an over-segmenting watershed of the
/// smoothed grey (Gaussian σ = 1 voxel; h-maxima markers) cuts the particle along its dark
/// valleys; then, repeatedly, the two adjacent regions whose shared surface is brightest on
/// average are merged, until every remaining surface is darker than the solid grey by at least
/// the stated contrast. What is left apart is separated by a dark sheet everywhere the two
/// regions meet — a split; a crack that leaves a bridge has a bright patch on its surface and
/// does not split.
public enum SeparatingSurfaces {
    /// Regions of `within` (1 = voxel of the particle to divide) after merging, labelled 1…n.
    /// - Parameters:
    ///   - values: grey values on the same grid (non-finite ones count as `solid`).
    ///   - solid: the particle's solid grey; `minimumDeficit`: how much darker than `solid`
    ///     (grey units, > 0) a separating surface must be on average.
    ///   - markerHeight: h of the h-maxima markers (grey units): peaks of the smoothed grey
    ///     that rise less than this above their saddle start no region of their own.
    public static func regions(values: Grid<Float>, within: Grid<UInt8>, solid: Double, minimumDeficit: Double,
                               markerHeight: Double) throws -> ComponentLabels {
        try values.requireSameShape(as: within, "the grey values", "the mask")
        guard minimumDeficit > 0, markerHeight > 0 else { throw LensError.invalidArgument("the surface deficit and the marker height must be > 0") }
        let cleaned = values.map { $0.isFinite ? $0 : Float(solid) }
        let smoothed = Filters.gaussian(cleaned, sigma: 1)
        let markers = try Watershed.hMaximaMarkers(smoothed, h: markerHeight, mask: within)
        guard markers.count >= 2 else { return ConnectedComponents.label(within, connectivity: .faces) }
        let basins = try Watershed.flood(relief: smoothed.map { -$0 }, markers: markers.labels, mask: within, connectivity: .faces)

        // Sum and count of the grey on both sides of every shared face, per pair of regions.
        struct Surface { var sum = 0.0; var count = 0 }
        var surfaces = [SIMD2<Int32>: Surface]()
        let (nz, ny, nx) = (values.shape[0], values.shape[1], values.shape[2])
        for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
            let i = (z * ny + y) * nx + x
            let a = basins[linear: i]
            guard a > 0 else { continue }
            for (j, inside) in [(i + ny * nx, z + 1 < nz), (i + nx, y + 1 < ny), (i + 1, x + 1 < nx)] where inside {
                let b = basins[linear: j]
                guard b > 0, b != a else { continue }
                let key = SIMD2(Swift.min(a, b), Swift.max(a, b))
                surfaces[key, default: Surface()].sum += Double(cleaned[linear: i]) + Double(cleaned[linear: j])
                surfaces[key, default: Surface()].count += 2
            }
        } } }

        // Merge across the brightest surface first until all are dark enough.
        var parent = Array(0...Int32(markers.count))
        func root(_ r: Int32) -> Int32 { var r = r; while parent[Int(r)] != r { r = parent[Int(r)] }; return r }
        let ceiling = solid - minimumDeficit
        while let (key, _) = surfaces.max(by: { $0.value.sum / Double($0.value.count) < $1.value.sum / Double($1.value.count) }),
              surfaces[key]!.sum / Double(surfaces[key]!.count) > ceiling {
            let (keep, gone) = (key[0], key[1])
            parent[Int(gone)] = keep
            surfaces[key] = nil
            // The surfaces of the merged region are the sums of both regions' surfaces.
            for (other, s) in surfaces where other[0] == gone || other[1] == gone {
                surfaces[other] = nil
                let third = other[0] == gone ? other[1] : other[0]
                let merged = SIMD2(Swift.min(keep, third), Swift.max(keep, third))
                surfaces[merged, default: Surface()].sum += s.sum
                surfaces[merged, default: Surface()].count += s.count
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
}
