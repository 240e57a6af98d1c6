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
        let count = projections.shape[0]
        let layout = PhaseFrameLayout(rows: projections.shape[1], columns: projections.shape[2], margin: parameters.marginPixels,
                                      pixelSizeMicrometres: parameters.pixelSizeMicrometres)
        let factor = Double.pi * parameters.wavelengthMicrometres * parameters.distanceMillimetres * 1000 * parameters.deltaOverBeta
        let frozen = layout.halfSpectrum { f2 in Float(1 / (1 + factor * f2)) }
        // Each worker owns whole projections.
        Parallel.withDisjointWrites(&projections) { data in
            Parallel.forEachChunk(count: count, minimumChunk: 1) { range in
                for a in range {
                    var spectrum = FFT.forward(layout.transmission(data, projection: a), threads: 1)
                    spectrum.withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] = s[i] * frozen[i] } }
                    layout.storeLineIntegrals(FFT.inverse(spectrum, realShape: layout.paddedShape, threads: 1), into: data, projection: a)
                }
            }
        }
    }
}

/// The padded frame both phase retrievals filter: each (row, column) projection of line
/// integrals p as its transmission exp(−p), centred in a frame of FFT-friendly size extended by
/// edge replication (against wrap-around), and back as −ln of the interior.
struct PhaseFrameLayout: Sendable {
    let rows: Int, columns: Int
    let paddedRows: Int, paddedColumns: Int
    let rowOffset: Int, columnOffset: Int
    let pixelSizeMicrometres: Double
    var paddedShape: Shape { Shape(paddedRows, paddedColumns) }

    init(rows: Int, columns: Int, margin: Int, pixelSizeMicrometres: Double) {
        self.rows = rows; self.columns = columns; self.pixelSizeMicrometres = pixelSizeMicrometres
        paddedRows = FFT.fastLength(atLeast: rows + 2 * Swift.min(margin, 4 * rows))
        paddedColumns = FFT.fastLength(atLeast: columns + 2 * Swift.min(margin, 4 * columns))
        rowOffset = (paddedRows - rows) / 2; columnOffset = (paddedColumns - columns) / 2
    }

    /// A filter on the real-to-complex half spectrum, from |f|² in 1/µm².
    func halfSpectrum(_ value: (Double) -> Float) -> [Float] {
        halfSpectra(count: 1) { [value($0)] }[0]
    }

    /// `count` filters on the half spectrum computed together (`values` gives all of them at one |f|²).
    func halfSpectra(count: Int, _ values: (Double) -> [Float]) -> [[Float]] {
        let fy = FFT.frequencies(count: paddedRows, spacing: pixelSizeMicrometres), fx = FFT.frequencies(count: paddedColumns, spacing: pixelSizeMicrometres)
        let bins = paddedColumns / 2 + 1
        var filters = [[Float]](repeating: [Float](repeating: 0, count: paddedRows * bins), count: count)
        for r in 0..<paddedRows { for c in 0..<bins {
            let v = values(fy[r] * fy[r] + fx[c] * fx[c])
            for k in 0..<count { filters[k][r * bins + c] = v[k] }
        } }
        return filters
    }

    /// exp(−p) of projection `a` of (angle, row, column) line integrals, padded.
    func transmission(_ data: DisjointWriteBuffer<Float>, projection a: Int) -> Grid<Float> {
        transmission(projection: a) { data[$0] }
    }

    func transmission(_ grid: Grid<Float>, projection a: Int) -> Grid<Float> {
        grid.withUnsafeBufferPointer { g in transmission(projection: a) { g[$0] } }
    }

    private func transmission(projection a: Int, _ line: (Int) -> Float) -> Grid<Float> {
        var frame = Grid<Float>(shape: paddedShape)
        frame.withUnsafeMutableBufferPointer { f in
            for r in 0..<paddedRows {
                let rr = Swift.min(rows - 1, Swift.max(0, r - rowOffset))
                for c in 0..<paddedColumns {
                    let cc = Swift.min(columns - 1, Swift.max(0, c - columnOffset))
                    f[r * paddedColumns + c] = exp(-line((a * rows + rr) * columns + cc))
                }
            }
        }
        return frame
    }

    /// −ln of the interior of a padded transmission frame, into projection `a` of `data`.
    func storeLineIntegrals(_ frame: Grid<Float>, into data: DisjointWriteBuffer<Float>, projection a: Int) {
        frame.withUnsafeBufferPointer { f in
            for r in 0..<rows { for c in 0..<columns {
                data[(a * rows + r) * columns + c] = -log(Swift.max(f[(r + rowOffset) * paddedColumns + c + columnOffset], 1e-12))
            } }
        }
    }
}

/// Parameters of multi-distance phase retrieval (holotomography): the same projections
/// recorded at several sample–detector distances, on one grid (effective distances and pixel
/// size after any cone-beam magnification, the distances' images aligned).
public struct HolotomographyParameters: Codable, Sendable, Equatable {
    public var energyKeV: Double
    /// Effective sample–detector distances in mm, one per recording.
    public var distancesMillimetres: [Double]
    /// δ/β of the (assumed single) material.
    public var deltaOverBeta: Double
    /// Detector pixel size at the sample in µm.
    public var pixelSizeMicrometres: Double
    /// Tikhonov weight α added to Σ_k H_k² where the transfer functions vanish (ramped in with
    /// the largest distance's Fresnel phase χ, whole from χ = π on; none at zero frequency).
    public var regularization: Double
    /// Refinements of the linear (CTF) estimate against the exact Fresnel forward model
    /// (0: the linear estimate alone).
    public var iterations: Int

    public init(energyKeV: Double, distancesMillimetres: [Double], deltaOverBeta: Double, pixelSizeMicrometres: Double, regularization: Double = 0.01,
                iterations: Int = 0) {
        self.energyKeV = energyKeV; self.distancesMillimetres = distancesMillimetres; self.deltaOverBeta = deltaOverBeta
        self.pixelSizeMicrometres = pixelSizeMicrometres; self.regularization = regularization; self.iterations = iterations
    }

    public var wavelengthMicrometres: Double { 1.239_841_98e-3 / energyKeV }

    /// Rows of context a row slab needs on each side: ten of Paganin's decay lengths at the
    /// largest distance (the low-frequency part of the filter) plus four Fresnel-zone widths
    /// √(λz) (its oscillating part).
    public var marginPixels: Int {
        let z = (distancesMillimetres.max() ?? 0) * 1000
        let decay = (wavelengthMicrometres * z * deltaOverBeta / (4 * Double.pi)).squareRoot() / pixelSizeMicrometres
        return Int((10 * decay + 4 * (wavelengthMicrometres * z).squareRoot() / pixelSizeMicrometres).rounded(.up)) + 2
    }

    public func validate() throws {
        guard energyKeV > 0, deltaOverBeta > 0, pixelSizeMicrometres > 0, regularization > 0,
              [energyKeV, deltaOverBeta, pixelSizeMicrometres, regularization].allSatisfy(\.isFinite) else {
            throw LensError.invalidArgument("holotomography needs positive energy, δ/β, pixel size and regularization")
        }
        guard (1...16).contains(distancesMillimetres.count), distancesMillimetres.allSatisfy({ $0 > 0 && $0.isFinite }),
              Set(distancesMillimetres).count == distancesMillimetres.count else {
            throw LensError.invalidArgument("holotomography needs 1–16 distinct positive distances, got \(distancesMillimetres)")
        }
        guard (0...1000).contains(iterations) else { throw LensError.invalidArgument("holotomography refinements must be 0–1000, got \(iterations)") }
    }
}

/// Multi-distance phase retrieval for a single material, the contrast-transfer-function (CTF)
/// approach of holotomography (Cloetens et al., Appl. Phys. Lett. 75, 2912, 1999; least squares
/// over distances as Zabler et al., Rev. Sci. Instrum. 76, 073705, 2005). For a transmission
/// exp(−B + iφ) with φ = −(δ/β)B, the intensity at distance z_k has the spectrum
/// Ĩ_k(f) = H_k(f)·F{exp(−2B)}, H_k = cos χ_k + (δ/β) sin χ_k, χ_k = πλz_k|f|²
/// (first order in the object; for small χ it is Paganin's 1 + πλz(δ/β)|f|²). Each H_k vanishes
/// at some frequencies; several distances fill each other's zeros:
/// F{exp(−μT)} = Σ_k H_k Ĩ_k / (Σ_k H_k² + α(f)), α(f) = α·min(1, χ_max/π),
/// and the line integral μT = −ln of it — Paganin's form where χ is small, and beyond the
/// near field where Paganin's filter smears edges and leaves fringes. Frames are padded by edge
/// replication against wrap-around.
public enum CTFPhaseRetrieval {
    /// Combines the line integrals −ln(I_k/I₀) of the same projections at each distance
    /// (`recordings[k]` at `distancesMillimetres[k]`, each (angle, row, column)) into the
    /// absorption line integrals μT.
    public static func apply(toLineIntegrals recordings: [Grid<Float>], _ parameters: HolotomographyParameters) throws -> Grid<Float> {
        try parameters.validate()
        guard recordings.count == parameters.distancesMillimetres.count else {
            throw LensError.invalidArgument("\(recordings.count) recordings for \(parameters.distancesMillimetres.count) distances")
        }
        guard let first = recordings.first, first.rank == 3, recordings.allSatisfy({ $0.shape == first.shape }) else {
            throw LensError.invalidArgument("holotomography needs (angle, row, column) projections of one shape at every distance")
        }
        let count = first.shape[0]
        let layout = PhaseFrameLayout(rows: first.shape[1], columns: first.shape[2], margin: parameters.marginPixels,
                                      pixelSizeMicrometres: parameters.pixelSizeMicrometres)
        let (pr, pc) = (layout.paddedRows, layout.paddedColumns)
        // Per-distance weights w_k = H_k / (Σ H² + α) on the half spectrum.
        let distances = parameters.distancesMillimetres
        let weights = layout.halfSpectra(count: distances.count) { f2 in
            let h = distances.map { z -> Double in
                let chi = Double.pi * parameters.wavelengthMicrometres * z * 1000 * f2
                return cos(chi) + parameters.deltaOverBeta * sin(chi)
            }
            // α ramps in with the Fresnel phase and is whole from χ = π (the first zeros) on: the
            // low frequencies, where every H_k ≈ 1, stay unbiased (a constant α would scale the
            // mean transmission by K/(K + α)).
            let chi = Double.pi * parameters.wavelengthMicrometres * (distances.max()! * 1000) * f2
            let denominator = h.reduce(0) { $0 + $1 * $1 } + parameters.regularization * Swift.min(1, chi / Double.pi)
            return h.map { Float($0 / denominator) }
        }
        let nearest = distances.indices.min { distances[$0] < distances[$1] }!
        let refining = parameters.iterations > 0
        // The refinement's other start: the nearest distance alone through its own filter
        // H_n / (H_n² + α), Paganin-like and robust for strong phase.
        let nearestWeights = refining && distances.count > 1 ? layout.halfSpectrum { f2 in
            let chi = Double.pi * parameters.wavelengthMicrometres * distances[nearest] * 1000 * f2
            let h = cos(chi) + parameters.deltaOverBeta * sin(chi)
            return Float(h / (h * h + parameters.regularization * Swift.min(1, chi / Double.pi)))
        } : nil
        let propagators = refining
            ? distances.map { FresnelPropagation.propagator(rows: pr, columns: pc, pixelSizeMicrometres: parameters.pixelSizeMicrometres,
                                                            lambdaZ: parameters.wavelengthMicrometres * $0 * 1000) } : []
        /// Σ_k w_k F{frame_k}, back in real space: the CTF inverse of per-distance intensities.
        @Sendable func invert(_ frames: [Grid<Float>], weights: [[Float]]) -> Grid<Float> {
            var combined: Grid<ComplexFloat32>?
            for (k, frame) in frames.enumerated() {
                var spectrum = FFT.forward(frame, threads: 1)
                let w = weights[k]
                spectrum.withUnsafeMutableBufferPointer { s in for i in 0..<s.count { s[i] = s[i] * w[i] } }
                if combined == nil { combined = spectrum } else {
                    combined!.withUnsafeMutableBufferPointer { t in spectrum.withUnsafeBufferPointer { s in for i in 0..<t.count { t[i] = t[i] + s[i] } } }
                }
            }
            return FFT.inverse(combined!, realShape: Shape(pr, pc), threads: 1)
        }
        var output = Grid<Float>(shape: first.shape, geometry: first.geometry)
        Parallel.withDisjointWrites(&output) { out in
            Parallel.forEachChunk(count: count, minimumChunk: 1) { range in
                for a in range {
                    // The measured intensities, padded by edge replication.
                    let measured = recordings.map { layout.transmission($0, projection: a) }
                    var transmission = invert(measured, weights: weights)
                    if refining {
                        let alternative = nearestWeights.map { invert([measured[nearest]], weights: [$0]) }
                        transmission = refine(transmission, alternative: alternative, measured: measured, propagators: propagators,
                                              invert: { invert($0, weights: weights) }, parameters: parameters)
                    }
                    layout.storeLineIntegrals(transmission, into: out, projection: a)
                }
            }
        }
        return output
    }

    /// Refines a transmission estimate against the exact forward model (Gauss–Newton with the
    /// CTF inverse as the approximate inverse Jacobian): x ← x + t·CTF⁻¹(I_measured − I(x)),
    /// the step t halved (up to four times) until the misfit Σ_k‖I_k − I_k(x)‖² falls, and the
    /// refinement stopped where it no longer does. It starts from the better fitting of `start`
    /// (the all-distance linear estimate) and `alternative` (the nearest distance's alone).
    static func refine(_ start: Grid<Float>, alternative: Grid<Float>?, measured: [Grid<Float>], propagators: [[ComplexFloat64]],
                       invert: ([Grid<Float>]) -> Grid<Float>, parameters: HolotomographyParameters) -> Grid<Float> {
        let (pr, pc) = (start.shape[0], start.shape[1])
        func residuals(_ t: Grid<Float>) -> (frames: [Grid<Float>], misfit: Double) {
            let x = t.elements.map { Double(Swift.max($0, 1e-6)) }
            var misfit = 0.0
            let frames = measured.indices.map { k -> Grid<Float> in
                let model = FresnelPropagation.intensity(transmission: x, rows: pr, columns: pc, propagator: propagators[k], deltaOverBeta: parameters.deltaOverBeta)
                var r = measured[k]
                r.withUnsafeMutableBufferPointer { v in for i in 0..<v.count { v[i] -= Float(model[i]); misfit += Double(v[i]) * Double(v[i]) } }
                return r
            }
            return (frames, misfit)
        }
        var x = start
        var current = residuals(x)
        if let alternative {
            let other = residuals(alternative)
            if other.misfit < current.misfit { x = alternative; current = other }
        }
        for _ in 0..<parameters.iterations {
            let step = invert(current.frames)
            var accepted = false
            var t: Float = 1
            for _ in 0..<5 {
                var trial = x
                trial.withUnsafeMutableBufferPointer { v in step.withUnsafeBufferPointer { d in for i in 0..<v.count { v[i] = Swift.max(v[i] + t * d[i], 1e-6) } } }
                let next = residuals(trial)
                if next.misfit < current.misfit { x = trial; current = next; accepted = true; break }
                t /= 2
            }
            if !accepted { break }
        }
        return x
    }
}
