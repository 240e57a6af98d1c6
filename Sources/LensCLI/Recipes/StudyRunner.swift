import Foundation
import LensCore
import LensIO
import Reporting

/// Runs a ``StudyPlan``: steps in order, each skipped when its key (settings and inputs'
/// content) matches the last successful run and its outputs exist, else run as its command
/// line in this process. A failed step stops the study; Ctrl-C stops it between steps (the
/// running step removes its partial outputs, as every command does). Forced steps and
/// everything downstream of them rerun.
struct StudyRunner {
    var plan: StudyPlan
    var force: Set<String> = []
    var dryRun = false

    var recordPath: String { plan.recipe.output + "/study.json" }

    /// The key of a step: its workflow, settings and the content of its inputs (with a label
    /// volume's scheme sidecar), under this version.
    static func key(of step: StudyPlan.Step) -> (key: String, inputs: [InputRecord]) {
        var records: [InputRecord] = []
        var text = "\(BatteryLensVersion.string)\n\(step.definition.name)\n\(step.settingArguments.filter { $0 != "--quiet" && $0 != "--overwrite" }.joined(separator: "\n"))\n"
        for (slot, paths) in step.inputs {
            for path in paths {
                let record = InputRecord(path: path, checksumLimitBytes: .max)
                records.append(record)
                text += "\(slot)=\(record.sha256 ?? "missing")\n"
                let sidecar = InputRecord.filePart(of: path) + ".labels.json"
                if FileManager.default.fileExists(atPath: sidecar) { text += "\(slot).labels=\(InputRecord(path: sidecar).sha256 ?? "")\n" }
            }
        }
        return (SHA256.hex(of: Array(text.utf8)), records)
    }

    /// The last run's record (nil when there is none or it cannot be read: every step runs).
    func previous() -> StudyRecord? { try? JSONOutput.read(StudyRecord.self, from: recordPath) }

    /// Runs the study (or, with `dryRun`, prints what it would do); returns the record.
    func run() throws -> StudyRecord {
        let earlier = previous()
        let forced = plan.closure(of: force)
        let formatter = ISO8601DateFormatter()
        var record = StudyRecord(recipe: plan.recipe.path, study: plan.recipe.study, version: BatteryLensVersion.string,
                                 startedAt: formatter.string(from: Date()), status: "running", steps: [])
        if !dryRun {
            try FileManager.default.createDirectory(atPath: plan.recipe.output, withIntermediateDirectories: true)
            // The record must be ours to replace before any step runs (a foreign study.json is never overwritten).
            do { try AtomicOutput.validate(recordPath) } catch {
                throw LensError.badOutput(file: recordPath, problem: "exists and was not written by batterylens run (or was changed since); choose another study folder (--output)")
            }
        }
        var willRun = Set<String>()
        var failure: Error?
        for (k, step) in plan.steps.enumerated() {
            let label = "[\(k + 1)/\(plan.steps.count)] \(step.name) (\(step.definition.name))"
            var entry = StudyRecord.StepRecord(name: step.name, workflow: step.definition.name, command: ["batterylens"] + step.arguments,
                                               key: nil, status: "not run", seconds: 0, inputs: [], outputs: Dictionary(step.outputs, uniquingKeysWith: { a, _ in a }))
            if failure != nil || CLIRuntime.cancellation.isCancelled { record.steps.append(entry); continue }
            let upstreamRuns = !step.upstream.isDisjoint(with: willRun)
            if dryRun && upstreamRuns {
                print("\(label): run (after \(step.upstream.intersection(willRun).sorted().joined(separator: ", ")))")
                willRun.insert(step.name); record.steps.append(entry); continue
            }
            let (key, inputs) = StudyRunner.key(of: step)
            entry.key = key; entry.inputs = inputs
            let last = earlier?.steps.first { $0.name == step.name }
            let unchanged = last.map { ($0.status == "ran" || $0.status == "skipped") && $0.key == key } ?? false
                && step.outputs.allSatisfy { FileManager.default.fileExists(atPath: $0.path) }
            if unchanged && !forced.contains(step.name) {
                entry.status = "skipped"
                entry.seconds = last?.seconds ?? 0
                print("\(label): unchanged, skipped")
            } else if dryRun {
                print("\(label): run (\(forced.contains(step.name) ? "forced" : last == nil ? "not run before" : "settings or inputs changed"))")
                willRun.insert(step.name)
            } else {
                // Time left, from the last run's times of this step and those after it (when known).
                let remaining = plan.steps[k...].map { later in earlier?.steps.first { $0.name == later.name && $0.status == "ran" }?.seconds }
                let estimate = remaining.allSatisfy { $0 != nil } ? remaining.reduce(0) { $0 + $1! } : nil
                print("\(label): running" + (estimate.map { String(format: " (about %.0f s left for the study, from its last run)", $0) } ?? ""))
                willRun.insert(step.name)
                try FileManager.default.createDirectory(atPath: step.folder, withIntermediateDirectories: true)
                let start = Date()
                StudyStepContext.current = StudyStepContext(recipe: plan.recipe.path, study: plan.recipe.study, step: step.name,
                                                            workflow: step.definition.name, command: ["batterylens"] + step.arguments)
                ProgressSettings.context = "step \(k + 1)/\(plan.steps.count) \(step.name)"
                let code = CLIRuntime.run(step.arguments)
                ProgressSettings.context = nil
                StudyStepContext.current = nil
                entry.seconds = Date().timeIntervalSince(start)
                entry.status = code == 0 ? "ran" : "failed"
                if code != 0 {
                    failure = code == 130 ? LensError.cancelled
                        : LensError.numerical("step '\(step.name)' (\(step.definition.name)) failed (exit \(code)); the steps before it are kept, and a new run resumes from it")
                } else {
                    print("\(label): done in \(String(format: "%.1f", entry.seconds)) s")
                }
            }
            record.steps.append(entry)
            if !dryRun { try write(record) }
        }
        record.status = failure == nil && !CLIRuntime.cancellation.isCancelled ? (dryRun ? "planned" : "done") : "stopped"
        if !dryRun { try write(record) }
        if let failure { throw failure }
        if CLIRuntime.cancellation.isCancelled { throw LensError.cancelled }
        return record
    }

    func write(_ record: StudyRecord) throws {
        try JSONOutput.write(record, to: recordPath)
    }
}
