import Foundation
import LensCore
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
