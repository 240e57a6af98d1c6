import Foundation
import LensCore
import Signal
import Testing

@Suite struct LogisticRegressionTests {
    /// The Challenger O-ring data (23 launches, damage yes/no vs temperature °F; Dalal, Fowlkes &
    /// Hoadley, JASA 1989), the textbook logistic example. Published fit (R's glm, binomial):
    /// intercept 15.0429 (SE 7.3786), temperature −0.2322 (SE 0.1082), Wald z −2.145, p 0.0320;
    /// deviance 28.267 → 20.315, so the likelihood-ratio χ² is 7.952 on 1 df. Matched to the
    /// printed digits (4–5 significant).
    @Test func challengerORingFit() throws {
        let temperature: [Double] = [66, 70, 69, 68, 67, 72, 73, 70, 57, 63, 70, 78, 67, 53, 67, 75, 70, 81, 76, 79, 75, 76, 58]
        let damaged: [Int] = [0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1]
        let fit = try LogisticRegression.fit(predictors: [temperature], names: ["temperature"], outcomes: damaged.map { $0 == 1 })
        let slope = fit.coefficients[0]
        #expect(fit.converged)
        #expect(abs(fit.intercept - 15.0429) < 5e-4)
        #expect(abs(slope.perUnit - -0.2322) < 5e-5)
        #expect(abs(slope.standardErrorPerUnit - 0.1082) < 5e-5)
        #expect(abs(slope.waldZ - -2.145) < 1e-3)
        #expect(abs(slope.pValue - 0.0320) < 5e-5)
        #expect(abs(fit.likelihoodRatioChiSquare - (28.267 - 20.315)) < 2e-3)
        #expect(fit.events == 7 && fit.observations == 23)
    }

    @Test func chiSquareAndWilson() {
        #expect(abs(LogisticRegression.chiSquareSurvival(3.841459, degrees: 1) - 0.05) < 1e-6)
        #expect(abs(LogisticRegression.chiSquareSurvival(5.991465, degrees: 2) - 0.05) < 1e-6)
        #expect(abs(LogisticRegression.chiSquareSurvival(30, degrees: 10) - 8.566412e-4) < 1e-8)
        let w = BinomialProportion(successes: 5, trials: 10)
        #expect(abs(w.lower - 0.2366) < 1e-4 && abs(w.upper - 0.7634) < 1e-4)
        let none = BinomialProportion(successes: 0, trials: 20)
        #expect(none.lower == 0 && abs(none.upper - 0.1611) < 1e-4)
    }

    @Test func refusesWhatCannotBeFitted() {
        #expect(throws: LensError.self) { try LogisticRegression.fit(predictors: [[1, 2, 3, 4]], names: ["x"], outcomes: [true, true, true, true]) }
        #expect(throws: LensError.self) { try LogisticRegression.fit(predictors: [[1, 1, 1, 1]], names: ["x"], outcomes: [true, false, true, false]) }
        // Perfect separation: reported as not converged rather than as a huge, "significant" slope.
        let separated = try? LogisticRegression.fit(predictors: [[1, 2, 3, 4, 5, 6]], names: ["x"], outcomes: [false, false, false, true, true, true])
        #expect(separated?.converged == false)
    }
}
