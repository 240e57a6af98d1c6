import Foundation
import LensCore
import LensIO
import Spectroscopy

/// A measured spectrum μ(E) read from a column text file (XDI, Athena/IFEFFIT `.xmu`, CSV,
/// whitespace tables) with where its μ came from, so summaries can say which column was used.
public struct SpectrumFile: Sendable {
    public var path: String
    public var energies: [Double]
    public var mu: [Double]
    /// How μ was obtained: a column name, or `ln(i0/itrans)` / `ifluor/i0`.
    public var muSource: String

    /// The energy column of a table: the one named `energy`/`e`/`energy_ev`/`ev` (any case),
    /// else the first.
    public static func energyColumnIndex(_ table: NumericColumns) -> Int {
        table.names.firstIndex { ["energy", "e", "energy_ev", "energy(ev)", "ev"].contains($0.lowercased()) } ?? 0
    }

    /// Column names recognised as μ (in this order of preference), case-insensitive.
    public static let muColumnNames = ["mu", "xmu", "mutrans", "mu_trans", "mutrans_raw", "mufluor", "mu_fluor", "norm", "normalized", "intensity", "absorption"]

    /// Reads `path`. The energy column is the one named `energy`/`e`/`energy_ev` (else the first);
    /// μ is the column named `muColumn`, else the first of ``muColumnNames`` present, else
    /// ln(i0/itrans) or ifluor/i0 from detector columns, else the second column. Energies are
    /// converted to eV from the unit the file declares, or as ``electronVolts(_:unit:source:)``
    /// decides. Rows are sorted by
    /// energy; repeated energies are an error naming the file.
    public static func read(_ path: String, muColumn: String? = nil) throws -> SpectrumFile {
        // Collections: an Athena project or a JSON file, one spectrum chosen as FILE:NAME.
        let (file, name) = splitSelector(path)
        if let spectra = try collection(file) {
            let s = try select(spectra, name: name, file: file)
            var energies = try electronVolts(s.energies, unit: s.energyUnit, source: path), mu = s.mu
            let order = energies.indices.sorted { energies[$0] < energies[$1] }
            energies = order.map { energies[$0] }; mu = order.map { mu[$0] }
            guard energies.count >= 6, mu.allSatisfy(\.isFinite) else {
                throw LensError.badInput(file: file, problem: "spectrum \(s.name): \(energies.count) energies, or values that are not finite")
            }
            return SpectrumFile(path: path, energies: energies, mu: mu, muSource: "\(s.name) (\(s.kind))")
        }
        let table = try NumericColumns.read(path)
        let names = table.names.map { $0.lowercased() }
        guard table.columns.count >= 2 else { throw LensError.badInput(file: path, problem: "a spectrum needs an energy and a μ column, found \(table.columns.count) column") }
        let energyIndex = energyColumnIndex(table)
        var mu: [Double]
        var source: String
        if let muColumn {
            guard let i = names.firstIndex(of: muColumn.lowercased()) else {
                throw LensError.badInput(file: path, problem: "no column named \(muColumn); columns are \(table.names.joined(separator: ", "))")
            }
            (mu, source) = (table.columns[i], table.names[i])
        } else if let i = muColumnNames.lazy.compactMap({ names.firstIndex(of: $0) }).first {
            (mu, source) = (table.columns[i], table.names[i])
        } else if let i0 = names.firstIndex(of: "i0"), let it = names.firstIndex(where: { ["itrans", "it", "i1"].contains($0) }) {
            mu = zip(table.columns[i0], table.columns[it]).map { log($0 / $1) }
            source = "ln(\(table.names[i0])/\(table.names[it]))"
        } else if let i0 = names.firstIndex(of: "i0"), let fl = names.firstIndex(where: { ["ifluor", "if", "ifl"].contains($0) }) {
            mu = zip(table.columns[fl], table.columns[i0]).map { $0 / $1 }
            source = "\(table.names[fl])/\(table.names[i0])"
        } else {
            let i = energyIndex == 0 ? 1 : 0
            (mu, source) = (table.columns[i], table.names[i])
        }
        var energies = try electronVolts(table.columns[energyIndex], unit: declaredUnit(name: table.names[energyIndex], unit: table.units[energyIndex]), source: path)
        let order = energies.indices.sorted { energies[$0] < energies[$1] }
        energies = order.map { energies[$0] }; mu = order.map { mu[$0] }
        if let k = energies.indices.dropFirst().first(where: { energies[$0] == energies[$0 - 1] }) {
            throw LensError.badInput(file: path, problem: "energy \(energies[k]) eV appears twice")
        }
        if let k = mu.firstIndex(where: { !$0.isFinite }) {
            throw LensError.badInput(file: path, problem: "μ (\(source)) is not finite at \(energies[k]) eV")
        }
        guard energies.count >= 6 else { throw LensError.badInput(file: path, problem: "only \(energies.count) energies") }
        return SpectrumFile(path: path, energies: energies, mu: mu, muSource: source)
    }

    /// Reference spectra from one file: with exactly one μ column, one reference named after
    /// the file; with several value columns (energy, A, B, …), one reference per column, named
    /// after it. Energies as in ``read(_:muColumn:)``.
    public static func references(_ path: String) throws -> [ReferenceSpectrum] {
        let (file, name) = splitSelector(path)
        if let spectra = try collection(file) {
            let chosen = name == nil ? spectra : [try select(spectra, name: name, file: file)]
            return try chosen.map { s in
                do { return try ReferenceSpectrum(name: s.name, energies: try electronVolts(s.energies, unit: s.energyUnit, source: "\(file):\(s.name)"), values: s.mu) } catch let LensError.invalidArgument(message) {
                    throw LensError.badInput(file: file, problem: "\(s.name): \(message)")
                }
            }
        }
        let table = try NumericColumns.read(path)
        let names = table.names.map { $0.lowercased() }
        let energyIndex = energyColumnIndex(table)
        let valueColumns = table.columns.indices.filter { $0 != energyIndex }
        guard valueColumns.count > 1, !names.contains(where: { muColumnNames.contains($0) || $0 == "i0" }) else {
            return [try read(path).reference()]
        }
        let energies = try electronVolts(table.columns[energyIndex], unit: declaredUnit(name: table.names[energyIndex], unit: table.units[energyIndex]), source: path)
        return try valueColumns.map { c in
            do { return try ReferenceSpectrum(name: table.names[c], energies: energies, values: table.columns[c]) } catch let LensError.invalidArgument(message) {
                throw LensError.badInput(file: path, problem: message)
            }
        }
    }

    /// The spectrum as an LCF reference named after the file.
    public func reference(name: String? = nil) throws -> ReferenceSpectrum {
        try ReferenceSpectrum(name: name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, energies: energies, values: mu)
    }
}
