import Foundation
import LensCore
import Pipeline
import Spectroscopy
import Testing

/// The real, aligned ALS STXM stack (Fe L3, 125 × 125 pixels × 123 energies, with its I0 and
/// the Fe(II)/Fe(III) reference spectra, ../shared/data/spectroscopy/stetef_nanoxanes) through
/// the whole XANES workflow: alignment (the stack is already aligned, so every shift found must
/// be under a pixel), normalization, edge energies and LCF with uncertainties.
struct XANESRealDataTests {
    static let folder: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("shared/data/spectroscopy/stetef_nanoxanes").path
    }()

    @Test func alsStxmStackThroughTheWorkflow() throws {
        let stack = Self.folder + "/ALS_STXM_71214078_FigS4_aligned"
        let frames = (0..<123).map { String(format: "%@/71214078_a%03d.xim", stack, $0) }
        var inputs = XANESInputs(stackPaths: frames, energiesPath: Self.folder + "/ALS_Energy.txt")
        inputs.flatPath = stack + "/i0.xsp"
        inputs.referencePaths = [stack + "/reduced.r", stack + "/oxidized.r"]
        var options = XANESOptions()
        options.alignment = StackAlignmentSettings()
        options.clusters = 2
        let out = NSTemporaryDirectory() + "batterylens-stxm-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try XANESWorkflow.run(inputs: inputs, options: options, outputFolder: out)
        let maps = run.maps
        // Fe L3: the edge of the mean spectrum lies between 705 and 712 eV.
        #expect(run.calibration.e0 > 705 && run.calibration.e0 < 712, "E0 \(run.calibration.e0)")
        // Already aligned: the registration finds sub-pixel shifts only, even chained over 61
        // neighbours (refining by interpolating one image instead drifted 0.1 px per link on
        // these ~300-count images: interpolation smooths noise and favours half-pixel shifts).
        let largest = run.alignment!.shifts.flatMap { $0 }.map(abs).max()!
        #expect(largest < 1, "largest shift \(largest) px")
        // The particle is analysed; empty areas are masked for a low edge jump, and counted.
        let valid = maps.maskCounts[.valid] ?? 0
        #expect(valid > 1000 && (maps.maskCounts[.lowEdgeJump] ?? 0) > 0, "\(maps.maskCounts)")
        // LCF: weights sum to one at every analysed pixel; errors are finite and positive.
        for p in 0..<maps.mask.count where maps.mask[linear: p] == 0 {
            let sum = maps.fractions[0][linear: p] + maps.fractions[1][linear: p]
            #expect(abs(sum - 1) < 1e-4)
            #expect(maps.fractionSigmas[0][linear: p] > 0)
        }
        #expect(FileManager.default.fileExists(atPath: out + "/fraction_oxidized.tif"))
        #expect(run.clusters?.pixelCounts.count == 2)
    }
}
