import Foundation

/// A column of a results table, with its unit so CSV headers read `volume [µm³]`.
public struct TableColumn: Sendable, Equatable, Codable {
    public var name: String
    public var unit: String?
    public init(_ name: String, unit: String? = nil) { self.name = name; self.unit = unit }
    public var header: String { unit.map { "\(name) [\($0)]" } ?? name }
}

/// One cell: a number or text.
public enum TableValue: Sendable, Equatable, Codable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case number(Double)
    case text(String)
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(stringLiteral value: String) { self = .text(value) }

    public var number: Double? { if case let .number(n) = self { return n }; return nil }

    /// CSV text: numbers with up to 10 significant digits (integers without a decimal point),
    /// non-finite numbers empty, text quoted when it holds a comma, quote or newline.
    var csvText: String {
        switch self {
        case let .number(n):
            guard n.isFinite else { return "" }
            if n == n.rounded(), Swift.abs(n) < 1e15 { return String(Int64(n)) }
            return String(format: "%.10g", n)
        case let .text(t):
            if t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) {
                return "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            return t
        }
    }
}

/// A results table (per-particle properties, profiles, spectra) written as CSV.
public struct Table: Sendable, Equatable {
    public var columns: [TableColumn]
    public var rows: [[TableValue]]

    public init(columns: [TableColumn], rows: [[TableValue]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public mutating func append(_ row: [TableValue]) {
        precondition(row.count == columns.count, "row of \(row.count) values for \(columns.count) columns")
        rows.append(row)
    }

    public var csv: String {
        var lines = [columns.map { TableValue.text($0.header).csvText }.joined(separator: ",")]
        for row in rows { lines.append(row.map(\.csvText).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The numbers of one column (by name, unit ignored).
    public func column(named name: String) -> [Double]? {
        guard let index = columns.firstIndex(where: { $0.name == name }) else { return nil }
        return rows.map { $0[index].number ?? .nan }
    }
}

