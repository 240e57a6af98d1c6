import Foundation
import LensCore
import LensIO
import Signal
import Spectroscopy
import SpectroscopyFiles

/// One XAS spectrum from its file to Larch-compatible numbers: E0 (Larch's `find_e0` unless
/// given), pre-edge subtraction and normalization (Larch's `pre_edge` ranges unless overridden),
/// half-height edge energy with its σ, derivative maximum, white line; optionally AUTOBK
/// background removal and χ(R). The workflow shape: Codable settings → the analysis → a typed
/// record (its encoding is the `xas` summary) and CSV tables written into one folder.
public enum XASWorkflow {
    public struct Settings: Codable, Sendable, Equatable {
        /// Name of the μ column (nil: recognised by name, or ln(i0/itrans)).
        public var muColumn: String?
        /// E0 in eV (nil: Larch's find_e0).
        public var e0: Double?
        /// Ranges relative to E0 (eV) and the post-edge degree replacing Larch's defaults.
        public var preEdge: ClosedRange<Double>?, postEdge: ClosedRange<Double>?
        public var postEdgeDegree: Int?
        /// AUTOBK and the Fourier transform (nil: no EXAFS).
        public var exafs: EXAFS?
        public init() {}

        public struct EXAFS: Codable, Sendable, Equatable {
            /// Å: distances below this belong to the background.
            public var rbkg = 1.0
            /// k weight, window start, end (nil: 1 Å⁻¹ below the last k, rounded down) and taper, Å⁻¹.
            public var kweight = 2.0, kmin = 2.0
            public var kmax: Double?
            public var dk = 1.0
            public init() {}

            public func validate() throws {
                guard rbkg > 0, rbkg <= 10 else { throw LensError.invalidArgument("--rbkg must be in (0, 10] Å, got \(rbkg)") }
                guard (0...5).contains(kweight) else { throw LensError.invalidArgument("--kweight must be 0…5, got \(kweight)") }
                guard (0...60).contains(kmin) else { throw LensError.invalidArgument("--kmin must be 0…60 Å⁻¹, got \(kmin)") }
                guard (0...20).contains(dk) else { throw LensError.invalidArgument("--dk must be 0…20 Å⁻¹, got \(dk)") }
                if let kmax {
                    guard (0...60).contains(kmax) else { throw LensError.invalidArgument("--kmax must be 0…60 Å⁻¹, got \(kmax)") }
                    guard kmax > kmin else { throw LensError.invalidArgument("--kmin \(kmin) must be below --kmax \(kmax) Å⁻¹") }
                }
            }
        }

        public func validate() throws {
            if let e0, !e0.isFinite || e0 <= 0 { throw LensError.invalidArgument("--e0 must be a positive energy in eV, got \(e0)") }
            if let postEdgeDegree, !(0...5).contains(postEdgeDegree) { throw LensError.invalidArgument("--post-degree must be 0…5") }
            try exafs?.validate()
        }
    }

    /// The EXAFS part of a record.
    public struct EXAFSRecord: Codable, Sendable {
        public struct Window: Codable, Sendable {
            public var kmin: Double, kmax: Double, dk: Double, kweight: Double
            public var type = "hanning"
        }
        public var rbkgAngstrom: Double
        public var knots: Int
        public var kMax: Double
        public var window: Window
        /// R of the largest |χ(R)| above 1 Å (nil when the transform has no point there).
        public var largestPeakAngstrom: Double?
        private enum CodingKeys: String, CodingKey {
            case knots, window
            case rbkgAngstrom = "rbkg_a", kMax = "k_max", largestPeakAngstrom = "largest_peak_r_a"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rbkgAngstrom, forKey: .rbkgAngstrom); try c.encode(knots, forKey: .knots)
            try c.encode(kMax, forKey: .kMax); try c.encode(window, forKey: .window)
            try c.encode(largestPeakAngstrom, forKey: .largestPeakAngstrom)   // null when absent
        }
    }

    /// What a run measured; its encoding is the `xas` summary.
    public struct Record: Codable, Sendable {
        public var file: String
        public var muSource: String
        public var points: Int
        public var e0ElectronVolts: Double
        /// Whether E0 was given (else Larch's find_e0).
        public var e0Given: Bool
        public var edgeStep: Double, preEdgeNoise: Double
        public var preEdgeElectronVolts: [Double], postEdgeElectronVolts: [Double]
        public var postEdgeDegree: Int
        /// NaN (null in JSON) where an estimate is undefined.
        public var halfHeightEnergy: Double, halfHeightEnergySigma: Double
        public var derivativeMaximum: Double
        public var whiteLineEnergy: Double, whiteLineHeight: Double
        /// Output name → path.
        public var outputs: [String: String]
        public var exafs: EXAFSRecord?
        private enum CodingKeys: String, CodingKey {
            case file, points, outputs, exafs
            case muSource = "mu_source", e0ElectronVolts = "e0_ev", edgeStep = "edge_step", preEdgeNoise = "pre_edge_noise"
            case preEdgeElectronVolts = "pre_edge_ev", postEdgeElectronVolts = "post_edge_ev", postEdgeDegree = "post_edge_degree"
            case halfHeightEnergy = "half_height_energy_ev", halfHeightEnergySigma = "half_height_energy_sigma_ev"
            case derivativeMaximum = "derivative_maximum_ev", whiteLineEnergy = "white_line_energy_ev", whiteLineHeight = "white_line_height"
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(file, forKey: .file); try c.encode(muSource, forKey: .muSource); try c.encode(points, forKey: .points)
            try c.encode(e0ElectronVolts, forKey: .e0ElectronVolts); try c.encode(edgeStep, forKey: .edgeStep)
            try c.encode(preEdgeNoise, forKey: .preEdgeNoise); try c.encode(preEdgeElectronVolts, forKey: .preEdgeElectronVolts)
            try c.encode(postEdgeElectronVolts, forKey: .postEdgeElectronVolts); try c.encode(postEdgeDegree, forKey: .postEdgeDegree)
            try c.encode(halfHeightEnergy, forKey: .halfHeightEnergy); try c.encode(halfHeightEnergySigma, forKey: .halfHeightEnergySigma)
            try c.encode(derivativeMaximum, forKey: .derivativeMaximum); try c.encode(whiteLineEnergy, forKey: .whiteLineEnergy)
            try c.encode(whiteLineHeight, forKey: .whiteLineHeight); try c.encode(outputs, forKey: .outputs)
            try c.encode(exafs, forKey: .exafs)   // null without EXAFS
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            file = try c.decode(String.self, forKey: .file); muSource = try c.decode(String.self, forKey: .muSource)
            points = try c.decode(Int.self, forKey: .points); e0ElectronVolts = try c.decode(Double.self, forKey: .e0ElectronVolts)
            e0Given = false
            edgeStep = try c.decode(Double.self, forKey: .edgeStep); preEdgeNoise = try c.decode(Double.self, forKey: .preEdgeNoise)
            preEdgeElectronVolts = try c.decode([Double].self, forKey: .preEdgeElectronVolts)
            postEdgeElectronVolts = try c.decode([Double].self, forKey: .postEdgeElectronVolts)
            postEdgeDegree = try c.decode(Int.self, forKey: .postEdgeDegree)
            func number(_ key: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: key) ?? .nan }
            halfHeightEnergy = try number(.halfHeightEnergy); halfHeightEnergySigma = try number(.halfHeightEnergySigma)
            derivativeMaximum = try number(.derivativeMaximum); whiteLineEnergy = try number(.whiteLineEnergy)
            whiteLineHeight = try number(.whiteLineHeight)
            outputs = try c.decode([String: String].self, forKey: .outputs); exafs = try c.decodeIfPresent(EXAFSRecord.self, forKey: .exafs)
        }
        init(file: String, muSource: String, points: Int, e0ElectronVolts: Double, e0Given: Bool, edgeStep: Double, preEdgeNoise: Double,
             preEdgeElectronVolts: [Double], postEdgeElectronVolts: [Double], postEdgeDegree: Int, halfHeightEnergy: Double,
             halfHeightEnergySigma: Double, derivativeMaximum: Double, whiteLineEnergy: Double, whiteLineHeight: Double,
             outputs: [String: String], exafs: EXAFSRecord?) {
            self.file = file; self.muSource = muSource; self.points = points; self.e0ElectronVolts = e0ElectronVolts; self.e0Given = e0Given
            self.edgeStep = edgeStep; self.preEdgeNoise = preEdgeNoise; self.preEdgeElectronVolts = preEdgeElectronVolts
            self.postEdgeElectronVolts = postEdgeElectronVolts; self.postEdgeDegree = postEdgeDegree; self.halfHeightEnergy = halfHeightEnergy
            self.halfHeightEnergySigma = halfHeightEnergySigma; self.derivativeMaximum = derivativeMaximum
            self.whiteLineEnergy = whiteLineEnergy; self.whiteLineHeight = whiteLineHeight; self.outputs = outputs; self.exafs = exafs
        }
    }

    /// Analyses the spectrum in `path` and writes normalized.csv (and chi.csv, chir.csv with
    /// EXAFS) into `folder`, naming them under `recordedFolder` in the record (the published
    /// folder, when `folder` is a staging one).
    public static func run(spectrum path: String, settings: Settings, folder: String, recordedFolder: String? = nil) throws -> Record {
        try settings.validate()
        let named = recordedFolder ?? folder
        let file = try SpectrumFile.read(path, muColumn: settings.muColumn)
        if let given = settings.e0, !(file.energies.first! < given && given < file.energies.last!) {
            throw LensError.invalidArgument("--e0 \(given) eV lies outside the energies of \(path) (\(file.energies.first!)…\(file.energies.last!) eV)")
        }
        let e0 = try settings.e0 ?? EdgeEnergy.larchE0(energies: file.energies, mu: file.mu)
        let normalization = EdgeNormalizationSettings.larchDefaults(energies: file.energies, e0: e0)
            .overriding(preEdge: settings.preEdge, postEdge: settings.postEdge, postEdgeDegree: settings.postEdgeDegree)
        let n = try NormalizedSpectrum(energies: file.energies, mu: file.mu, e0: e0, settings: normalization)
        guard n.edgeStep.isFinite, n.edgeStep > 0 else {
            throw LensError.badInput(file: path, problem: "no absorption edge: the edge step is \(n.edgeStep) (a flat or inverted spectrum, or a wrong --e0/--pre/--post)")
        }
        let half = EdgeEnergy.crossing(energies: n.energies, values: n.normalized, near: e0,
                                       sigma: [Double](repeating: n.preEdgeNoise / n.edgeStep, count: n.energies.count))
        let derivative = try EdgeEnergy.maximumDerivative(energies: n.energies, values: n.normalized, within: (e0 - 15)...(e0 + 15))
        let white = EdgeEnergy.whiteLine(energies: n.energies, values: n.normalized, window: e0...(e0 + 25), points: 5)
        var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("mu"), TableColumn("pre_edge"), TableColumn("post_edge"),
                                    TableColumn("normalized_mu"), TableColumn("dmu_de", unit: "1/eV")])
        for (k, e) in n.energies.enumerated() {
            let (a, b) = (max(0, k - 1), min(n.energies.count - 1, k + 1))
            let slope = (n.mu[b] - n.mu[a]) / (n.energies[b] - n.energies[a])
            table.append([.number(e), .number(n.mu[k]), .number(n.preEdgeLine(e)), .number(n.preEdgeLine(e) + n.postEdge(e)),
                          .number(n.normalized[k]), .number(slope)])
        }
        try table.write(to: "\(folder)/normalized.csv")
        var outputs = ["normalized": "\(named)/normalized.csv"]
        var exafsRecord: EXAFSRecord?
        if let exafs = settings.exafs {
            var background = EXAFSBackground.Settings()
            background.rbkg = exafs.rbkg; background.kweight = exafs.kweight
            let autobk = try EXAFSBackground(energies: n.energies, mu: n.mu, e0: e0, edgeStep: n.edgeStep, settings: background)
            var ft = RSpaceSpectrum.Settings()
            ft.kmin = exafs.kmin; ft.kmax = exafs.kmax ?? (autobk.k.last!.rounded(.down) - 1); ft.dk = exafs.dk; ft.kweight = exafs.kweight
            guard ft.kmax > ft.kmin else {
                throw LensError.badInput(file: path, problem: exafs.kmax == nil
                    ? "the data reach only k = \(autobk.k.last!) Å⁻¹, too short for a transform from --kmin \(exafs.kmin) (give a smaller --kmin)"
                    : "--kmin \(exafs.kmin) must be below --kmax \(ft.kmax) Å⁻¹ (the data reach k = \(autobk.k.last!))")
            }
            let r = try RSpaceSpectrum(k: autobk.k, chi: autobk.chi, settings: ft)
            let w = exafs.kweight
            var chiTable = Table(columns: [TableColumn("k", unit: "1/Å"), TableColumn("chi"), TableColumn("k^\(w) chi", unit: "Å^-\(w)")])
            for (k, c) in zip(autobk.k, autobk.chi) { chiTable.append([.number(k), .number(c), .number(c * pow(k, w))]) }
            try chiTable.write(to: "\(folder)/chi.csv")
            let magnitude = r.magnitude
            var rTable = Table(columns: [TableColumn("r", unit: "Å"), TableColumn("chir_real"), TableColumn("chir_imaginary"), TableColumn("chir_magnitude")])
            for i in r.r.indices { rTable.append([.number(r.r[i]), .number(r.real[i]), .number(r.imaginary[i]), .number(magnitude[i])]) }
            try rTable.write(to: "\(folder)/chir.csv")
            outputs["chi"] = "\(named)/chi.csv"; outputs["chir"] = "\(named)/chir.csv"
            let peak = r.r.indices.filter { r.r[$0] >= 1 }.max { magnitude[$0] < magnitude[$1] }
            exafsRecord = EXAFSRecord(rbkgAngstrom: exafs.rbkg, knots: autobk.knotCount, kMax: autobk.k.last!,
                                      window: .init(kmin: ft.kmin, kmax: ft.kmax, dk: exafs.dk, kweight: w),
                                      largestPeakAngstrom: peak.map { r.r[$0] })
        }
        return Record(file: path, muSource: file.muSource, points: n.energies.count, e0ElectronVolts: e0, e0Given: settings.e0 != nil,
                      edgeStep: n.edgeStep, preEdgeNoise: n.preEdgeNoise,
                      preEdgeElectronVolts: [n.settings.preEdge.lowerBound, n.settings.preEdge.upperBound],
                      postEdgeElectronVolts: [n.settings.postEdge.lowerBound, n.settings.postEdge.upperBound],
                      postEdgeDegree: n.settings.postEdgeDegree, halfHeightEnergy: half.energy, halfHeightEnergySigma: half.uncertainty,
                      derivativeMaximum: derivative.energy, whiteLineEnergy: white.energy.energy, whiteLineHeight: white.height.energy,
                      outputs: outputs, exafs: exafsRecord)
    }
}
