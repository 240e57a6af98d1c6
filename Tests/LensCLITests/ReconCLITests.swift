import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

@Suite final class ReconCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-recon-cli-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    /// Phantom → noisy scan with an offset axis → recon with the centre found automatically:
    /// the centre is within 0.25 px of the truth, and the mean reconstructed attenuation of the
    /// interior of the active phase is within 5 % of the phantom's (noise and the voxelized
    /// edges set the tolerance).
    @Test func reconstructsAPhantomScanToItsAttenuation() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "8,80,80", "--diameter-um", "6", "--cracks", "0") == 0)
        #expect(run("phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/scan.h5", "--angles", "361",
                    "--range-deg", "361", "--offset=-6.4", "--columns", "96", "--photons", "20000") == 0)
        #expect(run("recon", dir + "/scan.h5", "--out", dir + "/recon.tif", "--summary", dir + "/recon.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/recon.json")
        let centre = try #require(summary["centre_column"]?.doubleValue)
        #expect(abs(centre - (47.5 - 6.4)) <= 0.25)
        let recon = try VolumeIO.read(dir + "/recon.tif").converted(to: Float.self)
        let phases = try VolumeIO.read(dir + "/e/phases.tif").converted(to: UInt8.self)
        let attenuation = try VolumeIO.read(dir + "/e/attenuation.tif").converted(to: Float.self)
        #expect(recon.shape == Shape(8, 96, 96))
        // The phantom's slice (80²) sits centred in the 96² reconstruction.
        var sumRecon = 0.0, sumTruth = 0.0, n = 0
        for z in 2..<6 { for y in 2..<78 { for x in 2..<78 {
            let interior = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2)]
                .allSatisfy { phases[z, y + $0.0, x + $0.1] == 1 }
            guard interior else { continue }
            sumRecon += Double(recon[z, y + 8, x + 8]); sumTruth += Double(attenuation[z, y, x]); n += 1
        } } }
        #expect(n > 500)
        #expect(abs(sumRecon / sumTruth - 1) < 0.05, "recon/truth = \(sumRecon / sumTruth)")
        #expect(run("recon", dir + "/scan.h5", "--out", dir + "/r2.tif", "--center", "500") == 2)
        #expect(run("recon", dir + "/scan.h5", "--out", dir + "/r3.tif", "--filter", "bogus") == 2)
        #expect(run("recon", dir + "/e/attenuation.tif", "--out", dir + "/r4.tif") == 1)
    }
}
