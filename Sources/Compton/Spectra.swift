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
/// correction. Feed batches in frame order with ``add(_:)``, then call ``finish()``. Each batch's
/// complete frames are split at frame boundaries among the cores, each histogramming into its
/// own spectra (merged at the end); the last, possibly incomplete frame waits for the next
/// batch. Memory is one set of spectra per core plus one batch, whatever the number of events.
public final class SpectrumAccumulator {
    public let rows: Int
    public let columns: Int
    public let binning: EnergyBinning
    public let correction: ChargeSharingCorrection
    /// Per-pixel energy calibration applied to each event before binning: E = gain·value + offset
    /// (nil: the events are already in keV).
    public let calibration: PixelEnergyCalibration?
    private var workers: [FrameHistogrammer]
    private var pending: [PhotonEvent] = []

    public init(rows: Int, columns: Int, binning: EnergyBinning = EnergyBinning(), correction: ChargeSharingCorrection = .discriminate,
                calibration: PixelEnergyCalibration? = nil) throws {
        guard rows > 0, columns > 0, binning.count > 0, binning.widthKeV > 0 else {
            throw LensError.invalidArgument("spectra need a detector of at least 1×1 pixels and energy bins of positive width")
        }
        if let calibration, calibration.rows != rows || calibration.columns != columns {
            throw LensError.invalidArgument("energy calibration is for \(calibration.rows)×\(calibration.columns) pixels, the detector has \(rows)×\(columns)")
        }
        self.rows = rows; self.columns = columns; self.binning = binning; self.correction = correction; self.calibration = calibration
        workers = [FrameHistogrammer(rows: rows, columns: columns, binning: binning, correction: correction, calibration: calibration)]
    }

    public func add(_ events: [PhotonEvent]) {
        guard !events.isEmpty else { return }
        // Finish the frame left over from the previous batch with its events at the start of
        // this one (a handful of events: no copy of the batch).
        var start = 0
        if let open = pending.first?.frame {
            while start < events.count && events[start].frame == open { start += 1 }
            pending.append(contentsOf: events[0..<start])
            if start == events.count { return }
            pending.withUnsafeBufferPointer { events in Parallel.sharing(events) { workers[0].process($0, 0..<$0.count) } }
            pending.removeAll(keepingCapacity: true)
        }
        // Complete frames: everything before the last frame's first event.
        let lastFrame = events[events.count - 1].frame
        var lastFrameStart = events.count - 1
        while lastFrameStart > start && events[lastFrameStart - 1].frame == lastFrame { lastFrameStart -= 1 }
        pending.append(contentsOf: events[lastFrameStart...])
        guard lastFrameStart > start else { return }
        let total = lastFrameStart - start
        let parts = total < 65_536 ? 1 : Parallel.threadCount
        var cuts = [start]
        for k in 1..<parts {
            var c = Swift.max(cuts[k - 1], start + total * k / parts)
            while c > start && c < lastFrameStart && events[c].frame == events[c - 1].frame { c += 1 }
            cuts.append(Swift.min(c, lastFrameStart))
        }
        cuts.append(lastFrameStart)
        while workers.count < parts {
            workers.append(FrameHistogrammer(rows: rows, columns: columns, binning: binning, correction: correction, calibration: calibration))
        }
        let bounds = cuts
        // Each worker k owns histogrammer k and reads its own frames of the shared events.
        events.withUnsafeBufferPointer { events in
            Parallel.sharing(events) { shared in
                Parallel.withDisjointWrites(&workers) { w in
                    if parts == 1 { w[0].process(shared, bounds[0]..<bounds[1]); return }
                    DispatchQueue.concurrentPerform(iterations: parts) { k in w[k].process(shared, bounds[k]..<bounds[k + 1]) }
                }
            }
        }
    }

    /// Ends the last frame and returns the spectra (the per-core spectra summed).
    public func finish() -> PixelSpectra {
        pending.withUnsafeBufferPointer { events in Parallel.sharing(events) { workers[0].process($0, 0..<$0.count) } }
        pending.removeAll()
        var counts = workers[0].counts
        var statistics = workers[0].statistics
        for w in workers.dropFirst() {
            counts.withUnsafeMutableBufferPointer { c in w.counts.withUnsafeBufferPointer { o in for i in 0..<c.count { c[i] &+= o[i] } } }
            statistics.eventsCounted += w.statistics.eventsCounted
            statistics.multiPixelClusters += w.statistics.multiPixelClusters
            statistics.eventsInClusters += w.statistics.eventsInClusters
            statistics.eventsOutside += w.statistics.eventsOutside
            statistics.eventsRead += w.statistics.eventsRead
            statistics.frames += w.statistics.frames
        }
        return PixelSpectra(rows: rows, columns: columns, binning: binning, counts: counts, statistics: statistics)
    }
}

/// Indices waiting to be counted (a fixed buffer: appending to an array per event costs a
/// uniqueness check each time).
final class StagingBuffer {
    let values: UnsafeMutablePointer<UInt32>
    let capacity: Int
    var count = 0
    init(capacity: Int) { self.capacity = capacity; values = .allocate(capacity: capacity) }
    deinit { values.deallocate() }
}

/// One core's share of the histogramming: its own spectra, statistics and scratch buffers
/// (reused from frame to frame: a frame holds a handful of events, so allocating per frame
/// would cost more than the work).
struct FrameHistogrammer {
    let rows: Int
    let columns: Int
    let binning: EnergyBinning
    let correction: ChargeSharingCorrection
    /// Per-pixel gain and offset (empty without calibration): plain arrays, so reading them per
    /// event costs no reference counting (binding an optional struct of arrays would).
    let gains: [Double]
    let offsets: [Double]
    var counts: [UInt32]
    var statistics = EventStatistics()
    /// Linear indices (pixel · bins + bin) of counted events not yet added: added in bulk,
    /// bucketed by index so each bucket's increments stay in cache (``flush(into:)``).
    private let staged = StagingBuffer(capacity: 1 << 20)
    private var sorted: [UInt32] = []
    private var order: [Int] = []
    private var parent: [Int] = []
    private var size: [Int] = []
    private var brightest: [Int] = []
    private var energySum: [Double] = []

    init(rows: Int, columns: Int, binning: EnergyBinning, correction: ChargeSharingCorrection, calibration: PixelEnergyCalibration?) {
        self.rows = rows; self.columns = columns; self.binning = binning; self.correction = correction
        gains = calibration?.gain ?? []
        offsets = calibration?.offset ?? []
        counts = [UInt32](repeating: 0, count: rows * columns * binning.count)
    }

    @inline(__always)
    func energy(_ e: PhotonEvent) -> Double {
        guard !gains.isEmpty, Int(e.row) < rows, Int(e.column) < columns else { return Double(e.energyKeV) }
        let p = Int(e.row) * columns + Int(e.column)
        return gains[p] * Double(e.energyKeV) + offsets[p]
    }

    /// Counts one event into `spectra` (this worker's counts, held as a pointer by the caller
    /// for the whole range: no copy-on-write checks in the loop).
    @inline(__always)
    mutating func add(to spectra: UnsafeMutablePointer<UInt32>, row: Int, column: Int, energy: Double) {
        guard row < rows, column < columns else { statistics.eventsOutside += 1; return }
        let bin = (energy - binning.lowKeV) / binning.widthKeV
        guard bin >= 0, bin < Double(binning.count) else { statistics.eventsOutside += 1; return }
        staged.values[staged.count] = UInt32((row * columns + column) * binning.count + Int(bin))
        staged.count += 1
        statistics.eventsCounted += 1
        if staged.count == staged.capacity { flush(into: spectra) }
    }

    /// Adds the staged events: a counting sort into 256 buckets of the index range (two
    /// sequential passes), then the increments bucket by bucket, each within a few hundred KiB
    /// of the spectra — instead of one cache miss per event across all of them.
    mutating func flush(into spectra: UnsafeMutablePointer<UInt32>) {
        let n = staged.count
        guard n > 0 else { return }
        let total = rows * columns * binning.count
        let shift = Swift.max(0, (Int.bitWidth - (total - 1).leadingZeroBitCount) - 8)
        if sorted.count < n { sorted = [UInt32](repeating: 0, count: n) }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 257) { starts in
            starts.initialize(repeating: 0)
            let input = UnsafeBufferPointer(start: staged.values, count: n)
            let s = UInt32(shift)
            for v in input { starts[Int(v >> s) + 1] &+= 1 }
            for b in 0..<256 { starts[b + 1] &+= starts[b] }
            sorted.withUnsafeMutableBufferPointer { out in
                for v in input {
                    let b = Int(v >> s)
                    out[starts[b]] = v
                    starts[b] &+= 1
                }
                for i in 0..<n { spectra[Int(out[i])] &+= 1 }
            }
        }
        staged.count = 0
    }

    /// Histograms the whole frames in `range` of `events`.
    mutating func process(_ events: SharedReadBuffer<PhotonEvent>, _ range: Range<Int>) {
        statistics.eventsRead += range.count
        // Ranges hold whole frames (frames never straddle two workers or two calls).
        if !range.isEmpty && correction != .none {
            var frames = 1
            for i in (range.lowerBound + 1)..<range.upperBound where events[i].frame != events[i - 1].frame { frames += 1 }
            statistics.frames += frames
        }
        // The counts are moved out of `self` for the loop, so no copy-on-write check runs per event.
        var local = counts
        counts = []
        defer { counts = local }
        local.withUnsafeMutableBufferPointer { c in
            let spectra = c.baseAddress!
            defer { flush(into: spectra) }
            if correction == .none {
                // One pass: frame count and bin index together, with the statistics in locals.
                let (bins, low, inverseWidth) = (binning.count, binning.lowKeV, 1 / binning.widthKeV)
                var (frames, counted, outside) = (0, 0, 0)
                var previousFrame = range.isEmpty ? 0 : events[range.lowerBound].frame &+ 1
                for i in range {
                    let e = events[i]
                    if e.frame != previousFrame { frames += 1; previousFrame = e.frame }
                    let (row, column) = (Int(e.row), Int(e.column))
                    let bin = (energy(e) - low) * inverseWidth
                    guard row < rows, column < columns, bin >= 0, bin < Double(bins) else { outside += 1; continue }
                    staged.values[staged.count] = UInt32((row * columns + column) * bins + Int(bin))
                    staged.count += 1
                    counted += 1
                    if staged.count == staged.capacity { flush(into: spectra) }
                }
                statistics.frames += frames
                statistics.eventsCounted += counted
                statistics.eventsOutside += outside
                return
            }
            var start = range.lowerBound
            while start < range.upperBound {
                var end = start + 1
                while end < range.upperBound && events[end].frame == events[start].frame { end += 1 }
                frame(events, start..<end, into: spectra)
                start = end
            }
        }
    }

    @inline(__always)
    static func touching(_ a: PhotonEvent, _ b: PhotonEvent) -> Bool {
        abs(Int(a.row) - Int(b.row)) <= 1 && abs(Int(a.column) - Int(b.column)) <= 1
    }

    private mutating func find(_ i: Int) -> Int {
        var i = i
        while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
        return i
    }

    /// One frame: clusters of events within 3×3 of each other (8-connected), then counted,
    /// rejected or merged by the correction mode.
    private mutating func frame(_ events: SharedReadBuffer<PhotonEvent>, _ r: Range<Int>, into spectra: UnsafeMutablePointer<UInt32>) {
        let k = r.count
        if k == 1 {
            let e = events[r.lowerBound]
            add(to: spectra, row: Int(e.row), column: Int(e.column), energy: energy(e))
            return
        }
        if k == 2 {
            let a = events[r.lowerBound], b = events[r.lowerBound + 1]
            if !FrameHistogrammer.touching(a, b) {
                add(to: spectra, row: Int(a.row), column: Int(a.column), energy: energy(a))
                add(to: spectra, row: Int(b.row), column: Int(b.column), energy: energy(b))
                return
            }
            statistics.eventsInClusters += 2
            statistics.multiPixelClusters += 1
            if correction == .add {
                let (ea, eb) = (energy(a), energy(b))
                let top = ea >= eb ? a : b
                add(to: spectra, row: Int(top.row), column: Int(top.column), energy: ea + eb)
            }
            return
        }
        // Larger frames: sort by (row, column), join each event to later ones at most one row
        // and one column away (union–find).
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: 0..<k)
        order.sort { (events[r.lowerBound + $0].row, events[r.lowerBound + $0].column) < (events[r.lowerBound + $1].row, events[r.lowerBound + $1].column) }
        parent.removeAll(keepingCapacity: true)
        parent.append(contentsOf: 0..<k)
        for a in 0..<k {
            let ea = events[r.lowerBound + order[a]]
            var b = a + 1
            while b < k, Int(events[r.lowerBound + order[b]].row) <= Int(ea.row) + 1 {
                if FrameHistogrammer.touching(ea, events[r.lowerBound + order[b]]) {
                    let ra = find(order[a]), rb = find(order[b])
                    if ra != rb { parent[rb] = ra }
                }
                b += 1
            }
        }
        size.removeAll(keepingCapacity: true); size.append(contentsOf: repeatElement(0, count: k))
        brightest.removeAll(keepingCapacity: true); brightest.append(contentsOf: repeatElement(-1, count: k))
        energySum.removeAll(keepingCapacity: true); energySum.append(contentsOf: repeatElement(0, count: k))
        for i in 0..<k {
            let root = find(i)
            size[root] += 1
            let e = energy(events[r.lowerBound + i])
            energySum[root] += e
            if brightest[root] < 0 || e > energy(events[r.lowerBound + brightest[root]]) { brightest[root] = i }
        }
        for i in 0..<k {
            let root = find(i)
            let e = events[r.lowerBound + i]
            if size[root] == 1 { add(to: spectra, row: Int(e.row), column: Int(e.column), energy: energy(e)); continue }
            statistics.eventsInClusters += 1
            guard root == i else { continue }
            statistics.multiPixelClusters += 1
            if correction == .add {
                let top = events[r.lowerBound + brightest[root]]
                add(to: spectra, row: Int(top.row), column: Int(top.column), energy: energySum[root])
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
