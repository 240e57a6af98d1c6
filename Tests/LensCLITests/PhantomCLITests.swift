import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

@Suite final class PhantomCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-phantom-cli-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    @Test func electrodeThenScanThenInfo() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "40,36,36", "--separator", "3", "--grains", "3", "--seed", "4") == 0)
        for name in ["phases.tif", "particles.tif", "attenuation.tif", "grains.tif", "truth.json", "design.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/e/" + name), "\(name)")
        }
        let attenuation = try VolumeIO.open(dir + "/e/attenuation.tif")
        #expect(attenuation.info.shape == Shape(40, 36, 36) && attenuation.info.geometry.voxelSizeMicrometres == [0.5, 0.5, 0.5])
        #expect(run("phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/scan.h5", "--angles", "24",
                    "--offset", "2.5", "--rings", "0.01", "--summary", dir + "/scan.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/scan.json")
        #expect(summary["scan"]?["rotation_axis_column"]?.doubleValue == 20)
        let scan = try TomographyScanReader(path: dir + "/scan.h5")
        #expect(run("phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/tiffscan", "--angles", "8") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/tiffscan/truth.json"))
        #expect(FileManager.default.fileExists(atPath: dir + "/tiffscan/projections.tif"))
        #expect(scan.projectionCount == 24 && scan.frameShape == Shape(40, 36))
        // Same seed, same bytes, through the CLI.
        #expect(run("phantom", "electrode", "--out", dir + "/e2", "--size", "40,36,36", "--separator", "3", "--grains", "3", "--seed", "4") == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/e/phases.tif")) == (try Data(contentsOf: URL(fileURLWithPath: dir + "/e2/phases.tif"))))
    }

    @Test func spectralPhantoms() throws {
        #expect(run("phantom", "xanes", "--out", dir + "/x", "--size", "32") == 0)
        let stack = try VolumeIO.open(dir + "/x/stack.h5:/intensity")
        #expect(stack.info.shape == Shape(63, 32, 32))
        #expect(run("phantom", "compton", "--out", dir + "/c", "--events", "20000", "--lithium", "0.1,0.7") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/c/region_2.bin"))
        #expect(run("phantom", "xrd", "--out", dir + "/d", "--patterns", "5") == 0)
        #expect(try VolumeIO.open(dir + "/d/patterns.h5:/patterns").info.shape[0] == 5)
        #expect(run("phantom", "series", "--out", dir + "/s", "--size", "32") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/s/state_4/truth.json"))
    }

    @Test func badPhantomArguments() {
        #expect(run("phantom", "electrode", "--out", dir + "/bad", "--size", "2") == 2)
        #expect(run("phantom", "electrode", "--out", dir + "/no/such/folder/e") == 1)
        #expect(run("phantom", "projections", dir + "/missing.tif", "--out", dir + "/x.h5") == 1)
        #expect(run("phantom", "xanes", "--out", dir + "/x3", "--dims", "4") == 2)
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }
}
