import Foundation
import LensCore
import Phantoms
import Testing
import Damage
import Tomography

/// Crack analysis on the electrode phantom, the particle ids as labels, against its truth per
/// particle: which particles are cracked, their damage class and fragment count. On the
/// noise-free attenuation: recall, precision and damage class ≥ 0.9 (the issue's targets;
/// measured 1.00 each); fragment counts exact for ≥ 0.95 (measured 1.00; the truth counts pieces
/// from the same 27-voxel minimum as the analysis).
struct CrackAnalysisTests {
    /// An electrode phantom of `depth` × 96² voxels with many cracked particles.
    static func phantom(depth: Int, seed: UInt64 = 7) throws -> ElectrodePhantom {
        var p = ElectrodeParameters()
        p.shape = [depth, 96, 96]
        p.crackProbability = 0.6
        p.seed = seed
        return try ElectrodePhantom.generate(p)
    }

    /// Particle-level agreement with the truth (particles off the volume's border): cracked
    /// particles found and not found, classes and fragment counts that agree.
    struct Score {
        var particles = 0, truePositives = 0, falsePositives = 0, falseNegatives = 0, classes = 0, fragments = 0
        var recall: Double { Double(truePositives) / Double(max(1, truePositives + falseNegatives)) }
        var precision: Double { Double(truePositives) / Double(max(1, truePositives + falsePositives)) }
        var classAgreement: Double { Double(classes) / Double(max(1, particles)) }
        var fragmentAgreement: Double { Double(fragments) / Double(max(1, particles)) }

        init(_ damage: [ParticleDamage], truth phantom: ElectrodePhantom, only include: (ParticleDamage) -> Bool = { _ in true }) {
            let truth = Dictionary(uniqueKeysWithValues: phantom.truth.particles.map { (Int($0.id), $0) })
            for d in damage where include(d) {
                guard let t = truth[d.id], !t.touchesBorder else { continue }
                particles += 1
                let (cracked, found) = (t.crackVolumeCubicMicrometres > 0, d.crackVoxels > 0)
                if cracked && found { truePositives += 1 } else if found { falsePositives += 1 } else if cracked { falseNegatives += 1 }
                if t.damageClass == d.damageClass { classes += 1 }
                if t.fragmentCount == d.fragments { fragments += 1 }
            }
        }
    }

    /// The phantom's truth counts fragments from the analysis's default minimum: they are
    /// compared piece for piece, so the two must not drift apart.
    @Test func truthAndAnalysisCountFragmentsFromTheSameMinimum() {
        #expect(ElectrodeTruth.minimumFragmentVoxels == CrackSettings().minimumFragmentVoxels)
    }

    @Test func findsThePhantomsCracks() throws {
        let phantom = try Self.phantom(depth: 64)
        let (damage, cracks, void) = try CrackAnalysis.analyse(grey: phantom.attenuation, particles: phantom.particleIDs)
        let score = Score(damage, truth: phantom)
        print(String(format: "cracks: %d particles, recall %.3f, precision %.3f, class agreement %.3f, fragments exact %.3f; void grey %.4f; %d crack voxels",
                     score.particles, score.recall, score.precision, score.classAgreement, score.fragmentAgreement, void, cracks.elements.reduce(0) { $0 + Int($1) }))
        #expect(score.particles >= 20 && score.truePositives >= 5)
        #expect(score.recall >= 0.9 && score.precision >= 0.9)
        #expect(score.classAgreement >= 0.9 && score.fragmentAgreement >= 0.95)
    }

    /// The same analysis on a reconstruction: the phantom (48 × 96² at 0.5 µm, cracks 0.1–1.5 µm
    /// wide) projected over 135° (601 angles) with photon noise (5 000 counts), TV-reconstructed
    /// (300 iterations), cracks judged away from a one-voxel surface shell (the edge blur).
    /// Measured on three phantoms (seeds 7, 11, 23): precision 1.00 / 1.00 / 0.93, recall 0.85 /
    /// 0.95 / 0.93, damage class 0.92 / 0.97 / 0.94, fragments 0.92 / 0.89 / 0.94. The class
    /// counts a particle severe also by its grey deficit (``ParticleDamage/deficitCrackFraction``):
    /// blurred cracks of about one voxel keep their deficit but few voxels cross the threshold
    /// (by voxels alone, at 150 iterations: class 0.73 / 0.95 / 0.87; with the deficit 0.85 /
    /// 0.97 / 0.87). FBP gives precision 0.50. Much of what is missed is cracks whose normal lies
    /// in the scan's 45° missing wedge, which the data barely record: on the particles with no
    /// such crack, recall 1.00 / 1.00 / 0.90, precision 1.00, class 1.00 / 1.00 / 0.96 (the issue
    /// asks 0.90), fragments 1.00 / 0.97 / 0.92 (the issue asks 0.95). Fragments were 0.81 / 0.86
    /// / 0.81 (0.90 / 0.97 / 0.84 without wedge cracks) before the split search took its markers
    /// from the particle alone and also split by crack width (``SeparatingSurfaces``); on four
    /// phantoms not used to develop that (seeds 31, 43, 59, 67) they went from 0.89 / 0.73 / 0.75
    /// / 0.89 to 0.89 / 0.82 / 0.91 / 0.93 (0.96 / 0.88 / 0.96 / 0.96 without wedge cracks). The
    /// split search's window then came to follow each surface's dip (a wedge crack is smeared
    /// over ±4–5 voxels; ``SeparatingSurfaces/windowRadius(meanProfile:)``): seed 7 went from 0.88
    /// to 0.92 (class too), seed 67 from 0.93 to 0.96, nothing else changed on the seven; class
    /// is ≥ 0.90 on all seven (0.93 / 0.91 / 0.91 / 0.96 on the four). What is left outside the
    /// wedge is cracks within about 10 % of the lattice thickness (which side of it the truth's
    /// voxels fall is decided by the crack's offset) and pieces of a few dozen voxels. The test
    /// holds these levels. Inside the reconstruction circle (the analysis's
    /// `fieldOfView = .circle`, printed): recall 0.83 / 0.94 / 1.00, class 0.91 / 0.96 / 1.00,
    /// fragments 0.91 / 0.89 / 0.96 — seed 23's two corner particles drop out (a crack facing
    /// the projections that missed it, and a false positive); the wedge cracks stay. (The
    /// optional Hessian sheetness detector at 0.075 raised seed 7's recall but cut seed 23's
    /// precision to 0.74: it stays off by default.)
    @Test(arguments: [7, 11, 23] as [UInt64]) func onANoisyLimitedAngleReconstruction(seed: UInt64) throws {
        let phantom = try Self.phantom(depth: 48, seed: seed)
        let tv = try Self.noisyTVReconstruction(phantom, rangeDegrees: 135)
        var settings = CrackSettings()
        settings.surfaceMarginVoxels = 1
        settings.fieldOfView = .circle
        let scan = try ScanAngles(startDegrees: -67.5, endDegrees: 67.5)
        settings.scanAngles = scan
        let (damage, _, _) = try CrackAnalysis.analyse(grey: tv, particles: phantom.particleIDs, settings: settings)
        let score = Score(damage, truth: phantom)
        print(String(format: "cracks on TV (135°, noisy), seed \(seed): %d particles, recall %.2f, precision %.2f, class %.2f, fragments %.2f",
                     score.particles, score.recall, score.precision, score.classAgreement, score.fragmentAgreement))
        // The scan measures in-plane frequencies within ±67.5° of the x axis; a crack whose
        // normal lies mostly in the slice plane and within the 45° missing wedge around the y
        // axis leaves almost no trace in the data, whatever the reconstruction.
        let inWedge = Set(phantom.design.particles.filter { design in
            design.cracks.contains { scan.missingWedgeContains(normal: SIMD3($0.normal[0], $0.normal[1], $0.normal[2])) }
        }.map { Int($0.id) })
        let visible = Score(damage, truth: phantom, only: { !inWedge.contains($0.id) })
        print(String(format: "  of them with no crack in the missing wedge: %d particles, recall %.2f, precision %.2f, class %.2f, fragments %.2f",
                     visible.particles, visible.recall, visible.precision, visible.classAgreement, visible.fragmentAgreement))
        #expect(score.particles >= 20 && score.truePositives + score.falseNegatives >= 10)
        #expect(score.precision >= 0.9 && score.recall >= 0.8)
        #expect(score.classAgreement >= 0.9 && score.fragmentAgreement >= 0.88)
        #expect(visible.precision >= 0.9 && visible.recall >= 0.9 && visible.classAgreement >= 0.9 && visible.fragmentAgreement >= 0.9)
        // Particles whole inside the reconstruction circle (the detector is as wide as the
        // slice): outside it some projections miss a voxel, besides the wedge.
        let circled = Score(damage, truth: phantom, only: { !$0.outsideFieldOfView })
        print(String(format: "  of them inside the reconstruction circle: %d particles, recall %.2f, precision %.2f, class %.2f, fragments %.2f",
                     circled.particles, circled.recall, circled.precision, circled.classAgreement, circled.fragmentAgreement))
        // Crack widths on the reconstruction, particles with one designed crack ≥ 2 voxels wide:
        // the hand-style section width (median over the sections that cut it) against the design.
        // Measured RMS error 0.39 / 0.80 / 2.13 voxels (seeds 7, 11, 23; 4–8 cracks each), most of
        // it from cracks in the missing wedge: outside it 0.14 / 0.27 / 0.20 voxel (3–6 cracks),
        // within the issue's ≤ 1 voxel, as on the noise-free phantom (0.22). Held at ≤ 2.5 overall
        // and ≤ 1 outside the wedge.
        let truth = Dictionary(uniqueKeysWithValues: phantom.truth.particles.map { (Int($0.id), $0) })
        var (squares, measured, candidates) = (0.0, 0, 0)
        var (visibleSquares, visibleMeasured) = (0.0, 0)
        for d in damage {
            guard let t = truth[d.id], !t.touchesBorder, t.crackWidthsMicrometres.count == 1 else { continue }
            let width = t.crackWidthsMicrometres[0] / 0.5
            guard width >= 2 else { continue }
            candidates += 1
            let widths = d.sectionWidths.map(\.normalVoxels).sorted()
            guard !widths.isEmpty else { continue }
            let error = widths[widths.count / 2] - width
            squares += error * error; measured += 1
            if !inWedge.contains(d.id) { visibleSquares += error * error; visibleMeasured += 1 }
        }
        print("crack widths on TV, seed \(seed): \(measured) of \(candidates) cracks ≥ 2 voxels measured, RMS error \((squares / Double(max(1, measured))).squareRoot()) voxel; \(visibleMeasured) outside the missing wedge: \((visibleSquares / Double(max(1, visibleMeasured))).squareRoot()) voxel")
        if measured >= 2 { #expect((squares / Double(measured)).squareRoot() <= 2.5) }
        if visibleMeasured >= 2 { #expect((visibleSquares / Double(visibleMeasured)).squareRoot() <= 1) }
        // What a user sees without the truth: the analysis flags a measured crack whose own
        // normal faces the wedge (``ParticleDamage/crackInMissingWedge``). The widths of the
        // cracks it does not flag meet the issue's ≤ 1 voxel RMS where there are two or more
        // (measured 0.26 / 0.27 / 0.20 on these phantoms; 0.18 / 0.34 / – / 0.23 on seeds 31,
        // 43, 59, 67), and flags stay rarer than a third of the measured cracks. (A small
        // particle's crack can sit just inside the wedge while its measured normal, from a few
        // dozen voxels, does not: seed 59's only such crack, particle 72, 9° inside, reads 1.04
        // voxels wide of its design.)
        var (flagged, measuredCracks, unflaggedSquares, unflaggedMeasured) = (0, 0, 0.0, 0)
        for d in damage {
            guard let inWedge = d.crackInMissingWedge else { continue }
            measuredCracks += 1
            if inWedge { flagged += 1; continue }
            guard let t = truth[d.id], !t.touchesBorder, t.crackWidthsMicrometres.count == 1, t.crackWidthsMicrometres[0] / 0.5 >= 2 else { continue }
            let widths = d.sectionWidths.map(\.normalVoxels).sorted()
            guard !widths.isEmpty else { continue }
            let error = widths[widths.count / 2] - t.crackWidthsMicrometres[0] / 0.5
            unflaggedSquares += error * error; unflaggedMeasured += 1
        }
        let unflaggedRMS = (unflaggedSquares / Double(max(1, unflaggedMeasured))).squareRoot()
        print("  cracks the analysis flags as facing the missing wedge: \(flagged) of \(measuredCracks); widths of \(unflaggedMeasured) unflagged cracks ≥ 2 voxels: RMS error \(unflaggedRMS) voxel")
        if unflaggedMeasured >= 2 { #expect(unflaggedRMS <= 1) }
        #expect(flagged * 3 <= measuredCracks)
        #expect(damage.allSatisfy { ($0.crackInMissingWedge == nil) == ($0.crackNormal == nil) })
    }

    /// The phantom projected over `rangeDegrees` (601 angles, centred on 0) with photon noise
    /// (5 000 counts), TV-reconstructed (300 iterations from the FBP).
    static func noisyTVReconstruction(_ phantom: ElectrodePhantom, rangeDegrees: Double) throws -> Grid<Float> {
        let angles = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 601, rangeDegrees: rangeDegrees, startDegrees: -rangeDegrees / 2)
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: 96, detectorRows: 48, pixelSizeMicrometres: 0.5)
        let projector = try JosephProjector(geometry: geometry, volumeShape: phantom.attenuation.shape)
        var lines = try projector.project(phantom.attenuation)
        var rng = SeededRandom(seed: 3)
        let noise = (0..<lines.count).map { _ in Float(rng.normal()) }
        lines = Grid(shape: lines.shape, elements: zip(lines.elements, noise).map { p, n in
            let mean = 5000 * exp(-Double(p)); return Float(-log(max(1, mean + mean.squareRoot() * Double(n)) / 5000)) })
        let fbp = try FilteredBackProjection.reconstruct(lines, geometry: geometry)
        var s = IterativeSettings(); s.iterations = 300
        return try IterativeReconstruction.solve(projector, data: lines, algorithm: .tv, settings: s, initial: fbp, tvScale: 601 * 0.5).volume
    }

    /// The same phantoms and noise over 180° (no missing wedge), as a synchrotron scan would
    /// record them: the analysis is not tuned to the limited-angle case. Measured: recall 0.92 /
    /// 1.00 / 0.86, precision 1.00 / 1.00 / 0.92, class 0.96 / 1.00 / 0.90, fragments 1.00 /
    /// 0.97 / 0.90 (seeds 7, 11, 23; on seeds 31, 43, 59, 67, not used in development: recall
    /// 1.00 / 0.92 / 0.92 / 0.92, precision 1.00, class 0.95–0.97, fragments 0.96 / 0.95 / 0.97 /
    /// 0.96). Seed 23's misses are particles with cracks of about one
    /// voxel that the analysis neither splits nor finds a voxel of (a corner particle outside
    /// the reconstruction circle among them); its false positive is a 0.70-voxel crack through a
    /// particle that the truth's half-voxel rule leaves without crack voxels (0.70 of its
    /// 1.45-voxel lattice extent along the normal). Recall before the split surfaces became crack
    /// voxels (``CrackAnalysis``): 0.85 / 0.95 / 0.79, those particles split but "uncracked".
    @Test(arguments: [7, 11, 23] as [UInt64]) func onANoisyFullRangeReconstruction(seed: UInt64) throws {
        let phantom = try Self.phantom(depth: 48, seed: seed)
        let tv = try Self.noisyTVReconstruction(phantom, rangeDegrees: 180)
        var settings = CrackSettings()
        settings.surfaceMarginVoxels = 1
        let (damage, _, _) = try CrackAnalysis.analyse(grey: tv, particles: phantom.particleIDs, settings: settings)
        let score = Score(damage, truth: phantom)
        print(String(format: "cracks on TV (180°, noisy), seed \(seed): %d particles, recall %.2f, precision %.2f, class %.2f, fragments %.2f",
                     score.particles, score.recall, score.precision, score.classAgreement, score.fragmentAgreement))
        #expect(score.particles >= 20 && score.truePositives + score.falseNegatives >= 10)
        #expect(score.precision >= 0.9 && score.recall >= 0.85)
        #expect(score.classAgreement >= 0.9 && score.fragmentAgreement >= 0.9)
    }

    /// A particle split along a crack none of whose voxels crosses the crack threshold (1.3
    /// voxels wide, blurred by σ 1.2 voxels: its floor stays near 0.57 of the solid) still has
    /// crack voxels: the split search's surface, the darker voxel of each face darker than
    /// halfway to the threshold. They lie on the crack plane (within 1.5 voxels), form one crack
    /// and about cover the plane's judged disc (π·12² ≈ 450 voxels), and the particle is severe
    /// with two fragments — a particles table that says "2 fragments, no crack" would contradict
    /// itself. Without the crack: no crack voxels, one fragment. At crack level 0.3 every crack
    /// voxel is darker than halfway between the solid and that threshold.
    @Test func splitSurfacesAreCrackVoxels() throws {
        let normal = SIMD3(0.3, 0.5, 0.81)
        let unit = normal / (normal * normal).sum().squareRoot()
        var settings = CrackSettings()
        settings.voidGrey = 0
        settings.surfaceMarginVoxels = 2
        func analyse(width: Double) throws -> (ParticleDamage, Grid<UInt8>) {
            let (grey, _) = SeparatingSurfacesTests.particle(width: width, normal: normal)
            let n = grey.shape[0], centre = Double(n - 1) / 2
            let labels = Grid<Int32>(shape: grey.shape) { i in
                let p = SIMD3(Double(i / (n * n)), Double(i / n % n), Double(i % n)) - centre
                return (p * p).sum() <= 14 * 14 ? 1 : 0
            }
            let (damage, cracks, _) = try CrackAnalysis.analyse(grey: grey, particles: labels, settings: settings)
            return (try #require(damage.first), cracks)
        }
        let (split, cracks) = try analyse(width: 1.3)
        let n = cracks.shape[0], centre = Double(n - 1) / 2
        var offPlane = 0
        for i in 0..<cracks.count where cracks[linear: i] == 1 {
            let p = SIMD3(Double(i / (n * n)), Double(i / n % n), Double(i % n)) - centre
            if abs((p * unit).sum() - 0.3) > 1.5 { offPlane += 1 }
        }
        print("split by a blurred 1.3-voxel crack: \(split.fragments) fragments, \(split.crackVoxels) crack voxels (\(offPlane) off the plane), \(split.cracks) crack, class \(split.damageClass)")
        #expect(split.fragments == 2 && split.damageClass == "severe")
        #expect(split.crackVoxels >= 300 && split.crackVoxels <= 700 && offPlane == 0 && split.cracks == 1)
        let (whole, _) = try analyse(width: 0)
        #expect(whole.fragments == 1 && whole.crackVoxels == 0)
        // At another crack level the marked voxels are still those darker than halfway between
        // the solid and that level's threshold.
        settings.level = 0.3
        let (grey, _) = SeparatingSurfacesTests.particle(width: 1.3, normal: normal)
        let (lowLevel, lowCracks) = try analyse(width: 1.3)
        let halfway = lowLevel.solidGrey - (1 - settings.level) / 2 * lowLevel.solidGrey
        let marked = (0..<lowCracks.count).filter { lowCracks[linear: $0] == 1 }
        #expect(lowLevel.fragments == 2 && !marked.isEmpty && marked.allSatisfy { Double(grey[linear: $0]) < halfway })
    }

    /// A fragment is the whole piece of the particle, its unjudged surface shell included: a
    /// 5 × 5 × 20 rod cut by a 2-voxel void crack near one end leaves a piece of 5 × 5 × 2 = 50
    /// voxels whose judged core (inside a one-voxel margin) is only 9 — below the 27-voxel
    /// minimum. The pieces grow back into the shell: 2 fragments of 400 and 50 voxels, as the
    /// phantom's truth counts them. Without the margin the same.
    @Test func fragmentsIncludeTheirSurfaceShell() throws {
        let (nz, ny, nx) = (9, 9, 24)
        let labels = Grid<Int32>(shape: Shape(nz, ny, nx)) { i in
            (2..<7).contains(i / (ny * nx)) && (2..<7).contains(i / nx % ny) && (2..<22).contains(i % nx) ? 1 : 0
        }
        let grey = Grid<Float>(shape: labels.shape) { i in
            let x = i % nx
            return labels[linear: i] == 1 && !(18...19).contains(x) ? 1 : 0
        }
        for margin in [1.0, 0] {
            var settings = CrackSettings()
            settings.voidGrey = 0
            settings.surfaceMarginVoxels = margin
            settings.splitSurfaceDeficit = nil
            settings.splitSurfaceWidth = nil
            let d = try #require(try CrackAnalysis.analyse(grey: grey, particles: labels, map: grey, settings: settings).damage.first)
            #expect(d.fragments == 2 && d.fragmentValues.map(\.voxels).sorted() == [50, 400], "margin \(margin): \(d.fragments) fragments, \(d.fragmentValues.map(\.voxels))")
        }
    }

    /// A void crack 2.2 voxels wide across a slab-shaped particle 40 voxels thick, blurred
    /// across the crack by a Gaussian of σ 1.5 voxels (a reconstruction's resolution): one plane
    /// stays below the half-contrast threshold (voxel fraction 1/32 of the 32 judged planes,
    /// mild), but the grey deficit is conserved — the deficit crack fraction reads the design's
    /// 2.2 / 32 = 0.069 within 10 %, and the particle is severe (≥ 0.05) by it. Without the
    /// crack the deficit is ~0 (the edge blur reaches 0.0001 past the 4-voxel margin) and the
    /// particle intact.
    @Test func deficitCrackFractionSurvivesBlur() throws {
        let (nz, ny, nx) = (48, 12, 12)
        let labels = Grid<Int32>(shape: Shape(nz, ny, nx)) { i in (4..<44).contains(i / (ny * nx)) ? 1 : 0 }
        func grey(crack: Bool) -> Grid<Float> {
            // Each plane's solid fraction (the crack spans z 18.9…21.1), then a Gaussian along z.
            let solid = (0..<nz).map { z -> Double in
                guard (4..<44).contains(z) else { return 0 }
                let covered = crack ? Swift.max(0, Swift.min(Double(z) + 0.5, 21.1) - Swift.max(Double(z) - 0.5, 18.9)) : 0
                return 1 - covered
            }
            let blurred = (0..<nz).map { z in
                var (sum, weights) = (0.0, 0.0)
                for d in -6...6 {
                    let w = exp(-Double(d * d) / (2 * 1.5 * 1.5))
                    sum += w * (z + d >= 0 && z + d < nz ? solid[z + d] : 0); weights += w
                }
                return Float(sum / weights)
            }
            return Grid<Float>(shape: labels.shape) { i in blurred[i / (ny * nx)] }
        }
        var settings = CrackSettings()
        settings.voidGrey = 0
        settings.surfaceMarginVoxels = 4
        settings.splitSurfaceDeficit = nil
        settings.splitSurfaceWidth = nil
        let cracked = try #require(try CrackAnalysis.analyse(grey: grey(crack: true), particles: labels, settings: settings).damage.first)
        let intact = try #require(try CrackAnalysis.analyse(grey: grey(crack: false), particles: labels, settings: settings).damage.first)
        print(String(format: "blurred 2.2-voxel crack: voxel fraction %.4f, deficit fraction %.4f, class %@; intact: deficit %.4f, class %@",
                     cracked.crackFraction, cracked.deficitCrackFraction, cracked.damageClass, intact.deficitCrackFraction, intact.damageClass))
        #expect(abs(cracked.deficitCrackFraction - 2.2 / 32) <= 0.1 * 2.2 / 32)
        #expect(cracked.crackVoxels > 0 && cracked.crackFraction < settings.severeCrackFraction)
        #expect(cracked.damageClass == "severe")
        #expect(abs(intact.deficitCrackFraction) < 0.001 && intact.damageClass == "least")
    }

    /// When binder fills the space between the particles, the median outside them is not void:
    /// the analysis stops and asks for the void grey instead of calling particle grey crack;
    /// given, it runs.
    @Test func binderBetweenParticlesIsNotTakenForVoid() throws {
        let phantom = try Self.phantom(depth: 32)
        let binderLevel = Float(0.8) * (phantom.attenuation.elements.max() ?? 1)
        // Every voxel outside the particles becomes dense binder, except a thin dark layer.
        let grey = Grid<Float>(shape: phantom.attenuation.shape) { i in
            phantom.particleIDs[linear: i] > 0 ? phantom.attenuation[linear: i] : (i % 50 == 0 ? 0 : binderLevel)
        }
        #expect(throws: LensError.self) { _ = try CrackAnalysis.analyse(grey: grey, particles: phantom.particleIDs) }
        var settings = CrackSettings()
        settings.voidGrey = 0
        #expect(try CrackAnalysis.analyse(grey: grey, particles: phantom.particleIDs, settings: settings).voidGrey == 0)
    }

    /// The phantom series builds in that larger and less dense particles crack first (onset
    /// falls with (d/median)^1.5 and with density). After 30 cycles (the last state), the
    /// statistics of the measured damage recover both: the logistic slope on size is positive,
    /// the slope on grey (density) negative, each significant at p < 0.05, and the proportion
    /// cracked rises from the smallest to the largest size bin.
    @Test func crackingStatisticsRecoverTheBuiltInDependence() throws {
        var p = ElectrodeParameters()
        p.shape = [64, 96, 96]
        p.medianParticleDiameterMicrometres = 6
        p.crackProbability = 0.6
        p.seed = 21
        let designs = CyclingSeries.designs(pristine: try ElectrodeDesign.generate(p), states: CyclingState.tomo00to04, seed: 21)
        let last = try ElectrodePhantom.rasterize(designs[4])
        let (damage, _, _) = try CrackAnalysis.analyse(grey: last.attenuation, particles: last.particleIDs)
        let statistics = try CrackingStatistics.of(damage, voxelSizeMicrometres: p.voxelSizeMicrometres)
        let fit = try #require(statistics.fit)
        let (size, grey) = (fit.coefficients[0], fit.coefficients[1])
        print(String(format: "cracking statistics: %d of %d cracked; size slope %.3f/sd (p %.2g), grey slope %.3f/sd (p %.2g); by size %@",
                     statistics.cracked, statistics.particles, size.perStandardDeviation, size.pValue, grey.perStandardDeviation, grey.pValue,
                     statistics.sizeBins.map { String(format: "%.2f", $0.cracked.proportion) }.joined(separator: " ")))
        #expect(statistics.sizeUnit == "µm")
        #expect(fit.converged)
        #expect(size.perUnit > 0 && size.pValue < 0.05)
        #expect(grey.perUnit < 0 && grey.pValue < 0.05)
        #expect(statistics.sizeBins.last!.cracked.proportion > statistics.sizeBins.first!.cracked.proportion)
        // Without a voxel size, sizes are voxels.
        #expect(try CrackingStatistics.of(damage, voxelSizeMicrometres: nil).sizeUnit == "voxel")
    }

    /// Particles cut by the volume's faces or reaching outside a declared field of view are
    /// flagged, and the statistics leave them out where they would mislead: three balls of
    /// radius 4 in a 24 × 40 × 40 volume — one in the middle, one cut by the z = 0 face (inside
    /// the reconstruction circle), one near a corner of the slice (clear of the faces, its far
    /// side 23 voxels from the axis, past the circle's radius of 20).
    @Test func particlesCutByTheFacesOrOutsideTheFieldOfViewAreFlagged() throws {
        let shape = Shape(24, 40, 40)
        let centres: [(Double, Double, Double)] = [(12, 19.5, 19.5), (2, 19.5, 19.5), (12, 6, 6)]
        let labels = Grid<Int32>(shape: shape) { i in
            let (z, y, x) = (Double(i / 1600), Double((i / 40) % 40), Double(i % 40))
            for (k, c) in centres.enumerated() where (z - c.0) * (z - c.0) + (y - c.1) * (y - c.1) + (x - c.2) * (x - c.2) <= 16 { return Int32(k + 1) }
            return 0
        }
        let grey = Grid<Float>(shape: shape) { i in labels[linear: i] > 0 ? 1 : 0 }
        var settings = CrackSettings()
        settings.voidGrey = 0
        let grid = try CrackAnalysis.analyse(grey: grey, particles: labels, settings: settings).damage
        #expect(grid.map(\.cutByVolumeFace) == [false, true, false])
        #expect(grid.map(\.outsideFieldOfView) == [false, false, false])
        settings.fieldOfView = .circle
        let circle = try CrackAnalysis.analyse(grey: grey, particles: labels, settings: settings).damage
        #expect(circle.map(\.cutByVolumeFace) == [false, true, false])
        #expect(circle.map(\.outsideFieldOfView) == [false, false, true])
        #expect(circle.map(\.whole) == [true, false, false])
        // The premise: of the three, only the corner ball has voxels outside the circle.
        let reconstructionCircle = ReconstructionCircle(sliceOf: shape)
        let outside = (0..<labels.count).filter { !reconstructionCircle.contains(y: ($0 / 40) % 40, x: $0 % 40) }.map { labels[linear: $0] }
        #expect(Set(outside.filter { $0 > 0 }) == [3])

        let byGrid = try CrackingStatistics.of(grid, voxelSizeMicrometres: nil)
        #expect(byGrid.particles == 3 && byGrid.wholeParticles == 2 && byGrid.outsideFieldOfView == 0)
        #expect(byGrid.sizeBins.reduce(0) { $0 + $1.cracked.trials } == 2)
        #expect(byGrid.greyBins.reduce(0) { $0 + $1.cracked.trials } == 3)
        let byCircle = try CrackingStatistics.of(circle, voxelSizeMicrometres: nil)
        #expect(byCircle.particles == 2 && byCircle.wholeParticles == 1 && byCircle.outsideFieldOfView == 1)
        #expect(byCircle.sizeBins.reduce(0) { $0 + $1.cracked.trials } == 1)
        #expect(byCircle.depthRegions.reduce(0) { $0 + $1.severe.trials } == 2)
    }
}
