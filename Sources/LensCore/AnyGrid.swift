/// A grid whose element type is known only at run time (what a file reader returns).
/// Algorithms switch on it once and then run on a concrete ``Grid``.
public enum AnyGrid: Sendable {
    case uint8(Grid<UInt8>)
    case int8(Grid<Int8>)
    case uint16(Grid<UInt16>)
    case int16(Grid<Int16>)
    case uint32(Grid<UInt32>)
    case int32(Grid<Int32>)
    case uint64(Grid<UInt64>)
    case int64(Grid<Int64>)
    case float32(Grid<Float>)
    case float64(Grid<Double>)
    case complex64(Grid<ComplexFloat32>)
    case complex128(Grid<ComplexFloat64>)

    /// Wraps a concrete grid.
    public init<T: GridElement>(_ grid: Grid<T>) {
        switch grid {
        case let g as Grid<UInt8>: self = .uint8(g)
        case let g as Grid<Int8>: self = .int8(g)
        case let g as Grid<UInt16>: self = .uint16(g)
        case let g as Grid<Int16>: self = .int16(g)
        case let g as Grid<UInt32>: self = .uint32(g)
        case let g as Grid<Int32>: self = .int32(g)
        case let g as Grid<UInt64>: self = .uint64(g)
        case let g as Grid<Int64>: self = .int64(g)
        case let g as Grid<Float>: self = .float32(g)
        case let g as Grid<Double>: self = .float64(g)
        case let g as Grid<ComplexFloat32>: self = .complex64(g)
        case let g as Grid<ComplexFloat64>: self = .complex128(g)
        default: fatalError("unsupported grid element \(T.self)")
        }
    }

    /// A zero-filled grid of the given type.
    /// Zeros of `dataType`, after checking that they fit in memory (``MemoryBudget``): for
    /// allocations whose size comes from a file's header. `source` names the file.
    public static func allocate(zeros dataType: DataType, shape: Shape, geometry: GridGeometry? = nil, source: String) throws -> AnyGrid {
        let count = try Shape.validated(shape.dims, source: source, elementBytes: dataType.byteSize).count
        // Small reads (most slabs) need no look at the system's memory.
        if count > (64 << 20) / Swift.max(1, dataType.byteSize) {
            try MemoryBudget.require(elements: count, elementBytes: dataType.byteSize, for: source,
                                     hint: "read it in parts (convert --slices, or the slab-wise commands)")
        }
        return AnyGrid(zeros: dataType, shape: shape, geometry: geometry)
    }

    public init(zeros dataType: DataType, shape: Shape, geometry: GridGeometry? = nil) {
        switch dataType {
        case .uint8: self = .uint8(Grid(shape: shape, geometry: geometry))
        case .int8: self = .int8(Grid(shape: shape, geometry: geometry))
        case .uint16: self = .uint16(Grid(shape: shape, geometry: geometry))
        case .int16: self = .int16(Grid(shape: shape, geometry: geometry))
        case .uint32: self = .uint32(Grid(shape: shape, geometry: geometry))
        case .int32: self = .int32(Grid(shape: shape, geometry: geometry))
        case .uint64: self = .uint64(Grid(shape: shape, geometry: geometry))
        case .int64: self = .int64(Grid(shape: shape, geometry: geometry))
        case .float32: self = .float32(Grid(shape: shape, geometry: geometry))
        case .float64: self = .float64(Grid(shape: shape, geometry: geometry))
        case .complex64: self = .complex64(Grid(shape: shape, geometry: geometry))
        case .complex128: self = .complex128(Grid(shape: shape, geometry: geometry))
        }
    }

    /// Runs `body` with the concrete grid, whatever its element type.
    public func withGrid<R>(_ body: (any GridProtocol) throws -> R) rethrows -> R {
        switch self {
        case let .uint8(g): return try body(g)
        case let .int8(g): return try body(g)
        case let .uint16(g): return try body(g)
        case let .int16(g): return try body(g)
        case let .uint32(g): return try body(g)
        case let .int32(g): return try body(g)
        case let .uint64(g): return try body(g)
        case let .int64(g): return try body(g)
        case let .float32(g): return try body(g)
        case let .float64(g): return try body(g)
        case let .complex64(g): return try body(g)
        case let .complex128(g): return try body(g)
        }
    }

    /// Runs `body` with the concrete grid when its elements are real numbers; nil for complex.
    public func withRealGrid<R>(_ body: (any RealGridProtocol) throws -> R) rethrows -> R? {
        switch self {
        case let .uint8(g): return try body(g)
        case let .int8(g): return try body(g)
        case let .uint16(g): return try body(g)
        case let .int16(g): return try body(g)
        case let .uint32(g): return try body(g)
        case let .int32(g): return try body(g)
        case let .uint64(g): return try body(g)
        case let .int64(g): return try body(g)
        case let .float32(g): return try body(g)
        case let .float64(g): return try body(g)
        case .complex64, .complex128: return nil
        }
    }

    public var shape: Shape { withGrid { $0.shape } }
    public var dataType: DataType { withGrid { $0.dataType } }
    public var geometry: GridGeometry { withGrid { $0.geometry } }
    public var byteCount: Int { withGrid { $0.byteCount } }

    /// The same grid with another geometry.
    public func withGeometry(_ geometry: GridGeometry) -> AnyGrid {
        switch self {
        case var .uint8(g): g.geometry = geometry; return .uint8(g)
        case var .int8(g): g.geometry = geometry; return .int8(g)
        case var .uint16(g): g.geometry = geometry; return .uint16(g)
        case var .int16(g): g.geometry = geometry; return .int16(g)
        case var .uint32(g): g.geometry = geometry; return .uint32(g)
        case var .int32(g): g.geometry = geometry; return .int32(g)
        case var .uint64(g): g.geometry = geometry; return .uint64(g)
        case var .int64(g): g.geometry = geometry; return .int64(g)
        case var .float32(g): g.geometry = geometry; return .float32(g)
        case var .float64(g): g.geometry = geometry; return .float64(g)
        case var .complex64(g): g.geometry = geometry; return .complex64(g)
        case var .complex128(g): g.geometry = geometry; return .complex128(g)
        }
    }

    /// A slab view along axis 0 (no copy).
    public func slab(_ range: Range<Int>) -> AnyGrid { withGrid { $0.anySlab(range) } }

    /// The same elements with another shape of equal count (no copy).
    public func reshaped(_ shape: Shape) -> AnyGrid { withGrid { $0.anyReshaped(shape) } }

    /// A deep copy with its own storage (e.g. to keep a slab of a larger buffer).
    public func copied() -> AnyGrid { withGrid { $0.anyCopy() } }

    /// The elements as a real grid of type `T` (rounded and clamped for integer targets).
    /// Complex grids are refused: a silent modulus or real part would lose information.
    public func converted<T: RealGridElement>(to: T.Type) throws -> Grid<T> {
        guard let result = withRealGrid({ $0.convertedGrid(to: T.self) }) else {
            throw LensError.invalidArgument("cannot convert complex data (\(dataType)) to \(T.dataType)")
        }
        return result
    }

    /// Float32 view of the data, converting only if needed.
    public func float32() throws -> Grid<Float> { try converted(to: Float.self) }
}

/// What every grid offers without knowing its element type.
public protocol GridProtocol: Sendable {
    var shape: Shape { get }
    var geometry: GridGeometry { get }
    var dataType: DataType { get }
    var byteCount: Int { get }
    func anySlab(_ range: Range<Int>) -> AnyGrid
    func anyReshaped(_ shape: Shape) -> AnyGrid
    func anyCopy() -> AnyGrid
    /// The raw bytes in the machine's byte order.
    func withUnsafeRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

/// What real-valued grids offer without knowing their element type.
public protocol RealGridProtocol: GridProtocol {
    func convertedGrid<T: RealGridElement>(to: T.Type) -> Grid<T>
    /// Element `i` as a Double.
    func doubleValue(at index: Int) -> Double
    /// Minimum, maximum, mean, count of finite values and count of non-finite values.
    func valueStatistics() -> ValueStatistics
}

extension Grid: GridProtocol {
    public func anySlab(_ range: Range<Int>) -> AnyGrid { AnyGrid(slab(range)) }
    public func anyReshaped(_ shape: Shape) -> AnyGrid { AnyGrid(reshaped(shape)) }
    public func anyCopy() -> AnyGrid { AnyGrid(copy()) }
    public func withUnsafeRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension Grid: RealGridProtocol where Element: RealGridElement {
    public func convertedGrid<T: RealGridElement>(to: T.Type) -> Grid<T> { converted(to: T.self) }
    public func doubleValue(at index: Int) -> Double { self[linear: index].doubleValue }
    public func valueStatistics() -> ValueStatistics {
        withUnsafeBufferPointer { ValueStatistics(of: $0) }
    }
}

/// Range and mean of the finite values of a grid, mergeable across slabs.
public struct ValueStatistics: Codable, Sendable, Equatable {
    public var minimum: Double
    public var maximum: Double
    /// Sum of finite values (kept for merging; the mean is `sum / finiteCount`).
    public var sum: Double
    public var finiteCount: Int
    public var nonFiniteCount: Int

    public init() {
        minimum = .infinity; maximum = -.infinity; sum = 0; finiteCount = 0; nonFiniteCount = 0
    }

    /// Statistics of a buffer, computed in parallel chunks and merged.
    public init<T: RealGridElement>(of values: UnsafeBufferPointer<T>) {
        let chunkCount = Swift.max(1, Swift.min(64, values.count / (1 << 16)))
        let partials = Parallel.sharing(values) { values in Parallel.mapChunks(count: values.count, chunks: chunkCount) { range -> ValueStatistics in
            var s = ValueStatistics()
            var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, finite = 0
            for i in range {
                let v = values[i].doubleValue
                if v.isFinite {
                    lo = Swift.min(lo, v); hi = Swift.max(hi, v); sum += v; finite += 1
                }
            }
            s.minimum = lo; s.maximum = hi; s.sum = sum; s.finiteCount = finite
            s.nonFiniteCount = range.count - finite
            return s
        } }
        self.init()
        for p in partials { merge(p) }
    }

    public mutating func merge(_ other: ValueStatistics) {
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
        sum += other.sum
        finiteCount += other.finiteCount
        nonFiniteCount += other.nonFiniteCount
    }

    public var mean: Double { finiteCount > 0 ? sum / Double(finiteCount) : .nan }
}
