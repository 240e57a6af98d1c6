import Foundation
import LensCore
import Tomography
import Testing

@Suite struct FresnelTests {
    /// Zero distance gives the absorption image exp(−∫μ); propagation conserves the total
    /// intensity of a pure phase object and creates edge fringes (contrast) that grow with distance.
    @Test func propagationLimitsAndConservation() {
        let n = 64
        let line = Grid<Float>(shape: Shape(1, n, n)) { i in
            let r = i / n, c = i % n
            let d = Double((r - 32) * (r - 32) + (c - 32) * (c - 32)).squareRoot()
            return d < 12 ? 0.02 : 0
        }
        let contact = FresnelPropagation.propagate(lineIntegrals: line, pixelSizeMicrometres: 1, energyKeV: 20, distanceMillimetres: 0, deltaOverBeta: 500)
        for i in 0..<(n * n) { #expect(abs(Double(contact[linear: i]) - exp(-Double(line[linear: i]))) < 1e-6) }
        let near = FresnelPropagation.propagate(lineIntegrals: line, pixelSizeMicrometres: 1, energyKeV: 20, distanceMillimetres: 50, deltaOverBeta: 500)
        let far = FresnelPropagation.propagate(lineIntegrals: line, pixelSizeMicrometres: 1, energyKeV: 20, distanceMillimetres: 300, deltaOverBeta: 500)
        func range(_ g: Grid<Float>) -> Float { g.elements.max()! - g.elements.min()! }
        #expect(range(far) > range(near) && range(near) > range(contact))
        // Propagation moves intensity around but does not create or absorb it (the object sits
        // well inside the frame, so little leaves the cropped field): means agree within 0.5 %.
        func mean(_ g: Grid<Float>) -> Double { g.elements.reduce(0) { $0 + Double($1) } / Double(g.count) }
        #expect(abs(mean(near) / mean(contact) - 1) < 0.005)
        #expect(abs(FresnelPropagation.wavelengthMicrometres(energyKeV: 12.398_419_84) - 1e-4) < 1e-12)
    }
}
