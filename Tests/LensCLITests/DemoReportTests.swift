import Foundation
import LensCLI
import LensCore
import LensIO
import Reporting
import Testing

/// The main job end to end: `batterylens demo --size small` runs its recipe, scores every
/// headline number against the phantoms' truth, and writes a report whose files all exist,
/// whose summary follows its schema, and which a browser renders without broken images.
@Suite(.serialized) final class DemoReportTests {
    let dir = NSTemporaryDirectory() + "batterylens-demo-" + UUID().uuidString
    init() { ProgressSettings.mode = .silent }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    @Test func smallDemoRunsScoresAndReports() throws {
        let out = dir + "/demo"
        #expect(CLIRuntime.run(["demo", "--size", "small", "--out", out, "--quiet"]) == 0)
        // The recipe is there to copy, and the study ran every step.
        let recipe = try String(contentsOfFile: out + "/recipe.yaml", encoding: .utf8)
        #expect(recipe.contains("workflow: phantom series") && recipe.contains("workflow: compton analyze"))
        let summary = try JSONOutput.read(ReportSummary.self, from: out + "/summary.json")
        let record = try JSONOutput.read(StudyRecord.self, from: out + "/study.json")
        #expect(summary.sections.map(\.step) == record.steps.map(\.name))
        #expect(summary.sections.allSatisfy { $0.status == "ran" }, "\(summary.sections.map { "\($0.step): \($0.status)" })")
        for workflow in ["phantom series", "recon", "segment phases", "porosity", "tortuosity", "particles", "thickness", "track", "xanes", "compton analyze"] {
            let section = try #require(summary.sections.first { $0.workflow == workflow }, "no \(workflow) section")
            #expect(!section.numbers.isEmpty, "\(workflow) has no numbers")
            #expect(section.inputs.allSatisfy { $0.sha256 != nil } , "\(workflow): inputs without checksums")
        }
        // Cracks widen through cycling in the design: the tracked particles' median crack width
        // in the last state is above that of the first state with cracks.
        let track = try #require(summary.sections.first { $0.workflow == "track" })
        let widths = track.numbers.filter { $0.name.hasPrefix("crack width, state") }.compactMap(\.number)
        #expect(widths.count >= 2 && widths.last! > widths.first!, "\(widths)")
        // Measured vs truth: every headline number within its tolerance (recomputed here).
        #expect(summary.truthChecks.count >= 14)
        for c in summary.truthChecks {
            let error = c.relative ? abs(c.measured - c.truth) / abs(c.truth) : abs(c.measured - c.truth)
            #expect(c.passed && error <= c.tolerance, "\(c.quantity): \(c.measured) vs \(c.truth) ± \(c.tolerance)")
        }
        #expect(summary.allTruthChecksPassed == true)
        // The summary follows its schema.
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
        var validator = SummarySchemaTests.Validator()
        let errors = try validator.errors(value, try validator.document("report.schema.json"), file: "report.schema.json")
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        // Every file the page references exists, and every figure of the summary is on the page.
        let html = try String(contentsOfFile: out + "/report/index.html", encoding: .utf8)
        let sources = html.components(separatedBy: "src=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(sources.count >= 15)
        for source in sources {
            #expect(!source.contains("://") && !source.hasPrefix("/"), "not self-contained: \(source)")
            #expect(FileManager.default.fileExists(atPath: out + "/report/" + source), "\(source) missing")
        }
        #expect(Set(summary.sections.flatMap(\.figures)) == Set(sources))
        // Rebuilding the report from the outputs gives the same numbers.
        #expect(CLIRuntime.run(["report", out, "--quiet"]) == 0)
        let again = try JSONOutput.read(ReportSummary.self, from: out + "/summary.json")
        #expect(again.truthChecks == summary.truthChecks && again.sections.map(\.numbers) == summary.sections.map(\.numbers))
        try browserCheck(out, expectedImages: sources.count)
    }

    /// `report` and `demo` never write over what they did not write: a folder that is not a
    /// study, a foreign `report/` folder, a foreign non-empty demo folder.
    @Test func reportAndDemoRefuseForeignFolders() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/plain", withIntermediateDirectories: true)
        #expect(CLIRuntime.run(["report", dir + "/plain", "--quiet"]) == 1)
        // A real (tiny) study whose report/ folder holds someone's file.
        let recipe = dir + "/r.yaml"
        // Named like the demo (a copy of its recipe, edited): it is not scored as the demo.
        try "study: batterylens-demo\noutput: study\nsteps:\n  - name: phantom\n    workflow: phantom xanes\n    settings: {size: 32}\n".write(toFile: recipe, atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["run", recipe, "--quiet"]) == 0)
        try fm.createDirectory(atPath: dir + "/study/report", withIntermediateDirectories: true)
        try "mine".write(toFile: dir + "/study/report/notes.txt", atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["report", dir + "/study", "--quiet"]) == 1)
        #expect(try String(contentsOfFile: dir + "/study/report/notes.txt", encoding: .utf8) == "mine")
        #expect(!fm.fileExists(atPath: dir + "/study/summary.json"))
        // Once the foreign folder is gone the report is written, and rewritten.
        try fm.removeItem(atPath: dir + "/study/report")
        #expect(CLIRuntime.run(["report", dir + "/study", "--quiet"]) == 0)
        #expect(CLIRuntime.run(["report", dir + "/study", "--quiet"]) == 0)
        #expect(try JSONOutput.read(ReportSummary.self, from: dir + "/study/summary.json").truthChecks.isEmpty)
        // The demo refuses a folder with someone else's files, and leaves them alone.
        try fm.createDirectory(atPath: dir + "/busy", withIntermediateDirectories: true)
        try "data".write(toFile: dir + "/busy/scan.h5", atomically: true, encoding: .utf8)
        #expect(CLIRuntime.run(["demo", "--size", "small", "--out", dir + "/busy", "--quiet"]) == 1)
        #expect(try fm.contentsOfDirectory(atPath: dir + "/busy") == ["scan.h5"])
    }

    /// Headless Chromium renders the page: a full-page screenshot saved beside the report; every
    /// image loads and no error event fires (checked on a copy of the page with a small script
    /// that counts them once the page has loaded, read back from the DOM); the screenshot is not blank.
    func browserCheck(_ out: String, expectedImages: Int) throws {
        let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        guard let browser = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("DemoReportTests: no Chromium found (scripts/test.sh installs Debian's chromium); the browser check is skipped")
            return
        }
        func chromium(_ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: browser)
            process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"] + arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "chromium exit \(process.terminationStatus)")
            return text
        }
        let shot = out + "/report-screenshot.png"
        _ = try chromium(["--window-size=1280,4000", "--screenshot=" + shot, "file://" + out + "/report/index.html"])
        let html = try String(contentsOfFile: out + "/report/index.html", encoding: .utf8)
        let probe = """
        <script>var errors=0;window.addEventListener("error",function(){errors++;},true);
        window.addEventListener("load",function(){var b=0,n=document.images.length;for(var i=0;i<n;i++){var m=document.images[i];if(!m.complete||m.naturalWidth===0)b++;}
        document.body.setAttribute("data-images",n);document.body.setAttribute("data-broken",b);document.body.setAttribute("data-errors",errors);});</script>
        """
        let checkPage = out + "/report/.browser-check.html"
        try html.replacingOccurrences(of: "<head>", with: "<head>" + probe).write(toFile: checkPage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: checkPage) }
        let dom = try chromium(["--virtual-time-budget=15000", "--dump-dom", "file://" + checkPage])
        func attribute(_ name: String) -> Int? {
            guard let r = dom.range(of: name + "=\"") else { return nil }
            return Int(dom[r.upperBound...].prefix { $0 != "\"" })
        }
        #expect(attribute("data-images") == expectedImages, "images on the page: \(attribute("data-images").map(String.init) ?? "not counted")")
        #expect(attribute("data-broken") == 0, "broken images: \(attribute("data-broken").map(String.init) ?? "not counted")")
        #expect(attribute("data-errors") == 0, "error events: \(attribute("data-errors").map(String.init) ?? "not counted")")
        let image = try PNGReader(path: shot).readAll()
        guard case .uint8(let pixels) = image else { Issue.record("screenshot is not 8-bit"); return }
        let values = pixels.elements
        let nonWhite = Double(values.filter { $0 < 235 }.count) / Double(values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let sd = (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)).squareRoot()
        #expect(nonWhite > 0.05 && sd > 20, "screenshot looks blank: \(nonWhite) non-white, sd \(sd)")
    }
}
