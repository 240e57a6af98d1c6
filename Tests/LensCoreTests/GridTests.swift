import Foundation
import Testing
import LensCore

@Suite struct ShapeAndGridTests {
    @Test func shapeStridesAndCounts() {
        let s = Shape(4, 5, 6)
        #expect(s.count == 120)
        #expect(s.strides == [30, 6, 1])
        #expect(s.sliceCount == 30)
        #expect(s.sliceShape == Shape(5, 6))
        #expect(s.description == "4×5×6")
        #expect(throws: LensError.self) { try Shape.validated([3, -1], source: "x") }
    }

    @Test func indexingIsRowMajor() {
        let g = Grid<Int32>(shape: Shape(2, 3, 4)) { Int32($0) }
        #expect(g[1, 2, 3] == 23)
        #expect(g[0, 1, 0] == 4)
        let image = Grid<Float>(shape: Shape(3, 4), elements: (0..<12).map(Float.init))
        #expect(image[2, 1] == 9)
    }

    @Test func copyOnWriteKeepsValueSemantics() {
        var a = Grid<Float>(shape: Shape(2, 2), repeating: 1)
        let b = a
        a[0, 0] = 5
        #expect(a[0, 0] == 5)
        #expect(b[0, 0] == 1)
    }

    @Test func slabViewsShareStorageWithoutCopying() {
        let volume = Grid<UInt16>(shape: Shape(10, 4, 4)) { UInt16($0) }
        let slab = volume.slab(3..<6)
        #expect(slab.shape == Shape(3, 4, 4))
        #expect(slab[0, 0, 0] == 48)
        let base = volume.withUnsafeBufferPointer { $0.baseAddress! }
        let slabBase = slab.withUnsafeBufferPointer { $0.baseAddress! }
        #expect(slabBase == base + 48)   // a view: same memory, no copy
        let plane = volume.slice(9)
        #expect(plane.shape == Shape(4, 4))
        #expect(plane[3, 3] == 159)
    }

    @Test func writingThroughASharedSlabCopiesOnlyThatSlab() {
        let volume = Grid<Float>(shape: Shape(4, 2, 2), repeating: 0)
        var slab = volume.slab(1..<2)
        slab[linear: 0] = 7
        #expect(slab[linear: 0] == 7)
        #expect(volume[1, 0, 0] == 0)
    }

    @Test func slabGeometryShiftsOrigin() {
        let g = Grid<Float>(shape: Shape(10, 2, 2), geometry: .isotropic(0.5, rank: 3))
        #expect(g.slab(4..<6).geometry.originMicrometres == [2, 0, 0])
        #expect(g.slice(2).geometry.voxelSizeMicrometres == [0.5, 0.5])
    }

    @Test func conversionRoundsAndClamps() {
        let g = Grid<Double>(shape: Shape(5), elements: [-3, 0.4, 0.6, 254.5, 1000])
        #expect(g.converted(to: UInt8.self).elements == [0, 0, 1, 255, 255])
        #expect(Grid<Double>(shape: Shape(2), elements: [.nan, -40000]).converted(to: Int16.self).elements == [0, -32768])
        let any = AnyGrid(g)
        #expect(any.dataType == .float64)
        #expect(throws: LensError.self) { try AnyGrid(Grid<ComplexFloat32>(shape: Shape(2))).float32() }
    }

    @Test func valueStatisticsIgnoreNonFinite() {
        let g = Grid<Float>(shape: Shape(5), elements: [1, .nan, 3, .infinity, -2])
        let s = g.valueStatistics()
        #expect(s.minimum == -2 && s.maximum == 3 && s.finiteCount == 3 && s.nonFiniteCount == 2)
        #expect(abs(s.mean - 2.0 / 3.0) < 1e-12)
    }

    @Test func dataTypeNames() {
        #expect(DataType(name: "f4") == .float32)
        #expect(DataType(name: "UINT16") == .uint16)
        #expect(DataType(name: "bogus") == nil)
        #expect(DataType.complex64.byteSize == 8)
    }
}

@Suite struct StackTests {
    @Test func projectionStackChecksCounts() throws {
        let p = Grid<Float>(shape: Shape(3, 4, 5))
        let stack = try ProjectionStack(projections: p, anglesDegrees: [0, 90, 180])
        #expect(abs(stack.anglesRadians[1] - .pi / 2) < 1e-15)
        #expect(throws: LensError.self) { try ProjectionStack(projections: p, anglesDegrees: [0, 90]) }
        #expect(throws: LensError.self) {
            try ProjectionStack(projections: p, anglesDegrees: [0, 1, 2], flats: Grid<Float>(shape: Shape(2, 4, 6)))
        }
    }

    @Test func spectralStackNeedsIncreasingEnergies() throws {
        let d = Grid<Float>(shape: Shape(3, 2, 2))
        _ = try SpectralStack(data: d, energiesElectronVolts: [8300, 8340, 8400])
        #expect(throws: LensError.self) { try SpectralStack(data: d, energiesElectronVolts: [8300, 8300, 8400]) }
        #expect(throws: LensError.self) { try SpectralStack(data: d, energiesElectronVolts: [8300, 8340]) }
    }
}

@Suite struct ParallelTests {
    @Test func chunksCoverEveryIndexOnce() {
        let counts = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 10_007)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        nonisolated(unsafe) let c = counts
        Parallel.forEachChunk(count: 10_007, minimumChunk: 10) { range in
            for i in range { c[i] += 1 }
        }
        #expect(counts.allSatisfy { $0 == 1 })
    }

    @Test func cancellationStopsWork() {
        let token = CancellationToken()
        token.cancel()
        #expect(throws: LensError.cancelled) {
            try Parallel.forEachChunk(count: 100, cancellation: token) { _ in }
        }
    }

    @Test func firstErrorIsRethrown() {
        #expect(throws: LensError.numerical("boom")) {
            try Parallel.forEachChunk(count: 100, minimumChunk: 1, cancellation: nil) { range in
                if range.contains(50) { throw LensError.numerical("boom") }
            }
        }
    }

    @Test func mapChunksKeepsOrder() {
        let sums = Parallel.mapChunks(count: 100, chunks: 7) { $0.reduce(0, +) }
        #expect(sums.reduce(0, +) == 4950)
        #expect(sums.count == 7)
    }
}

final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ s: String) { lock.lock(); text += s; lock.unlock() }
    var value: String { lock.lock(); defer { lock.unlock() }; return text }
}

@Suite struct ProgressTests {
    @Test func silentModePrintsNothing() {
        let out = Collector()
        let p = ProgressReporter(label: "x", total: 10, mode: .silent, output: out.append)
        p.advance(by: 10); p.finish()
        #expect(out.value.isEmpty)
    }

    @Test func barModeShowsPercentAndEndsWithNewline() {
        let out = Collector()
        let p = ProgressReporter(label: "reconstructing", total: 4, mode: .bar, output: out.append)
        for _ in 0..<4 { p.advance() }
        p.finish()
        #expect(out.value.contains("100%"))
        #expect(out.value.contains("reconstructing"))
        #expect(out.value.hasSuffix("\n"))
    }

    @Test func lineModePrintsPlainLines() {
        let out = Collector()
        let p = ProgressReporter(label: "slabs", total: 3, mode: .lines(intervalSeconds: 0), output: out.append)
        p.advance(); p.advance(); p.advance(); p.finish()
        #expect(!out.value.contains("\r"))
        #expect(out.value.contains("slabs:  33% (1/3)"))
        #expect(p.completed == 3)
    }

    /// Open-ended work (total 0: an iterative solve that stops when converged) is counted and
    /// timed, with no percentage and no time left: "100 %" at the start or a time left from an
    /// iteration budget would both mislead.
    @Test func openEndedWorkShowsCountsNotPercentages() {
        let out = Collector()
        let p = ProgressReporter(label: "diffusion along z (iterations)", total: 0, mode: .lines(intervalSeconds: 0), output: out.append)
        for _ in 0..<3 { p.advance() }
        p.finish()
        #expect(p.completed == 3)
        #expect(out.value.contains("diffusion along z (iterations): 1 "))
        #expect(out.value.contains("diffusion along z (iterations): 3 "))
        #expect(!out.value.contains("%") && !out.value.contains("left"))
        let bar = Collector()
        let b = ProgressReporter(label: "intrusion (radii)", total: 0, mode: .bar, output: bar.append)
        b.advance(by: 2); b.finish()
        #expect(bar.value.contains("intrusion (radii): 2 ") && !bar.value.contains("%") && bar.value.hasSuffix("\n"))
    }
}

@Suite struct ProvenanceTests {
    @Test func sha256KnownVectors() {
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Streaming in uneven pieces gives the same digest as one update.
        var h = SHA256()
        let million = [UInt8](repeating: 0x61, count: 1_000_000)
        var i = 0
        while i < million.count { let n = min(777, million.count - i); h.update(million[i..<(i + n)]); i += n }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func inputRecordChecksumsFiles() throws {
        let path = NSTemporaryDirectory() + "prov-\(UUID().uuidString).bin"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let record = InputRecord(path: path)
        #expect(record.sizeBytes == 3)
        #expect(record.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let skipped = InputRecord(path: path, checksumLimitBytes: 2)
        #expect(skipped.sha256 == nil && skipped.checksumNote != nil)
        #expect(InputRecord(path: "/no/such/file").sizeBytes == -1)
        let p = Provenance(parameters: ["bin": 2], inputs: [record])
        #expect(p.software == "BatteryLens" && p.version == BatteryLensVersion.string)
        #expect(p.createdAt.hasSuffix("Z"))
    }

    @Test func seededRandomIsReproducible() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let x = (0..<5).map { _ in a.next() }
        #expect(x == (0..<5).map { _ in b.next() })
        #expect(x != (0..<5).map { _ in c.next() })
        var n = SeededRandom(seed: 1)
        let samples = (0..<20_000).map { _ in n.normal() }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)   // 4σ bounds for n = 20 000
    }
}
