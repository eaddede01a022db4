import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// The committed real-client transcripts in `Captures/`, decoded as `imapscope read` does.
@Suite("Captures")
struct CapturesTests {
    static func load(_ name: String) throws -> (bytes: [UInt8], decoded: Decoded) {
        let url = Repo.captures.appendingPathComponent(name + ".transcript")
        let bytes = [UInt8](try Data(contentsOf: url))
        return (bytes, try Decoded.decode(bytes, file: url.path))
    }

    @Test("every committed transcript has expectations, and every expectation a transcript")
    func inventory() throws {
        #expect(try Repo.committedTranscripts() == Expected.names)
    }

    @Test("decodes to exactly the expected events", arguments: Expected.names)
    func summariesMatch(_ name: String) throws {
        let (_, d) = try Self.load(name)
        #expect(summaries(d.events) == Expected.summaries[name]!)
        expectClean(d, name)
    }

    @Test("no output holds the password; the JSON Lines name the user", arguments: Expected.names)
    func redaction(_ name: String) throws {
        let (_, d) = try Self.load(name)
        expectRedacted(d, name)
    }

    @Test("event bytes add up to the transcript's bytes, per direction", arguments: Expected.names)
    func byteAccounting(_ name: String) throws {
        let (bytes, d) = try Self.load(name)
        expectByteAccounting(try TranscriptBytes(bytes), d, name)
    }

    @Test("compress-deflate: recorded inflated below the directive, decoded without inflating again")
    func compressDirective() throws {
        let (bytes, d) = try Self.load("compress-deflate")
        #expect(FixtureReader.isDecompressed(bytes))
        let t = try TranscriptBytes(bytes)
        let before = try #require(t.clientBeforeDirective)
        // The first client bytes after the directive are the inflated SELECT, not DEFLATE data.
        #expect(String(decoding: t.client[before...], as: UTF8.self).hasPrefix("c3 SELECT INBOX\r\n"))
        // The fixture sink writes the same directive, so its output reads back the same way.
        #expect(d.fixture.contains(FixtureReader.decompressedDirective))
        let again = try Decoded.decode(Array(d.fixture.utf8), file: "fixture of compress-deflate")
        #expect(summaries(again.events) == Expected.summaries["compress-deflate"]!)
    }

    @Test("the redaction scan itself finds the password in each form it can take")
    func scanFindsSecrets() {
        #expect(secretScanForAlice.leaks(in: "LOGIN alice password").count == 1)
        #expect(!secretScanForAlice.leaks(in: "C: AGFsaWNlAHBhc3N3b3Jk").isEmpty)  // PLAIN \0alice\0password
        #expect(!secretScanForAlice.leaks(in: "C: cGFzc3dvcmQ=").isEmpty)  // LOGIN password
        #expect(!secretScanForAlice.leaks(in: Data("xxpassword".utf8).base64EncodedString()).isEmpty)
        #expect(secretScanForAlice.leaks(in: "log in as alice (password redacted)").isEmpty)
    }
}
