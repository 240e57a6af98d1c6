import Foundation

/// Peak profiles used for Compton, diffraction and XANES fits, parameterized by centre, full
/// width at half maximum (FWHM) and area, so fitted areas are counts and widths are what
/// papers quote.
public enum PeakShape {
    /// Gaussian of unit area: exp(−(x−c)²/(2σ²)) / (σ√(2π)), σ = FWHM / (2√(2 ln 2)).
    public static func gaussian(_ x: Double, centre: Double, fwhm: Double) -> Double {
        let sigma = fwhm / (2 * (2 * log(2.0)).squareRoot())
        let u = (x - centre) / sigma
        return exp(-0.5 * u * u) / (sigma * (2 * Double.pi).squareRoot())
    }

    /// Lorentzian (Cauchy) of unit area: (γ/π) / ((x−c)² + γ²), γ = FWHM / 2.
    public static func lorentzian(_ x: Double, centre: Double, fwhm: Double) -> Double {
        let gamma = fwhm / 2
        let d = x - centre
        return gamma / Double.pi / (d * d + gamma * gamma)
    }

    /// Pseudo-Voigt of unit area: η·L + (1 − η)·G with a shared FWHM, 0 ≤ η ≤ 1.
    public static func pseudoVoigt(_ x: Double, centre: Double, fwhm: Double, eta: Double) -> Double {
        eta * lorentzian(x, centre: centre, fwhm: fwhm) + (1 - eta) * gaussian(x, centre: centre, fwhm: fwhm)
    }
}

/// A pseudo-Voigt peak with its area: the model of one Compton or Bragg peak.
public struct PseudoVoigtPeak: Sendable, Codable, Equatable {
    public var centre: Double
    public var fwhm: Double
    /// Lorentzian fraction, 0 (Gaussian) … 1 (Lorentzian).
    public var eta: Double
    public var area: Double

    public init(centre: Double, fwhm: Double, eta: Double, area: Double) {
        self.centre = centre; self.fwhm = fwhm; self.eta = eta; self.area = area
    }

    public func value(at x: Double) -> Double {
        area * PeakShape.pseudoVoigt(x, centre: centre, fwhm: fwhm, eta: eta)
    }

    /// Height at the centre.
    public var height: Double { value(at: centre) }
}
