import CTIFF
import Foundation
import LensCore

/// libtiff keeps global error handlers: installed once, and every call is serialized.
let tiffLock = NSRecursiveLock()
private let tiffHandlers: Void = { ctiff_install_handlers() }()

func withTIFF<R>(_ body: () throws -> R) rethrows -> R {
    _ = tiffHandlers
    tiffLock.lock()
    defer { tiffLock.unlock() }
    return try body()
}

/// The last message libtiff reported, for error text.
private func tiffMessage() -> String {
    let m = String(cString: ctiff_last_error())
    return m.isEmpty ? "" : " (\(m))"
}

/// One page's layout.
struct TIFFPage: Equatable {
    var width: Int
    var height: Int
    var dataType: DataType
    var tiled: Bool
    var description: String?
    var xResolution: Float?
    var resolutionUnit: UInt16
    /// A bilevel page (1 bit per pixel, rows padded to whole bytes): read as uint8 0/1, the
    /// stored bits as they are (as tifffile reads them; the photometric interpretation only says
    /// how to display them, as for every other sample type).
    var bilevel = false
}

/// Low-level access to one TIFF file through libtiff.
final class TIFFHandle {
    let path: String
    let tif: OpaquePointer

    init(path: String, mode: String) throws {
        self.path = path
        let handle: OpaquePointer? = withTIFF {
            ctiff_clear_error()
            return TIFFOpen(path, mode)
        }
        guard let handle else {
            if mode.hasPrefix("r") {
                throw LensError.badInput(file: path, problem: "cannot open as TIFF\(tiffMessage())")
            }
            throw LensError.badOutput(file: path, problem: "cannot create TIFF\(tiffMessage())")
        }
        tif = handle
    }

    deinit { withTIFF { TIFFClose(tif) } }

    /// Offsets of every page's IFD, walking the chain once (IFDs only, no pixel data).
    func pageOffsets() throws -> [UInt64] {
        try withTIFF {
            var offsets = [UInt64]()
            guard TIFFSetDirectory(tif, 0) == 1 else { throw LensError.badInput(file: path, problem: "no readable first page\(tiffMessage())") }
            repeat {
                offsets.append(TIFFCurrentDirOffset(tif))
                if TIFFLastDirectory(tif) != 0 { return offsets }
            } while TIFFReadDirectory(tif) == 1
            // The chain points to another page that cannot be read: a truncated or corrupt file,
            // not a shorter stack.
            throw LensError.badInput(file: path, problem: "page \(offsets.count) cannot be read (truncated or corrupt file?)\(tiffMessage())")
        }
    }

    /// Describes the current page; fails for layouts BatteryLens does not read.
    func currentPage() throws -> TIFFPage {
        try withTIFF {
            var width: UInt32 = 0, height: UInt32 = 0, bits: UInt16 = 0, format: UInt16 = 1, samples: UInt16 = 1, unit: UInt16 = 1
            ctiff_get_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &width)
            ctiff_get_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), &height)
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_BITSPERSAMPLE), &bits)
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_SAMPLEFORMAT), &format)
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &samples)
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_RESOLUTIONUNIT), &unit)
            guard samples == 1 else {
                throw LensError.badInput(file: path, problem: "\(samples) samples per pixel (colour TIFF); only single-channel images are read")
            }
            let type: DataType?
            switch (format, bits) {
            case (1, 1): type = .uint8
            case (1, 8): type = .uint8
            case (1, 16): type = .uint16
            case (1, 32): type = .uint32
            case (1, 64): type = .uint64
            case (2, 8): type = .int8
            case (2, 16): type = .int16
            case (2, 32): type = .int32
            case (2, 64): type = .int64
            case (3, 32): type = .float32
            case (3, 64): type = .float64
            default: type = nil
            }
            guard let type else {
                throw LensError.badInput(file: path, problem: "unsupported sample layout: \(bits) bits, sample format \(format)")
            }
            var description: UnsafePointer<CChar>?
            let text = ctiff_get_string(tif, UInt32(TIFFTAG_IMAGEDESCRIPTION), &description) == 1 ? description.map { String(cString: $0) } : nil
            var xres: Float = 0
            let hasRes = ctiff_get_float(tif, UInt32(TIFFTAG_XRESOLUTION), &xres) == 1
            let bilevel = bits == 1
            if bilevel && TIFFIsTiled(tif) != 0 {
                throw LensError.badInput(file: path, problem: "tiled 1-bit pages are not read; convert the image to 8-bit")
            }
            return TIFFPage(width: Int(width), height: Int(height), dataType: type, tiled: TIFFIsTiled(tif) != 0,
                            description: text, xResolution: hasRes && xres > 0 ? xres : nil, resolutionUnit: unit,
                            bilevel: bilevel)
        }
    }

    /// Moves to the page whose IFD is at `offset`.
    func setPage(offset: UInt64) throws {
        let ok = withTIFF { TIFFSetSubDirectory(tif, offset) }
        guard ok == 1 else { throw LensError.badInput(file: path, problem: "cannot read page directory\(tiffMessage())") }
    }

    /// Reads the current page's pixels into `destination` (width × height × elementSize bytes).
    func readCurrentPage(_ page: TIFFPage, into destination: UnsafeMutableRawPointer, pageIndex: Int) throws {
        try withTIFF {
            ctiff_clear_error()
            let elementSize = page.dataType.byteSize
            let rowBytes = page.width * elementSize
            if page.bilevel {
                try readBilevelPage(page, into: destination, pageIndex: pageIndex)
            } else if page.tiled {
                var tileWidth: UInt32 = 0, tileHeight: UInt32 = 0
                ctiff_get_u32(tif, UInt32(TIFFTAG_TILEWIDTH), &tileWidth)
                ctiff_get_u32(tif, UInt32(TIFFTAG_TILELENGTH), &tileHeight)
                let tileBytes = Int(TIFFTileSize(tif))
                let tile = UnsafeMutableRawPointer.allocate(byteCount: tileBytes, alignment: 16)
                defer { tile.deallocate() }
                var y = 0
                while y < page.height {
                    var x = 0
                    while x < page.width {
                        let index = TIFFComputeTile(tif, UInt32(x), UInt32(y), 0, 0)
                        guard TIFFReadEncodedTile(tif, index, tile, tmsize_t(tileBytes)) >= 0 else {
                            throw LensError.badInput(file: path, problem: "page \(pageIndex): cannot decode tile at (\(y), \(x))\(tiffMessage())")
                        }
                        let rows = Swift.min(Int(tileHeight), page.height - y)
                        let cols = Swift.min(Int(tileWidth), page.width - x)
                        for r in 0..<rows {
                            (destination + (y + r) * rowBytes + x * elementSize)
                                .copyMemory(from: tile + r * Int(tileWidth) * elementSize, byteCount: cols * elementSize)
                        }
                        x += Int(tileWidth)
                    }
                    y += Int(tileHeight)
                }
            } else {
                var rowsPerStrip: UInt32 = 0
                if ctiff_get_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &rowsPerStrip) != 1 || rowsPerStrip == 0 || Int(rowsPerStrip) > page.height {
                    rowsPerStrip = UInt32(page.height)
                }
                let strips = Int(TIFFNumberOfStrips(tif))
                for s in 0..<strips {
                    let firstRow = s * Int(rowsPerStrip)
                    let rows = Swift.min(Int(rowsPerStrip), page.height - firstRow)
                    guard rows > 0 else { break }
                    // Strips are whole consecutive rows: decode straight into place.
                    let n = TIFFReadEncodedStrip(tif, UInt32(s), destination + firstRow * rowBytes, tmsize_t(rows * rowBytes))
                    guard n >= 0 else {
                        throw LensError.badInput(file: path, problem: "page \(pageIndex): cannot decode strip \(s) (truncated or corrupt?)\(tiffMessage())")
                    }
                    if Int(n) < rows * rowBytes {
                        throw LensError.badInput(file: path, problem: "page \(pageIndex): strip \(s) is short (\(n) of \(rows * rowBytes) bytes; truncated file?)")
                    }
                }
            }
        }
    }

    /// Decodes a bilevel page strip by strip and unpacks its bits (most significant first, each
    /// row starting on a byte) to one byte per pixel, 0 or 1. Called inside `withTIFF`.
    private func readBilevelPage(_ page: TIFFPage, into destination: UnsafeMutableRawPointer, pageIndex: Int) throws {
        var rowsPerStrip: UInt32 = 0
        if ctiff_get_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &rowsPerStrip) != 1 || rowsPerStrip == 0 || Int(rowsPerStrip) > page.height {
            rowsPerStrip = UInt32(page.height)
        }
        let packedRow = (page.width + 7) / 8
        let packed = UnsafeMutablePointer<UInt8>.allocate(capacity: Int(rowsPerStrip) * packedRow)
        defer { packed.deallocate() }
        let out = destination.assumingMemoryBound(to: UInt8.self)
        for s in 0..<Int(TIFFNumberOfStrips(tif)) {
            let firstRow = s * Int(rowsPerStrip)
            let rows = Swift.min(Int(rowsPerStrip), page.height - firstRow)
            guard rows > 0 else { break }
            let n = TIFFReadEncodedStrip(tif, UInt32(s), packed, tmsize_t(rows * packedRow))
            guard n >= rows * packedRow else {
                throw LensError.badInput(file: path, problem: "page \(pageIndex): cannot decode 1-bit strip \(s) (truncated or corrupt?)\(tiffMessage())")
            }
            for r in 0..<rows {
                let row = out + (firstRow + r) * page.width
                for x in 0..<page.width { row[x] = (packed[r * packedRow + x >> 3] >> (7 - UInt8(x & 7))) & 1 }
            }
        }
    }

    /// Reads rows `rows` of the current page into `destination`, touching only the strips that
    /// hold them: uncompressed strips are read with one `pread` per strip for just those rows,
    /// compressed ones decoded whole and cut. Tiled pages are read whole and cut.
    func readCurrentPageRows(_ page: TIFFPage, rows: Range<Int>, into destination: UnsafeMutableRawPointer, pageIndex: Int) throws {
        let rowBytes = page.width * page.dataType.byteSize
        if rows == 0..<page.height { try readCurrentPage(page, into: destination, pageIndex: pageIndex); return }
        if page.tiled || page.bilevel {
            let whole = UnsafeMutableRawPointer.allocate(byteCount: page.height * rowBytes, alignment: 64)
            defer { whole.deallocate() }
            try readCurrentPage(page, into: whole, pageIndex: pageIndex)
            destination.copyMemory(from: whole + rows.lowerBound * rowBytes, byteCount: rows.count * rowBytes)
            return
        }
        // Strip layout (and, for plain pages, where each strip starts in the file).
        let (rowsPerStrip, stripOffsets): (Int, [Int]?) = withTIFF {
            var perStrip: UInt32 = 0
            if ctiff_get_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &perStrip) != 1 || perStrip == 0 || Int(perStrip) > page.height {
                perStrip = UInt32(page.height)
            }
            var compression: UInt16 = 1
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_COMPRESSION), &compression)
            var offsets: UnsafeMutablePointer<UInt64>?
            guard compression == UInt16(COMPRESSION_NONE), TIFFIsByteSwapped(tif) == 0, ctiff_get_strip_offsets(tif, &offsets) == 1, let offsets else {
                return (Int(perStrip), nil)
            }
            return (Int(perStrip), (0..<Int(TIFFNumberOfStrips(tif))).map { Int(offsets[$0]) })
        }
        var stripBuffer: UnsafeMutableRawPointer?
        defer { stripBuffer?.deallocate() }
        for strip in (rows.lowerBound / rowsPerStrip)...((rows.upperBound - 1) / rowsPerStrip) {
            let first = strip * rowsPerStrip, count = Swift.min(rowsPerStrip, page.height - first)
            let lo = Swift.max(rows.lowerBound, first), hi = Swift.min(rows.upperBound, first + count)
            let target = destination + (lo - rows.lowerBound) * rowBytes
            if let stripOffsets, strip < stripOffsets.count {
                try readRaw(into: target, fileOffset: stripOffsets[strip] + (lo - first) * rowBytes, byteCount: (hi - lo) * rowBytes)
                continue
            }
            try withTIFF {
                ctiff_clear_error()
                if stripBuffer == nil { stripBuffer = UnsafeMutableRawPointer.allocate(byteCount: rowsPerStrip * rowBytes, alignment: 64) }
                let n = TIFFReadEncodedStrip(tif, UInt32(strip), stripBuffer!, tmsize_t(count * rowBytes))
                guard n >= count * rowBytes else {
                    throw LensError.badInput(file: path, problem: "page \(pageIndex): cannot decode strip \(strip) (truncated or corrupt?)\(tiffMessage())")
                }
            }
            target.copyMemory(from: stripBuffer! + (lo - first) * rowBytes, byteCount: (hi - lo) * rowBytes)
        }
    }

    /// Where the current page's pixels lie in the file, when they can be read with plain
    /// `pread`s: uncompressed, striped, in the machine's byte order. nil otherwise (compressed,
    /// tiled or byte-swapped pages are decoded by libtiff).
    func rawSegments(_ page: TIFFPage) -> [(fileOffset: Int, byteCount: Int)]? {
        withTIFF {
            guard !page.tiled, !page.bilevel, TIFFIsByteSwapped(tif) == 0 else { return nil }
            var compression: UInt16 = 1
            ctiff_get_u16_default(tif, UInt32(TIFFTAG_COMPRESSION), &compression)
            guard compression == UInt16(COMPRESSION_NONE) else { return nil }
            var offsets: UnsafeMutablePointer<UInt64>?
            var counts: UnsafeMutablePointer<UInt64>?
            guard ctiff_get_strip_offsets(tif, &offsets) == 1, ctiff_get_strip_bytecounts(tif, &counts) == 1,
                  let offsets, let counts else { return nil }
            let total = page.width * page.height * page.dataType.byteSize
            var segments = [(fileOffset: Int, byteCount: Int)]()
            var covered = 0
            for s in 0..<Int(TIFFNumberOfStrips(tif)) where covered < total {
                let n = Swift.min(Int(counts[s]), total - covered)
                segments.append((Int(offsets[s]), n))
                covered += n
            }
            return covered == total ? segments : nil
        }
    }

    /// Reads `byteCount` bytes at `fileOffset` into `destination`.
    func readRaw(into destination: UnsafeMutableRawPointer, fileOffset: Int, byteCount: Int) throws {
        let fd = withTIFF { TIFFFileno(tif) }
        var done = 0
        while done < byteCount {
            let r = pread(fd, destination + done, byteCount - done, off_t(fileOffset + done))
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else {
                throw LensError.badInput(file: path, problem: "pixel data ends early at byte \(fileOffset + done) (truncated file?)")
            }
            done += r
        }
    }

    /// Sets the tags of the page being written. `rowsPerStrip` nil: strips of about 256 KiB
    /// (a band of rows is then read, or decompressed, without the rest of the page).
    func setPageFields(width: Int, height: Int, dataType: DataType, description: String?, pixelSizeMicrometres: Double?,
                       pageCount: Int, compressionLevel: Int?, rowsPerStrip: Int?) throws {
        let (format, bits): (UInt16, UInt16)
        switch dataType {
        case .uint8: (format, bits) = (1, 8)
        case .uint16: (format, bits) = (1, 16)
        case .uint32: (format, bits) = (1, 32)
        case .uint64: (format, bits) = (1, 64)
        case .int8: (format, bits) = (2, 8)
        case .int16: (format, bits) = (2, 16)
        case .int32: (format, bits) = (2, 32)
        case .int64: (format, bits) = (2, 64)
        case .float32: (format, bits) = (3, 32)
        case .float64: (format, bits) = (3, 64)
        case .complex64, .complex128:
            throw LensError.badOutput(file: path, problem: "TIFF cannot hold complex data; use .h5 or .npy")
        }
        withTIFF {
            ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(width))
            ctiff_set_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), UInt32(height))
            ctiff_set_u16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), bits)
            ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLEFORMAT), format)
            ctiff_set_u16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), 1)
            ctiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_MINISBLACK))
            ctiff_set_u16(tif, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG))
            let rowBytes = width * dataType.byteSize
            let rows = rowsPerStrip ?? Swift.max(1, Swift.min(height, (256 << 10) / Swift.max(1, rowBytes)))
            ctiff_set_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), UInt32(rows))
            if let level = compressionLevel {
                ctiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_ADOBE_DEFLATE))
                ctiff_set_u32(tif, UInt32(TIFFTAG_ZIPQUALITY), UInt32(Swift.max(1, Swift.min(9, level))))
            } else {
                ctiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_NONE))
            }
            if pageCount > 1 {
                ctiff_set_u32(tif, UInt32(TIFFTAG_SUBFILETYPE), UInt32(FILETYPE_PAGE))
            }
            if let description { ctiff_set_string(tif, UInt32(TIFFTAG_IMAGEDESCRIPTION), description) }
            if let pixel = pixelSizeMicrometres, pixel > 0 {
                ctiff_set_float(tif, UInt32(TIFFTAG_XRESOLUTION), Float(1 / pixel))
                ctiff_set_float(tif, UInt32(TIFFTAG_YRESOLUTION), Float(1 / pixel))
                ctiff_set_u16(tif, UInt32(TIFFTAG_RESOLUTIONUNIT), UInt16(RESUNIT_NONE))
            }
            ctiff_set_string(tif, UInt32(TIFFTAG_SOFTWARE), "\(BatteryLensVersion.name) \(BatteryLensVersion.string)")
        }
    }

    /// Writes the strips of the current page's pixels.
    func writeStrips(bytes: UnsafeRawPointer, width: Int, height: Int, dataType: DataType, pageNumber: Int) throws {
        try withTIFF {
            let rowBytes = width * dataType.byteSize
            var rowsPerStrip: UInt32 = 0
            if ctiff_get_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &rowsPerStrip) != 1 { rowsPerStrip = UInt32(height) }
            let step = Swift.max(1, Swift.min(height, Int(rowsPerStrip)))
            for (strip, firstRow) in stride(from: 0, to: height, by: step).enumerated() {
                let rows = Swift.min(step, height - firstRow)
                guard TIFFWriteEncodedStrip(tif, UInt32(strip), UnsafeMutableRawPointer(mutating: bytes + firstRow * rowBytes), tmsize_t(rows * rowBytes)) >= 0 else {
                    throw LensError.badOutput(file: path, problem: "cannot write page \(pageNumber)\(tiffMessage())")
                }
            }
        }
    }

    /// Writes one page (and ends its directory).
    func writePage(bytes: UnsafeRawPointer, width: Int, height: Int, dataType: DataType, description: String?,
                   pixelSizeMicrometres: Double?, pageNumber: Int?, pageCount: Int, compressionLevel: Int?) throws {
        ctiff_clear_error()
        try setPageFields(width: width, height: height, dataType: dataType, description: description, pixelSizeMicrometres: pixelSizeMicrometres,
                          pageCount: pageCount, compressionLevel: compressionLevel, rowsPerStrip: nil)
        try writeStrips(bytes: bytes, width: width, height: height, dataType: dataType, pageNumber: pageNumber ?? 0)
        try withTIFF {
            guard TIFFWriteDirectory(tif) == 1 else {
                throw LensError.badOutput(file: path, problem: "cannot finish page \(pageNumber ?? 0)\(tiffMessage())")
            }
        }
    }

    /// Writes the directories of every page before any pixel (their strip offsets deferred),
    /// so the pixels that follow are one contiguous block, page after page — the layout
    /// ImageJ and tifffile assume for an ImageJ stack (they read `images=` pages from the
    /// first page's offset). One strip per page keeps each directory's strip arrays inline.
    func writeDirectoriesFirst(pages: Int, width: Int, height: Int, dataType: DataType, description: String?,
                               pixelSizeMicrometres: Double?) throws {
        ctiff_clear_error()
        for k in 0..<pages {
            try setPageFields(width: width, height: height, dataType: dataType, description: k == 0 ? description : nil,
                              pixelSizeMicrometres: pixelSizeMicrometres, pageCount: pages, compressionLevel: nil, rowsPerStrip: height)
            try withTIFF {
                guard TIFFDeferStrileArrayWriting(tif) == 1, TIFFWriteCheck(tif, 0, "batterylens") == 1, TIFFWriteDirectory(tif) == 1 else {
                    throw LensError.badOutput(file: path, problem: "cannot write the directory of page \(k)\(tiffMessage())")
                }
            }
        }
    }

    /// Fills page `index` of a file laid out by ``writeDirectoriesFirst``.
    func fillPage(_ index: Int, bytes: UnsafeRawPointer, width: Int, height: Int, dataType: DataType) throws {
        ctiff_clear_error()
        try withTIFF {
            guard TIFFSetDirectory(tif, tdir_t(index)) == 1 else {
                throw LensError.badOutput(file: path, problem: "cannot return to page \(index)\(tiffMessage())")
            }
        }
        try writeStrips(bytes: bytes, width: width, height: height, dataType: dataType, pageNumber: index)
        try withTIFF {
            guard TIFFForceStrileArrayWriting(tif) == 1 else {
                throw LensError.badOutput(file: path, problem: "cannot finish page \(index)\(tiffMessage())")
            }
        }
    }
}

/// ImageJ's description convention (`ImageJ=…\nimages=N\nunit=micron\nspacing=Z`), which
/// Fiji, tifffile and BatteryLens all read: it carries the unit and the slice spacing, and the
/// resolution tags carry the pixel size.
enum ImageJDescription {
    /// - Parameters:
    ///   - imageJ: claim ImageJ's format (only for layouts ImageJ reads: uncompressed, pixels
    ///     contiguous); otherwise the same keys under a `batterylens=` first line, which only
    ///     BatteryLens reads.
    ///   - calibrated: the unit is micron only when the pixel size is known.
    ///   - valueUnit: the unit of the values (`1/um` for attenuation), written as ImageJ's
    ///     `vunit` when there is no value calibration to carry it (ImageJ ignores it then; tifffile
    ///     and BatteryLens read it back as the volume's `units`).
    static func make(pages: Int, spacingMicrometres: Double?, calibrated: Bool, imageJ: Bool, values: ValueCalibration? = nil,
                     valueUnit: String? = nil) -> String {
        var lines = [imageJ ? "ImageJ=1.54f" : "batterylens=\(BatteryLensVersion.string)", "images=\(pages)"]
        if pages > 1 { lines.append("slices=\(pages)") }
        if calibrated { lines.append("unit=micron") }
        if calibrated, let spacing = spacingMicrometres { lines.append("spacing=\(spacing)") }
        // ImageJ's straight-line value calibration: value = c0 + c1 × stored.
        if let values {
            lines += ["cf=0", "c0=\(values.offset)", "c1=\(values.scale)"]
            if let unit = values.unit { lines.append("vunit=\(unit)") }
        } else if let valueUnit, !valueUnit.contains(where: \.isNewline) {
            lines.append("vunit=\(valueUnit)")
        }
        lines.append("loop=false")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The value calibration (`cf=0`, `c0`, `c1`, `vunit`), if present.
    static func valueCalibration(_ text: String) -> ValueCalibration? {
        guard text.hasPrefix("ImageJ=") || text.hasPrefix("batterylens=") else { return nil }
        var values = [String: String]()
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard values["cf"] == "0", let c1 = values["c1"].flatMap(Double.init) else { return nil }
        return ValueCalibration(offset: values["c0"].flatMap(Double.init) ?? 0, scale: c1, unit: values["vunit"])
    }

    /// The value unit (`vunit`) when it stands without a value calibration.
    static func valueUnit(_ text: String) -> String? {
        guard text.hasPrefix("ImageJ=") || text.hasPrefix("batterylens=") else { return nil }
        let lines = text.split(whereSeparator: \.isNewline)
        guard !lines.contains(where: { $0.hasPrefix("cf=") }) else { return nil }
        return lines.first { $0.hasPrefix("vunit=") }.map { String($0.dropFirst(6)) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Parses the unit (as a factor to micrometres) and spacing (in micrometres) if present.
    static func parse(_ text: String) -> (unitToMicrometres: Double?, spacingMicrometres: Double?) {
        guard text.hasPrefix("ImageJ=") || text.hasPrefix("batterylens=") else { return (nil, nil) }
        var values = [String: String]()
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        let factor: Double?
        switch values["unit"]?.lowercased() {
        case "micron", "um", "µm", "\\u00B5m", "microns": factor = 1
        case "nm", "nanometer", "nanometre": factor = 1e-3
        case "mm", "millimeter", "millimetre": factor = 1e3
        default: factor = nil
        }
        let spacing = values["spacing"].flatMap(Double.init).map { $0 * (factor ?? 1) }
        return (factor, spacing)
    }
}

/// Geometry of a TIFF stack from its first page's resolution tag and ImageJ description.
private func tiffGeometry(_ page: TIFFPage, rank: Int, path: String) throws -> GridGeometry {
    let imagej: (unitToMicrometres: Double?, spacingMicrometres: Double?) = page.description.map(ImageJDescription.parse) ?? (nil, nil)
    guard let xres = page.xResolution else { return .uncalibrated(rank: rank) }
    // Pixels per unit → size per pixel. With ResolutionUnit none the unit is ImageJ's;
    // inch (2) and centimetre (3) are converted.
    var pixel: Double
    switch page.resolutionUnit {
    case 2: pixel = 25_400 / Double(xres)
    case 3: pixel = 10_000 / Double(xres)
    default:
        guard let factor = imagej.unitToMicrometres else { return .uncalibrated(rank: rank) }
        pixel = factor / Double(xres)
    }
    if page.resolutionUnit == 2 && imagej.unitToMicrometres == nil && Double(xres) == 72 { return .uncalibrated(rank: rank) }
    // The tag is a 32-bit float of 1/pixel: round to 7 significant digits so 0.65 reads as 0.65.
    pixel = roundedToSignificantDigits(pixel, 7)
    if rank == 3 {
        return try GridGeometry.fromFile(voxelSizeMicrometres: [imagej.spacingMicrometres ?? pixel, pixel, pixel], source: path)
    }
    return try GridGeometry.fromFile(voxelSizeMicrometres: [pixel, pixel], source: path)
}

func roundedToSignificantDigits(_ value: Double, _ digits: Int) -> Double {
    guard value != 0, value.isFinite else { return value }
    let scale = pow(10, Double(digits) - (log10(Swift.abs(value))).rounded(.up))
    return (value * scale).rounded() / scale
}

/// Reads a TIFF file: one page is a 2D image, several pages a 3D stack `(page, row, column)`.
/// Page directories are indexed once on open, so a sub-range of pages is read without
/// decoding the others.
public final class TIFFReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    let handle: TIFFHandle
    let offsets: [UInt64]
    let page: TIFFPage

    public init(path: String) throws {
        source = path
        handle = try TIFFHandle(path: path, mode: "rm")
        offsets = try handle.pageOffsets()
        try handle.setPage(offset: offsets[0])
        page = try handle.currentPage()
        let shape = try Shape.validated(offsets.count == 1 ? [page.height, page.width] : [offsets.count, page.height, page.width],
                                        source: path, elementBytes: page.dataType.byteSize)
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        // Uncompressed strips hold the data as is; LZW and deflate expand at most a few
        // thousand times. A header claiming more than that is corrupt or hostile.
        try DecodedSize.requirePlausible(elements: shape.count, elementBytes: page.dataType.byteSize, fileBytes: fileBytes,
                                         maximumRatio: 4100, file: path)
        var metadata = ["pages": "\(offsets.count)"]
        if page.tiled { metadata["layout"] = "tiled" }
        if let c = page.description.flatMap(ImageJDescription.valueCalibration) { metadata["value_calibration"] = c.description }
        if let unit = page.description.flatMap(ImageJDescription.valueUnit) { metadata["units"] = unit }
        info = VolumeInfo(shape: shape, dataType: page.dataType, geometry: try tiffGeometry(page, rank: shape.rank, path: path),
                          format: "tiff", metadata: metadata)
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        let geometry = info.geometry.offset(axis: 0, by: range.lowerBound)
        if info.shape.rank == 2 {
            // A single image: read it, then cut the rows.
            var grid = try AnyGrid.allocate(zeros: info.dataType, shape: info.shape, geometry: info.geometry, source: source)
            try handle.setPage(offset: offsets[0])
            try grid.withUnsafeMutableRawBytes { try handle.readCurrentPage(page, into: $0.baseAddress!, pageIndex: 0) }
            return range == 0..<info.shape[0] ? grid : grid.slab(range).copied().withGeometry(geometry)
        }
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: info.shape.replacing(axis: 0, with: range.count), geometry: geometry, source: source)
        let pageBytes = info.shape.sliceCount * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            // Pages libtiff must decode are read at once; uncompressed ones are gathered as
            // (file offset, destination offset, length) runs, merged where contiguous in both,
            // and read with one pread per run (a stack written in one go is one run).
            var runs = [(file: Int, target: Int, count: Int)]()
            for (k, index) in range.enumerated() {
                try handle.setPage(offset: offsets[index])
                let current = try handle.currentPage()
                guard current.width == page.width, current.height == page.height, current.dataType == page.dataType else {
                    throw LensError.badInput(file: source, problem: "page \(index) is \(current.height)×\(current.width) \(current.dataType), page 0 is \(page.height)×\(page.width) \(page.dataType)")
                }
                guard let segments = handle.rawSegments(current) else {
                    try handle.readCurrentPage(current, into: buffer.baseAddress! + k * pageBytes, pageIndex: index)
                    continue
                }
                var target = k * pageBytes
                for segment in segments {
                    if let last = runs.last, last.file + last.count == segment.fileOffset, last.target + last.count == target {
                        runs[runs.count - 1].count += segment.byteCount
                    } else {
                        runs.append((segment.fileOffset, target, segment.byteCount))
                    }
                    target += segment.byteCount
                }
            }
            for run in runs {
                try handle.readRaw(into: buffer.baseAddress! + run.target, fileOffset: run.file, byteCount: run.count)
            }
        }
        return grid
    }
}

extension TIFFReader: RowBandReader {
    public func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        let (height, width) = (page.height, page.width)
        try checkBand(rows: rows, slices: slices)
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: Shape(slices.count, rows.count, width), source: source)
        let bandBytes = rows.count * width * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in slices.enumerated() {
                try handle.setPage(offset: offsets[index])
                let current = try handle.currentPage()
                guard current.width == width, current.height == height, current.dataType == page.dataType else {
                    throw LensError.badInput(file: source, problem: "page \(index) is \(current.height)×\(current.width) \(current.dataType), page 0 is \(height)×\(width) \(page.dataType)")
                }
                try handle.readCurrentPageRows(current, rows: rows, into: buffer.baseAddress! + k * bandBytes, pageIndex: index)
            }
        }
        return grid
    }
}

extension TIFFFolderReader: RowBandReader {
    public func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        try checkBand(rows: rows, slices: slices)
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: Shape(slices.count, rows.count, info.shape[2]), source: source)
        let bandBytes = rows.count * info.shape[2] * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in slices.enumerated() {
                let reader = try TIFFReader(path: files[index])
                guard reader.info.shape == info.shape.sliceShape, reader.info.dataType == info.dataType else {
                    throw LensError.badInput(file: files[index], problem: "is \(reader.info.shape) \(reader.info.dataType); the series starts with \(info.shape.sliceShape) \(info.dataType)")
                }
                try reader.handle.setPage(offset: reader.offsets[0])
                try reader.handle.readCurrentPageRows(reader.page, rows: rows, into: buffer.baseAddress! + k * bandBytes, pageIndex: 0)
            }
        }
        return grid
    }
}

/// Sorts file names the way people number them: "raw_2" before "raw_10".
public func naturalOrder(_ a: String, _ b: String) -> Bool {
    a.compare(b, options: [.numeric, .caseInsensitive]) == .orderedAscending
}

/// Reads a folder of single-page TIFFs (one per slice or projection), in natural name order.
public final class TIFFFolderReader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    public let files: [String]

    public init(folder: String) throws {
        source = folder
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { VolumeIO.tiffExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) && !$0.hasPrefix(".") }
            .sorted(by: naturalOrder)
        guard !names.isEmpty else { throw LensError.badInput(file: folder, problem: "folder holds no .tif/.tiff files") }
        files = names.map { folder + "/" + $0 }
        let first = try TIFFReader(path: files[0])
        guard first.info.shape.rank == 2 else {
            throw LensError.badInput(file: files[0], problem: "multi-page TIFF inside a folder series; expected one page per file")
        }
        var geometry = GridGeometry.uncalibrated(rank: 3)
        if first.info.geometry.isCalibrated {
            let p = first.info.geometry.voxelSizeMicrometres
            geometry = GridGeometry(voxelSizeMicrometres: [p[0], p[0], p[1]])
        }
        info = VolumeInfo(shape: Shape([files.count] + first.info.shape.dims), dataType: first.info.dataType,
                          geometry: geometry, format: "tiff-folder", metadata: ["files": "\(files.count)", "first": names[0], "last": names[names.count - 1]])
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: info.shape.replacing(axis: 0, with: range.count),
                           geometry: info.geometry.offset(axis: 0, by: range.lowerBound), source: source)
        let pageBytes = info.shape.sliceCount * info.dataType.byteSize
        try grid.withUnsafeMutableRawBytes { buffer in
            for (k, index) in range.enumerated() {
                let reader = try TIFFReader(path: files[index])
                guard reader.info.shape == info.shape.sliceShape, reader.info.dataType == info.dataType else {
                    throw LensError.badInput(file: files[index], problem: "is \(reader.info.shape) \(reader.info.dataType); the series starts with \(info.shape.sliceShape) \(info.dataType)")
                }
                let image = try reader.readAll()
                image.withGrid { g in g.withUnsafeRawBytes { (buffer.baseAddress! + k * pageBytes).copyMemory(from: $0.baseAddress!, byteCount: pageBytes) } }
            }
        }
        return grid
    }
}

/// Writes a 2D image or a 3D stack as one multi-page TIFF (BigTIFF beyond 3.5 GiB), with
/// ImageJ metadata, to a temporary file renamed into place by ``finish()``. Pages must arrive
/// in order (TIFF pages are appended).
public final class TIFFWriter: VolumeWriter {
    public let info: VolumeInfo
    public let destination: String
    private let temporary: String
    private var handle: TIFFHandle?
    private var nextPage = 0
    private let compressionLevel: Int?
    private var finished = false

    public init(path: String, info: VolumeInfo, options: WriteOptions) throws {
        guard info.shape.rank == 2 || info.shape.rank == 3 else {
            throw LensError.badOutput(file: path, problem: "TIFF holds 2D images or 3D stacks, not \(info.shape.rank)D data")
        }
        valueCalibration = options.valueCalibration
        guard !info.dataType.isComplex else { throw LensError.badOutput(file: path, problem: "TIFF cannot hold complex data; use .h5 or .npy") }
        self.info = info
        destination = path
        temporary = AtomicOutput.temporaryPath(for: path)
        compressionLevel = options.compressionLevel
        let big = info.shape.count * info.dataType.byteSize > 3_500_000_000
        let handle = try TIFFHandle(path: temporary, mode: big ? "w8" : "w")
        self.handle = handle
        // Uncompressed stacks are written as ImageJ writes them (directories, then the pixels
        // of every page in one block), so ImageJ, Fiji and tifffile read them as stacks.
        contiguous = info.shape.rank == 3 && info.shape[0] > 1 && compressionLevel == nil
        if contiguous {
            let voxel = info.geometry.isCalibrated ? info.geometry.voxelSizeMicrometres : nil
            try handle.writeDirectoriesFirst(pages: info.shape[0], width: info.shape[2], height: info.shape[1], dataType: info.dataType,
                                             description: ImageJDescription.make(pages: info.shape[0], spacingMicrometres: voxel?[0],
                                                                                  calibrated: voxel != nil, imageJ: !big, values: options.valueCalibration,
                                                                                  valueUnit: info.metadata["units"]),
                                             pixelSizeMicrometres: voxel?.last)
        }
    }

    /// Pixels of all pages in one block after the directories (see ``TIFFHandle/writeDirectoriesFirst``).
    private var contiguous = false
    private let valueCalibration: ValueCalibration?

    private var pageCount: Int { info.shape.rank == 3 ? info.shape[0] : 1 }

    public func writeSlab(_ slab: AnyGrid, at start: Int) throws {
        try checkSlab(slab, at: start)
        guard let handle else { throw LensError.badOutput(file: destination, problem: "writer already closed") }
        if info.shape.rank == 2 {
            guard start == 0, slab.shape == info.shape else {
                throw LensError.invalidArgument("\(destination): a 2D TIFF is written in one piece")
            }
        }
        guard start == nextPage else {
            throw LensError.invalidArgument("\(destination): TIFF pages must be written in order (expected page \(nextPage), got \(start))")
        }
        let height = info.shape.rank == 3 ? info.shape[1] : info.shape[0]
        let width = info.shape[info.shape.rank - 1]
        let pages = info.shape.rank == 3 ? slab.shape[0] : 1
        let pageBytes = width * height * info.dataType.byteSize
        let voxel = info.geometry.isCalibrated ? info.geometry.voxelSizeMicrometres : nil
        try slab.withGrid { g in
            try g.withUnsafeRawBytes { raw in
                for k in 0..<pages {
                    let index = start + k
                    if contiguous {
                        try handle.fillPage(index, bytes: raw.baseAddress! + k * pageBytes, width: width, height: height, dataType: info.dataType)
                        continue
                    }
                    // A single page, or a compressed stack (which ImageJ cannot read as one).
                    let description = index == 0
                        ? ImageJDescription.make(pages: pageCount, spacingMicrometres: info.shape.rank == 3 ? voxel?[0] : nil,
                                                 calibrated: voxel != nil, imageJ: pageCount == 1, values: valueCalibration,
                                                 valueUnit: info.metadata["units"])
                        : nil
                    try handle.writePage(bytes: raw.baseAddress! + k * pageBytes, width: width, height: height, dataType: info.dataType,
                                         description: description, pixelSizeMicrometres: voxel?.last, pageNumber: index,
                                         pageCount: pageCount, compressionLevel: compressionLevel)
                }
            }
        }
        nextPage += pages
    }

    public func finish() throws {
        guard !finished else { return }
        guard nextPage == pageCount else {
            abort()
            throw LensError.badOutput(file: destination, problem: "only \(nextPage) of \(pageCount) pages were written")
        }
        handle = nil   // closes the file
        finished = true
        try AtomicOutput.commit(temporary, to: destination)
    }

    public func abort() {
        handle = nil
        if !finished { try? FileManager.default.removeItem(atPath: temporary) }
        finished = true
    }

    deinit { if !finished { abort() } }
}

/// Writes a 3D stack as a folder of single-page TIFFs named `slice_00000.tif`, …; the folder
/// is built under a temporary name and renamed into place by ``finish()``.
public final class TIFFFolderWriter: VolumeWriter {
    public let info: VolumeInfo
    public let destination: String
    private let temporary: String
    private var finished = false
    private var written = Set<Int>()
    private let options: WriteOptions

    public init(folder: String, info: VolumeInfo, options: WriteOptions) throws {
        guard info.shape.rank == 3 else { throw LensError.badOutput(file: folder, problem: "a TIFF folder holds a 3D stack, not \(info.shape.rank)D data") }
        self.info = info
        self.options = options
        destination = folder
        temporary = AtomicOutput.temporaryPath(for: folder)
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
    }

    public func writeSlab(_ slab: AnyGrid, at start: Int) throws {
        try checkSlab(slab, at: start)
        let digits = Swift.max(5, String(info.shape[0]).count)
        var geometry = info.geometry.sliceGeometry
        geometry.isCalibrated = info.geometry.isCalibrated
        for k in 0..<slab.shape[0] {
            let index = start + k
            let name = "slice_" + String(repeating: "0", count: Swift.max(0, digits - String(index).count)) + String(index) + ".tif"
            let page = slab.slab(k..<(k + 1)).reshaped(info.shape.sliceShape)
            let pageInfo = VolumeInfo(shape: info.shape.sliceShape, dataType: info.dataType, geometry: geometry, format: "tiff")
            let writer = try TIFFWriter(path: temporary + "/" + name, info: pageInfo, options: options)
            try writer.writeSlab(page.withGeometry(geometry), at: 0)
            try writer.finish()
            written.insert(index)
        }
    }

    public func finish() throws {
        guard !finished else { return }
        guard written.count == info.shape[0] else {
            abort()
            throw LensError.badOutput(file: destination, problem: "only \(written.count) of \(info.shape[0]) slices were written")
        }
        finished = true
        try AtomicOutput.commit(temporary, to: destination)
    }

    public func abort() {
        if !finished { try? FileManager.default.removeItem(atPath: temporary) }
        finished = true
    }

    deinit { if !finished { abort() } }
}

