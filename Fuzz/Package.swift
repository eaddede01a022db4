// swift-tools-version:6.0
// libFuzzer targets for imapscope's input paths. A package of its own so that the fuzzer and
// sanitizer flags never touch the main build: `scripts/fuzz TARGET SECONDS` builds and runs one.
import PackageDescription

let package = Package(
    name: "imapscope-fuzz",
    dependencies: [
        .package(name: "imapscope", path: ".."),
    ],
    targets: [
        // Input framing shared by the targets, and the sinks every decoded event goes through.
        // Declares libFuzzer's driver entry: SwiftPM names each executable's main itself.
        .target(name: "CLibFuzzer"),
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CLibFuzzer",
                .product(name: "IMAPCore", package: "imapscope"),
                .product(name: "IMAPTranscript", package: "imapscope"),
            ]
        ),
        .executableTarget(name: "FuzzSession", dependencies: ["FuzzSupport"]),
        .executableTarget(
            name: "FuzzCapture",
            dependencies: ["FuzzSupport", .product(name: "IMAPCapture", package: "imapscope")]
        ),
        .executableTarget(name: "FuzzTranscript", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzJSONLines", dependencies: ["FuzzSupport"]),
    ]
)
