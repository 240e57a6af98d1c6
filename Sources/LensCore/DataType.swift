/// The element types a grid can hold, named as NumPy does (`float32`, `uint16`, ...), so that
/// file headers, command-line options and summaries all use the same words.
public enum DataType: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64, complex64, complex128

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .uint8, .int8: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .complex64: return 8
        case .complex128: return 16
        }
    }

    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: return true
        default: return false
        }
    }

    public var isSignedInteger: Bool { [.int8, .int16, .int32, .int64].contains(self) }
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    public var isComplex: Bool { self == .complex64 || self == .complex128 }

    /// The representable range of an integer type (as Doubles; exact for ≤ 32-bit types).
    public var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: return 0...255
        case .int8: return -128...127
        case .uint16: return 0...65535
        case .int16: return -32768...32767
        case .uint32: return 0...4_294_967_295
        case .int32: return -2_147_483_648...2_147_483_647
        case .uint64: return 0...Double(UInt64.max)
        case .int64: return Double(Int64.min)...Double(Int64.max)
        default: return nil
        }
    }

    public var description: String { rawValue }

    /// Parses the names used on the command line, accepting common aliases (`float`, `u16`, `f4`).
    public init?(name: String) {
        let aliases: [String: DataType] = [
            "u8": .uint8, "u1": .uint8, "i8": .int8, "i1": .int8, "u16": .uint16, "u2": .uint16,
            "i16": .int16, "i2": .int16, "u32": .uint32, "u4": .uint32, "i32": .int32, "i4": .int32,
            "u64": .uint64, "u8b": .uint64, "i64": .int64, "f4": .float32, "f32": .float32,
            "float": .float32, "single": .float32, "f8": .float64, "f64": .float64, "double": .float64,
            "c8": .complex64, "c16": .complex128,
        ]
        let lower = name.lowercased()
        if let type = DataType(rawValue: lower) { self = type } else if let type = aliases[lower] { self = type } else { return nil }
    }
}

/// A type that can be stored in a ``Grid``: plain bits, known to the file formats by its ``DataType``.
public protocol GridElement: BitwiseCopyable, Sendable, Equatable {
    static var dataType: DataType { get }
    static var zero: Self { get }
}

/// A real scalar element that converts to and from `Double` (for statistics, rescaling and
/// type conversion). `init(clampingRounded:)` saturates at the type's range and rounds to nearest.
public protocol RealGridElement: GridElement, Comparable {
    var doubleValue: Double { get }
    init(clampingRounded value: Double)
}

extension RealGridElement where Self: Numeric {
    public static var zero: Self { 0 }
}

extension UInt8: RealGridElement {
    public static var dataType: DataType { .uint8 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : UInt8(Swift.max(0, Swift.min(255, value.rounded()))) }
}
extension Int8: RealGridElement {
    public static var dataType: DataType { .int8 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : Int8(Swift.max(-128, Swift.min(127, value.rounded()))) }
}
extension UInt16: RealGridElement {
    public static var dataType: DataType { .uint16 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : UInt16(Swift.max(0, Swift.min(65535, value.rounded()))) }
}
extension Int16: RealGridElement {
    public static var dataType: DataType { .int16 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : Int16(Swift.max(-32768, Swift.min(32767, value.rounded()))) }
}
extension UInt32: RealGridElement {
    public static var dataType: DataType { .uint32 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : UInt32(Swift.max(0, Swift.min(4_294_967_295, value.rounded()))) }
}
extension Int32: RealGridElement {
    public static var dataType: DataType { .int32 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) { self = value.isNaN ? 0 : Int32(Swift.max(-2_147_483_648, Swift.min(2_147_483_647, value.rounded()))) }
}
extension UInt64: RealGridElement {
    public static var dataType: DataType { .uint64 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) {
        if value.isNaN || value <= 0 { self = 0 } else if value >= 18_446_744_073_709_551_615.0 { self = .max } else { self = UInt64(value.rounded()) }
    }
}
extension Int64: RealGridElement {
    public static var dataType: DataType { .int64 }
    public var doubleValue: Double { Double(self) }
    public init(clampingRounded value: Double) {
        if value.isNaN { self = 0 } else if value >= 9_223_372_036_854_775_807.0 { self = .max } else if value <= -9_223_372_036_854_775_808.0 { self = .min } else { self = Int64(value.rounded()) }
    }
}
extension Float: RealGridElement {
    public static var dataType: DataType { .float32 }
    public var doubleValue: Double { Double(self) }
    /// Floats are not rounded; values beyond Float's range become ±infinity, as in IEEE conversion.
    public init(clampingRounded value: Double) { self = Float(value) }
}
extension Double: RealGridElement {
    public static var dataType: DataType { .float64 }
    public var doubleValue: Double { self }
    public init(clampingRounded value: Double) { self = value }
}

/// A single-precision complex sample, laid out as (real, imaginary) like C's `float complex`,
/// FFTW's `fftwf_complex` and NumPy's `complex64`, so buffers pass between them unchanged.
@frozen public struct ComplexFloat32: GridElement, BitwiseCopyable, Hashable, CustomStringConvertible {
    public var real: Float
    public var imaginary: Float
    @inlinable public init(_ real: Float, _ imaginary: Float = 0) { self.real = real; self.imaginary = imaginary }
    public static var dataType: DataType { .complex64 }
    public static var zero: ComplexFloat32 { ComplexFloat32(0, 0) }
    @inlinable public var magnitude: Float { (real * real + imaginary * imaginary).squareRoot() }
    @inlinable public var conjugate: ComplexFloat32 { ComplexFloat32(real, -imaginary) }
    @inlinable public static func + (a: Self, b: Self) -> Self { Self(a.real + b.real, a.imaginary + b.imaginary) }
    @inlinable public static func - (a: Self, b: Self) -> Self { Self(a.real - b.real, a.imaginary - b.imaginary) }
    @inlinable public static func * (a: Self, b: Self) -> Self {
        Self(a.real * b.real - a.imaginary * b.imaginary, a.real * b.imaginary + a.imaginary * b.real)
    }
    @inlinable public static func * (a: Self, s: Float) -> Self { Self(a.real * s, a.imaginary * s) }
    public var description: String { "\(real)\(imaginary < 0 ? "-" : "+")\(Swift.abs(imaginary))i" }
}

/// A double-precision complex sample, laid out as (real, imaginary) like `fftw_complex` and
/// NumPy's `complex128`.
@frozen public struct ComplexFloat64: GridElement, BitwiseCopyable, Hashable, CustomStringConvertible {
    public var real: Double
    public var imaginary: Double
    @inlinable public init(_ real: Double, _ imaginary: Double = 0) { self.real = real; self.imaginary = imaginary }
    public static var dataType: DataType { .complex128 }
    public static var zero: ComplexFloat64 { ComplexFloat64(0, 0) }
    @inlinable public var magnitude: Double { (real * real + imaginary * imaginary).squareRoot() }
    @inlinable public var conjugate: ComplexFloat64 { ComplexFloat64(real, -imaginary) }
    @inlinable public static func + (a: Self, b: Self) -> Self { Self(a.real + b.real, a.imaginary + b.imaginary) }
    @inlinable public static func - (a: Self, b: Self) -> Self { Self(a.real - b.real, a.imaginary - b.imaginary) }
    @inlinable public static func * (a: Self, b: Self) -> Self {
        Self(a.real * b.real - a.imaginary * b.imaginary, a.real * b.imaginary + a.imaginary * b.real)
    }
    @inlinable public static func * (a: Self, s: Double) -> Self { Self(a.real * s, a.imaginary * s) }
    public var description: String { "\(real)\(imaginary < 0 ? "-" : "+")\(Swift.abs(imaginary))i" }
}
