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
