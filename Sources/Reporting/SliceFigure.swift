import Foundation
import LensCore
import LensIO

/// An sRGB colour.
public struct RGB: Sendable, Equatable, Hashable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public static let white = RGB(255, 255, 255), black = RGB(0, 0, 0)
    /// Masked pixels (no data, outside the analysed region): a magenta that no colour map here uses.
    public static let masked = RGB(230, 0, 190)
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }

    /// From hue (0–1), saturation and value.
    static func hsv(_ h: Double, _ s: Double, _ v: Double) -> RGB {
        let i = Int(h * 6) % 6, f = h * 6 - floor(h * 6)
        let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
        let (r, g, b): (Double, Double, Double) = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
        return RGB(UInt8(r * 255), UInt8(g * 255), UInt8(b * 255))
    }
}

/// A mutable RGB image (rows × columns × 3, uint8) that figures are drawn on.
struct RGBCanvas {
    let rows: Int, columns: Int
    var pixels: [UInt8]
    init(rows: Int, columns: Int, background: RGB) {
        self.rows = rows; self.columns = columns
        pixels = [UInt8](repeating: 0, count: rows * columns * 3)
        fill(rows: 0..<rows, columns: 0..<columns, colour: background)
    }
    mutating func set(_ r: Int, _ c: Int, _ colour: RGB) {
        guard r >= 0, r < rows, c >= 0, c < columns else { return }
        let i = (r * columns + c) * 3
        pixels[i] = colour.r; pixels[i + 1] = colour.g; pixels[i + 2] = colour.b
    }
    mutating func fill(rows rr: Range<Int>, columns cc: Range<Int>, colour: RGB) {
        for r in Swift.max(0, rr.lowerBound)..<Swift.min(rows, Swift.max(rr.upperBound, 0)) {
            for c in Swift.max(0, cc.lowerBound)..<Swift.min(columns, Swift.max(cc.upperBound, 0)) { set(r, c, colour) }
        }
    }
    var grid: Grid<UInt8> { Grid(shape: Shape(rows, columns, 3), elements: pixels) }
}

/// How a 2D slice is drawn for people: a colour map with a colour bar in the value's units, or
/// categorical colours for labels (neighbouring labels differ; phase names in a legend); masked
/// pixels (NaN, or outside a given mask) in ``RGB/masked``, listed in the legend; overlays of
/// binary masks (segmentation, cracks) blended over the image; and a scale bar below the image
/// in µm when the pixel size is known, else in pixels.
public struct SliceFigureStyle: Sendable {
    public enum Mode: Sendable {
        /// Continuous values through a colour map, with a colour bar.
        case continuous(Colormap, DisplayWindow)
        /// Integer labels in categorical colours; `names` (code → name) puts them in a legend
        /// with a fixed palette, else colours follow a golden-ratio hue sequence of the label.
        case categorical(names: [Int: String]?)
    }
    public var mode: Mode
    /// Edge of one pixel in µm (nil: unknown, the scale bar is in pixels).
    public var pixelSizeMicrometres: Double?
    /// The value's name and unit for the colour bar, e.g. "μ (1/µm)".
    public var valueLabel: String
    public var scaleBar = true
    public var colourBar = true
    /// Pixels drawn as masked besides non-finite values (true = masked).
    public var mask: Grid<UInt8>?
    public var overlays: [SliceOverlay] = []
    /// Smallest width the image is magnified to (nearest neighbour, whole factors up to 8).
    public var minimumImagePixels = 256

    public init(mode: Mode = .continuous(.grey, .automatic), pixelSizeMicrometres: Double?, valueLabel: String = "value") {
        self.mode = mode; self.pixelSizeMicrometres = pixelSizeMicrometres; self.valueLabel = valueLabel
    }
}

/// A binary mask blended over a slice, with its legend name.
public struct SliceOverlay: Sendable {
    public var mask: Grid<UInt8>
    public var colour: RGB
    public var name: String
    public var opacity: Double
    public init(mask: Grid<UInt8>, colour: RGB, name: String, opacity: Double = 0.5) {
        self.mask = mask; self.colour = colour; self.name = name; self.opacity = opacity
    }
}

/// The scale bar as drawn: its length on the figure and what it stands for.
public struct ScaleBar: Codable, Sendable, Equatable {
    /// Length of the drawn bar in figure pixels.
    public var lengthPixels: Int
    /// The stated length (in `unit`).
    public var length: Double
    /// "µm", or "pixel" when the pixel size is unknown.
    public var unit: String
    /// Figure pixels per data pixel (the magnification).
    public var magnification: Int
    /// Row of the bar's top edge and its first column in the figure.
    public var row: Int
    public var column: Int
    public var label: String
}

/// A rendered figure: RGB pixels and what was drawn.
public struct SliceFigure: Sendable {
    public var image: Grid<UInt8>
    public var scaleBar: ScaleBar?
    /// Colour-bar limits (value units) when there is one.
    public var window: ClosedRange<Double>?
    /// Legend entries: name and colour (masked pixels, overlays, phases).
    public var legend: [(name: String, colour: RGB)]
    public var maskedPixels: Int

    /// Draws `values` (rows × columns) in `style`.
    public static func render(_ values: Grid<Float>, style: SliceFigureStyle) throws -> SliceFigure {
        guard values.rank == 2, values.shape[0] > 0, values.shape[1] > 0 else {
            throw LensError.invalidArgument("a slice figure needs a non-empty 2D image, got \(values.shape)")
        }
        let rows = values.shape[0], cols = values.shape[1]
        for grid in [style.mask].compactMap({ $0 }) + style.overlays.map(\.mask) where grid.shape.dims != [rows, cols] {
            throw LensError.invalidArgument("a mask or overlay of shape \(grid.shape) does not match the slice \(values.shape)")
        }
        let m = Swift.max(1, Swift.min(8, Int((Double(style.minimumImagePixels) / Double(Swift.max(rows, cols))).rounded(.up))))
        let textScale = m * Swift.max(rows, cols) >= 200 ? 2 : 1
        let pad = 10, imageH = rows * m, imageW = cols * m
        // Colours per data pixel.
        var colours = [RGB](repeating: .black, count: rows * cols)
        var legend: [(String, RGB)] = []
        var window: ClosedRange<Double>?
        let elements = values.elements
        var masked = 0
        let maskElements = style.mask?.elements   // `elements` copies: read once
        func isMasked(_ i: Int) -> Bool { !elements[i].isFinite || (maskElements.map { $0[i] != 0 } ?? false) }
        switch style.mode {
        case let .continuous(map, displayWindow):
            let finite = elements.enumerated().filter { !isMasked($0.offset) }.map(\.element)
            let (lo, hi) = finite.withUnsafeBufferPointer { SliceRenderer.limits(of: $0, window: displayWindow) }
            window = lo...hi
            let table = map.table
            let scale = 255 / (hi - lo)
            for i in 0..<elements.count {
                if isMasked(i) { colours[i] = .masked; masked += 1; continue }
                let level = Int(Swift.max(0, Swift.min(255, ((Double(elements[i]) - lo) * scale).rounded())))
                colours[i] = RGB(table[level * 3], table[level * 3 + 1], table[level * 3 + 2])
            }
        case let .categorical(names):
            // Labels are integers: a value that is not one (or lies outside Int32) is not a label
            // volume, and drawing it as categories would invent codes.
            if let bad = elements.first(where: { $0.isFinite && ($0 != $0.rounded() || abs($0) > Float(Int32.max)) }) {
                throw LensError.invalidArgument("label colours need integer labels, but the slice holds \(bad); draw it with a colour map instead (leave out --labels)")
            }
            var seen = Set<Int>()
            for i in 0..<elements.count {
                if isMasked(i) { colours[i] = .masked; masked += 1; continue }
                let code = Int(elements[i].rounded())
                seen.insert(code)
                colours[i] = categoricalColour(code, named: names != nil)
            }
            if let names {
                for code in seen.sorted() { legend.append((names[code] ?? "code \(code)", categoricalColour(code, named: true))) }
            } else {
                legend.append(("\(seen.subtracting([0]).count) labels (0: background)", categoricalColour(1, named: false)))
            }
        }
        for overlay in style.overlays {
            let a = overlay.opacity
            let mask = overlay.mask.elements
            for i in 0..<colours.count where mask[i] != 0 {
                let c = colours[i]
                func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8(((1 - a) * Double(x) + a * Double(y)).rounded()) }
                colours[i] = RGB(mix(c.r, overlay.colour.r), mix(c.g, overlay.colour.g), mix(c.b, overlay.colour.b))
            }
            legend.append((overlay.name, overlay.colour))
        }
        if masked > 0 { legend.append(("masked (no data)", .masked)) }

        // Layout: image at (pad, pad); scale bar below; colour bar and legend on the right.
        let textH = BitmapFont.height(scale: textScale)
        let barStrip = style.scaleBar ? 14 + textH : 0
        let legendLines = legend.map { "\($0.0)" }
        var ticks: [(Double, String)] = []
        if let window, style.colourBar { ticks = colourBarTicks(window) }
        let tickWidth = ticks.map { BitmapFont.width(of: $0.1, scale: textScale) }.max() ?? 0
        let legendWidth = legendLines.map { BitmapFont.width(of: $0, scale: textScale) + textH + 6 }.max() ?? 0
        let labelWidth = window != nil && style.colourBar ? BitmapFont.width(of: style.valueLabel, scale: textScale) : 0
        let panelW = Swift.max(window != nil && style.colourBar ? 18 + 6 + tickWidth : 0, legendWidth, labelWidth)
        let width = pad + imageW + (panelW > 0 ? pad + panelW : 0) + pad
        let legendH = legend.count * (textH + 6)
        let panelH = (window != nil && style.colourBar ? textH + 6 + imageH : 0) + (legendH > 0 ? 8 + legendH : 0)
        let height = pad + Swift.max(imageH + barStrip, panelH) + pad
        var canvas = RGBCanvas(rows: height, columns: width, background: .white)
        for r in 0..<imageH {
            for c in 0..<imageW { canvas.set(pad + r, pad + c, colours[(r / m) * cols + c / m]) }
        }
        // Scale bar: a nice length near a quarter of the image width.
        var scaleBar: ScaleBar?
        if style.scaleBar {
            let unitPixels = (style.pixelSizeMicrometres ?? 1) / Double(m)   // data units per figure pixel
            let target = Double(imageW) * 0.25 * unitPixels
            let length = niceLength(target)
            let lengthPixels = Int((length / unitPixels).rounded())
            let unit = style.pixelSizeMicrometres == nil ? "pixel" : "µm"
            let label = "\(formatTick(length)) \(unit)\(style.pixelSizeMicrometres == nil && length != 1 ? "s" : "")"
            let top = pad + imageH + 6
            canvas.fill(rows: top..<(top + 4), columns: pad..<(pad + lengthPixels), colour: .black)
            BitmapFont.draw(label, into: &canvas, row: Swift.max(pad + imageH + 1, top + 2 - textH / 2), column: pad + lengthPixels + 6, scale: textScale, colour: .black)
            scaleBar = ScaleBar(lengthPixels: lengthPixels, length: length, unit: unit, magnification: m, row: top, column: pad, label: label)
        }
        // Colour bar: gradient from the top (high) to the bottom (low), ticks in value units.
        var y = pad
        let x0 = pad + imageW + pad
        if let window, style.colourBar, case let .continuous(map, _) = style.mode {
            BitmapFont.draw(style.valueLabel, into: &canvas, row: y, column: x0, scale: textScale, colour: .black)
            y += textH + 6
            let table = map.table
            for r in 0..<imageH {
                let level = Int((Double(imageH - 1 - r) / Double(Swift.max(1, imageH - 1)) * 255).rounded())
                canvas.fill(rows: (y + r)..<(y + r + 1), columns: x0..<(x0 + 18), colour: RGB(table[level * 3], table[level * 3 + 1], table[level * 3 + 2]))
            }
            for (value, text) in ticks {
                let r = y + Int(((window.upperBound - value) / (window.upperBound - window.lowerBound) * Double(imageH - 1)).rounded())
                // The tick is drawn inside the bar (a mark beside the number would read as a minus sign).
                canvas.fill(rows: r..<(r + 1), columns: (x0 + 12)..<(x0 + 18), colour: .black)
                canvas.fill(rows: r..<(r + 1), columns: (x0 + 12)..<(x0 + 13), colour: .white)
                BitmapFont.draw(text, into: &canvas, row: Swift.max(y, Swift.min(y + imageH - textH, r - textH / 2)), column: x0 + 24, scale: textScale, colour: .black)
            }
            y += imageH + 8
        }
        for (name, colour) in legend {
            canvas.fill(rows: y..<(y + textH), columns: x0..<(x0 + textH), colour: colour)
            canvas.fill(rows: y..<(y + 1), columns: x0..<(x0 + textH), colour: .black)
            canvas.fill(rows: (y + textH - 1)..<(y + textH), columns: x0..<(x0 + textH), colour: .black)
            BitmapFont.draw(name, into: &canvas, row: y, column: x0 + textH + 6, scale: textScale, colour: .black)
            y += textH + 6
        }
        return SliceFigure(image: canvas.grid, scaleBar: scaleBar, window: window,
                           legend: legend.map { (name: $0.0, colour: $0.1) }, maskedPixels: masked)
    }

    /// Draws `plane` (rows × columns) as a figure through `colormap` and writes it as a PNG:
    /// the one way every command writes a slice for people (previews, sweeps, maps).
    public static func write(_ plane: Grid<Float>, to path: String, colormap: Colormap = .grey, window: DisplayWindow = .automatic,
                             pixelSizeMicrometres: Double?, valueLabel: String) throws {
        try render(plane, style: SliceFigureStyle(mode: .continuous(colormap, window), pixelSizeMicrometres: pixelSizeMicrometres,
                                                  valueLabel: valueLabel)).writePNG(to: path)
    }

    /// Writes the figure as a PNG.
    public func writePNG(to path: String) throws { try PNGWriter.encode(.uint8(image), to: path) }

    /// Categorical colours: for named phases a fixed palette (code 0 dark grey), else a
    /// golden-ratio hue walk so that labels i and i+1 are far apart in hue.
    public static func categoricalColour(_ code: Int, named: Bool) -> RGB {
        if code == 0 { return RGB(40, 40, 40) }
        if named {
            let palette = [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40), RGB(148, 103, 189),
                           RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127), RGB(188, 189, 34), RGB(23, 190, 207)]
            return palette[(code - 1) % palette.count < 0 ? 0 : (code - 1) % palette.count]
        }
        let h = (Double(abs(code)) * 0.618033988749895).truncatingRemainder(dividingBy: 1)
        let v = [0.95, 0.75, 0.85][abs(code) % 3], s = [0.75, 0.9, 0.55][abs(code / 3) % 3]
        return .hsv(h, s, v)
    }

    /// 1, 2 or 5 × 10ⁿ: the largest such length not above `target` (at least the smallest).
    static func niceLength(_ target: Double) -> Double {
        guard target > 0, target.isFinite else { return 1 }
        let p = pow(10, floor(log10(target)))
        for f in [5.0, 2, 1] where f * p <= target * 1.000001 { return f * p }
        return p
    }

    /// Ticks at round values across the window (3–6 of them), labelled compactly.
    public static func colourBarTicks(_ window: ClosedRange<Double>) -> [(Double, String)] {
        let span = window.upperBound - window.lowerBound
        guard span > 0, span.isFinite else { return [(window.lowerBound, formatTick(window.lowerBound))] }
        let step = niceStep(span / 4)
        var v = (window.lowerBound / step).rounded(.up) * step
        var ticks: [(Double, String)] = []
        while v <= window.upperBound + step * 1e-9 { ticks.append((v, formatTick(abs(v) < step * 1e-9 ? 0 : v))); v += step }
        return ticks
    }

    static func niceStep(_ raw: Double) -> Double {
        let p = pow(10, floor(log10(raw)))
        let f = raw / p
        return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p
    }

    /// A short label: plain decimals for 10⁻³…10⁵, else scientific (1.5e-4).
    public static func formatTick(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e-3 && a < 1e5 {
            var s = String(format: "%.4f", v)
            while s.contains(".") && (s.hasSuffix("0") || s.hasSuffix(".")) { s.removeLast() }
            return s
        }
        var s = String(format: "%.2e", v)
        s = s.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e+", with: "e")
        return s.replacingOccurrences(of: ".00e", with: "e").replacingOccurrences(of: "0e", with: "e")
    }
}
