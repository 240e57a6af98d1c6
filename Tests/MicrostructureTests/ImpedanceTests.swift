import Foundation
import LensCore
import Microstructure
import Testing

@Suite struct ImpedanceTests {
    /// One straight pore channel (1 × 1 voxels) through a 3 × 3 × 192 block (ε = 1/9): the
    /// analytic transmission line is Z̃ = 9·coth(√(iω̃))/√(iω̃) with a blocking outlet and
    /// 9·tanh(√(iω̃))/√(iω̃) with a fixed one. Every frequency from ω̃ = 0.01 to 1000 within
    /// 0.5 % (the tolerance; the finite volumes resolve the penetration depth
    /// L√(2/ω̃) ≥ 8.6 voxels; at 128 voxels the error at ω̃ = 1000 is 0.76 %, falling as h²), the fit gives τ = 1 within 0.5 %, and the Nyquist line's angle
    /// at the high-frequency end is 45° within 1°.
    @Test(arguments: [ImpedanceSettings.Outlet.blocking, .fixed])
    func straightChannelMatchesTheTransmissionLine(outlet: ImpedanceSettings.Outlet) throws {
        let length = 192
        let phase = Grid<UInt8>(shape: Shape(length, 3, 3)) { i in i % 9 == 4 ? 1 : 0 }
        var settings = ImpedanceSettings(normalizedFrequencies: Impedance.logSpaced(from: 0.01, to: 1000, count: 16))
        settings.outlet = outlet
        let result = try Impedance.sweep(phase: phase, axis: 0, settings: settings)
        var worst = 0.0
        for point in result.points {
            let w = point.normalizedFrequency
            let a = (w / 2).squareRoot(), x = 2 * a
            let (fr, fi) = outlet == .blocking ? (sinh(x) / (cosh(x) - cos(x)), -sin(x) / (cosh(x) - cos(x)))
                                               : (sinh(x) / (cosh(x) + cos(x)), sin(x) / (cosh(x) + cos(x)))
            let (kr, ki) = (1 / (2 * a), -1 / (2 * a))
            let (er, ei) = (9 * (fr * kr - fi * ki), 9 * (fr * ki + fi * kr))
            let error = ((point.real - er) * (point.real - er) + (point.imaginary - ei) * (point.imaginary - ei)).squareRoot() / (er * er + ei * ei).squareRoot()
            worst = max(worst, error)
            #expect(point.converged)
        }
        let fit = try #require(result.fit)
        print("impedance \(outlet.rawValue): worst relative error \(worst); fit τ \(fit.tortuosityFactor), C̃ \(fit.capacitance); high-frequency angle \(result.highFrequencyAngleDegrees ?? .nan)°; iterations \(result.points.map(\.iterations))")
        #expect(worst < 0.005)
        #expect(abs(fit.tortuosityFactor - 1) < 0.005)
        #expect(abs((result.highFrequencyAngleDegrees ?? 0) - 45) < 1)
    }

    /// On a random porous block, τ from the impedance agrees with the steady-state τ of
    /// ``Tortuosity``: the low-frequency limit of Z̃ (fixed outlet) is τ/ε to 0.1 %, and the
    /// transmission-line fit over the sweep gives τ within 1 % (the target; measured
    /// 0.2 %: the block is not a homogeneous line).
    @Test func tortuosityFromImpedanceEqualsSteadyState() throws {
        var rng = SeededRandom(seed: 4)
        // Overlapping solid balls in 40³: a connected pore space with dead ends.
        let n = 40
        var solid = [Bool](repeating: false, count: n * n * n)
        for _ in 0..<60 {
            let c = (0..<3).map { _ in rng.uniform() * Double(n) }, r = 2 + 3 * rng.uniform()
            for z in 0..<n { for y in 0..<n { for x in 0..<n {
                let d = (Double(z) - c[0]) * (Double(z) - c[0]) + (Double(y) - c[1]) * (Double(y) - c[1]) + (Double(x) - c[2]) * (Double(x) - c[2])
                if d <= r * r { solid[(z * n + y) * n + x] = true }
            } } }
        }
        let pore = Grid<UInt8>(shape: Shape(n, n, n), elements: solid.map { $0 ? 0 : 1 })
        let steady = try Tortuosity.compute(phase: pore, axis: 0)
        var settings = ImpedanceSettings(normalizedFrequencies: Impedance.logSpaced(from: 0.01, to: 100, count: 10))
        settings.outlet = .fixed
        let result = try Impedance.sweep(phase: pore, axis: 0, settings: settings)
        let fit = try #require(result.fit)
        let lowest = result.points[0]
        print("random block: steady τ \(steady.tortuosityFactor) (ε \(steady.volumeFraction)); impedance fit τ \(fit.tortuosityFactor), ε·Re Z̃(0.01) \(steady.volumeFraction * lowest.real), misfit \(fit.relativeMisfit)")
        #expect(abs(steady.volumeFraction * lowest.real / steady.tortuosityFactor - 1) < 0.01)
        #expect(abs(fit.tortuosityFactor / steady.tortuosityFactor - 1) < 0.01)
    }

    /// Each frequency of a sweep starts from the previous one's field: the spectrum equals that
    /// of frequencies solved alone (from zero) to the solver tolerance, in fewer iterations.
    @Test func warmStartedSweepEqualsColdSolves() throws {
        var rng = SeededRandom(seed: 9)
        let n = 24
        let pore = Grid<UInt8>(shape: Shape(n, n, n), elements: (0..<(n * n * n)).map { _ in rng.uniform() < 0.7 ? 1 : 0 })
        let frequencies = Impedance.logSpaced(from: 0.01, to: 100, count: 6)
        let sweep = try Impedance.sweep(phase: pore, axis: 0, settings: ImpedanceSettings(normalizedFrequencies: frequencies))
        var coldIterations = 0
        for (k, f) in frequencies.enumerated() {
            let alone = try Impedance.sweep(phase: pore, axis: 0, settings: ImpedanceSettings(normalizedFrequencies: [f])).points[0]
            coldIterations += alone.iterations
            let p = sweep.points[k]
            let magnitude = (alone.real * alone.real + alone.imaginary * alone.imaginary).squareRoot()
            #expect(abs(p.real - alone.real) <= 1e-4 * magnitude && abs(p.imaginary - alone.imaginary) <= 1e-4 * magnitude, "ω̃ \(f): \(p) vs \(alone)")
        }
        #expect(sweep.points.reduce(0) { $0 + $1.iterations } < coldIterations)
    }

    /// The tolerance is the accuracy of Z̃: against a solve to 1e-12 on a random 32³ pore block
    /// over the default 20 frequencies, every Z̃ at tolerance t (the default 1e-5, and 1e-3,
    /// 1e-7) lies within t of its magnitude (on TauFactor's 256³ electrode: within t/5), and the
    /// looser tolerances take fewer iterations (the default at most ¾ of the reference's).
    @Test func toleranceIsTheAccuracyOfTheImpedance() throws {
        var rng = SeededRandom(seed: 4)
        let n = 32
        let pore = Grid<UInt8>(shape: Shape(n, n, n), elements: (0..<(n * n * n)).map { _ in rng.uniform() < 0.6 ? 1 : 0 })
        var tight = ImpedanceSettings()
        tight.tolerance = 1e-12
        let reference = try Impedance.sweep(phase: pore, axis: 0, settings: tight)
        var counts: [Int] = []
        for tolerance in [1e-3, ImpedanceSettings().tolerance, 1e-7] {
            var settings = ImpedanceSettings()
            settings.tolerance = tolerance
            let loose = try Impedance.sweep(phase: pore, axis: 0, settings: settings)
            let worst = zip(loose.points, reference.points).map { a, b in hypot(a.real - b.real, a.imaginary - b.imaginary) / b.magnitude }.max() ?? .infinity
            let iterations = loose.points.reduce(0) { $0 + $1.iterations }
            print(String(format: "impedance at tolerance %.0e: worst |ΔZ̃|/|Z̃| %.2e, %d iterations (1e-12: %d)", tolerance, worst, iterations, reference.points.reduce(0) { $0 + $1.iterations }))
            #expect(worst <= tolerance, "tolerance \(tolerance): worst \(worst)")
            #expect(loose.points.allSatisfy { $0.converged })
            counts.append(iterations)
        }
        #expect(counts[0] < counts[1] && counts[1] < counts[2], "iterations \(counts)")
        // The default takes at most three quarters of the reference's iterations (measured: 40 %).
        #expect(Double(counts[1]) <= 0.75 * Double(reference.points.reduce(0) { $0 + $1.iterations }))
    }
}
