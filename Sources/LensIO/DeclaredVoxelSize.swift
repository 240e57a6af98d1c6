import Foundation
import LensCore
import Synchronization

/// A voxel size the user declared (`--voxel-um`), used for every volume a command reads in
/// place of what the file says: files often carry none (NumPy, raw, many TIFFs) or a wrong one.
/// Replacing a size the file does give prints a note naming both.
public enum DeclaredVoxelSize {
    private static let state = Mutex<[Double]?>(nil)

    /// One size for every axis, or one per axis slowest first (z, y, x); nil: the file's.
    public static var micrometres: [Double]? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    /// Parses `--voxel-um`: "0.37" or "1.2,0.37,0.37" (z, y, x).
    public static func parse(_ text: String, option: String = "--voxel-um") throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (values.count == 1 || values.count == 3), values.allSatisfy({ ($0 ?? 0) > 0 && $0!.isFinite && $0! < 1e7 }) else {
            throw LensError.invalidArgument("\(option) must be one voxel size in µm or three (z,y,x), each > 0, got '\(text)'")
        }
        return values.map { $0! }
    }

    /// The geometry a volume of `rank` axes gets from the declared sizes.
    public static func geometry(_ sizes: [Double], rank: Int, origin: [Double]? = nil) -> GridGeometry {
        let perAxis: [Double]
        if sizes.count == 1 { perAxis = [Double](repeating: sizes[0], count: rank) }
        else if rank >= 3 { perAxis = [Double](repeating: sizes[0], count: rank - 3) + sizes }
        else { perAxis = Array(sizes.suffix(rank)) }
        return GridGeometry(voxelSizeMicrometres: perAxis, originMicrometres: origin, isCalibrated: true)
    }

    static func relabel(_ slab: AnyGrid, geometry: GridGeometry, start: Int) -> AnyGrid {
        guard slab.shape.rank == geometry.rank else {
            return slab.withGeometry(Self.geometry(Array(geometry.voxelSizeMicrometres.suffix(slab.shape.rank)), rank: slab.shape.rank))
        }
        return slab.withGeometry(geometry.offset(axis: 0, by: start))
    }

    static func apply(_ sizes: [Double], to reader: VolumeReader) throws -> VolumeReader {
        let old = reader.info.geometry
        let new = geometry(sizes, rank: reader.info.shape.rank)
        if old.isCalibrated, zip(old.voxelSizeMicrometres, new.voxelSizeMicrometres).contains(where: { abs($0 - $1) > 1e-9 * $1 }) {
            Notices.emit("--voxel-um \(new.voxelSizeMicrometres.map { String(format: "%g", $0) }.joined(separator: ",")) µm replaces the voxel size \(old.voxelSizeMicrometres.map { String(format: "%g", $0) }.joined(separator: ",")) µm that \(reader.source) gives")
        }
        return RelabelledReader.wrap(reader, geometry: new)
    }
}

/// A reader whose slabs carry another geometry (and whose info carries extra metadata): a
/// declared voxel size, or what a temporary file cannot hold (a NumPy file has no voxel size).
public class RelabelledReader: VolumeReader {
    let base: VolumeReader
    public let info: VolumeInfo
    public var source: String { base.source }

    /// A reader of row bands gets a reader of row bands.
    public static func wrap(_ base: VolumeReader, geometry: GridGeometry, metadata: [String: String] = [:]) -> VolumeReader {
        if let band = base as? RowBandReader { return RelabelledBandReader(band, geometry: geometry, metadata: metadata) }
        return RelabelledReader(base, geometry: geometry, metadata: metadata)
    }

    init(_ base: VolumeReader, geometry: GridGeometry, metadata: [String: String]) {
        self.base = base
        var info = base.info
        info.geometry = geometry
        info.metadata.merge(metadata) { _, new in new }
        self.info = info
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try DeclaredVoxelSize.relabel(base.readSlab(range), geometry: info.geometry, start: range.lowerBound)
    }
}

final class RelabelledBandReader: RelabelledReader, RowBandReader {
    init(_ base: RowBandReader, geometry: GridGeometry, metadata: [String: String]) {
        super.init(base, geometry: geometry, metadata: metadata)
    }
    func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        let band = try (base as! RowBandReader).readRows(rows, slices: slices)
        return band.withGeometry(DeclaredVoxelSize.geometry(Array(info.geometry.voxelSizeMicrometres.suffix(band.shape.rank)), rank: band.shape.rank))
    }
}
