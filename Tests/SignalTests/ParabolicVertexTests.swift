import Signal
import Testing

/// The sub-sample peak of three samples: exact for a parabola, clamped to ±½, 0 when flat or
/// curving upwards.
struct ParabolicVertexTests {
    @Test func vertexOfSampledParabolas() {
        for x0 in [-0.4, -0.1, 0, 0.23, 0.49] {
            func f(_ x: Double) -> Double { 5 - 2 * (x - x0) * (x - x0) }
            #expect(abs(parabolicVertexOffset(before: f(-1), centre: f(0), after: f(1)) - x0) < 1e-12)
        }
        #expect(parabolicVertexOffset(before: 0, centre: 1, after: 0.99) <= 0.5)
        #expect(parabolicVertexOffset(before: 1, centre: 1, after: 1) == 0)
        #expect(parabolicVertexOffset(before: 2, centre: 1, after: 2) == 0)
    }
}
