import Foundation
import LensCore
import Phantoms
import Signal
import Spectroscopy
import Testing

/// Alignment, PCA, k-means and per-label statistics on simulated stacks with known truth.
@Suite struct StackAnalysisTests {
    static func scene(size: Int, shifts: Double = 0, magnification: Double = 0, photons: Double? = 1e5) throws
        -> (intensity: Grid<Float>, flat: Grid<Float>, soc: Grid<Float>, thickness: Grid<Float>, truth: XANESTruth) {
        let scene = try SpectralScenes.stateOfCharge(size: size, rank: 2, seed: 3)
        var p = XANESParameters()
        p.incidentPhotons = photons
        p.shiftSigmaPixels = shifts
        p.magnificationChange = magnification
        p.seed = 11
        let s = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p)
        return (s.intensity, s.flat, scene.stateOfCharge, scene.thickness, s.truth)
    }

    static func transmission(_ i: Grid<Float>, _ f: Grid<Float>) -> Grid<Float> {
        Grid(shape: i.shape, elements: zip(i.elements, f.elements).map { $0 / $1 })
    }

    /// Random drifts of σ = 2 px per energy are recovered relative to the anchor (phase
    /// correlation + NCC refinement to 1/64 px on 64² frames with photon noise): within 0.1 px
    /// RMS registering each energy to the anchor; chained registration accumulates a random walk
    /// of the pairwise errors (~0.03 px each over up to 31 links, measured 0.17 px), so 0.25 px.
    @Test(arguments: [StackAlignmentSettings.Mode.chained, .anchor])
    func recoversDrift(mode: StackAlignmentSettings.Mode) throws {
        let s = try Self.scene(size: 64, shifts: 2)
        var settings = StackAlignmentSettings()
        settings.mode = mode
        let energies = s.truth.energiesElectronVolts
        let result = try StackAligner.align(stack: Self.transmission(s.intensity, s.flat), energies: energies, settings: settings)
        let anchor = energies.count / 2
        var squared = 0.0
        for k in energies.indices {
            for a in 0..<2 {
                let expected = s.truth.shiftsPixels[k][a] - s.truth.shiftsPixels[anchor][a]
                squared += (result.shifts[k][a] - expected) * (result.shifts[k][a] - expected)
            }
        }
        let rms = (squared / Double(2 * energies.count)).squareRoot()
        #expect(rms < (mode == .anchor ? 0.1 : 0.25), "\(mode): shift RMS error \(rms) px")
        // Cropped to the common area: every pixel of every energy is defined.
        #expect(result.aligned.elements.allSatisfy { $0.isFinite })
        let maxShift = s.truth.shiftsPixels.flatMap { $0 }.map(abs).max()!
        #expect(result.aligned.shape[1] >= 64 - 2 * Int(maxShift.rounded(.up)) - 2)
    }

    /// A 1 % magnification change across the energies is undone given its rate, then drifts are
    /// found (within 0.2 px: the phantom and the correction each resample bilinearly, and the
    /// window bias above applies); the last energy then matches the anchor better than without
    /// the correction.
    @Test func magnificationCorrection() throws {
        let s = try Self.scene(size: 64, shifts: 1, magnification: 0.01, photons: nil)
        let energies = s.truth.energiesElectronVolts
        var settings = StackAlignmentSettings()
        settings.mode = .anchor
        settings.anchorIndex = 0
        settings.magnificationPerElectronVolt = 0.01 / (energies.last! - energies[0])
        let result = try StackAligner.align(stack: Self.transmission(s.intensity, s.flat), energies: energies, settings: settings)
        var worst = 0.0
        for k in energies.indices {
            for a in 0..<2 {
                // After scaling back by m the residual shift is (shift_k)/m_k relative to the anchor's.
                let expected = s.truth.shiftsPixels[k][a] / s.truth.magnifications[k] - s.truth.shiftsPixels[0][a]
                worst = max(worst, abs(result.shifts[k][a] - expected))
            }
        }
        #expect(worst < 0.2, "largest shift error \(worst) px")
        #expect(abs(result.magnifications.last! - 1.01) < 1e-9)
        settings.magnificationPerElectronVolt = 0
        let uncorrected = try StackAligner.align(stack: Self.transmission(s.intensity, s.flat), energies: energies, settings: settings)
        #expect(result.correlations.last! > uncorrected.correlations.last!)
    }

    /// Aligning a 3D stack (energy, z, y, x) through its projections recovers (z, y, x) drifts
    /// within 0.15 px: noise-free smooth blobs filling half the field, where the Hann window of
    /// the phase correlation (the content moves under a fixed window) leaves ~0.1 px of bias.
    @Test func alignsVolumes() throws {
        let n = 40
        var random = SeededRandom(seed: 4)
        // A particle-like cluster of blobs inside the field of view, as in a TXM tomogram.
        let blobs = (0..<24).map { _ in (random.uniform() * 20 + 10, random.uniform() * 20 + 10, random.uniform() * 20 + 10, random.uniform() * 2 + 1.5) }
        // Volumes of Gaussian blobs moved by exact sub-voxel shifts (evaluated, not resampled).
        func volume(shift: [Double]) -> Grid<Float> {
            var values = [Float](repeating: 0, count: n * n * n)
            for z in 0..<n { for y in 0..<n { for x in 0..<n {
                var v = 0.0
                for (bz, by, bx, r) in blobs {
                    let dz = Double(z) - shift[0] - bz, dy = Double(y) - shift[1] - by, dx = Double(x) - shift[2] - bx
                    v += exp(-(dz * dz + dy * dy + dx * dx) / (2 * r * r))
                }
                values[(z * n + y) * n + x] = Float(v)
            } } }
            return Grid(shape: Shape(n, n, n), elements: values)
        }
        let shifts: [[Double]] = [[0.4, -1.2, 0.7], [0, 0, 0], [-1.1, 0.6, 1.3]]
        let frames = shifts.map { volume(shift: $0) }
        let stack = Grid(shape: Shape(3, n, n, n), elements: frames.flatMap(\.elements))
        var settings = StackAlignmentSettings()
        settings.mode = .anchor; settings.anchorIndex = 1
        let result = try StackAligner.align(stack: stack, energies: [8330, 8340, 8350], settings: settings)
        for k in 0..<3 { for a in 0..<3 { #expect(abs(result.shifts[k][a] - shifts[k][a]) < 0.15, "energy \(k) axis \(a): \(result.shifts[k][a]) vs \(shifts[k][a])") } }
    }

    /// PCA of a two-end-member mixture, pixels weighted by 1/σ² (squared jump-to-noise): one
    /// component carries most of the variance, and its score follows the state of charge
    /// (|r| > 0.95 over pixels with a jump over 30σ); k-means with k = 2 on the scores splits
    /// those pixels at the state-of-charge median with ≥ 90 % agreement with that split.
    @Test func pcaAndClusters() throws {
        let s = try Self.scene(size: 48)
        var settings = XANESSettings()
        settings.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
        let maps = try XANESAnalysis.analyse(intensity: s.intensity, flat: s.flat, energies: s.truth.energiesElectronVolts, settings: settings)
        let weights = maps.jumpToNoise.map { $0.isFinite ? $0 * $0 : 0 }
        let pca = try SpectralPCA(stack: maps.normalized, energies: s.truth.energiesElectronVolts, componentCount: 3, weights: weights)
        #expect(pca.explainedVarianceRatio[0] > 0.5)
        #expect(pca.explainedVarianceRatio[0] > 5 * pca.explainedVarianceRatio[1])
        let pixels = (0..<maps.mask.count).filter { maps.mask[linear: $0] == 0 && maps.jumpToNoise[linear: $0] > 30 }
        let x = pixels.map { Double(pca.scores[0][linear: $0]) }, y = pixels.map { Double(s.soc[linear: $0]) }
        let r = Statistics.correlation(x, y)
        #expect(abs(r) > 0.95, "score–SOC correlation \(r)")
        let clusters = try SpectralClusters(stack: maps.normalized, pca: pca, clusterCount: 2, weights: weights)
        #expect(clusters.pixelCounts.reduce(0, +) == maps.maskCounts[.valid])
        let median = Statistics.median(y)
        let agreeing = pixels.filter { p in (clusters.labels[linear: p] == 1) == ((s.soc[linear: p] > Float(median)) == (r > 0)) }.count
        let agreement = max(agreeing, pixels.count - agreeing)
        #expect(Double(agreement) / Double(pixels.count) >= 0.9, "cluster agreement \(agreement) of \(pixels.count)")
        // Cluster mean spectra are means of their pixels' spectra.
        let p0 = (0..<maps.mask.count).filter { clusters.labels[linear: $0] == 1 }
        let k = 30, np = maps.mask.count
        let direct = p0.reduce(0.0) { $0 + Double(maps.normalized[linear: k * np + $1]) } / Double(p0.count)
        #expect(abs(direct - clusters.meanSpectra[0][k]) < 1e-9)
    }

    /// Jacobi eigen-decomposition against a matrix with known eigenvalues.
    @Test func symmetricEigen() throws {
        // Q diag(5, 2, −1) Qᵀ with Q a rotation.
        let c = cos(0.3), s = sin(0.3)
        let q = [[c, -s, 0], [s * 0.8, c * 0.8, -0.6], [s * 0.6, c * 0.6, 0.8]]
        let d = [5.0, 2, -1]
        var m = Matrix(rows: 3, columns: 3)
        for i in 0..<3 { for j in 0..<3 { m[i, j] = (0..<3).reduce(0.0) { $0 + q[i][$1] * d[$1] * q[j][$1] } } }
        let e = try SymmetricEigen(m)
        for (a, b) in zip(e.values, d) { #expect(abs(a - b) < 1e-12) }
        let v = e.vectors[0]
        let mv = m.multiply(v)
        for i in 0..<3 { #expect(abs(mv[i] - 5 * v[i]) < 1e-12) }
    }

    /// Per-label statistics equal a direct computation from the map, and the variance splits
    /// exactly into within- and between-label parts.
    @Test func labelStatisticsEqualDirectComputation() throws {
        let n = 20
        var random = SeededRandom(seed: 8)
        let labels = Grid(shape: Shape(n, n), elements: (0..<(n * n)).map { i in Int32((i / n) / 5 * 2 + (i % n) / 10) })
        var map = Grid(shape: Shape(n, n), elements: (0..<(n * n)).map { _ in Float(8342 + random.normal()) })
        map[linear: 45] = .nan
        let stats = try LabelMapStatistics(map: map, labels: labels, mapName: "edge_energy", mapUnit: "eV", classes: [3: "severe", 5: "severe", 6: "mild"])
        #expect(stats.entries.map(\.label) == [1, 2, 3, 4, 5, 6, 7])
        var allValues = [Double]()
        for e in stats.entries {
            let values = (0..<(n * n)).filter { labels[linear: $0] == Int32(e.label) && map[linear: $0].isFinite }.map { Double(map[linear: $0]) }
            allValues += values
            #expect(e.validCount == values.count)
            #expect(abs(e.mean - Statistics.mean(values)) < 1e-9)
            #expect(abs(e.standardDeviation - Statistics.standardDeviation(values)) < 1e-9)
            #expect(abs(e.percentiles[2] - Statistics.median(values)) < 1e-9)
            #expect(e.labelClass == [3: "severe", 5: "severe", 6: "mild"][e.label])
        }
        // Per class: the labels' means taken together, and weighted by their valid pixels.
        let severe = stats.entries.filter { $0.label == 3 || $0.label == 5 }
        let summaries = stats.classSummaries
        #expect(summaries.map(\.labelClass) == ["mild", "severe"])
        #expect(summaries[1].labels == 2)
        #expect(abs(summaries[1].meanOfLabelMeans - Statistics.mean(severe.map(\.mean))) < 1e-9)
        #expect(abs(summaries[1].standardDeviationOfLabelMeans - Statistics.standardDeviation(severe.map(\.mean))) < 1e-9)
        let severeValues = (0..<(n * n)).filter { [3, 5].contains(labels[linear: $0]) && map[linear: $0].isFinite }.map { Double(map[linear: $0]) }
        #expect(abs(summaries[1].pixelWeightedMean - Statistics.mean(severeValues)) < 1e-9)
        #expect(summaries[0].standardDeviationOfLabelMeans.isNaN)
        #expect(stats.maskedPixelCount == (labels[linear: 45] != 0 ? 1 : 0))
        #expect(abs(stats.withinLabelVariance + stats.betweenLabelVariance - Statistics.variance(allValues)) < 1e-9)
        let csv = stats.table(sizeUnit: "pixels").csv
        #expect(csv.hasPrefix("label,pixels,valid_pixels,size [pixels],edge_energy_mean [eV]"))
        #expect(throws: LensError.self) { _ = try LabelMapStatistics(map: map, labels: Grid(shape: Shape(n, n + 1), repeating: 1), mapName: "e", mapUnit: "eV") }
    }

    /// Valence gradient model: a state rising outwards gives θ ≈ 180° (towards the surface), one
    /// rising inwards θ ≈ 0°, and uncorrelated noise the random share (radial index ≈ 1).
    @Test func valenceGradientAngles() throws {
        let n = 24, c = 11.5
        var random = SeededRandom(seed: 2)
        var outward = [Float](), noise = [Float](), labels = [Int32]()
        for z in 0..<n { for y in 0..<n { for x in 0..<n {
            let r = ((Double(z) - c) * (Double(z) - c) + (Double(y) - c) * (Double(y) - c) + (Double(x) - c) * (Double(x) - c)).squareRoot()
            labels.append(r <= 9 ? 1 : 0)
            outward.append(Float(8342 + 0.2 * r))
            noise.append(Float(8342 + random.normal()))
        } } }
        let shape = Shape(n, n, n)
        let radial = try ValenceGradientAnalysis(map: Grid(shape: shape, elements: outward), labels: Grid(shape: shape, elements: labels))
        #expect(radial.particles.count == 1)
        #expect(radial.particles[0].towardSurface > 0.9, "toward surface \(radial.particles[0].towardSurface)")
        #expect(radial.particles[0].radialIndex > 3)
        let inward = try ValenceGradientAnalysis(map: Grid(shape: shape, elements: outward.map { 2 * 8342 - $0 }), labels: Grid(shape: shape, elements: labels))
        #expect(inward.particles[0].towardCentre > 0.9)
        let random3 = try ValenceGradientAnalysis(map: Grid(shape: shape, elements: noise), labels: Grid(shape: shape, elements: labels))
        #expect(abs(random3.particles[0].radialIndex - 1) < 0.25, "radial index of noise \(random3.particles[0].radialIndex)")
        #expect(random3.particles[0].histogram.reduce(0, +) == random3.particles[0].count)
        #expect(random3.table().csv.hasPrefix("label,pixels_with_angle,mean_cosine"))
    }
}
