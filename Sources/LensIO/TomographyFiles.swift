import Foundation
import LensCore

/// Where the pieces of a NeXus NXtomo scan are: one frame stack whose frames are projections
/// (image_key 0), flats (1), darks (2) or invalid (3), and the rotation angle of each frame.
public struct NXTomoLayout: Sendable, Equatable {
    public var dataPath: String
    public var imageKeyPath: String
    public var anglePath: String?
    public var imageKeys: [Int]

    /// Finds the layout: the standard NXtomo places (`/entry/instrument/detector/data`,
    /// `/entry/data/data`, `image_key`, `/entry/sample/rotation_angle`), else any NXdetector
    /// group holding a 3D `data` and an `image_key` (as Diamond's beamlines write), with angles
    /// from a dataset of one value per frame named `rotation_angle` or `*theta*` in the
    /// entry's NXdata groups or sample.
    public static func find(in file: HDF5File) throws -> NXTomoLayout {
        var candidates: [(data: String, key: String)] = [
            ("/entry/instrument/detector/data", "/entry/instrument/detector/image_key"),
            ("/entry/data/data", "/entry/instrument/detector/image_key"),
            ("/entry1/tomo_entry/data/data", "/entry1/tomo_entry/instrument/detector/image_key"),
        ]
        for entry in (try? file.children(of: "/")) ?? [] {
            let instrument = "/\(entry)/instrument"
            for group in (try? file.children(of: instrument)) ?? [] {
                let path = "\(instrument)/\(group)"
                if file.stringAttribute("NX_class", of: path) == "NXdetector" {
                    candidates.append(("\(path)/data", "\(path)/image_key"))
                }
            }
        }
        for (dataPath, keyPath) in candidates where file.kind(of: dataPath) == .dataset && file.kind(of: keyPath) == .dataset {
            guard let data = try? file.dataset(dataPath), data.shape.rank == 3 else { continue }
            let values = try file.dataset(keyPath).readDoubles()
            // NXtomo image keys are 0 (projection), 1 (flat), 2 (dark), 3 (invalid).
            if let bad = values.firstIndex(where: { !($0 == $0.rounded() && (0...3).contains($0)) }) {
                throw LensError.badInput(file: file.path, problem: "\(keyPath)[\(bad)] is \(values[bad]), not an image key 0…3")
            }
            let keys = values.map { Int($0) }
            guard keys.count == data.shape[0] else {
                throw LensError.badInput(file: file.path, problem: "\(keyPath) has \(keys.count) keys for \(data.shape[0]) frames in \(dataPath)")
            }
            let entry = "/" + (dataPath.split(separator: "/").first.map(String.init) ?? "entry")
            let angle = findAngles(in: file, entry: entry, frameCount: keys.count)
            return NXTomoLayout(dataPath: dataPath, imageKeyPath: keyPath, anglePath: angle, imageKeys: keys)
        }
        throw LensError.badInput(file: file.path, problem: "no NXtomo layout (a 3D detector data set with an image_key) found")
    }

    private static func findAngles(in file: HDF5File, entry: String, frameCount: Int) -> String? {
        var candidates = ["\(entry)/sample/rotation_angle", "\(entry)/data/rotation_angle"]
        for group in (try? file.children(of: entry)) ?? [] {
            let path = "\(entry)/\(group)"
            let cls = file.stringAttribute("NX_class", of: path)
            guard cls == "NXdata" || cls == "NXsample" else { continue }
            for name in (try? file.children(of: path)) ?? [] {
                let lower = name.lowercased()
                if lower.contains("rotation_angle") || (lower.contains("theta") && !lower.hasSuffix("_set")) {
                    candidates.append("\(path)/\(name)")
                }
            }
        }
        for path in candidates where file.kind(of: path) == .dataset {
            if let ds = try? file.dataset(path), ds.shape.count == frameCount, ds.shape.rank == 1,
               let values = try? ds.readDoubles(), values.allSatisfy(\.isFinite) {
                return path
            }
        }
        return nil
    }

    public var projectionFrames: [Int] { imageKeys.indices.filter { imageKeys[$0] == 0 } }
    public var flatFrames: [Int] { imageKeys.indices.filter { imageKeys[$0] == 1 } }
    public var darkFrames: [Int] { imageKeys.indices.filter { imageKeys[$0] == 2 } }
}

/// A parallel-beam tomography scan in an HDF5 file (Data Exchange or NXtomo), read lazily:
/// projections slab by slab by projection index, flats and darks whole, angles in degrees.
public final class TomographyScanReader {
    public enum Layout: String, Sendable { case dataExchange = "data-exchange", nxtomo = "nxtomo" }

    public let path: String
    public let layout: Layout
    public let anglesDegrees: [Double]
    /// Frame shape (rows, columns).
    public let frameShape: Shape
    public let dataType: DataType
    public let projectionCount: Int
    /// Frame index in the file of each projection, flat and dark (NXtomo); for Data Exchange,
    /// indices in their own datasets.
    public let projectionFrames: [Int]
    public let flatFrames: [Int]
    public let darkFrames: [Int]
    /// The pixel size the file records, read once when opened.
    public private(set) var recordedPixelSize: ScanPixelSize?
    /// The cone-beam source and detector distances the file records, if any.
    public private(set) var recordedConeBeam: ConeBeamDistances?
    private let file: HDF5File
    private let data: HDF5Dataset
    var projectionData: HDF5Dataset { data }
    private let flatData: HDF5Dataset?
    private let darkData: HDF5Dataset?

    /// Opens `path`, recognising Data Exchange (`/exchange/data`) or NXtomo.
    public init(path: String) throws {
        self.path = path
        file = try HDF5File(openingForReading: path)
        if file.kind(of: "/exchange/data") == .dataset {
            layout = .dataExchange
            data = try file.dataset("/exchange/data")
            guard data.shape.rank == 3 else {
                throw LensError.badInput(file: path, problem: "/exchange/data must be 3D (angle, row, column), is \(data.shape)")
            }
            flatData = file.kind(of: "/exchange/data_white") == .dataset ? try file.dataset("/exchange/data_white") : nil
            darkData = file.kind(of: "/exchange/data_dark") == .dataset ? try file.dataset("/exchange/data_dark") : nil
            // Frame lists and angles are built from the headers' frame counts: check them first.
            for ds in [data, flatData, darkData].compactMap({ $0 }) {
                try MemoryBudget.require(elements: ds.shape[0], elementBytes: 32, for: "\(path):\(ds.path)")
            }
            projectionCount = data.shape[0]
            projectionFrames = Array(0..<projectionCount)
            flatFrames = Array(0..<(flatData?.shape[0] ?? 0))
            darkFrames = Array(0..<(darkData?.shape[0] ?? 0))
            if file.kind(of: "/exchange/theta") == .dataset {
                var theta = try file.dataset("/exchange/theta").readDoubles()
                if let units = file.stringAttribute("units", of: "/exchange/theta"), units.lowercased().hasPrefix("rad") {
                    theta = theta.map { $0 * 180 / .pi }
                }
                anglesDegrees = theta
            } else {
                // Data Exchange without theta: evenly spaced over 180°, as TomoPy assumes.
                let count = data.shape[0]
                anglesDegrees = (0..<count).map { Double($0) * 180 / Double(count) }
            }
        } else {
            layout = .nxtomo
            let nx = try NXTomoLayout.find(in: file)
            data = try file.dataset(nx.dataPath)
            flatData = nil
            darkData = nil
            projectionFrames = nx.projectionFrames
            flatFrames = nx.flatFrames
            darkFrames = nx.darkFrames
            projectionCount = projectionFrames.count
            guard let anglePath = nx.anglePath else {
                throw LensError.badInput(file: path, problem: "NXtomo file has no rotation angle dataset with one value per frame")
            }
            let all = try file.dataset(anglePath).readDoubles()
            anglesDegrees = projectionFrames.map { all[$0] }
        }
        frameShape = data.shape.sliceShape
        dataType = data.dataType
        guard anglesDegrees.count == projectionCount else {
            throw LensError.badInput(file: path, problem: "\(anglesDegrees.count) angles for \(projectionCount) projections")
        }
        for (name, ds) in [("flats", flatData), ("darks", darkData)] {
            if let ds, ds.shape.sliceShape != frameShape {
                throw LensError.badInput(file: path, problem: "\(name) have frames of \(ds.shape.sliceShape), projections \(frameShape)")
            }
        }
        recordedPixelSize = ScanPixelSize.find(in: file, dataPath: data.path, layout: layout)
        recordedConeBeam = ConeBeamDistances.find(in: file, dataPath: data.path, layout: layout)
    }

    /// The pixel size at the sample in µm, from what the file records (see
    /// ``ScanPixelSize/find(in:dataPath:layout:)``); nil when it records none that can be used.
    public var storedPixelSizeMicrometres: Double? { recordedPixelSize?.micrometres }

    /// Reads projections `range` (projection indices, not file frames).
    public func readProjections(_ range: Range<Int>) throws -> AnyGrid {
        guard range.lowerBound >= 0, range.upperBound <= projectionCount, !range.isEmpty else {
            throw LensError.invalidArgument("\(path): projections \(range) outside 0..<\(projectionCount)")
        }
        return try readFrames(projectionFrames[range].map { $0 }, from: data)
    }

    /// All flat (open-beam) frames, or nil if the file has none.
    public func readFlats() throws -> AnyGrid? {
        if layout == .dataExchange { return try flatData.map { try $0.readSlab(0..<$0.shape[0]) } }
        return flatFrames.isEmpty ? nil : try readFrames(flatFrames, from: data)
    }

    /// All dark frames, or nil if the file has none.
    public func readDarks() throws -> AnyGrid? {
        if layout == .dataExchange { return try darkData.map { try $0.readSlab(0..<$0.shape[0]) } }
        return darkFrames.isEmpty ? nil : try readFrames(darkFrames, from: data)
    }

    /// Reads frames by index, grouping consecutive indices into one hyperslab read each.
    private func readFrames(_ frames: [Int], from dataset: HDF5Dataset) throws -> AnyGrid {
        var result = try AnyGrid.allocate(zeros: dataset.dataType, shape: dataset.shape.replacing(axis: 0, with: frames.count), source: path)
        let frameBytes = dataset.shape.sliceCount * dataset.dataType.byteSize
        try result.withUnsafeMutableRawBytes { buffer in
            var i = 0
            while i < frames.count {
                var j = i + 1
                while j < frames.count && frames[j] == frames[j - 1] + 1 { j += 1 }
                try dataset.read(frames[i]..<(frames[j - 1] + 1), into: buffer.baseAddress! + i * frameBytes)
                i = j
            }
        }
        return result
    }
}

/// Writes scans in the Data Exchange layout read by TomoPy, tomwer and BatteryLens.
public enum DataExchangeWriter {
    /// Writes projections, optional flats and darks, and angles (degrees) atomically to `path`.
    public static func write(projections: AnyGrid, flats: AnyGrid?, darks: AnyGrid?, anglesDegrees: [Double],
                             pixelSizeMicrometres: Double? = nil, coneBeam: ConeBeamDistances? = nil, to path: String) throws {
        guard projections.shape.rank == 3, anglesDegrees.count == projections.shape[0] else {
            throw LensError.invalidArgument("Data Exchange needs 3D projections and one angle each (\(projections.shape), \(anglesDegrees.count) angles)")
        }
        try AtomicOutput.write(to: path) { temporary in
            let file = try HDF5File(creating: temporary)
            let data = try file.createDataset("/exchange/data", shape: projections.shape, dataType: projections.dataType)
            try data.write(projections, at: 0)
            try file.setAttribute("axes", string: "theta:y:x", on: "/exchange/data")
            if let flats {
                let ds = try file.createDataset("/exchange/data_white", shape: flats.shape, dataType: flats.dataType)
                try ds.write(flats, at: 0)
            }
            if let darks {
                let ds = try file.createDataset("/exchange/data_dark", shape: darks.shape, dataType: darks.dataType)
                try ds.write(darks, at: 0)
            }
            try file.writeDoubles(anglesDegrees, to: "/exchange/theta")
            try file.setAttribute("units", string: "degrees", on: "/exchange/theta")
            if let pixel = pixelSizeMicrometres {
                try file.setAttribute("voxel_size_um", doubles: [1, pixel, pixel], on: "/exchange/data")
            }
            if let coneBeam {
                // NeXus's convention: the source upstream of the sample at a negative distance.
                try file.writeDoubles([-coneBeam.sourceToAxisMillimetres], to: ConeBeamDistances.dataExchangeSource)
                try file.setAttribute("units", string: "mm", on: ConeBeamDistances.dataExchangeSource)
                try file.writeDoubles([coneBeam.sourceToDetectorMillimetres - coneBeam.sourceToAxisMillimetres], to: ConeBeamDistances.dataExchangeDetector)
                try file.setAttribute("units", string: "mm", on: ConeBeamDistances.dataExchangeDetector)
            }
            try file.flush()
        }
    }
}

/// The source and detector distances of a cone-beam (lab micro-CT) scan, and where they came
/// from: NXtomo's `instrument/source/distance` (negative upstream, its magnitude taken) and
/// `instrument/detector/distance` (sample to detector); in Data Exchange the same names under
/// `/measurement/instrument`. Lengths need their `units` attribute.
public struct ConeBeamDistances: Sendable, Equatable, Codable {
    public var sourceToAxisMillimetres: Double
    public var sourceToDetectorMillimetres: Double
    /// Where they came from ("--cone", or the file's dataset paths).
    public var source: String

    public init(sourceToAxisMillimetres: Double, sourceToDetectorMillimetres: Double, source: String) {
        self.sourceToAxisMillimetres = sourceToAxisMillimetres
        self.sourceToDetectorMillimetres = sourceToDetectorMillimetres
        self.source = source
    }

    public var magnification: Double { sourceToDetectorMillimetres / sourceToAxisMillimetres }

    /// Whether the cone is negligible for a detector `columns` wide with `pixelMicrometres` at
    /// the axis: its half width under 1/1000 of the source distance (a synchrotron's source tens
    /// of metres away), where parallel beam is exact to far below a pixel.
    public func isNegligible(columns: Int, pixelMicrometres: Double) -> Bool {
        Double(columns) / 2 * pixelMicrometres < 1e-3 * sourceToAxisMillimetres * 1000
    }

    static let dataExchangeSource = "/measurement/instrument/source/distance"
    static let dataExchangeDetector = "/measurement/instrument/detector/distance"

    public static func find(in file: HDF5File, dataPath: String, layout: TomographyScanReader.Layout) -> ConeBeamDistances? {
        let (sourcePath, detectorPath): (String, String)
        switch layout {
        case .dataExchange:
            (sourcePath, detectorPath) = (dataExchangeSource, dataExchangeDetector)
        case .nxtomo:
            let detector = (dataPath as NSString).deletingLastPathComponent
            (sourcePath, detectorPath) = ((detector as NSString).deletingLastPathComponent + "/source/distance", detector + "/distance")
        }
        guard let source = ScanPixelSize.lengthAllowingNegative(file, sourcePath), let detector = ScanPixelSize.length(file, detectorPath) else { return nil }
        return ConeBeamDistances(sourceToAxisMillimetres: source / 1000, sourceToDetectorMillimetres: (source + detector) / 1000,
                                 source: "\(sourcePath), \(detectorPath)")
    }
}

/// The pixel size at the sample that a scan file records, and where it came from.
///
/// Read, in this order (lengths converted with their `units` attribute — m, mm, µm/um/micron,
/// nm; a length without units is not used, with a note):
/// - BatteryLens's own `voxel_size_um` attribute on the projections;
/// - NXtomo (as nxtomo/nxtomomill write it): `ENTRY/sample/x_pixel_size` (at the sample);
///   else the detector's `x_pixel_size` divided by the magnification, from
///   `instrument/detector/magnification` or the cone-beam distances
///   (|source distance| + detector distance) / |source distance|;
/// - Data Exchange: `/measurement/instrument/detector/actual_pixel_size_x` (at the sample) or
///   `/measurement/instrument/detection_system/objective/resolution`; else the detector's
///   `pixel_size_x` divided by `…/objective/magnification`.
/// A detector pixel with no magnification recorded is not taken as the size at the sample
/// (optics magnify 2–100×): a note names it and asks for `--pixel-um`.
public struct ScanPixelSize: Sendable, Equatable {
    public var micrometres: Double
    /// Where it came from, e.g. "/entry/sample/x_pixel_size".
    public var source: String

    /// µm per unit of a length's `units` attribute.
    static func micrometresPerUnit(_ units: String) -> Double? {
        switch units.trimmingCharacters(in: .whitespaces).lowercased() {
        case "m", "metre", "meter", "metres", "meters": return 1e6
        case "mm", "millimetre", "millimeter": return 1e3
        case "um", "µm", "μm", "micron", "microns", "micrometre", "micrometer", "micrometres", "micrometers": return 1
        case "nm", "nanometre", "nanometer": return 1e-3
        default: return nil
        }
    }

    /// A positive length (µm) from a scalar dataset or attribute-less value, with its units.
    static func length(_ file: HDF5File, _ path: String) -> Double? {
        guard file.kind(of: path) == .dataset, let values = try? file.dataset(path).readDoubles(), let value = values.first,
              values.count == 1 || values.allSatisfy({ $0 == value }), value.isFinite, value > 0 else { return nil }
        guard let units = file.stringAttribute("units", of: path) else {
            Notices.emit("\(file.path):\(path) = \(value) has no units attribute, so it is not used as a length; declare --pixel-um")
            return nil
        }
        guard let factor = micrometresPerUnit(units) else {
            Notices.emit("\(file.path):\(path) is in '\(units)', not a length unit BatteryLens knows; declare --pixel-um")
            return nil
        }
        return value * factor
    }

    /// A positive dimensionless scalar.
    static func scalar(_ file: HDF5File, _ path: String) -> Double? {
        guard file.kind(of: path) == .dataset, let value = (try? file.dataset(path).readDoubles())?.first, value.isFinite, value > 0 else { return nil }
        return value
    }

    public static func find(in file: HDF5File, dataPath: String, layout: TomographyScanReader.Layout) -> ScanPixelSize? {
        if let sizes = file.numericAttribute("voxel_size_um", of: dataPath), sizes.count == 3, sizes[2] > 0 {
            return ScanPixelSize(micrometres: sizes[2], source: "\(dataPath)@voxel_size_um")
        }
        var detectorPixel: (Double, String)?
        switch layout {
        case .nxtomo:
            let detector = (dataPath as NSString).deletingLastPathComponent
            let entry = "/" + (dataPath.split(separator: "/").first.map(String.init) ?? "entry")
            let instrument = (detector as NSString).deletingLastPathComponent
            for path in ["\(entry)/sample/x_pixel_size", "\(entry)/sample/x_sample_pixel_size"] {
                if let v = length(file, path) { return ScanPixelSize(micrometres: v, source: path) }
            }
            if let pixel = length(file, detector + "/x_pixel_size") {
                let path = detector + "/x_pixel_size"
                for m in [detector + "/magnification", instrument + "/optics/magnification"] {
                    if let magnification = scalar(file, m) { return ScanPixelSize(micrometres: pixel / magnification, source: "\(path) / \(m)") }
                }
                if let sourceDistance = lengthAllowingNegative(file, instrument + "/source/distance"),
                   let detectorDistance = length(file, detector + "/distance") {
                    let magnification = (sourceDistance + detectorDistance) / sourceDistance
                    return ScanPixelSize(micrometres: pixel / magnification, source: "\(path) / cone-beam magnification \(String(format: "%.4g", magnification)) (source and detector distances)")
                }
                detectorPixel = (pixel, path)
            }
        case .dataExchange:
            for path in ["/measurement/instrument/detector/actual_pixel_size_x", "/measurement/instrument/detection_system/objective/resolution"] {
                if let v = length(file, path) { return ScanPixelSize(micrometres: v, source: path) }
            }
            let path = "/measurement/instrument/detector/pixel_size_x"
            if let pixel = length(file, path) {
                let m = "/measurement/instrument/detection_system/objective/magnification"
                if let magnification = scalar(file, m) { return ScanPixelSize(micrometres: pixel / magnification, source: "\(path) / \(m)") }
                detectorPixel = (pixel, path)
            }
        }
        if let (pixel, path) = detectorPixel {
            Notices.emit("\(file.path) records a detector pixel of \(String(format: "%g", pixel)) µm (\(path)) but no pixel size at the sample or magnification; lengths stay in pixels — declare --pixel-um (the detector pixel divided by the magnification)")
        }
        return nil
    }

    /// NeXus source distances are negative (upstream of the sample): their magnitude.
    static func lengthAllowingNegative(_ file: HDF5File, _ path: String) -> Double? {
        guard file.kind(of: path) == .dataset, let value = (try? file.dataset(path).readDoubles())?.first, value.isFinite, value != 0,
              let units = file.stringAttribute("units", of: path), let factor = micrometresPerUnit(units) else { return nil }
        return abs(value) * factor
    }
}
