import Foundation
import IMAPCore
import IMAPReplay
import IMAPTestSupport
import IMAPTranscript
import Testing

/// A hostile tester's vectors: a password placed where the decoder does not expect it (odd
/// LOGIN/AUTHENTICATE syntax, mid-stream starts, gaps, refused literals and AUTHENTICATE,
/// long tags, huge literals, unknown commands). Each must be absent from every output — JSON
/// Lines, text, fixtures (plain and normalized), the summary, diff's lines, and replay's
/// messages and BAD for the same client bytes — in every form (clear, upper case, base64,
/// base64 of PLAIN's `\0alice\0password`); with --show-secrets it must be there.
struct HostileVector: CustomTestStringConvertible, Sendable {
    enum Step: Sendable {
        case client(String)
        case server(String)
        case clientBytes([UInt8])
        case gap(Direction, Int)
    }
    var name: String
    var steps: [Step]
    /// Pieces of the secret each scanned for on its own (a password split over two words).
    var secrets: [String] = [HostileVector.password]
    var fromStart = true
    /// Whether --show-secrets shows it (false where it only ever arrives inside a huge
    /// literal, of which only a digest and a preview are kept).
    var shownWithShowSecrets = true
    var testDescription: String { name }

    static let password = "Zq7hunter2Xv"
}

private func b64(_ s: String) -> String { Base64.encode(Array(s.utf8)) }

enum HostileOutputs {
    static let key: [UInt8] = Array(repeating: 9, count: 32)

    /// Every output of one vector's conversation.
    static func all(_ v: HostileVector, showSecrets: Bool) -> [String: String] {
        let j = MemoryOutput()
        let t = MemoryOutput()
        let f = MemoryOutput()
        let n = MemoryOutput()
        let summary = SummarySink()
        let collect = CollectingSink()
        let p = EventPipeline(
            redactor: Redactor(showSecrets: showSecrets, key: key),
            sinks: [
                JSONLinesWriter(j), TextWriter(t, style: .init(color: false)), FixtureWriter(f),
                FixtureWriter(n, normalize: true), summary, collect,
            ])
        var options = DecoderOptions()
        options.clientStreamFromStart = v.fromStart
        let d = SessionDecoder(options: options)
        var time = Timestamp(seconds: 1_700_000_000)
        p.publish(
            d.start(client: "127.0.0.1:1", server: "127.0.0.1:143", source: "transcript", time: time), session: "s")
        var clientBytes: [UInt8] = []
        for step in v.steps {
            time = Timestamp(microseconds: time.microseconds + 1000)
            switch step {
            case .client(let s):
                clientBytes += Array(s.utf8)
                p.publish(d.feed(.client, Array(s.utf8), time: time), session: "s")
            case .clientBytes(let b):
                clientBytes += b
                p.publish(d.feed(.client, b, time: time), session: "s")
            case .server(let s): p.publish(d.feed(.server, Array(s.utf8), time: time), session: "s")
            case .gap(let dir, let bytes): p.publish(d.gap(dir, bytes: bytes, time: time), session: "s")
            }
        }
        p.publish(d.finish(reason: "end", time: time), session: "s")
        p.finish()
        var outputs = [
            "jsonl": j.text, "text": t.text, "fixture": f.text, "normalized fixture": n.text,
            "summary": summary.report(), "diff": ConversationDiff.lines(collect.events).joined(separator: "\n"),
        ]
        // A replay server sees a connection from its first byte: mid-stream vectors do not apply.
        if v.fromStart { outputs["replay"] = replay(clientBytes) }
        return outputs
    }

    /// What replay says (stderr lines, the BAD it sends) when these client bytes meet a fixture
    /// that expects other commands.
    static func replay(_ client: [UInt8]) -> String {
        let fixture = "S: * OK ready\r\nC: a1 NOOP\r\nS: a1 OK done\r\nC: a2 NOOP\r\nS: a2 OK done\r\n"
        let script: ReplayScript
        do { script = try ReplayScript(fixture: Array(fixture.utf8)) } catch {
            // Without a replay there is no output to search: a failure, not a pass.
            Issue.record("the replay fixture does not parse: \(error)")
            return ""
        }
        let engine = ReplayEngine(script: script)
        var actions = engine.start()
        // Chunks of 64 KiB, as a socket would deliver them.
        var i = 0
        while i < client.count {
            actions += engine.feed(Array(client[i..<min(client.count, i + 65_536)]))
            if engine.isPaused { actions += engine.resume() }
            i += 65_536
        }
        var out = ""
        for a in actions {
            guard case .send(let b) = a else { continue }
            // A response carries the tag of the line it answers, back to the client that sent it.
            for line in String(decoding: b, as: UTF8.self).split(separator: "\r\n") {
                out += line.split(separator: " ", maxSplits: 1).dropFirst().joined() + "\n"
            }
        }
        for m in engine.finish() + engine.mismatches { out += "\n" + m.description + "\n" + m.diff }
        return out
    }
}

@Suite("Hostile secrets")
struct HostileSecretsTests {
    static let pw = HostileVector.password
    static let greeting = HostileVector.Step.server("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] ready\r\n")

    static let vectors: [HostileVector] = [
        .init(
            name: "LOGIN with the password as two words",
            steps: [greeting, .client("a1 LOGIN alice Zq7hun ter2Xv\r\n"), .server("a1 BAD junk\r\n")],
            secrets: ["Zq7hun", "ter2Xv"]),
        .init(
            name: "LOGIN quoted password followed by junk",
            steps: [greeting, .client("a1 LOGIN alice \"\(pw)\" Zq7junk9\r\n"), .server("a1 BAD junk\r\n")],
            secrets: [pw, "Zq7junk9"]),
        .init(
            name: "LOGIN with three literals",
            steps: [
                greeting, .client("a1 LOGIN {5+}\r\nalice {12+}\r\n\(pw) {8+}\r\nZq7junk9\r\n"), .server("a1 BAD\r\n"),
            ],
            secrets: [pw, "Zq7junk9"]),
        .init(
            name: "LOGIN with an unterminated quote",
            steps: [greeting, .client("a1 LOGIN alice \"\(pw)\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "LOGIN with tabs instead of spaces",
            steps: [greeting, .client("a1 LOGIN\talice\t\(pw)\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "LOGIN password in lower case, reasons upper-case words",
            steps: [greeting, .client("a1 LOGIN alice zq7hunter2xv extra[\r\n"), .server("a1 BAD\r\n")],
            secrets: ["zq7hunter2xv"]),
        .init(
            name: "LOGIN password with a section bracket",
            steps: [greeting, .client("a1 LOGIN alice Zq7hun[ter2Xv\r\n"), .server("a1 BAD\r\n")],
            secrets: ["Zq7hun", "ter2Xv"]),
        .init(
            name: "LOGIN password ending in a literal header",
            steps: [greeting, .client("a1 LOGIN alice \(pw){3+}\r\nabc\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "AUTHENTICATE initial response sent as a literal",
            steps: [
                greeting,
                .client("a1 AUTHENTICATE PLAIN {\(b64("\0alice\0\(pw)").utf8.count)+}\r\n\(b64("\0alice\0\(pw)"))\r\n"),
                .server("a1 OK\r\n"),
            ]),
        .init(
            name: "AUTHENTICATE with two initial-response tokens",
            steps: [
                greeting, .client("a1 AUTHENTICATE PLAIN \(b64("\0alice\0x")) \(b64(pw))\r\n"), .server("a1 BAD\r\n"),
            ]),
        .init(
            name: "AUTHENTICATE with a non-base64 initial response",
            steps: [greeting, .client("a1 AUTHENTICATE PLAIN alice:\(pw)\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "AUTHENTICATE with the secret where the mechanism belongs",
            steps: [greeting, .client("a1 AUTHENTICATE \(b64("\0alice\0\(pw)"))\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "AUTHENTICATE with a short secret where the mechanism belongs",
            steps: [greeting, .client("a1 AUTHENTICATE \(pw)!\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "AUTHENTICATE LOGIN whose server asks for the password first",
            steps: [
                greeting, .client("a1 AUTHENTICATE LOGIN\r\n"), .server("+ \(b64("Password:"))\r\n"),
                .client("\(b64(pw))\r\n"), .server("a1 NO\r\n"),
            ]),
        .init(
            name: "LOGIN with the password as its only argument",
            steps: [greeting, .client("a1 LOGIN \(pw)\r\n"), .server("a1 BAD\r\n")]),
        .init(
            name: "an unknown command carrying the password",
            steps: [greeting, .client("a1 XSECRETAUTH alice \(pw)\r\n"), .server("a1 BAD unknown\r\n")]),
        .init(
            name: "a capture that starts inside a LOGIN literal",
            steps: [
                .client("Zq7hun ter2Xv\r\n"), .server("a1 OK Logged in\r\n"), .client("a2 NOOP\r\n"),
                .server("a2 OK\r\n"),
            ],
            secrets: ["Zq7hun", "ter2Xv", "ZQ7HUN", "TER2XV"], fromStart: false),
        .init(
            name: "a capture that starts on a SASL line",
            steps: [.client("\(b64("\0alice\0\(pw)"))\r\n"), .server("a1 OK\r\n")], fromStart: false),
        .init(
            name: "a capture that starts inside a literal that looks like a command",
            steps: [.client("x9 SELECT \(pw)\r\n"), .server("a1 OK\r\n")], fromStart: false),
        .init(
            name: "the first line after a client gap",
            steps: [
                greeting, .client("a1 NOOP\r\n"), .server("a1 OK\r\n"), .gap(.client, 17),
                .client("Zq7hun ter2Xv\r\n"), .server("a2 OK Logged in\r\n"),
            ],
            secrets: ["Zq7hun", "ter2Xv"]),
        .init(
            name: "a line whose tag and command word were lost in a gap",
            steps: [
                greeting, .gap(.client, 15), .client("\(pw) {3}\r\n"), .server("+ go\r\n"), .client("abc\r\n"),
                .server("a2 OK\r\n"),
            ]),
        .init(
            name: "a literal body sent after the server refused the literal",
            steps: [
                greeting, .client("a1 LOGIN alice {13}\r\n"), .server("a1 NO not now\r\n"),
                .client("Zq7hun ter2Xv\r\n"), .server("Zq7hun BAD unknown command\r\n"),
            ],
            secrets: ["Zq7hun", "ter2Xv"]),
        .init(
            name: "a literal whose line may be a secret, waiting for its continuation",
            steps: [
                .client("Zq7hun ter2Xv {5}\r\n"), .server("+ go\r\n"), .client("hello\r\n"),
                .server("Zq7hun BAD unknown command\r\n"),
            ],
            secrets: ["Zq7hun", "ter2Xv"], fromStart: false),
        .init(
            name: "a response sent after a refused AUTHENTICATE",
            steps: [
                greeting, .client("a1 AUTHENTICATE PLAIN\r\n"), .server("+ \r\n"), .server("a1 NO later\r\n"),
                .client("alice \(pw)\r\n"), .server("alice BAD\r\n"),
            ]),
        .init(
            name: "a base64 response sent after a refused AUTHENTICATE",
            steps: [
                greeting, .client("a1 AUTHENTICATE PLAIN\r\n"), .server("a1 NO unsupported\r\n"),
                .client("\(b64("\0alice\0\(pw)"))\r\n"), .server("* BAD\r\n"),
            ]),
        .init(
            name: "a line other than DONE during IDLE",
            steps: [
                greeting, .client("a1 LOGIN alice x\r\n"), .server("a1 OK\r\n"), .client("a2 IDLE\r\n"),
                .server("+ idling\r\n"), .client("Zq7hun ter2Xv\r\n"), .server("a2 BAD expected DONE\r\n"),
            ],
            secrets: ["Zq7hun", "ter2Xv"]),
        .init(
            name: "an over-long LOGIN line",
            steps: [
                greeting, .client("a1 LOGIN alice " + pw + String(repeating: "y", count: 300_000) + "\r\n"),
                .server("a1 BAD too long\r\n"),
            ]),
        .init(
            name: "a 250-character tag before LOGIN with a 6 MB {n+} password",
            steps: [
                greeting,
                .client(String(repeating: "t", count: 250) + " LOGIN alice {6000000+}\r\n"),
                .clientBytes(Array(String(repeating: pw, count: 500_000).utf8)),
                .client("\r\n"), .server(String(repeating: "t", count: 250) + " NO [AUTHENTICATIONFAILED]\r\n"),
            ],
            shownWithShowSecrets: false),
    ]

    @Test("no form of the secret in any output", arguments: vectors)
    func absent(_ v: HostileVector) {
        let plain = "\0alice\0" + HostileVector.password
        for (output, text) in HostileOutputs.all(v, showSecrets: false) {
            for s in v.secrets {
                let leaks = SecretScan(s).leaks(in: text) + (text.contains(s.uppercased()) ? [s.uppercased()] : [])
                #expect(leaks.isEmpty, "\(output) shows \(leaks)", sourceLocation: .__here())
            }
            for form in SecretScan(plain).base64Forms + [b64(plain)] where form.count >= 8 {
                #expect(!text.contains(form), "\(output) shows base64 \(form)")
            }
        }
    }

    @Test("shown with --show-secrets", arguments: vectors.filter(\.shownWithShowSecrets))
    func shown(_ v: HostileVector) {
        let outs = HostileOutputs.all(v, showSecrets: true)
        let first = v.secrets[0]
        let forms = [first, b64("\0alice\0" + first), b64(first)] + SecretScan(first).base64Forms
        #expect(forms.contains { outs["jsonl", default: ""].contains($0) }, "JSON Lines does not show \(first)")
    }

    /// The proxy's pcap fills what the decoder may still call a secret: an unfinished client
    /// line counts as one unless a whole tag and a known, harmless command name arrived.
    @Test func pendingLineMayHoldASecretUntilItsNameIsKnown() {
        let cases: [(String, Bool)] = [
            (String(repeating: "t", count: 250) + " LOGIN alice {6000000+}\r\nZq7", true),
            (String(repeating: "t", count: 250) + " LOG", true),
            ("a1 SELECT", true),  // the name may go on ("SELECTX …" is unknown)
            ("a1 SELECT INB", false),
            ("a1 UID FETCH 1:*", false),
            ("a1 UID", true),
            ("a1 XSECRETAUTH al", true),
            ("a1 AUTHENTICATE PLAIN", true),
            ("Zq7hunter2Xv", true),
            ("a1 UID  FETCH 1", true),  // no name after UID
            ("a1 UID LOGIN x", true),
            ("a1 NOOP\rX ", true),  // the word ends at CR: not a name followed by a space
            ("a1  NOOP x", true),
            ("a1 noop x", false),
            ("+ NOOP x", true),
            ("* NOOP x", true),
        ]
        for (partial, expected) in cases {
            let d = SessionDecoder()
            _ = d.feed(.server, Array("* OK ready\r\n".utf8), time: .zero)
            _ = d.feed(.client, Array(partial.utf8), time: .zero)
            #expect(d.pendingMayHoldSecret(.client) == expected, "\(partial.prefix(40))")
        }
        var options = DecoderOptions()
        options.clientStreamFromStart = false
        let midStream = SessionDecoder(options: options)
        _ = midStream.feed(.client, Array("a1 SELECT INB".utf8), time: .zero)
        #expect(midStream.pendingMayHoldSecret(.client))
    }

    /// Text output escapes what could drive a terminal, wherever it came from on the wire.
    @Test func controlCharactersAreEscapedInText() {
        let esc = "\u{1B}]0;owned\u{07}\u{1B}[2J"
        let v = HostileVector(
            name: "controls",
            steps: [
                .server("* OK [ALERT] hi \(esc)\r\n"), .client("a1 LOGIN \"al\u{1B}[31mice\" x\r\n"),
                .server("a1 OK \u{9B}31m welcome \u{202E}txt.exe\r\n"),
                .client("a2 SELECT \"IN\u{1B}[2JBOX\"\r\n"), .server("a2 NO no \u{1B}[5m mailbox\r\n"),
                .server("* BYE \(esc)\r\n"),
            ], secrets: [])
        let outs = HostileOutputs.all(v, showSecrets: false)
        for key in ["text", "summary", "diff", "replay"] {
            let text = outs[key, default: ""]
            let bad = text.unicodeScalars.filter {
                ($0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r") || (0x7F...0x9F).contains($0.value)
                    || $0.value == 0x202E
            }
            #expect(bad.isEmpty, "\(key) holds raw control characters: \(bad.map { String($0.value, radix: 16) })")
        }
        #expect(outs["text", default: ""].contains("al\\x1B[31mice"))
        #expect(outs["text", default: ""].contains("\\u{009B}31m welcome \\u{202E}txt.exe"))
    }
}
