import Foundation
import LensCore
import Signal
import Synchronization

/// Settings of per-pixel XANES analysis. Energies relative to E0 unless named absolute.
public struct XANESSettings: Sendable {
    /// E0 the normalization ranges are relative to (nil: the maximum derivative of the mean
    /// spectrum of the stack — one E0 for every pixel, so every pixel uses the same points).
    public var e0: Double?
    /// nil: Larch's defaults for the energies and E0, with any of the overrides below.
    public var normalization: EdgeNormalizationSettings?
    /// Replace one range or the degree of Larch's defaults (when `normalization` is nil).
    public var preEdgeOverride: ClosedRange<Double>?, postEdgeOverride: ClosedRange<Double>?, postEdgeDegreeOverride: Int?
    /// Pixels whose edge step is below this many pre-edge noise RMS are masked.
    public var minimumJumpToNoise: Double = 5
    /// Where the derivative maximum is searched (relative to E0).
    public var derivativeWindow: ClosedRange<Double> = -15...15
    /// Where the white line is searched (relative to E0), and the parabola's point count.
    public var whiteLineWindow: ClosedRange<Double> = 0...25
    public var whiteLinePoints: Int = 5
    /// Absolute fit window of linear combination fitting (nil: where all references exist).
    public var fitWindow: ClosedRange<Double>?
    public var sumToOne = true
    /// Normalize the references with the data's E0, ranges and degree on the data energies
    /// before fitting (they must then cover every data energy). A mixture of spectra normalized
    /// this way is the same mixture of the normalized references, whatever the ranges; references
    /// normalized elsewhere with other ranges carry a step bias of a few % into the fractions.
    public var normalizeReferences = true
    /// Energy shift (eV) applied to every reference: reference(E − shift) is fitted, for
    /// references measured on another monochromator calibration.
    public var referenceShift = 0.0
    /// Fit one shift for all references instead (on the mean spectrum of the analysed pixels,
    /// within ± `maximumReferenceShift`, starting from `referenceShift`), then use it everywhere.
    public var fitReferenceShift = false
    public var maximumReferenceShift = 5.0
    public init() {}
}

/// Why a pixel has no values in the maps (0 = analysed).
public enum XANESMaskReason: UInt8, Sendable, CaseIterable {
    case valid = 0, nonPositiveIntensity = 1, lowEdgeJump = 2, noEdgeCrossing = 3, estimateFailed = 4
    public var name: String {
        switch self {
        case .valid: return "valid"
        case .nonPositiveIntensity: return "zero or negative intensity"
        case .lowEdgeJump: return "edge jump below threshold"
        case .noEdgeCrossing: return "no half-height crossing"
        case .estimateFailed: return "derivative, white-line or LCF estimate undefined"
        }
    }
    /// The key in summaries (snake_case).
    public var key: String {
        switch self {
        case .valid: return "valid"
        case .nonPositiveIntensity: return "non_positive_intensity"
        case .lowEdgeJump: return "low_edge_jump"
        case .noEdgeCrossing: return "no_edge_crossing"
        case .estimateFailed: return "estimate_failed"
        }
    }
}

/// The stack-wide constants every pixel of a XANES stack is analysed with. They are fixed
/// before the per-pixel pass, so a stack analysed slab by slab gets exactly the maps of the
/// whole stack analysed at once.
public struct XANESCalibration: Sendable, Codable, Equatable {
    /// E0 (eV) the normalization ranges are relative to: given, or the derivative maximum of the
    /// mean optical-density spectrum of all pixels with positive intensity.
    public var e0: Double
    public var normalization: EdgeNormalizationSettings
    /// Noise scale c of σ_OD = c/√I: the square root of the median, over the pixels passing the
    /// edge-jump test, of the pre-edge noise variance over the photon variance (1 for counts).
    public var noiseScale: Double
    /// The energy shift applied to the references (given or fitted), eV.
    public var referenceShift: Double
    public init(e0: Double, normalization: EdgeNormalizationSettings, noiseScale: Double, referenceShift: Double) {
        self.e0 = e0; self.normalization = normalization; self.noiseScale = noiseScale; self.referenceShift = referenceShift
    }
}

/// Per-pixel maps of a XANES stack (NaN exactly where `mask` ≠ 0).
public struct XANESMaps: Sendable {
    public var calibration: XANESCalibration
    public var edgeEnergy: Grid<Float>, edgeEnergySigma: Grid<Float>
    public var derivativeEdgeEnergy: Grid<Float>, derivativeEdgeEnergySigma: Grid<Float>
    public var whiteLineEnergy: Grid<Float>, whiteLineEnergySigma: Grid<Float>
    public var whiteLineHeight: Grid<Float>, whiteLineHeightSigma: Grid<Float>
    public var edgeStep: Grid<Float>, jumpToNoise: Grid<Float>
    /// Per reference: weight and standard error maps (empty without references).
    public var fractions: [Grid<Float>], fractionSigmas: [Grid<Float>]
    public var rFactor: Grid<Float>, reducedChiSquare: Grid<Float>
    public var mask: Grid<UInt8>
    /// Normalized μ per energy (energy, …), NaN at masked pixels.
    public var normalized: Grid<Float>

    public var e0: Double { calibration.e0 }
    public var normalization: EdgeNormalizationSettings { calibration.normalization }
    public var noiseScale: Double { calibration.noiseScale }
    public var referenceShift: Double { calibration.referenceShift }

    /// The maps by name, in the order of ``XANESMapName/all(references:)`` (the mask apart).
    public func map(_ name: XANESMapName) -> Grid<Float> {
        switch name {
        case .edgeEnergy: return edgeEnergy
        case .edgeEnergySigma: return edgeEnergySigma
        case .derivativeEdgeEnergy: return derivativeEdgeEnergy
        case .derivativeEdgeEnergySigma: return derivativeEdgeEnergySigma
        case .whiteLineEnergy: return whiteLineEnergy
        case .whiteLineEnergySigma: return whiteLineEnergySigma
        case .whiteLineHeight: return whiteLineHeight
        case .whiteLineHeightSigma: return whiteLineHeightSigma
        case .edgeStep: return edgeStep
        case .jumpToNoise: return jumpToNoise
        case .fraction(let j, _): return fractions[j]
        case .fractionSigma(let j, _): return fractionSigmas[j]
        case .rFactor: return rFactor
        case .reducedChiSquare: return reducedChiSquare
        }
    }

    public var maskCounts: [XANESMaskReason: Int] {
        var counts = [XANESMaskReason: Int]()
        mask.withUnsafeBufferPointer { for v in $0 { counts[XANESMaskReason(rawValue: v)!, default: 0] += 1 } }
        return counts
    }
}

/// The name of each per-pixel map (the file name the workflow writes it under).
public enum XANESMapName: Sendable, Hashable {
    case edgeEnergy, edgeEnergySigma, derivativeEdgeEnergy, derivativeEdgeEnergySigma
    case whiteLineEnergy, whiteLineEnergySigma, whiteLineHeight, whiteLineHeightSigma
    case edgeStep, jumpToNoise
    /// Reference j's fraction and its σ (the name is the reference's, made file-safe).
    case fraction(Int, String), fractionSigma(Int, String)
    case rFactor, reducedChiSquare

    /// Every map of an analysis with these reference names: the ten edge and white-line maps,
    /// then per reference its fraction and σ, then the R-factor and reduced χ² (with references).
    public static func all(references: [String]) -> [XANESMapName] {
        var names: [XANESMapName] = [.edgeEnergy, .edgeEnergySigma, .derivativeEdgeEnergy, .derivativeEdgeEnergySigma,
                                     .whiteLineEnergy, .whiteLineEnergySigma, .whiteLineHeight, .whiteLineHeightSigma,
                                     .edgeStep, .jumpToNoise]
        for (j, name) in references.enumerated() { names += [.fraction(j, name), .fractionSigma(j, name)] }
        if !references.isEmpty { names += [.rFactor, .reducedChiSquare] }
        return names
    }

    public var fileStem: String {
        switch self {
        case .edgeEnergy: return "edge_energy"
        case .edgeEnergySigma: return "edge_energy_sigma"
        case .derivativeEdgeEnergy: return "derivative_edge_energy"
        case .derivativeEdgeEnergySigma: return "derivative_edge_energy_sigma"
        case .whiteLineEnergy: return "white_line_energy"
        case .whiteLineEnergySigma: return "white_line_energy_sigma"
        case .whiteLineHeight: return "white_line_height"
        case .whiteLineHeightSigma: return "white_line_height_sigma"
        case .edgeStep: return "edge_step"
        case .jumpToNoise: return "jump_to_noise"
        case .fraction(_, let name): return "fraction_\(Self.safe(name))"
        case .fractionSigma(_, let name): return "fraction_\(Self.safe(name))_sigma"
        case .rFactor: return "r_factor"
        case .reducedChiSquare: return "reduced_chi_square"
        }
    }

    /// A reference name as a file-name part: letters, digits, '-' and '_' kept, the rest '_'.
    public static func safe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}

/// Stage 1 of the XANES analysis for one stack or one slab of it: optical density −ln(I/I0)
/// and 1/√I per pixel spectrum (single precision: photon noise is orders above its rounding),
/// pixel-major for the per-pixel stages; the mask of pixels with a non-positive or undefined
/// intensity; and the sum of the valid pixels' spectra and their count, from which E0 comes.
public struct XANESPixelSpectra: Sendable {
    public let energyCount: Int
    /// The stack's (or slab's) shape and geometry: (energy, …).
    public let stackShape: Shape, stackGeometry: GridGeometry
    let od: [Float], rootInverse: [Float]
    let mask: [UInt8]
    public let spectrumSum: [Double]
    public let validCount: Int

    public var frameShape: Shape { Shape(Array(stackShape.dims.dropFirst())) }
    public var pixelCount: Int { mask.count }

    public init(intensity: Grid<Float>, flat: Grid<Float>?) throws {
        guard intensity.rank >= 3 else { throw LensError.invalidArgument("a XANES stack needs (energy, y, x) or (energy, z, y, x), got shape \(intensity.shape)") }
        if let flat, flat.shape != intensity.shape {
            throw LensError.invalidArgument("the flat (I0) has shape \(flat.shape), the stack \(intensity.shape)")
        }
        let ne = intensity.shape[0]
        energyCount = ne; stackShape = intensity.shape; stackGeometry = intensity.geometry
        (od, rootInverse, mask, spectrumSum, validCount) = Self.opticalDensity(intensity: intensity, flat: flat, energyCount: ne)
    }

    /// Filled in parallel by the workers (first touch: the page faults of these large arrays
    /// are spread over the threads).
    static func opticalDensity(intensity: Grid<Float>, flat: Grid<Float>?, energyCount ne: Int)
        -> (od: [Float], rootInverse: [Float], mask: [UInt8], sum: [Double], count: Int) {
        let np = intensity.count / ne
        var od = [Float](unsafeUninitializedCapacity: np * ne) { _, count in count = np * ne }
        var rootInverse = [Float](unsafeUninitializedCapacity: np * ne) { _, count in count = np * ne }
        var mask = [UInt8](repeating: 0, count: np)
        let blockSize = 64, blockCount = (np + blockSize - 1) / blockSize
        // Each worker owns blocks of pixels: their pixel-major od and 1/√I and their mask entries.
        let partialSums: [(sum: [Double], count: Int)] = Parallel.withDisjointWrites(&od) { odp in
            Parallel.withDisjointWrites(&rootInverse) { rip in
                Parallel.withDisjointWrites(&mask) { mp in
                    func compute(_ i: SharedReadBuffer<Float>, _ f: SharedReadBuffer<Float>?) -> [(sum: [Double], count: Int)] {
                        Parallel.mapChunks(count: blockCount, chunks: Parallel.threadCount * 4) { blocks in
                            var sum = [Double](repeating: 0, count: ne), count = 0
                            for b in blocks {
                                // A block of 64 pixels: the stack is read along rows of one energy
                                // (contiguous), the pixel-major outputs stay in cache while filled.
                                let block = (b * blockSize)..<min(np, (b + 1) * blockSize)
                                for k in 0..<ne {
                                    for p in block {
                                        let value = i[k * np + p], reference = f?[k * np + p] ?? 1
                                        guard value > 0, reference > 0, value.isFinite, reference.isFinite else {
                                            mp[p] = XANESMaskReason.nonPositiveIntensity.rawValue
                                            odp[p * ne + k] = .nan; rip[p * ne + k] = .nan
                                            continue
                                        }
                                        odp[p * ne + k] = -log(value / reference)
                                        rip[p * ne + k] = 1 / value.squareRoot()
                                    }
                                }
                                for p in block where mp[p] == 0 {
                                    count += 1
                                    for k in 0..<ne { sum[k] += Double(odp[p * ne + k]) }
                                }
                            }
                            return (sum, count)
                        }
                    }
                    return Parallel.sharing(intensity) { i in
                        if let flat { return Parallel.sharing(flat) { compute(i, $0) } } else { return compute(i, nil) }
                    }
                }
            }
        }
        let sum = (0..<ne).map { k in partialSums.reduce(0.0) { $0 + $1.sum[k] } }
        return (od, rootInverse, mask, sum, partialSums.reduce(0) { $0 + $1.count })
    }
}

/// The XANES model of one stack once E0 is known: energies, one normalization for every pixel,
/// the references and the settings. Its three per-slab passes are what ``XANESAnalysis/analyse``
/// runs on a stack in memory and what a workflow runs slab by slab on a stack streamed from
/// disk: (1) ``XANESPixelSpectra`` and their summed spectrum give E0; (2) ``survey()`` over
/// every slab gives the noise scale and, when asked, the fitted reference shift
/// (``calibration(from:)``); (3) ``maps(_:calibration:)`` per slab.
public struct XANESModel: Sendable {
    public let energies: [Double]
    public let e0: Double
    public let normalization: EdgeNormalizationSettings
    public let references: [ReferenceSpectrum]
    public let settings: XANESSettings
    let normalizer: EdgeNormalizer
    let edgeTest: PixelEdgeTest

    /// - Parameters:
    ///   - meanSpectrum: the mean optical-density spectrum of the stack's valid pixels (E0 is its
    ///     derivative maximum unless `settings.e0` gives it; may be nil then).
    public init(energies: [Double], references: [ReferenceSpectrum], settings: XANESSettings, meanSpectrum: [Double]?) throws {
        try SpectrumCheck.validate(energies: energies, values: energies, name: "energy list")
        let e0: Double
        if let given = settings.e0 {
            e0 = given
        } else {
            guard let meanSpectrum else { throw LensError.numerical("every pixel has zero or negative intensity at some energy") }
            e0 = try EdgeEnergy.maximumDerivative(energies: energies, values: meanSpectrum).energy
        }
        guard e0.isFinite else { throw LensError.numerical("no edge found in the mean spectrum of the stack") }
        let norm = settings.normalization ?? EdgeNormalizationSettings.larchDefaults(energies: energies, e0: e0)
            .overriding(preEdge: settings.preEdgeOverride, postEdge: settings.postEdgeOverride, postEdgeDegree: settings.postEdgeDegreeOverride)
        normalizer = try EdgeNormalizer(energies: energies, e0: e0, settings: norm)
        edgeTest = PixelEdgeTest(normalizer: normalizer)
        self.energies = energies; self.e0 = e0; normalization = norm; self.references = references; self.settings = settings
        // Bad references fail here, before any per-pixel work.
        _ = try linearCombination(shift: settings.referenceShift)
    }

    /// References on the data energies, shifted by `shift` eV and (by default) normalized like
    /// the data; never extrapolated. Nil without references.
    func linearCombination(shift: Double) throws -> LinearCombinationFit? {
        guard !references.isEmpty else { return nil }
        let ne = energies.count
        let shifted = try references.map { try ReferenceSpectrum(name: $0.name, energies: $0.energies.map { $0 + shift }, values: $0.values) }
        let fitReferences = try settings.normalizeReferences
            ? shifted.map { r in
                guard r.energies[0] <= energies[0], r.energies[r.energies.count - 1] >= energies[ne - 1] else {
                    throw LensError.invalidArgument("reference \(r.name) covers \(r.energies[0])–\(r.energies[r.energies.count - 1]) eV\(shift != 0 ? " after a shift of \(shift) eV" : ""), not the stack's \(energies[0])–\(energies[ne - 1]) eV needed to normalize it like the data (references are never extrapolated)")
                }
                let onData = try LinearInterpolation(x: r.energies, y: r.values).values(at: energies)
                let n = onData.withUnsafeBufferPointer { normalizer.normalize($0.baseAddress!) }
                guard n.step > 0 else { throw LensError.invalidArgument("reference \(r.name) has no positive edge step with the data's E0 and ranges") }
                return try ReferenceSpectrum(name: r.name, energies: energies, values: n.normalized)
            }
            : shifted
        return try LinearCombinationFit(references: fitReferences, energies: energies, window: settings.fitWindow, sumToOne: settings.sumToOne)
    }

    /// Pass 2 over the slabs: the edge-jump test of every pixel and its pre-edge noise relative
    /// to photon noise (for the noise scale), and, when the reference shift is to be fitted, the
    /// summed normalized spectrum of the pixels that pass.
    public struct Survey: Sendable {
        let model: XANESModel
        /// Pre-edge noise variance over photon variance of each pixel passing the test.
        public private(set) var noiseRatios: [Double] = []
        /// Pixels with a positive intensity at every energy.
        public private(set) var positivePixels = 0
        var normalizedSum: [Double]

        init(model: XANESModel) {
            self.model = model
            normalizedSum = [Double](repeating: 0, count: model.energies.count)
        }

        public mutating func add(_ spectra: XANESPixelSpectra) throws {
            let ne = model.energies.count
            guard spectra.energyCount == ne else {
                throw LensError.invalidArgument("the energy list has \(ne) values but the stack has \(spectra.energyCount) images")
            }
            let np = spectra.pixelCount
            var ratios = [Double](repeating: .nan, count: np)
            let (edgeTest, minimumJump, mask) = (model.edgeTest, model.settings.minimumJumpToNoise, spectra.mask)
            // Pixel-major od and 1/√I: each worker reads and writes only its own pixels.
            Parallel.sharing(spectra.od) { odp in
                Parallel.sharing(spectra.rootInverse) { rip in
                    Parallel.forEachRowChunk(rows: np, rowLength: 1, minimumChunk: 1024, writing: &ratios) { ratioP in
                        for p in ratioP.rows where mask[p] == 0 {
                            let test = edgeTest(odp.baseAddress! + p * ne, rootInverse: rip.baseAddress! + p * ne)
                            guard test.fit.step > 0, test.jumpToNoise >= minimumJump else { continue }
                            ratioP[p] = test.noiseRatio
                        }
                    }
                }
            }
            if model.settings.fitReferenceShift && !model.references.isEmpty {
                var spectrum = [Double](repeating: 0, count: ne)
                spectra.od.withUnsafeBufferPointer { odp in
                    spectrum.withUnsafeMutableBufferPointer { sp in
                        for p in 0..<np where !ratios[p].isNaN {
                            for k in 0..<ne { sp[k] = Double(odp[p * ne + k]) }
                            model.normalizer.normalize(sp.baseAddress!, into: sp.baseAddress!)
                            for k in 0..<ne { normalizedSum[k] += sp[k] }
                        }
                    }
                }
            }
            noiseRatios += ratios.filter { !$0.isNaN }
            positivePixels += spectra.validCount
        }
    }

    public func survey() -> Survey { Survey(model: self) }

    /// The stack-wide constants from a survey of every pixel: the noise scale, and the reference
    /// shift — given, or the one that best fits the mean normalized spectrum of the pixels that
    /// pass the edge-jump test (golden-section search on the R-factor within ± the maximum).
    public func calibration(from survey: Survey) throws -> XANESCalibration {
        guard survey.positivePixels > 0 else { throw LensError.numerical("every pixel has zero or negative intensity at some energy") }
        let ratios = survey.noiseRatios
        let noiseScale = ratios.isEmpty ? 1 : Statistics.median(ratios).squareRoot()
        var shift = settings.referenceShift
        if settings.fitReferenceShift && !references.isEmpty {
            guard !ratios.isEmpty else { throw LensError.numerical("no pixel passes the edge-jump test: no mean spectrum to fit the reference shift on") }
            let mean = survey.normalizedSum.map { $0 / Double(ratios.count) }
            func misfit(_ delta: Double) -> Double {
                guard let fit = try? linearCombination(shift: delta) else { return .infinity }
                return mean.withUnsafeBufferPointer { fit.fit($0.baseAddress!).rFactor }
            }
            shift = GoldenSection.minimize(in: (shift - settings.maximumReferenceShift)...(shift + settings.maximumReferenceShift), tolerance: 1e-3, misfit)
        }
        return XANESCalibration(e0: e0, normalization: normalization, noiseScale: noiseScale, referenceShift: shift)
    }

    /// Pass 3, per pixel in parallel and in one visit: the edge-jump test, normalized μ (written
    /// energy-major), its σ = c·(1/√I)/step, the edge positions, the white line and the LCF. The
    /// maps are field-major (one contiguous map per field), NaN wherever the mask is set.
    public func maps(_ spectra: XANESPixelSpectra, calibration: XANESCalibration) throws -> XANESMaps {
        let ne = energies.count
        guard spectra.energyCount == ne else {
            throw LensError.invalidArgument("the energy list has \(ne) values but the stack has \(spectra.energyCount) images")
        }
        let np = spectra.pixelCount, frameShape = spectra.frameShape
        let (e0, noiseScale, normalizer, edgeTest, settings, energies) = (self.e0, calibration.noiseScale, self.normalizer, self.edgeTest, self.settings, self.energies)
        let minimumJump = settings.minimumJumpToNoise
        let lcf = try linearCombination(shift: calibration.referenceShift)
        var mask = spectra.mask
        let (od, rootInverse) = (spectra.od, spectra.rootInverse)
        // Stage 3, per pixel in parallel and in one visit: normalized μ (written energy-major),
        // its σ = c·(1/√I)/step, the edge positions, the white line and the LCF. The maps are
        // field-major (one contiguous map per field), NaN wherever the mask is set.
        let nr = references.count
        let fields = XANESFieldLayout(referenceCount: nr)
        let fieldCount = fields.count
        var values = [Float](unsafeUninitializedCapacity: fieldCount * np) { _, count in count = fieldCount * np }
        var normalizedStack = [Float](unsafeUninitializedCapacity: ne * np) { _, count in count = ne * np }
        let derivativeWindow = (e0 + settings.derivativeWindow.lowerBound)...(e0 + settings.derivativeWindow.upperBound)
        let whiteWindow = (e0 + settings.whiteLineWindow.lowerBound)...(e0 + settings.whiteLineWindow.upperBound)
        // Each worker owns its pixels: their fields, normalized spectra and mask entries.
        Parallel.withDisjointWrites(&values) { out in
            Parallel.withDisjointWrites(&normalizedStack) { ns in
                Parallel.withDisjointWrites(&mask) { maskP in
                    Parallel.sharing(od) { odp in
                        Parallel.sharing(rootInverse) { rip in
                            Parallel.forEachChunk(count: np, minimumChunk: 256) { range in
                                var y = [Double](repeating: 0, count: ne), sigma = [Double](repeating: 0, count: ne)
                                var f = [Double](repeating: .nan, count: fieldCount), fractions = [Double](repeating: 0, count: 3 * nr)
                                for p in range {
                                    // Fills the pixel's fields with NaN and masks it (unless already masked).
                                    @inline(__always) func reject(_ reason: XANESMaskReason?) {
                                        if let reason { maskP[p] = reason.rawValue }
                                        for j in 0..<fieldCount { out[j * np + p] = .nan }
                                        for k in 0..<ne { ns[k * np + p] = .nan }
                                    }
                                    guard maskP[p] == 0 else { reject(nil); continue }
                                    let test = edgeTest(odp.baseAddress! + p * ne, rootInverse: rip.baseAddress! + p * ne)
                                    guard test.fit.step > 0, test.jumpToNoise >= minimumJump else { reject(.lowEdgeJump); continue }
                                    let step = test.fit.step, sigmaScale = noiseScale / step
                                    y.withUnsafeMutableBufferPointer { yp in
                                        normalizer.apply(test.fit, to: odp.baseAddress! + p * ne, into: yp.baseAddress!)
                                        for k in 0..<ne { ns[k * np + p] = Float(yp[k]) }
                                    }
                                    sigma.withUnsafeMutableBufferPointer { sp in
                                        for k in 0..<ne { sp[k] = sigmaScale * Double(rip[p * ne + k]) }
                                    }
                                    // The normalization moves the half height as a whole: ½ σ_step/step.
                                    let half = EdgeEnergy.crossing(energies: energies, values: y, near: e0, sigma: sigma,
                                                                   levelSigma: 0.5 * noiseScale * test.relativeStepSigmaPerUnitNoise)
                                    guard half.energy.isFinite else { reject(.noEdgeCrossing); continue }
                                    let derivative = (try? EdgeEnergy.maximumDerivative(energies: energies, values: y, within: derivativeWindow, sigma: sigma)) ?? .missing
                                    let white = EdgeEnergy.whiteLine(energies: energies, values: y, window: whiteWindow, points: settings.whiteLinePoints, sigma: sigma)
                                    typealias F = XANESFieldLayout
                                    f[F.edgeEnergy] = half.energy; f[F.edgeEnergySigma] = half.uncertainty
                                    f[F.derivativeEdgeEnergy] = derivative.energy; f[F.derivativeEdgeEnergySigma] = derivative.uncertainty
                                    f[F.whiteLineEnergy] = white.energy.energy; f[F.whiteLineEnergySigma] = white.energy.uncertainty
                                    f[F.whiteLineHeight] = white.height.energy; f[F.whiteLineHeightSigma] = white.height.uncertainty
                                    f[F.edgeStep] = step; f[F.jumpToNoise] = test.jumpToNoise
                                    if let lcf {
                                        let (rFactor, chi2) = y.withUnsafeBufferPointer { yp in
                                            sigma.withUnsafeBufferPointer { sp in
                                                fractions.withUnsafeMutableBufferPointer { lcf.fit(yp.baseAddress!, sigma: sp.baseAddress!, into: $0.baseAddress!) }
                                            }
                                        }
                                        // The edge step's error scales the whole normalized spectrum: add its
                                        // effect on the weights (∂w/∂h for y·(1 + h), on the fitted face) to the errors.
                                        let relativeStepSigma = noiseScale * test.relativeStepSigmaPerUnitNoise
                                        for j in 0..<nr {
                                            let (w, se, dw) = (fractions[j], fractions[nr + j], fractions[2 * nr + j] * relativeStepSigma)
                                            f[fields.fraction(j)] = w
                                            f[fields.fractionSigma(j)] = (se * se + dw * dw).squareRoot()
                                        }
                                        f[fields.rFactor] = rFactor; f[fields.reducedChiSquare] = chi2
                                    }
                                    // Every map value must be defined at an analysed pixel: a flat derivative, a
                                    // white line without a maximum or a failed fit masks the pixel instead.
                                    let used = lcf == nil ? XANESFieldLayout.scalarCount : fieldCount
                                    guard (0..<used).allSatisfy({ f[$0].isFinite }) else { reject(.estimateFailed); continue }
                                    for j in 0..<fieldCount { out[j * np + p] = Float(f[j]) }
                                }
                            }
                        }
                    }
                }
            }
        }
        func map(_ field: Int) -> Grid<Float> {
            Grid(shape: frameShape, geometry: spectra.stackGeometry.sliceGeometry, elements: Array(values[(field * np)..<((field + 1) * np)]))
        }
        typealias F = XANESFieldLayout
        return XANESMaps(calibration: calibration,
                         edgeEnergy: map(F.edgeEnergy), edgeEnergySigma: map(F.edgeEnergySigma),
                         derivativeEdgeEnergy: map(F.derivativeEdgeEnergy), derivativeEdgeEnergySigma: map(F.derivativeEdgeEnergySigma),
                         whiteLineEnergy: map(F.whiteLineEnergy), whiteLineEnergySigma: map(F.whiteLineEnergySigma),
                         whiteLineHeight: map(F.whiteLineHeight), whiteLineHeightSigma: map(F.whiteLineHeightSigma),
                         edgeStep: map(F.edgeStep), jumpToNoise: map(F.jumpToNoise),
                         fractions: (0..<nr).map { map(fields.fraction($0)) }, fractionSigmas: (0..<nr).map { map(fields.fractionSigma($0)) },
                         rFactor: map(fields.rFactor), reducedChiSquare: map(fields.reducedChiSquare),
                         mask: Grid(shape: frameShape, elements: mask),
                         normalized: Grid(shape: spectra.stackShape, geometry: spectra.stackGeometry, elements: normalizedStack))
    }
}

/// TXM-XANES stacks (energy, y, x) or (energy, z, y, x) of transmitted intensity to maps: optical
/// density −ln(I/I0), Larch-style normalization with one E0 and one set of ranges for all pixels,
/// edge energy at half height and at the derivative maximum, white line, linear combination
/// fitting — each with a per-pixel uncertainty propagated from photon noise σ_OD = c/√I, where
/// c is fitted from the pre-edge residuals of all pixels (so scaled, non-count data work too).
public enum XANESAnalysis {
    /// The three passes of ``XANESModel`` on a stack held in memory.
    public static func analyse(intensity: Grid<Float>, flat: Grid<Float>?, energies: [Double], references: [ReferenceSpectrum] = [],
                               settings: XANESSettings = XANESSettings(), progress: ProgressReporter? = nil) throws -> XANESMaps {
        guard intensity.rank >= 3 else { throw LensError.invalidArgument("a XANES stack needs (energy, y, x) or (energy, z, y, x), got shape \(intensity.shape)") }
        guard intensity.shape[0] == energies.count else {
            throw LensError.invalidArgument("the energy list has \(energies.count) values but the stack has \(intensity.shape[0]) images")
        }
        let spectra = try XANESPixelSpectra(intensity: intensity, flat: flat)
        let mean = spectra.validCount > 0 ? spectra.spectrumSum.map { $0 / Double(spectra.validCount) } : nil
        let model = try XANESModel(energies: energies, references: references, settings: settings, meanSpectrum: mean)
        var survey = model.survey()
        try survey.add(spectra)
        let maps = try model.maps(spectra, calibration: try model.calibration(from: survey))
        progress?.advance(by: spectra.pixelCount)
        return maps
    }
}

/// The edge-jump test of one pixel spectrum: the normalization fits, the step's significance
/// (the step over its own standard error — the pre-edge line extrapolated to E0 and the
/// post-edge fit at E0 — with the pixel's pre-edge noise), and the pre-edge noise relative to
/// photon noise, from optical density and 1/√I.
struct PixelEdgeTest: Sendable {
    let normalizer: EdgeNormalizer
    let preEdge: Range<Int>, postEdge: Range<Int>
    /// Variances of the pre-edge line and the post-edge fit at the step energy per unit noise variance.
    let preAtE0: Double, postAtE0: Double

    init(normalizer: EdgeNormalizer) {
        self.normalizer = normalizer
        (preEdge, postEdge) = (normalizer.preEdge, normalizer.postEdge)
        (preAtE0, postAtE0) = normalizer.stepVarianceFactors
    }

    struct Outcome {
        var fit: EdgeNormalizer.EdgeFit
        /// Edge step over its standard error.
        var jumpToNoise: Double
        /// Pre-edge noise variance over the mean photon variance 1/I there: c² of σ_OD = c/√I.
        var noiseRatio: Double
        /// The step's relative standard error per unit c.
        var relativeStepSigmaPerUnitNoise: Double
    }

    @inline(__always) func callAsFunction(_ od: UnsafePointer<Float>, rootInverse: UnsafePointer<Float>) -> Outcome {
        let fit = normalizer.fit(od)
        var inversePre = 0.0, inversePost = 0.0
        for k in preEdge { let r = Double(rootInverse[k]); inversePre += r * r }
        for k in postEdge { let r = Double(rootInverse[k]); inversePost += r * r }
        inversePre /= Double(preEdge.count); inversePost /= Double(postEdge.count)
        let noise = fit.preEdgeNoise
        return Outcome(fit: fit,
                       jumpToNoise: fit.step / max(1e-300, noise * (preAtE0 + postAtE0 * inversePost / max(1e-300, inversePre)).squareRoot()),
                       noiseRatio: noise * noise / inversePre,
                       relativeStepSigmaPerUnitNoise: (inversePre * preAtE0 + inversePost * postAtE0).squareRoot() / fit.step)
    }
}

/// Where each per-pixel number lives in ``XANESAnalysis``'s field-major output (field j of
/// pixel p at j · pixels + p): the ten edge and white-line fields, then per reference its
/// fraction, then their σ, then the R-factor and the reduced χ².
struct XANESFieldLayout {
    static let edgeEnergy = 0, edgeEnergySigma = 1, derivativeEdgeEnergy = 2, derivativeEdgeEnergySigma = 3
    static let whiteLineEnergy = 4, whiteLineEnergySigma = 5, whiteLineHeight = 6, whiteLineHeightSigma = 7
    static let edgeStep = 8, jumpToNoise = 9
    /// Fields every analysed pixel has (without a linear combination fit).
    static let scalarCount = 10
    let referenceCount: Int
    func fraction(_ j: Int) -> Int { Self.scalarCount + j }
    func fractionSigma(_ j: Int) -> Int { Self.scalarCount + referenceCount + j }
    var rFactor: Int { Self.scalarCount + 2 * referenceCount }
    var reducedChiSquare: Int { rFactor + 1 }
    var count: Int { reducedChiSquare + 1 }
}
