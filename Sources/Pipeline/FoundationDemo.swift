import Foundation
import LensCore
import LensIO
import Signal

/// The demo chain that exists so far, on built-in synthetic data, ending in a report:
/// generate a two-phase volume with known truth → write and re-read it in every format (exact
/// round trips, slab reads equal full reads, throughput) → convert slab-wise (crop, bin,
/// rescale to uint8) and check the binned values → process a memory-mapped volume slab by
/// slab with bounded resident memory → FFT round trip and the radially averaged power spectrum
/// of a slice → threshold the noisy volume and compare the solid fraction with the truth →
/// PNG slices and an overlay → `summary.json` (with provenance) and `report.html`.
///
/// Later modules (reconstruction, segmentation, spectroscopy, Compton) extend this chain.
public enum FoundationDemo {
    public struct Options: Sendable {
        public var outputFolder: String
        /// Edge of the cubic test volume in voxels.
        public var size: Int = 128
        public var seed: UInt64 = 1
        public init(outputFolder: String, size: Int = 128, seed: UInt64 = 1) {
            self.outputFolder = outputFolder; self.size = size; self.seed = seed
        }
    }

    /// One format's round trip.
    public struct FormatCheck: Codable, Sendable, Equatable {
        public var format: String
        public var file: String
        public var sizeBytes: Int
        public var writeMegabytesPerSecond: Double
        public var readMegabytesPerSecond: Double
        /// Every element read back equals what was written.
        public var identical: Bool
        /// Reading in slabs gives the same elements as one full read.
        public var slabReadsEqualFullRead: Bool
        /// Voxel size read back equals what was written (µm).
        public var voxelSizeReadBack: [Double]?
    }

    public struct Report: Codable, Sendable {
        public var shape: [Int]
        public var voxelSizeMicrometres: [Double]
        public var particleCount: Int
        public var trueSolidFraction: Double
        public var measuredSolidFraction: Double
        public var thresholdPerMicrometre: Double
        public var formats: [FormatCheck]
        public var conversion: ConversionReport
        /// Largest difference between a binned output voxel (before rounding) and the mean of its
        /// 2×2×2 input block, in uint8 levels.
        public var conversionMaxErrorLevels: Double
        public var mappedVolumeBytes: Int
        public var mappedPeakResidentIncreaseBytes: Int
        public var fftRoundTripMaxError: Double
        /// Wavelength (µm) at the peak of the slice's radially averaged power spectrum.
        public var powerSpectrumPeakWavelengthMicrometres: Double
        public var meanParticleDiameterMicrometres: Double
        public var images: [String]
        public var provenance: Provenance
        public var allChecksPassed: Bool
    }

    public static func run(_ options: Options) throws -> Report {
        let out = options.outputFolder
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let log = ProgressReporter(label: "demo", total: 7)
        let voxel = 0.5
        let volume = SphereVolume.generate(size: options.size, voxelSizeMicrometres: voxel, seed: options.seed)
        log.advance()

        // 1. Round trips in every format.
        var formats = [FormatCheck]()
        let noisy = volume.noisy
        for (format, name) in [("tiff", "volume.tif"), ("hdf5", "volume.h5"), ("npy", "volume.npy"), ("tiff-folder", "volume_slices")] {
            formats.append(try roundTrip(AnyGrid(noisy), format: format, path: "\(out)/\(name)"))
        }
        let u16 = noisy.map { UInt16(clampingRounded: Double($0) * 1e5 + 1000) }
        formats.append(try roundTrip(AnyGrid(u16), format: "tiff-uint16", path: "\(out)/volume_u16.tif"))
        formats.append(try roundTrip(AnyGrid(u16), format: "raw-uint16", path: "\(out)/volume_u16.raw"))
        log.advance()

        // 2. Slab-wise conversion: crop, bin 2, rescale to uint8.
        let cropped = 8..<(options.size - 8)
        let plan = ConversionPlan(crop: [cropped, cropped, cropped], bin: 2, targetType: .uint8, scaling: .rescale(0...0.08))
        let conversion = try VolumeConverter.convert(try VolumeIO.open("\(out)/volume.h5"), to: "\(out)/volume_bin2_u8.tif", plan: plan)
        let converted = try VolumeIO.read("\(out)/volume_bin2_u8.tif").converted(to: Double.self)
        var maxError = 0.0
        noisy.withUnsafeBufferPointer { src in
            let n = options.size
            for (zo, yo, xo) in [(0, 0, 0), (3, 5, 7), (converted.shape[0] - 1, converted.shape[1] - 1, converted.shape[2] - 1)] {
                var sum = 0.0
                for dz in 0..<2 { for dy in 0..<2 { for dx in 0..<2 {
                    let z = 8 + zo * 2 + dz, y = 8 + yo * 2 + dy, x = 8 + xo * 2 + dx
                    sum += Double(src[(z * n + y) * n + x])
                } } }
                let expected = Swift.min(255, Swift.max(0, sum / 8 / 0.08 * 255))
                maxError = Swift.max(maxError, Swift.abs(converted[zo, yo, xo] - expected))
            }
        }
        log.advance()

        // 3. A memory-mapped volume processed slab by slab (square every voxel in place).
        let mappedPath = "\(out)/mapped.npy"
        let mappedShape = Shape(options.size * 2, options.size * 2, options.size * 2)
        let before = MemoryUsage.currentResidentBytes() ?? MemoryUsage.peakResidentBytes()
        MemoryUsage.resetPeak()
        try NPYReader.createMapped(path: mappedPath, shape: mappedShape, as: Float.self) { grid in
            let slab = 8
            for start in stride(from: 0, to: mappedShape[0], by: slab) {
                let range = start..<Swift.min(mappedShape[0], start + slab)
                var view = grid.slab(range)
                view.withUnsafeMutableBufferPointer { p in
                    for i in 0..<p.count { p[i] = Float((i + start) % 97) }
                }
                grid.releaseResidentMemory(slab: range)
            }
        }
        let peakIncrease = Swift.max(0, MemoryUsage.peakResidentBytes() - before)
        log.advance()

        // 4. FFT: round trip and the radially averaged power spectrum of the middle slice.
        let middle = noisy.slice(options.size / 2).copy()
        let spectrum = FFT.forward(middle.converted(to: Double.self))
        let back = FFT.inverse(spectrum, realShape: middle.shape)
        var fftError = 0.0
        let original = middle.converted(to: Double.self).elements
        for (a, b) in zip(original, back.elements) { fftError = Swift.max(fftError, Swift.abs(a - b)) }
        let peakWavelength = radialPowerPeakWavelength(spectrum, size: options.size, voxel: voxel)
        let meanDiameter = volume.spheres.map { 2 * $0.radiusVoxels * voxel }.reduce(0, +) / Double(volume.spheres.count)
        log.advance()

        // 5. Threshold halfway between the phases and compare with the truth.
        let threshold = (0.05 + volume.poreAttenuation) / 2
        let solidCount = noisy.withUnsafeBufferPointer { p in p.reduce(0) { $0 + (Double($1) > threshold ? 1 : 0) } }
        let measured = Double(solidCount) / Double(noisy.count)
        log.advance()

        // 6. Pictures.
        var images = [String]()
        let reader = try VolumeIO.open("\(out)/volume.h5")
        for (axis, colormap) in [(SliceAxis.z, Colormap.viridis), (.y, .grey), (.x, .magma)] {
            let plane = try SliceExtraction.extract(reader, axis: axis, index: options.size / 2)
            let name = "slice_\(axis.rawValue)_\(colormap.rawValue).png"
            try PNGWriter.encode(SliceRenderer.render(plane, colormap: colormap), to: "\(out)/\(name)")
            images.append(name)
        }
        let plane = try SliceExtraction.extract(reader, axis: .z, index: options.size / 2)
        let grey = SliceRenderer.render(plane, colormap: .grey)
        let mask = volume.solidMask.slice(options.size / 2).copy()
        try PNGWriter.encode(try SliceRenderer.overlay(grey, mask: mask, colour: (255, 80, 40), alpha: 0.35), to: "\(out)/overlay_solid.png")
        images.append("overlay_solid.png")
        log.advance()
        log.finish()

        let checks = formats.allSatisfy { $0.identical && $0.slabReadsEqualFullRead } && maxError <= 0.5 + 1e-9
            && fftError < 1e-9 && Swift.abs(measured - volume.solidFraction) < 0.01
        let provenance = Provenance(parameters: ["size": .number(Double(options.size)), "seed": .number(Double(options.seed)),
                                                 "voxel_size_um": .number(voxel), "noise_sigma_per_um": .number(volume.noiseSigma)])
        let report = Report(shape: noisy.shape.dims, voxelSizeMicrometres: noisy.geometry.voxelSizeMicrometres,
                            particleCount: volume.spheres.count, trueSolidFraction: volume.solidFraction,
                            measuredSolidFraction: measured, thresholdPerMicrometre: threshold, formats: formats,
                            conversion: conversion, conversionMaxErrorLevels: maxError,
                            mappedVolumeBytes: mappedShape.count * 4, mappedPeakResidentIncreaseBytes: peakIncrease,
                            fftRoundTripMaxError: fftError, powerSpectrumPeakWavelengthMicrometres: peakWavelength,
                            meanParticleDiameterMicrometres: meanDiameter, images: images, provenance: provenance,
                            allChecksPassed: checks)
        try? FileManager.default.removeItem(atPath: mappedPath)
        try JSONOutput.write(report, to: "\(out)/summary.json")
        try AtomicOutput.write(Data(html(report).utf8), to: "\(out)/report.html")
        return report
    }

    static func roundTrip(_ grid: AnyGrid, format: String, path: String) throws -> FormatCheck {
        let start = Date()
        let raw: RawLayout? = format.hasPrefix("raw") ? RawLayout(shape: grid.shape, dataType: grid.dataType) : nil
        try VolumeIO.write(grid, to: path)
        let writeSeconds = Date().timeIntervalSince(start)
        let readStart = Date()
        let reader = try VolumeIO.open(path, raw: raw)
        let full = try reader.readAll()
        let readSeconds = Date().timeIntervalSince(readStart)
        let identical = bytesEqual(full, grid)
        var slabsEqual = true
        var z = 0
        while z < grid.shape[0] {
            let end = Swift.min(grid.shape[0], z + 13)
            if !bytesEqual(try reader.readSlab(z..<end), full.slab(z..<end)) { slabsEqual = false }
            z = end
        }
        let megabytes = Double(grid.byteCount) / 1e6
        let size = fileSize(path)
        return FormatCheck(format: format, file: URL(fileURLWithPath: path).lastPathComponent, sizeBytes: size,
                           writeMegabytesPerSecond: megabytes / Swift.max(writeSeconds, 1e-6),
                           readMegabytesPerSecond: megabytes / Swift.max(readSeconds, 1e-6), identical: identical,
                           slabReadsEqualFullRead: slabsEqual,
                           voxelSizeReadBack: reader.info.geometry.isCalibrated ? reader.info.geometry.voxelSizeMicrometres : nil)
    }

    static func bytesEqual(_ a: AnyGrid, _ b: AnyGrid) -> Bool {
        guard a.shape == b.shape, a.dataType == b.dataType else { return false }
        return a.withGrid { ga in b.withGrid { gb in ga.withUnsafeRawBytes { ra in gb.withUnsafeRawBytes { rb in ra.elementsEqual(rb) } } } }
    }

    static func fileSize(_ path: String) -> Int {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue { return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(0) { $0 + fileSize(path + "/" + $1) }
    }

    /// Wavelength at the maximum of the radially averaged power spectrum (excluding the lowest
    /// frequencies, which hold the mean and the field-of-view scale).
    static func radialPowerPeakWavelength(_ spectrum: Grid<ComplexFloat64>, size: Int, voxel: Double) -> Double {
        let rows = spectrum.shape[0], cols = spectrum.shape[1]
        var power = [Double](repeating: 0, count: size / 2 + 1)
        var counts = [Int](repeating: 0, count: size / 2 + 1)
        for ky in 0..<rows {
            let fy = ky <= rows / 2 ? ky : ky - rows
            for kx in 0..<cols {
                let r = Int((Double(fy * fy + kx * kx)).squareRoot().rounded())
                guard r < power.count else { continue }
                let c = spectrum[ky, kx]
                power[r] += c.real * c.real + c.imaginary * c.imaginary
                counts[r] += 1
            }
        }
        var best = 3
        for k in 3..<power.count where counts[k] > 0 && power[k] / Double(counts[k]) > power[best] / Double(Swift.max(1, counts[best])) { best = k }
        return Double(size) * voxel / Double(best)
    }

    static func html(_ r: Report) -> String {
        func f(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }
        let rows = r.formats.map { c in
            "<tr><td>\(c.format)</td><td>\(c.file)</td><td>\(c.sizeBytes / 1024) KiB</td><td>\(f(c.writeMegabytesPerSecond, 0))</td><td>\(f(c.readMegabytesPerSecond, 0))</td><td>\(c.identical ? "✓" : "✗")</td><td>\(c.slabReadsEqualFullRead ? "✓" : "✗")</td></tr>"
        }.joined(separator: "\n")
        let pictures = r.images.map { "<figure><img src=\"\($0)\" width=\"256\"><figcaption>\($0)</figcaption></figure>" }.joined()
        return """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>BatteryLens demo report</title>
        <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}figure{display:inline-block;margin:4px}</style></head><body>
        <h1>BatteryLens demo report</h1>
        <p>\(r.provenance.software) \(r.provenance.version), \(r.provenance.createdAt). Synthetic two-phase volume \(r.shape.map(String.init).joined(separator: "×")) at \(f(r.voxelSizeMicrometres[0], 2)) µm, \(r.particleCount) particles. Overall: <b>\(r.allChecksPassed ? "all checks passed" : "CHECKS FAILED")</b>.</p>
        <h2>Phase fraction</h2>
        <p>Solid fraction: truth \(f(r.trueSolidFraction, 4)), after thresholding the noisy volume at \(f(r.thresholdPerMicrometre, 4)) µm⁻¹: \(f(r.measuredSolidFraction, 4)) (difference \(f((r.measuredSolidFraction - r.trueSolidFraction) * 100, 2)) percentage points).</p>
        <h2>File formats (write, re-read, compare)</h2>
        <table><tr><th>format</th><th>file</th><th>size</th><th>write MB/s</th><th>read MB/s</th><th>identical</th><th>slab reads = full read</th></tr>
        \(rows)</table>
        <h2>Conversion</h2><p>\(r.conversion.inputShape) \(r.conversion.inputType) → \(r.conversion.outputShape) \(r.conversion.outputType), bin \(r.conversion.bin); \(r.conversion.valueMapping); \(r.conversion.clippedCount) values clipped; largest error against a direct block mean: \(f(r.conversionMaxErrorLevels, 3)) levels.</p>
        <h2>Memory-mapped slab processing</h2><p>A \(r.mappedVolumeBytes / 1_048_576) MiB volume written slab by slab through a memory map raised peak resident memory by \(r.mappedPeakResidentIncreaseBytes / 1_048_576) MiB.</p>
        <h2>Fourier analysis of the middle slice</h2><p>FFT round-trip error \(String(format: "%.2e", r.fftRoundTripMaxError)); the radially averaged power spectrum peaks at a wavelength of \(f(r.powerSpectrumPeakWavelengthMicrometres, 1)) µm (mean particle diameter \(f(r.meanParticleDiameterMicrometres, 1)) µm).</p>
        <h2>Slices</h2>\(pictures)
        </body></html>
        """
    }
}
