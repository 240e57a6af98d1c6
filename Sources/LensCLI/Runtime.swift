import ArgumentParser
import Foundation
import LensCore
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
        do {
            var command = try BatteryLensCommand.parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as LensError {
            printError(error.description)
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
            // Argument-parser errors (unknown option, missing argument, bad value) are usage errors.
            var message = BatteryLensCommand.fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst(7) }
            printError(message)
            return 2
        }
    }

    /// Installs the Ctrl-C handler (first Ctrl-C cancels cleanly, a second one kills).
    public static func installInterruptHandler() {
        signal(SIGINT) { _ in
            CLIRuntime.cancellation.cancel()
            signal(SIGINT, SIG_DFL)
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data(("batterylens: error: " + message + "\n").utf8))
    }
}
