import Foundation
import LensCore
import LensIO
import Microstructure
import Testing

/// Against TauFactor 2 itself (torch, CPU) on crops of the MATBOX cathode (fixture made once by
/// Benchmarks/peers/taufactor_reference.py), the tolerance 0.5 %.
@Suite struct TauFactorPeerTests {
    struct Fixture: Decodable {
        struct Electrode: Decodable { var crop: [[Int]]; var tau_e: Double }
        struct MultiPhase: Decodable { var crop: [[Int]]; var conductivities: [String: Double]; var D_eff: Double; var tau: Double }
        var electrode: [Electrode]
        var multiphase: [MultiPhase]
    }

    static func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/taufactor_matbox.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func crop(_ labels: Grid<Int32>, _ c: [[Int]]) -> Grid<Int32> {
        let d = labels.shape.dims
        let (ez, ey, ex) = (c[0][1] - c[0][0], c[1][1] - c[1][0], c[2][1] - c[2][0])
        return Grid<Int32>(shape: Shape(ez, ey, ex)) { i in
            let (z, y, x) = (i / (ey * ex), (i / ex) % ey, i % ex)
            return labels[linear: ((z + c[0][0]) * d[1] + y + c[1][0]) * d[2] + x + c[2][0]]
        }
    }

    /// ElectrodeSolver's τ_e (its SOR run at falling ω until τ_e settles) against ours (the
    /// exact ω → 0 limit), along TauFactor's first axis (our z).
    @Test func electrodeTortuosityMatchesElectrodeSolver() throws {
        let fixture = try Self.fixture()
        let labels = try VolumeIO.read(sharedData + "/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif").converted(to: Int32.self)
        for case let e in fixture.electrode {
            let pore = Self.crop(labels, e.crop).map { $0 == 0 ? UInt8(1) : 0 }
            let ours = try ElectrodeTortuosity.compute(phase: pore, axis: 0)
            print("τ_e \(e.crop): ours \(ours.electrodeTortuosityFactor), TauFactor \(e.tau_e)")
            #expect(abs(ours.electrodeTortuosityFactor / e.tau_e - 1) < 0.005)
        }
    }

    /// MultiPhaseSolver's D_eff and τ (pore insulating, NMC κ = 1, carbon–binder κ = 10).
    @Test func multiPhaseConductivityMatchesMultiPhaseSolver() throws {
        let fixture = try Self.fixture()
        let labels = try VolumeIO.read(sharedData + "/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif").converted(to: Int32.self)
        for m in fixture.multiphase {
            var kappa: [Int: Double] = [0: 0]
            for (code, value) in m.conductivities { kappa[Int(code)!] = value }
            let ours = try MultiPhaseConductivity.compute(labels: Self.crop(labels, m.crop), conductivities: kappa, axis: 0)
            print("multi-phase \(m.crop): κ_eff ours \(ours.effectiveConductivity), TauFactor \(m.D_eff); τ ours \(ours.tortuosityFactor), TauFactor \(m.tau)")
            #expect(abs(ours.effectiveConductivity / m.D_eff - 1) < 0.005)
            #expect(abs(ours.tortuosityFactor / m.tau - 1) < 0.005)
        }
    }
}
