import Foundation
import LensCore
import Signal

/// The statistics users ask of a damaged electrode (science brief §4): how the probability that
/// a particle is cracked depends on its size and on its grey value (density), as proportions in
/// equal-count bins with Wilson 95 % intervals, and as a two-predictor logistic regression with
/// Wald and likelihood-ratio significance. "Cracked" is a damage class other than least.
///
/// Particles outside the declared field of view (``ParticleDamage/outsideFieldOfView``) are left
/// out of everything. Particles cut by the volume's faces count in the totals, the grey bins and
/// the depth regions (their visible part was judged), but not where size enters — the size bins
/// and the logistic fit — since their size is that of the part inside the volume, which would
/// bias cracking against size toward small particles.
public struct CrackingStatistics: Codable, Sendable, Equatable {
    public struct Bin: Codable, Sendable, Equatable {
        public var lower: Double
        public var upper: Double
        public var cracked: BinomialProportion
    }
    /// Particles inside the field of view, and how many of them are cracked.
    public var particles: Int
    public var cracked: Int
    /// Of `particles`, those clear of the volume's faces (the size bins and the fit use these).
    public var wholeParticles: Int
    /// Particles left out because they reach outside the declared field of view.
    public var outsideFieldOfView: Int
    /// The unit of sizes ("µm" with a known voxel size, else "voxel").
    public var sizeUnit: String
    public var sizeBins: [Bin]
    public var greyBins: [Bin]
    /// Severely damaged fraction per depth region: equal-width slabs along the first axis (z,
    /// separator side first when the volume is so oriented) over the particles' centres, in
    /// voxels of z.
    public var depthRegions: [DepthRegion]
    public struct DepthRegion: Codable, Sendable, Equatable {
        public var zLowerVoxels: Double
        public var zUpperVoxels: Double
        public var severe: BinomialProportion
    }
    /// P(cracked) ~ size + grey; nil with the reason in `note` when it cannot be fitted (one
    /// outcome only, too few particles).
    public var fit: LogisticFit?
    public var note: String?

    /// - Parameters:
    ///   - damage: per-particle results of ``CrackAnalysis``.
    ///   - voxelSizeMicrometres: sizes are reported in µm when given, in voxels otherwise.
    ///   - bins: equal-count bins per predictor.
    public static func of(_ damage: [ParticleDamage], voxelSizeMicrometres: Double?, bins: Int = 4, depthRegions: Int = 3) throws -> CrackingStatistics {
        guard bins >= 1, depthRegions >= 1 else { throw LensError.invalidArgument("statistics need at least one bin and one depth region") }
        let scale = voxelSizeMicrometres ?? 1
        let seen = damage.filter { !$0.outsideFieldOfView }, whole = seen.filter(\.whole)
        func isCracked(_ d: ParticleDamage) -> Bool { d.damageClass != "least" }
        func binned(_ particles: [ParticleDamage], by value: (ParticleDamage) -> Double) -> [Bin] {
            guard !particles.isEmpty else { return [] }
            let values = particles.map(value)
            let order = values.indices.sorted { values[$0] < values[$1] }
            let count = Swift.min(bins, values.count)
            return (0..<count).map { b in
                let members = order[(b * order.count / count)..<((b + 1) * order.count / count)]
                return Bin(lower: values[members.first!], upper: values[members.last!],
                           cracked: BinomialProportion(successes: members.filter { isCracked(particles[$0]) }.count, trials: members.count))
            }
        }
        var fit: LogisticFit?, note: String?
        do {
            fit = try LogisticRegression.fit(predictors: [whole.map { $0.equivalentDiameterVoxels * scale }, whole.map(\.solidGrey)],
                                             names: ["size", "grey"], outcomes: whole.map(isCracked))
            if fit?.converged == false { note = "the outcome is (nearly) separated by the predictors: the logistic slopes are not finite estimates" }
        } catch let error as LensError {
            note = "no logistic fit on the \(whole.count) whole particles (inside the field of view, clear of the volume's faces): \(error)"
        }
        var regions = [DepthRegion]()
        if let low = seen.map({ $0.centreVoxels[0] }).min(), let high = seen.map({ $0.centreVoxels[0] }).max() {
            let width = Swift.max(high - low, 1e-9) / Double(depthRegions)
            regions = (0..<depthRegions).map { r in
                let (a, b) = (low + Double(r) * width, r == depthRegions - 1 ? high : low + Double(r + 1) * width)
                let members = seen.filter { $0.centreVoxels[0] >= a && ($0.centreVoxels[0] < b || (r == depthRegions - 1 && $0.centreVoxels[0] <= b)) }
                return DepthRegion(zLowerVoxels: a, zUpperVoxels: b,
                                   severe: BinomialProportion(successes: members.filter { $0.damageClass == "severe" }.count, trials: members.count))
            }
        }
        return CrackingStatistics(particles: seen.count, cracked: seen.filter(isCracked).count, wholeParticles: whole.count,
                                  outsideFieldOfView: damage.count - seen.count, sizeUnit: voxelSizeMicrometres == nil ? "voxel" : "µm",
                                  sizeBins: binned(whole) { $0.equivalentDiameterVoxels * scale }, greyBins: binned(seen, by: \.solidGrey),
                                  depthRegions: regions, fit: fit, note: note)
    }
}

/// How a mapped quantity (a XANES edge energy, a state of charge) varies with fragment size
/// across all fragments of all particles: Pearson's r between the fragment mean and log10 of
/// its volume, with a 95 % interval by Fisher's z-transform, and the least-squares slope per
/// decade of volume.
public struct FragmentTrend: Codable, Sendable, Equatable {
    public var fragments: Int
    public var pearsonR: Double
    public var pearsonRLower: Double
    public var pearsonRUpper: Double
    /// Change of the mean value per decade of fragment volume.
    public var slopePerDecade: Double

    /// nil with fewer than 4 fragments carrying a value.
    public static func of(_ damage: [ParticleDamage]) -> FragmentTrend? {
        let pairs = damage.flatMap(\.fragmentValues).compactMap { f in f.meanValue.map { (log10(Double(f.voxels)), $0) } }
        guard pairs.count >= 4 else { return nil }
        let (r, slope) = Statistics.pearsonAndSlope(pairs.map(\.0), pairs.map(\.1))
        guard r.isFinite else { return nil }
        let z = atanh(Swift.max(-0.999999, Swift.min(0.999999, r))), se = 1 / Double(pairs.count - 3).squareRoot()
        return FragmentTrend(fragments: pairs.count, pearsonR: r, pearsonRLower: tanh(z - 1.96 * se), pearsonRUpper: tanh(z + 1.96 * se), slopePerDecade: slope)
    }
}
