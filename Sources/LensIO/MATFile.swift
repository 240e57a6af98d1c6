import CZlib
import Foundation
import LensCore

/// MATLAB level-5 MAT-files (`save -v7`, the default before v7.3; v7.3 files are HDF5 and open
/// as such): numeric matrices, zlib-compressed or not, read by variable name. MATLAB stores
/// column-major, so a MATLAB m × n matrix reads as a row-major (n, m) grid — for a sinogram
/// saved as detector × angles, that is (angle, column), the layout BatteryLens uses.
/// Format: MathWorks, "MAT-File Format" (2019), chapter 1.
public final class MATFile {
    public let path: String
    /// Variable name → (dimensions in MATLAB order, element type, values as Double).
    private var variables: [String: (dims: [Int], values: [Double])] = [:]

    public init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "cannot read the file") }
        guard data.count >= 128 else { throw LensError.badInput(file: path, problem: "too short for a MAT-file header (\(data.count) bytes)") }
        let bytes = [UInt8](data)
        guard bytes[126] == 0x49 && bytes[127] == 0x4D else {   // "IM": little-endian
            if bytes.starts(with: [0x89, 0x48, 0x44, 0x46]) || String(decoding: bytes[0..<min(116, bytes.count)], as: UTF8.self).contains("7.3") {
                throw LensError.badInput(file: path, problem: "a MATLAB v7.3 file is HDF5: open it as file.mat:/variable")
            }
            throw LensError.badInput(file: path, problem: "not a little-endian level-5 MAT-file")
        }
        var offset = 128
        while offset + 8 <= bytes.count {
            let (type, size, headerSize) = MATFile.tag(bytes, offset)
            let start = offset + headerSize
            guard start + size <= bytes.count else { throw LensError.badInput(file: path, problem: "element at byte \(offset) runs past the end (truncated file?)") }
            var element = Array(bytes[start..<(start + size)])
            var elementType = type
            if type == 15 {   // miCOMPRESSED
                element = try MATFile.inflate(element, file: path)
                guard element.count >= 8 else { throw LensError.badInput(file: path, problem: "empty compressed element") }
                let (innerType, innerSize, innerHeader) = MATFile.tag(element, 0)
                elementType = innerType
                element = Array(element[innerHeader..<Swift.min(element.count, innerHeader + innerSize)])
            }
            if elementType == 14, let (name, dims, values) = try parseMatrix(element) { variables[name] = (dims, values) }
            offset = start + (type == 15 ? size : (size + 7) / 8 * 8)
        }
    }

    public var variableNames: [String] { variables.keys.sorted() }

    /// A numeric variable as a row-major grid (MATLAB's dimensions reversed).
    public func grid(_ name: String) throws -> Grid<Double> {
        guard let v = variables[name] else {
            throw LensError.badInput(file: path, problem: "no numeric variable '\(name)' (has: \(variableNames.joined(separator: ", ")))")
        }
        let dims = Array(v.dims.reversed().drop { $0 == 1 && v.dims.count > 2 })
        return Grid(shape: Shape(dims.isEmpty ? [1] : dims), elements: v.values)
    }

    static func tag(_ b: [UInt8], _ o: Int) -> (type: Int, size: Int, header: Int) {
        let first = UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
        if first >> 16 != 0 { return (Int(first & 0xFFFF), Int(first >> 16), 4) }   // small data element
        let size = UInt32(b[o + 4]) | UInt32(b[o + 5]) << 8 | UInt32(b[o + 6]) << 16 | UInt32(b[o + 7]) << 24
        return (Int(first), Int(size), 8)
    }

    static func inflate(_ input: [UInt8], file: String) throws -> [UInt8] {
        try Inflate.decompress(input, file: file, what: "compressed variable")
    }

    /// A miMATRIX: flags, dimensions, name, real part. Non-numeric classes (cells, structs,
    /// chars, sparse) and complex data are skipped.
    private func parseMatrix(_ e: [UInt8]) throws -> (String, [Int], [Double])? {
        var o = 0
        func next() throws -> (type: Int, body: ArraySlice<UInt8>) {
            guard o + 8 <= e.count else { throw LensError.badInput(file: path, problem: "matrix element is truncated") }
            let (type, size, header) = MATFile.tag(e, o)
            let body = e[(o + header)..<Swift.min(e.count, o + header + size)]
            o += header == 4 ? 8 : header + (size + 7) / 8 * 8
            return (type, body)
        }
        let flags = try next().body
        guard flags.count >= 4 else { return nil }
        let arrayClass = Int(flags[flags.startIndex])
        let complex = flags[flags.startIndex + 1] & 0x08 != 0
        let dimsElement = try next().body
        var dims = [Int]()
        for k in stride(from: dimsElement.startIndex, to: dimsElement.endIndex - 3, by: 4) {
            dims.append(Int(Int32(bitPattern: UInt32(e[k]) | UInt32(e[k + 1]) << 8 | UInt32(e[k + 2]) << 16 | UInt32(e[k + 3]) << 24)))
        }
        let name = String(decoding: try next().body, as: UTF8.self)
        guard (6...15).contains(arrayClass), !complex else { return nil }   // numeric classes only
        let real = try next()
        let count = try Shape.validated(dims.isEmpty ? [1] : dims, source: path, elementBytes: 8).count
        let values = try MATFile.decode(real.type, Array(real.body), file: path, name: name)
        guard values.count == count else {
            throw LensError.badInput(file: path, problem: "variable '\(name)' holds \(values.count) values for dimensions \(dims)")
        }
        return (name, dims, values)
    }

    static func decode(_ type: Int, _ b: [UInt8], file: String, name: String) throws -> [Double] {
        func values<T>(_: T.Type, _ convert: (T) -> Double) -> [Double] {
            b.withUnsafeBytes { raw in (0..<(b.count / MemoryLayout<T>.size)).map { convert(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
        }
        switch type {
        case 1: return values(Int8.self) { Double($0) }
        case 2: return values(UInt8.self) { Double($0) }
        case 3: return values(Int16.self) { Double($0) }
        case 4: return values(UInt16.self) { Double($0) }
        case 5: return values(Int32.self) { Double($0) }
        case 6: return values(UInt32.self) { Double($0) }
        case 7: return values(Float.self) { Double($0) }
        case 9: return values(Double.self) { $0 }
        case 12: return values(Int64.self) { Double($0) }
        case 13: return values(UInt64.self) { Double($0) }
        default: throw LensError.badInput(file: file, problem: "variable '\(name)' has MAT data type \(type), not a number type")
        }
    }
}
