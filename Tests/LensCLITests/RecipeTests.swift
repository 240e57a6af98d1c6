import Foundation
import LensCLI
import LensCore
import LensIO
import Reporting
import Testing

/// `batterylens run RECIPE` (issue 18): the example recipes run; a study resumes without
/// recomputing finished steps (counted from its record), reruns what changed and what lies
/// downstream; invalid recipes list every problem (exit 2).
@Suite(.serialized) final class RecipeTests {
    let dir = NSTemporaryDirectory() + "batterylens-recipes-" + UUID().uuidString
    static let examples: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("examples").path
    }()
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func statuses(_ study: String) throws -> [String: String] {
        let record = try JSONOutput.read(JSONValue.self, from: study + "/study.json")
        guard case .array(let steps)? = record["steps"] else { return [:] }
        var out: [String: String] = [:]
        for step in steps { if let name = step["name"]?.stringValue { out[name] = step["status"]?.stringValue ?? "" } }
        return out
    }

    @Test(arguments: ["tomography", "xanes", "compton", "xas", "diffraction"])
    func exampleRecipeRuns(_ name: String) throws {
        let study = dir + "/" + name
        #expect(CLIRuntime.run(["run", RecipeTests.examples + "/\(name).yaml", "--output", study, "--quiet"]) == 0)
        let status = try statuses(study)
        #expect(!status.isEmpty && status.values.allSatisfy { $0 == "ran" }, "\(status)")
        // A second run finds every step unchanged.
        #expect(CLIRuntime.run(["run", RecipeTests.examples + "/\(name).yaml", "--output", study, "--quiet"]) == 0)
        #expect(try statuses(study).values.allSatisfy { $0 == "skipped" })
        // Any study gets its report: one section per step, every figure written, no truth rows.
        #expect(CLIRuntime.run(["report", study, "--quiet"]) == 0)
        let report = try JSONOutput.read(ReportSummary.self, from: study + "/summary.json")
        #expect(report.sections.map(\.step) == status.keys.sorted { a, b in
            report.sections.firstIndex { $0.step == a }! < report.sections.firstIndex { $0.step == b }! })
        #expect(report.sections.count == status.count && report.truthChecks.isEmpty && report.allTruthChecksPassed == nil)
        for figure in report.sections.flatMap(\.figures) { #expect(FileManager.default.fileExists(atPath: study + "/report/" + figure), "\(figure)") }
        #expect(FileManager.default.fileExists(atPath: study + "/report/index.html"))
    }

    /// The tomography example's results carry the recipe and step in their provenance and the
    /// phantom's porosity is measured through the whole chain.
    @Test func resultsNameTheirStepAndChangesRerunDownstreamOnly() throws {
        let recipe = dir + "/study.yaml"
        let text = try String(contentsOfFile: RecipeTests.examples + "/tomography.yaml", encoding: .utf8)
        try text.write(toFile: recipe, atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 0)
        let study = dir + "/tomography-study"
        let porosity = try JSONOutput.read(JSONValue.self, from: study + "/porosity/summary.json")
        #expect(porosity["provenance"]?["study"]?["step"]?.stringValue == "porosity")
        #expect(porosity["provenance"]?["study"]?["recipe"]?.stringValue == recipe)
        // A porosity setting changes: only porosity reruns.
        try text.replacingOccurrences(of: "settings: {regions: 3}", with: "settings: {regions: 4}").write(toFile: recipe, atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 0)
        var status = try statuses(study)
        #expect(status.filter { $0.value == "ran" }.keys.sorted() == ["porosity"], "\(status)")
        // --force recon: recon and everything reading from it rerun; the phantom and scan do not.
        #expect(CLIRuntime.run(["run", recipe, "--quiet", "--force", "recon"]) == 0)
        status = try statuses(study)
        #expect(status.filter { $0.value == "ran" }.keys.sorted() == ["particles", "porosity", "recon", "segment", "tortuosity"], "\(status)")
        // --dry-run runs nothing.
        try text.replacingOccurrences(of: "angles: 120", with: "angles: 90").write(toFile: recipe, atomically: true, encoding: .utf8)
        let before = try String(contentsOfFile: study + "/study.json", encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet", "--dry-run"]) == 0)
        #expect(try String(contentsOfFile: study + "/study.json", encoding: .utf8) == before)
    }

    /// A step that fails stops the study; after the input is fixed the study resumes: the
    /// finished steps are not recomputed.
    @Test func failedStudyResumesWithoutRecomputingFinishedSteps() throws {
        let recipe = dir + "/resume.yaml"
        try """
        study: resume
        output: resume-study
        steps:
          - name: phantom
            workflow: phantom electrode
            settings: {size: 24, seed: 2}
          - name: porosity
            workflow: porosity
            inputs: {labels: {from: phantom.phases}}
          - name: spectrum
            workflow: xas
            inputs: {spectrum: spectrum.txt}
        """.write(toFile: recipe, atomically: true, encoding: .utf8)
        try "not a spectrum".write(toFile: dir + "/spectrum.txt", atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 1)
        let study = dir + "/resume-study"
        #expect(try statuses(study) == ["phantom": "ran", "porosity": "ran", "spectrum": "failed"])
        let energies = (0..<200).map { 8900 + Double($0) * 1.5 }
        try energies.map { "\($0) \(1 / (1 + exp(-($0 - 8980) / 3)))" }.joined(separator: "\n")
            .write(toFile: dir + "/spectrum.txt", atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 0)
        #expect(try statuses(study) == ["phantom": "skipped", "porosity": "skipped", "spectrum": "ran"])
    }

    /// A study killed (SIGKILL) in the middle resumes: the steps its record lists as finished
    /// are skipped, the others run.
    @Test func killedStudyResumes() throws {
        // The program built with the tests lies beside the test bundle.
        let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let binary = buildFolder.appendingPathComponent("batterylens").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("batterylens is not built beside the tests (\(binary)): build the package before testing"); return
        }
        let recipe = dir + "/kill.yaml"
        try """
        study: kill
        output: kill-study
        steps:
          - name: phantom
            workflow: phantom compton
            settings: {events: 1000000}
          - name: spectra
            workflow: compton spectra
            inputs: {events: {from: phantom.region_1}}
          - name: lithium
            workflow: compton analyze
            inputs: {cubes: [{from: spectra.cube}]}
            settings: {slope: 2.3, intercept: 0.65, min-counts: 20}
        """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", recipe, "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let study = dir + "/kill-study"
        // Wait until the record shows a finished step, then kill.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? statuses(study))?.values.contains("ran") != true { usleep(20_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let finished = Set(try statuses(study).filter { $0.value == "ran" }.keys)
        #expect(!finished.isEmpty)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 0)
        let after = try statuses(study)
        for (name, status) in after { #expect(status == (finished.contains(name) ? "skipped" : "ran"), "\(name): \(status), finished before \(finished)") }
    }

    /// A study folder holding a study.json that batterylens did not write: refused before any
    /// step runs, and the file is left as it was.
    @Test func foreignStudyRecordIsNeverReplaced() throws {
        let study = dir + "/foreign"
        try FileManager.default.createDirectory(atPath: study, withIntermediateDirectories: true)
        try #"{"mine": true}"#.write(toFile: study + "/study.json", atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", RecipeTests.examples + "/xas.yaml", "--output", study, "--quiet"]) == 1)
        #expect(try String(contentsOfFile: study + "/study.json", encoding: .utf8) == #"{"mine": true}"#)
        #expect(try FileManager.default.contentsOfDirectory(atPath: study) == ["study.json"])
    }

    @Test func invalidRecipeListsEveryProblem() throws {
        let recipe = dir + "/bad.yaml"
        try """
        study: bad
        colour: blue
        steps:
          - name: seg
            workflow: segment phasez
          - name: por
            workflow: porosity
            inputs: {labels: {from: seg.labels}}
            settings: {regionz: 3, summary: x.json}
          - name: tau
            workflow: tortuosity
            inputs: {labels: missing.tif}
            settings: {axis: w, tolerance: "${tol}"}
          - name: a
            workflow: rev
            inputs: {labels: {from: b.summary}}
          - name: b
            workflow: rev
            inputs: {labels: {from: a.summary}}
          - name: phantom
            workflow: phantom electrode
          - name: components
            workflow: label
            inputs: {labels: {from: phantom.phases}}
            settings: {phase: active}
          - name: sizes
            workflow: particles
            inputs: {labels: {from: components.labels}}
            settings: {phase: active}
          - name: report
            workflow: rev
            inputs: {labels: {from: phantom.phases}}
        """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let errors = dir + "/errors.txt"
        let saved = dup(2)
        let fd = open(errors, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        dup2(fd, 2)
        let code = CLIRuntime.run(["run", recipe])
        dup2(saved, 2); close(fd); close(saved)
        #expect(code == 2)
        let text = try String(contentsOfFile: errors, encoding: .utf8)
        for expected in ["unknown key 'colour'", "unknown workflow 'segment phasez'", "'--regionz'", "set by the runner",
                         "missing.tif does not exist", "'w' is invalid", "unknown variable 'tol'", "in a cycle",
                         "step 'sizes' (line 26): phase: active names phases, but the labels components.labels (label) carry no label scheme",
                         "step name 'report' is kept for the study's report folder"] {
            #expect(text.contains(expected), "missing: \(expected) in\n\(text)")
        }
        // The phantom's phases carry a scheme: naming a phase on them is fine.
        #expect(!text.contains("step 'components'"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad-study"), "nothing ran")
    }
}

