import Diffraction
import DiffractionFiles
import Foundation
import LensCore
import LensIO
import Reporting

/// The X-ray source of a diffraction measurement, as a user declares it.
public enum RadiationChoice: String, Codable, Sendable, CaseIterable {
    /// One wavelength (synchrotron or monochromated lab source): from the file or `--wavelength-angstrom`.
    case monochromatic
    /// A copper tube without monochromator: Kα₁ 1.540593 Å and Kα₂ 1.544414 Å at half intensity.
    case copperKAlpha = "cu-kalpha"

    /// The radiation for a given (or recorded) primary wavelength.
    public func radiation(wavelengthAngstrom: Double?, source: String) throws -> Radiation {
        switch self {
        case .copperKAlpha:
            if let w = wavelengthAngstrom, abs(w - Radiation.copperKAlpha.primaryWavelengthAngstrom) > 0.001 {
                throw LensError.invalidArgument("--radiation cu-kalpha fixes λ = 1.540593 Å, but \(source) has λ = \(w) Å (given or recorded): use --radiation monochromatic for another wavelength")
            }
            return .copperKAlpha
        case .monochromatic:
            guard let w = wavelengthAngstrom else {
                throw LensError.invalidArgument("\(source) records no wavelength: declare it with --wavelength-angstrom (or --radiation cu-kalpha for a copper tube)")
            }
            let r = Radiation.monochromatic(w)
            try r.validate()
            return r
        }
    }
}

/// Powder diffraction as workflows: calibration against a standard, and the sequential
/// refinement of an operando series (phase fractions and lattice parameters per pattern),
/// each writing CSV tables, SVG figures and a summary.
public enum DiffractionWorkflow {
    public struct SeriesSettings: Codable, Sendable, Equatable {
        public var radiation: RadiationChoice = .monochromatic
        /// Overrides the file's wavelength (Å).
        public var wavelengthAngstrom: Double?
        public var zeroShiftDegrees = 0.0
        public var windowWidths = 6.0
        public var initialFWHMDegrees: Double?
        public var minimumFractionForLattice = 0.03
        public init() {}
    }

    public struct PhaseSummary: Codable, Sendable {
        public var name: String
        public var system: String
        public var startingCellAngstrom: [String: Double]
        public var fractionRange: [Double]
        /// Per lattice parameter: the smallest and largest refined value, Å (patterns where refined).
        public var latticeRangeAngstrom: [String: [Double]]
        public var patternsRefined: Int
        enum CodingKeys: String, CodingKey {
            case name, system, startingCellAngstrom = "starting_cell_angstrom", fractionRange = "fraction_range"
            case latticeRangeAngstrom = "lattice_range_angstrom", patternsRefined = "patterns_refined"
        }
    }

    public struct SeriesRecord: Codable, Sendable {
        public var file: String
        public var phasesFile: String
        public var patterns: Int
        public var points: Int
        public var twoThetaRangeDegrees: [Double]
        public var wavelengthAngstrom: Double
        public var wavelengthSource: String
        public var radiation: String
        public var zeroShiftDegrees: Double
        public var voltageRecorded: Bool
        public var phases: [PhaseSummary]
        public var weightedProfileR: [Double]
        public var fractionErrorMedian: [Double?]
        public var outputs: [String: String]
        enum CodingKeys: String, CodingKey {
            case file, patterns, points, radiation, phases, outputs
            case phasesFile = "phases_file", twoThetaRangeDegrees = "two_theta_range_degrees", wavelengthAngstrom = "wavelength_angstrom"
            case wavelengthSource = "wavelength_source", zeroShiftDegrees = "zero_shift_degrees", voltageRecorded = "voltage_recorded"
            case weightedProfileR = "weighted_profile_r_range", fractionErrorMedian = "fraction_error_median"
        }
    }

    /// Refines `seriesPath` against the phases of `phasesPath`; writes `results.csv`,
    /// `heatmap.svg`, `fractions.svg` and `lattice.svg` into `folder`.
    public static func runSeries(series seriesPath: String, phases phasesPath: String, settings: SeriesSettings, folder: String,
                                 recordedFolder: String? = nil, progress: Bool = true) throws -> SeriesRecord {
        let named = recordedFolder ?? folder
        let series = try DiffractionFiles.readSeries(seriesPath)
        let phases = try DiffractionFiles.readPhases(phasesPath)
        let (wavelength, source): (Double?, String) = settings.wavelengthAngstrom.map { ($0, "given") } ?? (series.wavelengthAngstrom, "file")
        // A recorded or given wavelength that contradicts cu-kalpha is an error, not overridden.
        let radiation = try settings.radiation.radiation(wavelengthAngstrom: wavelength, source: seriesPath)
        var operando = OperandoSettings(radiation: radiation)
        operando.zeroShiftDegrees = settings.zeroShiftDegrees
        operando.windowWidths = settings.windowWidths
        operando.initialFWHMDegrees = settings.initialFWHMDegrees
        operando.minimumFractionForLattice = settings.minimumFractionForLattice
        let reporter = progress ? ProgressReporter(label: "refining patterns", total: series.patterns.count) : nil
        let results = try OperandoRefinement.refine(series.patterns, phases: phases, settings: operando, progress: reporter)
        reporter?.finish()

        // Table: one row per pattern.
        var columns = [TableColumn("pattern")]
        if series.voltage != nil { columns.append(TableColumn("voltage", unit: "V")) }
        for p in phases {
            columns += [TableColumn("fraction_\(p.name)"), TableColumn("fraction_\(p.name)_error")]
            for name in p.cell.parameterNames { columns += [TableColumn("\(name)_\(p.name)", unit: "Å"), TableColumn("\(name)_\(p.name)_error", unit: "Å")] }
            columns.append(TableColumn("volume_\(p.name)", unit: "Å³"))
        }
        columns += [TableColumn("fwhm", unit: "deg"), TableColumn("r_wp"), TableColumn("reduced_chi_squared")]
        var table = Table(columns: columns)
        func cell(_ v: Double?) -> TableValue { v.map { .number($0) } ?? .text("") }
        for r in results {
            var row: [TableValue] = [.number(Double(r.index))]
            if let v = series.voltage { row.append(.number(v[r.index])) }
            for (q, p) in phases.enumerated() {
                row += [.number(r.fractions[q]), cell(r.fractionErrors[q])]
                for k in p.cell.parameterNames.indices { row += [cell(r.cells[q]?.parameters[k]), cell(r.cellErrorsAngstrom[q]?[k])] }
                row.append(cell(r.cells[q]?.volumeCubicAngstrom))
            }
            row += [.number(r.fwhmDegrees), .number(r.weightedProfileR), .number(r.reducedChiSquared)]
            table.append(row)
        }
        try table.write(to: folder + "/results.csv")

        // Figures: the series as a heat map beside the voltage; fractions; lattice parameters.
        let index = results.map { Double($0.index) }
        var heat = HeatMapPlot(title: "Operando diffraction", xLabel: "2θ (degrees, λ = \(String(format: "%.4f", radiation.primaryWavelengthAngstrom)) Å)",
                               yLabel: "pattern", valueLabel: "intensity (counts)", x: series.twoThetaDegrees, y: index,
                               values: series.intensities)
        if let v = series.voltage { heat.side = ("cell voltage (V)", v) }
        try AtomicOutput.write(Data(try heat.render().utf8), to: folder + "/heatmap.svg")
        var fractions = SVGPlot(title: "Phase fractions", xLabel: "pattern", yLabel: "fraction (±1σ)")
        fractions.series = phases.indices.map { q in
            SVGPlot.Series(phases[q].name, x: index, y: results.map { $0.fractions[q] },
                           yInterval: results.map { r in r.fractionErrors[q].map { (r.fractions[q] - $0, r.fractions[q] + $0) } ?? (.nan, .nan) })
        }
        try AtomicOutput.write(Data(fractions.render().utf8), to: folder + "/fractions.svg")
        // c when every phase has one (layered oxides), else a, which every cell has: no phase left out.
        let shown = phases.allSatisfy { $0.cell.parameterNames.contains("c") } ? "c" : "a"
        var lattice = SVGPlot(title: "Lattice parameters", xLabel: "pattern", yLabel: "\(shown) (Å, ±1σ)")
        lattice.yIncludesZero = false
        lattice.series = phases.indices.map { q in
            let k = phases[q].cell.parameterNames.firstIndex(of: shown)!
            let values = results.map { $0.cells[q]?.parameters[k] ?? .nan }
            let errors = results.map { $0.cellErrorsAngstrom[q]?[k] ?? .nan }
            return SVGPlot.Series(phases[q].name, kind: .points, x: index, y: values, yInterval: zip(values, errors).map { ($0 - $1, $0 + $1) })
        }
        try AtomicOutput.write(Data(lattice.render().utf8), to: folder + "/lattice.svg")

        let summaries = phases.enumerated().map { q, p -> PhaseSummary in
            let f = results.map { $0.fractions[q] }
            var ranges = [String: [Double]]()
            for (k, name) in p.cell.parameterNames.enumerated() {
                let values = results.compactMap { $0.cells[q]?.parameters[k] }
                if let lo = values.min(), let hi = values.max() { ranges[name] = [lo, hi] }
            }
            return PhaseSummary(name: p.name, system: p.cell.system.rawValue,
                                startingCellAngstrom: Dictionary(uniqueKeysWithValues: zip(p.cell.parameterNames, p.cell.parameters)),
                                fractionRange: [f.min() ?? .nan, f.max() ?? .nan], latticeRangeAngstrom: ranges,
                                patternsRefined: results.filter { $0.cells[q] != nil }.count)
        }
        let medians: [Double?] = phases.indices.map { q in
            let e = results.compactMap { $0.fractionErrors[q] }.sorted()
            return e.isEmpty ? nil : e[e.count / 2]
        }
        let r = results.map(\.weightedProfileR)
        let poor = results.filter { $0.weightedProfileR > 0.25 }
        if !poor.isEmpty {
            Notices.emit(String(format: "the phases fit %d of %d patterns poorly (weighted-profile R up to %.2f, e.g. pattern %d): check the phases' cells and reflections, the wavelength and the zero shift before trusting their fractions and lattices",
                                poor.count, results.count, poor.map(\.weightedProfileR).max() ?? 0, poor.max { $0.weightedProfileR < $1.weightedProfileR }?.index ?? 0))
        }
        return SeriesRecord(file: seriesPath, phasesFile: phasesPath, patterns: results.count, points: series.twoThetaDegrees.count,
                            twoThetaRangeDegrees: [series.twoThetaDegrees.first!, series.twoThetaDegrees.last!],
                            wavelengthAngstrom: radiation.primaryWavelengthAngstrom, wavelengthSource: settings.radiation == .copperKAlpha ? "Cu Kα₁" : source,
                            radiation: settings.radiation.rawValue, zeroShiftDegrees: settings.zeroShiftDegrees, voltageRecorded: series.voltage != nil,
                            phases: summaries, weightedProfileR: [r.min() ?? .nan, r.max() ?? .nan], fractionErrorMedian: medians,
                            outputs: ["results": named + "/results.csv", "heatmap": named + "/heatmap.svg",
                                      "fractions": named + "/fractions.svg", "lattice": named + "/lattice.svg"])
    }

    public struct CalibrationSettings: Codable, Sendable, Equatable {
        public var radiation: RadiationChoice = .copperKAlpha
        public var wavelengthAngstrom: Double?
        public var halfWidthDegrees = 0.4
        public var refineWavelength = false
        /// Also refine the calibrant's cell in this system from the calibrated positions.
        public var cellSystem: UnitCell.System?
        public init() {}
    }

    public struct CalibrationRecord: Codable, Sendable {
        public var file: String
        public var calibrantFile: String
        public var radiation: String
        public var calibration: PowderCalibration.Result
        public var cell: LatticeRefinement.Result?
        public var outputs: [String: String]
        enum CodingKeys: String, CodingKey { case file, radiation, calibration, cell, outputs, calibrantFile = "calibrant_file" }
    }

    /// Calibrates `patternPath` against the calibrant's d-spacings; writes `lines.csv` and `residuals.svg`.
    public static func runCalibration(pattern patternPath: String, calibrant calibrantPath: String, settings: CalibrationSettings,
                                      folder: String, recordedFolder: String? = nil) throws -> CalibrationRecord {
        let named = recordedFolder ?? folder
        let pattern = try DiffractionFiles.readPattern(patternPath)
        let calibrant = try DiffractionFiles.readCalibrant(calibrantPath)
        let radiation = try settings.radiation.radiation(wavelengthAngstrom: settings.wavelengthAngstrom, source: patternPath)
        let result = try PowderCalibration.refine(pattern, calibrant: calibrant, radiation: radiation, halfWidthDegrees: settings.halfWidthDegrees,
                                                  refineWavelength: settings.refineWavelength)
        let cell = try settings.cellSystem.map { try PowderCalibration.cell(of: result, system: $0) }
        var table = Table(columns: [TableColumn("h"), TableColumn("k"), TableColumn("l"), TableColumn("d", unit: "Å"),
                                    TableColumn("predicted_two_theta", unit: "deg"), TableColumn("fitted_two_theta", unit: "deg"),
                                    TableColumn("fitted_error", unit: "deg"), TableColumn("residual", unit: "deg"), TableColumn("fwhm", unit: "deg"),
                                    TableColumn("eta"), TableColumn("area")])
        for l in result.lines {
            table.append([l.hkl.map { .number(Double($0.h)) } ?? .text(""), l.hkl.map { .number(Double($0.k)) } ?? .text(""), l.hkl.map { .number(Double($0.l)) } ?? .text(""),
                          .number(l.dAngstrom), .number(l.predictedDegrees), .number(l.fitted.centreDegrees),
                          l.fitted.centreErrorDegrees.map { .number($0) } ?? .text(""), .number(l.residualDegrees), .number(l.fitted.fwhmDegrees),
                          .number(l.fitted.eta), .number(l.fitted.area)])
        }
        try table.write(to: folder + "/lines.csv")
        var plot = SVGPlot(title: "Calibration residuals", xLabel: "2θ (degrees)", yLabel: "fitted − model (degrees, ±1σ)")
        plot.series = [.init("", kind: .points, x: result.lines.map(\.fitted.centreDegrees), y: result.lines.map(\.residualDegrees),
                             yInterval: result.lines.map { l in l.fitted.centreErrorDegrees.map { (l.residualDegrees - $0, l.residualDegrees + $0) } ?? (.nan, .nan) })]
        try AtomicOutput.write(Data(plot.render().utf8), to: folder + "/residuals.svg")
        return CalibrationRecord(file: patternPath, calibrantFile: calibrantPath, radiation: settings.radiation.rawValue, calibration: result, cell: cell,
                                 outputs: ["lines": named + "/lines.csv", "residuals": named + "/residuals.svg"])
    }
}

extension DiffractionWorkflow {
    public struct IntegrationSettings: Codable, Sendable, Equatable {
        /// A pyFAI `.poni` file, or the geometry given directly.
        public var poniFile: String?
        public var geometry: DetectorGeometry?
        public var bins = 2000
        public var radialRangeDegrees: ClosedRange<Double>?
        public var correctSolidAngle = true
        public var polarizationFactor: Double?
        /// Overrides the PONI file's wavelength (Å).
        public var wavelengthAngstrom: Double?
        public init() {}
    }

    public struct IntegrationRecord: Codable, Sendable {
        public var file: String
        public var frames: Int
        public var frameShape: [Int]
        public var geometry: DetectorGeometry
        public var bins: Int
        public var twoThetaRangeDegrees: [Double]
        public var maskedPixels: Int
        public var solidAngleCorrected: Bool
        public var polarizationFactor: Double?
        public var wavelengthAngstrom: Double?
        public var output: String
        enum CodingKeys: String, CodingKey {
            case file, frames, geometry, bins, output
            case frameShape = "frame_shape", twoThetaRangeDegrees = "two_theta_range_degrees", maskedPixels = "masked_pixels"
            case solidAngleCorrected = "solid_angle_corrected", polarizationFactor = "polarization_factor", wavelengthAngstrom = "wavelength_angstrom"
        }
    }

    /// Integrates every frame of `framesPath` (a 2-D image or a stack (frame, row, column), read
    /// one frame at a time) into a powder pattern; writes the series as HDF5 (`/patterns`,
    /// `/sigma`, `/two_theta`, `/wavelength_angstrom` when known) to `output`, which
    /// `diffraction series` reads.
    public static func runIntegration(frames framesPath: String, mask maskPath: String?, settings: IntegrationSettings, output: String,
                                      progress: Bool = true) throws -> IntegrationRecord {
        var geometry: DetectorGeometry
        if let poni = settings.poniFile {
            guard let data = FileManager.default.contents(atPath: poni), let text = String(data: data, encoding: .utf8) else {
                throw LensError.badInput(file: poni, problem: "no such file or not a text file")
            }
            geometry = try DetectorGeometry.parsePONI(text, source: poni)
        } else if let g = settings.geometry {
            geometry = g
        } else {
            throw LensError.invalidArgument("the detector geometry is not declared: give --poni FILE (pyFAI) or --distance-mm, --beam-centre ROW:COLUMN and --pixel-um")
        }
        if let w = settings.wavelengthAngstrom { geometry.wavelengthAngstrom = w }
        let reader = try VolumeIO.open(framesPath)
        let shape = reader.info.shape
        guard shape.rank == 2 || shape.rank == 3 else { throw LensError.badInput(file: framesPath, problem: "frames must be one 2-D image or a stack (frame, row, column), got \(shape)") }
        let (frames, rows, columns) = shape.rank == 3 ? (shape[0], shape[1], shape[2]) : (1, shape[0], shape[1])
        var mask: [Bool]?
        if let maskPath {
            let m = try VolumeIO.open(maskPath).readAll().float32()
            // (rows, columns), or one such plane: a transposed mask of the same size is refused.
            guard m.shape.count == rows * columns, Array(m.shape.dims.suffix(2)) == [rows, columns] else {
                throw LensError.badInput(file: maskPath, problem: "the mask is \(m.shape), the frames \(rows) × \(columns) pixels")
            }
            mask = m.elements.map { $0 != 0 }
        }
        let integrator = try AzimuthalIntegrator(geometry: geometry, rows: rows, columns: columns, bins: settings.bins,
                                                 radialRangeDegrees: settings.radialRangeDegrees, mask: mask,
                                                 correctSolidAngle: settings.correctSolidAngle, polarizationFactor: settings.polarizationFactor)
        try MemoryBudget.require(elements: frames * settings.bins * 2, elementBytes: 8, for: framesPath)
        let reporter = progress && frames > 1 ? ProgressReporter(label: "integrating frames", total: frames) : nil
        var patterns = [Float](), sigmas = [Float]()
        patterns.reserveCapacity(frames * settings.bins); sigmas.reserveCapacity(frames * settings.bins)
        for k in 0..<frames {
            let frame = try (shape.rank == 3 ? reader.readSlab(k..<(k + 1)) : reader.readAll()).float32()
            let r = frame.withUnsafeBufferPointer { integrator.integrate($0) }
            patterns += r.intensity.map { Float($0) }; sigmas += r.sigma.map { Float($0) }
            reporter?.advance()
        }
        reporter?.finish()
        try AtomicOutput.write(to: output) { temporary in
            let file = try HDF5File(creating: temporary)
            try file.createDataset("/patterns", shape: Shape(frames, settings.bins), dataType: .float32)
                .write(AnyGrid(Grid<Float>(shape: Shape(frames, settings.bins), elements: patterns)), at: 0)
            try file.createDataset("/sigma", shape: Shape(frames, settings.bins), dataType: .float32)
                .write(AnyGrid(Grid<Float>(shape: Shape(frames, settings.bins), elements: sigmas)), at: 0)
            try file.writeDoubles(integrator.twoThetaDegrees, to: "/two_theta")
            try file.setAttribute("units", string: "degrees", on: "/two_theta")
            if let w = geometry.wavelengthAngstrom { try file.writeDoubles([w], to: "/wavelength_angstrom") }
            try file.flush()
        }
        return IntegrationRecord(file: framesPath, frames: frames, frameShape: [rows, columns], geometry: geometry, bins: settings.bins,
                                 twoThetaRangeDegrees: [integrator.edgesDegrees.first!, integrator.edgesDegrees.last!],
                                 maskedPixels: mask?.filter { $0 }.count ?? 0, solidAngleCorrected: settings.correctSolidAngle,
                                 polarizationFactor: settings.polarizationFactor, wavelengthAngstrom: geometry.wavelengthAngstrom, output: output)
    }
}
