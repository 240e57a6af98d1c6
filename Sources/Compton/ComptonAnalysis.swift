import Foundation
import LensCore
import Signal

/// A straight-line background under the Compton peak: counts per keV at `centreKeV` (the
/// kinematic Compton energy) and the line's slope, with the covariance of the two from the fit
/// that measured them (zero when the line is given).
public struct ComptonBackground: Codable, Sendable, Equatable {
    public var perKeV: Double
    public var slopePerKeV2: Double
    public var centreKeV: Double
    public var levelVariance: Double
    public var slopeVariance: Double
    public var levelSlopeCovariance: Double
    public init(perKeV: Double, slopePerKeV2: Double, centreKeV: Double,
                levelVariance: Double = 0, slopeVariance: Double = 0, levelSlopeCovariance: Double = 0) {
        self.perKeV = perKeV; self.slopePerKeV2 = slopePerKeV2; self.centreKeV = centreKeV
        self.levelVariance = levelVariance; self.slopeVariance = slopeVariance; self.levelSlopeCovariance = levelSlopeCovariance
    }

    /// d(counts)/d(level, slope) over [a, b]: the line's integral is linear in both.
    func gradient(from a: Double, to b: Double) -> (level: Double, slope: Double) {
        let c = centreKeV
        return (b - a, ((b - c) * (b - c) - (a - c) * (a - c)) / 2)
    }

    /// Background counts between energies a and b (keV): the line's integral.
    public func counts(from a: Double, to b: Double) -> Double {
        let g = gradient(from: a, to: b)
        return perKeV * g.level + slopePerKeV2 * g.slope
    }

    /// Covariance of the background counts over two sets of energy intervals (keV), from the
    /// line's covariance: gᵀ C h with g, h the summed gradients.
    public func countsCovariance(_ first: [(Double, Double)], _ second: [(Double, Double)]) -> Double {
        func summed(_ intervals: [(Double, Double)]) -> (Double, Double) {
            intervals.reduce((0.0, 0.0)) { acc, interval in
                let g = gradient(from: interval.0, to: interval.1)
                return (acc.0 + g.level, acc.1 + g.slope)
            }
        }
        let g = summed(first), h = summed(second)
        let value = g.0 * h.0 * levelVariance + g.1 * h.1 * slopeVariance + (g.0 * h.1 + g.1 * h.0) * levelSlopeCovariance
        return value.isFinite ? value : 0
    }
}

/// The Compton peak of one spectrum, fitted as a pseudo-Voigt (Lorentzian–Gaussian) on a
/// linear background (``ComptonAnalysis/profileFit(binning:spectrum:settings:widthsPz:initialCentrePz:)``) over a window that excludes the
/// fluorescence lines (science brief §6).
public struct ComptonPeakFit: Codable, Sendable, Equatable {
    public var centreKeV: Double
    public var centreErrorKeV: Double
    public var fwhmKeV: Double
    public var fwhmErrorKeV: Double
    /// Lorentzian fraction η (0 Gaussian … 1 Lorentzian).
    public var eta: Double
    /// Peak counts and their standard error.
    public var area: Double
    public var areaError: Double
    /// Background counts per keV at the kinematic peak energy, and its slope per keV.
    public var backgroundPerKeV: Double
    public var backgroundSlopePerKeV2: Double
    /// The energy the background line is centred on (the kinematic Compton energy).
    public var backgroundCentreKeV: Double
    public var reducedChiSquared: Double
    public var converged: Bool

    /// The background line the peak sits on.
    public var background: ComptonBackground {
        ComptonBackground(perKeV: backgroundPerKeV, slopePerKeV2: backgroundSlopePerKeV2, centreKeV: backgroundCentreKeV)
    }

    /// Background counts between energies a and b (keV).
    public func backgroundCounts(from a: Double, to b: Double) -> Double { background.counts(from: a, to: b) }
}

/// S = S_L / S_H of one spectrum after background removal, with its counting uncertainty.
public struct ComptonSMeasurement: Codable, Sendable, Equatable {
    public var s: Double
    /// One standard deviation from Poisson statistics of the raw counts in both windows and the
    /// background line's covariance (see ``ComptonAnalysis/sParameter(binning:spectrum:background:settings:)``).
    public var uncertainty: Double
    public var valenceCounts: Double
    public var coreCounts: Double
    public var valenceBackground: Double
    public var coreBackground: Double
}

/// Settings of the Compton analysis, with the published instrument's values as defaults.
public struct ComptonAnalysisSettings: Codable, Sendable, Equatable {
    public var incidentKeV = 115.0
    public var angleDegrees = 90.0
    /// Fit window (keV): above the W and Pb K lines (≤ 85 keV) and reaching past |p_z| = 7 a.u.
    /// (101.5 keV at 115 keV and 90°), where the background is measured.
    public var fitWindowKeV: ClosedRange<Double> = 86...110
    /// The fit window must reach beyond this |p_z| (a.u.) on at least one side, where the
    /// profile has decayed, so the background line is pinned by more than the profile's tails.
    public var backgroundBeyondPz = 7.0
    public var windows = SParameterWindows()
    /// Multiplies S of this depth region (published: 1.015, 1.010, 1.005 for regions 1–3).
    public var attenuationFactor = 1.0
    /// S ↔ (1 − x); nil: no stoichiometry maps.
    public var calibration: SParameter.Calibration?
    /// Pixels need this many background-subtracted counts in the S windows, and a peak that is
    /// one (profile counts ≥ 5σ, centre within 2 a.u. of the region's), to be analysed; others
    /// (outside the sample, dead) are masked.
    public var minimumComptonCounts = 200.0
    public init() {}
}

/// Per-pixel maps of one depth region (row-major; NaN where masked).
public struct ComptonMaps: Sendable {
    public var rows: Int
    public var columns: Int
    public var s: [Double]
    public var sUncertainty: [Double]
    public var lithium: [Double]
    public var lithiumUncertainty: [Double]
    /// The profile model's centre (keV) and total counts per pixel.
    public var peakCentreKeV: [Double]
    public var peakArea: [Double]
    public var mask: [Bool]
}

/// One depth region's result: from its summed spectrum (the table's numbers) and its maps.
public struct ComptonRegionResult: Codable, Sendable {
    public var pixelsAnalysed: Int
    public var fit: ComptonPeakFit
    /// Background line and profile model of the summed spectrum (the line S is measured on).
    public var profile: ComptonProfileFit
    /// From the summed spectrum of the analysed pixels, before the attenuation factor.
    public var measured: ComptonSMeasurement
    public var attenuationFactor: Double
    /// S × attenuation factor, and its uncertainty.
    public var s: Double
    public var sUncertainty: Double
    public var lithium: Double?
    public var lithiumUncertainty: Double?
    /// Mean of the per-pixel S map (unweighted, attenuation factor applied). S of the summed
    /// spectrum weights pixels by their core counts, so on a graded region it reads towards
    /// the pixels with less lithium; the map mean gives the region's mean (1 − x).
    public var meanPixelS: Double
}

public enum ComptonAnalysis {
    /// FWHM / σ of a Gaussian, 2√(2 ln 2), and √(2π): the peak-shape constants, hoisted out of
    /// the per-bin loops.
    static let fwhmPerSigma = 2 * (2 * log(2.0)).squareRoot()
    static let squareRootOfTwoPi = (2 * Double.pi).squareRoot()

    /// Fits the Compton peak of `spectrum` (counts per bin of `binning`): a pseudo-Voigt on the
    /// background line of ``profileFit(binning:spectrum:settings:widthsPz:initialCentrePz:)``
    /// (the peak's centre, width and area as the brief's Lorentzian–Gaussian), weighted by Poisson
    /// σ² = max(1, 5-bin running mean of the counts) (the running mean avoids the low bias of
    /// weighting by each bin's own count).
    ///
    /// The pseudo-Voigt A[ηL + (1 − η)G] is linear in a_L = Aη and a_G = A(1 − η): variable
    /// projection (Golub & Pereyra) fits only centre and FWHM by Levenberg–Marquardt, solving
    /// the two non-negative amplitudes by weighted least squares inside every residual
    /// evaluation — robust and fast enough for every pixel. Standard errors come from the
    /// covariance of all four parameters at the solution. `background`: the line when the
    /// caller has measured it already.
    public static func fitPeak(binning: EnergyBinning, spectrum: [Double], settings: ComptonAnalysisSettings,
                               background known: ComptonBackground? = nil) throws -> ComptonPeakFit {
        let window = settings.fitWindowKeV
        let bins = (0..<binning.count).filter { k in
            let c = binning.lowKeV + (Double(k) + 0.5) * binning.widthKeV
            return c >= window.lowerBound && c <= window.upperBound
        }
        guard bins.count >= 12 else {
            throw LensError.numerical("Compton fit window \(window.lowerBound)–\(window.upperBound) keV holds \(bins.count) energy bins; at least 12 are needed")
        }
        let bg = try known ?? profileFit(binning: binning, spectrum: spectrum, settings: settings).background
        let w = binning.widthKeV
        let x = bins.map { binning.lowKeV + (Double($0) + 0.5) * w }
        let y = bins.map { spectrum[$0] }
        let weight = y.indices.map { i -> Double in
            let lo = Swift.max(0, i - 2), hi = Swift.min(y.count - 1, i + 2)
            return 1 / Swift.max(1, y[lo...hi].reduce(0, +) / Double(hi - lo + 1)).squareRoot()
        }
        let bgCounts = x.map { bg.counts(from: $0 - w / 2, to: $0 + w / 2) }
        let net = zip(y, bgCounts).map { Swift.max(0, $0 - $1) }
        let total = net.reduce(0, +)
        guard total > 0 else { throw LensError.numerical("no Compton peak above the background in \(window.lowerBound)–\(window.upperBound) keV") }
        let mean = zip(x, net).reduce(0) { $0 + $1.0 * $1.1 } / total
        let variance = zip(x, net).reduce(0) { $0 + ($1.0 - mean) * ($1.0 - mean) * $1.1 } / total
        let m = x.count
        // Scratch for the unit shapes at the current centre and width: raw buffers, because a
        // captured array written inside the nested function pays a dynamic exclusivity check
        // per element.
        let lorentz = UnsafeMutableBufferPointer<Double>.allocate(capacity: m), gauss = UnsafeMutableBufferPointer<Double>.allocate(capacity: m)
        defer { lorentz.deallocate(); gauss.deallocate() }
        /// The non-negative amplitudes (a_L, a_G) for a centre and FWHM, by 2×2 weighted least squares.
        func amplitudes(_ centre: Double, _ fwhm: Double) -> (Double, Double) {
            var sll = 0.0, sgg = 0.0, slg = 0.0, sly = 0.0, sgy = 0.0
            // PeakShape's unit-area Lorentzian and Gaussian, with their constants hoisted out of
            // the loop (this runs ~10⁶ times per detector).
            let gamma = fwhm / 2, sigma = fwhm / fwhmPerSigma
            let lorentzScale = gamma / Double.pi * w, gaussScale = w / (sigma * squareRootOfTwoPi), inverseTwoSigma2 = -0.5 / (sigma * sigma)
            for i in 0..<m {
                let d = x[i] - centre
                let l = lorentzScale / (d * d + gamma * gamma) * weight[i]
                let g = gaussScale * exp(d * d * inverseTwoSigma2) * weight[i]
                let t = (y[i] - bgCounts[i]) * weight[i]
                lorentz[i] = l; gauss[i] = g
                sll += l * l; sgg += g * g; slg += l * g; sly += l * t; sgy += g * t
            }
            let det = sll * sgg - slg * slg
            var aL = det > 0 ? (sly * sgg - sgy * slg) / det : 0, aG = det > 0 ? (sgy * sll - sly * slg) / det : 0
            if aL < 0 || aG < 0 || det <= 0 {
                // The better of the two one-component solutions.
                let onlyG = sgg > 0 ? Swift.max(0, sgy / sgg) : 0, onlyL = sll > 0 ? Swift.max(0, sly / sll) : 0
                let costG = sgg * onlyG * onlyG - 2 * sgy * onlyG, costL = sll * onlyL * onlyL - 2 * sly * onlyL
                (aL, aG) = costG <= costL ? (0, onlyG) : (onlyL, 0)
            }
            return (aL, aG)
        }
        var options = LevenbergMarquardt.Options()
        options.relativeTolerance = 1e-7
        let projected = try LevenbergMarquardt.fit(initial: [mean, Swift.max(2 * w, fwhmPerSigma * variance.squareRoot())], residualCount: m, options: options) { p, r in
            let fwhm = Swift.max(Swift.abs(p[1]), w / 10)
            let (aL, aG) = amplitudes(p[0], fwhm)
            for i in 0..<m { r[i] = aL * lorentz[i] + aG * gauss[i] - (y[i] - bgCounts[i]) * weight[i] }
        }
        let centre = projected.parameters[0], fwhm = Swift.max(Swift.abs(projected.parameters[1]), w / 10)
        let (aL, aG) = amplitudes(centre, fwhm)
        // Errors: (JᵀJ)⁻¹ of the weighted residuals of the full model (centre, FWHM, a_L, a_G) at
        // the solution, with the Jacobian taken analytically (∂/∂a: the unit shapes; ∂/∂centre
        // and ∂/∂FWHM: their derivatives).
        var jtj = Matrix(rows: 4, columns: 4)
        do {
            let gamma = fwhm / 2, sigma = fwhm / fwhmPerSigma
            for i in 0..<m {
                let d = x[i] - centre
                let q = d * d + gamma * gamma
                let l = gamma / Double.pi / q, g = exp(-0.5 * d * d / (sigma * sigma)) / (sigma * squareRootOfTwoPi)
                // dL/dc = L·2d/q; dL/dγ = L(1/γ − 2γ/q), γ = f/2. dG/dc = G·d/σ²; dG/dσ = G(d²/σ³ − 1/σ), σ = f / (2√(2 ln 2)).
                let dLdc = l * 2 * d / q, dLdf = l * (1 / gamma - 2 * gamma / q) / 2
                let dGdc = g * d / (sigma * sigma), dGdf = g * (d * d / (sigma * sigma * sigma) - 1 / sigma) / fwhmPerSigma
                let row = [(aL * dLdc + aG * dGdc) * w * weight[i], (aL * dLdf + aG * dGdf) * w * weight[i], l * w * weight[i], g * w * weight[i]]
                for r in 0..<4 { for c in 0...r { jtj[r, c] += row[r] * row[c] } }
            }
            for r in 0..<4 { for c in (r + 1)..<4 { jtj[r, c] = jtj[c, r] } }
        }
        let covariance = jtj.inverseSymmetricPositiveDefinite()
        let area = aL + aG
        func parameterVariance(_ k: Int) -> Double { covariance.map { Swift.max(0, $0[k, k]) } ?? .nan }
        let areaVariance = covariance.map { Swift.max(0, $0[2, 2] + $0[3, 3] + 2 * $0[2, 3]) } ?? .nan
        return ComptonPeakFit(centreKeV: centre, centreErrorKeV: parameterVariance(0).squareRoot(), fwhmKeV: fwhm, fwhmErrorKeV: parameterVariance(1).squareRoot(),
                              eta: area > 0 ? aL / area : 0, area: area, areaError: areaVariance.squareRoot(),
                              backgroundPerKeV: bg.perKeV, backgroundSlopePerKeV2: bg.slopePerKeV2,
                              backgroundCentreKeV: bg.centreKeV, reducedChiSquared: projected.chiSquared / Double(Swift.max(1, m - 4)),
                              converged: projected.converged)
    }

    /// S of `spectrum` with the background line removed from both windows. Counts in the p_z
    /// windows are ∫ J dp_z (the Jacobian cancels; see ``SParameter``). The uncertainty adds to
    /// the Poisson term of the raw counts the background's own variance in each window and their
    /// covariance (one line serves both):
    /// σ_S² = S² [(N_L,raw + var B_L)/N_L² + (N_H,raw + var B_H)/N_H² − 2 cov(B_L, B_H)/(N_L N_H)],
    /// and S = N_L/N_H carries the second-order correction of a ratio's bias (Kendall & Stuart,
    /// ratio estimators): S = (N_L/N_H)(1 − var N_H/N_H² + cov(N_L, N_H)/(N_L N_H)).
    public static func sParameter(binning: EnergyBinning, spectrum: [Double], background: ComptonBackground, settings: ComptonAnalysisSettings) throws -> ComptonSMeasurement {
        let raw = try SParameter.compute(binEdgesKeV: binning.edgesKeV, counts: spectrum, incidentKeV: settings.incidentKeV,
                                         angleDegrees: settings.angleDegrees, windows: settings.windows)
        func energy(_ pz: Double) -> Double { ComptonKinematics.scatteredKeV(momentumAtomicUnits: pz, incidentKeV: settings.incidentKeV, angleDegrees: settings.angleDegrees) }
        let v = settings.windows.valence, c = settings.windows.core
        // The windows as energy intervals (the valence window's inner gap, if any, subtracted).
        let valence = v.lowerBound > 0 ? [(energy(-v.upperBound), energy(-v.lowerBound)), (energy(v.lowerBound), energy(v.upperBound))]
                                        : [(energy(-v.upperBound), energy(v.upperBound))]
        let core = [(energy(-c.upperBound), energy(-c.lowerBound)), (energy(c.lowerBound), energy(c.upperBound))]
        let bL = valence.reduce(0) { $0 + background.counts(from: $1.0, to: $1.1) }
        let bH = core.reduce(0) { $0 + background.counts(from: $1.0, to: $1.1) }
        let nL = raw.valenceCounts - bL, nH = raw.coreCounts - bH
        guard nH > 0, nL > 0 else { throw LensError.numerical("no Compton counts above the background (S_L \(nL), S_H \(nH))") }
        let varianceL = raw.valenceCounts + background.countsCovariance(valence, valence)
        let varianceH = raw.coreCounts + background.countsCovariance(core, core)
        let covariance = background.countsCovariance(valence, core)
        // The ratio of two noisy counts is biased high by S (var N_H / N_H² − cov / (N_L N_H))
        // to second order (0.5 % at a pixel's ~500 core counts, which the map's mean inherits):
        // removed, so pixel S and their mean are unbiased at the counts a pixel has.
        let ratio = nL / nH
        let s = ratio * (1 - varianceH / (nH * nH) + covariance / (nL * nH))
        let relative = varianceL / (nL * nL) + varianceH / (nH * nH) - 2 * covariance / (nL * nH)
        let sigma = ratio * Swift.max(0, relative).squareRoot()
        return ComptonSMeasurement(s: s, uncertainty: sigma, valenceCounts: nL, coreCounts: nH, valenceBackground: bL, coreBackground: bH)
    }

    /// The Compton profile J(p_z) of a spectrum: background-subtracted counts per bin divided by
    /// the bin's width in p_z (the Jacobian dp_z/dE), normalized to ∫ J dp_z = 1 over
    /// |p_z| < `limit`; bins whose centres lie in that range.
    public static func momentumProfile(binning: EnergyBinning, spectrum: [Double], background: ComptonBackground, settings: ComptonAnalysisSettings,
                                       limit: Double = 5) -> (pz: [Double], j: [Double]) {
        var pz = [Double](), j = [Double]()
        func p(_ e: Double) -> Double { ComptonKinematics.momentumAtomicUnits(incidentKeV: settings.incidentKeV, scatteredKeV: e, angleDegrees: settings.angleDegrees) }
        for k in 0..<binning.count {
            let a = binning.lowKeV + Double(k) * binning.widthKeV, b = a + binning.widthKeV
            guard b < settings.incidentKeV else { break }
            let centre = p((a + b) / 2)
            guard abs(centre) < limit else { continue }
            pz.append(centre)
            j.append((spectrum[k] - background.counts(from: a, to: b)) / (p(b) - p(a)))
        }
        var integral = 0.0
        for i in 1..<Swift.max(1, pz.count) { integral += (j[i] + j[i - 1]) / 2 * (pz[i] - pz[i - 1]) }
        return (pz, integral > 0 ? j.map { $0 / integral } : j)
    }

    /// Analyses one depth region: a peak fit and S per pixel (in parallel), the mask of pixels
    /// with enough Compton counts, S and (1 − x) maps with uncertainties, and the region's S
    /// from the summed spectrum of the analysed pixels.
    ///
    /// The profile's widths are a property of the material, not of one pixel: they are fitted
    /// on the summed spectrum of all pixels first, then each pixel fits its background line,
    /// profile amplitudes and centre with those widths held; the region's own summed spectrum
    /// is fitted with free widths at the end.
    public static func analyze(_ spectra: PixelSpectra, settings: ComptonAnalysisSettings,
                               progress: ProgressReporter? = nil) throws -> (maps: ComptonMaps, region: ComptonRegionResult) {
        let n = spectra.pixelCount
        var s = [Double](repeating: .nan, count: n), sSigma = s, centre = s, area = s
        var mask = [Bool](repeating: false, count: n)
        let centres = spectra.binning.centresKeV
        let peakEnergies = [-settings.windows.core.upperBound, settings.windows.core.upperBound].map {
            ComptonKinematics.scatteredKeV(momentumAtomicUnits: $0, incidentKeV: settings.incidentKeV, angleDegrees: settings.angleDegrees)
        }
        let peakBins = centres.indices.filter { centres[$0] >= peakEnergies[0] && centres[$0] <= peakEnergies[1] }
        // The profile's widths from all pixels together.
        let whole = try profileFit(binning: spectra.binning, spectrum: spectra.summed { _ in true }, settings: settings)
        let widths = whole.profile.widthsPz
        /// One analysed pixel's numbers.
        struct PixelResult: Sendable { var s, sigma, centreKeV, area: Double }
        let results: [PixelResult?] = Parallel.map(count: n) { pixel in
            let spectrum = spectra.spectrum(pixel: pixel)
            defer { progress?.advance(by: 1) }
            // Pixels without a Compton peak's worth of counts (outside the sample) skip the fit.
            guard peakBins.reduce(0.0, { $0 + spectrum[$1] }) >= settings.minimumComptonCounts,
                  let profile = try? profileFit(binning: spectra.binning, spectrum: spectrum, settings: settings,
                                                widthsPz: widths, initialCentrePz: whole.profile.centrePz),
                  let m = try? sParameter(binning: spectra.binning, spectrum: spectrum, background: profile.background, settings: settings) else { return nil }
            // A Compton peak, not a background shape the model bent to: a profile of significant
            // counts (≥ 5σ), centred within 2 a.u. (≈ 2 keV) of the region's centre, and enough
            // counts in the S windows.
            let counts = profile.profile.totalCounts
            guard counts >= 5 * profile.countsError, abs(profile.profile.centrePz - whole.profile.centrePz) < 2,
                  m.valenceCounts + m.coreCounts >= settings.minimumComptonCounts, m.s.isFinite, m.uncertainty.isFinite else { return nil }
            let centre = ComptonKinematics.scatteredKeV(momentumAtomicUnits: profile.profile.centrePz, incidentKeV: settings.incidentKeV, angleDegrees: settings.angleDegrees)
            return PixelResult(s: m.s * settings.attenuationFactor, sigma: m.uncertainty * settings.attenuationFactor, centreKeV: centre, area: counts)
        }
        for (pixel, result) in results.enumerated() {
            guard let result else { continue }
            s[pixel] = result.s; sSigma[pixel] = result.sigma; centre[pixel] = result.centreKeV; area[pixel] = result.area
            mask[pixel] = true
        }
        let analysed = mask.filter { $0 }.count
        guard analysed > 0 else {
            // Say what the pixels have, so the user can choose --min-counts or bin pixels.
            let most = (0..<n).map { p in spectra.spectrum(pixel: p) }.map { sp in peakBins.reduce(0.0) { $0 + sp[$1] } }.max() ?? 0
            throw LensError.numerical("no pixel has \(Int(settings.minimumComptonCounts)) Compton counts above the background (the most any pixel holds in |p_z| < \(settings.windows.core.upperBound) a.u., background included, is \(Int(most))); too few events (lower --min-counts), or wrong incident energy/angle (the peak is expected at \(String(format: "%.1f", ComptonKinematics.comptonPeakKeV(incidentKeV: settings.incidentKeV, angleDegrees: settings.angleDegrees))) keV)?")
        }
        var lithium = [Double](repeating: .nan, count: n), lithiumSigma = lithium
        if let calibration = settings.calibration {
            for p in 0..<n where mask[p] {
                lithium[p] = calibration.lithium(s: s[p])
                lithiumSigma[p] = sSigma[p] / Swift.abs(calibration.slope)
            }
        }
        let summed = spectra.summed { mask[$0] }
        let profile = try profileFit(binning: spectra.binning, spectrum: summed, settings: settings, initialCentrePz: whole.profile.centrePz)
        let fit = try fitPeak(binning: spectra.binning, spectrum: summed, settings: settings, background: profile.background)
        let measured = try sParameter(binning: spectra.binning, spectrum: summed, background: profile.background, settings: settings)
        let regionS = measured.s * settings.attenuationFactor, regionSigma = measured.uncertainty * settings.attenuationFactor
        let region = ComptonRegionResult(pixelsAnalysed: analysed, fit: fit, profile: profile, measured: measured, attenuationFactor: settings.attenuationFactor,
                                         s: regionS, sUncertainty: regionSigma,
                                         lithium: settings.calibration.map { $0.lithium(s: regionS) },
                                         lithiumUncertainty: settings.calibration.map { regionSigma / Swift.abs($0.slope) },
                                         meanPixelS: s.filter(\.isFinite).reduce(0, +) / Double(analysed))
        let maps = ComptonMaps(rows: spectra.rows, columns: spectra.columns, s: s, sUncertainty: sSigma, lithium: lithium,
                               lithiumUncertainty: lithiumSigma, peakCentreKeV: centre, peakArea: area, mask: mask)
        return (maps, region)
    }
}
