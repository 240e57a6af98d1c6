// One import for users who want everything: `import BatteryLens`.
// Each domain module stays importable on its own.
@_exported import Compton
@_exported import ComptonFiles
@_exported import Damage
@_exported import CellInspection
@_exported import Diffraction
@_exported import DiffractionFiles
@_exported import Demo
@_exported import ImageAnalysis
@_exported import LensCore
@_exported import LensIO
@_exported import Microstructure
@_exported import Phantoms
@_exported import Pipeline
@_exported import Signal
@_exported import Tomography
@_exported import Spectroscopy
@_exported import SpectroscopyFiles
@_exported import Reporting
