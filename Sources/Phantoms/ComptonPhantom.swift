import Compton
import Foundation
import LensCore
import LensIO

/// Parameters of a simulated Compton scattering imaging acquisition (one depth region).
public struct ComptonParameters: Codable, Sendable, Equatable {
    public var incidentKeV = 115.0
    public var angleDegrees = 90.0
    /// Detector (HEXITEC-like CdZnTe): pixels and energy resolution.
    public var rows = 80
    public var columns = 80
    public var resolutionFWHMKeV = 0.8
    /// Low-energy threshold: energies below are not recorded.
    public var thresholdKeV = 5.0
    /// S = intercept + slope · (1 − x). Default: the line through the published pairs
    /// (1 − x = 0.10, S = 0.88) and (0.76, 2.40).
    public var calibration = SParameter.Calibration(intercept: 0.88 - 0.10 * (2.40 - 0.88) / 0.66, slope: (2.40 - 0.88) / 0.66)
    /// Widths (σ, atomic units) of the valence (narrow) and core (broad) Compton profile parts.
    public var valenceWidth = 0.5
    public var coreWidth = 2.5
    /// Fractions of all events in fluorescence lines (Cd, Te, W, Pb K lines) and in a smooth
    /// background continuum; the rest are Compton events.
    public var fluorescenceFraction = 0.15
    public var backgroundFraction = 0.10
    /// Expected photon events (before charge sharing) over the whole detector.
    public var totalEvents = 1_000_000
    /// Mean events per detector frame (frames are numbered; 9 kHz in the instrument).
    public var eventsPerFrame = 20.0
    /// Probability that an event's charge is shared with one face neighbour (split in energy).
    public var chargeSharingProbability = 0.1
    public var seed: UInt64 = 1
    public init() {}

    /// Fluorescence lines (keV) and relative intensities: Cd Kα/Kβ, Te Kα/Kβ (detector), W and Pb
    /// Kα/Kβ (collimator and shielding).
    public static let fluorescenceLines: [(energy: Double, weight: Double)] = [
        (23.17, 1.0), (26.10, 0.2), (27.47, 0.8), (31.00, 0.16), (59.32, 0.5), (67.24, 0.12), (74.97, 0.6), (84.94, 0.15),
    ]
}

/// What is known about a simulated acquisition.
public struct ComptonTruth: Codable, Sendable {
    public var parameters: ComptonParameters
    /// Per pixel (row-major): requested lithium stoichiometry (1 − x), S of the detected Compton
    /// spectrum, and the valence weight that produces it.
    public var lithium: [Double]
    public var sParameter: [Double]
    public var valenceWeight: [Double]
    public var recordedEvents: Int
    /// Events whose charge was split between two pixels (each gives up to two records).
    public var sharedEvents: Int
    public var singleEvents: Int
    /// Single-pixel events recorded (above the threshold).
    public var singlesRecorded: Int
    /// Split events with both pieces recorded (detectable as a two-pixel cluster).
    public var sharedPairsRecorded: Int
    /// Split events with only one piece above the threshold (indistinguishable from a single).
    public var sharedPiecesAlone: Int
    /// Energy grid edges (keV) and the detected spectra (per unit event) of the valence and core
    /// Compton components, for checks and plots.
    public var gridEdgesKeV: [Double]
    public var valenceSpectrum: [Double]
    public var coreSpectrum: [Double]
}

/// Lithium stoichiometry map → photon events of a Compton scattering imaging detector.
///
/// Compton profile model: J(p_z) = w·N(0, σ_v) + (1 − w)·N(0, σ_c), a narrow valence part and a
/// broad core part. Mapped to energy with the impulse approximation and broadened by the
/// detector resolution, each part is a fixed spectrum; S of the detected spectrum is then a
/// ratio of linear functions of w, solved exactly for the S that the calibration gives for the
/// pixel's (1 − x). Fluorescence lines and a continuum are added; events are drawn per frame,
/// and some share charge with a neighbour pixel.
public enum ComptonSimulator {
    static let gridStepKeV = 0.05

    /// Detected spectra (per event, on a 0.05 keV grid from the threshold to the incident
    /// energy) of the valence and core parts, the fluorescence lines and the continuum.
    public static func componentSpectra(_ p: ComptonParameters) -> (edges: [Double], valence: [Double], core: [Double], fluorescence: [Double], background: [Double]) {
        let lo = p.thresholdKeV, hi = p.incidentKeV + 5
        let n = Int(((hi - lo) / gridStepKeV).rounded())
        let edges = (0...n).map { lo + Double($0) * gridStepKeV }
        let centres = (0..<n).map { (edges[$0] + edges[$0 + 1]) / 2 }
        // Ideal Compton densities per keV: J(p_z(E)) · dp_z/dE, on the same grid.
        func profile(_ sigma: Double) -> [Double] {
            centres.map { e in
                guard e < p.incidentKeV else { return 0 }
                let pz = ComptonKinematics.momentumAtomicUnits(incidentKeV: p.incidentKeV, scatteredKeV: e, angleDegrees: p.angleDegrees)
                let h = 1e-4
                let dpz = (ComptonKinematics.momentumAtomicUnits(incidentKeV: p.incidentKeV, scatteredKeV: e + h, angleDegrees: p.angleDegrees) - pz) / h
                return exp(-0.5 * pz * pz / (sigma * sigma)) / (sigma * (2 * .pi).squareRoot()) * dpz * gridStepKeV
            }
        }
        let sigma = p.resolutionFWHMKeV / (2 * (2 * log(2.0)).squareRoot())
        func broaden(_ x: [Double]) -> [Double] {
            let reach = Int((4 * sigma / gridStepKeV).rounded(.up))
            let kernel = (-reach...reach).map { exp(-0.5 * pow(Double($0) * gridStepKeV / sigma, 2)) }
            let norm = kernel.reduce(0, +)
            var out = [Double](repeating: 0, count: x.count)
            for i in x.indices where x[i] != 0 {
                for (k, w) in kernel.enumerated() {
                    let j = i + k - reach
                    if j >= 0 && j < x.count { out[j] += x[i] * w / norm }
                }
            }
            let total = out.reduce(0, +)
            return total > 0 ? out.map { $0 / total } : out
        }
        var lines = [Double](repeating: 0, count: n)
        for line in ComptonParameters.fluorescenceLines {
            let k = Int(((line.energy - lo) / gridStepKeV).rounded(.down))
            if k >= 0 && k < n { lines[k] += line.weight }
        }
        // Continuum: falling exponential from the threshold to the incident energy.
        let background = centres.map { $0 < p.incidentKeV ? exp(-$0 / 40) : 0 }
        let bTotal = background.reduce(0, +)
        return (edges, broaden(profile(p.valenceWidth)), broaden(profile(p.coreWidth)), broaden(lines), background.map { $0 / bTotal })
    }

    /// The valence weight w giving S of the detected Compton spectrum, or nil if unreachable.
    public static func valenceWeight(forS target: Double, valence: (l: Double, h: Double), core: (l: Double, h: Double)) -> Double? {
        // S = (w·Vl + (1−w)·Cl) / (w·Vh + (1−w)·Ch)  ⇒  w = (S·Ch − Cl) / (Vl − Cl − S·(Vh − Ch)).
        let denominator = valence.l - core.l - target * (valence.h - core.h)
        guard denominator != 0 else { return nil }
        let w = (target * core.h - core.l) / denominator
        return (0...1).contains(w) ? w : nil
    }

    /// Simulates the events for a stoichiometry map `lithium` (rows × columns of 1 − x; NaN for
    /// pixels outside the sample, which get only background and fluorescence), calling `sink`
    /// with batches of events in frame order (so 10⁹ events never sit in memory).
    /// - Parameter intensity: relative number of events per pixel (e.g. the electron density
    ///   the sample presents there); nil: uniform.
    public static func simulate(lithium: [Double], intensity: [Double]? = nil, parameters p: ComptonParameters,
                                sink: ([PhotonEvent]) throws -> Void) throws -> ComptonTruth {
        let pixels = p.rows * p.columns
        guard lithium.count == pixels else {
            throw LensError.invalidArgument("stoichiometry map has \(lithium.count) values for a \(p.rows)×\(p.columns) detector")
        }
        // The pixel of each event: uniform, or by the cumulative intensity.
        var pixelCDF: [Double]?
        if let intensity {
            guard intensity.count == pixels, intensity.allSatisfy({ $0.isFinite && $0 >= 0 }), intensity.contains(where: { $0 > 0 }) else {
                throw LensError.invalidArgument("the intensity map needs \(pixels) finite, non-negative values, not all zero")
            }
            var acc = 0.0
            let cumulative = intensity.map { acc += $0; return acc }
            pixelCDF = cumulative.map { $0 / acc }
        }
        let spectra = componentSpectra(p)
        let windowsOf: ([Double]) throws -> (l: Double, h: Double) = { counts in
            let r = try SParameter.compute(binEdgesKeV: spectra.edges, counts: counts, incidentKeV: p.incidentKeV, angleDegrees: p.angleDegrees)
            return (r.valenceCounts, r.coreCounts)
        }
        let v = try windowsOf(spectra.valence), c = try windowsOf(spectra.core)
        var weights = [Double](repeating: .nan, count: pixels)
        var sValues = [Double](repeating: .nan, count: pixels)
        for i in 0..<pixels where lithium[i].isFinite {
            let s = p.calibration.s(lithium: lithium[i])
            guard let w = valenceWeight(forS: s, valence: v, core: c) else {
                throw LensError.invalidArgument("S = \(s) (for 1 − x = \(lithium[i])) is outside what the profile model can produce")
            }
            weights[i] = w
            sValues[i] = s
        }
        // Cumulative distributions of the four components.
        func cdf(_ x: [Double]) -> [Double] { var acc = 0.0; return x.map { acc += $0; return acc } }
        let cv = cdf(spectra.valence), cc = cdf(spectra.core), cf = cdf(spectra.fluorescence), cb = cdf(spectra.background)
        let comptonFraction = 1 - p.fluorescenceFraction - p.backgroundFraction
        var rng = SeededRandom(seed: p.seed)
        let frames = Swift.max(1, Int((Double(p.totalEvents) / p.eventsPerFrame).rounded()))
        var recorded = 0, shared = 0, singles = 0, singlesRecorded = 0, pairs = 0, alone = 0
        var batch = [PhotonEvent]()
        batch.reserveCapacity(1 << 16)
        let edges = spectra.edges
        func sampleEnergy(pixel: Int) -> Double {
            let u = rng.uniform()
            var choose = rng.uniform(), cumulative: [Double]
            let w = weights[pixel]
            if w.isFinite && choose < comptonFraction {
                choose = rng.uniform()
                cumulative = choose < w ? cv : cc
            } else if choose < comptonFraction + p.fluorescenceFraction || !w.isFinite && choose < 0.5 {
                cumulative = cf
            } else {
                cumulative = cb
            }
            var lo = 0, hi = cumulative.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < u { lo = mid + 1 } else { hi = mid } }
            return edges[lo] + rng.uniform() * gridStepKeV
        }
        for frame in 0..<frames {
            // Events in this frame: Poisson(eventsPerFrame) by inversion.
            var count = 0
            var product = rng.uniform()
            let limit = exp(-Double(p.totalEvents) / Double(frames))
            while product > limit { count += 1; product *= rng.uniform() }
            for _ in 0..<count {
                let pixel: Int
                if let pixelCDF {
                    let u = rng.uniform()
                    var lo = 0, hi = pixels - 1
                    while lo < hi { let mid = (lo + hi) / 2; if pixelCDF[mid] < u { lo = mid + 1 } else { hi = mid } }
                    pixel = lo
                } else {
                    pixel = Swift.min(pixels - 1, Int(rng.uniform() * Double(pixels)))
                }
                let energy = sampleEnergy(pixel: pixel)
                let row = pixel / p.columns, column = pixel % p.columns
                if rng.uniform() < p.chargeSharingProbability {
                    let (dr, dc) = [(0, 1), (0, -1), (1, 0), (-1, 0)][Int(rng.uniform() * 4) % 4]
                    let r2 = row + dr, c2 = column + dc
                    if r2 >= 0 && r2 < p.rows && c2 >= 0 && c2 < p.columns {
                        shared += 1
                        let f = 0.2 + 0.6 * rng.uniform()
                        var pieces = 0
                        for (r, cc, e) in [(row, column, energy * f), (r2, c2, energy * (1 - f))] where e >= p.thresholdKeV {
                            batch.append(PhotonEvent(frame: UInt32(frame), row: UInt16(r), column: UInt16(cc), energyKeV: Float(e)))
                            pieces += 1
                        }
                        if pieces == 2 { pairs += 1 } else if pieces == 1 { alone += 1 }
                        continue
                    }
                }
                singles += 1
                if energy >= p.thresholdKeV {
                    singlesRecorded += 1
                    batch.append(PhotonEvent(frame: UInt32(frame), row: UInt16(row), column: UInt16(column), energyKeV: Float(energy)))
                }
            }
            if batch.count >= 1 << 16 { recorded += batch.count; try sink(batch); batch.removeAll(keepingCapacity: true) }
        }
        if !batch.isEmpty { recorded += batch.count; try sink(batch) }
        return ComptonTruth(parameters: p, lithium: lithium, sParameter: sValues, valenceWeight: weights, recordedEvents: recorded,
                            sharedEvents: shared, singleEvents: singles, singlesRecorded: singlesRecorded, sharedPairsRecorded: pairs,
                            sharedPiecesAlone: alone, gridEdgesKeV: spectra.edges,
                            valenceSpectrum: spectra.valence, coreSpectrum: spectra.core)
    }

    /// Writes events as the 12-byte binary records of ``PhotonEvent``, streaming, atomically.
    public static func writeEvents(lithium: [Double], intensity: [Double]? = nil, parameters: ComptonParameters, to path: String) throws -> ComptonTruth {
        try AtomicOutput.write(to: path) { temporary in
            guard let file = fopen(temporary, "wb") else { throw LensError.badOutput(file: path, problem: "cannot create") }
            defer { fclose(file) }
            return try simulate(lithium: lithium, intensity: intensity, parameters: parameters) { events in
                var bytes = [UInt8]()
                bytes.reserveCapacity(events.count * PhotonEvent.byteSize)
                for e in events { e.append(to: &bytes) }
                guard fwrite(bytes, 1, bytes.count, file) == bytes.count else {
                    throw LensError.badOutput(file: path, problem: "write failed (disk full?)")
                }
            }
        }
    }
}

/// Compton maps of an electrode whose segmented CT is known: each depth region (equal parts of
/// the CT's depth axis, as `compton correlate` splits it) projected onto a Compton grid of
/// `comptonPixelMicrometres` (``ComptonCTCorrelation/project``: the CT's first voxel at the
/// grid's origin, area-weighted), the Li stoichiometry following the region's porosity,
/// 1 − x = base + slope · (porosity − the region's mean porosity), on pixels at least half
/// electrode; the events' density follows the electron density (solid, and electrolyte-filled
/// pores at a quarter of it), so the peak-area map images the electrode as the CT does. The truth of a Compton–CT correlation.
public enum ComptonCTScene {
    public struct Region: Sendable {
        /// 1 − x per pixel (NaN outside the electrode), and the relative event density.
        public var lithium: [Double]
        public var intensity: [Double]
        public var slices: Range<Int>
        public var meanPorosity: Double
        /// 1 − x averaged with the event density as weight: what a region's summed spectrum
        /// measures (denser, less porous pixels count more).
        public var eventWeightedLithium: Double
    }

    public static func regions(labels: Grid<Int32>, phases: ComptonCTCorrelation.Phases, ctVoxelMicrometres: Double, comptonPixelMicrometres: Double,
                               baseLithium: [Double], slope: Double) throws -> (rows: Int, columns: Int, regions: [Region]) {
        guard labels.rank == 3, !baseLithium.isEmpty, labels.shape[0] >= baseLithium.count else {
            throw LensError.invalidArgument("a 3D CT with at least one slice per Compton region is needed, got \(labels.shape) for \(baseLithium.count) regions")
        }
        guard ctVoxelMicrometres > 0, comptonPixelMicrometres > 0, slope.isFinite else { throw LensError.invalidArgument("pixel sizes must be positive and the slope finite") }
        let rows = Int((Double(labels.shape[1]) * ctVoxelMicrometres / comptonPixelMicrometres).rounded(.up))
        let columns = Int((Double(labels.shape[2]) * ctVoxelMicrometres / comptonPixelMicrometres).rounded(.up))
        guard rows * columns >= 9, rows * columns <= 4096 * 4096 else {
            throw LensError.invalidArgument("the CT covers \(rows)×\(columns) Compton pixels of \(comptonPixelMicrometres) µm: choose a pixel size giving at least 3×3 and at most 4096² pixels")
        }
        let depth = labels.shape[0], count = baseLithium.count
        let bounds = ComptonCTCorrelation.equalDepthRegions(depth: depth, count: count)
        let projections = try ComptonCTCorrelation.project(labels: labels, phases: phases, regions: bounds, ctVoxelMicrometres: ctVoxelMicrometres,
                                                           comptonPixelMicrometres: comptonPixelMicrometres, comptonShape: (rows, columns))
        return (rows, columns, try zip(projections, baseLithium).map { projection, base in
            let inside = (0..<(rows * columns)).filter { projection.electrodeFraction[linear: $0] >= 0.5 && projection.porosity[linear: $0].isFinite }
            guard inside.count >= 3 else { throw LensError.invalidArgument("depth region \(projection.slices) has fewer than 3 Compton pixels of electrode") }
            let mean = inside.map { projection.porosity[linear: $0] }.reduce(0, +) / Double(inside.count)
            var lithium = [Double](repeating: .nan, count: rows * columns)
            for i in inside { lithium[i] = base + slope * (projection.porosity[linear: i] - mean) }
            let values = inside.map { lithium[$0] }
            if let lo = values.min(), let hi = values.max(), lo < 0 || hi > 1 {
                throw LensError.invalidArgument(String(format: "depth region %d:%d: 1 − x = %.3g + slope × (porosity − %.3f) spans %.3f…%.3f, outside 0…1; lower --lithium-slope or move the region's --lithium value",
                                                       projection.slices.lowerBound, projection.slices.upperBound, base, mean, lo, hi))
            }
            // Events follow the electron density: the solid, and the electrolyte in the pores at a
            // quarter of it (~1.2 vs ~4.7 g/cm³), with a floor so that empty pixels still see background.
            let intensity = (0..<(rows * columns)).map { i -> Double in
                let s = projection.solidFraction[linear: i], e = projection.electrodeFraction[linear: i]
                return (s.isFinite ? s : 0) + 0.25 * (e.isFinite && s.isFinite ? e - s : 0) + 0.05
            }
            let weight = inside.map { intensity[$0] }.reduce(0, +)
            let weighted = inside.map { intensity[$0] * lithium[$0] }.reduce(0, +) / weight
            return Region(lithium: lithium, intensity: intensity, slices: projection.slices, meanPorosity: mean, eventWeightedLithium: weighted)
        })
    }
}
