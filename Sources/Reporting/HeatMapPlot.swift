import Foundation
import LensCore
import LensIO

/// A heat map of a series of 1-D signals (an operando diffraction series: intensity against 2θ,
/// one row per pattern) drawn as SVG: the raster embedded as a PNG, axes with ticks and labels
/// in data units, a colour bar with its unit, and optionally a panel beside it sharing the row
/// axis (the cell voltage of each pattern), as operando papers show them.
public struct HeatMapPlot: Sendable {
    /// How intensities map onto the colour scale.
    public enum Scale: String, Sendable { case linear, squareRoot = "square root" }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var valueLabel: String
    /// Column positions (increasing) and row positions (increasing), in data units.
    public var x: [Double]
    public var y: [Double]
    /// Row-major values, y.count × x.count.
    public var values: [Double]
    public var scale: Scale = .squareRoot
    public var colormap: Colormap = .viridis
    /// The side panel: one value per row, with its axis label.
    public var side: (label: String, values: [Double])?
    public var width = 760, height = 440

    public init(title: String, xLabel: String, yLabel: String, valueLabel: String, x: [Double], y: [Double], values: [Double]) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.valueLabel = valueLabel
        self.x = x; self.y = y; self.values = values
    }

    /// The SVG text (the raster embedded as PNG).
    public func render() throws -> String {
        guard x.count >= 2, y.count >= 1, values.count == x.count * y.count else {
            throw LensError.invalidArgument("a heat map needs x.count × y.count values (\(x.count) × \(y.count) ≠ \(values.count))")
        }
        let finite = values.filter(\.isFinite)
        let sorted = finite.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[Swift.min(sorted.count - 1, Int(p * Double(sorted.count - 1)))] }
        var (lo, hi) = (percentile(0.001), percentile(0.999))
        if hi <= lo { hi = lo + 1 }
        func mapped(_ v: Double) -> Double {
            let t = Swift.min(1, Swift.max(0, (v - lo) / (hi - lo)))
            return scale == .squareRoot ? t.squareRoot() : t
        }
        // Raster: at most 900 columns (maximum of each group, so narrow peaks stay visible).
        let group = Swift.max(1, (x.count + 899) / 900)
        let columns = (x.count + group - 1) / group
        let table = colormap.table
        var rgb = [UInt8](repeating: 0, count: y.count * columns * 3)
        for r in 0..<y.count {
            // Rows drawn top to bottom from the last y (largest at the top).
            let source = y.count - 1 - r
            for c in 0..<columns {
                var v = -Double.infinity
                for j in (c * group)..<Swift.min(x.count, (c + 1) * group) where values[source * x.count + j].isFinite { v = Swift.max(v, values[source * x.count + j]) }
                let level = v.isFinite ? Int((mapped(v) * 255).rounded()) : 0
                for k in 0..<3 { rgb[(r * columns + c) * 3 + k] = v.isFinite ? table[level * 3 + k] : [RGB.masked.r, RGB.masked.g, RGB.masked.b][k] }
            }
        }
        let png = try PNGWriter.encodedData(.uint8(Grid<UInt8>(shape: Shape(y.count, columns, 3), elements: rgb)))

        // Layout.
        let left = 64.0, top = 36.0, bottom = 52.0
        let sideWidth = side == nil ? 0.0 : 150.0, gap = side == nil ? 0.0 : 18.0
        let barWidth = 16.0, barGap = 14.0, barLabels = 70.0
        let plotW = Double(width) - left - sideWidth - gap - barGap - barWidth - barLabels
        let plotH = Double(height) - top - bottom
        let (x0, x1) = (x.first!, x.last!)
        let (y0, y1) = y.count > 1 ? (y.first!, y.last!) : (y[0] - 0.5, y[0] + 0.5)
        // Rows are cells centred on their y: extend the axis by half a row each side.
        let half = y.count > 1 ? (y1 - y0) / Double(y.count - 1) / 2 : 0.5
        let (ya, yb) = (y0 - half, y1 + half)
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * plotW }
        func py(_ v: Double) -> Double { top + (yb - v) / (yb - ya) * plotH }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }
        var svg = SVGPlot.opening(width: width, height: height, title: title, titleCentre: Double(width) / 2)
        svg += "<image x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,\(png.base64EncodedString())\"/>\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        for t in SVGPlot.ticks(x0, x1) where t >= x0 && t <= x1 {
            svg += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#333\"/>"
            svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(SliceFigure.formatTick(t))</text>\n"
        }
        for t in SVGPlot.ticks(ya, yb) where t >= ya && t <= yb {
            svg += "<line x1=\"\(f(left - 5))\" x2=\"\(f(left))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#333\"/>"
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(SliceFigure.formatTick(t))</text>\n"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 38))\" text-anchor=\"middle\">\(SVGPlot.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(18 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(SVGPlot.escape(yLabel))</text>\n"
        // The side panel: its values against the same rows.
        var barLeft = left + plotW + barGap
        if let side, side.values.count == y.count {
            let sl = left + plotW + gap, sw = sideWidth
            let finiteSide = side.values.filter(\.isFinite)
            var (v0, v1) = (finiteSide.min() ?? 0, finiteSide.max() ?? 1)
            if v1 <= v0 { v0 -= 0.5; v1 += 0.5 }
            let pad = (v1 - v0) * 0.08
            (v0, v1) = (v0 - pad, v1 + pad)
            func sx(_ v: Double) -> Double { sl + (v - v0) / (v1 - v0) * sw }
            svg += "<rect x=\"\(f(sl))\" y=\"\(f(top))\" width=\"\(f(sw))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
            let ticks = SVGPlot.ticks(v0, v1).filter { $0 >= v0 && $0 <= v1 }
            for t in ticks.enumerated().filter({ ticks.count <= 4 || $0.offset % 2 == 0 }).map(\.element) {
                svg += "<line x1=\"\(f(sx(t)))\" x2=\"\(f(sx(t)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotH))\" stroke=\"#eeeeee\"/>"
                svg += "<text x=\"\(f(sx(t)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(SliceFigure.formatTick(t))</text>\n"
            }
            let points = zip(side.values, y).filter { $0.0.isFinite }.map { "\(f(sx($0.0))),\(f(py($0.1)))" }
            svg += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(f(sl + sw / 2))\" y=\"\(f(top + plotH + 38))\" text-anchor=\"middle\">\(SVGPlot.escape(side.label))</text>\n"
            barLeft = sl + sw + barGap
        }
        // Colour bar with ticks in data units (through the square root where used).
        let steps = 64
        for s in 0..<steps {
            let level = Int((Double(s) + 0.5) / Double(steps) * 255)
            let colour = RGB(table[level * 3], table[level * 3 + 1], table[level * 3 + 2])
            let yTop = top + plotH * (1 - Double(s + 1) / Double(steps))
            svg += "<rect x=\"\(f(barLeft))\" y=\"\(f(yTop))\" width=\"\(f(barWidth))\" height=\"\(f(plotH / Double(steps) + 0.5))\" fill=\"\(colour.hex)\"/>"
        }
        svg += "\n<rect x=\"\(f(barLeft))\" y=\"\(f(top))\" width=\"\(f(barWidth))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        for (t, label) in SliceFigure.colourBarTicks(lo...hi) {
            let fraction = mapped(t)
            let yy = top + plotH * (1 - fraction)
            svg += "<line x1=\"\(f(barLeft + barWidth))\" x2=\"\(f(barLeft + barWidth + 4))\" y1=\"\(f(yy))\" y2=\"\(f(yy))\" stroke=\"#333\"/>"
            svg += "<text x=\"\(f(barLeft + barWidth + 6))\" y=\"\(f(yy + 4))\">\(SVGPlot.escape(label))</text>\n"
        }
        svg += "<text transform=\"translate(\(f(barLeft + barWidth + barLabels - 4)) \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(SVGPlot.escape(valueLabel + (scale == .squareRoot ? " (square-root scale)" : "")))</text>\n"
        return svg + "</svg>\n"
    }
}
