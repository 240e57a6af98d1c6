import Foundation
import Testing
import LensCore
import Spectroscopy
import SpectroscopyFiles

/// The shared data folder beside the repository (../shared/data; its README gives sources).
let sharedSpectroscopy: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("shared/data/spectroscopy").path
}()

/// Larch's outputs on the same real spectra (Benchmarks/peers/larch_reference.py, xraylarch 2026.3.1).
struct LarchReference: Decodable {
    struct Normalization: Decodable {
        var e0: Double, edge_step: Double, pre1: Double, pre2: Double, norm1: Double, norm2: Double, nnorm: Int
        var norm: [Double]
        var file: String?, mu_column: String?
        var index: Int?
        var k: [Double]?, chi: [Double]?, r: [Double]?, chir_mag: [Double]?
        var xftf: Transform?
        struct Transform: Decodable { var kmin: Double, kmax: Double, dk: Double, kweight: Double }
        var settings: EdgeNormalizationSettings { EdgeNormalizationSettings(preEdge: pre1...pre2, postEdge: norm1...norm2, postEdgeDegree: nnorm) }
    }
    var larch_version: String
    var spectra: [Normalization]
    var nmc_series: [Normalization]

    static let shared: LarchReference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/larch_reference.json")
        return try! JSONDecoder().decode(LarchReference.self, from: Data(contentsOf: url))
    }()

    /// The NMC voltage series' energies: 8330–8370 eV in 0.4 eV steps (the dataset's README).
    static let nmcEnergies = (0..<100).map { 8330 + 0.4 * Double($0) }

    static func nmcSpectra() throws -> [[Double]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: sharedSpectroscopy + "/featurexas/nmc_exp_xas.json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let intensity = object["intensity"] as! [String: [Double]]
        return intensity.keys.sorted { Int($0)! < Int($1)! }.map { intensity[$0]! }
    }
}

/// Agreement with Larch on the same real spectra. Tolerances are the issue's: E0 within 0.1 eV
/// (0.2 eV for the NMC series), the edge step within 0.5 % and normalized μ within 0.5 % of the
/// step with the same E0 and ranges. Both compute the same least-squares fits in double
/// precision, so the observed differences are ~1e-6; the tolerance leaves room for the file
/// reader's rounding, not for a different method.
struct LarchAgreementTests {
    @Test func e0AndNormalizationOfReferenceSpectra() throws {
        for reference in LarchReference.shared.spectra {
            let file = try SpectrumFile.read(sharedSpectroscopy + "/" + reference.file!)
            #expect(file.muSource == reference.mu_column, "\(reference.file!): μ from \(file.muSource)")
            let e0 = try EdgeEnergy.larchE0(energies: file.energies, mu: file.mu)
            #expect(abs(e0 - reference.e0) <= 0.1, "\(reference.file!): E0 \(e0) vs Larch \(reference.e0)")
            // Larch's default ranges and degree for this grid and E0.
            let defaults = EdgeNormalizationSettings.larchDefaults(energies: file.energies, e0: reference.e0)
            #expect(abs(defaults.preEdge.lowerBound - reference.pre1) < 1e-9 && abs(defaults.preEdge.upperBound - reference.pre2) < 1e-9)
            #expect(abs(defaults.postEdge.lowerBound - reference.norm1) < 1e-9 && abs(defaults.postEdge.upperBound - reference.norm2) < 1e-6)
            #expect(defaults.postEdgeDegree == reference.nnorm)
            // Without any hint: E0 and ranges chosen here, as Larch would.
            let n = try NormalizedSpectrum(energies: file.energies, mu: file.mu)
            #expect(abs(n.edgeStep / reference.edge_step - 1) <= 0.005, "\(reference.file!): step \(n.edgeStep) vs \(reference.edge_step)")
            let worst = zip(n.normalized, reference.norm).map { abs($0 - $1) }.max()!
            #expect(worst <= 0.005, "\(reference.file!): normalized μ differs by \(worst)")
        }
    }

    /// AUTOBK (rbkg 1 Å, kweight 2) and the Hanning-windowed transform (k 2…kmax − 1, dk 1,
    /// kweight 2) against Larch on the five real spectra, with Larch's E0 and step: the largest
    /// peak of |χ(R)| within 0.02 Å (issue tolerance; parabola-refined on the 0.031 Å grid), the
    /// local maxima of k²χ(k) within 0.02 Å⁻¹, and k²χ(k) within 2 % of its RMS over the window.
    @Test func exafsMatchesLarch() throws {
        func peak(_ x: [Double], _ y: [Double], from: Double) -> Double {
            let start = x.firstIndex { $0 >= from }!
            let k = (start..<(y.count - 1)).max { y[$0] < y[$1] }!
            let (a, b, c) = (y[k - 1], y[k], y[k + 1])
            return x[k] + 0.5 * (a - c) / (a - 2 * b + c) * (x[k + 1] - x[k])
        }
        for reference in LarchReference.shared.spectra {
            let file = try SpectrumFile.read(sharedSpectroscopy + "/" + reference.file!)
            var settings = EXAFSBackground.Settings()
            settings.kweight = 2
            let exafs = try EXAFSBackground(energies: file.energies, mu: file.mu, e0: reference.e0, edgeStep: reference.edge_step, settings: settings)
            let larchK = reference.k!, larchChi = reference.chi!
            #expect(exafs.k.count == larchK.count, "\(reference.file!): \(exafs.k.count) k points vs \(larchK.count)")
            let transform = reference.xftf!
            var ft = RSpaceSpectrum.Settings()
            (ft.kmin, ft.kmax, ft.dk, ft.kweight) = (transform.kmin, transform.kmax, transform.dk, transform.kweight)
            let r = try RSpaceSpectrum(k: exafs.k, chi: exafs.chi, settings: ft)
            let ours = peak(r.r, r.magnitude, from: 1), theirs = peak(reference.r!, reference.chir_mag!, from: 1)
            #expect(abs(ours - theirs) <= 0.02, "\(reference.file!): |χ(R)| peak at \(ours) Å vs Larch \(theirs) Å")
            // k²χ inside the transform window.
            let inside = exafs.k.indices.filter { exafs.k[$0] >= transform.kmin && exafs.k[$0] <= transform.kmax && $0 < larchChi.count }
            let ourK2 = inside.map { exafs.chi[$0] * exafs.k[$0] * exafs.k[$0] }, theirK2 = inside.map { larchChi[$0] * larchK[$0] * larchK[$0] }
            let rms = (theirK2.reduce(0) { $0 + $1 * $1 } / Double(inside.count)).squareRoot()
            let difference = (zip(ourK2, theirK2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(inside.count)).squareRoot()
            #expect(difference <= 0.02 * rms, "\(reference.file!): k²χ differs by \(difference / rms * 100) % of its RMS")
            // Local maxima of k²χ(k) above half its largest value, matched to Larch's.
            func maxima(_ y: [Double]) -> [Double] {
                let top = y.map(abs).max()!
                return (1..<(y.count - 1)).filter { y[$0] > y[$0 - 1] && y[$0] >= y[$0 + 1] && y[$0] > 0.5 * top }.map { i in
                    let (a, b, c) = (y[i - 1], y[i], y[i + 1])
                    return exafs.k[inside[i]] + 0.5 * (a - c) / (a - 2 * b + c) * 0.05
                }
            }
            let (ourMaxima, theirMaxima) = (maxima(ourK2), maxima(theirK2))
            #expect(ourMaxima.count == theirMaxima.count, "\(reference.file!): \(ourMaxima) vs \(theirMaxima)")
            for (a, b) in zip(ourMaxima, theirMaxima) { #expect(abs(a - b) <= 0.02, "\(reference.file!): k²χ maximum at \(a) vs \(b) Å⁻¹") }
        }
    }

    @Test func nmcVoltageSeriesE0() throws {
        let spectra = try LarchReference.nmcSpectra()
        let references = LarchReference.shared.nmc_series
        #expect(spectra.count == references.count && spectra.count == 16)
        for (mu, reference) in zip(spectra, references) {
            let e0 = try EdgeEnergy.larchE0(energies: LarchReference.nmcEnergies, mu: mu)
            #expect(abs(e0 - reference.e0) <= 0.2, "spectrum \(reference.index!): E0 \(e0) vs Larch \(reference.e0)")
            let n = try NormalizedSpectrum(energies: LarchReference.nmcEnergies, mu: mu, e0: reference.e0, settings: reference.settings)
            #expect(abs(n.edgeStep / reference.edge_step - 1) <= 0.005, "spectrum \(reference.index!): step \(n.edgeStep) vs \(reference.edge_step)")
            let worst = zip(n.normalized, reference.norm).map { abs($0 - $1) }.max()!
            #expect(worst <= 0.005, "spectrum \(reference.index!): normalized μ differs by \(worst)")
        }
    }

    @Test func spectrumFileErrorsNameTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spectrum-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let repeated = folder.appendingPathComponent("repeated.txt").path
        try "# energy mu\n8300 0.1\n8310 0.2\n8310 0.3\n8320 0.4\n8330 0.5\n8340 0.6\n8350 0.7\n".write(toFile: repeated, atomically: true, encoding: .utf8)
        do { _ = try SpectrumFile.read(repeated); Issue.record("repeated energy accepted") } catch let error as LensError {
            #expect("\(error)".contains("repeated.txt") && "\(error)".contains("8310"))
        }
        do { _ = try SpectrumFile.read(repeated, muColumn: "xmu"); Issue.record("missing column accepted") } catch let error as LensError {
            #expect("\(error)".contains("no column named xmu"))
        }
        // keV energies (reference files) are converted to eV.
        let reference = try SpectrumFile.read(sharedSpectroscopy + "/pyxas/ref_NiO.txt")
        #expect(reference.energies.first! == 8200 && reference.energies.last! > 8500)
    }
}
