import CGSF
import Foundation
import LensCore

/// An OLE2 compound document ("structured storage": a file system inside one file, folders
/// called storages and files called streams), read through Debian's libgsf. Streams are
/// addressed by slash paths such as `ImageInfo/Angles`. Read-only.
public final class CompoundDocument {
    public let path: String
    private let root: UnsafeMutableRawPointer

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw LensError.badInput(file: path, problem: "no such file") }
        var message: UnsafeMutablePointer<CChar>?
        guard let root = cgsf_open_msole(path, &message) else {
            let text = message.map { String(cString: $0) } ?? "unreadable"
            free(message)
            throw LensError.badInput(file: path, problem: "not a readable OLE2 compound document (\(text))")
        }
        self.root = root
    }

    deinit { cgsf_release(root) }

    /// Opens the node at `streamPath` and hands it to `body` (nil when absent).
    private func withNode<R>(_ streamPath: String, _ body: (UnsafeMutableRawPointer?) throws -> R) rethrows -> R {
        var node: UnsafeMutableRawPointer? = root
        var owned = [UnsafeMutableRawPointer]()
        defer { owned.forEach { cgsf_release($0) } }
        for part in streamPath.split(separator: "/") {
            guard let current = node, cgsf_child_count(current) >= 0 else { node = nil; break }
            node = cgsf_child(current, String(part))
            if let node { owned.append(node) }
        }
        return try body(node)
    }

    /// Whether a stream exists at `streamPath`.
    public func contains(_ streamPath: String) -> Bool {
        withNode(streamPath) { node in node.map { cgsf_child_count($0) < 0 } ?? false }
    }

    /// Byte size of a stream, nil when absent.
    public func size(of streamPath: String) -> Int? {
        withNode(streamPath) { node in node.flatMap { cgsf_child_count($0) < 0 ? Int(cgsf_size($0)) : nil } }
    }

    /// Bytes `range` of a stream (the whole stream when nil).
    public func read(_ streamPath: String, bytes range: Range<Int>? = nil) throws -> [UInt8] {
        try withNode(streamPath) { node in
            guard let node, cgsf_child_count(node) < 0 else {
                throw LensError.badInput(file: path, problem: "no stream '\(streamPath)'")
            }
            let total = Int(cgsf_size(node))
            let wanted = range ?? 0..<total
            guard wanted.lowerBound >= 0, wanted.upperBound <= total else {
                throw LensError.badInput(file: path, problem: "stream '\(streamPath)' has \(total) bytes, \(wanted.upperBound) needed (truncated file?)")
            }
            var bytes = [UInt8](repeating: 0, count: wanted.count)
            if !wanted.isEmpty {
                let ok = bytes.withUnsafeMutableBytes { cgsf_read(node, Int64(wanted.lowerBound), wanted.count, $0.baseAddress) }
                guard ok != 0 else { throw LensError.badInput(file: path, problem: "stream '\(streamPath)' could not be read (corrupt file?)") }
            }
            return bytes
        }
    }

    /// Every stream path, depth first (for `info` and debugging).
    public func streamPaths() -> [String] {
        var paths = [String]()
        func walk(_ node: UnsafeMutableRawPointer, prefix: String) {
            let count = cgsf_child_count(node)
            guard count > 0 else { return }
            for i in 0..<count {
                guard let name = cgsf_child_name(node, i).map({ String(cString: $0) }) else { continue }
                let full = prefix.isEmpty ? name : prefix + "/" + name
                guard let child = cgsf_child(node, name) else { continue }
                if cgsf_child_count(child) < 0 { paths.append(full) } else { walk(child, prefix: full) }
                cgsf_release(child)
            }
        }
        walk(root, prefix: "")
        return paths
    }

    /// A stream as little-endian 32-bit integers (nil when absent).
    public func int32s(_ streamPath: String) throws -> [Int32]? {
        guard contains(streamPath) else { return nil }
        let bytes = try read(streamPath)
        return stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            Int32(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
    }

    /// A stream as little-endian IEEE 754 single-precision values (nil when absent).
    public func float32s(_ streamPath: String) throws -> [Float]? {
        try int32s(streamPath)?.map { Float(bitPattern: UInt32(bitPattern: $0)) }
    }
}

/// A Zeiss Xradia file: `.txrm` (a tomography series: one image per angle), `.xrm` (one image,
/// or a reference), `.txm` (a reconstructed volume, one image per slice). The layout, as the
/// microscope software writes it and as TomoPy/dxchange read it:
///
/// - `ImageInfo/ImageWidth`, `ImageHeight`, `ImagesTaken` (int32); `DataType` 5 = uint16,
///   10 = float32 (other codes are refused);
/// - `ImageInfo/Angles` (float32 degrees), `Energy` (eV), `ExpTimes` (s), `PixelSize` (µm at
///   the sample), `XrayMagnification`; the per-image arrays may be longer than the image count
///   (unused entries are zero) and are cut to it;
/// - images in `ImageData{1 + i/100}/Image{i+1}`, row-major, little-endian;
/// - an optional reference (flat) image `ReferenceData/Image` with its own `DataType`;
/// - `Alignment/X-Shifts`, `Y-Shifts`: the per-image shifts the software determined (pixels).
public final class XradiaFile {
    public enum PixelType: Int32, Sendable {
        case uint16 = 5
        case float32 = 10
        var dataType: DataType { self == .uint16 ? .uint16 : .float32 }
        var byteSize: Int { self == .uint16 ? 2 : 4 }
    }

    public let path: String
    public let document: CompoundDocument
    public let imageCount: Int
    /// Image (rows, columns).
    public let imageShape: Shape
    public let pixelType: PixelType
    public let anglesDegrees: [Double]
    public let energiesElectronvolts: [Double]
    public let exposureTimesSeconds: [Double]
    /// Pixel size at the sample in µm, nil when the file stores none (or zero).
    public let pixelSizeMicrometres: Double?
    public let xShiftsPixels: [Double]
    public let yShiftsPixels: [Double]

    public init(path: String) throws {
        self.path = path
        let document = try CompoundDocument(path: path)
        self.document = document
        func integer(_ name: String) throws -> Int? { try document.int32s("ImageInfo/" + name)?.first.map(Int.init) }
        guard let width = try integer("ImageWidth"), let height = try integer("ImageHeight"), width > 0, height > 0 else {
            throw LensError.badInput(file: path, problem: "no ImageInfo/ImageWidth and ImageHeight: not an Xradia image file")
        }
        imageShape = try Shape.validated([height, width], source: path, elementBytes: 8)
        let taken = try integer("ImagesTaken") ?? integer("NoOfImages") ?? 1
        // Count the images actually present (an interrupted scan stores fewer than planned).
        var present = 0
        while present < taken && document.contains(XradiaFile.imageStream(present)) { present += 1 }
        guard present > 0 else { throw LensError.badInput(file: path, problem: "no image streams (ImageData1/Image1 missing)") }
        imageCount = present
        let code = try integer("DataType")
        let firstBytes = document.size(of: XradiaFile.imageStream(0)) ?? 0
        if let code, let type = PixelType(rawValue: Int32(code)) {
            pixelType = type
        } else if code == nil, let inferred = [PixelType.uint16, .float32].first(where: { firstBytes == width * height * $0.byteSize }) {
            pixelType = inferred
        } else {
            throw LensError.badInput(file: path, problem: "unsupported Xradia DataType \(code.map(String.init) ?? "missing") (5 = uint16 and 10 = float32 are read)")
        }
        guard firstBytes >= width * height * pixelType.byteSize else {
            throw LensError.badInput(file: path, problem: "ImageData1/Image1 holds \(firstBytes) bytes, a \(height)×\(width) \(pixelType.dataType) image needs \(width * height * pixelType.byteSize)")
        }
        func perImage(_ name: String) throws -> [Double] {
            guard let values = try document.float32s("ImageInfo/" + name) else { return [] }
            return values.prefix(present).map(Double.init)
        }
        anglesDegrees = try perImage("Angles")
        energiesElectronvolts = try perImage("Energy")
        exposureTimesSeconds = try perImage("ExpTimes")
        let pixel = try document.float32s("ImageInfo/PixelSize")?.first.map(Double.init)
        pixelSizeMicrometres = pixel.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        xShiftsPixels = try document.float32s("Alignment/X-Shifts")?.prefix(present).map(Double.init) ?? []
        yShiftsPixels = try document.float32s("Alignment/Y-Shifts")?.prefix(present).map(Double.init) ?? []
    }

    static func imageStream(_ index: Int) -> String { "ImageData\(1 + index / 100)/Image\(index + 1)" }

    /// Rows `rows` of image `index` (rows of one image are contiguous in its stream, so only
    /// those bytes are read).
    public func readImage(_ index: Int, rows: Range<Int>? = nil) throws -> AnyGrid {
        let rows = rows ?? 0..<imageShape[0]
        var grid = try AnyGrid.allocate(zeros: pixelType.dataType, shape: Shape(rows.count, imageShape[1]), source: path)
        try grid.withUnsafeMutableRawBytes { try copyImage(index, rows: rows, into: $0.baseAddress!) }
        return grid
    }

    /// Decodes rows `rows` of image `index` into `destination` (native byte order).
    func copyImage(_ index: Int, rows: Range<Int>, into destination: UnsafeMutableRawPointer) throws {
        guard index >= 0, index < imageCount else {
            throw LensError.invalidArgument("\(path): image \(index) outside 0..<\(imageCount)")
        }
        let rowBytes = imageShape[1] * pixelType.byteSize
        let bytes = try document.read(XradiaFile.imageStream(index), bytes: (rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes))
        XradiaFile.decode(bytes, type: pixelType, into: destination)
    }

    /// The reference (flat-field) image stored with the data, if any.
    public func referenceImage() throws -> AnyGrid? {
        guard let size = document.size(of: "ReferenceData/Image") else { return nil }
        let code = try document.int32s("ReferenceData/DataType")?.first
        let type = code.flatMap { PixelType(rawValue: $0) }
            ?? [PixelType.uint16, .float32].first { size == imageShape.count * $0.byteSize }
        guard let type, size >= imageShape.count * type.byteSize else {
            throw LensError.badInput(file: path, problem: "ReferenceData/Image (\(size) bytes, DataType \(code.map(String.init) ?? "missing")) does not match the \(imageShape) images")
        }
        let bytes = try document.read("ReferenceData/Image", bytes: 0..<(imageShape.count * type.byteSize))
        var grid = try AnyGrid.allocate(zeros: type.dataType, shape: imageShape, source: path)
        grid.withUnsafeMutableRawBytes { XradiaFile.decode(bytes, type: type, into: $0.baseAddress!) }
        return grid
    }

    /// Little-endian file values to native order.
    private static func decode(_ bytes: [UInt8], type: PixelType, into destination: UnsafeMutableRawPointer) {
        bytes.withUnsafeBytes { raw in
            switch type {
            case .uint16:
                let out = destination.assumingMemoryBound(to: UInt16.self)
                for i in 0..<(raw.count / 2) { out[i] = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .float32:
                let out = destination.assumingMemoryBound(to: UInt32.self)
                for i in 0..<(raw.count / 4) { out[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            }
        }
    }

    /// Metadata worth showing in `info`.
    public var metadata: [String: String] {
        var m = ["xradia images": "\(imageCount)"]
        if !anglesDegrees.isEmpty {
            m["angles (degrees)"] = String(format: "%g … %g", anglesDegrees.min()!, anglesDegrees.max()!)
        }
        if let e = energiesElectronvolts.first(where: { $0 > 0 }) { m["energy (eV)"] = String(format: "%g", e) }
        if let t = exposureTimesSeconds.first { m["exposure (s)"] = String(format: "%g", t) }
        m["reference image"] = document.contains("ReferenceData/Image") ? "yes" : "no"
        return m
    }
}

/// Xradia images as a (image, row, column) stack, so `info`, `convert` and `slice` read them
/// like any volume (a `.txm` reconstruction is then a (z, y, x) volume).
public final class XradiaReader: RowBandReader {
    public let file: XradiaFile
    public let info: VolumeInfo
    public var source: String { file.path }

    public init(path: String) throws {
        file = try XradiaFile(path: path)
        let shape = Shape(file.imageCount, file.imageShape[0], file.imageShape[1])
        let geometry = file.pixelSizeMicrometres.map { GridGeometry(voxelSizeMicrometres: [$0, $0, $0]) }
        info = VolumeInfo(shape: shape, dataType: file.pixelType.dataType, geometry: geometry, format: "xradia", metadata: file.metadata)
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: Shape(range.count, file.imageShape[0], file.imageShape[1]), source: source)
        let imageBytes = file.imageShape.count * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in range.enumerated() {
                try file.copyImage(index, rows: 0..<file.imageShape[0], into: buffer.baseAddress! + k * imageBytes)
            }
        }
        return grid
    }

    public func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        try checkBand(rows: rows, slices: slices)
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: Shape(slices.count, rows.count, file.imageShape[1]), source: source)
        let bandBytes = rows.count * file.imageShape[1] * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in slices.enumerated() { try file.copyImage(index, rows: rows, into: buffer.baseAddress! + k * bandBytes) }
        }
        return grid
    }
}

/// An Xradia tomography series (`.txrm`) as a projection source: angles and pixel size from
/// the file; flats from the file's reference image, or from a separate reference file or stack
/// (Xradia software often saves the reference as its own `.xrm`), which then takes precedence.
public final class XradiaProjectionSource: ProjectionSource {
    public let reader: XradiaReader
    public var file: XradiaFile { reader.file }
    public let flatReader: VolumeReader?
    public let darkReader: VolumeReader?
    public var source: String { file.path }
    public var frameShape: Shape { file.imageShape }
    public let anglesDegrees: [Double]
    public var pixelSizeMicrometres: Double? { file.pixelSizeMicrometres }
    public let isLineIntegrals = false

    public init(path: String, flats: String? = nil, darks: String? = nil) throws {
        reader = try XradiaReader(path: path)
        let file = reader.file
        guard file.anglesDegrees.count == file.imageCount, file.anglesDegrees.allSatisfy(\.isFinite) else {
            throw LensError.badInput(file: path, problem: "ImageInfo/Angles holds \(file.anglesDegrees.count) finite angles for \(file.imageCount) images")
        }
        anglesDegrees = file.anglesDegrees
        flatReader = try openFrameStack(flats, "flats", frame: file.imageShape, projections: path)
        darkReader = try openFrameStack(darks, "darks", frame: file.imageShape, projections: path)
        if flatReader == nil && !file.document.contains("ReferenceData/Image") {
            throw LensError.badInput(file: path, problem: "no reference image in the file; pass the reference (.xrm or a flat stack) as flats")
        }
    }

    public func readRows(_ rows: Range<Int>) throws -> Grid<Float> {
        try checkRows(rows)
        return try reader.readRows(rows, slices: 0..<file.imageCount).float32()
    }

    public func flatGroups() throws -> [(position: Double, frames: Grid<Float>)] {
        if let flatReader { return [(-0.5, try frameStack(flatReader.readAll()))] }
        guard let reference = try file.referenceImage() else { return [] }
        return [(-0.5, try frameStack(reference))]
    }

    public func darks() throws -> Grid<Float>? { try darkReader.map { try frameStack($0.readAll()) } }

    /// `ImageInfo/StoRADistance` and `DtoRADistance` (source and detector to the rotation axis)
    /// when they look like a cone-beam geometry (both beyond 1 in magnitude: TXMs with
    /// zone-plate optics store the placeholder 1), in the file's units (mm on Versa systems).
    /// Not used as a geometry: whether a scan is cone beam is the user's to declare (--cone).
    public var recordedSourceAndDetectorDistances: (source: Double, detector: Double)? {
        guard let source = (try? file.document.float32s("ImageInfo/StoRADistance"))??.first,
              let detector = (try? file.document.float32s("ImageInfo/DtoRADistance"))??.first,
              source.isFinite, detector.isFinite, abs(source) > 1, abs(detector) > 1 else { return nil }
        return (Double(abs(source)), Double(abs(detector)))
    }
}
