import Foundation
import LensCore
import LensIO
import Testing

/// Real measured files in ../shared/data (see its README for their sources and values).
@Suite struct FacilityFileTests {
    @Test func dataExchangeToothScan() throws {
        let scan = try TomographyScanReader(path: sharedData + "/tomography/tomopy/tooth.h5")
        #expect(scan.layout == .dataExchange)
        #expect(scan.projectionCount == 181)
        #expect(scan.frameShape == Shape(2, 640))
        #expect(scan.anglesDegrees.first == 0)
        #expect(abs(scan.anglesDegrees.last! - 179.006) < 0.01)
        let flats = try #require(try scan.readFlats())
        let darks = try #require(try scan.readDarks())
        #expect(flats.shape == Shape(10, 2, 640) && darks.shape == Shape(10, 2, 640))
        // Open beam is brighter than the detector's dark signal.
        let flatMean = try flats.float32().valueStatistics().mean
        let darkMean = try darks.float32().valueStatistics().mean
        #expect(flatMean > 5 * darkMean)
        // The default dataset of the file is the projections.
        #expect(try VolumeIO.open(sharedData + "/tomography/tomopy/tooth.h5").info.metadata["dataset"] == "/exchange/data")
        let slab = try scan.readProjections(90..<92)
        #expect(bytesEqual(slab, try VolumeIO.open(sharedData + "/tomography/tomopy/tooth.h5:/exchange/data").readSlab(90..<92)))
    }

    @Test func nexusScanWithExternalLinks() throws {
        let path = sharedData + "/tomography/httomo/k11_diad/k11-18014.nxs"
        let scan = try TomographyScanReader(path: path)
        #expect(scan.layout == .nxtomo)
        #expect(scan.projectionCount == 3001)
        #expect(scan.flatFrames.count == 100 && scan.darkFrames.count == 100)
        #expect(scan.frameShape == Shape(22, 26))
        #expect(scan.dataType == .uint16)
        // Angles over 90..270° (README), increasing through the scan.
        #expect(scan.anglesDegrees.allSatisfy { $0 > 89.9 && $0 < 270.1 })
        #expect(scan.anglesDegrees.last! - scan.anglesDegrees.first! > 179)
        // The data live in an external file: reading them follows the link.
        let projections = try scan.readProjections(0..<3)
        let flats = try #require(try scan.readFlats())
        let darks = try #require(try scan.readDarks())
        let p = try projections.float32().valueStatistics().mean
        let f = try flats.float32().valueStatistics().mean
        let d = try darks.float32().valueStatistics().mean
        #expect(d < p && p < f)
    }

    @Test func tiffProjectionFolderWithAngles() throws {
        let reader = try VolumeIO.open(sharedData + "/tomography/savu/image_test/tiffs")
        #expect(reader.info.shape == Shape(91, 135, 160))
        #expect(reader.info.dataType == .uint16)
        let angles = try NumericColumns.read(sharedData + "/tomography/savu/image_test/angles.txt")
        #expect(angles.columns[0].count == 111)
        #expect(abs(angles.columns[0][0] + 88.2) < 1e-9 && abs(angles.columns[0][110] - 91.8) < 1e-9)
        let flat = try VolumeIO.read(sharedData + "/tomography/savu/image_test/flat_00001.tiff")
        #expect(flat.shape == Shape(135, 160))
    }

    @Test func electrodeLabelVolumes() throws {
        let matbox = try VolumeIO.open(sharedData + "/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif")
        #expect(matbox.info.shape == Shape(251, 301, 301))
        // Published phase fractions: pore 40.0 %, NMC 49.95 %, CBD 10.0 %.
        let labels = try matbox.readAll().converted(to: UInt8.self)
        var counts = [0, 0, 0]
        labels.withUnsafeBufferPointer { for v in $0 { counts[Int(v)] += 1 } }
        let total = Double(labels.count)
        #expect(abs(Double(counts[0]) / total - 0.400) < 0.001)
        #expect(abs(Double(counts[1]) / total - 0.4995) < 0.001)
        #expect(abs(Double(counts[2]) / total - 0.100) < 0.001)
    }
}
