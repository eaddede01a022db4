import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

@testable import IMAPReplay

/// `FixtureWriter(normalize: true)`: fixtures that are the same for the same conversation, and
/// that still replay after a hand edit.
@Suite("Fixture hygiene")
struct FixtureHygieneTests {
    static func normalized(_ lines: [String], client: String = "192.0.2.1:50123") throws -> String {
        let bytes = Array(lines.map { $0 + "\r\n" }.joined().utf8)
        let out = MemoryOutput()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [FixtureWriter(out, normalize: true)])
        let decoder = SessionDecoder()
        let t = Timestamp(seconds: 1_700_000_000)
        pipeline.publish(
            decoder.start(client: client, server: "192.0.2.2:143", source: "proxy", time: t), session: "s1")
        for c in try FixtureReader.read(bytes) {
            pipeline.publish(decoder.feed(c.direction, c.bytes, time: t), session: "s1")
        }
        pipeline.publish(decoder.finish(reason: "end", time: t), session: "s1")
        pipeline.finish()
        return out.text
    }

    static func recording(tags: [String]) -> [String] {
        [
            "S: * OK ready",
            "C: \(tags[0]) LOGIN alice secret",
            "C: \(tags[1]) SELECT INBOX",
            "S: \(tags[0]) OK logged in",
            "S: * 2 EXISTS",
            "S: \(tags[1]) OK [READ-WRITE] selected",
            "C: \(tags[2]) FETCH 1:2 (FLAGS)",
            "S: * 1 FETCH (FLAGS (\\Seen))",
            "S: * 2 FETCH (FLAGS ())",
            "S: \(tags[2]) OK done",
            "C: \(tags[3]) LOGOUT",
            "S: * BYE bye",
            "S: \(tags[3]) OK bye",
        ]
    }

    @Test func tagsRenumberedAddressesDropped() throws {
        let a = try Self.normalized(Self.recording(tags: ["A0001", "A0002", "A0003", "A0004"]))
        let b = try Self.normalized(Self.recording(tags: ["x7", "x8", "x9", "x10"]), client: "192.0.2.9:61000")
        #expect(a == b)
        // Markers are numbered too: a per-run key would make them differ between recordings.
        let marker = "‹redacted:00000001›"
        #expect(
            a == """
                # imapscope fixture (normalized: tags renumbered, secrets redacted)\r
                S: * OK ready\r
                C: a1 LOGIN alice \(marker)\r
                C: a2 SELECT INBOX\r
                S: a1 OK logged in\r
                S: * 2 EXISTS\r
                S: a2 OK [READ-WRITE] selected\r
                C: a3 FETCH 1:2 (FLAGS)\r
                S: * 1 FETCH (FLAGS (\\Seen))\r
                S: * 2 FETCH (FLAGS ())\r
                S: a3 OK done\r
                C: a4 LOGOUT\r
                S: * BYE bye\r
                S: a4 OK bye\r

                """)
    }

    @Test func handEditedFixtureStillReplays() throws {
        var text = try Self.normalized(Self.recording(tags: ["A1", "A2", "A3", "A4"]))
        // Delete a message's FETCH line and change a flag.
        text = text.replacingOccurrences(of: "S: * 2 FETCH (FLAGS ())\r\n", with: "")
        text = text.replacingOccurrences(of: "S: * 1 FETCH (FLAGS (\\Seen))", with: "S: * 1 FETCH (FLAGS (\\Flagged))")
        let engine = ReplayEngine(script: try ReplayScript(fixture: Array(text.utf8)))
        var out = engine.start()
        out += engine.feed(
            Array("t1 LOGIN alice anything\r\nt2 SELECT INBOX\r\nt3 FETCH 1:2 (FLAGS)\r\nt4 LOGOUT\r\n".utf8))
        let bytes = out.compactMap {
            if case .send(let b) = $0 { return b }
            return nil
        }.joined()
        #expect(
            String(decoding: Array(bytes), as: UTF8.self)
                == "* OK ready\r\nt1 OK logged in\r\n* 2 EXISTS\r\nt2 OK [READ-WRITE] selected\r\n* 1 FETCH (FLAGS (\\Flagged))\r\nt3 OK done\r\n* BYE bye\r\nt4 OK bye\r\n"
        )
        #expect(engine.finish().isEmpty && engine.succeeded)
    }
}

/// `imapscope read --format fixture --normalize` from the command line.
@Suite("read --normalize")
struct ReadNormalizeTests {
    @Test func sameCaptureGivesTheSameFixtureEveryRun() throws {
        let pcap = DovecotProcess.repository.appendingPathComponent("Captures/pcap-auth-plain.pcap").path
        let a = try run(Binary.imapscope, ["read", pcap, "--format", "fixture", "--normalize"])
        let b = try run(Binary.imapscope, ["read", pcap, "--format", "fixture", "--normalize"])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout == b.stdout)
        #expect(a.stdout.hasPrefix("# imapscope fixture (normalized: tags renumbered, secrets redacted)\r\nS: * OK "))
        #expect(a.stdout.contains("\r\nC: a1 CAPABILITY\r\n"))
        #expect(a.stdout.contains("‹redacted:00000001›"))
        #expect(!a.stdout.contains("password"))
        // Without --normalize the per-run marker key makes two runs differ.
        let plain1 = try run(Binary.imapscope, ["read", pcap, "--format", "fixture"])
        let plain2 = try run(Binary.imapscope, ["read", pcap, "--format", "fixture"])
        #expect(plain1.stdout != plain2.stdout)
        // Reading a normalized fixture and normalizing again changes nothing.
        let path = NSTemporaryDirectory() + "imapscope-normalized-\(UUID().uuidString).fixture"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        let again = try run(Binary.imapscope, ["read", path, "--format", "fixture", "--normalize"])
        #expect(again.stdout == a.stdout)
    }

    @Test func normalizeNeedsFixtureFormat() throws {
        let r = try run(Binary.imapscope, ["read", "x.pcap", "--normalize"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("Error: --normalize applies to --format fixture only"))
    }
}
