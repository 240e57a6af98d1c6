import Foundation
import LensCore
import Phantoms
import Signal
import Damage
import Testing

/// The phantom cycling series (Tomo 00–04: drift between scans, particles breathing by 2 % in
/// volume, cracks opening until wide ones split particles) "segmented" as a user's pipeline
/// would: each particle's solid voxels split into their connected pieces, every piece given a
/// fresh label in a shuffled order, so nothing ties labels across states but the voxels.
@Suite struct TrackingTests {
    struct SegmentedState {
        var labels: Grid<Int32>
        var truthID: [Int32: Int32]      // label → phantom particle id
        var attenuation: Grid<Float>
        var fragments: [Int32: Int]      // particle id → pieces of ≥ minimum voxels
    }

    static func segment(_ phantom: ElectrodePhantom, seed: UInt64, minimumVoxels: Int) -> SegmentedState {
        let d = phantom.particleIDs.shape.dims
        let active = Int(phantom.truth.phaseCodes["active"]!)
        let ids = phantom.particleIDs.elements, phases = phantom.phases.elements
        var labels = [Int32](repeating: 0, count: ids.count)
        var pieces = [(id: Int32, voxels: [Int])]()
        var seen = [Bool](repeating: false, count: ids.count)
        for start in 0..<ids.count where ids[start] != 0 && Int(phases[start]) == active && !seen[start] {
            var stack = [start], members = [Int]()
            seen[start] = true
            while let i = stack.popLast() {
                members.append(i)
                let (z, y, x) = (i / (d[1] * d[2]), (i / d[2]) % d[1], i % d[2])
                for (dz, dy, dx) in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)] {
                    let (nz, ny, nx) = (z + dz, y + dy, x + dx)
                    guard nz >= 0, ny >= 0, nx >= 0, nz < d[0], ny < d[1], nx < d[2] else { continue }
                    let j = (nz * d[1] + ny) * d[2] + nx
                    if !seen[j] && ids[j] == ids[start] && Int(phases[j]) == active { seen[j] = true; stack.append(j) }
                }
            }
            pieces.append((ids[start], members))
        }
        var rng = SeededRandom(seed: seed)
        var order = Array(0..<pieces.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var truthID = [Int32: Int32](), fragments = [Int32: Int]()
        for (rank, k) in order.enumerated() {
            let label = Int32(rank + 1)
            for i in pieces[k].voxels { labels[i] = label }
            truthID[label] = pieces[k].id
            if pieces[k].voxels.count >= minimumVoxels { fragments[pieces[k].id, default: 0] += 1 }
        }
        return SegmentedState(labels: Grid(shape: phantom.particleIDs.shape, elements: labels), truthID: truthID,
                              attenuation: phantom.attenuation, fragments: fragments)
    }

    /// Registration of each state to the first (rigid, on attenuation) then tracking: every
    /// particle of the first state is followed to the right pieces in every later state — all its
    /// pieces of ≥ 27 voxels, and none of another particle's — for ≥ 98 % of (particle, state)
    /// pairs (the target), and the drift is recovered to ≤ 0.5 voxel.
    @Test func followsParticlesThroughTheSeries() throws {
        var p = ElectrodeParameters()
        p.shape = [64, 64, 64]
        p.medianParticleDiameterMicrometres = 6
        p.crackProbability = 0.8
        p.seed = 5
        let designs = CyclingSeries.designs(pristine: try ElectrodeDesign.generate(p), states: CyclingState.tomo00to04, seed: 5)
        let phantoms = try designs.map { try ElectrodePhantom.rasterize($0) }
        let settings = TrackingSettings()
        let states = phantoms.enumerated().map { Self.segment($1, seed: UInt64($0 + 1), minimumVoxels: settings.minimumLabelVoxels) }
        var transforms: [SimilarityTransform?] = [nil]
        for k in 1..<states.count {
            let result = try VolumeRegistration.register(fixed: states[0].attenuation, moving: states[k].attenuation)
            // The phantom's drift d (µm) moves content by +d: T(p) = p + d / voxel.
            let drift = phantoms[k].truth.driftMicrometres.map { $0 / p.voxelSizeMicrometres }
            let error = zip(result.transform.translationVoxels, drift).map { abs($0 - $1) }.max()!
            print("state \(k): drift \(drift), found \(result.transform.translationVoxels), rotation \(result.transform.rotationAngleDegrees)°")
            #expect(error <= 0.5)
            transforms.append(result.transform)
        }
        let result = try ParticleTracking.track(labels: states.map(\.labels), transforms: transforms, settings: settings)
        var (correct, total, splits, splitsSeen) = (0, 0, 0, 0)
        for track in result.tracks where track.states[0].event == .appeared {
            let particle = states[0].truthID[track.states[0].labels[0]]!
            for k in 1..<states.count {
                let expected = states[k].fragments[particle] ?? 0
                guard expected > 0 else { continue }   // gone from the volume (drift at the border)
                total += 1
                let entry = track.states[k]
                let ids = Set(entry.labels.map { states[k].truthID[$0]! })
                if ids == [particle] && entry.labels.count == expected { correct += 1 } else {
                    let sizes = entry.labels.map { l in states[k].labels.elements.filter { $0 == l }.count }
                    print("miss: particle \(particle) state \(k): expected \(expected) pieces, got \(entry.labels.count) \(entry.event) ids \(ids) sizes \(sizes)")
                }
                if expected > 1 { splits += 1; if entry.event == .split { splitsSeen += 1 } }
            }
        }
        let fraction = Double(correct) / Double(total)
        print("tracking: \(correct) of \(total) (particle, state) pairs right (\(fraction)); splits \(splitsSeen) of \(splits); events \(result.eventCounts)")
        #expect(total > 100)
        #expect(fraction >= 0.98)
        #expect(splits == 0 || Double(splitsSeen) / Double(splits) >= 0.9)
    }
}
