import Foundation

/// Sums over short vectors with four partial sums each (the additions pipeline instead of
/// waiting on one another — these run per pixel).
enum VectorKernel {
    @inline(__always) static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
        var s = SIMD4<Double>(repeating: 0), k = 0
        while k + 4 <= count {
            s += SIMD4(a[k], a[k + 1], a[k + 2], a[k + 3]) * SIMD4(b[k], b[k + 1], b[k + 2], b[k + 3])
            k += 4
        }
        var t = s.sum()
        while k < count { t += a[k] * b[k]; k += 1 }
        return t
    }

    /// Σr², Σy², Σr²/σ² and Σσ² (the last two 0 without σ).
    @inline(__always) static func residualSums(_ r: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ sigma: UnsafePointer<Double>?,
                                               _ count: Int) -> (rss: Double, y2: Double, chi2: Double, sigma2: Double) {
        var rss = SIMD4<Double>(repeating: 0), y2 = rss, chi2 = rss, sigma2 = rss, k = 0
        let tiny = SIMD4<Double>(repeating: 1e-300)
        while k + 4 <= count {
            let r4 = SIMD4(r[k], r[k + 1], r[k + 2], r[k + 3]), y4 = SIMD4(y[k], y[k + 1], y[k + 2], y[k + 3])
            rss += r4 * r4; y2 += y4 * y4
            if let sigma {
                let s4 = SIMD4(sigma[k], sigma[k + 1], sigma[k + 2], sigma[k + 3]), v = s4 * s4
                chi2 += r4 * r4 / v.replacing(with: tiny, where: v .< tiny); sigma2 += v
            }
            k += 4
        }
        var sums = (rss: rss.sum(), y2: y2.sum(), chi2: chi2.sum(), sigma2: sigma2.sum())
        while k < count {
            sums.rss += r[k] * r[k]; sums.y2 += y[k] * y[k]
            if let sigma { let v = sigma[k] * sigma[k]; sums.chi2 += r[k] * r[k] / max(1e-300, v); sums.sigma2 += v }
            k += 1
        }
        return sums
    }
}
