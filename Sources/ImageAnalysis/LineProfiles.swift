import Foundation
import LensCore

/// Grey values along a straight line through a 2D image — ImageJ's line tool, the way crack
/// widths are measured by hand (science brief §4) — and the width of a dark dip on it.
public enum LineProfile {
    /// Samples `image` (rows, columns) by bilinear interpolation every `step` pixels along the
    /// segment from `start` to `end` (row, column positions; pixel centres at integers). Points
    /// outside the image are NaN.
    public static func sample(_ image: Grid<Float>, from start: (row: Double, column: Double), to end: (row: Double, column: Double),
                              step: Double = 0.1) throws -> [Double] {
        guard image.rank == 2 else { throw LensError.invalidArgument("a line profile needs a 2D image, got \(image.shape)") }
        guard step > 0, step.isFinite else { throw LensError.invalidArgument("the profile step must be positive, got \(step)") }
        let length = hypot(end.row - start.row, end.column - start.column)
        guard length.isFinite, length / step <= 1_000_000 else { throw LensError.invalidArgument("the profile is too long for its step") }
        let count = Int((length / step).rounded(.down)) + 1
        let (ny, nx) = (image.shape[0], image.shape[1])
        return (0..<count).map { k in
            let t = length > 0 ? Double(k) * step / length : 0
            let r = start.row + t * (end.row - start.row), c = start.column + t * (end.column - start.column)
            guard r >= 0, c >= 0, r <= Double(ny - 1), c <= Double(nx - 1) else { return .nan }
            let r0 = Swift.min(Int(r), ny - 2 < 0 ? 0 : ny - 2), c0 = Swift.min(Int(c), nx - 2 < 0 ? 0 : nx - 2)
            let fr = r - Double(r0), fc = c - Double(c0)
            let r1 = Swift.min(r0 + 1, ny - 1), c1 = Swift.min(c0 + 1, nx - 1)
            let top = Double(image[r0, c0]) * (1 - fc) + Double(image[r0, c1]) * fc
            let bottom = Double(image[r1, c0]) * (1 - fc) + Double(image[r1, c1]) * fc
            return top * (1 - fr) + bottom * fr
        }
    }
}

/// The width of a dark dip (a crack) in a profile at half its depth: the plateau is the median
/// of the shoulders (the outer parts of the profile on each side), the floor the lowest value
/// near the centre, and the width the distance between the two half-depth crossings found
/// outward from the floor, each interpolated linearly between samples (sub-sample precision).
public struct DipWidth: Sendable, Codable, Equatable {
    /// Full width at half depth, in the profile's length unit.
    public var width: Double
    public var plateau: Double, floor: Double
    /// Depth relative to the plateau: (plateau − floor) / plateau (1: the dip reaches zero).
    public var relativeDepth: Double

    /// - Parameters:
    ///   - profile: samples `spacing` apart, the dip near the middle.
    ///   - shoulderFraction: the outer fraction of the profile on each side taken as plateau.
    ///   - searchFraction: the central fraction searched for the floor.
    public static func measure(_ profile: [Double], spacing: Double, shoulderFraction: Double = 0.2,
                               searchFraction: Double = 0.4) -> DipWidth? {
        let n = profile.count
        guard n >= 10, spacing > 0, profile.allSatisfy(\.isFinite) else { return nil }
        let shoulder = Swift.max(1, Int(Double(n) * shoulderFraction))
        let outer = (Array(profile[0..<shoulder]) + Array(profile[(n - shoulder)..<n])).sorted()
        let plateau = outer[outer.count / 2]
        let half = Int(Double(n) * searchFraction / 2)
        let search = Swift.max(0, n / 2 - half)..<Swift.min(n, n / 2 + half + 1)
        guard let bottom = search.min(by: { profile[$0] < profile[$1] }) else { return nil }
        let floor = profile[bottom]
        guard plateau > floor else { return nil }
        let level = (plateau + floor) / 2
        // Outward from the floor to the first sample at or above the level, interpolated.
        var left = bottom
        while left > 0 && profile[left] < level { left -= 1 }
        var right = bottom
        while right < n - 1 && profile[right] < level { right += 1 }
        guard profile[left] >= level, profile[right] >= level else { return nil }
        func crossing(_ outside: Int, _ inside: Int) -> Double {
            let (a, b) = (profile[outside], profile[inside])
            return Double(outside) + (a - level) / (a - b) * Double(inside - outside)
        }
        let x0 = crossing(left, left + 1), x1 = crossing(right, right - 1)
        return DipWidth(width: (x1 - x0) * spacing, plateau: plateau, floor: floor,
                        relativeDepth: plateau != 0 ? (plateau - floor) / plateau : .nan)
    }
}
