import Foundation
import LensCore
import LensIO
import Spectroscopy
import Synchronization

/// The unit of a spectrum's energy values.
public enum EnergyUnit: String, CaseIterable, Sendable {
    case electronVolts = "eV"
    case kiloElectronVolts = "keV"

    /// A unit as files and users write it: eV, ev, electronvolt(s); keV, kev, kiloelectronvolt(s).
    public init?(declared text: String) {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "ev", "electronvolt", "electronvolts", "electron volts": self = .electronVolts
        case "kev", "kiloelectronvolt", "kiloelectronvolts": self = .kiloElectronVolts
        default: return nil
        }
    }

    /// Multiplier to eV.
    public var electronVoltsPerUnit: Double { self == .electronVolts ? 1 : 1000 }
}

/// An energy unit the user declared (`--energy-unit`), used for every spectrum and energy list
/// a command reads in place of what the file says or what its numbers suggest.
public enum DeclaredEnergyUnit {
    private static let state = Mutex<EnergyUnit?>(nil)
    public static var current: EnergyUnit? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension SpectrumFile {
    /// The unit a column's name or header declares: `energy [keV]`, XDI `energy eV`, or names
    /// such as `energy_ev`, `ev`, `energy_kev`, `kev`.
    public static func declaredUnit(name: String, unit: String?) -> EnergyUnit? {
        if let unit, let declared = EnergyUnit(declared: unit) { return declared }
        let n = name.lowercased()
        if ["energy_ev", "energy(ev)", "ev", "e_ev"].contains(n) { return .electronVolts }
        if ["energy_kev", "energy(kev)", "kev", "e_kev"].contains(n) { return .kiloElectronVolts }
        return nil
    }

    /// Energies in eV from values in `unit` (declared by the file; nil: not declared).
    ///
    /// `--energy-unit` overrides the file. Undeclared values from 150 up are eV: every K edge up
    /// to californium (Z = 98, 135.9 keV) lies below 150 keV. Below 150 both readings happen (Ni
    /// K edge at 8.33 keV, U K at 115.6 keV; Li K and transition-metal M edges at 50–70 eV, Be K
    /// at 112 eV), and the spacing decides: a median step under 0.02 would be finer than 20 meV in eV —
    /// finer than any XAS monochromator resolves — so the values are keV; a median step over
    /// 0.05 would be coarser than 50 eV in keV — coarser than any XANES or EXAFS scan — so they
    /// are eV. Either way a notice says so. Between the two, the reader stops and asks for
    /// `--energy-unit`.
    /// Undeclared values at or above this are eV (see ``electronVolts(_:unit:source:)``).
    public static let kiloElectronVoltCeiling = 150.0

    public static func electronVolts(_ values: [Double], unit: EnergyUnit?, source: String) throws -> [Double] {
        if let declared = DeclaredEnergyUnit.current {
            if let unit, unit != declared {
                Notices.emit("--energy-unit \(declared.rawValue) replaces the unit \(unit.rawValue) that \(source) declares for its energies")
            }
            return values.map { $0 * declared.electronVoltsPerUnit }
        }
        if let unit { return values.map { $0 * unit.electronVoltsPerUnit } }
        let finite = values.filter(\.isFinite)
        guard let largest = finite.max(), largest < Self.kiloElectronVoltCeiling else { return values }
        let sorted = finite.sorted()
        let steps = zip(sorted.dropFirst(), sorted).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        let median = steps.isEmpty ? 0 : steps[steps.count / 2]
        let described = String(format: "%g…%g with a median step of %g", sorted.first ?? 0, largest, median)
        if median > 0 && median < 0.02 {
            Notices.emit("energies of \(source) carry no unit (\(described)): read as keV, since as eV the steps would be under 20 meV; declare --energy-unit ev if they are eV")
            return values.map { $0 * 1000 }
        }
        if median > 0.05 {
            Notices.emit("energies of \(source) carry no unit (\(described)): read as eV, since as keV the steps would exceed 50 eV; declare --energy-unit kev if they are keV")
            return values
        }
        throw LensError.badInput(file: source, problem: "energies \(described) carry no unit and could be eV or keV; declare --energy-unit ev or --energy-unit kev (or name the column 'energy [eV]' / 'energy [keV]')")
    }
}
