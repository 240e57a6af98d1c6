import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

/// `phantom cell` → `cell`: a tilted stack of jelly-roll cross-sections with a buckled core,
/// inspected through the command line, and the real lab-CT slice of a cylindrical cell.
@Suite final class CellCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-cell-cli-" + UUID().uuidString
    static let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/microstructure/cylindrical_cell_labxct").standardized.path
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    /// Turns to 0.05, pitch to 2 % (in µm: the file's 10 µm pixels), the axis drift to 0.02
    /// px/slice and its tilt, the buckle's sector around its angle; every output on its grid.
    @Test func tiltedStackWithABuckledCore() throws {
        #expect(run("phantom", "cell", "--out", dir + "/p", "--slices", "3", "--buckle", "8", "--drift", "0.2") == 0)
        #expect(run("cell", dir + "/p/cell.tif", "--out", dir + "/c", "--summary", dir + "/c.json") == 0)
        let s = try JSONOutput.read(JSONValue.self, from: dir + "/c.json")
        let truth = try JSONOutput.read(JSONValue.self, from: dir + "/p/truth.json")
        #expect(s["unit"] == .string("µm"))
        #expect(abs((s["turns"]?.doubleValue ?? 0) - (truth["turns"]?.doubleValue ?? 1)) < 0.05)
        #expect(abs((s["pitch"]?.doubleValue ?? 0) / 100 - 1) < 0.02)
        #expect(abs((s["axis_drift_pixels_per_slice"]?.doubleValue ?? 0) - 0.2) < 0.02)
        #expect(abs((s["axis_tilt_degrees"]?.doubleValue ?? 0) - atan(0.2) * 180 / .pi) < 1.2)
        let start = s["widest_anomalies"]?[0]?["start_degrees"]?.doubleValue ?? 0, end = s["widest_anomalies"]?[0]?["end_degrees"]?.doubleValue ?? 0
        #expect(start <= 250 && end >= 250 && end - start <= 40)
        let unrolled = try VolumeIO.open(dir + "/c/unrolled.tif").info.shape
        #expect(unrolled[0] == 3 && unrolled[1] == s["angular_samples"]?.doubleValue.map(Int.init))
        #expect(try VolumeIO.open(dir + "/c/layers.tif").info.shape == Shape(3, 352, 352))
        // The strip sheet is as wide as the longest strip followed (a sample per pixel of arc).
        let sheet = try VolumeIO.open(dir + "/c/strip_sheet.tif").info.shape
        let followed = try #require(s["followed_strip_length"]?.doubleValue) / 10
        #expect(sheet[0] == 3 && Double(sheet[1]) >= followed.rounded(.down))
        let rows = try String(contentsOfFile: dir + "/c/slices.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 4 && rows[0].hasPrefix("slice,status,centre_x [pixel]"))
        #expect(FileManager.default.fileExists(atPath: dir + "/c/cross_section.png"))
        #expect(FileManager.default.fileExists(atPath: dir + "/c/sectors.csv"))
    }

    /// The real slice: lengths in voxels (no pixel size in the file) with a note saying so, and
    /// every layer crossing listed for a single cross-section.
    @Test func realSliceInVoxels() throws {
        #expect(run("cell", Self.data + "/im_1.tif", "--out", dir + "/r", "--summary", dir + "/r.json") == 0)
        let s = try JSONOutput.read(JSONValue.self, from: dir + "/r.json")
        #expect(s["unit"] == .string("voxel"))
        #expect(abs((s["turns"]?.doubleValue ?? 0) - 18.8) < 0.2)
        guard case .array(let notes)? = s["notes"] else { Issue.record("no notes"); return }
        #expect(notes.contains { $0.stringValue?.contains("--voxel-um") == true })
        let layers = try String(contentsOfFile: dir + "/r/layers.csv", encoding: .utf8)
        #expect(layers.hasPrefix("angle [degree],layer,inner_radius [voxel]"))
    }

    /// Usage errors (2) and bad input (1): half a declared axis, an empty slice range, an
    /// output onto the input, an image without a cell.
    @Test func refusals() throws {
        #expect(run("phantom", "cell", "--out", dir + "/p", "--slices", "1") == 0)
        let input = dir + "/p/cell.tif"
        #expect(run("cell", input, "--out", dir + "/x", "--centre", "170,170") == 2)
        #expect(run("cell", input, "--out", dir + "/x", "--slices", "1:1") == 2)
        #expect(run("cell", input, "--out", dir + "/x", "--pitch-tolerance", "0") == 2)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        #expect(run("cell", input, "--out", input) == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
        try VolumeIO.write(Grid<Float>(shape: Shape(64, 64)) { Float($0 % 7) }, to: dir + "/noise.tif")
        #expect(run("cell", dir + "/noise.tif", "--out", dir + "/n") == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/n"))
    }
}
