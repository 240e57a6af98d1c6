import Foundation
import ImageAnalysis
import LensCore
import LensIO
import Testing

/// Agreement with scipy, cc3d, edt and scikit-image on the same input. The fixtures are made
/// once by Benchmarks/peers/segmentation_reference.py (its docstring gives the command).
@Suite struct PeerAgreementTests {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    func load(_ name: String) throws -> AnyGrid { try VolumeIO.read("\(fixtures)/\(name).npy") }
    var input: Grid<UInt8> { get throws { try load("seg_input").converted(to: UInt8.self) } }

    /// Labels equal up to renumbering: a one-to-one map between our labels and theirs.
    func sameUpToRenumbering(_ a: Grid<Int32>, _ b: Grid<Int32>) -> Bool {
        var forward: [Int32: Int32] = [:], backward: [Int32: Int32] = [:]
        for i in 0..<a.count {
            let (x, y) = (a[linear: i], b[linear: i])
            if (x == 0) != (y == 0) { return false }
            if let f = forward[x], f != y { return false }
            if let g = backward[y], g != x { return false }
            forward[x] = y; backward[y] = x
        }
        return true
    }

    @Test(arguments: [Connectivity.faces, .edges, .corners])
    func labellingMatchesCC3D(_ connectivity: Connectivity) throws {
        let ours = ConnectedComponents.label(try input, connectivity: connectivity)
        let theirs = try load("seg_cc3d_\(connectivity.rawValue)").converted(to: Int32.self)
        #expect(ours.count == Int(theirs.elements.max()!))
        #expect(sameUpToRenumbering(ours.labels, theirs))
    }

    /// Anisotropic EDT against scipy's `distance_transform_edt(sampling=(2, 1, 1.5))` to float
    /// precision (relative 1e-6; both are exact algorithms, float32 storage).
    @Test func anisotropicDistanceMatchesScipy() throws {
        var mask = try input
        mask.geometry = GridGeometry(voxelSizeMicrometres: [2.0, 1.0, 1.5])
        let ours = DistanceTransform.euclidean(mask)
        let theirs = try load("seg_scipy_edt_aniso").converted(to: Float.self)
        var worst: Float = 0
        for i in 0..<theirs.count {
            let d = ours.distances[linear: i] * Float(ours.unitMicrometres)
            worst = max(worst, abs(d - theirs[linear: i]) / max(1, theirs[linear: i]))
        }
        #expect(worst < 1e-6)
    }

    /// Multi-label EDT (each 6-connected component to its own boundary) against `edt.edt`.
    @Test func multiLabelDistanceMatchesEdt() throws {
        let labels = ConnectedComponents.label(try input, connectivity: .faces).labels
        let ours = DistanceTransform.euclidean(labels).distances
        let theirs = try load("seg_edt_multilabel").converted(to: Float.self)
        var worst: Float = 0
        for i in 0..<theirs.count { worst = max(worst, abs(ours[linear: i] - theirs[linear: i])) }
        #expect(worst < 1e-5)
    }

    /// Nearest-feature indices point at a background voxel at exactly the reported distance.
    @Test func nearestFeatureIndicesAreConsistent() throws {
        let mask = try input
        let map = DistanceTransform.euclidean(mask, returnNearestFeature: true)
        let nearest = try #require(map.nearestFeature)
        let (ny, nx) = (mask.shape[1], mask.shape[2])
        for i in stride(from: 0, to: mask.count, by: 7) where mask[linear: i] != 0 {
            let f = nearest[i]
            #expect(f >= 0 && mask[linear: f] == 0)
            let dz = Float(i / (ny * nx) - f / (ny * nx)), dy = Float((i / nx) % ny - (f / nx) % ny), dx = Float(i % nx - f % nx)
            #expect(abs((dz * dz + dy * dy + dx * dx).squareRoot() - map.distances[linear: i]) < 1e-4)
        }
    }

    /// Watershed of −EDT from h-maxima markers (h = 1.5) against scikit-image's `watershed` with
    /// `h_maxima` markers: the same number of regions and ≥ 99.9 % of voxels in corresponding
    /// regions (100 % since the flood queues a voxel at the level that reached it, as
    /// scikit-image does; only ties among markers of one level may still go another way).
    @Test func watershedMatchesScikitImage() throws {
        let mask = try input
        let ours = try Watershed.separateParticles(mask, h: 1.5, smoothingSigma: 0)
        let theirs = try load("seg_watershed").converted(to: Int32.self)
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/seg_thresholds.json"))) as! [String: Any]
        #expect(ours.count == reference["markers"] as! Int)
        // Majority mapping of our labels onto theirs.
        var votes: [Int32: [Int32: Int]] = [:]
        var foreground = 0
        for i in 0..<mask.count where mask[linear: i] != 0 {
            votes[ours.labels[linear: i], default: [:]][theirs[linear: i], default: 0] += 1; foreground += 1
        }
        let agreeing = votes.values.reduce(0) { $0 + ($1.values.max() ?? 0) }
        print("watershed agreement", Double(agreeing) / Double(foreground))
        #expect(Double(agreeing) / Double(foreground) > 0.999)
    }

    /// The bucket-queue flood over integer levels visits voxels in the heap flood's order: on
    /// −EDT with h-maxima markers (level from the squared distance) both give the same labels.
    @Test func levelFloodEqualsHeapFlood() throws {
        let mask = try input
        let distance = DistanceTransform.euclidean(mask).distances
        let markers = try Watershed.hMaximaMarkers(distance, h: 1.5, mask: mask)
        let heap = try Watershed.flood(relief: distance.map { -$0 }, markers: markers.labels, mask: mask)
        let top = distance.withUnsafeBufferPointer { $0.max() ?? 0 }
        let levels = distance.map { Int32((top * top).rounded()) - Int32(($0 * $0).rounded()) }
        let buckets = try Watershed.flood(levels: levels, markers: markers.labels, mask: mask)
        let differing = (0..<mask.count).filter { heap[linear: $0] != buckets[linear: $0] }.count
        print("level flood vs heap flood: \(differing) of \(mask.count) voxels differ")
        #expect(differing == 0)
        #expect(throws: LensError.self) { try Watershed.flood(levels: levels.map { $0 - 1 }, markers: markers.labels, mask: mask) }
    }

    /// Median 3×3×3 (mirrored borders) equals scipy's `median_filter(size=3)` exactly, on the
    /// selection path (float) and the histogram path (the same values as uint8).
    @Test func medianMatchesScipy() throws {
        let grey = try load("seg_grey").converted(to: Float.self)
        let theirs = try load("seg_median3").converted(to: Float.self)
        #expect(Filters.median(grey, radius: 1).elementsEqual(theirs))
        let bytes = grey.map { UInt8($0) }
        #expect(Filters.median(bytes, radius: 1).map { Float($0) }.elementsEqual(theirs))
    }

    /// Otsu and multi-Otsu thresholds equal scikit-image's on the same 256-bin histogram.
    @Test func thresholdsMatchScikitImage() throws {
        let grey = try load("seg_grey").converted(to: Float.self)
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/seg_thresholds.json"))) as! [String: Any]
        let histogram = try ValueHistogram(grey)
        #expect(abs(try Thresholds.otsu(histogram) - (reference["otsu"] as! Double)) < 1e-4)
        let multi = try Thresholds.multiOtsu(histogram, classes: 3)
        let expected = reference["multiotsu3"] as! [Double]
        #expect(zip(multi, expected).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}

/// Shapes with known answers for the operations without a peer fixture.
@Suite struct ShapeTests {
    func ball(_ n: Int, _ r: Double) -> Grid<UInt8> {
        let c = Double(n - 1) / 2
        return Grid(shape: Shape(n, n, n)) { i in
            let z = Double(i / (n * n)) - c, y = Double((i / n) % n) - c, x = Double(i % n) - c
            return z * z + y * y + x * x <= r * r ? 1 : 0
        }
    }

    /// Erosion and dilation by a ball of radius r equal the brute-force definitions.
    @Test func ballMorphologyMatchesDefinition() throws {
        let shape = ball(21, 6)
        let eroded = Morphology.erode(shape, radius: 2.5), dilated = Morphology.dilate(shape, radius: 2.5)
        var offsets: [(Int, Int, Int)] = []
        for dz in -2...2 { for dy in -2...2 { for dx in -2...2 where dz * dz + dy * dy + dx * dx <= 6 { offsets.append((dz, dy, dx)) } } }
        for z in 0..<21 { for y in 0..<21 { for x in 0..<21 {
            var all = true, any = false
            for (dz, dy, dx) in offsets {
                let zz = z + dz, yy = y + dy, xx = x + dx
                guard (0..<21).contains(zz), (0..<21).contains(yy), (0..<21).contains(xx) else { continue }
                if shape[zz, yy, xx] != 0 { any = true } else { all = false }
            }
            #expect(eroded[z, y, x] == (shape[z, y, x] != 0 && all ? 1 : 0))
            #expect(dilated[z, y, x] == (any ? 1 : 0))
        } } }
    }

    @Test func fillHolesKeepLargestRemoveSmall() throws {
        var shell = ball(15, 6)
        let inner = ball(15, 3)
        for i in 0..<shell.count where inner[linear: i] != 0 { shell[linear: i] = 0 }
        shell[0, 0, 0] = 1
        let filled = Morphology.fillHoles(shell)
        #expect(filled[7, 7, 7] == 1)
        let largest = Morphology.keepLargest(shell)
        #expect(largest[0, 0, 0] == 0 && largest[7, 7, 1] == 1)
        #expect(Morphology.removeSmallObjects(shell, minimumVoxels: 2)[0, 0, 0] == 0)
        #expect(throws: LensError.self) { try Morphology.requireBinary(shell.map { $0 * 3 }) }
    }

    /// Surface area of a sphere of radius 10 by the smoothed marching-tetrahedra mesh within
    /// 2 % of 4πr².
    @Test func sphereSurfaceArea() {
        let area = SurfaceArea.smoothedIndicatorArea(ball(31, 10))
        #expect(abs(area - 4 * Double.pi * 100) / (4 * Double.pi * 100) < 0.02)
    }

    /// Denoising: a noisy two-level step keeps its edge and loses most of its noise.
    @Test(arguments: ["bilateral", "nlm", "gaussian"])
    func denoisingReducesNoise(_ method: String) {
        var random = SeededRandom(seed: 4)
        let n = 24
        let clean = Grid<Float>(shape: Shape(n, n, n)) { i in i % n < n / 2 ? 0 : 1 }
        let noisy = Grid<Float>(shape: clean.shape, elements: clean.elements.map { $0 + Float(0.1 * random.normal()) })
        let out: Grid<Float>
        switch method {
        case "bilateral": out = Filters.bilateral(noisy, spatialSigma: 1.5, rangeSigma: 0.25)
        case "nlm": out = Filters.nonLocalMeans(noisy, noiseSigma: 0.1)
        default: out = Filters.gaussian(noisy, sigma: 1)
        }
        func rmse(_ g: Grid<Float>, away: Bool) -> Double {
            var s = 0.0, c = 0
            for i in 0..<g.count where !away || abs(i % n - n / 2) > 3 { let d = Double(g[linear: i] - clean[linear: i]); s += d * d; c += 1 }
            return (s / Double(c)).squareRoot()
        }
        #expect(rmse(out, away: true) < 0.5 * rmse(noisy, away: true))
        if method != "gaussian" { #expect(rmse(out, away: false) < rmse(noisy, away: false)) }
    }

    @Test func hysteresisKeepsConnectedWeakVoxels() throws {
        let image = Grid<Float>(shape: Shape(1, 1, 9), elements: [0, 0.6, 0.6, 0.9, 0.6, 0, 0.6, 0.6, 0])
        let result = try Thresholds.hysteresis(image, low: 0.5, high: 0.8)
        #expect(result.elements == [0, 1, 1, 1, 1, 0, 0, 0, 0])
    }
}
