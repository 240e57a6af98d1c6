import Foundation
import LensCore

/// A reader over a grid already in memory: formats that are small or stored whole (a MATLAB
/// variable, a text image).
public final class InMemoryReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    let grid: AnyGrid

    public init(_ grid: AnyGrid, format: String, source: String, metadata: [String: String] = [:]) {
        self.grid = grid
        self.source = source
        info = VolumeInfo(shape: grid.shape, dataType: grid.dataType, geometry: grid.geometry, format: format, metadata: metadata)
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        return grid.slab(range)
    }
}

/// Text images: rows of whitespace- or comma-separated numbers, one image row per line, as ALS
/// STXM writes its `.xim` frames.
public enum TextImage {
    public static func read(_ path: String) throws -> Grid<Float> {
        let table = try NumericColumns.read(path)
        guard let rows = table.columns.first?.count, rows > 0 else { throw LensError.badInput(file: path, problem: "no numbers: not a text image") }
        let columns = table.columns.count
        var values = [Float](repeating: 0, count: rows * columns)
        for (c, column) in table.columns.enumerated() { for (r, v) in column.enumerated() { values[r * columns + c] = Float(v) } }
        return Grid(shape: Shape(rows, columns), elements: values)
    }
}

extension MATFile {
    /// Variables and their shapes (row-major, as ``grid(_:)`` returns them), for `info`.
    public var variableShapes: [(name: String, shape: Shape)] {
        variableNames.compactMap { name in (try? grid(name)).map { (name, $0.shape) } }
    }

    /// A reader for `file.mat:/variable`, or for the only numeric variable of `file.mat`.
    static func reader(_ file: MATFile, reference: DatasetReference) throws -> VolumeReader {
        let name: String
        if let dataset = reference.datasetPath {
            name = dataset.hasPrefix("/") ? String(dataset.dropFirst()) : dataset
        } else {
            guard file.variableNames.count == 1 else {
                throw LensError.badInput(file: reference.filePath, problem: "holds \(file.variableNames.count) variables (\(file.variableNames.prefix(12).joined(separator: ", "))); name one as \(reference.filePath):/NAME")
            }
            name = file.variableNames[0]
        }
        let grid = try file.grid(name)
        return InMemoryReader(AnyGrid(grid), format: "mat", source: "\(reference.filePath):/\(name)", metadata: ["variable": name])
    }
}
