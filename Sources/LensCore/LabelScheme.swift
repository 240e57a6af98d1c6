import Foundation

/// What a phase of a label volume is, whatever its code and name: the roles decide which codes
/// a porosity counts as void, which voxels lie outside the electrode, and what `--phase solid`
/// selects.
public enum PhaseRole: String, Codable, Sendable, CaseIterable {
    /// Not part of the sample (air, mounting, the region a segmentation left out).
    case outside
    case pore
    /// Solid of unknown kind (a two-phase segmentation).
    case solid
    /// Active material (cathode or anode particles).
    case active
    /// Carbon–binder domain.
    case binder
    /// Cracks inside particles: void, counted in the porosity.
    case crack
    case separator
    case currentCollector = "current-collector"
    /// Markers (gold beads) for alignment.
    case fiducial
    case other

    /// Void phases: porosity counts them.
    public var isVoid: Bool { self == .pore || self == .crack }
    /// Solid phases of the electrode layer: `--phase solid` selects them.
    public var isElectrodeSolid: Bool { self == .solid || self == .active || self == .binder }
    /// Phases that are not part of the electrode layer: porosity leaves them out of the volume.
    public var isOutsideElectrode: Bool { self == .outside || self == .separator || self == .currentCollector }

    /// Accepts the spellings users type: "cbd", "carbon-binder", "cc", "collector".
    public init?(spelling: String) {
        let s = spelling.lowercased().replacingOccurrences(of: "_", with: "-")
        switch s {
        case "cbd", "carbon-binder", "carbonbinder", "binder": self = .binder
        case "cc", "collector", "current-collector", "currentcollector": self = .currentCollector
        case "void", "pores", "porosity": self = .pore
        case "background", "air", "outside", "exterior": self = .outside
        case "cracks": self = .crack
        case "am", "active-material": self = .active
        default:
            guard let role = PhaseRole(rawValue: s) else { return nil }
            self = role
        }
    }
}

/// The meaning of the codes of a label volume: code ↔ name ↔ role. Every command that writes
/// labels records its scheme beside the volume (see `LabelSchemeFile` in LensIO); every
/// command that reads labels resolves phase names through it, so "pore" means the pore code of
/// *this* volume, never a guessed number.
public struct LabelScheme: Codable, Sendable, Equatable {
    public struct Phase: Codable, Sendable, Equatable {
        public var code: Int
        public var name: String
        public var role: PhaseRole
        public init(code: Int, name: String, role: PhaseRole) { self.code = code; self.name = name; self.role = role }
    }

    /// A short identifier ("matbox", "batterylens-segment"), or "custom".
    public var name: String
    public var phases: [Phase]
    /// Where the scheme came from (a command, a sidecar, the command line).
    public var description: String

    public init(name: String, phases: [Phase], description: String = "") throws {
        guard !phases.isEmpty else { throw LensError.invalidArgument("a label scheme needs at least one phase") }
        var codes = Set<Int>(), names = Set<String>()
        for p in phases {
            guard (0...Int(Int32.max)).contains(p.code) else { throw LensError.invalidArgument("label code \(p.code) of '\(p.name)' must be 0…\(Int32.max)") }
            guard codes.insert(p.code).inserted else { throw LensError.invalidArgument("label code \(p.code) is given twice in the scheme") }
            guard !p.name.isEmpty, names.insert(p.name.lowercased()).inserted else {
                throw LensError.invalidArgument("phase name '\(p.name)' is empty or given twice in the scheme")
            }
        }
        self.name = name; self.phases = phases.sorted { $0.code < $1.code }; self.description = description
    }

    // MARK: Well-known schemes

    /// PoreSpy, TauFactor and MATBOX label files (and the electrode volumes in
    /// `../shared/data/electrodes`): 0 pore, 1 active material, 2 carbon–binder.
    public static let poreSpy = try! LabelScheme(name: "porespy", phases: [
        .init(code: 0, name: "pore", role: .pore), .init(code: 1, name: "active", role: .active), .init(code: 2, name: "binder", role: .binder)],
        description: "PoreSpy / TauFactor / MATBOX three-phase labels: 0 pore, 1 active, 2 carbon–binder")
    /// TauFactor's example three-phase volumes stored as 8-bit grey (the
    /// `taufactor_electrode_256.tiff` of `../shared/data`): 0 pore, 85 active, 170 carbon–binder.
    public static let tauFactorGrey = try! LabelScheme(name: "taufactor-8bit", phases: [
        .init(code: 0, name: "pore", role: .pore), .init(code: 85, name: "active", role: .active), .init(code: 170, name: "binder", role: .binder)],
        description: "TauFactor three-phase volume as 8-bit grey: 0 pore, 85 active, 170 carbon–binder")
    /// Two-phase PoreSpy/TauFactor images: 0 solid, 1 pore (a boolean pore image).
    public static let booleanPore = try! LabelScheme(name: "boolean-pore", phases: [
        .init(code: 0, name: "solid", role: .solid), .init(code: 1, name: "pore", role: .pore)],
        description: "boolean pore image (PoreSpy `im`, TauFactor binary): 0 solid, 1 pore")
    /// `batterylens segment electrode`: 0 outside the electrode envelope, 1 pore, 2 solid.
    public static let segmentTwoPhase = try! LabelScheme(name: "batterylens-segment", phases: [
        .init(code: 0, name: "outside", role: .outside), .init(code: 1, name: "pore", role: .pore), .init(code: 2, name: "solid", role: .solid)],
        description: "batterylens segment electrode: 0 outside the envelope, 1 pore, 2 solid")
    /// `batterylens segment phases`: 0 outside, 1 pore, 2 carbon–binder, 3 active (increasing grey).
    public static let segmentThreePhase = try! LabelScheme(name: "batterylens-phases", phases: [
        .init(code: 0, name: "outside", role: .outside), .init(code: 1, name: "pore", role: .pore),
        .init(code: 2, name: "binder", role: .binder), .init(code: 3, name: "active", role: .active)],
        description: "batterylens segment phases: 0 outside the envelope, 1 pore, 2 carbon–binder, 3 active")
    /// `batterylens phantom electrode` phases.tif.
    public static let electrodePhantom = try! LabelScheme(name: "batterylens-phantom", phases: [
        .init(code: 0, name: "pore", role: .pore), .init(code: 1, name: "active", role: .active), .init(code: 2, name: "binder", role: .binder),
        .init(code: 3, name: "crack", role: .crack), .init(code: 4, name: "separator", role: .separator),
        .init(code: 5, name: "current-collector", role: .currentCollector), .init(code: 6, name: "fiducial", role: .fiducial)],
        description: "batterylens phantom electrode: 0 pore, 1 active, 2 carbon–binder, 3 crack, 4 separator, 5 current collector, 6 fiducial")

    /// Schemes nameable with `--labels-scheme NAME`.
    public static let wellKnown: [String: LabelScheme] = [
        "porespy": poreSpy, "taufactor": poreSpy, "matbox": poreSpy, "taufactor-8bit": tauFactorGrey,
        "boolean-pore": booleanPore,
        "batterylens-segment": segmentTwoPhase, "batterylens-phases": segmentThreePhase, "batterylens-phantom": electrodePhantom,
    ]

    /// Parses `--labels-scheme`: a well-known name (`matbox`) or `name=code` pairs
    /// (`pore=0,active=1,binder=2`; names that are roles take that role, others may give it as
    /// `name:role=code`, e.g. `nmc:active=1`).
    public static func parse(_ text: String) throws -> LabelScheme {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if var known = wellKnown[trimmed.lowercased()] { known.name = trimmed.lowercased(); return known }
        guard trimmed.contains("=") else {
            throw LensError.invalidArgument("--labels-scheme '\(text)' is neither a known scheme (\(wellKnown.keys.sorted().joined(separator: ", "))) nor name=code pairs such as pore=0,active=1,binder=2")
        }
        var phases: [Phase] = []
        for item in trimmed.split(separator: ",") {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let code = Int(parts[1]), code >= 0 else {
                throw LensError.invalidArgument("--labels-scheme: '\(item)' must be name=code with a code ≥ 0 (e.g. pore=0)")
            }
            let nameAndRole = parts[0].split(separator: ":").map(String.init)
            guard (1...2).contains(nameAndRole.count), !nameAndRole[0].isEmpty else {
                throw LensError.invalidArgument("--labels-scheme: '\(parts[0])' must be a name or name:role")
            }
            let roleText = nameAndRole.count == 2 ? nameAndRole[1] : nameAndRole[0]
            guard let role = PhaseRole(spelling: roleText) ?? (nameAndRole.count == 1 ? .other : nil) else {
                throw LensError.invalidArgument("--labels-scheme: unknown role '\(roleText)'; roles are \(PhaseRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            phases.append(Phase(code: code, name: nameAndRole[0], role: role))
        }
        return try LabelScheme(name: "custom", phases: phases, description: "declared: \(trimmed)")
    }

    // MARK: Resolving names

    /// The codes a phase name selects: a phase's own name, a role ("pore" selects every pore
    /// phase), or the role group "solid" (every solid, active and binder phase). Nil when the
    /// scheme has no such phase.
    public func codes(selecting name: String) -> [Int]? {
        let key = name.lowercased()
        if let p = phases.first(where: { $0.name.lowercased() == key }) { return [p.code] }
        guard let role = PhaseRole(spelling: key) else { return nil }
        let direct = phases.filter { $0.role == role }.map(\.code)
        if !direct.isEmpty { return direct }
        if role == .solid {
            let solids = phases.filter { $0.role.isElectrodeSolid }.map(\.code)
            return solids.isEmpty ? nil : solids
        }
        return nil
    }

    public func phase(code: Int) -> Phase? { phases.first { $0.code == code } }
    public var voidCodes: [Int] { phases.filter { $0.role.isVoid }.map(\.code) }
    public var outsideElectrodeCodes: [Int] { phases.filter { $0.role.isOutsideElectrode }.map(\.code) }

    /// "0 pore, 1 active, 2 binder".
    public var summary: String { phases.map { "\($0.code) \($0.name)" }.joined(separator: ", ") }
    /// The `--labels-scheme` text that declares this scheme.
    public var declaration: String {
        phases.map { $0.name.lowercased() == $0.role.rawValue || PhaseRole(spelling: $0.name) == $0.role ? "\($0.name)=\($0.code)" : "\($0.name):\($0.role.rawValue)=\($0.code)" }
            .joined(separator: ",")
    }
}
