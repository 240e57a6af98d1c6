import Foundation
import ImageAnalysis
import LensCore
import Phantoms
import Testing
import Tomography

/// The iterative solvers on the project's phantoms, against the truth.
struct IterativeTests {
    /// A limited-angle operando-style scan (601 projections over 135°) of cracked particles with
    /// photon noise, replicated over 8 detector rows: line integrals, geometry and truth image.
    static func limitedAngleScan(size: Int = 96, photons: Double = 2000, seed: UInt64 = 3) throws
        -> (lines: Grid<Float>, geometry: ParallelBeamGeometry, truth: Grid<Float>, phantom: CrackedParticleSlice) {
        let phantom = try CrackedParticleSlice.random(size: size, count: 6, seed: seed)
        let angles = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 601, rangeDegrees: 135, startDegrees: -67.5)
        let sinogram = try phantom.sinogram(anglesDegrees: angles)
        let rows = 8
        var rng = SeededRandom(seed: seed)
        var lines = Grid<Float>(shape: Shape(angles.count, rows, size))
        for a in 0..<angles.count { for r in 0..<rows { for j in 0..<size {
            let p = Double(sinogram[a, j])
            // Poisson counts of I0·e^−p (normal approximation: I0 e^−p ≫ 1 here), back to −ln.
            let mean = photons * exp(-p)
            let counts = Swift.max(1, mean + mean.squareRoot() * rng.normal())
            lines[linear: (a * rows + r) * size + j] = Float(-log(counts / photons))
        } } }
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: size, detectorRows: rows)
        return (lines, geometry, phantom.image(), phantom)
    }

    static func rmse(_ volume: Grid<Float>, slice: Int, truth: Grid<Float>) -> Double {
        let n = truth.count
        var s = 0.0
        for i in 0..<n { let d = Double(volume[linear: slice * n + i] - truth[linear: i]); s += d * d }
        return (s / Double(n)).squareRoot()
    }

    /// Crack widths measured on each particle's profile along the crack normal through its
    /// centre (half-depth width), against the truth: (true, measured) per particle.
    static func crackWidths(_ volume: Grid<Float>, slice: Int, phantom: CrackedParticleSlice) throws -> [(truth: Double, measured: Double?)] {
        let n = phantom.size
        let image = volume.slab(slice..<(slice + 1)).reshaped(Shape(n, n))
        let c = Double(n - 1) / 2
        return try phantom.particles.map { p in
            let a = p.crackNormalDegrees * .pi / 180, reach = 0.8 * p.radius
            let from = (row: p.y + c - reach * sin(a), column: p.x + c - reach * cos(a))
            let to = (row: p.y + c + reach * sin(a), column: p.x + c + reach * cos(a))
            let step = 0.1
            let profile = try LineProfile.sample(image, from: from, to: to, step: step)
            return (p.crackWidthPixels, DipWidth.measure(profile, spacing: step)?.width)
        }
    }

    /// TV from an FBP start on the 135° / 601-projection noisy scan: ≥ 30 % lower RMSE than FBP
    /// (measured: 0.0030 against 0.0071, −58 %), and every crack (2, 3, 4 px wide) measured
    /// within one pixel of its width on the profile along its normal (measured: within 0.4 px;
    /// FBP misses one 4-px crack by 3.8 px, smeared along the missing wedge).
    @Test func tvBeatsFBPOnLimitedAngleCracks() throws {
        let scan = try Self.limitedAngleScan()
        let fbp = try FilteredBackProjection.reconstruct(scan.lines, geometry: scan.geometry)
        let projector = try JosephProjector(geometry: scan.geometry, volumeShape: Shape(8, 96, 96))
        var settings = IterativeSettings()
        settings.iterations = 200
        var objectives = [Double]()
        let tv = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: .tv, settings: settings, initial: fbp,
                                                   tvScale: Double(scan.geometry.projectionCount)) { objectives.append($0.objective) }
        let (fbpError, tvError) = (Self.rmse(fbp, slice: 3, truth: scan.truth), Self.rmse(tv.volume, slice: 3, truth: scan.truth))
        print(String(format: "limited angle 135°/601: RMSE FBP %.5f, TV %.5f (%.0f %%)", fbpError, tvError, 100 * (tvError / fbpError - 1)))
        #expect(tvError <= 0.7 * fbpError)
        #expect(tv.history.count == 200 && objectives.count == 200)
        #expect(objectives.last! < objectives.first!, "the objective falls")
        #expect(tv.volume.elements.allSatisfy { $0 >= 0 }, "non-negative by default")
        let tvWidths = try Self.crackWidths(tv.volume, slice: 3, phantom: scan.phantom)
        let fbpWidths = try Self.crackWidths(fbp, slice: 3, phantom: scan.phantom)
        print("crack widths (truth, TV, FBP):", zip(tvWidths, fbpWidths).map { ($0.truth, $0.measured ?? .nan, $1.measured ?? .nan) })
        for w in tvWidths {
            let measured = try #require(w.measured, "crack of \(w.truth) px not found")
            #expect(abs(measured - w.truth) <= 1, "crack of \(w.truth) px measured \(measured) px")
        }
    }

    /// FISTA-TV (FGP proximal steps) on the same scan and objective: also ≥ 30 % below FBP's
    /// RMSE (measured −64 % in 100 iterations; its objective, 469, is below the primal–dual
    /// solver's 496 after 200 — the same convex problem), its objective falling.
    @Test func fistaTVBeatsFBP() throws {
        let scan = try Self.limitedAngleScan()
        let fbp = try FilteredBackProjection.reconstruct(scan.lines, geometry: scan.geometry)
        let projector = try JosephProjector(geometry: scan.geometry, volumeShape: Shape(8, 96, 96))
        var settings = IterativeSettings()
        settings.iterations = 100
        let fista = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: .fistaTV, settings: settings, initial: fbp,
                                                      tvScale: Double(scan.geometry.projectionCount))
        let (fbpError, fistaError) = (Self.rmse(fbp, slice: 3, truth: scan.truth), Self.rmse(fista.volume, slice: 3, truth: scan.truth))
        print(String(format: "FISTA-TV: RMSE %.5f vs FBP %.5f (%.0f %%); objective %.1f → %.1f", fistaError, fbpError, 100 * (fistaError / fbpError - 1),
                     fista.history.first!.objective, fista.history.last!.objective))
        #expect(fistaError <= 0.7 * fbpError)
        #expect(fista.history.last!.objective < fista.history.first!.objective)
    }

    /// SIRT, OS-SART and CGLS on the same scan: each beats FBP's RMSE by ≥ 20 % (measured:
    /// −30 %, −43 %, −26 %); CGLS's residual never rises (its defining property); OS-SART
    /// reaches a lower residual than SIRT in the same sweeps; bounds hold; a relative-change
    /// tolerance stops early and says so.
    @Test func sirtSartAndCGLS() throws {
        let scan = try Self.limitedAngleScan()
        let fbp = try FilteredBackProjection.reconstruct(scan.lines, geometry: scan.geometry)
        let fbpError = Self.rmse(fbp, slice: 3, truth: scan.truth)
        let projector = try JosephProjector(geometry: scan.geometry, volumeShape: Shape(8, 96, 96))
        var results = [ReconstructionAlgorithm: IterativeOutcome]()
        for algorithm in [ReconstructionAlgorithm.sirt, .sart, .cgls] {
            var settings = IterativeSettings()
            settings.iterations = algorithm == .cgls ? 30 : 100
            let outcome = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: algorithm, settings: settings)
            let error = Self.rmse(outcome.volume, slice: 3, truth: scan.truth)
            print(String(format: "%@: RMSE %.5f (FBP %.5f), final relative residual %.4f", algorithm.rawValue, error, fbpError, outcome.history.last!.relativeResidual))
            #expect(error <= 0.8 * fbpError, "\(algorithm)")
            results[algorithm] = outcome
        }
        let cgls = try #require(results[.cgls]).history.map(\.relativeResidual)
        #expect(zip(cgls, cgls.dropFirst()).allSatisfy { $1 <= $0 * (1 + 1e-6) }, "CGLS residual rose")
        #expect(results[.sart]!.history.last!.relativeResidual < results[.sirt]!.history.last!.relativeResidual)
        var bounded = IterativeSettings()
        bounded.iterations = 20; bounded.upperBound = 0.03
        let clamped = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: .sirt, settings: bounded)
        #expect(clamped.volume.elements.allSatisfy { $0 >= 0 && $0 <= 0.03 })
        var early = IterativeSettings()
        early.iterations = 500; early.relativeChangeTolerance = 0.01
        let stopped = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: .sirt, settings: early)
        #expect(stopped.stoppedBy == "relative change" && stopped.history.count < 500 && stopped.history.last!.relativeChange < 0.01)
        #expect(throws: LensError.self) {
            var bad = IterativeSettings(); bad.relaxation = 2.5
            _ = try IterativeReconstruction.solve(projector, data: scan.lines, algorithm: .sirt, settings: bad)
        }
    }

    /// Against ASTRA's CPU SIRT (60 iterations) and CGLS (20) on the same noisy 135° sinogram
    /// (`Benchmarks/peers/iterative_reference.py`): the difference from ASTRA is under 1 % of the
    /// error either has against the slice itself (measured: 2 × 10⁻⁵ of it for SIRT, 4 × 10⁻⁴
    /// for CGLS — float rounding: both projectors are Joseph's linear interpolation with the
    /// same weights, and the solvers the same iterations).
    @Test func agreesWithASTRA() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/iterative_astra_64.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let n = try #require(json["size"] as? Int)
        let angles = try #require(json["angles_deg"] as? [Double])
        let sinogram = try #require(json["sinogram"] as? [Double]).map { Float($0) }
        let image = try #require(json["image"] as? [Double])
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: n, detectorRows: 1)
        let projector = try JosephProjector(geometry: geometry, volumeShape: Shape(1, n, n))
        let data = Grid(shape: Shape(angles.count, 1, n), elements: sinogram)
        func rms(_ a: [Double], _ b: [Double]) -> Double { (zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(a.count)).squareRoot() }
        for (name, algorithm) in [("sirt", ReconstructionAlgorithm.sirt), ("cgls", .cgls)] {
            let peer = try #require(json[name] as? [String: Any])
            let reference = try #require(peer["volume"] as? [Double])
            var settings = IterativeSettings()
            settings.iterations = try #require(peer["iterations"] as? Int)
            settings.nonNegative = false; settings.warmStart = false
            let ours = try IterativeReconstruction.solve(projector, data: data, algorithm: algorithm, settings: settings).volume.elements.map(Double.init)
            let (difference, ourError, peerError) = (rms(ours, reference), rms(ours, image), rms(reference, image))
            print(String(format: "%@ vs ASTRA: difference %.2e, error vs truth: ours %.2e, ASTRA %.2e", name, difference, ourError, peerError))
            #expect(difference < 0.01 * Swift.min(ourError, peerError), "\(name)")
            #expect(ourError < 1.1 * peerError, "\(name): BatteryLens's error exceeds ASTRA's")
        }
    }

    /// The operator seam: a projector restricted to a subset of its angles is still exactly
    /// adjoint (⟨Ax, y⟩ = ⟨x, Aᵀy⟩ on random vectors), parallel and cone beam.
    @Test func restrictedOperatorsStayAdjoint() throws {
        var rng = SeededRandom(seed: 5)
        func random(_ shape: Shape) -> Grid<Float> { Grid(shape: shape, elements: (0..<shape.count).map { _ in Float(rng.uniform()) }) }
        func check<Op: LinearOperator>(_ op: Op) throws {
            let x = random(op.domainShape), y = random(op.rangeShape)
            let ax = try op.apply(x), aty = try op.applyAdjoint(y)
            let left = zip(ax.elements, y.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let right = zip(x.elements, aty.elements).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(left - right) / abs(left) < 1e-4, "\(left) vs \(right)")
        }
        let parallel = try JosephProjector(geometry: ParallelBeamGeometry(anglesDegrees: (0..<40).map { Double($0) * 3.3 }, detectorColumns: 24, detectorRows: 3),
                                           volumeShape: Shape(3, 20, 20))
        try check(try parallel.restricted(toAngles: [1, 5, 9, 30]))
        let cone = try ConeBeamProjector(geometry: ConeBeamGeometry(anglesDegrees: (0..<30).map { Double($0) * 12 }, detectorRows: 12, detectorColumns: 16,
                                                                    detectorPixelMillimetres: 0.1, sourceToAxisMillimetres: 50,
                                                                    sourceToDetectorMillimetres: 100, voxelSizeMicrometres: 60),
                                         volumeShape: Shape(8, 10, 10))
        try check(try cone.restricted(toAngles: [0, 7, 14]))
    }
}
