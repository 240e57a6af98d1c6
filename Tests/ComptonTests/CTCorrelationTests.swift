import Compton
import Foundation
import LensCore
import Signal
import Testing

/// Compton ↔ CT correlation on a synthetic electrode whose porosity varies across the detector
/// plane and with depth, and Compton maps made from it with a known shift and noise.
@Suite struct CTCorrelationTests {
    /// Labels (z, y, x): 3 depth regions of 10 slices on 160×160 voxels (1 µm); each voxel pore
    /// (0) with a probability that varies smoothly in (y, x) and by region, else active (1);
    /// a separator (4) slab on top that must count as neither.
    static func labels() -> (Grid<Int32>, (Int, Int, Int) -> Double) {
        var rng = SeededRandom(seed: 11)
        let field = { @Sendable (region: Int, y: Int, x: Int) -> Double in
            0.25 + 0.05 * Double(region) + 0.15 * sin(Double(x) / 18) * cos(Double(y) / 23)
        }
        var values = [Int32](repeating: 4, count: 32 * 160 * 160)
        for i in (2 * 160 * 160)..<values.count {
            let z = i / (160 * 160), y = (i / 160) % 160, x = i % 160
            values[i] = rng.uniform() < field((z - 2) / 10, y, x) ? 0 : 1
        }
        return (Grid(shape: Shape(32, 160, 160), elements: values), field)
    }

    @Test func projectionRegistrationAndCorrelation() throws {
        let (volume, field) = CTCorrelationTests.labels()
        let regions = [2..<12, 12..<22, 22..<32]
        let projections = try ComptonCTCorrelation.project(labels: volume, phases: .init(), regions: regions, ctVoxelMicrometres: 1,
                                                           comptonPixelMicrometres: 4, comptonShape: (40, 40))
        // Porosity per Compton pixel matches the field averaged over its 4×4×10 voxels (binomial noise of 160 voxels: σ ≈ 0.035).
        var error = 0.0
        for y in 0..<40 { for x in 0..<40 {
            var truth = 0.0
            for dy in 0..<4 { for dx in 0..<4 { truth += field(1, 4 * y + dy, 4 * x + dx) / 16 } }
            error += pow(projections[1].porosity[y, x] - truth, 2)
        } }
        #expect((error / 1600).squareRoot() < 0.05)
        #expect(projections.allSatisfy { p in p.electrodeFraction.elements.allSatisfy { abs($0 - 1) < 1e-9 } })

        // Compton maps of region 2: area ∝ solid fraction, (1 − x) = 0.2 + 0.6·porosity + noise, both
        // moved by (2.3, −1.6) pixels as if the detector saw the sample displaced.
        var rng = SeededRandom(seed: 5)
        let truthShift = (2.3, -1.6)
        let area = ImageRegistration.shifted(projections[1].solidFraction, rows: truthShift.0, columns: truthShift.1)
        let porosity = ImageRegistration.shifted(projections[1].porosity, rows: truthShift.0, columns: truthShift.1)
        let lithium = Grid<Double>(shape: porosity.shape, elements: porosity.elements.map { 0.2 + 0.6 * $0 + 0.01 * (rng.uniform() - 0.5) })
        let result = try ComptonCTCorrelation.correlate(region: 2, ct: projections[1], comptonArea: area, comptonLithium: lithium)
        #expect(abs(result.shift.rows - truthShift.0) < 0.25 && abs(result.shift.columns - truthShift.1) < 0.25, "shift \(result.shift)")
        #expect(result.pearson > 0.95, "r \(result.pearson)")
        #expect(abs(result.slope - 0.6) < 0.06, "slope \(result.slope)")
    }

    @Test func registrationFindsSubPixelShifts() throws {
        let image = Grid<Double>(shape: Shape(64, 64)) { i in
            let (y, x) = (Double(i / 64), Double(i % 64))
            return exp(-pow(x - 30, 2) / 40 - pow(y - 25, 2) / 60) + 0.5 * exp(-pow(x - 45, 2) / 20 - pow(y - 44, 2) / 30)
        }
        for (dy, dx) in [(0.0, 0.0), (3.4, -2.7), (-7.25, 5.5)] {
            let moved = ImageRegistration.shifted(image, rows: dy, columns: dx)
            let s = try ImageRegistration.translation(reference: image, moving: moved)
            #expect(abs(s.rows - dy) < 0.1 && abs(s.columns - dx) < 0.1, "(\(dy), \(dx)) → \(s.rows), \(s.columns)")
        }
    }
}
