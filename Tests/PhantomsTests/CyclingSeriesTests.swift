import Foundation
import LensCore
import Phantoms
import Testing

@Suite struct CyclingSeriesTests {
    @Test func damageGrowsMonotonicallyWithStableIDs() throws {
        var p = ElectrodeParameters()
        p.shape = [48, 48, 48]
        p.medianParticleDiameterMicrometres = 6
        p.crackProbability = 0.7
        p.seed = 11
        let pristine = try ElectrodeDesign.generate(p)
        let designs = CyclingSeries.designs(pristine: pristine, states: CyclingState.tomo00to04)
        let phantoms = try designs.map { try ElectrodePhantom.rasterize($0) }
        let crackVolume = phantoms.map { $0.truth.particles.map(\.crackVolumeCubicMicrometres).reduce(0, +) }
        #expect(crackVolume[0] == 0)
        #expect(crackVolume[4] > crackVolume[3] && crackVolume[3] > crackVolume[1])
        // Ids are the design's: the same particle keeps its id in every state.
        let ids0 = Set(phantoms[0].truth.particles.map(\.id)), ids4 = Set(phantoms[4].truth.particles.map(\.id))
        #expect(ids0.intersection(ids4).count >= ids0.count * 9 / 10)
        // The charged state is ~2 % smaller in particle volume.
        let v0 = phantoms[0].truth.electrode.fractions["active"]!, v1 = phantoms[1].truth.electrode.fractions["active"]! + phantoms[1].truth.electrode.fractions["crack"]!
        #expect(v1 < v0 && v1 > v0 * 0.95)
        // More particles are severely damaged at the end than after the first cycle.
        let severe = phantoms.map { $0.truth.particles.filter { $0.damageClass == "severe" }.count }
        #expect(severe[4] > severe[1])
    }
}
