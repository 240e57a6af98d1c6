import Foundation
import LensCore
import LensIO
import Signal
import Spectroscopy
import SpectroscopyFiles

/// The files of a TXM-XANES analysis.
public struct XANESInputs: Sendable {
    /// One file holding the whole stack ((energy, y, x) or (energy, z, y, x)), or one image or
    /// volume per energy, in energy order.
    public var stackPaths: [String]
    /// Energies (eV, or keV when all are below 100): a column text file with one per image, or
    /// an HDF5 dataset `file.h5:/path`; nil: from the stack itself (an `/energies`, `/energy` or
    /// `/exchange/energy` dataset beside an HDF5 stack, or the energies a Zeiss Xradia file records).
    public var energiesPath: String?
    /// I0: a stack of the same shape, or a text file with one value per energy (nil: the stack
    /// is already transmission I/I0, or optical density when `opticalDensity`).
    public var flatPath: String?
    /// Dark signal, subtracted from the stack and from I0: a stack of the same shape or a text
    /// file with one value per energy (nil: none).
    public var darkPath: String?
    public var opticalDensity = false
    /// Reference spectra (column text: energy and μ) for linear combination fitting.
    public var referencePaths: [String] = []
    /// A label image/volume on the frame of the anchor energy (particles, grains, …).
    public var labelsPath: String?
    /// A class per label (two-column text: label, class name — a damage class, say), carried
    /// into the per-label tables and summarized per class (``LabelClasses``).
    public var labelClassesPath: String?
    public init(stackPaths: [String], energiesPath: String?) { self.stackPaths = stackPaths; self.energiesPath = energiesPath }
}

public struct XANESOptions: Sendable {
    public var analysis = XANESSettings()
    /// nil: no alignment.
    public var alignment: StackAlignmentSettings?
    /// PCA score maps to write (0: no PCA), and k-means clusters on the first three scores (0: none).
    public var principalComponents = 3
    public var clusters = 0
    /// Also write the normalized stack (as large as the input).
    public var writeNormalizedStack = false
    /// 3D stacks (one volume per energy, or one 4D NPY/HDF5 file) are analysed in z-slabs of
    /// about this many MiB of working memory (nil: whole in memory when it fits in a quarter of
    /// the machine's memory, else slabs of 1 GiB). Slab-wise runs take E0 from a first pass over
    /// the mean spectrum, fit the noise scale per slab, run PCA from moments merged over the
    /// slabs (scores and cluster spectra from a scratch file of the normalized slabs), and do not
    /// align (align and choose a reference shift on a sub-volume first).
    public var slabMegabytes: Int?
    public init() {}
}

/// What a XANES run produced: the maps, and the summary written beside them.
public struct XANESRun: Sendable {
    public var maps: XANESMaps
    public var alignment: StackAlignment?
    public var pca: SpectralPCA?
    public var clusters: SpectralClusters?
    public var labelStatistics: [LabelMapStatistics]
    /// Output name → path.
    public var outputs: [String: String]
    public var summary: [String: JSONValue]
}

/// TXM-XANES from files to maps: read the stack, energies, I0 and references; optionally align
/// across energies (transmission I/I0 is aligned, then analysed); normalize, edge energies,
/// white line, LCF with uncertainties (``XANESAnalysis``); PCA and k-means; per-label statistics;
/// write every map (32-bit TIFF), CSV tables and PNG previews into one folder, atomically.
public enum XANESWorkflow {
    public static func run(inputs: XANESInputs, options: XANESOptions, outputFolder: String,
                           progress: ProgressReporter? = nil) throws -> XANESRun {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: outputFolder, isDirectory: &isDirectory) {
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        } else if !isDirectory.boolValue {
            throw LensError.badOutput(file: outputFolder, problem: "exists and is not a folder")
        }
        let classes = try labelClasses(inputs)     // read first: a bad class file fails before the analysis
        if let plan = try slabPlan(inputs: inputs, options: options) {
            return try runSlabwise(inputs: inputs, readers: plan.readers, classes: classes, options: options, outputFolder: outputFolder,
                                   slabMegabytes: plan.megabytes, progress: progress)
        }
        var stack = try readStack(inputs.stackPaths)
        let (energies, energySource) = try energies(inputs.energiesPath, stackPaths: inputs.stackPaths, count: stack.shape[0])
        var flat = try inputs.flatPath.map { try readFlat($0, stackShape: stack.shape) }
        if let darkPath = inputs.darkPath {
            guard !inputs.opticalDensity else { throw LensError.invalidArgument("a dark signal does not apply to an optical-density stack") }
            let dark = try readFlat(darkPath, stackShape: stack.shape)
            stack = Grid(shape: stack.shape, geometry: stack.geometry, elements: zip(stack.elements, dark.elements).map { $0 - $1 })
            flat = flat.map { f in Grid(shape: f.shape, geometry: f.geometry, elements: zip(f.elements, dark.elements).map { $0 - $1 }) }
        }
        if inputs.opticalDensity {
            stack = stack.map { Float(exp(-Double($0))) }
            flat = nil
        }
        let references = try inputs.referencePaths.flatMap { try SpectrumFile.references($0) }
        var alignment: StackAlignment?
        if let settings = options.alignment {
            // Align transmission: I/I0 removes the beam profile, which does not move with the sample.
            let transmission = flat.map { f in Grid(shape: stack.shape, geometry: stack.geometry, elements: zip(stack.elements, f.elements).map { $1 > 0 ? $0 / $1 : .nan }) } ?? stack
            let aligned = try StackAligner.align(stack: transmission, energies: energies, settings: settings, progress: progress)
            alignment = aligned
            stack = aligned.aligned
            flat = nil
        }
        let maps = try XANESAnalysis.analyse(intensity: stack, flat: flat, energies: energies, references: references,
                                             settings: options.analysis, progress: progress)
        var outputs = [String: String]()
        func write(_ grid: Grid<Float>, _ name: String) throws {
            let path = "\(outputFolder)/\(name).tif"
            try VolumeIO.write(grid, to: path, inputs: inputs.stackPaths)
            outputs[name] = path
        }
        var mapList: [(String, Grid<Float>)] = [
            ("edge_energy", maps.edgeEnergy), ("edge_energy_sigma", maps.edgeEnergySigma),
            ("derivative_edge_energy", maps.derivativeEdgeEnergy), ("derivative_edge_energy_sigma", maps.derivativeEdgeEnergySigma),
            ("white_line_energy", maps.whiteLineEnergy), ("white_line_energy_sigma", maps.whiteLineEnergySigma),
            ("white_line_height", maps.whiteLineHeight), ("white_line_height_sigma", maps.whiteLineHeightSigma),
            ("edge_step", maps.edgeStep), ("jump_to_noise", maps.jumpToNoise),
        ]
        for (j, r) in references.enumerated() {
            mapList.append(("fraction_\(safeName(r.name))", maps.fractions[j]))
            mapList.append(("fraction_\(safeName(r.name))_sigma", maps.fractionSigmas[j]))
        }
        if !references.isEmpty { mapList += [("r_factor", maps.rFactor), ("reduced_chi_square", maps.reducedChiSquare)] }
        for (name, grid) in mapList { try write(grid, name) }
        let maskPath = "\(outputFolder)/mask.tif"
        try VolumeIO.write(maps.mask, to: maskPath, inputs: inputs.stackPaths)
        outputs["mask"] = maskPath
        if options.writeNormalizedStack { try write(maps.normalized, "normalized_stack") }
        try preview(maps.edgeEnergy, to: "\(outputFolder)/edge_energy.png")
        outputs["edge_energy_preview"] = "\(outputFolder)/edge_energy.png"
        // Mean normalized spectrum of the analysed pixels.
        let ne = energies.count, np = maps.normalized.count / ne
        var meanTable = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mean_normalized_mu"), TableColumn("pixels")])
        maps.normalized.withUnsafeBufferPointer { s in
            for k in 0..<ne {
                var sum = 0.0, count = 0
                for p in 0..<np where s[k * np + p].isFinite { sum += Double(s[k * np + p]); count += 1 }
                meanTable.append([.number(energies[k]), .number(count > 0 ? sum / Double(count) : .nan), .number(Double(count))])
            }
        }
        try meanTable.write(to: "\(outputFolder)/mean_spectrum.csv"); outputs["mean_spectrum"] = "\(outputFolder)/mean_spectrum.csv"
        var pca: SpectralPCA?, clusters: SpectralClusters?
        let analysed = maps.maskCounts[.valid] ?? 0
        if options.principalComponents > 0 && analysed > ne {
            // Pixels weighted by 1/σ² of their normalized spectra: the squared jump-to-noise ratio.
            let weights = pcaWeights(maps.jumpToNoise)
            let p = try SpectralPCA(stack: maps.normalized, energies: energies, componentCount: options.principalComponents, weights: weights)
            for (c, score) in p.scores.enumerated() { try write(score, "pca_score_\(c + 1)") }
            if options.clusters > 0 {
                clusters = try SpectralClusters(stack: maps.normalized, pca: p, clusterCount: options.clusters, weights: weights)
            }
            pca = p
            try writeSpectralOutputs(pca: p, clusters: clusters, energies: energies, folder: outputFolder, inputs: inputs.stackPaths, outputs: &outputs)
        }
        var perLabel: LabelOutputs?
        if let labelsPath = inputs.labelsPath {
            var labels = try VolumeIO.read(labelsPath).converted(to: Int32.self)
            if let alignment, labels.shape != maps.edgeEnergy.shape {
                labels = try crop(labels, to: alignment.crop, file: labelsPath)
            }
            perLabel = try labelOutputs(labels: labels, file: labelsPath, classes: classes, edgeEnergy: maps.edgeEnergy,
                                        whiteLineEnergy: maps.whiteLineEnergy,
                                        fractions: maps.fractions, references: references, folder: outputFolder, outputs: &outputs)
        }
        var summary: [String: JSONValue] = [
            "energies": .number(Double(ne)), "energy_source": .string(energySource), "energy_range_ev": .array([.number(energies[0]), .number(energies[ne - 1])]),
            "stack_shape": .array(stack.shape.dims.map { .number(Double($0)) }),
            "e0_ev": .number(maps.e0), "normalization": normalizationJSON(maps.normalization),
            "noise_scale": .number(maps.noiseScale),
            "pixels": .object(Dictionary(uniqueKeysWithValues: XANESMaskReason.allCases.map { ($0.key, .number(Double(maps.maskCounts[$0] ?? 0))) })),
            "edge_energy_ev": statistics(maps.edgeEnergy), "edge_energy_sigma_ev": statistics(maps.edgeEnergySigma),
            "white_line_energy_ev": statistics(maps.whiteLineEnergy),
            "voxel_size_um": stack.geometry.isCalibrated ? .array(stack.geometry.sliceGeometry.voxelSizeMicrometres.map { .number($0) }) : .null,
            "outputs": .object(outputs.mapValues { .string($0) }),
        ]
        if !references.isEmpty {
            summary["fractions"] = .object(Dictionary(uniqueKeysWithValues: references.enumerated().map { j, r in
                (r.name, statistics(maps.fractions[j]))
            }))
            summary["r_factor"] = statistics(maps.rFactor)
            summary["reference_shift_ev"] = .number(maps.referenceShift)
        }
        if let alignment {
            summary["alignment"] = .object(["shifts_px": .array(alignment.shifts.map { .array($0.map { .number($0) }) }),
                                            "correlations": .array(alignment.correlations.map { .finite($0) }),
                                            "crop": .array(alignment.crop.map { .array([.number(Double($0.lowerBound)), .number(Double($0.upperBound))]) })])
        }
        if let pca { summary["pca_explained_variance_ratio"] = .array(pca.explainedVarianceRatio.prefix(8).map { .number($0) }) }
        if let clusters { summary["cluster_pixels"] = .array(clusters.pixelCounts.map { .number(Double($0)) }) }
        perLabel?.summarize(into: &summary)
        return XANESRun(maps: maps, alignment: alignment, pca: pca, clusters: clusters, labelStatistics: perLabel?.statistics ?? [],
                        outputs: outputs, summary: summary)
    }

    /// Working bytes per stack value in the per-pixel analysis, all single precision: the input,
    /// I0, optical density, 1/√I and the normalized stack.
    static let bytesPerStackValue = 5 * 4

    /// The slab size to stream with and the energy volumes' readers, or nil to analyse in memory.
    static func slabPlan(inputs: XANESInputs, options: XANESOptions) throws -> (megabytes: Int, readers: [VolumeReader])? {
        guard !textImageExtensions.contains(DatasetReference(inputs.stackPaths[0]).fileExtension),
              let readers = try energyVolumeReaders(inputs.stackPaths) else { return nil }
        if let requested = options.slabMegabytes { return (max(1, requested), readers) }
        let bytes = readers.count * readers[0].info.shape.count * bytesPerStackValue
        let budget = Int(ProcessInfo.processInfo.physicalMemory / 4)
        return bytes > budget ? (1024, readers) : nil
    }

    /// One reader per energy volume when the stack is 3D and can stream: one volume file per
    /// energy, or a single 4D (energy, z, y, x) NPY or HDF5 file read through its row bands;
    /// nil otherwise (2D stacks, formats without bands).
    static func energyVolumeReaders(_ paths: [String]) throws -> [VolumeReader]? {
        if paths.count > 1 {
            let first = try VolumeIO.open(paths[0])
            guard first.info.shape.rank == 3 else { return nil }
            return [first] + (try paths.dropFirst().map { try VolumeIO.open($0) })
        }
        guard let series = try VolumeIO.open(paths[0]) as? RowBandReader, series.info.shape.rank == 4 else { return nil }
        return try (0..<series.info.shape[0]).map { try SeriesVolumeReader(series: series, index: $0) }
    }

    /// A 3D stack (one reader per energy volume) analysed in z-slabs: pass 1 accumulates the mean
    /// optical density spectrum for E0; pass 2 analyses each slab of every energy, writes each
    /// map's slab and (for PCA) accumulates the moments and keeps the normalized slab; then the
    /// scores, clusters and cluster spectra come from the kept slabs.
    static func runSlabwise(inputs: XANESInputs, readers: [VolumeReader], classes: [Int: String], options: XANESOptions,
                            outputFolder: String, slabMegabytes: Int,
                            progress: ProgressReporter?) throws -> XANESRun {
        guard inputs.flatPath.map({ textFlatExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }) ?? true,
              inputs.darkPath.map({ textFlatExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }) ?? true else {
            throw LensError.invalidArgument("a stack streamed in slabs takes I0 and dark as one value per energy (a text file); give a slab size large enough to hold the stack to use I0 volumes")
        }
        guard !options.writeNormalizedStack else {
            throw LensError.invalidArgument("writing the normalized stack needs the stack in memory: give a slab size large enough to hold it")
        }
        guard !options.analysis.fitReferenceShift else {
            throw LensError.invalidArgument("a stack streamed in slabs does not fit the reference shift: fit it on a sub-volume, then give --reference-shift")
        }
        let shape = readers[0].info.shape
        for reader in readers where reader.info.shape != shape {
            throw LensError.badInput(file: reader.source, problem: "shape \(reader.info.shape) differs from the first energy's \(shape)")
        }
        let ne = readers.count
        let (energies, energySource) = try energies(inputs.energiesPath, stackPaths: inputs.stackPaths, count: ne)
        let stackShape = Shape([ne] + shape.dims)
        let i0 = try inputs.flatPath.map { try perEnergyValues($0, count: ne) } ?? [Double](repeating: 1, count: ne)
        let dark = try inputs.darkPath.map { try perEnergyValues($0, count: ne) } ?? [Double](repeating: 0, count: ne)
        let plane = shape[1] * shape[2]
        let thickness = max(1, min(shape[0], slabMegabytes << 20 / max(1, ne * plane * bytesPerStackValue)))
        let slabs = stride(from: 0, to: shape[0], by: thickness).map { $0..<min(shape[0], $0 + thickness) }
        func readSlab(_ z: Range<Int>) throws -> (intensity: Grid<Float>, flat: Grid<Float>) {
            var values = [Float](), flats = [Float]()
            values.reserveCapacity(ne * z.count * plane); flats.reserveCapacity(ne * z.count * plane)
            for (k, reader) in readers.enumerated() {
                let slab = try reader.readSlab(z).float32()
                values += inputs.opticalDensity ? slab.elements.map { Float(exp(-Double($0))) } : slab.elements.map { $0 - Float(dark[k]) }
                flats += [Float](repeating: inputs.opticalDensity ? 1 : Float(i0[k] - dark[k]), count: slab.count)
            }
            let geometry = GridGeometry(voxelSizeMicrometres: [1] + readers[0].info.geometry.voxelSizeMicrometres,
                                        originMicrometres: [0] + readers[0].info.geometry.originMicrometres, isCalibrated: readers[0].info.geometry.isCalibrated)
            let sliceShape = Shape([ne, z.count, shape[1], shape[2]])
            return (Grid(shape: sliceShape, geometry: geometry, elements: values), Grid(shape: sliceShape, elements: flats))
        }
        // Pass 1: E0 from the mean optical-density spectrum of pixels with positive intensity.
        var settings = options.analysis
        if settings.e0 == nil {
            var sums = [Double](repeating: 0, count: ne), count = 0
            for z in slabs {
                let (intensity, flat) = try readSlab(z)
                let slab = try XANESAnalysis.opticalDensitySum(intensity: intensity, flat: flat)
                for k in 0..<ne { sums[k] += slab.sum[k] }
                count += slab.count
                progress?.advance(by: z.count)
            }
            guard count > 0 else { throw LensError.numerical("every voxel has zero or negative intensity at some energy") }
            settings.e0 = try EdgeEnergy.maximumDerivative(energies: energies, values: sums.map { $0 / Double(count) }).energy
        }
        // Pass 2: analyse each slab and write its maps.
        let references = try inputs.referencePaths.flatMap { try SpectrumFile.references($0) }
        var names = ["edge_energy", "edge_energy_sigma", "derivative_edge_energy", "derivative_edge_energy_sigma", "white_line_energy",
                     "white_line_energy_sigma", "white_line_height", "white_line_height_sigma", "edge_step", "jump_to_noise"]
        for r in references { names += ["fraction_\(safeName(r.name))", "fraction_\(safeName(r.name))_sigma"] }
        if !references.isEmpty { names += ["r_factor", "reduced_chi_square"] }
        let volumeInfo = VolumeInfo(shape: shape, dataType: .float32, geometry: readers[0].info.geometry, format: "tiff")
        var writers = try names.map { try VolumeIO.create("\(outputFolder)/\($0).tif", info: volumeInfo, inputs: inputs.stackPaths) }
        writers.append(try VolumeIO.create("\(outputFolder)/mask.tif", info: VolumeInfo(shape: shape, dataType: .uint8, geometry: readers[0].info.geometry, format: "tiff"), inputs: inputs.stackPaths))
        var counts = [XANESMaskReason: Int](), noiseScales = [Double](), normalization: EdgeNormalizationSettings?
        var meanSums = [Double](repeating: 0, count: ne), meanCount = 0
        // For PCA: the moments of the normalized spectra, accumulated slab by slab, and the
        // normalized slabs kept in a scratch file for the projections (and cluster spectra).
        let wantsPCA = options.principalComponents > 0
        var moments = SpectralPCA.Moments(energyCount: ne), weightValues = [Float]()
        let scratch = wantsPCA ? try NormalizedScratch(folder: outputFolder) : nil
        defer { scratch?.remove() }
        do {
            for z in slabs {
                let (intensity, flat) = try readSlab(z)
                let maps = try XANESAnalysis.analyse(intensity: intensity, flat: flat, energies: energies, references: references, settings: settings)
                if let scratch {
                    let weights = pcaWeights(maps.jumpToNoise)
                    try moments.add(stack: maps.normalized, weights: weights)
                    try scratch.append(maps.normalized)
                    weightValues += weights.elements
                }
                var grids = [maps.edgeEnergy, maps.edgeEnergySigma, maps.derivativeEdgeEnergy, maps.derivativeEdgeEnergySigma, maps.whiteLineEnergy,
                             maps.whiteLineEnergySigma, maps.whiteLineHeight, maps.whiteLineHeightSigma, maps.edgeStep, maps.jumpToNoise]
                for j in references.indices { grids += [maps.fractions[j], maps.fractionSigmas[j]] }
                if !references.isEmpty { grids += [maps.rFactor, maps.reducedChiSquare] }
                for (writer, grid) in zip(writers, grids) { try writer.writeSlab(AnyGrid(grid), at: z.lowerBound) }
                try writers.last!.writeSlab(AnyGrid(maps.mask), at: z.lowerBound)
                for (reason, n) in maps.maskCounts { counts[reason, default: 0] += n }
                noiseScales.append(maps.noiseScale); normalization = maps.normalization
                let n = maps.mask.count
                for p in 0..<n where maps.mask[linear: p] == 0 {
                    for k in 0..<ne { meanSums[k] += Double(maps.normalized[linear: k * n + p]) }
                    meanCount += 1
                }
                progress?.advance(by: z.count)
            }
            for writer in writers { try writer.finish() }
        } catch {
            for writer in writers { writer.abort() }
            throw error
        }
        var outputs = Dictionary(uniqueKeysWithValues: names.map { ($0, "\(outputFolder)/\($0).tif") })
        outputs["mask"] = "\(outputFolder)/mask.tif"
        // PCA of the whole stack from the merged moments; scores, clusters and cluster spectra
        // from the scratch slabs.
        var pca: SpectralPCA?, clusters: SpectralClusters?
        if let scratch, moments.count > ne {
            var p = try SpectralPCA(moments: moments, energies: energies, componentCount: options.principalComponents)
            let weights = Grid(shape: shape, geometry: readers[0].info.geometry, elements: weightValues)
            let scoreWriters = try (0..<p.componentCount).map { try VolumeIO.create("\(outputFolder)/pca_score_\($0 + 1).tif", info: volumeInfo, inputs: inputs.stackPaths) }
            var scoreValues = [[Float]](repeating: [], count: p.componentCount)
            do {
                for (index, z) in slabs.enumerated() {
                    let scores = p.scores(of: try scratch.read(index), weights: weights.slab(z))
                    for (c, score) in scores.enumerated() { try scoreWriters[c].writeSlab(AnyGrid(score), at: z.lowerBound); scoreValues[c] += score.elements }
                }
                for writer in scoreWriters { try writer.finish() }
            } catch {
                for writer in scoreWriters { writer.abort() }
                throw error
            }
            for c in 0..<p.componentCount { outputs["pca_score_\(c + 1)"] = "\(outputFolder)/pca_score_\(c + 1).tif" }
            p.scores = scoreValues.map { Grid(shape: shape, geometry: readers[0].info.geometry, elements: $0) }
            if options.clusters > 0 {
                var k = try SpectralClusters(scores: p.scores, clusterCount: options.clusters, weights: weights)
                var sums = SpectralClusters.SpectrumSums(clusterCount: options.clusters, energyCount: ne)
                for (index, z) in slabs.enumerated() { try sums.add(stack: try scratch.read(index), labels: k.labels.slab(z)) }
                k.meanSpectra = sums.means
                clusters = k
            }
            pca = p
            try writeSpectralOutputs(pca: p, clusters: clusters, energies: energies, folder: outputFolder, inputs: inputs.stackPaths, outputs: &outputs)
        }
        var meanTable = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mean_normalized_mu"), TableColumn("pixels")])
        for k in 0..<ne { meanTable.append([.number(energies[k]), .number(meanCount > 0 ? meanSums[k] / Double(meanCount) : .nan), .number(Double(meanCount))]) }
        try meanTable.write(to: "\(outputFolder)/mean_spectrum.csv"); outputs["mean_spectrum"] = "\(outputFolder)/mean_spectrum.csv"
        // The maps are a 63rd of the stack: read them back whole for the summary and labels.
        let edge = try VolumeIO.read("\(outputFolder)/edge_energy.tif").float32()
        let mask = try VolumeIO.read("\(outputFolder)/mask.tif").converted(to: UInt8.self)
        let whiteLine = try VolumeIO.read("\(outputFolder)/white_line_energy.tif").float32()
        let fractions = try references.map { try VolumeIO.read("\(outputFolder)/fraction_\(safeName($0.name)).tif").float32() }
        try preview(edge, to: "\(outputFolder)/edge_energy.png"); outputs["edge_energy_preview"] = "\(outputFolder)/edge_energy.png"
        var summary: [String: JSONValue] = [
            "energies": .number(Double(ne)), "energy_source": .string(energySource),
            "energy_range_ev": .array([.number(energies[0]), .number(energies[ne - 1])]),
            "stack_shape": .array(stackShape.dims.map { .number(Double($0)) }), "e0_ev": .number(settings.e0!),
            "slabs": .object(["count": .number(Double(slabs.count)), "thickness": .number(Double(thickness)), "megabytes": .number(Double(slabMegabytes))]),
            "noise_scale": .object(["min": .finite(noiseScales.min() ?? .nan), "max": .finite(noiseScales.max() ?? .nan)]),
            "pixels": .object(Dictionary(uniqueKeysWithValues: XANESMaskReason.allCases.map { ($0.key, .number(Double(counts[$0] ?? 0))) })),
            "edge_energy_ev": statistics(edge), "white_line_energy_ev": statistics(whiteLine),
            "voxel_size_um": readers[0].info.geometry.isCalibrated ? .array(readers[0].info.geometry.voxelSizeMicrometres.map { .number($0) }) : .null,
        ]
        if let normalization { summary["normalization"] = normalizationJSON(normalization) }
        if let pca { summary["pca_explained_variance_ratio"] = .array(pca.explainedVarianceRatio.prefix(8).map { .number($0) }) }
        if let clusters { summary["cluster_pixels"] = .array(clusters.pixelCounts.map { .number(Double($0)) }) }
        if !references.isEmpty {
            summary["fractions"] = .object(Dictionary(uniqueKeysWithValues: references.enumerated().map { ($1.name, statistics(fractions[$0])) }))
            summary["reference_shift_ev"] = .number(settings.referenceShift)
        }
        var perLabel: LabelOutputs?
        if let labelsPath = inputs.labelsPath {
            perLabel = try labelOutputs(labels: VolumeIO.read(labelsPath).converted(to: Int32.self), file: labelsPath,
                                        classes: classes, edgeEnergy: edge,
                                        whiteLineEnergy: whiteLine, fractions: fractions, references: references, folder: outputFolder, outputs: &outputs)
            perLabel?.summarize(into: &summary)
        }
        summary["outputs"] = .object(outputs.mapValues { .string($0) })
        // The returned maps hold what was read back; per-pixel σ maps and the normalized stack stay on disk.
        let empty = Grid<Float>(shape: edge.shape, repeating: .nan)
        let maps = XANESMaps(e0: settings.e0!, normalization: normalization ?? EdgeNormalizationSettings.larchDefaults(energies: energies, e0: settings.e0!),
                             edgeEnergy: edge, edgeEnergySigma: empty, derivativeEdgeEnergy: empty, derivativeEdgeEnergySigma: empty,
                             whiteLineEnergy: whiteLine, whiteLineEnergySigma: empty, whiteLineHeight: empty, whiteLineHeightSigma: empty,
                             edgeStep: empty, jumpToNoise: empty, fractions: fractions, fractionSigmas: fractions.map { _ in empty },
                             rFactor: empty, reducedChiSquare: empty, mask: mask, normalized: Grid(shape: Shape(0), elements: []),
                             noiseScale: noiseScales.isEmpty ? .nan : Statistics.median(noiseScales), referenceShift: settings.referenceShift)
        return XANESRun(maps: maps, alignment: nil, pca: pca, clusters: clusters, labelStatistics: perLabel?.statistics ?? [], outputs: outputs, summary: summary)
    }

    static let textFlatExtensions: Set<String> = ["txt", "csv", "dat", "tsv", "xsp"]

    /// Per-label statistics of the edge energy, white line and fractions, and the valence
    /// gradient model, written as CSVs beside the maps.
    struct LabelOutputs {
        var statistics: [LabelMapStatistics]
        var valence: ValenceGradientAnalysis

        func summarize(into summary: inout [String: JSONValue]) {
            summary["labels"] = .object(Dictionary(uniqueKeysWithValues: statistics.map { s -> (String, JSONValue) in
                var entry: [String: JSONValue] = [
                    "labels": .number(Double(s.entries.count)), "grand_mean": .finite(s.grandMean),
                    "within_label_variance": .finite(s.withinLabelVariance), "between_label_variance": .finite(s.betweenLabelVariance),
                    "within_fraction": .finite(s.withinFraction), "masked_labelled_pixels": .number(Double(s.maskedPixelCount))]
                let classes = s.classSummaries
                if !classes.isEmpty {
                    entry["classes"] = .object(Dictionary(uniqueKeysWithValues: classes.map { c in
                        (c.labelClass, JSONValue.object(["labels": .number(Double(c.labels)), "mean_of_label_means": .finite(c.meanOfLabelMeans),
                                                         "std_of_label_means": .finite(c.standardDeviationOfLabelMeans),
                                                         "pixel_weighted_mean": .finite(c.pixelWeightedMean)]))
                    }))
                }
                return (s.mapName, JSONValue.object(entry))
            }))
            let indices = valence.particles.map(\.radialIndex).filter(\.isFinite)
            summary["valence_gradient"] = .object(["particles": .number(Double(indices.count)),
                                                   "median_radial_index": indices.isEmpty ? .null : .finite(Statistics.median(indices)),
                                                   "note": .string("radial index 1: random orientation of the edge-energy gradient; > 1: radial (core–shell) patterns")])
        }
    }

    static func labelOutputs(labels: Grid<Int32>, file: String, classes: [Int: String], edgeEnergy: Grid<Float>, whiteLineEnergy: Grid<Float>,
                             fractions: [Grid<Float>], references: [ReferenceSpectrum], folder: String,
                             outputs: inout [String: String]) throws -> LabelOutputs {
        guard labels.shape == edgeEnergy.shape else {
            throw LensError.badInput(file: file, problem: "the labels have shape \(labels.shape) but the maps \(edgeEnergy.shape)")
        }
        let size = labels.geometry.isCalibrated ? (labels.rank == 3 ? "µm³" : "µm²") : (labels.rank == 3 ? "voxels" : "pixels")
        var named: [(String, String, Grid<Float>)] = [("edge_energy", "eV", edgeEnergy), ("white_line_energy", "eV", whiteLineEnergy)]
        for (j, r) in references.enumerated() { named.append(("fraction_\(safeName(r.name))", "", fractions[j])) }
        var statistics = [LabelMapStatistics]()
        for (name, unit, map) in named {
            let s = try LabelMapStatistics(map: map, labels: labels, mapName: name, mapUnit: unit, classes: classes)
            let path = "\(folder)/labels_\(name).csv"
            try s.table(sizeUnit: size).write(to: path); outputs["labels_\(name)"] = path
            statistics.append(s)
        }
        let gradient = try ValenceGradientAnalysis(map: edgeEnergy, labels: labels)
        try gradient.table().write(to: "\(folder)/valence_gradient.csv"); outputs["valence_gradient"] = "\(folder)/valence_gradient.csv"
        return LabelOutputs(statistics: statistics, valence: gradient)
    }

    /// The per-label classes, when a class file is given (it needs a label file).
    static func labelClasses(_ inputs: XANESInputs) throws -> [Int: String] {
        guard let path = inputs.labelClassesPath else { return [:] }
        guard inputs.labelsPath != nil else { throw LensError.invalidArgument("label classes (\(path)) need a label file") }
        return try LabelClasses.read(path)
    }

    /// PCA and k-means weights: 1/σ² of each pixel's normalized spectrum, the squared
    /// jump-to-noise ratio (0 where masked).
    static func pcaWeights(_ jumpToNoise: Grid<Float>) -> Grid<Float> { jumpToNoise.map { $0.isFinite ? $0 * $0 : 0 } }

    /// The PCA components table and, with clusters, the cluster label map and mean spectra.
    static func writeSpectralOutputs(pca: SpectralPCA, clusters: SpectralClusters?, energies: [Double], folder: String, inputs: [String],
                                     outputs: inout [String: String]) throws {
        let ne = energies.count
        var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mean")] + (0..<pca.componentCount).map { TableColumn("component_\($0 + 1)") })
        for k in 0..<ne { table.append([.number(energies[k]), .number(pca.meanSpectrum[k])] + (0..<pca.componentCount).map { .number(pca.components[$0][k]) }) }
        try table.write(to: "\(folder)/pca_components.csv"); outputs["pca_components"] = "\(folder)/pca_components.csv"
        guard let clusters else { return }
        try VolumeIO.write(clusters.labels, to: "\(folder)/clusters.tif", inputs: inputs); outputs["clusters"] = "\(folder)/clusters.tif"
        var spectra = Table(columns: [TableColumn("energy", unit: "eV")] + clusters.meanSpectra.indices.map { TableColumn("cluster_\($0 + 1)") })
        for e in 0..<ne { spectra.append([.number(energies[e])] + clusters.meanSpectra.map { .number($0[e]) }) }
        try spectra.write(to: "\(folder)/cluster_spectra.csv"); outputs["cluster_spectra"] = "\(folder)/cluster_spectra.csv"
    }

    static func normalizationJSON(_ n: EdgeNormalizationSettings) -> JSONValue {
        .object(["pre_edge_ev": .array([.number(n.preEdge.lowerBound), .number(n.preEdge.upperBound)]),
                 "post_edge_ev": .array([.number(n.postEdge.lowerBound), .number(n.postEdge.upperBound)]),
                 "post_edge_degree": .number(Double(n.postEdgeDegree))])
    }

    /// Mean, standard deviation, percentiles and count of a map's finite values.
    static func statistics(_ map: Grid<Float>) -> JSONValue {
        let v = map.elements.filter(\.isFinite).map(Double.init)
        guard !v.isEmpty else { return .object(["count": .number(0)]) }
        let p = Statistics.percentiles(v, [5, 50, 95])
        return .object(["count": .number(Double(v.count)), "mean": .finite(Statistics.mean(v)),
                        "std": .finite(v.count > 1 ? Statistics.standardDeviation(v) : 0),
                        "p5": .finite(p[0]), "median": .finite(p[1]), "p95": .finite(p[2])])
    }

    static func safeName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    static func preview(_ map: Grid<Float>, to path: String) throws {
        var plane = map
        if map.rank == 3 { plane = map.slab(map.shape[0] / 2..<(map.shape[0] / 2 + 1)).reshaped(Shape(map.shape[1], map.shape[2])) }
        try PNGWriter.encode(SliceRenderer.render(plane, window: .automatic, colormap: .viridis), to: path)
    }

    /// The stack as Float, from one file or one file per energy.
    public static func readStack(_ paths: [String]) throws -> Grid<Float> {
        guard let first = paths.first else { throw LensError.invalidArgument("no stack given") }
        if paths.count == 1 {
            let grid = try VolumeIO.read(first).float32()
            guard grid.rank == 3 || grid.rank == 4 else {
                throw LensError.badInput(file: first, problem: "a XANES stack is (energy, y, x) or (energy, z, y, x); this file has shape \(grid.shape) — give one file per energy instead")
            }
            return grid
        }
        var frames = [Grid<Float>]()
        for path in paths {
            let g = try readFrame(path)
            if let f = frames.first, f.shape != g.shape {
                throw LensError.badInput(file: path, problem: "shape \(g.shape) differs from the first energy's \(f.shape)")
            }
            guard g.rank == 2 || g.rank == 3 else { throw LensError.badInput(file: path, problem: "one image or volume per energy expected, got shape \(g.shape)") }
            frames.append(g)
        }
        let frame = frames[0]
        var geometry = frame.geometry
        geometry = GridGeometry(voxelSizeMicrometres: [1] + geometry.voxelSizeMicrometres, originMicrometres: [0] + geometry.originMicrometres, isCalibrated: geometry.isCalibrated)
        return Grid(shape: Shape([frames.count] + frame.shape.dims), geometry: geometry, elements: frames.flatMap(\.elements))
    }

    /// Extensions of text images (rows of whitespace-separated numbers), as ALS STXM writes its
    /// `.xim` frames.
    public static let textImageExtensions: Set<String> = ["xim", "txt", "csv"]

    /// One image or volume per energy: a text image, or any volume format.
    static func readFrame(_ path: String) throws -> Grid<Float> {
        guard textImageExtensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased()) else { return try VolumeIO.read(path).float32() }
        return try TextImage.read(path)
    }

    /// The stack's energies and where they came from: the given file or dataset, else the
    /// stack's own file (see ``XANESInputs/energiesPath``).
    public static func energies(_ path: String?, stackPaths: [String], count: Int) throws -> ([Double], String) {
        if let path { return (try readEnergies(path, count: count), path) }
        let stack = DatasetReference(stackPaths[0])
        if stackPaths.count == 1, VolumeIO.hdf5Extensions.contains(stack.fileExtension) {
            let file = try HDF5File(openingForReading: stack.filePath)
            for name in ["/energies", "/energy", "/exchange/energy"] where file.kind(of: name) == .dataset {
                let reference = "\(stack.filePath):\(name)"
                return (try readEnergies(reference, count: count), reference)
            }
        }
        if VolumeIO.xradiaExtensions.contains(stack.fileExtension) {
            let values = stackPaths.count == 1 ? try XradiaFile(path: stack.filePath).energiesElectronvolts
                : try stackPaths.map { try XradiaFile(path: DatasetReference($0).filePath).energiesElectronvolts.first ?? 0 }
            return (try checkedEnergies(values, unit: .electronVolts, count: count, source: stack.filePath), "\(stack.filePath) (Xradia metadata)")
        }
        throw LensError.badInput(file: stackPaths[0], problem: "the stack records no energies: give --energies")
    }

    /// Energies in eV from a column file (the column named energy, else the first) or an HDF5
    /// dataset `file.h5:/path`; keV converted.
    public static func readEnergies(_ path: String, count: Int) throws -> [Double] {
        let reference = DatasetReference(path)
        if reference.datasetPath != nil, VolumeIO.hdf5Extensions.contains(reference.fileExtension) {
            let file = try HDF5File(openingForReading: reference.filePath)
            let values = try file.dataset(reference.datasetPath!).readDoubles()
            let unit = file.stringAttribute("units", of: reference.datasetPath!).flatMap { EnergyUnit(declared: $0) }
            return try checkedEnergies(values, unit: unit, count: count, source: path)
        }
        let table = try NumericColumns.read(path)
        let index = SpectrumFile.energyColumnIndex(table)
        return try checkedEnergies(table.columns[index], unit: SpectrumFile.declaredUnit(name: table.names[index], unit: table.units[index]), count: count, source: path)
    }

    static func checkedEnergies(_ values: [Double], unit: EnergyUnit?, count: Int, source path: String) throws -> [Double] {
        let energies = try SpectrumFile.electronVolts(values, unit: unit, source: path)
        guard energies.count == count else {
            throw LensError.badInput(file: path, problem: "\(energies.count) energies for a stack of \(count) images")
        }
        guard energies.count >= 6 else {
            throw LensError.badInput(file: path, problem: "only \(energies.count) energies; normalizing an edge needs at least 6")
        }
        if let bad = energies.firstIndex(where: { !$0.isFinite }) {
            throw LensError.badInput(file: path, problem: "energy \(bad + 1) is \(energies[bad]), not a number")
        }
        if let k = energies.indices.dropFirst().first(where: { !(energies[$0] > energies[$0 - 1]) }) {
            throw LensError.badInput(file: path, problem: "energies must increase; energy \(k + 1) (\(energies[k]) eV) follows \(energies[k - 1]) eV")
        }
        return energies
    }

    /// I0 (or a dark signal) as a stack of the stack's shape: read as such, or broadcast from one
    /// value per energy.
    static func readFlat(_ path: String, stackShape: Shape) throws -> Grid<Float> {
        if textFlatExtensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased()) {
            let column = try perEnergyValues(path, count: stackShape[0])
            let per = stackShape.count / stackShape[0]
            return Grid(shape: stackShape, elements: column.flatMap { [Float](repeating: Float($0), count: per) })
        }
        let flat = try VolumeIO.read(path).float32()
        guard flat.shape == stackShape else { throw LensError.badInput(file: path, problem: "I0 has shape \(flat.shape), the stack \(stackShape)") }
        return flat
    }

    /// One value per energy from a text file (its last column: a bare list, or energy and value).
    static func perEnergyValues(_ path: String, count: Int) throws -> [Double] {
        let column = try NumericColumns.read(path).columns.last!
        guard column.count == count else { throw LensError.badInput(file: path, problem: "\(column.count) values for \(count) energies") }
        return column
    }

    static func crop(_ labels: Grid<Int32>, to box: [Range<Int>], file: String) throws -> Grid<Int32> {
        guard labels.rank == box.count, zip(labels.shape.dims, box).allSatisfy({ $0 >= $1.upperBound }) else {
            throw LensError.badInput(file: file, problem: "the labels have shape \(labels.shape), which does not contain the aligned area \(box)")
        }
        var out = [Int32]()
        if box.count == 2 {
            for y in box[0] { for x in box[1] { out.append(labels[y, x]) } }
        } else {
            for z in box[0] { for y in box[1] { for x in box[2] { out.append(labels[linear: (z * labels.shape[1] + y) * labels.shape[2] + x]) } } }
        }
        return Grid(shape: Shape(box.map(\.count)), elements: out)
    }
}

/// Normalized slabs of a stack streamed in slabs, kept in a hidden scratch file in the output
/// folder between the passes that need them (PCA scores, cluster spectra); removed at the end.
final class NormalizedScratch {
    let path: String
    private let handle: FileHandle
    /// Byte offset and shape of each slab appended.
    private var slabs: [(offset: UInt64, shape: Shape, geometry: GridGeometry)] = []
    private var end: UInt64 = 0

    init(folder: String) throws {
        path = "\(folder)/.normalized-\(UUID().uuidString).f32"
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forUpdatingAtPath: path) else {
            throw LensError.badOutput(file: path, problem: "cannot create the scratch file for the normalized slabs")
        }
        self.handle = handle
    }

    func append(_ slab: Grid<Float>) throws {
        let data = slab.withUnsafeBufferPointer { Data(buffer: $0) }
        try handle.seek(toOffset: end)
        try handle.write(contentsOf: data)
        slabs.append((end, slab.shape, slab.geometry))
        end += UInt64(data.count)
    }

    func read(_ index: Int) throws -> Grid<Float> {
        let slab = slabs[index]
        try handle.seek(toOffset: slab.offset)
        let bytes = slab.shape.count * MemoryLayout<Float>.size
        guard let data = try handle.read(upToCount: bytes), data.count == bytes else {
            throw LensError.badInput(file: path, problem: "the scratch file of normalized slabs is shorter than written")
        }
        let values = [Float](unsafeUninitializedCapacity: slab.shape.count) { buffer, count in
            _ = data.copyBytes(to: buffer); count = slab.shape.count
        }
        return Grid(shape: slab.shape, geometry: slab.geometry, elements: values)
    }

    func remove() {
        try? handle.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}


extension XANESInputs {
    /// Names the datasets of a single HDF5 stack file given without a dataset path, by the
    /// layout `phantom xanes` writes and TXM exports commonly use: `/intensity` (or `/data`,
    /// `/exchange/data`) as the stack, `/flat` (or `/exchange/data_white`) as I0 unless one was
    /// given, `/dark` (or `/exchange/data_dark`) likewise, `/optical_density` as optical density.
    /// Any other file is left as it is (the reader then asks for a dataset path if it must).
    public mutating func resolveSingleHDF5Stack() {
        guard stackPaths.count == 1 else { return }
        let reference = DatasetReference(stackPaths[0])
        guard reference.datasetPath == nil, VolumeIO.hdf5Extensions.contains(reference.fileExtension),
              let file = try? HDF5File(openingForReading: reference.filePath) else { return }
        func first(_ names: [String]) -> String? { names.first { file.kind(of: $0) == .dataset } }
        if let od = first(["/optical_density"]), first(["/intensity"]) == nil {
            stackPaths = ["\(reference.filePath):\(od)"]
            opticalDensity = true
            return
        }
        guard let data = first(["/intensity", "/exchange/data", "/data"]) else { return }
        stackPaths = ["\(reference.filePath):\(data)"]
        if flatPath == nil, let flat = first(["/flat", "/exchange/data_white"]) { flatPath = "\(reference.filePath):\(flat)" }
        if darkPath == nil, let dark = first(["/dark", "/exchange/data_dark"]) { darkPath = "\(reference.filePath):\(dark)" }
    }
}
