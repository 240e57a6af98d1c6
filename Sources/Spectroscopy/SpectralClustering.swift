import Foundation
import LensCore
import Signal

/// Principal component analysis of the spectra of a stack's valid pixels: the eigen-decomposition
/// of their covariance matrix (energies × energies), which equals the SVD of the centred
/// pixel-by-energy matrix (singular values² = eigenvalues × (N − 1)) at a cost linear in the
/// pixel count. Scores are the projections of each centred spectrum on the components.
///
/// Normalized spectra of thin pixels are noisier (noise / edge step): with per-pixel weights
/// w ∝ 1/σ² (the squared jump-to-noise ratio) the covariance Σw(x − m)(x − m)ᵀ/Σw sees
/// noise of one level everywhere, so the leading components are the chemistry, not the
/// noise of the thinnest pixels.
public struct SpectralPCA: Sendable {
    public var energies: [Double]
    public var meanSpectrum: [Double]
    /// Components (unit vectors over energies), by decreasing variance.
    public var components: [[Double]]
    /// Variance along each component, and its share of the total.
    public var variances: [Double], explainedVarianceRatio: [Double]
    /// Per kept component, a score map (NaN at pixels without a spectrum).
    public var scores: [Grid<Float>]

    /// Weighted moments of pixel spectra — count, total weight, weighted mean and centred
    /// scatter Σw(x − m)(x − m)ᵀ — accumulated slab by slab and merged exactly (Chan, Golub &
    /// LeVeque's pairwise update), so a stack streamed in slabs gets the PCA of the whole.
    public struct Moments: Sendable {
        public let energyCount: Int
        public private(set) var count = 0, totalWeight = 0.0
        public private(set) var mean: [Double]
        /// Upper triangle (row-major, ne × ne) of the centred weighted scatter.
        var scatter: [Double]

        public init(energyCount: Int) {
            self.energyCount = energyCount
            mean = [Double](repeating: 0, count: energyCount); scatter = [Double](repeating: 0, count: energyCount * energyCount)
        }

        /// Adds the valid pixels of `stack` ((energy, …) normalized μ, NaN at masked pixels):
        /// those with a finite spectrum and a positive weight (nil: equal weights).
        public mutating func add(stack: Grid<Float>, weights: Grid<Float>? = nil) throws {
            let ne = energyCount
            guard stack.shape[0] == ne else { throw LensError.invalidArgument("PCA: a stack of \(stack.shape[0]) images for \(ne) energies") }
            let np = stack.count / ne
            if let weights, weights.count != np { throw LensError.invalidArgument("PCA weights have \(weights.count) pixels, the stack \(np)") }
            // Each worker's moments of its pixel range (two passes over it: mean, then scatter),
            // merged in order.
            let parts: [Moments] = Parallel.sharing(stack) { s in
                SpectralPCA.withWeights(weights) { w in
                    Parallel.mapChunks(count: np, chunks: Parallel.threadCount * 4) { range in
                        var part = Moments(energyCount: ne)
                        let valid = SpectralPCA.validPixels(s, weights: w, energyCount: ne, range: range)
                        guard !valid.isEmpty else { return part }
                        let total = valid.reduce(0.0) { $0 + SpectralPCA.weight(w, $1) }
                        for k in 0..<ne {
                            var sum = 0.0
                            for p in valid { sum += SpectralPCA.weight(w, p) * Double(s[k * np + p]) }
                            part.mean[k] = sum / total
                        }
                        // Blocks of 64 pixels as the columns of √w (x − m), energy-major, so that each
                        // scatter entry gains one contiguous dot product per block (a rank-64 update).
                        let block = 64
                        var columns = [Double](repeating: 0, count: ne * block)
                        let mean = part.mean
                        part.scatter.withUnsafeMutableBufferPointer { scatter in
                            columns.withUnsafeMutableBufferPointer { x in
                                for start in stride(from: 0, to: valid.count, by: block) {
                                    let members = valid[start..<min(valid.count, start + block)]
                                    if members.count < block { x.update(repeating: 0) }
                                    for k in 0..<ne {
                                        for (b, p) in members.enumerated() {
                                            x[k * block + b] = SpectralPCA.weight(w, p).squareRoot() * (Double(s[k * np + p]) - mean[k])
                                        }
                                    }
                                    let base = x.baseAddress!
                                    for i in 0..<ne {
                                        for j in i..<ne { scatter[i * ne + j] += VectorKernel.dot(base + i * block, base + j * block, block) }
                                    }
                                }
                            }
                        }
                        part.count = valid.count; part.totalWeight = total
                        return part
                    }
                }
            }
            for part in parts { merge(part) }
        }

        /// Merges the moments of other pixels into these.
        public mutating func merge(_ other: Moments) {
            guard other.count > 0 else { return }
            guard count > 0 else { self = other; return }
            let ne = energyCount, w = totalWeight + other.totalWeight, f = other.totalWeight / w
            let delta = (0..<ne).map { other.mean[$0] - mean[$0] }
            let cross = totalWeight * other.totalWeight / w
            for i in 0..<ne {
                mean[i] += f * delta[i]
                for j in i..<ne { scatter[i * ne + j] += other.scatter[i * ne + j] + cross * delta[i] * delta[j] }
            }
            count += other.count; totalWeight = w
        }
    }

    /// A pixel's weight (1 without weights; NaN or negative weights count as 0).
    @inline(__always) static func weight(_ weights: SharedReadBuffer<Float>?, _ p: Int) -> Double {
        guard let weights else { return 1 }
        let w = Double(weights[p])
        return w.isFinite && w > 0 ? w : 0
    }

    /// `body` with the weights' buffer (nil without weights).
    static func withWeights<R>(_ weights: Grid<Float>?, _ body: (SharedReadBuffer<Float>?) throws -> R) rethrows -> R {
        guard let weights else { return try body(nil) }
        return try Parallel.sharing(weights) { try body($0) }
    }

    /// The pixels of `range` with a positive weight and a finite value at every energy (read
    /// energy by energy: contiguous).
    static func validPixels(_ s: SharedReadBuffer<Float>, weights: SharedReadBuffer<Float>?, energyCount ne: Int, range: Range<Int>) -> [Int] {
        let np = s.count / ne
        var ok = range.map { weight(weights, $0) > 0 }
        for k in 0..<ne { for (i, p) in range.enumerated() where !s[k * np + p].isFinite { ok[i] = false } }
        return range.indices.filter { ok[$0 - range.lowerBound] }
    }

    /// The components of accumulated moments, without score maps (see ``scores(of:weights:)``).
    public init(moments: Moments, energies: [Double], componentCount: Int = 4) throws {
        let ne = moments.energyCount
        guard ne == energies.count else { throw LensError.invalidArgument("PCA: \(energies.count) energies for spectra of \(ne)") }
        guard moments.count > ne else { throw LensError.invalidArgument("PCA needs more valid pixels (\(moments.count)) than energies (\(ne))") }
        // Weighted sample covariance (equal weights: the usual N − 1 denominator).
        let denominator = moments.totalWeight * Double(moments.count - 1) / Double(moments.count)
        var covariance = Matrix(rows: ne, columns: ne)
        for i in 0..<ne {
            for j in i..<ne { covariance.values[i * ne + j] = moments.scatter[i * ne + j] / denominator; covariance.values[j * ne + i] = covariance.values[i * ne + j] }
        }
        let eigen = try SymmetricEigen(covariance)
        let variances = eigen.values.map { max(0, $0) }
        let total = variances.reduce(0, +)
        // Sign convention: each component's largest-magnitude entry is positive (stable output).
        let components = eigen.vectors.map { v -> [Double] in
            let big = v.indices.max { abs(v[$0]) < abs(v[$1]) }!
            return v[big] < 0 ? v.map { -$0 } : v
        }
        self.energies = energies; meanSpectrum = moments.mean; self.components = components
        self.variances = variances; explainedVarianceRatio = variances.map { total > 0 ? $0 / total : 0 }
        self.componentCount = min(componentCount, ne)
        scores = []
    }

    /// How many score maps ``scores(of:weights:)`` makes.
    public let componentCount: Int

    /// Score maps of the first `componentCount` components for the spectra of `stack` (a slab
    /// of the stack the moments came from, or all of it): the projections of each centred
    /// spectrum, NaN at pixels without a finite spectrum or a positive weight.
    public func scores(of stack: Grid<Float>, weights: Grid<Float>? = nil) -> [Grid<Float>] {
        let ne = energies.count, np = stack.count / ne, kept = componentCount
        var values = [Float](repeating: .nan, count: kept * np)
        let flatComponents = components.prefix(kept).flatMap { $0 }
        // Each worker owns its pixels' scores in every component.
        Parallel.withDisjointWrites(&values) { out in
            Parallel.sharing(stack) { s in
                SpectralPCA.withWeights(weights) { w in
                    Parallel.forEachChunk(count: np, minimumChunk: 1024) { range in
                        let valid = SpectralPCA.validPixels(s, weights: w, energyCount: ne, range: range)
                        // Σ_k (x_k − m_k) v_ck accumulated energy by energy (contiguous reads).
                        var dots = [Double](repeating: 0, count: kept * valid.count)
                        for k in 0..<ne {
                            for c in 0..<kept {
                                let v = flatComponents[c * ne + k], m = meanSpectrum[k]
                                for (i, p) in valid.enumerated() { dots[c * valid.count + i] += (Double(s[k * np + p]) - m) * v }
                            }
                        }
                        for c in 0..<kept { for (i, p) in valid.enumerated() { out[c * np + p] = Float(dots[c * valid.count + i]) } }
                    }
                }
            }
        }
        let frame = Shape(Array(stack.shape.dims.dropFirst()))
        return (0..<kept).map { Grid(shape: frame, geometry: stack.geometry.sliceGeometry, elements: Array(values[($0 * np)..<(($0 + 1) * np)])) }
    }

    /// - Parameters:
    ///   - stack: (energy, …) normalized μ, NaN at masked pixels (``XANESMaps/normalized``).
    ///   - componentCount: how many score maps to keep (all components' variances are kept).
    ///   - weights: per-pixel weights (frame shape), nil for equal weights.
    public init(stack: Grid<Float>, energies: [Double], componentCount: Int = 4, weights: Grid<Float>? = nil) throws {
        guard stack.shape[0] == energies.count else { throw LensError.invalidArgument("PCA: \(energies.count) energies for a stack of \(stack.shape[0]) images") }
        var moments = Moments(energyCount: energies.count)
        try moments.add(stack: stack, weights: weights)
        try self.init(moments: moments, energies: energies, componentCount: componentCount)
        scores = scores(of: stack, weights: weights)
    }
}

/// k-means clustering of pixel spectra on their first principal-component scores (Lloyd's
/// algorithm from k-means++ seeds, several seeded restarts, the lowest within-cluster sum of
/// squares kept), with each cluster's mean normalized spectrum — the "phase map" step of
/// TXM-XANES work. With weights (as for the PCA: 1/σ² per pixel) the centres are weighted
/// means and the sum of squares is weighted, so the noisy spectra of thin pixels are assigned
/// to the nearest centre without pulling the centres apart.
public struct SpectralClusters: Sendable {
    /// Cluster per pixel: 1…k, 0 where the pixel has no spectrum.
    public var labels: Grid<Int32>
    /// Mean normalized μ of each cluster on the stack energies.
    public var meanSpectra: [[Double]]
    public var pixelCounts: [Int]
    /// Within-cluster (weighted) sum of squared distances in score space.
    public var inertia: Double

    /// - Parameters:
    ///   - stack: normalized μ (energy, …) with NaN at masked pixels.
    ///   - pca: its PCA; the first `componentCount` score maps are clustered.
    public init(stack: Grid<Float>, pca: SpectralPCA, clusterCount k: Int, componentCount: Int = 3, weights: Grid<Float>? = nil,
                restarts: Int = 8, maximumIterations: Int = 300, seed: UInt64 = 1) throws {
        try self.init(scores: pca.scores, clusterCount: k, componentCount: componentCount, weights: weights, restarts: restarts,
                      maximumIterations: maximumIterations, seed: seed)
        var sums = SpectrumSums(clusterCount: k, energyCount: stack.shape[0])
        try sums.add(stack: stack, labels: labels)
        meanSpectra = sums.means
    }

    /// Per-cluster sums of normalized spectra, accumulated slab by slab (each slab with its
    /// slab of the cluster labels): the cluster mean spectra of a stack streamed in slabs.
    public struct SpectrumSums: Sendable {
        public private(set) var sums: [[Double]], counts: [Int]
        public init(clusterCount: Int, energyCount: Int) {
            sums = [[Double]](repeating: [Double](repeating: 0, count: energyCount), count: clusterCount)
            counts = [Int](repeating: 0, count: clusterCount)
        }
        public mutating func add(stack: Grid<Float>, labels: Grid<Int32>) throws {
            let ne = stack.shape[0], np = stack.count / ne
            guard labels.count == np, ne == sums.first?.count ?? ne else {
                throw LensError.invalidArgument("cluster spectra: labels of \(labels.count) pixels for a stack of \(np) pixels × \(ne) energies")
            }
            stack.withUnsafeBufferPointer { s in
                labels.withUnsafeBufferPointer { l in
                    for p in 0..<np where l[p] > 0 && Int(l[p]) <= sums.count {
                        let c = Int(l[p]) - 1
                        for e in 0..<ne { sums[c][e] += Double(s[e * np + p]) }
                        counts[c] += 1
                    }
                }
            }
        }
        /// Mean spectrum per cluster (zeros for an empty cluster).
        public var means: [[Double]] { zip(sums, counts).map { sum, n in n > 0 ? sum.map { $0 / Double(n) } : sum } }
    }

    /// Clusters the first `componentCount` score maps (pixels with a finite first score);
    /// `meanSpectra` is left empty — fill it from the stack with ``SpectrumSums``.
    public init(scores: [Grid<Float>], clusterCount k: Int, componentCount: Int = 3, weights: Grid<Float>? = nil,
                restarts: Int = 8, maximumIterations: Int = 300, seed: UInt64 = 1) throws {
        let dims = min(componentCount, scores.count)
        guard k >= 1, dims >= 1 else { throw LensError.invalidArgument("k-means needs k ≥ 1 and at least one component, got k = \(k), \(dims) components") }
        let np = scores[0].count
        let points = (0..<np).filter { p in scores[0][linear: p].isFinite }
        guard points.count >= k else { throw LensError.invalidArgument("k-means: \(points.count) pixels with spectra for \(k) clusters") }
        var x = [Double](repeating: 0, count: points.count * dims)
        for (i, p) in points.enumerated() { for d in 0..<dims { x[i * dims + d] = Double(scores[d][linear: p]) } }
        let n = points.count
        let w = points.map { p in weights.map { v in Double(v[linear: p]).isFinite ? max(0, Double(v[linear: p])) : 0 } ?? 1 }
        guard w.contains(where: { $0 > 0 }) else { throw LensError.numerical("k-means: every pixel has zero weight") }
        func distance2(_ i: Int, _ c: [Double], _ j: Int) -> Double {
            var s = 0.0
            for d in 0..<dims { let t = x[i * dims + d] - c[j * dims + d]; s += t * t }
            return s
        }
        var best: (assignment: [Int], inertia: Double)?
        var random = SeededRandom(seed: seed)
        for _ in 0..<max(1, restarts) {
            // k-means++ seeding: each next centre drawn with probability ∝ squared distance.
            var centres = [Double](repeating: 0, count: k * dims)
            // The first centre drawn ∝ weight, the others ∝ weight × squared distance.
            var firstTarget = random.uniform() * w.reduce(0, +), first = n - 1
            for i in 0..<n { firstTarget -= w[i]; if firstTarget <= 0 && w[i] > 0 { first = i; break } }
            for d in 0..<dims { centres[d] = x[first * dims + d] }
            var nearest = (0..<n).map { distance2($0, centres, 0) }
            for j in 1..<k {
                let total = zip(nearest, w).reduce(0) { $0 + $1.0 * $1.1 }
                var target = random.uniform() * total, chosen = n - 1
                for i in 0..<n { target -= nearest[i] * w[i]; if target <= 0 && w[i] > 0 { chosen = i; break } }
                for d in 0..<dims { centres[j * dims + d] = x[chosen * dims + d] }
                for i in 0..<n { nearest[i] = min(nearest[i], distance2(i, centres, j)) }
            }
            var assignment = [Int](repeating: -1, count: n)
            var inertia = 0.0
            let points = x, pointWeights = w
            for _ in 0..<maximumIterations {
                // Lloyd step in parallel: each worker assigns its points and sums them per
                // cluster; the parts are merged in chunk order (the same result on any run).
                let current = centres
                // Each worker owns its points' assignments.
                let parts = Parallel.withDisjointWrites(&assignment) { a in
                    Parallel.mapChunks(count: n, chunks: Parallel.threadCount * 4) { range in
                        var changed = false, inertia = 0.0
                        var sums = [Double](repeating: 0, count: k * dims), totals = [Double](repeating: 0, count: k)
                        for i in range {
                            var (bestJ, bestD) = (0, Double.infinity)
                            for j in 0..<k {
                                var d2 = 0.0
                                for d in 0..<dims { let t = points[i * dims + d] - current[j * dims + d]; d2 += t * t }
                                if d2 < bestD { (bestJ, bestD) = (j, d2) }
                            }
                            if a[i] != bestJ { a[i] = bestJ; changed = true }
                            inertia += pointWeights[i] * bestD
                            totals[bestJ] += pointWeights[i]
                            for d in 0..<dims { sums[bestJ * dims + d] += pointWeights[i] * points[i * dims + d] }
                        }
                        return (changed: changed, inertia: inertia, sums: sums, totals: totals)
                    }
                }
                inertia = parts.reduce(0) { $0 + $1.inertia }
                guard parts.contains(where: \.changed) else { break }
                var sums = [Double](repeating: 0, count: k * dims), totals = [Double](repeating: 0, count: k)
                for part in parts {
                    for j in 0..<k { totals[j] += part.totals[j] }
                    for e in 0..<(k * dims) { sums[e] += part.sums[e] }
                }
                for j in 0..<k where totals[j] > 0 { for d in 0..<dims { centres[j * dims + d] = sums[j * dims + d] / totals[j] } }
            }
            if best == nil || inertia < best!.inertia { best = (assignment, inertia) }
        }
        // Clusters numbered by decreasing mean of the first score (stable across runs).
        let assignment = best!.assignment
        var scoreSums = [Double](repeating: 0, count: k), counts = [Int](repeating: 0, count: k)
        for i in 0..<n { scoreSums[assignment[i]] += x[i * dims]; counts[assignment[i]] += 1 }
        let order = (0..<k).sorted { scoreSums[$0] / Double(max(1, counts[$0])) > scoreSums[$1] / Double(max(1, counts[$1])) }
        var rank = [Int](repeating: 0, count: k)
        for (r, j) in order.enumerated() { rank[j] = r }
        var labelValues = [Int32](repeating: 0, count: np)
        for (i, p) in points.enumerated() { labelValues[p] = Int32(rank[assignment[i]] + 1) }
        labels = Grid(shape: scores[0].shape, geometry: scores[0].geometry, elements: labelValues)
        meanSpectra = []; pixelCounts = order.map { counts[$0] }; inertia = best!.inertia
    }
}
