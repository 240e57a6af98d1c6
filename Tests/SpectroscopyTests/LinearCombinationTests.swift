import Foundation
import LensCore
import Spectroscopy
import Testing

/// Linear combination fitting through its public API, against ground truth and against an
/// exhaustive search of the constrained problem: the prepared-face solution must be the exact
/// optimum, weights at a bound keep the unconstrained face's errors, and a singular full face
/// (two identical references) falls back to the chosen face's own errors.
@Suite struct LinearCombinationTests {
    let energies = Array(stride(from: 8300.0, through: 8400, by: 2))

    /// Three edge-like references with different edge energies and white lines.
    func reference(_ name: String, edge: Double, white: Double) throws -> ReferenceSpectrum {
        let values = energies.map { e in 0.5 + atan((e - edge) / 1.5) / .pi + white * exp(-0.5 * pow((e - edge - 6) / 4, 2)) }
        return try ReferenceSpectrum(name: name, energies: energies, values: values)
    }

    func mixture(_ refs: [ReferenceSpectrum], _ weights: [Double], noise: Double, seed: UInt64) -> [Double] {
        var random = SeededRandom(seed: seed)
        return energies.indices.map { k in zip(refs, weights).reduce(0.0) { $0 + $1.1 * $1.0.values[k] } + noise * random.normal() }
    }

    func rss(_ refs: [ReferenceSpectrum], _ weights: [Double], _ y: [Double]) -> Double {
        energies.indices.reduce(0.0) { sum, k in
            let r = y[k] - zip(refs, weights).reduce(0.0) { $0 + $1.1 * $1.0.values[k] }
            return sum + r * r
        }
    }

    @Test func exactOptimumWithAWeightAtItsBound() throws {
        let refs = [try reference("a", edge: 8340, white: 0.5), try reference("b", edge: 8344, white: 0.3), try reference("c", edge: 8348, white: 0.8)]
        let fit = try LinearCombinationFit(references: refs, energies: energies)
        // c is absent from the mixture, and the noise pushes its unconstrained weight below zero
        // for some seeds: the constrained optimum then lies on the face {a, b}.
        var boundSeen = false
        for seed in UInt64(1)...6 {
            let y = mixture(refs, [0.3, 0.7, 0], noise: 0.01, seed: seed)
            let sigma = [Double](repeating: 0.01, count: y.count)
            let result = y.withUnsafeBufferPointer { yp in sigma.withUnsafeBufferPointer { fit.fit(yp.baseAddress!, sigma: $0.baseAddress!) } }
            #expect(abs(result.weights.reduce(0, +) - 1) < 1e-12)
            #expect(result.weights.allSatisfy { $0 >= 0 })
            #expect(abs(result.weights[0] - 0.3) < 0.05 && abs(result.weights[1] - 0.7) < 0.05, "seed \(seed): \(result.weights)")
            // No point of the simplex (0.002 grid) fits better than the returned weights.
            var bestGrid = Double.infinity
            for i in 0...500 { for j in 0...(500 - i) {
                bestGrid = min(bestGrid, rss(refs, [Double(i) / 500, Double(j) / 500, Double(500 - i - j) / 500], y))
            } }
            let ours = rss(refs, result.weights, y)
            #expect(ours <= bestGrid + 1e-12, "seed \(seed): RSS \(ours) vs grid \(bestGrid)")
            #expect(abs(result.rFactor - ours / y.reduce(0) { $0 + $1 * $1 }) < 1e-12)
            // Standard errors are positive for every reference, the one at its bound included.
            #expect(result.standardErrors.allSatisfy { $0 > 0 && $0.isFinite })
            if result.weights[2] == 0 { boundSeen = true }
        }
        #expect(boundSeen, "no seed put the absent reference at its bound")
    }

    @Test func withoutSumToOne() throws {
        let refs = [try reference("a", edge: 8340, white: 0.5), try reference("b", edge: 8346, white: 0.2)]
        let fit = try LinearCombinationFit(references: refs, energies: energies, sumToOne: false)
        let y = mixture(refs, [0.5, 0.2], noise: 0, seed: 1)
        let result = y.withUnsafeBufferPointer { fit.fit($0.baseAddress!) }
        #expect(abs(result.weights[0] - 0.5) < 1e-9 && abs(result.weights[1] - 0.2) < 1e-9, "\(result.weights)")
        #expect(result.rFactor < 1e-20)
    }

    @Test func singularFullFaceUsesTheChosenFacesErrors() throws {
        let a = try reference("a", edge: 8340, white: 0.5), b = try reference("b", edge: 8345, white: 0.3)
        let copy = try ReferenceSpectrum(name: "a copy", energies: a.energies, values: a.values)
        let fit = try LinearCombinationFit(references: [a, b, copy], energies: energies)
        let y = mixture([a, b], [0.4, 0.6], noise: 0.005, seed: 3)
        let sigma = [Double](repeating: 0.005, count: y.count)
        let result = y.withUnsafeBufferPointer { yp in sigma.withUnsafeBufferPointer { fit.fit(yp.baseAddress!, sigma: $0.baseAddress!) } }
        // a and its copy are interchangeable: their weights together are a's share.
        #expect(abs(result.weights[0] + result.weights[2] - 0.4) < 0.03, "\(result.weights)")
        #expect(abs(result.weights.reduce(0, +) - 1) < 1e-12)
        // The errors come from the chosen two-reference face: finite, positive on its members.
        #expect(result.standardErrors.allSatisfy { $0.isFinite })
        #expect(result.standardErrors[1] > 0)
        // Same fit as the two-reference problem.
        let two = try LinearCombinationFit(references: [a, b], energies: energies)
        let reference = y.withUnsafeBufferPointer { yp in sigma.withUnsafeBufferPointer { two.fit(yp.baseAddress!, sigma: $0.baseAddress!) } }
        #expect(abs(result.rFactor - reference.rFactor) < 1e-12)
        #expect(abs(result.standardErrors[1] - reference.standardErrors[1]) < 1e-12)
    }
}
