import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope replay FIXTURE --listen imap://127.0.0.1:0` in a child process.
final class ReplayProcess: @unchecked Sendable {
    let port: Int
    private let process: Process
    private let err: Pipe
    private let out: Pipe
    /// stderr after the address line, read with it.
    private var afterAddress = Data()

    init(fixture: String, listen: String = "imap://127.0.0.1:0", extra: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.imapscope)
        p.arguments = ["replay", fixture, "--listen", listen] + extra
        out = Pipe()
        err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // The address comes on stderr, first; what follows it there is kept for `wait`.
        var line = Data()
        while !line.contains(0x0A) {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty {
                throw TestFailure(
                    description: "imapscope replay printed no address: \(String(decoding: line, as: UTF8.self))")
            }
            line += d
        }
        afterAddress = Data(line.drop { $0 != 0x0A }.dropFirst())
        // "imapscope replay: listening on imap://127.0.0.1:PORT"
        let text = String(decoding: line.prefix { $0 != 0x0A }, as: UTF8.self)
        guard
            text.hasPrefix("imapscope replay: listening on imap://127.0.0.1:")
                || text.hasPrefix("imapscope replay: listening on imaps://127.0.0.1:"),
            let p2 = Int(text.split(separator: ":").last ?? "")
        else {
            throw TestFailure(description: "unexpected replay output: \(text)")
        }
        port = p2
        process = p
    }

    /// Waits (up to `seconds`) for the replay to exit; returns its status and stderr.
    func wait(seconds: Double = 30) -> (status: Int32, stderr: String) {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        let rest = afterAddress + err.fileHandleForReading.readDataToEndOfFile()
        return (process.terminationStatus, String(decoding: rest, as: UTF8.self))
    }
}

/// Records one session through an in-process plaintext proxy into a normalized fixture.
final class FixtureRecorder {
    let server: ProxyServer
    let publisher: EventPublisher
    let sink = CollectingSink()
    let fixture = MemoryOutput()
    let port: Int

    init(upstreamPort: Int) throws {
        publisher = EventPublisher(
            pipeline: EventPipeline(redactor: Redactor(), sinks: [sink, FixtureWriter(fixture, normalize: true)]))
        var decoder = DecoderOptions()
        // A fixture needs whole literal bodies.
        decoder.limits.literalRetainLimit = 64 * 1024 * 1024
        decoder.limits.maxRetainedPerLine = 256 * 1024 * 1024
        let config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: .imap, host: "127.0.0.1", port: upstreamPort),
            serverTLS: nil, upstreamTLS: .makeClientConfiguration(), decoder: decoder)
        server = try ProxyServer(configuration: config, publisher: publisher, threads: 1)
        port = Int(try server.start()[0].split(separator: ":").last!)!
    }

    /// Waits for the session's end, stops the proxy, writes the fixture to a temporary file.
    func finish(name: String) throws -> (path: String, text: String, events: [Event]) {
        if !waitUntil(seconds: 10, { sink.events.contains { $0.kind == .sessionEnd } }) {
            Issue.record("the recorded session did not end within 10 s")
        }
        server.shutdown()
        publisher.finish()
        let path = NSTemporaryDirectory() + "imapscope-\(name)-\(UUID().uuidString).fixture"
        try Data(fixture.bytes).write(to: URL(fileURLWithPath: path))
        return (path, fixture.text, sink.events)
    }
}

/// A fresh temporary directory.
func temporaryDirectory(_ name: String) throws -> String {
    let d = NSTemporaryDirectory() + "imapscope-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

struct TestFailure: Error, CustomStringConvertible { var description: String }
