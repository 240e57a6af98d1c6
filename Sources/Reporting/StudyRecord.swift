import Foundation
import LensCore

/// What `batterylens run` did with each step, written as `study.json` in the study folder
/// after every step (atomically), so a run that is interrupted or killed resumes from it.
public struct StudyRecord: Codable, Equatable, Sendable {
    public struct StepRecord: Codable, Equatable, Sendable {
        public var name: String
        public var workflow: String
        /// The equivalent command line.
        public var command: [String]
        /// SHA-256 over the version, the workflow, its settings and its inputs' content: the
        /// step is skipped when a later run computes the same key and its outputs are there.
        public var key: String?
        /// ran, skipped (unchanged), failed, not run.
        public var status: String
        public var seconds: Double
        public var inputs: [InputRecord]
        public var outputs: [String: String]
        public init(name: String, workflow: String, command: [String], key: String?, status: String, seconds: Double,
                    inputs: [InputRecord], outputs: [String: String]) {
            self.name = name; self.workflow = workflow; self.command = command; self.key = key; self.status = status
            self.seconds = seconds; self.inputs = inputs; self.outputs = outputs
        }
    }
    public var recipe: String
    public var study: String
    public var version: String
    public var startedAt: String
    public var status: String
    public var steps: [StepRecord]
    public init(recipe: String, study: String, version: String, startedAt: String, status: String, steps: [StepRecord]) {
        self.recipe = recipe; self.study = study; self.version = version; self.startedAt = startedAt; self.status = status; self.steps = steps
    }
}

