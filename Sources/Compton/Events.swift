import Dispatch
import Foundation
import LensCore

/// One recorded photon of an energy-resolving pixel detector (HEXITEC-like CdZnTe), the format
/// BatteryLens writes and reads as binary: 12 bytes little-endian — frame UInt32, row UInt16,
/// column UInt16, energy Float32 (keV, or ADU before calibration).
public struct PhotonEvent: Sendable, Equatable {
    public var frame: UInt32
    public var row: UInt16
    public var column: UInt16
    /// keV once calibrated; detector units (ADU) in uncalibrated lists.
    public var energyKeV: Float
    public init(frame: UInt32, row: UInt16, column: UInt16, energyKeV: Float) {
        self.frame = frame; self.row = row; self.column = column; self.energyKeV = energyKeV
    }
    public static let byteSize = 12

    /// Whether the struct's memory is the file record byte for byte (checked, not assumed:
    /// field offsets 0, 4, 6, 8, stride 12, little-endian host), so records can be read into
    /// it directly.
    public static let matchesRecordLayout: Bool = {
        MemoryLayout<PhotonEvent>.stride == byteSize && MemoryLayout<PhotonEvent>.offset(of: \.frame) == 0
            && MemoryLayout<PhotonEvent>.offset(of: \.row) == 4 && MemoryLayout<PhotonEvent>.offset(of: \.column) == 6
            && MemoryLayout<PhotonEvent>.offset(of: \.energyKeV) == 8 && 1.littleEndian == 1
    }()

    /// Appends the 12-byte record.
    public func append(to bytes: inout [UInt8]) {
        withUnsafeBytes(of: frame.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: row.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: column.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: energyKeV.bitPattern.littleEndian) { bytes += $0 }
    }
}
