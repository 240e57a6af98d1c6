/// Where a grid sits in space: sample spacing and origin per axis, in micrometres.
///
/// Voxel sizes of battery data range from 70 nm (holotomography) to 10 µm (whole-cell CT);
/// micrometres keep both readable. `isCalibrated` is false when the source file did not say
/// (then spacing is 1 and results are in voxel units, which summaries state).
public struct GridGeometry: Hashable, Sendable, Codable {
    /// Distance between neighbouring samples along each axis, in micrometres, in shape order.
    public var voxelSizeMicrometres: [Double]
    /// Position of the first sample along each axis, in micrometres.
    public var originMicrometres: [Double]
    /// Whether the spacing came from a calibrated source (file metadata or the user).
    public var isCalibrated: Bool

    public init(voxelSizeMicrometres: [Double], originMicrometres: [Double]? = nil, isCalibrated: Bool = true) {
        precondition(voxelSizeMicrometres.allSatisfy { $0 > 0 && $0.isFinite }, "voxel sizes must be positive")
        self.voxelSizeMicrometres = voxelSizeMicrometres
        self.originMicrometres = originMicrometres ?? [Double](repeating: 0, count: voxelSizeMicrometres.count)
        self.isCalibrated = isCalibrated
    }

    /// A geometry from a file's metadata: throws (naming the file) unless every size is a
    /// positive finite number — a corrupt or zero spacing must not become a silent 0 µm voxel.
    public static func fromFile(voxelSizeMicrometres sizes: [Double], source: String) throws -> GridGeometry {
        guard sizes.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw LensError.badInput(file: source, problem: "the voxel size in the file (\(sizes.map { String($0) }.joined(separator: ", ")) µm) is not positive and finite")
        }
        return GridGeometry(voxelSizeMicrometres: sizes)
    }

    /// Unit spacing, flagged as uncalibrated.
    public static func uncalibrated(rank: Int) -> GridGeometry {
        GridGeometry(voxelSizeMicrometres: [Double](repeating: 1, count: rank), isCalibrated: false)
    }

    /// Isotropic spacing for a grid of the given rank.
    public static func isotropic(_ micrometres: Double, rank: Int) -> GridGeometry {
        GridGeometry(voxelSizeMicrometres: [Double](repeating: micrometres, count: rank))
    }

    public var rank: Int { voxelSizeMicrometres.count }

    /// Volume of one voxel in µm³ (area in µm² for 2D).
    public var voxelVolumeCubicMicrometres: Double { voxelSizeMicrometres.reduce(1, *) }

    /// The geometry of a sub-range starting at index `start` along `axis`.
    public func offset(axis: Int, by start: Int) -> GridGeometry {
        var g = self
        g.originMicrometres[axis] += Double(start) * voxelSizeMicrometres[axis]
        return g
    }

    /// The geometry without axis 0 (of one slice).
    public var sliceGeometry: GridGeometry {
        guard rank > 1 else { return self }
        return GridGeometry(voxelSizeMicrometres: Array(voxelSizeMicrometres.dropFirst()),
                            originMicrometres: Array(originMicrometres.dropFirst()), isCalibrated: isCalibrated)
    }

    /// The geometry after binning by `factors` per axis (spacing multiplied).
    public func binned(by factors: [Int]) -> GridGeometry {
        var g = self
        for axis in 0..<rank { g.voxelSizeMicrometres[axis] *= Double(factors[axis]) }
        return g
    }
}

/// The unit lengths are reported in: µm when the voxel size is known (from the file or
/// `--voxel-um`), otherwise "voxel" — a length is never called µm on a guessed voxel size.
public struct LengthUnit: Sendable, Equatable {
    public let geometry: GridGeometry
    public init(_ geometry: GridGeometry) { self.geometry = geometry }

    public var isPhysical: Bool { geometry.isCalibrated }
    /// "µm" or "voxel".
    public var name: String { isPhysical ? "µm" : "voxel" }
    public var areaName: String { isPhysical ? "µm²" : "voxel²" }
    public var volumeName: String { isPhysical ? "µm³" : "voxel³" }
    /// The edge of a voxel along `axis` in this unit (1 for voxels).
    public func size(axis: Int) -> Double { isPhysical ? geometry.voxelSizeMicrometres[axis] : 1 }
}
