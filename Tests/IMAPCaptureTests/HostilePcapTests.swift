import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import Testing

/// Hostile captures read by the `imapscope` binary as a user runs it: a password where the
/// decoder cannot know it is one (a capture that starts inside a LOGIN literal, the line after
/// a lost segment, a response pipelined after a refused AUTHENTICATE). Every output `read` and
/// `diff` give must hide it in every form; `--show-secrets` must show it.
@Suite("Hostile captures")
struct HostilePcapTests {
    static let pw = "Zq7hun ter2Xv"

    static func captures() -> [(name: String, packets: [(frame: [UInt8], time: Timestamp, wire: Int?)])] {
        var midStream = Conversation()
        midStream.client(pw + "\r\n")  // the body of a LOGIN literal the capture missed
        midStream.server("a1 OK Logged in\r\n")
        midStream.client("a2 SELECT INBOX\r\n")
        midStream.server("a2 OK [READ-WRITE] done\r\n")
        midStream.client("a3 NOOP\r\n")
        midStream.server("a3 OK done\r\n")

        var lost = Conversation()
        lost.handshake()
        lost.server("* OK ready\r\n")
        lost.client("a1 LOGIN alice {13}\r\n")  // lost
        lost.server("+ go\r\n")
        lost.client(pw + "\r\n")
        lost.server("a1 OK Logged in\r\n")
        lost.close()
        var lostPackets = lost.packets
        lostPackets.remove(at: 4)

        var refused = Conversation()
        refused.handshake()
        refused.server("* OK ready\r\n")
        refused.client("a1 AUTHENTICATE PLAIN\r\n")
        refused.server("+ \r\n")
        refused.server("a1 NO try again later\r\n")
        refused.client("alice " + pw + "\r\n")  // a client that answers anyway, not in base64
        refused.server("alice BAD unknown command\r\n")
        refused.close()
        return [
            ("mid-stream", midStream.packets), ("lost segment", lostPackets), ("refused AUTHENTICATE", refused.packets),
        ]
    }

    @Test func noOutputShowsThePassword() throws {
        let other = try CaptureHarness.write(Conversation.basic().packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: other) }
        for c in Self.captures() {
            let path = try CaptureHarness.write(c.packets, linkType: 1)
            defer { try? FileManager.default.removeItem(atPath: path) }
            var outputs: [String: ProcessResult] = [:]
            for format in ["jsonl", "text", "fixture"] {
                outputs[format] = try run(
                    Binary.imapscope, ["read", path, "--format", format, "--summary", "--color", "never"])
            }
            outputs["fixture --normalize"] = try run(
                Binary.imapscope, ["read", path, "--format", "fixture", "--normalize"])
            outputs["diff"] = try run(Binary.imapscope, ["diff", path, other, "--color", "never"])
            for (what, r) in outputs {
                let text = r.stdout + r.stderr
                #expect(r.status == (what == "diff" ? 1 : 0), "\(c.name), \(what): exit \(r.status) \(r.stderr)")
                for piece in ["Zq7hun", "ter2Xv", "ZQ7HUN", "TER2XV"] {
                    #expect(
                        SecretScan(piece).leaks(in: text).isEmpty && !text.contains(piece),
                        "\(c.name), \(what) shows \(piece)")
                }
                #expect(!text.contains(Base64.encode(Array(("\0alice\0" + Self.pw).utf8))))
            }
            let jsonl = outputs["jsonl"]?.stdout ?? ""
            #expect(
                jsonl.contains("‹hidden client line: 15 bytes›") || jsonl.contains("‹hidden client line: 21 bytes›"),
                "\(c.name): \(jsonl)")
            let shown = try run(Binary.imapscope, ["read", path, "--format", "jsonl", "--show-secrets"])
            #expect(shown.stdout.contains(Self.pw), "\(c.name): --show-secrets hides it")
        }
    }

    /// The first line's tag is not the one the server completes (it was a literal's body), so
    /// the next line stays hidden too, until a2's completion confirms it; from a3 on the stream
    /// is decoded as usual.
    @Test func decodingResumesAfterTheConfirmation() throws {
        guard let mid = Self.captures().first else {
            Issue.record("no captures")
            return
        }
        let path = try CaptureHarness.write(mid.packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (events, _) = try CaptureHarness.read(path)
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "C unparsed", "S ‹redacted:1cd2aad9› OK", "C unparsed", "S ‹redacted:b1377434› OK",
                "C a3 NOOP", "S a3 OK NOOP", "end",
            ])
    }
}
