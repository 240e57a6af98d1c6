import Foundation
import LensCore

/// How events whose charge spread over neighbouring pixels are treated. A photon absorbed near
/// a pixel border shares its charge with neighbours in the same frame; each piece carries only
/// part of the energy, which moves counts out of the Compton peak.
///
/// Events of one frame are grouped into clusters (8-connected within 3 × 3 neighbourhoods).
/// - `none`: every event counts where it landed.
/// - `discriminate`: clusters of more than one event are rejected whole (the published
///   analysis's choice: clean spectra at the cost of counts).
/// - `add`: a cluster's energies are summed into its brightest pixel (keeps the counts; two
///   real photons landing side by side in one frame are merged, which is rare at low occupancy).
public enum ChargeSharingCorrection: String, CaseIterable, Codable, Sendable {
    case none, discriminate, add
}

/// Uniform energy bins: bin k covers [low + k·width, low + (k+1)·width).
public struct EnergyBinning: Codable, Sendable, Equatable {
    public var lowKeV: Double
    public var widthKeV: Double
    public var count: Int
    /// Default: 0–130 keV in 0.1 keV bins (the detector resolves ~0.8 keV FWHM).
    public init(lowKeV: Double = 0, widthKeV: Double = 0.1, count: Int = 1300) {
        self.lowKeV = lowKeV; self.widthKeV = widthKeV; self.count = count
    }
    public var edgesKeV: [Double] { (0...count).map { lowKeV + Double($0) * widthKeV } }
    public var centresKeV: [Double] { (0..<count).map { lowKeV + (Double($0) + 0.5) * widthKeV } }
}

/// What happened to the events on their way into spectra.
public struct EventStatistics: Codable, Sendable, Equatable {
    public var eventsRead = 0
    public var frames = 0
    /// Events counted into a spectrum (after charge-sharing correction; merged clusters count once).
    public var eventsCounted = 0
    /// Clusters of two or more events found (rejected or merged).
    public var multiPixelClusters = 0
    /// Events in those clusters.
    public var eventsInClusters = 0
    /// Events outside the detector or the energy range.
    public var eventsOutside = 0
    public init() {}
}

/// Per-pixel energy spectra of a detector: counts (pixel-major, then energy bin).
public struct PixelSpectra: Sendable {
    public var rows: Int
    public var columns: Int
    public var binning: EnergyBinning
    /// rows × columns × bins counts.
    public var counts: [UInt32]
    public var statistics: EventStatistics

    public init(rows: Int, columns: Int, binning: EnergyBinning, counts: [UInt32], statistics: EventStatistics = EventStatistics()) {
        precondition(counts.count == rows * columns * binning.count)
        self.rows = rows; self.columns = columns; self.binning = binning; self.counts = counts; self.statistics = statistics
    }

    public var pixelCount: Int { rows * columns }

    /// The spectrum of one pixel as Doubles.
    public func spectrum(pixel: Int) -> [Double] {
        let b = binning.count
        return counts[(pixel * b)..<((pixel + 1) * b)].map(Double.init)
    }

    /// The summed spectrum of the pixels where `include` is true.
    public func summed(where include: (Int) -> Bool) -> [Double] {
        let b = binning.count
        var total = [Double](repeating: 0, count: b)
        for pixel in 0..<pixelCount where include(pixel) {
            for k in 0..<b { total[k] += Double(counts[pixel * b + k]) }
        }
        return total
    }

    /// As a (row, column, energy) grid, for writing.
    public var grid: Grid<UInt32> { Grid(shape: Shape(rows, columns, binning.count), elements: counts) }
}

/// Histograms photon events into per-pixel spectra, frame by frame, with charge-sharing
/// correction. Feed batches in frame order with ``add(_:)``, then call ``finish()``. Memory is
/// the spectra plus one frame of events, whatever the number of events.
public final class SpectrumAccumulator {
    public let rows: Int
    public let columns: Int
    public let binning: EnergyBinning
    public let correction: ChargeSharingCorrection
    /// Per-pixel energy calibration applied to each event before binning: E = gain·value + offset
    /// (nil: the events are already in keV).
    public let calibration: PixelEnergyCalibration?
    private var counts: [UInt32]
    private var statistics = EventStatistics()
    private var frame: [PhotonEvent] = []
    private var currentFrame: UInt32?
    private var order: [Int] = []
    private var parent: [Int] = []

    public init(rows: Int, columns: Int, binning: EnergyBinning = EnergyBinning(), correction: ChargeSharingCorrection = .discriminate,
                calibration: PixelEnergyCalibration? = nil) throws {
        guard rows > 0, columns > 0, binning.count > 0, binning.widthKeV > 0 else {
            throw LensError.invalidArgument("spectra need a detector of at least 1×1 pixels and energy bins of positive width")
        }
        if let calibration, calibration.rows != rows || calibration.columns != columns {
            throw LensError.invalidArgument("energy calibration is for \(calibration.rows)×\(calibration.columns) pixels, the detector has \(rows)×\(columns)")
        }
        self.rows = rows; self.columns = columns; self.binning = binning; self.correction = correction; self.calibration = calibration
        counts = [UInt32](repeating: 0, count: rows * columns * binning.count)
        frame.reserveCapacity(256)
    }

    public func add(_ events: [PhotonEvent]) {
        statistics.eventsRead += events.count
        if correction == .none {
            for e in events {
                if currentFrame != e.frame { currentFrame = e.frame; statistics.frames += 1 }
                count(row: Int(e.row), column: Int(e.column), value: e.energyKeV)
            }
            return
        }
        for e in events {
            if let f = currentFrame, f != e.frame { flushFrame() }
            if currentFrame != e.frame { currentFrame = e.frame; statistics.frames += 1 }
            frame.append(e)
        }
    }

    /// Ends the last frame and returns the spectra.
    public func finish() -> PixelSpectra {
        flushFrame()
        return PixelSpectra(rows: rows, columns: columns, binning: binning, counts: counts, statistics: statistics)
    }

    @inline(__always)
    private func energy(row: Int, column: Int, value: Float) -> Double {
        guard let calibration else { return Double(value) }
        let p = row * columns + column
        return calibration.gain[p] * Double(value) + calibration.offset[p]
    }

    @inline(__always)
    private func count(row: Int, column: Int, value: Float) {
        guard row < rows, column < columns else { statistics.eventsOutside += 1; return }
        countKeV(row: row, column: column, energy: energy(row: row, column: column, value: value))
    }

    @inline(__always)
    private func countKeV(row: Int, column: Int, energy: Double) {
        let bin = (energy - binning.lowKeV) / binning.widthKeV
        guard bin >= 0, bin < Double(binning.count) else { statistics.eventsOutside += 1; return }
        counts[(row * columns + column) * binning.count + Int(bin)] += 1
        statistics.eventsCounted += 1
    }

    private func find(_ i: Int) -> Int {
        var i = i
        while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
        return i
    }

    /// Clusters the pending frame's events (sorted by row, then column; each event is joined
    /// to later events at most one row and one column away) and counts them.
    private func flushFrame() {
        defer { frame.removeAll(keepingCapacity: true) }
        let k = frame.count
        if k == 0 { return }
        if k == 1 { count(row: Int(frame[0].row), column: Int(frame[0].column), value: frame[0].energyKeV); return }
        order = Array(0..<k)
        order.sort { (frame[$0].row, frame[$0].column) < (frame[$1].row, frame[$1].column) }
        parent = Array(0..<k)
        for a in 0..<k {
            let ea = frame[order[a]]
            var b = a + 1
            while b < k, Int(frame[order[b]].row) <= Int(ea.row) + 1 {
                let eb = frame[order[b]]
                if abs(Int(eb.column) - Int(ea.column)) <= 1 {
                    let ra = find(order[a]), rb = find(order[b])
                    if ra != rb { parent[rb] = ra }
                }
                b += 1
            }
        }
        // Cluster sizes, brightest member and summed energy per root.
        var size = [Int](repeating: 0, count: k)
        for i in 0..<k { size[find(i)] += 1 }
        var brightest = [Int](repeating: -1, count: k)
        var sum = [Double](repeating: 0, count: k)
        for i in 0..<k {
            let r = find(i)
            let e = frame[i]
            guard Int(e.row) < rows, Int(e.column) < columns else { continue }
            let keV = energy(row: Int(e.row), column: Int(e.column), value: e.energyKeV)
            sum[r] += keV
            if brightest[r] < 0 || keV > energy(row: Int(frame[brightest[r]].row), column: Int(frame[brightest[r]].column), value: frame[brightest[r]].energyKeV) {
                brightest[r] = i
            }
        }
        for i in 0..<k {
            let r = find(i)
            if size[r] == 1 {
                count(row: Int(frame[i].row), column: Int(frame[i].column), value: frame[i].energyKeV)
                continue
            }
            statistics.eventsInClusters += 1
            guard r == i else { continue }
            statistics.multiPixelClusters += 1
            if correction == .add, brightest[r] >= 0 {
                let e = frame[brightest[r]]
                countKeV(row: Int(e.row), column: Int(e.column), energy: sum[r])
            }
        }
    }
}

/// Per-pixel linear energy calibration E = gain · ADU + offset, fitted from known lines
/// (e.g. Am-241 at 13.94, 17.75 and 59.54 keV): each pixel's line positions in ADU (peak
/// centroids of its uncalibrated spectrum) against the line energies, by least squares.
public struct PixelEnergyCalibration: Codable, Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var gain: [Double]
    public var offset: [Double]
    /// Pixels whose lines could not be found (gain and offset there: the detector median).
    public var failedPixels: [Int]

    public init(rows: Int, columns: Int, gain: [Double], offset: [Double], failedPixels: [Int] = []) {
        self.rows = rows; self.columns = columns; self.gain = gain; self.offset = offset; self.failedPixels = failedPixels
    }

    /// Americium-241 lines used for HEXITEC calibration (keV): Np Lα, Np Lβ, γ.
    public static let americiumLinesKeV = [13.94, 17.75, 59.54]

    /// Fits every pixel from its uncalibrated spectrum `spectra` (in ADU bins): for each line,
    /// the centroid of counts within ±`searchADU` of the expected position (from `nominalGain`
    /// and `nominalOffset`), then a least-squares line through (centroid, energy).
    public static func fit(_ spectra: PixelSpectra, linesKeV: [Double] = americiumLinesKeV, nominalGain: Double, nominalOffset: Double = 0,
                           searchADU: Double, minimumCounts: Double = 20) throws -> PixelEnergyCalibration {
        guard linesKeV.count >= 2 else { throw LensError.invalidArgument("energy calibration needs at least two lines") }
        let centres = spectra.binning.centresKeV   // ADU here: the binning is in detector units
        var gain = [Double](repeating: .nan, count: spectra.pixelCount), offset = gain
        var failed = [Int]()
        for pixel in 0..<spectra.pixelCount {
            let s = spectra.spectrum(pixel: pixel)
            var points = [(adu: Double, keV: Double)]()
            for line in linesKeV {
                let expected = (line - nominalOffset) / nominalGain
                var total = 0.0, moment = 0.0
                for k in centres.indices where abs(centres[k] - expected) <= searchADU { total += s[k]; moment += s[k] * centres[k] }
                if total >= minimumCounts { points.append((moment / total, line)) }
            }
            guard points.count >= 2 else { failed.append(pixel); continue }
            let n = Double(points.count)
            let mx = points.map(\.adu).reduce(0, +) / n, my = points.map(\.keV).reduce(0, +) / n
            let sxx = points.reduce(0) { $0 + ($1.adu - mx) * ($1.adu - mx) }
            guard sxx > 0 else { failed.append(pixel); continue }
            gain[pixel] = points.reduce(0) { $0 + ($1.adu - mx) * ($1.keV - my) } / sxx
            offset[pixel] = my - gain[pixel] * mx
        }
        guard failed.count < spectra.pixelCount else {
            throw LensError.numerical("energy calibration: no pixel shows at least two of the lines \(linesKeV) keV near the nominal gain")
        }
        let goodGain = gain.filter(\.isFinite).sorted(), goodOffset = offset.filter(\.isFinite).sorted()
        for p in failed { gain[p] = goodGain[goodGain.count / 2]; offset[p] = goodOffset[goodOffset.count / 2] }
        return PixelEnergyCalibration(rows: spectra.rows, columns: spectra.columns, gain: gain, offset: offset, failedPixels: failed)
    }
}
