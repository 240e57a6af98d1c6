import Foundation

/// Minimisation of a function of one variable on an interval by golden-section search (Kiefer
/// 1953): the bracket shrinks by 0.618 per evaluation, assuming one minimum inside it.
public enum GoldenSection {
    /// The argument of the smallest `f` in `interval`, to within `tolerance` (the final bracket's
    /// midpoint).
    public static func minimize(in interval: ClosedRange<Double>, tolerance: Double, _ f: (Double) throws -> Double) rethrows -> Double {
        var (lo, hi) = (interval.lowerBound, interval.upperBound)
        let g = (5.0.squareRoot() - 1) / 2
        var (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo))
        var (fa, fb) = (try f(a), try f(b))
        while hi - lo > tolerance {
            if fa < fb { hi = b; b = a; fb = fa; a = hi - g * (hi - lo); fa = try f(a) }
            else { lo = a; a = b; fa = fb; b = lo + g * (hi - lo); fb = try f(b) }
        }
        return (lo + hi) / 2
    }
}
