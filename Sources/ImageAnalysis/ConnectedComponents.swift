import LensCore

/// Which neighbours connect two voxels: faces (6), faces and edges (18), or faces, edges and
/// corners (26). In 2D, 6 and 18 mean 4-connectivity and 26 means 8-connectivity.
public enum Connectivity: Int, Sendable, CaseIterable, Codable {
    case faces = 6, edges = 18, corners = 26

    /// Offsets (dz, dy, dx) of the already-visited neighbours in a raster scan (z, y, x order).
    var backwardOffsets: [(Int, Int, Int)] {
        var result = [(Int, Int, Int)]()
        for dz in -1...0 { for dy in -1...1 { for dx in -1...1 {
            let order = dz * 9 + dy * 3 + dx
            guard order < 0 else { continue }        // only neighbours scanned before this voxel
            let nonZero = abs(dz) + abs(dy) + abs(dx)
            switch self {
            case .faces where nonZero > 1: continue
            case .edges where nonZero > 2: continue
            default: break
            }
            result.append((dz, dy, dx))
        } } }
        return result
    }
}

/// The result of labelling: a label per voxel (0 = background, 1…count) and each label's size.
public struct ComponentLabels: Sendable {
    public var labels: Grid<Int32>
    public var count: Int
    /// Voxels per label; index 0 is the background.
    public var sizes: [Int]
}

/// Connected-component labelling by the classic two-pass algorithm with union–find
/// (Rosenfeld & Pfaltz 1966; path-halving union–find as in Wu, Otoo & Suzuki 2009). Labels are
/// numbered in raster order of each component's first voxel, like scikit-image's `label`.
public enum ConnectedComponents {
    /// Labels the voxels where `mask` is non-zero. 2D grids are treated as one slice.
    public static func label<T: GridElement>(_ mask: Grid<T>, connectivity: Connectivity = .faces) -> ComponentLabels {
        precondition(mask.rank == 2 || mask.rank == 3, "labelling needs a 2D or 3D grid")
        let (nz, ny, nx) = mask.rank == 3 ? (mask.shape[0], mask.shape[1], mask.shape[2]) : (1, mask.shape[0], mask.shape[1])
        var labels = Grid<Int32>(shape: mask.shape, geometry: mask.geometry)
        var parent: [Int32] = [0]
        func find(_ a: Int32) -> Int32 {
            var x = a
            while parent[Int(x)] != x {
                parent[Int(x)] = parent[Int(parent[Int(x)])]
                x = parent[Int(x)]
            }
            return x
        }
        let offsets = connectivity.backwardOffsets.filter { nz > 1 || $0.0 == 0 }
        labels.withUnsafeMutableBufferPointer { out in
            mask.withUnsafeBufferPointer { m in
                let zero = T.zero
                for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
                    let i = (z * ny + y) * nx + x
                    guard m[i] != zero else { continue }
                    var current: Int32 = 0
                    for (dz, dy, dx) in offsets {
                        let zz = z + dz, yy = y + dy, xx = x + dx
                        guard zz >= 0, yy >= 0, yy < ny, xx >= 0, xx < nx else { continue }
                        let n = out[(zz * ny + yy) * nx + xx]
                        guard n != 0 else { continue }
                        if current == 0 { current = find(n) } else {
                            let a = find(current), b = find(n)
                            if a != b { parent[Int(Swift.max(a, b))] = Swift.min(a, b); current = Swift.min(a, b) }
                        }
                    }
                    if current == 0 {
                        current = Int32(parent.count)
                        parent.append(current)
                    }
                    out[i] = current
                } } }
                // Second pass: final labels, renumbered 1…count in order of first appearance.
                var final = [Int32](repeating: 0, count: parent.count)
                var next: Int32 = 0
                for i in 0..<out.count where out[i] != 0 {
                    let root = Int(find(out[i]))
                    if final[root] == 0 { next += 1; final[root] = next }
                    out[i] = final[root]
                }
                parent = [next]
            }
        }
        let count = Int(parent[0])
        var sizes = [Int](repeating: 0, count: count + 1)
        labels.withUnsafeBufferPointer { for v in $0 { sizes[Int(v)] += 1 } }
        return ComponentLabels(labels: labels, count: count, sizes: sizes)
    }
}
