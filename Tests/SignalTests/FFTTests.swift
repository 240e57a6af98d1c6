import Foundation
import LensCore
import Signal
import Testing

/// Direct O(N²) DFT along one axis of a row-major complex array: the reference every FFT
/// test compares against.
func directDFT(_ values: [ComplexFloat64], shape: [Int], axis: Int, inverse: Bool = false) -> [ComplexFloat64] {
    let s = Shape(shape)
    let strides = s.strides
    let n = shape[axis]
    var out = [ComplexFloat64](repeating: .zero, count: values.count)
    let sign = inverse ? 1.0 : -1.0
    for index in 0..<values.count {
        let k = (index / strides[axis]) % n
        let base = index - k * strides[axis]
        var sum = ComplexFloat64.zero
        for j in 0..<n {
            let angle = sign * 2 * Double.pi * Double(j * k) / Double(n)
            sum = sum + values[base + j * strides[axis]] * ComplexFloat64(cos(angle), sin(angle))
        }
        out[index] = inverse ? sum * (1 / Double(n)) : sum
    }
    return out
}

func maxDifference(_ a: [ComplexFloat64], _ b: [ComplexFloat64]) -> Double {
    zip(a, b).map { ($0 - $1).magnitude }.max() ?? 0
}

@Suite struct FFTTests {
    var rng = SeededRandom(seed: 11)

    mutating func randomReal(_ count: Int) -> [Double] { (0..<count).map { _ in rng.uniform() * 2 - 1 } }

    @Test mutating func realForward1DMatchesDirectDFT() {
        for n in [1, 2, 7, 16, 30, 97] {
            let x = randomReal(n)
            let spectrum = FFT.forward(Grid(shape: Shape(n), elements: x))
            let reference = directDFT(x.map { ComplexFloat64($0) }, shape: [n], axis: 0)
            #expect(spectrum.shape == Shape(n / 2 + 1))
            #expect(maxDifference(spectrum.elements, Array(reference[0...(n / 2)])) < 1e-10 * Double(n))
        }
    }

    @Test mutating func realForward2DMatchesSeparableDirectDFT() {
        let shape = [6, 10]
        let x = randomReal(60)
        let spectrum = FFT.forward(Grid(shape: Shape(shape), elements: x))
        var reference = directDFT(x.map { ComplexFloat64($0) }, shape: shape, axis: 1)
        reference = directDFT(reference, shape: shape, axis: 0)
        for r in 0..<6 { for c in 0...5 {
            #expect((spectrum[r, c] - reference[r * 10 + c]).magnitude < 1e-10)
        } }
    }

    @Test mutating func transformAlongTheMiddleAxisOfAVolume() {
        let shape = [3, 8, 5]
        let x = randomReal(120).map { ComplexFloat64($0, 0.5 * $0) }
        let result = FFT.transform(Grid(shape: Shape(shape), elements: x), axes: [1])
        #expect(maxDifference(result.elements, directDFT(x, shape: shape, axis: 1)) < 1e-10)
        let back = FFT.transform(result, axes: [1], inverse: true)
        #expect(maxDifference(back.elements, x) < 1e-12)
    }

    @Test mutating func inverseRealRoundTripsInSingleAndDoublePrecision() {
        let x = randomReal(4 * 9 * 14)
        let g = Grid(shape: Shape(4, 9, 14), elements: x)
        let back = FFT.inverse(FFT.forward(g), realShape: g.shape)
        #expect(zip(back.elements, x).map { abs($0 - $1) }.max()! < 1e-12)
        let f = Grid(shape: Shape(4, 9, 14), elements: x.map { Float($0) })
        let backF = FFT.inverse(FFT.forward(f, axes: [2]), realShape: f.shape, axes: [2])
        #expect(zip(backF.elements, x).map { abs(Double($0) - $1) }.max()! < 1e-5)
    }

    @Test mutating func batchedRealFFTObjectMatchesDirectDFT() {
        let n = 24, batch = 5
        let plan = RealFFT<Float>(length: n, batch: batch)
        let x = randomReal(n * batch)
        for i in 0..<(n * batch) { plan.input[i] = Float(x[i]) }
        plan.forward()
        for b in 0..<batch {
            let reference = directDFT(x[(b * n)..<((b + 1) * n)].map { ComplexFloat64($0) }, shape: [n], axis: 0)
            for k in 0...(n / 2) {
                let v = plan.spectrum[b * plan.bins + k]
                #expect(abs(Double(v.real) - reference[k].real) < 1e-4 && abs(Double(v.imaginary) - reference[k].imaginary) < 1e-4)
            }
        }
        plan.inverse()
        for i in 0..<(n * batch) { #expect(abs(Double(plan.input[i]) - x[i]) < 1e-5) }
    }

    @Test func helpers() {
        #expect(FFT.frequencies(count: 5) == [0, 0.2, 0.4, -0.4, -0.2])
        #expect(FFT.fastLength(atLeast: 1021) == 1024)
        #expect(FFT.fastLength(atLeast: 997) == 1000)
    }

    @Test func plansAreSafeToUseFromManyThreads() {
        let n = 64
        let expected = FFT.forward(Grid(shape: Shape(n), elements: (0..<n).map { Double($0 % 5) })).elements
        let failures = Collected()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let plan = RealFFT<Double>(length: n)
            for i in 0..<n { plan.input[i] = Double(i % 5) }
            plan.forward()
            for k in 0..<plan.bins where (plan.spectrum[k] - expected[k]).magnitude > 1e-9 { failures.add() }
        }
        #expect(failures.count == 0)
    }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}
