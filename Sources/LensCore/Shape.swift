/// The extent of a grid along each axis, slowest-varying first (row-major, C order):
/// `(z, y, x)` for volumes, `(angle, row, column)` for projections, `(energy, y, x)` for spectra.
public struct Shape: Hashable, Sendable, Codable, CustomStringConvertible {
    public let dims: [Int]

    /// Creates a shape; every extent must be non-negative.
    public init(_ dims: [Int]) {
        precondition(!dims.isEmpty, "a shape needs at least one axis")
        precondition(dims.allSatisfy { $0 >= 0 }, "shape extents must be non-negative: \(dims)")
        self.dims = dims
    }

    public init(_ dims: Int...) { self.init(dims) }

    /// Validating initializer for shapes that come from users or files: at least one axis,
    /// no negative extent, and the element count (times `elementBytes`) without overflow.
    public static func validated(_ dims: [Int], source: String, elementBytes: Int = 1) throws -> Shape {
        guard !dims.isEmpty, dims.allSatisfy({ $0 >= 0 }) else {
            throw LensError.badInput(file: source, problem: "invalid shape \(dims)")
        }
        var total = Swift.max(1, elementBytes)
        for d in dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow else { throw LensError.badInput(file: source, problem: "shape \(dims) is too large to address") }
            total = product
        }
        return Shape(dims)
    }

    public var rank: Int { dims.count }
    public var count: Int { dims.reduce(1, *) }
    public subscript(axis: Int) -> Int { dims[axis] }

    /// Elements in one index step along each axis.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: dims.count)
        var step = 1
        for axis in (0..<dims.count).reversed() {
            result[axis] = step
            step *= dims[axis]
        }
        return result
    }

    /// Elements in one slice along axis 0 (a plane of a volume, a row of an image).
    public var sliceCount: Int { dims.dropFirst().reduce(1, *) }

    /// The same shape with a different extent along `axis`.
    public func replacing(axis: Int, with extent: Int) -> Shape {
        var d = dims
        d[axis] = extent
        return Shape(d)
    }

    /// The shape without its first axis (the shape of one slice).
    public var sliceShape: Shape { dims.count > 1 ? Shape(Array(dims.dropFirst())) : Shape(1) }

    public var description: String { dims.map(String.init).joined(separator: "×") }
}
