import Foundation
import LensCore
import Testing
import Damage
import Tomography

/// The missing wedge of a limited-angle scan, in the projector's own convention: a dark sheet
/// through a disc, projected over 0…90° and reconstructed by FBP, keeps its dip where
/// ``ScanAngles`` says its normal is recorded and loses it where it says the normal faces the
/// wedge — for an asymmetric range, so that a sign error in the convention would show.
@Suite struct ScanAnglesTests {
    /// The reconstructed dip (solid − grey at the sheet, in units of the contrast) of a sheet
    /// 2 voxels wide with in-plane normal at `azimuthDegrees` (index axes, atan2(n_y, n_x))
    /// through a disc of radius 24, from 181 projections over 0…90°.
    static func dip(azimuthDegrees: Double) throws -> Double {
        let (nz, n) = (2, 64)
        let a = azimuthDegrees * .pi / 180
        let normal = SIMD2(cos(a), sin(a))   // (x, y)
        let c = Double(n - 1) / 2
        let volume = Grid<Float>(shape: Shape(nz, n, n)) { i in
            let (y, x) = (Double(i / n % n) - c, Double(i % n) - c)
            guard x * x + y * y <= 24 * 24 else { return 0 }
            return abs(x * normal.x + y * normal.y) <= 1 ? 0 : 1
        }
        let angles = ParallelBeamGeometry.evenlySpacedAnglesDegrees(count: 181, rangeDegrees: 90, startDegrees: 0)
        let geometry = ParallelBeamGeometry(anglesDegrees: angles, detectorColumns: n, detectorRows: nz)
        let projector = try JosephProjector(geometry: geometry, volumeShape: volume.shape)
        let slice = try FilteredBackProjection.reconstruct(try projector.project(volume), geometry: geometry)
        func grey(_ t: Double) -> Double {
            let (x, y) = (c + t * normal.x, c + t * normal.y)
            return Double(slice[0, Int(y.rounded()), Int(x.rounded())])
        }
        let solid = (grey(-8) + grey(8) + grey(-10) + grey(10)) / 4
        return solid - grey(0)
    }

    @Test func theWedgeIsWhereTheProjectorMissesSheets() throws {
        let scan = try ScanAngles(startDegrees: 0, endDegrees: 90)
        var checked = 0
        for azimuth in [-45.0, 45, 0, 90, -60, 60] {
            let normal = SIMD3(0, sin(azimuth * .pi / 180), cos(azimuth * .pi / 180))   // (z, y, x)
            let inWedge = scan.missingWedgeContains(normal: normal)
            let depth = try Self.dip(azimuthDegrees: azimuth)
            print(String(format: "sheet normal at %+.0f°: dip %.2f of the contrast, in the missing wedge: %@", azimuth, depth, inWedge ? "yes" : "no"))
            // The edges of the range (0°, ±90°) are half recorded: judged only well inside.
            if abs(azimuth) == 45 || abs(azimuth) == 60 {
                #expect(inWedge ? depth < 0.3 : depth > 0.6)
                checked += 1
            }
        }
        #expect(checked == 4)
        #expect(scan.missingWedgeContains(normal: SIMD3(0, sin(-Double.pi / 4), cos(-Double.pi / 4))) == false)
        #expect(scan.missingWedgeContains(normal: SIMD3(0, sin(Double.pi / 4), cos(Double.pi / 4))) == true)
        // Near the rotation axis every projection records it; a full scan has no wedge.
        #expect(scan.missingWedgeContains(normal: SIMD3(0.9, 0.3, 0.3)) == false)
        #expect(try ScanAngles(startDegrees: 0, endDegrees: 180).missingWedgeContains(normal: SIMD3(0, 1, 1)) == false)
        #expect(throws: LensError.self) { _ = try ScanAngles(startDegrees: 10, endDegrees: 10) }
        #expect(throws: LensError.self) { _ = try ScanAngles(startDegrees: 0, endDegrees: .nan) }
        // Settings decoded from a recipe or summary are checked too.
        var settings = CrackSettings()
        settings.scanAngles = try JSONDecoder().decode(ScanAngles.self, from: Data(#"{"startDegrees": 90, "endDegrees": 0}"#.utf8))
        #expect(throws: LensError.self) { try settings.validate() }
    }
}
