import Foundation
import LensCLI

CLIRuntime.preferHugePages()
CLIRuntime.installInterruptHandler()
// The arguments' own bytes: a file name that is not UTF-8 must still open (RawArguments).
let argv = (1..<Int(CommandLine.argc)).map { Array(UnsafeBufferPointer(start: CommandLine.unsafeArgv[$0], count: strlen(CommandLine.unsafeArgv[$0]!)))
    .map { UInt8(bitPattern: $0) } }
exit(CLIRuntime.run(rawArguments: argv))
