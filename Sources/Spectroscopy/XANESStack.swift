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
}

/// Per-pixel maps of a XANES stack (NaN exactly where `mask` ≠ 0).
public struct XANESMaps: Sendable {
    public var e0: Double
    public var normalization: EdgeNormalizationSettings
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
    /// Noise scale c of σ_OD = c/√I, estimated from the pre-edge residuals (1 for photon counts).
    public var noiseScale: Double
    /// The energy shift applied to the references (given or fitted), eV.
    public var referenceShift: Double
    public init(e0: Double, normalization: EdgeNormalizationSettings, edgeEnergy: Grid<Float>, edgeEnergySigma: Grid<Float>,
                derivativeEdgeEnergy: Grid<Float>, derivativeEdgeEnergySigma: Grid<Float>, whiteLineEnergy: Grid<Float>,
                whiteLineEnergySigma: Grid<Float>, whiteLineHeight: Grid<Float>, whiteLineHeightSigma: Grid<Float>,
                edgeStep: Grid<Float>, jumpToNoise: Grid<Float>, fractions: [Grid<Float>], fractionSigmas: [Grid<Float>],
                rFactor: Grid<Float>, reducedChiSquare: Grid<Float>, mask: Grid<UInt8>, normalized: Grid<Float>,
                noiseScale: Double, referenceShift: Double) {
        self.e0 = e0; self.normalization = normalization
        self.edgeEnergy = edgeEnergy; self.edgeEnergySigma = edgeEnergySigma
        self.derivativeEdgeEnergy = derivativeEdgeEnergy; self.derivativeEdgeEnergySigma = derivativeEdgeEnergySigma
        self.whiteLineEnergy = whiteLineEnergy; self.whiteLineEnergySigma = whiteLineEnergySigma
        self.whiteLineHeight = whiteLineHeight; self.whiteLineHeightSigma = whiteLineHeightSigma
        self.edgeStep = edgeStep; self.jumpToNoise = jumpToNoise
        self.fractions = fractions; self.fractionSigmas = fractionSigmas
        self.rFactor = rFactor; self.reducedChiSquare = reducedChiSquare
        self.mask = mask; self.normalized = normalized
        self.noiseScale = noiseScale; self.referenceShift = referenceShift
    }

    public var maskCounts: [XANESMaskReason: Int] {
        var counts = [XANESMaskReason: Int]()
        mask.withUnsafeBufferPointer { for v in $0 { counts[XANESMaskReason(rawValue: v)!, default: 0] += 1 } }
        return counts
    }
}

/// TXM-XANES stacks (energy, y, x) or (energy, z, y, x) of transmitted intensity to maps: optical
/// density −ln(I/I0), Larch-style normalization with one E0 and one set of ranges for all pixels,
/// edge energy at half height and at the derivative maximum, white line, linear combination
/// fitting — each with a per-pixel uncertainty propagated from photon noise σ_OD = c/√I, where
/// c is fitted from the pre-edge residuals of all pixels (so scaled, non-count data work too).
public enum XANESAnalysis {
    public static func analyse(intensity: Grid<Float>, flat: Grid<Float>?, energies: [Double], references: [ReferenceSpectrum] = [],
                               settings: XANESSettings = XANESSettings(), progress: ProgressReporter? = nil) throws -> XANESMaps {
        let ne = energies.count
        guard intensity.rank >= 3 else { throw LensError.invalidArgument("a XANES stack needs (energy, y, x) or (energy, z, y, x), got shape \(intensity.shape)") }
        guard intensity.shape[0] == ne else {
            throw LensError.invalidArgument("the energy list has \(ne) values but the stack has \(intensity.shape[0]) images")
        }
        try SpectrumCheck.validate(energies: energies, values: energies, name: "energy list")
        if let flat, flat.shape != intensity.shape {
            throw LensError.invalidArgument("the flat (I0) has shape \(flat.shape), the stack \(intensity.shape)")
        }
        let frameShape = Shape(Array(intensity.shape.dims.dropFirst()))
        let np = frameShape.count
        // Optical density per pixel spectrum, laid out pixel-major for the per-pixel loops.
        // Filled in parallel by the workers (first touch: the page faults of these large arrays
        // are spread over the threads instead of a serial zero-fill).
        var od = [Double](unsafeUninitializedCapacity: np * ne) { _, count in count = np * ne }
        var inverseCounts = [Double](unsafeUninitializedCapacity: np * ne) { _, count in count = np * ne }
        var mask = [UInt8](repeating: 0, count: np)
        od.withUnsafeMutableBufferPointer { odp in
            inverseCounts.withUnsafeMutableBufferPointer { icp in
                mask.withUnsafeMutableBufferPointer { mp in
                    nonisolated(unsafe) let (odp, icp, mp) = (odp, icp, mp)
                    func compute(_ i: UnsafeBufferPointer<Float>, _ f: UnsafeBufferPointer<Float>?) {
                        nonisolated(unsafe) let (i, f) = (i, f)
                        Parallel.forEachChunk(count: np, minimumChunk: 256) { range in
                            // Blocks of 64 pixels: the stack is read along rows of one energy
                            // (contiguous), the pixel-major outputs stay in cache while filled.
                            for blockStart in stride(from: range.lowerBound, to: range.upperBound, by: 64) {
                                let block = blockStart..<min(range.upperBound, blockStart + 64)
                                for k in 0..<ne {
                                    for p in block {
                                        let value = Double(i[k * np + p]), reference = f.map { Double($0[k * np + p]) } ?? 1
                                        if !(value > 0) || !(reference > 0) || !value.isFinite {
                                            mp[p] = XANESMaskReason.nonPositiveIntensity.rawValue
                                            odp[p * ne + k] = .nan; icp[p * ne + k] = .nan
                                            continue
                                        }
                                        odp[p * ne + k] = -log(value / reference)
                                        icp[p * ne + k] = 1 / value
                                    }
                                }
                            }
                        }
                    }
                    intensity.withUnsafeBufferPointer { i in
                        if let flat { flat.withUnsafeBufferPointer { compute(i, $0) } } else { compute(i, nil) }
                    }
                }
            }
        }
        // One E0 for all pixels: the derivative maximum of the mean spectrum.
        let validPixels = (0..<np).filter { mask[$0] == 0 }
        guard !validPixels.isEmpty else { throw LensError.invalidArgument("every pixel has zero or negative intensity at some energy") }
        var meanSpectrum = [Double](repeating: 0, count: ne)
        od.withUnsafeBufferPointer { o in
            for p in validPixels { for k in 0..<ne { meanSpectrum[k] += o[p * ne + k] } }
        }
        meanSpectrum = meanSpectrum.map { $0 / Double(validPixels.count) }
        let e0 = try settings.e0 ?? EdgeEnergy.maximumDerivative(energies: energies, values: meanSpectrum).energy
        guard e0.isFinite else { throw LensError.numerical("no edge found in the mean spectrum of the stack") }
        let norm = settings.normalization ?? EdgeNormalizationSettings.larchDefaults(energies: energies, e0: e0)
            .overriding(preEdge: settings.preEdgeOverride, postEdge: settings.postEdgeOverride, postEdgeDegree: settings.postEdgeDegreeOverride)
        let normalizer = try EdgeNormalizer(energies: energies, e0: e0, settings: norm)
        let (pre, post) = (normalizer.preEdge, normalizer.postEdge)
        var normalized = [Double](unsafeUninitializedCapacity: np * ne) { _, count in count = np * ne }
        var step = [Double](repeating: .nan, count: np), jump = [Double](repeating: .nan, count: np)
        var noiseRatio = [Double](repeating: .nan, count: np)
        var meanInversePre = [Double](repeating: .nan, count: np), meanInversePost = [Double](repeating: .nan, count: np)
        let (preAtE0, postAtE0) = normalizer.stepVarianceFactors
        // References on the data energies, shifted by `shift` eV and (by default) normalized like
        // the data; never extrapolated.
        func linearCombination(shift: Double) throws -> LinearCombinationFit? {
            guard !references.isEmpty else { return nil }
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
        // Built before the per-pixel work, so bad references fail fast; rebuilt only if a shift is fitted.
        var preparedFit = try linearCombination(shift: settings.referenceShift)

        // Pass 1: normalization and the pre-edge noise of each pixel, in parallel.
        step.withUnsafeMutableBufferPointer { stepP in
        jump.withUnsafeMutableBufferPointer { jumpP in
        noiseRatio.withUnsafeMutableBufferPointer { ratioP in
        meanInversePre.withUnsafeMutableBufferPointer { preP in
        meanInversePost.withUnsafeMutableBufferPointer { postP in
        normalized.withUnsafeMutableBufferPointer { normP in
        mask.withUnsafeMutableBufferPointer { maskP in
        od.withUnsafeBufferPointer { odp in
        inverseCounts.withUnsafeBufferPointer { icp in
            nonisolated(unsafe) let (stepP, jumpP, ratioP, preP, postP, normP, maskP, odp, icp) = (stepP, jumpP, ratioP, preP, postP, normP, maskP, odp, icp)
            let minimumJump = settings.minimumJumpToNoise
            Parallel.forEachChunk(count: validPixels.count, minimumChunk: 256) { range in
                for v in range {
                    let p = validPixels[v]
                    let fit = normalizer.normalize(odp.baseAddress! + p * ne, into: normP.baseAddress! + p * ne)
                    var meanInverse = 0.0, meanPost = 0.0
                    for k in pre { meanInverse += icp[p * ne + k] }
                    for k in post { meanPost += icp[p * ne + k] }
                    meanInverse /= Double(pre.count); meanPost /= Double(post.count)
                    preP[p] = meanInverse; postP[p] = meanPost
                    let s = fit.step, noise = fit.preEdgeNoise
                    // Significance of the jump: the step over its own standard error (the pre-edge line
                    // extrapolated to E0 and the post-edge fit at E0), with the pixel's pre-edge noise.
                    stepP[p] = s; jumpP[p] = s / max(1e-300, noise * (preAtE0 + postAtE0 * meanPost / max(1e-300, meanInverse)).squareRoot())
                    ratioP[p] = noise * noise / meanInverse
                    guard s > 0, jumpP[p] >= minimumJump else { maskP[p] = XANESMaskReason.lowEdgeJump.rawValue; continue }
                }
            }
        } } } } } } } } }
        let ratios = validPixels.compactMap { mask[$0] == 0 ? noiseRatio[$0] : nil }
        let noiseScale = ratios.isEmpty ? 1 : Statistics.median(ratios).squareRoot()
        // One reference shift for all pixels: given, or the one that best fits the mean
        // normalized spectrum of the analysed pixels (golden-section search on the R-factor).
        var shift = settings.referenceShift
        if settings.fitReferenceShift && !references.isEmpty {
            let kept = validPixels.filter { mask[$0] == 0 }
            guard !kept.isEmpty else { throw LensError.numerical("no pixel passes the edge-jump test: no mean spectrum to fit the reference shift on") }
            var mean = [Double](repeating: 0, count: ne)
            for p in kept { for k in 0..<ne { mean[k] += normalized[p * ne + k] } }
            mean = mean.map { $0 / Double(kept.count) }
            func misfit(_ delta: Double) -> Double {
                guard let fit = try? linearCombination(shift: delta) else { return .infinity }
                return mean.withUnsafeBufferPointer { fit.fit($0.baseAddress!).rFactor }
            }
            var (lo, hi) = (shift - settings.maximumReferenceShift, shift + settings.maximumReferenceShift)
            let golden = (5.0.squareRoot() - 1) / 2
            var (a, b) = (hi - golden * (hi - lo), lo + golden * (hi - lo))
            var (fa, fb) = (misfit(a), misfit(b))
            while hi - lo > 1e-3 {
                if fa < fb { hi = b; b = a; fb = fa; a = hi - golden * (hi - lo); fa = misfit(a) }
                else { lo = a; a = b; fa = fb; b = lo + golden * (hi - lo); fb = misfit(b) }
            }
            shift = (lo + hi) / 2
            preparedFit = try linearCombination(shift: shift)
        }
        let lcf = preparedFit
        // Pass 2: edge positions, white line and LCF per pixel, in parallel.
        let analysed = validPixels.filter { mask[$0] == 0 }
        let nr = references.count
        var values = [Float](repeating: .nan, count: np * (10 + 2 * nr + 2))
        let fieldCount = 10 + 2 * nr + 2
        let edgeNear = e0
        let derivativeWindow = (e0 + settings.derivativeWindow.lowerBound)...(e0 + settings.derivativeWindow.upperBound)
        let whiteWindow = (e0 + settings.whiteLineWindow.lowerBound)...(e0 + settings.whiteLineWindow.upperBound)
        let crossingFailed = Mutex<[Int]>([]), estimateFailed = Mutex<[Int]>([])
        let (stepOf, jumpOf, inversePre, inversePost) = (step, jump, meanInversePre, meanInversePost)
        values.withUnsafeMutableBufferPointer { out in
            normalized.withUnsafeBufferPointer { nz in
                inverseCounts.withUnsafeBufferPointer { ic in
                    nonisolated(unsafe) let (out, nz, ic) = (out, nz, ic)
                    Parallel.forEachChunk(count: analysed.count, minimumChunk: 64) { range in
                        var sigma = [Double](repeating: 0, count: ne)
                        var f = [Double](repeating: 0, count: fieldCount)
                        var y = [Double](repeating: 0, count: ne)      // reused: one pixel's normalized μ
                        var failed: [Int] = [], undefined: [Int] = []
                        for a in range {
                            let p = analysed[a]
                            for k in 0..<ne { y[k] = nz[p * ne + k] }
                            for k in 0..<ne { sigma[k] = noiseScale * ic[p * ne + k].squareRoot() / stepOf[p] }
                            let half = EdgeEnergy.crossing(energies: energies, values: y, near: edgeNear, sigma: sigma)
                            guard half.energy.isFinite else { failed.append(p); continue }
                            let derivative = (try? EdgeEnergy.maximumDerivative(energies: energies, values: y, within: derivativeWindow, sigma: sigma)) ?? .missing
                            let white = EdgeEnergy.whiteLine(energies: energies, values: y, window: whiteWindow, points: settings.whiteLinePoints, sigma: sigma)
                            f[0] = half.energy; f[1] = half.uncertainty; f[2] = derivative.energy; f[3] = derivative.uncertainty
                            f[4] = white.energy.energy; f[5] = white.energy.uncertainty; f[6] = white.height.energy; f[7] = white.height.uncertainty
                            f[8] = stepOf[p]; f[9] = jumpOf[p]
                            if let lcf {
                                let result = y.withUnsafeBufferPointer { yp in sigma.withUnsafeBufferPointer { lcf.fit(yp.baseAddress!, sigma: $0.baseAddress!) } }
                                // The edge step's error scales the whole normalized spectrum: add its
                                // effect on the weights (∂w/∂h for y·(1 + h), on the fitted face) to the errors.
                                let relativeStepSigma = noiseScale * (inversePre[p] * preAtE0 + inversePost[p] * postAtE0).squareRoot() / stepOf[p]
                                for j in 0..<nr {
                                    let dw = result.scaleSensitivity[j] * relativeStepSigma
                                    f[10 + j] = result.weights[j]
                                    f[10 + nr + j] = (result.standardErrors[j] * result.standardErrors[j] + dw * dw).squareRoot()
                                }
                                f[10 + 2 * nr] = result.rFactor; f[11 + 2 * nr] = result.reducedChiSquare
                            }
                            // Every map value must be defined at an analysed pixel: a flat derivative, a
                            // white line without a maximum or a failed fit masks the pixel instead.
                            let used = lcf == nil ? 10 : fieldCount
                            guard (0..<used).allSatisfy({ f[$0].isFinite }) else { undefined.append(p); continue }
                            for j in 0..<used { out[p * fieldCount + j] = Float(f[j]) }
                        }
                        if !failed.isEmpty { crossingFailed.withLock { $0 += failed } }
                        if !undefined.isEmpty { estimateFailed.withLock { $0 += undefined } }
                    }
                }
            }
        }
        for p in crossingFailed.withLock({ $0 }) { mask[p] = XANESMaskReason.noEdgeCrossing.rawValue }
        for p in estimateFailed.withLock({ $0 }) { mask[p] = XANESMaskReason.estimateFailed.rawValue }
        progress?.advance(by: np)
        func map(_ field: Int) -> Grid<Float> {
            var out = Grid<Float>(shape: frameShape, geometry: intensity.geometry.sliceGeometry)
            out.withUnsafeMutableBufferPointer { o in
                values.withUnsafeBufferPointer { v in
                    mask.withUnsafeBufferPointer { m in
                        for p in 0..<np { o[p] = m[p] == 0 ? v[p * fieldCount + field] : .nan }
                    }
                }
            }
            return out
        }
        var normalizedStack = [Float](repeating: .nan, count: ne * np)
        let finalMask = mask
        normalizedStack.withUnsafeMutableBufferPointer { ns in
            normalized.withUnsafeBufferPointer { nz in
                nonisolated(unsafe) let (ns, nz) = (ns, nz)
                // Energy-major output, one range of energies per worker (sequential writes).
                Parallel.forEachChunk(count: ne, minimumChunk: 1) { energies in
                    for p in analysed where finalMask[p] == 0 { for k in energies { ns[k * np + p] = Float(nz[p * ne + k]) } }
                }
            }
        }
        return XANESMaps(e0: e0, normalization: norm,
                         edgeEnergy: map(0), edgeEnergySigma: map(1), derivativeEdgeEnergy: map(2), derivativeEdgeEnergySigma: map(3),
                         whiteLineEnergy: map(4), whiteLineEnergySigma: map(5), whiteLineHeight: map(6), whiteLineHeightSigma: map(7),
                         edgeStep: map(8), jumpToNoise: map(9),
                         fractions: (0..<nr).map { map(10 + $0) }, fractionSigmas: (0..<nr).map { map(10 + nr + $0) },
                         rFactor: nr > 0 ? map(10 + 2 * nr) : Grid(shape: frameShape, repeating: .nan),
                         reducedChiSquare: nr > 0 ? map(11 + 2 * nr) : Grid(shape: frameShape, repeating: .nan),
                         mask: Grid(shape: frameShape, elements: mask),
                         normalized: Grid(shape: intensity.shape, geometry: intensity.geometry, elements: normalizedStack),
                         noiseScale: noiseScale, referenceShift: shift)
    }
}
