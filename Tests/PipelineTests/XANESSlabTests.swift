import Foundation
import LensCore
import LensIO
import Phantoms
import Pipeline
import Spectroscopy
import SpectroscopyFiles
import Testing

/// A 3D stack given as one volume per energy, streamed in z-slabs, gives the maps of the
/// in-memory analysis: the same E0, masks and edge energies (the estimators are per voxel), and
/// σ maps within a few % (the noise scale is fitted per slab instead of over the whole stack).
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
        #expect(abs(whole.maps.e0 - slabs.maps.e0) < 1e-6)
        #expect(whole.maps.mask.elements == slabs.maps.mask.elements)
        let wholeSigma = try VolumeIO.read(folder + "/whole/edge_energy_sigma.tif").float32()
        let slabSigma = try VolumeIO.read(folder + "/slabs/edge_energy_sigma.tif").float32()
        var worstEdge = 0.0, worstSigma = 0.0
        for i in 0..<n where whole.maps.mask[linear: i] == 0 {
            worstEdge = max(worstEdge, abs(Double(whole.maps.edgeEnergy[linear: i] - slabs.maps.edgeEnergy[linear: i])))
            worstSigma = max(worstSigma, abs(Double(slabSigma[linear: i] / wholeSigma[linear: i]) - 1))
        }
        #expect(worstEdge < 1e-3, "edge energies differ by \(worstEdge) eV")
        #expect(worstSigma < 0.1, "σ differs by \(worstSigma * 100) %")
        #expect(FileManager.default.fileExists(atPath: folder + "/slabs/fraction_charged_sigma.tif"))
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
    }
}
