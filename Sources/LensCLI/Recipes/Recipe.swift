import Foundation
import LensCore
import Yams

/// A study recipe (`batterylens run study.yaml`): named steps, each a workflow of the
/// ``WorkflowCatalogue`` with its settings (the command's options, same names and units) and
/// its inputs — files, or outputs of other steps (`from: recon.volume`).
///
/// ```yaml
/// study: coin-cell-42
/// output: results            # the study folder (default: <recipe name>-study), beside the recipe
/// variables: {voxel: 0.5}
/// steps:
///   - name: scan
///     workflow: phantom projections
///     inputs: {volume: data/attenuation.tif}
///     settings: {angles: 180, voxel_um: ${voxel}}
///   - name: recon
///     workflow: recon
///     inputs: {scan: {from: scan.scan}}
/// ```
struct Recipe {
    /// How a step gets one input file.
    enum Source: Equatable {
        /// A file or folder, relative to the recipe's folder unless absolute.
        case file(String)
        /// An output of another step.
        case output(step: String, name: String)
    }

    /// A setting's value as command-line text; booleans become flags.
    enum Setting: Equatable {
        case flag(Bool)
        case value(String)
    }

    struct Step {
        var name: String
        var workflow: String
        var line: Int
        /// Input slot → its sources (several for a `many` slot), in recipe order.
        var inputs: [(slot: String, sources: [Source])]
        /// Option name as written (`envelope_radius` or `envelope-radius`) → value, in order.
        var settings: [(name: String, value: Setting)]
    }

    /// The recipe file, and the folder its relative paths start from.
    var path: String
    var folder: String { URL(fileURLWithPath: path).deletingLastPathComponent().path }
    var study: String
    /// The study folder (absolute).
    var output: String
    var steps: [Step]

    /// Problems found while reading, with line numbers; the recipe is usable only when empty.
    var problems: [String] = []

    /// Reads `path`: YAML with `study`, `output`, `variables` and `steps`. Every problem of the
    /// file is collected (not only the first); `output` overrides the recipe's study folder.
    static func read(_ path: String, output override: String? = nil) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LensError.badInput(file: path, problem: "no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw LensError.badInput(file: path, problem: "not UTF-8 text") }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw LensError.badInput(file: path, problem: "is empty") }
            root = node
        } catch let error as LensError { throw error } catch {
            throw LensError.badInput(file: path, problem: "not valid YAML: \(error)")
        }
        var problems: [String] = []
        func at(_ node: Node) -> String { node.mark.map { "line \($0.line)" } ?? "recipe" }
        guard let top = root.mapping else { throw LensError.badInput(file: path, problem: "a recipe is a mapping with study, output, variables and steps") }
        var variables: [String: String] = [:]
        var study = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var outputText: String?
        var stepsNode: Node?
        for (keyNode, value) in top {
            let key = keyNode.string ?? ""
            switch key {
            case "study": if let s = value.string { study = s } else { problems.append("\(at(value)): study is a name") }
            case "output": if let s = value.string { outputText = s } else { problems.append("\(at(value)): output is a folder path") }
            case "variables":
                guard let map = value.mapping else { problems.append("\(at(value)): variables is a mapping of names to values"); continue }
                for (k, v) in map {
                    guard let name = k.string, let scalar = v.scalar?.string else { problems.append("\(at(v)): variable values are scalars"); continue }
                    variables[name] = scalar
                }
            case "steps": stepsNode = value
            default: problems.append("\(at(keyNode)): unknown key '\(key)' (a recipe has study, output, variables, steps)")
            }
        }
        /// `${name}` replaced by the variable's value; unknown names are problems.
        func substitute(_ text: String, _ node: Node) -> String {
            var out = "", rest = Substring(text)
            while let open = rest.range(of: "${") {
                out += rest[..<open.lowerBound]
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else { out += rest[open.lowerBound...]; rest = ""; break }
                let name = String(rest[open.upperBound..<close])
                if let value = variables[name] { out += value } else {
                    problems.append("\(at(node)): unknown variable '\(name)' (variables: \(variables.keys.sorted().joined(separator: ", ")))")
                }
                rest = rest[rest.index(after: close)...]
            }
            return out + rest
        }
        var steps: [Step] = []
        if let stepsNode {
            guard let list = stepsNode.sequence else { throw LensError.badInput(file: path, problem: "\(at(stepsNode)): steps is a list") }
            for node in list {
                guard let map = node.mapping else { problems.append("\(at(node)): a step is a mapping with name, workflow, inputs, settings"); continue }
                var step = Step(name: "", workflow: "", line: node.mark?.line ?? 0, inputs: [], settings: [])
                for (keyNode, value) in map {
                    switch keyNode.string ?? "" {
                    case "name": step.name = value.string ?? ""
                    case "workflow": step.workflow = value.string ?? ""
                    case "inputs":
                        guard let inputs = value.mapping else { problems.append("\(at(value)): inputs is a mapping of slot names to files or {from: step.output}"); continue }
                        for (slotNode, sourceNode) in inputs {
                            let items = sourceNode.sequence.map(Array.init) ?? [sourceNode]
                            var sources: [Source] = []
                            for item in items {
                                if let text = item.string {
                                    sources.append(.file(substitute(text, item)))
                                } else if let from = item.mapping?["from"]?.string {
                                    let parts = substitute(from, item).split(separator: ".", maxSplits: 1).map(String.init)
                                    if parts.count == 2 { sources.append(.output(step: parts[0], name: parts[1])) } else {
                                        problems.append("\(at(item)): 'from: \(from)' names STEP.OUTPUT")
                                    }
                                } else {
                                    problems.append("\(at(item)): an input is a file path or {from: STEP.OUTPUT}")
                                }
                            }
                            step.inputs.append((slotNode.string ?? "", sources))
                        }
                    case "settings":
                        guard let settings = value.mapping else { problems.append("\(at(value)): settings is a mapping of option names to values"); continue }
                        for (nameNode, valueNode) in settings {
                            let name = nameNode.string ?? ""
                            if let bool = valueNode.bool, valueNode.tag.description.hasSuffix("bool") {
                                step.settings.append((name, .flag(bool)))
                            } else if let scalar = valueNode.scalar {
                                step.settings.append((name, .value(substitute(scalar.string, valueNode))))
                            } else if let list = valueNode.sequence {
                                let values = list.compactMap { $0.scalar.map { substitute($0.string, valueNode) } }
                                step.settings.append((name, .value(values.joined(separator: ","))))
                            } else {
                                problems.append("\(at(valueNode)): setting \(name) is a value or a list of values")
                            }
                        }
                    case let other: problems.append("\(at(keyNode)): unknown step key '\(other)' (a step has name, workflow, inputs, settings)")
                    }
                }
                if step.name.isEmpty { problems.append("line \(step.line): a step needs a name") }
                if step.workflow.isEmpty { problems.append("line \(step.line): step '\(step.name)' needs a workflow") }
                steps.append(step)
            }
        } else {
            problems.append("the recipe has no steps")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let outputPath = override ?? outputText.map { substitute($0, root) } ?? (study + "-study")
        let output = outputPath.hasPrefix("/") ? outputPath : URL(fileURLWithPath: folder).appendingPathComponent(outputPath).standardized.path
        return Recipe(path: path, study: study, output: output, steps: steps, problems: problems)
    }

    /// A file source's path: relative to the recipe's folder unless absolute.
    func resolve(file: String) -> String {
        file.hasPrefix("/") ? file : URL(fileURLWithPath: folder).appendingPathComponent(file).standardized.path
    }
}
