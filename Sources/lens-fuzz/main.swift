// lens-fuzz: the long fuzzing run of every BatteryLens reader, by hand (Fuzz/README.md).
//
//   lens-fuzz [--runs N] [--seed S] [--format NAME] [--work DIR] [--batch B]
//
// Each format's runs go in batches to a child process (this program with --child), so a crash
// is counted, its input kept under DIR/crashes/, and the run goes on with the next batch. The
// totals (runs, accepted, refused, crashes, hangs, slowest read, largest memory growth) are
// printed per format as a Markdown table for Fuzz/RESULTS.md.
import Foundation
import Fuzzing
import LensCore

let arguments = Array(CommandLine.arguments.dropFirst())
func value(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let runs = Int(value("--runs") ?? "") ?? 10_000
let seed = UInt64(value("--seed") ?? "") ?? 1
let batch = Int(value("--batch") ?? "") ?? 2_000
let work = value("--work") ?? NSTemporaryDirectory() + "lens-fuzz-\(getpid())"
let only = value("--format")
let formats = ReaderFuzzer.Format.all.filter { only == nil || $0.name == only }
guard !formats.isEmpty else {
    FileHandle.standardError.write(Data("lens-fuzz: no format named \(only ?? "")\n".utf8)); exit(2)
}
// The work folder is this run's own: everything written in it (mutants, progress, kept crashes)
// may be overwritten, so a folder that already holds anything is refused.
if arguments.contains("--child") {
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
} else {
    if let existing = try? FileManager.default.contentsOfDirectory(atPath: work), !existing.isEmpty {
        FileHandle.standardError.write(Data("lens-fuzz: --work \(work) already holds files; give a new folder\n".utf8)); exit(2)
    }
    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
}

if arguments.contains("--child") {
    // One batch of one format, in this process; the totals go to stdout as JSON.
    let fuzzer = ReaderFuzzer(folder: work, seed: seed)
    let totals = try fuzzer.run(formats[0], runs: runs, skip: Int(value("--skip") ?? "") ?? 0, progressPath: value("--progress"))
    FileHandle.standardOutput.write(try JSONEncoder().encode(totals))
    exit(0)
}

/// Per format: the totals, crashes (the process died on a signal), hangs, and library faults
/// (libhdf5 faulted on a damaged file and BatteryLens's guard turned it into exit 1 with one
/// line naming the file: the behaviour users see, counted apart because the batch ends there).
struct Row { var totals: ReaderFuzzer.Totals; var crashes = 0; var hangs = 0; var libraryFaults = 0 }
var rows: [Row] = []
let executable = URL(fileURLWithPath: CommandLine.arguments[0]).path
for format in formats {
    var row = Row(totals: .init(format: format.name))
    var batchSeed = seed &* 1_000_003
    var done = 0, skip = 0
    func add(_ t: ReaderFuzzer.Totals) {
        row.totals.runs += t.runs; row.totals.accepted += t.accepted; row.totals.refused += t.refused
        row.totals.slowestSeconds = max(row.totals.slowestSeconds, t.slowestSeconds)
        row.totals.largestPeakGrowthBytes = max(row.totals.largestPeakGrowthBytes, t.largestPeakGrowthBytes)
    }
    while done < runs {
        let count = min(batch, runs - done + skip)
        // One new folder per batch (inside this run's own work folder).
        let folder = work + "/" + format.name + "-\(batchSeed)-\(skip)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let progress = folder + "/progress.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--child", "--format", format.name, "--runs", String(count), "--seed", String(batchSeed), "--work", folder,
                             "--skip", String(skip), "--progress", progress]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        // A batch that takes far longer than its reads should is a hang.
        // Reads of these small seeds take milliseconds; a batch far slower than that hangs.
        let deadline = Date().addingTimeInterval(Double(count) * 0.2 + 60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let hung = process.isRunning
        if hung { process.terminate(); process.waitUntilExit() }
        _ = pipe.fileHandleForReading.readDataToEndOfFile()
        let partial = FileManager.default.contents(atPath: progress).flatMap { try? JSONDecoder().decode(ReaderFuzzer.Totals.self, from: $0) }
        if !hung, process.terminationReason == .exit, process.terminationStatus == 0 {
            if let partial { add(partial); done += partial.runs }
            batchSeed &+= 1; skip = 0
            continue
        }
        // The batch ended on one input: count it, keep it, resume the batch after it.
        if let partial { add(partial); done += partial.runs }
        done += 1; row.totals.runs += 1
        skip += (partial?.runs ?? 0) + 1
        let kind: String
        if hung { row.hangs += 1; kind = "hang" }
        else if process.terminationReason == .exit && process.terminationStatus == 1 { row.libraryFaults += 1; kind = "library-fault"; row.totals.refused += 1 }
        else { row.crashes += 1; kind = "crash" }
        let crashes = work + "/" + (kind == "library-fault" ? "library-faults" : "crashes")
        try FileManager.default.createDirectory(atPath: crashes, withIntermediateDirectories: true)
        let kept = "\(crashes)/\(format.name)-seed\(batchSeed)-\(skip - 1).\(format.fileExtension)"
        try? FileManager.default.copyItem(atPath: "\(folder)/last-input.\(format.fileExtension)", toPath: kept)
        FileHandle.standardError.write(Data("lens-fuzz: \(format.name): \(kind) on mutant \(skip - 1) of seed \(batchSeed); input kept at \(kept)\n".utf8))
        if skip >= count { batchSeed &+= 1; skip = 0 }
    }
    rows.append(row)
    FileHandle.standardError.write(Data("lens-fuzz: \(format.name): \(row.totals.runs) runs, \(row.crashes) crashes, \(row.hangs) hangs, \(row.libraryFaults) library faults\n".utf8))
}
print("| format | runs | read | refused | of which libhdf5 faults (exit 1) | crashes | hangs | slowest read (s) | largest peak growth (MiB) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows {
    print(String(format: "| %@ | %d | %d | %d | %d | %d | %d | %.3f | %.1f |", r.totals.format, r.totals.runs, r.totals.accepted, r.totals.refused,
                 r.libraryFaults, r.crashes, r.hangs, r.totals.slowestSeconds, Double(r.totals.largestPeakGrowthBytes) / 1_048_576))
}
let total = rows.reduce(0) { $0 + $1.totals.runs }, crashes = rows.reduce(0) { $0 + $1.crashes }, hangs = rows.reduce(0) { $0 + $1.hangs }
print("| all | \(total) | | | \(rows.reduce(0) { $0 + $1.libraryFaults }) | \(crashes) | \(hangs) | | |")
exit(crashes + hangs > 0 ? 1 : 0)
