import Foundation
import LensCore
import Phantoms
import Testing

@Suite struct ElectrodePhantomTests {
    static func parameters(size: Int = 56, seed: UInt64 = 7) -> ElectrodeParameters {
        var p = ElectrodeParameters()
        p.shape = [size, size + 4, size - 4]
        p.voxelSizeMicrometres = 0.5
        p.medianParticleDiameterMicrometres = 6
        p.separatorThicknessVoxels = 4
        p.currentCollectorThicknessVoxels = 3
        p.grainsPerParticle = 4
        p.crackProbability = 0.6
        p.poreChannelCount = 1
        p.poreChannelRadiusMicrometres = 2
        p.fiducialBeadCount = 2
        p.seed = seed
        return p
    }

    /// Gold beads sit on the side faces at different depths (so they cross different detector
    /// rows, which is what pins the axis tilt), each marked in the phases.
    @Test func beadsSitOnTheSideFacesAtDifferentDepths() throws {
        var p = Self.parameters()
        p.fiducialBeadCount = 8
        let phantom = try ElectrodePhantom.generate(p)
        let beads = phantom.design.fiducialsMicrometres
        #expect(beads.count == 8)
        let size = p.shape.map { Double($0) * p.voxelSizeMicrometres }
        let r = p.fiducialBeadDiameterMicrometres / 2
        for b in beads {
            let onFace = abs(b[1] - r) < 1e-9 || abs(b[1] - (size[1] - r)) < 1e-9 || abs(b[2] - r) < 1e-9 || abs(b[2] - (size[2] - r)) < 1e-9
            #expect(onFace, "\(b)")
            #expect(b[0] >= r && b[0] <= size[0] - r)
        }
        let depths = beads.map { $0[0] }
        #expect(depths.max()! - depths.min()! > 0.3 * size[0])
        #expect(phantom.phases.elements.contains(6))   // the fiducial code
    }

    @Test func sameSeedGivesTheSameBytes() throws {
        let a = try ElectrodePhantom.generate(Self.parameters())
        let b = try ElectrodePhantom.generate(Self.parameters())
        let c = try ElectrodePhantom.generate(Self.parameters(seed: 8))
        #expect(a.phases.elementsEqual(b.phases) && a.particleIDs.elementsEqual(b.particleIDs))
        #expect(a.attenuation.elementsEqual(b.attenuation) && a.grainIDs.elementsEqual(b.grainIDs))
        #expect(a.truth == b.truth)
        #expect(!a.phases.elementsEqual(c.phases))
    }

    /// Every truth number recomputed here from the label volumes, by simpler code (dictionaries,
    /// flood fill), agrees: counts exactly, centroids to rounding.
    @Test func truthAgreesWithAnIndependentCountOfTheLabels() throws {
        let phantom = try ElectrodePhantom.generate(Self.parameters())
        let truth = phantom.truth
        let shape = phantom.phases.shape
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        let phases = phantom.phases.elements, ids = phantom.particleIDs.elements
        let h = 0.5, voxel = 0.125
        // Phase fractions overall, in the electrode, and per depth region.
        func fraction(_ phase: ElectrodePhase, _ zs: Range<Int>) -> Double {
            var n = 0
            for z in zs { for i in (z * ny * nx)..<((z + 1) * ny * nx) where phases[i] == phase.rawValue { n += 1 } }
            return Double(n) / Double(zs.count * ny * nx)
        }
        for phase in ElectrodePhase.allCases {
            #expect(truth.overall.fractions[phase.name] == fraction(phase, 0..<nz))
            #expect(truth.electrode.fractions[phase.name] == fraction(phase, 4..<(nz - 3)))
        }
        #expect(truth.depthRegions.map(\.zStart) == [4, 21, 37] && truth.depthRegions.last!.zEnd == nz - 3)
        for region in truth.depthRegions {
            let zs = region.zStart..<region.zEnd
            #expect(abs(region.phases.porosity - (fraction(.pore, zs) + fraction(.crack, zs))) < 1e-12)
        }
        // The separator layer holds separator and the gold beads lying on it; the collector is whole.
        #expect(fraction(.separator, 0..<4) + fraction(.fiducial, 0..<4) == 1 && fraction(.currentCollector, (nz - 3)..<nz) == 1)
        #expect(fraction(.fiducial, 0..<nz) > 0)
        // Per particle.
        var envelope = [Int32: [Int]]()
        for i in ids.indices where ids[i] != 0 { envelope[ids[i], default: []].append(i) }
        #expect(truth.particleCount == envelope.count)
        for particle in truth.particles {
            let voxels = try #require(envelope[particle.id])
            let cracks = voxels.filter { phases[$0] == ElectrodePhase.crack.rawValue }
            let solid = Set(voxels.filter { phases[$0] == ElectrodePhase.active.rawValue })
            #expect(particle.envelopeVolumeCubicMicrometres == Double(voxels.count) * voxel)
            #expect(particle.crackVolumeCubicMicrometres == Double(cracks.count) * voxel)
            let centre = voxels.reduce(SIMD3<Double>()) { $0 + SIMD3(Double($1 / (ny * nx)), Double(($1 / nx) % ny), Double($1 % nx)) } / Double(voxels.count)
            #expect(abs(particle.centreMicrometres[0] - centre.x * h) < 1e-9 && abs(particle.centreMicrometres[2] - centre.z * h) < 1e-9)
            // Fragments by flood fill over face neighbours; counted from the stated minimum size.
            var seen = Set<Int>(), sizes = [Int]()
            for start in solid where !seen.contains(start) {
                var size = 0
                defer { sizes.append(size) }
                var stack = [start]; seen.insert(start)
                while let i = stack.popLast() {
                    size += 1
                    let z = i / (ny * nx), y = (i / nx) % ny, x = i % nx
                    for (dz, dy, dx) in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)] {
                        let zz = z + dz, yy = y + dy, xx = x + dx
                        guard zz >= 0, zz < nz, yy >= 0, yy < ny, xx >= 0, xx < nx else { continue }
                        let j = (zz * ny + yy) * nx + xx
                        if solid.contains(j) && !seen.contains(j) { seen.insert(j); stack.append(j) }
                    }
                }
            }
            #expect(particle.fragmentVoxelCounts == sizes.sorted(by: >), "particle \(particle.id)")
            #expect(particle.fragmentCount == sizes.filter { $0 >= ElectrodeTruth.minimumFragmentVoxels }.count, "particle \(particle.id)")
        }
        #expect(truth.crackedParticleCount == truth.particles.filter { $0.crackVolumeCubicMicrometres > 0 }.count)
        #expect(truth.crackedParticleCount > 0)
    }

    /// A crack narrower than a voxel is invisible in the labels but darkens the attenuation by
    /// exactly its volume: Σ (μ_active − μ) · V_voxel = (μ_active − μ_pore) · w · (cross-section).
    /// Tolerance 3 %: the voxelized disc area against π r². A 3-voxel crack splits the particle.
    @Test func subVoxelCracksDarkenByTheirVolumeAndWideCracksSplit() throws {
        var p = ElectrodeParameters()
        p.shape = [48, 48, 48]
        p.voxelSizeMicrometres = 0.5
        p.binderCoverage = 0
        p.binderBridgeMicrometres = 0
        let centre = [11.75, 11.75, 11.75]
        let r = 9.0
        for (width, expectSplit) in [(0.2, false), (1.5, true)] {
            let particle = ParticleDesign(id: 1, centreMicrometres: centre, semiAxesMicrometres: [r, r, r],
                                          cracks: [CrackPlane(normal: [0, 0, 1], offsetMicrometres: 0.1, widthMicrometres: width)])
            let phantom = try ElectrodePhantom.rasterize(ElectrodeDesign(parameters: p, particles: [particle]))
            let mu = p.attenuation
            var deficit = 0.0
            for (i, value) in phantom.attenuation.elements.enumerated() where phantom.particleIDs[linear: i] == 1 {
                deficit += (mu.activePerMicrometre - Double(value)) * 0.125
            }
            let expected = (mu.activePerMicrometre - mu.porePerMicrometre) * width * .pi * (r * r - 0.01)
            #expect(abs(deficit - expected) / expected < 0.03, "width \(width): deficit \(deficit), expected \(expected)")
            let truth = try #require(phantom.truth.particles.first)
            if expectSplit {
                #expect(truth.fragmentCount == 2 && truth.damageClass == "severe")
            } else {
                #expect(truth.crackVolumeCubicMicrometres == 0 && truth.fragmentCount == 1 && truth.damageClass == "least")
            }
        }
    }

    @Test func porosityGradientAndParticleSizes() throws {
        var p = ElectrodeParameters()
        p.shape = [96, 64, 64]
        p.medianParticleDiameterMicrometres = 5
        p.solidFractionAtSeparator = 0.35
        p.solidFractionAtCollector = 0.62
        p.seed = 3
        let phantom = try ElectrodePhantom.generate(p)
        let regions = phantom.truth.depthRegions
        #expect(regions[2].phases.fractions["active"]! > regions[0].phases.fractions["active"]! + 0.05)
        // The placed diameters follow the requested log-normal median (±10 %: sampling error of a
        // few hundred particles, plus the few small ones that find no room near jamming).
        let diameters = phantom.design.particles.map(\.equivalentDiameterMicrometres).sorted()
        #expect(abs(diameters[diameters.count / 2] / 5 - 1) < 0.10)
        #expect(throws: LensError.self) { var bad = p; bad.shape = [2, 2, 2]; try ElectrodePhantom.generate(bad) }
    }
}
