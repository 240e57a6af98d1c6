import Foundation
import LensCore
import Signal

/// Settings of a sequential refinement through an operando series.
public struct OperandoSettings: Codable, Sendable, Equatable {
    public var radiation: Radiation
    /// 2θ zero shift of the instrument (from `PowderCalibration`), degrees: observed = Bragg + shift.
    public var zeroShiftDegrees = 0.0
    /// Each reflection is fitted within ± this many peak widths of its position (nil: 6).
    public var windowWidths = 6.0
    /// Starting peak FWHM in degrees (nil: fitted on the first pattern's strongest reflection).
    public var initialFWHMDegrees: Double?
    /// A phase's lattice is refined only in patterns where its fraction is at least this and its
    /// scale at least three standard errors; otherwise it is held at its last value and not reported.
    public var minimumFractionForLattice = 0.03
    /// A phase whose refined lattice parameter leaves its starting value by more than this
    /// fraction has diverged (lithiation moves layered oxides' and olivines' cells by a few per
    /// cent): its lattice is held for that pattern instead.
    public var maximumLatticeChange = 0.05

    public init(radiation: Radiation) { self.radiation = radiation }

    public func validate() throws {
        try radiation.validate()
        guard zeroShiftDegrees.isFinite, abs(zeroShiftDegrees) < 5 else { throw LensError.invalidArgument("the zero shift must be within ±5°") }
        guard windowWidths.isFinite, windowWidths >= 2, windowWidths <= 50 else { throw LensError.invalidArgument("the window must be 2–50 peak widths") }
        if let w = initialFWHMDegrees { guard w.isFinite, w > 0, w < 10 else { throw LensError.invalidArgument("the starting FWHM must be in (0, 10)°") } }
        guard minimumFractionForLattice >= 0, minimumFractionForLattice < 1 else { throw LensError.invalidArgument("the lattice threshold must be a fraction in [0, 1)") }
        guard maximumLatticeChange > 0, maximumLatticeChange <= 0.5 else { throw LensError.invalidArgument("the largest lattice change must be in (0, 0.5]") }
    }
}

/// What one pattern of the series gave.
public struct OperandoPatternResult: Codable, Sendable, Equatable {
    public var index: Int
    /// Per phase: its share of the summed scale factors (the phase fraction when the phases'
    /// reference intensities are on one scale) and its standard error.
    public var fractions: [Double]
    public var fractionErrors: [Double?]
    /// Per phase: the refined cell, nil where the phase is too weak to refine.
    public var cells: [UnitCell?]
    public var cellErrorsAngstrom: [[Double]?]
    /// Per phase: the scale factor (areas ÷ reference intensities, least squares).
    public var scales: [Double]
    public var fwhmDegrees: Double
    /// Weighted-profile R over the fitted windows, and the reduced χ².
    public var weightedProfileR: Double
    public var reducedChiSquared: Double

    enum CodingKeys: String, CodingKey {
        case index, fractions, fractionErrors = "fraction_errors", cells, cellErrorsAngstrom = "cell_errors_angstrom", scales
        case fwhmDegrees = "fwhm_degrees", weightedProfileR = "weighted_profile_r", reducedChiSquared = "reduced_chi_squared"
    }
}

/// Sequential whole-pattern refinement of an operando diffraction series (the Pawley/Le Bail
/// approach of sequential refinements, restricted to the listed reflections): in each pattern,
/// every phase's peaks sit where its cell puts them (one set of lattice parameters per phase,
/// so a weak phase's peaks stay tied to its strong ones), each reflection has a free area, and
/// each 2θ window its own linear background and peak shape (FWHM, Lorentzian fraction); all are
/// fitted at once by weighted Levenberg–Marquardt, starting from the previous pattern's result.
/// Phase fractions come from the scale factors that best map each phase's reference intensities
/// onto its fitted areas, with errors propagated from the areas' covariance.
public enum OperandoRefinement {
    public static func refine(_ patterns: [PowderPattern], phases: [CrystalPhase], settings: OperandoSettings,
                              progress: ProgressReporter? = nil) throws -> [OperandoPatternResult] {
        try settings.validate()
        guard !phases.isEmpty else { throw LensError.invalidArgument("the refinement needs at least one phase") }
        for p in phases { try p.validate() }
        guard Set(phases.map(\.name)).count == phases.count else { throw LensError.invalidArgument("phase names must differ") }
        guard let first = patterns.first else { throw LensError.invalidArgument("no pattern to refine") }
        var cells = phases.map(\.cell)
        let initialFWHM = try settings.initialFWHMDegrees ?? estimateFWHM(first, phases: phases, settings: settings)
        var fwhm = initialFWHM
        var results = [OperandoPatternResult]()
        results.reserveCapacity(patterns.count)
        var held = [Bool](repeating: false, count: phases.count)
        for (index, pattern) in patterns.enumerated() {
            let r = try refineOne(pattern, index: index, phases: phases, cells: cells, initiallyHeld: held, fwhm: fwhm, settings: settings)
            held = r.cells.map { $0 == nil }
            for (p, cell) in r.cells.enumerated() { if let cell { cells[p] = cell } }
            // The next pattern starts from this width, within a factor 3 of the first (a fit gone
            // astray must not widen every window after it).
            fwhm = Swift.min(Swift.max(r.fwhmDegrees, initialFWHM / 3), initialFWHM * 3)
            results.append(r)
            progress?.advance()
        }
        return results
    }

    /// The first pattern's strongest reflection (of the first phase) fitted alone for its width.
    static func estimateFWHM(_ pattern: PowderPattern, phases: [CrystalPhase], settings: OperandoSettings) throws -> Double {
        let lambda = settings.radiation.primaryWavelengthAngstrom
        let candidates = phases.flatMap { phase in phase.reflections.compactMap { r -> (Double, Double)? in
            guard let t = BraggLaw.twoThetaDegrees(dSpacing: phase.cell.dSpacing(r.hkl), wavelengthAngstrom: lambda) else { return nil }
            let window = pattern.indices(in: (t - 0.02 * t)...(t + 0.02 * t))
            guard window.count >= 12 else { return nil }
            return (t + settings.zeroShiftDegrees, window.map { pattern.intensity[$0] }.max() ?? 0)
        } }
        guard let strongest = candidates.max(by: { $0.1 < $1.1 }) else {
            throw LensError.invalidArgument("no listed reflection falls inside the pattern's 2θ range at λ = \(lambda) Å")
        }
        let half = Swift.max(30 * pattern.stepDegrees, 0.01 * strongest.0)
        let fit = try BraggPeakFit.fit(pattern, window: (strongest.0 - half)...(strongest.0 + half), centres: [strongest.0], radiation: settings.radiation)
        guard fit.peaks[0].fwhmDegrees.isFinite, fit.peaks[0].fwhmDegrees > 0 else {
            throw LensError.numerical("could not measure a peak width on the first pattern; give the starting FWHM")
        }
        return fit.peaks[0].fwhmDegrees
    }

    struct Slot { let phase: Int; let reflection: Int }

    static func refineOne(_ pattern: PowderPattern, index: Int, phases: [CrystalPhase], cells: [UnitCell], initiallyHeld: [Bool], fwhm: Double,
                          settings: OperandoSettings) throws -> OperandoPatternResult {
        let radiation = settings.radiation
        let lambda = radiation.primaryWavelengthAngstrom, lastLambda = radiation.wavelengthsAngstrom.max()!
        let lo = pattern.twoThetaDegrees.first!, hi = pattern.twoThetaDegrees.last!
        let half = settings.windowWidths * fwhm
        func position(_ cell: UnitCell, _ hkl: MillerIndex) -> Double? {
            BraggLaw.twoThetaDegrees(dSpacing: cell.dSpacing(hkl), wavelengthAngstrom: lambda).map { $0 + settings.zeroShiftDegrees }
        }
        // Reflections in range, and the windows they make (overlaps merged).
        var slots = [Slot](), spans = [(Double, Double)]()
        for (p, phase) in phases.enumerated() { for (r, reflection) in phase.reflections.enumerated() {
            guard let t = position(cells[p], reflection.hkl) else { continue }
            let top = (BraggLaw.twoThetaDegrees(t, from: lambda, to: lastLambda) ?? t) + half
            guard t - half >= lo, top <= hi else { continue }
            slots.append(Slot(phase: p, reflection: r)); spans.append((t - half, top))
        } }
        guard !slots.isEmpty else {
            let described = phases.indices.map { q in "\(phases[q].name) " + zip(cells[q].parameterNames, cells[q].parameters).map { String(format: "%@ = %.4f Å", $0, $1) }.joined(separator: ", ") }
            throw LensError.invalidArgument(String(format: "pattern %d: no listed reflection falls inside its 2θ range %.3f–%.3f° (with its ± %.3f° window) at λ = %.5f Å for the cells %@: check the wavelength and the phases", index, lo, hi, half, lambda, described.joined(separator: "; ")))
        }
        var windows = [(Double, Double)]()
        for s in spans.sorted(by: { $0.0 < $1.0 }) {
            if let last = windows.last, s.0 <= last.1 { windows[windows.count - 1].1 = Swift.max(last.1, s.1) } else { windows.append(s) }
        }
        let windowOf = spans.map { s in windows.firstIndex { $0.0 <= s.0 && s.0 <= $0.1 }! }
        var points = [Int](), pointWindow = [Int]()
        for (w, span) in windows.enumerated() { for i in pattern.indices(in: span.0...span.1) { points.append(i); pointWindow.append(w) } }
        let mids = windows.map { ($0.0 + $0.1) / 2 }

        // Parameters: per phase its lattice; per slot its area; per window b₀, b₁, FWHM, η.
        let latticeCounts = cells.map { $0.parameterNames.count }
        let latticeOffset = latticeCounts.indices.map { latticeCounts[..<$0].reduce(0, +) }
        let areaOffset = latticeCounts.reduce(0, +), windowOffset = areaOffset + slots.count
        var start = cells.flatMap(\.parameters)
        start += slots.enumerated().map { index, slot -> Double in
            // Height above the window's lowest point × width.
            guard let t = position(cells[slot.phase], phases[slot.phase].reflections[slot.reflection].hkl) else { return 0 }
            let j = pattern.indices(in: (t - fwhm / 2)...(t + fwhm / 2))
            let w = windowOf[index]
            let floor = pattern.indices(in: windows[w].0...windows[w].1).map { pattern.intensity[$0] }.min() ?? 0
            return Swift.max(0, (j.map { pattern.intensity[$0] }.max() ?? floor) - floor) * fwhm
        }
        for w in windows.indices {
            let values = pattern.indices(in: windows[w].0...windows[w].1).map { pattern.intensity[$0] }.sorted()
            start += [values.isEmpty ? 0 : values[values.count / 10], 0, fwhm, 0]   // η = logistic(0) = 0.5
        }

        // Per window: its slots (fixed for this pattern).
        var slotsOfWindow = [[Int]](repeating: [], count: windows.count)
        for (slot, w) in windowOf.enumerated() { slotsOfWindow[w].append(slot) }
        func evaluate(_ p: [Double], residuals r: inout [Double]) {
            let cellsNow = cells.indices.map { cells[$0].with(parameters: Array(p[latticeOffset[$0]..<(latticeOffset[$0] + latticeCounts[$0])])) }
            // Each window's peak centres and areas once per evaluation, not per point.
            let centresOfWindow = slotsOfWindow.map { $0.map { position(cellsNow[slots[$0].phase], phases[slots[$0].phase].reflections[slots[$0].reflection].hkl) ?? .nan } }
            let areasOfWindow = slotsOfWindow.map { $0.map { p[areaOffset + $0] } }
            for (n, i) in points.enumerated() {
                let w = pointWindow[n], x = pattern.twoThetaDegrees[i]
                let o = windowOffset + 4 * w
                var model = p[o] + p[o + 1] * (x - mids[w])
                model += BraggPeakFit.modelValue(x, centres: centresOfWindow[w], areas: areasOfWindow[w],
                                                 fwhmDegrees: abs(p[o + 2]), eta: BraggPeakFit.logistic(p[o + 3]), radiation: radiation)
                r[n] = (pattern.intensity[i] - model) / pattern.sigma[i]
            }
        }

        // Phases held in the previous pattern start held (their peaks where their last cell puts
        // them), so an absent phase's free lattice cannot wander onto another phase's peaks. After
        // each fit a held phase is released once its fraction reaches the threshold with its scale
        // at least 3σ; a free phase is held when either fails or its lattice leaves the starting
        // model by more than `maximumLatticeChange` (a diverged fit, or one gone degenerate with
        // another phase's peaks). A phase held that way is released once more, starting from the
        // held fit's areas (which usually leads the fit back), and held for good if it fails again.
        // Refit after every change, so the numbers reported always come from a fit with the
        // lattices reported free.
        var held = initiallyHeld
        var timesHeld = [Int](repeating: 0, count: phases.count)
        var solution = start, covariance: Matrix?, chi2 = 0.0
        // Each phase changes state at most four times (released, held, released, held), so this ends.
        for pass in 0...(4 * phases.count) {
            let freeIndex = (0..<start.count).filter { k in
                !(0..<phases.count).contains { held[$0] && k >= latticeOffset[$0] && k < latticeOffset[$0] + latticeCounts[$0] }
            }
            guard points.count > freeIndex.count else { throw LensError.invalidArgument("pattern \(index): too few points in the windows for the refinement") }
            var full = pass == 0 ? start : solution
            for q in phases.indices where held[q] { for k in 0..<latticeCounts[q] { full[latticeOffset[q] + k] = start[latticeOffset[q] + k] } }
            var options = LevenbergMarquardt.Options()
            options.maxIterations = 200
            let fixed = full
            let result = try LevenbergMarquardt.fit(initial: freeIndex.map { fixed[$0] }, residualCount: points.count, options: options) { q, r in
                var p = fixed
                for (j, k) in freeIndex.enumerated() { p[k] = q[j] }
                evaluate(p, residuals: &r)
            }
            solution = fixed
            for (j, k) in freeIndex.enumerated() { solution[k] = result.parameters[j] }
            chi2 = result.reducedChiSquared
            // The full covariance, held parameters with zero variance.
            if let c = result.unscaledCovariance {
                var full = Matrix(rows: start.count, columns: start.count)
                for (a, ka) in freeIndex.enumerated() { for (b, kb) in freeIndex.enumerated() { full[ka, kb] = c[a, b] * Swift.max(1, chi2) } }
                covariance = full
            } else { covariance = nil }
            let scalesNow = scales(solution, covariance: covariance, phases: phases, slots: slots, areaOffset: areaOffset)
            let total = scalesNow.map(\.value).reduce(0, +)
            let weak = phases.indices.map { q in
                let s = scalesNow[q]
                let drifted = !held[q] && zip(solution[latticeOffset[q]..<(latticeOffset[q] + latticeCounts[q])], phases[q].cell.parameters)
                    .contains { abs($0 / $1 - 1) > settings.maximumLatticeChange }
                return total <= 0 || s.value / total < settings.minimumFractionForLattice || (s.error.map { s.value < 3 * $0 } ?? false) || drifted
            }
            var next = held
            for q in phases.indices {
                if held[q] { if timesHeld[q] < 2 && !weak[q] { next[q] = false } }
                else if weak[q] { next[q] = true; timesHeld[q] += 1 }
            }
            if next == held || pass == 4 * phases.count { break }
            held = next
        }

        let s = scales(solution, covariance: covariance, phases: phases, slots: slots, areaOffset: areaOffset)
        let total = s.map(\.value).reduce(0, +)
        let fractions = s.map { total != 0 ? $0.value / total : .nan }
        // δf_p = Σ_q (δ_pq·S − s_p)/S² δs_q, with the scales' covariance.
        let fractionErrors: [Double?] = phases.indices.map { p in
            guard total != 0, let cov = s.first?.covariance else { return nil }
            let g = phases.indices.map { q in ((p == q ? total : 0) - s[p].value) / (total * total) }
            var v = 0.0
            for a in phases.indices { for b in phases.indices { v += g[a] * cov[a][b] * g[b] } }
            return v >= 0 ? v.squareRoot() : nil
        }
        let refined: [UnitCell?] = phases.indices.map { q in
            held[q] ? nil : cells[q].with(parameters: Array(solution[latticeOffset[q]..<(latticeOffset[q] + latticeCounts[q])]))
        }
        let cellErrors: [[Double]?] = phases.indices.map { q in
            guard !held[q], let covariance else { return nil }
            return (0..<latticeCounts[q]).map { covariance[latticeOffset[q] + $0, latticeOffset[q] + $0].squareRoot() }
        }
        var r = [Double](repeating: 0, count: points.count)
        evaluate(solution, residuals: &r)
        let weightedResidual = r.reduce(0) { $0 + $1 * $1 }
        let weightedData = points.reduce(0.0) { $0 + pow(pattern.intensity[$1] / pattern.sigma[$1], 2) }
        let widths = windows.indices.map { abs(solution[windowOffset + 4 * $0 + 2]) }
        return OperandoPatternResult(index: index, fractions: fractions, fractionErrors: fractionErrors, cells: refined, cellErrorsAngstrom: cellErrors,
                                     scales: s.map(\.value), fwhmDegrees: widths.sorted()[widths.count / 2],
                                     weightedProfileR: (weightedResidual / Swift.max(weightedData, 1e-300)).squareRoot(), reducedChiSquared: chi2)
    }

    /// Per phase: the scale s_p = Σ_r A_pr·I_pr / Σ_r I_pr² over its fitted reflections, and the
    /// scales' covariance (linear in the areas).
    static func scales(_ p: [Double], covariance: Matrix?, phases: [CrystalPhase], slots: [Slot], areaOffset: Int)
        -> [(value: Double, error: Double?, covariance: [[Double]]?)] {
        // Weights: ∂s_p/∂A_slot.
        let weights: [[Double]] = phases.indices.map { q in
            let norm = slots.filter { $0.phase == q }.reduce(0.0) { $0 + pow(phases[q].reflections[$1.reflection].relativeIntensity, 2) }
            return slots.map { $0.phase == q && norm > 0 ? phases[q].reflections[$0.reflection].relativeIntensity / norm : 0 }
        }
        let values = weights.map { w in w.enumerated().reduce(0.0) { $0 + $1.element * p[areaOffset + $1.offset] } }
        var cov: [[Double]]?
        if let covariance {
            cov = weights.map { wa in weights.map { wb in
                var v = 0.0
                for i in slots.indices where wa[i] != 0 { for j in slots.indices where wb[j] != 0 { v += wa[i] * covariance[areaOffset + i, areaOffset + j] * wb[j] } }
                return v
            } }
        }
        return values.indices.map { q in (values[q], cov.map { $0[q][q].squareRoot() }, cov) }
    }
}
