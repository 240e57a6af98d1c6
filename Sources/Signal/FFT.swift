import CFFTW3
import LensCore
import Synchronization

/// A complex element type with its FFTW real counterpart (`ComplexFloat32` ↔ `Float`).
public protocol FFTComplex: GridElement {
    associatedtype Real: FFTScalar where Real.ComplexValue == Self
}
extension ComplexFloat32: FFTComplex { public typealias Real = Float }
extension ComplexFloat64: FFTComplex { public typealias Real = Double }

/// Fast Fourier transforms over FFTW, for grids of any rank along any set of axes.
///
/// Conventions (NumPy's): forward transforms are unnormalized, e^{−2πi k n / N}; inverse
/// transforms are scaled by 1/N so `inverse(forward(x)) == x`. Real-to-complex transforms keep
/// the non-redundant half of the last transformed axis (N/2 + 1 values).
///
/// Plans are made once per (precision, kind, shape, strides, alignment, threads) with
/// FFTW_ESTIMATE under a lock (FFTW's planner is not thread-safe) and reused through FFTW's
/// new-array execute functions, which are thread-safe.
public enum FFT {
    /// Forward real-to-complex transform of `input` over `axes` (all axes by default).
    public static func forward<T: FFTScalar>(_ input: Grid<T>, axes: [Int]? = nil, threads: Int = Parallel.threadCount) -> Grid<T.ComplexValue> {
        let transformAxes = normalized(axes, rank: input.rank)
        let last = transformAxes.last!
        let outShape = input.shape.replacing(axis: last, with: input.shape[last] / 2 + 1)
        var output = Grid<T.ComplexValue>(shape: outShape, geometry: input.geometry)
        let (dims, loops) = guruDims(logical: input.shape, inShape: input.shape, outShape: outShape, axes: transformAxes)
        // Out-of-place r2c and c2c transforms preserve their input (FFTW's default), so the
        // input is read in place without a copy.
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                guard src.count > 0 else { return }
                let inPtr = UnsafeMutableRawPointer(mutating: src.baseAddress!), outPtr = UnsafeMutableRawPointer(dst.baseAddress!)
                let plan = PlanCache.plan(T.self, .realToComplex, dims, loops, inPtr, outPtr, threads: threads)
                T.fftwExecuteR2C(plan, inPtr, outPtr)
            }
        }
        return output
    }

    /// Inverse complex-to-real transform (scaled by 1/N) back to a real grid of `realShape`.
    public static func inverse<C: FFTComplex>(_ spectrum: Grid<C>, realShape: Shape, axes: [Int]? = nil,
                                              threads: Int = Parallel.threadCount) -> Grid<C.Real> {
        typealias T = C.Real
        let transformAxes = normalized(axes, rank: realShape.rank)
        let last = transformAxes.last!
        precondition(spectrum.shape == realShape.replacing(axis: last, with: realShape[last] / 2 + 1),
                     "spectrum \(spectrum.shape) does not match real shape \(realShape)")
        var output = Grid<T>(shape: realShape, geometry: spectrum.geometry)
        // c2r transforms overwrite their input: work on a private copy.
        var scratch = Grid<C>(shape: spectrum.shape)
        scratch.replaceSlab(at: 0, with: spectrum)
        let (dims, loops) = guruDims(logical: realShape, inShape: spectrum.shape, outShape: realShape, axes: transformAxes)
        let n = transformAxes.reduce(1) { $0 * realShape[$1] }
        scratch.withUnsafeMutableBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                guard dst.count > 0 else { return }
                let inPtr = UnsafeMutableRawPointer(src.baseAddress!), outPtr = UnsafeMutableRawPointer(dst.baseAddress!)
                let plan = PlanCache.plan(T.self, .complexToReal, dims, loops, inPtr, outPtr, threads: threads)
                T.fftwExecuteC2R(plan, inPtr, outPtr)
                scale(dst, by: T(1) / T(n))
            }
        }
        return output
    }

    /// Complex-to-complex transform over `axes`; `inverse` scales by 1/N.
    public static func transform<C: FFTComplex>(_ input: Grid<C>, axes: [Int]? = nil, inverse: Bool = false,
                                                threads: Int = Parallel.threadCount) -> Grid<C> {
        typealias T = C.Real
        let transformAxes = normalized(axes, rank: input.rank)
        var output = Grid<C>(shape: input.shape, geometry: input.geometry)
        let (dims, loops) = guruDims(logical: input.shape, inShape: input.shape, outShape: input.shape, axes: transformAxes)
        let n = transformAxes.reduce(1) { $0 * input.shape[$1] }
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                guard dst.count > 0 else { return }
                let inPtr = UnsafeMutableRawPointer(mutating: src.baseAddress!), outPtr = UnsafeMutableRawPointer(dst.baseAddress!)
                let plan = PlanCache.plan(T.self, inverse ? .complexBackward : .complexForward, dims, loops, inPtr, outPtr, threads: threads)
                T.fftwExecuteC2C(plan, inPtr, outPtr)
                if inverse {
                    let s = T(1) / T(n)
                    UnsafeMutableRawBufferPointer(dst).withMemoryRebound(to: T.self) { scale($0, by: s) }
                }
            }
        }
        return output
    }

    /// The frequency (cycles per sample) of each index of an N-point transform, NumPy's `fftfreq`.
    public static func frequencies(count n: Int, spacing: Double = 1) -> [Double] {
        (0..<n).map { k in Double(k < (n + 1) / 2 ? k : k - n) / (Double(n) * spacing) }
    }

    /// The next length ≥ n whose only prime factors are 2, 3, 5 and 7 (fast for FFTW); used
    /// for zero padding.
    public static func fastLength(atLeast n: Int) -> Int {
        var m = Swift.max(1, n)
        while true {
            var r = m
            for p in [2, 3, 5, 7] { while r % p == 0 { r /= p } }
            if r == 1 { return m }
            m += 1
        }
    }

    static func normalized(_ axes: [Int]?, rank: Int) -> [Int] {
        let a = Array(Set(axes ?? Array(0..<rank))).sorted()
        precondition(!a.isEmpty && a.allSatisfy { $0 >= 0 && $0 < rank }, "FFT axes \(axes ?? []) invalid for rank \(rank)")
        return a
    }

    static func guruDims(logical: Shape, inShape: Shape, outShape: Shape, axes: [Int]) -> ([FFTDimension], [FFTDimension]) {
        let inStrides = inShape.strides, outStrides = outShape.strides
        var dims = [FFTDimension](), loops = [FFTDimension]()
        for axis in 0..<logical.rank {
            let d = FFTDimension(count: axes.contains(axis) ? logical[axis] : inShape[axis], inputStride: inStrides[axis], outputStride: outStrides[axis])
            if axes.contains(axis) { dims.append(d) } else { loops.append(d) }
        }
        return (dims, loops)
    }

    static func scale<T: FFTScalar>(_ buffer: UnsafeMutableBufferPointer<T>, by factor: T) {
        Parallel.withDisjointWrites(buffer) { b in
            Parallel.forEachChunk(count: b.count, minimumChunk: 1 << 16) { range in
                for i in range { b[i] *= factor }
            }
        }
    }
}

/// Batched 1D real transforms of `batch` rows of `length` samples in buffers owned by this
/// object (allocated with fftw_malloc, so SIMD-aligned). Fill ``input``, call ``forward()``,
/// read ``spectrum``; or fill ``spectrum`` and call ``inverse()``. One object per thread: the
/// plan is shared through the cache, the buffers are not.
public final class RealFFT<T: FFTScalar> {
    public let length: Int
    public let batch: Int
    public let input: UnsafeMutableBufferPointer<T>
    public let spectrum: UnsafeMutableBufferPointer<T.ComplexValue>
    private let forwardPlan: OpaquePointer
    private let inversePlan: OpaquePointer
    private let scratch: UnsafeMutableBufferPointer<T.ComplexValue>

    /// - Parameter threads: FFTW threads per execution; 1 when the caller parallelizes itself.
    public init(length: Int, batch: Int = 1, threads: Int = 1) {
        precondition(length > 0 && batch > 0, "RealFFT needs positive length and batch")
        self.length = length
        self.batch = batch
        let bins = length / 2 + 1
        input = RealFFT.allocate(T.self, count: length * batch)
        spectrum = RealFFT.allocate(T.ComplexValue.self, count: bins * batch)
        scratch = RealFFT.allocate(T.ComplexValue.self, count: bins * batch)
        let dims = [FFTDimension(count: length, inputStride: 1, outputStride: 1)]
        let loopsForward = [FFTDimension(count: batch, inputStride: length, outputStride: bins)]
        let loopsInverse = [FFTDimension(count: batch, inputStride: bins, outputStride: length)]
        let inPtr = UnsafeMutableRawPointer(input.baseAddress!), specPtr = UnsafeMutableRawPointer(spectrum.baseAddress!)
        forwardPlan = PlanCache.plan(T.self, .realToComplex, dims, loopsForward, inPtr, specPtr, threads: threads)
        inversePlan = PlanCache.plan(T.self, .complexToReal, dims, loopsInverse, UnsafeMutableRawPointer(scratch.baseAddress!), inPtr, threads: threads)
    }

    /// Number of spectrum values per row, `length / 2 + 1`.
    public var bins: Int { length / 2 + 1 }

    /// `spectrum ← FFT(input)` for every row (unnormalized).
    public func forward() {
        T.fftwExecuteR2C(forwardPlan, UnsafeMutableRawPointer(input.baseAddress!), UnsafeMutableRawPointer(spectrum.baseAddress!))
    }

    /// `input ← IFFT(spectrum) / length` for every row; `spectrum` is left unchanged.
    public func inverse() {
        scratch.baseAddress!.update(from: spectrum.baseAddress!, count: spectrum.count)
        T.fftwExecuteC2R(inversePlan, UnsafeMutableRawPointer(scratch.baseAddress!), UnsafeMutableRawPointer(input.baseAddress!))
        let s = T(1) / T(length)
        for i in 0..<input.count { input[i] *= s }
    }

    static func allocate<E>(_ type: E.Type, count: Int) -> UnsafeMutableBufferPointer<E> {
        let raw = T.fftwMalloc(bytes: Swift.max(1, count) * MemoryLayout<E>.stride)
        memset(raw, 0, Swift.max(1, count) * MemoryLayout<E>.stride)
        return UnsafeMutableBufferPointer(start: raw.bindMemory(to: E.self, capacity: count), count: count)
    }

    deinit {
        T.fftwFree(UnsafeMutableRawPointer(input.baseAddress!))
        T.fftwFree(UnsafeMutableRawPointer(spectrum.baseAddress!))
        T.fftwFree(UnsafeMutableRawPointer(scratch.baseAddress!))
    }
}

/// Reusable in-place complex transforms of `batch` arrays of `shape` (row-major, contiguous)
/// in a buffer owned by this object (fftw_malloc'd, SIMD-aligned). Both directions are
/// unnormalized (e^{∓2πi k·n/N}, no 1/N): callers that sum spectra, as Fourier gridding does,
/// fold the scale into their own weights. One object per thread: the plans are shared through
/// the cache, the buffer is not.
public final class ComplexFFT<T: FFTScalar> {
    public let shape: [Int]
    public let batch: Int
    public let data: UnsafeMutableBufferPointer<T.ComplexValue>
    private let forwardPlan: OpaquePointer
    private let backwardPlan: OpaquePointer

    /// - Parameter threads: FFTW threads per execution; 1 when the caller parallelizes itself.
    public init(shape: [Int], batch: Int = 1, threads: Int = 1) {
        precondition(!shape.isEmpty && shape.allSatisfy { $0 > 0 } && batch > 0, "ComplexFFT needs positive extents and batch")
        self.shape = shape
        self.batch = batch
        let size = shape.reduce(1, *)
        data = RealFFT<T>.allocate(T.ComplexValue.self, count: size * batch)
        var stride = 1
        var dims = [FFTDimension]()
        for extent in shape.reversed() {
            dims.insert(FFTDimension(count: extent, inputStride: stride, outputStride: stride), at: 0)
            stride *= extent
        }
        let loops = batch > 1 ? [FFTDimension(count: batch, inputStride: size, outputStride: size)] : []
        let pointer = UnsafeMutableRawPointer(data.baseAddress!)
        forwardPlan = PlanCache.plan(T.self, .complexForward, dims, loops, pointer, pointer, threads: threads)
        backwardPlan = PlanCache.plan(T.self, .complexBackward, dims, loops, pointer, pointer, threads: threads)
    }

    /// `data ← Σ data·e^{−2πi k·n/N}` for every array (unnormalized).
    public func forward() {
        T.fftwExecuteC2C(forwardPlan, UnsafeMutableRawPointer(data.baseAddress!), UnsafeMutableRawPointer(data.baseAddress!))
    }

    /// `data ← Σ data·e^{+2πi k·n/N}` for every array (unnormalized: no 1/N).
    public func backward() {
        T.fftwExecuteC2C(backwardPlan, UnsafeMutableRawPointer(data.baseAddress!), UnsafeMutableRawPointer(data.baseAddress!))
    }

    deinit { T.fftwFree(UnsafeMutableRawPointer(data.baseAddress!)) }
}

#if canImport(Glibc)
import Glibc
#endif

/// Process-wide cache of FFTW plans. Plans live for the process (there are few distinct sizes).
enum PlanCache {
    enum Kind: Hashable { case realToComplex, complexToReal, complexForward, complexBackward }

    struct Key: Hashable {
        var precision: String
        var kind: Kind
        var dims: [FFTDimension]
        var loops: [FFTDimension]
        var inputAlignment: Int
        var outputAlignment: Int
        var inPlace: Bool
        var threads: Int
    }

    final class Box: @unchecked Sendable {
        let plan: OpaquePointer
        init(_ plan: OpaquePointer) { self.plan = plan }
    }

    private static let plans = Mutex<[Key: Box]>([:])
    private static let threadsReady = Mutex<Set<String>>([])

    static func plan<T: FFTScalar>(_ type: T.Type, _ kind: Kind, _ dims: [FFTDimension], _ loops: [FFTDimension],
                                   _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, threads: Int) -> OpaquePointer {
        let key = Key(precision: T.precisionName, kind: kind, dims: dims, loops: loops,
                      inputAlignment: T.fftwAlignment(of: input), outputAlignment: T.fftwAlignment(of: output),
                      inPlace: input == output, threads: Swift.max(1, threads))
        let box = plans.withLock { cache -> Box in
            if let box = cache[key] { return box }
            threadsReady.withLock { ready in
                if !ready.contains(T.precisionName) { T.fftwInitThreads(); ready.insert(T.precisionName) }
            }
            T.fftwPlanWithThreads(key.threads)
            let flags = cfftw_estimate()
            let made: OpaquePointer?
            switch kind {
            case .realToComplex: made = T.fftwPlanR2C(dims, loops, input, output, flags)
            case .complexToReal: made = T.fftwPlanC2R(dims, loops, input, output, flags)
            case .complexForward: made = T.fftwPlanC2C(dims, loops, input, output, cfftw_forward(), flags)
            case .complexBackward: made = T.fftwPlanC2C(dims, loops, input, output, cfftw_backward(), flags)
            }
            guard let made else { fatalError("FFTW could not plan \(kind) for dims \(dims) loops \(loops)") }
            let box = Box(made)
            cache[key] = box
            return box
        }
        return box.plan
    }
}
