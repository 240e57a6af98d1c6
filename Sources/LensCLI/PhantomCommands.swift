import ArgumentParser
import Compton
import Foundation
import LensCore
import LensIO
import Phantoms
import Tomography

/// `batterylens phantom ...`: synthetic data with known truth.
struct PhantomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Generate synthetic battery data with known truth (electrodes, scans).",
        subcommands: [PhantomElectrodeCommand.self, PhantomProjectionsCommand.self, PhantomXANESCommand.self,
                       PhantomComptonCommand.self, PhantomXRDCommand.self, PhantomSeriesCommand.self, PhantomCellCommand.self])
}

struct PhantomElectrodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "electrode",
        abstract: "A synthetic electrode: phase labels, particle ids, attenuation and truth.json.",
        discussion: """
        Writes OUT/phases.tif (uint8: 0 pore, 1 active, 2 carbon-binder, 3 crack, 4 separator, \
        5 current collector, 6 fiducial; the scheme beside it in phases.tif.labels.json), OUT/particles.tif (int32 particle ids), OUT/attenuation.tif \
        (float32, 1/µm at --energy-kev), OUT/grains.tif with --grains, OUT/truth.json and OUT/design.json.
        """)

    @Option(help: "Output folder (created).") var out: String
    @Option(help: "Volume size z,y,x in voxels (z is depth), or one number for a cube.") var size: String = "128"
    /// The phantom's voxel size: `--voxel-um` (one value), 0.5 µm by default.
    var voxelMicrometres: Double { global.voxelMicrometres?.first ?? 0.5 }
    @Option(name: .customLong("diameter-um"), help: "Median particle diameter in µm.") var diameterMicrometres: Double = 8
    @Option(help: "Log-normal σ of particle diameters.") var sigma: Double = 0.3
    @Option(help: "Active fraction near the separator and near the collector, A:B.") var solid: String = "0.50:0.60"
    @Option(help: "Primary grains per particle (0: single crystals).") var grains: Int = 0
    @Option(help: "Probability that a median particle is cracked.") var cracks: Double = 0.3
    @Option(name: .customLong("crack-width-um"), help: "Crack width range in µm, A:B.") var crackWidth: String = "0.1:1.5"
    @Option(help: "Separator thickness in voxels.") var separator: Int = 0
    @Option(help: "Current collector thickness in voxels.") var collector: Int = 0
    @Option(help: "Vertical pore channels (ice-templated electrodes).") var channels: Int = 0
    @Option(help: "Gold fiducial beads.") var beads: Int = 0
    @Option(name: .customLong("energy-kev"), help: "X-ray energy for the attenuation values.") var energyKeV: Double = 20
    @Option(help: "Depth regions for the truth.") var regions: Int = 3
    @Option(help: "Random seed (same seed, same bytes).") var seed: UInt64 = 1
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var p = ElectrodeParameters()
        p.shape = try parseVolumeSize(size)
        p.voxelSizeMicrometres = voxelMicrometres
        p.medianParticleDiameterMicrometres = diameterMicrometres
        p.diameterLogSigma = sigma
        let s = try parseValueRange(solid, option: "--solid", allowEqual: true)
        p.solidFractionAtSeparator = s.lowerBound
        p.solidFractionAtCollector = s.upperBound
        if s.lowerBound > s.upperBound { throw LensError.invalidArgument("--solid A:B") }
        p.grainsPerParticle = grains
        p.crackProbability = cracks
        let w = try parseValueRange(crackWidth, option: "--crack-width-um", allowEqual: true)
        p.crackWidthRangeMicrometres = [w.lowerBound, w.upperBound]
        p.separatorThicknessVoxels = separator
        p.currentCollectorThicknessVoxels = collector
        p.poreChannelCount = channels
        p.fiducialBeadCount = beads
        p.energyKeV = energyKeV
        p.depthRegions = regions
        p.seed = seed
        try p.validate()
        try global.outputs(inputs: []) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        let progress = ProgressReporter(label: "rasterizing electrode", total: p.shape[0])
        let phantom = try ElectrodePhantom.generate(p, progress: progress)
        progress.finish()
        do {
            try VolumeIO.write(phantom.phases, to: folder + "/phases.tif")
            try LabelSchemeFile.write(.electrodePhantom, to: LabelSchemeFile.sidecarPath(for: folder + "/phases.tif"))
            try VolumeIO.write(phantom.particleIDs, to: folder + "/particles.tif")
            try VolumeIO.write(phantom.attenuation, to: folder + "/attenuation.tif")
            if grains > 0 { try VolumeIO.write(phantom.grainIDs, to: folder + "/grains.tif") }
            try JSONOutput.write(phantom.truth, to: folder + "/truth.json")
            try JSONOutput.write(phantom.design, to: folder + "/design.json")
        }
        let t = phantom.truth
        print(String(format: "wrote %@: %@ at %g µm, %d particles (%d cracked), electrode porosity %.4f, active %.4f, binder %.4f",
                     out, Shape(p.shape).description, voxelMicrometres, t.particleCount, t.crackedParticleCount,
                     t.electrode.porosity, t.electrode.fractions["active"] ?? 0, t.electrode.fractions["carbon-binder"] ?? 0))
        }
    }
}

struct PhantomProjectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Simulate a parallel-beam scan of an attenuation volume, written as Data Exchange HDF5.",
        discussion: """
        Exact line integrals (Joseph's method) → counts with flats and darks, Poisson noise, \
        miscalibrated pixels (rings), zingers, rotation-axis offset and jitter. The scan's truth \
        (geometry, axis column, defects) goes to --summary.
        """)

    @Argument(help: "Attenuation volume (1/µm), e.g. OUT/attenuation.tif of `phantom electrode`.") var volume: String
    @Option(help: "Output: a .h5 file (Data Exchange), or a folder for TIFF stacks (projections.tif, flats.tif, darks.tif, angles.txt).") var out: String
    @Option(help: "Number of projections.") var angles: Int = 180
    @Option(name: .customLong("range-deg"), help: "Angular range in degrees (180, 360, or 135 for limited angle).") var range: Double = 180
    @Option(name: .customLong("start-deg"), help: "First angle in degrees.") var start: Double = 0
    @Option(help: "Detector columns (default: the volume width).") var columns: Int?
    @Option(help: "Rotation-axis offset from the detector centre, pixels (negative values as --offset=-6.4).") var offset: Double = 0
    @Option(help: "Open-beam counts per pixel; 0 for noise-free data.") var photons: Double = 10_000
    @Option(help: "Fraction of miscalibrated pixels (ring artefacts).") var rings: Double = 0
    @Option(help: "Zinger probability per pixel and projection.") var zingers: Double = 0
    @Option(help: "Random jitter σ per projection, pixels.") var jitter: Double = 0
    @Option(help: "Flat and dark frames.") var flats: Int = 10
    @Option(name: .customLong("distance-mm"), help: "Propagation distance for phase contrast (0: absorption only).") var distanceMillimetres: Double = 0
    @Option(name: .customLong("delta-beta"), help: "δ/β of the sample for phase contrast.") var deltaBeta: Double = 0
    @Option(name: .customLong("energy-kev"), help: "Energy for the phase-contrast wavelength.") var energyKeV: Double = 20
    @Option(name: .customLong("cone"), help: "Cone beam: source-to-axis and source-to-detector distances in mm, SOD:SDD.") var cone: String?
    @Option(name: .customLong("detector-pixel-mm"), help: "Cone beam: detector pixel size in mm (default: voxel × magnification).") var detectorPixelMillimetres: Double?
    @Option(help: "Cone beam: detector rows (default: the volume height).") var rows: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Where to write the scan truth (geometry, axis column, defects) as JSON; default OUT.truth.json beside a .h5, or OUT/truth.json in a TIFF folder.") var summary: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        guard angles > 0, range > 0 else { throw LensError.invalidArgument("--angles and --range-deg must be positive") }
        let isHDF5 = VolumeIO.hdf5Extensions.contains(URL(fileURLWithPath: out).pathExtension.lowercased())
        try global.outputs(inputs: [volume]) { outputs in
        let outPath = isHDF5 ? try outputs.file(out, option: "--out") : try outputs.folder(out, option: "--out")
        // The truth goes to --summary, else beside a .h5 (OUT.truth.json) or inside the folder.
        let truthPath = try summary.map { try outputs.file($0, option: "--summary") }
            ?? (isHDF5 ? try outputs.file(out + ".truth.json", option: "--summary (default OUT.truth.json)") : outPath + "/truth.json")
        let attenuation = try VolumeIO.read(volume).float32()
        guard attenuation.rank == 3 else { throw LensError.badInput(file: volume, problem: "needs a 3D volume, got \(attenuation.shape)") }
        if !attenuation.geometry.isCalibrated {
            throw LensError.invalidArgument("\(volume) has no voxel size; give --voxel-um")
        }
        var a = AcquisitionParameters()
        a.projectionCount = angles
        a.angularRangeDegrees = range
        a.startAngleDegrees = start
        a.detectorColumns = columns
        a.centreOffsetPixels = offset
        a.incidentPhotons = photons > 0 ? photons : nil
        a.defectivePixelFraction = rings
        a.zingerProbability = zingers
        a.jitterPixels = jitter
        a.flatCount = flats
        a.darkCount = flats
        a.propagationDistanceMillimetres = distanceMillimetres
        a.deltaOverBeta = deltaBeta
        a.energyKeV = energyKeV
        a.seed = seed
        let progress = ProgressReporter(label: "projecting", total: attenuation.shape[0])
        let scan: (projections: Grid<UInt16>, flats: Grid<UInt16>, darks: Grid<UInt16>, truth: ScanTruth)
        if let cone {
            let d = try parseValueRange(cone, option: "--cone")
            let voxel = attenuation.geometry.voxelSizeMicrometres[2]
            let magnification = d.upperBound / d.lowerBound
            let geometry = ConeBeamGeometry(
                anglesDegrees: (0..<angles).map { start + range * Double($0) / Double(angles) },
                detectorRows: rows ?? attenuation.shape[0], detectorColumns: columns ?? attenuation.shape[2],
                detectorPixelMillimetres: detectorPixelMillimetres ?? voxel / 1000 * magnification,
                sourceToAxisMillimetres: d.lowerBound, sourceToDetectorMillimetres: d.upperBound,
                centreOffsetPixels: offset, voxelSizeMicrometres: voxel)
            scan = try ParallelScanSimulator.simulateConeBeam(attenuation, geometry: geometry, a)
        } else {
            scan = try ParallelScanSimulator.simulate(attenuation, a, progress: progress)
        }
        progress.finish()
        if isHDF5 {
            try ParallelScanSimulator.writeDataExchange(projections: scan.projections, flats: scan.flats, darks: scan.darks, truth: scan.truth, to: outPath)
        } else {
            try ParallelScanSimulator.writeTIFFStacks(projections: scan.projections, flats: scan.flats, darks: scan.darks, truth: scan.truth, to: outPath)
        }
        let object: JSONValue = ["scan": try JSONValue(encoding: scan.truth),
                                 "provenance": try provenanceJSON(inputs: [volume], parameters: ["acquisition": try JSONValue(encoding: a)])]
        try JSONOutput.write(object, to: truthPath, inputs: [volume])
        print("wrote \(out): \(scan.projections.shape) counts, axis at column \(scan.truth.rotationAxisColumn), \(scan.truth.defectivePixels.count) defective pixels, \(scan.truth.zingerCount) zingers")
        }
    }
}

struct PhantomXANESCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xanes",
        abstract: "A TXM-XANES stack (Ni K-edge) of particles with known state-of-charge maps.",
        discussion: """
        Writes OUT/stack.h5 (/intensity and /flat as (energy, y, x) or (energy, z, y, x), \
        /energies in eV), OUT/energies.txt, OUT/references.csv (energy, discharged, charged — for \
        LCF), and the truth: OUT/state_of_charge.tif, OUT/edge_energy.tif (eV), OUT/labels.tif \
        (particle ids), OUT/truth.json. `batterylens xanes OUT/stack.h5` reads it as it is. \
        The truth edge energy is the half height of each pixel's noise-free spectrum with the \
        pre-edge removed and a step of exactly 1. An analysis that fits pre- and post-edge lines \
        (Larch's normalization, `xanes`) finds the half height ~0.4 eV higher here, because the \
        post-edge oscillation makes the fitted step larger: a difference of definition, not an \
        error. To judge an analysis's noise and its σ, analyse the noise-free stack (--photons 0, \
        same seed) with the same settings and compare pixel by pixel.
        """)

    @Option(help: "Output folder.") var out: String
    @Option(help: "Frame size in pixels (default 128).") var size: Int?
    @Option(help: "2 for a 2D map stack, 3 for a stack of volumes (default 2).") var dims: Int?
    @Option(help: "Open-beam counts per pixel; 0 for noise-free.") var photons: Double = 20_000
    @Option(name: .customLong("shift-sigma"), help: "Random per-energy image shifts, σ in pixels.") var shiftSigma: Double = 0
    @Option(help: "Relative magnification change across the energy range.") var magnification: Double = 0
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Particles of a cycled electrode (e.g. a `phantom series` state's particles.tif): a 2D map of one slice of them, each particle charged according to its damage class in --particles-truth (least 0.85, mild 0.65, severe 0.45, ± 0.05); not with --size or --dims.") var particles: String?
    @Option(name: .customLong("particles-truth"), help: "The truth.json of --particles (its particles' damage classes).") var particlesTruth: String?
    @Option(help: "Slice of --particles to map (default: the middle).") var slice: Int?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        if particles != nil && (size != nil || dims != nil) {
            throw LensError.invalidArgument("--particles maps one slice of the particles as they are: --size and --dims do not apply")
        }
        let (size, dims) = (self.size ?? 128, self.dims ?? 2)
        guard dims == 2 || dims == 3 else { throw LensError.invalidArgument("--dims must be 2 or 3") }
        guard (16...2048).contains(size) else { throw LensError.invalidArgument("--size must be 16…2048") }
        guard (particles == nil) == (particlesTruth == nil) else { throw LensError.invalidArgument("--particles and --particles-truth go together") }
        if slice != nil && particles == nil { throw LensError.invalidArgument("--slice selects a slice of --particles") }
        try global.outputs(inputs: [particles, particlesTruth].compactMap { $0 }) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        var particleTable: [(id: Int, damageClass: String, stateOfCharge: Double)]?
        let scene: (stateOfCharge: Grid<Float>, thickness: Grid<Float>, labels: Grid<Int32>)
        if let particles, let particlesTruth {
            let ids = try VolumeIO.read(particles)
            guard !ids.dataType.isFloatingPoint, !ids.dataType.isComplex, ids.shape.rank == 3 else {
                throw LensError.badInput(file: particles, problem: "particle labels must be a 3D integer volume, got \(ids.dataType) \(ids.shape)")
            }
            let truth = try JSONOutput.read(JSONValue.self, from: particlesTruth)
            guard case .array(let list)? = truth["truth"]?["particles"] ?? truth["particles"] else {
                throw LensError.badInput(file: particlesTruth, problem: "no particles list (truth.particles with id and damage_class)")
            }
            var classes = [Int: String]()
            for p in list { if let id = p["id"]?.doubleValue, let c = p["damage_class"]?.stringValue { classes[Int(id)] = c } }
            let grid = try ids.converted(to: Int32.self)
            let z = slice ?? grid.shape[0] / 2
            let built = try SpectralScenes.damagedParticles(particles: grid, classes: classes, slice: z, seed: seed)
            scene = (built.stateOfCharge, built.thickness, built.labels)
            particleTable = built.particles
        } else {
            scene = try SpectralScenes.stateOfCharge(size: size, rank: dims, seed: seed)
        }
        var p = XANESParameters()
        p.incidentPhotons = photons > 0 ? photons : nil
        p.shiftSigmaPixels = shiftSigma
        p.magnificationChange = magnification
        p.seed = seed
        let result = try XANESSimulator.simulate(stateOfCharge: scene.stateOfCharge, thickness: scene.thickness, parameters: p)
        do {
            let file = try HDF5File(creating: folder + "/stack.h5")
            for (name, grid) in [("/intensity", result.intensity), ("/flat", result.flat)] {
                let ds = try file.createDataset(name, shape: grid.shape, dataType: .float32)
                try ds.write(AnyGrid(grid), at: 0)
            }
            try file.writeDoubles(p.energiesElectronVolts, to: "/energies")
            try file.setAttribute("units", string: "eV", on: "/energies")
            try file.flush()
            try AtomicOutput.write(Data(p.energiesElectronVolts.map { String($0) }.joined(separator: "\n").appending("\n").utf8), to: folder + "/energies.txt")
            var table = Table(columns: [TableColumn("energy", unit: "eV"), TableColumn("discharged"), TableColumn("charged")])
            for row in XANESSimulator.referenceTable(energies: Array(stride(from: 8150.0, through: 8600, by: 0.5))) {
                table.append(row.map { .number($0) })
            }
            try table.write(to: folder + "/references.csv")
            try VolumeIO.write(scene.stateOfCharge, to: folder + "/state_of_charge.tif")
            try VolumeIO.write(result.edgeEnergy, to: folder + "/edge_energy.tif")
            try VolumeIO.write(scene.labels, to: folder + "/labels.tif")
            try JSONOutput.write(result.truth, to: folder + "/truth.json")
            if let particleTable {
                var table = Table(columns: [TableColumn("label"), TableColumn("damage_class"), TableColumn("state_of_charge")])
                for p in particleTable { table.append([.number(Double(p.id)), .text(p.damageClass), .number(p.stateOfCharge)]) }
                try table.write(to: folder + "/particles.csv")
            }
        }
        print("wrote \(out): \(result.intensity.shape) stack over \(p.energiesElectronVolts.count) energies")
        }
    }
}

struct PhantomComptonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compton",
        abstract: "Photon events of Compton scattering imaging for known Li stoichiometry maps, one file per depth region.",
        discussion: """
        Each region's map is its --lithium value (1 − x) with a ±0.03 gradient across the columns \
        inside a 35-pixel-radius disc (the cell). With --ct (a segmented CT of the electrode, depth \
        first) the maps come from the CT instead: each region (equal parts of its depth) projected \
        onto Compton pixels of --compton-pixel-um, 1 − x = the region's --lithium value + \
        --lithium-slope × (porosity − the region's mean), events denser where the CT has more \
        solid — the truth of `compton correlate`. Writes OUT/region_N.bin (12-byte events: frame \
        uint32, row uint16, column uint16, energy float32 keV, little-endian) and OUT/truth.json \
        (with --ct also OUT/correlation_truth.json: the slope and each region's slices and mean porosity).
        """)

    @Option(help: "Output folder.") var out: String
    @Option(help: "Li stoichiometry (1 − x) per depth region, comma-separated.") var lithium: String = "0.10,0.03,0.00"
    /// 4 million events per region give every pixel of the cell ≥ 200 Compton counts, so the
    /// default chain (phantom → spectra → analyze) runs with analyze's defaults.
    @Option(help: "Events per region.") var events: Int = 4_000_000
    @Option(name: .customLong("incident-kev"), help: "Incident energy.") var incidentKeV: Double = 115
    @Option(name: .customLong("angle-deg"), help: "Scattering angle.") var angleDegrees: Double = 90
    @Option(name: .customLong("sharing"), help: "Charge-sharing probability per event.") var sharing: Double = 0.1
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Segmented CT labels of the electrode (depth, y, x), with a voxel size: the maps follow its porosity per region.") var ct: String?
    @Option(name: .customLong("compton-pixel-um"), help: "With --ct: the Compton pixel size at the sample in µm.") var comptonPixel: Double = 270
    @Option(name: .customLong("lithium-slope"), help: "With --ct: d(1 − x)/d(porosity) within each region.") var lithiumSlope: Double = 0.2
    @Option(help: "With --ct: void phases, names in its label scheme or codes (default: the scheme's pore and crack phases).") var pore: String?
    @Option(help: "With --ct: solid phases, names or codes (default: the scheme's solid, active and binder phases not given as --pore).") var solid: String?
    @OptionGroup var labels: LabelSchemeOption
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let values = lithium.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw LensError.invalidArgument("--lithium must be numbers separated by commas") }
        guard events > 0 else { throw LensError.invalidArgument("--events must be positive") }
        if ct == nil && (pore != nil || solid != nil) { throw LensError.invalidArgument("--pore and --solid select phases of --ct") }
        try requirePositive(comptonPixel, "--compton-pixel-um")
        guard lithiumSlope.isFinite else { throw LensError.invalidArgument("--lithium-slope must be a number") }
        try global.outputs(inputs: [ct].compactMap { $0 }) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        var p = ComptonParameters()
        p.totalEvents = events
        p.incidentKeV = incidentKeV
        p.angleDegrees = angleDegrees
        p.chargeSharingProbability = sharing
        // The maps: a disc with a gradient, or the CT's regions.
        var maps: [(lithium: [Double], intensity: [Double]?)] = []
        var correlationTruth: JSONValue?
        if let ct {
            let reader = try VolumeIO.open(ct)
            guard reader.info.shape.rank == 3, !reader.info.dataType.isFloatingPoint, !reader.info.dataType.isComplex else {
                throw LensError.badInput(file: ct, problem: "the CT labels must be a 3D integer volume (depth, y, x), are \(reader.info.shape) \(reader.info.dataType)")
            }
            guard reader.info.geometry.isCalibrated else { throw LensError.invalidArgument("\(ct) carries no voxel size, which the Compton pixels need; give --voxel-um") }
            let selector = PhaseSelector(input: ct, scheme: try labels.scheme(for: ct), countCodes: { try countLabelCodes(ct) })
            let selected = try selector.voidAndSolid(pore: pore, solid: solid)
            let phases = ComptonCTCorrelation.Phases(pore: selected.pore, solid: selected.solid)
            let scene = try ComptonCTScene.regions(labels: try reader.readAll().converted(to: Int32.self), phases: phases,
                                                   ctVoxelMicrometres: reader.info.geometry.voxelSizeMicrometres[2], comptonPixelMicrometres: comptonPixel,
                                                   baseLithium: values.map { $0! }, slope: lithiumSlope)
            p.rows = scene.rows; p.columns = scene.columns
            maps = scene.regions.map { ($0.lithium, $0.intensity) }
            correlationTruth = ["slope": .number(lithiumSlope), "compton_pixel_um": .number(comptonPixel),
                                "regions": .array(scene.regions.enumerated().map { k, r in
                                    ["region": .number(Double(k + 1)), "slices": .array([.number(Double(r.slices.lowerBound)), .number(Double(r.slices.upperBound))]),
                                     "mean_porosity": .number(r.meanPorosity), "base_lithium": .number(values[k]!),
                                     "event_weighted_lithium": .number(r.eventWeightedLithium)] })]
        } else {
            for value in values {
                var map = [Double](repeating: .nan, count: p.rows * p.columns)
                for r in 0..<p.rows { for c in 0..<p.columns {
                    let dy = Double(r) - Double(p.rows - 1) / 2, dx = Double(c) - Double(p.columns - 1) / 2
                    if dx * dx + dy * dy <= 35 * 35 { map[r * p.columns + c] = value! + 0.03 * dx / 35 }
                } }
                maps.append((map, nil))
            }
        }
        var truths = [ComptonTruth]()
        do {
            for (k, map) in maps.enumerated() {
                p.seed = seed &+ UInt64(k)
                truths.append(try ComptonSimulator.writeEvents(lithium: map.lithium, intensity: map.intensity, parameters: p, to: folder + "/region_\(k + 1).bin"))
            }
            try JSONOutput.write(truths, to: folder + "/truth.json")
            if let correlationTruth { try JSONOutput.write(correlationTruth, to: folder + "/correlation_truth.json") }
        }
        print("wrote \(out): \(values.count) regions, \(truths.map(\.recordedEvents).reduce(0, +)) events")
        }
    }
}

struct PhantomXRDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xrd",
        abstract: "Operando diffraction patterns of a two-phase reaction with known phase fractions and lattices.",
        discussion: """
        Writes OUT/patterns.h5 (/patterns, /two_theta in degrees, /wavelength_angstrom, /voltage of a \
        model charge), patterns.csv, phases.json (the starting model for `diffraction series`) and \
        truth.json (per pattern the second phase's fraction and both phases' lattices). With \
        --detector N: frames.h5:/frames, the same series as N × N detector frames (75 µm pixels, \
        solid angle, polarization 0.95, Poisson noise) and detector.poni, their geometry.
        """)

    @Option(help: "Output folder.") var out: String
    @Option(help: "Number of patterns.") var patterns: Int = 60
    @Option(help: "Also write the series as frames of a square area detector of this many pixels a side (frames.h5:/frames, detector.poni): Debye–Scherrer rings for `diffraction integrate`.") var detector: Int?
    @Flag(help: "Noise-free patterns.") var noiseFree = false
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try global.outputs(inputs: []) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        guard (1...20_000).contains(patterns) else { throw LensError.invalidArgument("--patterns must be 1…20000, got \(patterns)") }
        if let d = detector {
            guard (32...2048).contains(d) else { throw LensError.invalidArgument("--detector must be 32…2048 pixels, got \(d)") }
            try MemoryBudget.require(elements: patterns * d * d, elementBytes: 8, for: "--detector \(d) with --patterns \(patterns)")
        }
        var p = DiffractionParameters()
        p.patternCount = patterns
        p.noisy = !noiseFree
        p.seed = seed
        let result = try DiffractionSimulator.simulate(p)
        do {
            let file = try HDF5File(creating: folder + "/patterns.h5")
            let ds = try file.createDataset("/patterns", shape: result.patterns.shape, dataType: .float32)
            try ds.write(AnyGrid(result.patterns), at: 0)
            try file.writeDoubles(result.twoThetaDegrees, to: "/two_theta")
            try file.setAttribute("units", string: "degrees", on: "/two_theta")
            try file.writeDoubles([p.wavelengthAngstrom], to: "/wavelength_angstrom")
            try file.writeDoubles(result.truth.voltage, to: "/voltage")
            try file.setAttribute("units", string: "V", on: "/voltage")
            try file.flush()
            // The starting model a user would take from the literature (the series' first cells).
            try JSONOutput.write(["phases": result.truth.phases], to: folder + "/phases.json")
            var table = Table(columns: [TableColumn("two_theta", unit: "deg")] + (0..<patterns).map { TableColumn("pattern_\($0)", unit: "counts") })
            for (i, t) in result.twoThetaDegrees.enumerated() {
                table.append([.number(t)] + (0..<patterns).map { .number(Double(result.patterns[$0, i])) })
            }
            try table.write(to: folder + "/patterns.csv")
            try JSONOutput.write(result.truth, to: folder + "/truth.json")
            if let size = detector {
                // The same series without noise, rendered onto the detector (its own Poisson noise).
                var clean = p
                clean.noisy = false
                let mean = try DiffractionSimulator.simulate(clean).patterns
                let geometry = DiffractionFrameSimulator.detector(size: size, wavelengthAngstrom: p.wavelengthAngstrom)
                let frames = DiffractionFrameSimulator.frames(mean: mean, twoThetaDegrees: result.twoThetaDegrees, geometry: geometry, size: size, seed: seed)
                let frameFile = try HDF5File(creating: folder + "/frames.h5")
                try frameFile.createDataset("/frames", shape: frames.shape, dataType: .float32).write(AnyGrid(frames), at: 0)
                try frameFile.flush()
                try AtomicOutput.write(Data(geometry.poniText(rows: size, columns: size).utf8), to: folder + "/detector.poni")
            }
        }
        print("wrote \(out): \(patterns) patterns × \(result.twoThetaDegrees.count) points" + (detector.map { ", and \(patterns) frames of \($0) × \($0) pixels" } ?? ""))
        }
    }
}

struct PhantomSeriesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "series",
        abstract: "The same electrode through cycling (Tomo 00–04: pristine, 1st charge, 1st discharge, 5 and 30 cycles).",
        discussion: "Writes OUT/state_0 … OUT/state_4, each with phases.tif, particles.tif, attenuation.tif and truth.json; particle ids are stable across states.")

    @Option(help: "Output folder.") var out: String
    @Option(help: "Volume size z,y,x or N.") var size: String = "96"
    /// The phantom's voxel size: `--voxel-um` (one value), 0.5 µm by default.
    var voxelMicrometres: Double { global.voxelMicrometres?.first ?? 0.5 }
    @Option(name: .customLong("diameter-um"), help: "Median particle diameter in µm.") var diameterMicrometres: Double = 6
    @Option(help: "Probability that a median particle cracks during the series.") var cracks: Double = 0.6
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        var p = ElectrodeParameters()
        p.shape = try parseVolumeSize(size)
        p.voxelSizeMicrometres = voxelMicrometres
        p.medianParticleDiameterMicrometres = diameterMicrometres
        p.crackProbability = cracks
        p.seed = seed
        try global.outputs(inputs: []) { outputs in
        let folder = try outputs.folder(out, option: "--out")
        let designs = CyclingSeries.designs(pristine: try ElectrodeDesign.generate(p), states: CyclingState.tomo00to04, seed: seed)
        let progress = ProgressReporter(label: "rasterizing states", total: designs.count)
        do {
            for (k, design) in designs.enumerated() {
                let phantom = try ElectrodePhantom.rasterize(design)
                let dir = folder + "/state_\(k)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
                try VolumeIO.write(phantom.phases, to: dir + "/phases.tif")
                try LabelSchemeFile.write(.electrodePhantom, to: LabelSchemeFile.sidecarPath(for: dir + "/phases.tif"))
                try VolumeIO.write(phantom.particleIDs, to: dir + "/particles.tif")
                try VolumeIO.write(phantom.attenuation, to: dir + "/attenuation.tif")
                try JSONOutput.write(["state": .string(CyclingState.tomo00to04[k].name), "truth": try JSONValue(encoding: phantom.truth)] as JSONValue,
                                     to: dir + "/truth.json")
                progress.advance()
            }
        }
        progress.finish()
        print("wrote \(out): \(designs.count) states of \(Shape(p.shape))")
        }
    }
}

/// Parses --size: "N" for a cube or "Z,Y,X".
func parseVolumeSize(_ text: String) throws -> [Int] {
    let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard dims.count == 1 || dims.count == 3, dims.allSatisfy({ $0 != nil }) else {
        throw LensError.invalidArgument("--size must be N or Z,Y,X, got '\(text)'")
    }
    return dims.count == 1 ? [dims[0]!, dims[0]!, dims[0]!] : dims.map { $0! }
}

struct PhantomCellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cell",
        abstract: "Cross-sections of a cylindrical cell (can and jelly roll) with a known winding, for `batterylens cell`.",
        discussion: """
        Writes OUT/cell.tif (slices × size × size, attenuation in 1/µm, --pixel-um µm pixels; scan \
        it with `phantom projections`) and truth.json \
        (in pixels: the can's centre in slice 0 and inner radius, wall, turns, pitch, bright layer \
        thickness, strip length, the buckle's angle, the axis drift per slice). The bright \
        electrode is an Archimedean spiral with the grey electrode half a pitch further out; \
        --buckle pushes the two inner turns inwards over ±20° around 250° (a collapsing core).
        """)
    @Option(help: "Output folder.") var out: String
    @Option(help: "Pixels a side.") var size: Int = 352
    @Option(help: "Cross-sections along the axis.") var slices: Int = 4
    @Option(help: "Depth of the buckle of the inner turns (pixels; 0: none).") var buckle: Double = 0
    @Option(help: "Drift of the axis per slice, pixels along x (a tilted cell).") var drift: Double = 0
    @Option(name: .customLong("pixel-um"), help: "Pixel size written in the file (µm).") var pixelMicrometres: Double = 10
    @Option(help: "Random seed.") var seed: UInt64 = 11
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        try requireOption(size, "--size", in: 352...4096)
        try requireOption(slices, "--slices", in: 1...512)
        try requireOption(buckle, "--buckle", in: 0...9)
        try requireOption(drift, "--drift", in: -0.5...0.5)
        try requirePositive(pixelMicrometres, "--pixel-um", atMost: 1e4)
        try MemoryBudget.require(elements: slices * size * size, elementBytes: 4, for: "--slices \(slices) of --size \(size)")
        try global.outputs(inputs: []) { outputs in
            let folder = try outputs.folder(out, option: "--out")
            var design = JellyRollDesign()
            // Larger cross-sections keep the design's proportions: the cell fills the field.
            let scale = Double(size) / Double(design.size)
            design.size = size
            design.centreX = (design.centreX - 176) * scale + Double(size) / 2 - drift * Double(slices - 1) / 2
            design.centreY = (design.centreY - 176) * scale + Double(size) / 2
            design.startRadius *= scale; design.canInnerRadius *= scale
            design.turns = (design.turns + 0.6) * scale - 0.6
            design.buckleDepth = buckle
            design.seed = seed
            let (volume, truth) = try JellyRollPhantom.stack(design, slices: slices, driftXPerSlice: drift, driftYPerSlice: 0)
            // Attenuation in 1/µm (the can's level 1 ↔ 1/mm, a lab CT of a cell at ~150 kV: a
            // chord through the cell keeps ~10 % of the beam), so `phantom projections` can scan it.
            var grid = volume.map { $0 * Float(JellyRollDesign.attenuationPerLevelPerMicrometre) }
            grid.geometry = .isotropic(pixelMicrometres, rank: 3)
            try VolumeIO.write(grid, to: folder + "/cell.tif")
            guard case .object(var fields) = try JSONValue(encoding: truth) else { return }
            fields["pixel_size_micrometres"] = .number(pixelMicrometres)
            fields["slices"] = .number(Double(slices))
            try JSONOutput.write(JSONValue.object(fields), to: folder + "/truth.json")
            print(String(format: "wrote %@/cell.tif (%d × %d × %d, %.4g µm pixels): %.2f turns, pitch %.1f px, can inner radius %.1f px%@", out, slices, size, size,
                         pixelMicrometres, truth.turns, truth.pitch, truth.canInnerRadius, buckle > 0 ? ", buckled core" : ""))
        }
    }
}
