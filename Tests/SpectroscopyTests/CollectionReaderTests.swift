import Foundation
import LensCore
import Spectroscopy
import SpectroscopyFiles
import Testing

/// Readers users expect beside .xdi/.xmu (issue 17): Athena projects and JSON collections.
/// Ground truth: the numbers Athena stored in the project itself.
@Suite struct CollectionReaderTests {
    static let larch: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("shared/data/spectroscopy/larch").path
    }()

    /// NiO.prj group cbkuk (label "NiO.001"): 522 points; Athena's normalization with its own
    /// parameters (E0 8343.911 eV on energies shifted by 4.911 eV, pre −150…−30, post
    /// 150…1125.97, quadratic) gave an edge step of 0.7813756. The same normalization here
    /// agrees within 0.5 % (Athena and Larch differ in details of the pre-edge weighting).
    @Test func athenaProjectGroupsAndTheStoredEdgeStep() throws {
        let groups = try AthenaProject.read(Self.larch + "/NiO.prj")
        #expect(groups.count == 24)
        #expect(Set(groups.map(\.id)).count == groups.count)
        let g = try #require(groups.first { $0.id == "cbkuk" })
        #expect(g.name == "NiO.001" && g.energies.count == 522 && g.mu.count == 522)
        let spectrum = try SpectrumFile.read(Self.larch + "/NiO.prj:cbkuk")
        let settings = EdgeNormalizationSettings(preEdge: -150 ... -30, postEdge: 150...1125.97, postEdgeDegree: 2)
        let n = try NormalizedSpectrum(energies: spectrum.energies, mu: spectrum.mu, e0: 8343.91054 - 4.911, settings: settings)
        #expect(abs(n.edgeStep / 0.7813756 - 1) < 0.005, "step \(n.edgeStep)")
        // Labels repeat in this project: a label that names two groups asks for the id.
        #expect(throws: LensError.self) { try SpectrumFile.read(Self.larch + "/NiO.prj:NiO.000") }
        #expect(throws: LensError.self) { try SpectrumFile.read(Self.larch + "/NiO.prj") }
    }

    @Test func jsonCollections() throws {
        let dir = NSTemporaryDirectory() + "batterylens-json-spectra-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let energies = (0..<40).map { 8300 + Double($0) * 2 }
        let step = energies.map { 1 / (1 + exp(-($0 - 8340) / 2)) }
        let collection = #"{"energy": \#(energies), "spectra": {"a": \#(step), "b": \#(step.map { $0 * 2 })}}"#
        try Data(collection.utf8).write(to: URL(fileURLWithPath: dir + "/c.json"))
        let b = try SpectrumFile.read(dir + "/c.json:b")
        #expect(b.energies == energies && b.mu == step.map { $0 * 2 })
        #expect(try SpectrumFile.references(dir + "/c.json").map(\.name) == ["a", "b"])
        let list = #"[{"name": "x", "energy": \#(energies), "mu": \#(step)}]"#
        try Data(list.utf8).write(to: URL(fileURLWithPath: dir + "/l.json"))
        #expect(try SpectrumFile.read(dir + "/l.json").mu == step)
        // Athena stores eV by definition: a Li K-edge group (55–80 eV) stays in eV, never
        // read as keV by the "all below 100" rule of unit-less column files.
        let li = (0..<30).map { 55 + Double($0) }
        let project = "# Athena project file -- test\n$old_group = 'abcde';\n@args = ('label','Li K','is_xmu',1,'recordtype','mu(E)');\n"
            + "@x = (\(li.map { "'\($0)'" }.joined(separator: ",")));\n@y = (\(li.map { "'\(1 / (1 + exp(-($0 - 62))))'" }.joined(separator: ",")));\n[record] # \n"
        try Data(project.utf8).write(to: URL(fileURLWithPath: dir + "/li.prj"))
        #expect(try SpectrumFile.read(dir + "/li.prj").energies == li)
        // No energies: refused, never a guessed grid (the featurexas table has none).
        try Data(#"{"intensity": {"0": [1, 2, 3]}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/n.json"))
        #expect(throws: LensError.self) { try SpectrumFile.read(dir + "/n.json") }
        // A gzip file that is not an Athena project: a clear error, not binary in the message.
        try Data([0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF, 1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/bad.prj"))
        do { _ = try SpectrumFile.read(dir + "/bad.prj"); Issue.record("accepted") } catch let error as LensError {
            #expect(error.description.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\n" })
        }
    }
}
