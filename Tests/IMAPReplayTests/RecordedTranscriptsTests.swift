import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

@testable import IMAPReplay

/// Every transcript in `Captures/` (real clients against Dovecot: literals, AUTHENTICATE
/// PLAIN/LOGIN/CRAM-MD5, IDLE, COMPRESS, curl), normalized into a fixture and replayed to the
/// client bytes it recorded, gives back exactly the server bytes it recorded: the original
/// tags substituted for `a1`, `a2`, …, the `+` at each synchronizing literal, the pushes during
/// IDLE, the SASL challenges.
@Suite("Replay of the recorded transcripts")
struct RecordedTranscriptsTests {
    static let names = [
        "append-literals", "auth-cram-md5", "auth-login", "auth-plain", "compress-deflate",
        "curl-fetch", "idle-delivery", "login-select-fetch",
    ]

    /// The transcript as `imapscope read --format fixture --normalize` writes it.
    static func normalizedFixture(_ bytes: [UInt8]) throws -> [UInt8] {
        let out = MemoryOutput()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [FixtureWriter(out, normalize: true)])
        var options = DecoderOptions()
        options.limits.literalRetainLimit = 64 * 1024 * 1024
        let decoding = TranscriptDecoding(
            name: "t", session: "t1", options: options,
            time: Timestamp(seconds: 1_700_000_000), pipeline: pipeline)
        try decoding.feed(bytes[...])
        try decoding.finish()
        pipeline.finish()
        return out.bytes
    }

    @Test(arguments: names)
    func replaysToItsOwnClient(_ name: String) throws {
        let url = DovecotProcess.repository.appendingPathComponent("Captures/\(name).transcript")
        let original = [UInt8](try Data(contentsOf: url))
        let chunks = try FixtureReader.read(original)
        let client = chunks.filter { $0.direction == .client }.flatMap(\.bytes)
        let server = chunks.filter { $0.direction != .client }.flatMap(\.bytes)
        let fixture = try Self.normalizedFixture(original)
        #expect(!String(decoding: fixture, as: UTF8.self).contains("password"))

        let engine = ReplayEngine(script: try ReplayScript(fixture: fixture))
        var actions = engine.start() + engine.feed(client)
        while engine.isPaused { actions += engine.resume() }
        let sent = actions.compactMap {
            if case .send(let b) = $0 { return b }
            return nil
        }.flatMap { $0 }
        #expect(String(decoding: sent, as: UTF8.self) == String(decoding: server, as: UTF8.self))
        #expect(engine.finish() == [])
        #expect(engine.succeeded)
    }
}
