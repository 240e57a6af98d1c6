import Compton
import Foundation
import LensCore
import Phantoms
import Signal
import Testing

@Suite struct ComptonPhantomTests {
    func smallDetector() -> ComptonParameters {
        var p = ComptonParameters()
        p.rows = 8; p.columns = 8
        return p
    }

    /// Noise-free: the detected Compton spectrum of every pixel has exactly the S the
    /// calibration gives for its stoichiometry.
    @Test func noiseFreeSEqualsTheRequestedValue() throws {
        let p = smallDetector()
        let spectra = ComptonSimulator.componentSpectra(p)
        let lithium = (0..<64).map { 0.05 + 0.7 * Double($0) / 63 }
        let truth = try ComptonSimulator.simulate(lithium: lithium, parameters: { var q = p; q.totalEvents = 10; return q }()) { _ in }
        for i in [0, 20, 63] {
            let w = truth.valenceWeight[i]
            let counts = zip(spectra.valence, spectra.core).map { w * $0 + (1 - w) * $1 }
            let s = try SParameter.compute(binEdgesKeV: spectra.edges, counts: counts, incidentKeV: 115, angleDegrees: 90).s
            #expect(abs(s - p.calibration.s(lithium: lithium[i])) < 1e-9)
        }
    }

    /// With counting noise (no background, no fluorescence in the windows), S from the events of
    /// a uniform map agrees with the truth within 3σ of its Poisson uncertainty; charge sharing
    /// is recorded.
    @Test func noisyEventsGiveSWithinCountingError() throws {
        var p = smallDetector()
        p.totalEvents = 200_000
        p.fluorescenceFraction = 0
        p.backgroundFraction = 0
        p.chargeSharingProbability = 0
        let lithium = [Double](repeating: 0.4, count: 64)
        let edges = ComptonSimulator.componentSpectra(p).edges
        var histogram = [Double](repeating: 0, count: edges.count - 1)
        let truth = try ComptonSimulator.simulate(lithium: lithium, parameters: p) { events in
            for e in events {
                let k = Int(((Double(e.energyKeV) - edges[0]) / 0.05).rounded(.down))
                if k >= 0 && k < histogram.count { histogram[k] += 1 }
            }
        }
        let r = try SParameter.compute(binEdgesKeV: edges, counts: histogram, incidentKeV: 115, angleDegrees: 90)
        #expect(abs(r.s - truth.sParameter[0]) < 3 * r.uncertainty, "S \(r.s) ± \(r.uncertainty), truth \(truth.sParameter[0])")
        #expect(abs(Double(truth.recordedEvents) / 200_000 - 1) < 0.02)

        p.chargeSharingProbability = 0.2
        p.totalEvents = 20_000
        let shared = try ComptonSimulator.simulate(lithium: lithium, parameters: p) { _ in }
        // A shared event needs its randomly chosen face neighbour on the detector: on 8×8 pixels
        // that holds for (4·64 − 4·8) of the 4·64 (pixel, direction) choices.
        let onDetector = Double(4 * p.rows * p.columns - 2 * (p.rows + p.columns)) / Double(4 * p.rows * p.columns)
        #expect(abs(Double(shared.sharedEvents) / Double(shared.sharedEvents + shared.singleEvents) - 0.2 * onDetector) < 0.02)
    }

    @Test func eventFileIsTwelveBytesPerRecordInFrameOrder() throws {
        var p = smallDetector()
        p.totalEvents = 5_000
        let path = NSTemporaryDirectory() + "events-\(UUID().uuidString).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let truth = try ComptonSimulator.writeEvents(lithium: [Double](repeating: 0.5, count: 64), parameters: p, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.count == truth.recordedEvents * 12)
        let frames = stride(from: 0, to: data.count, by: 12).map { o in data[o..<(o + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        #expect(frames == frames.sorted())
    }
}

@Suite struct XANESPhantomTests {
    @Test func energySchemeHas63Energies() {
        let e = XANESEnergyScheme.nickelK63
        #expect(e.count == 63 && e.first == 8178 && e.last == 8570)
        #expect(zip(e, e.dropFirst()).allSatisfy { $0 < $1 })
    }

    /// Noise-free: −ln(I/I0) divided by thickness is the state-of-charge mixture of the two
    /// references, and the true edge energy moves monotonically with state of charge.
    @Test func noiseFreeStackIsTheLinearCombination() throws {
        let soc = Grid<Float>(shape: Shape(4, 5), elements: (0..<20).map { Float($0) / 19 })
        let thickness = Grid<Float>(shape: Shape(4, 5), repeating: 0.8)
        var p = XANESParameters()
        p.incidentPhotons = nil
        let result = try XANESSimulator.simulate(stateOfCharge: soc, thickness: thickness, parameters: p)
        #expect(result.intensity.shape == Shape(63, 4, 5))
        for (k, e) in p.energiesElectronVolts.enumerated() where k % 7 == 0 {
            for i in [0, 9, 19] {
                let od = -log(Double(result.intensity[linear: k * 20 + i]) / Double(result.flat[linear: k * 20 + i]))
                let s = Double(soc[linear: i])
                let expected = 0.8 * (p.preEdgeDensity + p.maximumEdgeJump * ((1 - s) * ModelEdgeSpectrum.discharged.value(at: e) + s * ModelEdgeSpectrum.charged.value(at: e)))
                #expect(abs(od - expected) < 1e-5)
            }
        }
        let edges = result.edgeEnergy.elements
        #expect(zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 })
        #expect(edges.first! > 8340 && edges.last! < 8346)
    }

    @Test func shiftsAndMagnificationAreApplied() throws {
        var image = [Float](repeating: 0, count: 21 * 21)
        image[10 * 21 + 10] = 1
        let moved = XANESSimulator.transformFrame(Grid(shape: Shape(21, 21), elements: image), shift: [2, -3], magnification: 1)
        #expect(moved[12, 7] == 1)
    }
}

/// Compton maps built on a segmented CT: each region's map averages to its designed value, rises
/// with the projected porosity by the designed slope, and the events follow the electron density.
@Suite struct ComptonCTSceneTests {
    /// 12 slices of 20 × 20 voxels (1 µm): pore (0) in the left columns' lower half, solid (1)
    /// elsewhere, more pore deeper; projected onto 4 µm Compton pixels.
    func labels() -> Grid<Int32> {
        Grid<Int32>(shape: Shape(12, 20, 20), geometry: .isotropic(1, rank: 3)) { i in
            let (z, y, x) = (i / 400, (i / 20) % 20, i % 20)
            return (x < 4 + z / 2 && y >= 6) || (x + y) % 7 == 0 ? 0 : 1
        }
    }

    @Test func mapsFollowTheCTPorosity() throws {
        let phases = ComptonCTCorrelation.Phases(pore: [0], solid: [1])
        let scene = try ComptonCTScene.regions(labels: labels(), phases: phases, ctVoxelMicrometres: 1, comptonPixelMicrometres: 4,
                                               baseLithium: [0.2, 0.1], slope: 0.1)
        #expect(scene.rows == 5 && scene.columns == 5 && scene.regions.count == 2)
        let projections = try ComptonCTCorrelation.project(labels: labels(), phases: phases, regions: [0..<6, 6..<12], ctVoxelMicrometres: 1,
                                                           comptonPixelMicrometres: 4, comptonShape: (5, 5))
        for (k, (region, projection)) in zip(scene.regions, projections).enumerated() {
            let inside = region.lithium.indices.filter { region.lithium[$0].isFinite }
            #expect(inside.count == 25)
            let mean = inside.map { region.lithium[$0] }.reduce(0, +) / Double(inside.count)
            #expect(abs(mean - [0.2, 0.1][k]) < 1e-12)
            let fit = Statistics.pearsonAndSlope(inside.map { projection.porosity[linear: $0] }, inside.map { region.lithium[$0] })
            #expect(abs(fit.slope - 0.1) < 1e-9 && fit.r > 0.999)
            // More solid, more events.
            let solid = inside.map { projection.solidFraction[linear: $0] }, events = inside.map { region.intensity[$0] }
            #expect(Statistics.pearsonAndSlope(solid, events).r > 0.99)
        }
        // A slope that drives 1 − x below zero is refused, naming the region.
        #expect(throws: LensError.self) {
            try ComptonCTScene.regions(labels: labels(), phases: phases, ctVoxelMicrometres: 1, comptonPixelMicrometres: 4, baseLithium: [0.01, 0.01], slope: 1)
        }
    }
}
