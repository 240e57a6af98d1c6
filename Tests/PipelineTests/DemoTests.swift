import Foundation
import LensCore
import LensIO
import Pipeline
import Testing

@Suite struct DemoTests {
    @Test func syntheticVolumeIsDeterministicAndItsTruthIsExact() {
        let a = SphereVolume.generate(size: 40, seed: 3)
        let b = SphereVolume.generate(size: 40, seed: 3)
        let c = SphereVolume.generate(size: 40, seed: 4)
        #expect(a.noisy.elementsEqual(b.noisy))
        #expect(!a.noisy.elementsEqual(c.noisy))
        // The mask's solid fraction equals an independent count of voxels inside any sphere.
        var inside = 0
        for z in 0..<40 { for y in 0..<40 { for x in 0..<40 {
            if a.spheres.contains(where: { s in
                let d = [Double(z) - s.centreVoxels[0], Double(y) - s.centreVoxels[1], Double(x) - s.centreVoxels[2]]
                return d.map { $0 * $0 }.reduce(0, +) <= s.radiusVoxels * s.radiusVoxels
            }) { inside += 1 }
        } } }
        #expect(Double(inside) / 64000 == a.solidFraction)
    }

    @Test func demoChainPassesItsChecksAndWritesTheReport() throws {
        ProgressSettings.mode = .silent
        let out = NSTemporaryDirectory() + "demo-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        let report = try FoundationDemo.run(.init(outputFolder: out, size: 48, seed: 2))
        #expect(report.allChecksPassed)
        #expect(report.formats.count == 6)
        // Threshold error from noise: σ = 0.004 against a 0.024 half-gap leaves ~1e-9 misclassified.
        #expect(abs(report.measuredSolidFraction - report.trueSolidFraction) < 0.005)
        for name in ["summary.json", "report.html"] + report.images {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) missing")
        }
        let summary = try JSONOutput.read(JSONValue.self, from: out + "/summary.json")
        #expect(summary["provenance"]?["software"]?.stringValue == "BatteryLens")
    }
}
