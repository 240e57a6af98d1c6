import Foundation
import LensCore
import LensIO
import Spectroscopy

/// Where a XANES run's stack comes from, as slabs along the frame's first axis (z of a 3D
/// stack): held in memory as one slab (2D stacks, text images, aligned stacks, stacks that fit
/// in a quarter of the machine's memory), or streamed from disk in z-slabs (a 3D stack given as
/// one volume per energy or one 4D NPY/HDF5 file) with I0 and dark as one value per energy or
/// as volumes that stream the same way. Either way a slab comes out dark-subtracted, as
/// intensity (optical density converted back), with its I0 beside it.
struct XANESStackSource {
    let energies: [Double]
    /// Where the energies came from (a file, a dataset, or the stack's metadata).
    let energySource: String
    /// (energy, …) and its geometry (the energy axis uncalibrated).
    let stackShape: Shape, stackGeometry: GridGeometry
    let plan: XANESSlabPlan
    let alignment: StackAlignment?
    private let storage: Storage

    var frameShape: Shape { Shape(Array(stackShape.dims.dropFirst())) }
    var frameGeometry: GridGeometry { stackGeometry.sliceGeometry }
    /// Ranges of the frame's first axis, in order, covering it.
    var slabs: [Range<Int>] {
        stride(from: 0, to: frameShape[0], by: plan.thickness).map { $0..<min(frameShape[0], $0 + plan.thickness) }
    }

    /// A per-energy correction (I0 or dark) of a streamed stack.
    private enum Correction {
        case none
        case perEnergy([Double])
        case volumes([VolumeReader])
    }

    private enum Storage {
        case loaded(intensity: Grid<Float>, flat: Grid<Float>?)
        case streamed(stack: [VolumeReader], flat: Correction, dark: Correction, opticalDensity: Bool)
    }

    init(inputs: XANESInputs, options: XANESOptions, progress: (String, Int) -> ProgressReporter?) throws {
        if let readers = try Self.streamable(inputs), let megabytes = Self.slabMegabytes(readers: readers, options: options) {
            guard options.alignment == nil else {
                throw LensError.invalidArgument("aligning the energies needs the whole stack in memory: give no slab size (or one large enough for the stack), or align a sub-volume first")
            }
            let shape = readers[0].info.shape
            for reader in readers where reader.info.shape != shape {
                throw LensError.badInput(file: reader.source, problem: "shape \(reader.info.shape) differs from the first energy's \(shape)")
            }
            let ne = readers.count
            (energies, energySource) = try XANESWorkflow.energies(inputs.energiesPath, stackPaths: inputs.stackPaths, count: ne)
            func correction(_ path: String?, _ what: String) throws -> Correction {
                guard let path else { return .none }
                if XANESWorkflow.textFlatExtensions.contains(URL(fileURLWithPath: path).pathExtension.lowercased()) {
                    return .perEnergy(try XANESWorkflow.perEnergyValues(path, count: ne))
                }
                guard let volumes = try XANESWorkflow.energyVolumeReaders([path]) else {
                    throw LensError.badInput(file: path, problem: "a stack streamed in slabs takes \(what) as one value per energy (a text file) or as a 4D (energy, z, y, x) NPY or HDF5 file; give a slab size large enough to hold the stack to use this file")
                }
                guard volumes.count == ne, volumes.allSatisfy({ $0.info.shape == shape }) else {
                    throw LensError.badInput(file: path, problem: "\(what) has \(volumes.count) volumes of shape \(volumes[0].info.shape); the stack \(ne) of \(shape)")
                }
                return .volumes(volumes)
            }
            if inputs.opticalDensity, inputs.darkPath != nil { throw LensError.invalidArgument("a dark signal does not apply to an optical-density stack") }
            let flat = inputs.opticalDensity ? Correction.none : try correction(inputs.flatPath, "I0")
            let dark = try correction(inputs.darkPath, "the dark signal")
            storage = .streamed(stack: readers, flat: flat, dark: dark, opticalDensity: inputs.opticalDensity)
            stackShape = Shape([ne] + shape.dims)
            let g = readers[0].info.geometry
            stackGeometry = GridGeometry(voxelSizeMicrometres: [1] + g.voxelSizeMicrometres, originMicrometres: [0] + g.originMicrometres, isCalibrated: g.isCalibrated)
            let plane = shape[1] * shape[2]
            let thickness = max(1, min(shape[0], megabytes << 20 / max(1, ne * plane * XANESWorkflow.bytesPerStackValue)))
            plan = XANESSlabPlan(count: (shape[0] + thickness - 1) / thickness, thickness: thickness, megabytes: megabytes)
            alignment = nil
        } else {
            var stack = try XANESWorkflow.readStack(inputs.stackPaths)
            (energies, energySource) = try XANESWorkflow.energies(inputs.energiesPath, stackPaths: inputs.stackPaths, count: stack.shape[0])
            var flat = try inputs.flatPath.map { try XANESWorkflow.readFlat($0, stackShape: stack.shape) }
            if let darkPath = inputs.darkPath {
                guard !inputs.opticalDensity else { throw LensError.invalidArgument("a dark signal does not apply to an optical-density stack") }
                let dark = try XANESWorkflow.readFlat(darkPath, stackShape: stack.shape)
                stack = Grid(shape: stack.shape, geometry: stack.geometry, elements: zip(stack.elements, dark.elements).map { $0 - $1 })
                flat = flat.map { f in Grid(shape: f.shape, geometry: f.geometry, elements: zip(f.elements, dark.elements).map { $0 - $1 }) }
            }
            if inputs.opticalDensity {
                stack = stack.map { Float(exp(-Double($0))) }
                flat = nil
            }
            var aligned: StackAlignment?
            if let settings = options.alignment {
                // Align transmission: I/I0 removes the beam profile, which does not move with the sample.
                let transmission = flat.map { f in Grid(shape: stack.shape, geometry: stack.geometry, elements: zip(stack.elements, f.elements).map { $1 > 0 ? $0 / $1 : .nan }) } ?? stack
                let reporter = progress("aligning energies", stack.shape[0])
                defer { reporter?.finish() }
                let result = try StackAligner.align(stack: transmission, energies: energies, settings: settings, progress: reporter)
                aligned = result
                stack = result.aligned
                flat = nil
            }
            alignment = aligned
            storage = .loaded(intensity: stack, flat: flat)
            stackShape = stack.shape; stackGeometry = stack.geometry
            plan = XANESSlabPlan(count: 1, thickness: stack.shape[1], megabytes: nil)
        }
        if options.writeNormalizedStack && stackShape.rank != 3 {
            throw LensError.invalidArgument("the normalized stack of a 3D stack has four axes (energy, z, y, x), which a TIFF cannot hold: write it for 2D stacks only")
        }
    }

    /// The slab `z` of the frame's first axis: intensity (energy, z…, …) and I0 beside it (nil:
    /// the intensity is already I/I0).
    func read(_ z: Range<Int>) throws -> (intensity: Grid<Float>, flat: Grid<Float>?) {
        switch storage {
        case let .loaded(intensity, flat):
            precondition(z == 0..<stackShape[1], "a stack held in memory is one slab")
            return (intensity, flat)
        case let .streamed(readers, flatCorrection, darkCorrection, opticalDensity):
            let ne = readers.count
            let shape = Shape([ne, z.count] + Array(stackShape.dims.dropFirst(2)))
            let perEnergy = shape.count / ne
            var values = [Float](), flats = [Float]()
            values.reserveCapacity(shape.count)
            if case .none = flatCorrection {} else { flats.reserveCapacity(shape.count) }
            for (k, reader) in readers.enumerated() {
                let slab = try reader.readSlab(z).float32().elements
                if opticalDensity { values += slab.map { Float(exp(-Double($0))) }; continue }
                var dark: [Float]
                switch darkCorrection {
                case .none: dark = [Float](repeating: 0, count: perEnergy)
                case let .perEnergy(d): dark = [Float](repeating: Float(d[k]), count: perEnergy)
                case let .volumes(d): dark = try d[k].readSlab(z).float32().elements
                }
                values += zip(slab, dark).map { $0 - $1 }
                switch flatCorrection {
                case .none: break
                case let .perEnergy(f): flats += dark.map { Float(f[k]) - $0 }
                case let .volumes(f): flats += zip(try f[k].readSlab(z).float32().elements, dark).map { $0 - $1 }
                }
            }
            let intensity = Grid(shape: shape, geometry: stackGeometry, elements: values)
            return (intensity, flats.isEmpty ? nil : Grid(shape: shape, elements: flats))
        }
    }

    /// One reader per energy volume when the stack is 3D and can stream; nil for stacks read whole.
    private static func streamable(_ inputs: XANESInputs) throws -> [VolumeReader]? {
        guard !XANESWorkflow.textImageExtensions.contains(DatasetReference(inputs.stackPaths[0]).fileExtension) else { return nil }
        return try XANESWorkflow.energyVolumeReaders(inputs.stackPaths)
    }

    /// The working memory per slab for a stack that can stream: the requested size, else 1 GiB
    /// when the stack does not fit in a quarter of the machine's memory; nil: read it whole (as
    /// aligning needs unless a size was asked for, which the caller refuses).
    private static func slabMegabytes(readers: [VolumeReader], options: XANESOptions) -> Int? {
        if let requested = options.slabMegabytes { return max(1, requested) }
        if options.alignment != nil { return nil }
        let bytes = readers.count * readers[0].info.shape.count * XANESWorkflow.bytesPerStackValue
        return bytes > Int(ProcessInfo.processInfo.physicalMemory / 4) ? 1024 : nil
    }
}
