import Foundation
import Synchronization

/// Things a user must know about a result that is not an error: a voxel size that was
/// declared over the file's, a missing wedge that biases values, a best centre at the edge of
/// the searched range. Each is printed once on stderr as `note: …` and kept, so a command's
/// summary can list them (`"notices"`).
public enum Notices {
    private static let state = Mutex<[String]>([])
    private static let printerState = Mutex<@Sendable (String) -> Void>({ text in
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
    })
    /// Where notes go; tests may swap it.
    public static var printer: @Sendable (String) -> Void {
        get { printerState.withLock { $0 } }
        set { printerState.withLock { $0 = newValue } }
    }

    public static func emit(_ text: String) {
        let isNew = state.withLock { list -> Bool in
            guard !list.contains(text) else { return false }
            list.append(text)
            return true
        }
        if isNew { printer(text) }
    }

    /// Every note emitted so far in this process.
    public static var all: [String] { state.withLock { $0 } }

    /// Forgets the notes (a new command in the same process, as in tests).
    public static func reset() { state.withLock { $0.removeAll() } }
}
