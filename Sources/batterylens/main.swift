import Foundation
import LensCLI

CLIRuntime.installInterruptHandler()
exit(CLIRuntime.run(Array(CommandLine.arguments.dropFirst())))
