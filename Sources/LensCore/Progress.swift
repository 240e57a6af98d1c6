import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How long-running work reports progress on stderr.
public enum ProgressMode: Sendable, Equatable {
    /// A bar redrawn in place (`\r`), for an interactive terminal.
    case bar
    /// Plain lines at most every `intervalSeconds` (and at the end), for logs and pipes.
    case lines(intervalSeconds: Double)
    /// Nothing (`--quiet`).
    case silent

    /// The bar when stderr is a terminal, periodic lines otherwise, nothing when quiet.
    public static func automatic(quiet: Bool) -> ProgressMode {
        if quiet { return .silent }
        return isatty(STDERR_FILENO) != 0 ? .bar : .lines(intervalSeconds: 5)
    }
}

/// Process-wide progress settings; the CLI sets `mode` once from `--quiet`.
public enum ProgressSettings {
    private static let state = Mutex<ProgressMode>(.automatic(quiet: false))
    public static var mode: ProgressMode {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    private static let contextState = Mutex<String?>(nil)
    /// What the work belongs to, shown before every label: `batterylens run` sets the study
    /// step ("step 3/7 recon"), so one display says where the whole study is.
    public static var context: String? {
        get { contextState.withLock { $0 } }
        set { contextState.withLock { $0 = newValue } }
    }
}

/// Counts units of work done (slabs, projections, spectra) from any thread and shows it.
///
/// Thread-safe; rendering is throttled (10 redraws per second for the bar, one line per
/// interval otherwise) so reporting costs nothing measurable in hot loops.
public final class ProgressReporter: Sendable {
    public let label: String
    public let total: Int
    private let mode: ProgressMode
    private let output: @Sendable (String) -> Void
    private struct State { var done = 0; var lastRender = 0.0; var finished = false; var rendered = false }
    private let state = Mutex(State())
    private let start = Date()

    /// - Parameters:
    ///   - label: what is being done, e.g. "reconstructing slices".
    ///   - total: units of work; progress is `done / total`. 0: open-ended work (an iterative
    ///     solve that stops when it has converged): the units are counted and the time shown,
    ///     with no percentage and no time left (a budget would promise a wrong one).
    ///   - mode: defaults to ``ProgressSettings/mode``.
    ///   - output: where rendered text goes; stderr by default (tests pass a collector).
    public init(label: String, total: Int, mode: ProgressMode? = nil,
                output: (@Sendable (String) -> Void)? = nil) {
        self.label = ProgressSettings.context.map { "\($0) · \(label)" } ?? label
        self.total = Swift.max(0, total)
        self.mode = mode ?? ProgressSettings.mode
        self.output = output ?? { text in FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// Marks `n` more units done.
    public func advance(by n: Int = 1) {
        guard mode != .silent else { return }
        let now = Date().timeIntervalSince(start)
        let text: String? = state.withLock { s in
            s.done = total > 0 ? Swift.min(total, s.done + n) : s.done + n
            switch mode {
            case .bar:
                guard now - s.lastRender >= 0.1 || (total > 0 && s.done == total) else { return nil }
                s.lastRender = now
                s.rendered = true
                return "\r" + renderBar(done: s.done, elapsed: now)
            case let .lines(interval):
                guard now - s.lastRender >= interval, total == 0 || s.done < total else { return nil }
                s.lastRender = now
                s.rendered = true
                return renderLine(done: s.done, elapsed: now) + "\n"
            case .silent:
                return nil
            }
        }
        if let text { output(text) }
    }

    /// Ends the report: completes the bar with a newline, or prints a final line.
    public func finish() {
        guard mode != .silent else { return }
        let now = Date().timeIntervalSince(start)
        let text: String? = state.withLock { s in
            guard !s.finished else { return nil }
            s.finished = true
            switch mode {
            case .bar: return "\r" + renderBar(done: s.done, elapsed: now) + "\n"
            // Work that finished before the first periodic line leaves no line in the log.
            case .lines: return s.rendered ? renderLine(done: s.done, elapsed: now) + "\n" : nil
            case .silent: return nil
            }
        }
        if let text { output(text) }
    }

    /// Units done so far.
    public var completed: Int { state.withLock { $0.done } }

    private func fraction(_ done: Int) -> Double { total > 0 ? Double(done) / Double(total) : 1 }

    private func renderBar(done: Int, elapsed: Double) -> String {
        if total == 0 { return "\(label): \(done) \(String(format: "%.1f s", elapsed))" }
        let width = 30
        let f = fraction(done)
        let filled = Int((f * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        return "\(label) [\(bar)] \(percent(f)) \(done)/\(total) \(timing(f, elapsed))"
    }

    private func renderLine(done: Int, elapsed: Double) -> String {
        if total == 0 { return "\(label): \(done) \(String(format: "%.1f s", elapsed))" }
        return "\(label): \(percent(fraction(done))) (\(done)/\(total)) \(timing(fraction(done), elapsed))"
    }

    private func percent(_ f: Double) -> String { String(format: "%3.0f%%", f * 100) }

    private func timing(_ f: Double, _ elapsed: Double) -> String {
        if f >= 1 { return String(format: "in %.1f s", elapsed) }
        guard f > 0 else { return String(format: "%.1f s", elapsed) }
        return String(format: "%.1f s, about %.0f s left", elapsed, elapsed * (1 - f) / f)
    }
}
