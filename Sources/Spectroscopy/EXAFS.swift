import Foundation
import LensCore
import Signal

/// Photo-electron wavenumber: k = √(2mₑ(E − E₀))/ħ in Å⁻¹ for E in eV; 1/ETOK = ħ²/(2mₑ·e)·10²⁰.
public let electronVoltsToInverseAngstromsSquared = 1 / 3.8099819442818976

/// The XAFS Fourier-transform window of Larch's `ftwindow` ("hanning": sin² tapers of width dk
/// centred on kmin and kmax, 1 between), evaluated on a uniform grid `k` as Larch does (taper
/// ends snapped to grid points).
public func hanningWindow(k: [Double], kmin: Double, kmax: Double, dk: Double) -> [Double] {
    let n = k.count
    let step = (k[n - 1] - k[0]) / Double(n - 1)
    let eps = 1e-4 * step
    var x1 = max(k.min()!, kmin - dk / 2), x2 = kmin + dk / 2 + eps
    var x3 = kmax - dk / 2 - eps, x4 = min(k.max()!, kmax + dk / 2)
    func index(_ v: Double) -> Int { min(n - 1, max(0, Int((v + eps) / step))) }
    let (i1, i2, i3, i4) = (index(x1), index(x2), index(x3), index(x4))
    (x1, x2, x3, x4) = (k[i1], k[i2], k[i3], k[i4])
    if x1 == x2 { x2 += eps }
    if x3 == x4 { x4 += eps }
    var w = [Double](repeating: 0, count: n)
    if i3 > i2 { for i in i2..<i3 { w[i] = 1 } }
    for i in i1...i2 { let s = sin(Double.pi / 2 * (k[i] - x1) / (x2 - x1)); w[i] = s * s }
    if i4 >= i3 { for i in i3...i4 { let c = cos(Double.pi / 2 * (k[i] - x3) / (x4 - x3)); w[i] = c * c } }
    return w
}

/// χ(R) of a χ(k) on a uniform k grid: the windowed, k-weighted χ zero-padded to `nfft` points
/// and transformed (Larch's `xftf`: χ(R) = (δk/√π) Σ χ(kₙ)kₙʷW(kₙ) e^{2iπnm/N}, R = πm/(N δk)).
public struct RSpaceSpectrum: Sendable {
    public var r: [Double]
    public var real: [Double], imaginary: [Double]
    public var magnitude: [Double] { zip(real, imaginary).map { ($0 * $0 + $1 * $1).squareRoot() } }

    public struct Settings: Sendable, Codable, Equatable {
        public var kmin = 2.0, kmax = 12.0, dk = 1.0, kweight = 2.0
        public var nfft = 2048, rmax = 10.0
        public init() {}
    }

    public init(k: [Double], chi: [Double], settings: Settings) throws {
        guard k.count == chi.count, k.count >= 4 else { throw LensError.invalidArgument("χ(k) needs at least 4 points on its k grid") }
        let step = k[1] - k[0]
        guard step > 0, step.isFinite, settings.kmin.isFinite, settings.kmax.isFinite, settings.kmin >= 0, settings.kmax > settings.kmin,
              settings.dk >= 0, settings.dk.isFinite, settings.kweight.isFinite, settings.rmax > 0, settings.rmax.isFinite,
              settings.nfft >= 2, settings.nfft <= 1 << 16 else {
            throw LensError.invalidArgument("the Fourier transform needs finite settings with 0 ≤ kmin < kmax, dk ≥ 0, rmax > 0 and nfft 2…65536")
        }
        let window = hanningWindow(k: k, kmin: settings.kmin, kmax: settings.kmax, dk: settings.dk)
        let weighted = (0..<k.count).map { chi[$0] * pow(k[$0], settings.kweight) * window[$0] }
        let full = Self.transform(weighted, nfft: settings.nfft, kstep: step)
        let rstep = Double.pi / (step * Double(settings.nfft))
        let count = min(settings.nfft / 2, Int(1.01 + settings.rmax / rstep))
        r = (0..<count).map { Double($0) * rstep }
        real = Array(full.real.prefix(count)); imaginary = Array(full.imaginary.prefix(count))
    }

    /// (δk/√π)·FFT of the zero-padded values, first nfft/2 points (Larch's `xftf_fast`).
    static func transform(_ values: [Double], nfft: Int, kstep: Double) -> (real: [Double], imaginary: [Double]) {
        let fft = RealFFT<Double>(length: nfft)
        for i in 0..<nfft { fft.input[i] = i < values.count ? values[i] : 0 }
        fft.forward()
        let scale = kstep / Double.pi.squareRoot()
        // FFTW's forward transform has e^{−2iπnm/N}, NumPy's too.
        return ((0..<(nfft / 2)).map { fft.spectrum[$0].real * scale }, (0..<(nfft / 2)).map { fft.spectrum[$0].imaginary * scale })
    }
}

/// EXAFS background removal by the AUTOBK method (Newville, Līviņš, Yacoby, Rehr & Stern,
/// Phys. Rev. B 47, 14126 (1993)), with Larch's conventions: the background μ₀(k) is a cubic
/// B-spline with 1 + 2·rbkg·(kmax − kmin)/π knots evenly spaced in k; its coefficients minimize
/// the low-R part (R < rbkg) of the Fourier transform of χ(k) = (μ − μ₀)/step, with the end of
/// χ(k) clamped towards zero. χ(k) is resampled on a uniform k grid by the interpolating spline.
public struct EXAFSBackground: Sendable {
    public struct Settings: Sendable, Codable, Equatable {
        /// Å: distances below this belong to the background.
        public var rbkg = 1.0
        public var kweight = 1.0, dk = 0.1, kmin = 0.0
        /// nil: the last k of the data.
        public var kmax: Double?
        public var kstep = 0.05, nfft = 2048
        public var clampPoints = 3, clampLow = 0.0, clampHigh = 1.0
        public init() {}
    }
    public var k: [Double], chi: [Double]
    /// μ₀ on the input energies (μ itself below E0).
    public var background: [Double]
    public var ek0: Double, edgeStep: Double
    public var knotCount: Int
    public var iterations: Int

    /// - Parameters:
    ///   - e0: the edge (Larch's `ek0`, usually its E0).
    ///   - edgeStep: χ = (μ − μ₀)/edgeStep.
    public init(energies: [Double], mu: [Double], e0: Double, edgeStep: Double, settings: Settings = Settings()) throws {
        try SpectrumCheck.validate(energies: energies, values: mu, name: "μ(E)")
        guard e0 > energies[0], e0 < energies[energies.count - 1] else { throw LensError.invalidArgument("E0 \(e0) eV is outside the spectrum") }
        guard edgeStep > 0 else { throw LensError.invalidArgument("the edge step must be positive") }
        let etok = electronVoltsToInverseAngstromsSquared
        let iek0 = EdgeNormalizationSettings.indexOf(energies, e0)
        let kraw = energies[iek0...].map { e -> Double in let d = e - e0; return (d < 0 ? -1 : 1) * (etok * abs(d)).squareRoot() }
        let kmax = max(0, min(kraw.max()!, settings.kmax ?? kraw.max()!))
        guard kmax.isFinite, kmax <= 60 else {
            throw LensError.numerical("the spectrum reaches k = \(kmax) Å⁻¹ above E0 (\(energies.max()!) eV); EXAFS needs k ≤ 60 Å⁻¹: check the energy column")
        }
        guard settings.kstep > 0, settings.kstep.isFinite, settings.dk >= 0, settings.dk.isFinite, settings.rbkg > 0, settings.rbkg.isFinite,
              settings.kweight.isFinite, settings.kmin.isFinite, settings.kmin >= 0, settings.nfft >= 2, settings.nfft <= 1 << 16 else {
            throw LensError.invalidArgument("EXAFS settings must be finite with kstep > 0, dk ≥ 0, rbkg > 0, kmin ≥ 0 and nfft 2…65536")
        }
        let kmin = settings.kmin
        let kout = (0..<Int(1.01 + kmax / settings.kstep)).map { settings.kstep * Double($0) }
        let iemax = min(energies.count, 2 + EdgeNormalizationSettings.indexOf(energies, e0 + kmax * kmax / etok)) - 1
        let rgrid = Double.pi / (settings.kstep * Double(settings.nfft))
        let rbkg = max(settings.rbkg, 2 * rgrid)
        let window = hanningWindow(k: kout, kmin: kmin, kmax: kmax, dk: settings.dk).enumerated().map { pow(kout[$0.offset], settings.kweight) * $0.element }
        var nspl = 1 + Int(2 * rbkg * (kmax - kmin) / .pi)
        let irbkg = Int(1 + Double(nspl - 1) * .pi / (2 * rgrid * (kmax - kmin)))
        nspl = max(5, min(128, nspl))
        // Starting values: μ averaged around evenly spaced k.
        var splineK = [Double](), splineY = [Double]()
        for i in 0..<nspl {
            let q = kmin + Double(i) * (kmax - kmin) / Double(nspl - 1)
            let ik = EdgeNormalizationSettings.nearestIndex(kraw, q)
            let (i1, i2) = (min(kraw.count - 1, ik + 5), max(0, ik - 5))
            splineK.append(kraw[ik]); splineY.append((2 * mu[ik + iek0] + mu[i1 + iek0] + mu[i2 + iek0]) / 4)
        }
        guard zip(splineK, splineK.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw LensError.invalidArgument("too few energies above E0 for \(nspl) background knots (rbkg \(rbkg) Å)")
        }
        let knotInterpolator = try CubicSplineInterpolator(x: splineK)
        let start = knotInterpolator.coefficients(splineY)
        let spline = knotInterpolator.spline
        let count = iemax - iek0 + 1
        let kFit = Array(kraw[0..<count]), muFit = Array(mu[iek0...iemax])
        let backgroundBasis = kFit.map { spline.basis(at: $0) }
        let chiInterpolator = try CubicSplineInterpolator(x: kFit)
        let chiBasis = kout.map { chiInterpolator.spline.basis(at: $0) }
        let nclamp = settings.clampPoints
        func chiOnGrid(_ c: [Double]) -> [Double] {
            var difference = [Double](repeating: 0, count: count)
            for i in 0..<count {
                let (first, b) = backgroundBasis[i]
                var bkg = 0.0
                for r in 0..<4 { bkg += c[first + r] * b[r] }
                difference[i] = muFit[i] - bkg
            }
            let coefficients = chiInterpolator.coefficients(difference)
            return chiBasis.map { (first, b) in (0..<4).reduce(0.0) { $0 + coefficients[first + $1] * b[$1] } }
        }
        let residualCount = 2 * irbkg + (nclamp > 0 ? 2 * nclamp : 0)
        let fit = try LevenbergMarquardt.fit(initial: start, residualCount: residualCount, residuals: { c, out in
            let chi = chiOnGrid(c)
            let transformed = RSpaceSpectrum.transform(zip(chi, window).map { $0 * $1 }, nfft: settings.nfft, kstep: settings.kstep)
            var meanSquare = 0.0
            for m in 0..<irbkg {
                out[2 * m] = transformed.real[m]; out[2 * m + 1] = transformed.imaginary[m]
                meanSquare += out[2 * m] * out[2 * m] + out[2 * m + 1] * out[2 * m + 1]
            }
            guard nclamp > 0 else { return }
            let scale = 0.1 + 10 * meanSquare / Double(2 * irbkg)
            for j in 0..<nclamp {
                out[2 * irbkg + j] = abs(settings.clampLow) * scale * chi[j]
                out[2 * irbkg + nclamp + j] = abs(settings.clampHigh) * scale * chi[chi.count - nclamp + j]
            }
        })
        let chi = chiOnGrid(fit.parameters)
        var background = mu
        for i in 0..<count { background[iek0 + i] = spline.value(at: kFit[i], coefficients: fit.parameters) }
        k = kout; self.chi = chi.map { $0 / edgeStep }; self.background = background
        ek0 = e0; self.edgeStep = edgeStep; knotCount = nspl; iterations = fit.iterations
    }
}
