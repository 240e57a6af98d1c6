import Foundation
import LensCore
import LensIO
import Testing

/// PNG bytes made in memory are the same image as the file writer's, and read back exactly.
struct PNGMemoryTests {
    @Test func inMemoryEncodingRoundTrips() throws {
        let rgb = Grid<UInt8>(shape: Shape(7, 11, 3)) { UInt8(($0 * 37) % 256) }
        let data = try PNGWriter.encodedData(.uint8(rgb))
        #expect(data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let path = NSTemporaryDirectory() + "batterylens-png-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try data.write(to: URL(fileURLWithPath: path))
        let back = try PNGReader(path: path).readAll()
        #expect(back.shape == rgb.shape)
        #expect(try back.converted(to: UInt8.self).elements == rgb.elements)
        #expect(throws: LensError.self) { try PNGWriter.encodedData(.uint8(Grid<UInt8>(shape: Shape(2, 2, 4)))) }
    }
}
