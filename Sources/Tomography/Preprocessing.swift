import Foundation
import LensCore
import Signal

/// What flat/dark correction and −log found, for the summary.
public struct NormalizationReport: Codable, Sendable, Equatable {
    /// Transmissions ≤ 0 (dark ≥ signal), clamped before the logarithm.
    public var clampedNonPositive: Int
    /// NaN or infinite inputs, replaced by the clamp value.
    public var nonFinite: Int
    public var minimumTransmission: Double

    public init(clampedNonPositive: Int = 0, nonFinite: Int = 0, minimumTransmission: Double = .infinity) {
        self.clampedNonPositive = clampedNonPositive
        self.nonFinite = nonFinite
        self.minimumTransmission = minimumTransmission
    }

    /// Adds the counts of another slab.
    public mutating func merge(_ other: NormalizationReport) {
        clampedNonPositive += other.clampedNonPositive
        nonFinite += other.nonFinite
        minimumTransmission = Swift.min(minimumTransmission, other.minimumTransmission)
    }
}

/// Flat frames taken at one moment of the scan: their mean is the open beam at projection
/// index `position` (−0.5 before the first projection, count − 0.5 after the last).
public struct FlatGroup: Sendable {
    public var position: Double
    public var frames: Grid<Float>
    public init(position: Double, frames: Grid<Float>) {
        self.position = position
        self.frames = frames
    }
}

/// Flat-field correction and the logarithm: p = −ln((I − D)/(F − D)) with D the mean dark
/// frame and F the open beam (science brief §2). When flats were taken at several moments
/// (before and after the scan, as beamlines do to follow beam drift), F at projection k is
/// interpolated linearly between the mean frames of the two groups around k (held constant
/// outside them). Non-positive transmissions are clamped to `minimumTransmission` and counted;
/// so are NaN/∞ inputs.
///
/// Built once from the whole frames; ``apply(_:rows:firstProjection:)`` then corrects any slab of
/// projections and detector rows, so a scan streams through in row slabs.
public struct FlatField: Sendable {
    public let frameShape: Shape
    public let minimumTransmission: Float
    let dark: [Float]
    /// (position, open = mean flat − dark) per group, sorted by position.
    let open: [(position: Double, values: [Float])]

    public init(flatGroups: [FlatGroup], darks: Grid<Float>?, minimumTransmission: Float = 1e-6, source: String = "projections") throws {
        guard let first = flatGroups.first else { throw LensError.badInput(file: source, problem: "no flat (open-beam) frames; cannot normalize") }
        let frame = first.frames.shape.sliceShape
        for group in flatGroups {
            guard group.frames.rank == 3, group.frames.shape.sliceShape == frame, group.frames.shape[0] > 0 else {
                throw LensError.badInput(file: source, problem: "flats \(group.frames.shape) do not match the frame shape \(frame)")
            }
        }
        if let darks, darks.rank != 3 || darks.shape.sliceShape != frame || darks.shape[0] == 0 {
            throw LensError.badInput(file: source, problem: "darks \(darks.shape) do not match the frame shape \(frame)")
        }
        frameShape = frame
        self.minimumTransmission = minimumTransmission
        let n = frame.count
        dark = darks.map { FlatField.meanFrame($0) } ?? [Float](repeating: 0, count: n)
        var groups = [(position: Double, values: [Float])]()
        for group in flatGroups.sorted(by: { $0.position < $1.position }) {
            let mean = FlatField.meanFrame(group.frames)
            let values = zip(mean, dark).map { $0 - $1 }
            guard values.contains(where: { $0 > 0 }) else {
                throw LensError.badInput(file: source, problem: "flats are not brighter than darks anywhere (all-zero or swapped flats?)")
            }
            groups.append((group.position, values))
        }
        open = groups
    }

    static func meanFrame(_ g: Grid<Float>) -> [Float] {
        let n = g.shape.sliceCount
        var m = [Double](repeating: 0, count: n)
        g.withUnsafeBufferPointer { p in for f in 0..<g.shape[0] { for i in 0..<n { m[i] += Double(p[f * n + i]) } } }
        return m.map { Float($0 / Double(g.shape[0])) }
    }

    /// The two groups around projection `k` and the weight of the second.
    func bracket(_ k: Int) -> (Int, Int, Float) {
        let x = Double(k)
        guard open.count > 1, x > open[0].position else { return (0, 0, 0) }
        guard x < open[open.count - 1].position else { return (open.count - 1, open.count - 1, 0) }
        var i = 0
        while open[i + 1].position < x { i += 1 }
        let w = (x - open[i].position) / (open[i + 1].position - open[i].position)
        return (i, i + 1, Float(w))
    }

    /// Line integrals of `projections` (angle, row, column) holding detector rows `rows` of
    /// projections `firstProjection…`.
    public func apply(_ projections: Grid<Float>, rows: Range<Int>, firstProjection: Int = 0) throws -> (Grid<Float>, NormalizationReport) {
        let cols = frameShape[1]
        guard projections.rank == 3, projections.shape[1] == rows.count, projections.shape[2] == cols,
              rows.lowerBound >= 0, rows.upperBound <= frameShape[0] else {
            throw LensError.invalidArgument("projection slab \(projections.shape) (rows \(rows)) does not match frames \(frameShape)")
        }
        let n = rows.count * cols, offset = rows.lowerBound * cols
        let (dark, open, floor) = (self.dark, self.open, minimumTransmission)
        var out = Grid<Float>(shape: projections.shape, geometry: projections.geometry)
        // Each worker owns whole projections of the output.
        let counts = Parallel.withDisjointWrites(&out) { target in
            Parallel.mapChunks(count: projections.shape[0], chunks: Parallel.threadCount * 4) { range -> NormalizationReport in
                var report = NormalizationReport()
                var lowest = Float.infinity
                projections.withUnsafeBufferPointer { p in
                    for a in range {
                        let (g0, g1, w) = bracket(firstProjection + a)
                        for i in 0..<n {
                            let value = p[a * n + i]
                            let flat = w == 0 ? open[g0].values[offset + i] : (1 - w) * open[g0].values[offset + i] + w * open[g1].values[offset + i]
                            var t = (value - dark[offset + i]) / flat
                            if !value.isFinite || !t.isFinite { report.nonFinite += 1; t = floor }
                            else if t <= 0 { report.clampedNonPositive += 1 }
                            lowest = Swift.min(lowest, t)
                            target[a * n + i] = -log(Swift.max(t, floor))
                        }
                    }
                }
                report.minimumTransmission = Double(lowest)
                return report
            }
        }
        var report = NormalizationReport()
        counts.forEach { report.merge($0) }
        return (out, report)
    }
}

/// One-call flat-field correction of a whole scan with one group of flats.
public enum FlatFieldCorrection {
    /// - Parameters:
    ///   - projections: (angle, row, column) counts.
    ///   - flats, darks: (frame, row, column); averaged. Missing darks count as zero.
    public static func lineIntegrals(projections: Grid<Float>, flats: Grid<Float>, darks: Grid<Float>?,
                                     minimumTransmission: Float = 1e-6, source: String = "projections") throws -> (Grid<Float>, NormalizationReport) {
        guard projections.rank == 3 else { throw LensError.badInput(file: source, problem: "projections must be 3D, are \(projections.shape)") }
        guard flats.rank == 3, flats.shape.sliceShape == projections.shape.sliceShape else {
            throw LensError.badInput(file: source, problem: "flats \(flats.shape) do not match projection frames \(projections.shape.sliceShape)")
        }
        let field = try FlatField(flatGroups: [FlatGroup(position: -0.5, frames: flats)], darks: darks,
                                  minimumTransmission: minimumTransmission, source: source)
        return try field.apply(projections, rows: 0..<projections.shape[1])
    }
}

/// What zinger removal replaced.
public struct ZingerReport: Codable, Sendable, Equatable {
    public var replaced = 0
    public init(replaced: Int = 0) { self.replaced = replaced }
}

/// Zinger (outlier) removal on line integrals (angle, row, column). A zinger — a cosmic ray or
/// scattered photon hitting a pixel in one projection — adds counts, so its line integral dips
/// below its neighbours in the sinogram plane (neighbouring angles and columns, same row; within
/// a row, so slabs of rows give the same result as whole frames). A value is a zinger when it
/// lies below the second-lowest of its 8 neighbours (so a zinger covering two pixels is still
/// found, while a pixel at an edge always has neighbours on its low side) by more than
/// `sigmas` × the local noise, and by at least `minimumJump`. It is then replaced by the median
/// of its 3×3 neighbourhood.
///
/// The noise is not one number per sinogram: on −log data it grows with attenuation
/// (σ ≈ 1/√counts), so it is measured as a function of the neighbourhood median: the robust
/// spread (1.4826 × MAD) of second differences along columns / √6 in 16 quantile bins of the
/// median. For
/// pure noise, (second-lowest neighbour − value) has mean ≈ −σ and spread ≈ 1.2 σ, so the
/// default 8 σ leaves false positives far below 1e-5 of the pixels, while a zinger of 5–20× the
/// open beam (a dip of ≥ ln 6 ≈ 1.8) lies above 8 σ for any usable count level (σ = 0.1 at
/// ≈ 100 counts). ZingerTests measure both.
public enum ZingerRemoval {
    public static func apply(_ lineIntegrals: inout Grid<Float>, threshold: Float? = nil, sigmas: Float = 8,
                             minimumJump: Float = 0.1) -> ZingerReport {
        precondition(lineIntegrals.rank == 3)
        let (angles, rows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        // Each worker owns whole detector rows (every angle of them).
        let replaced = Parallel.withDisjointWrites(&lineIntegrals) { data in
            Parallel.mapChunks(count: rows, chunks: rows) { range -> Int in
                var count = 0
                let n = angles * cols
                var median = [Float](repeating: 0, count: n)
                var secondLowest = [Float](repeating: 0, count: n)
                var window = [Float](repeating: 0, count: 9)
                for r in range {
                    @inline(__always) func at(_ a: Int, _ c: Int) -> Float {
                        data[(Swift.min(angles - 1, Swift.max(0, a)) * rows + r) * cols + Swift.min(cols - 1, Swift.max(0, c))]
                    }
                    for a in 0..<angles { for c in 0..<cols {
                        var k = 0
                        var low1 = Float.infinity, low2 = Float.infinity
                        for da in -1...1 { for dc in -1...1 {
                            let v = at(a + da, c + dc)
                            window[k] = v; k += 1
                            guard da != 0 || dc != 0 else { continue }
                            // Neighbours outside the sinogram (clamped) repeat an edge pixel: fine.
                            if v < low1 { low2 = low1; low1 = v } else if v < low2 { low2 = v }
                        } }
                        median[a * cols + c] = medianOfNine(&window)
                        secondLowest[a * cols + c] = low2
                    } }
                    // Noise as a function of the local median: 16 quantile bins.
                    let limits: (Float) -> Float
                    if let threshold {
                        limits = { _ in threshold }
                    } else {
                        // Bin edges from the quantiles of a sample of the medians (O(n)).
                        let bins = 16
                        let stride = Swift.max(1, n / 4096)
                        let sample = Swift.stride(from: 0, to: n, by: stride).map { median[$0] }.sorted()
                        let edges = (1..<bins).map { sample[$0 * sample.count / bins] }
                        @inline(__always) func bin(_ m: Float) -> Int {
                            var lo = 0, hi = edges.count
                            while lo < hi { let mid = (lo + hi) / 2; if m > edges[mid] { lo = mid + 1 } else { hi = mid } }
                            return lo
                        }
                        var deviations = [[Float]](repeating: [], count: bins)
                        // The noise σ from second differences along columns,
                        // |v(c−1) − 2 v(c) + v(c+1)| / √6, blind to linear trends (value − median of 9,
                        // the median containing the value, would understate it).
                        for i in 0..<n where i % cols > 0 && i % cols < cols - 1 {
                            let base = ((i / cols) * rows + r) * cols + i % cols
                            let second = data[base - 1] - 2 * data[base] + data[base + 1]
                            deviations[bin(median[i])].append(abs(second) * 0.40824829)
                        }
                        // A bin too small to measure takes the largest spread measured (conservative).
                        var spreads = deviations.map { d -> Float in
                            guard d.count >= 32 else { return -1 }
                            var d = d
                            return 1.4826 * d.withUnsafeMutableBufferPointer { Selection.kthSmallest($0, $0.count / 2) }
                        }
                        let largest = spreads.max() ?? 0
                        spreads = spreads.map { $0 < 0 ? largest : $0 }
                        let sp = spreads
                        limits = { m in Swift.max(sigmas * sp[bin(m)], minimumJump) }
                    }
                    for a in 0..<angles { for c in 0..<cols {
                        let i = a * cols + c
                        let index = (a * rows + r) * cols + c
                        if secondLowest[i] - data[index] > limits(median[i]) { data[index] = median[i]; count += 1 }
                    } }
                }
                return count
            }
        }
        return ZingerReport(replaced: replaced.reduce(0, +))
    }

    static func medianOfNine(_ w: inout [Float]) -> Float {
        w.withUnsafeMutableBufferPointer { b in
            // Insertion sort of nine values: small and branch-predictable.
            for i in 1..<9 { let v = b[i]; var j = i - 1
                while j >= 0 && b[j] > v { b[j + 1] = b[j]; j -= 1 }
                b[j + 1] = v }
            return b[4]
        }
    }
}

