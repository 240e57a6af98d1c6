import Foundation
import LensCore

extension StudyReport {
    /// The HTML page: a summary on top (what was measured, pass/fail against truth), a table
    /// of contents, then one section per step with its figures, a table of numbers with units
    /// and uncertainties, notes, and provenance (command, inputs with checksums). No scripts,
    /// no external resources.
    static func page(summary: ReportSummary, contents: [SectionContent], title: String) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
        header{background:#123;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}header p{margin:6px 0 0;color:#cde}
        main{max-width:1180px;margin:0 auto;padding:12px 28px 40px}
        section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 20px;margin:18px 0}
        h2{font-size:19px;margin:6px 0 10px}h2 small{color:#777;font-weight:normal}
        table{border-collapse:collapse;margin:8px 0;font-size:13.5px}td,th{border-bottom:1px solid #e4e4e4;padding:4px 10px;text-align:left;vertical-align:top}
        th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
        .pass{color:#11772d;font-weight:bold}.fail{color:#b00020;font-weight:bold}
        figure{display:inline-block;margin:8px 14px 8px 0;vertical-align:top;max-width:620px}figure img{max-width:100%;border:1px solid #ddd}
        figcaption{font-size:12.5px;color:#555;margin-top:4px}
        details{font-size:12.5px;color:#444;margin-top:6px}code{font-size:12px;word-break:break-all}
        .notes{color:#8a5a00;font-size:13px}nav a{margin-right:12px;font-size:13px}
        </style></head><body>
        <header><h1>\(esc(title))</h1><p>BatteryLens \(esc(summary.version)) · generated \(esc(summary.generatedAt)) · study status: \(esc(summary.studyStatus)) · \(summary.sections.count) steps</p></header>
        <main>

        """
        // Summary and truth.
        h += "<section id=\"summary\"><h2>Summary</h2>"
        if !summary.truthChecks.isEmpty {
            let passed = summary.truthChecks.filter(\.passed).count
            h += "<p>\(passed) of \(summary.truthChecks.count) measured values are within their tolerance of the truth: "
            h += summary.allTruthChecksPassed == true ? "<span class=\"pass\">all checks passed</span>" : "<span class=\"fail\">some checks failed</span>"
            h += ".</p><table><tr><th>quantity</th><th>step</th><th>measured</th><th>truth</th><th>tolerance</th><th>unit</th><th>result</th><th>truth from / why this tolerance</th></tr>\n"
            for t in summary.truthChecks {
                let m = format(t.measured, digits: 4) + (t.measuredSigma.map { " ± " + format($0, digits: 2) } ?? "")
                h += "<tr><td>\(esc(t.quantity))</td><td><a href=\"#step-\(esc(t.step))\">\(esc(t.step))</a></td><td class=\"n\">\(esc(m))</td><td class=\"n\">\(esc(format(t.truth, digits: 4)))</td>"
                h += "<td class=\"n\">\(t.relative ? "±" + format(t.tolerance * 100, digits: 3) + " %" : "±" + format(t.tolerance, digits: 3))</td><td>\(esc(t.unit))</td>"
                h += "<td class=\"\(t.passed ? "pass" : "fail")\">\(t.passed ? "pass" : "FAIL")</td><td>\(esc(t.note))</td></tr>\n"
            }
            h += "</table>"
        }
        h += "<table><tr><th>step</th><th>workflow</th><th>status</th><th>time (s)</th><th>headline</th></tr>\n"
        for (section, content) in zip(summary.sections, contents) {
            let headline = content.numbers.prefix(2).map { "\($0.name) \($0.text)\($0.unit.map { " " + $0 } ?? "")" }.joined(separator: "; ")
            h += "<tr><td><a href=\"#step-\(esc(section.step))\">\(esc(section.step))</a></td><td>\(esc(section.workflow))</td><td>\(esc(section.status))</td><td class=\"n\">\(String(format: "%.1f", section.seconds))</td><td>\(esc(headline))</td></tr>\n"
        }
        h += "</table></section>\n"
        // Sections.
        for (section, content) in zip(summary.sections, contents) {
            h += "<section id=\"step-\(esc(section.step))\"><h2>\(esc(section.step)) <small>\(esc(section.workflow)) · \(esc(section.status)) · \(String(format: "%.1f", section.seconds)) s</small></h2>\n"
            for figure in content.figures {
                h += "<figure><img src=\"figures/\(esc(figure.name))\" alt=\"\(esc(figure.caption))\"><figcaption>\(esc(figure.caption))</figcaption></figure>\n"
            }
            if !content.numbers.isEmpty {
                h += "<table><tr><th>quantity</th><th>value</th><th>±</th><th>unit</th></tr>\n"
                for n in content.numbers {
                    h += "<tr><td>\(esc(n.name))</td><td class=\"n\">\(esc(n.text))</td><td class=\"n\">\(n.sigma.map { esc(format($0, digits: 2)) } ?? "")</td><td>\(esc(n.unit ?? ""))</td></tr>\n"
                }
                h += "</table>\n"
            }
            for note in content.notes { h += "<p class=\"notes\">\(esc(note))</p>\n" }
            h += "<details><summary>provenance</summary><p><code>\(esc(section.command.joined(separator: " ")))</code></p>"
            if !section.inputs.isEmpty {
                h += "<table><tr><th>input</th><th>bytes</th><th>SHA-256</th></tr>"
                for i in section.inputs { h += "<tr><td><code>\(esc(i.path))</code></td><td class=\"n\">\(i.sizeBytes)</td><td><code>\(esc(i.sha256 ?? i.checksumNote ?? ""))</code></td></tr>" }
                h += "</table>"
            }
            h += "</details></section>\n"
        }
        h += "<p style=\"font-size:12px;color:#777\">Recipe: <code>\(esc(summary.recipe))</code>. The same numbers are in <code>summary.json</code> beside this folder.</p>\n"
        return h + "</main></body></html>\n"
    }
}
