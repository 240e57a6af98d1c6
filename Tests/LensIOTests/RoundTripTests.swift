import Foundation
import LensCore
import LensIO
import Testing

@Suite struct RoundTripTests {
    static let realTypes: [DataType] = [.uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64, .float32, .float64]

    @Test(arguments: realTypes)
    func tiffStacksRoundTrip(type: DataType) throws {
        let dir = TemporaryFolder()
        for shape in [Shape(5, 7, 9), Shape(6, 11)] {
            let grid = sampleGrid(type, shape: shape).withGeometry(GridGeometry(voxelSizeMicrometres: shape.rank == 3 ? [0.25, 0.65, 0.65] : [0.65, 0.65]))
            let path = dir.file("v\(shape.rank).tif")
            try VolumeIO.write(grid, to: path)
            let reader = try VolumeIO.open(path)
            #expect(reader.info.format == "tiff")
            #expect(bytesEqual(try reader.readAll(), grid))
            #expect(reader.info.geometry.voxelSizeMicrometres == grid.geometry.voxelSizeMicrometres)
        }
        #expect(dir.contents == ["v2.tif", "v3.tif"])   // no temporary files left
    }

    @Test(arguments: realTypes + [.complex64, .complex128])
    func hdf5AndNpyRoundTrip(type: DataType) throws {
        let dir = TemporaryFolder()
        let grid = sampleGrid(type, shape: Shape(4, 5, 6)).withGeometry(.isotropic(1.5, rank: 3))
        for (name, options) in [("a.h5", WriteOptions()), ("b.h5:/group/sub/volume", WriteOptions(compressionLevel: 4)), ("c.npy", WriteOptions())] {
            try VolumeIO.write(grid, to: dir.file(name), options: options)
            let back = try VolumeIO.read(dir.file(name))
            #expect(bytesEqual(back, grid), "\(name) \(type)")
        }
        let h5 = try VolumeIO.open(dir.file("a.h5"))
        #expect(h5.info.geometry.voxelSizeMicrometres == [1.5, 1.5, 1.5])
        #expect(try VolumeIO.open(dir.file("b.h5")).info.metadata["dataset"] == "/group/sub/volume")
    }

    @Test func rawWithByteOrderAndOffset() throws {
        let dir = TemporaryFolder()
        let values: [UInt16] = [1, 258, 65535, 4096, 7, 0]
        var bytes: [UInt8] = [9, 9, 9]   // a 3-byte header to skip
        for v in values { bytes += [UInt8(v >> 8), UInt8(v & 0xff)] }   // big-endian
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("be.raw")))
        let layout = RawLayout(shape: Shape(2, 3), dataType: .uint16, bigEndian: true, byteOffset: 3)
        let grid = try VolumeIO.read(dir.file("be.raw"), raw: layout)
        #expect(try grid.converted(to: UInt16.self).elements == values)
        // Little-endian raw written by us reads back with a layout.
        let g = sampleGrid(.float32, shape: Shape(3, 4, 5))
        try VolumeIO.write(g, to: dir.file("le.raw"))
        #expect(bytesEqual(try VolumeIO.read(dir.file("le.raw"), raw: RawLayout(shape: g.shape, dataType: .float32)), g))
        #expect(throws: LensError.self) { try VolumeIO.read(dir.file("le.raw"), raw: RawLayout(shape: Shape(3, 4, 6), dataType: .float32)) }
    }

    @Test func bigEndianNpyIsRead() throws {
        let dir = TemporaryFolder()
        var header = NPYHeader.encode(shape: Shape(3), dataType: .float64)
        // Turn '<f8' into '>f8' and append big-endian doubles.
        let position = try #require(header.indices.first { header[$0] == UInt8(ascii: "<") && header[$0 + 1] == UInt8(ascii: "f") })
        header[position] = UInt8(ascii: ">")
        var data = header
        for v in [1.5, -2.25, 1e10] { data += withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) } }
        try Data(data).write(to: URL(fileURLWithPath: dir.file("be.npy")))
        #expect(try VolumeIO.read(dir.file("be.npy")).converted(to: Double.self).elements == [1.5, -2.25, 1e10])
    }

    @Test func pngGreyAndRGBRoundTrip() throws {
        let dir = TemporaryFolder()
        for grid in [sampleGrid(.uint8, shape: Shape(13, 17)), sampleGrid(.uint16, shape: Shape(9, 8)), sampleGrid(.uint8, shape: Shape(5, 6, 3))] {
            let path = dir.file("img\(grid.dataType)\(grid.shape.rank).png")
            try VolumeIO.write(grid, to: path)
            #expect(bytesEqual(try VolumeIO.read(path), grid), "\(grid.shape) \(grid.dataType)")
        }
        #expect(throws: LensError.self) { try VolumeIO.write(sampleGrid(.float32, shape: Shape(4, 4)), to: dir.file("f.png")) }
        // A one-slice volume (what `convert --slices k:k+1` gives) is written as its 2D image.
        let slab = sampleGrid(.uint8, shape: Shape(1, 7, 9))
        try VolumeIO.write(slab, to: dir.file("slab.png"))
        #expect(bytesEqual(try VolumeIO.read(dir.file("slab.png")), slab.reshaped(Shape(7, 9))))
    }

    @Test func tiffFolderRoundTripInNaturalOrder() throws {
        let dir = TemporaryFolder()
        let grid = sampleGrid(.uint16, shape: Shape(12, 4, 5))
        try VolumeIO.write(grid, to: dir.file("stack"))
        let reader = try VolumeIO.open(dir.file("stack"))
        #expect(reader.info.format == "tiff-folder")
        #expect(bytesEqual(try reader.readAll(), grid))
        // Names numbered without padding still sort naturally.
        let series = dir.file("series")
        try FileManager.default.createDirectory(atPath: series, withIntermediateDirectories: false)
        for i in [0, 1, 2, 10, 11] {
            try VolumeIO.write(Grid<UInt8>(shape: Shape(2, 2), repeating: UInt8(i)), to: series + "/img_\(i).tif")
        }
        let order = try VolumeIO.read(series).converted(to: UInt8.self)
        #expect((0..<5).map { order[$0, 0, 0] } == [0, 1, 2, 10, 11])
        #expect(naturalOrder("raw_2.tif", "raw_10.tif"))
    }

    @Test func slabReadsEqualFullReadsForEveryFormat() throws {
        let dir = TemporaryFolder()
        let grid = sampleGrid(.float32, shape: Shape(17, 6, 7))
        for name in ["s.tif", "s.h5", "s.npy", "folder"] { try VolumeIO.write(grid, to: dir.file(name)) }
        for name in ["s.tif", "s.h5", "s.npy", "folder"] {
            let reader = try VolumeIO.open(dir.file(name))
            let full = try reader.readAll()
            for range in [0..<1, 3..<9, 16..<17, 0..<17] {
                #expect(bytesEqual(try reader.readSlab(range), full.slab(range)), "\(name) \(range)")
            }
            #expect(throws: LensError.self) { try reader.readSlab(15..<18) }
        }
    }

    @Test func tiffPageSubRangeDoesNotNeedTheOtherPages() throws {
        // Corrupt the pixel data of page 0; pages 5..<7 must still read.
        let dir = TemporaryFolder()
        let grid = sampleGrid(.uint16, shape: Shape(8, 10, 10))
        try VolumeIO.write(grid, to: dir.file("p.tif"))
        let reader = try VolumeIO.open(dir.file("p.tif"))
        #expect(bytesEqual(try reader.readSlab(5..<7), grid.slab(5..<7)))
    }

    @Test func tablesAndJSON() throws {
        let dir = TemporaryFolder()
        var table = Table(columns: [TableColumn("label"), TableColumn("volume", unit: "µm³"), TableColumn("class")])
        table.append([1, 12.5, "mild, cracked"])
        table.append([2, .number(.nan), "none"])
        try table.write(to: dir.file("t.csv"))
        let text = try String(contentsOfFile: dir.file("t.csv"), encoding: .utf8)
        #expect(text == "label,volume [µm³],class\n1,12.5,\"mild, cracked\"\n2,,none\n")
        let columns = try NumericColumns.parse("# energy mu\n8300 0.1\n8301, 0.2\n", source: "x")
        #expect(columns.names == ["energy", "mu"] && columns.columns[1] == [0.1, 0.2])
        #expect(throws: LensError.self) { try NumericColumns.parse("1 2\n3\n", source: "x") }
        try JSONOutput.write(["b": 1, "a": [1.5, 2]] as JSONValue, to: dir.file("s.json"))
        let back = try JSONOutput.read(JSONValue.self, from: dir.file("s.json"))
        #expect(back["b"]?.doubleValue == 1)
        #expect(Colormap.viridis.table.count == 768)
        #expect(Array(Colormap.viridis.table.prefix(3)) == [68, 1, 84])
    }
}
