import LensCore

/// What to do with a query outside the tabulated range.
public enum Extrapolation: Sendable {
    /// Throw ``LensError/invalidArgument(_:)`` (the default: reference spectra are never
    /// silently extrapolated).
    case error
    /// Use the end value.
    case clamp
    /// Return NaN.
    case nan
}

/// Piecewise-linear interpolation of a tabulated function y(x) with strictly increasing x.
public struct LinearInterpolation: Sendable {
    public let x: [Double]
    public let y: [Double]

    public init(x: [Double], y: [Double]) throws {
        guard x.count == y.count, x.count >= 2 else {
            throw LensError.invalidArgument("interpolation needs at least 2 points and as many x as y (got \(x.count) and \(y.count))")
        }
        for i in 1..<x.count where !(x[i] > x[i - 1]) {
            throw LensError.invalidArgument("interpolation abscissae must be strictly increasing (index \(i): \(x[i - 1]) then \(x[i]))")
        }
        self.x = x
        self.y = y
    }

    public var domain: ClosedRange<Double> { x[0]...x[x.count - 1] }

    /// y at `query`, by binary search for the bracketing interval.
    public func value(at query: Double, extrapolation: Extrapolation = .error) throws -> Double {
        if query < x[0] || query > x[x.count - 1] || query.isNaN {
            switch extrapolation {
            case .error: throw LensError.invalidArgument("\(query) is outside the tabulated range \(x[0])…\(x[x.count - 1])")
            case .clamp: return query < x[0] ? y[0] : y[y.count - 1]
            case .nan: return .nan
            }
        }
        var lo = 0, hi = x.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x[mid] <= query { lo = mid } else { hi = mid }
        }
        let t = (query - x[lo]) / (x[hi] - x[lo])
        return y[lo] + t * (y[hi] - y[lo])
    }

    /// y at each of `queries`.
    public func values(at queries: [Double], extrapolation: Extrapolation = .error) throws -> [Double] {
        try queries.map { try value(at: $0, extrapolation: extrapolation) }
    }
}

/// Sub-sample position of a sampled maximum: the vertex of the parabola through the largest
/// sample `centre` and its neighbours `before` and `after` (unit spacing), as an offset from the
/// centre sample clamped to ±½; 0 when the three do not curve downwards. Used wherever a peak
/// (a correlation surface, a blob filter's response) is refined between samples.
public func parabolicVertexOffset(before: Double, centre: Double, after: Double) -> Double {
    let d = before - 2 * centre + after
    return d < 0 ? Swift.max(-0.5, Swift.min(0.5, 0.5 * (before - after) / d)) : 0
}
