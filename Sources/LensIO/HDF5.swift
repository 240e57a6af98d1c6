import CHDF5
import CLensSystem
import Foundation
import LensCore

/// The serial HDF5 library is not thread-safe: every call goes through this lock.
let hdf5Lock = NSRecursiveLock()

/// Every call runs with HDF5's automatic error printing off (our errors say what failed). The
/// setting is per thread in Debian's thread-safe build, so it is applied on each entry (a
/// cheap setter), not once per process: once left other threads printing error stacks.
@discardableResult
func withHDF5<R>(file: String, _ body: () throws -> R) rethrows -> R {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    chdf5_silence_errors()
    // libhdf5 can fault on a damaged file (its known parser bugs): then the user gets one
    // line naming the file and exit 1, not a crash report. Nothing has been published then:
    // outputs are staged, and the next run removes the staging of this dead process.
    lens_fault_guard_enter("batterylens: error: \(file): the HDF5 library failed on this file (it is corrupt or damaged); no output was written")
    defer { lens_fault_guard_leave() }
    return try body()
}


/// An open HDF5 file (read-only, or newly created for writing).
public final class HDF5File: @unchecked Sendable {
    public let path: String
    let id: hid_t
    /// Access properties that resolve external links relative to this file's folder.
    let accessList: hid_t

    /// Opens an existing file read-only.
    public init(openingForReading path: String) throws {
        self.path = path
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: path) else {
            throw LensError.badInput(file: path, problem: "no such file")
        }
        let (fid, dapl): (hid_t, hid_t) = try withHDF5(file: path) {
            guard H5Fis_hdf5(path) > 0 else {
                throw LensError.badInput(file: path, problem: "not an HDF5 file (no HDF5 signature; truncated or another format?)")
            }
            let fid = H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default())
            guard fid >= 0 else { throw LensError.badInput(file: path, problem: "cannot open as HDF5 (corrupt or truncated)") }
            let dapl = H5Pcreate(chdf5_p_dataset_access())
            H5Pset_elink_prefix(dapl, folder + "/")
            return (fid, dapl)
        }
        id = fid
        accessList = dapl
    }

    /// Creates (truncates) a file for writing.
    public init(creating path: String) throws {
        self.path = path
        let fid = withHDF5(file: path) { H5Fcreate(path, chdf5_f_acc_trunc(), chdf5_p_default(), chdf5_p_default()) }
        guard fid >= 0 else { throw LensError.badOutput(file: path, problem: "cannot create HDF5 file") }
        id = fid
        accessList = withHDF5(file: path) { H5Pcreate(chdf5_p_dataset_access()) }
    }

    deinit {
        withHDF5(file: path) {
            H5Pclose(accessList)
            H5Fclose(id)
        }
    }

    /// Flushes and closes are done by deinit; this forces data to disk now.
    public func flush() throws {
        let status = withHDF5(file: path) { H5Fflush(id, H5F_SCOPE_GLOBAL) }
        guard status >= 0 else { throw LensError.badOutput(file: path, problem: "HDF5 flush failed") }
    }

    public enum ObjectKind: Equatable { case group, dataset, missing, other }

    /// What `objectPath` names (following soft and external links; a dangling link is `missing`).
    public func kind(of objectPath: String) -> ObjectKind {
        withHDF5(file: path) {
            guard linkExists(objectPath) else { return .missing }
            let oid = H5Oopen(id, objectPath, accessList)
            guard oid >= 0 else { return .missing }
            defer { H5Oclose(oid) }
            switch H5Iget_type(oid) {
            case H5I_GROUP: return .group
            case H5I_DATASET: return .dataset
            default: return .other
            }
        }
    }

    /// Whether every link along `objectPath` exists (H5Lexists fails on a missing parent).
    private func linkExists(_ objectPath: String) -> Bool {
        let parts = objectPath.split(separator: "/").map(String.init)
        if parts.isEmpty { return true }
        var current = ""
        for part in parts {
            current += "/" + part
            guard H5Lexists(id, current, chdf5_p_default()) > 0 else { return false }
        }
        return true
    }

    /// Names of the members of a group.
    public func children(of groupPath: String) throws -> [String] {
        try withHDF5(file: path) {
            let gid = H5Gopen2(id, groupPath, chdf5_p_default())
            guard gid >= 0 else { throw LensError.badInput(file: path, problem: "no group \(groupPath)") }
            defer { H5Gclose(gid) }
            var info = H5G_info_t()
            guard H5Gget_info(gid, &info) >= 0 else { return [] }
            var names = [String]()
            for i in 0..<info.nlinks {
                let size = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_p_default())
                guard size > 0 else { continue }
                var buffer = [CChar](repeating: 0, count: Int(size) + 1)
                H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(size) + 1, chdf5_p_default())
                names.append(String(cString: buffer))
            }
            return names
        }
    }

    /// Opens attribute `name` of an object and passes its id, type, type class and dataspace to
    /// `body`; nil if the attribute does not exist or cannot be opened.
    private func withAttribute<R>(_ name: String, of objectPath: String,
                                  _ body: (hid_t, hid_t, H5T_class_t, hid_t) -> R?) -> R? {
        withHDF5(file: path) {
            guard linkExists(objectPath), H5Aexists_by_name(id, objectPath, name, chdf5_p_default()) > 0 else { return nil }
            let aid = H5Aopen_by_name(id, objectPath, name, chdf5_p_default(), chdf5_p_default())
            guard aid >= 0 else { return nil }
            defer { H5Aclose(aid) }
            let tid = H5Aget_type(aid)
            defer { H5Tclose(tid) }
            let space = H5Aget_space(aid)
            defer { H5Sclose(space) }
            guard H5Sget_simple_extent_npoints(space) >= 1 else { return nil }
            return body(aid, tid, H5Tget_class(tid), space)
        }
    }

    /// A string attribute (fixed or variable length) of an object, or nil.
    public func stringAttribute(_ name: String, of objectPath: String) -> String? {
        withAttribute(name, of: objectPath) { aid, tid, cls, space in
            guard cls == H5T_STRING else { return nil }
            let n = Int(H5Sget_simple_extent_npoints(space))
            if H5Tis_variable_str(tid) > 0 {
                let memType = H5Tcopy(chdf5_c_s1())
                defer { H5Tclose(memType) }
                H5Tset_size(memType, Int(bitPattern: UInt(bitPattern: -1)))  // H5T_VARIABLE
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
                guard H5Aread(aid, memType, &pointers) >= 0, let first = pointers[0] else { return nil }
                let value = String(cString: first)
                H5Dvlen_reclaim(memType, space, chdf5_p_default(), &pointers)
                return value
            }
            let size = H5Tget_size(tid)
            var buffer = [CChar](repeating: 0, count: size * n + 1)
            guard H5Aread(aid, tid, &buffer) >= 0 else { return nil }
            return String(cString: Array(buffer[0..<size]) + [0])
        }
    }

    /// A numeric attribute as Doubles, or nil.
    public func numericAttribute(_ name: String, of objectPath: String) -> [Double]? {
        withAttribute(name, of: objectPath) { aid, _, cls, space in
            guard cls == H5T_INTEGER || cls == H5T_FLOAT else { return nil }
            var values = [Double](repeating: 0, count: Int(H5Sget_simple_extent_npoints(space)))
            guard H5Aread(aid, chdf5_native_double(), &values) >= 0 else { return nil }
            return values
        }
    }

    /// Opens a dataset.
    public func dataset(_ datasetPath: String) throws -> HDF5Dataset {
        switch kind(of: datasetPath) {
        case .dataset: break
        case .group: throw LensError.badInput(file: path, problem: "\(datasetPath) is a group, not a dataset")
        case .missing:
            if let target = externalLinkTarget(datasetPath) {
                throw LensError.badInput(file: path, problem: "\(datasetPath) is an external link to \(target), which cannot be opened (missing file?)")
            }
            throw LensError.badInput(file: path, problem: "no dataset \(datasetPath)")
        case .other: throw LensError.badInput(file: path, problem: "\(datasetPath) is not a dataset")
        }
        return try HDF5Dataset(file: self, path: datasetPath)
    }

    /// "file:/path" of an external link, for error messages.
    private func externalLinkTarget(_ objectPath: String) -> String? {
        withHDF5(file: path) {
            var info = H5L_info_t()
            guard H5Lget_info(id, objectPath, &info, chdf5_p_default()) >= 0, info.type == H5L_TYPE_EXTERNAL else { return nil }
            var buffer = [CChar](repeating: 0, count: Int(info.u.val_size) + 1)
            guard H5Lget_val(id, objectPath, &buffer, buffer.count, chdf5_p_default()) >= 0 else { return nil }
            var flags: UInt32 = 0
            var file: UnsafePointer<CChar>?
            var object: UnsafePointer<CChar>?
            guard H5Lunpack_elink_val(&buffer, buffer.count, &flags, &file, &object) >= 0, let file, let object else { return nil }
            return "\(String(cString: file)):\(String(cString: object))"
        }
    }

    /// Creates a dataset (and its parent groups) for writing.
    public func createDataset(_ datasetPath: String, shape: Shape, dataType: DataType, chunkDims: [Int]? = nil,
                              compressionLevel: Int? = nil) throws -> HDF5Dataset {
        try withHDF5(file: path) {
            var dims = shape.dims.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), &dims, nil)
            defer { H5Sclose(space) }
            let dcpl = H5Pcreate(chdf5_p_dataset_create())
            defer { H5Pclose(dcpl) }
            // No object timestamps: the same input and seed give the same bytes.
            H5Pset_obj_track_times(dcpl, false)
            try createGroups(above: datasetPath)
            if chunkDims != nil || compressionLevel != nil, shape.count > 0 {
                var chunks = (chunkDims ?? HDF5Dataset.defaultChunks(shape: shape, elementSize: dataType.byteSize)).map { hsize_t(Swift.max(1, $0)) }
                H5Pset_chunk(dcpl, Int32(chunks.count), &chunks)
                if let level = compressionLevel { H5Pset_deflate(dcpl, UInt32(Swift.max(1, Swift.min(9, level)))) }
            }
            let lcpl = H5Pcreate(chdf5_p_link_create())
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let fileType = HDF5Dataset.memoryType(dataType)
            defer { if dataType.isComplex { H5Tclose(fileType) } }
            let did = H5Dcreate2(id, datasetPath, fileType, space, lcpl, dcpl, chdf5_p_default())
            guard did >= 0 else { throw LensError.badOutput(file: path, problem: "cannot create dataset \(datasetPath)") }
            return HDF5Dataset(file: self, path: datasetPath, id: did, shape: shape, dataType: dataType)
        }
    }

    /// Creates the missing groups on the way to `objectPath`, without timestamps.
    func createGroups(above objectPath: String) throws {
        let parts = objectPath.split(separator: "/").dropLast()
        var prefix = ""
        let gcpl = H5Pcreate(chdf5_p_group_create())
        defer { H5Pclose(gcpl) }
        H5Pset_obj_track_times(gcpl, false)
        for part in parts {
            prefix += "/" + part
            if H5Lexists(id, prefix, chdf5_p_default()) > 0 { continue }
            let gid = H5Gcreate2(id, prefix, chdf5_p_default(), gcpl, chdf5_p_default())
            guard gid >= 0 else { throw LensError.badOutput(file: path, problem: "cannot create group \(prefix)") }
            H5Gclose(gid)
        }
    }

    /// Writes a string attribute on an object.
    public func setAttribute(_ name: String, string value: String, on objectPath: String) throws {
        try withHDF5(file: path) {
            let tid = H5Tcopy(chdf5_c_s1())
            defer { H5Tclose(tid) }
            H5Tset_size(tid, Swift.max(1, value.utf8.count))
            let space = chdf5_s_scalar_create()
            defer { H5Sclose(space) }
            let aid = H5Acreate_by_name(id, objectPath, name, tid, space, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
            guard aid >= 0 else { throw LensError.badOutput(file: path, problem: "cannot write attribute \(name) on \(objectPath)") }
            defer { H5Aclose(aid) }
            var bytes = Array(value.utf8)
            if bytes.isEmpty { bytes = [0] }
            H5Awrite(aid, tid, bytes)
        }
    }

    /// Writes a Double array attribute on an object.
    public func setAttribute(_ name: String, doubles values: [Double], on objectPath: String) throws {
        try withHDF5(file: path) {
            var dims = [hsize_t(values.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let aid = H5Acreate_by_name(id, objectPath, name, chdf5_native_double(), space, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
            guard aid >= 0 else { throw LensError.badOutput(file: path, problem: "cannot write attribute \(name) on \(objectPath)") }
            defer { H5Aclose(aid) }
            H5Awrite(aid, chdf5_native_double(), values)
        }
    }

    /// Writes a whole 1D Double dataset (angles, energies).
    public func writeDoubles(_ values: [Double], to datasetPath: String) throws {
        let ds = try createDataset(datasetPath, shape: Shape(values.count), dataType: .float64)
        try ds.write(AnyGrid(Grid(shape: Shape(values.count), elements: values)), at: 0)
    }
}

/// One dataset of an ``HDF5File``: its shape and element type, and hyperslab reads and writes
/// of ranges along axis 0 (the slab access every streaming algorithm uses).
public final class HDF5Dataset: @unchecked Sendable {
    public let file: HDF5File
    public let path: String
    let id: hid_t
    public let shape: Shape
    public let dataType: DataType

    init(file: HDF5File, path: String, id: hid_t, shape: Shape, dataType: DataType) {
        self.file = file; self.path = path; self.id = id; self.shape = shape; self.dataType = dataType
    }

    convenience init(file: HDF5File, path: String) throws {
        let (did, dims, type): (hid_t, [Int], DataType) = try withHDF5(file: file.path) {
            let did = H5Dopen2(file.id, path, file.accessList)
            guard did >= 0 else { throw LensError.badInput(file: file.path, problem: "cannot open dataset \(path)") }
            let space = H5Dget_space(did)
            defer { H5Sclose(space) }
            let rank = Int(H5Sget_simple_extent_ndims(space))
            var dims = [hsize_t](repeating: 0, count: Swift.max(1, rank))
            if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) } else { dims = [1] }
            let tid = H5Dget_type(did)
            defer { H5Tclose(tid) }
            guard let type = HDF5Dataset.dataType(of: tid) else {
                H5Dclose(did)
                throw LensError.badInput(file: file.path, problem: "dataset \(path) has an unsupported element type (strings or compound data)")
            }
            guard let sizes = Optional(dims.compactMap { Int(exactly: $0) }), sizes.count == dims.count else {
                H5Dclose(did)
                throw LensError.badInput(file: file.path, problem: "dataset \(path) has extents \(dims) too large to address")
            }
            return (did, sizes, type)
        }
        let shape: Shape
        do { shape = try Shape.validated(dims, source: "\(file.path):\(path)", elementBytes: type.byteSize) } catch {
            _ = withHDF5(file: file.path) { H5Dclose(did) }
            throw error
        }
        self.init(file: file, path: path, id: did, shape: shape, dataType: type)
    }

    deinit { withHDF5(file: file.path) { _ = H5Dclose(id) } }

    /// Maps an HDF5 type to ours: integers and floats of 1–8 bytes, and h5py/NumPy complex
    /// (a compound of two floats named r and i).
    static func dataType(of tid: hid_t) -> DataType? {
        let size = H5Tget_size(tid)
        switch H5Tget_class(tid) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(tid) == H5T_SGN_2
            switch size {
            case 1: return signed ? .int8 : .uint8
            case 2: return signed ? .int16 : .uint16
            case 4: return signed ? .int32 : .uint32
            case 8: return signed ? .int64 : .uint64
            default: return nil
            }
        case H5T_FLOAT:
            return size == 4 ? .float32 : size == 8 ? .float64 : nil
        case H5T_COMPOUND:
            // Complex numbers only as h5py writes them: two floats of one size named r and i
            // (or real and imag), packed; any other compound is not an image.
            guard H5Tget_nmembers(tid) == 2 else { return nil }
            let first = H5Tget_member_type(tid, 0), second = H5Tget_member_type(tid, 1)
            defer { H5Tclose(first); H5Tclose(second) }
            func name(_ index: UInt32) -> String {
                guard let raw = H5Tget_member_name(tid, index) else { return "" }
                defer { H5free_memory(raw) }
                return String(cString: raw).lowercased()
            }
            let memberSize = H5Tget_size(first)
            guard H5Tget_class(first) == H5T_FLOAT, H5Tget_class(second) == H5T_FLOAT, H5Tget_size(second) == memberSize,
                  size == 2 * memberSize, H5Tget_member_offset(tid, 0) == 0, H5Tget_member_offset(tid, 1) == memberSize,
                  ["r", "real", "re"].contains(name(0)), ["i", "imag", "im"].contains(name(1)) else { return nil }
            return memberSize == 4 ? .complex64 : memberSize == 8 ? .complex128 : nil
        default:
            return nil
        }
    }

    /// The native memory type for our element type (complex: a new compound the caller closes).
    static func memoryType(_ type: DataType) -> hid_t {
        switch type {
        case .uint8: return chdf5_native_uint8()
        case .int8: return chdf5_native_int8()
        case .uint16: return chdf5_native_uint16()
        case .int16: return chdf5_native_int16()
        case .uint32: return chdf5_native_uint32()
        case .int32: return chdf5_native_int32()
        case .uint64: return chdf5_native_uint64()
        case .int64: return chdf5_native_int64()
        case .float32: return chdf5_native_float()
        case .float64: return chdf5_native_double()
        case .complex64, .complex128:
            let part = type == .complex64 ? chdf5_native_float() : chdf5_native_double()
            let half = type.byteSize / 2
            let tid = H5Tcreate(H5T_COMPOUND, type.byteSize)
            H5Tinsert(tid, "r", 0, part)
            H5Tinsert(tid, "i", half, part)
            return tid
        }
    }

    /// Chunks of whole slices along axis 0, trimmed so one chunk stays under ~4 MiB.
    static func defaultChunks(shape: Shape, elementSize: Int) -> [Int] {
        var chunks = shape.dims.map { Swift.max(1, $0) }
        if chunks.count > 1 { chunks[0] = 1 }
        var axis = 1
        while chunks.reduce(elementSize, *) > 4 << 20 && axis < chunks.count {
            while chunks[axis] > 1 && chunks.reduce(elementSize, *) > 4 << 20 { chunks[axis] = (chunks[axis] + 1) / 2 }
            axis += 1
        }
        return chunks
    }

    /// Reads indices `range` along axis 0 into `destination` (raw bytes of our element type).
    func read(_ range: Range<Int>, into destination: UnsafeMutableRawPointer) throws {
        try withHDF5(file: file.path) {
            let space = H5Dget_space(id)
            defer { H5Sclose(space) }
            var start = [hsize_t](repeating: 0, count: shape.rank)
            var count = shape.dims.map { hsize_t($0) }
            start[0] = hsize_t(range.lowerBound)
            count[0] = hsize_t(range.count)
            H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nil, &count, nil)
            let memSpace = H5Screate_simple(Int32(count.count), &count, nil)
            defer { H5Sclose(memSpace) }
            let memType = HDF5Dataset.memoryType(dataType)
            defer { if dataType.isComplex { H5Tclose(memType) } }
            // A whole-dataset read selects everything (H5S_ALL), which lets HDF5 read a
            // contiguous dataset straight into the buffer.
            let whole = range.lowerBound == 0 && range.count == shape[0]
            guard H5Dread(id, memType, whole ? chdf5_s_all() : memSpace, whole ? chdf5_s_all() : space,
                          chdf5_p_default(), destination) >= 0 else {
                throw LensError.badInput(file: file.path, problem: "read of \(path) slab \(range.lowerBound)..<\(range.upperBound) failed (truncated or corrupt file?)")
            }
        }
    }

    /// Reads a slab as a grid.
    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        var grid = try AnyGrid.allocate(zeros: dataType, shape: shape.replacing(axis: 0, with: range.count), source: "\(file.path):\(path)")
        try grid.withUnsafeMutableRawBytes { try read(range, into: $0.baseAddress!) }
        return grid
    }

    /// Reads the whole dataset as Doubles (for small metadata arrays: angles, image keys).
    public func readDoubles() throws -> [Double] {
        try MemoryBudget.require(elements: shape.count, elementBytes: 8, for: "\(file.path):\(path)")
        var values = [Double](repeating: 0, count: shape.count)
        try withHDF5(file: file.path) {
            try values.withUnsafeMutableBytes { buffer in
                guard H5Dread(id, chdf5_native_double(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress) >= 0 else {
                    throw LensError.badInput(file: file.path, problem: "cannot read \(path) as numbers")
                }
            }
        }
        return values
    }

    /// Writes `slab` at index `start` along axis 0.
    public func write(_ slab: AnyGrid, at start: Int) throws {
        guard slab.dataType == dataType else {
            throw LensError.invalidArgument("\(file.path):\(path): cannot write \(slab.dataType) into \(dataType)")
        }
        try withHDF5(file: file.path) {
            let space = H5Dget_space(id)
            defer { H5Sclose(space) }
            var offset = [hsize_t](repeating: 0, count: shape.rank)
            var count = slab.shape.dims.map { hsize_t($0) }
            offset[0] = hsize_t(start)
            H5Sselect_hyperslab(space, H5S_SELECT_SET, &offset, nil, &count, nil)
            let memSpace = H5Screate_simple(Int32(count.count), &count, nil)
            defer { H5Sclose(memSpace) }
            let memType = HDF5Dataset.memoryType(dataType)
            defer { if dataType.isComplex { H5Tclose(memType) } }
            let status = slab.withGrid { g in g.withUnsafeRawBytes { H5Dwrite(id, memType, memSpace, space, chdf5_p_default(), $0.baseAddress) } }
            guard status >= 0 else { throw LensError.badOutput(file: file.path, problem: "write of \(path) at \(start) failed (disk full?)") }
        }
    }
}

extension AnyGrid {
    /// Stands in for the payload while it is mutated, so the payload's storage is uniquely
    /// referenced and copy-on-write does not copy it.
    static let placeholder = Grid<UInt8>(shape: Shape(0))

    /// Writes into the grid's bytes without copying them (unless they are shared elsewhere).
    mutating func withUnsafeMutableRawBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case var .uint8(g): self = .uint8(AnyGrid.placeholder); defer { self = .uint8(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .int8(g): self = .uint8(AnyGrid.placeholder); defer { self = .int8(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .uint16(g): self = .uint8(AnyGrid.placeholder); defer { self = .uint16(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .int16(g): self = .uint8(AnyGrid.placeholder); defer { self = .int16(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .uint32(g): self = .uint8(AnyGrid.placeholder); defer { self = .uint32(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .int32(g): self = .uint8(AnyGrid.placeholder); defer { self = .int32(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .uint64(g): self = .uint8(AnyGrid.placeholder); defer { self = .uint64(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .int64(g): self = .uint8(AnyGrid.placeholder); defer { self = .int64(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .float32(g): self = .uint8(AnyGrid.placeholder); defer { self = .float32(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .float64(g): self = .uint8(AnyGrid.placeholder); defer { self = .float64(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .complex64(g): self = .uint8(AnyGrid.placeholder); defer { self = .complex64(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        case var .complex128(g): self = .uint8(AnyGrid.placeholder); defer { self = .complex128(g) }; return try g.withUnsafeMutableBufferPointer { try body(UnsafeMutableRawBufferPointer($0)) }
        }
    }
}

/// Reads an HDF5 dataset slab by slab. Without a dataset path, the Data Exchange projections
/// (`/exchange/data`), an NXtomo detector's data, or the only 2D+ dataset is chosen.
public final class HDF5Reader: VolumeReader {
    public let info: VolumeInfo
    public let source: String
    public let dataset: HDF5Dataset

    public init(reference: DatasetReference) throws {
        let file = try HDF5File(openingForReading: reference.filePath)
        let datasetPath = try reference.datasetPath ?? HDF5Reader.defaultDataset(in: file)
        let ds = try file.dataset(datasetPath)
        dataset = ds
        source = "\(reference.filePath):\(datasetPath)"
        var geometry = GridGeometry.uncalibrated(rank: ds.shape.rank)
        if let sizes = file.numericAttribute("voxel_size_um", of: datasetPath), sizes.count == ds.shape.rank, sizes.allSatisfy({ $0 > 0 }) {
            geometry = GridGeometry(voxelSizeMicrometres: sizes)
            if let origin = file.numericAttribute("origin_um", of: datasetPath), origin.count == ds.shape.rank {
                geometry.originMicrometres = origin
            }
        }
        var metadata = ["dataset": datasetPath]
        for key in ["units", "axes", "description"] {
            if let value = file.stringAttribute(key, of: datasetPath) { metadata[key] = value }
        }
        if let scale = file.numericAttribute("scale_factor", of: datasetPath)?.first {
            let offset = file.numericAttribute("add_offset", of: datasetPath)?.first ?? 0
            metadata["value_calibration"] = ValueCalibration(offset: offset, scale: scale, unit: metadata["units"]).description
        }
        info = VolumeInfo(shape: ds.shape, dataType: ds.dataType, geometry: geometry, format: "hdf5", metadata: metadata)
    }

    public func readSlab(_ range: Range<Int>) throws -> AnyGrid {
        try checkRange(range)
        let sliceGeometry = info.geometry.offset(axis: 0, by: range.lowerBound)
        return try dataset.readSlab(range).withGeometry(sliceGeometry)
    }

    /// The dataset to read when none was named.
    static func defaultDataset(in file: HDF5File) throws -> String {
        if file.kind(of: "/exchange/data") == .dataset { return "/exchange/data" }
        if let nx = try? NXTomoLayout.find(in: file) { return nx.dataPath }
        var found = [String]()
        func walk(_ group: String, depth: Int) {
            guard depth < 6, let names = try? file.children(of: group) else { return }
            for name in names {
                let child = group == "/" ? "/\(name)" : "\(group)/\(name)"
                switch file.kind(of: child) {
                case .group: walk(child, depth: depth + 1)
                case .dataset:
                    if let ds = try? file.dataset(child), ds.shape.rank >= 2 { found.append(child) }
                default: break
                }
            }
        }
        walk("/", depth: 0)
        if found.count == 1 { return found[0] }
        if found.isEmpty { throw LensError.badInput(file: file.path, problem: "no 2D or 3D dataset found; name one as file.h5:/path/to/data") }
        throw LensError.badInput(file: file.path, problem: "several datasets (\(found.prefix(5).joined(separator: ", "))); name one as file.h5:/path/to/data")
    }
}

extension HDF5Reader: RowBandReader {
    public func readRows(_ rows: Range<Int>, slices: Range<Int>) throws -> AnyGrid {
        try checkBand(rows: rows, slices: slices)
        let further = Array(info.shape.dims.dropFirst(2))
        var grid = try AnyGrid.allocate(zeros: info.dataType, shape: Shape([slices.count, rows.count] + further), source: source)
        try grid.withUnsafeMutableRawBytes {
            try dataset.read(start: [slices.lowerBound, rows.lowerBound] + further.map { _ in 0 }, count: [slices.count, rows.count] + further,
                             into: $0.baseAddress!)
        }
        return grid
    }
}

/// Writes one HDF5 dataset (default `/data`) slab by slab, with voxel size attributes, to a
/// temporary file renamed into place by ``finish()``.
public final class HDF5Writer: VolumeWriter {
    public let info: VolumeInfo
    public let destination: String
    private let temporary: String
    private var file: HDF5File?
    private var dataset: HDF5Dataset?
    private var finished = false

    public init(path: String, info: VolumeInfo, options: WriteOptions) throws {
        self.info = info
        destination = path
        temporary = AtomicOutput.temporaryPath(for: path)
        let file = try HDF5File(creating: temporary)
        let datasetPath = options.datasetPath ?? "/data"
        do {
            let ds = try file.createDataset(datasetPath, shape: info.shape, dataType: info.dataType,
                                            compressionLevel: options.compressionLevel)
            if info.geometry.isCalibrated {
                try file.setAttribute("voxel_size_um", doubles: info.geometry.voxelSizeMicrometres, on: datasetPath)
                try file.setAttribute("origin_um", doubles: info.geometry.originMicrometres, on: datasetPath)
            }
            try file.setAttribute("software", string: "\(BatteryLensVersion.name) \(BatteryLensVersion.string)", on: datasetPath)
            if let c = options.valueCalibration {
                try file.setAttribute("scale_factor", doubles: [c.scale], on: datasetPath)
                try file.setAttribute("add_offset", doubles: [c.offset], on: datasetPath)
                if let unit = c.unit { try file.setAttribute("units", string: unit, on: datasetPath) }
            } else if let unit = info.metadata["units"] {
                try file.setAttribute("units", string: unit, on: datasetPath)
            }
            self.file = file
            self.dataset = ds
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// The open file, to add datasets (angles, flats) before ``finish()``.
    public var hdf5File: HDF5File? { file }

    public func writeSlab(_ slab: AnyGrid, at start: Int) throws {
        try checkSlab(slab, at: start)
        guard let dataset else { throw LensError.badOutput(file: destination, problem: "writer already closed") }
        try dataset.write(slab, at: start)
    }

    public func finish() throws {
        guard !finished else { return }
        try file?.flush()
        dataset = nil
        file = nil
        finished = true
        try AtomicOutput.commit(temporary, to: destination)
    }

    public func abort() {
        dataset = nil
        file = nil
        if !finished { try? FileManager.default.removeItem(atPath: temporary) }
        finished = true
    }

    deinit { if !finished { abort() } }
}
