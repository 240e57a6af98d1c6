import Foundation
import LensCore
import LensIO
import Spectroscopy

/// One spectrum of a collection file (an Athena project group, an entry of a JSON collection).
public struct CollectedSpectrum: Sendable {
    /// The label (Athena's group label, the JSON name), trimmed.
    public var name: String
    /// A unique identifier within the file (Athena's group id; the name for JSON).
    public var id: String
    public var energies: [Double]
    public var mu: [Double]
    /// What the values are ("mu(E)" from Athena's record type, the JSON key, …).
    public var kind: String
    /// The energies' unit where the format or file defines it (Athena: eV; JSON: an
    /// `energy_ev`/`energy_kev` key or an `energy_unit` field); nil: the numbers decide, as for
    /// column files (``SpectrumFile/electronVolts(_:unit:source:)``).
    public var energyUnit: EnergyUnit?
}

/// Athena project files (`.prj`, Demeter): gzip-compressed Perl `Data::Dumper` records, one
/// per group — `$old_group = 'id';`, `@args = (key, value, …)` with the group's `label`,
/// `recordtype` and `is_xmu`, `@x = (energies)`, `@y = (μ)`, …, `[record]`. Only the μ(E)
/// groups (is_xmu, or record type mu(E)/xanes) are spectra; χ(k) and other records are skipped.
/// Energies are the stored `@x` (Athena's `bkg_eshift` is not applied, as Larch's reader).
public enum AthenaProject {
    public static func read(_ path: String) throws -> [CollectedSpectrum] {
        guard let compressed = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "no such file or not readable") }
        let bytes = [UInt8](compressed)
        let text: String
        if bytes.starts(with: [0x1F, 0x8B]) {
            text = String(decoding: try Inflate.decompress(bytes, file: path, what: "the Athena project"), as: UTF8.self)
        } else {
            text = String(decoding: bytes, as: UTF8.self)
        }
        guard text.hasPrefix("# Athena project file") || text.contains("$old_group") else {
            throw LensError.badInput(file: path, problem: "not an Athena project (no '# Athena project file' header or $old_group records)")
        }
        var spectra: [CollectedSpectrum] = []
        var id = "", args: [String: String] = [:], x: [Double] = [], y: [Double] = []
        var recordIndex = 0
        func finish() throws {
            defer { id = ""; args = [:]; x = []; y = [] }
            guard !id.isEmpty || !x.isEmpty else { return }
            recordIndex += 1
            let type = (args["recordtype"] ?? "").lowercased()
            let isMu = args["is_xmu"] == "1" || type.contains("mu(e)") || type == "xanes" || type == "xmu"
            guard isMu, !x.isEmpty else { return }
            guard x.count == y.count else {
                throw LensError.badInput(file: path, problem: "group \(args["label"] ?? id) has \(x.count) energies but \(y.count) values")
            }
            let label = (args["label"] ?? "").trimmingCharacters(in: .whitespaces)
            spectra.append(CollectedSpectrum(name: label.isEmpty ? id : label, id: id, energies: x, mu: y,
                                             kind: args["recordtype"] ?? "mu(E)", energyUnit: .electronVolts))
        }
        for line in text.split(whereSeparator: \.isNewline) {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("$old_group") {
                try finish()
                id = perlList(String(l.drop(while: { $0 != "=" }).dropFirst())).first ?? ""
            } else if l.hasPrefix("@args") {
                let items = perlList(String(l.drop(while: { $0 != "(" })))
                for k in stride(from: 0, to: items.count - 1, by: 2) { args[items[k]] = items[k + 1] }
            } else if l.hasPrefix("@x") || l.hasPrefix("@y") {
                let items = perlList(String(l.drop(while: { $0 != "(" })))
                let values = items.map { Double($0) }
                guard values.allSatisfy({ $0 != nil }) else {
                    throw LensError.badInput(file: path, problem: "group \(args["label"] ?? id): \(l.prefix(2)) holds a value that is not a number")
                }
                if l.hasPrefix("@x") { x = values.map { $0! } } else { y = values.map { $0! } }
            } else if l.hasPrefix("[record]") {
                try finish()
            }
        }
        try finish()
        guard !spectra.isEmpty else { throw LensError.badInput(file: path, problem: "no μ(E) group in the Athena project") }
        return spectra
    }

    /// The items of a Perl list `(a, 'b', [..], …);` as strings (quotes removed; nested
    /// brackets kept as one item).
    static func perlList(_ text: String) -> [String] {
        var items: [String] = [], current = "", inQuote = false, depth = 0, escaped = false, quoted = false
        for ch in text {
            if inQuote {
                if escaped { current.append(ch); escaped = false } else if ch == "\\" { escaped = true } else if ch == "'" { inQuote = false } else { current.append(ch) }
                continue
            }
            switch ch {
            case "'": inQuote = true; quoted = true
            case "[", "{": depth += 1; current.append(ch)
            case "]", "}": depth -= 1; current.append(ch)
            case "(" where depth == 0 && current.isEmpty && !quoted: continue
            case ")" where depth == 0, ";" where depth == 0:
                if !current.isEmpty || quoted { items.append(current.trimmingCharacters(in: .whitespaces)) }
                current = ""; quoted = false
            case "," where depth == 0:
                items.append(quoted ? current : current.trimmingCharacters(in: .whitespaces)); current = ""; quoted = false
            default: if depth > 0 || !ch.isWhitespace || quoted { current.append(ch) }
            }
        }
        if !current.isEmpty { items.append(current.trimmingCharacters(in: .whitespaces)) }
        return items
    }
}

/// JSON spectrum collections: `{"energy": [...], "mu": [...]}` (one spectrum),
/// `{"energy": [...], "spectra": {"name": [...], …}}` (several on one grid), or a list of
/// `{"name": …, "energy": [...], "mu": [...]}`. Energy keys: energy, energies, energy_ev,
/// energy_kev, e (an `"energy_unit": "eV"|"keV"` field declares the unit of the others);
/// value keys: those of ``SpectrumFile/muColumnNames``. A collection without any energy
/// array (such as a table of intensities on an implicit grid) is refused, naming what it holds.
public enum JSONSpectra {
    public static func read(_ path: String) throws -> [CollectedSpectrum] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "no such file or not readable") }
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw LensError.badInput(file: path, problem: "not valid JSON (\(error.localizedDescription))")
        }
        let energyKeys = ["energy", "energies", "energy_ev", "energy_kev", "e"]
        func numbers(_ v: JSONValue?) -> [Double]? {
            guard case .array(let a)? = v else { return nil }
            let d = a.compactMap(\.doubleValue)
            return d.count == a.count && !d.isEmpty ? d : nil
        }
        func object(_ o: [String: JSONValue], name: String) throws -> [CollectedSpectrum] {
            guard let ek = energyKeys.first(where: { numbers(o[$0]) != nil }), let energies = numbers(o[ek]) else {
                throw LensError.badInput(file: path, problem: "no energy array (keys \(energyKeys.joined(separator: ", "))); it holds \(o.keys.sorted().prefix(8).joined(separator: ", ")) — BatteryLens does not guess an energy grid")
            }
            var unit = SpectrumFile.declaredUnit(name: ek, unit: nil)
            if let text = o["energy_unit"]?.stringValue {
                guard let declared = EnergyUnit(declared: text) else {
                    throw LensError.badInput(file: path, problem: "energy_unit '\(text)' is neither eV nor keV")
                }
                unit = declared
            }
            if case .object(let spectra)? = o["spectra"] {
                return try spectra.keys.sorted().map { key in
                    guard let values = numbers(spectra[key]), values.count == energies.count else {
                        throw LensError.badInput(file: path, problem: "spectrum \(key) is not \(energies.count) numbers like the energy array")
                    }
                    return CollectedSpectrum(name: key, id: key, energies: energies, mu: values, kind: "spectra", energyUnit: unit)
                }
            }
            guard let mk = SpectrumFile.muColumnNames.first(where: { numbers(o[$0]) != nil }), let mu = numbers(o[mk]), mu.count == energies.count else {
                throw LensError.badInput(file: path, problem: "no μ array as long as the energy array (keys \(SpectrumFile.muColumnNames.joined(separator: ", ")), or \"spectra\")")
            }
            let n = o["name"]?.stringValue ?? name
            return [CollectedSpectrum(name: n, id: n, energies: energies, mu: mu, kind: mk, energyUnit: unit)]
        }
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        switch root {
        case .object(let o): return try object(o, name: stem)
        case .array(let items):
            return try items.enumerated().flatMap { k, item -> [CollectedSpectrum] in
                guard case .object(let o) = item else { throw LensError.badInput(file: path, problem: "entry \(k) is not an object") }
                return try object(o, name: "\(stem)_\(k)")
            }
        default: throw LensError.badInput(file: path, problem: "a spectrum collection is a JSON object or list")
        }
    }
}

extension SpectrumFile {
    /// The collection a path holds, or nil for column text: `.prj` (Athena) and `.json`.
    static func collection(_ path: String) throws -> [CollectedSpectrum]? {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "prj": return try AthenaProject.read(path)
        case "json": return try JSONSpectra.read(path)
        default:
            // Athena projects are gzip: never show their bytes as a "column" error.
            if let h = FileHandle(forReadingAtPath: path), let head = try? h.read(upToCount: 2), [UInt8](head) == [0x1F, 0x8B] {
                return try AthenaProject.read(path)
            }
            return nil
        }
    }

    /// `file.prj:GROUP` / `file.json:NAME` → (file, name); any other path → (path, nil). A colon
    /// is only a selector when the part before it is an existing collection file.
    static func splitSelector(_ path: String) -> (file: String, name: String?) {
        guard let colon = path.lastIndex(of: ":") else { return (path, nil) }
        let file = String(path[..<colon])
        let ext = URL(fileURLWithPath: file).pathExtension.lowercased()
        guard ["prj", "json"].contains(ext), FileManager.default.fileExists(atPath: file) else { return (path, nil) }
        return (file, String(path[path.index(after: colon)...]))
    }

    /// One spectrum of a collection: the one named (by label, or by id when labels repeat),
    /// or the only one.
    static func select(_ spectra: [CollectedSpectrum], name: String?, file: String) throws -> CollectedSpectrum {
        func listing() -> String {
            spectra.prefix(20).map { $0.name == $0.id ? $0.name : "\($0.name) [\($0.id)]" }.joined(separator: ", ") + (spectra.count > 20 ? ", …" : "")
        }
        if let name {
            let key = name.trimmingCharacters(in: .whitespaces)
            if let s = spectra.first(where: { $0.id == key }) { return s }
            let matches = spectra.filter { $0.name == key }
            guard !matches.isEmpty else { throw LensError.badInput(file: file, problem: "no spectrum named '\(name)'; it holds \(listing())") }
            guard matches.count == 1 else {
                throw LensError.badInput(file: file, problem: "\(matches.count) spectra are labelled '\(key)' (ids \(matches.map(\.id).joined(separator: ", "))); name one by its id as \(file):ID")
            }
            return matches[0]
        }
        guard spectra.count == 1 else {
            throw LensError.badInput(file: file, problem: "holds \(spectra.count) spectra (\(listing())); name one as \(file):NAME")
        }
        return spectra[0]
    }
}
