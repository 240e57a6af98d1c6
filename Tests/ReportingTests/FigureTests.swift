import Foundation
import LensCore
import LensIO
import Reporting
import Testing

/// Figures for people: the scale bar means what it says, masked pixels are drawn and listed,
/// neighbouring labels differ, plots carry their ticks, labels and error bars.
@Suite struct FigureTests {
    /// A 64 × 80 ramp with NaNs in one corner.
    func ramp() -> Grid<Float> {
        var g = Grid<Float>(shape: Shape(64, 80), elements: (0..<(64 * 80)).map { Float($0 % 80) / 79 })
        for r in 0..<4 { for c in 0..<4 { g[linear: r * 80 + c] = .nan } }
        return g
    }

    /// The longest run of black pixels on any row below the image: the scale bar.
    static func measuredBar(_ image: Grid<UInt8>, belowRow: Int) -> (row: Int, start: Int, length: Int) {
        let rows = image.shape[0], cols = image.shape[1]
        let pixels = image.elements   // one copy: `elements` copies the whole grid on every access
        var best = (row: -1, start: -1, length: 0)
        for r in belowRow..<rows {
            var c = 0
            while c < cols {
                let i = (r * cols + c) * 3
                if pixels[i] == 0 && pixels[i + 1] == 0 && pixels[i + 2] == 0 {
                    let s = c
                    while c < cols && pixels[(r * cols + c) * 3] == 0 && pixels[(r * cols + c) * 3 + 1] == 0 { c += 1 }
                    if c - s > best.length { best = (r, s, c - s) }
                } else { c += 1 }
            }
        }
        return best
    }

    @Test func scaleBarLengthEqualsItsStatedMicrometres() throws {
        for pixel in [0.129, 0.5, 0.65, 3.25] {
            var style = SliceFigureStyle(mode: .continuous(.viridis, .automatic), pixelSizeMicrometres: pixel, valueLabel: "μ (1/µm)")
            style.colourBar = true
            let figure = try SliceFigure.render(ramp(), style: style)
            let bar = try #require(figure.scaleBar)
            #expect(bar.unit == "µm")
            // Drawn length on the figure, measured from the pixels.
            let found = Self.measuredBar(figure.image, belowRow: 10 + 64 * bar.magnification + 1)
            #expect(found.length == bar.lengthPixels && found.start == bar.column, "drawn \(found), stated \(bar)")
            // The stated µm at this pixel size and magnification, within half a figure pixel.
            let micrometresPerFigurePixel = pixel / Double(bar.magnification)
            #expect(abs(Double(found.length) * micrometresPerFigurePixel - bar.length) <= 0.5 * micrometresPerFigurePixel + 1e-12)
            // A round length: 1, 2 or 5 × 10ⁿ µm, between an eighth and a quarter of the image.
            let mantissa = bar.length / pow(10, floor(log10(bar.length)))
            #expect([1.0, 2, 5].contains { abs($0 - mantissa) < 1e-9 }, "\(bar.length)")
            let fraction = Double(bar.lengthPixels) / Double(80 * bar.magnification)
            #expect(fraction > 0.09 && fraction <= 0.26, "\(fraction)")
        }
    }

    @Test func unknownPixelSizeGivesABarInPixels() throws {
        let figure = try SliceFigure.render(ramp(), style: SliceFigureStyle(pixelSizeMicrometres: nil))
        let bar = try #require(figure.scaleBar)
        #expect(bar.unit == "pixel" && bar.label.hasSuffix("pixels"))
        #expect(bar.lengthPixels == Int(bar.length) * bar.magnification)
    }

    @Test func maskedPixelsAreDrawnDistinctlyAndListed() throws {
        let figure = try SliceFigure.render(ramp(), style: SliceFigureStyle(mode: .continuous(.grey, .automatic), pixelSizeMicrometres: 1))
        #expect(figure.maskedPixels == 16)
        #expect(figure.legend.contains { $0.name.hasPrefix("masked") && $0.colour == .masked })
        // The first image pixel (a NaN) is magenta on the figure.
        let cols = figure.image.shape[1], i = (10 * cols + 10) * 3
        #expect(RGB(figure.image.elements[i], figure.image.elements[i + 1], figure.image.elements[i + 2]) == .masked)
        // No colour map here draws magenta: grey and viridis never have g = 0 with r, b high.
        for map in Colormap.allCases {
            let t = map.table
            #expect(!(0..<256).contains { t[$0 * 3] == RGB.masked.r && t[$0 * 3 + 1] == RGB.masked.g && t[$0 * 3 + 2] == RGB.masked.b })
        }
    }

    @Test func neighbouringLabelsGetDistinctColours() {
        for k in 1..<500 {
            let a = SliceFigure.categoricalColour(k, named: false), b = SliceFigure.categoricalColour(k + 1, named: false)
            let distance = abs(Int(a.r) - Int(b.r)) + abs(Int(a.g) - Int(b.g)) + abs(Int(a.b) - Int(b.b))
            #expect(distance > 60, "labels \(k) and \(k + 1): \(a) vs \(b)")
        }
        #expect(SliceFigure.categoricalColour(0, named: false) == SliceFigure.categoricalColour(0, named: true))
    }

    @Test func namedPhasesAppearInTheLegend() throws {
        let labels = Grid<Float>(shape: Shape(20, 20), elements: (0..<400).map { Float($0 % 4) })
        let figure = try SliceFigure.render(labels, style: SliceFigureStyle(mode: .categorical(names: [0: "outside", 1: "pore", 2: "binder", 3: "active"]), pixelSizeMicrometres: 0.5))
        #expect(figure.legend.map(\.name) == ["outside", "pore", "binder", "active"])
        #expect(figure.window == nil)
    }

    @Test func labelColoursRefuseValuesThatAreNoLabels() {
        for value: Float in [2.5, 1e30, -3e12] {
            let g = Grid<Float>(shape: Shape(4, 4), elements: [Float](repeating: 1, count: 15) + [value])
            #expect(throws: LensError.self) { try SliceFigure.render(g, style: SliceFigureStyle(mode: .categorical(names: nil), pixelSizeMicrometres: nil)) }
        }
    }

    @Test func overlayMustMatchTheSlice() {
        var style = SliceFigureStyle(pixelSizeMicrometres: 1)
        style.overlays = [SliceOverlay(mask: Grid(shape: Shape(3, 3), elements: [UInt8](repeating: 1, count: 9)), colour: .black, name: "x")]
        #expect(throws: LensError.self) { try SliceFigure.render(ramp(), style: style) }
    }

    @Test func plotsCarryTicksLabelsLegendAndErrorBars() {
        var plot = SVGPlot(title: "Porosity by depth", xLabel: "depth (µm)", yLabel: "porosity")
        plot.series = [.init("measured", x: [5, 15, 25], y: [0.45, 0.40, 0.38], yInterval: [(0.44, 0.46), (0.39, 0.41), (0.37, 0.39)]),
                       .init("truth", kind: .line, x: [5, 15, 25], y: [0.46, 0.41, 0.37])]
        let svg = plot.render()
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        for text in ["Porosity by depth", "depth (µm)", ">porosity<", ">measured<", ">truth<", ">0.4<", ">0.2<"] { #expect(svg.contains(text), "\(text)") }
        #expect(svg.components(separatedBy: "<path d=\"M").count - 1 == 3)   // one error bar per point
        #expect(SVGPlot.ticks(0, 0.47) == [0, 0.1, 0.2, 0.30000000000000004, 0.4] || SVGPlot.ticks(0, 0.47).count == 5)
        // XML special characters are escaped.
        var odd = SVGPlot(title: "a < b & c", xLabel: "x", yLabel: "y"); odd.series = [.init("s", x: [0, 1], y: [1, 2])]
        #expect(odd.render().contains("a &lt; b &amp; c"))
    }

    @Test func colourBarTicksAreRoundAndInsideTheWindow() {
        let ticks = SliceFigure.colourBarTicks(0.0012...0.0471)
        #expect(ticks.count >= 3 && ticks.count <= 6)
        for (v, label) in ticks { #expect(v >= 0.0012 && v <= 0.0471); #expect(Double(label) != nil, "\(label)") }
        #expect(SliceFigure.formatTick(0.01) == "0.01" && SliceFigure.formatTick(2.5e-5) == "2.5e-5" && SliceFigure.formatTick(8345) == "8345")
    }
}
