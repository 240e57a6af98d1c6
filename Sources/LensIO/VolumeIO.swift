import Foundation
import LensCore

/// What a reader knows before reading any element.
public struct VolumeInfo: Sendable, Equatable {
    public var shape: Shape
    public var dataType: DataType
    public var geometry: GridGeometry
    /// Name of the format ("tiff", "tiff-folder", "hdf5", "npy", "raw", "png").
    public var format: String
    /// Anything else worth showing (`info`): dataset path, byte order, compression, units, ...
    public var metadata: [String: String]

    public init(shape: Shape, dataType: DataType, geometry: GridGeometry? = nil, format: String, metadata: [String: String] = [:]) {
        self.shape = shape
        self.dataType = dataType
        self.geometry = geometry ?? .uncalibrated(rank: shape.rank)
        self.format = format
        self.metadata = metadata
    }
}

/// A source of data read slab by slab along axis 0 (planes of a volume, pages of a stack,
/// rows of an image). Readers never modify their file.
public protocol VolumeReader: AnyObject {
    var info: VolumeInfo { get }
    /// The path shown in errors.
    var source: String { get }
    /// Reads indices `range` along axis 0 (all other axes whole).
    func readSlab(_ range: Range<Int>) throws -> AnyGrid
}

extension VolumeReader {
    /// Reads everything.
    public func readAll() throws -> AnyGrid { try readSlab(0..<info.shape[0]) }

    /// A slab thickness whose slabs hold about `targetBytes` (at least one slice; the whole
    /// extent when slices are empty, so a 10¹⁷ × 0 dataset is one slab, not 10¹⁷ of them).
    public func slabThickness(targetBytes: Int = 256 << 20) -> Int {
        if info.shape.sliceCount == 0 { return Swift.max(1, info.shape[0]) }
        let sliceBytes = Swift.max(1, info.shape.sliceCount * info.dataType.byteSize)
        return Swift.max(1, Swift.min(info.shape[0], targetBytes / sliceBytes))
    }

    func checkRange(_ range: Range<Int>) throws {
        guard range.lowerBound >= 0, range.upperBound <= info.shape[0], !range.isEmpty else {
            throw LensError.invalidArgument("\(source): slab \(range.lowerBound)..<\(range.upperBound) outside 0..<\(info.shape[0])")
        }
    }
}

/// A reader of 3D stacks that can read a band of rows (axis 1) of a range of slices without the
/// rest of each slice: detector rows `r0..<r1` of every projection, the slab a streaming
/// reconstruction needs, costs only those rows' bytes (TIFF strips, HDF5 hyperslabs, NPY
/// `pread`s, Xradia stream ranges).
///
/// NPY and HDF5 readers also read bands of 4D data (volume, z, y, x): `rows` is then a range of
/// planes of each volume (see ``SeriesVolumeReader``).
public protocol RowBandReader: VolumeReader {
    /// Rows `rows` (axis 1) of slices `slices` (axis 0), all further axes whole: (slice, row,
    /// column) for a 3D stack.
    func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid
}

extension RowBandReader {
    func checkBand(rows: Range<Int>, slices: Range<Int>) throws {
        guard info.shape.rank >= 3 else { throw LensError.invalidArgument("\(source): row bands need a 3D stack, not \(info.shape)") }
        try checkRange(slices)
        guard rows.lowerBound >= 0, rows.upperBound <= info.shape[1], !rows.isEmpty else {
            throw LensError.invalidArgument("\(source): rows \(rows.lowerBound)..<\(rows.upperBound) outside 0..<\(info.shape[1])")
        }
    }
}

/// One volume of a 4D series (volume, z, y, x) in an NPY or HDF5 file — the volume at one
/// energy of a spectro-tomography stack, one time step — read slab by slab along its own z
/// through the series' row bands, so a series larger than memory streams like one volume file
/// per index.
public final class SeriesVolumeReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    let series: RowBandReader
    let index: Int

    public init(series: RowBandReader, index: Int) throws {
        let shape = series.info.shape
        guard shape.rank == 4 else { throw LensError.invalidArgument("\(series.source): a series of volumes needs 4 axes, not \(shape)") }
        guard (0..<shape[0]).contains(index) else { throw LensError.invalidArgument("\(series.source): volume \(index) outside 0..<\(shape[0])") }
        let g = series.info.geometry
        let geometry = g.voxelSizeMicrometres.count == 4
            ? GridGeometry(voxelSizeMicrometres: Array(g.voxelSizeMicrometres.dropFirst()), originMicrometres: Array(g.originMicrometres.dropFirst()), isCalibrated: g.isCalibrated)
            : .uncalibrated(rank: 3)
        info = VolumeInfo(shape: Shape(Array(shape.dims.dropFirst())), dataType: series.info.dataType, geometry: geometry,
                          format: series.info.format, metadata: series.info.metadata)
        source = "\(series.source) [volume \(index)]"
        self.series = series; self.index = index
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        let band = try series.readRows(range, slices: index..<(index + 1))
        return band.reshaped(info.shape.replacing(axis: 0, with: range.count)).withGeometry(info.geometry.offset(axis: 0, by: range.lowerBound))
    }
}

/// A destination written slab by slab along axis 0, committed atomically by ``finish()``.
/// Until then the output exists only under a temporary name; ``abort()`` (or deinit without
/// finish) removes it.
public protocol VolumeWriter: AnyObject {
    var info: VolumeInfo { get }
    var destination: String { get }
    /// Writes `slab` at index `start` along axis 0. Slabs may come in any order, each once.
    func writeSlab(_ slab: AnyGrid, at start: Int) throws
    /// Closes the file and renames it into place.
    func finish() throws
    /// Discards the partial output.
    func abort()
}

/// Options for reading headerless raw binary files.
public struct RawLayout: Sendable, Equatable {
    public var shape: Shape
    public var dataType: DataType
    public var bigEndian: Bool
    public var byteOffset: Int
    public init(shape: Shape, dataType: DataType, bigEndian: Bool = false, byteOffset: Int = 0) {
        self.shape = shape; self.dataType = dataType; self.bigEndian = bigEndian; self.byteOffset = byteOffset
    }
}

/// Options for writing.
/// How stored values map to physical ones, recorded in the file itself when a volume is
/// stored rescaled (16-bit reconstructions): value = offset + scale × stored, in `unit`.
/// TIFF: ImageJ's calibration (`cf=0`, `c0`, `c1`, `vunit`); HDF5: the CF attributes
/// `add_offset`, `scale_factor` and `units`.
public struct ValueCalibration: Sendable, Codable, Equatable {
    public var offset: Double
    public var scale: Double
    public var unit: String?
    public init(offset: Double, scale: Double, unit: String? = nil) { self.offset = offset; self.scale = scale; self.unit = unit }
    public func value(_ stored: Double) -> Double { offset + scale * stored }
    /// "value = offset + scale × stored [unit]".
    public var description: String { "value = \(offset) + \(scale) × stored" + (unit.map { " [\($0)]" } ?? "") }
}

public struct WriteOptions: Sendable {
    /// Deflate level 1–9 for HDF5 and TIFF (nil: uncompressed, the default: gzip on noisy
    /// float data is slow and gains little).
    public var compressionLevel: Int?
    /// HDF5 dataset path (default `/data`, or `/exchange/data` for Data Exchange files).
    public var datasetPath: String?
    /// Recorded in the file when the stored values are rescaled.
    public var valueCalibration: ValueCalibration?
    public init(compressionLevel: Int? = nil, datasetPath: String? = nil) {
        self.compressionLevel = compressionLevel; self.datasetPath = datasetPath
    }
}

/// The entry point for files: picks the format from the path and opens a reader or writer.
///
/// | format | read | write | recognised by |
/// |---|---|---|---|
/// | TIFF (multi-page) | ✓ | ✓ | `.tif`, `.tiff` |
/// | folder of single-page TIFFs | ✓ (natural order) | ✓ | a folder |
/// | HDF5 / NeXus | ✓ (`file.h5:/path`, Data Exchange and NXtomo found automatically) | ✓ | `.h5`, `.hdf5`, `.hdf`, `.nxs`, `.nx5` |
/// | NumPy | ✓ (either byte order) | ✓ | `.npy` |
/// | raw binary | ✓ (with ``RawLayout``) | ✓ | `.raw`, `.bin`, `.dat` or a layout |
/// | PNG | ✓ | ✓ (8/16-bit grey, 8-bit RGB) | `.png` |
/// | Zeiss Xradia | ✓ (images as a stack, angles/energy/pixel size in ``XradiaFile``) | – | `.txrm`, `.xrm`, `.txm` |
public enum VolumeIO {
    public static let hdf5Extensions: Set<String> = ["h5", "hdf5", "hdf", "nxs", "nx5", "he5"]
    public static let tiffExtensions: Set<String> = ["tif", "tiff"]
    public static let rawExtensions: Set<String> = ["raw", "bin", "dat", "vol"]
    /// Zeiss Xradia files (OLE2 compound documents).
    public static let xradiaExtensions: Set<String> = ["txrm", "xrm", "txm"]

    /// Opens `path` for reading. Raw files need `raw`. A voxel size declared by the user
    /// (``DeclaredVoxelSize``) replaces the file's.
    public static func open(_ path: String, raw: RawLayout? = nil) throws -> VolumeReader {
        let reader = try openFormat(path, raw: raw)
        guard let declared = DeclaredVoxelSize.micrometres else { return reader }
        return try DeclaredVoxelSize.apply(declared, to: reader)
    }

    static func openFormat(_ path: String, raw: RawLayout?) throws -> VolumeReader {
        let reference = DatasetReference(path)
        let file = reference.filePath
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw LensError.badInput(file: file, problem: "no such file or folder")
        }
        if let raw { return try RawReader(path: file, layout: raw) }
        if isDirectory.boolValue { return try TIFFFolderReader(folder: file) }
        let ext = reference.fileExtension
        if ext == "mat" {
            // Level-5 MAT-files here; a v7.3 file is HDF5, opened as file.mat:/variable.
            do { return try MATFile.reader(try MATFile(path: file), reference: reference) } catch {
                guard reference.datasetPath != nil, (try? HDF5File(openingForReading: file)) != nil else { throw error }
                return try HDF5Reader(reference: reference)
            }
        }
        if ext == "xim" { return InMemoryReader(AnyGrid(try TextImage.read(file)), format: "text-image (ALS STXM .xim)", source: file) }
        if hdf5Extensions.contains(ext) || (reference.datasetPath != nil) { return try HDF5Reader(reference: reference) }
        if tiffExtensions.contains(ext) { return try TIFFReader(path: file) }
        if ext == "npy" { return try NPYReader(path: file) }
        if ext == "png" { return try PNGReader(path: file) }
        if xradiaExtensions.contains(ext) { return try XradiaReader(path: file) }
        if rawExtensions.contains(ext) {
            throw LensError.invalidArgument("\(file): raw binary needs --shape and --dtype (and --endian, --offset if not little-endian at 0)")
        }
        // Unknown extension: sniff the magic bytes.
        let magic = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: file)).read(upToCount: 8)) ?? Data()
        let bytes = [UInt8](magic ?? Data())
        if bytes.starts(with: [0x89, 0x48, 0x44, 0x46]) { return try HDF5Reader(reference: reference) }
        if bytes.starts(with: [0x49, 0x49]) || bytes.starts(with: [0x4D, 0x4D]) { return try TIFFReader(path: file) }
        if bytes.starts(with: [0x93, 0x4E, 0x55, 0x4D]) { return try NPYReader(path: file) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGReader(path: file) }
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0]) { return try XradiaReader(path: file) }
        throw LensError.badInput(file: file, problem: "unrecognised format (extension '\(ext)'); use .tif, .h5, .npy, .png, .txrm/.xrm, or raw with --shape and --dtype")
    }

    /// Creates a writer for `path` (format from the extension; a path without extension or
    /// ending in `/` is a folder of TIFFs). `inputs` are checked so an output never replaces one.
    public static func create(_ path: String, info: VolumeInfo, options: WriteOptions = WriteOptions(),
                              inputs: [String] = []) throws -> VolumeWriter {
        let reference = DatasetReference(path)
        let ext = reference.fileExtension
        let file = reference.filePath.hasSuffix("/") ? String(reference.filePath.dropLast()) : reference.filePath
        try AtomicOutput.validate(file, inputs: inputs)
        // An uncompressed output takes its full size on disk: check before the first byte, so a
        // huge (say, mostly unwritten) dataset cannot start filling the disk. Compressed outputs
        // are usually much smaller and are not refused up front.
        if options.compressionLevel == nil {
            let (bytes, overflow) = info.shape.count.multipliedReportingOverflow(by: info.dataType.byteSize)
            try DiskSpace.require(bytes: overflow ? Int.max : bytes, for: file)
        }
        var opts = options
        if let dataset = reference.datasetPath { opts.datasetPath = dataset }
        if hdf5Extensions.contains(ext) { return try HDF5Writer(path: file, info: info, options: opts) }
        if tiffExtensions.contains(ext) { return try TIFFWriter(path: file, info: info, options: opts) }
        if ext == "npy" { return try NPYWriter(path: file, info: info) }
        if ext == "png" { return try PNGWriter(path: file, info: info) }
        if rawExtensions.contains(ext) { return try RawWriter(path: file, info: info) }
        if ext.isEmpty || path.hasSuffix("/") { return try TIFFFolderWriter(folder: file, info: info, options: opts) }
        throw LensError.badOutput(file: path, problem: "unknown output format '.\(ext)' (use .tif, .h5, .npy, .raw, .png or a folder)")
    }

    /// Reads a whole file.
    public static func read(_ path: String, raw: RawLayout? = nil) throws -> AnyGrid {
        try open(path, raw: raw).readAll()
    }

    /// Writes a whole grid atomically.
    public static func write(_ grid: AnyGrid, to path: String, options: WriteOptions = WriteOptions(), inputs: [String] = []) throws {
        let info = VolumeInfo(shape: grid.shape, dataType: grid.dataType, geometry: grid.geometry, format: "")
        let writer = try create(path, info: info, options: options, inputs: inputs)
        do {
            try writer.writeSlab(grid, at: 0)
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
    }

    /// Writes a whole grid atomically.
    public static func write<T: GridElement>(_ grid: Grid<T>, to path: String, options: WriteOptions = WriteOptions(), inputs: [String] = []) throws {
        try write(AnyGrid(grid), to: path, options: options, inputs: inputs)
    }
}

/// Shared checks for writers.
extension VolumeWriter {
    func checkSlab(_ slab: AnyGrid, at start: Int) throws {
        guard slab.dataType == info.dataType else {
            throw LensError.invalidArgument("\(destination): slab of \(slab.dataType) written to a \(info.dataType) output")
        }
        guard slab.shape.rank == info.shape.rank, slab.shape.sliceShape == info.shape.sliceShape || info.shape.rank == 1,
              start >= 0, start + slab.shape[0] <= info.shape[0] else {
            throw LensError.invalidArgument("\(destination): slab \(slab.shape) at \(start) does not fit \(info.shape)")
        }
    }
}

/// Swaps the bytes of every element in place (big-endian files on little-endian machines).
func swapBytes(_ buffer: UnsafeMutableRawBufferPointer, elementSize: Int, complex: Bool) {
    let size = complex ? elementSize / 2 : elementSize
    guard size > 1 else { return }
    var i = 0
    while i + size <= buffer.count {
        var a = i, b = i + size - 1
        while a < b { let t = buffer[a]; buffer[a] = buffer[b]; buffer[b] = t; a += 1; b -= 1 }
        i += size
    }
}
