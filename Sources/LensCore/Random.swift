/// A small, fast, seedable generator (SplitMix64, Steele et al. 2014): the same seed gives the
/// same numbers on every machine and Swift version, which the phantoms' "same seed, same
/// bytes" promise rests on. Not for cryptography.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// The second normal of the last Box–Muller pair.
    private var spareNormal: Double?

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal by the Box–Muller transform (both values of each pair are used).
    public mutating func normal() -> Double {
        if let spare = spareNormal { spareNormal = nil; return spare }
        let u1 = Swift.max(uniform(), 1e-300), u2 = uniform()
        let r = (-2 * _log(u1)).squareRoot(), angle = 2 * Double.pi * u2
        spareNormal = r * _sin(angle)
        return r * _cos(angle)
    }

    /// Log-normal with the given median and shape σ (of the underlying normal).
    public mutating func logNormal(median: Double, sigma: Double) -> Double { median * _exp(sigma * normal()) }

    /// An independent generator for stream `index` (for parallel work that must not depend on
    /// the thread schedule).
    public func split(_ index: UInt64) -> SeededRandom {
        var g = SeededRandom(seed: state ^ (index &* 0xD2B7_4407_B1CE_6E93))
        _ = g.next()
        return g
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Glibc.sin(x) }
@inline(__always) private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#else
import Darwin
@inline(__always) private func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Darwin.sin(x) }
@inline(__always) private func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
