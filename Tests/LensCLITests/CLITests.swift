import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

/// The command line through its entry point: exit codes, outputs, and messages.
@Suite final class CLITests {
    let dir = NSTemporaryDirectory() + "batterylens-cli-" + UUID().uuidString

    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    func makeVolume() throws -> String {
        let path = dir + "/vol.h5"
        let grid = Grid<Float>(shape: Shape(6, 8, 10), geometry: .isotropic(0.65, rank: 3)) { Float($0) }
        try VolumeIO.write(grid, to: path)
        return path
    }

    @Test func versionAndHelpExitZero() {
        #expect(run("--version") == 0)
        #expect(run("--help") == 0)
        #expect(run("convert", "--help") == 0)
    }

    @Test func usageErrorsExitTwo() {
        #expect(run("info") == 2)                       // missing argument
        #expect(run("info", "x.tif", "--bogus") == 2)   // unknown option
        #expect(run("nosuchcommand") == 2)
        #expect(run("slice", "x.tif", "--out", dir + "/a.png", "--axis", "w") == 2)
    }

    @Test func infoReportsShapeAndWritesSummary() throws {
        let path = try makeVolume()
        #expect(run("info", path, "--summary", dir + "/info.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/info.json")
        #expect(summary["shape"] == [6, 8, 10])
        #expect(summary["dtype"]?.stringValue == "float32")
        #expect(summary["voxel_size_um"] == [0.65, 0.65, 0.65])
        #expect(summary["value_range"]?["max"]?.doubleValue == 479)
        #expect(summary["provenance"]?["inputs"] != nil)
        #expect(run("info", dir + "/missing.h5") == 1)
    }

    @Test func convertWithCropBinAndType() throws {
        let path = try makeVolume()
        #expect(run("convert", path, dir + "/out.tif", "--crop", ":,0:8,2:10", "--bin", "2", "--to-dtype", "uint16",
                    "--summary", dir + "/c.json") == 0)
        let out = try VolumeIO.open(dir + "/out.tif")
        #expect(out.info.shape == Shape(3, 4, 4))
        #expect(out.info.dataType == .uint16)
        #expect(out.info.geometry.voxelSizeMicrometres == [1.3, 1.3, 1.3])
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/c.json")
        #expect(summary["conversion"]?["bin"]?.doubleValue == 2)
        // Bad ranges are usage errors; an output over the input is refused and the input kept.
        #expect(run("convert", path, dir + "/o.tif", "--crop", "0:99,:,:") == 2)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(run("convert", path, path) == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(run("convert", path, dir + "/no/such/folder/o.tif") == 1)
    }

    @Test func rawInputNeedsItsLayout() throws {
        let raw = dir + "/v.raw"
        try Data(count: 2 * 3 * 4 * 2).write(to: URL(fileURLWithPath: raw))
        #expect(run("info", raw) == 2)
        #expect(run("info", raw, "--shape", "2,3,4", "--dtype", "uint16") == 0)
        #expect(run("info", raw, "--shape", "2x3x5", "--dtype", "uint16") == 1)   // size mismatch
        #expect(run("convert", raw, dir + "/v.npy", "--shape", "2,3,4", "--dtype", "uint16", "--endian", "big") == 0)
    }

    @Test func sliceWritesAPNGAlongEachAxis() throws {
        let path = try makeVolume()
        for axis in ["z", "y", "x"] {
            #expect(run("slice", path, "--axis", axis, "--index", "3", "--out", dir + "/\(axis).png", "--colormap", "viridis") == 0)
            let png = try VolumeIO.read(dir + "/\(axis).png")
            #expect(png.shape.rank == 3 && png.shape[2] == 3)
        }
        #expect(run("slice", path, "--out", dir + "/g.png", "--window", "0:479", "--values", dir + "/g.tif") == 0)
        let values = try VolumeIO.read(dir + "/g.tif").converted(to: Float.self)
        #expect(values.shape == Shape(8, 10) && values[0, 0] == 240)   // middle slice z = 3
        #expect(run("slice", path, "--index", "6", "--out", dir + "/bad.png") == 2)
    }
}
