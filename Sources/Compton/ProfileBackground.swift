import Foundation
import LensCore
import Signal

/// The Compton profile as the peak model that separates the peak from the background: in the
/// impulse approximation J(p_z) is symmetric about p_z = 0 and, for a solid, the sum of a narrow
/// valence part and broad core parts. Here J is a sum of Gaussians in p_z sharing one centre
/// (a shift from the kinematic energy: an angle or gain error), each integrated exactly over
/// every energy bin's p_z interval (so the Jacobian dp_z/dE and the profile's asymmetry in
/// energy come out right).
///
/// Why a profile model and not side bands: the core profile of a transition-metal oxide is
/// still a percent of its peak at |p_z| = 7 a.u., so a background line measured beside the
/// peak counts the profile's own tails as background and subtracts too much from the core
/// window — S read +0.7 % (8σ) high on the phantom. Fitting line and profile together lets
/// the shapes tell them apart (reduced χ² ≈ 1 on the phantom's spectra).
public struct ComptonProfileModel: Codable, Sendable, Equatable {
    /// Centre of the profile in p_z (a.u.): zero when the peak sits at the kinematic energy.
    public var centrePz: Double
    /// σ (a.u.) of each Gaussian component, narrowest first.
    public var widthsPz: [Double]
    /// Counts of each component over all p_z.
    public var componentCounts: [Double]
    public init(centrePz: Double, widthsPz: [Double], componentCounts: [Double]) {
        self.centrePz = centrePz; self.widthsPz = widthsPz; self.componentCounts = componentCounts
    }

    /// The profile's counts between p_z = a and b.
    /// The profile's counts over all p_z.
    public var totalCounts: Double { componentCounts.reduce(0, +) }

    public func counts(fromPz a: Double, toPz b: Double) -> Double {
        zip(widthsPz, componentCounts).reduce(0) { total, component in
            let scale = component.0 * 2.0.squareRoot()
            return total + component.1 * 0.5 * (erf((b - centrePz) / scale) - erf((a - centrePz) / scale))
        }
    }
}

/// The background line and Compton profile fitted together to one spectrum's fit window.
public struct ComptonProfileFit: Codable, Sendable, Equatable {
    public var background: ComptonBackground
    public var profile: ComptonProfileModel
    /// Standard errors of the profile's centre (a.u.) and of its total counts.
    public var centreErrorPz: Double
    public var countsError: Double
    /// χ² per degree of freedom with Poisson weights.
    public var reducedChiSquared: Double
    public var converged: Bool
}

extension ComptonAnalysis {
    /// Number of Gaussian components of the profile model: a valence and a core part, as the
    /// S-parameter itself divides the profile.
    public static let profileComponents = 2

    /// Fits a straight background line and the Compton profile model (``ComptonProfileModel``)
    /// to the fit window of `spectrum`, weighted by Poisson σ² (the fitted model's counts, by
    /// iterative reweighting). The line (level and slope) and the component counts enter linearly and are
    /// solved by weighted least squares inside every evaluation (variable projection; a
    /// component that would come out negative is dropped); the profile's centre and widths are
    /// fitted by Levenberg–Marquardt. With `widthsPz` given (a pixel, with the widths of its
    /// region's summed spectrum) only the centre is fitted: a pixel's few hundred counts pin the
    /// line and the amplitudes, not the shape.
    ///
    /// The background's covariance (level, slope) comes from the weighted normal equations at
    /// the solution, scaled by the reduced χ² when that exceeds 1.
    public static func profileFit(binning: EnergyBinning, spectrum: [Double], settings: ComptonAnalysisSettings,
                                  widthsPz fixedWidths: [Double]? = nil, initialCentrePz: Double? = nil) throws -> ComptonProfileFit {
        let window = settings.fitWindowKeV
        let e1 = settings.incidentKeV, angle = settings.angleDegrees
        let xc = ComptonKinematics.comptonPeakKeV(incidentKeV: e1, angleDegrees: angle)
        let w = binning.widthKeV
        let bins = (0..<binning.count).filter { k in
            let c = binning.lowKeV + (Double(k) + 0.5) * w
            return c >= window.lowerBound && c <= window.upperBound && c + w / 2 < e1
        }
        guard bins.count >= 12 else {
            throw LensError.numerical("Compton fit window \(window.lowerBound)–\(window.upperBound) keV holds \(bins.count) energy bins; at least 12 are needed")
        }
        func pz(_ e: Double) -> Double { ComptonKinematics.momentumAtomicUnits(incidentKeV: e1, scatteredKeV: e, angleDegrees: angle) }
        // The line is pinned where the profile has decayed: the window must reach past
        // |p_z| = backgroundBeyondPz on at least one side.
        let lowPz = pz(binning.lowKeV + Double(bins.first!) * w), highPz = pz(binning.lowKeV + Double(bins.last! + 1) * w)
        guard lowPz <= -settings.backgroundBeyondPz || highPz >= settings.backgroundBeyondPz else {
            throw LensError.numerical("the fit window \(window.lowerBound)–\(window.upperBound) keV covers p_z \(String(format: "%.1f", lowPz))…\(String(format: "%.1f", highPz)) a.u.; it must reach beyond |p_z| = \(settings.backgroundBeyondPz) a.u. on one side to separate the background from the profile's tails")
        }
        let m = bins.count
        let x = bins.map { binning.lowKeV + (Double($0) + 0.5) * w }
        let y = bins.map { spectrum[$0] }
        let edgesPz = (0...m).map { i in pz(binning.lowKeV + Double(i < m ? bins[i] : bins[m - 1] + 1) * w) }
        var weight = y.indices.map { i -> Double in
            let lo = Swift.max(0, i - 2), hi = Swift.min(m - 1, i + 2)
            return 1 / Swift.max(1, y[lo...hi].reduce(0, +) / Double(hi - lo + 1)).squareRoot()
        }
        let components = fixedWidths?.count ?? profileComponents
        let n = 2 + components
        // Weighted design columns, column-major: line level, line slope, then the components.
        var design = [Double](repeating: 0, count: n * m)
        var yw = [Double](repeating: 0, count: m)
        /// The line's columns and the data, weighted.
        func weigh() {
            for i in 0..<m {
                design[i] = w * weight[i]
                design[m + i] = w * (x[i] - xc) * weight[i]
                yw[i] = y[i] * weight[i]
            }
        }

        /// Fills the component columns for a centre and widths; solves the linear amplitudes
        /// (dropping components that come out negative); returns them with the Gram matrix's
        /// inverse over the kept columns (nil when singular).
        func solve(_ centre: Double, _ widths: [Double], design: inout [Double]) -> (coefficients: [Double], inverse: Matrix?, kept: [Int]) {
            for k in 0..<components {
                let scale = widths[k] * 2.0.squareRoot()
                var previous = erf((edgesPz[0] - centre) / scale)
                for i in 0..<m {
                    let next = erf((edgesPz[i + 1] - centre) / scale)
                    design[(2 + k) * m + i] = 0.5 * (next - previous) * weight[i]
                    previous = next
                }
            }
            var kept = Array(0..<n)
            while true {
                let q = kept.count
                var gram = Matrix(rows: q, columns: q)
                var rhs = [Double](repeating: 0, count: q)
                design.withUnsafeBufferPointer { d in
                    for (a, ca) in kept.enumerated() {
                        var s = 0.0
                        for i in 0..<m { s += d[ca * m + i] * yw[i] }
                        rhs[a] = s
                        for (b, cb) in kept.enumerated() where b <= a {
                            var g = 0.0
                            for i in 0..<m { g += d[ca * m + i] * d[cb * m + i] }
                            gram[a, b] = g; gram[b, a] = g
                        }
                    }
                }
                guard let inverse = gram.inverseSymmetricPositiveDefinite() else {
                    // Collinear components (equal widths): drop the last component and retry.
                    guard kept.count > 2 else { return ([Double](repeating: 0, count: n), nil, []) }
                    kept.removeLast()
                    continue
                }
                let solution = inverse.multiply(rhs)
                // The most negative component, if any, leaves the model.
                var worst = -1, worstValue = 0.0
                for (a, c) in kept.enumerated() where c >= 2 && solution[a] < worstValue { worst = a; worstValue = solution[a] }
                if worst >= 0 && kept.count > 2 { kept.remove(at: worst); continue }
                var coefficients = [Double](repeating: 0, count: n)
                for (a, c) in kept.enumerated() { coefficients[c] = solution[a] }
                // Columns 0 and 1 (the line) are always kept, first.
                return (coefficients, inverse, kept)
            }
        }
        func widthsOf(_ p: [Double]) -> [Double] {
            fixedWidths ?? (1..<p.count).map { Swift.max(Swift.abs(p[$0]), 0.02) }
        }
        // Starting values: the centre at the smoothed spectrum's maximum within |p_z| < 3, the
        // widths from the peak's half-maximum width.
        let smoothed = (0..<m).map { i -> Double in
            let lo = Swift.max(0, i - 2), hi = Swift.min(m - 1, i + 2)
            return y[lo...hi].reduce(0, +) / Double(hi - lo + 1)
        }
        let central = (0..<m).filter { Swift.abs((edgesPz[$0] + edgesPz[$0 + 1]) / 2) < 3 }
        let top = central.max { smoothed[$0] < smoothed[$1] } ?? m / 2
        let floor = Swift.min(smoothed.first ?? 0, smoothed.last ?? 0)
        let half = floor + (smoothed[top] - floor) / 2
        var lo = top, hi = top
        while lo > 0 && smoothed[lo - 1] > half { lo -= 1 }
        while hi < m - 1 && smoothed[hi + 1] > half { hi += 1 }
        let centre0 = initialCentrePz ?? (edgesPz[top] + edgesPz[top + 1]) / 2
        let sigma0 = Swift.max(0.1, (edgesPz[hi + 1] - edgesPz[lo]) / (2 * (2 * log(2.0)).squareRoot()))
        // Free widths start spread from 0.6 to 3 times the half-maximum σ (narrow valence to broad core).
        var initial = [centre0]
        if fixedWidths == nil {
            let spread = Double(Swift.max(1, components - 1))
            for k in 0..<components { initial.append(sigma0 * (0.6 + 2.4 * Double(k) / spread)) }
        }

        var options = LevenbergMarquardt.Options()
        options.relativeTolerance = 1e-8
        // Poisson weights σ² = model: the running-mean weights start it, two passes reweighted by
        // the fitted model follow (iteratively reweighted least squares, whose fixed point is the
        // Poisson maximum-likelihood fit — at a pixel's few counts per bin a floor of 1 count on
        // σ² would inflate the errors several-fold).
        var result: LevenbergMarquardt.Result
        var start = initial
        var pass = 0
        while true {
            weigh()
            var scratch = design
            result = try LevenbergMarquardt.fit(initial: start, residualCount: m, options: options) { p, r in
                let (coefficients, _, _) = solve(p[0], widthsOf(p), design: &scratch)
                for i in 0..<m {
                    var f = 0.0
                    for c in 0..<n where coefficients[c] != 0 { f += scratch[c * m + i] * coefficients[c] }
                    r[i] = f - yw[i]
                }
            }
            pass += 1
            guard pass < 3 else { break }
            // The fitted counts per bin (unweighted), floored at 1 % of the mean count per bin.
            let (coefficients, _, _) = solve(result.parameters[0], widthsOf(result.parameters), design: &scratch)
            let floor = Swift.max(1e-6, 0.01 * y.reduce(0, +) / Double(m))
            for i in 0..<m {
                var f = 0.0
                for c in 0..<n where coefficients[c] != 0 { f += scratch[c * m + i] * coefficients[c] }
                weight[i] = 1 / Swift.max(floor, f / weight[i]).squareRoot()
            }
            start = result.parameters
        }
        var scratch = design
        let centre = result.parameters[0]
        var widths = widthsOf(result.parameters)
        let (coefficients, inverse, kept) = solve(centre, widths, design: &scratch)
        let dof = Swift.max(1, m - n - (result.parameters.count))
        let reducedChiSquared = result.chiSquared / Double(dof)
        let scale = Swift.max(1, reducedChiSquared)
        var counts = Array(coefficients[2...])
        // Variance of the profile's total counts: the sum over the kept components' block.
        var countsVariance = 0.0
        if let inverse {
            for (a, ca) in kept.enumerated() where ca >= 2 { for (b, cb) in kept.enumerated() where cb >= 2 { countsVariance += inverse[a, b] } }
        } else { countsVariance = .nan }
        let centreVariance = (result.unscaledCovariance?[0, 0] ?? .nan) * scale
        // Narrowest first.
        let order = widths.indices.sorted { widths[$0] < widths[$1] }
        widths = order.map { widths[$0] }; counts = order.map { counts[$0] }
        let background = ComptonBackground(perKeV: coefficients[0], slopePerKeV2: coefficients[1], centreKeV: xc,
                                           levelVariance: (inverse?[0, 0] ?? .nan) * scale,
                                           slopeVariance: (inverse?[1, 1] ?? .nan) * scale,
                                           levelSlopeCovariance: (inverse?[0, 1] ?? .nan) * scale)
        return ComptonProfileFit(background: background, profile: ComptonProfileModel(centrePz: centre, widthsPz: widths, componentCounts: counts),
                                 centreErrorPz: centreVariance.squareRoot(), countsError: (countsVariance * scale).squareRoot(),
                                 reducedChiSquared: reducedChiSquared, converged: result.converged)
    }
}
