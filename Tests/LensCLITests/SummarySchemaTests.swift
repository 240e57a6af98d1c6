import Foundation
import LensCLI
import LensCore
import LensIO
import Phantoms
import Testing

/// Every summary follows its JSON Schema in `Schemas/` (issue 17: one naming style, non-finite
/// numbers as null). The validator covers the subset of JSON Schema 2020-12 the schemas use:
/// type, enum, required, properties, additionalProperties, items, pattern, propertyNames.pattern,
/// minimum/maximum, anyOf, allOf and $ref (within a file and to another file of the folder).
@Suite final class SummarySchemaTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Schemas").path

    let dir = NSTemporaryDirectory() + "batterylens-schemas-" + UUID().uuidString
    init() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        ProgressSettings.mode = .silent
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func run(_ args: String...) -> Int32 { CLIRuntime.run(args) }

    struct Validator {
        var documents: [String: JSONValue] = [:]

        mutating func document(_ name: String) throws -> JSONValue {
            if let d = documents[name] { return d }
            let d = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: SummarySchemaTests.folder + "/" + name)))
            documents[name] = d
            return d
        }

        /// Errors of `value` against `schema` (in document `file`), with JSON paths.
        mutating func errors(_ value: JSONValue, _ schema: JSONValue, file: String, path: String = "$") throws -> [String] {
            guard case .object(let s) = schema else { return [] }
            var out: [String] = []
            if case .string(let ref)? = s["$ref"] {
                let parts = ref.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let target = parts[0].isEmpty ? file : parts[0]
                var node = try document(target)
                for key in (parts.count > 1 ? parts[1] : "").split(separator: "/") { node = try #require(node[String(key)]) }
                out += try errors(value, node, file: target, path: path)
            }
            if case .array(let all)? = s["allOf"] { for sub in all { out += try errors(value, sub, file: file, path: path) } }
            if case .array(let any)? = s["anyOf"] {
                var ok = false
                for sub in any where try errors(value, sub, file: file, path: path).isEmpty { ok = true; break }
                if !ok { out.append("\(path): matches none of anyOf") }
            }
            if let type = s["type"] {
                let types: [String] = { if case .array(let a) = type { return a.compactMap(\.stringValue) }; return [type.stringValue ?? ""] }()
                if !types.contains(where: { Self.matches(value, $0) }) { out.append("\(path): \(value) is not \(types)") }
            }
            if case .array(let options)? = s["enum"], !options.contains(value) { out.append("\(path): \(value) not in the enum") }
            if case .string(let text) = value, let pattern = s["pattern"]?.stringValue, text.range(of: pattern, options: .regularExpression) == nil {
                out.append("\(path): '\(text)' breaks \(pattern)")
            }
            if case .number(let n) = value {
                if let m = s["minimum"]?.doubleValue, n < m { out.append("\(path): \(n) < \(m)") }
                if let m = s["maximum"]?.doubleValue, n > m { out.append("\(path): \(n) > \(m)") }
            }
            if case .object(let object) = value {
                if case .array(let required)? = s["required"] {
                    for key in required.compactMap(\.stringValue) where object[key] == nil { out.append("\(path): missing \(key)") }
                }
                if let pattern = s["propertyNames"]?["pattern"]?.stringValue {
                    for key in object.keys where key.range(of: pattern, options: .regularExpression) == nil { out.append("\(path): key '\(key)' breaks \(pattern)") }
                }
                for (key, v) in object {
                    if let p = s["properties"]?[key] { out += try errors(v, p, file: file, path: path + "." + key) }
                    else if let extra = s["additionalProperties"] { out += try errors(v, extra, file: file, path: path + "." + key) }
                }
            }
            if case .array(let array) = value, let items = s["items"] {
                for (k, v) in array.enumerated() { out += try errors(v, items, file: file, path: path + "[\(k)]") }
            }
            return out
        }

        static func matches(_ value: JSONValue, _ type: String) -> Bool {
            switch (type, value) {
            case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array), ("object", .object): return true
            case ("integer", .number(let n)): return n.rounded() == n
            default: return false
            }
        }
    }

    func check(_ summary: String, against schema: String) throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: summary)))
        var validator = Validator()
        let errors = try validator.errors(value, try validator.document(schema), file: schema)
        #expect(errors.isEmpty, "\(schema): \(errors.prefix(5))")
    }

    @Test func microstructureSummariesFollowTheirSchemas() throws {
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "40", "--seed", "4") == 0)
        let labels = dir + "/e/phases.tif"
        #expect(run("porosity", labels, "--summary", dir + "/porosity.json") == 0)
        try check(dir + "/porosity.json", against: "porosity.schema.json")
        #expect(run("tortuosity", labels, "--axis", "all", "--summary", dir + "/tortuosity.json") == 0)
        try check(dir + "/tortuosity.json", against: "tortuosity.schema.json")
        #expect(run("tortuosity", labels, "--axis", "z", "--electrode", "--summary", dir + "/electrode.json") == 0)
        try check(dir + "/electrode.json", against: "tortuosity.schema.json")
        #expect(run("particles", labels, "--phase", "active", "--out", dir + "/p.tif", "--csv", dir + "/p.csv", "--summary", dir + "/particles.json") == 0)
        try check(dir + "/particles.json", against: "particles.schema.json")
        #expect(run("thickness", labels, "--phase", "pore", "--out", dir + "/t.tif", "--summary", dir + "/thickness.json") == 0)
        try check(dir + "/thickness.json", against: "thickness.schema.json")
        #expect(run("segment", "phases", dir + "/e/attenuation.tif", "--out", dir + "/s.tif", "--envelope-radius", "3", "--summary", dir + "/segment.json") == 0)
        try check(dir + "/segment.json", against: "segment.schema.json")
        // A phase that does not percolate: τ is null, "percolates" false — still valid.
        let blocked = Grid<UInt8>(shape: Shape(10, 8, 8)) { i in i / 64 == 5 ? 0 : 1 }
        try VolumeIO.write(blocked, to: dir + "/blocked.tif")
        #expect(run("tortuosity", dir + "/blocked.tif", "--phase", "1", "--axis", "z", "--summary", dir + "/blocked.json") == 0)
        try check(dir + "/blocked.json", against: "tortuosity.schema.json")
        // The validator itself rejects a camelCase key and a string where a number belongs.
        try Data(#"{"tortuosityFactor": 1, "phase": 3}"#.utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let bad = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/bad.json")))
        var validator = Validator()
        #expect(try !validator.errors(bad, try validator.document("tortuosity.schema.json"), file: "tortuosity.schema.json").isEmpty)
    }

    @Test func reconSummaryFollowsItsSchema() throws {
        let n = 32
        let slice = AnalyticDiscSlice(discs: [.init(x: 3, y: -2, radius: 9, mu: 0.02)])
        let angles = Array(stride(from: 0.0, to: 180.0, by: 2.0))
        let sinogram = slice.sinogram(anglesDegrees: angles, columns: n, axisColumn: Double(n - 1) / 2)
        let stack = Grid<Float>(shape: Shape(angles.count, 1, n)) { sinogram[linear: $0] }
        try VolumeIO.write(stack, to: dir + "/lines.npy")
        #expect(run("recon", dir + "/lines.npy", "--line-integrals", "--angle-range", "0:180", "--out", dir + "/r.tif", "--summary", dir + "/recon.json") == 0)
        try check(dir + "/recon.json", against: "recon.schema.json")
        #expect(run("recon", dir + "/lines.npy", "--line-integrals", "--angle-range", "0:180", "--out", dir + "/r2.tif", "--algorithm", "sart",
                    "--iterations", "4", "--summary", dir + "/recon_sart.json") == 0)
        try check(dir + "/recon_sart.json", against: "recon.schema.json")
    }

    /// Property names become snake_case with units and acronyms whole: Foundation's strategy
    /// wrote `grid_edges_ke_v` and `resolution_fwhm_ke_v` into the Compton phantom's truth.
    @Test func unitsStayWholeInSnakeCase() throws {
        #expect(JSONOutput.snakeCase("gridEdgesKeV") == "grid_edges_kev")
        #expect(JSONOutput.snakeCase("resolutionFWHMKeV") == "resolution_fwhm_kev")
        #expect(JSONOutput.snakeCase("slopePerKeV2") == "slope_per_kev2")
        #expect(JSONOutput.snakeCase("magnificationPerEV") == "magnification_per_ev")
        #expect(JSONOutput.snakeCase("voxelSizeMicrometres") == "voxel_size_micrometres")
        #expect(JSONOutput.snakeCase("layer2Thickness") == "layer2_thickness")
        #expect(run("phantom", "compton", "--out", dir + "/pc", "--events", "20000") == 0)
        let truth = try String(contentsOfFile: dir + "/pc/truth.json", encoding: .utf8)
        #expect(truth.contains("\"grid_edges_kev\"") && truth.contains("\"resolution_fwhm_kev\"") && !truth.contains("ke_v"))
    }

    /// The other commands' summaries: snake_case all the way down, provenance with notices, and
    /// each command's own fields.
    @Test func everySummaryFollowsTheCommonSchema() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        let spectra = url.appendingPathComponent("shared/data/spectroscopy").path
        #expect(run("phantom", "electrode", "--out", dir + "/e", "--size", "32", "--seed", "2") == 0)
        let labels = dir + "/e/phases.tif"
        var summaries: [String] = []
        /// Runs a command with `--summary NAME.json`; its summary is checked against the common
        /// schema and against `NAME.schema.json`, the command's own.
        func add(_ name: String, _ args: [String]) {
            #expect(CLIRuntime.run(args + ["--summary", dir + "/\(name).json"]) == 0, "\(name)")
            summaries.append(name)
        }
        add("info", ["info", labels])
        add("convert", ["convert", dir + "/e/attenuation.tif", dir + "/a16.tif", "--to-dtype", "uint16", "--rescale", "auto"])
        add("filter", ["filter", dir + "/e/attenuation.tif", "--out", dir + "/f.tif", "--method", "median"])
        add("label", ["label", labels, "--phase", "active", "--out", dir + "/l.tif"])
        add("rev", ["rev", labels, "--phase", "pore"])
        add("network", ["network", labels, "--phase", "pore", "--out", dir + "/network"])
        add("xas", ["xas", spectra + "/larch/cu_rt01.xmu", "--out", dir + "/xas"])
        #expect(run("phantom", "xanes", "--out", dir + "/px", "--size", "32") == 0)
        add("xanes", ["xanes", dir + "/px/stack.h5", "--out", dir + "/xanes"])
        #expect(run("phantom", "compton", "--out", dir + "/pc") == 0)
        add("compton_spectra", ["compton", "spectra", dir + "/pc/region_1.bin", "--out", dir + "/c1.h5"])
        add("compton_analyze", ["compton", "analyze", dir + "/c1.h5", "--out", dir + "/ca", "--slope", "2.3", "--intercept", "0.65"])
        add("phantom_projections", ["phantom", "projections", dir + "/e/attenuation.tif", "--out", dir + "/pp.h5", "--angles", "12"])
        #expect(run("phantom", "xrd", "--out", dir + "/pd", "--patterns", "4") == 0)
        #expect(run("phantom", "xrd", "--out", dir + "/pf", "--patterns", "2", "--detector", "64") == 0)
        add("diffraction_integrate", ["diffraction", "integrate", dir + "/pf/frames.h5", "--poni", dir + "/pf/detector.poni", "--bins", "200", "--out", dir + "/di.h5"])
        add("diffraction_series", ["diffraction", "series", dir + "/pd/patterns.h5", "--phases", dir + "/pd/phases.json", "--out", dir + "/ds"])
        let diffraction = url.appendingPathComponent("shared/data/diffraction").path
        add("diffraction_calibrate", ["diffraction", "calibrate", diffraction + "/xrayutilities/LaB6_d500_si_psd.xye.bz2",
                                      "--calibrant", diffraction + "/pyfai_calibrants/LaB6_SRM660c.D", "--cell", "cubic", "--out", dir + "/dc"])
        #expect(run("phantom", "cell", "--out", dir + "/pcell", "--slices", "2") == 0)
        add("cell", ["cell", dir + "/pcell/cell.tif", "--out", dir + "/cell"])
        for name in summaries {
            try check(dir + "/\(name).json", against: "summary.schema.json")
            try check(dir + "/\(name).json", against: "\(name).schema.json")
        }
    }
}
