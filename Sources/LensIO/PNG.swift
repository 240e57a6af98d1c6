import CPNG
import Foundation
import LensCore

/// PNG through libpng's simplified API. Images are 2D `(row, column)` grids of `uint8` or
/// `uint16` grey, or 3D `(row, column, 3)` `uint8` RGB. 16-bit files are written and read as
/// linear 16-bit grey (no gamma conversion), so values round-trip exactly.
public final class PNGReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    private let grid: AnyGrid

    public init(path: String) throws {
        source = path
        grid = try PNGReader.decode(path: path)
        info = VolumeInfo(shape: grid.shape, dataType: grid.dataType, format: "png",
                          metadata: ["channels": grid.shape.rank == 3 ? "RGB" : "grey"])
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        return range == 0..<info.shape[0] ? grid : grid.slab(range).copied()
    }

    static func decode(path: String) throws -> AnyGrid {
        var image = png_image()
        cpng_image_init(&image)
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            png_image_free(&image)
            throw LensError.badInput(file: path, problem: "cannot read PNG (\(message))")
        }
        let width = Int(image.width), height = Int(image.height)
        let isColour = image.format & cpng_format_flag_color() != 0
        let isSixteen = image.format & cpng_format_flag_linear() != 0
        if isColour && isSixteen {
            png_image_free(&image)
            throw LensError.badInput(file: path, problem: "16-bit colour PNGs are not read (their values would be cut to 8 bits); save it as 16-bit greyscale or 8-bit colour")
        }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        do {
            // Deflate expands at most ~1032:1; a header claiming more than that cannot be honest.
            try DecodedSize.requirePlausible(elements: width * height * (isColour ? 3 : 1), elementBytes: isSixteen ? 2 : 1,
                                             fileBytes: fileBytes, maximumRatio: 1100, file: path)
        } catch { png_image_free(&image); throw error }
        var result: AnyGrid
        if isColour {
            image.format = cpng_format_rgb()
            result = .uint8(Grid(shape: Shape(height, width, 3)))
        } else if isSixteen {
            image.format = cpng_format_linear_gray()
            result = .uint16(Grid(shape: Shape(height, width)))
        } else {
            image.format = cpng_format_gray()
            result = .uint8(Grid(shape: Shape(height, width)))
        }
        let ok = result.withUnsafeMutableRawBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            png_image_free(&image)
            throw LensError.badInput(file: path, problem: "corrupt or truncated PNG (\(message))")
        }
        return result
    }
}

/// Writes one PNG image atomically.
public final class PNGWriter: VolumeWriter {
    public let info: VolumeInfo
    public let destination: String
    private var finished = false
    private var pending: AnyGrid?

    /// A volume of a single slice (1, rows, columns) is written as that 2D image.
    public init(path: String, info: VolumeInfo) throws {
        let singleSlice = info.shape.rank == 3 && info.shape[0] == 1 && info.shape[2] != 3
        let isGrey = (info.shape.rank == 2 || singleSlice) && (info.dataType == .uint8 || info.dataType == .uint16)
        let isRGB = info.shape.rank == 3 && info.shape[2] == 3 && info.dataType == .uint8
        guard isGrey || isRGB else {
            throw LensError.badOutput(file: path, problem: "PNG holds 2D uint8/uint16 grey or (rows, columns, 3) uint8 RGB, not \(info.shape) \(info.dataType); convert with --to-dtype, or render a slice with `batterylens slice`")
        }
        self.info = info
        destination = path
    }

    public func writeSlab(_ slab: AnyGrid, at start: Int) throws {
        try checkSlab(slab, at: start)
        guard start == 0, slab.shape == info.shape else { throw LensError.invalidArgument("\(destination): a PNG is written in one piece") }
        pending = slab
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        guard let grid = pending else { throw LensError.badOutput(file: destination, problem: "no image was written") }
        let isSingleSlice = grid.shape.rank == 3 && grid.shape[0] == 1 && grid.shape[2] != 3
        try PNGWriter.encode(isSingleSlice ? grid.reshaped(grid.shape.sliceShape) : grid, to: destination)
    }

    public func abort() { finished = true; pending = nil }

    /// The simplified-API description of a grey or RGB grid.
    static func imageHeader(_ grid: AnyGrid, for path: String) throws -> png_image {
        var image = png_image()
        cpng_image_init(&image)
        image.height = UInt32(grid.shape[0])
        image.width = UInt32(grid.shape[1])
        switch (grid.dataType, grid.shape.rank) {
        case (.uint8, 2): image.format = cpng_format_gray()
        case (.uint16, 2): image.format = cpng_format_linear_gray()
        case (.uint8, 3) where grid.shape[2] == 3: image.format = cpng_format_rgb()
        default: throw LensError.badOutput(file: path, problem: "PNG cannot hold \(grid.shape) \(grid.dataType)")
        }
        return image
    }

    /// The PNG bytes of a grey or RGB grid, in memory (figures embedded in SVG or HTML).
    public static func encodedData(_ grid: AnyGrid) throws -> Data {
        var image = try imageHeader(grid, for: "PNG in memory")
        var size = 0
        // First the size, then the bytes.
        guard grid.withGrid({ g in g.withUnsafeRawBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) } }) != 0, size > 0 else {
            throw LensError.badOutput(file: "PNG in memory", problem: "libpng could not size the image")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { out in
            grid.withGrid { g in g.withUnsafeRawBytes { png_image_write_to_memory(&image, out.baseAddress, &size, 0, $0.baseAddress, 0, nil) } }
        }
        guard ok != 0 else { throw LensError.badOutput(file: "PNG in memory", problem: "libpng could not encode the image") }
        return Data(bytes.prefix(size))
    }

    /// Encodes a grey or RGB grid to `path` atomically.
    public static func encode(_ grid: AnyGrid, to path: String) throws {
        try AtomicOutput.write(to: path) { temporary in
            var image = try imageHeader(grid, for: path)
            let ok = grid.withGrid { g in g.withUnsafeRawBytes { png_image_write_to_file(&image, temporary, 0, $0.baseAddress, 0, nil) } }
            guard ok != 0 else {
                let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                throw LensError.badOutput(file: path, problem: "cannot write PNG (\(message))")
            }
        }
    }
}
