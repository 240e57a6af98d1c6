import Foundation
import LensCore

/// The label scheme of a volume, kept in a sidecar JSON beside it: `phases.tif` →
/// `phases.tif.labels.json`, `seg.h5:/labels` → `seg.h5.labels.labels.json` (the dataset path's
/// slashes as dots), a TIFF folder `seg/` → `seg.labels.json`. A sidecar travels with the file
/// when both are copied, any tool can read it, and it never changes the volume's bytes.
public enum LabelSchemeFile {
    /// Marks the JSON as a label scheme (and its version), so an unrelated JSON is refused.
    static let format = "batterylens-label-scheme/1"

    struct Stored: Codable {
        var format: String
        var name: String
        var description: String
        var phases: [LabelScheme.Phase]
    }

    /// The sidecar path of a volume path (as given on the command line).
    public static func sidecarPath(for volume: String) -> String {
        let reference = DatasetReference(volume)
        var base = reference.filePath
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        if let dataset = reference.datasetPath {
            let parts = dataset.split(separator: "/").map(String.init)
            if !parts.isEmpty { base += "." + parts.joined(separator: ".") }
        }
        return base + ".labels.json"
    }

    /// The scheme recorded beside `volume`, or nil when there is no sidecar.
    public static func read(forVolume volume: String) throws -> LabelScheme? {
        let path = sidecarPath(for: volume)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let stored = try JSONOutput.read(Stored.self, from: path)
        guard stored.format == format else {
            throw LensError.badInput(file: path, problem: "not a label scheme (format '\(stored.format)', expected '\(format)')")
        }
        do { return try LabelScheme(name: stored.name, phases: stored.phases, description: stored.description) } catch let LensError.invalidArgument(message) {
            throw LensError.badInput(file: path, problem: message)
        }
    }

    /// Writes `scheme` to `path` (a sidecar path declared as an output).
    public static func write(_ scheme: LabelScheme, to path: String, inputs: [String] = []) throws {
        try JSONOutput.write(Stored(format: format, name: scheme.name, description: scheme.description, phases: scheme.phases), to: path, inputs: inputs)
    }
}

/// How many voxels carry each label code.
public struct LabelCodeCounts: Sendable, Equatable {
    public private(set) var counts: [Int: Int] = [:]
    public init() {}

    /// Counts the codes of a slab; a value that is not a whole number ≥ 0 means the volume is
    /// not a label volume.
    public mutating func add(_ slab: AnyGrid, source: String) throws {
        var local = [Int: Int]()
        var bad: Double?
        switch slab {
        case .uint8(let g): g.withUnsafeBufferPointer { b in
            var h = [Int](repeating: 0, count: 256)
            for v in b { h[Int(v)] += 1 }
            for (c, n) in h.enumerated() where n > 0 { local[c] = n }
        }
        default:
            let values = try slab.converted(to: Double.self)
            values.withUnsafeBufferPointer { b in
                for v in b {
                    guard v >= 0, v <= Double(Int32.max), v == v.rounded() else { bad = v; return }
                    local[Int(v), default: 0] += 1
                }
            }
        }
        if let bad { throw LensError.badInput(file: source, problem: "holds the value \(bad), so it is not a label volume (labels are whole numbers 0…\(Int32.max))") }
        for (c, n) in local { counts[c, default: 0] += n }
    }

    public var total: Int { counts.values.reduce(0, +) }

    /// "0 (40.0 %), 1 (49.9 %), 2 (10.1 %)".
    public var listing: String {
        let t = Double(Swift.max(1, total))
        let shown = counts.keys.sorted().prefix(12).map { String(format: "%d (%.1f %%)", $0, 100 * Double(counts[$0]!) / t) }
        return shown.joined(separator: ", ") + (counts.count > 12 ? ", … (\(counts.count) codes)" : "")
    }

    /// Checks that every code present has a meaning in `scheme`.
    public func requireCovered(by scheme: LabelScheme, source: String) throws {
        let unknown = counts.keys.filter { scheme.phase(code: $0) == nil }.sorted()
        guard unknown.isEmpty else {
            let fitting = Set(LabelScheme.wellKnown.filter { Set(counts.keys).isSubset(of: Set($0.value.phases.map(\.code))) }.map(\.key)).sorted()
            let hint = fitting.isEmpty ? "" : " (known schemes with these codes: \(fitting.joined(separator: ", ")))"
            throw LensError.badInput(file: source, problem: "holds label codes \(unknown.prefix(8).map(String.init).joined(separator: ", ")) that the label scheme '\(scheme.name)' (\(scheme.summary)) does not define; codes present: \(listing). Declare the right scheme with --labels-scheme\(hint)")
        }
    }
}
