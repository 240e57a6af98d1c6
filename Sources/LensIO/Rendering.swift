import Foundation
import LensCore

/// Colour maps for rendering slices: perceptually uniform maps from matplotlib (CC0) and grey.
public enum Colormap: String, CaseIterable, Sendable {
    case grey, viridis, magma, inferno, plasma

    /// 256 RGB triplets, index 0 for the low end of the window.
    public var table: [UInt8] {
        switch self {
        case .grey: return (0..<256).flatMap { [UInt8($0), UInt8($0), UInt8($0)] }
        case .viridis: return Colormap.decode(ColormapTables.viridis)
        case .magma: return Colormap.decode(ColormapTables.magma)
        case .inferno: return Colormap.decode(ColormapTables.inferno)
        case .plasma: return Colormap.decode(ColormapTables.plasma)
        }
    }

    /// Accepts "gray" as well as "grey".
    public init?(name: String) {
        let lower = name.lowercased()
        self.init(rawValue: lower == "gray" ? "grey" : lower)
    }

    private static func decode(_ hex: String) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.utf8.count / 2)
        var iterator = hex.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c - 48 }
        while let hi = iterator.next(), let lo = iterator.next() { bytes.append(nibble(hi) << 4 | nibble(lo)) }
        return bytes
    }
}

/// The value range mapped onto the colour map.
public enum DisplayWindow: Sendable, Equatable {
    /// Explicit limits.
    case range(Double, Double)
    /// Between two percentiles of the finite values (default 0.5 and 99.5: robust to
    /// zingers and dead pixels, like ImageJ's auto contrast).
    case percentiles(Double, Double)

    public static let automatic = DisplayWindow.percentiles(0.5, 99.5)
}

/// Turns 2D data into 8-bit images for PNGs: slices of volumes, maps, overlays.
public enum SliceRenderer {
    /// Window limits for `values`.
    public static func limits(of values: UnsafeBufferPointer<Float>, window: DisplayWindow) -> (Double, Double) {
        switch window {
        case let .range(lo, hi): return (lo, hi)
        case let .percentiles(pLo, pHi):
            var finite = values.filter(\.isFinite)
            guard !finite.isEmpty else { return (0, 1) }
            finite.sort()
            func at(_ p: Double) -> Double {
                let rank = p / 100 * Double(finite.count - 1)
                let lo = Int(rank), hi = Swift.min(lo + 1, finite.count - 1)
                return Double(finite[lo]) + (rank - Double(lo)) * Double(finite[hi] - finite[lo])
            }
            let lo = at(pLo), hi = at(pHi)
            return hi > lo ? (lo, hi) : (lo, lo + 1)
        }
    }

    /// Renders a 2D grid through a colour map: grey → `(rows, columns)` uint8; other maps →
    /// `(rows, columns, 3)` uint8 RGB. Non-finite values render as the low end.
    public static func render(_ image: Grid<Float>, window: DisplayWindow = .automatic, colormap: Colormap = .grey) -> AnyGrid {
        precondition(image.rank == 2, "render needs a 2D image")
        let (lo, hi) = image.withUnsafeBufferPointer { limits(of: $0, window: window) }
        let scale = 255 / (hi - lo)
        let rows = image.shape[0], cols = image.shape[1]
        let levels: [UInt8] = image.elements.map { v in
            guard v.isFinite else { return 0 }
            return UInt8(Swift.max(0, Swift.min(255, ((Double(v) - lo) * scale).rounded())))
        }
        if colormap == .grey { return .uint8(Grid(shape: Shape(rows, cols), elements: levels)) }
        let table = colormap.table
        var rgb = [UInt8](repeating: 0, count: rows * cols * 3)
        for (i, level) in levels.enumerated() {
            let t = Int(level) * 3
            rgb[i * 3] = table[t]; rgb[i * 3 + 1] = table[t + 1]; rgb[i * 3 + 2] = table[t + 2]
        }
        return .uint8(Grid(shape: Shape(rows, cols, 3), elements: rgb))
    }

    /// Blends a colour over the pixels where `mask` is non-zero (e.g. a segmented phase on a
    /// grey slice), with opacity `alpha`.
    public static func overlay(_ base: AnyGrid, mask: Grid<UInt8>, colour: (UInt8, UInt8, UInt8), alpha: Double = 0.4) throws -> AnyGrid {
        let rgb = try toRGB(base)
        guard mask.shape.dims == Array(rgb.shape.dims.prefix(2)) else {
            throw LensError.invalidArgument("overlay mask \(mask.shape) does not match image \(rgb.shape)")
        }
        var out = rgb
        let m = mask.elements
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<m.count where m[i] != 0 {
                let c = [colour.0, colour.1, colour.2]
                for k in 0..<3 { p[i * 3 + k] = UInt8((1 - alpha) * Double(p[i * 3 + k]) + alpha * Double(c[k])) }
            }
        }
        return .uint8(out)
    }

    /// A grey uint8 image as RGB, or RGB unchanged.
    static func toRGB(_ image: AnyGrid) throws -> Grid<UInt8> {
        guard case let .uint8(g) = image else { throw LensError.invalidArgument("overlay needs a rendered uint8 image") }
        if g.rank == 3 { return g }
        let v = g.elements
        return Grid(shape: Shape(g.shape[0], g.shape[1], 3), elements: v.flatMap { [$0, $0, $0] })
    }
}
