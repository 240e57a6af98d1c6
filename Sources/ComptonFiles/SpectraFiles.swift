import Foundation
import LensCore
import Compton
import LensIO

extension PixelSpectra {
    /// Histograms an event list (``PhotonEventFile``) into per-pixel spectra, streaming in
    /// batches: memory is the spectra and one batch, whatever the number of events.
    public static func build(events path: String, rows: Int, columns: Int, binning: EnergyBinning = EnergyBinning(),
                             correction: ChargeSharingCorrection = .discriminate, calibration: PixelEnergyCalibration? = nil,
                             progress: ProgressReporter? = nil) throws -> PixelSpectra {
        let file = try PhotonEventFile(path: path)
        if file.isADU && calibration == nil {
            throw LensError.badInput(file: path, problem: "energies are in ADU; give a per-pixel energy calibration")
        }
        let accumulator = try SpectrumAccumulator(rows: rows, columns: columns, binning: binning, correction: correction, calibration: calibration)
        try file.forEachBatch { batch in
            accumulator.add(batch)
            progress?.advance(by: batch.count)
        }
        return accumulator.finish()
    }

    /// Writes the spectra as HDF5, atomically: `/spectra` (row, column, energy bin) uint32,
    /// `/energy_edges_kev`, and the event statistics and charge-sharing mode as attributes.
    public func write(to path: String, chargeSharing: ChargeSharingCorrection, inputs: [String] = []) throws {
        try AtomicOutput.validate(path, inputs: inputs)
        try AtomicOutput.write(to: path) { temporary in
            let file = try HDF5File(creating: temporary)
            let dataset = try file.createDataset("/spectra", shape: Shape(rows, columns, binning.count), dataType: .uint32)
            try dataset.write(AnyGrid(grid), at: 0)
            try file.setAttribute("axes", string: "row:column:energy", on: "/spectra")
            try file.setAttribute("charge_sharing", string: chargeSharing.rawValue, on: "/spectra")
            let s = statistics
            try file.setAttribute("events", doubles: [s.eventsRead, s.eventsCounted, s.multiPixelClusters, s.eventsInClusters, s.eventsOutside, s.frames].map(Double.init),
                                  on: "/spectra")
            try file.setAttribute("events_fields", string: "read,counted,multi_pixel_clusters,events_in_clusters,outside,frames", on: "/spectra")
            try file.writeDoubles(binning.edgesKeV, to: "/energy_edges_kev")
            try file.setAttribute("units", string: "keV", on: "/energy_edges_kev")
            try file.flush()
        }
    }

    /// Reads spectra written by ``write(to:chargeSharing:inputs:)``.
    public static func read(path: String) throws -> PixelSpectra {
        let file = try HDF5File(openingForReading: path)
        guard file.kind(of: "/spectra") == .dataset, file.kind(of: "/energy_edges_kev") == .dataset else {
            throw LensError.badInput(file: path, problem: "not a spectra cube (needs /spectra and /energy_edges_kev; make one with `compton spectra`)")
        }
        let dataset = try file.dataset("/spectra")
        guard dataset.shape.rank == 3 else { throw LensError.badInput(file: path, problem: "/spectra must be (row, column, energy), is \(dataset.shape)") }
        let edges = try file.dataset("/energy_edges_kev").readDoubles()
        let bins = dataset.shape[2]
        guard edges.count == bins + 1, bins > 0 else { throw LensError.badInput(file: path, problem: "\(edges.count) energy edges for \(bins) bins") }
        let width = (edges[bins] - edges[0]) / Double(bins)
        guard width > 0, edges.indices.allSatisfy({ abs(edges[$0] - (edges[0] + Double($0) * width)) < 1e-6 * Swift.max(1, abs(edges[$0])) }) else {
            throw LensError.badInput(file: path, problem: "energy bins are not uniform")
        }
        let counts = try dataset.readSlab(0..<dataset.shape[0]).converted(to: UInt32.self)
        var statistics = EventStatistics()
        if let e = file.numericAttribute("events", of: "/spectra"), e.count == 6 {
            (statistics.eventsRead, statistics.eventsCounted, statistics.multiPixelClusters) = (Int(e[0]), Int(e[1]), Int(e[2]))
            (statistics.eventsInClusters, statistics.eventsOutside, statistics.frames) = (Int(e[3]), Int(e[4]), Int(e[5]))
        }
        return PixelSpectra(rows: dataset.shape[0], columns: dataset.shape[1], binning: EnergyBinning(lowKeV: edges[0], widthKeV: width, count: bins),
                            counts: counts.elements, statistics: statistics)
    }
}

extension PixelSpectra {
    /// Reads a HEXITEC `.hxt` histogram file (versions 2 and 3; little-endian): the label
    /// "HEXITECH", a UInt64 version, nine UInt32 motor positions, an Int32-sized file prefix
    /// (version 3 pads it to 100 bytes), a timestamp (13 bytes in version 2, 16 in 3), UInt32
    /// rows, columns and bins, the bins' centre energies (Float64, keV), then Float64 counts with
    /// the bin fastest, then the column, then the row. The bin centres must be evenly spaced.
    public static func readHXT(path: String) throws -> PixelSpectra {
        guard let data = FileManager.default.contents(atPath: path) else { throw LensError.badInput(file: path, problem: "cannot read") }
        var offset = 0
        func take(_ n: Int) throws -> Data {
            guard offset + n <= data.count else { throw LensError.badInput(file: path, problem: "ends at byte \(data.count) inside the header or data (truncated?)") }
            defer { offset += n }
            return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + n))
        }
        func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T { T(littleEndian: try take(MemoryLayout<T>.size).withUnsafeBytes { $0.loadUnaligned(as: T.self) }) }
        guard String(decoding: try take(8), as: UTF8.self) == "HEXITECH" else { throw LensError.badInput(file: path, problem: "not a HEXITEC .hxt file (no HEXITECH label)") }
        let version = try integer(UInt64.self)
        guard version == 2 || version == 3 else { throw LensError.badInput(file: path, problem: "HXT version \(version); versions 2 and 3 are read") }
        _ = try take(9 * 4)
        let prefixSize = Int(try integer(Int32.self))
        guard prefixSize >= 0, prefixSize <= 100 else { throw LensError.badInput(file: path, problem: "file prefix of \(prefixSize) bytes") }
        _ = try take(prefixSize)
        if version == 3 { _ = try take(100 - prefixSize) }
        _ = try take(version == 3 ? 16 : 13)
        let rows = Int(try integer(UInt32.self)), columns = Int(try integer(UInt32.self)), bins = Int(try integer(UInt32.self))
        guard rows > 0, columns > 0, bins > 1 else { throw LensError.badInput(file: path, problem: "\(rows)×\(columns) pixels × \(bins) bins") }
        // Every bin centre (8 bytes) and every count (8 bytes) must be in the file.
        let claimed = try Shape.validated([rows, columns, bins], source: path, elementBytes: 8).count
        guard bins <= (data.count - offset) / 8, claimed <= (data.count - offset) / 8 else {
            throw LensError.badInput(file: path, problem: "claims \(rows)×\(columns) pixels × \(bins) bins but holds only \(data.count - offset) bytes")
        }
        let centres = try (0..<bins).map { _ in Double(bitPattern: try integer(UInt64.self)) }
        let width = (centres[bins - 1] - centres[0]) / Double(bins - 1)
        guard width > 0, centres.indices.allSatisfy({ abs(centres[$0] - (centres[0] + Double($0) * width)) <= 1e-6 * Swift.max(1, abs(centres[$0])) }) else {
            throw LensError.badInput(file: path, problem: "bin centres are not evenly spaced")
        }
        let count = rows * columns * bins
        guard data.count - offset >= count * 8 else {
            throw LensError.badInput(file: path, problem: "holds \(data.count - offset) data bytes; \(rows)×\(columns)×\(bins) Float64 counts need \(count * 8)")
        }
        var counts = [UInt32](repeating: 0, count: count)
        try data.withUnsafeBytes { raw in
            for i in 0..<count {
                let v = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * i, as: UInt64.self)))
                guard v.isFinite, v >= 0, v < 4.29e9 else { throw LensError.badInput(file: path, problem: "count \(v) at value \(i) is not a count") }
                counts[i] = UInt32(v.rounded())
            }
        }
        return PixelSpectra(rows: rows, columns: columns, binning: EnergyBinning(lowKeV: centres[0] - width / 2, widthKeV: width, count: bins), counts: counts)
    }

    /// Writes the spectra as a HEXITEC `.hxt` file (version 2, zero motor positions), atomically.
    public func writeHXT(to path: String, prefix: String = "batterylens") throws {
        var bytes = [UInt8]("HEXITECH".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        put(UInt64(2))
        for _ in 0..<9 { put(UInt32(0)) }
        let prefixBytes = Array(prefix.utf8.prefix(100))
        put(Int32(prefixBytes.count))
        bytes += prefixBytes
        let stamp = Array("000000_000000".utf8)
        bytes += stamp
        put(UInt32(rows)); put(UInt32(columns)); put(UInt32(binning.count))
        for c in binning.centresKeV { put(c.bitPattern) }
        bytes.reserveCapacity(bytes.count + counts.count * 8)
        for v in counts { put(Double(v).bitPattern) }
        try AtomicOutput.write(Data(bytes), to: path)
    }

    /// A spectra cube from `compton spectra` (.h5) or a HEXITEC histogram (.hxt).
    public static func open(path: String) throws -> PixelSpectra {
        URL(fileURLWithPath: path).pathExtension.lowercased() == "hxt" ? try readHXT(path: path) : try read(path: path)
    }
}

/// Raw detector frames (frame, row, column) of a pixelated spectroscopic detector — HEXITEC's
/// HDF5 frame files (`/raw_frames`, ADU per pixel per frame) — turned into photon events: each
/// pixel's value is converted to keV by the per-pixel calibration E = gain·ADU + offset, and
/// every value at or above `thresholdKeV` (the noise threshold) is one event of that frame.
/// The events then go through the same charge-sharing correction and histogramming as event
/// lists. Frames are read slab by slab.
public enum DetectorFrames {
    public static func buildSpectra(frames reader: VolumeReader, calibration: PixelEnergyCalibration, thresholdKeV: Double,
                                    binning: EnergyBinning = EnergyBinning(), correction: ChargeSharingCorrection = .discriminate,
                                    progress: ProgressReporter? = nil) throws -> PixelSpectra {
        let shape = reader.info.shape
        guard shape.rank == 3, !reader.info.dataType.isComplex else {
            throw LensError.badInput(file: reader.source, problem: "detector frames must be a 3D (frame, row, column) dataset, not \(shape) \(reader.info.dataType)")
        }
        let (frames, rows, columns) = (shape[0], shape[1], shape[2])
        guard rows <= Int(UInt16.max), columns <= Int(UInt16.max), frames <= Int(UInt32.max) else {
            throw LensError.badInput(file: reader.source, problem: "frames of \(rows)×\(columns) pixels × \(frames) exceed the event format")
        }
        guard calibration.rows == rows, calibration.columns == columns else {
            throw LensError.invalidArgument("the energy calibration is for \(calibration.rows)×\(calibration.columns) pixels, the frames of \(reader.source) have \(rows)×\(columns)")
        }
        let accumulator = try SpectrumAccumulator(rows: rows, columns: columns, binning: binning, correction: correction)
        let thickness = reader.slabThickness(targetBytes: 64 << 20)
        var batch = [PhotonEvent]()
        var start = 0
        while start < frames {
            let end = Swift.min(frames, start + thickness)
            let slab = try reader.readSlab(start..<end).converted(to: Double.self)
            slab.withUnsafeBufferPointer { v in
                for f in 0..<(end - start) {
                    let base = f * rows * columns
                    for p in 0..<(rows * columns) {
                        let adu = v[base + p]
                        guard adu.isFinite, adu > 0 else { continue }
                        let keV = calibration.gain[p] * adu + calibration.offset[p]
                        guard keV >= thresholdKeV, keV.isFinite else { continue }
                        batch.append(PhotonEvent(frame: UInt32(start + f), row: UInt16(p / columns), column: UInt16(p % columns), energyKeV: Float(keV)))
                    }
                }
            }
            accumulator.add(batch)
            batch.removeAll(keepingCapacity: true)
            progress?.advance(by: end - start)
            start = end
        }
        return accumulator.finish()
    }
}
