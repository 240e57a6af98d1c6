/// Projections of a tomography scan `(angle, row, column)` with their angles, and optional flat
/// (open beam) and dark (no beam) frames `(frame, row, column)`.
public struct ProjectionStack<Element: GridElement>: Sendable {
    public var projections: Grid<Element>
    /// Rotation angle of each projection, in radians (degrees at the interfaces).
    public var anglesRadians: [Double]
    public var flats: Grid<Element>?
    public var darks: Grid<Element>?
    /// Detector pixel size at the sample, in micrometres (from the file or the user).
    public var pixelSizeMicrometres: Double?

    /// Checks the pieces fit together: one angle per projection, flats and darks with the
    /// projections' frame shape.
    public init(projections: Grid<Element>, anglesDegrees: [Double], flats: Grid<Element>? = nil,
                darks: Grid<Element>? = nil, pixelSizeMicrometres: Double? = nil, source: String = "projections") throws {
        guard projections.rank == 3 else {
            throw LensError.badInput(file: source, problem: "projections must be 3D (angle, row, column), got \(projections.shape)")
        }
        guard anglesDegrees.count == projections.shape[0] else {
            throw LensError.badInput(file: source, problem: "\(anglesDegrees.count) angles for \(projections.shape[0]) projections")
        }
        guard anglesDegrees.allSatisfy(\.isFinite) else {
            throw LensError.badInput(file: source, problem: "angles contain NaN or infinity")
        }
        for (name, frames) in [("flats", flats), ("darks", darks)] {
            if let frames, frames.rank != 3 || frames.shape.sliceShape != projections.shape.sliceShape {
                throw LensError.badInput(file: source, problem: "\(name) have shape \(frames.shape), projections have frames of \(projections.shape.sliceShape)")
            }
        }
        self.projections = projections
        self.anglesRadians = anglesDegrees.map { $0 * .pi / 180 }
        self.flats = flats
        self.darks = darks
        self.pixelSizeMicrometres = pixelSizeMicrometres
    }

    public var anglesDegrees: [Double] { anglesRadians.map { $0 * 180 / .pi } }
    public var projectionCount: Int { projections.shape[0] }
    public var detectorRows: Int { projections.shape[1] }
    public var detectorColumns: Int { projections.shape[2] }
}

/// A spectral stack: one image `(energy, y, x)` or volume `(energy, z, y, x)` per energy.
public struct SpectralStack<Element: GridElement>: Sendable {
    public var data: Grid<Element>
    /// Energy of each frame in eV, strictly increasing.
    public var energiesElectronVolts: [Double]

    public init(data: Grid<Element>, energiesElectronVolts: [Double], source: String = "stack") throws {
        guard data.rank == 3 || data.rank == 4 else {
            throw LensError.badInput(file: source, problem: "spectral stacks are (energy, y, x) or (energy, z, y, x), got \(data.shape)")
        }
        guard energiesElectronVolts.count == data.shape[0] else {
            throw LensError.badInput(file: source, problem: "\(energiesElectronVolts.count) energies for a stack of \(data.shape[0]) frames")
        }
        for i in 1..<Swift.max(1, energiesElectronVolts.count) where !(energiesElectronVolts[i] > energiesElectronVolts[i - 1]) {
            throw LensError.badInput(file: source, problem: "energies are not strictly increasing at index \(i) (\(energiesElectronVolts[i - 1]) then \(energiesElectronVolts[i]) eV)")
        }
        self.data = data
        self.energiesElectronVolts = energiesElectronVolts
    }

    public var energyCount: Int { data.shape[0] }
    /// Shape of one energy frame.
    public var frameShape: Shape { data.shape.sliceShape }
}
