import Foundation
import LensCore
import Signal

/// How the images (or volumes) of a spectral stack are registered to each other.
public struct StackAlignmentSettings: Sendable, Codable, Equatable {
    public enum Mode: String, Sendable, Codable {
        /// Each energy to its neighbour, shifts accumulated from the anchor outwards (contrast
        /// changes little between neighbouring energies, even across the edge).
        case chained
        /// Each energy directly to the anchor energy (no accumulated drift, but images far
        /// from the anchor in energy have different contrast).
        case anchor
    }
    public var mode: Mode = .chained
    /// Index of the energy the others are aligned to (nil: the middle of the list).
    public var anchorIndex: Int?
    /// Relative magnification change per eV (TXM: the zone plate refocused at each energy):
    /// image k is magnified by m = 1 + α (E_k − E_anchor) and is scaled back about its centre
    /// before registration. 0: no correction.
    public var magnificationPerElectronVolt: Double = 0
    /// Crop every image to the area all aligned images cover.
    public var cropToCommonArea = true
    public init() {}
}

/// The result of aligning a stack: the shift removed from each energy's image, the registration
/// quality, and the aligned (and cropped) stack.
public struct StackAlignment: Sendable {
    /// Per energy, the shift (pixels, along the image axes: (rows, columns) or (z, rows,
    /// columns)) that was removed: image k showed the anchor's content moved by this much.
    public var shifts: [[Double]]
    /// Per energy, the normalized cross-correlation with the image it was registered to.
    public var correlations: [Double]
    public var magnifications: [Double]
    /// The crop applied to each image axis (whole axes when not cropped).
    public var crop: [Range<Int>]
    /// (energy, …) aligned; NaN where an image had no data (only without cropping).
    public var aligned: Grid<Float>
}

/// Alignment of spectral image stacks across energies (TXM-XANES drift and run-out): upsampled
/// phase correlation to 1/64 pixel (``ImageRegistration/phaseCorrelation(reference:moving:upsampling:)``,
/// unbiased on noisy images, which matters when dozens of pairwise shifts are chained); images
/// are moved by bilinear (2D) or trilinear (3D) interpolation. 3D volumes are registered through
/// their projections: the sum over z gives the (row, column) shift, the sum over rows gives z.
public enum StackAligner {
    public static func align(stack: Grid<Float>, energies: [Double], settings: StackAlignmentSettings = StackAlignmentSettings(),
                             progress: ProgressReporter? = nil) throws -> StackAlignment {
        let ne = stack.shape[0]
        guard stack.rank == 3 || stack.rank == 4 else { throw LensError.invalidArgument("alignment needs a stack (energy, y, x) or (energy, z, y, x), got \(stack.shape)") }
        guard energies.count == ne else { throw LensError.invalidArgument("the energy list has \(energies.count) values but the stack has \(ne) images") }
        let anchor = settings.anchorIndex ?? ne / 2
        guard (0..<ne).contains(anchor) else { throw LensError.invalidArgument("anchor index \(anchor) outside 0..<\(ne)") }
        let frameShape = Shape(Array(stack.shape.dims.dropFirst()))
        let n = frameShape.count
        let magnifications = energies.map { 1 + settings.magnificationPerElectronVolt * ($0 - energies[anchor]) }
        guard magnifications.allSatisfy({ $0 > 0.5 && $0 < 2 }) else { throw LensError.invalidArgument("magnification correction outside 0.5–2 across the energies") }
        // Frames with magnification removed (about the centre), as Double for registration.
        let frames: [Grid<Double>] = (0..<ne).map { k in
            let values = stack.withUnsafeBufferPointer { s in (0..<n).map { Double(s[k * n + $0]) } }
            let g = Grid(shape: frameShape, elements: values)
            return magnifications[k] == 1 ? g : resample(g, shift: [Double](repeating: 0, count: frameShape.rank), magnification: magnifications[k])
        }
        var shifts = [[Double]](repeating: [Double](repeating: 0, count: frameShape.rank), count: ne)
        var correlations = [Double](repeating: 1, count: ne)
        // Pairs (reference, moving) in the order the shifts are known.
        var pairs: [(Int, Int)] = []
        if settings.mode == .chained {
            if anchor + 1 < ne { for k in (anchor + 1)..<ne { pairs.append((k - 1, k)) } }
            if anchor > 0 { for k in stride(from: anchor - 1, through: 0, by: -1) { pairs.append((k + 1, k)) } }
        } else {
            pairs = (0..<ne).filter { $0 != anchor }.map { (anchor, $0) }
        }
        let projections = frames.map { projectionsOf($0) }
        let pairList = pairs
        let results = Parallel.mapChunks(count: pairs.count, chunks: pairs.count) { range -> ([Double], Double) in
            let (r, m) = pairList[range.lowerBound]
            return (try? register(projections[r], projections[m])) ?? ([Double](repeating: .nan, count: frameShape.rank), -1)
        }
        for (i, (r, m)) in pairs.enumerated() {
            let (shift, correlation) = results[i]
            guard shift.allSatisfy(\.isFinite) else { throw LensError.numerical("registration of energy \(m) (\(energies[m]) eV) to \(r) failed") }
            shifts[m] = zip(shifts[r], shift).map { $0 + $1 }
            correlations[m] = correlation
        }
        progress?.advance(by: ne)
        // Move each frame back by its shift.
        let removed = shifts
        let moved = Parallel.mapChunks(count: ne, chunks: ne) { range in
            resample(frames[range.lowerBound], shift: removed[range.lowerBound].map { -$0 }, magnification: 1)
        }
        // Common area: the intersection of each frame's finite bounding box.
        var crop = frameShape.dims.map { 0..<$0 }
        if settings.cropToCommonArea {
            for g in moved {
                let box = finiteBoundingBox(g)
                crop = zip(crop, box).map { max($0.lowerBound, $1.lowerBound)..<min($0.upperBound, $1.upperBound) }
            }
            guard crop.allSatisfy({ $0.count > 0 }) else { throw LensError.numerical("the aligned images have no common area (shifts up to \(shifts.flatMap { $0 }.map(abs).max() ?? 0) px)") }
        }
        let croppedShape = Shape([ne] + crop.map(\.count))
        let m = croppedShape.count / ne
        var out = [Float](repeating: .nan, count: croppedShape.count)
        for k in 0..<ne {
            var i = 0
            moved[k].withUnsafeBufferPointer { src in
                forEachIndex(crop, in: frameShape) { linear in out[k * m + i] = Float(src[linear]); i += 1 }
            }
        }
        var geometry = stack.geometry
        for (axis, range) in crop.enumerated() { geometry = geometry.offset(axis: axis + 1, by: range.lowerBound) }
        return StackAlignment(shifts: shifts, correlations: correlations, magnifications: magnifications, crop: crop,
                              aligned: Grid(shape: croppedShape, geometry: geometry, elements: out))
    }

    /// What is registered: the image itself in 2D; in 3D the projections along z (rows ×
    /// columns) and along rows (z × columns).
    private static func projectionsOf(_ g: Grid<Double>) -> [Grid<Double>] {
        guard g.rank == 3 else { return [g] }
        let (nz, ny, nx) = (g.shape[0], g.shape[1], g.shape[2])
        var alongZ = [Double](repeating: 0, count: ny * nx), alongY = [Double](repeating: 0, count: nz * nx)
        g.withUnsafeBufferPointer { v in
            for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
                let value = v[(z * ny + y) * nx + x]
                guard value.isFinite else { continue }
                alongZ[y * nx + x] += value; alongY[z * nx + x] += value
            } } }
        }
        return [Grid(shape: Shape(ny, nx), elements: alongZ), Grid(shape: Shape(nz, nx), elements: alongY)]
    }

    /// The shift of `moving` relative to `reference` along the image axes, and the correlation.
    private static func register(_ reference: [Grid<Double>], _ moving: [Grid<Double>]) throws -> ([Double], Double) {
        let plane = try ImageRegistration.phaseCorrelation(reference: reference[0], moving: moving[0])
        guard reference.count == 2 else { return ([plane.rows, plane.columns], plane.correlation) }
        let side = try ImageRegistration.phaseCorrelation(reference: reference[1], moving: moving[1])
        return ([side.rows, plane.rows, plane.columns], min(plane.correlation, side.correlation))
    }

    /// out(p) = g((p − c)·m + c − shift) by bilinear/trilinear interpolation (NaN outside).
    static func resample(_ g: Grid<Double>, shift: [Double], magnification m: Double) -> Grid<Double> {
        let dims = g.shape.dims
        let centre = dims.map { Double($0 - 1) / 2 }
        let rank = dims.count
        var out = [Double](repeating: .nan, count: g.count)
        g.withUnsafeBufferPointer { src in
            var strides = [Int](repeating: 1, count: rank)
            for a in stride(from: rank - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * dims[a + 1] }
            var index = [Int](repeating: 0, count: rank)
            var position = [Double](repeating: 0, count: rank)
            var base = [Int](repeating: 0, count: rank), fraction = [Double](repeating: 0, count: rank)
            for linear in 0..<g.count {
                var rest = linear
                var inside = true
                for a in 0..<rank {
                    index[a] = rest / strides[a]; rest %= strides[a]
                    position[a] = (Double(index[a]) - centre[a]) * m + centre[a] - shift[a]
                    if position[a] < 0 || position[a] > Double(dims[a] - 1) { inside = false; break }
                    base[a] = min(Int(position[a]), max(0, dims[a] - 2))
                    fraction[a] = position[a] - Double(base[a])
                }
                guard inside else { continue }
                var value = 0.0
                for corner in 0..<(1 << rank) {
                    var weight = 1.0, offset = 0
                    for a in 0..<rank {
                        let upper = (corner >> a) & 1 == 1
                        weight *= upper ? fraction[a] : 1 - fraction[a]
                        offset += (base[a] + (upper && dims[a] > 1 ? 1 : 0)) * strides[a]
                    }
                    if weight != 0 { value += weight * src[offset] }
                }
                out[linear] = value
            }
        }
        return Grid(shape: g.shape, elements: out)
    }

    private static func finiteBoundingBox(_ g: Grid<Double>) -> [Range<Int>] {
        let dims = g.shape.dims
        var low = dims, high = dims.map { _ in -1 }
        var strides = [Int](repeating: 1, count: dims.count)
        for a in stride(from: dims.count - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * dims[a + 1] }
        g.withUnsafeBufferPointer { v in
            for linear in 0..<v.count where v[linear].isFinite {
                var rest = linear
                for a in 0..<dims.count { let i = rest / strides[a]; rest %= strides[a]; low[a] = min(low[a], i); high[a] = max(high[a], i) }
            }
        }
        return zip(low, high).map { $0 <= $1 ? $0..<($1 + 1) : 0..<0 }
    }

    private static func forEachIndex(_ box: [Range<Int>], in shape: Shape, _ body: (Int) -> Void) {
        let dims = shape.dims
        if dims.count == 2 {
            for y in box[0] { for x in box[1] { body(y * dims[1] + x) } }
        } else {
            for z in box[0] { for y in box[1] { for x in box[2] { body((z * dims[1] + y) * dims[2] + x) } } }
        }
    }
}
