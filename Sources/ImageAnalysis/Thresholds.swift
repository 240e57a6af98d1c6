import LensCore

/// A histogram of the voxels of an image (optionally inside a mask) with `bins` equal bins
/// from its minimum to its maximum, as scikit-image's `histogram` for float data.
public struct ValueHistogram: Sendable {
    public var counts: [Int]
    public var minimum: Double, maximum: Double
    public var binWidth: Double { (maximum - minimum) / Double(counts.count) }
    /// Centre value of bin `i`.
    public func centre(_ i: Int) -> Double { minimum + (Double(i) + 0.5) * binWidth }

    public init(_ image: Grid<Float>, mask: Grid<UInt8>? = nil, bins: Int = 256) throws {
        if let mask { try image.requireSameShape(as: mask, "the image", "the mask") }
        var lo = Float.infinity, hi = -Float.infinity
        image.withUnsafeBufferPointer { v in
            for i in 0..<v.count where (mask?[linear: i] ?? 1) != 0 && v[i].isFinite { lo = Swift.min(lo, v[i]); hi = Swift.max(hi, v[i]) }
        }
        guard lo <= hi else { throw LensError.numerical("no voxels to threshold: the mask is empty or the values are not finite") }
        minimum = Double(lo); maximum = Double(hi)
        if hi == lo { maximum = Double(lo) + 1 }
        var counts = [Int](repeating: 0, count: bins)
        let scale = Double(bins) / (maximum - minimum)
        image.withUnsafeBufferPointer { v in
            for i in 0..<v.count where (mask?[linear: i] ?? 1) != 0 && v[i].isFinite {
                counts[Swift.min(bins - 1, Int((Double(v[i]) - Double(lo)) * scale))] += 1
            }
        }
        self.counts = counts
    }
}

/// Global thresholds and their application.
public enum Thresholds {
    /// Otsu's threshold (Otsu 1979): the bin centre maximizing the between-class variance,
    /// as scikit-image's `threshold_otsu` (voxels above the returned value are the bright class).
    /// Throws ``LensError/numerical(_:)`` when the image has a single grey level.
    public static func otsu(_ histogram: ValueHistogram) throws -> Double {
        try multiOtsu(histogram, classes: 2)[0]
    }

    /// Multi-level Otsu (Liao, Chen & Chung 2001): the `classes − 1` bin centres maximizing
    /// Σ_k w_k μ_k² over all ordered splits of the histogram, as scikit-image's
    /// `threshold_multiotsu`. Exhaustive over bins (256 bins, 3 classes: 33 000 splits).
    public static func multiOtsu(_ histogram: ValueHistogram, classes: Int) throws -> [Double] {
        let bins = histogram.counts.count
        guard classes >= 2, classes <= bins else { throw LensError.invalidArgument("classes must be 2…\(bins), got \(classes)") }
        let nonEmpty = histogram.counts.filter { $0 > 0 }.count
        guard nonEmpty >= classes else {
            throw LensError.numerical("the image has \(nonEmpty) distinct grey level\(nonEmpty == 1 ? "" : "s"), fewer than the \(classes) classes asked for")
        }
        // Cumulative zeroth and first moments; class i..<j has weight P[j]-P[i], moment S[j]-S[i].
        var p = [Double](repeating: 0, count: bins + 1), s = [Double](repeating: 0, count: bins + 1)
        for i in 0..<bins {
            p[i + 1] = p[i] + Double(histogram.counts[i])
            s[i + 1] = s[i] + Double(histogram.counts[i]) * histogram.centre(i)
        }
        func score(_ a: Int, _ b: Int) -> Double { let w = p[b] - p[a]; return w > 0 ? (s[b] - s[a]) * (s[b] - s[a]) / w : 0 }
        // Dynamic programming over split points: best[k][j] = best score of k classes on bins 0..<j.
        let k = classes
        var best = [[Double]](repeating: [Double](repeating: -.infinity, count: bins + 1), count: k + 1)
        var choice = [[Int]](repeating: [Int](repeating: 0, count: bins + 1), count: k + 1)
        for j in 1...bins { best[1][j] = score(0, j) }
        if k >= 2 {
            for c in 2...k {
                for j in c...bins {
                    for i in (c - 1)..<j where best[c - 1][i] > -.infinity {
                        let v = best[c - 1][i] + score(i, j)
                        if v > best[c][j] { best[c][j] = v; choice[c][j] = i }
                    }
                }
            }
        }
        var splits: [Int] = []
        var j = bins
        for c in stride(from: k, to: 1, by: -1) { let i = choice[c][j]; splits.append(i); j = i }
        // Split i means classes ..<i and i..., so the threshold is the centre of bin i − 1.
        return splits.reversed().map { histogram.centre($0 - 1) }
    }

    /// Class index per voxel: 0 below the first threshold, 1 between the first two, …;
    /// voxels outside `mask` get `outside` (default 0). A voxel equal to a threshold goes below
    /// it (scikit-image's `digitize` convention: class = number of thresholds < value).
    public static func classify(_ image: Grid<Float>, thresholds: [Double], mask: Grid<UInt8>? = nil, offset: UInt8 = 0,
                                outside: UInt8 = 0) throws -> Grid<UInt8> {
        if let mask { try image.requireSameShape(as: mask, "the image", "the mask") }
        let sorted = thresholds.sorted().map { Float($0) }
        return Grid<UInt8>(shape: image.shape, geometry: image.geometry) { i in
            if let mask, mask[linear: i] == 0 { return outside }
            let v = image[linear: i]
            var c: UInt8 = 0
            for t in sorted where v > t { c += 1 }
            return c + offset
        }
    }

    /// Hysteresis threshold (Canny 1986): voxels above `low` that are connected (faces) to a
    /// voxel above `high`, as scikit-image's `apply_hysteresis_threshold`.
    public static func hysteresis(_ image: Grid<Float>, low: Double, high: Double, mask: Grid<UInt8>? = nil) throws -> Grid<UInt8> {
        guard low <= high else { throw LensError.invalidArgument("hysteresis needs low ≤ high, got \(low) > \(high)") }
        let weak = try classify(image, thresholds: [low], mask: mask)
        let components = ConnectedComponents.label(weak, connectivity: .faces)
        var keep = [Bool](repeating: false, count: components.count + 1)
        let h = Float(high)
        for i in 0..<image.count where image[linear: i] > h { keep[Int(components.labels[linear: i])] = true }
        keep[0] = false
        let labels = components.labels, kept = keep
        return Grid<UInt8>(shape: image.shape, geometry: image.geometry) { kept[Int(labels[linear: $0])] ? 1 : 0 }
    }
}
