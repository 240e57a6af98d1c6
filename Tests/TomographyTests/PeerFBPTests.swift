import Foundation
import LensCore
import Phantoms
import Testing
import Tomography

/// Accuracy against scikit-image's `iradon` on the same exact sinogram (512², 720 angles over
/// 180°). The peer's RMSE against the true slice is a fixture made once by
/// `Benchmarks/peers/fbp_reference.py fixtures` (which also wrote the phantom's discs); the
/// tolerance is the issue's: BatteryLens's RMSE within 1.05× of the peer's, same filter.
@Suite struct PeerFBPTests {
    struct PeerResult: Decodable { let rmse: Double; let pixels: Int }
    struct Fixture: Decodable {
        let size: Int
        let angles: Int
        let discs: [AnalyticDiscSlice.Disc]
        let sinogram_sum: Double
        let rmse_radius_fraction: Double
        let peer: [String: PeerResult]
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/iradon_512.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    @Test(arguments: [FilterWindow.sheppLogan, .ramLak, .hann])
    func rmseWithinPeerOnTheSameSinogram(window: FilterWindow) throws {
        let f = PeerFBPTests.fixture
        let n = f.size
        let angles = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: f.angles)
        // The fixture's discs have y up (scikit-image's row r holds y = −(r − N/2)); BatteryLens's
        // y is the row offset, down: the same discs, mirrored in y, give the same sinogram.
        let slice = AnalyticDiscSlice(discs: f.discs.map { var d = $0; d.y = -d.y; return d })
        // The peer's rotation centre is column n/2: BatteryLens is told so (offset +0.5 from (n−1)/2).
        let sinogram = slice.sinogram(anglesDegrees: angles, columns: n, axisColumn: Double(n) / 2)
        // Same input as the peer's: the sums agree to float rounding.
        let sum = sinogram.elements.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - f.sinogram_sum) < 1e-5 * f.sinogram_sum)

        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: n, detectorRows: 1, centreOffsetPixels: 0.5)
        var options = FBPOptions()
        options.window = window
        let volume = try FilteredBackProjection.reconstruct(sinogram.reshaped(Shape(f.angles, 1, n)), geometry: geometry, options: options)
        let centre = Double(n - 1) / 2
        let truth = slice.image(size: n, centre: centre)
        let radius = f.rmse_radius_fraction * Double(n) / 2
        var total = 0.0, count = 0
        for row in 0..<n { for col in 0..<n {
            let (dy, dx) = (Double(row) - centre, Double(col) - centre)
            guard dx * dx + dy * dy <= radius * radius else { continue }
            let d = Double(volume[0, row, col]) - Double(truth[row, col])
            total += d * d; count += 1
        } }
        let ours = (total / Double(count)).squareRoot()
        let peer = try #require(f.peer[window.rawValue])
        #expect(abs(count - peer.pixels) < peer.pixels / 100)
        #expect(ours <= 1.05 * peer.rmse, "RMSE \(ours) vs scikit-image \(peer.rmse) (\(window.rawValue))")
        print("FBP \(window.rawValue) 512²×720: RMSE \(ours) vs scikit-image iradon \(peer.rmse) (ratio \(ours / peer.rmse))")
    }
}
