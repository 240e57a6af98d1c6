import Foundation
import ImageAnalysis
import LensCore

/// A simulated mercury-intrusion (drainage) curve of a pore phase.
public struct PorosimetryCurve: Codable, Sendable, Equatable {
    /// Invading sphere radii, largest first, in voxel edges.
    public var radiiVoxels: [Double]
    /// Fraction of the pore voxels invaded at each radius (non-wetting saturation).
    public var saturation: [Double]
    /// Washburn capillary pressure P = −2γ cos θ / r in MPa at each radius, when the voxel size
    /// is known (nil otherwise).
    public var pressuresMegapascal: [Double]?
    public var surfaceTensionNewtonsPerMetre: Double
    public var contactAngleDegrees: Double
}

/// Morphological drainage (Hilpert & Miller 2001; PoreSpy's `porosimetry`, method "dt"): for
/// each radius r from large to small, the sphere centres that fit (integer distance to the
/// solid ≥ r) and connect face-to-face to the inlet faces; every pore voxel within r of such a
/// centre (distance < r, PoreSpy's smooth spheres) is invaded at r unless invaded earlier.
/// Radii default to every distinct whole-voxel distance of the pore voxels (PoreSpy's default:
/// its distances are truncated to integers); inlets are all six faces. The distance is to the nearest solid voxel; outside the
/// volume is not solid.
public enum Porosimetry {
    public static func drainage(pore: Grid<UInt8>, radii given: [Double]? = nil, surfaceTension: Double = 0.48, contactAngleDegrees: Double = 140,
                                progress: ProgressReporter? = nil) throws -> PorosimetryCurve {
        try Morphology.requireBinary(pore, name: "the pore mask")
        guard pore.rank == 3 else { throw LensError.invalidArgument("porosimetry needs a 3D pore mask, got \(pore.shape)") }
        let total = pore.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard total > 0 else { throw LensError.numerical("the pore phase is empty") }
        let distance = DistanceTransform.euclidean(pore).distances
        let d = pore.shape.dims
        var radii: [Double]
        if let given {
            guard !given.isEmpty, given.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw LensError.invalidArgument("radii must be positive") }
            radii = Array(Set(given)).sorted(by: >)
        } else {
            // PoreSpy casts the distances to integers before taking its steps from them.
            var values = Set<Int>()
            for i in 0..<pore.count where pore[linear: i] != 0 { values.insert(Int(distance[linear: i])) }
            radii = values.filter { $0 >= 1 }.map(Double.init).sorted(by: >)
        }
        guard radii.count <= 10_000 else { throw LensError.invalidArgument("at most 10000 radii, got \(radii.count)") }
        let truncated = distance.elements.map { Float(Int($0)) }
        var invaded = [Bool](repeating: false, count: pore.count)
        var count = 0
        var saturation = [Double]()
        let isFace: (Int) -> Bool = { i in
            let (z, y, x) = (i / (d[1] * d[2]), (i / d[2]) % d[1], i % d[2])
            return z == 0 || y == 0 || x == 0 || z == d[0] - 1 || y == d[1] - 1 || x == d[2] - 1
        }
        for r in radii {
            // Centres that fit, kept where their face-connected component touches an inlet face.
            let seeds = Grid<UInt8>(shape: pore.shape, elements: truncated.map { Double($0) >= r ? 1 : 0 })
            let components = ConnectedComponents.label(seeds, connectivity: .faces)
            var reaches = [Bool](repeating: false, count: components.count + 1)
            components.labels.withUnsafeBufferPointer { l in
                for i in 0..<l.count where l[i] != 0 && !reaches[Int(l[i])] && isFace(i) { reaches[Int(l[i])] = true }
            }
            let connected = Grid<UInt8>(shape: pore.shape, elements: components.labels.elements.map { $0 != 0 && reaches[Int($0)] ? 1 : 0 })
            if connected.elements.contains(1) {
                let reach = DistanceTransform.euclidean(connected.map { $0 == 0 ? UInt8(1) : 0 }).distances
                reach.withUnsafeBufferPointer { e in
                    pore.withUnsafeBufferPointer { p in
                        for i in 0..<p.count where p[i] != 0 && !invaded[i] && Double(e[i]) < r { invaded[i] = true; count += 1 }
                    }
                }
            }
            saturation.append(Double(count) / Double(total))
            progress?.advance()
        }
        var pressures: [Double]?
        if pore.geometry.isCalibrated, let edge = pore.geometry.voxelSizeMicrometres.min() {
            // P = −2γ cos θ / r: γ in N/m, r in m → Pa; reported in MPa.
            pressures = radii.map { -2 * surfaceTension * cos(contactAngleDegrees * .pi / 180) / ($0 * edge * 1e-6) / 1e6 }
        }
        return PorosimetryCurve(radiiVoxels: radii, saturation: saturation, pressuresMegapascal: pressures,
                                surfaceTensionNewtonsPerMetre: surfaceTension, contactAngleDegrees: contactAngleDegrees)
    }
}
