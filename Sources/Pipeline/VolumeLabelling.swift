import Foundation
import ImageAnalysis
import LensCore
import LensIO
import Signal

/// The voxels of one phase of a label (or mask) volume: 1 where the value is one of the phase's
/// codes, 0 elsewhere.
public enum PhaseMask {
    public static func select(_ grid: AnyGrid, codes: [Int]) throws -> Grid<UInt8> {
        if case .uint8(let g) = grid {
            var lookup = [UInt8](repeating: 0, count: 256)
            for c in codes where (0...255).contains(c) { lookup[c] = 1 }
            let table = lookup
            return g.map { table[Int($0)] }
        }
        let targets = Set(codes.map(Double.init))
        let values = try grid.converted(to: Double.self)
        return values.map { targets.contains($0) ? UInt8(1) : 0 }
    }
}

/// Connected components of one phase of a volume file, read and written slab by slab, so the
/// whole volume never sits in memory: the first pass labels each slab (``SlabwiseLabelling``)
/// and stores its provisional labels in a hidden temporary file beside the output; the second
/// reads them back, writes the final labels (raster order of first voxels, small components
/// dropped) and removes the temporary file. Peak memory is about ten bytes per voxel of one slab
/// plus four bytes per provisional label.
public enum VolumeLabelling {
    public struct Outcome: Sendable {
        /// Components kept, their sizes (index 0 unused), and the voxels of the phase.
        public var count: Int
        public var sizes: [Int]
        public var phaseVoxels: Int
        public var slabPlanes: Int
    }

    /// - Parameters:
    ///   - slabBytes: about how many bytes of int32 labels one slab holds.
    public static func run(input: String, raw: RawLayout? = nil, phaseCodes: [Int], output: String,
                           connectivity: Connectivity, minimumVoxels: Int = 0, slabBytes: Int = 128 << 20,
                           cancellation: CancellationToken? = nil) throws -> Outcome {
        let reader = try VolumeIO.open(input, raw: raw)
        var shape = reader.info.shape
        guard shape.rank == 3 || shape.rank == 2 else {
            throw LensError.badInput(file: input, problem: "labelling needs a 2D or 3D volume, got shape \(shape)")
        }
        if shape.rank == 2 { shape = Shape([1, shape[0], shape[1]]) }
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        let planes = Swift.max(1, Swift.min(nz, slabBytes / Swift.max(1, 4 * ny * nx)))
        let outputInfo = VolumeInfo(shape: reader.info.shape, dataType: .int32, geometry: reader.info.geometry, format: "")
        let writer = try VolumeIO.create(output, info: outputInfo, inputs: [input])
        let provisionalPath = AtomicOutput.scratchPath(beside: output, extension: "raw")
        defer { TemporaryFiles.remove(provisionalPath) }
        do {
            let provisionalInfo = VolumeInfo(shape: shape, dataType: .int32, format: "raw")
            let store = try VolumeIO.create(provisionalPath, info: provisionalInfo)
            var labelling = SlabwiseLabelling(planeShape: (ny, nx), connectivity: connectivity)
            var phaseVoxels = 0
            let progress = ProgressReporter(label: "labelling", total: 2 * nz)
            do {
                for z in stride(from: 0, to: nz, by: planes) {
                    if cancellation?.isCancelled == true { throw LensError.cancelled }
                    let range = z..<Swift.min(nz, z + planes)
                    let slab = try reader.info.shape.rank == 2 ? reader.readAll() : reader.readSlab(range)
                    let mask = try PhaseMask.select(slab, codes: phaseCodes).reshaped(Shape([range.count, ny, nx]))
                    phaseVoxels += mask.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
                    let provisional = try labelling.label(slab: mask)
                    try store.writeSlab(AnyGrid(provisional), at: z)
                    progress.advance(by: range.count)
                }
                try store.finish()
            } catch {
                store.abort()
                throw error
            }
            guard phaseVoxels > 0 else {
                throw LensError.badInput(file: input, problem: "no voxel has the code\(phaseCodes.count == 1 ? "" : "s") \(phaseCodes.map(String.init).joined(separator: ", ")) (the phase is empty); pick another phase")
            }
            let numbering = labelling.finish(minimumVoxels: minimumVoxels)
            let stored = try VolumeIO.open(provisionalPath, raw: RawLayout(shape: shape, dataType: .int32))
            for z in stride(from: 0, to: nz, by: planes) {
                if cancellation?.isCancelled == true { throw LensError.cancelled }
                let range = z..<Swift.min(nz, z + planes)
                var labels = try stored.readSlab(range).converted(to: Int32.self)
                numbering.apply(to: &labels)
                let slab = reader.info.shape.rank == 2
                    ? labels.reshaped(reader.info.shape, geometry: reader.info.geometry)
                    : labels.reshaped(labels.shape, geometry: reader.info.geometry.offset(axis: 0, by: z))
                try writer.writeSlab(AnyGrid(slab), at: z)
                progress.advance(by: range.count)
            }
            try writer.finish()
            progress.finish()
            return Outcome(count: numbering.count, sizes: numbering.sizes, phaseVoxels: phaseVoxels, slabPlanes: planes)
        } catch {
            writer.abort()
            throw error
        }
    }
}

extension VolumeLabelling {
    /// What a labelling run measured; its encoding is the `label` command's summary.
    public struct Record: Codable, Sendable {
        public var output: String
        public var components: Int
        public var largestVoxels: Int
        /// The largest component's share of the kept voxels, and the median component size
        /// (NaN, null in JSON, when no component is kept).
        public var largestShare: Double
        public var medianVoxels: Double
        public var phaseVoxels: Int
        public var keptVoxels: Int
        public var peakMemoryMiB: Double
        private enum CodingKeys: String, CodingKey {
            case output, components
            case largestVoxels = "largest_voxels", largestShare = "largest_share", medianVoxels = "median_voxels"
            case phaseVoxels = "phase_voxels", keptVoxels = "kept_voxels", peakMemoryMiB = "peak_memory_mib"
        }
    }
}

extension VolumeLabelling.Outcome {
    /// The record of this outcome, naming the output `output`.
    public func record(output: String) -> VolumeLabelling.Record {
        let kept = sizes.dropFirst()
        let largest = kept.max() ?? 0, total = kept.reduce(0, +)
        return VolumeLabelling.Record(output: output, components: count, largestVoxels: largest,
                                      largestShare: total > 0 ? Double(largest) / Double(total) : .nan,
                                      medianVoxels: kept.isEmpty ? .nan : Statistics.median(kept.map(Double.init)),
                                      phaseVoxels: phaseVoxels, keptVoxels: total,
                                      peakMemoryMiB: Double(MemoryUsage.peakResidentBytes()) / 1_048_576)
    }
}
