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
    /// `h_maxima` markers: the same number of regions and ≥ 99 % of voxels in corresponding
    /// regions (ties on plateaus of the distance may be broken in a different order).
    @Test func watershedMatchesScikitImage() throws {
        let mask = try input
        let ours = try Watershed.separateParticles(mask, h: 1.5)
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
        #expect(Double(agreeing) / Double(foreground) > 0.99)
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
        #expect(abs(Thresholds.otsu(histogram) - (reference["otsu"] as! Double)) < 1e-4)
        let multi = try Thresholds.multiOtsu(histogram, classes: 3)
        let expected = reference["multiotsu3"] as! [Double]
        #expect(zip(multi, expected).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}
