import Foundation
import LensCore
import LensIO
import Microstructure
import Testing

@Suite struct ElectrodeTortuosityTests {
    /// A one-voxel channel through a 3×3 cross-section of solid: a discrete transmission line
    /// whose low-frequency resistance has a closed form. Each channel voxel has four wall faces
    /// (the last five), so it draws s_k = c_k/C of the current (C = 4N + 1); the current through
    /// link j is Σ_{m≥j} s_m and Re Z₀ = Σ_j (Σ_{m≥j} s_m)² + 1/(2C). τ_e = ε·3·Re Z₀·A/(N + 2).
    @Test func channelMatchesTheDiscreteTransmissionLine() throws {
        let n = 30
        let channel = Grid<UInt8>(shape: Shape(n, 3, 3)) { $0 % 9 == 4 ? 1 : 0 }
        let result = try ElectrodeTortuosity.compute(phase: channel, axis: 0)
        let c = (0..<n).map { $0 == n - 1 ? 5.0 : 4.0 }
        let total = c.reduce(0, +)
        var expected = 1 / (2 * total)
        for j in 0..<n { let through = c[j...].reduce(0, +) / total; expected += through * through }
        #expect(result.interfaceFaces == 4 * n + 1)
        #expect(abs(result.lowFrequencyResistance / expected - 1) < 1e-6)
        let tau = (1.0 / 9) * 3 * expected * 9 / Double(n + 2)
        #expect(abs(result.electrodeTortuosityFactor / tau - 1) < 1e-6)
        // A pore that does not reach the inlet face carries nothing; an empty one is refused.
        #expect(throws: LensError.self) { try ElectrodeTortuosity.compute(phase: Grid<UInt8>(shape: Shape(4, 3, 3)) { $0 >= 9 && $0 % 9 == 4 && $0 < 18 ? 1 : 0 }, axis: 0) }
        #expect(throws: LensError.self) { try ElectrodeTortuosity.compute(phase: Grid<UInt8>(shape: Shape(4, 3, 3), geometry: GridGeometry(voxelSizeMicrometres: [2, 1, 1]), repeating: 1), axis: 0) }
    }
}
