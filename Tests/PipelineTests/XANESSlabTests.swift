import Foundation
import LensCore
import LensIO
import Phantoms
import Pipeline
import Spectroscopy
import SpectroscopyFiles
import Testing

/// A 3D stack given as one volume per energy, streamed in z-slabs, gives exactly the maps of
/// the in-memory analysis: one path, whose stack-wide constants (E0, noise scale) come from
/// passes over every slab before the per-pixel pass.
struct XANESSlabTests {
    @Test func slabwiseEqualsInMemory() throws {
        let folder = NSTemporaryDirectory() + "batterylens-xanes-slabs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let scene = try SpectralScenes.stateOfCharge(size: 24, rank: 3, seed: 2)
        var p = XANESParameters()
        p.incidentPhotons = 1e5
        let sim = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p)
        let ne = p.energiesElectronVolts.count, n = 24 * 24 * 24
        var paths = [String]()
        for k in 0..<ne {
            let path = String(format: "%@/energy_%02d.tif", folder, k)
            try VolumeIO.write(Grid(shape: Shape(24, 24, 24), elements: Array(sim.intensity.elements[(k * n)..<((k + 1) * n)])), to: path)
            paths.append(path)
        }
        try p.energiesElectronVolts.map { String($0) }.joined(separator: "\n").write(toFile: folder + "/energies.txt", atomically: true, encoding: .utf8)
        try (0..<ne).map { _ in "100000" }.joined(separator: "\n").write(toFile: folder + "/i0.txt", atomically: true, encoding: .utf8)
        var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("discharged"), TableColumn("charged")])
        for row in XANESSimulator.referenceTable(energies: Array(stride(from: 8150.0, through: 8600, by: 0.5))) { table.append(row.map { .number($0) }) }
        try table.write(to: folder + "/references.csv")
        var inputs = XANESInputs(stackPaths: paths, energiesPath: folder + "/energies.txt")
        inputs.flatPath = folder + "/i0.txt"
        inputs.referencePaths = [folder + "/references.csv"]
        var options = XANESOptions()
        options.analysis.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
        options.principalComponents = 3
        options.clusters = 2
        let whole = try XANESWorkflow.run(inputs: inputs, options: options, outputFolder: folder + "/whole")
        options.slabMegabytes = 1
        let slabs = try XANESWorkflow.run(inputs: inputs, options: options, outputFolder: folder + "/slabs")
        let count = slabs.summary["slabs"]?["count"]?.doubleValue ?? 0
        #expect(count >= 3, "\(count) slabs")
        #expect(whole.slabs.count == 1 && slabs.slabs.count == Int(count))
        #expect(whole.calibration == slabs.calibration)
        #expect(whole.maps.mask.elements == slabs.maps.mask.elements)
        #expect(whole.maps.mask.elements.filter { $0 == 0 }.count > n / 10, "too few analysed voxels for the comparison to mean anything")
        // Every map file is byte for byte the same, σ maps included.
        for name in XANESMapName.all(references: ["discharged", "charged"]).map(\.fileStem) + ["mask"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/whole/\(name).tif"))
            let b = try Data(contentsOf: URL(fileURLWithPath: folder + "/slabs/\(name).tif"))
            #expect(a == b, "\(name).tif differs between the in-memory and slab-wise runs")
        }
        // PCA from moments merged over the slabs equals the in-memory PCA; so do the scores (from
        // the scratch slabs), the k-means clusters and their mean spectra; no scratch file stays.
        let (wholePCA, slabPCA) = (try #require(whole.pca), try #require(slabs.pca))
        for c in 0..<3 {
            #expect(abs(wholePCA.explainedVarianceRatio[c] - slabPCA.explainedVarianceRatio[c]) < 1e-9)
            #expect(zip(wholePCA.components[c], slabPCA.components[c]).allSatisfy { abs($0 - $1) < 1e-6 }, "component \(c + 1)")
            let slabScore = try VolumeIO.read(folder + "/slabs/pca_score_\(c + 1).tif").float32()
            #expect(zip(wholePCA.scores[c].elements, slabScore.elements).allSatisfy { $0.isNaN ? $1.isNaN : abs($0 - $1) < 1e-4 }, "score \(c + 1)")
        }
        let (wholeClusters, slabClusters) = (try #require(whole.clusters), try #require(slabs.clusters))
        #expect(wholeClusters.labels.elements == slabClusters.labels.elements)
        #expect(zip(wholeClusters.meanSpectra.joined(), slabClusters.meanSpectra.joined()).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(FileManager.default.fileExists(atPath: folder + "/slabs/cluster_spectra.csv"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/slabs").allSatisfy { !$0.hasPrefix(".normalized") })
        // One 4D (energy, z, y, x) file, NPY or HDF5, streams through its row bands like the
        // per-energy files.
        try VolumeIO.write(sim.intensity, to: folder + "/stack.npy")
        try VolumeIO.write(sim.intensity, to: folder + "/stack.h5")
        for file in ["stack.npy", "stack.h5"] {
            var single = inputs
            single.stackPaths = [folder + "/" + file]
            options.principalComponents = 0; options.clusters = 0
            let series = try XANESWorkflow.run(inputs: single, options: options, outputFolder: folder + "/series-" + file)
            #expect((series.summary["slabs"]?["count"]?.doubleValue ?? 0) >= 3, "\(file) streamed")
            #expect(series.maps.mask.elements == slabs.maps.mask.elements, "\(file)")
            let same = zip(series.maps.edgeEnergy.elements, slabs.maps.edgeEnergy.elements).allSatisfy { $0.isNaN ? $1.isNaN : $0 == $1 }
            #expect(same, "\(file): edge energies differ from the per-energy files'")
        }
        // I0 as a 4D volume streams beside the stack; the reference shift is fitted over every
        // slab: both give the in-memory run's calibration and maps.
        let flat = Grid(shape: sim.intensity.shape, elements: [Float](repeating: 1e5, count: sim.intensity.count))
        try VolumeIO.write(flat, to: folder + "/flat.npy")
        var withVolumeFlat = inputs
        withVolumeFlat.stackPaths = [folder + "/stack.npy"]
        withVolumeFlat.flatPath = folder + "/flat.npy"
        options.analysis.fitReferenceShift = true
        options.slabMegabytes = nil
        let wholeShift = try XANESWorkflow.run(inputs: withVolumeFlat, options: options, outputFolder: folder + "/shift-whole")
        options.slabMegabytes = 1
        let slabShift = try XANESWorkflow.run(inputs: withVolumeFlat, options: options, outputFolder: folder + "/shift-slabs")
        #expect(wholeShift.slabs.count == 1 && slabShift.slabs.count >= 3)
        #expect(wholeShift.calibration == slabShift.calibration)
        #expect(abs(wholeShift.calibration.referenceShift) < 1, "fitted shift \(wholeShift.calibration.referenceShift) eV (the references are unshifted)")
        for name in ["edge_energy_sigma", "fraction_charged", "fraction_charged_sigma"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/shift-whole/\(name).tif"))
            #expect(a == (try Data(contentsOf: URL(fileURLWithPath: folder + "/shift-slabs/\(name).tif"))), "\(name)")
        }
        // What a streamed stack cannot do is refused up front, not skipped.
        var aligning = options
        aligning.alignment = StackAlignmentSettings()
        #expect(throws: LensError.self) { _ = try XANESWorkflow.run(inputs: withVolumeFlat, options: aligning, outputFolder: folder + "/refused") }
        var normalized = options
        normalized.slabMegabytes = nil; normalized.writeNormalizedStack = true
        #expect(throws: LensError.self) { _ = try XANESWorkflow.run(inputs: withVolumeFlat, options: normalized, outputFolder: folder + "/refused") }
    }
}
