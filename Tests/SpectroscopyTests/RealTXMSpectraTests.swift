import Foundation
import Testing
import Spectroscopy
import SpectroscopyFiles

/// Real TXM spectra of NCA cathode particles (SSRL 6-2c, ../shared/data/spectroscopy/xanespy):
/// the Ni K-edge is found where Ni³⁺-rich NCA has it (8340–8355 eV, by Larch's method), the
/// normalization has a positive step, and the half-height edge and the white line sit in order.
struct RealTXMSpectraTests {
    @Test(arguments: ["NCA-cell2-soc1-fov1-xanesspectrum.tsv", "NCA_xanes.csv"])
    func ncaSpectrumThroughTheSingleSpectrumChain(file: String) throws {
        let spectrum = try SpectrumFile.read(sharedSpectroscopy + "/xanespy/" + file)
        let e0 = try EdgeEnergy.larchE0(energies: spectrum.energies, mu: spectrum.mu)
        #expect(e0 > 8340 && e0 < 8355, "\(file): E0 \(e0)")
        let n = try NormalizedSpectrum(energies: spectrum.energies, mu: spectrum.mu)
        #expect(n.edgeStep > 0)
        let sigma = [Double](repeating: n.preEdgeNoise / n.edgeStep, count: n.energies.count)
        let half = EdgeEnergy.crossing(energies: n.energies, values: n.normalized, near: e0, sigma: sigma)
        let white = EdgeEnergy.whiteLine(energies: n.energies, values: n.normalized, window: e0...(e0 + 25), sigma: sigma)
        #expect(half.energy > 8338 && half.energy < 8356 && half.uncertainty > 0, "\(file): half height \(half)")
        #expect(white.energy.energy > half.energy && white.height.energy > 1, "\(file): white line \(white)")
    }
}
