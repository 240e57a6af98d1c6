import Foundation
import LensCore
import Signal

/// Parameters of single-distance phase retrieval.
public struct PaganinParameters: Codable, Sendable, Equatable {
    public var energyKeV: Double
    /// Sample-to-detector distance in mm.
    public var distanceMillimetres: Double
    /// δ/β of the (assumed single) material.
    public var deltaOverBeta: Double
    /// Detector pixel size at the sample in µm.
    public var pixelSizeMicrometres: Double

    public init(energyKeV: Double, distanceMillimetres: Double, deltaOverBeta: Double, pixelSizeMicrometres: Double) {
        self.energyKeV = energyKeV
        self.distanceMillimetres = distanceMillimetres
        self.deltaOverBeta = deltaOverBeta
        self.pixelSizeMicrometres = pixelSizeMicrometres
    }

    public var wavelengthMicrometres: Double { 1.239_841_98e-3 / energyKeV }

    /// The filter's decay length ℓ in pixels: 1/(1 + πλz(δ/β)f²) = 1/(1 + ℓ²(2πf)²), so its
    /// real-space kernel falls off as exp(−r/ℓ).
    public var decayLengthPixels: Double {
        (wavelengthMicrometres * distanceMillimetres * 1000 * deltaOverBeta / (4 * Double.pi)).squareRoot() / pixelSizeMicrometres
    }

    /// Rows of context a row slab needs on each side so the filter sees what it would on the
    /// whole frame (10 decay lengths: e^−10 of the kernel left out).
    public var marginPixels: Int { Int((10 * decayLengthPixels).rounded(.up)) + 2 }

    public func validate() throws {
        guard energyKeV > 0, distanceMillimetres > 0, deltaOverBeta > 0, pixelSizeMicrometres > 0,
              [energyKeV, distanceMillimetres, deltaOverBeta, pixelSizeMicrometres].allSatisfy(\.isFinite) else {
            throw LensError.invalidArgument("Paganin phase retrieval needs positive energy, distance, δ/β and pixel size")
        }
    }
}

/// Single-distance phase retrieval of Paganin et al. (J. Microsc. 206, 33, 2002) for a single
/// material: the transport-of-intensity equation inverts to
/// exp(−μT) = F⁻¹{ F{I/I₀} / (1 + πλz(δ/β)|f|²) },
/// applied to each projection (row, column) frame. Works on line integrals p = −ln(I/I₀): the
/// result is the absorption line integral μT the thick object would have without phase
/// contrast, so reconstruction gives μ in 1/µm as usual (and the projected thickness is p/μ).
/// Frames are padded by edge replication to avoid wrap-around.
public enum PaganinPhaseRetrieval {
    public static func apply(toLineIntegrals projections: inout Grid<Float>, _ parameters: PaganinParameters) throws {
        try parameters.validate()
        guard projections.rank == 3 else { throw LensError.invalidArgument("phase retrieval needs (angle, row, column) projections") }
        let (count, rows, cols) = (projections.shape[0], projections.shape[1], projections.shape[2])
        let margin = parameters.marginPixels
        let pr = FFT.fastLength(atLeast: rows + 2 * Swift.min(margin, 4 * rows)), pc = FFT.fastLength(atLeast: cols + 2 * Swift.min(margin, 4 * cols))
        let (r0, c0) = ((pr - rows) / 2, (pc - cols) / 2)
        let fy = FFT.frequencies(count: pr, spacing: parameters.pixelSizeMicrometres)
        let fx = FFT.frequencies(count: pc, spacing: parameters.pixelSizeMicrometres)
        let factor = Double.pi * parameters.wavelengthMicrometres * parameters.distanceMillimetres * 1000 * parameters.deltaOverBeta
        let bins = pc / 2 + 1
        var filter = [Float](repeating: 0, count: pr * bins)
        for r in 0..<pr { for c in 0..<bins { filter[r * bins + c] = Float(1 / (1 + factor * (fy[r] * fy[r] + fx[c] * fx[c]))) } }
        let frozen = filter
        // Each worker owns whole projections.
        Parallel.withDisjointWrites(&projections) { data in
            Parallel.forEachChunk(count: count, minimumChunk: 1) { range in
                for a in range {
                    var frame = Grid<Float>(shape: Shape(pr, pc))
                    frame.withUnsafeMutableBufferPointer { f in
                        for r in 0..<pr {
                            let rr = Swift.min(rows - 1, Swift.max(0, r - r0))
                            for c in 0..<pc {
                                let cc = Swift.min(cols - 1, Swift.max(0, c - c0))
                                f[r * pc + c] = exp(-data[(a * rows + rr) * cols + cc])
                            }
                        }
                    }
                    var spectrum = FFT.forward(frame, threads: 1)
                    spectrum.withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] = s[i] * frozen[i] } }
                    let filtered = FFT.inverse(spectrum, realShape: frame.shape, threads: 1)
                    filtered.withUnsafeBufferPointer { f in
                        for r in 0..<rows { for c in 0..<cols {
                            data[(a * rows + r) * cols + c] = -log(Swift.max(f[(r + r0) * pc + c + c0], 1e-12))
                        } }
                    }
                }
            }
        }
    }
}
