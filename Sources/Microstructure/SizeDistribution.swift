import Foundation
import LensCore
import Signal

/// A statistic with its bootstrap confidence interval.
public struct Estimate: Sendable, Codable {
    public var value: Double
    public var lower: Double, upper: Double
}

/// Particle (or pore) size distribution from equivalent diameters, number- and
/// volume-weighted, with percentile-bootstrap confidence intervals (Efron & Tibshirani 1993,
/// §13.3): the particles are resampled with replacement `resamples` times and each statistic
/// is recomputed; the interval is the central `confidence` share of those values. Every length
/// is in the unit of the diameters given: µm when the voxel size is known, else voxels (the
/// caller's summary says which).
public struct SizeDistribution: Sendable, Codable {
    public var count: Int
    public var confidence: Double
    /// Number-weighted D10, D50, D90 and mean.
    public var numberD10: Estimate, numberD50: Estimate, numberD90: Estimate, numberMean: Estimate
    /// Volume-weighted D10, D50, D90 (the diameters below which 10/50/90 % of the volume lies).
    public var volumeD10: Estimate, volumeD50: Estimate, volumeD90: Estimate
    /// Histogram on logarithmic bins: edges, number and volume fractions per bin.
    public var binEdges: [Double], numberFractions: [Double], volumeFractions: [Double]
    /// Bootstrap interval (lower, upper) of each bin's number fraction, from the same
    /// resamples on the same bins: the band users draw around a measured distribution.
    public var numberFractionIntervals: [[Double]]

    public init(diameters d: [Double], bins: Int = 20, resamples: Int = 1000, confidence: Double = 0.95, seed: UInt64 = 1) throws {
        let diameters = d.filter { $0.isFinite && $0 > 0 }
        guard !diameters.isEmpty else { throw LensError.numerical("no particles to build a size distribution from") }
        count = diameters.count
        self.confidence = confidence
        func statistics(_ sample: [Double]) -> [Double] {
            let sorted = sample.sorted()
            let volumes = sorted.map { $0 * $0 * $0 }
            let total = volumes.reduce(0, +)
            func volumeQuantile(_ q: Double) -> Double {
                var cumulative = 0.0
                for (k, v) in volumes.enumerated() { cumulative += v; if cumulative >= q * total { return sorted[k] } }
                return sorted.last!
            }
            return Statistics.percentiles(sorted, [10, 50, 90]) + [sorted.reduce(0, +) / Double(sorted.count),
                    volumeQuantile(0.1), volumeQuantile(0.5), volumeQuantile(0.9)]
        }
        let point = statistics(diameters)
        // Logarithmic bins over the measured range; every resample is binned on the same edges.
        let lo = diameters.min()!, hi = diameters.max()! * 1.000001
        let logLo = log(lo), step = (log(hi) - logLo) / Double(bins)
        binEdges = (0...bins).map { exp(logLo + Double($0) * step) }
        let binOf = diameters.map { value in min(bins - 1, max(0, Int((log(value) - logLo) / step))) }
        var number = [Double](repeating: 0, count: bins), volume = [Double](repeating: 0, count: bins)
        let totalVolume = diameters.reduce(0) { $0 + $1 * $1 * $1 }
        for (value, b) in zip(diameters, binOf) {
            number[b] += 1 / Double(diameters.count); volume[b] += value * value * value / totalVolume
        }
        numberFractions = number; volumeFractions = volume
        var random = SeededRandom(seed: seed)
        var replicates = [[Double]](repeating: [], count: point.count)
        var binReplicates = [[Double]](repeating: [], count: bins)
        for _ in 0..<resamples {
            let picks = (0..<diameters.count).map { _ in min(diameters.count - 1, Int(random.uniform() * Double(diameters.count))) }
            for (k, v) in statistics(picks.map { diameters[$0] }).enumerated() { replicates[k].append(v) }
            var counts = [Int](repeating: 0, count: bins)
            for i in picks { counts[binOf[i]] += 1 }
            for b in 0..<bins { binReplicates[b].append(Double(counts[b]) / Double(diameters.count)) }
        }
        let tail = (1 - confidence) / 2 * 100
        let estimates = (0..<point.count).map { k in
            Estimate(value: point[k], lower: Statistics.percentile(replicates[k], tail), upper: Statistics.percentile(replicates[k], 100 - tail))
        }
        (numberD10, numberD50, numberD90, numberMean) = (estimates[0], estimates[1], estimates[2], estimates[3])
        (volumeD10, volumeD50, volumeD90) = (estimates[4], estimates[5], estimates[6])
        numberFractionIntervals = binReplicates.map { [Statistics.percentile($0, tail), Statistics.percentile($0, 100 - tail)] }
    }
}
