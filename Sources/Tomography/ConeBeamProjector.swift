import Foundation
import LensCore

/// Circular cone-beam geometry (lab micro-CT, FDK): a point source at `sourceToAxisMillimetres`
/// from the rotation axis (the volume's z axis), a flat detector at `sourceToDetectorMillimetres`
/// from the source, rotating together. Detector pixel (row, column) sits at
/// (column − (columns − 1)/2 − offset, row − (rows − 1)/2) pixels from the point where the
/// central ray meets the detector.
///
/// Orientation: at angle θ the source sits at d_s·(sin θ, cos θ) in the slice plane (x the
/// column offset, y the row offset from the slice centre, rows running down) and the detector's
/// u axis is (cos θ, −sin θ), so a distant source gives the parallel-beam geometry's
/// u = x cos θ − y sin θ (``ParallelBeamGeometry``: scikit-image's and ASTRA's orientation);
/// detector rows run along the volume's z axis. A cone-beam and a parallel-beam scan of the
/// same sample reconstruct to the same picture.
public struct ConeBeamGeometry: Sendable, Equatable, Codable {
    public var anglesRadians: [Double]
    public var detectorRows: Int
    public var detectorColumns: Int
    public var detectorPixelMillimetres: Double
    public var sourceToAxisMillimetres: Double
    public var sourceToDetectorMillimetres: Double
    public var centreOffsetPixels: Double
    /// Voxel size of the volume in µm.
    public var voxelSizeMicrometres: Double

    public init(anglesDegrees: [Double], detectorRows: Int, detectorColumns: Int, detectorPixelMillimetres: Double,
                sourceToAxisMillimetres: Double, sourceToDetectorMillimetres: Double, centreOffsetPixels: Double = 0,
                voxelSizeMicrometres: Double) {
        anglesRadians = anglesDegrees.map { $0 * .pi / 180 }
        self.detectorRows = detectorRows; self.detectorColumns = detectorColumns
        self.detectorPixelMillimetres = detectorPixelMillimetres
        self.sourceToAxisMillimetres = sourceToAxisMillimetres; self.sourceToDetectorMillimetres = sourceToDetectorMillimetres
        self.centreOffsetPixels = centreOffsetPixels; self.voxelSizeMicrometres = voxelSizeMicrometres
    }

    /// Geometric magnification at the rotation axis.
    public var magnification: Double { sourceToDetectorMillimetres / sourceToAxisMillimetres }

    /// The detector pixel projected back to the rotation axis, in µm.
    public var pixelAtAxisMicrometres: Double { detectorPixelMillimetres * 1000 / magnification }

    /// Detector column where the ray through the rotation axis lands.
    public var axisColumn: Double { Double(detectorColumns - 1) / 2 + centreOffsetPixels }

    /// Half the fan angle the detector's columns subtend at the source (the widest |γ|), radians.
    public var halfFanAngleRadians: Double {
        let halfWidth = (Double(detectorColumns - 1) / 2 + abs(centreOffsetPixels) + 0.5) * detectorPixelMillimetres
        return atan(halfWidth / sourceToDetectorMillimetres)
    }

    /// Half the cone angle the detector's rows subtend at the source, radians.
    public var halfConeAngleRadians: Double {
        atan(Double(detectorRows) / 2 * detectorPixelMillimetres / sourceToDetectorMillimetres)
    }
}

/// Ray-driven cone-beam projector: each detector pixel's ray from the source is sampled every
/// half voxel with trilinear interpolation (the volume taken as trilinear between voxel
/// centres), summed × step length; the adjoint spreads each ray value back with the same
/// weights, so ⟨Ax, y⟩ = ⟨x, Aᵀy⟩ exactly.
public struct ConeBeamProjector: Sendable {
    public let geometry: ConeBeamGeometry
    public let volumeShape: Shape

    public init(geometry: ConeBeamGeometry, volumeShape: Shape) throws {
        guard volumeShape.rank == 3 else { throw LensError.invalidArgument("cone-beam projection needs a 3D volume") }
        guard geometry.sourceToDetectorMillimetres > geometry.sourceToAxisMillimetres, geometry.sourceToAxisMillimetres > 0 else {
            throw LensError.invalidArgument("the detector must be farther from the source than the rotation axis")
        }
        self.geometry = geometry
        self.volumeShape = volumeShape
    }

    public var projectionShape: Shape { Shape(geometry.anglesRadians.count, geometry.detectorRows, geometry.detectorColumns) }

    /// Visits every sample of the ray of detector pixel (row, column) at angle `a`: calls
    /// `body(voxelIndex, weight)` for the 8 trilinear neighbours, weights including the step.
    @inline(__always)
    func traverse(angle a: Int, row: Int, column: Int, _ body: (Int, Float) -> Void) {
        let g = geometry
        let (nz, ny, nx) = (volumeShape[0], volumeShape[1], volumeShape[2])
        let voxelMM = g.voxelSizeMicrometres / 1000
        let theta = g.anglesRadians[a]
        let (c, s) = (cos(theta), sin(theta))
        // Frame rotating with the gantry, in voxel units: source at −d_s along the beam axis.
        let sourceDistance = g.sourceToAxisMillimetres / voxelMM
        let detectorDistance = (g.sourceToDetectorMillimetres - g.sourceToAxisMillimetres) / voxelMM
        let u = (Double(column) - Double(g.detectorColumns - 1) / 2 - g.centreOffsetPixels) * g.detectorPixelMillimetres / voxelMM
        let v = (Double(row) - Double(g.detectorRows - 1) / 2) * g.detectorPixelMillimetres / voxelMM
        // Source at d_s·(sin θ, cos θ) in (x, y) with y the row offset (rows run down), detector
        // centre opposite it, detector u axis (cos θ, −sin θ): the parallel-beam geometry's
        // u = x cos θ − y sin θ in the limit of a distant source (ASTRA's cone orientation).
        let sx = sourceDistance * s, sy = sourceDistance * c, sz = 0.0
        let dx = -detectorDistance * s + u * c, dy = -detectorDistance * c - u * s, dz = v
        var rx = dx - sx, ry = dy - sy, rz = dz - sz
        let length = (rx * rx + ry * ry + rz * rz).squareRoot()
        rx /= length; ry /= length; rz /= length
        // Clip to the volume's box (centred), then step half a voxel.
        let half = [Double(nx) / 2, Double(ny) / 2, Double(nz) / 2]
        var tMin = 0.0, tMax = length
        for (origin, direction, extent) in [(sx, rx, half[0]), (sy, ry, half[1]), (sz, rz, half[2])] {
            if abs(direction) < 1e-12 {
                if abs(origin) > extent { return }
            } else {
                var t0 = (-extent - origin) / direction, t1 = (extent - origin) / direction
                if t0 > t1 { swap(&t0, &t1) }
                tMin = Swift.max(tMin, t0); tMax = Swift.min(tMax, t1)
            }
        }
        guard tMax > tMin else { return }
        let step = 0.5
        let weight = Float(step * g.voxelSizeMicrometres)
        let cx = Double(nx - 1) / 2, cy = Double(ny - 1) / 2, cz = Double(nz - 1) / 2
        var t = tMin + step / 2
        while t < tMax {
            let x = sx + t * rx + cx, y = sy + t * ry + cy, z = sz + t * rz + cz
            let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down)), z0 = Int(z.rounded(.down))
            let fx = Float(x - Double(x0)), fy = Float(y - Double(y0)), fz = Float(z - Double(z0))
            for dzi in 0...1 {
                let zz = z0 + dzi
                guard zz >= 0 && zz < nz else { continue }
                let wz = dzi == 0 ? 1 - fz : fz
                for dyi in 0...1 {
                    let yy = y0 + dyi
                    guard yy >= 0 && yy < ny else { continue }
                    let wy = dyi == 0 ? 1 - fy : fy
                    for dxi in 0...1 {
                        let xx = x0 + dxi
                        guard xx >= 0 && xx < nx else { continue }
                        let w = wz * wy * (dxi == 0 ? 1 - fx : fx)
                        if w != 0 { body((zz * ny + yy) * nx + xx, w * weight) }
                    }
                }
            }
            t += step
        }
    }

    /// Line integrals (angle, row, column) of `volume` (1/µm), dimensionless.
    public func project(_ volume: Grid<Float>) throws -> Grid<Float> {
        guard volume.shape == volumeShape else { throw LensError.invalidArgument("volume \(volume.shape) does not match \(volumeShape)") }
        var out = Grid<Float>(shape: projectionShape)
        let (rows, cols) = (geometry.detectorRows, geometry.detectorColumns)
        // Each worker owns whole projections.
        Parallel.withDisjointWrites(&out) { o in
            Parallel.sharing(volume) { v in
                Parallel.forEachChunk(count: projectionShape[0], minimumChunk: 1) { angles in
                    for a in angles { for r in 0..<rows { for c in 0..<cols {
                        var sum: Float = 0
                        traverse(angle: a, row: r, column: c) { i, w in sum += w * v[i] }
                        o[(a * rows + r) * cols + c] = sum
                    } } }
                }
            }
        }
        return out
    }

    /// The exact adjoint of ``project(_:)``.
    public func backProject(_ projections: Grid<Float>) throws -> Grid<Float> {
        guard projections.shape == projectionShape else { throw LensError.invalidArgument("projections \(projections.shape) do not match \(projectionShape)") }
        let (rows, cols) = (geometry.detectorRows, geometry.detectorColumns)
        let parts = Parallel.mapChunks(count: projectionShape[0], chunks: Parallel.threadCount) { angles -> [Float] in
            var acc = [Float](repeating: 0, count: volumeShape.count)
            projections.withUnsafeBufferPointer { p in
                for a in angles { for r in 0..<rows { for c in 0..<cols {
                    let value = p[(a * rows + r) * cols + c]
                    guard value != 0 else { continue }
                    traverse(angle: a, row: r, column: c) { i, w in acc[i] += w * value }
                } } }
            }
            return acc
        }
        var total = parts[0]
        for part in parts.dropFirst() { for i in total.indices { total[i] += part[i] } }
        return Grid(shape: volumeShape, elements: total)
    }
}
