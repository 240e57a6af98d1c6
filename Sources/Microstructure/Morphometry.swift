import Foundation
import ImageAnalysis
import LensCore

/// Specific surface area of a phase.
public struct SpecificSurface: Sendable, Codable {
    /// Interface area of the phase (µm², or voxel units² when uncalibrated).
    public var areaSquareMicrometres: Double
    /// Area per total volume (µm⁻¹).
    public var perTotalVolume: Double
    /// Area per volume of the phase itself (µm⁻¹).
    public var perPhaseVolume: Double
    public var smoothingSigmaVoxels: Double

    /// Measures the boundary of `phase` (voxels ≠ 0) on the smoothed-indicator marching-
    /// tetrahedra mesh (``SurfaceArea``); cuts at the field of view's faces are not interface.
    public init(phase: Grid<UInt8>, smoothingSigma: Double = 0.7) throws {
        try Morphology.requireBinary(phase, name: "the phase mask")
        let lattice = Lattice(phase)
        let unit = lattice.unitMicrometres
        let area = SurfaceArea.smoothedIndicatorArea(phase, sigma: smoothingSigma) * unit * unit
        let voxelVolume = lattice.spacing.z * lattice.spacing.y * lattice.spacing.x * unit * unit * unit
        let phaseVoxels = phase.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard phaseVoxels > 0 else { throw LensError.numerical("the phase is empty: no voxel belongs to it") }
        areaSquareMicrometres = area
        perTotalVolume = area / (Double(lattice.count) * voxelVolume)
        perPhaseVolume = area / (Double(phaseVoxels) * voxelVolume)
        smoothingSigmaVoxels = smoothingSigma
    }
}

/// Local thickness (Hildebrand & Rüegsegger 1997): at each voxel of a phase, the diameter of
/// the largest ball that fits in the phase and contains the voxel. Computed as PoreSpy's
/// `local_thickness` does, by a sweep over radii from large to small: the centres whose
/// distance to the boundary is ≥ r are dilated by r (one distance transform each), and voxels
/// reached first keep 2r. Memory: the distance map, the result and one mask.
public enum LocalThickness {
    public struct Result: Sendable {
        /// Diameter per voxel (0 outside the phase), in units of the smallest voxel edge.
        public var thickness: Grid<Float>
        public var unitMicrometres: Double
        /// Radii swept, largest first.
        public var radii: [Double]
    }

    /// `sizes` radii between 1 and the largest distance, logarithmically spaced (PoreSpy's
    /// default of 25).
    public static func compute(phase: Grid<UInt8>, sizes: Int = 25, progress: ProgressReporter? = nil) throws -> Result {
        try Morphology.requireBinary(phase, name: "the phase mask")
        let distance = DistanceTransform.euclidean(phase)
        let dmax = Double(distance.distances.withUnsafeBufferPointer { $0.max() ?? 0 })
        guard dmax > 0 else { throw LensError.numerical("the phase is empty: no voxel belongs to it") }
        let lowest = min(1.0, dmax)
        let radii: [Double] = sizes <= 1 || dmax <= lowest ? [dmax] :
            (0..<sizes).map { k in exp(log(dmax) + (log(lowest) - log(dmax)) * Double(k) / Double(sizes - 1)) }
        var thickness = Grid<Float>(shape: phase.shape, geometry: phase.geometry)
        let d = distance.distances
        var notCentre = Grid<UInt8>(shape: phase.shape, geometry: phase.geometry)
        for r in radii {
            // Centres: voxels at least r from the boundary; the voxels within r of a centre are
            // the union of the balls (one distance transform of the non-centres).
            let radius = Float(r), diameter = Float(2 * r)
            Parallel.sharing(d) { dp in
                Parallel.forEachRowChunk(rows: notCentre.count, rowLength: 1, minimumChunk: 1 << 16, writing: &notCentre) { n in
                    for i in n.rows { n[i] = dp[i] >= radius ? 0 : 1 }
                }
            }
            let reach = DistanceTransform.euclidean(notCentre).distances
            Parallel.sharing(reach) { c in
                Parallel.sharing(phase) { p in
                    Parallel.forEachRowChunk(rows: thickness.count, rowLength: 1, minimumChunk: 1 << 16, writing: &thickness) { t in
                        for i in t.rows where t[i] == 0 && p[i] != 0 && c[i] <= radius { t[i] = diameter }
                    }
                }
            }
            progress?.advance()
        }
        return Result(thickness: thickness, unitMicrometres: distance.unitMicrometres, radii: radii)
    }
}
