import Foundation

/// A path to data: a file, a folder of TIFFs, or an HDF5 dataset written `file.h5:/group/data`.
public struct DatasetReference: Sendable, Equatable, CustomStringConvertible {
    public var filePath: String
    /// The dataset inside an HDF5/NeXus file, if given.
    public var datasetPath: String?

    /// Splits `file.h5:/group/data`; a plain path that exists is never split (file names may
    /// contain colons).
    public init(_ text: String) {
        if FileManager.default.fileExists(atPath: text) {
            filePath = text; datasetPath = nil
        } else if let range = text.range(of: ":/") {
            filePath = String(text[..<range.lowerBound])
            datasetPath = String(text[text.index(after: range.lowerBound)...])
        } else {
            filePath = text; datasetPath = nil
        }
    }

    public init(filePath: String, datasetPath: String?) {
        self.filePath = filePath; self.datasetPath = datasetPath
    }

    public var description: String { datasetPath.map { "\(filePath):\($0)" } ?? filePath }

    /// Lower-case file extension ("h5", "tif", "npy", ...).
    public var fileExtension: String { URL(fileURLWithPath: filePath).pathExtension.lowercased() }
}
