import LensCore

/// Descriptive statistics of samples. Percentiles use linear interpolation between closest
/// ranks (NumPy's default `linear` method), so numbers match the Python tools users compare to.
public enum Statistics {
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// Sample variance with `ddof` delta degrees of freedom (1: unbiased, NumPy's `ddof=1`).
    public static func variance(_ values: [Double], ddof: Int = 1) -> Double {
        guard values.count > ddof else { return .nan }
        let m = mean(values)
        return values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - ddof)
    }

    public static func standardDeviation(_ values: [Double], ddof: Int = 1) -> Double {
        variance(values, ddof: ddof).squareRoot()
    }

    /// Pearson's r of paired samples and the least-squares slope of y on x (NaN when either
    /// has no spread).
    public static func pearsonAndSlope(_ x: [Double], _ y: [Double]) -> (r: Double, slope: Double) {
        precondition(x.count == y.count, "paired samples of unequal length")
        let mx = mean(x), my = mean(y)
        var sxx = 0.0, syy = 0.0, sxy = 0.0
        for (a, b) in zip(x, y) { sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my); sxy += (a - mx) * (b - my) }
        return (sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : .nan, sxx > 0 ? sxy / sxx : .nan)
    }

    /// Pearson's correlation coefficient of paired samples.
    public static func correlation(_ x: [Double], _ y: [Double]) -> Double { pearsonAndSlope(x, y).r }

    /// The `p`-th percentile (0…100).
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        percentiles(values, [p])[0]
    }

    /// Percentiles with linear interpolation between order statistics (NumPy's default).
    /// Large inputs take expected linear time per percentile (selection instead of a sort:
    /// medians of whole volumes), with the same order statistics and so the same values.
    public static func percentiles(_ values: [Double], _ ps: [Double]) -> [Double] {
        guard !values.isEmpty else { return ps.map { _ in .nan } }
        if values.count >= 10_000 && ps.count <= 4 {
            var work = values
            return work.withUnsafeMutableBufferPointer { buffer in
                ps.map { p in
                    let rank = Swift.min(Swift.max(p, 0), 100) / 100 * Double(buffer.count - 1)
                    let lo = Int(rank.rounded(.down))
                    let low = Selection.kthSmallest(buffer, lo)
                    guard rank > Double(lo), lo + 1 < buffer.count else { return low }
                    // After the selection everything past index lo is ≥ the lo-th value: the
                    // next order statistic is their minimum.
                    let high = buffer[(lo + 1)...].min()!
                    return low + (rank - Double(lo)) * (high - low)
                }
            }
        }
        let sorted = values.sorted()
        return ps.map { p in
            let rank = Swift.min(Swift.max(p, 0), 100) / 100 * Double(sorted.count - 1)
            let lo = Int(rank.rounded(.down)), hi = Swift.min(lo + 1, sorted.count - 1)
            return sorted[lo] + (rank - Double(lo)) * (sorted[hi] - sorted[lo])
        }
    }

    public static func median(_ values: [Double]) -> Double { percentile(values, 50) }

    /// Counts of `values` in `binCount` equal bins over `range` (values outside are ignored; the
    /// last bin includes its upper edge, as NumPy's `histogram`).
    public static func histogram(_ values: [Double], binCount: Int, range: ClosedRange<Double>) -> [Int] {
        var counts = [Int](repeating: 0, count: binCount)
        let width = (range.upperBound - range.lowerBound) / Double(binCount)
        guard width > 0 else { return counts }
        for v in values where v >= range.lowerBound && v <= range.upperBound {
            counts[Swift.min(binCount - 1, Int((v - range.lowerBound) / width))] += 1
        }
        return counts
    }
}

/// Mean and variance accumulated one value at a time (Welford's algorithm), mergeable across
/// threads and slabs (Chan et al.'s parallel update) — for statistics of data that never sits
/// in memory at once.
public struct RunningStatistics: Sendable, Codable, Equatable {
    public private(set) var count: Int = 0
    public private(set) var mean: Double = 0
    private var m2: Double = 0
    public private(set) var minimum: Double = .infinity
    public private(set) var maximum: Double = -.infinity

    public init() {}

    public mutating func add(_ value: Double) {
        count += 1
        let delta = value - mean
        mean += delta / Double(count)
        m2 += delta * (value - mean)
        minimum = Swift.min(minimum, value)
        maximum = Swift.max(maximum, value)
    }

    public mutating func merge(_ other: RunningStatistics) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let n = Double(count + other.count)
        let delta = other.mean - mean
        mean += delta * Double(other.count) / n
        m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / n
        count += other.count
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
    }

    /// Unbiased sample variance (n − 1 in the denominator).
    public var variance: Double { count > 1 ? m2 / Double(count - 1) : .nan }
    public var standardDeviation: Double { variance.squareRoot() }
}

/// Order statistics without a full sort.
public enum Selection {
    /// The k-th smallest value (0-based) of `values`, reordering them (Hoare's selection,
    /// expected linear time): the median filters' and zinger tests' workhorse.
    public static func kthSmallest<T: Comparable>(_ values: UnsafeMutableBufferPointer<T>, _ k: Int) -> T {
        var lo = 0, hi = values.count - 1
        while lo < hi {
            let pivot = values[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return values[k] }
        }
        return values[k]
    }
}
