import Foundation
import ImageAnalysis
import LensCore
import Signal

/// Representative volume element analysis (Kanit et al. 2003; Harris & Chiu 2015 for
/// battery electrodes): a statistic is measured in cubic sub-volumes of growing edge at random
/// positions; the representative size is the smallest edge at which the sub-volumes agree:
/// their coefficient of variation is below `tolerance` and their mean is within `tolerance`
/// (relative) of the whole field of view's value. Sizes go up to half the smallest edge of the
/// field of view (larger random sub-volumes overlap so much that their spread means nothing);
/// the field of view is judged representative when the criterion is met within that range.
public struct RepresentativeVolume: Sendable, Codable {
    public struct Step: Sendable, Codable {
        public var edgeVoxels: Int
        public var edgeMicrometres: Double
        public var mean: Double, standardDeviation: Double
        public var coefficientOfVariation: Double
        public var converged: Bool
    }
    public var statistic: String
    public var wholeValue: Double
    public var tolerance: Double
    public var steps: [Step]
    /// Edge (voxels) at which the criterion is first met and stays met; nil when never.
    public var representativeEdgeVoxels: Int?
    public var isRepresentative: Bool { representativeEdgeVoxels != nil }

    /// Volume fraction of `phase` (voxels ≠ 0) in sub-volumes of `sizes` edges (default: 8
    /// steps from 8 voxels to half the smallest edge), `samples` random positions each.
    public init(phase: Grid<UInt8>, sizes: [Int]? = nil, samples: Int = 24, tolerance: Double = 0.05, seed: UInt64 = 1) throws {
        try Morphology.requireBinary(phase, name: "the phase mask")
        let lattice = Lattice(phase)
        let dims = [lattice.nz, lattice.ny, lattice.nx].filter { $0 > 1 }
        let smallest = dims.min() ?? 1
        let largest = max(2, smallest / 2)
        var edges: [Int] = sizes ?? []
        if sizes == nil {
            let logLow = log(8.0), logHigh = log(Double(max(largest, 8)))
            for k in 0..<8 {
                let edge = Int(exp(logLow + (logHigh - logLow) * Double(k) / 7).rounded())
                if edge >= 2 && edge <= largest && edges.last != edge { edges.append(edge) }
            }
        }
        guard let maxEdge = edges.max(), maxEdge <= smallest else {
            throw LensError.invalidArgument("sub-volume edges \(edges) do not fit the field of view \(phase.shape)")
        }
        let total = phase.withUnsafeBufferPointer { $0.reduce(0) { $0 + Int($1) } }
        guard total > 0 else { throw LensError.numerical("the phase is empty: no voxel belongs to it") }
        statistic = "volume fraction"
        wholeValue = Double(total) / Double(lattice.count)
        self.tolerance = tolerance
        var random = SeededRandom(seed: seed)
        var steps: [Step] = []
        for edge in edges {
            let ez = lattice.nz > 1 ? edge : 1
            let corners = (0..<samples).map { _ in
                (Int(random.uniform() * Double(lattice.nz - ez + 1)), Int(random.uniform() * Double(lattice.ny - edge + 1)),
                 Int(random.uniform() * Double(lattice.nx - edge + 1)))
            }
            let values = Parallel.sharing(phase) { p in
                Parallel.mapChunks(count: corners.count, chunks: corners.count) { range in
                    range.map { k -> Double in
                        let (z0, y0, x0) = corners[k]
                        var count = 0
                        for z in z0..<(z0 + ez) { for y in y0..<(y0 + edge) {
                            let base = lattice.index(z, y, x0)
                            for x in 0..<edge { count += Int(p[base + x]) }
                        } }
                        return Double(count) / Double(ez * edge * edge)
                    }
                }.flatMap { $0 }
            }
            let mean = Statistics.mean(values), sd = Statistics.standardDeviation(values)
            let cv: Double = mean > 0 ? sd / mean : Double.infinity
            steps.append(Step(edgeVoxels: edge, edgeMicrometres: Double(edge) * lattice.unitMicrometres, mean: mean,
                              standardDeviation: sd, coefficientOfVariation: cv,
                              converged: cv < tolerance && abs(mean - wholeValue) / wholeValue < tolerance))
        }
        self.steps = steps
        // The first size from which every larger size also meets the criterion.
        var first: Int?
        for step in steps.reversed() { if step.converged { first = step.edgeVoxels } else { break } }
        representativeEdgeVoxels = first
    }
}
