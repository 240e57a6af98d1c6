import Foundation
import LensCore

import Signal

/// Statistics of a per-pixel map (edge energy, a fraction, …) inside each label of a label
/// volume — particles, fragments or grains — for state-of-charge heterogeneity studies
/// (science brief §5): per label the mean, standard deviation and percentiles over the pixels
/// that have a value, the label's size, and an optional class (e.g. damage), plus the split of
/// the total variance into the part within labels and the part between label means.
public struct LabelMapStatistics: Sendable {
    public struct Entry: Sendable, Equatable {
        public var label: Int
        /// Pixels of the label, and those among them with a finite map value.
        public var pixelCount: Int, validCount: Int
        /// pixelCount × voxel volume (µm³ in 3D, µm² in 2D); nil without a calibrated geometry.
        public var size: Double?
        public var mean: Double, standardDeviation: Double
        public var minimum: Double, maximum: Double
        /// 5th, 25th, 50th, 75th and 95th percentiles (linear interpolation between ranks).
        public var percentiles: [Double]
        public var labelClass: String?
    }

    /// The labels of one class taken together: how many, the mean of their means and its
    /// spread (the class's label-to-label heterogeneity), and the mean over all their valid pixels.
    public struct ClassSummary: Sendable, Equatable {
        public var labelClass: String
        public var labels: Int
        public var meanOfLabelMeans: Double, standardDeviationOfLabelMeans: Double
        public var pixelWeightedMean: Double
    }
    public var mapName: String, mapUnit: String
    public var entries: [Entry]
    /// Σ over labels of (n − 1)·s² and n·(mean − grand mean)², divided by N − 1: the variance
    /// of all labelled pixels splits exactly into these two (law of total variance).
    public var withinLabelVariance: Double, betweenLabelVariance: Double
    public var grandMean: Double
    /// Pixels with a label but no map value (masked by the analysis), over all labels.
    public var maskedPixelCount: Int
    public static let percentileLevels: [Double] = [5, 25, 50, 75, 95]

    /// Fraction of the variance found inside labels (1: labels are internally as mixed as the
    /// whole; 0: each label is uniform and labels differ).
    public var withinFraction: Double { withinLabelVariance / max(1e-300, withinLabelVariance + betweenLabelVariance) }

    /// Computes the statistics of `map` inside every non-zero label of `labels` (same shape).
    /// `classes`: an optional class per label (a damage class from crack analysis, say).
    public init(map: Grid<Float>, labels: Grid<Int32>, mapName: String, mapUnit: String, classes: [Int: String] = [:],
                minimumValidPixels: Int = 1) throws {
        guard map.shape == labels.shape else {
            throw LensError.invalidArgument("the label volume has shape \(labels.shape) but the \(mapName) map \(map.shape)")
        }
        var values = [Int: [Double]]()
        var counts = [Int: Int]()
        map.withUnsafeBufferPointer { m in
            labels.withUnsafeBufferPointer { l in
                for i in 0..<m.count where l[i] != 0 {
                    let label = Int(l[i])
                    counts[label, default: 0] += 1
                    if m[i].isFinite { values[label, default: []].append(Double(m[i])) }
                }
            }
        }
        guard !counts.isEmpty else { throw LensError.invalidArgument("the label volume has no labelled pixels") }
        let geometry = labels.geometry.isCalibrated ? labels.geometry : map.geometry
        let pixelSize = geometry.isCalibrated ? geometry.voxelVolumeCubicMicrometres : nil
        var entries = [Entry]()
        for label in counts.keys.sorted() {
            let v = values[label] ?? []
            let n = v.count
            let usable = n >= minimumValidPixels && n > 0
            let p = usable ? Statistics.percentiles(v, Self.percentileLevels) : Self.percentileLevels.map { _ in Double.nan }
            entries.append(Entry(label: label, pixelCount: counts[label]!, validCount: n, size: pixelSize.map { Double(counts[label]!) * $0 },
                                 mean: usable ? Statistics.mean(v) : .nan, standardDeviation: n > 1 && usable ? Statistics.standardDeviation(v) : .nan,
                                 minimum: usable ? v.min()! : .nan, maximum: usable ? v.max()! : .nan, percentiles: p, labelClass: classes[label]))
        }
        let used = entries.filter { $0.mean.isFinite }
        let total = used.reduce(0) { $0 + $1.validCount }
        let grand = used.reduce(0.0) { $0 + $1.mean * Double($1.validCount) } / Double(max(1, total))
        var within = 0.0, between = 0.0
        for e in used {
            if e.validCount > 1 { within += Double(e.validCount - 1) * e.standardDeviation * e.standardDeviation }
            between += Double(e.validCount) * (e.mean - grand) * (e.mean - grand)
        }
        let dof = Double(max(1, total - 1))
        self.mapName = mapName; self.mapUnit = mapUnit; self.entries = entries
        withinLabelVariance = within / dof; betweenLabelVariance = between / dof; grandMean = grand
        maskedPixelCount = entries.reduce(0) { $0 + $1.pixelCount - $1.validCount }
    }

    /// Per class (sorted by name), over the labels that have a class and a mean.
    public var classSummaries: [ClassSummary] {
        let classed = Dictionary(grouping: entries.filter { $0.labelClass != nil && $0.mean.isFinite }, by: { $0.labelClass! })
        return classed.keys.sorted().map { name in
            let members = classed[name]!
            let means = members.map(\.mean)
            let pixels = members.reduce(0) { $0 + $1.validCount }
            return ClassSummary(labelClass: name, labels: members.count, meanOfLabelMeans: Statistics.mean(means),
                                standardDeviationOfLabelMeans: means.count > 1 ? Statistics.standardDeviation(means) : .nan,
                                pixelWeightedMean: members.reduce(0.0) { $0 + $1.mean * Double($1.validCount) } / Double(pixels))
        }
    }

    /// One row per label, with units in the headers, for scatter plots (mean vs size, std vs mean).
    public func table(sizeUnit: String) -> Table {
        var columns = [TableColumn("label"), TableColumn("pixels"), TableColumn("valid_pixels"), TableColumn("size", unit: sizeUnit),
                       TableColumn("\(mapName)_mean", unit: mapUnit), TableColumn("\(mapName)_std", unit: mapUnit),
                       TableColumn("\(mapName)_min", unit: mapUnit), TableColumn("\(mapName)_max", unit: mapUnit)]
        columns += Self.percentileLevels.map { TableColumn("\(mapName)_p\(Int($0))", unit: mapUnit) }
        columns.append(TableColumn("class"))
        var table = Table(columns: columns)
        for e in entries {
            var row: [TableValue] = [.number(Double(e.label)), .number(Double(e.pixelCount)), .number(Double(e.validCount)),
                                     .number(e.size ?? .nan), .number(e.mean), .number(e.standardDeviation), .number(e.minimum), .number(e.maximum)]
            row += e.percentiles.map { .number($0) }
            row.append(.text(e.labelClass ?? ""))
            table.append(row)
        }
        return table
    }
}
