import Foundation
import LensCore
import Signal

/// How particles are followed from state to state.
public struct TrackingSettings: Codable, Sendable, Equatable {
    /// A label of the later state belongs to the track that holds at least this fraction of
    /// the label's voxels that overlap any earlier particle (the rest is material newly exposed
    /// where a crack opened or a particle grew, or the neighbour's); a track merges into another
    /// track's label when this fraction of its earlier voxels went there.
    public var containment = 0.6
    /// …and at least this fraction of all the label's voxels (below: a new particle).
    public var minimumOverlap = 0.2
    /// Labels smaller than this are ignored as debris (not counted as fragments, not new).
    public var minimumLabelVoxels = 27
    public init() {}

    public func validate() throws {
        guard containment > 0.5, containment <= 1 else { throw LensError.invalidArgument("containment must be in (0.5, 1] (a label has one owner), got \(containment)") }
        guard minimumOverlap > 0, minimumOverlap <= 1 else { throw LensError.invalidArgument("the minimum overlap must be in (0, 1], got \(minimumOverlap)") }
        guard minimumLabelVoxels >= 1 else { throw LensError.invalidArgument("the minimum label size must be at least 1 voxel") }
    }
}

/// What happened to a track between the previous state and this one.
public enum TrackEvent: String, Codable, Sendable, CaseIterable {
    /// First seen in this state (state 0: every particle; later: material that no earlier
    /// particle holds).
    case appeared
    /// One label before, one label now.
    case matched
    /// One particle before, several labels (fragments) now.
    case split
    /// This track's particle is now part of another track's label.
    case merged
    /// No label of this state holds the track's particle.
    case lost
    /// Gone in an earlier state.
    case absent
}

/// One track in one state: the labels of that state that hold it.
public struct TrackState: Codable, Sendable, Equatable {
    public var state: Int
    public var labels: [Int32]
    public var voxels: Int
    /// Centroid in the first state's voxel frame (z, y, x); nil when absent.
    public var centroidVoxels: [Double]?
    public var event: TrackEvent
    /// For `merged`: the track it merged into.
    public var mergedInto: Int?
}

public struct ParticleTrack: Codable, Sendable, Equatable {
    public var id: Int
    public var states: [TrackState]
}

public struct TrackingResult: Codable, Sendable, Equatable {
    public var settings: TrackingSettings
    public var stateCount: Int
    public var tracks: [ParticleTrack]
    /// Per state, how many tracks had each event.
    public var eventCounts: [[String: Int]]
}

/// Following labelled particles through a series of states (spam's discrete "ddic" tracking of
/// grains is the anchor). Each state's labels are first brought into the first state's frame
/// with the transform that registers it there (nearest neighbour, so label codes survive), then
/// consecutive states are compared by voxel overlap: a label of state k belongs to the track
/// holding most of it, if that is at least `containment` of the label. A track then has one
/// label (matched), several (split: fragments of a cracked particle), none (lost), or shares a
/// label with a larger track (merged). Labels that no track holds start new tracks. Overlap is
/// one pass over the voxels per state; assignment is by containment, which is one-to-one
/// whenever particles stay apart and needs no global assignment step.
public enum ParticleTracking {
    /// - Parameters:
    ///   - labels: one label volume per state (0 = background), each in its own frame.
    ///   - transforms: per state, the transform sending first-state positions to that state's
    ///     positions (``VolumeRegistration`` with the first state fixed); nil: the identity. The
    ///     first state's own entry is ignored.
    public static func track(labels: [Grid<Int32>], transforms: [SimilarityTransform?], settings: TrackingSettings = TrackingSettings(),
                             progress: ProgressReporter? = nil) throws -> TrackingResult {
        try settings.validate()
        guard labels.count >= 2 else { throw LensError.invalidArgument("tracking needs at least two states, got \(labels.count)") }
        guard transforms.count == labels.count else { throw LensError.invalidArgument("\(labels.count) label volumes but \(transforms.count) transforms") }
        guard labels.allSatisfy({ $0.rank == 3 }) else { throw LensError.invalidArgument("tracking needs 3D label volumes") }
        let frame = labels[0].shape
        // Every state in the first state's frame.
        let aligned: [Grid<Int32>] = labels.enumerated().map { k, l in
            if k == 0 { return l }
            if let t = transforms[k] { return VolumeRegistration.resampleLabels(l, transform: t, shape: frame, geometry: labels[0].geometry) }
            return l.shape == frame ? l : VolumeRegistration.resampleLabels(l, transform: .identity(centreOf: frame), shape: frame, geometry: labels[0].geometry)
        }
        progress?.advance(by: 1)
        let first = statistics(aligned[0])
        var tracks = [ParticleTrack]()
        // The labels of the current state that each live track holds.
        var holding = [Int: [Int32]]()
        var previousSizes = first
        for label in first.keys.sorted() where first[label]!.voxels >= settings.minimumLabelVoxels {
            let id = tracks.count
            tracks.append(ParticleTrack(id: id, states: [TrackState(state: 0, labels: [label], voxels: first[label]!.voxels,
                                                                    centroidVoxels: first[label]!.centroid, event: .appeared)]))
            holding[id] = [label]
        }
        for k in 1..<aligned.count {
            let previous = aligned[k - 1], current = aligned[k]
            let sizes = statistics(current)
            // Which track each previous label belongs to.
            var owner = [Int32: Int]()
            for (id, held) in holding { for label in held { owner[label] = id } }
            // Overlap of (track, current label).
            var overlap = [Int: [Int32: Int]]()
            previous.withUnsafeBufferPointer { p in
                current.withUnsafeBufferPointer { c in
                    for i in 0..<p.count where p[i] != 0 && c[i] != 0 {
                        guard let id = owner[p[i]] else { continue }
                        overlap[id, default: [:]][c[i], default: 0] += 1
                    }
                }
            }
            // Each current label goes to the track holding most of it, if enough.
            var bestTrack = [Int32: (id: Int, voxels: Int)](), overlapping = [Int32: Int]()
            for (id, row) in overlap {
                for (label, count) in row {
                    overlapping[label, default: 0] += count
                    if count > (bestTrack[label]?.voxels ?? 0) { bestTrack[label] = (id, count) }
                }
            }
            var assigned = [Int: [Int32]]()
            var unclaimed = [Int32]()
            for label in sizes.keys.sorted() where sizes[label]!.voxels >= settings.minimumLabelVoxels {
                if let best = bestTrack[label], Double(best.voxels) >= settings.containment * Double(overlapping[label]!),
                   Double(best.voxels) >= settings.minimumOverlap * Double(sizes[label]!.voxels) {
                    assigned[best.id, default: []].append(label)
                } else {
                    unclaimed.append(label)
                }
            }
            // Tracks that hold no label of their own but most of whose voxels went into another
            // track's label: merged.
            var mergedInto = [Int: Int]()
            for (id, row) in overlap where assigned[id] == nil {
                let previousVoxels = holding[id]?.reduce(0) { $0 + (previousSizes[$1]?.voxels ?? 0) } ?? 0
                guard previousVoxels > 0, let (label, count) = row.max(by: { $0.value < $1.value }),
                      Double(count) >= settings.containment * Double(previousVoxels), let into = bestTrack[label]?.id, into != id,
                      assigned[into]?.contains(label) == true else { continue }
                mergedInto[id] = into
            }
            var nextHolding = [Int: [Int32]]()
            for track in tracks.indices {
                let id = tracks[track].id
                guard holding[id] != nil else {
                    tracks[track].states.append(TrackState(state: k, labels: [], voxels: 0, centroidVoxels: nil, event: .absent)); continue
                }
                if let labels = assigned[id] {
                    let voxels = labels.reduce(0) { $0 + sizes[$1]!.voxels }
                    let centroid = (0..<3).map { axis in labels.reduce(0.0) { $0 + sizes[$1]!.centroid[axis] * Double(sizes[$1]!.voxels) } / Double(voxels) }
                    tracks[track].states.append(TrackState(state: k, labels: labels, voxels: voxels, centroidVoxels: centroid,
                                                           event: labels.count == 1 ? .matched : .split))
                    nextHolding[id] = labels
                } else if let into = mergedInto[id] {
                    tracks[track].states.append(TrackState(state: k, labels: [], voxels: 0, centroidVoxels: nil, event: .merged, mergedInto: into))
                } else {
                    tracks[track].states.append(TrackState(state: k, labels: [], voxels: 0, centroidVoxels: nil, event: .lost))
                }
            }
            for label in unclaimed {
                let id = tracks.count
                var states = (0..<k).map { TrackState(state: $0, labels: [], voxels: 0, centroidVoxels: nil, event: .absent) }
                states.append(TrackState(state: k, labels: [label], voxels: sizes[label]!.voxels, centroidVoxels: sizes[label]!.centroid, event: .appeared))
                tracks.append(ParticleTrack(id: id, states: states))
                nextHolding[id] = [label]
            }
            holding = nextHolding
            previousSizes = sizes
            progress?.advance(by: 1)
        }
        let counts = (0..<labels.count).map { k -> [String: Int] in
            var c = [String: Int]()
            for t in tracks { c[t.states[k].event.rawValue, default: 0] += 1 }
            return c
        }
        return TrackingResult(settings: settings, stateCount: labels.count, tracks: tracks, eventCounts: counts)
    }

    struct LabelStatistics { var voxels = 0; var centroid = [0.0, 0.0, 0.0] }

    /// Voxel count and centroid of every label.
    static func statistics(_ labels: Grid<Int32>) -> [Int32: LabelStatistics] {
        let d = labels.shape.dims
        var sums = [Int32: (Int, SIMD3<Double>)]()
        labels.withUnsafeBufferPointer { l in
            for z in 0..<d[0] { for y in 0..<d[1] { for x in 0..<d[2] {
                let v = l[(z * d[1] + y) * d[2] + x]
                guard v != 0 else { continue }
                let s = sums[v] ?? (0, SIMD3(0, 0, 0))
                sums[v] = (s.0 + 1, s.1 + SIMD3(Double(z), Double(y), Double(x)))
            } } }
        }
        return sums.mapValues { LabelStatistics(voxels: $0.0, centroid: [$0.1.x / Double($0.0), $0.1.y / Double($0.0), $0.1.z / Double($0.0)]) }
    }
}
