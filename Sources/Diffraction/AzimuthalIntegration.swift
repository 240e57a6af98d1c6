import Foundation
import LensCore

/// Where a flat area detector sits relative to the sample, in pyFAI's PONI convention (so a
/// `.poni` file from pyFAI-calib2 means the same here): the sample–detector distance along the
/// normal, the point of normal incidence (PONI) along the slow (row, axis 1) and fast (column,
/// axis 2) axes measured from the detector's corner, three rotations (radians, applied rot1,
/// then rot2, then rot3), and the pixel sizes. Pixel (i, j) has its centre at
/// d₁ = (i + ½)·pixel₁, d₂ = (j + ½)·pixel₂.
///
/// With p₁ = d₁ − poni₁, p₂ = d₂ − poni₂ and L the distance, the scattered ray in the lab frame is
///   t₁ = p₁c₂c₃ + p₂(c₃s₁s₂ − c₁s₃) − L(c₁c₃s₂ + s₁s₃)
///   t₂ = p₁c₂s₃ + p₂(c₁c₃ + s₁s₂s₃) − L(c₁s₂s₃ − c₃s₁)
///   t₃ = p₁s₂ − p₂c₂s₁ + L·c₁c₂          (cₖ = cos rotₖ, sₖ = sin rotₖ)
/// and 2θ = atan2(√(t₁² + t₂²), t₃), χ = atan2(t₁, t₂) (pyFAI's geometry; equal to its
/// `center_array` to 10⁻¹⁰ rad in `AzimuthalIntegrationTests`).
public struct DetectorGeometry: Codable, Sendable, Equatable {
    public var distanceMetres: Double
    public var poni1Metres: Double
    public var poni2Metres: Double
    public var rot1Radians = 0.0, rot2Radians = 0.0, rot3Radians = 0.0
    public var pixel1Metres: Double
    public var pixel2Metres: Double
    /// The wavelength the geometry file records (Å), if any.
    public var wavelengthAngstrom: Double?

    public init(distanceMetres: Double, poni1Metres: Double, poni2Metres: Double, pixel1Metres: Double, pixel2Metres: Double) {
        self.distanceMetres = distanceMetres; self.poni1Metres = poni1Metres; self.poni2Metres = poni2Metres
        self.pixel1Metres = pixel1Metres; self.pixel2Metres = pixel2Metres
    }

    /// A detector normal to the beam with the beam at pixel (`row`, `column`) (pixel-centre
    /// coordinates, fractional), as Fit2D's "beam centre and distance" without tilt.
    public static func normal(distanceMillimetres: Double, beamCentreRow row: Double, column: Double, pixelMicrometres: Double) -> DetectorGeometry {
        let p = pixelMicrometres * 1e-6
        return DetectorGeometry(distanceMetres: distanceMillimetres * 1e-3, poni1Metres: (row + 0.5) * p, poni2Metres: (column + 0.5) * p,
                                pixel1Metres: p, pixel2Metres: p)
    }

    public func validate(_ source: String) throws {
        guard distanceMetres.isFinite, distanceMetres > 1e-4, distanceMetres < 100 else {
            throw LensError.invalidArgument("\(source): the sample–detector distance must be 0.1 mm … 100 m, got \(distanceMetres) m")
        }
        guard pixel1Metres.isFinite, pixel2Metres.isFinite, pixel1Metres > 1e-7, pixel2Metres > 1e-7, pixel1Metres < 0.01, pixel2Metres < 0.01 else {
            throw LensError.invalidArgument("\(source): pixel sizes must be 0.1 µm … 10 mm")
        }
        guard [poni1Metres, poni2Metres].allSatisfy({ $0.isFinite && abs($0) < 10 }),
              [rot1Radians, rot2Radians, rot3Radians].allSatisfy({ $0.isFinite && abs($0) <= 2 * Double.pi }) else {
            throw LensError.invalidArgument("\(source): the PONI must be finite (|poni| < 10 m) and rotations within ±2π")
        }
    }

    /// 2θ and χ (radians) of the centre of pixel (row, column).
    @inlinable public func angles(row: Int, column: Int) -> (twoTheta: Double, chi: Double) {
        let p1 = (Double(row) + 0.5) * pixel1Metres - poni1Metres, p2 = (Double(column) + 0.5) * pixel2Metres - poni2Metres
        let t = rayDirection(p1, p2)
        return (atan2((t.0 * t.0 + t.1 * t.1).squareRoot(), t.2), atan2(t.0, t.1))
    }

    /// cos³ of the angle between the pixel's ray and the detector normal: the solid angle a pixel
    /// subtends relative to one at the PONI (pyFAI's solid-angle correction).
    @inlinable public func solidAngle(row: Int, column: Int) -> Double {
        let p1 = (Double(row) + 0.5) * pixel1Metres - poni1Metres, p2 = (Double(column) + 0.5) * pixel2Metres - poni2Metres
        let l = distanceMetres
        let c = l / (l * l + p1 * p1 + p2 * p2).squareRoot()
        return c * c * c
    }

    @inlinable func rayDirection(_ p1: Double, _ p2: Double) -> (Double, Double, Double) {
        let (c1, c2, c3) = (cos(rot1Radians), cos(rot2Radians), cos(rot3Radians))
        let (s1, s2, s3) = (sin(rot1Radians), sin(rot2Radians), sin(rot3Radians))
        let l = distanceMetres
        let t1 = p1 * c2 * c3 + p2 * (c3 * s1 * s2 - c1 * s3) - l * (c1 * c3 * s2 + s1 * s3)
        let t2 = p1 * c2 * s3 + p2 * (c1 * c3 + s1 * s2 * s3) - l * (c1 * s2 * s3 - c3 * s1)
        let t3 = p1 * s2 - p2 * c2 * s1 + l * c1 * c2
        return (t1, t2, t3)
    }

    /// Reads a pyFAI `.poni` file (versions 1–2.1): `Distance`, `Poni1`, `Poni2`, `Rot1…3` in
    /// metres and radians; pixel sizes from `PixelSize1/2` or `Detector_config`'s `pixel1/2`;
    /// `Wavelength` in metres.
    public static func parsePONI(_ text: String, source: String) throws -> DetectorGeometry {
        var values = [String: String]()
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            values[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func number(_ key: String) throws -> Double {
            guard let text = values[key] else { throw LensError.badInput(file: source, problem: "no \(key.capitalized) in the PONI file") }
            guard let v = Double(text), v.isFinite else { throw LensError.badInput(file: source, problem: "\(key.capitalized) is not a number: \(text.prefix(40))") }
            return v
        }
        var pixel1 = try? number("pixelsize1"), pixel2 = try? number("pixelsize2")
        if pixel1 == nil || pixel2 == nil, let config = values["detector_config"], let data = config.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            pixel1 = (object["pixel1"] as? NSNumber)?.doubleValue
            pixel2 = (object["pixel2"] as? NSNumber)?.doubleValue
        }
        guard let pixel1, let pixel2 else {
            throw LensError.badInput(file: source, problem: "the PONI file gives no pixel size (PixelSize1/2 or Detector_config pixel1/pixel2); declare --pixel-um")
        }
        var g = DetectorGeometry(distanceMetres: try number("distance"), poni1Metres: try number("poni1"), poni2Metres: try number("poni2"),
                                 pixel1Metres: pixel1, pixel2Metres: pixel2)
        g.rot1Radians = (try? number("rot1")) ?? 0; g.rot2Radians = (try? number("rot2")) ?? 0; g.rot3Radians = (try? number("rot3")) ?? 0
        if let w = try? number("wavelength") { g.wavelengthAngstrom = w * 1e10 }
        try g.validate(source)
        return g
    }

    /// The `.poni` text of this geometry (pyFAI version 2.1, a generic detector).
    public func poniText(rows: Int, columns: Int) -> String {
        var s = "# Detector geometry (pyFAI PONI convention), written by BatteryLens\nponi_version: 2.1\n"
        s += "Detector: Detector\nDetector_config: {\"pixel1\": \(pixel1Metres), \"pixel2\": \(pixel2Metres), \"max_shape\": [\(rows), \(columns)]}\n"
        s += "Distance: \(distanceMetres)\nPoni1: \(poni1Metres)\nPoni2: \(poni2Metres)\nRot1: \(rot1Radians)\nRot2: \(rot2Radians)\nRot3: \(rot3Radians)\n"
        if let w = wavelengthAngstrom { s += "Wavelength: \(w * 1e-10)\n" }
        return s
    }
}

/// Azimuthal integration of area-detector frames into powder patterns (intensity against 2θ),
/// as pyFAI's `integrate1d` without pixel splitting: each pixel's centre falls in one 2θ bin;
/// a bin's intensity is Σ signal / Σ normalization, the normalization being 1, or the pixel's
/// solid angle (cos³ of its incidence) times its polarization factor
/// P = (1 + cos²2θ − f·cos 2χ·sin²2θ)/2 for a beam polarized with factor f (pyFAI's convention:
/// 0 unpolarized, ≈ 0.95–0.99 at a synchrotron); its standard error, with Poisson counts,
/// √(Σ signal)/Σ normalization. Masked and non-finite pixels are left out. The per-pixel bin
/// and normalization are computed once for a detector and reused for every frame.
public struct AzimuthalIntegrator: Sendable {
    public let geometry: DetectorGeometry
    public let rows: Int, columns: Int
    /// Bin edges in degrees (bins + 1, increasing).
    public let edgesDegrees: [Double]
    /// Per pixel (row-major): its bin, or −1 (masked, outside the range).
    let bin: [Int32]
    let normalization: [Float]

    public var bins: Int { edgesDegrees.count - 1 }
    /// Bin centres, degrees.
    public var twoThetaDegrees: [Double] { (0..<bins).map { (edgesDegrees[$0] + edgesDegrees[$0 + 1]) / 2 } }

    /// - Parameters:
    ///   - mask: per pixel (row-major), true where the pixel is invalid (gaps, dead, beam stop).
    ///   - radialRangeDegrees: the binned 2θ range (nil: from the smallest to the largest pixel 2θ).
    public init(geometry: DetectorGeometry, rows: Int, columns: Int, bins: Int, radialRangeDegrees: ClosedRange<Double>? = nil,
                mask: [Bool]? = nil, correctSolidAngle: Bool = true, polarizationFactor: Double? = nil) throws {
        try geometry.validate("the detector geometry")
        guard rows >= 1, columns >= 1, rows.multipliedReportingOverflow(by: columns).partialValue <= 1 << 28 else {
            throw LensError.invalidArgument("detector frames must be 1 … 2²⁸ pixels, got \(rows) × \(columns)")
        }
        guard (2...100_000).contains(bins) else { throw LensError.invalidArgument("the number of 2θ bins must be 2 … 100000, got \(bins)") }
        if let mask { guard mask.count == rows * columns else { throw LensError.invalidArgument("the mask has \(mask.count) pixels, the frames \(rows * columns)") } }
        if let f = polarizationFactor { guard f.isFinite, f >= -1, f <= 1 else { throw LensError.invalidArgument("the polarization factor must be in −1 … 1, got \(f)") } }
        self.geometry = geometry; self.rows = rows; self.columns = columns
        var tth = [Double](repeating: 0, count: rows * columns)
        var norm = [Float](repeating: 1, count: rows * columns)
        for i in 0..<rows { for j in 0..<columns {
            let k = i * columns + j
            let a = geometry.angles(row: i, column: j)
            tth[k] = a.twoTheta * 180 / .pi
            var n = 1.0
            if correctSolidAngle { n *= geometry.solidAngle(row: i, column: j) }
            if let f = polarizationFactor {
                let c = cos(a.twoTheta), s = sin(a.twoTheta)
                n *= (1 + c * c - f * cos(2 * a.chi) * s * s) / 2
            }
            norm[k] = Float(n)
        } }
        let valid = tth.indices.filter { mask?[$0] != true }
        guard let lowest = valid.map({ tth[$0] }).min(), let highest = valid.map({ tth[$0] }).max() else {
            throw LensError.invalidArgument("every pixel is masked")
        }
        let range = radialRangeDegrees ?? lowest...highest.nextUp
        guard range.lowerBound >= 0, range.upperBound <= 180, range.upperBound > range.lowerBound else {
            throw LensError.invalidArgument("the 2θ range must lie within 0 … 180° and be non-empty, got \(range)")
        }
        let step = (range.upperBound - range.lowerBound) / Double(bins)
        edgesDegrees = (0...bins).map { range.lowerBound + Double($0) * step }
        var bin = [Int32](repeating: -1, count: rows * columns)
        for k in valid where tth[k] >= range.lowerBound && tth[k] < range.upperBound {
            bin[k] = Int32(Swift.min(bins - 1, Int((tth[k] - range.lowerBound) / step)))
        }
        self.bin = bin
        self.normalization = norm
    }

    /// One frame (row-major, rows × columns) integrated: intensity, standard error and pixel
    /// count per bin (bins without pixels: NaN).
    public func integrate(_ frame: UnsafeBufferPointer<Float>) -> (intensity: [Double], sigma: [Double], pixels: [Int]) {
        precondition(frame.count == rows * columns, "frame size differs from the integrator's detector")
        var signal = [Double](repeating: 0, count: bins), norm = signal, counted = [Int](repeating: 0, count: bins)
        bin.withUnsafeBufferPointer { b in normalization.withUnsafeBufferPointer { n in
            for k in 0..<frame.count {
                let j = Int(b[k])
                let v = frame[k]
                guard j >= 0, v.isFinite else { continue }
                signal[j] += Double(v); norm[j] += Double(n[k]); counted[j] += 1
            }
        } }
        let intensity = (0..<bins).map { counted[$0] > 0 ? signal[$0] / norm[$0] : .nan }
        let sigma = (0..<bins).map { counted[$0] > 0 ? Swift.max(signal[$0], 0).squareRoot() / norm[$0] : .nan }
        return (intensity, sigma, counted)
    }
}
