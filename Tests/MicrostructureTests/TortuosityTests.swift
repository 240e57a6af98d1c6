import Foundation
import LensCore
import LensIO
import Microstructure
import Testing

/// Tortuosity against TauFactor's analytic cases and published values (../shared/data/README).
@Suite struct TortuosityTests {
    /// A uniform block conducts like free space: τ = 1 along every axis (exact up to the
    /// solver tolerance; TauFactor asserts 1.00000 to 5 decimals). TauFactor's version has one
    /// empty row, which changes neither ε/τ nor τ.
    @Test func uniformBlockHasTortuosityOne() throws {
        let block = mask(20, 20, 20) { _, y, _ in y != 0 }
        for axis in [0, 2] {
            let result = try Tortuosity.compute(phase: block, axis: axis)
            #expect(abs(result.tortuosityFactor - 1) < 1e-4, "axis \(axis): τ = \(result.tortuosityFactor)")
            #expect(result.converged)
        }
    }

    /// TauFactor's slanted strip: 20×21×21, layer i holds the 2×2 square at (i…i+1, i…i+1);
    /// τ = 7.51667 (its test asserts this to 5 decimals; we require 1e-4 relative).
    @Test func slantedStripMatchesTauFactor() throws {
        let strip = mask(20, 21, 21) { z, y, x in (z...(z + 1)).contains(y) && (z...(z + 1)).contains(x) }
        let result = try Tortuosity.compute(phase: strip, axis: 0, settings: .init(tolerance: 1e-7))
        print("slanted strip τ", result.tortuosityFactor, result.iterations)
        #expect(abs(result.tortuosityFactor - 7.51667) / 7.51667 < 1e-4)
    }

    /// A dead-end pore (TauFactor's case: a line of 8 voxels in a 10-voxel-thick volume) does
    /// not percolate: D_eff = 0 and τ = ∞, reported and not thrown.
    @Test func deadEndPoreIsInfinite() throws {
        let pore = mask(10, 50, 50) { z, y, x in z < 8 && y == 25 && x == 25 }
        let result = try Tortuosity.compute(phase: pore, axis: 0)
        #expect(result.relativeDiffusivity == 0)
        #expect(result.tortuosityFactor == .infinity)
        #expect(!result.percolates)
    }

    @Test func emptyAndNonBinaryPhasesAreRefusedClearly() throws {
        let empty = mask(4, 4, 4) { _, _, _ in false }
        #expect(throws: LensError.self) { try Tortuosity.compute(phase: empty, axis: 0) }
        let notBinary = Grid<UInt8>(shape: Shape(4, 4, 4), repeating: 85)
        do { _ = try Tortuosity.compute(phase: notBinary, axis: 0); Issue.record("accepted non-binary input") } catch {
            #expect("\(error)".contains("binary"))
        }
    }

    /// Isolated pores count in TauFactor's ε but carry no flux: a straight channel plus an
    /// isolated cube gives τ = ε/ε_channel and a percolating τ of exactly 1.
    @Test func isolatedPoresEnterOnlyTheTauFactorConvention() throws {
        let pores = mask(16, 16, 16) { z, y, x in (y < 4 && x < 4) || ((8..<12).contains(y) && (8..<12).contains(x) && (6..<10).contains(z)) }
        let result = try Tortuosity.compute(phase: pores, axis: 0)
        let channel = 16.0 * 16 / 4096, isolated = 64.0 / 4096
        #expect(abs(result.percolatingTortuosityFactor - 1) < 1e-4)
        #expect(abs(result.tortuosityFactor - (channel + isolated) / channel) < 1e-4)
    }

    /// The TauFactor example electrode (256³, pores = 0): τ_x = 2.0776 published (±0.5 %).
    @Test func tauFactorElectrodePoreTortuosityAlongX() throws {
        let labels = try VolumeIO.read(sharedData + "/microstructure/taufactor_electrode_256.tiff")
        let pores = try phase(labels, equal: 0)
        let start = Date()
        let result = try Tortuosity.compute(phase: pores, axis: 0)
        print("electrode τx", result.tortuosityFactor, "ε", result.volumeFraction, "Deff", result.relativeDiffusivity,
              "iterations", result.iterations, "imbalance", result.fluxImbalance, "s", Date().timeIntervalSince(start))
        #expect(abs(result.volumeFraction - 0.4499) < 5e-5)
        #expect(abs(result.tortuosityFactor - 2.0776) / 2.0776 < 0.005)
        #expect(abs(result.relativeDiffusivity - 0.2166) / 0.2166 < 0.005)
    }

    /// D_eff comes from the adjoint-corrected fluxes, whose error is quadratic in the field's:
    /// at tolerance t (1e-3 and the default 1e-5) it lies within t of a solve to 1e-12 on a
    /// random 48³ pore block, the estimate the solve stops on is at least the actual error, and
    /// the field's own fluxes (first order) are further off than the corrected value.
    @Test func toleranceBoundsTheErrorOfTheCorrectedFlux() throws {
        var rng = SeededRandom(seed: 17)
        let n = 48
        let pore = Grid<UInt8>(shape: Shape(n, n, n), elements: (0..<(n * n * n)).map { _ in rng.uniform() < 0.55 ? 1 : 0 })
        let reference = try Tortuosity.compute(phase: pore, axis: 0, settings: .init(tolerance: 1e-12)).relativeDiffusivity
        for tolerance in [1e-3, Tortuosity.Settings().tolerance] {
            let result = try Tortuosity.compute(phase: pore, axis: 0, settings: .init(tolerance: tolerance))
            let error = abs(result.relativeDiffusivity / reference - 1)
            let estimate = try #require(result.estimatedRelativeError)
            print(String(format: "tortuosity at tolerance %.0e: %d iterations, error %.1e, estimate %.1e, field imbalance %.1e",
                         tolerance, result.iterations, error, estimate, result.fluxImbalance))
            #expect(result.converged)
            #expect(error <= tolerance)
            #expect(error <= estimate)
            #expect(error < result.fluxImbalance)
        }
    }
}

/// TauFactor's TF-500 benchmark cube (500³, conducting fraction 0.30): τ = 1.1513, 1.3905,
/// 4.2431 along its three axes (published, ±0.5 %). The published list is not in the order of
/// the array as read here (pages, rows, columns): the cube's elongated features ("1x2x6") make
/// the page axis the tortuous one, so the values belong to axes 1, 2 and 0. Measured
/// 2026-11-23: 1.15127, 1.39053, 4.24312 (within 0.01 %) in 300 s on two cores; 120 s on
/// 2026-12-03 with the over-corrected V-cycle (35, 40, 40 CG iterations); 32 s on 2026-12-05
/// over a bitmap finest level (7, 7, 8 iterations, τ 1.15127, 1.39052, 4.24308). Three
/// 37.5-million-unknown solves take minutes, so this runs only with BATTERYLENS_LONG_TESTS=1.
@Suite struct LongTortuosityTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BATTERYLENS_LONG_TESTS"] == "1"))
    func tf500CubeMatchesPublishedValues() throws {
        let folder = NSTemporaryDirectory() + "batterylens-tf500-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let unzip = Process()
        unzip.executableURL = URL(fileURLWithPath: "/usr/bin/unzip")
        unzip.arguments = ["-q", sharedData + "/microstructure/taufactor_TF-500x500x500-1x2x6-v3.tiff.zip", "-x", "__MACOSX/*", "-d", folder]
        try unzip.run(); unzip.waitUntilExit()
        let volume = try VolumeIO.read(folder + "/TF-500x500x500-1x2x6-v3.tiff")
        let values = Set(try volume.converted(to: Float.self).elements.prefix(100_000))
        let conducting = try phase(volume, equal: Double(values.max()!))
        for (axis, published) in [(1, 1.1513), (2, 1.3905), (0, 4.2431)] {
            let r = try Tortuosity.compute(phase: conducting, axis: axis)
            print("TF-500 axis", axis, "τ", r.tortuosityFactor, "ε", r.volumeFraction, "iterations", r.iterations)
            #expect(abs(r.volumeFraction - 0.30) < 1e-3)
            #expect(abs(r.tortuosityFactor - published) / published < 0.005)
        }
    }
}
