import Foundation
import ImageAnalysis
import LensCore

/// The segmentation recipe for a thick electrode (../shared/reference/science.md §3):
/// 3D median → threshold → the electrode's envelope (closed and opened with a ball, holes
/// filled, largest connected piece) → unsharp mask → binarize (or multi-Otsu into 3 classes)
/// inside the envelope. Every step's parameter is exposed.
public enum ElectrodeSegmentation {
    public struct Parameters: Sendable, Codable {
        /// Median cube radius (1: 3×3×3).
        public var medianRadius = 1
        /// Ball radius (smallest-voxel units) of the closing and opening that turn the solid
        /// into the electrode's envelope.
        public var envelopeRadius = 11.0
        /// Unsharp mask Gaussian radius (voxels) and amount.
        public var unsharpRadius = 1.0
        public var unsharpAmount = 0.5
        /// Classes inside the electrode: 2 (pore, solid) or 3 (pore, carbon–binder, active).
        public var classes = 2
        /// Manual thresholds (grey values, ascending, classes − 1 of them) instead of Otsu.
        public var thresholds: [Double]?
        /// Keep only the largest connected piece of the envelope.
        public var keepLargest = true
        /// The region the phases are classified in (and porosity refers to).
        public var region: Region = .envelope
        public init() {}
    }

    /// Which voxels are the electrode.
    public enum Region: String, Sendable, Codable, CaseIterable {
        /// The electrode's envelope found by the recipe (closing, filling, opening).
        case envelope
        /// The reconstruction circle of each slice (the field of view of a parallel-beam
        /// reconstruction: the inscribed circle of the y–x plane) — for a sample that fills it.
        case circle
        /// Every voxel.
        case all

        public var summary: String {
            switch self {
            case .envelope: return "the electrode envelope (threshold, closing, hole filling, opening)"
            case .circle: return "the reconstruction circle of each slice (the field of view)"
            case .all: return "every voxel"
            }
        }
    }

    /// Output labels: 0 outside the electrode, 1 pore, then the solid classes in increasing
    /// grey value (2 solid; or 2 carbon–binder, 3 active).
    public struct Result: Sendable {
        public var labels: Grid<UInt8>
        public var envelopeThreshold: Double
        public var phaseThresholds: [Double]
        public var electrodeVoxels: Int
    }

    public static func segment(_ grey: Grid<Float>, parameters p: Parameters = Parameters(),
                               progress: ProgressReporter? = nil) throws -> Result {
        guard grey.rank == 3 || grey.rank == 2 else { throw LensError.invalidArgument("segmentation needs a 2D or 3D volume, got \(grey.shape)") }
        guard p.classes == 2 || p.classes == 3 else { throw LensError.invalidArgument("classes must be 2 or 3, got \(p.classes)") }
        if let t = p.thresholds, t.count != p.classes - 1 {
            throw LensError.invalidArgument("\(p.classes) classes need \(p.classes - 1) thresholds, got \(t.count)")
        }
        let smoothed = p.medianRadius > 0 ? Filters.median(grey, radius: p.medianRadius) : grey
        progress?.advance()
        let envelopeThreshold = try Thresholds.otsu(try ValueHistogram(smoothed))
        var envelope: Grid<UInt8>
        switch p.region {
        case .envelope:
            envelope = try Thresholds.classify(smoothed, thresholds: [envelopeThreshold])
            envelope = Morphology.close(envelope, radius: p.envelopeRadius)
            envelope = Morphology.fillHoles(envelope)
            envelope = Morphology.open(envelope, radius: p.envelopeRadius)
            if p.keepLargest { envelope = Morphology.keepLargest(envelope, count: 1, connectivity: .faces) }
        case .circle:
            let circle = ReconstructionCircle(sliceOf: grey.shape)
            let (ny, nx) = (circle.rows, circle.columns)
            envelope = grey.map { _ in UInt8(0) }
            envelope.withUnsafeMutableBufferPointer { e in
                for i in 0..<e.count { e[i] = circle.contains(y: (i / nx) % ny, x: i % nx) ? 1 : 0 }
            }
        case .all:
            envelope = grey.map { _ in UInt8(1) }
        }
        let electrodeVoxels = envelope.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard electrodeVoxels > 0 else { throw LensError.numerical("no electrode found: the envelope is empty after the opening of radius \(p.envelopeRadius)") }
        progress?.advance()
        let sharpened = p.unsharpAmount > 0 ? Filters.unsharpMask(smoothed, radius: p.unsharpRadius, amount: p.unsharpAmount) : smoothed
        let thresholds = try p.thresholds ?? Thresholds.multiOtsu(try ValueHistogram(sharpened, mask: envelope), classes: p.classes)
        let labels = try Thresholds.classify(sharpened, thresholds: thresholds, mask: envelope, offset: 1, outside: 0)
        progress?.advance()
        return Result(labels: labels, envelopeThreshold: envelopeThreshold, phaseThresholds: thresholds, electrodeVoxels: electrodeVoxels)
    }
}
