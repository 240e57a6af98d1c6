import CFFTW3
import LensCore

/// One dimension of an FFTW guru transform: extent, input stride, output stride (in elements).
public struct FFTDimension: Hashable, Sendable {
    public var count: Int
    public var inputStride: Int
    public var outputStride: Int
}

/// The floating-point types FFTW transforms: `Float` (fftwf_*) and `Double` (fftw_*).
/// The requirements are the few FFTW entry points the wrappers use; callers use ``FFT``,
/// ``RealFFT`` and ``ComplexFFT`` instead.
public protocol FFTScalar: RealGridElement, BinaryFloatingPoint {
    associatedtype ComplexValue: GridElement
    static var precisionName: String { get }
    static func fftwPlanR2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer?
    static func fftwPlanC2R(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer?
    static func fftwPlanC2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ sign: Int32, _ flags: UInt32) -> OpaquePointer?
    static func fftwExecuteR2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer)
    static func fftwExecuteC2R(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer)
    static func fftwExecuteC2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer)
    static func fftwAlignment(of pointer: UnsafeMutableRawPointer) -> Int
    static func fftwMalloc(bytes: Int) -> UnsafeMutableRawPointer
    static func fftwFree(_ pointer: UnsafeMutableRawPointer)
    static func fftwPlanWithThreads(_ threads: Int)
    static func fftwInitThreads()
    static func complex(_ real: Self, _ imaginary: Self) -> ComplexValue
    static func parts(_ value: ComplexValue) -> (real: Self, imaginary: Self)
}

private func iodims(_ dims: [FFTDimension]) -> [fftw_iodim64] {
    dims.map { fftw_iodim64(n: $0.count, is: $0.inputStride, os: $0.outputStride) }
}

extension Double: FFTScalar {
    public typealias ComplexValue = ComplexFloat64
    public static var precisionName: String { "double" }
    public static func fftwPlanR2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftw_plan_guru64_dft_r2c(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: Double.self), output.assumingMemoryBound(to: fftw_complex.self), flags)
    }
    public static func fftwPlanC2R(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftw_plan_guru64_dft_c2r(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: fftw_complex.self), output.assumingMemoryBound(to: Double.self), flags)
    }
    public static func fftwPlanC2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ sign: Int32, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftw_plan_guru64_dft(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: fftw_complex.self), output.assumingMemoryBound(to: fftw_complex.self), sign, flags)
    }
    public static func fftwExecuteR2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftw_execute_dft_r2c(plan, input.assumingMemoryBound(to: Double.self), output.assumingMemoryBound(to: fftw_complex.self))
    }
    public static func fftwExecuteC2R(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftw_execute_dft_c2r(plan, input.assumingMemoryBound(to: fftw_complex.self), output.assumingMemoryBound(to: Double.self))
    }
    public static func fftwExecuteC2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftw_execute_dft(plan, input.assumingMemoryBound(to: fftw_complex.self), output.assumingMemoryBound(to: fftw_complex.self))
    }
    public static func fftwAlignment(of pointer: UnsafeMutableRawPointer) -> Int { Int(fftw_alignment_of(pointer.assumingMemoryBound(to: Double.self))) }
    public static func fftwMalloc(bytes: Int) -> UnsafeMutableRawPointer { fftw_malloc(bytes)! }
    public static func fftwFree(_ pointer: UnsafeMutableRawPointer) { fftw_free(pointer) }
    public static func fftwPlanWithThreads(_ threads: Int) { fftw_plan_with_nthreads(Int32(threads)) }
    public static func fftwInitThreads() { _ = fftw_init_threads() }
    public static func complex(_ real: Double, _ imaginary: Double) -> ComplexFloat64 { ComplexFloat64(real, imaginary) }
    public static func parts(_ value: ComplexFloat64) -> (real: Double, imaginary: Double) { (value.real, value.imaginary) }
}

extension Float: FFTScalar {
    public typealias ComplexValue = ComplexFloat32
    public static var precisionName: String { "single" }
    public static func fftwPlanR2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftwf_plan_guru64_dft_r2c(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: Float.self), output.assumingMemoryBound(to: fftwf_complex.self), flags)
    }
    public static func fftwPlanC2R(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftwf_plan_guru64_dft_c2r(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: fftwf_complex.self), output.assumingMemoryBound(to: Float.self), flags)
    }
    public static func fftwPlanC2C(_ dims: [FFTDimension], _ loops: [FFTDimension], _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer, _ sign: Int32, _ flags: UInt32) -> OpaquePointer? {
        let d = iodims(dims), l = iodims(loops)
        return fftwf_plan_guru64_dft(Int32(d.count), d, Int32(l.count), l, input.assumingMemoryBound(to: fftwf_complex.self), output.assumingMemoryBound(to: fftwf_complex.self), sign, flags)
    }
    public static func fftwExecuteR2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftwf_execute_dft_r2c(plan, input.assumingMemoryBound(to: Float.self), output.assumingMemoryBound(to: fftwf_complex.self))
    }
    public static func fftwExecuteC2R(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftwf_execute_dft_c2r(plan, input.assumingMemoryBound(to: fftwf_complex.self), output.assumingMemoryBound(to: Float.self))
    }
    public static func fftwExecuteC2C(_ plan: OpaquePointer, _ input: UnsafeMutableRawPointer, _ output: UnsafeMutableRawPointer) {
        fftwf_execute_dft(plan, input.assumingMemoryBound(to: fftwf_complex.self), output.assumingMemoryBound(to: fftwf_complex.self))
    }
    public static func fftwAlignment(of pointer: UnsafeMutableRawPointer) -> Int { Int(fftwf_alignment_of(pointer.assumingMemoryBound(to: Float.self))) }
    public static func fftwMalloc(bytes: Int) -> UnsafeMutableRawPointer { fftwf_malloc(bytes)! }
    public static func fftwFree(_ pointer: UnsafeMutableRawPointer) { fftwf_free(pointer) }
    public static func fftwPlanWithThreads(_ threads: Int) { fftwf_plan_with_nthreads(Int32(threads)) }
    public static func fftwInitThreads() { _ = fftwf_init_threads() }
    public static func complex(_ real: Float, _ imaginary: Float) -> ComplexFloat32 { ComplexFloat32(real, imaginary) }
    public static func parts(_ value: ComplexFloat32) -> (real: Float, imaginary: Float) { (value.real, value.imaginary) }
}
