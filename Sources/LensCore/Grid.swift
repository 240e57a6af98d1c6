/// An N-dimensional grid of samples (a 2D image, a 3D volume, a stack of them) with its shape
/// and physical geometry. Storage is row-major and contiguous; axis 0 varies slowest.
///
/// `Grid` is a value: copies share storage until one of them is written (copy on write), except
/// for memory-mapped grids, whose writes always go to the file. ``slab(_:)`` returns a view of a
/// range along axis 0 without copying, which is how every module walks a volume larger than
/// memory: slab by slab.
public struct Grid<Element: GridElement>: @unchecked Sendable {
    public private(set) var shape: Shape
    public var geometry: GridGeometry
    @usableFromInline var storage: GridStorage<Element>
    /// Index of this grid's first element in `storage`.
    @usableFromInline var offset: Int

    /// A zero-filled grid.
    public init(shape: Shape, geometry: GridGeometry? = nil) {
        self.shape = shape
        self.geometry = geometry ?? .uncalibrated(rank: shape.rank)
        precondition(self.geometry.rank == shape.rank, "geometry rank \(self.geometry.rank) ≠ shape rank \(shape.rank)")
        self.storage = GridStorage(zeroedCount: shape.count)
        self.offset = 0
    }

    /// A grid with every element set to `value`.
    public init(shape: Shape, geometry: GridGeometry? = nil, repeating value: Element) {
        self.init(shape: shape, geometry: geometry)
        if value != Element.zero {
            storage.baseAddress.update(repeating: value, count: shape.count)
        }
    }

    /// A grid holding `elements` in row-major order.
    public init(shape: Shape, geometry: GridGeometry? = nil, elements: [Element]) {
        precondition(elements.count == shape.count, "\(elements.count) elements for shape \(shape)")
        self.init(shape: shape, geometry: geometry)
        elements.withUnsafeBufferPointer { source in
            storage.baseAddress.update(from: source.baseAddress!, count: source.count)
        }
    }

    /// A grid viewing existing storage (used for slabs and memory-mapped files).
    init(shape: Shape, geometry: GridGeometry? = nil, storage: GridStorage<Element>, offset: Int = 0) {
        precondition(offset >= 0 && offset + shape.count <= storage.count, "view outside its storage")
        self.shape = shape
        self.geometry = geometry ?? .uncalibrated(rank: shape.rank)
        self.storage = storage
        self.offset = offset
    }

    /// A grid filled by `body(index)` for every linear index, in parallel over slabs.
    public init(shape: Shape, geometry: GridGeometry? = nil, generator body: @Sendable (Int) -> Element) {
        self.init(shape: shape, geometry: geometry)
        Parallel.withDisjointWrites(&self) { t in
            Parallel.forEachChunk(count: shape.count, minimumChunk: 1 << 14) { range in
                for i in range { t[i] = body(i) }
            }
        }
    }

    public var count: Int { shape.count }
    public var rank: Int { shape.rank }
    public var dataType: DataType { Element.dataType }
    /// Bytes of element data in this grid.
    public var byteCount: Int { count * MemoryLayout<Element>.stride }
    /// Whether this grid is backed by a memory-mapped file.
    public var isMapped: Bool { storage.mapping != nil }

    // MARK: Element access

    @inlinable public subscript(linear index: Int) -> Element {
        get {
            precondition(index >= 0 && index < shape.count, "index \(index) outside \(shape)")
            return storage.baseAddress[offset + index]
        }
        set {
            precondition(index >= 0 && index < shape.count, "index \(index) outside \(shape)")
            makeUnique()
            storage.baseAddress[offset + index] = newValue
        }
    }

    /// Element of a 2D grid at row `y`, column `x`.
    @inlinable public subscript(y: Int, x: Int) -> Element {
        get { self[linear: linearIndex2(y, x)] }
        set { self[linear: linearIndex2(y, x)] = newValue }
    }

    /// Element of a 3D grid at (z, y, x).
    @inlinable public subscript(z: Int, y: Int, x: Int) -> Element {
        get { self[linear: linearIndex3(z, y, x)] }
        set { self[linear: linearIndex3(z, y, x)] = newValue }
    }

    @inlinable func linearIndex2(_ y: Int, _ x: Int) -> Int {
        precondition(shape.rank == 2 && y >= 0 && y < shape[0] && x >= 0 && x < shape[1], "(\(y), \(x)) outside \(shape)")
        return y * shape[1] + x
    }

    @inlinable func linearIndex3(_ z: Int, _ y: Int, _ x: Int) -> Int {
        precondition(shape.rank == 3 && z >= 0 && z < shape[0] && y >= 0 && y < shape[1] && x >= 0 && x < shape[2],
                     "(\(z), \(y), \(x)) outside \(shape)")
        return (z * shape[1] + y) * shape[2] + x
    }

    /// Copies the elements out in row-major order: O(n) on every access. Read it once outside a
    /// loop; inside one, index with `self[linear: i]` or use `withUnsafeBufferPointer`.
    public var elements: [Element] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// Reads the contiguous elements.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.baseAddress + offset, count: shape.count))
    }

    /// Writes the contiguous elements (copying first if heap storage is shared).
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.baseAddress + offset, count: shape.count))
    }

    @inlinable mutating func makeUnique() {
        guard storage.copiesOnWrite, !isKnownUniquelyReferenced(&storage) else { return }
        let copy = GridStorage<Element>(zeroedCount: shape.count)
        copy.baseAddress.update(from: storage.baseAddress + offset, count: shape.count)
        storage = copy
        offset = 0
    }

    // MARK: Views

    /// A view of indices `range` along axis 0 (planes of a volume, rows of an image), sharing
    /// storage with this grid: no elements are copied. Its geometry's origin is shifted.
    public func slab(_ range: Range<Int>) -> Grid<Element> {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "slab \(range) outside 0..<\(shape[0])")
        return Grid(shape: shape.replacing(axis: 0, with: range.count),
                    geometry: geometry.offset(axis: 0, by: range.lowerBound),
                    storage: storage, offset: offset + range.lowerBound * shape.sliceCount)
    }

    /// A view of one index along axis 0 with that axis removed (a plane of a volume).
    public func slice(_ index: Int) -> Grid<Element> {
        precondition(shape.rank > 1, "slice of a 1D grid")
        precondition(index >= 0 && index < shape[0], "slice \(index) outside 0..<\(shape[0])")
        return Grid(shape: shape.sliceShape, geometry: geometry.offset(axis: 0, by: index).sliceGeometry,
                    storage: storage, offset: offset + index * shape.sliceCount)
    }

    /// The same elements with a new shape of equal count (no copy).
    /// The geometry is kept when the rank is unchanged, else uncalibrated unless given.
    public func reshaped(_ newShape: Shape, geometry newGeometry: GridGeometry? = nil) -> Grid<Element> {
        precondition(newShape.count == shape.count, "cannot reshape \(shape) to \(newShape)")
        let g = newGeometry ?? (newShape.rank == shape.rank ? geometry : nil)
        return Grid(shape: newShape, geometry: g, storage: storage, offset: offset)
    }

    /// A deep copy with its own heap storage (also of a mapped grid or a slab view).
    public func copy() -> Grid<Element> {
        var result = Grid(shape: shape, geometry: geometry)
        result.replaceSlab(at: 0, with: self)
        return result
    }

    /// Writes `source` into this grid starting at index `start` along axis 0.
    public mutating func replaceSlab(at start: Int, with source: Grid<Element>) {
        precondition(source.shape.sliceShape == shape.sliceShape || (shape.rank == 1 && source.rank == 1), "slab shape \(source.shape) does not fit \(shape)")
        precondition(start >= 0 && start + source.shape[0] <= shape[0], "slab at \(start) of \(source.shape[0]) outside \(shape)")
        let begin = start * shape.sliceCount
        withUnsafeMutableBufferPointer { target in
            source.withUnsafeBufferPointer { src in
                (target.baseAddress! + begin).update(from: src.baseAddress!, count: src.count)
            }
        }
    }

    /// A new grid whose elements are `transform` of this grid's, computed in parallel.
    public func map<T: GridElement>(_ transform: @Sendable (Element) -> T) -> Grid<T> {
        var result = Grid<T>(shape: shape, geometry: geometry)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                Parallel.sharing(source) { s in
                    Parallel.withDisjointWrites(target) { t in
                        Parallel.forEachChunk(count: s.count, minimumChunk: 1 << 15) { range in
                            for i in range { t[i] = transform(s[i]) }
                        }
                    }
                }
            }
        }
        return result
    }

    /// Whether this grid and `other` have the same shape and elements (geometry not compared).
    public func elementsEqual(_ other: Grid<Element>) -> Bool {
        guard shape == other.shape else { return false }
        return withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in
            memcmp(UnsafeRawPointer(a.baseAddress!), UnsafeRawPointer(b.baseAddress!), byteCount) == 0 || a.elementsEqual(b)
        } }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Grid {
    /// Maps an existing raw file holding `shape` elements of this type at `byteOffset`, in the
    /// machine's (little-endian) byte order. Read-only unless `writable`.
    public static func mapped(path: String, shape: Shape, byteOffset: Int = 0, writable: Bool = false,
                              geometry: GridGeometry? = nil) throws -> Grid<Element> {
        let needed = byteOffset + shape.count * MemoryLayout<Element>.stride
        let region = try MappedRegion(path: path, writable: writable)
        guard region.length >= needed else {
            throw LensError.badInput(file: path, problem: "file has \(region.length) bytes, shape \(shape) of \(Element.dataType) at offset \(byteOffset) needs \(needed)")
        }
        let storage = GridStorage<Element>(mapping: region, byteOffset: byteOffset, count: shape.count)
        return Grid(shape: shape, geometry: geometry, storage: storage)
    }

    /// Drops this grid's pages of indices `range` along axis 0 from resident memory (mapped
    /// grids only; a no-op for heap grids). Call after a slab is processed.
    public func releaseResidentMemory(slab range: Range<Int>) {
        guard let mapping = storage.mapping else { return }
        let elementStride = MemoryLayout<Element>.stride
        let start = (storage.baseAddress + offset + range.lowerBound * shape.sliceCount)
        let startByte = UnsafeRawPointer(start) - UnsafeRawPointer(mapping.address)
        mapping.release(byteRange: startByte..<(startByte + range.count * shape.sliceCount * elementStride))
    }

    /// Flushes a writable mapped grid's pages to its file.
    public func flushMapped() throws { try storage.mapping?.flush() }
}

extension Grid where Element: RealGridElement {
    /// Converts every element to another real type (rounded and clamped for integers).
    public func converted<T: RealGridElement>(to: T.Type = T.self) -> Grid<T> {
        if let same = self as? Grid<T> { return same }
        return map { T(clampingRounded: $0.doubleValue) }
    }
}

/// Volumes are 3D grids `(z, y, x)`, images 2D grids `(y, x)`; the names document intent.
public typealias Volume<Element: GridElement> = Grid<Element>
public typealias Image<Element: GridElement> = Grid<Element>
