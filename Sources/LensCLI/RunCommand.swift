import ArgumentParser
import Foundation
import LensCore

/// `batterylens run RECIPE`: a whole study from a YAML recipe (see ``Recipe``), resumable.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a study recipe (YAML): named steps, each a workflow with its settings and inputs.",
        discussion: """
        The recipe is checked whole before anything runs; every problem is listed (exit 2). Each \
        step writes into STUDY/STEP/ and the study's record into STUDY/study.json. A step whose \
        settings and inputs' content match the last run, and whose outputs exist, is skipped: a \
        study that was interrupted or changed resumes where it must. Workflows: \
        \(WorkflowCatalogue.all.map(\.name).joined(separator: ", ")).
        """)

    @Argument(help: "Recipe file (.yaml).") var recipe: String
    @Option(help: "Study folder (default: the recipe's 'output', beside the recipe).") var output: String?
    @Flag(name: .customLong("dry-run"), help: "Print the plan: what would run and what would be skipped.") var dryRun = false
    @Option(help: "Rerun this step and every step after it that reads its outputs (repeatable).") var force: [String] = []
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let parsed = try Recipe.read(recipe, output: output)
        let plan = try StudyPlan(parsed, quiet: global.quiet, overwrite: global.overwrite)
        if let unknown = force.first(where: { name in !plan.steps.contains { $0.name == name } }) {
            throw LensError.invalidArgument("--force \(unknown): the recipe has no such step (steps: \(plan.steps.map(\.name).joined(separator: ", ")))")
        }
        print("study \(plan.recipe.study): \(plan.steps.count) steps into \(plan.recipe.output)")
        let record = try StudyRunner(plan: plan, force: Set(force), dryRun: dryRun).run()
        let ran = record.steps.filter { $0.status == "ran" }.count, skipped = record.steps.filter { $0.status == "skipped" }.count
        print(dryRun ? "plan only: nothing was run" : "study \(plan.recipe.study): \(ran) step(s) ran, \(skipped) unchanged; record \(plan.recipe.output)/study.json")
    }
}
