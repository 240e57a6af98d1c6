import CHDF5
import Foundation
import LensCore

/// A parallel-beam scan read in slabs of detector rows: every projection's rows `r0..<r1`
/// at once (a stack of sinograms), so reconstruction streams through scans larger than memory.
public protocol ProjectionSource: AnyObject {
    /// The path shown in errors and provenance.
    var source: String { get }
    /// Detector frame (rows, columns).
    var frameShape: Shape { get }
    var anglesDegrees: [Double] { get }
    /// Pixel size at the sample in µm, when the file says.
    var pixelSizeMicrometres: Double? { get }
    /// True when the data are already line integrals (−log done), so no flats are needed.
    var isLineIntegrals: Bool { get }
    /// Rows `rows` of every projection, as (angle, row, column) Float.
    func readRows(_ rows: Range<Int>) throws -> Grid<Float>
    /// Flat frames with the projection index they were taken at (−0.5: before the scan).
    func flatGroups() throws -> [(position: Double, frames: Grid<Float>)]
    func darks() throws -> Grid<Float>?
}

extension ProjectionSource {
    public var projectionCount: Int { anglesDegrees.count }

    func checkRows(_ rows: Range<Int>) throws {
        guard rows.lowerBound >= 0, rows.upperBound <= frameShape[0], !rows.isEmpty else {
            throw LensError.invalidArgument("\(source): rows \(rows.lowerBound)..<\(rows.upperBound) outside 0..<\(frameShape[0])")
        }
    }
}

/// Flat or dark frames for projections of `frame` (rows, columns): a 2D image or a 3D stack of
/// them; nil when no path is given. The error names both files.
func openFrameStack(_ path: String?, _ what: String, frame: Shape, projections: String) throws -> VolumeReader? {
    guard let path else { return nil }
    let reader = try VolumeIO.open(path)
    let s = reader.info.shape
    guard (s.rank == 2 && s == frame) || (s.rank == 3 && s.sliceShape == frame) else {
        throw LensError.badInput(file: path, problem: "\(what) have frames of \(s.rank == 3 ? s.sliceShape : s), the projections of \(projections) are \(frame)")
    }
    return reader
}

/// Frames as a (frame, row, column) Float stack (one 2D image becomes one frame).
func frameStack(_ grid: AnyGrid) throws -> Grid<Float> {
    let g = try grid.float32()
    return g.rank == 2 ? g.reshaped(Shape(1, g.shape[0], g.shape[1])) : g
}

extension HDF5Dataset {
    /// Reads the hyperslab `start`/`count` (one entry per axis) into `destination`.
    func read(start: [Int], count: [Int], into destination: UnsafeMutableRawPointer) throws {
        try withHDF5(file: file.path) {
            let space = H5Dget_space(id)
            defer { H5Sclose(space) }
            var s = start.map { hsize_t($0) }, c = count.map { hsize_t($0) }
            H5Sselect_hyperslab(space, H5S_SELECT_SET, &s, nil, &c, nil)
            let memSpace = H5Screate_simple(Int32(c.count), &c, nil)
            defer { H5Sclose(memSpace) }
            let memType = HDF5Dataset.memoryType(dataType)
            defer { if dataType.isComplex { H5Tclose(memType) } }
            guard H5Dread(id, memType, memSpace, space, chdf5_p_default(), destination) >= 0 else {
                throw LensError.badInput(file: file.path, problem: "read of \(path) at \(start) × \(count) failed (truncated or corrupt file?)")
            }
        }
    }
}

extension TomographyScanReader: ProjectionSource {
    public var source: String { path }
    public var pixelSizeMicrometres: Double? { storedPixelSizeMicrometres }
    public var isLineIntegrals: Bool { false }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        let cols = frameShape[1]
        var grid = try AnyGrid.allocate(zeros: dataType, shape: Shape(projectionCount, rows.count, cols), source: "projections")
        let frameBytes = rows.count * cols * dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            var i = 0
            let frames = projectionFrames
            while i < frames.count {
                var j = i + 1
                while j < frames.count && frames[j] == frames[j - 1] + 1 { j += 1 }
                try projectionData.read(start: [frames[i], rows.lowerBound, 0], count: [j - i, rows.count, cols],
                                        into: buffer.baseAddress! + i * frameBytes)
                i = j
            }
        }
        return try grid.float32()
    }

    /// Flats grouped by where they were taken: NXtomo frames between projections keep their
    /// place (a group after the last projection sits at count − 0.5); Data Exchange's
    /// `data_white` is one group before the scan.
    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] {
        guard let all = try readFlats()?.float32() else { return [] }
        guard layout == .nxtomo else { return [(-0.5, all)] }
        var groups = [(position: Double, frames: Grid<Float>)]()
        var k = 0
        let frameCount = all.shape.sliceCount
        let values = all.elements   // one copy: `elements` copies the whole grid on every access
        while k < flatFrames.count {
            var end = k + 1
            while end < flatFrames.count && flatFrames[end] == flatFrames[end - 1] + 1 { end += 1 }
            let before = projectionFrames.filter { $0 < flatFrames[k] }.count
            let frames = Grid<Float>(shape: Shape(end - k, frameShape[0], frameShape[1]),
                                     elements: Array(values[(k * frameCount)..<(end * frameCount)]))
            groups.append((Double(before) - 0.5, frames))
            k = end
        }
        return groups
    }

    public func darks() throws -> Grid<Float>? { try readDarks()?.float32() }
}

/// A scan assembled from separate pieces, the way TIFF users have it: a projection stack (any
/// readable volume: multi-page TIFF, a folder of TIFFs, HDF5, NPY), an angle list, and flat
/// and dark stacks (optionally flats taken after the scan). Also sinograms stored as line
/// integrals (`isLineIntegrals`, with a scale, e.g. 0.001 for data saved ×1000).
public final class StackProjectionSource: ProjectionSource {
    public let source: String
    public let frameShape: Shape
    public let anglesDegrees: [Double]
    public let pixelSizeMicrometres: Double?
    public let isLineIntegrals: Bool
    private let projections: VolumeReader
    private let flatsBefore: VolumeReader?
    private let flatsAfter: VolumeReader?
    private let darkFrames: VolumeReader?
    private let scale: Float

    public init(projections path: String, anglesDegrees: [Double], flats: String? = nil, flatsAfter: String? = nil, darks: String? = nil,
                isLineIntegrals: Bool = false, scale: Double = 1, pixelSizeMicrometres: Double? = nil) throws {
        source = path
        projections = try VolumeIO.open(path)
        var shape = projections.info.shape
        if shape.rank == 2 { shape = Shape(shape[0], 1, shape[1]) }   // a sinogram (angle, column)
        guard shape.rank == 3 else { throw LensError.badInput(file: path, problem: "projections must be a 3D stack (angle, row, column), are \(shape)") }
        guard anglesDegrees.count == shape[0] else {
            throw LensError.badInput(file: path, problem: "\(anglesDegrees.count) angles for \(shape[0]) projections")
        }
        frameShape = Shape(shape[1], shape[2])
        self.anglesDegrees = anglesDegrees
        self.isLineIntegrals = isLineIntegrals
        self.scale = Float(scale)
        let voxel = projections.info.geometry
        self.pixelSizeMicrometres = pixelSizeMicrometres ?? (voxel.isCalibrated ? voxel.voxelSizeMicrometres.last : nil)
        flatsBefore = try openFrameStack(flats, "flats", frame: frameShape, projections: path)
        self.flatsAfter = try openFrameStack(flatsAfter, "flats", frame: frameShape, projections: path)
        darkFrames = try openFrameStack(darks, "darks", frame: frameShape, projections: path)
        if !isLineIntegrals && flatsBefore == nil {
            throw LensError.badInput(file: path, problem: "no flat (open-beam) frames given; pass flats, or declare the data line integrals")
        }
    }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        let (count, cols) = (projectionCount, frameShape[1])
        if let band = projections as? RowBandReader, projections.info.shape.rank == 3 {
            // Only the rows asked for are read (TIFF strips, HDF5 hyperslabs, NPY ranges).
            var out = try band.readRows(rows, slices: 0..<count).float32()
            if scale != 1 { out.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] *= scale } } }
            return out
        }
        var out = Grid<Float>(shape: Shape(count, rows.count, cols))
        // Other readers: whole frames in batches of about 64 MiB, keeping the rows asked for.
        let batch = Swift.max(1, (64 << 20) / Swift.max(1, frameShape.count * 4))
        var a = 0
        while a < count {
            let range = a..<Swift.min(count, a + batch)
            var slab = try projections.readSlab(range).float32()
            if slab.rank == 2 { slab = slab.reshaped(Shape(slab.shape[0], 1, slab.shape[1])) }
            slab.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { o in
                    for k in 0..<range.count { for r in 0..<rows.count { for c in 0..<cols {
                        o[((range.lowerBound + k) * rows.count + r) * cols + c] = p[(k * frameShape[0] + rows.lowerBound + r) * cols + c] * scale
                    } } }
                }
            }
            a = range.upperBound
        }
        return out
    }

    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] {
        var groups = [(position: Double, frames: Grid<Float>)]()
        if let flatsBefore { groups.append((-0.5, try frameStack(flatsBefore.readAll()))) }
        if let flatsAfter { groups.append((Double(projectionCount) - 0.5, try frameStack(flatsAfter.readAll()))) }
        return groups
    }

    public func darks() throws -> Grid<Float>? { try darkFrames.map { try frameStack($0.readAll()) } }
}

/// A sinogram in a MATLAB file (`file.mat:sino` with `file.mat:angles`), as line integrals.
public final class MATSinogramSource: ProjectionSource {
    public let source: String
    public let frameShape: Shape
    public let anglesDegrees: [Double]
    public let pixelSizeMicrometres: Double? = nil
    public let isLineIntegrals = true
    private let sinogram: Grid<Float>

    /// - Parameters:
    ///   - anglesInRadians: whether the angle variable is in radians (else degrees).
    ///   - scale: factor to line integrals (0.001 for data saved ×1000).
    public init(path: String, sinogram name: String, angles angleName: String, anglesInRadians: Bool = true, scale: Double = 1) throws {
        source = "\(path):\(name)"
        let file = try MATFile(path: path)
        var g = try file.grid(name)
        let angles = try file.grid(angleName).elements
        guard g.rank == 2 else { throw LensError.badInput(file: path, problem: "'\(name)' is not a 2D sinogram (\(g.shape))") }
        // MATLAB detector × angles reads as (angle, column); accept the transpose too.
        if g.shape[0] != angles.count && g.shape[1] == angles.count {
            let (r, c) = (g.shape[0], g.shape[1])
            let source = g
            g = Grid(shape: Shape(c, r)) { i in source[linear: (i % r) * c + i / r] }
        }
        guard g.shape[0] == angles.count else {
            throw LensError.badInput(file: path, problem: "'\(angleName)' has \(angles.count) angles for a sinogram of \(g.shape)")
        }
        anglesDegrees = anglesInRadians ? angles.map { $0 * 180 / .pi } : angles
        frameShape = Shape(1, g.shape[1])
        let s = scale
        sinogram = g.map { Float($0 * s) }.reshaped(Shape(g.shape[0], 1, g.shape[1]))
    }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        return sinogram
    }

    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] { [] }
    public func darks() throws -> Grid<Float>? { nil }
}

/// Line integrals (angle, row, column) already in memory — the aligned projections a
/// reconstruction continues from, say — served as a scan.
public final class LineIntegralGridSource: ProjectionSource {
    public let source: String
    public let frameShape: Shape
    public let anglesDegrees: [Double]
    public let pixelSizeMicrometres: Double?
    public var isLineIntegrals: Bool { true }
    let lines: Grid<Float>

    public init(lines: Grid<Float>, anglesDegrees: [Double], pixelSizeMicrometres: Double?, source: String) throws {
        guard lines.rank == 3, lines.shape[0] == anglesDegrees.count else {
            throw LensError.invalidArgument("\(source): line integrals \(lines.shape) for \(anglesDegrees.count) angles")
        }
        self.lines = lines; self.anglesDegrees = anglesDegrees; self.pixelSizeMicrometres = pixelSizeMicrometres; self.source = source
        frameShape = Shape(lines.shape[1], lines.shape[2])
    }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        let (angles, height, width) = (lines.shape[0], lines.shape[1], lines.shape[2])
        guard rows != 0..<height else { return lines }
        var out = Grid<Float>(shape: Shape(angles, rows.count, width))
        out.withUnsafeMutableBufferPointer { o in
            lines.withUnsafeBufferPointer { l in
                for a in 0..<angles {
                    (o.baseAddress! + a * rows.count * width).update(from: l.baseAddress! + (a * height + rows.lowerBound) * width, count: rows.count * width)
                }
            }
        }
        return out
    }

    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] { [] }
    public func darks() throws -> Grid<Float>? { nil }
}

/// A scan binned on read: every projection, flat and dark averaged over `factor` × `factor`
/// pixel blocks (rows and columns; a remainder at the far edges is dropped), the pixel size
/// multiplied by `factor` — a 1024² Xradia series read as 512², say. Averaging counts before
/// the logarithm keeps the flat-field correction exact.
public final class BinnedProjectionSource: ProjectionSource {
    public let base: ProjectionSource
    public let factor: Int
    public var source: String { base.source }
    public var frameShape: Shape { Shape(base.frameShape[0] / factor, base.frameShape[1] / factor) }
    public var anglesDegrees: [Double] { base.anglesDegrees }
    public var pixelSizeMicrometres: Double? { base.pixelSizeMicrometres.map { $0 * Double(factor) } }
    public var isLineIntegrals: Bool { base.isLineIntegrals }

    public init(_ base: ProjectionSource, factor: Int) throws {
        guard factor >= 1, base.frameShape[0] >= factor, base.frameShape[1] >= 8 * factor else {
            throw LensError.invalidArgument("\(base.source): binning by \(factor) needs frames of at least \(factor) rows and \(8 * factor) columns, not \(base.frameShape)")
        }
        self.base = base; self.factor = factor
    }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        return bin(try base.readRows((rows.lowerBound * factor)..<(rows.upperBound * factor)))
    }

    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] {
        try base.flatGroups().map { ($0.position, bin($0.frames)) }
    }

    public func darks() throws -> Grid<Float>? { try base.darks().map(bin) }

    /// Averages the frames of `stack` ((frame, row, column) or one (row, column) frame) over blocks.
    func bin(_ stack: Grid<Float>) -> Grid<Float> {
        let frames = stack.rank == 3 ? stack.shape[0] : 1
        let (rows, cols) = (stack.shape[stack.rank - 2], stack.shape[stack.rank - 1])
        let (outRows, outCols) = (rows / factor, cols / factor)
        let f = factor, weight = 1 / Float(factor * factor)
        let shape = stack.rank == 3 ? Shape(frames, outRows, outCols) : Shape(outRows, outCols)
        return Grid<Float>(shape: shape) { i in
            let k = i / (outRows * outCols), r = (i / outCols) % outRows, c = i % outCols
            var sum: Float = 0
            for dr in 0..<f { for dc in 0..<f { sum += stack[linear: (k * rows + r * f + dr) * cols + c * f + dc] } }
            return sum * weight
        }
    }
}
