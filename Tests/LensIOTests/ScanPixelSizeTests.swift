import Foundation
import LensCore
import LensIO
import Testing

/// Pixel sizes recorded by NeXus (NXtomo) and Data Exchange scans are read (issue 17: they
/// were said to be read, but every such scan reconstructed in 1/pixel or needed --pixel-um),
/// converted with their units, and a bare detector pixel is never taken as the size at the
/// sample.
@Suite(.serialized) final class ScanPixelSizeTests {
    let dir = NSTemporaryDirectory() + "batterylens-pixel-size-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// A minimal NXtomo: 4 projections, 1 flat, 1 dark of 2×3, plus `fields` (path, value, units).
    func nxtomo(_ name: String, _ fields: [(String, Double, String?)]) throws -> String {
        let path = dir + "/" + name
        let file = try HDF5File(creating: path)
        let data = try file.createDataset("/entry/instrument/detector/data", shape: Shape(6, 2, 3), dataType: .uint16)
        try data.write(AnyGrid(Grid<UInt16>(shape: Shape(6, 2, 3)) { UInt16(100 + $0) }), at: 0)
        try file.writeDoubles([0, 0, 0, 0, 1, 2], to: "/entry/instrument/detector/image_key")
        try file.writeDoubles([0, 45, 90, 135, 0, 0], to: "/entry/sample/rotation_angle")
        try file.setAttribute("NX_class", string: "NXdetector", on: "/entry/instrument/detector")
        for (field, value, units) in fields {
            try file.writeDoubles([value], to: field)
            if let units { try file.setAttribute("units", string: units, on: field) }
        }
        return path
    }

    @Test func nexusSamplePixelSize() throws {
        let path = try nxtomo("sample.nxs", [("/entry/sample/x_pixel_size", 6.5e-7, "m"), ("/entry/instrument/detector/x_pixel_size", 6.5e-6, "m")])
        let size = try #require(try TomographyScanReader(path: path).recordedPixelSize)
        #expect(abs(size.micrometres - 0.65) < 1e-9 && size.source == "/entry/sample/x_pixel_size")
    }

    @Test func nexusDetectorPixelWithMagnificationOrDistances() throws {
        let optics = try nxtomo("optics.nxs", [("/entry/instrument/detector/x_pixel_size", 6.5, "um"), ("/entry/instrument/detector/magnification", 10, nil)])
        #expect(abs((try TomographyScanReader(path: optics).storedPixelSizeMicrometres ?? 0) - 0.65) < 1e-9)
        // Cone beam: source 100 mm upstream (negative, as NeXus places it), detector 400 mm
        // downstream: magnification 5, so a 75 µm detector pixel is 15 µm at the sample.
        let cone = try nxtomo("cone.nxs", [("/entry/instrument/detector/x_pixel_size", 0.075, "mm"), ("/entry/instrument/source/distance", -0.1, "m"),
                                           ("/entry/instrument/detector/distance", 400, "mm")])
        #expect(abs((try TomographyScanReader(path: cone).storedPixelSizeMicrometres ?? 0) - 15) < 1e-9)
    }

    @Test func bareDetectorPixelOrMissingUnitsAreNotUsed() throws {
        Notices.reset()
        let bare = try nxtomo("bare.nxs", [("/entry/instrument/detector/x_pixel_size", 6.5e-6, "m")])
        #expect(try TomographyScanReader(path: bare).storedPixelSizeMicrometres == nil)
        #expect(Notices.all.contains { $0.contains("detector pixel of 6.5 µm") && $0.contains("--pixel-um") })
        let unitless = try nxtomo("unitless.nxs", [("/entry/sample/x_pixel_size", 0.65, nil)])
        #expect(try TomographyScanReader(path: unitless).storedPixelSizeMicrometres == nil)
        #expect(Notices.all.contains { $0.contains("no units attribute") })
    }

    @Test func dataExchangePixelSizes() throws {
        func scan(_ name: String, _ fields: [(String, Double, String?)]) throws -> String {
            let path = dir + "/" + name
            let file = try HDF5File(creating: path)
            let data = try file.createDataset("/exchange/data", shape: Shape(4, 2, 3), dataType: .uint16)
            try data.write(AnyGrid(Grid<UInt16>(shape: Shape(4, 2, 3)) { UInt16(100 + $0) }), at: 0)
            for (field, value, units) in fields {
                try file.writeDoubles([value], to: field)
                if let units { try file.setAttribute("units", string: units, on: field) }
            }
            return path
        }
        let actual = try scan("actual.h5", [("/measurement/instrument/detector/actual_pixel_size_x", 1.3, "microns")])
        #expect(abs((try TomographyScanReader(path: actual).storedPixelSizeMicrometres ?? 0) - 1.3) < 1e-9)
        let objective = try scan("objective.h5", [("/measurement/instrument/detector/pixel_size_x", 6.5, "um"),
                                                  ("/measurement/instrument/detection_system/objective/magnification", 5, nil)])
        #expect(abs((try TomographyScanReader(path: objective).storedPixelSizeMicrometres ?? 0) - 1.3) < 1e-9)
    }
}
