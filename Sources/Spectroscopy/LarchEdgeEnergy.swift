import Foundation
import LensCore

extension EdgeEnergy {
    /// E0 as Larch's `find_e0` (xraylarch 2026.3) picks it, so that normalizations with the
    /// same ranges agree with Larch's point for point: an energy of the grid, not interpolated.
    ///
    /// The method: dμ/dE by central differences; the grid point of the largest derivative whose
    /// two neighbours are also "high" (above 60 % of the derivative's range, ignoring the first
    /// and last 2 % of points, at least 3, where glitches sit). A first pass on the raw derivative
    /// locates the edge; the second, over ±75 points around it, smooths the derivative by a
    /// Lorentzian of half-width `estep` (the mean of the grid's typical step and E/25000, each
    /// clamped to 0.01–1 eV) on a uniform grid. Larch drops the last energy of each pass and
    /// ignores an edge found in the first 5 % of points; both are reproduced.
    public static func larchE0(energies: [Double], mu: [Double]) throws -> Double {
        try SpectrumCheck.validate(energies: energies, values: mu, name: "μ(E)")
        let n = energies.count
        let first = larchPass(energies: energies, mu: mu, estep: nil)
        var (start, stop) = (max(3, first.index - 75), min(first.index + 75, n - 3))
        var e1 = first.energy
        if Double(first.index) < 0.05 * Double(n) {
            e1 = energies.reduce(0, +) / Double(n)
            start = max(3, first.index - 20); stop = n - 3
        }
        func clamp(_ x: Double) -> Double { x.isNaN ? 1 : max(0.01, min(1, x)) }
        let estep = 0.5 * (clamp(first.estep) + clamp(e1 / 25000))
        guard stop - start >= 4 else { return first.energy }
        let second = larchPass(energies: Array(energies[start..<stop]), mu: Array(mu[start..<stop]), estep: estep)
        return second.index < 1 ? energies[start + 2] : second.energy
    }

    /// One pass of Larch's `_finde0`: the grid's energies without the last (Larch keeps only
    /// points whose successor is in order), the normalized derivative, the guarded maximum.
    private static func larchPass(energies: [Double], mu: [Double], estep: Double?) -> (energy: Double, index: Int, estep: Double) {
        let en = Array(energies.dropLast()), m = Array(mu.dropLast())
        let count = en.count
        let step = estep ?? typicalStep(en)
        let nmin = max(3, Int(Double(count) * 0.02))
        var derivative = (0..<count).map { i -> Double in
            let (a, b) = (max(0, i - 1), min(count - 1, i + 1))
            return (m[b] - m[a]) / (en[b] - en[a])
        }
        if estep != nil { derivative = lorentzianSmooth(x: en, y: derivative, xstep: step, sigma: step) }
        derivative = derivative.map { $0.isFinite ? $0 : -1 }
        guard count > 2 * nmin else { return (en[0], 0, step) }
        let core = derivative[nmin..<(count - nmin)]
        let low = core.min()!, range = max(1e-10, core.max()! - low)
        let d = derivative.map { ($0 - low) / range }
        var threshold = count > 20 ? 0.6 : 0.3
        var high = (0..<count).filter { d[$0] > threshold }
        if high.count < 3 {
            for _ in 0..<2 where high.count <= 3 {
                threshold *= 0.5
                high = (0..<count).filter { d[$0] > threshold }
            }
        }
        if high.count < 3 { high = Array(0..<count) }
        let isHigh = Set(high)
        var (best, bestValue) = (0, 0.0)
        for i in high where i >= nmin && i <= count - nmin {
            if d[i] > bestValue && isHigh.contains(i + 1) && isHigh.contains(i - 1) { (best, bestValue) = (i, d[i]) }
        }
        return (en[best], best, step)
    }

    /// Larch's `find_energy_step`: the mean of the 10 smallest steps after skipping the smallest
    /// 1 % (NaN when the grid has under 100 points, as in Larch, where an empty slice results).
    private static func typicalStep(_ energies: [Double]) -> Double {
        let n = energies.count, skip = Int(Double(n) * 0.01)
        guard skip > 0 else { return .nan }
        // energies[e_ordered] is all but the last point; then [skip : -skip].
        let kept = Array(energies[0..<(n - 1)][skip..<(n - 1 - skip)])
        guard kept.count > 1 else { return .nan }
        let steps = zip(kept.dropFirst(), kept).map { $0 - $1 }.sorted()
        let chosen = steps[min(skip, steps.count)..<min(skip + 10, steps.count)]
        return chosen.isEmpty ? .nan : chosen.reduce(0, +) / Double(chosen.count)
    }

    /// Larch's `smooth(x, y, xstep, sigma, form='lorentzian')`: y interpolated onto a uniform
    /// grid padded by 5 steps, mirrored at both ends, convolved with a normalized Lorentzian of
    /// half-width `sigma`, interpolated back onto x.
    static func lorentzianSmooth(x: [Double], y: [Double], xstep: Double, sigma: Double) -> [Double] {
        let pad = 5.0
        let xmin = xstep * ((x[0] - pad * xstep) / xstep).rounded(.towardZero)
        let xmax = xstep * ((x[x.count - 1] + pad * xstep) / xstep).rounded(.towardZero)
        // Clamped in floating point first: an absurd energy (1e300 eV) must not overflow Int.
        let steps = (abs(xmax - xmin + xstep * 0.1) / xstep).rounded(.towardZero)
        let npts = steps.isFinite ? min(1 + Int(min(steps, Double(50 * x.count))), 50 * x.count) : 50 * x.count
        let grid = (0..<npts).map { npts == 1 ? xmin : xmin + (xmax - xmin) * Double($0) / Double(npts - 1) }
        let uniform = clampedInterpolation(x: x, y: y, at: grid)
        // Mirrored extension: before the start y0[1…], after the end y0[n−1, n−2, …].
        func extended(_ q: Int) -> Double {
            if q < 0 { return uniform[min(npts - 1, -q)] }
            if q >= npts { return uniform[max(0, 2 * npts - 1 - q)] }
            return uniform[q]
        }
        let width = sigma / xstep
        let window = (-npts..<npts).map { 1 / (1 + (Double($0) / width) * (Double($0) / width)) }
        let total = window.reduce(0, +)
        var smoothed = [Double](repeating: 0, count: npts)
        for i in 0..<npts {
            var s = 0.0
            for (j, w) in window.enumerated() { s += w * extended(i - (j - npts)) }
            smoothed[i] = s / total
        }
        return clampedInterpolation(x: grid, y: smoothed, at: x)
    }

    /// Linear interpolation, holding the end values outside (numpy.interp).
    private static func clampedInterpolation(x: [Double], y: [Double], at targets: [Double]) -> [Double] {
        var k = 0
        return targets.map { t in
            if t <= x[0] { return y[0] }
            if t >= x[x.count - 1] { return y[y.count - 1] }
            while x[k + 1] < t { k += 1 }
            if k > 0 && x[k] > t { k = 0; while x[k + 1] < t { k += 1 } }
            let f = (t - x[k]) / (x[k + 1] - x[k])
            return y[k] + f * (y[k + 1] - y[k])
        }
    }
}
