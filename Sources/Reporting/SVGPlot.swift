import Foundation

/// A 2D plot drawn as SVG by the project: axes with round ticks, axis labels with units, a
/// legend, and series as lines, points, bars, error bars and shaded bands. Enough for the
/// report's plots (porosity vs depth, τ per axis, size distributions with confidence bands,
/// cracking probability with its logistic fit, Li per region, Nyquist plots) without a
/// plotting library, which Swift on Linux does not have.
public struct SVGPlot: Sendable {
    public enum Kind: Sendable { case line, points, lineAndPoints, bars }

    public struct Series: Sendable {
        public var name: String
        public var kind: Kind
        public var x: [Double]
        public var y: [Double]
        /// Error bars: lower and upper y per point (absolute values, not offsets).
        public var yInterval: [(Double, Double)]?
        /// A shaded band: lower and upper y per point.
        public var band: [(Double, Double)]?
        public var colour: String?
        public init(_ name: String, kind: Kind = .lineAndPoints, x: [Double], y: [Double],
                    yInterval: [(Double, Double)]? = nil, band: [(Double, Double)]? = nil, colour: String? = nil) {
            self.name = name; self.kind = kind; self.x = x; self.y = y; self.yInterval = yInterval; self.band = band; self.colour = colour
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    /// Category names for x = 0, 1, 2, … (bar charts of axes or regions).
    public var xCategories: [String]?
    /// Include y = 0 in the range (fractions, counts).
    public var yIncludesZero = true
    /// Same scale on both axes (Nyquist plots).
    public var equalAspect = false
    public var width = 600, height = 380

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The SVG document.
    public func render() -> String {
        let left = 72.0, right = 20.0, top = 36.0
        let legendRows = series.count > 1 || series.contains(where: { !$0.name.isEmpty }) ? series.count : 0
        let bottom = 52.0 + Double(legendRows > 0 ? 18 * ((legendRows + 2) / 3) : 0)
        let plotW = Double(width) - left - right, plotH = Double(height) - top - bottom
        // Data ranges over values, error bars and bands.
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            for (i, x) in s.x.enumerated() where i < s.y.count && x.isFinite && s.y[i].isFinite { xs.append(x); ys.append(s.y[i]) }
            for (lo, hi) in (s.yInterval ?? []) + (s.band ?? []) where lo.isFinite && hi.isFinite { ys += [lo, hi] }
        }
        let isBars = series.contains { $0.kind == .bars }
        if let cats = xCategories { xs += [-0.5, Double(cats.count) - 0.5] }
        else if isBars, let lo = xs.min(), let hi = xs.max() { let w = barWidth(); xs += [lo - w, hi + w] }
        if yIncludesZero || isBars { ys.append(0) }
        var (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1)
        var (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
        if x1 <= x0 { x0 -= 0.5; x1 += 0.5 }
        if y1 <= y0 { y0 -= 0.5; y1 += 0.5 }
        let yPad = (y1 - y0) * 0.06
        if !(yIncludesZero && y0 == 0) { y0 -= yPad }
        y1 += yPad
        if xCategories == nil && !isBars { let p = (x1 - x0) * 0.03; x0 -= p; x1 += p }
        if equalAspect {
            let sx = (x1 - x0) / plotW, sy = (y1 - y0) / plotH
            if sx > sy { let c = (y0 + y1) / 2, h = sx * plotH / 2; y0 = c - h; y1 = c + h }
            else { let c = (x0 + x1) / 2, h = sy * plotW / 2; x0 = c - h; x1 = c + h }
        }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (y1 - y) / (y1 - y0) * plotH }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }

        var svg = Self.opening(width: width, height: height, title: title, titleCentre: left + plotW / 2)
        // Grid and ticks.
        for t in SVGPlot.ticks(y0, y1) {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(SliceFigure.formatTick(t))</text>\n"
        }
        if let cats = xCategories {
            for (i, name) in cats.enumerated() {
                svg += "<text x=\"\(f(px(Double(i))))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(Self.escape(name))</text>\n"
            }
        } else {
            for t in SVGPlot.ticks(x0, x1) {
                svg += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top))\" y2=\"\(f(top + plotH))\" stroke=\"#f0f0f0\"/>\n"
                svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(SliceFigure.formatTick(t))</text>\n"
            }
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 34))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"
        // Series.
        let barsCount = series.filter { $0.kind == .bars }.count
        var barIndex = 0
        for (k, s) in series.enumerated() {
            let colour = s.colour ?? SVGPlot.palette[k % SVGPlot.palette.count]
            let points = zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite }
            if let band = s.band, band.count == s.x.count {
                let upper = zip(s.x, band).map { "\(f(px($0.0))),\(f(py($0.1.1)))" }
                let lower = zip(s.x, band).reversed().map { "\(f(px($0.0))),\(f(py($0.1.0)))" }
                svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
            }
            switch s.kind {
            case .bars:
                let w = barWidth() / Double(Swift.max(1, barsCount))
                let offset = (Double(barIndex) - Double(barsCount - 1) / 2) * w
                for (x, y) in points {
                    let a = px(x + offset - w * 0.45), b = px(x + offset + w * 0.45)
                    svg += "<rect x=\"\(f(a))\" y=\"\(f(Swift.min(py(y), py(0))))\" width=\"\(f(b - a))\" height=\"\(f(abs(py(y) - py(0))))\" fill=\"\(colour)\"/>\n"
                }
                barIndex += 1
            case .line, .lineAndPoints, .points:
                if s.kind != .points, points.count > 1 {
                    svg += "<polyline points=\"\(points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
                }
                if s.kind != .line {
                    for (x, y) in points { svg += "<circle cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" r=\"3.5\" fill=\"\(colour)\"/>\n" }
                }
            }
            if let interval = s.yInterval, interval.count == s.x.count {
                for (x, (lo, hi)) in zip(s.x, interval) where lo.isFinite && hi.isFinite && x.isFinite {
                    let X = px(x)
                    svg += "<path d=\"M\(f(X)) \(f(py(lo)))V\(f(py(hi)))M\(f(X - 4)) \(f(py(lo)))h8M\(f(X - 4)) \(f(py(hi)))h8\" stroke=\"#222\" fill=\"none\"/>\n"
                }
            }
        }
        // Legend below the axis label, three per row.
        if legendRows > 0 {
            for (k, s) in series.enumerated() {
                let colour = s.colour ?? SVGPlot.palette[k % SVGPlot.palette.count]
                let lx = left + Double(k % 3) * plotW / 3, ly = top + plotH + 48 + Double(k / 3) * 18
                svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"12\" height=\"10\" fill=\"\(colour)\"/>"
                svg += "<text x=\"\(f(lx + 16))\" y=\"\(f(ly))\">\(Self.escape(s.name))</text>\n"
            }
        }
        return svg + "</svg>\n"
    }

    /// Spacing of bars: the smallest gap between x values of bar series.
    func barWidth() -> Double {
        if xCategories != nil { return 0.8 }
        let xs = Array(Set(series.filter { $0.kind == .bars }.flatMap(\.x))).sorted()
        let gaps = zip(xs.dropFirst(), xs).map { $0 - $1 }.filter { $0 > 0 }
        return (gaps.min() ?? 1) * 0.9
    }

    /// Round tick values across [lo, hi] (about five).
    public static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo, (hi - lo).isFinite else { return [lo] }
        let step = SliceFigure.niceStep((hi - lo) / 5)
        var t = (lo / step).rounded(.up) * step, out: [Double] = []
        while t <= hi + step * 1e-9 && out.count < 50 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    /// The start of a figure: the `<svg>` element, a white ground and the title centred at `titleCentre`.
    static func opening(width: Int, height: Int, title: String, titleCentre: Double) -> String {
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(String(format: "%.2f", titleCentre))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
        return svg
    }

    /// Text escaped for SVG/XML content.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
