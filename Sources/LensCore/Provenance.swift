import Foundation
import Synchronization

/// Where a result came from: the inputs (with sizes and SHA-256 checksums), the parameters,
/// the software and its version, the command line, and when. Every summary carries one, so a
/// number in a paper can be traced back to the bytes and settings that made it.
public struct Provenance: Codable, Sendable, Equatable {
    public var software: String
    public var version: String
    public var command: [String]
    public var parameters: [String: JSONValue]
    public var inputs: [InputRecord]
    /// ISO 8601 time, UTC, when the record was made.
    public var createdAt: String
    public var host: String
    /// The study step that made the result, when it ran inside `batterylens run RECIPE`.
    public var study: StudyStepContext?

    public init(command: [String] = CommandLine.arguments, parameters: [String: JSONValue] = [:],
                inputs: [InputRecord] = [], date: Date = Date()) {
        software = BatteryLensVersion.name
        version = BatteryLensVersion.string
        let context = StudyStepContext.current
        self.command = context?.command ?? command
        study = context
        self.parameters = parameters
        self.inputs = inputs
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        createdAt = formatter.string(from: date)
        host = ProcessInfo.processInfo.hostName
    }
}

/// The recipe step a command runs for (`batterylens run`): every result it writes names the
/// recipe, the step and the step's own command line in its provenance.
public struct StudyStepContext: Codable, Sendable, Equatable {
    public var recipe: String
    public var study: String
    public var step: String
    public var workflow: String
    /// The command line equivalent to the step.
    public var command: [String]
    public init(recipe: String, study: String, step: String, workflow: String, command: [String]) {
        self.recipe = recipe; self.study = study; self.step = step; self.workflow = workflow; self.command = command
    }

    private static let state = Mutex<StudyStepContext?>(nil)
    /// The step running now (nil outside a recipe).
    public static var current: StudyStepContext? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// One input of a result: its path, size and checksum.
public struct InputRecord: Codable, Sendable, Equatable {
    public var path: String
    public var sizeBytes: Int64
    /// SHA-256 of the file's bytes (of every regular file, sorted by name, for a folder);
    /// nil when skipped by policy, with `checksumNote` saying why.
    public var sha256: String?
    public var checksumNote: String?

    /// Files larger than this are not checksummed by default (reading 40 GB to hash it would
    /// double the cost of a reconstruction); the record says so.
    public static let defaultChecksumLimitBytes: Int64 = 8 << 30

    /// Records a file or folder (a TIFF series). A `path:dataset` HDF5 reference is recorded for
    /// its file part. Missing paths are recorded with size −1 rather than failing: provenance
    /// must never be the reason a result is lost.
    public init(path: String, checksumLimitBytes: Int64 = InputRecord.defaultChecksumLimitBytes) {
        self.path = path
        let filePath = InputRecord.filePart(of: path)
        let files = InputRecord.regularFiles(at: filePath)
        guard !files.isEmpty else {
            sizeBytes = -1; sha256 = nil; checksumNote = "not found"; return
        }
        let sizes = files.map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int64) ?? 0 }
        sizeBytes = sizes.reduce(0, +)
        if sizeBytes > checksumLimitBytes {
            sha256 = nil
            checksumNote = "not computed: \(sizeBytes) bytes exceed the checksum limit of \(checksumLimitBytes)"
            return
        }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 22)
        for file in files {
            guard let handle = FileHandle(forReadingAtPath: file) else { continue }
            defer { try? handle.close() }
            let fd = handle.fileDescriptor
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        sha256 = hasher.finalizeHex()
        checksumNote = nil
    }

    /// The file system part of `file.h5:/group/data`.
    public static func filePart(of path: String) -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        if let range = path.range(of: ":/", options: .backwards) { return String(path[..<range.lowerBound]) }
        return path
    }

    private static func regularFiles(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        if !isDirectory.boolValue { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }.filter {
            var dir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &dir) && !dir.boolValue
        }
    }
}
