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

    /// - Parameters:
    ///   - stack: (energy, …) normalized μ, NaN at masked pixels (``XANESMaps/normalized``).
    ///   - componentCount: how many score maps to keep (all components' variances are kept).
    ///   - weights: per-pixel weights (frame shape), nil for equal weights.
    public init(stack: Grid<Float>, energies: [Double], componentCount: Int = 4, weights: Grid<Float>? = nil) throws {
        let ne = stack.shape[0]
        guard ne == energies.count else { throw LensError.invalidArgument("PCA: \(energies.count) energies for a stack of \(ne) images") }
        let np = stack.count / ne
        if let weights, weights.count != np { throw LensError.invalidArgument("PCA weights have \(weights.count) pixels, the stack \(np)") }
        let weight: (Int) -> Double = { p in weights.map { Double($0[linear: p]) } ?? 1 }
        let valid = stack.withUnsafeBufferPointer { s in (0..<np).filter { p in weight(p) > 0 && weight(p).isFinite && (0..<ne).allSatisfy { s[$0 * np + p].isFinite } } }
        guard valid.count > ne else { throw LensError.invalidArgument("PCA needs more valid pixels (\(valid.count)) than energies (\(ne))") }
        var mean = [Double](repeating: 0, count: ne)
        var covariance = Matrix(rows: ne, columns: ne)
        let totalWeight = valid.reduce(0.0) { $0 + weight($1) }
        stack.withUnsafeBufferPointer { s in
            for k in 0..<ne { mean[k] = valid.reduce(0.0) { $0 + weight($1) * Double(s[k * np + $1]) } / totalWeight }
            // Upper triangle of Σ w (x − m)(x − m)ᵀ, one pixel's spectrum at a time.
            var centred = [Double](repeating: 0, count: ne)
            for p in valid {
                let w = weight(p)
                for k in 0..<ne { centred[k] = Double(s[k * np + p]) - mean[k] }
                for i in 0..<ne { let ci = w * centred[i]; for j in i..<ne { covariance.values[i * ne + j] += ci * centred[j] } }
            }
        }
        // Weighted sample covariance (equal weights: the usual N − 1 denominator).
        let denominator = totalWeight * Double(valid.count - 1) / Double(valid.count)
        for i in 0..<ne { for j in i..<ne { covariance.values[i * ne + j] /= denominator; covariance.values[j * ne + i] = covariance.values[i * ne + j] } }
        let eigen = try SymmetricEigen(covariance)
        let variances = eigen.values.map { max(0, $0) }
        let total = variances.reduce(0, +)
        let kept = min(componentCount, ne)
        // Sign convention: each component's largest-magnitude entry is positive (stable output).
        let components = eigen.vectors.map { v -> [Double] in
            let big = v.indices.max { abs(v[$0]) < abs(v[$1]) }!
            return v[big] < 0 ? v.map { -$0 } : v
        }
        var scoreValues = [[Float]](repeating: [Float](repeating: .nan, count: np), count: kept)
        stack.withUnsafeBufferPointer { s in
            for p in valid {
                for c in 0..<kept {
                    var dot = 0.0
                    for k in 0..<ne { dot += (Double(s[k * np + p]) - mean[k]) * components[c][k] }
                    scoreValues[c][p] = Float(dot)
                }
            }
        }
        let frame = Shape(Array(stack.shape.dims.dropFirst()))
        self.energies = energies; meanSpectrum = mean; self.components = components
        self.variances = variances; explainedVarianceRatio = variances.map { total > 0 ? $0 / total : 0 }
        scores = scoreValues.map { Grid(shape: frame, geometry: stack.geometry.sliceGeometry, elements: $0) }
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
        let dims = min(componentCount, pca.scores.count)
        guard k >= 1, dims >= 1 else { throw LensError.invalidArgument("k-means needs k ≥ 1 and at least one component, got k = \(k), \(dims) components") }
        let ne = stack.shape[0], np = stack.count / ne
        let points = (0..<np).filter { p in pca.scores[0][linear: p].isFinite }
        guard points.count >= k else { throw LensError.invalidArgument("k-means: \(points.count) pixels with spectra for \(k) clusters") }
        var x = [Double](repeating: 0, count: points.count * dims)
        for (i, p) in points.enumerated() { for d in 0..<dims { x[i * dims + d] = Double(pca.scores[d][linear: p]) } }
        let n = points.count
        let w = points.map { p in weights.map { v in Double(v[linear: p]).isFinite ? max(0, Double(v[linear: p])) : 0 } ?? 1 }
        guard w.contains(where: { $0 > 0 }) else { throw LensError.invalidArgument("k-means: every pixel has zero weight") }
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
            for _ in 0..<maximumIterations {
                var changed = false
                inertia = 0
                for i in 0..<n {
                    var (bestJ, bestD) = (0, Double.infinity)
                    for j in 0..<k { let d = distance2(i, centres, j); if d < bestD { (bestJ, bestD) = (j, d) } }
                    if assignment[i] != bestJ { assignment[i] = bestJ; changed = true }
                    inertia += w[i] * bestD
                }
                if !changed { break }
                var sums = [Double](repeating: 0, count: k * dims), totals = [Double](repeating: 0, count: k)
                for i in 0..<n { totals[assignment[i]] += w[i]; for d in 0..<dims { sums[assignment[i] * dims + d] += w[i] * x[i * dims + d] } }
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
        var spectra = [[Double]](repeating: [Double](repeating: 0, count: ne), count: k)
        stack.withUnsafeBufferPointer { s in
            for (i, p) in points.enumerated() {
                let c = rank[assignment[i]]
                labelValues[p] = Int32(c + 1)
                for e in 0..<ne { spectra[c][e] += Double(s[e * np + p]) }
            }
        }
        let sortedCounts = order.map { counts[$0] }
        for c in 0..<k where sortedCounts[c] > 0 { spectra[c] = spectra[c].map { $0 / Double(sortedCounts[c]) } }
        labels = Grid(shape: Shape(Array(stack.shape.dims.dropFirst())), geometry: stack.geometry.sliceGeometry, elements: labelValues)
        meanSpectra = spectra; pixelCounts = sortedCounts; inertia = best!.inertia
    }
}
