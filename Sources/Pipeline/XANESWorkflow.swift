import Foundation
import LensCore
import LensIO
import Reporting
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
    /// nil: no alignment (which needs the whole stack in memory).
    public var alignment: StackAlignmentSettings?
    /// PCA score maps to write (0: no PCA), and k-means clusters on the first three scores (0: none).
    public var principalComponents = 3
    public var clusters = 0
    /// Also write the normalized stack (as large as the input; 2D stacks only, as TIFF holds
    /// at most three axes).
    public var writeNormalizedStack = false
    /// 3D stacks (one volume per energy, or one 4D NPY/HDF5 file) are read in z-slabs of about
    /// this many MiB of working memory (nil: whole when it fits in a quarter of the machine's
    /// memory, else slabs of 1 GiB). The analysis is the same either way (see ``XANESWorkflow``).
    public var slabMegabytes: Int?
    public init() {}
}

/// The maps a XANES run keeps in memory for its summary, per-label statistics and callers: the
/// headline maps on the whole frame. Every other map is in its file (``XANESRun/outputs``).
public struct XANESRunMaps: Sendable {
    public var edgeEnergy: Grid<Float>, edgeEnergySigma: Grid<Float>, whiteLineEnergy: Grid<Float>
    /// Per reference: fraction and standard error maps (empty without references).
    public var fractions: [Grid<Float>], fractionSigmas: [Grid<Float>]
    /// The linear-combination fit's R-factor (nil without references).
    public var rFactor: Grid<Float>?
    public var mask: Grid<UInt8>
    public var maskCounts: [XANESMaskReason: Int] {
        var counts = [XANESMaskReason: Int]()
        mask.withUnsafeBufferPointer { for v in $0 { counts[XANESMaskReason(rawValue: v)!, default: 0] += 1 } }
        return counts
    }
}

/// Mean, standard deviation, 5th/50th/95th percentiles and count of a map's finite values
/// (a summary's description of one map; nil statistics when no value is finite).
public struct MapStatistics: Sendable, Codable, Equatable {
    public var count: Int
    public var mean: Double?, std: Double?, p5: Double?, median: Double?, p95: Double?

    public init(_ map: Grid<Float>) {
        let v = map.elements.filter(\.isFinite).map(Double.init)
        count = v.count
        guard !v.isEmpty else { return }
        let p = Statistics.percentiles(v, [5, 50, 95])
        mean = Statistics.mean(v); std = v.count > 1 ? Statistics.standardDeviation(v) : 0
        (p5, median, p95) = (p[0], p[1], p[2])
    }

    /// The summary's form: count, and the rest when there are values (non-finite ones as null).
    var json: JSONValue {
        guard count > 0 else { return .object(["count": .number(0)]) }
        return .object(["count": .number(Double(count)), "mean": .finite(mean!), "std": .finite(std!),
                        "p5": .finite(p5!), "median": .finite(median!), "p95": .finite(p95!)])
    }
}

/// How a XANES stack was read: the slabs along the frame's first axis (one slab: the whole
/// stack) and the working memory they were sized for.
public struct XANESSlabPlan: Sendable, Codable, Equatable {
    public var count: Int
    public var thickness: Int
    /// Requested or default working memory per slab; nil when the stack was read whole.
    public var megabytes: Int?
}

/// What a XANES run produced: the calibration every pixel was analysed with, the headline
/// maps, the spectral decompositions, and the summary written beside them.
public struct XANESRun: Sendable {
    public var calibration: XANESCalibration
    public var maps: XANESRunMaps
    /// The half-height edge energy across analysed pixels, eV.
    public var edgeEnergyStatistics: MapStatistics
    public var slabs: XANESSlabPlan
    public var alignment: StackAlignment?
    public var pca: SpectralPCA?
    public var clusters: SpectralClusters?
    public var labelStatistics: [LabelMapStatistics]
    public var valenceGradient: ValenceGradientAnalysis?
    /// Output name → path.
    public var outputs: [String: String]
    public var summary: [String: JSONValue]
}

/// TXM-XANES from files to maps: read the stack, energies, I0 and references; optionally align
/// across energies (transmission I/I0 is aligned, then analysed); normalize, edge energies,
/// white line, LCF with uncertainties (``XANESModel``); PCA and k-means; per-label statistics;
/// write every map (32-bit TIFF), CSV tables and PNG previews into one folder, atomically.
///
/// One path for every stack: the stack is read in slabs along the frame's first axis — one slab
/// when it is held in memory (2D stacks, aligned stacks, stacks that fit), several when a 3D
/// stack streams from disk — and analysed in three passes over the slabs: (1) the summed
/// optical-density spectrum gives E0; (2) the edge-jump survey of every pixel gives the noise
/// scale and, when asked, the reference shift; (3) the per-pixel maps, written slab by slab,
/// with PCA moments merged across slabs and the normalized slabs kept (in memory for one slab,
/// else in a scratch file) for the scores and cluster spectra. A stack held in memory is
/// prepared once for all three passes; a streamed one is read once per pass.
public enum XANESWorkflow {
    /// - Parameter progress: makes the display of a stage (label, units of work): the alignment
    ///   (one unit per energy), then the analysis (one unit per slab and pass).
    public static func run(inputs: XANESInputs, options: XANESOptions, outputFolder: String,
                           progress: (_ label: String, _ total: Int) -> ProgressReporter? = { _, _ in nil }) throws -> XANESRun {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: outputFolder, isDirectory: &isDirectory) {
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        } else if !isDirectory.boolValue {
            throw LensError.badOutput(file: outputFolder, problem: "exists and is not a folder")
        }
        let classes = try labelClasses(inputs)     // read first: a bad class file fails before the analysis
        let source = try XANESStackSource(inputs: inputs, options: options, progress: progress)
        let energies = source.energies, ne = energies.count
        let references = try inputs.referencePaths.flatMap { try SpectrumFile.references($0) }
        let slabs = source.slabs
        // A stack read whole is prepared once for the three passes; a streamed one per pass.
        var prepared: XANESPixelSpectra?
        func spectra(_ z: Range<Int>) throws -> XANESPixelSpectra {
            if let prepared { return prepared }
            let (intensity, flat) = try source.read(z)
            let result = try XANESPixelSpectra(intensity: intensity, flat: flat)
            if slabs.count == 1 { prepared = result }
            return result
        }
        let passes = (options.analysis.e0 == nil ? 1 : 0) + 2
        let progress = progress(slabs.count == 1 ? "XANES" : "XANES, \(slabs.count) slabs", passes * slabs.count)
        defer { progress?.finish() }
        // Pass 1: E0 from the mean optical-density spectrum of pixels with positive intensity.
        var meanSpectrum: [Double]?
        if options.analysis.e0 == nil {
            var sums = [Double](repeating: 0, count: ne), count = 0
            for z in slabs {
                let s = try spectra(z)
                for k in 0..<ne { sums[k] += s.spectrumSum[k] }
                count += s.validCount
                progress?.advance(by: 1)
            }
            if count > 0 { meanSpectrum = sums.map { $0 / Double(count) } }
        }
        let model = try XANESModel(energies: energies, references: references, settings: options.analysis, meanSpectrum: meanSpectrum)
        // Pass 2: the noise scale (and reference shift) of the whole stack.
        var survey = model.survey()
        for z in slabs { try survey.add(try spectra(z)); progress?.advance(by: 1) }
        let calibration = try model.calibration(from: survey)
        // Pass 3: the maps of each slab, written as they come.
        let mapNames = XANESMapName.all(references: references.map(\.name))
        let frameInfo = VolumeInfo(shape: source.frameShape, dataType: .float32, geometry: source.frameGeometry, format: "tiff")
        var writers = [VolumeWriter]()
        func create(_ stem: String, _ info: VolumeInfo) throws -> VolumeWriter {
            let writer = try VolumeIO.create("\(outputFolder)/\(stem).tif", info: info, inputs: inputs.stackPaths)
            writers.append(writer)
            return writer
        }
        var kept = KeptMaps(referenceCount: references.count)
        var counts = [XANESMaskReason: Int](), meanSums = [Double](repeating: 0, count: ne), meanCount = 0
        // For PCA: the moments of the normalized spectra, and the normalized slabs kept for the
        // projections (and cluster spectra).
        let wantsPCA = options.principalComponents > 0
        var moments = SpectralPCA.Moments(energyCount: ne), weightValues = [Float]()
        let scratch = wantsPCA ? try NormalizedScratch(folder: outputFolder, inMemory: slabs.count == 1) : nil
        defer { scratch?.remove() }
        var outputs = [String: String]()
        do {
            let mapWriters = try mapNames.map { try create($0.fileStem, frameInfo) }
            let maskWriter = try create("mask", VolumeInfo(shape: source.frameShape, dataType: .uint8, geometry: source.frameGeometry, format: "tiff"))
            let normalizedWriter = options.writeNormalizedStack ? try create("normalized_stack", VolumeInfo(shape: source.stackShape, dataType: .float32, geometry: source.stackGeometry, format: "tiff")) : nil
            for z in slabs {
                let maps = try model.maps(try spectra(z), calibration: calibration)
                if slabs.count > 1 { prepared = nil }
                for (writer, name) in zip(mapWriters, mapNames) { try writer.writeSlab(AnyGrid(maps.map(name)), at: z.lowerBound) }
                try maskWriter.writeSlab(AnyGrid(maps.mask), at: z.lowerBound)
                try normalizedWriter?.writeSlab(AnyGrid(maps.normalized), at: 0)
                kept.append(maps)
                for (reason, n) in maps.maskCounts { counts[reason, default: 0] += n }
                let n = maps.mask.count
                maps.normalized.withUnsafeBufferPointer { s in
                    for p in 0..<n where maps.mask[linear: p] == 0 {
                        for k in 0..<ne { meanSums[k] += Double(s[k * n + p]) }
                        meanCount += 1
                    }
                }
                if let scratch {
                    let weights = pcaWeights(maps.jumpToNoise)
                    try moments.add(stack: maps.normalized, weights: weights)
                    try scratch.append(maps.normalized)
                    weightValues += weights.elements
                }
                progress?.advance(by: 1)
            }
            for writer in writers { try writer.finish() }
        } catch {
            for writer in writers { writer.abort() }
            throw error
        }
        for name in mapNames { outputs[name.fileStem] = "\(outputFolder)/\(name.fileStem).tif" }
        outputs["mask"] = "\(outputFolder)/mask.tif"
        if options.writeNormalizedStack { outputs["normalized_stack"] = "\(outputFolder)/normalized_stack.tif" }
        let maps = kept.maps(frameShape: source.frameShape, geometry: source.frameGeometry)
        try preview(maps.edgeEnergy, to: "\(outputFolder)/edge_energy.png")
        outputs["edge_energy_preview"] = "\(outputFolder)/edge_energy.png"
        // Mean normalized spectrum of the analysed pixels.
        var meanTable = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mean_normalized_mu"), TableColumn("pixels")])
        for k in 0..<ne { meanTable.append([.number(energies[k]), .number(meanCount > 0 ? meanSums[k] / Double(meanCount) : .nan), .number(Double(meanCount))]) }
        try meanTable.write(to: "\(outputFolder)/mean_spectrum.csv"); outputs["mean_spectrum"] = "\(outputFolder)/mean_spectrum.csv"
        // PCA of the whole stack from the merged moments; scores, clusters and cluster spectra
        // from the kept normalized slabs.
        var pca: SpectralPCA?, clusters: SpectralClusters?
        if let scratch, moments.count > ne {
            var p = try SpectralPCA(moments: moments, energies: energies, componentCount: options.principalComponents)
            let weights = Grid(shape: source.frameShape, geometry: source.frameGeometry, elements: weightValues)
            let scoreWriters = try (0..<p.componentCount).map { try VolumeIO.create("\(outputFolder)/pca_score_\($0 + 1).tif", info: frameInfo, inputs: inputs.stackPaths) }
            var scoreValues = [[Float]](repeating: [], count: p.componentCount)
            do {
                for (index, z) in slabs.enumerated() {
                    let scores = p.scores(of: try scratch.read(index), weights: slabs.count == 1 ? weights : weights.slab(z))
                    for (c, score) in scores.enumerated() { try scoreWriters[c].writeSlab(AnyGrid(score), at: z.lowerBound); scoreValues[c] += score.elements }
                }
                for writer in scoreWriters { try writer.finish() }
            } catch {
                for writer in scoreWriters { writer.abort() }
                throw error
            }
            for c in 0..<p.componentCount { outputs["pca_score_\(c + 1)"] = "\(outputFolder)/pca_score_\(c + 1).tif" }
            p.scores = scoreValues.map { Grid(shape: source.frameShape, geometry: source.frameGeometry, elements: $0) }
            if options.clusters > 0 {
                var k = try SpectralClusters(scores: p.scores, clusterCount: options.clusters, weights: weights)
                var sums = SpectralClusters.SpectrumSums(clusterCount: options.clusters, energyCount: ne)
                for (index, z) in slabs.enumerated() { try sums.add(stack: try scratch.read(index), labels: slabs.count == 1 ? k.labels : k.labels.slab(z)) }
                k.meanSpectra = sums.means
                clusters = k
            }
            pca = p
            try writeSpectralOutputs(pca: p, clusters: clusters, energies: energies, folder: outputFolder, inputs: inputs.stackPaths, outputs: &outputs)
        }
        var perLabel: LabelOutputs?
        if let labelsPath = inputs.labelsPath {
            var labels = try VolumeIO.read(labelsPath).converted(to: Int32.self)
            if let alignment = source.alignment, labels.shape != maps.edgeEnergy.shape {
                labels = try crop(labels, to: alignment.crop, file: labelsPath)
            }
            perLabel = try labelOutputs(labels: labels, file: labelsPath, classes: classes, edgeEnergy: maps.edgeEnergy,
                                        whiteLineEnergy: maps.whiteLineEnergy,
                                        fractions: maps.fractions, references: references, folder: outputFolder, outputs: &outputs)
        }
        let edgeStatistics = MapStatistics(maps.edgeEnergy)
        var summary: [String: JSONValue] = [
            "energies": .number(Double(ne)), "energy_source": .string(source.energySource),
            "energy_range_ev": .array([.number(energies[0]), .number(energies[ne - 1])]),
            "stack_shape": .array(source.stackShape.dims.map { .number(Double($0)) }),
            "e0_ev": .number(calibration.e0), "normalization": normalizationJSON(calibration.normalization),
            "noise_scale": .number(calibration.noiseScale),
            "slabs": .object(["count": .number(Double(source.plan.count)), "thickness": .number(Double(source.plan.thickness)),
                              "megabytes": source.plan.megabytes.map { .number(Double($0)) } ?? .null]),
            "pixels": .object(Dictionary(uniqueKeysWithValues: XANESMaskReason.allCases.map { ($0.key, .number(Double(counts[$0] ?? 0))) })),
            "edge_energy_ev": edgeStatistics.json, "edge_energy_sigma_ev": MapStatistics(maps.edgeEnergySigma).json,
            "white_line_energy_ev": MapStatistics(maps.whiteLineEnergy).json,
            "voxel_size_um": source.frameGeometry.isCalibrated ? .array(source.frameGeometry.voxelSizeMicrometres.map { .number($0) }) : .null,
            "outputs": .object(outputs.mapValues { .string($0) }),
        ]
        if !references.isEmpty {
            summary["fractions"] = .object(Dictionary(uniqueKeysWithValues: references.enumerated().map { j, r in
                (r.name, MapStatistics(maps.fractions[j]).json)
            }))
            if let rFactor = maps.rFactor { summary["r_factor"] = MapStatistics(rFactor).json }
            summary["reference_shift_ev"] = .number(calibration.referenceShift)
        }
        if let alignment = source.alignment {
            summary["alignment"] = .object(["shifts_px": .array(alignment.shifts.map { .array($0.map { .number($0) }) }),
                                            "correlations": .array(alignment.correlations.map { .finite($0) }),
                                            "crop": .array(alignment.crop.map { .array([.number(Double($0.lowerBound)), .number(Double($0.upperBound))]) })])
        }
        if let pca { summary["pca_explained_variance_ratio"] = .array(pca.explainedVarianceRatio.prefix(8).map { .number($0) }) }
        if let clusters { summary["cluster_pixels"] = .array(clusters.pixelCounts.map { .number(Double($0)) }) }
        perLabel?.summarize(into: &summary)
        return XANESRun(calibration: calibration, maps: maps, edgeEnergyStatistics: edgeStatistics, slabs: source.plan, alignment: source.alignment, pca: pca, clusters: clusters,
                        labelStatistics: perLabel?.statistics ?? [], valenceGradient: perLabel?.valence,
                        outputs: outputs, summary: summary)
    }

    /// The headline maps of each slab, joined along the frame's first axis.
    struct KeptMaps {
        var edgeEnergy = [Float](), edgeEnergySigma = [Float](), whiteLineEnergy = [Float]()
        var fractions: [[Float]], fractionSigmas: [[Float]]
        var rFactor = [Float]()
        var mask = [UInt8]()
        init(referenceCount: Int) {
            fractions = [[Float]](repeating: [], count: referenceCount); fractionSigmas = fractions
        }
        mutating func append(_ maps: XANESMaps) {
            edgeEnergy += maps.edgeEnergy.elements; edgeEnergySigma += maps.edgeEnergySigma.elements
            whiteLineEnergy += maps.whiteLineEnergy.elements; mask += maps.mask.elements
            for j in fractions.indices { fractions[j] += maps.fractions[j].elements; fractionSigmas[j] += maps.fractionSigmas[j].elements }
            if !fractions.isEmpty { rFactor += maps.rFactor.elements }
        }
        func maps(frameShape: Shape, geometry: GridGeometry) -> XANESRunMaps {
            func grid(_ values: [Float]) -> Grid<Float> { Grid(shape: frameShape, geometry: geometry, elements: values) }
            return XANESRunMaps(edgeEnergy: grid(edgeEnergy), edgeEnergySigma: grid(edgeEnergySigma), whiteLineEnergy: grid(whiteLineEnergy),
                                fractions: fractions.map(grid), fractionSigmas: fractionSigmas.map(grid),
                                rFactor: fractions.isEmpty ? nil : grid(rFactor), mask: Grid(shape: frameShape, geometry: geometry, elements: mask))
        }
    }

    /// Working bytes per stack value in the per-pixel analysis, all single precision: the input,
    /// I0, optical density, 1/√I and the normalized stack.
    static let bytesPerStackValue = 5 * 4

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
        for (j, r) in references.enumerated() { named.append((XANESMapName.fraction(j, r.name).fileStem, "", fractions[j])) }
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



    static func preview(_ map: Grid<Float>, to path: String) throws {
        var plane = map
        if map.rank == 3 { plane = map.slab(map.shape[0] / 2..<(map.shape[0] / 2 + 1)).reshaped(Shape(map.shape[1], map.shape[2])) }
        let g = map.geometry
        let square = g.isCalibrated && Set(g.voxelSizeMicrometres.suffix(2)).count == 1
        try SliceFigure.write(plane, to: path, colormap: .viridis, pixelSizeMicrometres: square ? g.voxelSizeMicrometres.last : nil,
                              valueLabel: "edge energy (eV)")
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

/// The normalized slabs of a run, kept between the passes that need them (PCA scores, cluster
/// spectra): in memory when the stack is one slab, else in a hidden scratch file in the output
/// folder, removed at the end.
final class NormalizedScratch {
    private let file: (path: String, handle: FileHandle)?
    private var kept: [Grid<Float>] = []
    /// Byte offset and shape of each slab appended to the file.
    private var slabs: [(offset: UInt64, shape: Shape, geometry: GridGeometry)] = []
    private var end: UInt64 = 0

    init(folder: String, inMemory: Bool) throws {
        guard !inMemory else { file = nil; return }
        let path = "\(folder)/.normalized-\(UUID().uuidString).f32"
        // A new name this run creates (never an existing file), tracked so an interrupt removes it;
        // `remove()` deletes only this file.
        guard !FileManager.default.fileExists(atPath: path), FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forUpdatingAtPath: path) else {
            throw LensError.badOutput(file: path, problem: "cannot create the scratch file for the normalized slabs")
        }
        file = (path, handle)
        TemporaryFiles.register(path)
    }

    func append(_ slab: Grid<Float>) throws {
        guard let file else { kept.append(slab); return }
        let data = slab.withUnsafeBufferPointer { Data(buffer: $0) }
        try file.handle.seek(toOffset: end)
        try file.handle.write(contentsOf: data)
        slabs.append((end, slab.shape, slab.geometry))
        end += UInt64(data.count)
    }

    func read(_ index: Int) throws -> Grid<Float> {
        guard let file else { return kept[index] }
        let slab = slabs[index]
        try file.handle.seek(toOffset: slab.offset)
        let bytes = slab.shape.count * MemoryLayout<Float>.size
        guard let data = try file.handle.read(upToCount: bytes), data.count == bytes else {
            throw LensError.badInput(file: file.path, problem: "the scratch file of normalized slabs is shorter than written")
        }
        let values = [Float](unsafeUninitializedCapacity: slab.shape.count) { buffer, count in
            _ = data.copyBytes(to: buffer); count = slab.shape.count
        }
        return Grid(shape: slab.shape, geometry: slab.geometry, elements: values)
    }

    func remove() {
        guard let file else { kept = []; return }
        try? file.handle.close()
        TemporaryFiles.remove(file.path)
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
