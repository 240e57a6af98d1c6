import Foundation
import LensCore
import Signal

/// Near-field (Fresnel) propagation of projections for phase-contrast imaging: the forward
/// model that phase retrieval inverts and that the phantoms use to simulate recordings.
///
/// A projection of a weakly absorbing object is the complex transmission
/// T = exp(−B − iΦ), with B = ½∫μ dz (amplitude) and Φ = k∫δ dz = (δ/β)·B for a single
/// material of ratio δ/β (β = μ/(2k)). Free-space propagation over a distance z multiplies its
/// Fourier transform by the Fresnel propagator exp(−iπλz(f_x² + f_y²)); the detector records
/// |propagated|² (Paganin et al., J. Microsc. 2002; the same model Paganin's filter inverts).
public enum FresnelPropagation {
    /// Wavelength in µm of photons of `energyKeV` (λ = hc/E, hc = 1.239 841 98 keV·nm).
    public static func wavelengthMicrometres(energyKeV: Double) -> Double { 1.239_841_98e-3 / energyKeV }

    /// Intensity (relative to the open beam) at `distanceMillimetres` behind the object, for a
    /// projection of line integrals ∫μ dz (dimensionless, as the projector returns) of one
    /// material with ratio δ/β. Each (row, column) frame of `lineIntegrals` (angle, row,
    /// column) is propagated independently; the frame is padded by edge replication to twice its
    /// size to keep the periodic FFT from wrapping fringes around.
    public static func propagate(lineIntegrals: Grid<Float>, pixelSizeMicrometres: Double, energyKeV: Double,
                                 distanceMillimetres: Double, deltaOverBeta: Double) -> Grid<Float> {
        precondition(lineIntegrals.rank == 3, "propagate needs (angle, row, column) projections")
        let (count, rows, cols) = (lineIntegrals.shape[0], lineIntegrals.shape[1], lineIntegrals.shape[2])
        let pr = FFT.fastLength(atLeast: 2 * rows), pc = FFT.fastLength(atLeast: 2 * cols)
        let kernel = propagator(rows: pr, columns: pc, pixelSizeMicrometres: pixelSizeMicrometres,
                                lambdaZ: wavelengthMicrometres(energyKeV: energyKeV) * distanceMillimetres * 1000)
        var output = Grid<Float>(shape: lineIntegrals.shape, geometry: lineIntegrals.geometry)
        for a in 0..<count {
            var transmission = [Double](repeating: 0, count: pr * pc)
            for r in 0..<pr { for c in 0..<pc {
                let rr = Swift.min(rows - 1, Swift.max(0, r - (pr - rows) / 2)), cc = Swift.min(cols - 1, Swift.max(0, c - (pc - cols) / 2))
                transmission[r * pc + c] = exp(-Double(lineIntegrals[a, rr, cc]))
            } }
            let intensity = self.intensity(transmission: transmission, rows: pr, columns: pc, propagator: kernel, deltaOverBeta: deltaOverBeta)
            for r in 0..<rows { for c in 0..<cols { output[a, r, c] = Float(intensity[(r + (pr - rows) / 2) * pc + c + (pc - cols) / 2]) } }
        }
        return output
    }

    /// The Fresnel propagator exp(−iπλz|f|²) on a periodic `rows` × `columns` grid (λz in µm²).
    static func propagator(rows: Int, columns: Int, pixelSizeMicrometres: Double, lambdaZ: Double) -> [ComplexFloat64] {
        let fy = FFT.frequencies(count: rows, spacing: pixelSizeMicrometres), fx = FFT.frequencies(count: columns, spacing: pixelSizeMicrometres)
        var kernel = [ComplexFloat64](repeating: .zero, count: rows * columns)
        for r in 0..<rows { for c in 0..<columns {
            let angle = -Double.pi * lambdaZ * (fy[r] * fy[r] + fx[c] * fx[c])
            kernel[r * columns + c] = ComplexFloat64(cos(angle), sin(angle))
        } }
        return kernel
    }

    /// The recorded intensity of a single-material frame given its transmission exp(−∫μ) on a
    /// periodic grid: the field exp(−B)·exp(−i(δ/β)B), B = −½ ln(transmission), propagated.
    static func intensity(transmission: [Double], rows: Int, columns: Int, propagator: [ComplexFloat64], deltaOverBeta: Double) -> [Double] {
        let field = transmission.map { t -> ComplexFloat64 in
            let b = -0.5 * log(Swift.max(t, 1e-12))
            let phase = -deltaOverBeta * b
            return ComplexFloat64(exp(-b) * cos(phase), exp(-b) * sin(phase))
        }
        var spectrum = FFT.transform(Grid(shape: Shape(rows, columns), elements: field))
        spectrum.withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] = s[i] * propagator[i] } }
        let propagated = FFT.transform(spectrum, inverse: true)
        return propagated.withUnsafeBufferPointer { p in p.map { $0.real * $0.real + $0.imaginary * $0.imaginary } }
    }
}
