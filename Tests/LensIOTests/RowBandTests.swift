import Foundation
import LensCore
import LensIO
import Testing

/// Bands of rows read without the rest of each slice equal the same rows cut from whole
/// slices, for every format that streams bands: uncompressed and deflate TIFF (several strips
/// per page: bands inside one strip and across strips), a TIFF folder, HDF5, NPY, and a real
/// PackBits TIFF with 27-row strips (MATBOX electrode).
@Suite struct RowBandTests {
    func expectBandsMatch(_ reader: VolumeReader, bands: [Range<Int>], slices: Range<Int>) throws {
        let band = try #require(reader as? RowBandReader, "\(reader.info.format) reads no row bands")
        let whole = try reader.readSlab(slices)
        let (rows, cols) = (reader.info.shape[1], reader.info.shape[2])
        for r in bands {
            let got = try band.readRows(r, slices: slices)
            #expect(got.shape == Shape(slices.count, r.count, cols))
            let a = try whole.converted(to: Double.self), b = try got.converted(to: Double.self)
            var same = true
            for k in 0..<slices.count { for y in 0..<r.count { for x in 0..<cols where a[linear: k * rows * cols + (r.lowerBound + y) * cols + x] != b[linear: (k * r.count + y) * cols + x] {
                same = false
            } } }
            #expect(same, "\(reader.info.format) rows \(r) of slices \(slices)")
        }
    }

    @Test func everyStreamingFormat() throws {
        let folder = TemporaryFolder()
        // 300 columns of float32: 218 rows per 256 KiB strip, so 500 rows make 3 strips.
        let grid = sampleGrid(.float32, shape: Shape(5, 500, 300))
        let bands = [0..<1, 10..<20, 200..<230, 430..<500, 0..<500]
        for (name, options) in [("plain.tif", WriteOptions()), ("deflate.tif", WriteOptions(compressionLevel: 3))] {
            try VolumeIO.write(grid, to: folder.file(name), options: options)
            try expectBandsMatch(try VolumeIO.open(folder.file(name)), bands: bands, slices: 1..<4)
        }
        try VolumeIO.write(grid, to: folder.file("series"))
        try expectBandsMatch(try VolumeIO.open(folder.file("series")), bands: bands, slices: 0..<5)
        for name in ["v.h5", "v.npy"] {
            try VolumeIO.write(grid, to: folder.file(name))
            try expectBandsMatch(try VolumeIO.open(folder.file(name)), bands: bands, slices: 2..<5)
        }
        let matbox = try VolumeIO.open(sharedData + "/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif")
        try expectBandsMatch(matbox, bands: [0..<5, 20..<40, 290..<301], slices: 100..<103)
        try expectBandsMatch(try VolumeIO.open(sharedData + "/tomography/tomopy/txrm_test_chip_tomo.txrm"), bands: [7..<9, 100..<200], slices: 0..<7)
    }
}
