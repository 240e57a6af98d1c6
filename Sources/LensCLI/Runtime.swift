import ArgumentParser
import Foundation
import LensCore
import LensIO
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide state of the command-line program.
public enum CLIRuntime {
    /// Set by Ctrl-C: long work stops between slabs and removes its partial outputs.
    public static let cancellation = CancellationToken()

    /// Parses and runs `arguments` (without the program name); returns the exit code:
    /// 0 success, 1 bad input or output, 2 usage error, 130 interrupted. Errors are printed
    /// to stderr as one line naming the file and the problem.
    public static func run(_ arguments: [String]) -> Int32 {
        var parsed: ParsableCommand
        do {
            parsed = try BatteryLensCommand.parseAsRoot(arguments)
        } catch {
            return report(error, parsing: true)
        }
        do {
            try parsed.run()
            return 0
        } catch {
            // Errors of the work itself: a file-system error from Foundation names its file
            // (exit 1), never a raw "NSCocoaErrorDomain Code=…" usage message.
            return report(FileSystemError.lensError(error) ?? error)
        }
    }

    /// Prints `error` as one line and returns its exit code.
    /// While `parsing`, every error but a clean exit (help, version) is a usage error.
    static func report(_ error: Error, parsing: Bool = false) -> Int32 {
        do { throw error } catch let error as LensError {
            printError(TemporaryFiles.publicText(error.description))
            switch error {
            case .invalidArgument: return 2
            case .cancelled: return 130
            default: return 1
            }
        } catch {
            let code = BatteryLensCommand.exitCode(for: error)
            if code == .success {
                print(BatteryLensCommand.fullMessage(for: error))
                return 0
            }
            // Argument-parser errors (unknown option, missing argument, bad value) are usage
            // errors; anything else reaching here is a failure of the work (exit 1).
            var message = BatteryLensCommand.fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst(7) }
            printError(message)
            return parsing || code == .validationFailure ? 2 : 1
        }
    }

    /// The signal sources (kept alive for the life of the process).
    nonisolated(unsafe) private static var signalSources: [DispatchSourceSignal] = []
    nonisolated(unsafe) private static var interrupts = 0

    /// Installs the interrupt handling: SIGINT (Ctrl-C), SIGTERM and SIGHUP each cancel the
    /// work cleanly the first time (it stops between slabs, removes its staged outputs and exits
    /// 130); a second signal removes every temporary this process holds and exits at once.
    /// Only SIGKILL (or a power loss) can leave temporaries (`.batterylens-PID-…`), and the next run
    /// that writes into the same folder removes those of processes that no longer run.
    public static func installInterruptHandler() {
        let queue = DispatchQueue(label: "batterylens.signals")
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                interrupts += 1
                if interrupts == 1 {
                    CLIRuntime.cancellation.cancel()
                    printError("interrupted; stopping and removing partial outputs (signal again to stop at once)")
                } else {
                    TemporaryFiles.removeAll()
                    exit(128 + signalNumber)
                }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data(("batterylens: error: " + message + "\n").utf8))
    }
}
