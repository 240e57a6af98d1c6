import Foundation
import LensCore
import LensIO
import Testing

/// Multi-page TIFFs that ImageJ, Fiji and tifffile read as the stack BatteryLens wrote (issue
/// 17: tifffile read page 2 shifted by 92 px with garbage, because the file claimed ImageJ's
/// format while its pixels were interleaved with page directories). The fixture is what
/// tifffile read from the same stacks (Benchmarks/peers/tiff_interop_reference.py).
@Suite final class TIFFInteropTests {
    struct Stack: Decodable { let is_imagej: Bool; let pages: Int; let shape: [Int]; let spacing: Double?; let unit: String?; let sha256: String; let identical_to_written: Bool }
    struct Fixture: Decodable { let voxel_um: [Double]; let stacks: [String: Stack] }
    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tiff_interop.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    let dir = NSTemporaryDirectory() + "batterylens-tiff-interop-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// The script's stacks, built the same way.
    static func stack(_ name: String) -> AnyGrid {
        let shape = Shape(5, 30, 20)
        let geometry = GridGeometry(voxelSizeMicrometres: fixture.voxel_um)
        if name == "uint16" {
            return AnyGrid(Grid<UInt16>(shape: shape, geometry: geometry) { UInt16($0 * 37 % 65521) })
        }
        return AnyGrid(Grid<Float>(shape: shape, geometry: geometry) { Float(Double($0) * 0.25 - 100) })
    }

    @Test(arguments: ["uint16", "float32"])
    func stacksReadAsWrittenByToolAndTifffile(name: String) throws {
        let expected = try #require(Self.fixture.stacks[name])
        #expect(expected.is_imagej && expected.identical_to_written && expected.pages == 5)
        #expect(expected.spacing == Self.fixture.voxel_um[0] && expected.unit == "micron")
        let grid = Self.stack(name)
        let path = dir + "/\(name).tif"
        try VolumeIO.write(grid, to: path)
        let bytes: [UInt8] = grid.withGrid { g in g.withUnsafeRawBytes { Array($0) } }
        // tifffile read exactly these pixels.
        var hash = SHA256()
        hash.update(bytes)
        #expect(hash.finalizeHex() == expected.sha256)
        // The file holds them as one contiguous block (what ImageJ and tifffile rely on).
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(file.range(of: Data(bytes)) != nil, "the pixels of \(name) are not contiguous")
        // And BatteryLens reads them back with the voxel size.
        let back = try VolumeIO.read(path)
        #expect(back.shape == grid.shape)
        #expect(back.withGrid { g in g.withUnsafeRawBytes { Array($0) } } == bytes)
        #expect(back.geometry.voxelSizeMicrometres == Self.fixture.voxel_um)
    }

    /// A compressed stack cannot be read by ImageJ as one block: it does not claim ImageJ's
    /// format, and BatteryLens still reads its spacing.
    @Test func compressedStacksDoNotClaimImageJ() throws {
        let path = dir + "/c.tif"
        var options = WriteOptions()
        options.compressionLevel = 6
        try VolumeIO.write(Self.stack("uint16"), to: path, options: options)
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(file.range(of: Data("ImageJ=".utf8)) == nil)
        #expect(try VolumeIO.read(path).geometry.voxelSizeMicrometres == Self.fixture.voxel_um)
    }

    /// Without a voxel size the file does not say micron.
    @Test func uncalibratedStacksHaveNoUnit() throws {
        let grid = AnyGrid(Grid<UInt8>(shape: Shape(3, 4, 5), repeating: 1))
        try VolumeIO.write(grid, to: dir + "/u.tif")
        let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/u.tif"))
        #expect(file.range(of: Data("unit=micron".utf8)) == nil)
        #expect(try !VolumeIO.read(dir + "/u.tif").geometry.isCalibrated)
    }
}
