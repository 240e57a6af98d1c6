import Foundation

/// One "measured vs truth" row: a number a study measured, the value it should have had (from
/// a phantom's design, a published value, or the same solver on the ground-truth labels), the
/// tolerance the issue that built the method set, and whether the measurement is inside it.
public struct TruthCheck: Codable, Sendable, Equatable {
    public var quantity: String
    /// The step that measured it.
    public var step: String
    public var measured: Double
    /// ± uncertainty of the measurement when the method gives one.
    public var measuredSigma: Double?
    public var truth: Double
    /// Largest accepted |measured − truth| (absolute, in `unit`), or for `relative` checks the
    /// largest accepted |measured − truth| / |truth|.
    public var tolerance: Double
    public var relative: Bool
    public var unit: String
    /// Where the truth comes from and why the tolerance is what it is.
    public var note: String
    public var passed: Bool

    public init(quantity: String, step: String, measured: Double, measuredSigma: Double? = nil, truth: Double,
                tolerance: Double, relative: Bool = false, unit: String, note: String) {
        self.quantity = quantity; self.step = step; self.measured = measured; self.measuredSigma = measuredSigma
        self.truth = truth; self.tolerance = tolerance; self.relative = relative; self.unit = unit; self.note = note
        let error = relative ? abs(measured - truth) / Swift.max(abs(truth), .leastNonzeroMagnitude) : abs(measured - truth)
        passed = measured.isFinite && truth.isFinite && error <= tolerance
    }
}
