import Foundation
import LensCore
import LensIO
import Spectroscopy
import SpectroscopyFiles
import Testing

/// Energies are never silently scaled (issue 17): a unit-less column file whose values were
/// all below 100 was read as keV, so a Li K-edge spectrum (55–80 eV) became 55–80 keV. Units
/// come from the file (header, XDI, JSON key), from `--energy-unit`, or from the spacing of the
/// numbers, with a notice; when nothing tells, the reader stops and says what to declare.
@Suite(.serialized) final class EnergyUnitTests {
    let dir = NSTemporaryDirectory() + "batterylens-energy-units-" + UUID().uuidString
    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir); DeclaredEnergyUnit.current = nil }

    func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name))
        return dir + "/" + name
    }
    func table(_ energies: [Double], header: String? = nil) -> String {
        let rows = energies.enumerated().map { k, e in "\(e) \(1 / (1 + exp(-Double(k - energies.count / 2) / 3)))" }
        return ((header.map { [$0] } ?? []) + rows).joined(separator: "\n")
    }

    @Test func liKEdgeWithoutUnitStaysInElectronVolts() throws {
        DeclaredEnergyUnit.current = nil
        let li = (0..<250).map { 55 + Double($0) * 0.1 }
        let path = try write("li.txt", table(li))
        Notices.reset()
        let spectrum = try SpectrumFile.read(path)
        #expect(abs(spectrum.energies.first! - 55) < 1e-9 && abs(spectrum.energies.last! - 79.9) < 1e-9)
        #expect(Notices.all.contains { $0.contains("read as eV") })
    }

    @Test func hardXRayKeVFileIsConvertedWithANotice() throws {
        DeclaredEnergyUnit.current = nil
        // pyxas's NiO reference: 8.200…, steps of 0.005 keV, no header.
        let ni = (0..<80).map { 8.2 + Double($0) * 0.005 }
        Notices.reset()
        let spectrum = try SpectrumFile.read(try write("ni.txt", table(ni)))
        #expect(abs(spectrum.energies.first! - 8200) < 1e-6)
        #expect(Notices.all.contains { $0.contains("read as keV") })
    }

    /// A uranium K-edge scan in keV (115.0…116.6 in 1 eV steps): before, everything from 100 up
    /// was eV without a word.
    @Test func uraniumKEdgeInKeVIsNotReadAsElectronVolts() throws {
        DeclaredEnergyUnit.current = nil
        let u = (0..<160).map { 115.0 + Double($0) * 0.001 }
        Notices.reset()
        let spectrum = try SpectrumFile.read(try write("u.txt", table(u)))
        #expect(abs(spectrum.energies.first! - 115_000) < 1e-6)
        #expect(Notices.all.contains { $0.contains("read as keV") })
        // The carbon K edge in eV (280…320 in 0.1 eV steps) is above the ceiling: eV.
        let c = (0..<400).map { 280 + Double($0) * 0.1 }
        #expect(abs(try SpectrumFile.read(try write("c.txt", table(c))).energies.first! - 280) < 1e-9)
    }

    @Test func ambiguousNumbersStopWithWhatToDeclare() throws {
        DeclaredEnergyUnit.current = nil
        let values = (0..<40).map { 20 + Double($0) * 0.03 }
        let path = try write("ambiguous.txt", table(values))
        do { _ = try SpectrumFile.read(path); Issue.record("ambiguous energies accepted") } catch let error as LensError {
            #expect(error.description.contains("--energy-unit") && error.description.contains("ambiguous.txt"))
        }
        DeclaredEnergyUnit.current = .kiloElectronVolts
        #expect(abs(try SpectrumFile.read(path).energies.first! - 20_000) < 1e-6)
        DeclaredEnergyUnit.current = .electronVolts
        #expect(abs(try SpectrumFile.read(path).energies.first! - 20) < 1e-9)
        DeclaredEnergyUnit.current = nil
    }

    @Test func declaredUnitsWin() throws {
        DeclaredEnergyUnit.current = nil
        let values = (0..<40).map { 8.3 + Double($0) * 0.001 }
        // A header with a bracketed unit, as BatteryLens's own tables write it.
        let csv = try write("h.csv", "energy [eV],mu\n" + (0..<40).map { "\(60 + Double($0) * 0.01),\(Double($0))" }.joined(separator: "\n"))
        #expect(abs(try SpectrumFile.read(csv).energies.first! - 60) < 1e-9)
        let kev = try write("k.csv", "energy [keV],mu\n" + values.enumerated().map { "\($1),\($0)" }.joined(separator: "\n"))
        #expect(abs(try SpectrumFile.read(kev).energies.first! - 8300) < 1e-6)
        // XDI declares units per column.
        let xdi = try write("x.xdi", "# XDI/1.0\n# Column.1: energy keV\n# Column.2: mutrans\n#----\n# energy mutrans\n" + table(values))
        #expect(abs(try SpectrumFile.read(xdi).energies.first! - 8300) < 1e-6)
        // JSON: energy_unit, or the key's own unit.
        let json = try write("j.json", #"{"energy": \#(values), "mu": \#(values.map { $0 * 2 }), "energy_unit": "keV"}"#)
        #expect(abs(try SpectrumFile.read(json).energies.first! - 8300) < 1e-6)
        let ev = try write("e.json", #"{"energy_ev": \#((0..<40).map { 60 + Double($0) * 0.01 }), "mu": \#(values)}"#)
        #expect(abs(try SpectrumFile.read(ev).energies.first! - 60) < 1e-9)
        // A declaration overrides the file, with a note.
        DeclaredEnergyUnit.current = .electronVolts
        Notices.reset()
        #expect(abs(try SpectrumFile.read(xdi).energies.first! - 8.3) < 1e-9)
        #expect(Notices.all.contains { $0.contains("replaces the unit keV") })
        DeclaredEnergyUnit.current = nil
    }
}
