import Foundation
import ImageAnalysis
import LensCore
import LensIO
import Microstructure

/// Particle separation and measurement: distance transform, h-maxima markers and watershed
/// (``Watershed/separateParticles(_:h:smoothingSigma:)``), then per-particle properties
/// (``RegionAnalysis/measure(_:grey:options:)``) and the size distribution of the particles
/// inside the field of view with bootstrap intervals — Codable settings → step → typed record.
public enum ParticleWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Marker height h and the Gaussian σ of the distance map before the markers (voxels).
        public var markerHeightVoxels: Double
        public var smoothingSigmaVoxels: Double
        /// Depth axis for each particle's depth (0 = z).
        public var depthAxis: Int
        /// Particles smaller than this are left out of the table and the distribution.
        public var minimumVoxels: Int
        public init(markerHeightVoxels: Double = 0.5, smoothingSigmaVoxels: Double = 0.5, depthAxis: Int = 0, minimumVoxels: Int = 8) {
            self.markerHeightVoxels = markerHeightVoxels; self.smoothingSigmaVoxels = smoothingSigmaVoxels
            self.depthAxis = depthAxis; self.minimumVoxels = minimumVoxels
        }

        public func validate() throws {
            guard (0...1000).contains(markerHeightVoxels) else { throw LensError.invalidArgument("--h must be 0…1000, got \(markerHeightVoxels)") }
            guard (0...50).contains(smoothingSigmaVoxels) else { throw LensError.invalidArgument("--smoothing must be 0…50, got \(smoothingSigmaVoxels)") }
            guard (0...2).contains(depthAxis) else { throw LensError.invalidArgument("the depth axis is 0, 1 or 2, got \(depthAxis)") }
            guard minimumVoxels >= 0 else { throw LensError.invalidArgument("--min-voxels must be ≥ 0, got \(minimumVoxels)") }
        }
    }

    /// What a run measured.
    public struct Record: Sendable {
        /// The separated particles (int32 labels, 0 = background).
        public var labels: Grid<Int32>
        /// Per-particle properties of those with at least the minimum voxels.
        public var properties: [RegionProperties]
        /// Size distribution of the particles that do not touch the border.
        public var interiorDistribution: SizeDistribution
        public var length: LengthUnit
    }

    /// Separates and measures the particles of `mask` (1 = the phase), with grey statistics
    /// from `grey` when given.
    public static func run(mask: Grid<UInt8>, grey: Grid<Float>?, settings: Settings) throws -> Record {
        try settings.validate()
        let particles = try Watershed.separateParticles(mask, h: settings.markerHeightVoxels, smoothingSigma: settings.smoothingSigmaVoxels)
        let properties = try RegionAnalysis.measure(particles.labels, grey: grey, options: .init(depthAxis: settings.depthAxis))
            .filter { $0.voxelCount >= settings.minimumVoxels }
        let distribution = try SizeDistribution(diameters: properties.filter { !$0.touchesBorder }.map(\.equivalentDiameterMicrometres))
        return Record(labels: particles.labels, properties: properties, interiorDistribution: distribution, length: LengthUnit(mask.geometry))
    }
}

extension ParticleWorkflow.Record {
    /// The per-particle table (`--csv`), lengths in µm or voxels as the record's unit says.
    public var table: Table {
        let (l, a, v) = (length.name, length.areaName, length.volumeName)
        var table = Table(columns: [TableColumn("label"), TableColumn("voxels"), TableColumn("volume", unit: v),
                                    TableColumn("equivalent_diameter", unit: l), TableColumn("surface_area", unit: a),
                                    TableColumn("sphericity"), TableColumn("centroid_z", unit: l), TableColumn("centroid_y", unit: l),
                                    TableColumn("centroid_x", unit: l), TableColumn("depth", unit: l),
                                    TableColumn("semi_axis_1", unit: l), TableColumn("semi_axis_2", unit: l), TableColumn("semi_axis_3", unit: l),
                                    TableColumn("bbox_min_z"), TableColumn("bbox_min_y"), TableColumn("bbox_min_x"),
                                    TableColumn("bbox_max_z"), TableColumn("bbox_max_y"), TableColumn("bbox_max_x"),
                                    TableColumn("grey_mean"), TableColumn("grey_std"), TableColumn("grey_min"), TableColumn("grey_max"),
                                    TableColumn("touches_border")])
        for p in properties {
            var row: [TableValue] = [.number(Double(p.label)), .number(Double(p.voxelCount)), .number(p.volumeCubicMicrometres),
                                     .number(p.equivalentDiameterMicrometres), .number(p.surfaceAreaSquareMicrometres), .number(p.sphericity)]
            row += p.centroidMicrometres.map { .number($0) } + [.number(p.depthMicrometres)] + p.principalSemiAxesMicrometres.map { .number($0) }
            row += (p.boundingBoxMinimum + p.boundingBoxMaximum).map { .number(Double($0)) }
            row += [p.greyMean, p.greyStandardDeviation, p.greyMinimum, p.greyMaximum].map { .number($0 ?? .nan) }
            row.append(.text(p.touchesBorder ? "true" : "false"))
            table.append(row)
        }
        return table
    }
}
