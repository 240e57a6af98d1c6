import Damage
import Foundation
import LensCore
import Signal

/// A cycling series end to end: every state registered to the first (whole-volume rigid or
/// similarity on the grey volumes), particles followed by ``ParticleTracking``, and — when asked
/// — cracks per state (``CrackAnalysis`` on each state's own grey and labels) joined to the
/// tracks, with the statistics of cracking and of crack growth.
public enum SeriesTrackingWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        public var registration = VolumeRegistrationSettings()
        public var tracking = TrackingSettings()
        /// Crack analysis per state (nil: none).
        public var cracks: CrackSettings?
        /// The first state is pristine: calibrate the damage-class thresholds on it
        /// (``DamageCalibration``) and classify every state with them.
        public var calibrateOnFirstState = false
        public init() {}

        public func validate() throws {
            try registration.validate()
            try tracking.validate()
            try cracks?.validate()
        }
    }

    /// One state's registration to the first.
    public struct StateRegistration: Codable, Sendable {
        public var state: Int
        public var result: VolumeRegistrationResult?
    }

    /// A track's damage in one state (labels' cracks and envelopes summed; the worst class of its
    /// labels, severe once it is split into fragments).
    public struct TrackDamage: Codable, Sendable, Equatable {
        public var crackFraction: Double
        public var fragments: Int
        public var damageClass: String
        /// Median local crack width (voxel edges) of the label with the most crack voxels; nil
        /// without cracks.
        public var crackWidthMedianVoxels: Double? = nil
        /// Any of the track's labels in this state is cut by the volume's faces, or reaches
        /// outside the declared field of view (``ParticleDamage``).
        public var cutByVolumeFace = false
        public var outsideFieldOfView = false
        /// The crack of the label with the most crack voxels faces the scan's missing wedge
        /// (``ParticleDamage/crackInMissingWedge``); nil without declared scan angles or cracks.
        public var crackInMissingWedge: Bool? = nil
    }

    public struct Record: Codable, Sendable {
        public var states: Int
        public var registrations: [StateRegistration]
        public var tracking: TrackingResult
        /// Per track, per state (nil where the track is absent or cracks were not asked).
        public var damage: [[TrackDamage?]]?
        /// Cracking in the last state vs size and grey in that state.
        public var crackingLastState: CrackingStatistics?
        /// Crack growth (crack fraction higher in the last state than in the first) of the
        /// particles present in both, vs their first-state size and grey.
        public var crackGrowth: CrackingStatistics?
        /// The thresholds calibrated on the first (pristine) state, when asked.
        public var damageCalibration: DamageCalibration? = nil
    }

    /// - Parameters:
    ///   - greys: one grey volume per state.
    ///   - labels: one particle-label volume per state, on its state's grid.
    ///   - voxelSizeMicrometres: for the statistics' size unit (nil: voxels).
    public static func run(greys: [Grid<Float>], labels: [Grid<Int32>], voxelSizeMicrometres: Double?, settings: Settings,
                           progress: ((String, Int) -> ProgressReporter?) = { _, _ in nil }) throws -> Record {
        try settings.validate()
        guard greys.count >= 2 else { throw LensError.invalidArgument("a series needs at least two states, got \(greys.count)") }
        guard labels.count == greys.count else { throw LensError.invalidArgument("\(greys.count) grey volumes but \(labels.count) label volumes: give one label volume per state") }
        for k in greys.indices where greys[k].shape != labels[k].shape {
            throw LensError.invalidArgument("state \(k): grey \(greys[k].shape) and labels \(labels[k].shape) differ in shape")
        }
        let registering = progress("registering states", greys.count - 1)
        var registrations = [StateRegistration(state: 0, result: nil)]
        var transforms: [SimilarityTransform?] = [nil]
        for k in 1..<greys.count {
            let result = try VolumeRegistration.register(fixed: greys[0], moving: greys[k], settings: settings.registration)
            registrations.append(StateRegistration(state: k, result: result))
            transforms.append(result.transform)
            registering?.advance()
        }
        registering?.finish()
        let following = progress("following particles", greys.count)
        let tracking = try ParticleTracking.track(labels: labels, transforms: transforms, settings: settings.tracking, progress: following)
        following?.finish()
        guard let crackSettings = settings.cracks else {
            return Record(states: greys.count, registrations: registrations, tracking: tracking, damage: nil, crackingLastState: nil, crackGrowth: nil)
        }
        let judging = progress("cracks per state", greys.count)
        var perState = [[Int32: ParticleDamage]]()
        var lastDamage = [ParticleDamage]()
        for k in greys.indices {
            let damage = try CrackAnalysis.analyse(grey: greys[k], particles: labels[k], settings: crackSettings).damage
            perState.append(Dictionary(uniqueKeysWithValues: damage.map { (Int32($0.id), $0) }))
            if k == greys.count - 1 { lastDamage = damage }
            judging?.advance()
        }
        judging?.finish()
        var calibration: DamageCalibration?
        if settings.calibrateOnFirstState {
            let c = try DamageCalibration.fromPristine(Array(perState[0].values), settings: crackSettings)
            perState = perState.map { $0.mapValues { c.reclassified($0, settings: crackSettings) } }
            lastDamage = lastDamage.map { c.reclassified($0, settings: crackSettings) }
            calibration = c
        }
        let rank = ["least": 0, "mild": 1, "severe": 2]
        let damage: [[TrackDamage?]] = tracking.tracks.map { track in
            track.states.map { entry -> TrackDamage? in
                let parts = entry.labels.compactMap { perState[entry.state][$0] }
                guard !parts.isEmpty else { return nil }
                let envelope = parts.reduce(0) { $0 + $1.envelopeVoxels }, crack = parts.reduce(0) { $0 + $1.crackVoxels }
                let fragments = parts.reduce(0) { $0 + $1.fragments }
                let worst = parts.map(\.damageClass).max { (rank[$0] ?? 0) < (rank[$1] ?? 0) } ?? "least"
                let widest = parts.filter { $0.crackVoxels > 0 }.max { $0.crackVoxels < $1.crackVoxels }
                return TrackDamage(crackFraction: Double(crack) / Double(Swift.max(1, envelope)), fragments: fragments,
                                   damageClass: fragments >= 2 ? "severe" : worst, crackWidthMedianVoxels: widest?.crackWidthMedianVoxels,
                                   cutByVolumeFace: parts.contains(where: \.cutByVolumeFace), outsideFieldOfView: parts.contains(where: \.outsideFieldOfView),
                                   crackInMissingWedge: widest?.crackInMissingWedge)
            }
        }
        // Growth: particles of the first state also present in the last; outcome "grew" encoded
        // as a damage class for the shared statistics (least = did not grow).
        var growth = [ParticleDamage]()
        let last = greys.count - 1
        for (t, track) in tracking.tracks.enumerated() where track.states[0].event == .appeared {
            guard let first = damage[t][0], let end = damage[t][last], let label = track.states[0].labels.first,
                  var record = perState[0][label] else { continue }
            record.damageClass = end.crackFraction > first.crackFraction ? "grew" : "least"
            growth.append(record)
        }
        let lastStatistics = try CrackingStatistics.of(lastDamage, voxelSizeMicrometres: voxelSizeMicrometres)
        let growthStatistics = growth.count >= 3 ? try CrackingStatistics.of(growth, voxelSizeMicrometres: voxelSizeMicrometres) : nil
        var record = Record(states: greys.count, registrations: registrations, tracking: tracking, damage: damage,
                            crackingLastState: lastStatistics, crackGrowth: growthStatistics)
        record.damageCalibration = calibration
        return record
    }
}
