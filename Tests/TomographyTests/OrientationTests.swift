import Foundation
import LensCore
import Testing
import Tomography

/// Reconstructions are the right way up by the convention of scikit-image and ASTRA (issue
/// 17): the same sinogram reconstructs to the image itself, not its mirror. The sinograms are a
/// fixture made once by `Benchmarks/peers/orientation_reference.py`.
@Suite struct OrientationTests {
    struct Peer: Decodable { let sinogram: [Double]; let axis_column: Double }
    struct Fixture: Decodable {
        let size: Int
        let angles_deg: [Double]
        let image: [Double]
        let skimage: Peer
        let astra: Peer?
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/orientation_64.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    static func correlation(_ a: [Double], _ b: [Double]) -> Double {
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += (x - ma) * (y - mb); aa += (x - ma) * (x - ma); bb += (y - mb) * (y - mb) }
        return ab / (aa * bb).squareRoot()
    }

    @Test(arguments: ["skimage", "astra"])
    func reconstructionIsTheImageNotItsMirror(peer name: String) throws {
        let f = Self.fixture
        guard let peer = name == "skimage" ? f.skimage : f.astra else { return }
        let n = f.size
        let sinogram = Grid<Float>(shape: Shape(f.angles_deg.count, 1, n), elements: peer.sinogram.map { Float($0) })
        let geometry = ParallelBeamGeometry(anglesDegrees: f.angles_deg, detectorColumns: n, detectorRows: 1,
                                            centreOffsetPixels: peer.axis_column - Double(n - 1) / 2)
        let volume = try FilteredBackProjection.reconstruct(sinogram, geometry: geometry, options: FBPOptions())
        let slice = (0..<(n * n)).map { Double(volume[linear: $0]) }
        func mirrored(_ image: [Double], rows: Bool, columns: Bool) -> [Double] {
            (0..<(n * n)).map { i in
                let (r, c) = (i / n, i % n)
                return image[(rows ? n - 1 - r : r) * n + (columns ? n - 1 - c : c)]
            }
        }
        let same = Self.correlation(slice, f.image)
        let upDown = Self.correlation(slice, mirrored(f.image, rows: true, columns: false))
        let leftRight = Self.correlation(slice, mirrored(f.image, rows: false, columns: true))
        #expect(same > 0.9, "\(name): r = \(same) with the image (up-down mirror \(upDown), left-right \(leftRight))")
        #expect(same > upDown + 0.3 && same > leftRight + 0.3)
    }
}
