import LensCore

/// The three extents (z, y, x) and voxel spacing of a 2D or 3D grid as the image operations see
/// it: a 2D image is one slice (nz = 1). Spacing is relative: the smallest voxel edge is 1, so
/// radii and distances are in units of the smallest voxel and anisotropic voxels are respected.
public struct Lattice: Sendable, Equatable {
    public var nz: Int, ny: Int, nx: Int
    /// Relative voxel edge along z, y, x (smallest = 1).
    public var spacing: (z: Double, y: Double, x: Double)
    /// Length of the smallest voxel edge in µm (1 when the grid is not calibrated).
    public var unitMicrometres: Double

    public init(nz: Int, ny: Int, nx: Int, spacing: (z: Double, y: Double, x: Double) = (1, 1, 1), unitMicrometres: Double = 1) {
        self.nz = nz; self.ny = ny; self.nx = nx; self.spacing = spacing; self.unitMicrometres = unitMicrometres
    }

    /// The lattice of a 2D or 3D grid; anisotropy comes from its geometry when calibrated.
    public init<T>(_ grid: Grid<T>) {
        precondition(grid.rank == 2 || grid.rank == 3, "image operations need a 2D or 3D grid, got \(grid.shape)")
        let dims = grid.rank == 3 ? grid.shape.dims : [1] + grid.shape.dims
        var sizes = grid.geometry.isCalibrated ? grid.geometry.voxelSizeMicrometres : [Double](repeating: 1, count: grid.rank)
        if grid.rank == 2 { sizes = [sizes.min() ?? 1] + sizes }
        let unit = sizes.min() ?? 1
        self.init(nz: dims[0], ny: dims[1], nx: dims[2],
                  spacing: (sizes[0] / unit, sizes[1] / unit, sizes[2] / unit),
                  unitMicrometres: grid.geometry.isCalibrated ? unit : 1)
        if grid.rank == 2 { spacing.z = 1 }
    }

    public var count: Int { nz * ny * nx }
    public var isAnisotropic: Bool { spacing.z != 1 || spacing.y != 1 || spacing.x != 1 }
    @inline(__always) public func index(_ z: Int, _ y: Int, _ x: Int) -> Int { (z * ny + y) * nx + x }

    public static func == (a: Lattice, b: Lattice) -> Bool {
        a.nz == b.nz && a.ny == b.ny && a.nx == b.nx && a.spacing == b.spacing && a.unitMicrometres == b.unitMicrometres
    }
}

extension Grid {
    /// Throws a clear error when `other` does not have this grid's shape (a label volume against
    /// its grey volume, a mask against its image).
    public func requireSameShape<U>(as other: Grid<U>, _ what: String, _ otherWhat: String) throws {
        guard shape == other.shape else {
            throw LensError.invalidArgument("\(otherWhat) has shape \(other.shape) but \(what) has shape \(shape): they must match voxel for voxel")
        }
    }
}
