import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

/// `xanes` and `xas` end to end: a drifting phantom stack with references and particle labels,
/// and a real spectrum with Larch's numbers.
@Suite final class SpectroscopyCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-xanes-cli-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    @Test func phantomStackToMapsAndLabelStatistics() throws {
        #expect(run("phantom", "xanes", "--out", dir + "/p", "--size", "48", "--photons", "100000", "--shift-sigma", "1", "--seed", "4") == 0)
        let p = dir + "/p"
        // Classes for labels 1 and 2 (say, damage classes from crack analysis).
        try "label,class\n1,severe\n2,least\n".write(toFile: dir + "/classes.csv", atomically: true, encoding: .utf8)
        #expect(run("xanes", p + "/stack.h5:/intensity", "--flat", p + "/stack.h5:/flat", "--energies", p + "/energies.txt",
                    "--references", p + "/references.csv", "--labels", p + "/labels.tif", "--label-classes", dir + "/classes.csv",
                    "--align", "chained", "--clusters", "2",
                    "--pre", "-160:-40", "--post", "45:225", "--post-degree", "0", "--out", dir + "/maps", "--summary", dir + "/x.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/x.json")
        #expect(summary["provenance"] != nil)
        #expect(summary["normalization"]?["post_edge_degree"]?.doubleValue == 0)
        // The phantom's edges lie between the two end members' (8342.0 and 8344.2 eV).
        let meanEdge = summary["edge_energy_ev"]?["mean"]?.doubleValue ?? 0
        #expect(meanEdge > 8341.5 && meanEdge < 8344.7, "mean edge \(meanEdge)")
        for name in ["edge_energy", "edge_energy_sigma", "fraction_charged", "fraction_charged_sigma", "mask", "clusters", "pca_score_1"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/maps/\(name).tif"), "\(name).tif missing")
        }
        let labelsCSV = try String(contentsOfFile: dir + "/maps/labels_edge_energy.csv", encoding: .utf8)
        #expect(labelsCSV.hasPrefix("label,pixels,valid_pixels,size"))
        #expect(labelsCSV.split(separator: "\n").count > 3)
        // Per-label means equal a direct computation from the written maps and the cropped labels.
        let edge = try VolumeIO.read(dir + "/maps/edge_energy.tif").float32()
        let shifts = summary["alignment"]?["crop"]
        let rowStart = Int(shifts?[0]?[0]?.doubleValue ?? -1), columnStart = Int(shifts?[1]?[0]?.doubleValue ?? -1)
        let labels = try VolumeIO.read(p + "/labels.tif").converted(to: Int32.self)
        let firstRow = labelsCSV.split(separator: "\n")[1].split(separator: ",", omittingEmptySubsequences: false)
        let label = Int32(firstRow[0])!
        var values = [Double]()
        for y in 0..<edge.shape[0] { for x in 0..<edge.shape[1] where labels[y + rowStart, x + columnStart] == label && edge[y, x].isFinite {
            values.append(Double(edge[y, x]))
        } }
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(abs(mean - Double(firstRow[4])!) < 1e-4, "label \(label): \(mean) vs \(firstRow[4])")
        // The class column and the per-class summary.
        #expect(labelsCSV.split(separator: "\n").contains { $0.hasPrefix("1,") && $0.hasSuffix(",severe") })
        let classes = summary["labels"]?["edge_energy"]?["classes"]
        #expect(classes?["severe"]?["labels"]?.doubleValue == 1)
        #expect(classes?["least"]?["labels"]?.doubleValue == 1)
        // A class file with a non-integer label names the file and the line.
        try "label,class\n1,severe\nx,least\n".write(toFile: dir + "/bad-classes.csv", atomically: true, encoding: .utf8)
        #expect(run("xanes", p + "/stack.h5:/intensity", "--flat", p + "/stack.h5:/flat", "--labels", p + "/labels.tif",
                    "--label-classes", dir + "/bad-classes.csv", "--out", dir + "/bad") == 1)
        // Bad input: an energy list one short names the file; a bad --align is a usage error.
        let short = try String(contentsOfFile: p + "/energies.txt", encoding: .utf8).split(separator: "\n").dropLast().joined(separator: "\n")
        try short.write(toFile: dir + "/short.txt", atomically: true, encoding: .utf8)
        #expect(run("xanes", p + "/stack.h5:/intensity", "--flat", p + "/stack.h5:/flat", "--energies", dir + "/short.txt", "--out", dir + "/bad") == 1)
        #expect(run("xanes", p + "/stack.h5:/intensity", "--energies", p + "/energies.txt", "--align", "sideways", "--out", dir + "/bad") == 2)
        // Energies recorded beside the stack (/energies in stack.h5) are used without --energies;
        // a zero dark per energy changes nothing.
        try (0..<63).map { _ in "0" }.joined(separator: "\n").write(toFile: dir + "/dark.txt", atomically: true, encoding: .utf8)
        #expect(run("xanes", p + "/stack.h5:/intensity", "--flat", p + "/stack.h5:/flat", "--dark", dir + "/dark.txt", "--pca", "0",
                    "--out", dir + "/maps2", "--summary", dir + "/x2.json") == 0)
        let second = try JSONOutput.read(JSONValue.self, from: dir + "/x2.json")
        #expect(second["energy_source"]?.stringValue == p + "/stack.h5:/energies")
        #expect(second["energies"]?.doubleValue == 63)
    }

    @Test func singleSpectrumMatchesLarch() throws {
        var shared = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { shared.deleteLastPathComponent() }
        let spectrum = shared.appendingPathComponent("shared/data/spectroscopy/larch/ni_metal_rt.xdi").path
        #expect(run("xas", spectrum, "--exafs", "--out", dir + "/xas", "--summary", dir + "/xas.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/xas.json")
        // Larch 2026.3.1 on this file: E0 8331.5 eV, edge step 2.52614 (Benchmarks/peers/larch_reference.py).
        #expect(summary["e0_ev"]?.doubleValue == 8331.5)
        #expect(abs((summary["edge_step"]?.doubleValue ?? 0) / 2.526140722435687 - 1) < 1e-5)
        let csv = try String(contentsOfFile: dir + "/xas/normalized.csv", encoding: .utf8)
        #expect(csv.hasPrefix("energy [eV],mu,pre_edge,post_edge,normalized_mu"))
        // Larch's |χ(R)| for this file peaks on the grid point 2.178 Å (xftf k 2–17, dk 1, kweight 2; the R grid is 0.0307 Å).
        let peak = summary["exafs"]?["largest_peak_r_a"]?.doubleValue ?? 0
        #expect(abs(peak - 2.17825) < 1e-3, "peak at \(peak) Å")
        #expect(FileManager.default.fileExists(atPath: dir + "/xas/chir.csv"))
        #expect(run("xas", dir + "/missing.xdi", "--out", dir + "/xas2") == 1)
    }
}
