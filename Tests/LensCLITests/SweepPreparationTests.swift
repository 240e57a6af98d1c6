import Foundation
import LensCLI
import LensCore
import LensIO
import Pipeline
import Testing

/// `recon --sweep` judged centres on line integrals with only the flat field applied, while the
/// run also removes zingers, retrieves phase and removes stripes (issue 18): now one preparation
/// serves both.
@Suite final class SweepPreparationTests {
    @Test func sweepLineIntegralsGetTheRunsCorrections() throws {
        let dir = NSTemporaryDirectory() + "batterylens-sweep-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        ProgressSettings.mode = .silent
        #expect(CLIRuntime.run(["phantom", "electrode", "--out", dir + "/e", "--size", "24", "--seed", "2"]) == 0)
        #expect(CLIRuntime.run(["phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/s.h5", "--angles", "60", "--zingers", "0.01"]) == 0)
        let source = try TomographyScanReader(path: dir + "/s.h5")
        var settings = ReconstructionSettings(pixelSizeMicrometres: 0.5)
        let plain = try ScanReconstruction.lineIntegrals(source: source, rows: 10..<11, settings: settings)
        settings.removeZingers = true
        let cleaned = try ScanReconstruction.lineIntegrals(source: source, rows: 10..<11, settings: settings)
        let changed = zip(plain.elements, cleaned.elements).filter { $0 != $1 }.count
        #expect(changed > 0 && changed < plain.elements.count / 20, "\(changed) of \(plain.elements.count) values changed")
        // A zinger adds counts, so its line integral (−ln) is too low: removing them raises the minimum.
        #expect(cleaned.elements.min()! > plain.elements.min()!)
    }
}
