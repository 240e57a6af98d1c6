import Foundation
import LensCLI
import LensCore
import LensIO
import Reporting
import Testing

/// `batterylens slice` writes a figure whose scale bar, read back from the PNG, is as long as
/// its stated µm at the file's voxel size.
@Suite final class SliceCommandFigureTests {
    let dir = NSTemporaryDirectory() + "batterylens-slicefig-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @Test func scaleBarReadBackFromThePNGMatchesTheVoxelSize() throws {
        let voxel = 0.65
        var volume = Grid<Float>(shape: Shape(8, 48, 72), geometry: .isotropic(voxel, rank: 3)) { Float(($0 * 37) % 101) }
        volume[linear: 4 * 48 * 72 + 5] = .nan
        try VolumeIO.write(volume, to: dir + "/v.tif")
        #expect(CLIRuntime.run(["slice", dir + "/v.tif", "--out", dir + "/s.png", "--colormap", "viridis", "--quiet"]) == 0)
        let png = try PNGReader(path: dir + "/s.png").readAll()
        guard case .uint8(let image) = png else { Issue.record("not 8-bit"); return }
        #expect(image.shape.rank == 3 && image.shape[2] == 3)
        // What the figure states, from the same renderer and slice.
        let plane = try SliceExtraction.extract(try VolumeIO.open(dir + "/v.tif"), axis: .z, index: 4)
        let stated = try #require(try SliceFigure.render(plane, style: SliceFigureStyle(mode: .continuous(.viridis, .automatic), pixelSizeMicrometres: voxel)).scaleBar)
        #expect(stated.unit == "µm")
        let found = FigureTests.measuredBar(image, belowRow: 10 + 48 * stated.magnification + 1)
        let micrometresPerPixel = voxel / Double(stated.magnification)
        #expect(abs(Double(found.length) * micrometresPerPixel - stated.length) <= 0.5 * micrometresPerPixel + 1e-12,
                "bar \(found.length) px × \(micrometresPerPixel) µm vs stated \(stated.length) µm")
        // --plain keeps one pixel per voxel and nothing else.
        #expect(CLIRuntime.run(["slice", dir + "/v.tif", "--out", dir + "/p.png", "--plain", "--quiet"]) == 0)
        #expect(try PNGReader(path: dir + "/p.png").info.shape.dims == [48, 72])
    }

    @Test func labelsAndOverlaysFromTheCommandLine() throws {
        let labels = Grid<Int32>(shape: Shape(4, 30, 30), geometry: .isotropic(0.5, rank: 3)) { Int32(($0 / 7) % 5) }
        try VolumeIO.write(labels, to: dir + "/l.tif")
        #expect(CLIRuntime.run(["slice", dir + "/l.tif", "--labels", "--overlay", dir + "/l.tif", "--out", dir + "/l.png", "--quiet"]) == 0)
        // An overlay on another grid is refused, naming the file.
        let other = Grid<UInt8>(shape: Shape(4, 10, 10), elements: [UInt8](repeating: 1, count: 400))
        try VolumeIO.write(other, to: dir + "/o.tif")
        #expect(CLIRuntime.run(["slice", dir + "/l.tif", "--overlay", dir + "/o.tif", "--out", dir + "/bad.png", "--quiet"]) == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.png"))
        #expect(CLIRuntime.run(["slice", dir + "/l.tif", "--plain", "--labels", "--out", dir + "/bad.png", "--quiet"]) == 2)
    }
}

/// The value unit travels with a TIFF volume (ImageJ's `vunit`), so the colour bar of a
/// reconstruction says 1/µm without being told.
@Suite struct ValueUnitTests {
    @Test func tiffKeepsTheValueUnitAndTheSliceShowsIt() throws {
        let dir = NSTemporaryDirectory() + "batterylens-vunit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, pages) in [("stack.tif", 3), ("single.tif", 1)] {
            let info = VolumeInfo(shape: Shape(pages, 6, 5), dataType: .float32, geometry: .isotropic(0.5, rank: 3), format: "", metadata: ["units": "1/um"])
            let writer = try VolumeIO.create(dir + "/" + name, info: info)
            try writer.writeSlab(.float32(Grid(shape: Shape(pages, 6, 5)) { Float($0) }), at: 0)
            try writer.finish()
            #expect(try VolumeIO.open(dir + "/" + name).info.metadata["units"] == "1/um", "\(name)")
        }
        // Without a unit, none is read back.
        try VolumeIO.write(Grid<Float>(shape: Shape(2, 4, 4)) { Float($0) }, to: dir + "/plain.tif")
        #expect(try VolumeIO.open(dir + "/plain.tif").info.metadata["units"] == nil)
    }
}
