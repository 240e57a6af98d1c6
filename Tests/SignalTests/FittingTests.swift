import Foundation
import LensCore
import Signal
import Testing

/// Exact NNLS optimum by trying every passive set: feasible unconstrained solutions on each
/// subset, keeping the one with the smallest residual (correct for convex problems; fine for n ≤ 6).
func bruteForceNNLS(_ a: Matrix, _ b: [Double]) -> [Double] {
    let n = a.columns
    var best = [Double](repeating: 0, count: n)
    var bestResidual = b.reduce(0) { $0 + $1 * $1 }
    for mask in 1..<(1 << n) {
        let indices = (0..<n).filter { mask & (1 << $0) != 0 }
        let sub = Matrix(columns: indices.map { a.column($0) })
        guard let solution = try? LeastSquares.solve(sub, b), solution.coefficients.allSatisfy({ $0 >= 0 }) else { continue }
        if solution.residualSumOfSquares < bestResidual - 1e-12 {
            bestResidual = solution.residualSumOfSquares
            best = [Double](repeating: 0, count: n)
            for (k, j) in indices.enumerated() { best[j] = solution.coefficients[k] }
        }
    }
    return best
}

@Suite struct LeastSquaresTests {
    @Test func recoversAPolynomialExactly() throws {
        let x = (0..<20).map { Double($0) / 4 }
        let y = x.map { 1.5 - 2 * $0 + 0.25 * $0 * $0 }
        let a = Matrix(columns: [x.map { _ in 1 }, x, x.map { $0 * $0 }])
        let s = try LeastSquares.solve(a, y)
        #expect(abs(s.coefficients[0] - 1.5) < 1e-10 && abs(s.coefficients[1] + 2) < 1e-10 && abs(s.coefficients[2] - 0.25) < 1e-10)
        #expect(s.residualSumOfSquares < 1e-18)
    }

    @Test func slopeStandardErrorMatchesTheTextbookFormula() throws {
        var rng = SeededRandom(seed: 3)
        let x = (0..<50).map(Double.init)
        let y = x.map { 2 + 0.5 * $0 + 0.3 * rng.normal() }
        let s = try LeastSquares.solve(Matrix(columns: [x.map { _ in 1 }, x]), y)
        // SE(slope) = sqrt(σ̂² / Σ(x − x̄)²)
        let mean = x.reduce(0, +) / 50
        let sxx = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let expected = (s.residualSumOfSquares / 48 / sxx).squareRoot()
        #expect(abs(s.standardErrors![1] - expected) < 1e-12)
    }

    @Test func rankDeficientDesignIsAnError() {
        let a = Matrix(columns: [[1, 2, 3], [2, 4, 6]])
        #expect(throws: LensError.self) { try LeastSquares.solve(a, [1, 2, 3]) }
    }
}

@Suite struct NNLSTests {
    @Test func recoversAnExactNonNegativeMixture() throws {
        // Three reference "spectra" and a mixture 0.2 / 0.0 / 0.8.
        let e = (0..<40).map { Double($0) }
        let refs = [e.map { 1 / (1 + exp(-($0 - 12) / 2)) }, e.map { 1 / (1 + exp(-($0 - 20) / 2)) }, e.map { 1 / (1 + exp(-($0 - 25) / 3)) }]
        let y = (0..<40).map { 0.2 * refs[0][$0] + 0.8 * refs[2][$0] }
        let s = try NonNegativeLeastSquares.solve(Matrix(columns: refs), y)
        #expect(abs(s.coefficients[0] - 0.2) < 1e-9 && abs(s.coefficients[1]) < 1e-9 && abs(s.coefficients[2] - 0.8) < 1e-9)
    }

    @Test func matchesTheExhaustiveOptimumOnRandomProblems() throws {
        var rng = SeededRandom(seed: 5)
        for _ in 0..<40 {
            let m = 12, n = 5
            let a = Matrix(rows: m, columns: n, values: (0..<(m * n)).map { _ in rng.normal() })
            let b = (0..<m).map { _ in rng.normal() }
            let s = try NonNegativeLeastSquares.solve(a, b)
            let reference = bruteForceNNLS(a, b)
            #expect(s.coefficients.allSatisfy { $0 >= 0 })
            #expect(zip(s.coefficients, reference).map { abs($0 - $1) }.max()! < 1e-8)
        }
    }
}

@Suite struct LevenbergMarquardtTests {
    @Test func fitsAGaussianPeakWithCalibratedErrors() throws {
        var rng = SeededRandom(seed: 9)
        let x = (0..<120).map { 80 + Double($0) * 0.25 }
        let truth = [1000.0, 93.9, 1.8, 5.0]   // area, centre, FWHM, background
        let sigma = 2.0
        var coverage = 0, trials = 0
        for _ in 0..<30 {
            let y = x.map { truth[0] * PeakShape.gaussian($0, centre: truth[1], fwhm: truth[2]) + truth[3] + sigma * rng.normal() }
            let result = try LevenbergMarquardt.fit(initial: [800, 93, 2.5, 0], residualCount: x.count) { p, r in
                for i in x.indices { r[i] = (p[0] * PeakShape.gaussian(x[i], centre: p[1], fwhm: p[2]) + p[3] - y[i]) / sigma }
            }
            #expect(result.converged)
            let errors = result.unscaledCovariance.map { c in (0..<4).map { c[$0, $0].squareRoot() } }!
            if abs(result.parameters[1] - truth[1]) < errors[1] { coverage += 1 }
            trials += 1
            #expect(abs(result.parameters[1] - truth[1]) < 5 * errors[1])
            #expect(abs(result.reducedChiSquared - 1) < 0.5)
        }
        // 1σ intervals should hold the truth about 68 % of the time (binomial bounds for 30 trials).
        #expect(coverage >= 13 && coverage <= 28)
    }

    @Test func noiseFreeDataIsFitExactly() throws {
        let x = (0..<50).map { Double($0) / 5 }
        let y = x.map { 3 * exp(-0.7 * $0) + 0.5 }
        let result = try LevenbergMarquardt.fit(initial: [1, 0.1, 0], residualCount: 50) { p, r in
            for i in x.indices { r[i] = p[0] * exp(-p[1] * x[i]) + p[2] - y[i] }
        }
        #expect(abs(result.parameters[0] - 3) < 1e-6 && abs(result.parameters[1] - 0.7) < 1e-6 && abs(result.parameters[2] - 0.5) < 1e-6)
    }
}

@Suite struct PeakAndStatisticsTests {
    func integrate(_ f: (Double) -> Double, from a: Double, to b: Double, steps: Int = 200_000) -> Double {
        let h = (b - a) / Double(steps)
        return (0..<steps).reduce(0) { $0 + f(a + (Double($1) + 0.5) * h) } * h
    }

    @Test func peakShapesHaveUnitAreaAndTheirFWHM() {
        let g = integrate({ PeakShape.gaussian($0, centre: 2, fwhm: 0.8) }, from: -8, to: 12)
        #expect(abs(g - 1) < 1e-9)
        let l = integrate({ PeakShape.lorentzian($0, centre: 0, fwhm: 1) }, from: -5000, to: 5000, steps: 2_000_000)
        #expect(abs(l - 1) < 2e-4)   // tails beyond ±5000 hold 1.3e-4
        for shape in [{ PeakShape.gaussian($0, centre: 0, fwhm: 2) }, { PeakShape.lorentzian($0, centre: 0, fwhm: 2) },
                      { PeakShape.pseudoVoigt($0, centre: 0, fwhm: 2, eta: 0.4) }] as [(Double) -> Double] {
            #expect(abs(shape(1) / shape(0) - 0.5) < 1e-3)
        }
        let peak = PseudoVoigtPeak(centre: 93.9, fwhm: 1, eta: 0.5, area: 10)
        #expect(peak.height > 0 && peak.value(at: 100) < peak.height)
    }

    @Test func percentilesFollowNumPyLinearMethod() {
        #expect(Statistics.percentile([1, 2, 3, 4], 25) == 1.75)
        #expect(Statistics.median([5, 1, 3]) == 3)
        #expect(Statistics.percentiles([10, 20, 30, 40, 50], [0, 10, 100]) == [10, 14, 50])
        #expect(Statistics.histogram([0, 0.5, 1, 1, 2], binCount: 2, range: 0...2) == [2, 3])
        #expect(abs(Statistics.standardDeviation([2, 4, 4, 4, 5, 5, 7, 9], ddof: 0) - 2) < 1e-12)
    }

    /// Large inputs take the selection path: the same order statistics as a sort, so the same
    /// values exactly, ties and even counts included.
    @Test func percentilesOfLargeInputsBySelectionEqualTheSortedOnes() {
        var rng = SeededRandom(seed: 5)
        let values = (0..<20_001).map { _ in (rng.normal() * 4).rounded() / 2 }   // many ties
        let sorted = values.sorted()
        for p in [0.0, 1, 25, 50, 62.5, 99, 100] {
            let rank = p / 100 * Double(sorted.count - 1)
            let lo = Int(rank.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
            #expect(Statistics.percentile(values, p) == sorted[lo] + (rank - Double(lo)) * (sorted[hi] - sorted[lo]), "p \(p)")
        }
        let even = Array(values.dropLast()), evenSorted = even.sorted()
        #expect(Statistics.median(even) == evenSorted[9_999] + 0.5 * (evenSorted[10_000] - evenSorted[9_999]))
    }

    @Test func runningStatisticsMergeEqualsDirect() {
        var rng = SeededRandom(seed: 2)
        let values = (0..<1000).map { _ in rng.normal() * 3 + 1 }
        var a = RunningStatistics(), b = RunningStatistics()
        for v in values[..<300] { a.add(v) }
        for v in values[300...] { b.add(v) }
        a.merge(b)
        #expect(abs(a.mean - Statistics.mean(values)) < 1e-12)
        #expect(abs(a.variance - Statistics.variance(values)) < 1e-10)
        #expect(a.count == 1000)
    }

    @Test func linearInterpolationAndItsRefusalToExtrapolate() throws {
        let f = try LinearInterpolation(x: [0, 1, 3], y: [0, 10, 30])
        #expect(try f.value(at: 2) == 20)
        #expect(try f.values(at: [0, 0.5, 3]) == [0, 5, 30])
        #expect(throws: LensError.self) { try f.value(at: 3.5) }
        #expect(try f.value(at: -1, extrapolation: .clamp) == 0)
        #expect(try f.value(at: 4, extrapolation: .nan).isNaN)
        #expect(throws: LensError.self) { try LinearInterpolation(x: [0, 0, 1], y: [1, 2, 3]) }
    }
}
