// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "imapscope",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "imapscope", targets: ["imapscope"]),
        .library(name: "IMAPCore", targets: ["IMAPCore"]),
        .library(name: "IMAPTranscript", targets: ["IMAPTranscript"]),
        // For the Fuzz/ and Benchmarks/ packages.
        .library(name: "IMAPCapture", targets: ["IMAPCapture"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
    ],
    targets: [
        .target(
            name: "IMAPCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .target(name: "IMAPTranscript", dependencies: ["IMAPCore"]),
        .systemLibrary(
            name: "CPcap",
            path: "Sources/CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"]), .brew(["libpcap"])]
        ),
        .target(
            name: "IMAPCapture",
            dependencies: [
                "CPcap", "IMAPCore",
                // TLS decryption with a key log: AEAD ciphers, HKDF and HMAC; AES-CBC for TLS 1.2's CBC suites.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "IMAPProxy",
            dependencies: [
                "IMAPCore", "IMAPTranscript", "IMAPCapture",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "IMAPReplay",
            dependencies: [
                "IMAPCore", "IMAPTranscript", "IMAPProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .executableTarget(
            name: "imapscope",
            dependencies: [
                "IMAPCore", "IMAPTranscript", "IMAPCapture", "IMAPProxy", "IMAPReplay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers every test target shares (event summaries, the secret scan).
        .target(name: "IMAPTestSupport", dependencies: ["IMAPCore"], path: "Tests/IMAPTestSupport"),
        .testTarget(
            name: "IMAPCoreTests",
            dependencies: [
                "IMAPCore", "IMAPTranscript", "IMAPTestSupport",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "IMAPTranscriptTests", dependencies: ["IMAPCore", "IMAPTranscript", "IMAPTestSupport"]),
        .testTarget(
            name: "IMAPCaptureTests",
            dependencies: [
                "IMAPCapture", "IMAPCore", "IMAPTranscript", "IMAPTestSupport",
                // Seals TLS records for the decryptor's tests (KeyUpdate, damaged records).
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "IMAPProxyTests",
            dependencies: [
                "IMAPProxy", "IMAPCapture", "IMAPCore", "IMAPTranscript", "IMAPTestSupport",
                // The STARTTLS session's NIO side, tested on embedded channels.
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "IMAPReplayTests", dependencies: ["IMAPReplay", "IMAPProxy", "IMAPCore", "IMAPTranscript", "IMAPTestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["IMAPCore", "IMAPTranscript", "IMAPTestSupport"]),
    ]
)
