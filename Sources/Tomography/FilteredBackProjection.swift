import Foundation
import LensCore
import Signal

/// Apodization windows of the ramp filter, as scikit-image defines them (so results compare
/// with `iradon` on equal terms).
public enum FilterWindow: String, CaseIterable, Codable, Sendable {
    case ramLak = "ram-lak", sheppLogan = "shepp-logan", cosine, hamming, hann
}

public struct FBPOptions: Codable, Sendable, Equatable {
    public var window: FilterWindow = .sheppLogan
    /// Zero-pad each detector row to a fast FFT length of at least this × the row length.
    public var paddingFactor = 2.0
    /// Set voxels outside the reconstruction circle (diameter = slice width) to zero.
    public var circularMask = false
    public init() {}
}

/// Filtered back projection for parallel beam (Kak & Slaney, ch. 3): each detector row is
/// zero-padded and filtered with the ramp |f| built from its band-limited spatial kernel
/// (h(0) = 1/4, h(n) = −1/(πn)² for odd n — no DC offset), times the chosen window; then
/// every voxel sums, over angles, the filtered projection linearly interpolated at its detector
/// position u = (x − c)cos θ − (y − c)sin θ (y the row, scikit-image's and ASTRA's
/// orientation), scaled by π/(2N). Line integrals in (dimensionless)
/// μ·µm give attenuation in 1/µm (divided by the pixel size). Non-uniform angle lists are
/// weighted by their angular spacing.
/// Which of the 180° of line directions a parallel-beam scan measures. A limited-angle scan
/// (lab nano-CT of operando cells: 135°) misses a wedge of directions: its reconstruction is
/// elongated along the missing directions and values are biased, whatever the normalisation.
public struct AngularCoverage: Sendable, Codable, Equatable {
    public var coveredDegrees: Double
    public var missingWedgeDegrees: Double
    public var isLimitedAngle: Bool { missingWedgeDegrees > 0 }
    public init(coveredDegrees: Double, missingWedgeDegrees: Double) {
        self.coveredDegrees = coveredDegrees; self.missingWedgeDegrees = missingWedgeDegrees
    }
}

public enum FilteredBackProjection {
    /// The frequency response (length `size`) of the windowed ramp filter.
    public static func filterResponse(size: Int, window: FilterWindow) -> [Double] {
        var spatial = [Double](repeating: 0, count: size)
        spatial[0] = 0.25
        // h(n) at the circular distance n = min(k, size − k): odd n only, whatever the
        // parity of `size` (an odd padded length, e.g. 135 for 67 columns, has odd n at even k).
        for k in 1..<Swift.max(1, size) {
            let n = Swift.min(k, size - k)
            if n % 2 == 1 { spatial[k] = -1 / (Double.pi * Double(n) * Double.pi * Double(n)) }
        }
        let spectrum = FFT.transform(Grid(shape: Shape(size), elements: spatial.map { ComplexFloat64($0) }))
        var response = spectrum.elements.map { 2 * $0.real }
        let freq = FFT.frequencies(count: size)
        switch window {
        case .ramLak: break
        case .sheppLogan:
            for k in 1..<size { let w = Double.pi * freq[k]; response[k] *= sin(w) / w }
        case .cosine:
            // fftshift(sin(linspace(0, π, size, endpoint=False))); for an odd size the window's
            // middle sample goes to zero frequency (ifftshift), as for an even one.
            let shifted = (0..<size).map { sin(Double.pi * Double($0) / Double(size)) }
            for k in 0..<size { response[k] *= shifted[(k + size / 2) % size] }
        case .hamming, .hann:
            let a = window == .hamming ? 0.54 : 0.5
            let w = (0..<size).map { size > 1 ? a - (1 - a) * cos(2 * Double.pi * Double($0) / Double(size - 1)) : 1 }
            for k in 0..<size { response[k] *= w[(k + size / 2) % size] }
        }
        return response
    }

    /// Reconstructs slices `slices` (detector rows) of line integrals (angle, row, column) into
    /// a volume (slice, y, x) of `size` × `size` voxels (default: the detector width), in 1/µm.
    public static func reconstruct(_ lineIntegrals: Grid<Float>, geometry: ParallelBeamGeometry, slices: Range<Int>? = nil,
                                   size: Int? = nil, options: FBPOptions = FBPOptions(), progress: ProgressReporter? = nil,
                                   cancellation: CancellationToken? = nil) throws -> Grid<Float> {
        guard lineIntegrals.rank == 3, lineIntegrals.shape[0] == geometry.projectionCount,
              lineIntegrals.shape[1] == geometry.detectorRows, lineIntegrals.shape[2] == geometry.detectorColumns else {
            throw LensError.invalidArgument("projections \(lineIntegrals.shape) do not match the geometry (\(geometry.projectionCount) angles, \(geometry.detectorRows)×\(geometry.detectorColumns))")
        }
        let rows = slices ?? 0..<geometry.detectorRows
        guard rows.lowerBound >= 0, rows.upperBound <= geometry.detectorRows, !rows.isEmpty else {
            throw LensError.invalidArgument("slices \(rows) outside 0..<\(geometry.detectorRows)")
        }
        let (angles, cols) = (geometry.projectionCount, geometry.detectorColumns)
        let n = size ?? cols
        let padded = FFT.fastLength(atLeast: Int((Double(cols) * options.paddingFactor).rounded(.up)))
        let response = filterResponse(size: padded, window: options.window).map { Float($0) }
        let weights = angularWeights(geometry.anglesRadians)
        let chunks = (rows.count + 7) / 8
        var volume = Grid<Float>(shape: Shape(rows.count, n, n), geometry: .isotropic(geometry.pixelSizeMicrometres, rank: 3))
        let scale = Float(1 / geometry.pixelSizeMicrometres)
        // Each worker owns whole groups of 8 slices.
        try Parallel.withDisjointWrites(&volume) { out in
            try Parallel.sharing(lineIntegrals) { p in
                try Parallel.forEachChunk(count: chunks, minimumChunk: 1, cancellation: cancellation) { chunkRange in
                    let fft = RealFFT<Float>(length: padded, batch: 1)
                    for c in chunkRange {
                        let zCount = Swift.min(8, rows.count - c * 8)
                        // Filtered rows of these slices, interleaved as SIMD8 per (angle, column).
                        let filtered = LargeMemory.buffer(of: SIMD8<Float>.self, count: angles * (cols + 1))
                        defer { LargeMemory.deallocate(filtered) }
                        for a in 0..<angles {
                            for k in 0..<zCount {
                                let row = rows.lowerBound + c * 8 + k
                                let base = (a * geometry.detectorRows + row) * cols
                                for j in 0..<padded { fft.input[j] = j < cols ? p[base + j] : 0 }
                                fft.forward()
                                for j in 0..<fft.bins { fft.spectrum[j] = fft.spectrum[j] * response[j] }
                                fft.inverse()
                                for j in 0..<cols { filtered[a * (cols + 1) + j][k] = fft.input[j] * Float(weights[a]) * scale }
                            }
                        }
                        backProjectChunk(filtered, geometry: geometry, size: n, zCount: zCount, chunk: c, into: out)
                        progress?.advance(by: zCount)
                    }
                }
            }
        }
        if options.circularMask { applyCircularMask(&volume) }
        return volume
    }

    /// π/(2N)-style weights generalized to any angle list: every angle stands for the line
    /// directions (mod 180°) halfway to its neighbours, so uniform 180° scans get π/N each, a
    /// 360° scan half as much per angle (each direction is measured twice), any mixture (270°,
    /// golden-angle, repeated angles) the share it actually covers; the ramp's factor 2 is
    /// undone by ½. A limited-angle scan (a missing wedge of directions) is normalised to the
    /// weight of a full 180° scan, so values keep their 1/µm scale (the wedge still biases them:
    /// see ``AngularCoverage``).
    static func angularWeights(_ angles: [Double]) -> [Double] { angularCoverage(radians: angles).weights }

    /// The weights of ``angularWeights(_:)`` and the coverage of line directions they come from.
    static func angularCoverage(radians angles: [Double]) -> (weights: [Double], coverage: AngularCoverage) {
        let n = angles.count
        guard n > 1 else { return ([Double.pi / 2], AngularCoverage(coveredDegrees: 0, missingWedgeDegrees: 180)) }
        let folded = angles.map { a -> Double in
            let f = a.truncatingRemainder(dividingBy: .pi)
            return f < 0 ? f + .pi : (f >= .pi ? 0 : f)
        }
        let order = folded.indices.sorted { folded[$0] < folded[$1] }
        let sorted = order.map { folded[$0] }
        // gaps[k]: from sorted[k] to the next direction (circularly over 180°).
        let gaps = (0..<n).map { k in k < n - 1 ? sorted[k + 1] - sorted[k] : sorted[0] + .pi - sorted[n - 1] }
        let positive = gaps.filter { $0 > 1e-9 }.sorted()
        let typical = positive.isEmpty ? Double.pi : positive[positive.count / 2]
        // The missing wedge: a gap much wider than the typical spacing.
        let widest = gaps.indices.max { gaps[$0] < gaps[$1] }!
        let hasWedge = gaps[widest] > Swift.max(3 * typical, 2 * Double.pi / 180)
        var w = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var before = gaps[(k + n - 1) % n], after = gaps[k]
            // The directions next to the wedge are not the end angles' to claim: they count
            // their interior spacing on that side too.
            if hasWedge && k == widest { after = before }
            if hasWedge && (k + n - 1) % n == widest { before = after }
            w[order[k]] = (before + after) / 4
        }
        var coverage = AngularCoverage(coveredDegrees: 180, missingWedgeDegrees: 0)
        if hasWedge {
            let wedge = gaps[widest] - typical
            coverage = AngularCoverage(coveredDegrees: (Double.pi - wedge) * 180 / .pi, missingWedgeDegrees: wedge * 180 / .pi)
            let total = w.reduce(0, +)
            if total > 0 { w = w.map { $0 * (Double.pi / 2) / total } }
        }
        return (w, coverage)
    }

    /// The line directions (mod 180°) a scan covers.
    public static func coverage(anglesDegrees: [Double]) -> AngularCoverage {
        angularCoverage(radians: anglesDegrees.map { $0 * .pi / 180 }).coverage
    }

    static func backProjectChunk(_ filtered: UnsafeMutableBufferPointer<SIMD8<Float>>, geometry: ParallelBeamGeometry, size n: Int,
                                 zCount: Int, chunk c: Int, into out: DisjointWriteBuffer<Float>) {
        let cols = geometry.detectorColumns
        let centre = Double(n - 1) / 2
        let plane = n * n
        let acc = LargeMemory.buffer(of: SIMD8<Float>.self, count: plane)
        defer { LargeMemory.deallocate(acc) }
        let strip = 16
        for y0 in stride(from: 0, to: n, by: strip) {
            let y1 = Swift.min(n, y0 + strip)
            for a in 0..<geometry.projectionCount {
                let theta = geometry.anglesRadians[a]
                // u = x cos θ − y sin θ with y the row offset (rows run down): scikit-image's,
                // ASTRA's and TomoPy's orientation (y up), see ParallelBeamGeometry.
                let (cosT, sinT) = (cos(theta), -sin(theta))
                let axis = geometry.axisColumn + geometry.shift(a).column
                let row = a * (cols + 1)
                for y in y0..<y1 {
                    // u(x) = (x − c)cos θ − (y − c)sin θ; detector position = u + axis.
                    var position = (0 - centre) * cosT + (Double(y) - centre) * sinT + axis
                    for x in 0..<n {
                        if position > -1 && position < Double(cols) {
                            let j0 = Int(position + 1) - 1
                            let f = Float(position - Double(j0))
                            var v = SIMD8<Float>()
                            if j0 >= 0 { v += filtered[row + j0] * (1 - f) }
                            if j0 + 1 < cols { v += filtered[row + j0 + 1] * f }
                            acc[y * n + x] += v
                        }
                        position += cosT
                    }
                }
            }
        }
        for k in 0..<zCount {
            let base = (c * 8 + k) * plane
            for i in 0..<plane { out[base + i] = acc[i][k] }
        }
    }

    /// Zeroes the voxels of each slice outside its reconstruction circle (``ReconstructionCircle``:
    /// the field of view every projection sees).
    public static func applyCircularMask(_ volume: inout Grid<Float>) {
        let circle = ReconstructionCircle(sliceOf: volume.shape)
        let (slices, ny, nx) = (volume.shape[0], circle.rows, circle.columns)
        volume.withUnsafeMutableBufferPointer { v in
            for z in 0..<slices { for y in 0..<ny { for x in 0..<nx where !circle.contains(y: y, x: x) {
                v[(z * ny + y) * nx + x] = 0
            } } }
        }
    }
}
