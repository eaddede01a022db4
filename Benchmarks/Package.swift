// swift-tools-version: 6.1
// Decoder throughput benchmarks for imapscope. A separate package so that the main package
// never depends on ordo-one/benchmark: run `swift package benchmark` (the plugin) or
// `swift run -c release DecoderThroughput` (a plain runner) from this folder.
import PackageDescription

let package = Package(
    name: "imapscope-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The parent package (imapscope), named so that `.product(..., package: "imapscope")`
        // works whatever the checkout folder is called.
        .package(name: "imapscope", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The deterministic input streams, shared by both runners.
        .target(
            name: "Workloads",
            dependencies: [.product(name: "IMAPCore", package: "imapscope")],
            path: "Sources/Workloads"
        ),
        // ordo-one/benchmark suite: `swift package benchmark`.
        .executableTarget(
            name: "DecoderBenchmarks",
            dependencies: [
                "Workloads",
                .product(name: "IMAPCore", package: "imapscope"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DecoderBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Plain runner, no plugin: `swift run -c release DecoderThroughput [seconds] [workload...]`.
        .executableTarget(
            name: "DecoderThroughput",
            dependencies: ["Workloads"],
            path: "Sources/DecoderThroughput"
        ),
    ]
)
