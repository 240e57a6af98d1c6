import Foundation
import LensCore
import LensIO
import Testing

/// Each bad input gives a LensError naming the file, and no output file is left behind.
@Suite struct BadInputTests {
    func expectBadInput(_ path: String, mentioning word: String? = nil, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error for \(path)")
        } catch let error as LensError {
            let text = error.description
            #expect(text.contains(URL(fileURLWithPath: path).lastPathComponent), "error does not name the file: \(text)")
            if let word { #expect(text.lowercased().contains(word), "\(text)") }
        } catch {
            Issue.record("unexpected error type \(error)")
        }
    }

    @Test func truncatedAndCorruptFiles() throws {
        let dir = TemporaryFolder()
        let grid = sampleGrid(.float32, shape: Shape(6, 40, 40))
        for name in ["v.tif", "v.h5", "v.npy"] { try VolumeIO.write(grid, to: dir.file(name)) }
        for name in ["v.tif", "v.h5", "v.npy"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: dir.file("cut_" + name)))
            expectBadInput(dir.file("cut_" + name)) { _ = try VolumeIO.read(dir.file("cut_" + name)) }
            var garbage = data
            for i in stride(from: 0, to: min(garbage.count, 4096), by: 1) { garbage[i] = UInt8(truncatingIfNeeded: i &* 131) }
            try garbage.write(to: URL(fileURLWithPath: dir.file("bad_" + name)))
            expectBadInput(dir.file("bad_" + name)) { _ = try VolumeIO.read(dir.file("bad_" + name)) }
        }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir.file("text.h5")))
        expectBadInput(dir.file("text.h5"), mentioning: "hdf5") { _ = try VolumeIO.read(dir.file("text.h5")) }
    }

    @Test func missingDatasetAndWrongShapes() throws {
        let dir = TemporaryFolder()
        try VolumeIO.write(sampleGrid(.uint8, shape: Shape(4, 4)), to: dir.file("a.h5"))
        expectBadInput(dir.file("a.h5"), mentioning: "/nope") { _ = try VolumeIO.read(dir.file("a.h5") + ":/nope") }
        expectBadInput(dir.file("missing.tif"), mentioning: "no such") { _ = try VolumeIO.read(dir.file("missing.tif")) }
        try Data(count: 100).write(to: URL(fileURLWithPath: dir.file("r.raw")))
        expectBadInput(dir.file("r.raw"), mentioning: "needs") {
            _ = try VolumeIO.read(dir.file("r.raw"), raw: RawLayout(shape: Shape(10, 10), dataType: .uint16))
        }
    }

    @Test func unsupportedTypesAndLayouts() throws {
        let dir = TemporaryFolder()
        // A Fortran-ordered .npy and a string dtype.
        for (name, descr, order) in [("f.npy", "<f4", "True"), ("s.npy", "<U8", "False")] {
            var header = "{'descr': '\(descr)', 'fortran_order': \(order), 'shape': (2, 2), }"
            header += String(repeating: " ", count: 128 - 10 - header.count - 1) + "\n"
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
            bytes += [UInt8](repeating: 0, count: 64)
            try Data(bytes).write(to: URL(fileURLWithPath: dir.file(name)))
            expectBadInput(dir.file(name)) { _ = try VolumeIO.read(dir.file(name)) }
        }
        #expect(throws: LensError.self) { try VolumeIO.write(sampleGrid(.complex64, shape: Shape(2, 2)), to: dir.file("c.tif")) }
        #expect(!dir.contents.contains("c.tif"))
    }

    @Test func outputsNeverReplaceInputsOrLandInMissingFolders() throws {
        let dir = TemporaryFolder()
        let grid = sampleGrid(.uint16, shape: Shape(3, 5, 5))
        try VolumeIO.write(grid, to: dir.file("in.tif"))
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.file("in.tif")))
        expectBadInput(dir.file("in.tif"), mentioning: "overwrite") {
            _ = try VolumeConverter.convert(try VolumeIO.open(dir.file("in.tif")), to: dir.file("in.tif"), plan: ConversionPlan(), inputs: [dir.file("in.tif")])
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("in.tif"))) == before)
        expectBadInput(dir.file("nofolder/out.h5"), mentioning: "does not exist") {
            try VolumeIO.write(grid, to: dir.file("nofolder/out.h5"))
        }
        #expect(dir.contents == ["in.tif"])
    }

    @Test func failedWritesLeaveNoPartialFile() throws {
        let dir = TemporaryFolder()
        let info = VolumeInfo(shape: Shape(4, 3, 3), dataType: .float32, format: "")
        for name in ["p.tif", "p.h5", "p.npy", "folder"] {
            let writer = try VolumeIO.create(dir.file(name), info: info)
            try writer.writeSlab(sampleGrid(.float32, shape: Shape(2, 3, 3)), at: 0)
            if name.hasSuffix(".tif") || name == "folder" {
                #expect(throws: LensError.self) { try writer.finish() }   // pages missing
            } else {
                writer.abort()   // what a failing command does
            }
        }
        #expect(dir.contents.isEmpty, "left behind: \(dir.contents)")
        // A slab of the wrong type or shape is refused.
        let writer = try VolumeIO.create(dir.file("q.npy"), info: info)
        #expect(throws: LensError.self) { try writer.writeSlab(sampleGrid(.uint8, shape: Shape(1, 3, 3)), at: 0) }
        #expect(throws: LensError.self) { try writer.writeSlab(sampleGrid(.float32, shape: Shape(1, 3, 4)), at: 0) }
        writer.abort()
        #expect(dir.contents.isEmpty)
    }
}
