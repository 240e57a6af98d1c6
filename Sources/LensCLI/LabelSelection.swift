import ArgumentParser
import Foundation
import LensCore
import LensIO
import Pipeline

/// `--labels-scheme`: what the codes of the input label volume mean, when its sidecar does not
/// say (or says wrong).
struct LabelSchemeOption: ParsableArguments {
    @Option(name: .customLong("labels-scheme"), help: ArgumentHelp(
        "What the label codes mean: a known scheme (\(LabelScheme.wellKnown.keys.sorted().joined(separator: ", "))) or name=code pairs such as pore=0,active=1,binder=2 (name:role=code for other names). Default: the scheme recorded beside the volume (VOLUME.labels.json).",
        valueName: "scheme"))
    var labelsScheme: String?

    mutating func validate() throws {
        if let labelsScheme { _ = try LabelScheme.parse(labelsScheme) }
    }

    /// The declared scheme, else the one recorded beside `input`, else nil.
    func scheme(for input: String) throws -> LabelScheme? {
        let recorded = try LabelSchemeFile.read(forVolume: input)
        guard let labelsScheme else { return recorded }
        let declared = try LabelScheme.parse(labelsScheme)
        if let recorded, recorded.phases != declared.phases {
            Notices.emit("--labels-scheme (\(declared.summary)) replaces the scheme recorded beside \(input) (\(recorded.summary))")
        }
        return declared
    }
}

/// Resolves phase names (`--phase pore`) to the label codes of one volume through its scheme;
/// codes given as numbers are taken as they are. Never guesses: a name without a scheme is an
/// error that lists the codes present and how to declare them.
struct PhaseSelector {
    let input: String
    let scheme: LabelScheme?
    /// Counts the codes present (only when an error message or a check needs them).
    let countCodes: () throws -> LabelCodeCounts

    /// Codes of `text` (names or codes, comma-separated) for option `option`.
    func codes(_ text: String, option: String = "--phase") throws -> [Int] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, items.allSatisfy({ !$0.isEmpty }) else { throw LensError.invalidArgument("\(option) must name a phase or give label codes, got '\(text)'") }
        var result: [Int] = []
        for item in items {
            if let code = Int(item) {
                guard code >= 0 else { throw LensError.invalidArgument("\(option): label codes are ≥ 0, got \(code)") }
                result.append(code)
                continue
            }
            guard let scheme else { throw try undeclared(option: option, name: item) }
            guard let codes = scheme.codes(selecting: item) else {
                throw LensError.invalidArgument("\(option) \(item): the label scheme '\(scheme.name)' of \(input) has no such phase; it has \(scheme.summary)")
            }
            result += codes
        }
        return Array(Set(result)).sorted()
    }

    /// The error for a phase name given for a volume that carries no scheme.
    func undeclared(option: String, name: String) throws -> LensError {
        let counts = try countCodes()
        // The form of a declaration over the codes present, with the names left to the user:
        // pairing them with names here would be the guess this error exists to prevent.
        let form = counts.counts.keys.sorted().prefix(4).map { "NAME=\($0)" }.joined(separator: ",")
        return LensError.badInput(file: input, problem: """
            has no label scheme, so \(option) \(name) has no meaning. Codes present: \(counts.listing). \
            Declare what they mean with --labels-scheme \(form.isEmpty ? "NAME=CODE,…" : form) (names: pore, active, binder, solid, \
            crack, outside, …), or a known scheme: \(LabelScheme.wellKnown.keys.sorted().joined(separator: ", ")); or give the codes themselves (\(option) \(counts.counts.keys.min() ?? 0))
            """)
    }

    /// A JSON description of the scheme used, for summaries.
    var schemeJSON: JSONValue {
        guard let scheme else { return .null }
        return .object(["name": .string(scheme.name), "description": .string(scheme.description),
                        "phases": .array(scheme.phases.map { .object(["code": .number(Double($0.code)), "name": .string($0.name), "role": .string($0.role.rawValue)]) })])
    }
}

/// A label volume read whole, its scheme and its codes: what `particles`, `tortuosity`, `rev`
/// and `thickness` measure a phase of.
struct LabelVolume {
    let path: String
    let grid: AnyGrid
    let selector: PhaseSelector
    let counts: LabelCodeCounts

    init(_ path: String, schemeOption: LabelSchemeOption) throws {
        let grid = try VolumeIO.read(path)
        var counts = LabelCodeCounts()
        try counts.add(grid, source: path)
        let scheme = try schemeOption.scheme(for: path)
        if let scheme { try counts.requireCovered(by: scheme, source: path) }
        self.path = path; self.grid = grid; self.counts = counts
        selector = PhaseSelector(input: path, scheme: scheme, countCodes: { counts })
    }

    /// The 0/1 mask of a phase, with a clear error when the phase is empty.
    func mask(phase text: String, option: String = "--phase") throws -> (mask: Grid<UInt8>, codes: [Int]) {
        let codes = try selector.codes(text, option: option)
        guard codes.contains(where: { (counts.counts[$0] ?? 0) > 0 }) else {
            throw LensError.badInput(file: path, problem: "no voxel has the code\(codes.count == 1 ? "" : "s") \(codes.map(String.init).joined(separator: ", ")) (\(option) \(text) is empty); codes present: \(counts.listing)")
        }
        return (try PhaseMask.select(grid, codes: codes), codes)
    }

    /// The phase named by `text` as a workflow's input.
    func phase(_ text: String, option: String = "--phase") throws -> PhaseSelection {
        let (mask, codes) = try mask(phase: text, option: option)
        return PhaseSelection(mask: mask, codes: codes)
    }
}

extension PhaseSelector {
    /// The void and solid codes of a Compton–CT comparison (`--pore`, `--solid`): by default
    /// the scheme's pore and crack phases are void, and its solid phases not given as void are
    /// solid. A code cannot be both.
    func voidAndSolid(pore: String?, solid: String?) throws -> (pore: Set<Int>, solid: Set<Int>) {
        let poreCodes = Set(try codes(pore ?? "pore", option: "--pore") + (pore == nil ? scheme?.codes(selecting: "crack") ?? [] : []))
        let solidCodes = Set(try codes(solid ?? "solid", option: "--solid")).subtracting(solid == nil ? poreCodes : [])
        guard poreCodes.isDisjoint(with: solidCodes) else {
            throw LensError.invalidArgument("a code cannot be both pore and solid: \(poreCodes.intersection(solidCodes).sorted())")
        }
        return (poreCodes, solidCodes)
    }
}
