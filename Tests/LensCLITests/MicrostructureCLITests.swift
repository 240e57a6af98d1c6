import Foundation
import LensCLI
import LensCore
import LensIO
import Testing

/// The segmentation and microstructure commands end to end on a phantom and on files with
/// known answers.
@Suite final class MicrostructureCLITests {
    let dir = NSTemporaryDirectory() + "batterylens-micro-cli-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }
    func run(_ args: [String]) -> Int32 { CLIRuntime.run(args) }

    @Test func phantomThroughEveryCommand() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "48", "--seed", "2") == 0)
        let grey = dir + "/e/attenuation.tif"
        #expect(run("filter", grey, "--out", dir + "/median.tif", "--method", "median") == 0)
        #expect(run("filter", grey, "--out", dir + "/bad.tif", "--method", "blur") == 2)
        #expect(run("segment", "electrode", dir + "/median.tif", "--out", dir + "/seg.tif", "--envelope-radius", "4", "--summary", dir + "/seg.json") == 0)
        #expect(run("segment", "phases", grey, "--out", dir + "/seg3.tif", "--classes", "3", "--envelope-radius", "4") == 0)
        #expect(run("porosity", dir + "/seg.tif", "--regions", "3", "--csv", dir + "/por.csv", "--summary", dir + "/por.json") == 0)
        let porosity = try JSONOutput.read(JSONValue.self, from: dir + "/por.json")
        let segmentation = try JSONOutput.read(JSONValue.self, from: dir + "/seg.json")
        // The slab-wise profile and the segmentation's own count agree.
        #expect(abs((porosity["porosity"]?.doubleValue ?? -1) - (segmentation["porosity"]?.doubleValue ?? -2)) < 1e-12)
        #expect(porosity["provenance"] != nil)
        #expect(run("particles", dir + "/seg.tif", "--out", dir + "/p.tif", "--csv", dir + "/p.csv", "--grey", grey, "--summary", dir + "/p.json") == 0)
        let csv = try String(contentsOfFile: dir + "/p.csv", encoding: .utf8)
        #expect(csv.hasPrefix("label,voxels,volume [µm³],equivalent_diameter [µm]"))
        #expect(run("tortuosity", dir + "/seg.tif", "--phase", "pore", "--axis", "z", "--summary", dir + "/t.json") == 0)
        #expect(run("rev", dir + "/seg.tif", "--phase", "solid") == 0)
        #expect(run("thickness", dir + "/seg.tif", "--out", dir + "/lt.tif", "--phase", "pore") == 0)
        #expect(run("label", dir + "/seg.tif", "--out", dir + "/l.tif", "--connectivity", "6") == 0)
    }

    /// A uniform block has τ = 1; a phase that does not percolate reports τ = inf (exit 0).
    @Test func tortuosityKnownAnswersAndBadInput() throws {
        let block = Grid<UInt8>(shape: Shape(12, 10, 10), repeating: 3)
        try VolumeIO.write(block, to: dir + "/block.tif")
        #expect(run("tortuosity", dir + "/block.tif", "--phase", "3", "--axis", "all", "--summary", dir + "/t.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/t.json")
        guard case .array(let results)? = summary["results"] else { Issue.record("no results"); return }
        #expect(results.count == 3)
        for r in results { #expect(abs((r["tortuosity_factor"]?.doubleValue ?? 0) - 1) < 1e-4) }
        let deadEnd = Grid<UInt8>(shape: Shape(10, 8, 8)) { i in i / 64 < 7 && i % 64 == 27 ? 1 : 0 }
        try VolumeIO.write(deadEnd, to: dir + "/dead.tif")
        #expect(run("tortuosity", dir + "/dead.tif", "--phase", "1", "--axis", "z", "--summary", dir + "/d.json") == 0)
        let dead = try JSONOutput.read(JSONValue.self, from: dir + "/d.json")
        guard case .array(let deadResults)? = dead["results"] else { Issue.record("no results"); return }
        #expect(deadResults.first?["percolates"] == .bool(false))
        #expect(deadResults.first?["tortuosity_factor"] == .null)
        // Empty phase, mismatched grey volume, bad axis.
        #expect(run("tortuosity", dir + "/block.tif", "--phase", "9") == 1)
        let other = Grid<Float>(shape: Shape(5, 5, 5), repeating: 1)
        try VolumeIO.write(other, to: dir + "/other.tif")
        #expect(run("particles", dir + "/block.tif", "--phase", "3", "--out", dir + "/p.tif", "--csv", dir + "/p.csv", "--grey", dir + "/other.tif") != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/p.csv"))
        #expect(run("porosity", dir + "/block.tif", "--axis", "w") == 2)
    }

    /// `cracks` on the electrode phantom (noise-free attenuation, particle ids): a table row per
    /// particle, classes that add up, as many damaged particles as the truth has particles with
    /// crack voxels when every crack voxel counts (`--min-crack 1`: the phantom has no noise; a
    /// designed crack under half a voxel wide leaves none), and float labels refused.
    @Test func cracksPerParticle() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/ec", "--size", "32,64,64", "--seed", "5") == 0)
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/particles.tif", "--out", dir + "/damage",
                    "--min-crack", "1", "--summary", dir + "/damage.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/damage.json")
        let particles = try #require(summary["particles"]?.doubleValue)
        let classes = ["least", "mild", "severe"].map { summary["classes"]?[$0]?.doubleValue ?? -1 }
        #expect(classes.reduce(0, +) == particles)
        let truth = try JSONOutput.read(JSONValue.self, from: dir + "/ec/truth.json")
        guard case .array(let list)? = truth["particles"] else { Issue.record("truth has no particles"); return }
        let withCrackVoxels = list.filter { ($0["crack_volume_cubic_micrometres"]?.doubleValue ?? 0) > 0 }.count
        #expect(Double(withCrackVoxels) == classes[1] + classes[2], "\(withCrackVoxels) particles with crack voxels, \(classes) by class")
        let rows = try String(contentsOfFile: dir + "/damage/particles.csv", encoding: .utf8).split(separator: "\n").count - 1
        #expect(Double(rows) == particles)
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/attenuation.tif", "--out", dir + "/bad") == 1)
        // A map on the same grid (here the attenuation itself): one row per fragment.
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/particles.tif", "--map", dir + "/ec/attenuation.tif",
                    "--out", dir + "/mapped", "--summary", dir + "/mapped.json") == 0)
        let fragmentRows = try String(contentsOfFile: dir + "/mapped/fragments.csv", encoding: .utf8).split(separator: "\n").count - 1
        #expect(fragmentRows >= Int(particles))
        #expect(try JSONOutput.read(JSONValue.self, from: dir + "/mapped.json")["fragment_trend"]?["fragments"]?.doubleValue == Double(fragmentRows))
        // The flags in the table and the statistics' counts agree: particles outside each
        // slice's inscribed circle are left out, those cut by the faces only where size enters.
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/particles.tif", "--out", dir + "/circle",
                    "--field-of-view", "circle", "--summary", dir + "/circle.json") == 0)
        let statistics = try #require(try JSONOutput.read(JSONValue.self, from: dir + "/circle.json")["statistics"])
        let table = try String(contentsOfFile: dir + "/circle/particles.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = table[0].map(String.init)
        let (cutColumn, outsideColumn) = (try #require(header.firstIndex(of: "cut_by_volume_face")), try #require(header.firstIndex(of: "outside_field_of_view")))
        let flags = table.dropFirst().map { ($0[cutColumn] == "yes", $0[outsideColumn] == "yes") }
        let outside = flags.filter(\.1).count, cutInside = flags.filter { $0.0 && !$0.1 }.count
        #expect(outside > 0 && Double(outside) == statistics["outside_field_of_view"]?.doubleValue)
        #expect(Double(flags.count - outside) == statistics["particles"]?.doubleValue)
        #expect(Double(flags.count - outside - cutInside) == statistics["whole_particles"]?.doubleValue)
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/particles.tif", "--out", dir + "/square", "--field-of-view", "square") == 2)
        // Declared scan angles flag each measured crack facing the missing wedge, by the
        // crack's normal in the table (the rule of ScanAngles: more than 30° from z, and the
        // angle that would record it, −atan2(n_y, n_x) mod 180°, outside the scan's); the
        // summary counts them. Undeclared: no flag. A range that is not one is a usage error.
        // (A phantom whose every median particle is cracked, for enough cracks to flag.)
        #expect(run("phantom", "electrode", "--out", dir + "/ew", "--size", "32,64,64", "--seed", "5", "--cracks", "1") == 0)
        #expect(run("cracks", dir + "/ew/attenuation.tif", "--labels", dir + "/ew/particles.tif", "--out", dir + "/wedge",
                    "--scan-angles", "-67.5:67.5", "--summary", dir + "/wedge.json") == 0)
        let wedgeTable = try String(contentsOfFile: dir + "/wedge/particles.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let columns = wedgeTable[0].map(String.init)
        let normalColumns = try ["crack_normal_z", "crack_normal_y", "crack_normal_x"].map { name in try #require(columns.firstIndex(of: name)) }
        let wedgeColumn = try #require(columns.firstIndex(of: "crack_in_missing_wedge"))
        var (flagged, judged) = (0, 0)
        for row in wedgeTable.dropFirst() {
            let normal = normalColumns.map { Double(row[$0]) ?? .nan }
            guard normal.allSatisfy(\.isFinite) else { #expect(row[wedgeColumn].isEmpty); continue }
            judged += 1
            var angle = -atan2(normal[1], normal[2]) * 180 / .pi + 67.5
            angle = angle.truncatingRemainder(dividingBy: 180); if angle < 0 { angle += 180 }
            let expected = (normal[1] * normal[1] + normal[2] * normal[2]).squareRoot() > 0.5 && angle > 135
            #expect(row[wedgeColumn] == (expected ? "yes" : "no"))
            if expected { flagged += 1 }
        }
        #expect(judged > 5 && flagged > 0 && flagged < judged, "\(judged) cracks measured, \(flagged) flagged")
        #expect(try JSONOutput.read(JSONValue.self, from: dir + "/wedge.json")["cracks_in_missing_wedge"]?.doubleValue == Double(flagged))
        let undeclared = try String(contentsOfFile: dir + "/circle/particles.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(undeclared.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false)[wedgeColumn].isEmpty })
        #expect(run("cracks", dir + "/ec/attenuation.tif", "--labels", dir + "/ec/particles.tif", "--out", dir + "/badwedge", "--scan-angles", "10:10") == 2)
    }

    /// `register` and `track` on the phantom series (Tomo 00–04, 48³): the rigid registration
    /// of the last state finds the phantom's drift to 0.25 voxel (in µm: the phantom's voxel size
    /// is known), with a displacement field measured at ≥ 80 % of the nodes (the others sit in the textureless separator); tracking follows every
    /// particle of the first state in every state, and with --cracks the summary carries the
    /// cracking statistics. A missing label volume and a float label volume are refused.
    @Test func registerAndTrackTheSeries() throws {
        #expect(run("phantom", "series", "--out", dir + "/series", "--size", "48", "--seed", "3") == 0)
        let states = (0..<5).map { dir + "/series/state_\($0)/attenuation.tif" }
        let labels = (0..<5).flatMap { ["--labels", dir + "/series/state_\($0)/particles.tif"] }
        #expect(run("register", states[0], states[4], "--out", dir + "/registered.tif", "--field", dir + "/field.csv",
                    "--node-spacing", "12", "--summary", dir + "/register.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/register.json")
        let truth = try JSONOutput.read(JSONValue.self, from: dir + "/series/state_4/truth.json")
        guard case .array(let drift)? = truth["truth"]?["drift_micrometres"], case .array(let found)? = summary["translation"] else {
            Issue.record("no drift or translation"); return
        }
        #expect(summary["translation_unit"]?.stringValue == "µm")
        for axis in 0..<3 { #expect(abs((found[axis].doubleValue ?? 99) - (drift[axis].doubleValue ?? 0)) < 0.25 * 0.5) }
        #expect((summary["displacement_field"]?["measured_fraction"]?.doubleValue ?? 0) >= 0.8)   // nodes in the separator have no texture
        #expect(run(["track"] + states + labels + ["--out", dir + "/tracks", "--cracks", "--scan-angles", "-67.5:67.5", "--summary", dir + "/tracks.json"]) == 0)
        let tracked = try JSONOutput.read(JSONValue.self, from: dir + "/tracks.json")
        guard case .array(let counts)? = tracked["event_counts"] else { Issue.record("no event counts"); return }
        let first = counts[0]["appeared"]?.doubleValue ?? 0
        #expect(first > 10)
        // Every particle is followed (matched or split) in every later state; none lost.
        for k in 1..<5 {
            let followed = (counts[k]["matched"]?.doubleValue ?? 0) + (counts[k]["split"]?.doubleValue ?? 0)
            #expect(followed == first, "state \(k): \(counts[k])")
        }
        #expect(tracked["cracking_last_state"]?["particles"]?.doubleValue == first)
        let rows = try String(contentsOfFile: dir + "/tracks/tracks.csv", encoding: .utf8).split(separator: "\n").count - 1
        #expect(Double(rows) == 5 * (tracked["tracks"]?.doubleValue ?? 0))
        // With --scan-angles each state's crack is flagged yes/no; states without one stay empty.
        let trackTable = try String(contentsOfFile: dir + "/tracks/tracks.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let (fractionColumn, wedgeColumn) = (try #require(trackTable[0].firstIndex(of: "crack_fraction")), try #require(trackTable[0].firstIndex(of: "crack_in_missing_wedge")))
        let flags = trackTable.dropFirst().map { (fraction: Double($0[fractionColumn]) ?? 0, flag: String($0[wedgeColumn])) }
        #expect(flags.allSatisfy { $0.flag.isEmpty || (["yes", "no"].contains($0.flag) && $0.fraction > 0) })
        #expect(flags.contains { !$0.flag.isEmpty })
        #expect(run(["track"] + states + labels + ["--out", dir + "/nocracks", "--scan-angles", "-67.5:67.5"]) == 2)
        #expect(run(["track"] + states + Array(labels.dropLast(2)) + ["--out", dir + "/bad"]) == 2)
        #expect(run(["track", states[0], states[1], "--labels", states[0], "--labels", states[1], "--out", dir + "/bad2"]) == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad2"))
    }

    /// `impedance` on a straight channel (codes 0/1 declared as solid/pore): τ from the
    /// transmission-line fit is 1, the spectrum CSV has one row per frequency; a phase that
    /// misses the inlet, and a tolerance out of range, are refused.
    @Test func impedanceOfAChannel() throws {
        let channel = Grid<UInt8>(shape: Shape(96, 3, 3)) { i in i % 9 == 4 ? 1 : 0 }
        try VolumeIO.write(channel, to: dir + "/channel.tif")
        #expect(run("impedance", dir + "/channel.tif", "--labels-scheme", "solid=0,pore=1", "--count", "8", "--to", "100",
                    "--csv", dir + "/impedance.csv", "--summary", dir + "/impedance.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/impedance.json")
        let tau = try #require(summary["result"]?["fit"]?["tortuosity_factor"]?.doubleValue)
        #expect(abs(tau - 1) < 0.005)
        let rows = try String(contentsOfFile: dir + "/impedance.csv", encoding: .utf8).split(separator: "\n").count - 1
        #expect(rows == 8)
        let blocked = Grid<UInt8>(shape: Shape(96, 3, 3)) { i in i % 9 == 4 && i / 9 > 0 ? 1 : 0 }
        try VolumeIO.write(blocked, to: dir + "/blocked.tif")
        #expect(run("impedance", dir + "/blocked.tif", "--phase", "1") != 0)
        // A solver tolerance outside (0, 0.01) is refused before anything is written.
        #expect(run("impedance", dir + "/channel.tif", "--labels-scheme", "solid=0,pore=1", "--tolerance", "0.5", "--summary", dir + "/loose.json") == 2)
        #expect(!FileManager.default.fileExists(atPath: dir + "/loose.json"))
    }

    /// `conductivity` on layers in series (names through a declared scheme): κ_eff is the
    /// harmonic mean; a phase without a conductivity is refused.
    @Test func conductivityOfLayers() throws {
        let layers = Grid<UInt8>(shape: Shape(12, 4, 4)) { i in (i / 16) % 2 == 0 ? 1 : 2 }
        try VolumeIO.write(layers, to: dir + "/layers.tif")
        #expect(run("conductivity", dir + "/layers.tif", "--labels-scheme", "active=1,binder=2", "--kappa", "active=1,binder=4",
                    "--axis", "z", "--summary", dir + "/kappa.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/kappa.json")
        guard case .array(let results)? = summary["results"] else { Issue.record("no results"); return }
        let kappa = try #require(results.first?["effective_conductivity"]?.doubleValue)
        #expect(abs(kappa - 2 / (1 + 0.25)) < 1e-5)
        #expect(run("conductivity", dir + "/layers.tif", "--labels-scheme", "active=1,binder=2", "--kappa", "active=1") != 0)
    }

    /// `descriptors` on three quadrant phases: the triple-phase boundary is the one line along
    /// z (16 voxel edges: no voxel size), S₂(0) is the phase fraction.
    /// `network` on a lattice of 27 spheres joined by 54 cylinders (0.5 µm voxels): the files,
    /// the counts, lengths in µm, the OpenPNM dictionary's 0-based connections, and refusals of
    /// non-cubic voxels and bad settings that leave nothing behind.
    @Test func networkOfASphereLattice() throws {
        let centres = [10, 30, 50]
        let lattice = Grid<UInt8>(shape: Shape(60, 60, 60), geometry: GridGeometry(voxelSizeMicrometres: [0.5, 0.5, 0.5])) { i in
            let (z, y, x) = (i / 3600, (i / 60) % 60, i % 60)
            for cz in centres { for cy in centres { for cx in centres where (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx) <= 36 { return 2 } } }
            for c1 in centres { for c2 in centres {
                if (y - c1) * (y - c1) + (x - c2) * (x - c2) <= 4 && z >= 10 && z <= 50 { return 2 }
                if (z - c1) * (z - c1) + (x - c2) * (x - c2) <= 4 && y >= 10 && y <= 50 { return 2 }
                if (z - c1) * (z - c1) + (y - c2) * (y - c2) <= 4 && x >= 10 && x <= 50 { return 2 }
            } }
            return 1
        }
        try VolumeIO.write(lattice, to: dir + "/lattice.tif")
        #expect(run("network", dir + "/lattice.tif", "--phase", "2", "--out", dir + "/net", "--summary", dir + "/net.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/net.json")
        #expect(summary["pores"]?.doubleValue == 27)
        #expect(summary["throats"]?.doubleValue == 54)
        #expect(summary["length_unit"] == .string("µm"))
        #expect(abs((summary["mean_coordination"]?.doubleValue ?? 0) - 4) < 1e-12)
        let network = try JSONOutput.read(JSONValue.self, from: dir + "/net/network.json")
        guard case .array(let conns)? = network["network"]?["throat.conns"] else { Issue.record("no throat.conns"); return }
        #expect(conns.count == 54)
        #expect(conns.allSatisfy { ($0[0]?.doubleValue ?? -1) >= 0 && ($0[1]?.doubleValue ?? 99) <= 26 })
        let throats = try String(contentsOfFile: dir + "/net/throats.csv", encoding: .utf8).split(separator: "\n")
        #expect(throats.first?.contains("direct_length [µm]") == true)
        // Centroids 20 voxels = 10 µm apart.
        let direct = throats.dropFirst().compactMap { Double($0.split(separator: ",")[7]) }
        #expect(direct.count == 54 && direct.allSatisfy { abs($0 - 10) < 0.25 })
        let regions = try VolumeIO.read(dir + "/net/regions.tif").converted(to: Int32.self)
        #expect(regions.withUnsafeBufferPointer { $0.max() } == 27)
        // Non-cubic voxels and out-of-range settings are refused before anything is written.
        try VolumeIO.write(Grid<UInt8>(shape: lattice.shape, geometry: GridGeometry(voxelSizeMicrometres: [1, 0.5, 0.5]), elements: lattice.elements), to: dir + "/flat.tif")
        #expect(run("network", dir + "/flat.tif", "--phase", "2", "--out", dir + "/flatnet") != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/flatnet/pores.csv"))
        #expect(run("network", dir + "/lattice.tif", "--phase", "2", "--out", dir + "/bad", "--peak-radius", "0") == 2)
        #expect(run("network", dir + "/lattice.tif", "--phase", "2", "--out", dir + "/lattice.tif") != 0)
        #expect(try VolumeIO.read(dir + "/lattice.tif").shape == lattice.shape)
    }

    @Test func descriptorsOfQuadrants() throws {
        let quadrants = Grid<UInt8>(shape: Shape(16, 20, 20)) { i in
            let (y, x) = ((i / 20) % 20, i % 20)
            return y >= 10 ? 3 : (x < 10 ? 1 : 2)
        }
        try VolumeIO.write(quadrants, to: dir + "/quadrants.tif")
        #expect(run("descriptors", dir + "/quadrants.tif", "--labels-scheme", "pore=1,active=2,binder=3", "--phase", "pore",
                    "--interfaces", "pore,active,binder", "--tpb", "pore,active,binder", "--summary", dir + "/descriptors.json") == 0)
        let summary = try JSONOutput.read(JSONValue.self, from: dir + "/descriptors.json")
        #expect(summary["triple_phase_boundary"]?["length"]?.doubleValue == 16)
        #expect(summary["length_unit"]?.stringValue == "voxel")
        guard case .array(let s2)? = summary["two_point_correlation"]?["average"] else { Issue.record("no S2"); return }
        #expect(abs((s2[0].doubleValue ?? 0) - 0.25) < 1e-12)
        #expect(run("descriptors", dir + "/quadrants.tif", "--labels-scheme", "pore=1,active=2,binder=3", "--tpb", "pore,active") == 2)
    }
}
