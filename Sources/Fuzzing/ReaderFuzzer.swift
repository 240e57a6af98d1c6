import Compton
import ComptonFiles
import Foundation
import LensCore
import LensIO
import Spectroscopy
import SpectroscopyFiles

/// A seeded mutation fuzzer that drives every BatteryLens reader in-process: small valid seed
/// files (written by BatteryLens's own writers, or built byte by byte for formats it only
/// reads) are mutated — bit flips, interesting integers over header fields, byte runs cut,
/// duplicated or inserted, truncation, numbers in text replaced by extreme ones — and each
/// mutant is opened and read in full. A reader may throw (that is the clear error users see);
/// it must not crash, hang or allocate what the file cannot justify. Same seed, same mutants.
public struct ReaderFuzzer {
    /// One file format under test: how to make its seeds and how to read a file completely.
    public struct Format: Sendable {
        public let name: String
        public let fileExtension: String
        /// Seed files (valid inputs) made in `folder`.
        public let seeds: @Sendable (_ folder: String) throws -> [Data]
        /// Opens and reads the file the way the commands do; throwing is fine.
        public let read: @Sendable (_ path: String) throws -> Void
    }

    /// Totals of one run.
    public struct Totals: Sendable, Codable {
        public var format: String
        public var runs = 0
        /// Mutants the reader accepted (read without an error).
        public var accepted = 0
        /// Mutants refused with a clear error.
        public var refused = 0
        /// The slowest single read, seconds.
        public var slowestSeconds = 0.0
        /// The largest growth of the peak resident memory over one read, bytes.
        public var largestPeakGrowthBytes = 0
        public init(format: String) { self.format = format }
    }

    public let folder: String
    public var seed: UInt64

    public init(folder: String, seed: UInt64) {
        self.folder = folder
        self.seed = seed
    }

    /// Runs `runs` mutants of `format`'s seeds (or until `deadline`). Before each read the
    /// mutant is written to `folder/last-input.EXT`, so a crash leaves its input behind:
    /// `folder` must be the fuzzer's own (the caller made it for this run).
    /// With `skip`, the first `skip` mutants are made but not read (to resume a batch after
    /// the process ended on one); with `progressPath`, the totals so far are written there
    /// after every read (so a parent process knows how far a batch got).
    public func run(_ format: Format, runs: Int, skip: Int = 0, deadline: Date = .distantFuture, progressPath: String? = nil) throws -> Totals {
        // A new folder of its own for the seeds, so nothing in it can be anyone else's.
        let seedFolder = folder + "/seeds-\(format.name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: seedFolder, withIntermediateDirectories: false)
        let seeds = try format.seeds(seedFolder).filter { !$0.isEmpty }
        guard !seeds.isEmpty else { throw LensError.invalidArgument("format \(format.name) has no seeds") }
        var random = SeededRandom(seed: seed)
        var totals = Totals(format: format.name)
        let path = folder + "/last-input." + format.fileExtension
        for index in 0..<runs {
            if Date() > deadline { break }
            var bytes = [UInt8](seeds[index % seeds.count])
            let mutations = 1 + Int(random.uniform() * 4)
            for _ in 0..<mutations { Self.mutate(&bytes, &random) }
            if index < skip { continue }
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let peakBefore = MemoryUsage.peakResidentBytes()
            let start = Date()
            do { try format.read(path); totals.accepted += 1 } catch { totals.refused += 1 }
            totals.slowestSeconds = Swift.max(totals.slowestSeconds, Date().timeIntervalSince(start))
            totals.largestPeakGrowthBytes = Swift.max(totals.largestPeakGrowthBytes, MemoryUsage.peakResidentBytes() - peakBefore)
            totals.runs += 1
            if let progressPath { FileManager.default.createFile(atPath: progressPath, contents: try JSONEncoder().encode(totals)) }
        }
        return totals
    }

    // MARK: Mutations

    static let interesting32: [UInt32] = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff, 100_000]
    static let interestingText = ["0", "-1", "-3", "nan", "inf", "-inf", "1e308", "1e-308", "4294967295", "9223372036854775807",
                                  "-9223372036854775808", "99999999999999999999", "", " ", ",", "(", ")", "'", "0.0"]

    /// One random mutation of `bytes`.
    static func mutate(_ bytes: inout [UInt8], _ random: inout SeededRandom) {
        func index(_ count: Int) -> Int { count <= 1 ? 0 : Int(random.uniform() * Double(count)) % count }
        // Header fields live near the start: bias positions towards it half of the time.
        func position() -> Int {
            guard !bytes.isEmpty else { return 0 }
            return random.uniform() < 0.5 ? index(Swift.min(bytes.count, 512)) : index(bytes.count)
        }
        switch index(9) {
        case 0:   // flip one bit
            guard !bytes.isEmpty else { return }
            bytes[position()] ^= UInt8(1) << UInt8(index(8))
        case 1:   // an interesting byte
            guard !bytes.isEmpty else { return }
            bytes[position()] = [0, 1, 0x7f, 0x80, 0xff][index(5)]
        case 2:   // an interesting 32-bit integer, little or big endian
            guard bytes.count >= 4 else { return }
            let at = Swift.min(position(), bytes.count - 4)
            let v = interesting32[index(interesting32.count)]
            let big = random.uniform() < 0.5
            for k in 0..<4 { bytes[at + k] = UInt8((v >> (8 * UInt32(big ? 3 - k : k))) & 0xff) }
        case 3:   // truncate
            guard !bytes.isEmpty else { return }
            bytes.removeLast(bytes.count - index(bytes.count))
        case 4:   // cut a run
            guard bytes.count > 2 else { return }
            let at = position(), length = Swift.min(bytes.count - at, 1 + index(64))
            bytes.removeSubrange(at..<(at + length))
        case 5:   // duplicate a run
            guard !bytes.isEmpty else { return }
            let at = position(), length = Swift.min(bytes.count - at, 1 + index(64))
            bytes.insert(contentsOf: bytes[at..<(at + length)], at: position())
        case 6:   // insert random bytes
            let count = 1 + index(16)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8(index(256)) }, at: position())
        case 7:   // replace a number in text by an extreme one
            let digits = bytes.indices.filter { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
            guard !digits.isEmpty else { bytes.append(0x30); return }
            var start = digits[index(digits.count)], end = start
            while start > 0, (0x30...0x39).contains(bytes[start - 1]) || bytes[start - 1] == 0x2e { start -= 1 }
            while end + 1 < bytes.count, (0x30...0x39).contains(bytes[end + 1]) || bytes[end + 1] == 0x2e { end += 1 }
            bytes.replaceSubrange(start...end, with: Array(interestingText[index(interestingText.count)].utf8))
        default:  // overwrite a run with one value
            guard !bytes.isEmpty else { return }
            let at = position(), length = Swift.min(bytes.count - at, 1 + index(32))
            let value = UInt8(index(256))
            for k in at..<(at + length) { bytes[k] = value }
        }
    }
}

extension ReaderFuzzer.Format {
    /// Reads a volume file the way `info` and `convert` do: completely, or — when the header
    /// claims more than 64 MiB (an HDF5 dataset of unwritten chunks can claim 10¹⁷ values in a
    /// 2 KiB file, and scanning it is hours of legitimate, cancellable work) — its first and
    /// last slabs, which exercise the same decoding.
    @Sendable static func readVolume(_ path: String) throws {
        let reader = try VolumeIO.open(path)
        let shape = reader.info.shape
        let (bytes, overflow) = shape.count.multipliedReportingOverflow(by: reader.info.dataType.byteSize)
        if !overflow && bytes <= 64 << 20 {
            _ = try VolumeStatistics.compute(reader)
            _ = try reader.readAll()
        } else if shape[0] > 0 {
            _ = try VolumeStatistics.compute(reader, range: 0..<1)
            _ = try reader.readSlab((shape[0] - 1)..<shape[0])
        }
    }

    static func data(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "seed not written") }
        return data
    }

    /// Writes `grids` with BatteryLens's writers and returns the files' bytes.
    static func written(_ folder: String, _ ext: String, _ grids: [AnyGrid]) throws -> [Data] {
        try grids.enumerated().map { k, grid in
            let path = "\(folder)/seed\(k).\(ext)"
            try VolumeIO.write(grid, to: path)
            return try data(path)
        }
    }

    static func sampleGrids() -> [AnyGrid] {
        [AnyGrid(Grid<UInt8>(shape: Shape(3, 5, 4), geometry: .isotropic(0.5, rank: 3)) { UInt8($0 % 251) }),
         AnyGrid(Grid<UInt16>(shape: Shape(6, 7)) { UInt16($0 * 37) }),
         AnyGrid(Grid<Float>(shape: Shape(2, 4, 3), geometry: GridGeometry(voxelSizeMicrometres: [1.5, 0.65, 0.65])) { Float($0) * 0.25 - 1 }),
         AnyGrid(Grid<Int32>(shape: Shape(2, 3, 3)) { Int32($0) - 9 })]
    }

    public static let tiff = Self(name: "tiff", fileExtension: "tif", seeds: { folder in
        try written(folder, "tif", sampleGrids()) + [Data(BilevelTIFFSeed.make(rows: [[1, 0, 0, 1, 1, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1, 0],
                                                                                        [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]]))]
    }, read: readVolume)
    public static let npy = Self(name: "npy", fileExtension: "npy", seeds: { try written($0, "npy", sampleGrids()) }, read: readVolume)
    public static let hdf5 = Self(name: "hdf5", fileExtension: "h5", seeds: { folder in
        var seeds = try written(folder, "h5", Array(sampleGrids().prefix(2)))
        let scan = folder + "/scan.h5"
        try DataExchangeWriter.write(projections: AnyGrid(Grid<UInt16>(shape: Shape(4, 3, 5)) { UInt16(100 + $0) }),
                                     flats: AnyGrid(Grid<UInt16>(shape: Shape(1, 3, 5), repeating: 400)),
                                     darks: AnyGrid(Grid<UInt16>(shape: Shape(1, 3, 5), repeating: 2)),
                                     anglesDegrees: [0, 45, 90, 135], pixelSizeMicrometres: 0.65, to: scan)
        seeds.append(try data(scan))
        return seeds
    }, read: { path in
        try readVolume(path)
        if let scan = try? TomographyScanReader(path: path) { _ = try scan.readProjections(0..<scan.projectionCount) }
    })
    public static let png = Self(name: "png", fileExtension: "png", seeds: { folder in
        try written(folder, "png", [AnyGrid(Grid<UInt8>(shape: Shape(5, 6)) { UInt8($0 * 7) }), AnyGrid(Grid<UInt16>(shape: Shape(4, 4)) { UInt16($0 * 999) })])
    }, read: readVolume)
    public static let raw = Self(name: "raw", fileExtension: "raw", seeds: { folder in
        try written(folder, "raw", [AnyGrid(Grid<Float>(shape: Shape(2, 4, 4)) { Float($0) })])
    }, read: { path in
        // The layout is the user's: the fuzzed file must still be read or refused cleanly.
        let reader = try VolumeIO.open(path, raw: RawLayout(shape: Shape(2, 4, 4), dataType: .float32))
        _ = try reader.readAll()
    })
    public static let mat = Self(name: "mat", fileExtension: "mat", seeds: { _ in [Data(MATSeed.make())] }, read: { path in
        let file = try MATFile(path: path)
        for name in file.variableNames { _ = try file.grid(name) }
    })
    public static let xradia = Self(name: "xradia", fileExtension: "txrm", seeds: { _ in
        let candidates = ["../shared/data/tomography/tomopy/txrm_test_chip_tomo.txrm", "../../shared/data/tomography/tomopy/txrm_test_chip_tomo.txrm"]
        return candidates.compactMap { FileManager.default.contents(atPath: $0) }.prefix(1).map { $0 }
    }, read: { path in
        let file = try XradiaFile(path: path)
        for k in 0..<Swift.min(file.imageCount, 4) { _ = try file.readImage(k) }
        _ = try file.referenceImage()
    })
    public static let hxt = Self(name: "hxt", fileExtension: "hxt", seeds: { folder in
        let spectra = try PixelSpectra.build(events: try eventSeed(folder), rows: 4, columns: 4,
                                             binning: EnergyBinning(lowKeV: 0, widthKeV: 1, count: 16))
        let path = folder + "/seed.hxt"
        try spectra.writeHXT(to: path)
        return [try data(path)]
    }, read: { path in _ = try PixelSpectra.open(path: path) })
    public static let events = Self(name: "events", fileExtension: "bin", seeds: { folder in [try data(try eventSeed(folder))] }, read: { path in
        _ = try PixelSpectra.build(events: path, rows: 8, columns: 8, binning: EnergyBinning(lowKeV: 0, widthKeV: 1, count: 32))
    })
    public static let eventsCSV = Self(name: "events-csv", fileExtension: "csv", seeds: { _ in
        [Data("frame,row,column,energy_kev\n0,1,1,20.5\n0,3,2,60\n1,0,0,31.25\n2,7,7,99\n".utf8)]
    }, read: { path in
        _ = try PixelSpectra.build(events: path, rows: 8, columns: 8, binning: EnergyBinning(lowKeV: 0, widthKeV: 1, count: 128))
    })
    public static let spectrum = Self(name: "spectrum", fileExtension: "xdi", seeds: { _ in
        let lines = (0..<40).map { k -> String in
            let e = 8200 + Double(k) * 10
            return String(format: "%.2f %.6f %.6f", e, 1e5, 1e5 * exp(-(e > 8333 ? 1.2 : 0.2)))
        }
        return [Data(("# XDI/1.0\n# Column.1: energy eV\n# Column.2: i0\n# Column.3: itrans\n#----\n# energy i0 itrans\n" + lines.joined(separator: "\n") + "\n").utf8),
                Data(("energy,mu\n" + (0..<40).map { "\(8200 + $0 * 10),\($0 > 13 ? 1.0 : 0.1)" }.joined(separator: "\n") + "\n").utf8)]
    }, read: { path in
        let file = try SpectrumFile.read(path)
        if let e0 = try? EdgeEnergy.larchE0(energies: file.energies, mu: file.mu) {
            let settings = EdgeNormalizationSettings.larchDefaults(energies: file.energies, e0: e0)
            if let n = try? NormalizedSpectrum(energies: file.energies, mu: file.mu, e0: e0, settings: settings), n.edgeStep > 0 {
                _ = try? EXAFSBackground(energies: n.energies, mu: n.mu, e0: e0, edgeStep: n.edgeStep)
            }
        }
    })

    static func eventSeed(_ folder: String) throws -> String {
        var bytes: [UInt8] = []
        for k in 0..<64 {
            PhotonEvent(frame: UInt32(k / 8), row: UInt16(k % 4), column: UInt16((k / 4) % 4), energyKeV: Float(5 + k % 10)).append(to: &bytes)
        }
        let path = folder + "/seed.bin"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Every format, in a fixed order.
    public static let all: [Self] = [.tiff, .npy, .hdf5, .png, .raw, .mat, .xradia, .hxt, .events, .eventsCSV, .spectrum]
}

/// A little-endian, uncompressed bilevel (1-bit) TIFF built byte by byte (BatteryLens reads
/// them but writes none): rows of up to 16 pixels, one strip, WhiteIsZero, most significant
/// bit first, each row padded to two bytes.
public enum BilevelTIFFSeed {
    public static func make(rows: [[UInt8]]) -> [UInt8] {
        let width = rows.first?.count ?? 0
        precondition(width > 0 && width <= 16 && rows.allSatisfy { $0.count == width }, "rows of 1…16 equal widths")
        var d: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0]
        let entries: [(UInt16, UInt16, UInt32)] = [(256, 3, UInt32(width)), (257, 3, UInt32(rows.count)), (258, 3, 1), (259, 3, 1), (262, 3, 0),
                                                    (273, 4, UInt32(8 + 2 + 8 * 12 + 4)), (278, 3, UInt32(rows.count)), (279, 4, UInt32(2 * rows.count))]
        func u16(_ v: UInt16) { d += [UInt8(v & 0xff), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { for k in 0..<4 { d.append(UInt8((v >> (8 * UInt32(k))) & 0xff)) } }
        u16(UInt16(entries.count))
        for (tag, type, value) in entries { u16(tag); u16(type); u32(1); if type == 3 { u16(UInt16(value)); u16(0) } else { u32(value) } }
        u32(0)
        for row in rows {
            var bytes: [UInt8] = [0, 0]
            for (x, bit) in row.enumerated() where bit != 0 { bytes[x / 8] |= 0x80 >> UInt8(x % 8) }
            d += bytes
        }
        return d
    }
}

/// A small level-5 MAT-file built byte by byte (BatteryLens reads MAT-files but does not write
/// them): a 3 × 2 double matrix `sino` and a 1 × 3 double row `angles`, uncompressed.
enum MATSeed {
    static func make() -> [UInt8] {
        var b = [UInt8](repeating: 0x20, count: 116)
        let text = Array("MATLAB 5.0 MAT-file, BatteryLens fuzz seed".utf8)
        b.replaceSubrange(0..<text.count, with: text)
        b += [UInt8](repeating: 0, count: 8) + [0x00, 0x01, 0x49, 0x4D]
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
        func matrix(_ name: String, rows: Int, columns: Int) -> [UInt8] {
            var body: [UInt8] = u32(6) + u32(8) + [6, 0, 0, 0, 0, 0, 0, 0]             // array flags: double
            body += u32(5) + u32(8) + u32(rows) + u32(columns)                          // dimensions
            var nameBytes = Array(name.utf8)
            body += u32(1) + u32(nameBytes.count)
            while nameBytes.count % 8 != 0 { nameBytes.append(0) }
            body += nameBytes
            let values = (0..<(rows * columns)).map { Double($0) * 1.5 }
            body += u32(9) + u32(values.count * 8)
            for v in values { body += (0..<8).map { UInt8((v.bitPattern >> (8 * UInt64($0))) & 0xff) } }
            return u32(14) + u32(body.count) + body
        }
        return b + matrix("sino", rows: 3, columns: 2) + matrix("angles", rows: 1, columns: 3)
    }
}
