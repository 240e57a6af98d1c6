import CLensSystem
import Foundation
import LensCore
#if canImport(Glibc)
import Glibc
#endif

/// The rules that keep users' files safe: what an output may replace, marks and manifests that
/// prove BatteryLens wrote something, input containment, and stale temporaries.
public enum OutputSafety {
    /// The manifest BatteryLens writes into every folder output (relative paths and sizes).
    public static let manifestName = ".batterylens-output.json"
    /// The extended attribute that marks a file BatteryLens wrote: "size mtime-ns".
    static let markAttribute = "user.batterylens.output"
    /// Prefix of every temporary and staging name.
    public static let temporaryPrefix = ".batterylens-"

    /// A hidden name unique to this process: `.batterylens-PID-RANDOM.suffix` (the PID lets a
    /// later run remove what a killed process left, ``removeStaleTemporaries(in:)``).
    public static func temporaryName(suffix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = String(format: "%08x", UInt32.random(in: 0...UInt32.max, using: &generator))
        return "\(temporaryPrefix)\(getpid())-\(random).\(suffix)"
    }

    /// What stands at an output path.
    public enum Existing: Equatable, Sendable {
        case absent
        case emptyFolder
        /// A file with BatteryLens's mark, unchanged since it was written.
        case ownFile
        /// A folder whose manifest lists everything in it.
        case ownFolder
        /// Anything else; the text says what (for the error message).
        case foreign(String)
    }

    /// Looks at `path` (without following a final symbolic link).
    public static func inspect(_ path: String) -> Existing {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .absent }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return isMarked(path, info) ? .ownFile : .foreign("exists and was not written by batterylens (or was changed since)")
        case S_IFDIR:
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                return .foreign("is a folder that cannot be read")
            }
            if entries.isEmpty { return .emptyFolder }
            if let stray = strayEntry(in: path) {
                return .foreign("is a folder holding files batterylens did not write (e.g. '\(stray)')")
            }
            return .ownFolder
        case S_IFLNK: return .foreign("is a symbolic link")
        default: return .foreign("exists and is not a regular file or folder")
        }
    }

    /// Throws unless whatever stands at `path` may be replaced without `--overwrite`.
    public static func requireReplaceable(_ path: String) throws {
        if case .foreign(let what) = inspect(path) {
            throw LensError.badOutput(file: path, problem: "\(what); choose another output or pass --overwrite to replace it")
        }
    }

    /// Throws unless the folder of `path` exists, is a folder and can be written, and the name
    /// is not too long for the file system.
    public static func checkFolder(of path: String) throws {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent
        guard !path.isEmpty, !name.isEmpty, name != ".", name != ".." else {
            throw LensError.badOutput(file: path, problem: "is not a usable output name")
        }
        guard name.utf8.count <= 255 else {
            throw LensError.badOutput(file: path, problem: "the name is \(name.utf8.count) bytes long; file systems allow 255")
        }
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LensError.badOutput(file: path, problem: "output folder \(folder) does not exist")
        }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw LensError.badOutput(file: path, problem: "output folder \(folder) is not writable")
        }
    }

    /// Throws if `output` equals, contains or lies inside an input (after resolving symbolic
    /// links; also the same file through a hard link). Inputs may carry a `:/dataset` part.
    public static func checkAgainstInputs(_ output: String, inputs: [String]) throws {
        let out = resolved(output)
        var outInfo = stat()
        let outExists = stat(output, &outInfo) == 0
        for input in inputs where !input.isEmpty {
            let filePath = InputRecord.filePart(of: input)
            let inp = resolved(filePath)
            var inInfo = stat()
            let sameFile = outExists && stat(filePath, &inInfo) == 0 && inInfo.st_dev == outInfo.st_dev && inInfo.st_ino == outInfo.st_ino
            if out == inp || sameFile {
                throw LensError.badOutput(file: output, problem: "is the input \(input); an output never overwrites an input")
            }
            if inp.hasPrefix(out == "/" ? "/" : out + "/") {
                throw LensError.badOutput(file: output, problem: "contains the input \(input); an output never overwrites an input")
            }
            if out.hasPrefix(inp == "/" ? "/" : inp + "/") {
                throw LensError.badOutput(file: output, problem: "lies inside the input \(input); write outputs outside the inputs")
            }
        }
    }

    /// The absolute path with every symbolic link of the existing part resolved (a missing
    /// tail is appended as given), `.` and `..` removed.
    public static func resolved(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var existing = absolute, tail: [String] = []
        while !existing.isEmpty && existing != "/" {
            if let real = realpath(existing, nil) {
                defer { free(real) }
                let base = String(cString: real)
                return tail.isEmpty ? base : (base == "/" ? "" : base) + "/" + tail.reversed().joined(separator: "/")
            }
            let url = URL(fileURLWithPath: existing)
            tail.append(url.lastPathComponent)
            existing = url.deletingLastPathComponent().path
        }
        return absolute
    }

    // MARK: Marks and manifests

    /// Marks a finished file, or writes the manifest of a finished folder, so that a later run
    /// recognises it as BatteryLens's own.
    static func seal(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            try writeManifest(path)
        } else if info.st_mode & S_IFMT == S_IFREG {
            mark(path, info)
        }
    }

    private static func markValue(_ info: stat) -> String {
        "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    /// Best effort: a file system without user attributes leaves the file unmarked (a later
    /// run then needs --overwrite to replace it).
    private static func mark(_ path: String, _ info: stat) {
        let value = Array(markValue(info).utf8)
        _ = value.withUnsafeBytes { lens_set_attribute(path, markAttribute, $0.baseAddress, $0.count) }
    }

    private static func isMarked(_ path: String, _ info: stat) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { lens_get_attribute(path, markAttribute, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        return String(decoding: buffer[0..<n], as: UTF8.self) == markValue(info)
    }

    private struct Manifest: Codable {
        var writer = "batterylens"
        /// Relative path → "size mtime" for files, "folder" for folders.
        var entries: [String: String]
    }

    /// Every entry below `folder` (relative paths): files with their size and modification
    /// time, folders as "folder", anything else (links, devices) as nil — never BatteryLens's.
    private static func listEntries(_ folder: String) -> [String: String?]? {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return nil }
        var entries: [String: String?] = [:]
        while let relative = enumerator.nextObject() as? String {
            var info = stat()
            guard lstat(folder + "/" + relative, &info) == 0 else { return nil }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: entries[relative] = "folder"
            case S_IFREG: entries[relative] = markValue(info)
            default: entries[relative] = .some(nil)
            }
        }
        return entries
    }

    private static func writeManifest(_ folder: String) throws {
        guard var entries = listEntries(folder) else {
            throw LensError.badOutput(file: folder, problem: "cannot list the finished output folder")
        }
        entries[manifestName] = nil
        let data = try JSONEncoder.sorted.encode(Manifest(entries: entries.compactMapValues { $0 }))
        guard FileManager.default.createFile(atPath: folder + "/" + manifestName, contents: data) else {
            throw LensError.badOutput(file: folder, problem: "cannot write its manifest (\(String(cString: strerror(errno))))")
        }
    }

    /// The first entry of `folder` that its manifest does not list with the same size and
    /// time (nil if everything in it is BatteryLens's, unchanged).
    private static func strayEntry(in folder: String) -> String? {
        guard let data = FileManager.default.contents(atPath: folder + "/" + manifestName),
              let manifest = try? JSONDecoder().decode(Manifest.self, from: data), manifest.writer == "batterylens" else {
            return (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted().first ?? "?"
        }
        guard let entries = listEntries(folder) else { return "?" }
        for (name, value) in entries.sorted(by: { $0.key < $1.key }) where name != manifestName {
            guard let value, manifest.entries[name] == value else { return name }
        }
        return nil
    }

    // MARK: Publishing

    /// Moves `temporary` to `path`. Returns the hidden path the previous occupant was moved to
    /// (the caller removes it once everything is in place), or nil if there was none.
    /// Without `replacingForeign`, only what ``inspect(_:)`` calls BatteryLens's own (or an
    /// empty folder) is replaced.
    static func publish(_ temporary: String, to path: String, replacingForeign: Bool) throws -> String? {
        let existing = inspect(path)
        if case .foreign(let what) = existing, !replacingForeign {
            throw LensError.badOutput(file: path, problem: "\(what); choose another output or pass --overwrite to replace it")
        }
        if existing == .absent {
            if rename(temporary, path) == 0 { return nil }
            throw LensError.badOutput(file: path, problem: "cannot move the finished output into place: \(String(cString: strerror(errno)))")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let aside = (folder == "/" ? "" : folder) + "/" + temporaryName(suffix: "old")
        // Swap in one step where the file system can (the previous occupant lands at the
        // temporary path, then moves to its own hidden name); else move it aside first.
        if lens_rename_exchange(temporary, path) == 0 {
            if rename(temporary, aside) == 0 { TemporaryFiles.register(aside); return aside }
            TemporaryFiles.register(temporary)
            return temporary
        }
        guard rename(path, aside) == 0 else {
            throw LensError.badOutput(file: path, problem: "cannot move the previous output aside: \(String(cString: strerror(errno)))")
        }
        TemporaryFiles.register(aside)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            if rename(aside, path) == 0 { TemporaryFiles.forget(aside) }
            throw LensError.badOutput(file: path, problem: "cannot move the finished output into place: \(reason)")
        }
        return aside
    }

    /// Undoes ``publish(_:to:replacingForeign:)``: the previous occupant (if any) goes back to
    /// `path` and the new output to `temporary`. Returns false if that could not be done; then
    /// nothing is removed (the previous occupant stays under its hidden name, untracked, so no
    /// clean-up of this process deletes it).
    @discardableResult
    static func unpublish(_ path: String, to temporary: String, previous: String?) -> Bool {
        guard let previous else { return rename(path, temporary) == 0 }
        if previous == temporary {
            // The occupant could not leave the temporary path: swap back in one step or not at all.
            if lens_rename_exchange(previous, path) == 0 { return true }
            TemporaryFiles.forget(previous)
            return false
        }
        var info = stat()
        guard lstat(temporary, &info) != 0, rename(path, temporary) == 0 else {
            TemporaryFiles.forget(previous)
            return false
        }
        guard rename(previous, path) == 0 else {
            TemporaryFiles.forget(previous)
            return false
        }
        TemporaryFiles.forget(previous)
        return true
    }

    // MARK: Stale temporaries

    /// Removes, from `folder`, the temporaries (`.batterylens-PID-…`) of processes that no longer run:
    /// what a killed run (SIGKILL, power loss) left behind. Those of running processes stay.
    public static func removeStaleTemporaries(in folder: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in entries where name.hasPrefix(temporaryPrefix) {
            let rest = name.dropFirst(temporaryPrefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[rest.startIndex..<dash]), pid > 0 else { continue }
            let tail = rest[rest.index(after: dash)...]
            guard tail.count >= 8, tail.prefix(8).allSatisfy(\.isHexDigit), tail.count == 8 || tail.dropFirst(8).first == "." else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            // Only what this user could have written: another user's look-alike stays.
            let path = (folder == "/" ? "" : folder) + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_uid == geteuid() else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, so the same content gives the same bytes.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
