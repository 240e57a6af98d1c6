import Foundation
import LensCore
import LensIO

/// A recipe checked and put in order: each step's workflow, its input files, its output
/// paths in the study folder, and the command line it runs. Everything that can be checked
/// before running is checked here, and every problem is reported in one message (exit 2):
/// unknown workflows, input slots and outputs; missing files; settings the command does not
/// have or values it does not accept; settings the runner owns; repeated step names; cycles;
/// a study folder that is, or holds, an input.
struct StudyPlan {
    struct Step {
        var name: String
        var definition: WorkflowDefinition
        /// Input slot → absolute paths, in slot order.
        var inputs: [(slot: String, paths: [String])]
        /// Steps whose outputs this one reads.
        var upstream: Set<String>
        /// The step's folder and its outputs' paths (name → path).
        var folder: String
        var outputs: [(name: String, path: String)]
        /// The settings as command-line arguments (without inputs and outputs).
        var settingArguments: [String]
        /// The whole command line (without the program name).
        var arguments: [String]
    }

    var recipe: Recipe
    /// Steps in an order where every step comes after the steps it reads from.
    var steps: [Step]

    init(_ recipe: Recipe, quiet: Bool = false, overwrite: Bool = false) throws {
        self.recipe = recipe
        var problems = recipe.problems
        let names = recipe.steps.map(\.name)
        for name in Set(names) where names.filter({ $0 == name }).count > 1 { problems.append("two steps are named '\(name)'; step names are unique") }
        for name in Set(names) where !name.isEmpty && name.contains(where: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) {
            problems.append("step name '\(name)' may hold letters, digits, '_' and '-' only (it names the step's folder)")
        }
        if names.contains("report") { problems.append("step name 'report' is kept for the study's report folder (batterylens report); choose another") }
        let byName = Dictionary(recipe.steps.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var planned: [String: Step] = [:]
        var inputFiles: [String] = []
        for step in recipe.steps where !step.name.isEmpty {
            let here = "step '\(step.name)' (line \(step.line))"
            guard let definition = WorkflowCatalogue.named(step.workflow) else {
                problems.append("\(here): unknown workflow '\(step.workflow)'; workflows are \(WorkflowCatalogue.all.map(\.name).joined(separator: ", "))")
                for case .file(let file) in step.inputs.flatMap(\.sources) where !FileManager.default.fileExists(atPath: InputRecord.filePart(of: recipe.resolve(file: file))) {
                    problems.append("\(here): input \(file) does not exist")
                }
                continue
            }
            let folder = recipe.output + "/" + step.name
            var inputs: [(String, [String])] = []
            var upstream = Set<String>()
            for (slot, sources) in step.inputs {
                guard let input = definition.inputs.first(where: { $0.name == slot }) else {
                    problems.append("\(here): \(definition.name) has no input '\(slot)' (inputs: \(definition.inputs.map(\.name).joined(separator: ", ")))")
                    continue
                }
                if sources.count != 1 && !input.many { problems.append("\(here): input '\(slot)' takes one file, \(sources.count) given") }
                var paths: [String] = []
                for source in sources {
                    switch source {
                    case .file(let file):
                        let path = recipe.resolve(file: file)
                        if !FileManager.default.fileExists(atPath: InputRecord.filePart(of: path)) {
                            problems.append("\(here): input '\(slot)': \(file) does not exist")
                        }
                        inputFiles.append(InputRecord.filePart(of: path))
                        paths.append(path)
                    case .output(let other, let output):
                        guard let producer = byName[other] else { problems.append("\(here): input '\(slot)' is from step '\(other)', which the recipe does not have"); continue }
                        upstream.insert(other)
                        // A producer of unknown workflow is reported on its own; its path stands in.
                        guard let producerDefinition = WorkflowCatalogue.named(producer.workflow) else {
                            paths.append(recipe.output + "/" + other + "/" + output); continue
                        }
                        guard let resolved = producerDefinition.resolve(output: output) else {
                            problems.append("\(here): step '\(other)' (\(producerDefinition.name)) has no output '\(output)' (outputs: \(producerDefinition.outputNames.joined(separator: ", ")))")
                            continue
                        }
                        if other == step.name { problems.append("\(here): input '\(slot)' is the step's own output") }
                        paths.append(recipe.output + "/" + other + "/" + resolved.path)
                    }
                }
                inputs.append((slot, paths))
            }
            // Phase names need a label scheme: from the producing step's output, a sidecar beside
            // a file, or labels_scheme in the settings (checked here, not after hours of work).
            let declaresScheme = step.settings.contains { ["labels_scheme", "labels-scheme"].contains($0.name) }
            let namedPhases = step.settings.filter { setting in
                guard definition.phaseOptions.contains("--" + setting.name.replacingOccurrences(of: "_", with: "-")),
                      case .value(let text) = setting.value else { return false }
                return text.split(separator: ",").contains { Int($0.trimmingCharacters(in: .whitespaces)) == nil }
            }
            if !namedPhases.isEmpty && !declaresScheme, let sources = step.inputs.first(where: { $0.slot == "labels" || $0.slot == "ct" })?.sources {
                for source in sources {
                    var schemeless: String?
                    switch source {
                    case .file(let file):
                        if !FileManager.default.fileExists(atPath: InputRecord.filePart(of: recipe.resolve(file: file)) + ".labels.json") { schemeless = file }
                    case .output(let other, let output):
                        if let producer = byName[other].flatMap({ WorkflowCatalogue.named($0.workflow) }), producer.resolve(output: output) != nil,
                           !producer.isLabelled(output: output) { schemeless = "\(other).\(output) (\(producer.name))" }
                    }
                    if let schemeless {
                        let named = namedPhases.map { setting -> String in
                            if case .value(let text) = setting.value { return "\(setting.name): \(text)" }
                            return setting.name
                        }.joined(separator: ", ")
                        problems.append("\(here): \(named) names phases, but the labels \(schemeless) carry no label scheme; give codes, or declare labels_scheme (a known scheme such as matbox, or pore=0,active=1,binder=2)")
                    }
                }
            }
            var missingInput = false
            for input in definition.inputs where input.required && !step.inputs.contains(where: { $0.slot == input.name }) {
                problems.append("\(here): \(definition.name) needs input '\(input.name)'")
                missingInput = true
            }
            // Settings → options; the runner's own options are refused.
            var settingArguments: [String] = []
            for (name, value) in step.settings {
                let option = "--" + name.replacingOccurrences(of: "_", with: "-")
                if definition.reservedOptions.contains(option) {
                    problems.append("\(here): setting '\(name)' is set by the runner (inputs and outputs are given under inputs and by name)")
                    continue
                }
                switch value {
                case .flag(true): settingArguments.append(option)
                case .flag(false): break
                case .value(let text): settingArguments.append("\(option)=\(text)")
                }
            }
            if quiet { settingArguments.append("--quiet") }
            if overwrite { settingArguments.append("--overwrite") }
            let outputs = definition.outputs.map { ($0.name, folder + "/" + $0.path) } + (definition.summary ? [("summary", folder + "/summary.json")] : [])
            var arguments = definition.command
            // Inputs in the definition's slot order: positional ones first.
            for input in definition.inputs {
                guard let paths = inputs.first(where: { $0.0 == input.name })?.1 else { continue }
                switch input.passing {
                case .positional: arguments += paths
                case .option(let option): for path in paths { arguments += [option, path] }
                }
            }
            // An output whose option is empty is positional (after the inputs, as `convert IN OUT`).
            for output in definition.outputs { arguments += (output.option.isEmpty ? [] : [output.option]) + [folder + "/" + output.path] }
            if definition.summary { arguments += ["--summary", folder + "/summary.json"] }
            arguments += settingArguments
            // The command itself checks the options and their values (without running). It stops
            // at its first problem: when the whole line fails, each setting is tried alone so
            // that every bad one is listed.
            func parseProblem(_ line: [String]) -> String? {
                do { _ = try BatteryLensCommand.parseAsRoot(line); return nil } catch {
                    var message = BatteryLensCommand.message(for: error)
                    if message.hasPrefix("Error: ") { message.removeFirst(7) }
                    return message.split(separator: "\n").first.map(String.init) ?? message
                }
            }
            if parseProblem(arguments) != nil {
                let base = Array(arguments.dropLast(settingArguments.count))
                var found: [String] = []
                if let problem = parseProblem(base) { found.append(problem) }
                for setting in settingArguments {
                    if let problem = parseProblem(base + [setting]), !found.contains(problem) { found.append(problem) }
                }
                if found.isEmpty, let problem = parseProblem(arguments) { found.append(problem) }
                // A missing input is reported above in the recipe's words.
                problems += found.filter { !(missingInput && $0.hasPrefix("Missing expected argument")) }.map { "\(here): \($0)" }
            }
            planned[step.name] = Step(name: step.name, definition: definition, inputs: inputs, upstream: upstream, folder: folder,
                                      outputs: outputs, settingArguments: settingArguments, arguments: arguments)
        }
        // The study folder must not be, or hold, an input (inputs are never written over).
        let study = OutputSafety.resolved(recipe.output)
        for file in Set(inputFiles) {
            let resolved = OutputSafety.resolved(file)
            if resolved == study || resolved.hasPrefix(study + "/") || study.hasPrefix(resolved + "/") {
                problems.append("the study folder \(recipe.output) and the input \(file) overlap; write the study elsewhere (output:)")
            }
        }
        // Order: Kahn's algorithm, recipe order among ready steps; what is left is a cycle.
        var ordered: [Step] = []
        var done = Set<String>()
        var remaining = recipe.steps.map(\.name).filter { planned[$0] != nil }
        while let k = remaining.firstIndex(where: { planned[$0]!.upstream.allSatisfy { done.contains($0) || planned[$0] == nil } }) {
            let name = remaining.remove(at: k)
            ordered.append(planned[name]!)
            done.insert(name)
        }
        if !remaining.isEmpty { problems.append("steps \(remaining.joined(separator: ", ")) read each other's outputs in a cycle") }
        guard problems.isEmpty else {
            throw LensError.invalidArgument("\(recipe.path): \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n  - " + problems.joined(separator: "\n  - "))
        }
        steps = ordered
    }

    /// The steps downstream of `names` (those that read their outputs, directly or not), with them.
    func closure(of names: Set<String>) -> Set<String> {
        var result = names
        var changed = true
        while changed {
            changed = false
            for step in steps where !result.contains(step.name) && !step.upstream.isDisjoint(with: result) {
                result.insert(step.name); changed = true
            }
        }
        return result
    }
}
