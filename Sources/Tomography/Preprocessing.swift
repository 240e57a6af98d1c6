import Foundation
import LensCore

/// What flat/dark correction and −log found, for the summary.
public struct NormalizationReport: Codable, Sendable, Equatable {
    /// Transmissions ≤ 0 (dark ≥ signal), clamped before the logarithm.
    public var clampedNonPositive: Int
    /// NaN or infinite inputs, replaced by the clamp value.
    public var nonFinite: Int
    public var minimumTransmission: Double
}

/// Flat-field correction and the logarithm: p = −ln((I − D)/(F − D)) with F and D the mean
/// flat and dark frames (science brief §2). Non-positive transmissions are clamped to
/// `minimumTransmission` and counted; so are NaN/∞ inputs.
public enum FlatFieldCorrection {
    /// - Parameters:
    ///   - projections: (angle, row, column) counts.
    ///   - flats, darks: (frame, row, column); averaged. Missing darks count as zero.
    public static func lineIntegrals(projections: Grid<Float>, flats: Grid<Float>, darks: Grid<Float>?,
                                     minimumTransmission: Float = 1e-6, source: String = "projections") throws -> (Grid<Float>, NormalizationReport) {
        let frame = projections.shape.sliceShape
        guard flats.rank == 3, flats.shape.sliceShape == frame, flats.shape[0] > 0 else {
            throw LensError.badInput(file: source, problem: "flats \(flats.shape) do not match projection frames \(frame)")
        }
        if let darks, darks.rank != 3 || darks.shape.sliceShape != frame {
            throw LensError.badInput(file: source, problem: "darks \(darks.shape) do not match projection frames \(frame)")
        }
        let n = frame.count
        func mean(_ g: Grid<Float>) -> [Float] {
            var m = [Double](repeating: 0, count: n)
            g.withUnsafeBufferPointer { p in for f in 0..<g.shape[0] { for i in 0..<n { m[i] += Double(p[f * n + i]) } } }
            return m.map { Float($0 / Double(g.shape[0])) }
        }
        let flat = mean(flats), dark = darks.map(mean) ?? [Float](repeating: 0, count: n)
        let open = zip(flat, dark).map { $0 - $1 }
        guard open.contains(where: { $0 > 0 }) else {
            throw LensError.badInput(file: source, problem: "flats are not brighter than darks anywhere (all-zero or swapped flats?)")
        }
        var out = Grid<Float>(shape: projections.shape, geometry: projections.geometry)
        let counts = out.withUnsafeMutableBufferPointer { target in
            nonisolated(unsafe) let target = target
            return Parallel.mapChunks(count: projections.shape[0], chunks: Parallel.threadCount * 4) { range -> (Int, Int, Float) in
                var clamped = 0, nonFinite = 0, lowest = Float.infinity
                projections.withUnsafeBufferPointer { p in
                    for a in range { for i in 0..<n {
                        let value = p[a * n + i]
                        var t = (value - dark[i]) / open[i]
                        if !value.isFinite || !t.isFinite { nonFinite += 1; t = minimumTransmission }
                        else if t <= 0 { clamped += 1 }
                        lowest = Swift.min(lowest, t)
                        t = Swift.max(t, minimumTransmission)
                        target[a * n + i] = -log(t)
                    } }
                }
                return (clamped, nonFinite, lowest)
            }
        }
        let report = NormalizationReport(clampedNonPositive: counts.map(\.0).reduce(0, +), nonFinite: counts.map(\.1).reduce(0, +),
                                         minimumTransmission: Double(counts.map(\.2).min() ?? 1))
        return (out, report)
    }
}

