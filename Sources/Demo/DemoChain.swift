import Foundation
import LensCore
import LensIO
import Phantoms
import Pipeline
import Signal
import Spectroscopy

/// The demo chain that exists so far, on built-in synthetic data, ending in a report:
/// generate an electrode phantom with known truth (particles, cracks, binder, separator,
/// current collector) → add detector-like noise → write and re-read it in every format (exact
/// round trips, slab reads equal full reads, throughput) → convert slab-wise (crop, bin,
/// rescale to uint8) and check the binned values → process a memory-mapped volume slab by
/// slab with bounded resident memory → FFT round trip and the radially averaged power spectrum
/// of a slice → threshold the noisy volume and compare the active-material fraction with the
/// truth overall and per depth region → simulate a parallel-beam scan (noise, rings, zingers,
/// axis offset), write it as Data Exchange and read it back → PNG slices, an overlay and a
/// sinogram → a TXM-XANES stack of particles with known state of charge (photon noise, drift)
/// through the XANES workflow (alignment, normalization, edge energies, LCF with uncertainties,
/// PCA, k-means, per-particle statistics), scored against the truth → `summary.json` (with
/// provenance) and `report.html`.
///
/// Later modules (reconstruction, segmentation, Compton) extend this chain.
public enum DemoChain {
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

    /// The XANES step: a 2D stack of particles with known state of charge, analysed from files.
    public struct XANESCheck: Codable, Sendable {
        public var frameShape: [Int]
        public var energies: Int
        public var incidentPhotons: Double
        public var driftSigmaPixels: Double
        public var e0ElectronVolts: Double
        public var analysedPixels: Int
        public var maskedPixels: Int
        /// RMS of (fitted − true) state of charge (the charged fraction) over analysed pixels
        /// inside particles, and the share of them whose error is within their reported 1σ.
        public var fractionRMSE: Double
        public var fractionWithinOneSigma: Double
        /// RMS of the alignment's shifts against the simulated drifts (relative to the anchor).
        public var alignmentRMSEPixels: Double
        public var particles: Int
        public var medianRadialIndex: Double?
        public var clusterPixels: [Int]
    }

    public struct Report: Codable, Sendable {
        public var shape: [Int]
        public var voxelSizeMicrometres: [Double]
        public var particleCount: Int
        public var crackedParticleCount: Int
        /// Active-material fraction of the electrode layer: truth (labels) and measured by
        /// thresholding the noisy attenuation halfway between pore and active material.
        public var trueSolidFraction: Double
        public var measuredSolidFraction: Double
        public var trueSolidFractionByRegion: [Double]
        public var measuredSolidFractionByRegion: [Double]
        public var thresholdPerMicrometre: Double
        /// The simulated scan: shape (angle, row, column), the axis column put in, and what the
        /// Data Exchange reader found.
        public var scanShape: [Int]
        public var scanRotationAxisColumn: Double
        public var scanReadBackProjections: Int
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
        public var xanes: XANESCheck
        public var images: [String]
        public var provenance: Provenance
        public var allChecksPassed: Bool
    }

    public static func run(_ options: Options) throws -> Report {
        let out = options.outputFolder
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let log = ProgressReporter(label: "demo", total: 8)
        let voxel = 0.5
        var parameters = ElectrodeParameters()
        parameters.shape = [options.size, options.size, options.size]
        parameters.voxelSizeMicrometres = voxel
        parameters.medianParticleDiameterMicrometres = Swift.max(4, Double(options.size) * voxel / 8)
        parameters.separatorThicknessVoxels = options.size / 16
        parameters.currentCollectorThicknessVoxels = options.size / 16
        parameters.crackProbability = 0.4
        parameters.seed = options.seed
        let phantom = try ElectrodePhantom.generate(parameters)
        let mu = parameters.attenuation.at(energyKeV: parameters.energyKeV)
        // Detector-like noise: σ = 8 % of the active material's attenuation.
        let noiseSigma = 0.08 * mu.activePerMicrometre
        var noiseRng = SeededRandom(seed: options.seed ^ 0xD1CE)
        var noisyValues = phantom.attenuation.elements
        for i in noisyValues.indices { noisyValues[i] += Float(noiseSigma * noiseRng.normal()) }
        let noisy = Grid(shape: phantom.attenuation.shape, geometry: phantom.attenuation.geometry, elements: noisyValues)
        log.advance()

        // 1. Round trips in every format.
        var formats = [FormatCheck]()
        for (format, name) in [("tiff", "volume.tif"), ("hdf5", "volume.h5"), ("npy", "volume.npy"), ("tiff-folder", "volume_slices")] {
            formats.append(try roundTrip(AnyGrid(noisy), format: format, path: "\(out)/\(name)"))
        }
        formats.append(try roundTrip(AnyGrid(phantom.phases), format: "tiff-uint8-labels", path: "\(out)/phases.tif"))
        formats.append(try roundTrip(AnyGrid(phantom.particleIDs), format: "hdf5-int32-labels", path: "\(out)/particles.h5"))
        let u16 = noisy.map { UInt16(clampingRounded: Double($0) * 2e6 + 1000) }
        formats.append(try roundTrip(AnyGrid(u16), format: "raw-uint16", path: "\(out)/volume_u16.raw"))
        log.advance()

        // 2. Slab-wise conversion: crop, bin 2, rescale to uint8.
        let cropped = 8..<(options.size - 8)
        let rescale = 0...(1.5 * mu.activePerMicrometre)
        let plan = ConversionPlan(crop: [cropped, cropped, cropped], bin: 2, targetType: .uint8, scaling: .rescale(rescale))
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
                let expected = Swift.min(255, Swift.max(0, sum / 8 / rescale.upperBound * 255))
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
        let meanDiameter = phantom.truth.particles.map(\.equivalentDiameterMicrometres).reduce(0, +) / Double(Swift.max(1, phantom.truth.particleCount))
        log.advance()

        // 5. Threshold halfway between pore and active material; compare with the labels.
        let threshold = (mu.activePerMicrometre + mu.porePerMicrometre) / 2
        let (nz, plane) = (options.size, options.size * options.size)
        var measuredBySlice = [Int](repeating: 0, count: nz), trueBySlice = [Int](repeating: 0, count: nz)
        noisy.withUnsafeBufferPointer { p in
            phantom.phases.withUnsafeBufferPointer { ph in
                for z in 0..<nz { for i in (z * plane)..<((z + 1) * plane) {
                    if Double(p[i]) > threshold { measuredBySlice[z] += 1 }
                    if ph[i] == ElectrodePhase.active.rawValue { trueBySlice[z] += 1 }
                } }
            }
        }
        func fraction(_ counts: [Int], _ zs: Range<Int>) -> Double { Double(zs.reduce(0) { $0 + counts[$1] }) / Double(zs.count * plane) }
        let electrodeSlices = phantom.truth.depthRegions.first!.zStart..<phantom.truth.depthRegions.last!.zEnd
        let measured = fraction(measuredBySlice, electrodeSlices)
        let trueFraction = fraction(trueBySlice, electrodeSlices)
        let regions = phantom.truth.depthRegions.map { $0.zStart..<$0.zEnd }
        log.advance()

        // 5b. A parallel-beam scan of the clean attenuation, written as Data Exchange and read back.
        var acquisition = AcquisitionParameters()
        acquisition.projectionCount = 90
        acquisition.centreOffsetPixels = 3.3
        acquisition.defectivePixelFraction = 0.01
        acquisition.zingerProbability = 1e-4
        acquisition.seed = options.seed
        let scan = try ParallelScanSimulator.simulate(phantom.attenuation, acquisition)
        try ParallelScanSimulator.writeDataExchange(projections: scan.projections, flats: scan.flats, darks: scan.darks,
                                                    truth: scan.truth, to: "\(out)/scan.h5")
        let scanReader = try TomographyScanReader(path: "\(out)/scan.h5")
        // The middle row's sinogram through the reconstruction's own flat-field correction.
        let row = options.size / 2
        let lines = try ScanReconstruction.lineIntegrals(source: scanReader, rows: row..<(row + 1), settings: ReconstructionSettings(pixelSizeMicrometres: nil))
        let sinogram = lines.reshaped(Shape(lines.shape[0], lines.shape[2]))
        // 6. Pictures.
        var images = [String]()
        let reader = try VolumeIO.open("\(out)/volume.h5")
        for (axis, colormap) in [(SliceAxis.z, Colormap.viridis), (.y, .grey), (.x, .magma)] {
            let plane = try SliceExtraction.extract(reader, axis: axis, index: options.size / 2)
            let name = "slice_\(axis.rawValue)_\(colormap.rawValue).png"
            try PNGWriter.encode(SliceRenderer.render(plane, colormap: colormap), to: "\(out)/\(name)")
            images.append(name)
        }
        let middle2D = try SliceExtraction.extract(reader, axis: .z, index: options.size / 2)
        let grey = SliceRenderer.render(middle2D, colormap: .grey)
        let mask = phantom.phases.slice(options.size / 2).map { UInt8($0 == ElectrodePhase.active.rawValue ? 1 : 0) }
        try PNGWriter.encode(try SliceRenderer.overlay(grey, mask: mask, colour: (255, 80, 40), alpha: 0.35), to: "\(out)/overlay_solid.png")
        images.append("overlay_solid.png")
        try PNGWriter.encode(SliceRenderer.render(sinogram, colormap: .grey), to: "\(out)/sinogram.png")
        images.append("sinogram.png")
        log.advance()

        // 7. TXM-XANES from files: stack, I0, energies, references and particle labels written,
        // then read back and analysed as `batterylens xanes` does.
        let xanes = try xanesStep(folder: "\(out)/xanes", seed: options.seed)
        images.append("xanes/edge_energy.png")
        log.advance()
        log.finish()

        let checks = formats.allSatisfy { $0.identical && $0.slabReadsEqualFullRead } && maxError <= 0.5 + 1e-9
            && fftError < 1e-9 && Swift.abs(measured - trueFraction) < 0.01 && scanReader.projectionCount == acquisition.projectionCount
            && xanes.fractionRMSE <= 0.03 && xanes.alignmentRMSEPixels <= 0.3
        let provenance = Provenance(parameters: ["size": .number(Double(options.size)), "seed": .number(Double(options.seed)),
                                                 "voxel_size_um": .number(voxel), "noise_sigma_per_um": .number(noiseSigma)])
        let report = Report(shape: noisy.shape.dims, voxelSizeMicrometres: noisy.geometry.voxelSizeMicrometres,
                            particleCount: phantom.truth.particleCount, crackedParticleCount: phantom.truth.crackedParticleCount,
                            trueSolidFraction: trueFraction, measuredSolidFraction: measured,
                            trueSolidFractionByRegion: regions.map { fraction(trueBySlice, $0) },
                            measuredSolidFractionByRegion: regions.map { fraction(measuredBySlice, $0) },
                            thresholdPerMicrometre: threshold, scanShape: scan.projections.shape.dims,
                            scanRotationAxisColumn: scan.truth.rotationAxisColumn, scanReadBackProjections: scanReader.projectionCount,
                            formats: formats,
                            conversion: conversion, conversionMaxErrorLevels: maxError,
                            mappedVolumeBytes: mappedShape.count * 4, mappedPeakResidentIncreaseBytes: peakIncrease,
                            fftRoundTripMaxError: fftError, powerSpectrumPeakWavelengthMicrometres: peakWavelength,
                            meanParticleDiameterMicrometres: meanDiameter, xanes: xanes, images: images, provenance: provenance,
                            allChecksPassed: checks)
        try? FileManager.default.removeItem(atPath: mappedPath)
        try JSONOutput.write(phantom.truth, to: "\(out)/phantom_truth.json")
        try JSONOutput.write(report, to: "\(out)/summary.json")
        try AtomicOutput.write(Data(html(report).utf8), to: "\(out)/report.html")
        return report
    }

    /// A 64² Ni K-edge stack (63 energies, 10⁵ photons, σ = 1 px drift) of particles with known
    /// state of charge, written as HDF5 + text files and analysed with alignment, the documented
    /// TXM ranges (pre −160…−40 eV, post 45…225 eV, constant), the two end members as
    /// references, PCA, k-means (2) and per-particle statistics.
    static func xanesStep(folder: String, seed: UInt64) throws -> XANESCheck {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let scene = try SpectralScenes.stateOfCharge(size: 64, rank: 2, seed: seed + 2)
        var p = XANESParameters()
        p.incidentPhotons = 1e5
        p.shiftSigmaPixels = 1
        p.seed = seed
        let sim = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p)
        try VolumeIO.write(sim.intensity, to: "\(folder)/intensity.tif")
        try VolumeIO.write(sim.flat, to: "\(folder)/flat.tif")
        try VolumeIO.write(scene.labels, to: "\(folder)/labels.tif")
        try AtomicOutput.write(Data(p.energiesElectronVolts.map { String($0) }.joined(separator: "\n").appending("\n").utf8), to: "\(folder)/energies.txt")
        var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("discharged"), TableColumn("charged")])
        for row in XANESSimulator.referenceTable(energies: Array(stride(from: 8150.0, through: 8600, by: 0.5))) { table.append(row.map { .number($0) }) }
        try table.write(to: "\(folder)/references.csv")
        var inputs = XANESInputs(stackPaths: ["\(folder)/intensity.tif"], energiesPath: "\(folder)/energies.txt")
        inputs.flatPath = "\(folder)/flat.tif"
        inputs.referencePaths = ["\(folder)/references.csv"]
        inputs.labelsPath = "\(folder)/labels.tif"
        var options = XANESOptions()
        options.alignment = StackAlignmentSettings()
        options.analysis.normalization = EdgeNormalizationSettings(preEdge: -160 ... -40, postEdge: 45...225, postEdgeDegree: 0)
        options.clusters = 2
        let run = try XANESWorkflow.run(inputs: inputs, options: options, outputFolder: "\(folder)/maps")
        try PNGWriter.encode(SliceRenderer.render(run.maps.edgeEnergy, window: .automatic, colormap: .viridis), to: "\(folder)/edge_energy.png")
        let alignment = run.alignment!
        // Truth on the aligned (cropped) frame: the anchor energy's frame, which the simulation
        // drifted too, offset by the crop. Compared at particle interiors (the 3×3 neighbourhood
        // in one particle), where a sub-pixel residual of the anchor's drift cannot mix particles.
        let anchor = p.energiesElectronVolts.count / 2
        let (rows, columns) = (run.maps.mask.shape[0], run.maps.mask.shape[1])
        let r0 = alignment.crop[0].lowerBound - Int(sim.truth.shiftsPixels[anchor][0].rounded())
        let c0 = alignment.crop[1].lowerBound - Int(sim.truth.shiftsPixels[anchor][1].rounded())
        let (ny, nx) = (scene.labels.shape[0], scene.labels.shape[1])
        func interior(_ y: Int, _ x: Int) -> Bool {
            guard y > 0, x > 0, y < ny - 1, x < nx - 1, scene.labels[y, x] != 0 else { return false }
            for dy in -1...1 { for dx in -1...1 where scene.labels[y + dy, x + dx] != scene.labels[y, x] { return false } }
            return true
        }
        let socTruth = scene.stateOfCharge.converted(to: Double.self)
        var errors = [Double](), within = 0
        for y in 0..<rows { for x in 0..<columns where run.maps.mask[y, x] == 0 && interior(y + r0, x + c0) {
            // The true state of charge at the exact (sub-pixel) position.
            let ty = Double(y + alignment.crop[0].lowerBound) - sim.truth.shiftsPixels[anchor][0]
            let tx = Double(x + alignment.crop[1].lowerBound) - sim.truth.shiftsPixels[anchor][1]
            guard let truth = ImageRegistration.sample(socTruth, ty, tx) else { continue }
            let e = Double(run.maps.fractions[1][y, x]) - truth
            errors.append(e)
            if Swift.abs(e) <= Double(run.maps.fractionSigmas[1][y, x]) { within += 1 }
        } }
        var squared = 0.0
        for (k, shift) in alignment.shifts.enumerated() { for a in 0..<2 {
            let d = shift[a] - (sim.truth.shiftsPixels[k][a] - sim.truth.shiftsPixels[anchor][a]); squared += d * d
        } }
        let radialIndices = run.valenceGradient?.particles.map(\.radialIndex).filter(\.isFinite) ?? []
        let radial = radialIndices.isEmpty ? nil : Statistics.median(radialIndices)
        return XANESCheck(frameShape: [rows, columns], energies: p.energiesElectronVolts.count, incidentPhotons: 1e5, driftSigmaPixels: 1,
                          e0ElectronVolts: run.calibration.e0, analysedPixels: run.maps.maskCounts[.valid] ?? 0,
                          maskedPixels: run.maps.mask.count - (run.maps.maskCounts[.valid] ?? 0),
                          fractionRMSE: errors.isEmpty ? .nan : (errors.reduce(0) { $0 + $1 * $1 } / Double(errors.count)).squareRoot(),
                          fractionWithinOneSigma: errors.isEmpty ? .nan : Double(within) / Double(errors.count),
                          alignmentRMSEPixels: (squared / Double(2 * alignment.shifts.count)).squareRoot(),
                          particles: run.labelStatistics.first?.entries.count ?? 0, medianRadialIndex: radial,
                          clusterPixels: run.clusters?.pixelCounts ?? [])
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
        <p>\(r.provenance.software) \(r.provenance.version), \(r.provenance.createdAt). Synthetic electrode \(r.shape.map(String.init).joined(separator: "×")) at \(f(r.voxelSizeMicrometres[0], 2)) µm: \(r.particleCount) particles, \(r.crackedParticleCount) cracked (truth in phantom_truth.json). Overall: <b>\(r.allChecksPassed ? "all checks passed" : "CHECKS FAILED")</b>.</p>
        <h2>Active-material fraction</h2>
        <p>Electrode layer: truth \(f(r.trueSolidFraction, 4)), after thresholding the noisy attenuation at \(String(format: "%.4g", r.thresholdPerMicrometre)) µm⁻¹: \(f(r.measuredSolidFraction, 4)) (difference \(f((r.measuredSolidFraction - r.trueSolidFraction) * 100, 2)) percentage points).</p>
        <table><tr><th>depth region</th><th>truth</th><th>measured</th></tr>\(zip(r.trueSolidFractionByRegion, r.measuredSolidFractionByRegion).enumerated().map { "<tr><td>\($0.offset + 1)</td><td>\(f($0.element.0, 4))</td><td>\(f($0.element.1, 4))</td></tr>" }.joined())</table>
        <h2>Simulated scan</h2><p>\(r.scanShape.map(String.init).joined(separator: "×")) (angle, row, column) with noise, ring defects and zingers, rotation axis at column \(f(r.scanRotationAxisColumn, 2)); read back from Data Exchange: \(r.scanReadBackProjections) projections. The sinogram of the middle row is shown below.</p>
        <h2>File formats (write, re-read, compare)</h2>
        <table><tr><th>format</th><th>file</th><th>size</th><th>write MB/s</th><th>read MB/s</th><th>identical</th><th>slab reads = full read</th></tr>
        \(rows)</table>
        <h2>Conversion</h2><p>\(r.conversion.inputShape) \(r.conversion.inputType) → \(r.conversion.outputShape) \(r.conversion.outputType), bin \(r.conversion.bin); \(r.conversion.valueMapping); \(r.conversion.clippedCount) values clipped; largest error against a direct block mean: \(f(r.conversionMaxErrorLevels, 3)) levels.</p>
        <h2>Memory-mapped slab processing</h2><p>A \(r.mappedVolumeBytes / 1_048_576) MiB volume written slab by slab through a memory map raised peak resident memory by \(r.mappedPeakResidentIncreaseBytes / 1_048_576) MiB.</p>
        <h2>Fourier analysis of the middle slice</h2><p>FFT round-trip error \(String(format: "%.2e", r.fftRoundTripMaxError)); the radially averaged power spectrum peaks at a wavelength of \(f(r.powerSpectrumPeakWavelengthMicrometres, 1)) µm (mean particle diameter \(f(r.meanParticleDiameterMicrometres, 1)) µm).</p>
        <h2>TXM-XANES (state of charge)</h2><p>A \(r.xanes.frameShape.map(String.init).joined(separator: "×")) stack over \(r.xanes.energies) Ni K-edge energies (\(Int(r.xanes.incidentPhotons)) photons per pixel, drift σ \(f(r.xanes.driftSigmaPixels, 1)) px) aligned (shift error \(f(r.xanes.alignmentRMSEPixels, 3)) px RMS), normalized with E0 \(f(r.xanes.e0ElectronVolts, 2)) eV and fitted with the two end members: state of charge RMSE \(f(r.xanes.fractionRMSE, 4)) against the truth over \(r.xanes.analysedPixels) pixels (\(r.xanes.maskedPixels) masked, with reasons), \(f(r.xanes.fractionWithinOneSigma * 100, 1)) % within their reported 1σ; \(r.xanes.particles) particles with per-particle statistics (xanes/maps/labels_*.csv), k-means clusters of \(r.xanes.clusterPixels.map(String.init).joined(separator: " and ")) pixels. The edge-energy map is among the pictures below.</p>
        <h2>Slices</h2>\(pictures)
        </body></html>
        """
    }
}
