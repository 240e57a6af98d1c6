import Foundation
import ImageAnalysis
import LensCore
import Microstructure
import Signal

/// Settings of per-particle crack analysis.
public struct CrackSettings: Codable, Sendable, Equatable {
    /// Grey value of void (pore, crack); nil: the median grey of the voxels no particle covers
    /// inside the electrode (labels 0 with grey above the volume's 1st percentile).
    public var voidGrey: Double?
    /// A voxel of a particle's envelope is crack when its grey lies below void + `level` ·
    /// (solid − void), solid being the particle's own 75th-percentile grey: 0.5 makes a voxel
    /// crack when at least half of it is void (partial-volume cracks narrower than a voxel
    /// are found from their grey deficit).
    public var level = 0.5
    /// Close each particle's mask with a ball of this radius (voxels) and fill its holes to get
    /// the envelope the cracks lie in (0: the labels already include the cracks, as phantom and
    /// `particles --fill` labels do).
    public var envelopeClosingRadius = 0.0
    /// Crack components smaller than this are noise; fragments smaller than this are not
    /// counted as fragments.
    public var minimumCrackVoxels = 3
    public var minimumFragmentVoxels = 27
    /// Voxels of the envelope's surface layer this deep (voxels) are not judged: in a
    /// reconstruction the blur of the particle's edge darkens them like a crack would (0 for
    /// sharp data such as phantoms).
    public var surfaceMarginVoxels = 0.0
    /// Damage classes (the battery literature's least / mild / severe): severe when split into
    /// ≥ 2 fragments or ≥ `severeCrackFraction` crack; mild when ≥ `mildCrackFraction`.
    public var mildCrackFraction = 0.0005
    public var severeCrackFraction = 0.05
    /// Also call a voxel crack where the multi-scale Hessian sheetness (dark sheets, σ = 1,
    /// 1.5, 2 voxels) exceeds this fraction of the particle's solid−void contrast and the voxel is
    /// darker than the solid level minus 10 % of the contrast (nil: grey deficit only). Finds
    /// thin cracks whose grey deficit a reconstruction's blur has spread below `level`.
    public var sheetnessLevel: Double?
    /// Also call a voxel crack where the grey black top-hat with a ball of this radius (voxels;
    /// finds dark features up to twice as wide) exceeds `topHatLevel` of the solid−void contrast
    /// (nil: off).
    public var topHatRadius: Double?
    public var topHatLevel = 0.3
    /// A particle's core counts as darker than its shell (unresolved cracking) when the radial
    /// profile's core-to-shell grey ratio is below this.
    public var darkCoreRatio = 0.95
    /// Also count a particle as split where a surface between two of its regions is darker
    /// than the solid grey by at least this fraction of the solid−void contrast on average
    /// (``SeparatingSurfaces``): thin cracks through the whole particle that a reconstruction's
    /// blur lifts above `level` voxel by voxel (nil: this measure off).
    /// 0.45: on the noise-free phantom no split beyond the truth's (whose crack voxels are those
    /// at least half inside a crack); lower values also split particles along sub-voxel cracks.
    public var splitSurfaceDeficit: Double? = 0.45
    /// Also count a particle as split where the crack across a surface between two of its
    /// regions — its width from the grey deficit integrated across it, which blur does not
    /// change — is at least this multiple of the voxel lattice's thickness in the surface's
    /// direction (``SeparatingSurfaces/latticeThickness(normal:)``: the narrowest crack whose
    /// voxels, those at least half inside it, disconnect the particle's voxels), on most of the
    /// surface (nil: this measure off). A surface is a split by either measure. 1: fragments
    /// counted as the voxelised particle has them.
    public var splitSurfaceWidth: Double? = 1
    /// Peaks of the smoothed grey lower than this fraction of the contrast above their saddle
    /// start no region of their own in that search (noise).
    public var splitMarkerHeight = 0.05
    /// Which voxels hold data: particles reaching outside are flagged
    /// (``ParticleDamage/outsideFieldOfView``) and left out of the statistics
    /// (``CrackingStatistics``). Nothing is assumed: the whole grid unless declared.
    public var fieldOfView: FieldOfView = .grid
    /// The scan's projection angles, for flagging cracks in its missing wedge
    /// (``ParticleDamage/crackInMissingWedge``); nil: not declared, nothing flagged.
    public var scanAngles: ScanAngles?
    public init() {}

    /// The region of a volume that holds measured data.
    public enum FieldOfView: String, Codable, Sendable, CaseIterable {
        /// Every voxel of the grid.
        case grid
        /// The reconstruction circle of each slice (``ReconstructionCircle``): what every
        /// projection of a parallel-beam scan sees when the detector is as wide as the slice.
        /// Outside it some projections miss a voxel (5 % beyond the radius, those within ±18°
        /// of one direction), and a crack facing them can be missed.
        case circle
    }

    /// The damage class of a particle under these thresholds: severe when split into ≥ 2
    /// fragments or at ≥ `severeCrackFraction` crack — by crack voxels, or, where it has crack
    /// voxels, by the grey deficit (``ParticleDamage/deficitCrackFraction``: a reconstruction's
    /// blur lifts thin cracks above the voxel threshold but keeps their deficit) — mild at
    /// ≥ `mildCrackFraction` with at least one crack voxel, else least.
    public func damageClass(crackFraction fraction: Double, deficitFraction: Double = 0, fragments: Int, crackVoxels: Int) -> String {
        if fragments >= 2 || fraction >= severeCrackFraction || (crackVoxels > 0 && deficitFraction >= severeCrackFraction) { return "severe" }
        return fraction >= mildCrackFraction && crackVoxels > 0 ? "mild" : "least"
    }

    public func validate() throws {
        guard level > 0, level < 1 else { throw LensError.invalidArgument("--level must be in (0, 1), got \(level)") }
        guard envelopeClosingRadius >= 0, envelopeClosingRadius <= 20 else { throw LensError.invalidArgument("--close must be 0…20 voxels") }
        guard minimumCrackVoxels >= 1, minimumFragmentVoxels >= 1 else { throw LensError.invalidArgument("minimum sizes must be ≥ 1 voxel") }
        if let d = splitSurfaceDeficit, !(d > 0 && d <= 1) { throw LensError.invalidArgument("--split-deficit must be in (0, 1] (0 turns it off), got \(d)") }
        if let w = splitSurfaceWidth, !(w > 0 && w <= 10) { throw LensError.invalidArgument("--split-width must be in (0, 10] lattice thicknesses (0 turns it off), got \(w)") }
        guard splitMarkerHeight > 0, splitMarkerHeight < 1 else { throw LensError.invalidArgument("the split marker height must be in (0, 1), got \(splitMarkerHeight)") }
        guard mildCrackFraction >= 0, severeCrackFraction > mildCrackFraction, severeCrackFraction <= 1 else {
            throw LensError.invalidArgument("damage thresholds must satisfy 0 ≤ mild < severe ≤ 1")
        }
        if let topHatRadius, !(topHatRadius >= 1 && topHatRadius <= 6) { throw LensError.invalidArgument("the top-hat radius must be 1–6 voxels, got \(topHatRadius)") }
        guard topHatLevel > 0, topHatLevel < 1 else { throw LensError.invalidArgument("the top-hat level must be in (0, 1), got \(topHatLevel)") }
        if let sheetnessLevel, !(sheetnessLevel > 0 && sheetnessLevel < 10) { throw LensError.invalidArgument("the sheetness level must be in (0, 10), got \(sheetnessLevel)") }
        guard darkCoreRatio > 0, darkCoreRatio <= 1 else { throw LensError.invalidArgument("the dark-core ratio must be in (0, 1], got \(darkCoreRatio)") }
        // Decoded settings bypass the initialiser's check.
        if let scanAngles { _ = try ScanAngles(startDegrees: scanAngles.startDegrees, endDegrees: scanAngles.endDegrees) }
    }
}

/// The projection angles of a parallel-beam scan about the volume's z axis, in BatteryLens's
/// convention (`ParallelBeamGeometry` in `Tomography`, that of scikit-image, ASTRA and TomoPy):
/// at angle θ the detector runs along u = x·cos θ − y·sin θ, x the column and y the row index
/// (rows run down). By the Fourier slice theorem that projection records the in-plane
/// frequencies along (x, y) = (cos θ, −sin θ): azimuth −θ in the volume's index axes. A scan
/// over less than 180° misses a wedge of directions. A crack is a sheet whose spectrum lies
/// along its normal: one whose normal points into the missing wedge is recorded only through
/// its finite extent, and a reconstruction loses most of it.
public struct ScanAngles: Codable, Sendable, Equatable {
    public var startDegrees: Double, endDegrees: Double

    /// Normals at least this far (sin of the angle from the z axis) from the rotation axis have
    /// an azimuth that matters: closer to the axis, a crack is recorded by every projection.
    public static let inPlaneThreshold = 0.5

    public init(startDegrees: Double, endDegrees: Double) throws {
        guard startDegrees.isFinite, endDegrees.isFinite, endDegrees > startDegrees, endDegrees - startDegrees <= 3600 else {
            throw LensError.invalidArgument("scan angles must be finite with end > start (degrees), got \(startDegrees) to \(endDegrees)")
        }
        self.startDegrees = startDegrees; self.endDegrees = endDegrees
    }

    /// Degrees of the 180° of in-plane directions that the scan measures.
    public var coveredDegrees: Double { Swift.min(180, endDegrees - startDegrees) }

    /// Whether a crack with unit normal `normal` (z, y, x, index axes) faces the missing wedge:
    /// its normal more than 30° from the z axis (in-plane part > ``inPlaneThreshold``) and the
    /// angle that would record it, −atan2(n_y, n_x) modulo 180°, outside the scan's angles.
    public func missingWedgeContains(normal: SIMD3<Double>) -> Bool {
        guard coveredDegrees < 180 else { return false }
        let length = (normal * normal).sum().squareRoot()
        guard length > 0 else { return false }
        let (y, x) = (normal.y / length, normal.z / length)
        guard (y * y + x * x).squareRoot() > Self.inPlaneThreshold else { return false }
        let recordingAngle = -atan2(y, x) * 180 / .pi
        var folded = (recordingAngle - startDegrees).truncatingRemainder(dividingBy: 180)
        if folded < 0 { folded += 180 }
        return folded > endDegrees - startDegrees
    }
}

/// One particle's damage.
public struct ParticleDamage: Codable, Sendable, Equatable {
    public var id: Int
    public var envelopeVoxels: Int
    public var crackVoxels: Int
    /// Crack voxels over envelope voxels.
    public var crackFraction: Double
    /// The crack volume from the grey deficit, as a fraction of the judged voxels (the envelope
    /// less its surface margin): Σ (m − g) / (m − void) over them, m their median grey. Signed,
    /// so noise averages out; partial-volume and blurred cracks count by how much darker they
    /// make the particle, not by how many voxels cross the threshold (on TV reconstructions of
    /// the noisy 135° phantom, particles whose designed crack fraction is 0.10–0.13 show 0.01
    /// by voxels). A darker core (unresolved cracking, lower density) counts too.
    public var deficitCrackFraction: Double
    /// Crack components (of at least the minimum size, 26-connected).
    public var cracks: Int
    /// Pieces of solid (6-connected, at least the minimum size) the cracks leave.
    public var fragments: Int
    /// "least", "mild" or "severe".
    public var damageClass: String
    /// Median and largest local thickness of the crack phase (maximal inscribed balls), in
    /// voxel edges; nil without crack voxels.
    public var crackWidthMedianVoxels: Double?
    public var crackWidthMaximumVoxels: Double?
    /// Centre of the envelope (z, y, x) in voxels.
    public var centreVoxels: [Double]
    /// Diameter of the sphere of the envelope's volume, (6V/π)^⅓, in voxel edges.
    public var equivalentDiameterVoxels: Double
    /// The particle's solid grey: the 75th percentile inside its envelope (the reference the
    /// crack threshold is set from; a density proxy for the statistics).
    public var solidGrey: Double
    /// Grey against depth below the surface (sub-resolution damage).
    public var radialProfile: RadialProfile
    /// Widths of the largest crack on the XY, YZ and XZ sections through it, as measured by
    /// hand with a line tool (empty without cracks).
    public var sectionWidths: [SectionWidth]
    /// Fraction of the free surface touching binder (nil without a binder mask).
    public var binderContactFraction: Double?
    /// Each fragment (solid piece of at least the minimum size) with the mean of a map on the
    /// same grid, e.g. the edge energy of a XANES map (empty without a map).
    public var fragmentValues: [FragmentValue]
    /// The particle has voxels on a face of the volume: what was measured is the part inside,
    /// so its size (and perhaps its fragments) are those of that part.
    public var cutByVolumeFace: Bool
    /// The particle has voxels outside the declared field of view (``CrackSettings/fieldOfView``),
    /// where the grey values are not reliable.
    public var outsideFieldOfView: Bool
    /// Unit normal (z, y, x) of the largest crack (the one whose section widths are given; the
    /// direction of least spread of its voxels); nil without one.
    public var crackNormal: [Double]?
    /// That crack faces the scan's missing wedge (``ScanAngles/missingWedgeContains(normal:)``),
    /// so the data record it poorly: its widths are not to be trusted, and cracks like it are
    /// under-counted. nil where the scan's angles are not declared
    /// (``CrackSettings/scanAngles``) or there is no crack.
    public var crackInMissingWedge: Bool?
    /// Inside the field of view and clear of the volume's faces: its size is its own.
    public var whole: Bool { !cutByVolumeFace && !outsideFieldOfView }
}

/// One fragment of a particle and the mean of a per-voxel map over it.
public struct FragmentValue: Codable, Sendable, Equatable {
    public var voxels: Int
    /// Mean of the map's finite values over the fragment (nil when it has none).
    public var meanValue: Double?
}

/// Cracks inside particles (science brief §4): within each particle's envelope, voxels darker
/// than halfway between void and the particle's solid grey are crack; their components,
/// the fragments they leave, their local thickness and a damage class follow per particle.
public enum CrackAnalysis {
    /// - Parameters:
    ///   - binder: 1 where the carbon–binder domain is (on the same grid), for each particle's
    ///     binder contact fraction; nil: not measured.
    ///   - map: a per-voxel quantity on the same grid (a XANES edge-energy or state-of-charge
    ///     map) averaged over every fragment; nil: none.
    public static func analyse(grey: Grid<Float>, particles: Grid<Int32>, binder: Grid<UInt8>? = nil, map: Grid<Float>? = nil,
                               settings: CrackSettings = CrackSettings(),
                               progress: ProgressReporter? = nil) throws -> (damage: [ParticleDamage], cracks: Grid<UInt8>, voidGrey: Double) {
        try settings.validate()
        guard grey.shape == particles.shape, grey.rank == 3 else {
            throw LensError.invalidArgument("the grey volume \(grey.shape) and the particle labels \(particles.shape) must be the same 3D shape")
        }
        if let map, map.shape != grey.shape {
            throw LensError.invalidArgument("the map \(map.shape) and the grey volume \(grey.shape) must be the same shape")
        }
        if let binder, binder.shape != grey.shape {
            throw LensError.invalidArgument("the binder mask \(binder.shape) and the grey volume \(grey.shape) must be the same shape")
        }
        let (nz, ny, nx) = (grey.shape[0], grey.shape[1], grey.shape[2])
        // Bounding boxes per particle id.
        var boxes = [Int32: (lo: [Int], hi: [Int], count: Int)]()
        particles.withUnsafeBufferPointer { l in
            for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
                let id = l[(z * ny + y) * nx + x]
                guard id > 0 else { continue }
                if var b = boxes[id] {
                    b.lo = [Swift.min(b.lo[0], z), Swift.min(b.lo[1], y), Swift.min(b.lo[2], x)]
                    b.hi = [Swift.max(b.hi[0], z), Swift.max(b.hi[1], y), Swift.max(b.hi[2], x)]
                    b.count += 1; boxes[id] = b
                } else { boxes[id] = ([z, y, x], [z, y, x], 1) }
            } } }
        }
        guard !boxes.isEmpty else { throw LensError.invalidArgument("the particle labels hold no particle (no label > 0)") }
        let void: Double
        if let given = settings.voidGrey { void = given } else {
            var finite = grey.elements.filter(\.isFinite)
            let floor = finite.isEmpty ? -Float.infinity : finite.withUnsafeMutableBufferPointer { Selection.kthSmallest($0, $0.count / 100) }
            let outside = zip(grey.elements, particles.elements).filter { $0.1 == 0 && $0.0.isFinite && $0.0 > floor }.map { Double($0.0) }
            guard !outside.isEmpty else { throw LensError.invalidArgument("no voxel outside the particles to take the void grey from: give --void-grey") }
            void = Statistics.median(outside)
            // Outside the particles lie pore and binder; when binder dominates, their median is
            // not void. A "void" in the upper half between the darkest voxels and the particles'
            // median is refused rather than used (it would turn particle grey into cracks).
            let inside = zip(grey.elements, particles.elements).filter { $0.1 > 0 && $0.0.isFinite }.map { Double($0.0) }
            let particleMedian = Statistics.median(inside)
            if void > (Double(floor) + particleMedian) / 2 {
                throw LensError.invalidArgument(String(format: "the median grey outside the particles (%.4g) lies closer to the particles' (%.4g) than to the darkest voxels (%.4g): it is not void (binder?); declare the void grey with --void-grey", void, particleMedian, Double(floor)))
            }
            Notices.emit(String(format: "void grey %.4g: the median of the %d voxels outside the particles (pore and binder); declare --void-grey to set it", void, outside.count))
        }
        var cracks = Grid<UInt8>(shape: grey.shape, geometry: grey.geometry)
        let ids = boxes.keys.sorted()
        let particleBoxes = boxes
        let circle: ReconstructionCircle? = settings.fieldOfView == .circle ? ReconstructionCircle(sliceOf: grey.shape) : nil
        // Particles are independent: analysed in parallel, their crack voxels written afterwards.
        let outcomes = Parallel.map(count: ids.count) { k -> Result<(ParticleDamage, [Int])?, Error> in
          Result {
            let id = ids[k]
            let b = particleBoxes[id]!
            let pad = Int(settings.envelopeClosingRadius.rounded(.up)) + 1
            let lo = (0..<3).map { Swift.max(0, b.lo[$0] - pad) }, hi = (0..<3).map { Swift.min(grey.shape[$0] - 1, b.hi[$0] + pad) }
            let box = Shape(hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1)
            var mask = Grid<UInt8>(shape: box), values = Grid<Float>(shape: box)
            var outsideFieldOfView = false
            for z in 0..<box[0] { for y in 0..<box[1] { for x in 0..<box[2] {
                let i = ((z + lo[0]) * ny + y + lo[1]) * nx + x + lo[2]
                mask[z, y, x] = particles[linear: i] == id ? 1 : 0
                values[z, y, x] = grey[linear: i]
                if mask[z, y, x] == 1, let circle, !circle.contains(y: y + lo[1], x: x + lo[2]) { outsideFieldOfView = true }
            } } }
            let cutByVolumeFace = (0..<3).contains { b.lo[$0] == 0 || b.hi[$0] == grey.shape[$0] - 1 }
            let envelope = settings.envelopeClosingRadius > 0 ? Morphology.fillHoles(Morphology.close(mask, radius: settings.envelopeClosingRadius)) : mask
            var inside = [Double]()
            for i in 0..<envelope.count where envelope[linear: i] == 1 && values[linear: i].isFinite { inside.append(Double(values[linear: i])) }
            guard !inside.isEmpty else { return nil }
            let solid = Statistics.percentiles(inside, [75])[0]
            let threshold = void + settings.level * (solid - void)
            let judged = settings.surfaceMarginVoxels > 0 ? Morphology.erode(envelope, radius: settings.surfaceMarginVoxels) : envelope
            var crack = Grid<UInt8>(shape: box), intact = Grid<UInt8>(shape: box)
            let sheets = settings.sheetnessLevel.map { _ in ParticleProfiles.sheetness(values: values, scales: [1, 1.5, 2]) }
            let sheetThreshold = Float((settings.sheetnessLevel ?? 0) * (solid - void)), sheetCeiling = solid - 0.1 * (solid - void)
            let topHat = settings.topHatRadius.map { ParticleProfiles.blackTopHat(values: values, radius: $0) }
            let topHatThreshold = Float(settings.topHatLevel * (solid - void))
            for i in 0..<envelope.count where envelope[linear: i] == 1 {
                let grey = Double(values[linear: i])
                let sheet = sheets.map { $0[linear: i] > sheetThreshold && grey < sheetCeiling } ?? false
                let hat = topHat.map { $0[linear: i] > topHatThreshold } ?? false
                if judged[linear: i] == 1 && (grey < threshold || sheet || hat) { crack[linear: i] = 1 } else { intact[linear: i] = 1 }
            }
            crack = Morphology.removeSmallObjects(crack, minimumVoxels: settings.minimumCrackVoxels, connectivity: .corners)
            // Fragments: solid pieces of the judged envelope after the cracks (small crack specks
            // counted as solid again; an unjudged surface shell would join the pieces).
            intact = Grid<UInt8>(shape: box)
            for i in 0..<envelope.count where judged[linear: i] == 1 && crack[linear: i] == 0 { intact[linear: i] = 1 }
            var pieces = ConnectedComponents.label(intact, connectivity: .faces)
            var fragments = pieces.sizes.dropFirst().filter { $0 >= settings.minimumFragmentVoxels }.count
            // The crack voxels the grey threshold found, where the split search adds to them:
            // the hand-style section widths are measured on those (a user puts the line tool
            // on the visible crack).
            var thresholdCrack: Grid<UInt8>? = nil
            // Splits along sheets only partly darker than the solid (thin cracks blurred by the
            // reconstruction), from the mean grey of the surfaces between regions and the width of
            // the crack across them.
            if settings.splitSurfaceDeficit != nil || settings.splitSurfaceWidth != nil, solid > void {
                let criteria = SeparatingSurfaces.Criteria(solidGrey: solid, voidGrey: void, meanDeficit: settings.splitSurfaceDeficit,
                                                           latticeWidths: settings.splitSurfaceWidth, markerHeight: settings.splitMarkerHeight)
                var split = try SeparatingSurfaces.regions(values: values, within: judged, criteria: criteria)
                // A fragment is the solid of a region: its crack voxels (a wide crack is a dark
                // region of its own) are not part of it.
                for i in 0..<split.labels.count where split.labels[linear: i] > 0 && intact[linear: i] == 0 {
                    split.sizes[Int(split.labels[linear: i])] -= 1
                    split.sizes[0] += 1
                    split.labels[linear: i] = 0
                }
                let splitFragments = split.sizes.dropFirst().filter { $0 >= settings.minimumFragmentVoxels }.count
                if splitFragments > fragments {
                    if crack.elements.contains(1) { thresholdCrack = crack }
                    markSplitSurfaces(&split, crack: &crack, values: values, minimumFragmentVoxels: settings.minimumFragmentVoxels,
                                      darkerThan: Float((solid + threshold) / 2))
                    (pieces, fragments) = (split, split.sizes.dropFirst().filter { $0 >= settings.minimumFragmentVoxels }.count)
                }
            }
            // A fragment's size includes the unjudged surface shell over it (a fragment is the
            // whole piece of the particle): each piece grows into the shell's solid voxels.
            if settings.surfaceMarginVoxels > 0 {
                growIntoShell(&pieces, envelope: envelope, judged: judged, values: values, darkerThan: Float(threshold))
                fragments = pieces.sizes.dropFirst().filter { $0 >= settings.minimumFragmentVoxels }.count
            }
            let crackComponents = ConnectedComponents.label(crack, connectivity: .corners).count
            var fragmentValues = [FragmentValue]()
            if let map {
                var sums = [Double](repeating: 0, count: pieces.count + 1), counts = [Int](repeating: 0, count: pieces.count + 1)
                for z in 0..<box[0] { for y in 0..<box[1] { for x in 0..<box[2] {
                    let piece = Int(pieces.labels[z, y, x])
                    guard piece > 0 else { continue }
                    let v = map[linear: ((z + lo[0]) * ny + y + lo[1]) * nx + x + lo[2]]
                    if v.isFinite { sums[piece] += Double(v); counts[piece] += 1 }
                } } }
                for piece in 1...Swift.max(1, pieces.count) where piece <= pieces.count && pieces.sizes[piece] >= settings.minimumFragmentVoxels {
                    fragmentValues.append(FragmentValue(voxels: pieces.sizes[piece], meanValue: counts[piece] > 0 ? sums[piece] / Double(counts[piece]) : nil))
                }
            }
            let envelopeVoxels = envelope.elements.reduce(0) { $0 + Int($1) }
            let crackVoxels = crack.elements.reduce(0) { $0 + Int($1) }
            let fraction = Double(crackVoxels) / Double(Swift.max(1, envelopeVoxels))
            var widths: (Double?, Double?) = (nil, nil)
            if crackVoxels > 0 {
                let thickness = try LocalThickness.compute(phase: crack, sizes: 8).thickness
                let w = (0..<crack.count).filter { crack[linear: $0] == 1 }.map { Double(thickness[linear: $0]) }
                widths = (Statistics.median(w), w.max())
            }
            var centre = [0.0, 0.0, 0.0], crackIndices = [Int]()
            for z in 0..<box[0] { for y in 0..<box[1] { for x in 0..<box[2] where envelope[z, y, x] == 1 {
                centre[0] += Double(z + lo[0]); centre[1] += Double(y + lo[1]); centre[2] += Double(x + lo[2])
                if crack[z, y, x] == 1 { crackIndices.append(((z + lo[0]) * ny + y + lo[1]) * nx + x + lo[2]) }
            } } }
            let profile = ParticleProfiles.radialProfile(values: values, envelope: envelope, crack: crack, solidGrey: solid, darkCoreRatio: settings.darkCoreRatio)
            let plane = crackVoxels > 0 ? ParticleProfiles.largestCrackPlane(thresholdCrack ?? crack) : nil
            let sections = plane.map { ParticleProfiles.sectionWidths(values: values, plane: $0, halfLengthVoxels: Swift.min(12, Swift.max(5, 3 * (widths.1 ?? 1) + 3))) } ?? []
            let contact: Double? = binder.flatMap { mask in
                Parallel.sharing(particles) { p in Parallel.sharing(mask) { b in
                    ParticleProfiles.binderContact(envelope: envelope, box: lo, particles: p, binder: b, shape: grey.shape.dims)
                } }
            }
            // The crack volume from the grey deficit of the judged voxels against their median.
            var judgedGrey = [Double]()
            for i in 0..<judged.count where judged[linear: i] == 1 && values[linear: i].isFinite { judgedGrey.append(Double(values[linear: i])) }
            var deficitFraction = 0.0
            if !judgedGrey.isEmpty {
                let reference = Statistics.median(judgedGrey)
                if reference > void { deficitFraction = judgedGrey.reduce(0) { $0 + (reference - $1) / (reference - void) } / Double(judgedGrey.count) }
            }
            let damageClass = settings.damageClass(crackFraction: fraction, deficitFraction: deficitFraction, fragments: fragments, crackVoxels: crackVoxels)
            let damage = ParticleDamage(id: Int(id), envelopeVoxels: envelopeVoxels, crackVoxels: crackVoxels, crackFraction: fraction,
                                          deficitCrackFraction: deficitFraction,
                                          cracks: crackComponents, fragments: Swift.max(fragments, 1), damageClass: damageClass,
                                          crackWidthMedianVoxels: widths.0, crackWidthMaximumVoxels: widths.1,
                                          centreVoxels: centre.map { $0 / Double(Swift.max(1, envelopeVoxels)) },
                                          equivalentDiameterVoxels: cbrt(6 * Double(envelopeVoxels) / Double.pi), solidGrey: solid,
                                          radialProfile: profile, sectionWidths: sections, binderContactFraction: contact,
                                          fragmentValues: fragmentValues, cutByVolumeFace: cutByVolumeFace,
                                          outsideFieldOfView: outsideFieldOfView,
                                          crackNormal: plane.map { [$0.normal.x, $0.normal.y, $0.normal.z] },
                                          crackInMissingWedge: plane.flatMap { p in settings.scanAngles.map { $0.missingWedgeContains(normal: p.normal) } })
            progress?.advance()
            return (damage, crackIndices)
          }
        }
        var results = [ParticleDamage]()
        for outcome in outcomes {
            guard let (damage, crackIndices) = try outcome.get() else { continue }
            results.append(damage)
            for i in crackIndices { cracks[linear: i] = 1 }
        }
        return (results, cracks, void)
    }

    /// Grows each piece into the envelope's unjudged surface shell, one layer per pass (a
    /// shell voxel joins a piece it touches through a face, the first in z, y, x order), so
    /// that a piece's size is that of the whole fragment, not of its judged core: a fragment of
    /// a few dozen voxels loses most of them to a one-voxel shell. Shell voxels darker than
    /// `darkerThan` (the crack threshold) are left out: where a crack reaches the surface they
    /// are crack, and a piece grown through them would be too large.
    static func growIntoShell(_ pieces: inout ComponentLabels, envelope: Grid<UInt8>, judged: Grid<UInt8>, values: Grid<Float>, darkerThan ceiling: Float) {
        let (nz, ny, nx) = (envelope.shape[0], envelope.shape[1], envelope.shape[2])
        var shell = [Int]()
        for j in 0..<envelope.count where envelope[linear: j] == 1 && judged[linear: j] == 0 && pieces.labels[linear: j] == 0 && !(values[linear: j] < ceiling) {
            shell.append(j)
        }
        let steps = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)]
        while true {
            var joined = [(voxel: Int, label: Int32)](), waiting = [Int]()
            for j in shell {
                let (z, y, x) = (j / (ny * nx), j / nx % ny, j % nx)
                var label: Int32 = 0
                for (dz, dy, dx) in steps where label == 0 {
                    let (a, b, c) = (z + dz, y + dy, x + dx)
                    guard a >= 0, b >= 0, c >= 0, a < nz, b < ny, c < nx else { continue }
                    label = pieces.labels[linear: (a * ny + b) * nx + c]
                }
                if label > 0 { joined.append((j, label)) } else { waiting.append(j) }
            }
            guard !joined.isEmpty else { return }
            for (j, label) in joined {
                pieces.labels[linear: j] = label
                pieces.sizes[Int(label)] += 1
                pieces.sizes[0] -= 1
            }
            shell = waiting
        }
    }

    /// A split found along surfaces between regions (``SeparatingSurfaces``) is a crack there
    /// even where no voxel crossed the crack threshold (a sheet of about a voxel, blurred): of
    /// each face between two fragments, the darker voxel becomes crack where it is darker than
    /// `darkerThan` (halfway between the solid and the crack threshold: clear of the noise, and
    /// not where the surface crosses a bridge), and leaves its fragment. So the particle's crack
    /// voxels, count, fraction and widths say what its fragments say.
    static func markSplitSurfaces(_ split: inout ComponentLabels, crack: inout Grid<UInt8>, values: Grid<Float>,
                                  minimumFragmentVoxels: Int, darkerThan ceiling: Float) {
        let (nz, ny, nx) = (values.shape[0], values.shape[1], values.shape[2])
        let strides = SIMD3(ny * nx, nx, 1), extents = SIMD3(nz, ny, nx)
        var marked = [Int]()
        for z in 0..<nz { for y in 0..<ny { for x in 0..<nx {
            let i = (z * ny + y) * nx + x
            let a = split.labels[linear: i]
            guard a > 0, split.sizes[Int(a)] >= minimumFragmentVoxels else { continue }
            let voxel = SIMD3(z, y, x)
            for k in 0..<3 where voxel[k] + 1 < extents[k] {
                let j = i + strides[k]
                let b = split.labels[linear: j]
                guard b > 0, b != a, split.sizes[Int(b)] >= minimumFragmentVoxels else { continue }
                let darker = values[linear: i] <= values[linear: j] ? i : j
                if values[linear: darker] < ceiling { marked.append(darker) }
            }
        } } }
        for i in marked where split.labels[linear: i] > 0 {
            split.sizes[Int(split.labels[linear: i])] -= 1
            split.sizes[0] += 1
            split.labels[linear: i] = 0
            crack[linear: i] = 1
        }
    }
}
