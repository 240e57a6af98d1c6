import Foundation
import LensCore
import LensIO
import Microstructure
import Signal

/// The phase of a label volume a measurement is about: the 0/1 mask of the selected codes (the
/// CLI and recipes resolve phase names to codes through the volume's label scheme first).
public struct PhaseSelection: Sendable {
    public var mask: Grid<UInt8>
    /// The label codes that make up the phase.
    public var codes: [Int]
    public init(mask: Grid<UInt8>, codes: [Int]) { self.mask = mask; self.codes = codes }
}

/// Tortuosity factor and relative diffusivity of a phase along one axis or all three, from the
/// steady-state diffusion simulation of ``Tortuosity`` — the workflow shape: Codable settings →
/// one solve per axis → a typed record whose JSON encoding is the command's summary.
public enum TortuosityWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Flow axes: 0 = z (slowest array axis, TauFactor's "x"), 1 = y, 2 = x.
        public var axes: [Int]
        /// Relative convergence tolerance on the flux balance and on τ.
        public var tolerance: Double
        /// Also split the volume into this many equal slabs along z (depth: separator side to
        /// current collector) and solve each on its own (nil: the whole volume only).
        public var depthRegions: Int?
        /// Periodic faces across the other axes.
        public var periodic: Bool
        public init(axes: [Int] = [0, 1, 2], tolerance: Double = 1e-5, depthRegions: Int? = nil, periodic: Bool = false) {
            self.axes = axes; self.tolerance = tolerance; self.depthRegions = depthRegions; self.periodic = periodic
        }

        public func validate() throws {
            guard !axes.isEmpty, axes.allSatisfy({ (0...2).contains($0) }), Set(axes).count == axes.count else {
                throw LensError.invalidArgument("tortuosity axes are distinct values of 0 (z), 1 (y) and 2 (x), got \(axes)")
            }
            guard tolerance > 0, tolerance <= 0.1 else { throw LensError.invalidArgument("--tolerance must be in (0, 0.1], got \(tolerance)") }
            if let depthRegions, !(2...64).contains(depthRegions) { throw LensError.invalidArgument("--depth-regions must be 2–64, got \(depthRegions)") }
        }
    }

    /// One axis's result, with the axis named and whether the phase percolates (τ is null when
    /// it does not).
    public struct AxisRecord: Codable, Sendable {
        public var result: TortuosityResult
        public var axisName: String
        public var percolates: Bool
        public func encode(to encoder: Encoder) throws {
            try result.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(axisName, forKey: .axis)
            try c.encode(percolates, forKey: .percolates)
        }
        public init(from decoder: Decoder) throws {
            result = try TortuosityResult(from: decoder)
            let c = try decoder.container(keyedBy: Keys.self)
            axisName = try c.decode(String.self, forKey: .axis)
            percolates = try c.decode(Bool.self, forKey: .percolates)
        }
        init(_ result: TortuosityResult) {
            self.result = result; axisName = ["z", "y", "x"][result.axis]; percolates = result.percolates
        }
        private enum Keys: String, CodingKey { case axis, percolates }
    }

    /// One depth slab's results.
    public struct RegionRecord: Codable, Sendable {
        public var index: Int
        /// z range of the slab (voxels, end exclusive).
        public var zStart: Int, zEnd: Int
        public var results: [AxisRecord]
        /// τ along z over the mean τ along y and x (through-plane over in-plane; nil without
        /// all three axes or when one does not percolate).
        public var anisotropy: Double?
    }

    /// τ = ε^(−α) fitted across regions and axes (Bruggeman: α = 0.5), least squares on
    /// log τ = −α log ε, with the standard error of α.
    public struct BruggemanFit: Codable, Sendable {
        public var exponent: Double
        public var standardError: Double?
        public var points: Int
    }

    public struct Record: Codable, Sendable {
        public var phaseCodes: [Int]
        public var results: [AxisRecord]
        public var anisotropy: Double?
        public var regions: [RegionRecord]?
        public var bruggeman: BruggemanFit?
        private enum CodingKeys: String, CodingKey { case phaseCodes = "phase_codes", results, anisotropy, regions, bruggeman }
    }

    static func anisotropy(_ results: [AxisRecord]) -> Double? {
        let tau = Dictionary(uniqueKeysWithValues: results.map { ($0.result.axis, $0.result.tortuosityFactor) })
        guard let z = tau[0], let y = tau[1], let x = tau[2], [z, y, x].allSatisfy({ $0.isFinite && $0 > 0 }) else { return nil }
        return z / ((y + x) / 2)
    }

    /// - Parameter progress: the display of one axis's solve, by axis name. The solve counts its
    ///   iterations and stops when converged: make it open-ended (`total: 0`).
    public static func run(_ phase: PhaseSelection, settings: Settings,
                           progress: (_ axisName: String) -> ProgressReporter? = { _ in nil }) throws -> Record {
        try settings.validate()
        func solve(_ mask: Grid<UInt8>, label: String) throws -> [AxisRecord] {
            try settings.axes.map { axis in
                let reporter = progress(label + ["z", "y", "x"][axis])
                defer { reporter?.finish() }
                return AxisRecord(try Tortuosity.compute(phase: mask, axis: axis, settings: .init(tolerance: settings.tolerance, periodic: settings.periodic), progress: reporter))
            }
        }
        let results = try solve(phase.mask, label: "")
        var regions: [RegionRecord]?
        var bruggeman: BruggemanFit?
        if let count = settings.depthRegions {
            let depth = phase.mask.shape[0]
            guard depth >= 2 * count else { throw LensError.invalidArgument("\(count) depth regions need at least \(2 * count) slices along z, the volume has \(depth)") }
            regions = try (0..<count).map { k in
                let (start, end) = (k * depth / count, (k + 1) * depth / count)
                let slabResults = try solve(phase.mask.slab(start..<end), label: "region \(k + 1), ")
                return RegionRecord(index: k, zStart: start, zEnd: end, results: slabResults, anisotropy: anisotropy(slabResults))
            }
            // log τ = −α log ε over every finite region/axis τ with 0 < ε < 1.
            let pairs = regions!.flatMap(\.results).map(\.result).filter { $0.tortuosityFactor.isFinite && $0.volumeFraction > 0 && $0.volumeFraction < 1 }
                .map { (log($0.volumeFraction), log($0.tortuosityFactor)) }
            if pairs.count >= 2 {
                let sxx = pairs.reduce(0) { $0 + $1.0 * $1.0 }, sxy = pairs.reduce(0) { $0 + $1.0 * $1.1 }
                if sxx > 0 {
                    let alpha = -sxy / sxx
                    let residual = pairs.reduce(0.0) { $0 + ($1.1 + alpha * $1.0) * ($1.1 + alpha * $1.0) }
                    let se = pairs.count > 1 ? (residual / Double(pairs.count - 1) / sxx).squareRoot() : nil
                    bruggeman = BruggemanFit(exponent: alpha, standardError: se, points: pairs.count)
                }
            }
        }
        return Record(phaseCodes: phase.codes, results: results, anisotropy: anisotropy(results), regions: regions, bruggeman: bruggeman)
    }
}

/// Representative volume analysis of a phase's volume fraction (``RepresentativeVolume``).
public enum RepresentativeVolumeWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Random sub-volumes per size.
        public var samples: Int
        /// Relative tolerance on the spread and on the mean.
        public var tolerance: Double
        public init(samples: Int = 24, tolerance: Double = 0.05) { self.samples = samples; self.tolerance = tolerance }

        public func validate() throws {
            guard (2...100_000).contains(samples) else { throw LensError.invalidArgument("--samples must be 2…100000, got \(samples)") }
            guard tolerance > 0, tolerance <= 1 else { throw LensError.invalidArgument("--tolerance must be in (0, 1], got \(tolerance)") }
        }
    }

    public struct Record: Codable, Sendable {
        public var rev: RepresentativeVolume
        public var representative: Bool
        /// Whether the sub-volume edges have a length in µm (else they are in voxels).
        public var voxelSizeKnown: Bool
        private enum CodingKeys: String, CodingKey { case rev, representative, voxelSizeKnown = "voxel_size_known" }
    }

    public static func run(_ phase: PhaseSelection, settings: Settings) throws -> Record {
        try settings.validate()
        let rev = try RepresentativeVolume(phase: phase.mask, samples: settings.samples, tolerance: settings.tolerance)
        return Record(rev: rev, representative: rev.isRepresentative, voxelSizeKnown: LengthUnit(phase.mask.geometry).isPhysical)
    }
}

/// Local thickness of a phase (maximal inscribed balls, ``LocalThickness``): the diameter map
/// and its volume-weighted percentiles, in µm when the voxel size is known, else in voxels.
public enum LocalThicknessWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Number of radii swept.
        public var sizes: Int
        public init(sizes: Int = 25) { self.sizes = sizes }
        public func validate() throws {
            guard (1...1000).contains(sizes) else { throw LensError.invalidArgument("--sizes must be 1…1000, got \(sizes)") }
        }
    }

    public struct Record: Codable, Sendable {
        public var output: String
        /// µm, or voxel when the voxel size is unknown.
        public var unit: String
        public var volumeWeightedD10: Double, volumeWeightedD50: Double, volumeWeightedD90: Double
        public var mean: Double
        private enum CodingKeys: String, CodingKey {
            case output, unit, mean
            case volumeWeightedD10 = "volume_weighted_d10", volumeWeightedD50 = "volume_weighted_d50", volumeWeightedD90 = "volume_weighted_d90"
        }
    }

    /// Computes the map and writes it (float32 diameters) to `outputPath` atomically; `inputs`
    /// are the files it must never replace; the record names the output `recordedOutput` (the
    /// published path, when `outputPath` is a staging path).
    public static func run(_ phase: PhaseSelection, settings: Settings, outputPath: String, recordedOutput: String? = nil, inputs: [String],
                           progress: ProgressReporter? = nil) throws -> Record {
        try settings.validate()
        let result = try LocalThickness.compute(phase: phase.mask, sizes: settings.sizes, progress: progress)
        let length = LengthUnit(phase.mask.geometry)
        let scale = Float(length.isPhysical ? result.unitMicrometres : 1)
        let diameters = result.thickness.map { $0 * scale }
        try VolumeIO.write(diameters, to: outputPath, inputs: inputs)
        let values = diameters.elements.filter { $0 > 0 }.map(Double.init)
        guard !values.isEmpty else { throw LensError.numerical("the phase has no voxel with a thickness") }
        let p = Statistics.percentiles(values, [10, 50, 90])
        return Record(output: recordedOutput ?? outputPath, unit: length.name, volumeWeightedD10: p[0], volumeWeightedD50: p[1], volumeWeightedD90: p[2],
                      mean: Statistics.mean(values))
    }
}

/// An electrode's grey volume to a label volume with its scheme (``ElectrodeSegmentation``:
/// median → threshold → envelope → unsharp mask → (multi-)Otsu), and the porosity inside the
/// electrode region.
public enum SegmentationWorkflow {
    public typealias Settings = ElectrodeSegmentation.Parameters

    public struct Record: Codable, Sendable {
        public var output: String
        public var electrodeVoxels: Int
        public var porosity: Double
        /// What porosity refers to, in words, and the region setting.
        public var porosityRegion: String
        public var region: String
        public var labelScheme: String
        public var labelSchemeFile: String
        public var envelopeThreshold: Double
        public var phaseThresholds: [Double]
        /// Fraction of the electrode's voxels per label code.
        public var fractionsInElectrode: [String: Double]
        private enum CodingKeys: String, CodingKey {
            case output, porosity, region
            case electrodeVoxels = "electrode_voxels", porosityRegion = "porosity_region", labelScheme = "label_scheme"
            case labelSchemeFile = "label_scheme_file", envelopeThreshold = "envelope_threshold", phaseThresholds = "phase_thresholds"
            case fractionsInElectrode = "fractions_in_electrode"
        }
    }

    /// The label scheme a segmentation with `classes` classes writes.
    public static func scheme(classes: Int) -> LabelScheme {
        classes == 3 ? LabelScheme.segmentThreePhase : LabelScheme.segmentTwoPhase
    }

    /// Segments `grey` and writes the labels to `outputPath` and the scheme to `schemePath`
    /// (atomically; never over `inputs`). The record names them `recordedOutput` and its sidecar.
    public static func run(_ grey: Grid<Float>, settings: Settings, outputPath: String, schemePath: String,
                           recordedOutput: String, inputs: [String], progress: ProgressReporter? = nil) throws -> Record {
        let result = try ElectrodeSegmentation.segment(grey, parameters: settings, progress: progress)
        try VolumeIO.write(result.labels, to: outputPath, inputs: inputs)
        let scheme = scheme(classes: settings.classes)
        try LabelSchemeFile.write(scheme, to: schemePath, inputs: inputs)
        let profile = try PhaseProfile.of(result.labels, regionOfInterest: result.labels.map { $0 != 0 ? 1 : 0 })
        let whole = profile.region(0..<profile.shape[0], axis: 0, phase: [1])
        return Record(output: recordedOutput, electrodeVoxels: result.electrodeVoxels, porosity: whole.phaseFraction,
                      porosityRegion: settings.region.summary + " (labels ≠ 0)", region: settings.region.rawValue, labelScheme: scheme.name,
                      labelSchemeFile: LabelSchemeFile.sidecarPath(for: recordedOutput), envelopeThreshold: result.envelopeThreshold,
                      phaseThresholds: result.phaseThresholds,
                      fractionsInElectrode: Dictionary(uniqueKeysWithValues: whole.fractionsByValue.map { ("\($0.key)", $0.value) }))
    }
}

/// Simulated impedance of a phase along one axis (``Impedance``): the frequency sweep, the
/// transmission-line fit and τ from it, as one record.
public enum ImpedanceWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// 0 = z, 1 = y, 2 = x.
        public var axis: Int
        public var sweep: ImpedanceSettings
        public init(axis: Int = 0, sweep: ImpedanceSettings = ImpedanceSettings()) { self.axis = axis; self.sweep = sweep }

        public func validate() throws {
            guard (0...2).contains(axis) else { throw LensError.invalidArgument("the impedance axis is 0 (z), 1 (y) or 2 (x), got \(axis)") }
            try sweep.validate()
        }
    }

    public struct Record: Codable, Sendable {
        public var phaseCodes: [Int]
        public var axisName: String
        public var result: ImpedanceResult
        private enum CodingKeys: String, CodingKey { case phaseCodes = "phase_codes", axisName = "axis_name", result }
    }

    public static func run(_ phase: PhaseSelection, settings: Settings, progress: ProgressReporter? = nil) throws -> Record {
        try settings.validate()
        let result = try Impedance.sweep(phase: phase.mask, axis: settings.axis, settings: settings.sweep, progress: progress)
        return Record(phaseCodes: phase.codes, axisName: ["z", "y", "x"][settings.axis], result: result)
    }
}
