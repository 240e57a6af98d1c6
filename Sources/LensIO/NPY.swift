import Foundation
import LensCore

/// The header of a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0).
public struct NPYHeader: Sendable, Equatable {
    public var shape: Shape
    public var dataType: DataType
    public var bigEndian: Bool
    /// Bytes before the data.
    public var dataOffset: Int

    /// Parses the header at the start of `bytes`.
    public static func parse(_ bytes: [UInt8], path: String) throws -> NPYHeader {
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw LensError.badInput(file: path, problem: "not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let start: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw LensError.badInput(file: path, problem: "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        default:
            throw LensError.badInput(file: path, problem: "unsupported .npy format version \(major)")
        }
        guard bytes.count >= start + headerLength else { throw LensError.badInput(file: path, problem: "truncated .npy header") }
        guard let text = String(bytes: bytes[start..<(start + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw LensError.badInput(file: path, problem: "unreadable .npy header")
        }
        func value(_ key: String) -> String? {
            guard let keyRange = text.range(of: "'\(key)'") else { return nil }
            let rest = text[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
            if rest.first == "(" { return rest.firstIndex(of: ")").map { String(rest[rest.startIndex...$0]) } }
            let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
            return String(rest[..<end]).trimmingCharacters(in: .whitespaces)
        }
        guard let descr = value("descr")?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")),
              let order = value("fortran_order"), let shapeText = value("shape") else {
            throw LensError.badInput(file: path, problem: "malformed .npy header: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard order == "False" else {
            throw LensError.badInput(file: path, problem: "Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let parsed = dims.compactMap { Int($0.hasSuffix("L") ? String($0.dropLast()) : $0) }
        guard parsed.count == dims.count else { throw LensError.badInput(file: path, problem: "malformed .npy shape \(shapeText)") }
        let typeCode = descr.dropFirst()
        let endianMark = descr.first ?? "|"
        let map: [String: DataType] = ["u1": .uint8, "i1": .int8, "b1": .uint8, "u2": .uint16, "i2": .int16, "u4": .uint32,
                                       "i4": .int32, "u8": .uint64, "i8": .int64, "f4": .float32, "f8": .float64,
                                       "c8": .complex64, "c16": .complex128]
        guard let type = map[String(typeCode)], "<>|=".contains(endianMark) else {
            throw LensError.badInput(file: path, problem: "unsupported .npy dtype '\(descr)'")
        }
        return NPYHeader(shape: try Shape.validated(parsed.isEmpty ? [1] : parsed, source: path, elementBytes: type.byteSize),
                         dataType: type, bigEndian: endianMark == ">",
                         dataOffset: start + headerLength)
    }

    /// The header bytes for a little-endian C-ordered array (version 1.0, or 2.0 if long),
    /// padded so the data starts on a 64-byte boundary.
    public static func encode(shape: Shape, dataType: DataType) -> [UInt8] {
        let codes: [DataType: String] = [.uint8: "|u1", .int8: "|i1", .uint16: "<u2", .int16: "<i2", .uint32: "<u4", .int32: "<i4",
                                         .uint64: "<u8", .int64: "<i8", .float32: "<f4", .float64: "<f8", .complex64: "<c8", .complex128: "<c16"]
        let dims = shape.dims.map(String.init)
        let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(\(dims.joined(separator: ", ")))"
        var dict = "{'descr': '\(codes[dataType]!)', 'fortran_order': False, 'shape': \(shapeText), }"
        var version: UInt8 = 1
        var prefix = 10
        if dict.utf8.count + 11 > 65535 { version = 2; prefix = 12 }
        let total = ((prefix + dict.utf8.count + 1 + 63) / 64) * 64
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let length = dict.utf8.count
        if version == 1 { bytes += [UInt8(length & 0xff), UInt8(length >> 8)] }
        else { bytes += [UInt8(length & 0xff), UInt8((length >> 8) & 0xff), UInt8((length >> 16) & 0xff), UInt8(length >> 24)] }
        return bytes + Array(dict.utf8)
    }
}

/// Reads a binary file of known layout slab by slab with `pread` (shared by NPY and raw).
final class BinarySlabFile {
    let path: String
    let fd: Int32
    let shape: Shape
    let dataType: DataType
    let offset: Int
    let bigEndian: Bool

    init(path: String, shape: Shape, dataType: DataType, offset: Int, bigEndian: Bool) throws {
        self.path = path; self.shape = shape; self.dataType = dataType; self.offset = offset; self.bigEndian = bigEndian
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LensError.badInput(file: path, problem: "cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fd, &st)
        let count: Int
        do { count = try Shape.validated(shape.dims, source: path, elementBytes: dataType.byteSize).count } catch { close(fd); throw error }
        let (dataBytes, overflow) = (count * dataType.byteSize).addingReportingOverflow(offset)
        guard !overflow, offset >= 0 else {
            close(fd)
            throw LensError.badInput(file: path, problem: "shape \(shape) of \(dataType) at offset \(offset) is too large to address")
        }
        let needed = dataBytes
        guard Int(st.st_size) >= needed else {
            close(fd)
            throw LensError.badInput(file: path, problem: "file has \(st.st_size) bytes but shape \(shape) of \(dataType) at offset \(offset) needs \(needed) (truncated, or wrong shape/dtype)")
        }
    }

    deinit { close(fd) }

    func readSlab(_ range: Range<Int>, geometry: GridGeometry) throws -> AnyGrid {
        var grid = try AnyGrid.allocate(zeros: dataType, shape: shape.replacing(axis: 0, with: range.count), geometry: geometry, source: path)
        let sliceBytes = shape.sliceCount * dataType.byteSize
        let start = offset + range.lowerBound * sliceBytes
        let total = range.count * sliceBytes
        try grid.withUnsafeMutableRawBytes { buffer in
            var done = 0
            while done < total {
                let n = pread(fd, buffer.baseAddress! + done, total - done, off_t(start + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw LensError.badInput(file: path, problem: "read failed at byte \(start + done) (\(n < 0 ? String(cString: strerror(errno)) : "end of file"))") }
                done += n
            }
            if bigEndian { swapBytes(buffer, elementSize: dataType.byteSize, complex: dataType.isComplex) }
        }
        return grid
    }

    /// Rows `rows` (axis 1) of slices `slices` of a 3D (or higher) file, further axes whole:
    /// one `pread` per slice.
    func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        let rowElements = shape.dims.dropFirst(2).reduce(1, *)
        let rowBytes = rowElements * dataType.byteSize, sliceBytes = shape.sliceCount * dataType.byteSize
        var grid = try AnyGrid.allocate(zeros: dataType, shape: Shape([slices.count, rows.count] + shape.dims.dropFirst(2)), source: path)
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in slices.enumerated() {
                let start = offset + index * sliceBytes + rows.lowerBound * rowBytes
                let total = rows.count * rowBytes
                var done = 0
                while done < total {
                    let n = pread(fd, buffer.baseAddress! + k * total + done, total - done, off_t(start + done))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw LensError.badInput(file: path, problem: "read failed at byte \(start + done) (\(n < 0 ? String(cString: strerror(errno)) : "end of file"))") }
                    done += n
                }
            }
            if bigEndian { swapBytes(buffer, elementSize: dataType.byteSize, complex: dataType.isComplex) }
        }
        return grid
    }
}

/// Reads NumPy `.npy` files (either byte order, C order) slab by slab.
public final class NPYReader: RowBandReader {
    public let info: VolumeInfo
    public let source: String
    public let header: NPYHeader
    private let file: BinarySlabFile

    public init(path: String) throws {
        source = path
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LensError.badInput(file: path, problem: "cannot open") }
        let head = [UInt8]((try? handle.read(upToCount: 1 << 16)) ?? Data())
        try? handle.close()
        header = try NPYHeader.parse(head, path: path)
        file = try BinarySlabFile(path: path, shape: header.shape, dataType: header.dataType, offset: header.dataOffset, bigEndian: header.bigEndian)
        info = VolumeInfo(shape: header.shape, dataType: header.dataType, format: "npy",
                          metadata: ["byte order": header.bigEndian ? "big-endian" : "little-endian"])
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        return try file.readSlab(range, geometry: info.geometry.offset(axis: 0, by: range.lowerBound))
    }

    public func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        try checkBand(rows: rows, slices: slices)
        return try file.readRows(rows, slices: slices)
    }

    /// Maps the file's data into memory (little-endian files only) so a volume larger than RAM
    /// is addressed as one grid and paged in slab by slab. Writable mappings change the file.
    public static func mapped<T: GridElement>(path: String, as type: T.Type, writable: Bool = false) throws -> Grid<T> {
        let reader = try NPYReader(path: path)
        guard reader.header.dataType == T.dataType else {
            throw LensError.badInput(file: path, problem: "holds \(reader.header.dataType), not \(T.dataType)")
        }
        guard !reader.header.bigEndian || reader.header.dataType.byteSize == 1 else {
            throw LensError.badInput(file: path, problem: "big-endian data cannot be memory-mapped; convert it first")
        }
        return try Grid<T>.mapped(path: path, shape: reader.header.shape, byteOffset: reader.header.dataOffset, writable: writable)
    }

    /// Creates a new `.npy` file of `shape` (sparse, zero-filled) and maps it writable: the way
    /// to produce an output larger than memory. The file appears under its final name only
    /// when `body` returns; if `body` throws, it is removed.
    public static func createMapped<T: GridElement, R>(path: String, shape: Shape, as type: T.Type, geometry: GridGeometry? = nil,
                                                      _ body: (inout Grid<T>) throws -> R) throws -> R {
        try AtomicOutput.write(to: path) { temporary in
            let header = NPYHeader.encode(shape: shape, dataType: T.dataType)
            guard FileManager.default.createFile(atPath: temporary, contents: Data(header)) else {
                throw LensError.badOutput(file: path, problem: "cannot create")
            }
            let total = header.count + shape.count * MemoryLayout<T>.stride
            guard truncate(temporary, off_t(total)) == 0 else {
                throw LensError.badOutput(file: path, problem: "cannot size to \(total) bytes: \(String(cString: strerror(errno)))")
            }
            var grid = try Grid<T>.mapped(path: temporary, shape: shape, byteOffset: header.count, writable: true, geometry: geometry)
            let result = try body(&grid)
            try grid.flushMapped()
            return result
        }
    }
}

/// Writes `.npy` files (little-endian, C order) slab by slab with `pwrite`.
public final class NPYWriter: VolumeWriter {
    public let info: VolumeInfo
    public let destination: String
    let temporary: String
    let fd: Int32
    let dataOffset: Int
    private var finished = false

    public convenience init(path: String, info: VolumeInfo) throws {
        try self.init(path: path, info: info, header: NPYHeader.encode(shape: info.shape, dataType: info.dataType))
    }

    init(path: String, info: VolumeInfo, header: [UInt8]) throws {
        self.info = info
        destination = path
        temporary = AtomicOutput.temporaryPath(for: path)
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw LensError.badOutput(file: path, problem: "cannot create: \(String(cString: strerror(errno)))") }
        dataOffset = header.count
        if !header.isEmpty {
            let n = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard n == header.count else { close(fd); unlink(temporary); throw LensError.badOutput(file: path, problem: "cannot write header") }
        }
        guard ftruncate(fd, off_t(dataOffset + info.shape.count * info.dataType.byteSize)) == 0 else {
            close(fd); unlink(temporary)
            throw LensError.badOutput(file: path, problem: "cannot size the file: \(String(cString: strerror(errno)))")
        }
    }

    public func writeSlab(_ slab: AnyGrid, at start: Int) throws {
        try checkSlab(slab, at: start)
        let offset = dataOffset + start * info.shape.sliceCount * info.dataType.byteSize
        try slab.withGrid { g in
            try g.withUnsafeRawBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw LensError.badOutput(file: destination, problem: "write failed: \(String(cString: strerror(errno)))") }
                    done += n
                }
            }
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        let ok = fsync(fd) == 0
        close(fd)
        guard ok else { unlink(temporary); throw LensError.badOutput(file: destination, problem: "cannot flush to disk") }
        try AtomicOutput.commit(temporary, to: destination)
    }

    public func abort() {
        guard !finished else { return }
        finished = true
        close(fd)
        unlink(temporary)
    }

    deinit { abort() }
}

/// Reads headerless raw binary with an explicit layout.
public final class RawReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    private let file: BinarySlabFile

    public init(path: String, layout: RawLayout) throws {
        source = path
        file = try BinarySlabFile(path: path, shape: layout.shape, dataType: layout.dataType, offset: layout.byteOffset, bigEndian: layout.bigEndian)
        info = VolumeInfo(shape: layout.shape, dataType: layout.dataType, format: "raw",
                          metadata: ["byte order": layout.bigEndian ? "big-endian" : "little-endian", "offset": "\(layout.byteOffset)"])
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        return try file.readSlab(range, geometry: info.geometry.offset(axis: 0, by: range.lowerBound))
    }
}

/// Writes headerless little-endian raw binary (the shape must be recorded elsewhere: the
/// command's summary states it).
public final class RawWriter: VolumeWriter {
    private let inner: NPYWriter
    public var info: VolumeInfo { inner.info }
    public var destination: String { inner.destination }
    public init(path: String, info: VolumeInfo) throws { inner = try NPYWriter(path: path, info: info, header: []) }
    public func writeSlab(_ slab: AnyGrid, at start: Int) throws { try inner.writeSlab(slab, at: start) }
    public func finish() throws { try inner.finish() }
    public func abort() { inner.abort() }
}
