import Foundation
import LensCore

/// How values are mapped when the element type changes.
public enum TypeScaling: Sendable, Equatable {
    /// Values are rounded and clipped to the target type's range (the count clipped is reported).
    case clip
    /// `[low, high]` is mapped linearly onto the target range (integers: the full type range;
    /// floats: [0, 1]), then clipped. nil: the data's own minimum and maximum (an extra pass).
    case rescale(ClosedRange<Double>?)
}

/// What `convert` does to a volume, applied slab by slab.
public struct ConversionPlan: Sendable, Equatable {
    /// Index ranges to keep, one per axis (nil: whole axis).
    public var crop: [Range<Int>?]
    /// Block size for mean binning along every axis (1: none). Trailing voxels that do not fill
    /// a block are dropped (as ImageJ and scikit-image's `downscale_local_mean` do not pad).
    public var bin: Int
    public var targetType: DataType?
    public var scaling: TypeScaling

    public init(crop: [Range<Int>?] = [], bin: Int = 1, targetType: DataType? = nil, scaling: TypeScaling = .clip) {
        self.crop = crop; self.bin = bin; self.targetType = targetType; self.scaling = scaling
    }
}

/// What `convert` did, for its summary.
public struct ConversionReport: Codable, Sendable, Equatable {
    public var inputShape: [Int]
    public var outputShape: [Int]
    public var inputType: String
    public var outputType: String
    public var cropStart: [Int]
    public var bin: Int
    /// A sentence saying how values were mapped.
    public var valueMapping: String
    /// Output values that were clipped at the target type's range.
    public var clippedCount: Int
    public var voxelSizeMicrometres: [Double]?
    /// Statistics of the values written, merged slab by slab as they were written.
    public var outputStatistics: ValueStatistics
}

public enum VolumeConverter {
    /// Converts `reader`'s data to `outputPath` slab by slab, so memory stays bounded by a few
    /// slabs whatever the volume size.
    public static func convert(_ reader: VolumeReader, to outputPath: String, plan: ConversionPlan,
                               options: WriteOptions = WriteOptions(), inputs: [String] = [],
                               cancellation: CancellationToken? = nil) throws -> ConversionReport {
        let inShape = reader.info.shape
        let rank = inShape.rank
        guard plan.bin >= 1 else { throw LensError.invalidArgument("--bin must be at least 1") }
        guard plan.crop.count <= rank else { throw LensError.invalidArgument("--crop gives \(plan.crop.count) ranges for \(rank)D data") }
        guard inShape.count > 0 else {
            throw LensError.badInput(file: reader.source, problem: "the dataset is empty (shape \(inShape)): nothing to convert")
        }
        var ranges = [Range<Int>]()
        for axis in 0..<rank {
            let r = axis < plan.crop.count ? (plan.crop[axis] ?? 0..<inShape[axis]) : 0..<inShape[axis]
            guard r.lowerBound >= 0, r.upperBound <= inShape[axis], !r.isEmpty else {
                throw LensError.invalidArgument("crop \(r.lowerBound):\(r.upperBound) outside 0:\(inShape[axis]) on axis \(axis)")
            }
            ranges.append(r)
        }
        let outDims = ranges.map { $0.count / plan.bin }
        guard outDims.allSatisfy({ $0 > 0 }) else {
            throw LensError.invalidArgument("binning by \(plan.bin) leaves nothing of a \(ranges.map(\.count)) crop")
        }
        let inType = reader.info.dataType
        let outType = plan.targetType ?? inType
        if inType.isComplex || outType.isComplex {
            guard inType == outType, plan.bin == 1 else {
                throw LensError.invalidArgument("complex data can be cropped and re-saved, not binned or converted")
            }
        }
        var geometry = reader.info.geometry
        for axis in 0..<rank { geometry = geometry.offset(axis: axis, by: ranges[axis].lowerBound) }
        geometry = geometry.binned(by: [Int](repeating: plan.bin, count: rank))
        let outShape = Shape(outDims)

        // Value mapping.
        var mapping: (scale: Double, offset: Double)? = nil
        var description = inType == outType ? "values unchanged" : "values rounded and clipped to the \(outType) range"
        if outType != inType || plan.scaling != .clip, case let .rescale(given) = plan.scaling {
            let range = try given ?? dataRange(reader, slabs: ranges[0], cancellation: cancellation)
            let target: ClosedRange<Double> = outType.integerRange ?? 0...1
            let width = range.upperBound - range.lowerBound
            let scale = width > 0 ? (target.upperBound - target.lowerBound) / width : 1
            mapping = (scale, target.lowerBound - range.lowerBound * scale)
            description = "rescaled linearly from [\(range.lowerBound), \(range.upperBound)] to [\(target.lowerBound), \(target.upperBound)], then clipped"
        }

        let outInfo = VolumeInfo(shape: outShape, dataType: outType, geometry: geometry, format: "", metadata: reader.info.metadata.filter { $0.key == "units" })
        // A rescaled volume records in the file how to get the values back: value = (stored − b)/a.
        var options = options
        if let (a, b) = mapping, a != 0 {
            options.valueCalibration = ValueCalibration(offset: b == 0 ? 0 : -b / a, scale: 1 / a, unit: reader.info.metadata["units"])
        }
        let writer = try VolumeIO.create(outputPath, info: outInfo, options: options, inputs: inputs)
        let thickness = Swift.max(1, reader.slabThickness(targetBytes: 128 << 20) / plan.bin) // output slices per slab
        let progress = ProgressReporter(label: "converting", total: outDims[0])
        var clipped = 0
        var written = ValueStatistics()
        do {
            var outStart = 0
            while outStart < outDims[0] {
                try cancellation?.check()
                let count = Swift.min(thickness, outDims[0] - outStart)
                let inStart = ranges[0].lowerBound + outStart * plan.bin
                let slab = try reader.readSlab(inStart..<(inStart + count * plan.bin))
                let (converted, clippedHere) = try transform(slab, ranges: ranges, bin: plan.bin, outType: outType, mapping: mapping)
                clipped += clippedHere
                if let stats = converted.withRealGrid({ $0.valueStatistics() }) { written.merge(stats) }
                try writer.writeSlab(converted.withGeometry(geometry.offset(axis: 0, by: outStart)), at: outStart)
                outStart += count
                progress.advance(by: count)
            }
            try writer.finish()
        } catch {
            writer.abort()
            throw error
        }
        progress.finish()
        return ConversionReport(inputShape: inShape.dims, outputShape: outShape.dims, inputType: inType.rawValue, outputType: outType.rawValue,
                                cropStart: ranges.map(\.lowerBound), bin: plan.bin, valueMapping: description, clippedCount: clipped,
                                voxelSizeMicrometres: geometry.isCalibrated ? geometry.voxelSizeMicrometres : nil, outputStatistics: written)
    }

    /// Minimum and maximum of the finite values over slabs `range` of axis 0.
    static func dataRange(_ reader: VolumeReader, slabs range: Range<Int>, cancellation: CancellationToken?) throws -> ClosedRange<Double> {
        let stats = try VolumeStatistics.compute(reader, range: range, cancellation: cancellation)
        guard stats.finiteCount > 0 else { throw LensError.badInput(file: reader.source, problem: "no finite values to rescale") }
        return stats.minimum...stats.maximum
    }

    /// Crops axes ≥ 1, bins, and converts one slab (whose axis 0 is already cropped).
    static func transform(_ slab: AnyGrid, ranges: [Range<Int>], bin: Int, outType: DataType,
                          mapping: (scale: Double, offset: Double)?) throws -> (AnyGrid, Int) {
        let rank = slab.shape.rank
        let isPlain = bin == 1 && mapping == nil && outType == slab.dataType
            && (1..<rank).allSatisfy { ranges[$0] == 0..<slab.shape[$0] }
        if isPlain { return (slab, 0) }
        if slab.dataType.isComplex {
            // Crop only (checked by the caller).
            return (try cropComplex(slab, ranges: ranges), 0)
        }
        guard let values = slab.withRealGrid({ $0.convertedGrid(to: Double.self) }) else {
            throw LensError.invalidArgument("cannot convert \(slab.dataType)")
        }
        var outDims = [values.shape[0] / bin]
        for axis in 1..<Swift.max(1, rank) { outDims.append(ranges[axis].count / bin) }
        let outShape = Shape(outDims)
        let inStrides = values.shape.strides
        let outStrides = outShape.strides
        let blockCount = Double(Int(pow(Double(bin), Double(rank))))
        // Offsets of the voxels of one bin^rank block, relative to its first voxel.
        var blockOffsets = [0]
        for axis in 0..<rank {
            blockOffsets = blockOffsets.flatMap { off in (0..<bin).map { off + $0 * inStrides[axis] } }
        }
        var result = [Double](repeating: 0, count: outShape.count)
        let invBlock = 1 / blockCount
        values.withUnsafeBufferPointer { src in
            for o in 0..<outShape.count {
                var rem = o, base = 0
                for axis in 0..<rank {
                    let i = rem / outStrides[axis]
                    rem -= i * outStrides[axis]
                    base += ((axis == 0 ? 0 : ranges[axis].lowerBound) + i * bin) * inStrides[axis]
                }
                var sum = 0.0
                for off in blockOffsets { sum += src[base + off] }
                result[o] = sum * invBlock
            }
        }
        var clipped = 0
        if let mapping { for i in result.indices { result[i] = result[i] * mapping.scale + mapping.offset } }
        if let range = outType.integerRange {
            for v in result where v < range.lowerBound - 0.5 || v > range.upperBound + 0.5 { clipped += 1 }
        } else if mapping != nil {
            for i in result.indices where result[i] < 0 || result[i] > 1 { clipped += 1; result[i] = Swift.min(1, Swift.max(0, result[i])) }
        }
        let grid = Grid<Double>(shape: outShape, elements: result)
        return (try castDouble(grid, to: outType), clipped)
    }

    static func castDouble(_ grid: Grid<Double>, to type: DataType) throws -> AnyGrid {
        switch type {
        case .uint8: return .uint8(grid.converted())
        case .int8: return .int8(grid.converted())
        case .uint16: return .uint16(grid.converted())
        case .int16: return .int16(grid.converted())
        case .uint32: return .uint32(grid.converted())
        case .int32: return .int32(grid.converted())
        case .uint64: return .uint64(grid.converted())
        case .int64: return .int64(grid.converted())
        case .float32: return .float32(grid.converted())
        case .float64: return .float64(grid)
        case .complex64, .complex128: throw LensError.invalidArgument("cannot convert real data to complex")
        }
    }

    static func cropComplex(_ slab: AnyGrid, ranges: [Range<Int>]) throws -> AnyGrid {
        let rank = slab.shape.rank
        var outDims = [slab.shape[0]]
        for axis in 1..<rank { outDims.append(ranges[axis].count) }
        let outShape = Shape(outDims)
        var out = AnyGrid(zeros: slab.dataType, shape: outShape)
        let size = slab.dataType.byteSize
        let inStrides = slab.shape.strides, outStrides = outShape.strides
        out.withUnsafeMutableRawBytes { dst in
            slab.withGrid { g in g.withUnsafeRawBytes { src in
                let rowLength = outDims[rank - 1]
                let rows = outShape.count / rowLength
                for r in 0..<rows {
                    var rem = r * rowLength, inOffset = 0
                    for axis in 0..<rank {
                        let i = rem / outStrides[axis]; rem %= outStrides[axis]
                        inOffset += (i + (axis == 0 ? 0 : ranges[axis].lowerBound)) * inStrides[axis]
                    }
                    (dst.baseAddress! + r * rowLength * size).copyMemory(from: src.baseAddress! + inOffset * size, byteCount: rowLength * size)
                }
            } }
        }
        return out
    }
}

/// Statistics of a whole volume computed slab by slab (bounded memory).
public enum VolumeStatistics {
    public static func compute(_ reader: VolumeReader, range: Range<Int>? = nil, cancellation: CancellationToken? = nil) throws -> ValueStatistics {
        let r = range ?? 0..<reader.info.shape[0]
        guard !reader.info.dataType.isComplex else {
            throw LensError.invalidArgument("\(reader.source): value statistics of complex data are not defined")
        }
        var total = ValueStatistics()
        guard reader.info.shape.count > 0 else { return total }   // no values to scan
        let thickness = reader.slabThickness(targetBytes: 128 << 20)
        let progress = ProgressReporter(label: "scanning values", total: r.count)
        var start = r.lowerBound
        while start < r.upperBound {
            try cancellation?.check()
            let end = Swift.min(r.upperBound, start + thickness)
            let slab = try reader.readSlab(start..<end)
            if let stats = slab.withRealGrid({ $0.valueStatistics() }) { total.merge(stats) }
            progress.advance(by: end - start)
            start = end
        }
        progress.finish()
        return total
    }
}

/// Axes by name for slicing: z (axis 0), y (axis 1), x (axis 2) of a volume.
public enum SliceAxis: String, Sendable, CaseIterable {
    case z, y, x

    public var index: Int { self == .z ? 0 : self == .y ? 1 : 2 }
}

/// Extracts one plane of a volume, reading only what it needs: a z plane is one slab; y and x
/// planes are gathered slab by slab.
public enum SliceExtraction {
    public static func extract(_ reader: VolumeReader, axis: SliceAxis, index: Int) throws -> Grid<Float> {
        let shape = reader.info.shape
        if shape.rank == 2 {
            guard axis == .z, index == 0 else {
                throw LensError.invalidArgument("\(reader.source) is a 2D image: only --axis z --index 0 exists")
            }
            return try reader.readAll().float32()
        }
        guard shape.rank == 3 else { throw LensError.invalidArgument("\(reader.source): slicing needs 2D or 3D data, not \(shape)") }
        guard index >= 0, index < shape[axis.index] else {
            throw LensError.invalidArgument("--index \(index) outside 0..<\(shape[axis.index]) along \(axis.rawValue)")
        }
        let g = reader.info.geometry
        if axis == .z {
            let slab = try reader.readSlab(index..<(index + 1)).float32()
            var plane = slab.reshaped(shape.sliceShape)
            plane.geometry = GridGeometry(voxelSizeMicrometres: [g.voxelSizeMicrometres[1], g.voxelSizeMicrometres[2]], isCalibrated: g.isCalibrated)
            return plane
        }
        let other = axis == .y ? shape[2] : shape[1]
        var values = [Float](repeating: 0, count: shape[0] * other)
        let thickness = reader.slabThickness(targetBytes: 64 << 20)
        var start = 0
        while start < shape[0] {
            let end = Swift.min(shape[0], start + thickness)
            let slab = try reader.readSlab(start..<end).float32()
            slab.withUnsafeBufferPointer { p in
                for z in start..<end {
                    let base = (z - start) * shape[1] * shape[2]
                    for i in 0..<other {
                        values[z * other + i] = axis == .y ? p[base + index * shape[2] + i] : p[base + i * shape[2] + index]
                    }
                }
            }
            start = end
        }
        let spacing = [g.voxelSizeMicrometres[0], axis == .y ? g.voxelSizeMicrometres[2] : g.voxelSizeMicrometres[1]]
        return Grid(shape: Shape(shape[0], other), geometry: GridGeometry(voxelSizeMicrometres: spacing, isCalibrated: g.isCalibrated), elements: values)
    }
}
