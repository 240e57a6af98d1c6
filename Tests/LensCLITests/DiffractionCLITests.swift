import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

/// `diffraction series` and `diffraction calibrate` end to end: the operando phantom's fractions
/// through the CLI, a real LaB6 calibration, and the errors a user meets.
@Suite final class DiffractionCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-diffraction-cli-" + UUID().uuidString
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/diffraction").standardized.path
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    /// The phantom's series refined through the CLI: one row per pattern, fractions within 0.01
    /// RMS of the truth (the Python-free equivalent of the library test), the figures written.
    @Test func phantomSeriesThroughTheCLI() throws {
        #expect(run("phantom", "xrd", "--out", dir + "/p", "--patterns", "12", "--seed", "5") == 0)
        #expect(run("diffraction", "series", dir + "/p/patterns.h5", "--phases", dir + "/p/phases.json", "--out", dir + "/r", "--summary", dir + "/r.json") == 0)
        let table = try NumericColumns.read(dir + "/r/results.csv")
        let f = try #require(table.names.firstIndex(of: "fraction_delithiated"))
        let truth = try JSONOutput.read(JSONValue.self, from: dir + "/p/truth.json")
        guard case .array(let fractions)? = truth["second_phase_fraction"] else { Issue.record("no truth fractions"); return }
        #expect(table.columns[f].count == 12)
        let rms = (zip(table.columns[f], fractions.compactMap(\.doubleValue)).reduce(0.0) { $0 + pow($1.0 - $1.1, 2) } / 12).squareRoot()
        #expect(rms < 0.01, "fraction RMS error \(rms)")
        for name in ["heatmap.svg", "fractions.svg", "lattice.svg"] { #expect(FileManager.default.fileExists(atPath: dir + "/r/" + name)) }
        let heat = try String(contentsOfFile: dir + "/r/heatmap.svg", encoding: .utf8)
        #expect(heat.contains("data:image/png;base64,") && heat.contains("cell voltage (V)"))
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/r.json")
        #expect(summary["wavelength_source"]?.stringValue == "file" && summary["voltage_recorded"] == .bool(true))
    }

    /// Detector frames → azimuthal integration → refinement: the 2-D chain recovers the
    /// fractions within 0.01 RMS; the geometry must be declared one way, and a mask of the wrong
    /// size is refused with its file named.
    @Test func framesThroughIntegrationAndRefinement() throws {
        #expect(run("phantom", "xrd", "--out", dir + "/p", "--patterns", "8", "--detector", "128", "--seed", "3") == 0)
        #expect(run("diffraction", "integrate", dir + "/p/frames.h5", "--poni", dir + "/p/detector.poni", "--polarization", "0.95", "--bins", "600",
                    "--out", dir + "/s.h5", "--summary", dir + "/s.json") == 0)
        #expect(run("diffraction", "series", dir + "/s.h5", "--phases", dir + "/p/phases.json", "--out", dir + "/r") == 0)
        let table = try NumericColumns.read(dir + "/r/results.csv")
        let f = try #require(table.names.firstIndex(of: "fraction_delithiated"))
        let truth = try JSONOutput.read(JSONValue.self, from: dir + "/p/truth.json")
        guard case .array(let fractions)? = truth["second_phase_fraction"] else { Issue.record("no truth fractions"); return }
        let rms = (zip(table.columns[f], fractions.compactMap(\.doubleValue)).reduce(0.0) { $0 + pow($1.0 - $1.1, 2) } / 8).squareRoot()
        #expect(rms < 0.01, "fraction RMS error \(rms) from frames")
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/s.json")
        #expect(summary["frames"]?.doubleValue == 8 && summary["wavelength_angstrom"]?.doubleValue == 0.2072)
        // The same geometry declared without a PONI file gives the same patterns.
        #expect(run("diffraction", "integrate", dir + "/p/frames.h5", "--distance-mm", "70", "--beam-centre", "12.8:12.8", "--pixel-um", "75",
                    "--polarization", "0.95", "--bins", "600", "--wavelength-angstrom", "0.2072", "--out", dir + "/s2.h5") == 0)
        let a = try VolumeIO.open(dir + "/s.h5:/patterns").readAll().float32().elements, b = try VolumeIO.open(dir + "/s2.h5:/patterns").readAll().float32().elements
        #expect(zip(a, b).allSatisfy { $0.isNaN && $1.isNaN || abs($0 - $1) <= 1e-4 * max(1, abs($0)) })
        // Errors.
        #expect(run("diffraction", "integrate", dir + "/p/frames.h5", "--out", dir + "/none.h5") != 0)
        #expect(run("diffraction", "integrate", dir + "/p/frames.h5", "--poni", dir + "/p/detector.poni", "--distance-mm", "70", "--out", dir + "/both.h5") != 0)
        let small = Grid<Float>(shape: Shape(4, 4))
        try VolumeIO.write(small, to: dir + "/mask.tif")
        #expect(run("diffraction", "integrate", dir + "/p/frames.h5", "--poni", dir + "/p/detector.poni", "--mask", dir + "/mask.tif", "--out", dir + "/m.h5") != 0)
        for name in ["none.h5", "both.h5", "m.h5"] { #expect(!FileManager.default.fileExists(atPath: dir + "/" + name)) }
    }

    /// LaB6 (real, Cu Kα) through the CLI: zero shift, residual and the cell of SRM 660c.
    @Test func lab6CalibrationThroughTheCLI() throws {
        #expect(run("diffraction", "calibrate", Self.data + "/xrayutilities/LaB6_d500_si_psd.xye.bz2", "--calibrant", Self.data + "/pyfai_calibrants/LaB6_SRM660c.D",
                    "--cell", "cubic", "--out", dir + "/c", "--summary", dir + "/c.json") == 0)
        let s = try JSONOutput.read(JSONValue.self, from: dir + "/c.json")
        let zero = try #require(s["calibration"]?["zero_shift_degrees"]?.doubleValue)
        #expect(abs(zero) < 0.02)
        #expect((s["calibration"]?["rms_residual_degrees"]?.doubleValue ?? 1) < 0.005)
        let a = try #require(s["cell"]?["cell"]?["a"]?.doubleValue)
        #expect(abs(a - 4.156826) < 0.0005)
        #expect(FileManager.default.fileExists(atPath: dir + "/c/lines.csv") && FileManager.default.fileExists(atPath: dir + "/c/residuals.svg"))
    }

    /// What users get wrong: a series without a recorded wavelength (asks for one), a phase file
    /// that is not one, a wavelength that contradicts cu-kalpha, and an output onto an input.
    @Test func errorsNameTheProblem() throws {
        #expect(run("phantom", "xrd", "--out", dir + "/p", "--patterns", "3") == 0)
        let errors = dir + "/stderr.txt"
        func failing(_ args: [String]) throws -> String {
            let saved = dup(2)
            let file = open(errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            dup2(file, 2); close(file)
            let status = CLIRuntime.run(args)
            dup2(saved, 2); close(saved)
            #expect(status != 0, "\(args) should fail")
            return try String(contentsOfFile: errors, encoding: .utf8)
        }
        // The CSV copy carries no wavelength.
        var message = try failing(["diffraction", "series", dir + "/p/patterns.csv", "--phases", dir + "/p/phases.json", "--out", dir + "/r1"])
        #expect(message.contains("--wavelength-angstrom") && message.contains("patterns.csv"), "\(message)")
        try "{\"phases\": 3}".write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        message = try failing(["diffraction", "series", dir + "/p/patterns.h5", "--phases", dir + "/bad.json", "--out", dir + "/r2"])
        #expect(message.contains("bad.json"), "\(message)")
        message = try failing(["diffraction", "series", dir + "/p/patterns.h5", "--phases", dir + "/p/phases.json", "--radiation", "cu-kalpha",
                               "--wavelength-angstrom", "0.2", "--out", dir + "/r3"])
        #expect(message.contains("cu-kalpha"), "\(message)")
        message = try failing(["diffraction", "series", dir + "/p/patterns.h5", "--phases", dir + "/p/phases.json", "--out", dir + "/p"])
        #expect(FileManager.default.fileExists(atPath: dir + "/p/patterns.h5"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/r1") && !FileManager.default.fileExists(atPath: dir + "/r2"))
        // A wrong model (a spinel for a layered oxide) runs to the end, its cell kept within 5 %
        // of the start, and the summary says the fit is poor.
        try #"[{"name": "spinel", "cell": {"system": "cubic", "a": 8.08}, "reflections": [{"hkl": [1,1,1], "relative_intensity": 1}, {"hkl": [3,1,1], "relative_intensity": 0.5}]}]"#
            .write(toFile: dir + "/spinel.json", atomically: true, encoding: .utf8)
        #expect(run("diffraction", "series", dir + "/p/patterns.h5", "--phases", dir + "/spinel.json", "--out", dir + "/wrong", "--summary", dir + "/wrong.json") == 0)
        let wrong = try JSONOutput.read(JSONValue.self, from: dir + "/wrong.json")
        guard case .array(let notices)? = wrong["provenance"]?["notices"] else { Issue.record("no notices"); return }
        #expect(notices.contains { $0.stringValue?.contains("poorly") == true })
        if case .array(let range)? = wrong["phases"]?[0]?["lattice_range_angstrom"]?["a"] {
            #expect(range.compactMap(\.doubleValue).allSatisfy { abs($0 / 8.08 - 1) <= 0.05 })
        }
        // With the wavelength declared, the CSV copy refines.
        #expect(run("diffraction", "series", dir + "/p/patterns.csv", "--phases", dir + "/p/phases.json", "--wavelength-angstrom", "0.2072", "--out", dir + "/r4") == 0)
    }
}
