import Foundation
import LensCore
import LensIO
import Demo
import Testing

@Suite struct DemoTests {
    @Test func demoChainPassesItsChecksAndWritesTheReport() throws {
        ProgressSettings.mode = .silent
        let out = NSTemporaryDirectory() + "demo-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        let report = try DemoChain.run(.init(outputFolder: out, size: 48, seed: 2))
        #expect(report.allChecksPassed)
        #expect(report.formats.count == 7)
        // Noise σ = 8 % of μ_active against a half-gap of ~50 % leaves ~1e-9 misclassified; what
        // remains is sub-voxel cracks and density variation near the threshold.
        #expect(abs(report.measuredSolidFraction - report.trueSolidFraction) < 0.005)
        for (t, m) in zip(report.trueSolidFractionByRegion, report.measuredSolidFractionByRegion) { #expect(abs(t - m) < 0.01) }
        #expect(report.scanReadBackProjections == 90 && report.scanShape == [90, 48, 48])
        // XANES step: state of charge within 0.02 RMS of the truth (the LCF bound) at 10⁵
        // photons, calibrated errors, drift found to well under a pixel.
        #expect(report.xanes.fractionRMSE <= 0.02, "SOC RMSE \(report.xanes.fractionRMSE)")
        #expect((0.55...0.8).contains(report.xanes.fractionWithinOneSigma), "within 1σ \(report.xanes.fractionWithinOneSigma)")
        #expect(report.xanes.alignmentRMSEPixels < 0.2 && report.xanes.particles > 3)
        for name in ["summary.json", "report.html", "phantom_truth.json", "scan.h5"] + report.images {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) missing")
        }
        let summary = try JSONOutput.read(JSONValue.self, from: out + "/summary.json")
        #expect(summary["provenance"]?["software"]?.stringValue == "BatteryLens")
    }
}
