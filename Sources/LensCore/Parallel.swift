import Dispatch
import Foundation
import Synchronization

/// Parallel loops over index ranges (slabs, rows, chunks of a buffer) on all cores, with
/// cooperative cancellation. Built on `DispatchQueue.concurrentPerform`.
public enum Parallel {
    /// Number of worker threads used by default: the active processor count, or the value of
    /// the environment variable `BATTERYLENS_THREADS` when set.
    public static var threadCount: Int {
        if let value = ProcessInfo.processInfo.environment["BATTERYLENS_THREADS"], let n = Int(value), n > 0 { return n }
        return Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Splits `0..<count` into contiguous chunks of at least `minimumChunk` indices (about
    /// four per thread, for load balance) and runs `body` on each concurrently.
    public static func forEachChunk(count: Int, minimumChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let ranges = chunkRanges(count: count, minimumChunk: minimumChunk)
        if ranges.count == 1 { body(ranges[0]); return }
        DispatchQueue.concurrentPerform(iterations: ranges.count) { body(ranges[$0]) }
    }

    /// Like ``forEachChunk(count:minimumChunk:_:)`` for bodies that throw or are cancelled:
    /// remaining chunks are skipped after the first error or once `cancellation` is set, and that
    /// error (or ``LensError/cancelled``) is rethrown. `progress` advances by each chunk's size.
    public static func forEachChunk(count: Int, minimumChunk: Int = 1, cancellation: CancellationToken?,
                                    progress: ProgressReporter? = nil,
                                    _ body: @Sendable (Range<Int>) throws -> Void) throws {
        guard count > 0 else { return }
        let ranges = chunkRanges(count: count, minimumChunk: minimumChunk)
        let failure = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: ranges.count) { index in
            if failure.withLock({ $0 != nil }) { return }
            if cancellation?.isCancelled == true {
                failure.withLock { if $0 == nil { $0 = LensError.cancelled } }
                return
            }
            do {
                try body(ranges[index])
                progress?.advance(by: ranges[index].count)
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Computes one value per chunk in parallel and returns them in chunk order.
    public static func mapChunks<R: Sendable>(count: Int, chunks: Int, _ body: @Sendable (Range<Int>) -> R) -> [R] {
        guard count > 0 else { return [] }
        let n = Swift.max(1, Swift.min(chunks, count))
        let ranges = (0..<n).map { i in (i * count / n)..<((i + 1) * count / n) }
        let results = Mutex<[R?]>([R?](repeating: nil, count: n))
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let value = body(ranges[i])
            results.withLock { $0[i] = value }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// The chunk ranges used for `count` indices.
    public static func chunkRanges(count: Int, minimumChunk: Int) -> [Range<Int>] {
        let target = threadCount * 4
        let chunk = Swift.max(Swift.max(1, minimumChunk), (count + target - 1) / target)
        return stride(from: 0, to: count, by: chunk).map { $0..<Swift.min(count, $0 + chunk) }
    }
}

/// A flag that long work checks between slabs; set it (from a signal handler or another task)
/// to stop the work with ``LensError/cancelled``.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// Clears the flag (a process that runs several commands, as tests do, after an interrupted one).
    public func reset() { flag.store(false, ordering: .relaxed) }
    /// Throws ``LensError/cancelled`` once cancelled.
    public func check() throws { if isCancelled { throw LensError.cancelled } }
}

// MARK: - Shared buffers, contained
//
// Workers of a parallel loop share memory in two ways only: they read an input that nobody
// writes while they run, and each writes its own disjoint part of an output. These types are
// the one place that promises so to the compiler (`@unchecked Sendable`), instead of a
// `nonisolated(unsafe)` capture at every loop.

/// A read-only view of a buffer that many workers read at once. Valid only inside the closure
/// of ``Parallel/sharing(_:_:)`` that made it; nobody writes the buffer meanwhile.
public struct SharedReadBuffer<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeBufferPointer<Element>
    public var count: Int { base.count }
    @inlinable public subscript(i: Int) -> Element { base[i] }
}

/// The rows of a shared output that one worker owns: it writes there and nowhere else (checked
/// in debug builds). Element indices are those of the whole output.
public struct ChunkWriter<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Element>
    /// The worker's rows, and the elements per row.
    public let rows: Range<Int>
    public let rowLength: Int
    @inlinable public subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set {
            assert(i >= rows.lowerBound * rowLength && i < rows.upperBound * rowLength, "write outside the worker's rows")
            base[i] = newValue
        }
    }
}

extension Parallel {
    /// Runs `body` with a view of `input` that parallel workers may read.
    public static func sharing<T, R>(_ input: [T], _ body: (SharedReadBuffer<T>) throws -> R) rethrows -> R {
        try input.withUnsafeBufferPointer { try body(SharedReadBuffer(base: $0)) }
    }

    /// Runs `body` with a view of `grid`'s elements that parallel workers may read.
    public static func sharing<T, R>(_ grid: Grid<T>, _ body: (SharedReadBuffer<T>) throws -> R) rethrows -> R {
        try grid.withUnsafeBufferPointer { try body(SharedReadBuffer(base: $0)) }
    }

    /// Runs `body` with a view of a buffer the caller holds open (inside its own
    /// `withUnsafe…` scope) that parallel workers may read.
    public static func sharing<T, R>(_ buffer: UnsafeBufferPointer<T>, _ body: (SharedReadBuffer<T>) throws -> R) rethrows -> R {
        try body(SharedReadBuffer(base: buffer))
    }

    /// Runs `body` with the bytes of a buffer the caller holds open, for parallel workers to
    /// decode (each reads what it needs; nobody writes the bytes meanwhile).
    public static func sharing<R>(bytes: UnsafeRawBufferPointer, _ body: (SharedReadBuffer<UInt8>) throws -> R) rethrows -> R {
        try body(SharedReadBuffer(base: bytes.bindMemory(to: UInt8.self)))
    }

    /// Splits `0..<rows` into chunks (see ``forEachChunk(count:minimumChunk:_:)``) and runs
    /// `body` on each in parallel with a writer to its own rows of `output` (rows of
    /// `rowLength` elements).
    public static func forEachRowChunk<T>(rows: Int, rowLength: Int, minimumChunk: Int = 1, writing output: inout [T],
                                         _ body: @Sendable (ChunkWriter<T>) -> Void) {
        precondition(output.count >= rows * rowLength, "output of \(output.count) elements for \(rows) rows of \(rowLength)")
        output.withUnsafeMutableBufferPointer { forEachRowChunk(rows: rows, rowLength: rowLength, minimumChunk: minimumChunk, buffer: $0, body) }
    }

    /// The same for a grid's elements.
    public static func forEachRowChunk<T>(rows: Int, rowLength: Int, minimumChunk: Int = 1, writing output: inout Grid<T>,
                                         _ body: @Sendable (ChunkWriter<T>) -> Void) {
        precondition(output.count >= rows * rowLength, "output of \(output.count) elements for \(rows) rows of \(rowLength)")
        output.withUnsafeMutableBufferPointer { forEachRowChunk(rows: rows, rowLength: rowLength, minimumChunk: minimumChunk, buffer: $0, body) }
    }

    private static func forEachRowChunk<T>(rows: Int, rowLength: Int, minimumChunk: Int, buffer: UnsafeMutableBufferPointer<T>,
                                          _ body: @Sendable (ChunkWriter<T>) -> Void) {
        let base = SharedWriteBase(pointer: buffer.baseAddress)
        forEachChunk(count: rows, minimumChunk: minimumChunk) { chunk in
            guard let pointer = base.pointer else { return }
            body(ChunkWriter(base: pointer, rows: chunk, rowLength: rowLength))
        }
    }

    /// Two outputs written by the same rows (a numerator and a denominator).
    public static func forEachRowChunk<T, U>(rows: Int, rowLength: Int, minimumChunk: Int = 1, writing first: inout [T], _ second: inout [U],
                                            _ body: @Sendable (ChunkWriter<T>, ChunkWriter<U>) -> Void) {
        precondition(first.count >= rows * rowLength && second.count >= rows * rowLength, "outputs too small for \(rows) rows of \(rowLength)")
        first.withUnsafeMutableBufferPointer { a in
            second.withUnsafeMutableBufferPointer { b in
                let (baseA, baseB) = (SharedWriteBase(pointer: a.baseAddress), SharedWriteBase(pointer: b.baseAddress))
                forEachChunk(count: rows, minimumChunk: minimumChunk) { chunk in
                    guard let pa = baseA.pointer, let pb = baseB.pointer else { return }
                    body(ChunkWriter(base: pa, rows: chunk, rowLength: rowLength), ChunkWriter(base: pb, rows: chunk, rowLength: rowLength))
                }
            }
        }
    }

    /// `body(i)` for every `i` in `0..<count`, in parallel, results in index order (each worker
    /// fills its own slots).
    public static func map<R>(count: Int, minimumChunk: Int = 1, _ body: @Sendable (Int) -> R) -> [R] {
        guard count > 0 else { return [] }
        var results = [R?](repeating: nil, count: count)
        forEachRowChunk(rows: count, rowLength: 1, minimumChunk: minimumChunk, writing: &results) { writer in
            for i in writer.rows { writer[i] = body(i) }
        }
        return results.map { $0! }
    }
}

/// A base address handed to workers that write disjoint parts (see ``ChunkWriter``).
private struct SharedWriteBase<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>?
}

/// An output that workers write at indices each alone owns, where those are not whole rows (a
/// detector row across every angle, one pixel's value in every field): the caller's loop makes
/// the indices disjoint; this type is where that is promised, once, instead of at each loop.
public struct DisjointWriteBuffer<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutableBufferPointer<Element>
    public var count: Int { base.count }
    /// In place: a worker mutating its own element (a per-worker accumulator) does not copy it.
    @inlinable public subscript(i: Int) -> Element {
        unsafeAddress { assert(i >= 0 && i < base.count, "index out of range"); return UnsafePointer(base.baseAddress! + i) }
        nonmutating unsafeMutableAddress { assert(i >= 0 && i < base.count, "index out of range"); return base.baseAddress! + i }
    }
}

extension DisjointWriteBuffer {
    /// The first element's address, for kernels that take a pointer to the part they own.
    public var baseAddress: UnsafeMutablePointer<Element>? { base.baseAddress }
}

extension SharedReadBuffer {
    /// The first element's address, for kernels that take a pointer to one pixel's spectrum.
    public var baseAddress: UnsafePointer<Element>? { base.baseAddress }
}

extension SharedReadBuffer where Element == UInt8 {
    /// A value of type `T` read from `offset` bytes in, at any alignment (records in a file).
    @inlinable public func loadUnaligned<T: BitwiseCopyable>(fromByteOffset offset: Int, as type: T.Type) -> T {
        UnsafeRawBufferPointer(base).loadUnaligned(fromByteOffset: offset, as: type)
    }
}

extension Parallel {
    /// Runs `body` with `array` open for writes from parallel workers at disjoint indices.
    public static func withDisjointWrites<T, R>(_ array: inout [T], _ body: (DisjointWriteBuffer<T>) throws -> R) rethrows -> R {
        try array.withUnsafeMutableBufferPointer { try body(DisjointWriteBuffer(base: $0)) }
    }

    /// The same for a grid's elements.
    public static func withDisjointWrites<T, R>(_ grid: inout Grid<T>, _ body: (DisjointWriteBuffer<T>) throws -> R) rethrows -> R {
        try grid.withUnsafeMutableBufferPointer { try body(DisjointWriteBuffer(base: $0)) }
    }

    /// The same for a buffer the caller holds open (inside its own `withUnsafe…` scope).
    public static func withDisjointWrites<T, R>(_ buffer: UnsafeMutableBufferPointer<T>, _ body: (DisjointWriteBuffer<T>) throws -> R) rethrows -> R {
        try body(DisjointWriteBuffer(base: buffer))
    }
}
