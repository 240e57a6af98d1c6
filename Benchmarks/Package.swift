// swift-tools-version: 6.1
// Benchmarks live in their own package so the library's build and CI never compile them.
import PackageDescription

let package = Package(
    name: "BatteryLensBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "BatteryLens", path: "..")],
    targets: [
        .executableTarget(
            name: "lens-bench",
            dependencies: [.product(name: "BatteryLens", package: "BatteryLens")]
        ),
    ]
)
