import Foundation
import LensCore

/// Foundation's file errors (CocoaError, POSIX errors) as BatteryLens errors: one line naming
/// the file and the problem ("No space left on device"), instead of "The operation could not
/// be completed. (NSCocoaErrorDomain error 642.)".
public enum FileSystemError {
    /// A ``LensError`` for a Foundation file error, or nil if `error` is not one.
    public static func lensError(_ error: Error) -> LensError? {
        if let lens = error as? LensError { return lens }
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
        var reason: String
        if let underlying, underlying.domain == NSPOSIXErrorDomain, let code = Int32(exactly: underlying.code) {
            reason = String(cString: strerror(code))
        } else if ns.domain == NSPOSIXErrorDomain, let code = Int32(exactly: ns.code) {
            reason = String(cString: strerror(code))
        } else {
            switch ns.code {
            case CocoaError.fileWriteOutOfSpace.rawValue: reason = "no space left on the device"
            case CocoaError.fileWriteNoPermission.rawValue, CocoaError.fileReadNoPermission.rawValue: reason = "permission denied"
            case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue: reason = "no such file"
            case CocoaError.fileWriteVolumeReadOnly.rawValue: reason = "the file system is read-only"
            default: reason = ns.localizedDescription
            }
        }
        let isWrite = (CocoaError.fileWriteUnknown.rawValue...CocoaError.fileWriteVolumeReadOnly.rawValue).contains(ns.code)
            || ns.code == CocoaError.fileWriteOutOfSpace.rawValue
        let file = path ?? "a file"
        return isWrite ? .badOutput(file: file, problem: reason) : .badInput(file: file, problem: reason)
    }
}
