import Foundation
import LensCore
import Signal

/// How a circular cone-beam scan's angles are weighted in FDK.
public enum ConeBeamScanWeighting: Sendable, Equatable, Codable {
    /// The angles go once round (≥ 360° less 1.5 steps): every ray is measured twice, each
    /// counted with half its angular spacing.
    case fullCircle
    /// A short scan of 180° + 2δ with δ ≥ the half fan angle: Parker's weights (Parker 1982,
    /// Med. Phys. 9:254) count each ray once across its two measurements; δ in radians.
    case parker(deltaRadians: Double)

    public var description: String {
        switch self {
        case .fullCircle: return "full circle"
        case .parker(let delta): return String(format: "short scan, Parker weights (180° + 2×%.2f°)", delta * 180 / .pi)
        }
    }
}

/// Feldkamp–Davis–Kress reconstruction of a circular cone-beam scan (Feldkamp, Davis & Kress
/// 1984, J. Opt. Soc. Am. A 1:612; Kak & Slaney ch. 3.6), the standard of lab micro-CT:
/// the detector is scaled back to a virtual one through the rotation axis (pixel Δ = detector
/// pixel ÷ magnification, source at D = source-to-axis distance); each projection is
/// 1. weighted by the cosine of each ray's angle to the central ray, D / √(D² + u² + v²);
/// 2. (short scans) weighted by Parker's function of the angle and the fan angle;
/// 3. filtered along detector rows with the windowed ramp of ``FilteredBackProjection``;
/// 4. back projected along the rays: voxel x gets (D / (D − s))² · q(β, u(x), v(x)), s the
///    voxel's distance towards the source, u, v where its ray meets the virtual detector
///    (bilinear interpolation), summed × Δβ/2 over a full circle (Δβ for Parker's weights).
/// Line integrals (dimensionless) become attenuation in 1/µm. The geometry and orientation
/// are ``ConeBeamGeometry``'s: a distant source gives ``FilteredBackProjection``'s result.
/// Exact in the mid-plane; away from it FDK's known cone-beam approximation leaves a small
/// bias that grows with the cone angle.
public enum FeldkampReconstruction {
    /// The weighting the scan's angles call for, or an error saying why FDK cannot reconstruct
    /// it (less than 180° plus the fan angle: use an iterative solver with the cone-beam projector).
    public static func weighting(for geometry: ConeBeamGeometry) throws -> ConeBeamScanWeighting {
        let angles = geometry.anglesRadians
        guard angles.count >= 2 else { throw LensError.invalidArgument("FDK needs at least 2 projection angles") }
        let steps = zip(angles.dropFirst(), angles).map { $0 - $1 }
        let increasing = steps.allSatisfy { $0 > 0 }, decreasing = steps.allSatisfy { $0 < 0 }
        guard increasing || decreasing else {
            throw LensError.invalidArgument("FDK needs the projection angles in rotation order (all increasing or all decreasing)")
        }
        let step = abs(angles.last! - angles.first!) / Double(angles.count - 1)
        let span = abs(angles.last! - angles.first!)
        // One turn: 360° with the end excluded (span 360° − step), or included (0° and 360°
        // both measured: the same rays twice, weighted as one).
        if span + step >= 2 * .pi - 0.5 * step {
            guard span <= 2 * .pi + 0.5 * step else {
                throw LensError.invalidArgument(String(format: "the angles span %.2f°, more than one turn: FDK takes one turn (360°) or a short scan", span * 180 / .pi))
            }
            return .fullCircle
        }
        let delta = (span - .pi) / 2
        let fan = geometry.halfFanAngleRadians
        guard delta >= fan - 1e-9 else {
            throw LensError.invalidArgument(String(format: "the angles span %.2f°: FDK needs 360°, or a short scan of at least 180° + the fan angle (%.2f°); reconstruct it with an iterative --algorithm (sirt, cgls, tv) instead",
                                                   span * 180 / .pi, 180 + 2 * fan * 180 / .pi))
        }
        return .parker(deltaRadians: delta)
    }

    /// Parker's weight of the ray at fan angle `gamma` (standard sign: its conjugate is at
    /// β + π + 2γ, −γ) in a short scan of π + 2δ, at β from the scan's start.
    static func parkerWeight(beta: Double, gamma: Double, delta: Double) -> Double {
        if beta < 0 || beta > .pi + 2 * delta { return 0 }
        if beta < 2 * delta - 2 * gamma {
            let s = sin(Double.pi / 4 * beta / (delta - gamma)); return s * s
        }
        if beta <= .pi - 2 * gamma { return 1 }
        let s = sin(Double.pi / 4 * (Double.pi + 2 * delta - beta) / (delta + gamma)); return s * s
    }

    /// The detector rows whose rays reach slices `slices` of a volume of `volumeShape` (with
    /// one row of margin for interpolation), clamped to the detector: what to read for a slab.
    /// The least and largest magnification from the volume to the axis plane, D/(D ± R), R the
    /// half diagonal of a slice: how many detector rows a slice's rays spread over.
    public static func magnificationRange(volumeShape: Shape, geometry: ConeBeamGeometry) -> (least: Double, largest: Double) {
        let d = geometry.sourceToAxisMillimetres * 1000
        let radius = 0.5 * (Double(volumeShape[2]) * Double(volumeShape[2]) + Double(volumeShape[1]) * Double(volumeShape[1])).squareRoot()
            * geometry.voxelSizeMicrometres
        return (d / (d + radius), d / Swift.max(d - radius, 1e-9 * d))
    }

    public static func detectorRows(forSlices slices: Range<Int>, volumeShape: Shape, geometry: ConeBeamGeometry) -> Range<Int> {
        let voxel = geometry.voxelSizeMicrometres, delta = geometry.pixelAtAxisMicrometres
        let nz = volumeShape[0]
        let (mMin, mMax) = magnificationRange(volumeShape: volumeShape, geometry: geometry)
        let z0 = (Double(slices.lowerBound) - Double(nz - 1) / 2) * voxel, z1 = (Double(slices.upperBound - 1) - Double(nz - 1) / 2) * voxel
        let centre = Double(geometry.detectorRows - 1) / 2
        let positions = [z0 * mMin, z0 * mMax, z1 * mMin, z1 * mMax].map { $0 / delta + centre }
        let first = Int(positions.min()!.rounded(.down)) - 1, last = Int(positions.max()!.rounded(.up)) + 2
        let lower = Swift.min(Swift.max(0, first), geometry.detectorRows), upper = Swift.max(lower, Swift.min(geometry.detectorRows, last))
        return lower..<upper
    }

    /// Reconstructs slices `slices` (default all) of a volume of `volumeShape` (z, y, x; voxel
    /// size `geometry.voxelSizeMicrometres`, centred on the rotation axis and the detector's
    /// middle row) from line integrals (angle, row, column) of detector rows `rows` (default
    /// all; at least ``detectorRows(forSlices:volumeShape:geometry:)``), in 1/µm.
    public static func reconstruct(_ lineIntegrals: Grid<Float>, geometry: ConeBeamGeometry, rows: Range<Int>? = nil,
                                   volumeShape: Shape, slices: Range<Int>? = nil, options: FBPOptions = FBPOptions(),
                                   progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> Grid<Float> {
        let detectorRows = rows ?? 0..<geometry.detectorRows
        let (angles, cols) = (geometry.anglesRadians.count, geometry.detectorColumns)
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == angles, lineIntegrals.shape[1] == detectorRows.count,
              lineIntegrals.shape[2] == cols else {
            throw LensError.invalidArgument("projections \(lineIntegrals.shape) do not match the cone-beam geometry (\(angles) angles, rows \(detectorRows.lowerBound)..<\(detectorRows.upperBound), \(cols) columns)")
        }
        guard volumeShape.rank == 3, volumeShape.dims.allSatisfy({ $0 > 0 }) else { throw LensError.invalidArgument("FDK needs a 3D volume shape, got \(volumeShape)") }
        let z = slices ?? 0..<volumeShape[0]
        guard z.lowerBound >= 0, z.upperBound <= volumeShape[0], !z.isEmpty else {
            throw LensError.invalidArgument("slices \(z) outside 0..<\(volumeShape[0])")
        }
        guard geometry.sourceToDetectorMillimetres > geometry.sourceToAxisMillimetres, geometry.sourceToAxisMillimetres > 0,
              geometry.detectorPixelMillimetres > 0, geometry.voxelSizeMicrometres > 0 else {
            throw LensError.invalidArgument("the cone-beam geometry needs source-to-axis < source-to-detector and positive pixel and voxel sizes")
        }
        let weighting = try weighting(for: geometry)
        let voxel = geometry.voxelSizeMicrometres, delta = geometry.pixelAtAxisMicrometres
        let d = geometry.sourceToAxisMillimetres * 1000
        let (ny, nx) = (volumeShape[1], volumeShape[2])
        let needed = Self.detectorRows(forSlices: z, volumeShape: volumeShape, geometry: geometry)
        guard needed.isEmpty || (detectorRows.lowerBound <= needed.lowerBound && detectorRows.upperBound >= needed.upperBound) else {
            throw LensError.invalidArgument("slices \(z) need detector rows \(needed), given \(detectorRows)")
        }

        // Angular weights: half the spacing on each side, × ½ for a full circle (each ray twice),
        // × ½ for the ramp response's factor 2. A full circle's spacings run round the circle
        // (a repeated 0°/360° pair shares one spacing); a short scan's ends count their inner
        // half-step twice.
        let beta = geometry.anglesRadians
        var angleWeights = [Double](repeating: 0, count: angles)
        if weighting == .fullCircle {
            let folded = beta.map { b -> Double in let f = b.truncatingRemainder(dividingBy: 2 * .pi); return f < 0 ? f + 2 * .pi : f }
            let order = folded.indices.sorted { folded[$0] < folded[$1] }
            for (k, a) in order.enumerated() {
                let previous = folded[order[(k + angles - 1) % angles]], next = folded[order[(k + 1) % angles]]
                let before = k > 0 ? folded[a] - previous : folded[a] + 2 * .pi - previous
                let after = k < angles - 1 ? next - folded[a] : next + 2 * .pi - folded[a]
                angleWeights[a] = (before + after) / 2 * 0.25
            }
        } else {
            for a in 0..<angles {
                let before = a > 0 ? abs(beta[a] - beta[a - 1]) : abs(beta[1] - beta[0])
                let after = a < angles - 1 ? abs(beta[a + 1] - beta[a]) : abs(beta[a] - beta[a - 1])
                angleWeights[a] = (before + after) / 2 * 0.5
            }
        }
        let scales = angleWeights.map { Float($0 / delta) }
        let direction = beta.last! > beta.first! ? 1.0 : -1.0

        // 1–3: weight and filter every row; stored per angle as columns of rows (the back
        // projection walks down z, i.e. along detector rows), with a zero row and column of margin.
        let rowCount = detectorRows.count
        let padded = FFT.fastLength(atLeast: Int((Double(cols) * options.paddingFactor).rounded(.up)))
        let response = FilteredBackProjection.filterResponse(size: padded, window: options.window).map { Float($0) }
        let stride = rowCount + 2, plane = (cols + 2) * stride
        // A spare zero column before the first plane and after the last: a Float row position
        // that rounds past a margin row reads a neighbour, which must exist (and is zero).
        let filtered = LargeMemory.buffer(of: Float.self, count: angles * plane + 2 * stride)
        defer { LargeMemory.deallocate(filtered) }
        filtered.update(repeating: 0)
        let axisColumn = geometry.axisColumn, rowCentre = Double(geometry.detectorRows - 1) / 2
        try Parallel.withDisjointWrites(filtered) { out in
            try Parallel.sharing(lineIntegrals) { p in
                try Parallel.forEachChunk(count: angles, minimumChunk: 1, cancellation: cancellation) { range in
                    let fft = RealFFT<Float>(length: padded, batch: 1)
                    var columnWeight = [Float](repeating: 0, count: cols)
                    for a in range {
                        let b = direction * (beta[a] - beta[0])
                        for r in 0..<rowCount {
                            let v = (Double(detectorRows.lowerBound + r) - rowCentre) * delta
                            for j in 0..<cols {
                                let u = (Double(j) - axisColumn) * delta
                                var w = d / (d * d + u * u + v * v).squareRoot()
                                if case .parker(let halfFan) = weighting {
                                    // Conjugate rays here are (β + π − 2γ, −γ) for γ = atan(u/D)
                                    // as the angles increase: Parker's γ is −γ (+γ decreasing).
                                    w *= parkerWeight(beta: b, gamma: -direction * atan(u / d), delta: halfFan)
                                }
                                columnWeight[j] = Float(w)
                            }
                            let base = (a * rowCount + r) * cols
                            for j in 0..<padded { fft.input[j] = j < cols ? p[base + j] * columnWeight[j] : 0 }
                            fft.forward()
                            for k in 0..<fft.bins { fft.spectrum[k] = fft.spectrum[k] * response[k] }
                            fft.inverse()
                            let scale = scales[a]
                            for j in 0..<cols { out[stride + a * plane + (j + 1) * stride + r + 1] = fft.input[j] * scale }
                        }
                    }
                }
            }
        }

        // 4: voxel-driven weighted back projection, volume row (y) by row per worker (blocks of
        // rows sharing each angle's projection measured no faster: the inner loop is compute-bound).
        let slabDepth = z.count
        var volume = Grid<Float>(shape: Shape(slabDepth, ny, nx), geometry: .isotropic(voxel, rank: 3))
        let cz = Double(volumeShape[0] - 1) / 2, cy = Double(ny - 1) / 2, cx = Double(nx - 1) / 2
        let firstRow = Double(detectorRows.lowerBound)
        let cosines = beta.map { cos($0) }, sines = beta.map { sin($0) }
        let block = 1, blocks = ny
        try Parallel.withDisjointWrites(&volume) { out in
            try Parallel.sharing(UnsafeBufferPointer(filtered)) { q in
                try Parallel.forEachChunk(count: blocks, minimumChunk: 1, cancellation: cancellation) { blockRange in
                    let acc = LargeMemory.buffer(of: Float.self, count: block * nx * slabDepth)
                    defer { LargeMemory.deallocate(acc) }
                    for b in blockRange {
                        let ys = (b * block)..<Swift.min(ny, (b + 1) * block)
                        acc.update(repeating: 0)
                        for a in 0..<angles {
                            let (c, s) = (cosines[a], sines[a])
                            let base = stride + a * plane
                            for y in ys {
                                let yc = (Double(y) - cy) * voxel
                                for x in 0..<nx {
                                    let xc = (Double(x) - cx) * voxel
                                    let m = d / (d - (xc * s + yc * c))
                                    guard m > 0 else { continue }
                                    let column = (xc * c - yc * s) * m / delta + axisColumn
                                    guard column > -1, column < Double(cols) else { continue }
                                    let j0 = Int((column + 1).rounded(.down)) - 1
                                    let fc = Float(column - Double(j0))
                                    let left = base + (j0 + 1) * stride + 1, right = left + stride
                                    let weight = Float(m * m)
                                    // Detector row of volume slice z: (z − cz)·step + the middle row, in
                                    // absolute rows (so every slab computes a slice identically); inside
                                    // the rows read, (−1, rowCount) locally, for z in zStart..<zEnd.
                                    let step = voxel * m / delta
                                    let origin = -cz * step + rowCentre - firstRow
                                    var zStart = Swift.max(z.lowerBound, Int(((-1 - origin) / step).rounded(.down)) + 1)
                                    var zEnd = Swift.min(z.upperBound, Int(((Double(rowCount) - origin) / step).rounded(.up)))
                                    while zStart < zEnd && origin + Double(zStart) * step <= -1 { zStart += 1 }
                                    while zEnd > zStart && origin + Double(zEnd - 1) * step >= Double(rowCount) { zEnd -= 1 }
                                    guard zStart < zEnd else { continue }
                                    let accBase = ((y - ys.lowerBound) * nx + x) * slabDepth - z.lowerBound
                                    // Float positions one row past the absolute row (> 0 here, so
                                    // truncation is the floor); q's index of local row r is left + r.
                                    let (start, delta1) = (Float(-cz * step + rowCentre + 1), Float(step))
                                    let (lp, rp) = (left - 1 - detectorRows.lowerBound, right - 1 - detectorRows.lowerBound)
                                    for zz in zStart..<zEnd {
                                        let shifted = start + Float(zz) * delta1
                                        let i = Int(shifted)
                                        let fr = shifted - Float(i)
                                        let (l0, l1, r0, r1) = (q[lp &+ i], q[lp &+ i &+ 1], q[rp &+ i], q[rp &+ i &+ 1])
                                        let l = l0 + fr * (l1 - l0), rr = r0 + fr * (r1 - r0)
                                        acc[accBase &+ zz] += weight * (l + fc * (rr - l))
                                    }
                                }
                            }
                        }
                        for y in ys { for x in 0..<nx { for k in 0..<slabDepth {
                            out[(k * ny + y) * nx + x] = acc[((y - ys.lowerBound) * nx + x) * slabDepth + k]
                        } } }
                        progress?.advance(by: ys.count)
                    }
                }
            }
        }
        if options.circularMask { FilteredBackProjection.applyCircularMask(&volume) }
        return volume
    }
}
