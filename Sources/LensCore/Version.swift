/// The software version written into every provenance record and printed by `--version`.
public enum BatteryLensVersion {
    public static let string = "0.1.0"
    public static let name = "BatteryLens"
}
