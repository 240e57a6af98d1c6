import Diffraction
import Foundation
import LensCore
import Testing

/// Azimuthal integration against pyFAI 2026.9 (`Benchmarks/peers/pyfai_reference.py`, fixture
/// `Fixtures/pyfai_integration.json`): the same frame on a tilted detector, integrated without
/// pixel splitting, with and without the solid-angle and polarization corrections.
@Suite struct AzimuthalIntegrationTests {
    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pyfai_integration.json")
        return try! JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
    }()

    static func geometry() -> DetectorGeometry {
        let g = fixture["geometry"]!, p = fixture["pixel_metres"]!.doubleValue!
        var d = DetectorGeometry(distanceMetres: g["dist"]!.doubleValue!, poni1Metres: g["poni1"]!.doubleValue!, poni2Metres: g["poni2"]!.doubleValue!,
                                 pixel1Metres: p, pixel2Metres: p)
        d.rot1Radians = g["rot1"]!.doubleValue!; d.rot2Radians = g["rot2"]!.doubleValue!; d.rot3Radians = g["rot3"]!.doubleValue!
        return d
    }

    /// 2θ and χ of pixel centres equal pyFAI's to 10⁻⁹ rad (its arrays are float32-rounded
    /// intermediates at worst; a convention error would be ≥ 10⁻³).
    @Test func anglesMatchPyFAI() throws {
        let g = Self.geometry()
        guard case .array(let pixels)? = Self.fixture["pixels"] else { Issue.record("fixture"); return }
        for p in pixels {
            let a = g.angles(row: Int(p["row"]!.doubleValue!), column: Int(p["column"]!.doubleValue!))
            #expect(abs(a.twoTheta - p["two_theta_radians"]!.doubleValue!) < 1e-7)
            #expect(abs(a.chi - p["chi_radians"]!.doubleValue!) < 1e-7)
        }
    }

    /// The integrated profiles equal pyFAI's in bins 2…150: pixel counts within 2 (a pixel on a
    /// bin edge may land on either side by float32 rounding of its 2θ) and intensity and σ to
    /// 10⁻⁵ relative (measured: 0 pixels, 10⁻⁷). pyFAI's first bin also holds the 312 pixels up to one bin width below the range
    /// (its bin index truncates toward zero); ours holds only pixels inside the range, so bin 1
    /// is compared with that difference accounted for.
    @Test func profilesMatchPyFAI() throws {
        let (rows, cols) = (Int(Self.fixture["rows"]!.doubleValue!), Int(Self.fixture["columns"]!.doubleValue!))
        var frame = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols {
            frame[i * cols + j] = Float(100 + Double((7 * i + 13 * j) % 50) + 20 * sin(0.1 * Double(i)) * cos(0.07 * Double(j)))
        } }
        for (name, solid, polarization) in [("plain", false, nil as Double?), ("corrected", true, 0.95)] {
            let integrator = try AzimuthalIntegrator(geometry: Self.geometry(), rows: rows, columns: cols, bins: 150, radialRangeDegrees: 2...14,
                                                     correctSolidAngle: solid, polarizationFactor: polarization)
            let result = frame.withUnsafeBufferPointer { integrator.integrate($0) }
            let reference = Self.fixture[name]!
            guard case .array(let tth)? = reference["two_theta_degrees"], case .array(let intensity)? = reference["intensity"],
                  case .array(let sigma)? = reference["sigma"], case .array(let count)? = reference["count"] else { Issue.record("fixture"); return }
            var worstIntensity = 0.0, worstCount = 0, worstSigma = 0.0
            // Bin 1: pyFAI's count less the pixels within one bin width below 2°.
            let below = (0..<rows).reduce(0) { n, i in n + (0..<cols).filter { j in
                let t = Self.geometry().angles(row: i, column: j).twoTheta * 180 / .pi
                return t >= 2 - 12.0 / 150 && t < 2 }.count }
            #expect(below == 312)
            #expect(abs(result.pixels[0] - (Int(count[0].doubleValue!) - below)) <= 2)
            for k in 1..<150 {
                #expect(abs(integrator.twoThetaDegrees[k] - tth[k].doubleValue!) < 2e-6)   // pyFAI keeps bin centres in float32
                let c = Int(count[k].doubleValue!)
                worstCount = Swift.max(worstCount, abs(result.pixels[k] - c))
                guard c > 0 else { continue }
                worstIntensity = Swift.max(worstIntensity, abs(result.intensity[k] / intensity[k].doubleValue! - 1))
                worstSigma = Swift.max(worstSigma, abs(result.sigma[k] / sigma[k].doubleValue! - 1))
            }
            print(String(format: "pyFAI %@: largest relative difference %.2e (intensity), %.2e (σ); largest count difference %d", name, worstIntensity, worstSigma, worstCount))
            #expect(worstCount <= 2)
            #expect(worstIntensity < 1e-5 && worstSigma < 1e-5)
        }
    }

    /// A PONI file written and read back is the same geometry; one without a pixel size asks for it.
    @Test func poniFilesRoundTrip() throws {
        var g = Self.geometry()
        g.wavelengthAngstrom = 0.2072
        let back = try DetectorGeometry.parsePONI(g.poniText(rows: 200, columns: 240), source: "test.poni")
        #expect(abs(back.distanceMetres - g.distanceMetres) < 1e-12 && abs(back.rot3Radians - g.rot3Radians) < 1e-12)
        #expect(abs(back.pixel1Metres - g.pixel1Metres) < 1e-15 && abs((back.wavelengthAngstrom ?? 0) - 0.2072) < 1e-9)
        #expect(throws: LensError.self) { try DetectorGeometry.parsePONI("Distance: 0.1\nPoni1: 0.01\nPoni2: 0.01\n", source: "bare.poni") }
    }
}
