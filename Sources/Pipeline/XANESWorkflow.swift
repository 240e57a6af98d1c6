import Foundation
import LensCore
import LensIO
import Signal
import Spectroscopy

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
            let weights = maps.jumpToNoise.map { $0.isFinite ? $0 * $0 : 0 }
            let p = try SpectralPCA(stack: maps.normalized, energies: energies, componentCount: options.principalComponents, weights: weights)
            for (c, score) in p.scores.enumerated() { try write(score, "pca_score_\(c + 1)") }
            var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mean")] + (0..<p.scores.count).map { TableColumn("component_\($0 + 1)") })
            for k in 0..<ne { table.append([.number(energies[k]), .number(p.meanSpectrum[k])] + (0..<p.scores.count).map { .number(p.components[$0][k]) }) }
            try table.write(to: "\(outputFolder)/pca_components.csv"); outputs["pca_components"] = "\(outputFolder)/pca_components.csv"
            pca = p
            if options.clusters > 0 {
                let k = try SpectralClusters(stack: maps.normalized, pca: p, clusterCount: options.clusters, weights: weights)
                let path = "\(outputFolder)/clusters.tif"
                try VolumeIO.write(k.labels, to: path, inputs: inputs.stackPaths); outputs["clusters"] = path
                var spectra = Table(columns: [TableColumn("energy", unit: "eV")] + (0..<options.clusters).map { TableColumn("cluster_\($0 + 1)") })
                for e in 0..<ne { spectra.append([.number(energies[e])] + k.meanSpectra.map { .number($0[e]) }) }
                try spectra.write(to: "\(outputFolder)/cluster_spectra.csv"); outputs["cluster_spectra"] = "\(outputFolder)/cluster_spectra.csv"
                clusters = k
            }
        }
        var labelStatistics = [LabelMapStatistics]()
        var valence: ValenceGradientAnalysis?
        if let labelsPath = inputs.labelsPath {
            var labels = try VolumeIO.read(labelsPath).converted(to: Int32.self)
            if let alignment, labels.shape != maps.edgeEnergy.shape {
                labels = try crop(labels, to: alignment.crop, file: labelsPath)
            }
            guard labels.shape == maps.edgeEnergy.shape else {
                throw LensError.badInput(file: labelsPath, problem: "the labels have shape \(labels.shape) but the maps \(maps.edgeEnergy.shape)")
            }
            let size = labels.geometry.isCalibrated ? (labels.rank == 3 ? "µm³" : "µm²") : "pixels"
            var named: [(String, String, Grid<Float>)] = [("edge_energy", "eV", maps.edgeEnergy), ("white_line_energy", "eV", maps.whiteLineEnergy)]
            for (j, r) in references.enumerated() { named.append(("fraction_\(safeName(r.name))", "", maps.fractions[j])) }
            for (name, unit, map) in named {
                let s = try LabelMapStatistics(map: map, labels: labels, mapName: name, mapUnit: unit)
                let path = "\(outputFolder)/labels_\(name).csv"
                try s.table(sizeUnit: size).write(to: path); outputs["labels_\(name)"] = path
                labelStatistics.append(s)
            }
            let gradient = try ValenceGradientAnalysis(map: maps.edgeEnergy, labels: labels)
            try gradient.table().write(to: "\(outputFolder)/valence_gradient.csv")
            outputs["valence_gradient"] = "\(outputFolder)/valence_gradient.csv"
            valence = gradient
        }
        var summary: [String: JSONValue] = [
            "energies": .number(Double(ne)), "energy_source": .string(energySource), "energy_range_ev": .array([.number(energies[0]), .number(energies[ne - 1])]),
            "stack_shape": .array(stack.shape.dims.map { .number(Double($0)) }),
            "e0_ev": .number(maps.e0),
            "normalization": .object(["pre_edge_ev": .array([.number(maps.normalization.preEdge.lowerBound), .number(maps.normalization.preEdge.upperBound)]),
                                      "post_edge_ev": .array([.number(maps.normalization.postEdge.lowerBound), .number(maps.normalization.postEdge.upperBound)]),
                                      "post_edge_degree": .number(Double(maps.normalization.postEdgeDegree))]),
            "noise_scale": .number(maps.noiseScale),
            "pixels": .object(Dictionary(uniqueKeysWithValues: XANESMaskReason.allCases.map { ($0.name, .number(Double(maps.maskCounts[$0] ?? 0))) })),
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
        if !labelStatistics.isEmpty {
            summary["labels"] = .object(Dictionary(uniqueKeysWithValues: labelStatistics.map { s in
                (s.mapName, JSONValue.object(["labels": .number(Double(s.entries.count)), "grand_mean": .finite(s.grandMean),
                                              "within_label_variance": .finite(s.withinLabelVariance), "between_label_variance": .finite(s.betweenLabelVariance),
                                              "within_fraction": .finite(s.withinFraction), "masked_labelled_pixels": .number(Double(s.maskedPixelCount))]))
            }))
        }
        if let valence {
            let indices = valence.particles.map(\.radialIndex).filter(\.isFinite)
            summary["valence_gradient"] = .object(["particles": .number(Double(indices.count)),
                                                   "median_radial_index": indices.isEmpty ? .null : .finite(Statistics.median(indices)),
                                                   "note": .string("radial index 1: random orientation of the edge-energy gradient; > 1: radial (core–shell) patterns")])
        }
        return XANESRun(maps: maps, alignment: alignment, pca: pca, clusters: clusters, labelStatistics: labelStatistics, outputs: outputs, summary: summary)
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
        let table = try NumericColumns.read(path)
        let (rows, columns) = (table.columns[0].count, table.columns.count)
        var values = [Float](repeating: 0, count: rows * columns)
        for (c, column) in table.columns.enumerated() { for (r, v) in column.enumerated() { values[r * columns + c] = Float(v) } }
        return Grid(shape: Shape(rows, columns), elements: values)
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
            return (try checkedEnergies(values, count: count, source: stack.filePath), "\(stack.filePath) (Xradia metadata)")
        }
        throw LensError.badInput(file: stackPaths[0], problem: "the stack records no energies: give --energies")
    }

    /// Energies in eV from a column file (the column named energy, else the first) or an HDF5
    /// dataset `file.h5:/path`; keV converted.
    public static func readEnergies(_ path: String, count: Int) throws -> [Double] {
        let reference = DatasetReference(path)
        if reference.datasetPath != nil, VolumeIO.hdf5Extensions.contains(reference.fileExtension) {
            let values = try HDF5File(openingForReading: reference.filePath).dataset(reference.datasetPath!).readDoubles()
            return try checkedEnergies(values, count: count, source: path)
        }
        let table = try NumericColumns.read(path)
        let index = table.names.firstIndex { ["energy", "e", "energy_ev", "ev"].contains($0.lowercased()) } ?? 0
        return try checkedEnergies(table.columns[index], count: count, source: path)
    }

    static func checkedEnergies(_ values: [Double], count: Int, source path: String) throws -> [Double] {
        var energies = values
        if energies.allSatisfy({ $0 < 100 }) { energies = energies.map { $0 * 1000 } }
        guard energies.count == count else {
            throw LensError.badInput(file: path, problem: "\(energies.count) energies for a stack of \(count) images")
        }
        if let k = energies.indices.dropFirst().first(where: { !(energies[$0] > energies[$0 - 1]) }) {
            throw LensError.badInput(file: path, problem: "energies must increase; energy \(k + 1) (\(energies[k]) eV) follows \(energies[k - 1]) eV")
        }
        return energies
    }

    /// I0 (or a dark signal) as a stack of the stack's shape: read as such, or broadcast from one
    /// value per energy.
    static func readFlat(_ path: String, stackShape: Shape) throws -> Grid<Float> {
        let textExtensions: Set<String> = ["txt", "csv", "dat", "tsv", "xsp"]   // .xsp: an ALS STXM point spectrum (energy, I0)
        if textExtensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased()) {
            let column = try NumericColumns.read(path).columns.last!
            guard column.count == stackShape[0] else { throw LensError.badInput(file: path, problem: "\(column.count) I0 values for \(stackShape[0]) energies") }
            let per = stackShape.count / stackShape[0]
            return Grid(shape: stackShape, elements: column.flatMap { [Float](repeating: Float($0), count: per) })
        }
        let flat = try VolumeIO.read(path).float32()
        guard flat.shape == stackShape else { throw LensError.badInput(file: path, problem: "I0 has shape \(flat.shape), the stack \(stackShape)") }
        return flat
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
