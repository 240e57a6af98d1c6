import Foundation
import LensCore
import LensIO
import Testing

/// Zeiss Xradia files from TomoPy's test data. The reference values (angles, pixel size,
/// energy, shifts, per-image sums of the raw uint16 counts, a few pixels) are printed by
/// `Benchmarks/peers/xradia_reference.py`, which reads the files with `olefile` (an independent
/// OLE2 reader) and numpy.
@Suite struct XradiaTests {
    let txrm = sharedData + "/tomography/tomopy/txrm_test_chip_tomo.txrm"
    let xrm = sharedData + "/tomography/tomopy/test_chip00.xrm"

    @Test func tomographySeries() throws {
        let file = try XradiaFile(path: txrm)
        #expect(file.imageCount == 7)
        #expect(file.imageShape == Shape(256, 256))
        #expect(file.pixelType == .uint16)
        #expect(file.anglesDegrees.count == 7)
        #expect(abs(file.anglesDegrees[0] - -45.018002) < 1e-5 && abs(file.anglesDegrees[6] - 44.985878) < 1e-5)
        #expect(abs(file.pixelSizeMicrometres! - 0.15578948) < 1e-7)
        #expect(abs(file.energiesElectronvolts[0] - 9200.017) < 1e-3)
        #expect(file.exposureTimesSeconds == [Double](repeating: 5, count: 7))
        #expect(abs(file.xShiftsPixels[2] - 1.2806183) < 1e-6)
        let sums: [Double] = [4280467, 5708686, 6420958, 6923329, 6523982, 5553009, 4079730]
        let reader = try VolumeIO.open(txrm)
        #expect(reader.info.format == "xradia" && reader.info.shape == Shape(7, 256, 256))
        let all = try reader.readAll().float32()
        for k in 0..<7 {
            let s = all.elements[(k * 65536)..<((k + 1) * 65536)].reduce(0.0) { $0 + Double($1) }
            #expect(s == sums[k], "image \(k)")
        }
        #expect(all[3, 100, 120] == 108 && all[3, 103, 123] == 109)
        // A row range of one image reads only those rows, with the same values.
        let rows = try file.readImage(3, rows: 100..<104).float32()
        #expect(rows.shape == Shape(4, 256) && rows[0, 120] == 108 && rows[3, 123] == 109)
        #expect(try file.referenceImage() == nil)
    }

    @Test func singleImageWithReference() throws {
        let file = try XradiaFile(path: xrm)
        #expect(file.imageCount == 1 && file.imageShape == Shape(512, 512))
        #expect(abs(file.pixelSizeMicrometres! - 0.07789474) < 1e-7)
        #expect(abs(file.energiesElectronvolts[0] - 7191.0464) < 1e-3)
        let reference = try #require(try file.referenceImage()).float32()
        #expect(reference.shape == Shape(512, 512))
        // Open beam is brighter than the sample image on average.
        let image = try file.readImage(0).float32()
        #expect(reference.valueStatistics().mean > image.valueStatistics().mean)
    }

    @Test func projectionSourceTakesAnglesAndRefusesMissingReference() throws {
        #expect(throws: LensError.self) { try XradiaProjectionSource(path: txrm) }
        // The file's own reference serves as flat when present.
        let source = try XradiaProjectionSource(path: xrm)
        #expect(source.anglesDegrees.count == 1 && source.pixelSizeMicrometres != nil)
        #expect(try source.flatGroups().count == 1)
        let rows = try source.readRows(10..<12)
        #expect(rows.shape == Shape(1, 2, 512))
        // A reference of another frame size is refused, naming the file.
        do {
            _ = try XradiaProjectionSource(path: txrm, flats: xrm)
            Issue.record("a 512² reference for 256² projections was accepted")
        } catch let error as LensError {
            #expect(error.description.contains("test_chip00.xrm"))
        }
    }

    @Test func notACompoundDocument() throws {
        let folder = TemporaryFolder()
        let path = folder.file("fake.txrm")
        try Data("not an OLE2 file at all".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try VolumeIO.open(path)
            Issue.record("a text file opened as Xradia")
        } catch let error as LensError {
            #expect(error.description.contains("fake.txrm") && error.description.contains("OLE2"))
        }
    }
}
