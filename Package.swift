// swift-tools-version: 6.1
// BatteryLens: X-ray imaging of battery materials, from detector files to trustworthy numbers.
import PackageDescription
import Foundation

/// Settings shared by the numeric modules.
let numericSettings: [SwiftSetting] = []

/// The vector instruction set the Swift code is compiled for. BatteryLens is built from source
/// on the machine that runs it, so when that machine's x86-64 processor has AVX2 and FMA
/// (every x86 server and desktop since 2013) the code is compiled for them ("haswell"): the
/// projectors' 16-slice SIMD columns then take one instruction instead of four, which measured
/// 1.7× faster forward and back projection (Benchmarks/RESULTS.md, 2026-12-03). Older or other
/// processors get the portable baseline. `BATTERYLENS_TARGET_CPU=generic` forces the baseline
/// (for a binary that must run on another machine); any other value is passed as the CPU name.
/// Every Swift target gets the same setting: SIMD values cross module boundaries, and their
/// calling convention depends on it.
let targetCPU: String? = {
    if let chosen = ProcessInfo.processInfo.environment["BATTERYLENS_TARGET_CPU"] {
        return chosen.isEmpty || chosen == "generic" ? nil : chosen
    }
    #if os(Linux) && arch(x86_64)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
    let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
    let haswell = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "popcnt", "sse4_2"]
    return haswell.allSatisfy(flags.contains) ? "haswell" : nil
    #else
    return nil
    #endif
}()

let package = Package(
    name: "BatteryLens",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batterylens", targets: ["batterylens"]),
        .library(name: "BatteryLens", targets: ["BatteryLens"]),
        .library(name: "LensCore", targets: ["LensCore"]),
        .library(name: "LensIO", targets: ["LensIO"]),
        .library(name: "Signal", targets: ["Signal"]),
        .library(name: "ImageAnalysis", targets: ["ImageAnalysis"]),
        .library(name: "Microstructure", targets: ["Microstructure"]),
        .library(name: "Tomography", targets: ["Tomography"]),
        .library(name: "Spectroscopy", targets: ["Spectroscopy"]),
        .library(name: "Compton", targets: ["Compton"]),
        .library(name: "SpectroscopyFiles", targets: ["SpectroscopyFiles"]),
        .library(name: "ComptonFiles", targets: ["ComptonFiles"]),
        .library(name: "Diffraction", targets: ["Diffraction"]),
        .library(name: "DiffractionFiles", targets: ["DiffractionFiles"]),
        .library(name: "Phantoms", targets: ["Phantoms"]),
        .library(name: "Damage", targets: ["Damage"]),
        .library(name: "CellInspection", targets: ["CellInspection"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        .library(name: "Reporting", targets: ["Reporting"]),
        .library(name: "Demo", targets: ["Demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries from Debian (installed by scripts/bootstrap.sh).
        .systemLibrary(name: "CFFTW3", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CGSF", pkgConfig: "libgsf-1", providers: [.apt(["libgsf-1-dev"])]),
        // Debian's libbz2-dev ships no pkg-config file: the module map links libbz2 itself.
        .systemLibrary(name: "CBZip2", providers: [.apt(["libbz2-dev"])]),

        // POSIX calls Swift's Glibc module lacks (renameat2, extended attributes).
        .target(name: "CLensSystem"),

        // Domain modules; dependencies point one way: core ← io/signal ← algorithms ← CLI.
        .target(
            name: "LensCore",
            swiftSettings: numericSettings
        ),
        .target(
            name: "Signal",
            dependencies: ["LensCore", "CFFTW3"],
            swiftSettings: numericSettings
        ),
        .target(
            name: "LensIO",
            dependencies: ["LensCore", "CLensSystem", "CHDF5", "CTIFF", "CPNG", "CZlib", "CGSF", "CBZip2"],
            swiftSettings: numericSettings
        ),
        .target(name: "ImageAnalysis", dependencies: ["LensCore", "Signal"], swiftSettings: numericSettings),
        .target(name: "Microstructure", dependencies: ["LensCore", "Signal", "ImageAnalysis"], swiftSettings: numericSettings),
        .target(name: "Tomography", dependencies: ["LensCore", "Signal", "ImageAnalysis"], swiftSettings: numericSettings),
        // The domain mathematics takes arrays; their file formats live beside them in *Files modules.
        .target(name: "Spectroscopy", dependencies: ["LensCore", "Signal"], swiftSettings: numericSettings),
        .target(name: "Damage", dependencies: ["LensCore", "Signal", "ImageAnalysis", "Microstructure"], swiftSettings: numericSettings),
        // Cell-scale inspection of cylindrical cells: can, winding, unrolling, defects.
        .target(name: "CellInspection", dependencies: ["LensCore", "Signal", "ImageAnalysis"], swiftSettings: numericSettings),
        .target(name: "SpectroscopyFiles", dependencies: ["LensCore", "LensIO", "Spectroscopy"]),
        .target(name: "Compton", dependencies: ["LensCore", "Signal"], swiftSettings: numericSettings),
        .target(name: "Diffraction", dependencies: ["LensCore", "Signal"], swiftSettings: numericSettings),
        .target(name: "DiffractionFiles", dependencies: ["LensCore", "LensIO", "Diffraction"]),
        .target(name: "ComptonFiles", dependencies: ["LensCore", "LensIO", "Compton"]),
        .target(name: "Phantoms", dependencies: ["LensCore", "Signal", "ImageAnalysis", "Microstructure", "Tomography", "Compton", "Diffraction", "LensIO"],
                swiftSettings: numericSettings),
        // Production workflows: no test-data generation in here.
        .target(name: "Pipeline", dependencies: ["LensCore", "LensIO", "Reporting", "Signal", "ImageAnalysis", "Microstructure", "Damage", "CellInspection", "Tomography", "Spectroscopy", "SpectroscopyFiles",
                                                 "Compton", "ComptonFiles", "Diffraction", "DiffractionFiles"]),
        // Figures (slices with scale and colour bars, SVG plots) and study reports.
        .target(name: "Reporting", dependencies: ["LensCore", "LensIO"]),
        // `batterylens demo`: the whole chain on phantoms (the one place phantoms meet the pipeline).
        .target(name: "Demo", dependencies: ["LensCore", "LensIO", "Reporting", "Signal"]),
        .target(name: "BatteryLens", dependencies: ["LensCore", "LensIO", "Signal", "ImageAnalysis", "Microstructure", "Damage", "CellInspection", "Tomography", "Spectroscopy", "SpectroscopyFiles", "Compton", "ComptonFiles", "Diffraction", "DiffractionFiles", "Phantoms", "Pipeline", "Reporting", "Demo"]),
        .target(
            name: "LensCLI",
            dependencies: ["BatteryLens", "Phantoms", "Tomography", "CLensSystem", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(name: "batterylens", dependencies: ["LensCLI"]),
        // The reader fuzzer (seeded mutations, in-process) and its command-line runner.
        .target(name: "Fuzzing", dependencies: ["LensCore", "LensIO", "Compton", "ComptonFiles", "Spectroscopy", "SpectroscopyFiles"]),
        .executableTarget(name: "lens-fuzz", dependencies: ["Fuzzing", "LensCore"]),

        .testTarget(name: "LensCoreTests", dependencies: ["LensCore"]),
        .testTarget(name: "SignalTests", dependencies: ["Signal"]),
        .testTarget(name: "SpectroscopyTests", dependencies: ["Spectroscopy", "SpectroscopyFiles", "Phantoms", "LensCore", "LensIO", "Signal"], exclude: ["Fixtures"]),
        .testTarget(name: "LensIOTests", dependencies: ["LensIO", "Fuzzing"], exclude: ["Fixtures"]),
        .testTarget(name: "ImageAnalysisTests", dependencies: ["ImageAnalysis", "LensIO"], exclude: ["Fixtures"]),
        .testTarget(name: "MicrostructureTests", dependencies: ["Microstructure", "ImageAnalysis", "Phantoms", "Tomography", "LensIO"], exclude: ["Fixtures"]),
        .testTarget(name: "TomographyTests", dependencies: ["Tomography", "Signal", "Phantoms", "ImageAnalysis", "LensCore"], exclude: ["Fixtures"]),
        .testTarget(name: "ComptonTests", dependencies: ["Compton", "ComptonFiles", "Phantoms"]),
        .testTarget(name: "DiffractionTests", dependencies: ["Diffraction", "DiffractionFiles", "Phantoms", "LensCore", "LensIO"], exclude: ["Fixtures"]),
        .testTarget(name: "PhantomsTests", dependencies: ["Phantoms", "ImageAnalysis", "Tomography", "LensIO", "Compton", "Diffraction", "LensCore", "Signal"]),
        .testTarget(name: "DamageTests", dependencies: ["Damage", "Phantoms", "LensCore", "Tomography", "Signal", "ImageAnalysis"]),
        .testTarget(name: "CellInspectionTests", dependencies: ["CellInspection", "Phantoms", "LensCore", "LensIO", "ImageAnalysis"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Spectroscopy", "SpectroscopyFiles", "Phantoms"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "LensCore", "LensIO", "LensCLI"]),
        .testTarget(name: "LensCLITests", dependencies: ["LensCLI", "LensIO", "Phantoms", "Pipeline", "Reporting", "Tomography"], exclude: ["Fixtures"]),
        .testTarget(name: "FuzzingTests", dependencies: ["Fuzzing", "LensCore"]),
    ]
)

if let targetCPU {
    for target in package.targets where target.type != .system {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-target-cpu", targetCPU])]
    }
}
