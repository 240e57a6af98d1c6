import ArgumentParser
import Compton
import Damage
import Demo
import LensIO
import Microstructure
import Pipeline
import Signal
import Spectroscopy
import SpectroscopyFiles
import Tomography

// Closed sets of choices are types: `--help` lists them and a typo is a usage error (exit 2)
// before any work starts.

/// Axis names of the CLI (``SliceAxis``): z = the slowest axis (TIFF pages, HDF5 axis 0), y,
/// x = the fastest. TauFactor's "x" is the first array axis, i.e. our z.
extension SliceAxis: ExpressibleByArgument {}

/// One axis, or all three.
enum AxesName: String, CaseIterable, ExpressibleByArgument {
    case z, y, x, all
    var indices: [Int] { self == .all ? [0, 1, 2] : [SliceAxis(rawValue: rawValue)!.index] }
}

enum FilterMethodName: String, CaseIterable, ExpressibleByArgument { case median, gaussian, unsharp, bilateral, nlm }
enum PhaseRetrievalName: String, CaseIterable, ExpressibleByArgument { case none, paganin, ctf }
enum AngleUnitName: String, CaseIterable, ExpressibleByArgument { case deg, rad }
enum StackAlignmentName: String, CaseIterable, ExpressibleByArgument { case none, chained, anchor }

extension FilterWindow: ExpressibleByArgument {}
extension CentreMethod: ExpressibleByArgument {}
extension ElectrodeSegmentation.Region: ExpressibleByArgument {}
extension CrackSettings.FieldOfView: ExpressibleByArgument {}
extension StripeRemovalMethod: ExpressibleByArgument {}
extension ReconstructionAlgorithm: ExpressibleByArgument {}
extension AlignmentSettings.Markers: ExpressibleByArgument {}
extension Colormap: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}
extension ChargeSharingCorrection: ExpressibleByArgument {}

/// `--energy-unit ev|kev`.
extension EnergyUnit: ExpressibleByArgument {
    public init?(argument: String) { self.init(declared: argument) }
    public static var allValueStrings: [String] { ["ev", "kev"] }
    public var defaultValueDescription: String { rawValue.lowercased() }
}
extension VolumeRegistrationSettings.Model: ExpressibleByArgument {}
extension VolumeRegistration.Interpolation: ExpressibleByArgument {}
extension ImpedanceSettings.Outlet: ExpressibleByArgument {}
extension DemoStudy.Size: ExpressibleByArgument {}
