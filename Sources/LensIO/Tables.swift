import Foundation
import LensCore

extension Table {
    /// Writes the CSV atomically.
    public func write(to path: String) throws {
        try AtomicOutput.write(Data(csv.utf8), to: path)
    }
}

/// Numeric columns read from text: CSV, whitespace-separated tables, XAS `.xmu`/`.xdi` files,
/// angle lists. Lines starting with `#` or `%` are comments; a first line that is not numeric
/// is taken as the header; an empty field of a comma-separated line is a missing value (NaN).
public struct NumericColumns: Sendable, Equatable {
    public var names: [String]
    public var columns: [[Double]]
    /// Each column's unit where the file declares one: a header `energy [eV]` (as ``Table``
    /// writes) or an XDI `# Column.1: energy eV` line; nil otherwise.
    public var units: [String?]

    public static func read(_ path: String) throws -> NumericColumns {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LensError.badInput(file: path, problem: "no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw LensError.badInput(file: path, problem: "not a text file")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> NumericColumns {
        var names = [String]()
        var units = [String?]()
        var rows = [[Double]]()
        var lastComment: String?
        /// XDI column declarations: index (from 1) → (name, unit).
        var xdiColumns = [Int: (String, String?)]()
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") || line.hasPrefix("%") {
                let comment = String(line.dropFirst())
                lastComment = comment
                let trimmed = comment.trimmingCharacters(in: .whitespaces)
                if trimmed.lowercased().hasPrefix("column."), let colon = trimmed.firstIndex(of: ":"),
                   let index = Int(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 7)..<colon]), index > 0 {
                    let words = trimmed[trimmed.index(after: colon)...].split(separator: " ").map(String.init)
                    if let name = words.first { xdiColumns[index] = (name, words.count > 1 ? words[1] : nil) }
                }
                continue
            }
            // Comma-separated lines keep their empty fields (a missing value, as ``Table`` writes
            // non-finite numbers): they read as NaN. Other separators collapse.
            let values: [Double?]
            if line.contains(",") {
                values = line.split(separator: ",", omittingEmptySubsequences: false).map { field -> Double? in
                    let t = field.trimmingCharacters(in: .whitespaces)
                    return t.isEmpty ? .nan : Double(t)
                }
            } else {
                values = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" }).map { Double(String($0)) }
            }
            if values.contains(where: { $0 == nil }) {
                if rows.isEmpty && names.isEmpty { (names, units) = header(line); continue }
                throw LensError.badInput(file: source, problem: "line \(number + 1) is not numeric: \(line.prefix(60))")
            }
            let row = values.map { $0! }
            if let first = rows.first, first.count != row.count {
                throw LensError.badInput(file: source, problem: "line \(number + 1) has \(row.count) values, earlier lines \(first.count)")
            }
            rows.append(row)
        }
        guard let width = rows.first?.count else { throw LensError.badInput(file: source, problem: "no numeric data") }
        if names.count != width, let comment = lastComment {
            let fromComment = header(comment)
            if fromComment.names.count == width { (names, units) = fromComment }
        }
        if names.count != width {
            if xdiColumns.count == width, (1...width).allSatisfy({ xdiColumns[$0] != nil }) { names = (1...width).map { xdiColumns[$0]!.0 } }
            else { names = (0..<width).map { "column\($0 + 1)" } }
        }
        if units.count != width { units = [String?](repeating: nil, count: width) }
        // XDI declarations give units to the columns they name.
        for (index, declared) in xdiColumns where index <= width && units[index - 1] == nil && names[index - 1].lowercased() == declared.0.lowercased() {
            units[index - 1] = declared.1
        }
        let columns = (0..<width).map { c in rows.map { $0[c] } }
        return NumericColumns(names: names, columns: columns, units: units)
    }

    /// Column names and units of a header line: split on commas (or semicolons, tabs) when it
    /// has them, else on spaces; quotes dropped, and a trailing unit in brackets (`energy [eV]`,
    /// as ``Table`` writes) taken as the column's unit.
    static func header(_ line: String) -> (names: [String], units: [String?]) {
        let separators: Set<Character> = line.contains(",") ? [","] : line.contains(";") ? [";"] : line.contains("\t") ? ["\t"] : [" "]
        var names = [String](), units = [String?]()
        for field in line.split(whereSeparator: { separators.contains($0) }) {
            var name = field.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            var unit: String?
            // A unit standing alone after a space-separated name (`energy [eV] mu`) is the previous column's.
            if name.hasPrefix("["), name.hasSuffix("]"), !names.isEmpty, units[units.count - 1] == nil {
                units[units.count - 1] = String(name.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            if name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                unit = String(name[name.index(after: open)..<name.index(before: name.endIndex)]).trimmingCharacters(in: .whitespaces)
                name = String(name[..<open]).trimmingCharacters(in: .whitespaces)
            }
            guard !name.isEmpty else { continue }
            names.append(name); units.append(unit)
        }
        return (names, units)
    }
}

/// JSON summaries: pretty-printed with sorted keys (stable diffs), written atomically.
/// Every JSON file BatteryLens writes (summaries, truth, designs, sidecars) follows one
/// convention: keys in snake_case, and numbers that are not finite (τ of a phase that does not
/// percolate, a ratio of nothing) written as `null`, with a companion field saying why where it
/// matters (`"percolates": false`). The JSON Schemas in `Schemas/` describe each summary.
public enum JSONOutput {
    /// Stands for a non-finite number during encoding, then replaced by `null`.
    static let nonFiniteSentinel = "\u{1}batterylens-non-finite\u{1}"

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .custom { path in SnakeCaseKey(snakeCase(path.last!.stringValue)) }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: nonFiniteSentinel, negativeInfinity: nonFiniteSentinel, nan: nonFiniteSentinel)
        let data = try encoder.encode(value)
        guard let text = String(data: data, encoding: .utf8) else { return data }
        let quoted = String(data: try JSONEncoder().encode(nonFiniteSentinel), encoding: .utf8)!
        return Data(text.replacingOccurrences(of: quoted, with: "null").utf8)
    }

    /// A Swift property name in snake_case: words split where a capital follows a lower-case
    /// letter or digit, or ends a run of capitals (`resolutionFWHM…` → `resolution_fwhm…`), with
    /// the energy units kept whole (`centreKeV` → `centre_kev`, not Foundation's `centre_ke_v`;
    /// `perEV` → `per_ev`).
    public static func snakeCase(_ key: String) -> String {
        var text = key.replacingOccurrences(of: "KeV", with: "Kev").replacingOccurrences(of: "MeV", with: "Mev")
        if text.hasSuffix("EV") { text = String(text.dropLast(2)) + "Ev" }
        let characters = Array(text)
        var out = ""
        for (i, c) in characters.enumerated() {
            if c.isUppercase && i > 0 {
                let previous = characters[i - 1]
                let next = i + 1 < characters.count ? characters[i + 1] : nil
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && (next?.isLowercase ?? false)) { out.append("_") }
            }
            out.append(contentsOf: c.lowercased())
        }
        return out
    }

    struct SnakeCaseKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ value: String) { stringValue = value }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public static func write<T: Encodable>(_ value: T, to path: String, inputs: [String] = []) throws {
        var data = try encode(value)
        // A summary written while its outputs are staged names them as the user will find them.
        if OutputTransaction.hasActive, let text = String(data: data, encoding: .utf8) {
            data = Data(OutputTransaction.publicText(text).utf8)
        }
        data.append(0x0A)
        if path == StandardOutput.path { try StandardOutput.write(data); return }
        try AtomicOutput.write(data, to: path, inputs: inputs)
    }

    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LensError.badInput(file: path, problem: "no such file or not readable")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(T.self, from: data) } catch {
            throw LensError.badInput(file: path, problem: "not the expected JSON: \(error)")
        }
    }
}

/// A class per label (a damage class from crack analysis, a phase, a cycling group), read from
/// a two-column text table: an integer label and a class name (`3,severe` or `3 2`). Lines
/// starting with `#` or `%` are comments; a first line whose label is not an integer is the
/// header.
public enum LabelClasses {
    public static func read(_ path: String) throws -> [Int: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LensError.badInput(file: path, problem: "no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw LensError.badInput(file: path, problem: "not a text file")
        }
        var classes = [Int: String](), sawData = false
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("%") { continue }
            let fields = line.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == ";" })
                .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            guard fields.count == 2 else {
                throw LensError.badInput(file: path, problem: "line \(number + 1) has \(fields.count) fields; expected a label and a class")
            }
            guard let label = Int(fields[0]) else {
                if !sawData && classes.isEmpty { sawData = true; continue }     // the header
                throw LensError.badInput(file: path, problem: "line \(number + 1): the label '\(fields[0])' is not an integer")
            }
            sawData = true
            if let earlier = classes[label], earlier != fields[1] {
                throw LensError.badInput(file: path, problem: "line \(number + 1): label \(label) is given class '\(fields[1])' after '\(earlier)'")
            }
            classes[label] = fields[1]
        }
        guard !classes.isEmpty else { throw LensError.badInput(file: path, problem: "no label–class rows") }
        return classes
    }
}
