import LensCore

/// Binary morphology with ball structuring elements of any radius, computed from exact
/// distance transforms (a voxel is within the ball of radius r around the set exactly when its
/// Euclidean distance to the set is ≤ r), so the cost does not grow with the radius.
/// Radii are in units of the smallest voxel edge; the ball is {d : |d| ≤ r} (scikit-image's
/// `ball(r)`). Outside the grid counts as neither foreground nor background (erosion does not
/// eat in from the border; scikit-image's `binary_erosion` behaves the same).
public enum Morphology {
    /// Checks that a mask holds only 0 and 1, naming the input otherwise.
    public static func requireBinary(_ mask: Grid<UInt8>, name: String = "the mask") throws {
        let bad = mask.withUnsafeBufferPointer { $0.first { $0 > 1 } }
        if let bad { throw LensError.invalidArgument("\(name) must be binary (0/1) but holds the value \(bad); threshold or select a phase first") }
    }

    public static func erode(_ mask: Grid<UInt8>, radius: Double) -> Grid<UInt8> {
        guard radius > 0 else { return mask }
        let d = DistanceTransform.euclidean(mask).distances
        return threshold(mask, distances: d, radius: Float(radius), keepInside: true)
    }

    public static func dilate(_ mask: Grid<UInt8>, radius: Double) -> Grid<UInt8> {
        guard radius > 0 else { return mask }
        let inverse = mask.map { $0 == 0 ? UInt8(1) : 0 }
        let d = DistanceTransform.euclidean(inverse).distances
        return threshold(mask, distances: d, radius: Float(radius), keepInside: false)
    }

    /// Erosion (`keepInside`: mask voxels farther than r from the background) or dilation (mask
    /// voxels, and background voxels within r of the mask) from a distance map, over buffers in
    /// parallel (volumes of 10⁷–10⁹ voxels go through here once per radius).
    static func threshold(_ mask: Grid<UInt8>, distances d: Grid<Float>, radius r: Float, keepInside: Bool) -> Grid<UInt8> {
        var out = Grid<UInt8>(shape: mask.shape, geometry: mask.geometry)
        Parallel.sharing(mask) { m in
            Parallel.sharing(d) { dp in
                Parallel.forEachRowChunk(rows: out.count, rowLength: 1, minimumChunk: 1 << 16, writing: &out) { o in
                    if keepInside {
                        for i in o.rows { o[i] = m[i] != 0 && dp[i] > r ? 1 : 0 }
                    } else {
                        for i in o.rows { o[i] = m[i] != 0 || dp[i] <= r ? 1 : 0 }
                    }
                }
            }
        }
        return out
    }

    /// Erosion then dilation: removes features thinner than the ball.
    public static func open(_ mask: Grid<UInt8>, radius: Double) -> Grid<UInt8> { dilate(erode(mask, radius: radius), radius: radius) }
    /// Dilation then erosion: fills gaps narrower than the ball.
    public static func close(_ mask: Grid<UInt8>, radius: Double) -> Grid<UInt8> { erode(dilate(mask, radius: radius), radius: radius) }

    /// Fills background cavities not connected (by faces) to the grid's border, as
    /// `scipy.ndimage.binary_fill_holes`. For a 2D image the border is the image edge; for 3D
    /// the six faces.
    public static func fillHoles(_ mask: Grid<UInt8>) -> Grid<UInt8> {
        let background = mask.map { $0 == 0 ? UInt8(1) : 0 }
        let components = ConnectedComponents.label(background, connectivity: .faces)
        let lattice = Lattice(mask)
        var touchesBorder = [Bool](repeating: false, count: components.count + 1)
        for z in 0..<lattice.nz { for y in 0..<lattice.ny { for x in 0..<lattice.nx {
            let onBorder = (lattice.nz > 1 && (z == 0 || z == lattice.nz - 1)) || y == 0 || y == lattice.ny - 1 || x == 0 || x == lattice.nx - 1
            if onBorder { touchesBorder[Int(components.labels[linear: lattice.index(z, y, x)])] = true }
        } } }
        let labels = components.labels, open = touchesBorder
        return Grid(shape: mask.shape, geometry: mask.geometry) { i in
            mask[linear: i] != 0 || !open[Int(labels[linear: i])] ? 1 : 0
        }
    }

    /// Removes components smaller than `minimumVoxels`.
    public static func removeSmallObjects(_ mask: Grid<UInt8>, minimumVoxels: Int, connectivity: Connectivity = .corners) -> Grid<UInt8> {
        let components = ConnectedComponents.label(mask, connectivity: connectivity)
        let keep = components.sizes.map { $0 >= minimumVoxels }
        let labels = components.labels
        _ = keep.count
        return Grid(shape: mask.shape, geometry: mask.geometry) { i in
            let l = Int(labels[linear: i]); return l != 0 && keep[l] ? 1 : 0
        }
    }

    /// Keeps the `count` largest components (ties broken by label order).
    public static func keepLargest(_ mask: Grid<UInt8>, count: Int = 1, connectivity: Connectivity = .corners) -> Grid<UInt8> {
        let components = ConnectedComponents.label(mask, connectivity: connectivity)
        let ranked = (1..<(components.count + 1)).sorted { components.sizes[$0] > components.sizes[$1] || (components.sizes[$0] == components.sizes[$1] && $0 < $1) }
        var keep = [Bool](repeating: false, count: components.count + 1)
        for l in ranked.prefix(count) { keep[l] = true }
        let labels = components.labels, kept = keep
        return Grid(shape: mask.shape, geometry: mask.geometry) { kept[Int(labels[linear: $0])] ? 1 : 0 }
    }
}
