import ArgumentParser
import CLensSystem
import Foundation
import Synchronization
import LensCore
import LensIO
import Spectroscopy
import SpectroscopyFiles
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
        Notices.reset()
        DeclaredEnergyUnit.current = nil
        var parsed: ParsableCommand
        do {
            parsed = try BatteryLensCommand.parseAsRoot(arguments)
        } catch {
            return report(error, parsing: true)
        }
        // A command group without its subcommand (`batterylens`, `batterylens segment`) is a
        // usage error: the help goes to stderr and the exit code is 2.
        if !type(of: parsed).configuration.subcommands.isEmpty {
            FileHandle.standardError.write(Data((BatteryLensCommand.helpMessage(for: type(of: parsed)) + "\n").utf8))
            return 2
        }
        defer { StandardOutput.restore() }
        do {
            try parsed.run()
            return 0
        } catch {
            // Errors of the work itself: a file-system error from Foundation names its file
            // (exit 1), never a raw "NSCocoaErrorDomain Code=…" usage message.
            return report(FileSystemError.lensError(error) ?? error)
        }
    }

    /// Runs with the arguments' raw bytes (see ``RawArguments``): names that are not UTF-8 are
    /// reached through links in a private folder, removed when the run ends.
    public static func run(rawArguments argv: [[UInt8]]) -> Int32 {
        let folder = NSTemporaryDirectory() + "batterylens-arguments-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { TemporaryFiles.remove(folder) }
        do {
            return run(try RawArguments.decode(argv, linkFolder: folder))
        } catch {
            return report(error, parsing: true)
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

    /// The signal sources (kept alive for the life of the process) and the signals received.
    private struct SignalState: @unchecked Sendable {   // DispatchSourceSignal is thread-safe
        var sources: [DispatchSourceSignal] = []
        var interrupts = 0
    }
    private static let signals = Mutex(SignalState())

    /// Installs the interrupt handling: SIGINT (Ctrl-C), SIGTERM and SIGHUP each cancel the
    /// work cleanly the first time (it stops between slabs, removes its staged outputs and exits
    /// 130); a second signal removes every temporary this process holds and exits at once.
    /// Only SIGKILL (or a power loss) can leave temporaries (`.batterylens-PID-…`), and the next run
    /// that writes into the same folder removes those of processes that no longer run.
    /// Restarts the process once with glibc's malloc asking for transparent huge pages (the
    /// tunable glibc.malloc.hugetlb=1; see `lens_prefer_huge_pages`), before anything else runs.
    /// A solver's fresh arrays then fault in 2 MiB pages, not 4 KiB ones: on TauFactor's 256³
    /// electrode (`tortuosity --axis z`, 2 cores, this project's VMs) 271 686 → ~4 300 page
    /// faults and 2.4–2.6 s → 2.0 s for the whole command (page zeroing had been a quarter of
    /// its CPU time). Off with BATTERYLENS_HUGE_PAGES=0; nothing changes where the kernel
    /// offers no huge pages.
    public static func preferHugePages() {
        lens_prefer_huge_pages(CommandLine.unsafeArgv)
    }

    public static func installInterruptHandler() {
        let queue = DispatchQueue(label: "batterylens.signals")
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                let interrupts = signals.withLock { $0.interrupts += 1; return $0.interrupts }
                if interrupts == 1 {
                    CLIRuntime.cancellation.cancel()
                    printError("interrupted; stopping and removing partial outputs (signal again to stop at once)")
                } else {
                    TemporaryFiles.removeAll()
                    exit(128 + signalNumber)
                }
            }
            source.resume()
            signals.withLock { $0.sources.append(source) }
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data(("batterylens: error: " + message + "\n").utf8))
    }
}

/// Command-line arguments whose bytes are not UTF-8. Swift strings hold only valid Unicode,
/// so such a file name would silently become another name (with U+FFFD). An existing input
/// named that way is reached through a symbolic link with a UTF-8 name, in a private folder
/// removed when the run ends; any other such argument (an output name, say) is refused with a
/// message, never renamed.
public enum RawArguments {
    /// The arguments (without the program name), or a usage error naming the one that cannot
    /// be used. `linkFolder` receives the links (created on first need).
    public static func decode(_ argv: [[UInt8]], linkFolder: String) throws -> [String] {
        var result: [String] = []
        for (index, bytes) in argv.enumerated() {
            if let text = String(validating: bytes, as: UTF8.self) { result.append(text); continue }
            guard let link = try linkToExisting(bytes, index: index, folder: linkFolder) else {
                throw LensError.invalidArgument("argument \(index + 1) ('\(String(decoding: bytes, as: UTF8.self))') is not valid UTF-8 and names no existing file: "
                    + "BatteryLens cannot write a file under that exact name; choose a UTF-8 name")
            }
            result.append(link)
        }
        return result
    }

    /// A UTF-8 path that reaches the file `bytes` names (a `:/dataset` suffix kept), or nil.
    static func linkToExisting(_ bytes: [UInt8], index: Int, folder: String) throws -> String? {
        var candidates: [(file: [UInt8], suffix: String)] = [(bytes, "")]
        // file.h5:/dataset — the dataset part is UTF-8 (HDF5 names are).
        if let colon = bytes.indices.first(where: { bytes[$0] == 0x3A && $0 + 1 < bytes.count && bytes[$0 + 1] == 0x2F }),
           let suffix = String(validating: bytes[colon...], as: UTF8.self) {
            candidates.append((Array(bytes[..<colon]), suffix))
        }
        for (file, suffix) in candidates {
            var info = stat()
            let exists = (file + [0]).withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &info) == 0 } }
            guard exists else { continue }
            if !FileManager.default.fileExists(atPath: folder) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
                TemporaryFiles.register(folder)
            }
            // Keep the extension (the format follows it) when it is readable text.
            let lastDot = file.lastIndex(of: 0x2E).flatMap { dot in file[(dot + 1)...].contains(0x2F) ? nil : dot }
            let ext = lastDot.flatMap { String(validating: file[$0...], as: UTF8.self) } ?? ""
            // An absolute target, so the link works from its own folder.
            var target = file
            if target.first != 0x2F {
                target = Array(FileManager.default.currentDirectoryPath.utf8) + [0x2F] + target
            }
            let link = folder + "/argument-\(index + 1)" + ext
            let made = (target + [0]).withUnsafeBufferPointer { t in
                t.withMemoryRebound(to: CChar.self) { symlink($0.baseAddress!, link) == 0 }
            }
            guard made else { throw LensError.badInput(file: String(decoding: file, as: UTF8.self), problem: "cannot reach a file whose name is not UTF-8") }
            // Messages name the file as the user gave it (undecodable bytes shown as �).
            TemporaryFiles.register(link, becoming: String(decoding: file, as: UTF8.self))
            return link + suffix
        }
        return nil
    }
}
