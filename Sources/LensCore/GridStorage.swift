import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory behind a ``Grid``: a heap block (64-byte aligned; page aligned when large), or a
/// memory-mapped file region.
///
/// Heap storage is copied on write when shared (value semantics). Mapped storage is never
/// copied: writing through any grid that views it writes the file, which is the point of
/// mapping a volume larger than memory. Internal to `LensCore`: no other module reaches a
/// grid's memory except through `withUnsafe…BufferPointer` and the `Parallel` buffers.
@usableFromInline final class GridStorage<Element: GridElement>: @unchecked Sendable {
    @usableFromInline let baseAddress: UnsafeMutablePointer<Element>
    @usableFromInline let count: Int
    /// The mapping that owns the memory, if file-backed.
    @usableFromInline let mapping: MappedRegion?

    /// Zero-filled storage. Blocks of 4 MiB and more are anonymous memory maps (page aligned,
    /// zeroed by the kernel, no memset touching every page) advised to use transparent huge
    /// pages: faulting in 1 GiB in 4 KiB pages costs ~0.6 s here, in 2 MiB pages a few ms
    /// (NumPy does the same for its large arrays). Smaller blocks are 64-byte aligned heap memory.
    @usableFromInline init(zeroedCount count: Int) {
        self.count = count
        let (raw, mapped) = LargeMemory.allocateZeroed(bytes: Swift.max(1, count * MemoryLayout<Element>.stride))
        anonymousBytes = mapped
        self.baseAddress = raw.bindMemory(to: Element.self, capacity: Swift.max(1, count))
        self.mapping = nil
    }

    /// Size of an anonymous map to unmap on deinit (0: heap memory).
    private let anonymousBytes: Int

    /// Storage over a mapped file region starting `byteOffset` bytes into the mapping.
    init(mapping: MappedRegion, byteOffset: Int, count: Int) {
        precondition(byteOffset + count * MemoryLayout<Element>.stride <= mapping.length, "mapped region too small")
        self.mapping = mapping
        self.count = count
        self.anonymousBytes = 0
        self.baseAddress = (mapping.address + byteOffset).bindMemory(to: Element.self, capacity: Swift.max(1, count))
    }

    /// Whether writes must copy when the storage is shared (heap) or go through (mapped).
    @usableFromInline var copiesOnWrite: Bool { mapping == nil }

    deinit {
        if mapping != nil { return }
        LargeMemory.deallocate(baseAddress, mappedBytes: anonymousBytes)
    }
}

/// A memory-mapped region of a file. Unmapped when the last grid using it goes away.
public final class MappedRegion: @unchecked Sendable {
    public let address: UnsafeMutableRawPointer
    public let length: Int
    public let path: String
    public let isWritable: Bool

    /// Maps `length` bytes of `path` (the whole file by default). Writable mappings are shared
    /// with the file, so writes reach the disk without an explicit save.
    public init(path: String, writable: Bool, length: Int? = nil) throws {
        let fd = open(path, writable ? O_RDWR : O_RDONLY)
        guard fd >= 0 else { throw LensError.badInput(file: path, problem: "cannot open for mapping: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LensError.badInput(file: path, problem: "cannot stat") }
        let size = length ?? Int(info.st_size)
        guard size > 0, size <= Int(info.st_size) else {
            throw LensError.badInput(file: path, problem: "file has \(info.st_size) bytes, cannot map \(size)")
        }
        let protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        let mapped = mmap(nil, size, protection, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw LensError.badInput(file: path, problem: "mmap failed: \(String(cString: strerror(errno)))")
        }
        self.address = mapped
        self.length = size
        self.path = path
        self.isWritable = writable
    }

    /// Flushes written pages of the given byte range (whole region by default) to the file.
    public func flush(byteRange: Range<Int>? = nil) throws {
        guard isWritable else { return }
        let range = byteRange ?? 0..<length
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        guard msync(address + start, range.upperBound - start, MS_SYNC) == 0 else {
            throw LensError.badOutput(file: path, problem: "msync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Tells the kernel the pages of `byteRange` are not needed soon, so they leave this
    /// process's resident memory (shared file mappings keep their data in the file/page cache).
    /// This is what keeps the resident size of a slab-by-slab pass bounded by a few slabs.
    public func release(byteRange: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (byteRange.lowerBound / page) * page
        let end = Swift.min(length, ((byteRange.upperBound + page - 1) / page) * page)
        guard end > start else { return }
        if isWritable { msync(address + start, end - start, MS_ASYNC) }
        madvise(address + start, end - start, Int32(MADV_DONTNEED))
    }

    deinit { munmap(address, length) }
}

/// Zeroed memory for large working buffers (grids, projector chunks): blocks of 4 MiB and more
/// are anonymous maps advised to use transparent huge pages — faulting 1 GiB in 4 KiB pages
/// costs ~0.6 s here, and strided access over many 4 KiB pages misses the TLB on every step;
/// smaller blocks are 64-byte aligned heap memory.
public enum LargeMemory {
    public static let mappedThresholdBytes = 4 << 20

    /// Returns the memory and the mapped size to pass back to ``deallocate(_:mappedBytes:)``
    /// (0 for heap memory).
    public static func allocateZeroed(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        if bytes >= mappedThresholdBytes {
            guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
                fatalError("out of memory allocating \(bytes) bytes")
            }
            #if os(Linux)
            madvise(p, bytes, Int32(MADV_HUGEPAGE))
            #endif
            return (p, bytes)
        }
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, bytes) == 0, let p else { fatalError("out of memory allocating \(bytes) bytes") }
        memset(p, 0, bytes)
        return (p, 0)
    }

    public static func deallocate(_ pointer: UnsafeMutableRawPointer, mappedBytes: Int) {
        if mappedBytes > 0 { munmap(pointer, mappedBytes) } else { free(pointer) }
    }

    /// A zeroed typed buffer; release with ``deallocate(_:)``.
    public static func buffer<T>(of type: T.Type, count: Int) -> UnsafeMutableBufferPointer<T> {
        let bytes = Swift.max(1, count * MemoryLayout<T>.stride)
        let (p, _) = allocateZeroed(bytes: bytes)
        return UnsafeMutableBufferPointer(start: p.bindMemory(to: T.self, capacity: count), count: count)
    }

    /// Typed release of memory from ``buffer(of:count:)``.
    public static func deallocate<T>(_ buffer: UnsafeMutableBufferPointer<T>) {
        let bytes = Swift.max(1, buffer.count * MemoryLayout<T>.stride)
        deallocate(UnsafeMutableRawPointer(buffer.baseAddress!), mappedBytes: bytes >= mappedThresholdBytes ? bytes : 0)
    }
}

/// Large working buffers kept from one use to the next. An iterative solver calls its projector
/// twice per iteration, and every call needs the same few tens of megabytes of scratch: fresh
/// anonymous pages cost the kernel's zeroing and a fault per page each time (15 % of a TV
/// iteration, measured), a kept buffer only the caller's own initialization. Buffers go back to
/// the pool after use and are freed with it. Thread-safe.
public final class ScratchPool: Sendable {
    private struct Block: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }
    /// Free buffers by byte count.
    private let free = Mutex<[Int: [Block]]>([:])

    public init() {}

    /// A buffer of `count` elements: its contents are whatever the last user left (initialize
    /// what you read). Give it back with ``recycle(_:)``.
    public func buffer<T>(of type: T.Type, count: Int) -> UnsafeMutableBufferPointer<T> {
        if let block = free.withLock({ $0[Swift.max(1, count * MemoryLayout<T>.stride)]?.popLast() }) {
            return UnsafeMutableBufferPointer(start: block.pointer.bindMemory(to: T.self, capacity: count), count: count)
        }
        return LargeMemory.buffer(of: type, count: count)
    }

    /// Returns a buffer from ``buffer(of:count:)`` to the pool.
    public func recycle<T>(_ buffer: UnsafeMutableBufferPointer<T>) {
        let bytes = Swift.max(1, buffer.count * MemoryLayout<T>.stride)
        free.withLock { $0[bytes, default: []].append(Block(pointer: UnsafeMutableRawPointer(buffer.baseAddress!))) }
    }

    deinit {
        free.withLock { lists in
            for (bytes, list) in lists {
                for block in list { LargeMemory.deallocate(UnsafeMutableBufferPointer(start: block.pointer.assumingMemoryBound(to: UInt8.self), count: bytes)) }
            }
        }
    }
}
