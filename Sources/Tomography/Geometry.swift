import LensCore

/// Parallel-beam acquisition geometry (synchrotron micro-CT, TXM): the rotation axis is the
/// volume's z axis (axis 0), detector rows are z slices, detector columns run along
/// u = x·cos θ − y·sin θ in the slice plane, with x the column offset and y the row offset
/// from the slice centre (rows run down the image). This is the orientation of scikit-image's
/// `radon`/`iradon`, ASTRA's parallel geometry and TomoPy (their y axis points up): the same
/// sinogram gives the same picture, not its mirror (tested against a scikit-image/ASTRA
/// fixture in OrientationTests).
///
/// Coordinates are in voxels of the reconstructed volume, whose pixel size equals the
/// detector pixel size at the sample. The slice centre is at ((n − 1)/2, (n − 1)/2); detector
/// column j sits at u = j − (columns − 1)/2 − `centreOffsetPixels`, so a positive offset means
/// the rotation axis projects right of the detector centre (at column (columns − 1)/2 + offset).
public struct ParallelBeamGeometry: Sendable, Equatable, Codable {
    public var anglesRadians: [Double]
    public var detectorColumns: Int
    public var detectorRows: Int
    /// Column of the rotation axis minus the detector's centre column, in pixels.
    public var centreOffsetPixels: Double
    /// Per-projection detector shifts (column, row) in pixels (sample jitter), or empty.
    public var projectionShiftsPixels: [[Double]]
    /// Detector pixel size at the sample in µm (= voxel size of the volume).
    public var pixelSizeMicrometres: Double

    public init(anglesDegrees: [Double], detectorColumns: Int, detectorRows: Int, centreOffsetPixels: Double = 0,
                projectionShiftsPixels: [[Double]] = [], pixelSizeMicrometres: Double = 1) {
        self.anglesRadians = anglesDegrees.map { $0 * .pi / 180 }
        self.detectorColumns = detectorColumns
        self.detectorRows = detectorRows
        self.centreOffsetPixels = centreOffsetPixels
        self.projectionShiftsPixels = projectionShiftsPixels
        self.pixelSizeMicrometres = pixelSizeMicrometres
    }

    /// `count` angles evenly spaced over `rangeDegrees` starting at `startDegrees`, endpoint
    /// excluded (0, 0.25, …, 179.75 for 720 over 180°).
    public static func evenlySpacedAnglesDegrees(count: Int, rangeDegrees: Double = 180, startDegrees: Double = 0) -> [Double] {
        (0..<count).map { startDegrees + rangeDegrees * Double($0) / Double(count) }
    }

    public var anglesDegrees: [Double] { anglesRadians.map { $0 * 180 / .pi } }
    public var projectionCount: Int { anglesRadians.count }

    /// Column (detector) position, in pixels from the detector centre line, of the rotation axis.
    public var axisColumn: Double { Double(detectorColumns - 1) / 2 + centreOffsetPixels }

    func shift(_ projection: Int) -> (column: Double, row: Double) {
        guard projection < projectionShiftsPixels.count else { return (0, 0) }
        let s = projectionShiftsPixels[projection]
        return (s.count > 0 ? s[0] : 0, s.count > 1 ? s[1] : 0)
    }

    /// Checks the geometry fits a volume of `shape` (z, y, x).
    public func validate(volumeShape shape: Shape) throws {
        guard shape.rank == 3 else { throw LensError.invalidArgument("projection needs a 3D volume (z, y, x), got \(shape)") }
        guard detectorRows == shape[0] else {
            throw LensError.invalidArgument("detector has \(detectorRows) rows for a volume of \(shape[0]) slices")
        }
        guard !anglesRadians.isEmpty, detectorColumns > 0 else { throw LensError.invalidArgument("geometry needs angles and detector columns") }
        guard projectionShiftsPixels.isEmpty || projectionShiftsPixels.count == anglesRadians.count else {
            throw LensError.invalidArgument("\(projectionShiftsPixels.count) projection shifts for \(anglesRadians.count) angles")
        }
    }
}
