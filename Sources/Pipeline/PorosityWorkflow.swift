import Foundation
import LensCore
import LensIO
import Microstructure

/// Porosity and phase fractions of a label volume, overall and per depth region, counted
/// slab by slab (any volume size) — the workflow shape: Codable settings → a pure step per
/// slab (``PhaseProfile/add(slab:startingAt:)``) → a mergeable partial (the profile) → a typed
/// record whose JSON encoding is the summary (`Schemas/porosity.schema.json`).
public enum PorosityWorkflow {
    /// How the depth axis is split.
    public enum Regions: Codable, Sendable, Equatable {
        /// Equal regions, split as `numpy.array_split`.
        case equal(count: Int)
        /// Explicit slice bounds b0 < b1 < … (regions [b0, b1), [b1, b2), …).
        case bounds([Int])
    }

    public struct Settings: Codable, Sendable, Equatable {
        /// Codes that are void (pore, crack), and codes outside the electrode (left out).
        public var poreCodes: [Int]
        public var outsideCodes: [Int]
        /// Depth axis: 0 = z (slowest), 1 = y, 2 = x.
        public var axis: Int
        public var regions: Regions
        public init(poreCodes: [Int], outsideCodes: [Int] = [], axis: Int = 0, regions: Regions = .equal(count: 3)) {
            self.poreCodes = poreCodes; self.outsideCodes = outsideCodes; self.axis = axis; self.regions = regions
        }

        /// Checks the settings against themselves (the volume is checked when read).
        public func validate() throws {
            guard !poreCodes.isEmpty else { throw LensError.invalidArgument("porosity needs at least one pore code") }
            for codes in [poreCodes, outsideCodes] where codes.contains(where: { !(0...255).contains($0) }) {
                throw LensError.invalidArgument("porosity counts label codes 0…255; got \(codes.filter { !(0...255).contains($0) })")
            }
            guard Set(poreCodes).isDisjoint(with: outsideCodes) else {
                throw LensError.invalidArgument("a code cannot be both pore and outside: \(Set(poreCodes).intersection(outsideCodes).sorted())")
            }
            guard (0...2).contains(axis) else { throw LensError.invalidArgument("the depth axis is 0, 1 or 2, got \(axis)") }
            if case .equal(let count) = regions, !(1...100_000).contains(count) { throw LensError.invalidArgument("--regions must be 1…100000, got \(count)") }
        }
    }

    /// What a run measured; its encoding is the command's summary.
    public struct Record: Codable, Sendable {
        public var porosity: Double
        public var electrodeVoxels: Int
        /// Fraction of the electrode's voxels per phase (named by the scheme, else by code).
        public var fractions: [String: Double]
        public var regions: [RegionFractions]
        /// Voxel size along the depth axis, in `unit` (µm, or voxel when unknown).
        public var voxelSize: Double
        public var unit: String
        public var axis: String
        public var poreCodes: [Int]
        public var outsideCodes: [Int]
    }

    /// Counts `reader`'s labels slab by slab. `scheme` names the phases in the record and must
    /// define every code present.
    public static func run(_ reader: VolumeReader, settings: Settings, scheme: LabelScheme?,
                           progress: ProgressReporter? = nil, cancellation: CancellationToken? = nil) throws -> Record {
        try settings.validate()
        let input = reader.source
        guard reader.info.shape.rank == 3 else { throw LensError.badInput(file: input, problem: "a 3D label volume is needed, got shape \(reader.info.shape)") }
        var profile = PhaseProfile(shape: reader.info.shape.dims)
        var codes = LabelCodeCounts()
        let thickness = Swift.max(1, reader.slabThickness(targetBytes: 128 << 20) * Swift.max(1, reader.info.dataType.byteSize))
        var z = 0
        while z < reader.info.shape[0] {
            try cancellation?.check()
            let end = Swift.min(reader.info.shape[0], z + thickness)
            let slab = try reader.readSlab(z..<end)
            try codes.add(slab, source: input)
            if let big = codes.counts.keys.first(where: { $0 > 255 }) {
                throw LensError.badInput(file: input, problem: "holds the label code \(big); porosity counts label codes 0…255")
            }
            // Codes are checked to be 0…255 above: uint8 slabs go in as they are.
            let labels: Grid<UInt8>
            if case .uint8(let g) = slab { labels = g } else { labels = try slab.converted(to: Double.self).map { UInt8($0) } }
            try profile.add(slab: labels, startingAt: z)
            progress?.advance(by: end - z)
            z = end
        }
        if let scheme { try codes.requireCovered(by: scheme, source: input) }
        let axisNames = ["z", "y", "x"]
        let extent = reader.info.shape[settings.axis]
        let ranges: [Range<Int>]
        switch settings.regions {
        case .equal(let count):
            guard count <= extent else { throw LensError.invalidArgument("--regions must be 1…\(extent) (the extent along \(axisNames[settings.axis]))") }
            ranges = DepthRegions.equal(0..<extent, count: count)
        case .bounds(let bounds):
            guard bounds.allSatisfy({ (0...extent).contains($0) }) else {
                throw LensError.invalidArgument("--bounds must be slice indices 0…\(extent), got \(bounds)")
            }
            ranges = try DepthRegions.explicit(bounds, extent: extent)
        }
        let poreSet = Set(settings.poreCodes), outsideSet = Set(settings.outsideCodes)
        let whole = profile.region(0..<extent, axis: settings.axis, phase: poreSet, excluding: outsideSet)
        guard whole.voxelCount > 0 else {
            throw LensError.badInput(file: input, problem: "no electrode voxels (every voxel has an outside code \(settings.outsideCodes))")
        }
        let length = LengthUnit(reader.info.geometry)
        let name = { (code: Int) in scheme?.phase(code: code)?.name ?? "\(code)" }
        return Record(porosity: whole.phaseFraction, electrodeVoxels: whole.voxelCount,
                      fractions: Dictionary(uniqueKeysWithValues: whole.fractionsByValue.map { (name($0.key), $0.value) }),
                      regions: ranges.map { profile.region($0, axis: settings.axis, phase: poreSet, excluding: outsideSet) },
                      voxelSize: length.size(axis: settings.axis), unit: length.name, axis: axisNames[settings.axis],
                      poreCodes: settings.poreCodes, outsideCodes: settings.outsideCodes)
    }
}

extension PorosityWorkflow.Record {
    /// The per-region table (`--csv`).
    public var table: Table {
        var table = Table(columns: [TableColumn("region"), TableColumn("start_slice"), TableColumn("end_slice"),
                                    TableColumn("start", unit: unit), TableColumn("end", unit: unit), TableColumn("electrode_voxels"), TableColumn("porosity")])
        for (k, r) in regions.enumerated() {
            table.append([.number(Double(k + 1)), .number(Double(r.start)), .number(Double(r.end)), .number(Double(r.start) * voxelSize),
                          .number(Double(r.end) * voxelSize), .number(Double(r.voxelCount)), .number(r.phaseFraction)])
        }
        return table
    }
}
