import Foundation
import LensCore

/// A linear map between two grids with its exact adjoint — the seam between projectors and the
/// algorithms that use them (ASTRA's projector/algorithm split): every iterative solver in
/// ``IterativeReconstruction`` is written once over this protocol, and a projector (parallel
/// beam, cone beam, a subset of angles) only has to say how to apply itself and its adjoint.
///
/// Contract: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ to float precision for every x of `domainShape` and y of
/// `rangeShape` (the projector tests check it on random vectors).
public protocol LinearOperator: Sendable {
    /// Shape of x (the volume).
    var domainShape: Shape { get }
    /// Shape of A x (the projections).
    var rangeShape: Shape { get }
    /// A x.
    func apply(_ x: Grid<Float>) throws -> Grid<Float>
    /// Aᵀ y.
    func applyAdjoint(_ y: Grid<Float>) throws -> Grid<Float>
}

/// An operator whose rows fall into ordered subsets (projection angles, for OS-SART): the
/// operator restricted to some of its angles, and where those angles' rows lie in the range.
public protocol AngleSubsetOperator: LinearOperator {
    /// Number of projection angles (the range's first axis).
    var angleCount: Int { get }
    /// The operator of the angles `angles` only (its range: those angles' projections, in order).
    func restricted(toAngles angles: [Int]) throws -> Self
}

extension JosephProjector: AngleSubsetOperator {
    public var domainShape: Shape { volumeShape }
    public var rangeShape: Shape { projectionShape }
    public func apply(_ x: Grid<Float>) throws -> Grid<Float> { try project(x) }
    public func applyAdjoint(_ y: Grid<Float>) throws -> Grid<Float> { try backProject(y) }
    public var angleCount: Int { geometry.projectionCount }

    public func restricted(toAngles angles: [Int]) throws -> JosephProjector {
        var g = geometry
        g.anglesRadians = angles.map { geometry.anglesRadians[$0] }
        if !geometry.projectionShiftsPixels.isEmpty { g.projectionShiftsPixels = angles.map { geometry.projectionShiftsPixels[$0] } }
        return try JosephProjector(geometry: g, volumeShape: volumeShape)
    }
}

extension ConeBeamProjector: AngleSubsetOperator {
    public var domainShape: Shape { volumeShape }
    public var rangeShape: Shape { projectionShape }
    public func apply(_ x: Grid<Float>) throws -> Grid<Float> { try project(x) }
    public func applyAdjoint(_ y: Grid<Float>) throws -> Grid<Float> { try backProject(y) }
    public var angleCount: Int { geometry.anglesRadians.count }

    public func restricted(toAngles angles: [Int]) throws -> ConeBeamProjector {
        var g = geometry
        g.anglesRadians = angles.map { geometry.anglesRadians[$0] }
        return try ConeBeamProjector(geometry: g, volumeShape: volumeShape)
    }
}
