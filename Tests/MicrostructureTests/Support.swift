import Foundation
import LensCore
import LensIO

/// The shared data folder beside the repository (../shared/data; its README gives sources and
/// published values).
let sharedData: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("shared/data").path
}()

/// A 0/1 mask from a size and a predicate on (z, y, x).
func mask(_ nz: Int, _ ny: Int, _ nx: Int, _ inside: (Int, Int, Int) -> Bool) -> Grid<UInt8> {
    var values = [UInt8](repeating: 0, count: nz * ny * nx)
    for z in 0..<nz { for y in 0..<ny { for x in 0..<nx where inside(z, y, x) { values[(z * ny + y) * nx + x] = 1 } } }
    return Grid(shape: Shape(nz, ny, nx), elements: values)
}

/// The voxels of a label volume equal to `value`, as a 0/1 mask.
func phase(_ labels: AnyGrid, equal value: Double) throws -> Grid<UInt8> {
    let grid = try labels.converted(to: Double.self)
    return grid.map { $0 == value ? UInt8(1) : 0 }
}
