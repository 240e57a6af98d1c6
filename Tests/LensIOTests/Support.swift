import Foundation
import LensCore
import LensIO

/// A fresh temporary folder per test, removed at the end.
final class TemporaryFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "batterylens-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    /// Names in the folder (to check that no temporary or partial file is left).
    var contents: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The shared data folder beside the repository (../shared/data).
let sharedData: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }   // Tests/LensIOTests/Support.swift → repo
    return url.deletingLastPathComponent().appendingPathComponent("shared/data").path
}()

func sampleGrid(_ type: DataType, shape: Shape, seed: UInt64 = 1) -> AnyGrid {
    var rng = SeededRandom(seed: seed)
    func values(_ range: ClosedRange<Double>) -> [Double] { (0..<shape.count).map { _ in range.lowerBound + rng.uniform() * (range.upperBound - range.lowerBound) } }
    switch type {
    case .uint8: return .uint8(Grid(shape: shape, elements: values(0...255).map { UInt8($0) }))
    case .int8: return .int8(Grid(shape: shape, elements: values(-128...127).map { Int8($0) }))
    case .uint16: return .uint16(Grid(shape: shape, elements: values(0...65535).map { UInt16($0) }))
    case .int16: return .int16(Grid(shape: shape, elements: values(-32768...32767).map { Int16($0) }))
    case .uint32: return .uint32(Grid(shape: shape, elements: values(0...4e9).map { UInt32($0) }))
    case .int32: return .int32(Grid(shape: shape, elements: values(-2e9...2e9).map { Int32($0) }))
    case .uint64: return .uint64(Grid(shape: shape, elements: values(0...1e18).map { UInt64($0) }))
    case .int64: return .int64(Grid(shape: shape, elements: values(-1e18...1e18).map { Int64($0) }))
    case .float32: return .float32(Grid(shape: shape, elements: values(-1e3...1e3).map { Float($0) }))
    case .float64: return .float64(Grid(shape: shape, elements: values(-1e3...1e3)))
    case .complex64:
        let v = values(-1...1)
        return .complex64(Grid(shape: shape, elements: v.map { ComplexFloat32(Float($0), Float(-$0 / 2)) }))
    case .complex128:
        let v = values(-1...1)
        return .complex128(Grid(shape: shape, elements: v.map { ComplexFloat64($0, $0 * 3) }))
    }
}

func bytesEqual(_ a: AnyGrid, _ b: AnyGrid) -> Bool {
    guard a.shape == b.shape, a.dataType == b.dataType else { return false }
    return a.withGrid { ga in b.withGrid { gb in ga.withUnsafeRawBytes { x in gb.withUnsafeRawBytes { y in x.elementsEqual(y) } } } }
}
