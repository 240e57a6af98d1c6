import Foundation
import LensCore
import Signal

/// One depth region of a segmented CT volume seen the way the Compton detector sees it:
/// projected along the depth axis and resampled onto the Compton pixel grid.
public struct CTRegionProjection: Sendable {
    /// Depth slices (along axis 0 of the label volume) in this region.
    public var slices: Range<Int>
    /// Pore fraction of the electrode (pore / (pore + solid)) per Compton pixel; NaN where the
    /// column holds no electrode.
    public var porosity: Grid<Double>
    /// Solid voxels per column, as a fraction of the region's depth (what the Compton signal,
    /// ∝ electron density, follows): the image registered to the Compton peak-area map.
    public var solidFraction: Grid<Double>
    /// Electrode (pore + solid) fraction of each column.
    public var electrodeFraction: Grid<Double>
}

/// Pixel-wise correlation of one region after registration.
public struct ComptonCTRegionCorrelation: Codable, Sendable {
    public var region: Int
    /// Shift applied to the CT maps (Compton pixels): compton(y, x) ≈ ct(y − rows, x − columns).
    public var shift: ImageShift
    public var pixels: Int
    /// Pearson correlation of porosity and (1 − x) over the masked pixels, and the least-squares
    /// slope d(1 − x)/d(porosity).
    public var pearson: Double
    public var slope: Double
    public var meanPorosity: Double
    public var meanLithium: Double
}

/// Correlates Compton stoichiometry maps with a segmented CT of the same electrode (science
/// brief §6): split the label volume into the Compton depth regions along its depth axis (0),
/// project each onto the detector plane, resample to the Compton pixels (area-weighted), register
/// the CT solid fraction to the Compton peak-area map (phase correlation, then intensity
/// refinement), mask by the electrode, and correlate porosity with (1 − x) pixel by pixel.
public enum ComptonCTCorrelation {
    /// Label codes: which count as pore and which as solid; all others (separator, current
    /// collector, fiducials, background) count as neither.
    public struct Phases: Sendable, Equatable {
        public var pore: Set<Int>
        public var solid: Set<Int>
        /// The phantom's codes: 0 pore and 3 crack (empty), 1 active and 2 carbon–binder (solid).
        public init(pore: Set<Int> = [0, 3], solid: Set<Int> = [1, 2]) { self.pore = pore; self.solid = solid }
    }

    /// `count` equal parts of `depth` slices (the last ones as even as integer bounds allow):
    /// how Compton depth regions map onto a CT unless the slices are given.
    public static func equalDepthRegions(depth: Int, count: Int) -> [Range<Int>] {
        (0..<count).map { k in (k * depth / count)..<((k + 1) * depth / count) }
    }

    /// Projects the depth regions `regions` (slice ranges along axis 0) of `labels` (z, y, x)
    /// onto a Compton grid of `comptonShape` pixels of `comptonPixelMicrometres`, the CT's
    /// first voxel at the grid's origin.
    public static func project(labels: Grid<Int32>, phases: Phases, regions: [Range<Int>], ctVoxelMicrometres: Double,
                               comptonPixelMicrometres: Double, comptonShape: (rows: Int, columns: Int)) throws -> [CTRegionProjection] {
        guard labels.rank == 3 else { throw LensError.invalidArgument("the CT labels must be a 3D volume (depth, y, x), are \(labels.shape)") }
        let (depth, h, w) = (labels.shape[0], labels.shape[1], labels.shape[2])
        guard ctVoxelMicrometres > 0, comptonPixelMicrometres > 0 else { throw LensError.invalidArgument("pixel sizes must be positive") }
        for r in regions where r.isEmpty || r.lowerBound < 0 || r.upperBound > depth {
            throw LensError.invalidArgument("depth region \(r.lowerBound):\(r.upperBound) outside the volume's 0:\(depth)")
        }
        // Overlap weights of CT columns with Compton pixels along one axis (area-weighted resampling).
        func weights(_ n: Int, _ m: Int) -> [[(Int, Double)]] {
            let ratio = ctVoxelMicrometres / comptonPixelMicrometres
            return (0..<n).map { i in
                let a = Double(i) * ratio, b = Double(i + 1) * ratio
                var out = [(Int, Double)]()
                var k = Int(a.rounded(.down))
                while Double(k) < b && k < m {
                    let overlap = Swift.min(b, Double(k + 1)) - Swift.max(a, Double(k))
                    if overlap > 0 && k >= 0 { out.append((k, overlap / ratio)) }
                    k += 1
                }
                return out
            }
        }
        let wy = weights(h, comptonShape.rows), wx = weights(w, comptonShape.columns)
        return regions.map { region in
            var pore = [Double](repeating: 0, count: h * w), solid = pore
            labels.withUnsafeBufferPointer { p in
                for z in region { for i in 0..<(h * w) {
                    let v = Int(p[z * h * w + i])
                    if phases.pore.contains(v) { pore[i] += 1 } else if phases.solid.contains(v) { solid[i] += 1 }
                } }
            }
            let m = comptonShape.rows * comptonShape.columns
            var poreC = [Double](repeating: 0, count: m), solidC = poreC, area = poreC
            for y in 0..<h { for (ky, fy) in wy[y] { for x in 0..<w { for (kx, fx) in wx[x] {
                let f = fy * fx, k = ky * comptonShape.columns + kx
                poreC[k] += f * pore[y * w + x]; solidC[k] += f * solid[y * w + x]; area[k] += f
            } } } }
            let d = Double(region.count)
            let shape = Shape(comptonShape.rows, comptonShape.columns)
            let (poreSum, solidSum, areaSum) = (poreC, solidC, area)
            return CTRegionProjection(
                slices: region,
                porosity: Grid(shape: shape) { areaSum[$0] > 0 && poreSum[$0] + solidSum[$0] > 0 ? poreSum[$0] / (poreSum[$0] + solidSum[$0]) : .nan },
                solidFraction: Grid(shape: shape) { areaSum[$0] > 0 ? solidSum[$0] / (areaSum[$0] * d) : .nan },
                electrodeFraction: Grid(shape: shape) { areaSum[$0] > 0 ? (poreSum[$0] + solidSum[$0]) / (areaSum[$0] * d) : .nan })
        }
    }

    /// Registers one region's CT projection to its Compton maps and correlates porosity with
    /// (1 − x) over pixels analysed in the Compton map whose columns are at least
    /// `minimumElectrodeFraction` electrode.
    public static func correlate(region index: Int, ct: CTRegionProjection, comptonArea: Grid<Double>, comptonLithium: Grid<Double>,
                                 minimumElectrodeFraction: Double = 0.5) throws -> ComptonCTRegionCorrelation {
        guard comptonArea.shape == ct.porosity.shape, comptonLithium.shape == ct.porosity.shape else {
            throw LensError.invalidArgument("Compton maps \(comptonArea.shape) and CT projection \(ct.porosity.shape) differ in shape")
        }
        let shift = try ImageRegistration.translation(reference: ct.solidFraction, moving: comptonArea)
        let porosity = ImageRegistration.shifted(ct.porosity, rows: shift.rows, columns: shift.columns)
        let electrode = ImageRegistration.shifted(ct.electrodeFraction, rows: shift.rows, columns: shift.columns)
        var xs = [Double](), ys = [Double]()
        for i in 0..<porosity.count {
            let p = porosity[linear: i], l = comptonLithium[linear: i], e = electrode[linear: i]
            if p.isFinite, l.isFinite, e.isFinite, e >= minimumElectrodeFraction { xs.append(p); ys.append(l) }
        }
        guard xs.count >= 3 else {
            throw LensError.numerical("region \(index): only \(xs.count) pixels have both Compton data and electrode after registration")
        }
        let fit = Statistics.pearsonAndSlope(xs, ys)
        return ComptonCTRegionCorrelation(region: index, shift: shift, pixels: xs.count, pearson: fit.r, slope: fit.slope,
                                          meanPorosity: Statistics.mean(xs), meanLithium: Statistics.mean(ys))
    }
}
