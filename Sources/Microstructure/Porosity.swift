import Foundation
import ImageAnalysis
import LensCore

/// Depth regions: contiguous ranges of slices along an axis.
public enum DepthRegions {
    /// `count` regions of equal thickness covering `range` exactly, split as
    /// `numpy.array_split` does (what users compare with): when the count does not divide the
    /// range, the first `range.count % count` regions are one slice thicker.
    public static func equal(_ range: Range<Int>, count: Int) -> [Range<Int>] {
        let base = range.count / count, extra = range.count % count
        var start = range.lowerBound
        return (0..<count).map { k in
            let end = start + base + (k < extra ? 1 : 0)
            defer { start = end }
            return start..<end
        }
    }

    /// Regions from explicit slice bounds b0 < b1 < … < bn: [b0, b1), [b1, b2), …
    public static func explicit(_ bounds: [Int], extent: Int) throws -> [Range<Int>] {
        guard bounds.count >= 2, zip(bounds, bounds.dropFirst()).allSatisfy({ $0 < $1 }), bounds.first! >= 0, bounds.last! <= extent else {
            throw LensError.invalidArgument("region bounds must increase within 0…\(extent), got \(bounds)")
        }
        return zip(bounds, bounds.dropFirst()).map { $0..<$1 }
    }
}

/// Voxel counts of every label value (0…255) per position along each of the three axes,
/// accumulated slab by slab (so volumes larger than memory are profiled from a reader), with
/// an optional region-of-interest mask (the filled electrode) beside them.
public struct PhaseProfile: Sendable {
    public let shape: [Int]
    /// counts[axis][position * 256 + value]: voxels of `value` inside the region of interest.
    public private(set) var counts: [[Int]]
    /// roi[axis][position]: voxels of the region of interest at that position.
    public private(set) var roi: [[Int]]

    public init(shape: [Int]) {
        precondition(shape.count == 3)
        self.shape = shape
        counts = shape.map { [Int](repeating: 0, count: $0 * 256) }
        roi = shape.map { [Int](repeating: 0, count: $0) }
    }

    /// Adds a slab of slices z0 ..< z0 + slab.shape[0]; voxels where `regionOfInterest` is 0
    /// are left out.
    public mutating func add(slab: Grid<UInt8>, startingAt z0: Int, regionOfInterest: Grid<UInt8>? = nil) throws {
        if let regionOfInterest { try slab.requireSameShape(as: regionOfInterest, "the label slab", "the region-of-interest mask") }
        let (nz, ny, nx) = (slab.shape[0], slab.shape[1], slab.shape[2])
        guard ny == shape[1], nx == shape[2], z0 >= 0, z0 + nz <= shape[0] else {
            throw LensError.invalidArgument("a slab of shape \(slab.shape) at z = \(z0) does not fit a volume of shape \(shape)")
        }
        // Per-slice counts in parallel, then the y and x profiles from per-chunk partial sums.
        let partial = Parallel.mapChunks(count: nz, chunks: Parallel.threadCount * 2) { range -> ([Int], [Int], [Int], [Int], [Int], [Int]) in
            var cz = [Int](repeating: 0, count: range.count * 256), cy = [Int](repeating: 0, count: ny * 256), cx = [Int](repeating: 0, count: nx * 256)
            var rz = [Int](repeating: 0, count: range.count), ry = [Int](repeating: 0, count: ny), rx = [Int](repeating: 0, count: nx)
            slab.withUnsafeBufferPointer { v in
                for (k, z) in range.enumerated() { for y in 0..<ny { for x in 0..<nx {
                    let i = (z * ny + y) * nx + x
                    if let regionOfInterest, regionOfInterest[linear: i] == 0 { continue }
                    let value = Int(v[i])
                    cz[k * 256 + value] += 1; cy[y * 256 + value] += 1; cx[x * 256 + value] += 1
                    rz[k] += 1; ry[y] += 1; rx[x] += 1
                } } }
            }
            return (cz, cy, cx, rz, ry, rx)
        }
        var zOffset = z0
        for (cz, cy, cx, rz, ry, rx) in partial {
            for i in 0..<cz.count { counts[0][zOffset * 256 + i] += cz[i] }
            for i in 0..<rz.count { roi[0][zOffset + i] += rz[i] }
            zOffset += rz.count
            for i in 0..<cy.count { counts[1][i] += cy[i] }
            for i in 0..<cx.count { counts[2][i] += cx[i] }
            for i in 0..<ry.count { roi[1][i] += ry[i] }
            for i in 0..<rx.count { roi[2][i] += rx[i] }
        }
    }

    /// The profile of a whole label volume in memory.
    public static func of(_ labels: Grid<UInt8>, regionOfInterest: Grid<UInt8>? = nil) throws -> PhaseProfile {
        let three = labels.rank == 3 ? labels : labels.reshaped(Shape([1] + labels.shape.dims))
        var profile = PhaseProfile(shape: three.shape.dims)
        try profile.add(slab: three, startingAt: 0,
                        regionOfInterest: regionOfInterest.map { labels.rank == 3 ? $0 : $0.reshaped(three.shape) })
        return profile
    }

    /// Label values present anywhere in the region of interest.
    public var values: [Int] { (0..<256).filter { v in (0..<shape[0]).contains { counts[0][$0 * 256 + v] > 0 } } }

    /// Fractions of `values` (pore phase, for porosity) and of every label in a range of
    /// positions along `axis`, among the voxels of the region of interest whose label is not in
    /// `excluding` (outside the electrode: the exterior, separator, current collector).
    public func region(_ range: Range<Int>, axis: Int, phase: Set<Int>, excluding: Set<Int> = []) -> RegionFractions {
        var total = 0, inPhase = 0
        var perValue = [Int](repeating: 0, count: 256)
        for p in range {
            total += roi[axis][p]
            for v in 0..<256 {
                let c = counts[axis][p * 256 + v]
                if excluding.contains(v) { total -= c; continue }
                perValue[v] += c; if phase.contains(v) { inPhase += c }
            }
        }
        var fractions: [Int: Double] = [:]
        for v in 0..<256 where perValue[v] > 0 { fractions[v] = Double(perValue[v]) / Double(max(total, 1)) }
        return RegionFractions(start: range.lowerBound, end: range.upperBound, voxelCount: total,
                               phaseFraction: total > 0 ? Double(inPhase) / Double(total) : .nan, fractionsByValue: fractions)
    }
}

/// Phase fractions of one depth region.
public struct RegionFractions: Sendable, Codable {
    /// Positions [start, end) along the axis.
    public var start: Int, end: Int
    /// Voxels of the region of interest in the region.
    public var voxelCount: Int
    /// Fraction of the region's voxels in the chosen phase (porosity for the pore phase).
    public var phaseFraction: Double
    /// Fraction of every label value present.
    public var fractionsByValue: [Int: Double]
}
