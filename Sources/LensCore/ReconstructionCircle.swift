/// The reconstruction circle of a slice: the circle inscribed in its y–x plane, centred at
/// ((ny − 1)/2, (nx − 1)/2) with radius min(ny, nx)/2 voxels. For a parallel-beam
/// reconstruction whose slice is as wide as the detector (the usual `recon` output), it is the
/// field of view every projection sees; outside it only some projections do, so the values
/// there are less reliable (`recon --mask` zeroes them).
public struct ReconstructionCircle: Sendable, Equatable {
    public let rows: Int
    public let columns: Int

    /// For slices of `rows` × `columns` voxels (y, x).
    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    /// The circle of the last two axes of a 2D or 3D shape.
    public init(sliceOf shape: Shape) {
        self.init(rows: shape[shape.rank - 2], columns: shape[shape.rank - 1])
    }

    /// Whether voxel (y, x) of a slice lies inside (its centre within the radius, edge included).
    @inline(__always)
    public func contains(y: Int, x: Int) -> Bool {
        let dy = Double(y) - Double(rows - 1) / 2, dx = Double(x) - Double(columns - 1) / 2
        let radius = Double(Swift.min(rows, columns)) / 2
        return dy * dy + dx * dx <= radius * radius
    }
}
