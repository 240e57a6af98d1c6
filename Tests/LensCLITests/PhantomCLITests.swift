import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

@Suite final class PhantomCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-phantom-cli-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    /// `phantom xanes --particles`: a map of one slice of a cycled electrode's particles, each
    /// charged by its true damage class (least 0.85, mild 0.65, severe 0.45, ± 0.05); `xanes` with
    /// the labels and those classes recovers every class's mean state of charge within 0.03
    /// (10⁵ photons: per-pixel σ ≈ 0.02, averaged over each particle's pixels).
    @Test func xanesOfDamagedParticles() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "24,48,48", "--cracks", "0.6", "--quiet") == 0)
        #expect(run("phantom", "xanes", "--out", dir + "/x", "--particles", dir + "/e/particles.tif", "--particles-truth", dir + "/e/truth.json",
                    "--slice", "12", "--photons", "100000", "--quiet") == 0)
        let labels = try VolumeIO.read(dir + "/x/labels.tif").converted(to: Int32.self)
        let particles = try VolumeIO.read(dir + "/e/particles.tif").converted(to: Int32.self)
        #expect(labels.shape == Shape(48, 48))
        #expect(labels.elements == Array(particles.elements[(12 * 48 * 48)..<(13 * 48 * 48)]))
        let rows = try String(contentsOfFile: dir + "/x/particles.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == Set(labels.elements.filter { $0 > 0 }).count)
        var truthByClass: [String: [Double]] = [:], classFile = "label,class\n"
        for r in rows {
            let v = try #require(Double(r[2]))
            let design = ["least": 0.85, "mild": 0.65, "severe": 0.45][r[1]]
            #expect(design != nil && abs(v - design!) <= 0.05 + 1e-9, "\(r)")
            truthByClass[r[1], default: []].append(v)
            classFile += "\(r[0]),\(r[1])\n"
        }
        try classFile.write(toFile: dir + "/classes.csv", atomically: true, encoding: .utf8)
        #expect(run("xanes", dir + "/x/stack.h5", "--references", dir + "/x/references.csv", "--labels", dir + "/x/labels.tif",
                    "--label-classes", dir + "/classes.csv", "--out", dir + "/maps", "--summary", dir + "/xanes.json", "--quiet") == 0)
        let classes = try JSONOutput.read(JSONValue.self, from: dir + "/xanes.json")["labels"]?["fraction_charged"]?["classes"]
        for (name, values) in truthByClass where values.count >= 2 {
            let measured = try #require(classes?[name]?["mean_of_label_means"]?.doubleValue)
            #expect(abs(measured - values.reduce(0, +) / Double(values.count)) < 0.03, "\(name): \(measured)")
        }
        // The truth is required, and a slice must exist.
        #expect(run("phantom", "xanes", "--out", dir + "/bad1", "--particles", dir + "/e/particles.tif") == 2)
        #expect(run("phantom", "xanes", "--out", dir + "/bad3", "--particles", dir + "/e/particles.tif", "--particles-truth", dir + "/e/truth.json", "--dims", "3") == 2)
        #expect(run("phantom", "xanes", "--out", dir + "/bad2", "--particles", dir + "/e/particles.tif", "--particles-truth", dir + "/e/truth.json", "--slice", "99") == 2)
    }

    @Test func electrodeThenScanThenInfo() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "40,36,36", "--separator", "3", "--grains", "3", "--seed", "4") == 0)
        for name in ["phases.tif", "particles.tif", "attenuation.tif", "grains.tif", "truth.json", "design.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/e/" + name), "\(name)")
        }
        let attenuation = try VolumeIO.open(dir + "/e/attenuation.tif")
        #expect(attenuation.info.shape == Shape(40, 36, 36) && attenuation.info.geometry.voxelSizeMicrometres == [0.5, 0.5, 0.5])
        #expect(run("phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/scan.h5", "--angles", "24",
                    "--offset", "2.5", "--rings", "0.01", "--summary", dir + "/scan.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/scan.json")
        #expect(summary["scan"]?["rotation_axis_column"]?.doubleValue == 20)
        let scan = try TomographyScanReader(path: dir + "/scan.h5")
        #expect(run("phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/tiffscan", "--angles", "8") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/tiffscan/truth.json"))
        #expect(FileManager.default.fileExists(atPath: dir + "/tiffscan/projections.tif"))
        #expect(scan.projectionCount == 24 && scan.frameShape == Shape(40, 36))
        // Same seed, same bytes, through the CLI.
        #expect(run("phantom", "electrode", "--out", dir + "/e2", "--size", "40,36,36", "--separator", "3", "--grains", "3", "--seed", "4") == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/e/phases.tif")) == (try Data(contentsOf: URL(fileURLWithPath: dir + "/e2/phases.tif"))))
    }

    @Test func spectralPhantoms() throws {
        #expect(run("phantom", "xanes", "--out", dir + "/x", "--size", "32") == 0)
        let stack = try VolumeIO.open(dir + "/x/stack.h5:/intensity")
        #expect(stack.info.shape == Shape(63, 32, 32))
        #expect(run("phantom", "compton", "--out", dir + "/c", "--events", "20000", "--lithium", "0.1,0.7") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/c/region_2.bin"))
        #expect(run("phantom", "xrd", "--out", dir + "/d", "--patterns", "5") == 0)
        #expect(try VolumeIO.open(dir + "/d/patterns.h5:/patterns").info.shape[0] == 5)
        #expect(run("phantom", "series", "--out", dir + "/s", "--size", "32") == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/s/state_4/truth.json"))
    }

    @Test func badPhantomArguments() {
        #expect(run("phantom", "electrode", "--out", dir + "/bad", "--size", "2") == 2)
        #expect(run("phantom", "electrode", "--out", dir + "/no/such/folder/e") == 1)
        #expect(run("phantom", "projections", dir + "/missing.tif", "--out", dir + "/x.h5") == 1)
        #expect(run("phantom", "xanes", "--out", dir + "/x3", "--dims", "4") == 2)
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }
}
