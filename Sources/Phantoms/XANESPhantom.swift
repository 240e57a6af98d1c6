import Foundation
import LensCore

/// The Ni K-edge energy scheme of TXM-XANES mapping (science brief §1, 63 energies over
/// 8178–8570 eV): 10 eV steps before the edge (8178–8308), 1 eV steps across it (8310–8348),
/// 20 eV steps after it (8390–8570).
public enum XANESEnergyScheme {
    public static let nickelK63: [Double] =
        stride(from: 8178.0, through: 8308, by: 10).map { $0 }
        + stride(from: 8310.0, through: 8348, by: 1).map { $0 }
        + stride(from: 8390.0, through: 8570, by: 20).map { $0 }
}

/// A model normalized K-edge spectrum: a smooth step (arctangent of width `edgeWidth`) at
/// `edgeEnergy`, a white line (Gaussian) just above it, and a damped post-edge oscillation —
/// the features state-of-charge analysis uses (edge position, white-line energy and height).
/// Normalized so the pre-edge is 0 and the post-edge tends to 1, as Larch's `pre_edge` output.
public struct ModelEdgeSpectrum: Codable, Sendable, Equatable {
    public var edgeEnergy: Double
    public var edgeWidth: Double = 1.6
    public var whiteLineOffset: Double = 7
    public var whiteLineHeight: Double = 0.55
    public var whiteLineWidth: Double = 4.5
    public var oscillationAmplitude: Double = 0.06
    public var oscillationPeriod: Double = 45

    public init(edgeEnergy: Double) { self.edgeEnergy = edgeEnergy }

    public func value(at e: Double) -> Double {
        let x = e - edgeEnergy
        let step = 0.5 + atan(x / edgeWidth) / .pi
        let dw = x - whiteLineOffset
        let white = whiteLineHeight * exp(-0.5 * dw * dw / (whiteLineWidth * whiteLineWidth))
        let post = x > 10 ? oscillationAmplitude * sin(2 * .pi * (x - 10) / oscillationPeriod) * exp(-(x - 10) / 120) : 0
        return step + white + post * step
    }

    /// Ni³⁺ (discharged, LiNiO₂-like) and Ni⁴⁺ (charged) end members, 2.2 eV apart.
    public static let discharged = ModelEdgeSpectrum(edgeEnergy: 8342.0)
    public static let charged = ModelEdgeSpectrum(edgeEnergy: 8344.2)
}

/// Parameters of a synthetic TXM-XANES stack.
public struct XANESParameters: Codable, Sendable, Equatable {
    public var energiesElectronVolts = XANESEnergyScheme.nickelK63
    /// Edge jump of the thickest pixel in optical density (−ln I/I0 units).
    public var maximumEdgeJump = 1.0
    /// Pre-edge optical density per unit thickness (absorption by other elements).
    public var preEdgeDensity = 0.4
    /// Open-beam counts per pixel; nil: noise-free.
    public var incidentPhotons: Double? = 20_000
    /// Random per-energy image shifts (σ, pixels) and the relative magnification change across
    /// the energy range (zone-plate focal length ∝ E).
    public var shiftSigmaPixels = 0.0
    public var magnificationChange = 0.0
    public var seed: UInt64 = 1
    public init() {}
}

/// The truth of a synthetic stack.
public struct XANESTruth: Codable, Sendable {
    public var energiesElectronVolts: [Double]
    /// Per-energy image shifts (row, column) in pixels and magnifications applied.
    public var shiftsPixels: [[Double]]
    public var magnifications: [Double]
    public var discharged: ModelEdgeSpectrum
    public var charged: ModelEdgeSpectrum
    public var parameters: XANESParameters
}

/// State-of-charge maps → TXM-XANES stacks: each pixel's normalized spectrum is the linear
/// combination (1 − s)·discharged + s·charged (the model LCF fits), scaled by the pixel's
/// thickness into optical density, then turned into transmitted counts with I0 and noise.
public enum XANESSimulator {
    /// - Parameters:
    ///   - stateOfCharge: s ∈ [0, 1] per pixel (y, x) or voxel (z, y, x).
    ///   - thickness: relative thickness (0…1) per pixel; 0 is empty background.
    /// - Returns: transmitted intensity `(energy, …)`, the flat (I0) per energy (`(energy, …)`,
    ///   noise-free), the true edge-energy map (energy where the noise-free normalized spectrum
    ///   crosses 0.5) and the truth record.
    public static func simulate(stateOfCharge: Grid<Float>, thickness: Grid<Float>, parameters: XANESParameters,
                                discharged: ModelEdgeSpectrum = .discharged, charged: ModelEdgeSpectrum = .charged) throws
        -> (intensity: Grid<Float>, flat: Grid<Float>, edgeEnergy: Grid<Float>, truth: XANESTruth) {
        guard stateOfCharge.shape == thickness.shape, stateOfCharge.rank == 2 || stateOfCharge.rank == 3 else {
            throw LensError.invalidArgument("state-of-charge and thickness maps must have the same 2D or 3D shape")
        }
        let energies = parameters.energiesElectronVolts
        guard energies.count >= 2, zip(energies, energies.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw LensError.invalidArgument("energies must be strictly increasing")
        }
        let frame = stateOfCharge.shape
        let n = frame.count
        var rng = SeededRandom(seed: parameters.seed)
        let shifts: [[Double]] = energies.map { _ in parameters.shiftSigmaPixels > 0 ? [parameters.shiftSigmaPixels * rng.normal(), parameters.shiftSigmaPixels * rng.normal()] : [0, 0] }
        let e0 = energies[0], e1 = energies[energies.count - 1]
        let magnifications = energies.map { 1 + parameters.magnificationChange * ($0 - e0) / Swift.max(1e-9, e1 - e0) }
        let stackShape = Shape([energies.count] + frame.dims)
        var intensity = Grid<Float>(shape: stackShape)
        var flat = Grid<Float>(shape: stackShape)
        let soc = stateOfCharge.elements, t = thickness.elements
        let i0 = parameters.incidentPhotons ?? 20_000
        for (k, e) in energies.enumerated() {
            let a = discharged.value(at: e), b = charged.value(at: e)
            var od = [Float](repeating: 0, count: n)
            for i in 0..<n {
                let mu = (1 - Double(soc[i])) * a + Double(soc[i]) * b
                od[i] = Float(Double(t[i]) * (parameters.preEdgeDensity + parameters.maximumEdgeJump * mu))
            }
            let moved = transformFrame(Grid(shape: frame, elements: od), shift: shifts[k], magnification: magnifications[k])
            var local = rng.split(UInt64(k))
            moved.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    let mean = i0 * exp(-Double(p[i]))
                    let value = parameters.incidentPhotons == nil ? mean : Swift.max(0, mean + mean.squareRoot() * local.normal())
                    intensity[linear: k * n + i] = Float(value)
                    flat[linear: k * n + i] = Float(i0)
                }
            }
        }
        // True edge energy: the noise-free mixture's 0.5 crossing on a 0.01 eV grid.
        var edge = [Float](repeating: .nan, count: n)
        var cache = [Int: Float]()
        for i in 0..<n where t[i] > 0 {
            let key = Int((Double(soc[i]) * 10_000).rounded())
            if let v = cache[key] { edge[i] = v; continue }
            let s = Double(key) / 10_000
            var lo = discharged.edgeEnergy - 20, hi = charged.edgeEnergy + 20
            for _ in 0..<60 {
                let mid = (lo + hi) / 2
                let v = (1 - s) * discharged.value(at: mid) + s * charged.value(at: mid)
                if v < 0.5 { lo = mid } else { hi = mid }
            }
            edge[i] = Float((lo + hi) / 2)
            cache[key] = edge[i]
        }
        let truth = XANESTruth(energiesElectronVolts: energies, shiftsPixels: shifts, magnifications: magnifications,
                               discharged: discharged, charged: charged, parameters: parameters)
        return (intensity, flat, Grid(shape: frame, elements: edge), truth)
    }

    /// Shifts (row, column) and magnifies a 2D frame (or each slice of a 3D one) about its
    /// centre by bilinear interpolation (zero outside).
    public static func transformFrame(_ image: Grid<Float>, shift: [Double], magnification: Double) -> Grid<Float> {
        guard shift.contains(where: { $0 != 0 }) || magnification != 1 else { return image }
        let rows = image.shape[image.rank - 2], cols = image.shape[image.rank - 1]
        let planes = image.count / (rows * cols)
        let cy = Double(rows - 1) / 2, cx = Double(cols - 1) / 2
        var out = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { src in
            for p in 0..<planes { for r in 0..<rows { for c in 0..<cols {
                let y = (Double(r) - shift[0] - cy) / magnification + cy
                let x = (Double(c) - shift[1] - cx) / magnification + cx
                let y0 = Int(y.rounded(.down)), x0 = Int(x.rounded(.down))
                let fy = y - Double(y0), fx = x - Double(x0)
                var v = 0.0
                for (yy, wy) in [(y0, 1 - fy), (y0 + 1, fy)] where yy >= 0 && yy < rows {
                    for (xx, wx) in [(x0, 1 - fx), (x0 + 1, fx)] where xx >= 0 && xx < cols {
                        v += wy * wx * Double(src[(p * rows + yy) * cols + xx])
                    }
                }
                out[(p * rows + r) * cols + c] = Float(v)
            } } }
        }
        return Grid(shape: image.shape, geometry: image.geometry, elements: out)
    }

    /// The reference spectra as a table (energy in eV, normalized μ of each end member) on
    /// `energies`, to write as CSV for linear combination fitting.
    public static func referenceTable(energies: [Double], discharged: ModelEdgeSpectrum = .discharged,
                                      charged: ModelEdgeSpectrum = .charged) -> [[Double]] {
        energies.map { [$0, discharged.value(at: $0), charged.value(at: $0)] }
    }
}
