import Diffraction
import Foundation
import LensCore
import LensIO

/// An operando series as read from disk: patterns on one 2θ grid, with the wavelength and the
/// cell voltage where the file records them.
public struct PatternSeries: Sendable {
    public var twoThetaDegrees: [Double]
    public var patterns: [PowderPattern]
    public var wavelengthAngstrom: Double?
    public var voltage: [Double]?
    public var source: String
    /// The intensities as stored, pattern by pattern on `twoThetaDegrees` (NaN where a bin holds
    /// no pixel: such points are left out of `patterns`).
    public var intensities: [Double]
}

/// Readers for powder-diffraction data: single patterns as column text (`.xye`, `.xy`, `.dat`,
/// `.csv`; bzip2- or gzip-compressed too), calibrant d-spacing lists (pyFAI's `.D`), and
/// operando series (HDF5 with `/patterns` (pattern, point) and `/two_theta`, optional
/// `/wavelength_angstrom` and `/voltage`; or a CSV whose first column is 2θ and whose other
/// columns are the patterns).
public enum DiffractionFiles {
    /// The text of a file, decompressed when it is bzip2 or gzip.
    static func text(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "no such file or not readable") }
        var bytes = [UInt8](data)
        if Bunzip2.isBzip2(bytes) { bytes = try Bunzip2.decompress(bytes, file: path) }
        else if bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B { bytes = try Inflate.decompress(bytes, file: path) }
        guard let text = String(bytes: bytes, encoding: .utf8) ?? String(bytes: bytes, encoding: .isoLatin1) else {
            throw LensError.badInput(file: path, problem: "not a text file")
        }
        return text
    }

    /// One pattern: 2θ (degrees), intensity and, in a third column, its standard error (as in
    /// `.xye`). A third column with a header that does not name an error (e, esd, err, error,
    /// sigma, std, uncertainty) is not taken for one: the errors are then Poisson, with a note.
    public static func readPattern(_ path: String) throws -> PowderPattern {
        let table = try NumericColumns.parse(try text(path), source: path)
        guard table.columns.count >= 2 else { throw LensError.badInput(file: path, problem: "a pattern needs columns 2θ and intensity, found \(table.columns.count)") }
        var sigma: [Double]?
        if table.columns.count >= 3 {
            let name = table.names.count >= 3 ? table.names[2].lowercased() : ""
            if name.isEmpty || ["e", "esd", "err", "error", "errors", "sigma", "std", "stdev", "uncertainty", "dy", "y_err", "i_err"].contains(name) {
                sigma = table.columns[2]
            } else {
                Notices.emit("\(path): the third column '\(table.names[2])' is not read as the intensities' standard errors; Poisson errors (√counts) are used")
            }
        }
        return try PowderPattern(twoThetaDegrees: table.columns[0], intensity: table.columns[1], sigma: sigma, source: path)
    }

    /// A calibrant's d-spacings (pyFAI `.D`: one d per line in Å, "# (h k l)" after it).
    public static func readCalibrant(_ path: String) throws -> [CalibrantLine] {
        var lines = [CalibrantLine]()
        for (number, raw) in try text(path).split(whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: "#", maxSplits: 1)
            guard let d = Double(parts[0].trimmingCharacters(in: .whitespaces)), d.isFinite, d > 0.1, d < 100 else {
                throw LensError.badInput(file: path, problem: "line \(number + 1) is not a d-spacing in Å: \(line.prefix(60))")
            }
            var hkl: MillerIndex?
            if parts.count > 1, let open = parts[1].firstIndex(of: "("), let close = parts[1].firstIndex(of: ")"), open < close {
                let numbers = parts[1][parts[1].index(after: open)..<close].split(separator: " ").compactMap { Int($0) }
                if numbers.count == 3 { hkl = MillerIndex(numbers[0], numbers[1], numbers[2]) }
            }
            lines.append(CalibrantLine(dAngstrom: d, hkl: hkl))
        }
        guard !lines.isEmpty else { throw LensError.badInput(file: path, problem: "no d-spacing in the calibrant file") }
        return lines
    }

    /// An operando series (HDF5 or CSV, see the type's note).
    public static func readSeries(_ path: String) throws -> PatternSeries {
        let lower = path.lowercased()
        if lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") || lower.hasSuffix(".nxs") {
            let file = try HDF5File(openingForReading: path)
            let data = try file.dataset("/patterns")
            guard data.shape.rank == 2 else { throw LensError.badInput(file: path, problem: "/patterns must be 2-D (pattern, point), found \(data.shape)") }
            var twoTheta = try file.dataset("/two_theta").readDoubles()
            // 2θ in degrees, or radians when its units attribute says so (pyFAI's 2th_rad).
            switch file.stringAttribute("units", of: "/two_theta")?.lowercased() {
            case "degrees"?, "degree"?, "deg"?, "2th_deg"?: break
            case "radians"?, "radian"?, "rad"?, "2th_rad"?: twoTheta = twoTheta.map { $0 * 180 / .pi }
            case let other?:
                throw LensError.badInput(file: path, problem: "/two_theta is in '\(other)', not degrees or radians: convert it to 2θ in degrees")
            case nil:
                Notices.emit("\(path): /two_theta has no units attribute; read as degrees (2θ). If it is in radians, set units = \"radians\"")
            }
            guard twoTheta.count == data.shape[1] else {
                throw LensError.badInput(file: path, problem: "/two_theta has \(twoTheta.count) angles for patterns of \(data.shape[1]) points")
            }
            try MemoryBudget.require(elements: data.shape.count, elementBytes: 12, for: path)
            let grid = try data.readSlab(0..<data.shape[0]).converted(to: Double.self)
            var sigma: Grid<Double>?
            if file.kind(of: "/sigma") == .dataset {
                let s = try file.dataset("/sigma")
                guard s.shape == data.shape else { throw LensError.badInput(file: path, problem: "/sigma has shape \(s.shape), /patterns \(data.shape)") }
                sigma = try s.readSlab(0..<s.shape[0]).converted(to: Double.self)
            }
            let n = data.shape[1]
            let values = grid.elements, errors = sigma?.elements
            let patterns = try (0..<data.shape[0]).map { k in
                try pattern(twoTheta: twoTheta, intensity: Array(values[(k * n)..<((k + 1) * n)]), sigma: errors.map { Array($0[(k * n)..<((k + 1) * n)]) },
                            source: "\(path) pattern \(k)")
            }
            var wavelength: Double?
            if file.kind(of: "/wavelength_angstrom") == .dataset {
                let w = try file.dataset("/wavelength_angstrom").readDoubles()
                guard w.count == 1, w[0].isFinite, w[0] > 0 else { throw LensError.badInput(file: path, problem: "/wavelength_angstrom must be one positive number") }
                wavelength = w[0]
            }
            var voltage: [Double]?
            if file.kind(of: "/voltage") == .dataset {
                let v = try file.dataset("/voltage").readDoubles()
                guard v.count == patterns.count else { throw LensError.badInput(file: path, problem: "/voltage has \(v.count) values for \(patterns.count) patterns") }
                voltage = v
            }
            return PatternSeries(twoThetaDegrees: twoTheta, patterns: patterns, wavelengthAngstrom: wavelength, voltage: voltage, source: path, intensities: values)
        }
        let table = try NumericColumns.parse(try text(path), source: path)
        guard table.columns.count >= 2 else { throw LensError.badInput(file: path, problem: "a series needs a 2θ column and at least one pattern column") }
        let patterns = try table.columns.dropFirst().enumerated().map { k, column in
            try pattern(twoTheta: table.columns[0], intensity: column, sigma: nil, source: "\(path) column \(k + 2)")
        }
        return PatternSeries(twoThetaDegrees: table.columns[0], patterns: patterns, wavelengthAngstrom: nil, voltage: nil, source: path,
                             intensities: table.columns.dropFirst().flatMap { $0 })
    }

    /// One stored pattern without its empty bins (non-finite intensity or σ).
    static func pattern(twoTheta: [Double], intensity: [Double], sigma: [Double]?, source: String) throws -> PowderPattern {
        let keep = intensity.indices.filter { intensity[$0].isFinite && (sigma?[$0].isFinite ?? true) }
        return try PowderPattern(twoThetaDegrees: keep.map { twoTheta[$0] }, intensity: keep.map { intensity[$0] },
                                 sigma: sigma.map { s in keep.map { s[$0] } }, source: source)
    }

    /// Phases from JSON: an array of phases, or an object with a `phases` array (as the
    /// diffraction phantom's `phases.json`).
    public static func readPhases(_ path: String) throws -> [CrystalPhase] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "no such file or not readable") }
        struct Wrapped: Decodable { var phases: [CrystalPhase] }
        let phases: [CrystalPhase]
        do {
            if let list = try? JSONDecoder().decode([CrystalPhase].self, from: data) { phases = list }
            else { phases = try JSONDecoder().decode(Wrapped.self, from: data).phases }
        } catch {
            throw LensError.badInput(file: path, problem: "not a phase list: expected [{\"name\", \"cell\": {\"system\", \"a\", \"c\"…}, \"reflections\": [{\"hkl\": [h, k, l], \"relative_intensity\"}]}] (\(error))")
        }
        guard !phases.isEmpty else { throw LensError.badInput(file: path, problem: "the phase list is empty") }
        for p in phases {
            do { try p.validate() } catch let e as LensError { throw LensError.badInput(file: path, problem: "\(e)") }
        }
        return phases
    }
}
