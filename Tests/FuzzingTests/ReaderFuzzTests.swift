import Foundation
import Fuzzing
import LensCore
import Testing

/// The short, bounded fuzz run of CI: every reader gets a few hundred seeded mutants of its
/// seed files. A crash or a hang fails the test run itself; a read that takes seconds or an
/// allocation far beyond the input's size fails here. The long run is `lens-fuzz` by hand
/// (Fuzz/README.md), with its totals in Fuzz/RESULTS.md.
@Suite(.serialized) struct ReaderFuzzTests {
    /// Runs per format: enough to reach every header field of the small seeds many times,
    /// few enough for CI (about a minute for all formats together).
    static let runsPerFormat = Int(ProcessInfo.processInfo.environment["BATTERYLENS_FUZZ_RUNS"] ?? "") ?? 400

    @Test(arguments: ReaderFuzzer.Format.all.map(\.name))
    func mutantsAreReadOrRefusedCleanly(_ name: String) throws {
        let format = try #require(ReaderFuzzer.Format.all.first { $0.name == name })
        let folder = NSTemporaryDirectory() + "batterylens-fuzz-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        if name == "xradia" {
            // The Xradia seed is the real .txrm of ../shared/data (beside the checkout, as for
            // the other real-data tests): its absence is a failure, not a skip.
            #expect(try !format.seeds(folder).isEmpty, "no ../shared/data/tomography/tomopy/txrm_test_chip_tomo.txrm")
        }
        if name == "hdf5" {
            // libhdf5 may fault on a damaged file; BatteryLens's guard then exits 1 with one
            // line, which would end this test process: HDF5 runs through lens-fuzz's children.
            try runThroughLensFuzz(name, folder: folder)
            return
        }
        let fuzzer = ReaderFuzzer(folder: folder, seed: 20261202)
        let totals = try fuzzer.run(format, runs: Self.runsPerFormat, deadline: Date().addingTimeInterval(120))
        #expect(totals.runs > 0)
        #expect(totals.refused > 0, "mutants of \(name) were never refused: the mutations do not reach the reader")
        // Seeds are at most ~1 MB: no single read may take seconds or grow memory by 256 MiB.
        #expect(totals.slowestSeconds < 10, "slowest \(name) read: \(totals.slowestSeconds) s")
        #expect(totals.largestPeakGrowthBytes < 256 << 20, "\(name): peak memory grew by \(totals.largestPeakGrowthBytes) bytes in one read")
    }

    /// Runs `format` through the lens-fuzz executable (built beside this test bundle), which
    /// counts crashes and hangs in child processes; fails on any.
    func runThroughLensFuzz(_ format: String, folder: String) throws {
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                          Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("lens-fuzz").path }
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("lens-fuzz is not built beside the tests (looked in \(candidates))")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--format", format, "--runs", String(Self.runsPerFormat), "--batch", String(Self.runsPerFormat),
                             "--seed", "20261202", "--work", folder]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "lens-fuzz found crashes or hangs in \(format):\n\(output)")
        #expect(output.contains("| \(format) | \(Self.runsPerFormat) |"), "\(output)")
    }
}
