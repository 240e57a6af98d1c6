import Compton
import ComptonFiles
import Foundation
import LensCore
import Phantoms
import Signal
import Testing

/// Events → spectra → S and (1 − x), against the phantom's truth.
@Suite struct AnalysisTests {
    /// A stoichiometry map on the 80×80 detector: a gradient 0.05…0.75 across the columns inside
    /// a disc (the sample), NaN (no sample) outside.
    static func lithiumMap(rows: Int = 80, columns: Int = 80) -> [Double] {
        (0..<(rows * columns)).map { p in
            let (r, c) = (Double(p / columns) - Double(rows - 1) / 2, Double(p % columns) - Double(columns - 1) / 2)
            guard r * r + c * c <= 0.42 * 0.42 * Double(rows * rows) else { return .nan }
            return 0.05 + 0.7 * Double(p % columns) / Double(columns - 1)
        }
    }

    /// Phantom parameters for a test: `events` over the detector, two events per frame.
    static func parameters(events: Int, seed: UInt64, sharing: Double = 0.1, pixels: Int = 80, backgroundFree: Bool = false) -> ComptonParameters {
        var p = ComptonParameters()
        p.totalEvents = events
        p.eventsPerFrame = 2
        p.chargeSharingProbability = sharing
        p.rows = pixels; p.columns = pixels
        p.seed = seed
        if backgroundFree { p.backgroundFraction = 0; p.fluorescenceFraction = 0 }
        return p
    }

    /// Charge sharing (phantom: 10 % of events split between face neighbours, 2 events per frame
    /// on 80×80 pixels): discrimination removes every split event recorded as two pieces
    /// (≥ 95 % of all split events; a piece below the threshold cannot be seen) and keeps
    /// ≥ 99 % of single-pixel events (the rest fall into 3×3 coincidences by chance); addition
    /// merges each cluster into one event.
    @Test func chargeSharingDiscriminationAndAddition() throws {
        var p = ComptonParameters()
        p.totalEvents = 300_000
        p.eventsPerFrame = 2
        p.chargeSharingProbability = 0.1
        var batches = [[PhotonEvent]]()
        let truth = try ComptonSimulator.simulate(lithium: AnalysisTests.lithiumMap(), parameters: p) { batches.append($0) }
        func run(_ mode: ChargeSharingCorrection) throws -> EventStatistics {
            let accumulator = try SpectrumAccumulator(rows: 80, columns: 80, correction: mode)
            for b in batches { accumulator.add(b) }
            return accumulator.finish().statistics
        }
        let discriminated = try run(.discriminate)
        #expect(discriminated.eventsRead == truth.singlesRecorded + truth.sharedPiecesAlone + 2 * truth.sharedPairsRecorded)
        // Every two-piece split event is found: its pieces sit in clusters.
        let accidental = discriminated.eventsInClusters - 2 * truth.sharedPairsRecorded
        #expect(accidental >= 0)
        let singlesKept = 1 - Double(accidental) / Double(truth.singlesRecorded + truth.sharedPiecesAlone)
        let splitRemoved = Double(truth.sharedPairsRecorded) / Double(truth.sharedEvents)
        #expect(singlesKept >= 0.99, "single-pixel events kept: \(singlesKept)")
        #expect(splitRemoved >= 0.95, "split events removed: \(splitRemoved)")
        #expect(discriminated.eventsCounted + discriminated.eventsOutside == discriminated.eventsRead - discriminated.eventsInClusters)
        let added = try run(.add)
        // (a merged pair of real photons can sum beyond the 130 keV range: counted as outside)
        #expect(added.eventsCounted + added.eventsOutside == added.eventsRead - added.eventsInClusters + added.multiPixelClusters)
        #expect(added.multiPixelClusters >= truth.sharedPairsRecorded)
    }

    /// Batches may end inside a frame (files are read in fixed-size batches): spectra and
    /// statistics do not depend on where they are cut, in any mode.
    @Test func batchBoundariesInsideFramesChangeNothing() throws {
        var p = ComptonParameters()
        p.totalEvents = 200_000
        p.eventsPerFrame = 6
        var all = [PhotonEvent]()
        _ = try ComptonSimulator.simulate(lithium: AnalysisTests.lithiumMap(), parameters: p) { all += $0 }
        for mode in ChargeSharingCorrection.allCases {
            func run(_ size: Int) throws -> PixelSpectra {
                let accumulator = try SpectrumAccumulator(rows: 80, columns: 80, correction: mode)
                var i = 0
                while i < all.count { accumulator.add(Array(all[i..<Swift.min(all.count, i + size)])); i += size }
                return accumulator.finish()
            }
            let whole = try run(all.count), small = try run(7), large = try run(70_001)
            #expect(whole.counts == small.counts && whole.counts == large.counts, "\(mode)")
            #expect(whole.statistics == small.statistics && whole.statistics == large.statistics, "\(mode)")
        }
    }

    /// A noise-free spectrum made of a known profile (a valence and a core Gaussian in p_z,
    /// shifted by 0.05 a.u.) on a sloped background is fitted back to its line, widths, counts
    /// and centre; the pseudo-Voigt on that line finds the peak at the profile's centre.
    @Test func profileFitRecoversAKnownProfileAndBackground() throws {
        let binning = EnergyBinning()
        let settings = ComptonAnalysisSettings()
        let xc = ComptonKinematics.comptonPeakKeV(incidentKeV: 115, angleDegrees: 90)
        let truth = ComptonProfileModel(centrePz: 0.05, widthsPz: [0.7, 2.8], componentCounts: [20_000, 60_000])
        func pz(_ e: Double) -> Double { ComptonKinematics.momentumAtomicUnits(incidentKeV: 115, scatteredKeV: e, angleDegrees: 90) }
        let edges = binning.edgesKeV
        let spectrum = (0..<binning.count).map { k -> Double in
            let a = edges[k], b = edges[k + 1]
            let line = 40 * (b - a) - 1.5 * ((b - xc) * (b - xc) - (a - xc) * (a - xc)) / 2
            return b < 115 ? line + truth.counts(fromPz: pz(a), toPz: pz(b)) : line
        }
        let fit = try ComptonAnalysis.profileFit(binning: binning, spectrum: spectrum, settings: settings)
        #expect(abs(fit.background.perKeV - 40) < 0.05 && abs(fit.background.slopePerKeV2 + 1.5) < 0.01, "\(fit.background)")
        #expect(abs(fit.profile.centrePz - 0.05) < 1e-3, "\(fit.profile)")
        for k in 0..<2 {
            #expect(abs(fit.profile.widthsPz[k] / truth.widthsPz[k] - 1) < 2e-3 && abs(fit.profile.componentCounts[k] / truth.componentCounts[k] - 1) < 2e-3, "\(fit.profile)")
        }
        #expect(fit.countsError.isFinite && fit.centreErrorPz.isFinite)
        let peak = try ComptonAnalysis.fitPeak(binning: binning, spectrum: spectrum, settings: settings, background: fit.background)
        let centre = ComptonKinematics.scatteredKeV(momentumAtomicUnits: 0.05, incidentKeV: 115, angleDegrees: 90)
        #expect(abs(peak.centreKeV - centre) < 0.05 && peak.areaError.isFinite, "\(peak)")
    }

    /// The region S of a uniform phantom (every component on: background, fluorescence, 10 %
    /// charge sharing) agrees with the truth within 2σ. Measuring the background beside the
    /// peak (|p_z| > 7 a.u.), as before, read +0.0054 (7.7σ) high: the core profile's tails
    /// were subtracted as background. Per-pixel S are calibrated (55–80 % within 1σ) and their
    /// mean is unbiased (within 2σ of the region's uncertainty; the plain ratio read +0.5 %).
    @Test func regionSIsUnbiasedWithTheProfileBackground() throws {
        let p = AnalysisTests.parameters(events: 6_000_000, seed: 11, pixels: 20)
        let acc = try SpectrumAccumulator(rows: 20, columns: 20, correction: .discriminate)
        let truth = try ComptonSimulator.simulate(lithium: [Double](repeating: 0.05, count: 400), parameters: p) { acc.add($0) }
        let (maps, region) = try ComptonAnalysis.analyze(acc.finish(), settings: ComptonAnalysisSettings())
        let s = truth.sParameter[0]
        #expect(region.pixelsAnalysed == 400)
        #expect(abs(region.s - s) <= 2 * region.sUncertainty, "S \(region.s) ± \(region.sUncertainty) vs \(s)")
        #expect(abs(region.meanPixelS - s) <= 2 * region.sUncertainty, "map mean \(region.meanPixelS) vs \(s)")
        let z = (0..<400).map { (maps.s[$0] - s) / maps.sUncertainty[$0] }
        let within = Double(z.filter { abs($0) <= 1 }.count) / 400
        #expect(within >= 0.55 && within <= 0.80, "within 1σ: \(within)")
    }

    /// Window edges cut energy bins: the parabolic split keeps S of a background-free spectrum
    /// within its counting error at 0.1 keV bins and within 0.3 % at 0.5 keV bins (splitting in
    /// proportion to width read 0.05 % and 1.7 % low).
    @Test func coarseBinsKeepSUnbiased() throws {
        let p = AnalysisTests.parameters(events: 10_000_000, seed: 5, sharing: 0, pixels: 4, backgroundFree: true)
        let coarse = try SpectrumAccumulator(rows: 4, columns: 4, binning: EnergyBinning(lowKeV: 0, widthKeV: 0.5, count: 260), correction: .discriminate)
        let fine = try SpectrumAccumulator(rows: 4, columns: 4, correction: .discriminate)
        let truth = try ComptonSimulator.simulate(lithium: [Double](repeating: 0.05, count: 16), parameters: p) { coarse.add($0); fine.add($0) }
        let s = truth.sParameter[0]
        for (spectra, tolerance) in [(fine.finish(), 0.0), (coarse.finish(), 0.003)] {
            let raw = try SParameter.compute(binEdgesKeV: spectra.binning.edgesKeV, counts: spectra.summed { _ in true }, incidentKeV: 115, angleDegrees: 90)
            #expect(abs(raw.s - s) <= Swift.max(2 * raw.uncertainty, tolerance * s), "bins \(spectra.binning.widthKeV) keV: S \(raw.s) ± \(raw.uncertainty) vs \(s)")
        }
    }

    /// At ~57 events per pixel (≈ 35 Compton counts) pixels are still analysed with
    /// `minimumComptonCounts` 5: the Poisson-weighted profile fit finds their peaks (a σ² floor of
    /// one count per bin made every peak insignificant), and the region S is within 3σ.
    @Test func fewCountsPerPixelAreAnalysed() throws {
        let p = AnalysisTests.parameters(events: 365_000, seed: 3)
        let lithium = AnalysisTests.lithiumMap().map { $0.isFinite ? 0.10 : Double.nan }
        let acc = try SpectrumAccumulator(rows: 80, columns: 80, correction: .discriminate)
        let truth = try ComptonSimulator.simulate(lithium: lithium, parameters: p) { acc.add($0) }
        var settings = ComptonAnalysisSettings()
        settings.minimumComptonCounts = 5
        let (maps, region) = try ComptonAnalysis.analyze(acc.finish(), settings: settings)
        let sample = lithium.filter(\.isFinite).count
        #expect(region.pixelsAnalysed >= sample * 8 / 10, "\(region.pixelsAnalysed) of \(sample)")
        #expect(zip(maps.mask, lithium).allSatisfy { !$0.0 || $0.1.isFinite }, "no pixel outside the sample is analysed")
        let s = truth.sParameter.first { $0.isFinite }!
        #expect(abs(region.s - s) <= 3 * region.sUncertainty, "S \(region.s) ± \(region.sUncertainty) vs \(s)")
    }

    /// The phantom at 10⁷ events on 80×80 pixels (≈ 1 500 per pixel; the issue asks for 10⁸ —
    /// ten times fewer counts is the harder case, and keeps the test at ~15 s): per-pixel S
    /// agrees with the truth within its reported 1σ for 60–76 % of the sample pixels (calibrated
    /// errors), pixels without sample are masked, and (1 − x) of the sample region is within
    /// 0.02 of the true mean.
    @Test func stoichiometryMapFromPhantomEvents() throws {
        let p = AnalysisTests.parameters(events: 10_000_000, seed: 7, sharing: 0.05)
        let lithium = AnalysisTests.lithiumMap()
        let accumulator = try SpectrumAccumulator(rows: 80, columns: 80, correction: .discriminate)
        let truth = try ComptonSimulator.simulate(lithium: lithium, parameters: p) { accumulator.add($0) }
        let spectra = accumulator.finish()
        var settings = ComptonAnalysisSettings()
        settings.calibration = p.calibration
        let (maps, region) = try ComptonAnalysis.analyze(spectra, settings: settings)
        var within = 0, sample = 0
        for i in 0..<lithium.count {
            #expect(maps.mask[i] == lithium[i].isFinite, "pixel \(i) mask")
            guard lithium[i].isFinite, maps.mask[i] else { continue }
            sample += 1
            if abs(maps.s[i] - truth.sParameter[i]) <= maps.sUncertainty[i] { within += 1 }
        }
        let fraction = Double(within) / Double(sample)
        #expect(fraction >= 0.60 && fraction <= 0.76, "within 1σ: \(fraction)")
        let inside = lithium.filter(\.isFinite)
        let trueMean = inside.reduce(0, +) / Double(inside.count)
        // The region's (1 − x) from the mean of its pixel map equals the map's mean; from its
        // summed spectrum it is count-weighted (pixels with less lithium have more core counts,
        // so it reads lower on this strongly graded map): both within 0.02.
        let measured = try #require(region.lithium)
        let fromMap = settings.calibration!.lithium(s: region.meanPixelS)
        #expect(abs(fromMap - trueMean) <= 0.02, "region 1 − x from the map \(fromMap) vs \(trueMean)")
        #expect(abs(measured - trueMean) <= 0.02, "region 1 − x from the summed spectrum \(measured) vs \(trueMean)")
        #expect(abs(region.fit.centreKeV - 93.9) < 0.2)
        print("Compton phantom 10^7 events: \(fraction * 100) % of pixels within 1σ; region 1 − x \(fromMap) (map mean), \(measured) (summed spectrum) vs \(trueMean)")
    }

    /// Per-pixel Am-241 calibration: pixels with their own gain and offset (in ADU) are fitted
    /// back to within 0.5 %.
    @Test func perPixelEnergyCalibration() throws {
        let binning = EnergyBinning(lowKeV: 0, widthKeV: 1, count: 1000)   // ADU bins
        var rng = SeededRandom(seed: 3)
        let pixels = 16
        var gains = [Double](), offsets = [Double](), counts = [UInt32]()
        for _ in 0..<pixels {
            let gain = 0.1 * (1 + 0.05 * (rng.uniform() - 0.5)), offset = 0.5 * (rng.uniform() - 0.5)
            gains.append(gain); offsets.append(offset)
            var s = [Double](repeating: 0, count: binning.count)
            for line in PixelEnergyCalibration.americiumLinesKeV {
                let centre = (line - offset) / gain
                for k in 0..<binning.count { s[k] += 2000 * exp(-0.5 * pow((Double(k) + 0.5 - centre) / 4, 2)) }
            }
            counts += s.map { UInt32($0.rounded()) }
        }
        let spectra = PixelSpectra(rows: 4, columns: 4, binning: binning, counts: counts)
        let calibration = try PixelEnergyCalibration.fit(spectra, nominalGain: 0.1, searchADU: 25)
        #expect(calibration.failedPixels.isEmpty)
        for p in 0..<pixels {
            #expect(abs(calibration.gain[p] / gains[p] - 1) < 0.005)
            #expect(abs(calibration.offset[p] - offsets[p]) < 0.1)
        }
    }

    /// Event lists: CSV and binary give the same spectra; files out of frame order, with a
    /// broken line, or not whole records are refused naming the file.
    @Test func eventFilesAndTheirErrors() throws {
        let dir = NSTemporaryDirectory() + "compton-events-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var p = ComptonParameters()
        p.rows = 8; p.columns = 8; p.totalEvents = 20_000
        let truth = try ComptonSimulator.writeEvents(lithium: [Double](repeating: 0.4, count: 64), parameters: p, to: dir + "/e.bin")
        var csv = "frame,row,column,energy_kev\n"
        try PhotonEventFile(path: dir + "/e.bin").forEachBatch { for e in $0 { csv += "\(e.frame),\(e.row),\(e.column),\(e.energyKeV)\n" } }
        try csv.write(toFile: dir + "/e.csv", atomically: true, encoding: .utf8)
        let a = try PixelSpectra.build(events: dir + "/e.bin", rows: 8, columns: 8)
        let b = try PixelSpectra.build(events: dir + "/e.csv", rows: 8, columns: 8)
        #expect(a.counts == b.counts && a.statistics.eventsRead == truth.recordedEvents)
        // The cube round-trips through HDF5.
        try a.write(to: dir + "/cube.h5", chargeSharing: .discriminate)
        let c = try PixelSpectra.read(path: dir + "/cube.h5")
        #expect(c.counts == a.counts && c.binning == a.binning && c.statistics == a.statistics)
        // And through the HEXITEC .hxt histogram format (bin centres, Float64 counts).
        try a.writeHXT(to: dir + "/cube.hxt")
        let d = try PixelSpectra.open(path: dir + "/cube.hxt")
        #expect(d.counts == a.counts && d.rows == 8 && d.columns == 8)
        #expect(abs(d.binning.lowKeV - a.binning.lowKeV) < 1e-9 && abs(d.binning.widthKeV - a.binning.widthKeV) < 1e-12 && d.binning.count == a.binning.count)
        try Data("HEXITECH".utf8 + [3, 0, 0, 0, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/cut.hxt"))
        #expect(throws: LensError.self) { try PixelSpectra.open(path: dir + "/cut.hxt") }

        for (name, text) in [("order.csv", "frame,row,column,energy_kev\n2,1,1,90\n1,1,1,90\n"), ("broken.csv", "frame,row,column,energy_kev\n1,1,x,90\n"),
                             ("header.csv", "a,b\n1,2\n")] {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            do {
                _ = try PixelSpectra.build(events: dir + "/" + name, rows: 8, columns: 8)
                Issue.record("\(name) accepted")
            } catch let error as LensError {
                #expect(error.description.contains(name))
            }
        }
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: dir + "/short.bin"))
        #expect(throws: LensError.self) { try PixelSpectra.build(events: dir + "/short.bin", rows: 8, columns: 8) }
    }
}
