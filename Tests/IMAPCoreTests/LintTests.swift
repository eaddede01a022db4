import IMAPCore
import IMAPTranscript
import Testing

/// One vector per lint: the script and exactly the lint codes it must raise, in order.
struct LintVector: CustomTestStringConvertible, Sendable {
    var code: String
    var script: String
    var expected: [String]
    var testDescription: String { code }
}

@Suite("Lints")
struct LintTests {
    static let tls = "S: * OK [CAPABILITY IMAP4rev1 STARTTLS] hi\n"
    static let vectors: [LintVector] = [
        .init(
            code: "tag-reused", script: "S: * PREAUTH hi\nC: a1 NOOP\nC: a1 CHECK\nS: a1 OK\n",
            expected: ["tag-reused", "invalid-state", "no-completion"]),
        .init(code: "unknown-tag", script: "S: * PREAUTH hi\nS: zz9 OK done\n", expected: ["unknown-tag"]),
        .init(
            code: "literal-before-continuation",
            script: "S: * OK hi\nC: a1 APPEND INBOX {5}\nC: hello\nS: + go\nS: a1 OK\n",
            expected: ["literal-before-continuation", "invalid-state"]),
        .init(
            code: "exists-shrank",
            script:
                "S: * PREAUTH hi\nC: a1 SELECT INBOX\nS: * 5 EXISTS\nS: a1 OK\nC: a2 NOOP\nS: * 3 EXISTS\nS: a2 OK\n",
            expected: ["exists-shrank"]),
        .init(
            code: "invalid-state", script: "S: * OK hi\nC: a1 FETCH 1 FLAGS\nS: a1 BAD no mailbox\n",
            expected: ["invalid-state"]),
        .init(
            code: "pipelined-after-starttls", script: tls + "C: a1 STARTTLS\nC: a2 LOGIN bob pw\nS: a1 OK go\n",
            expected: ["pipelined-after-starttls"]),
        .init(
            code: "plaintext-after-starttls", script: tls + "C: a1 STARTTLS\nS: a1 OK go\nS: * OK injected\n",
            expected: ["plaintext-after-starttls"]),
        .init(
            code: "cleartext-login", script: "S: * OK hi\nC: a1 LOGIN bob pw\nS: a1 OK\n", expected: ["cleartext-login"]
        ),
        .init(
            code: "login-disabled",
            script: "S: * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\nC: a1 LOGIN bob pw\nS: a1 NO\n",
            expected: ["login-disabled", "cleartext-login"]),
        .init(
            code: "cleartext-auth", script: "S: * OK hi\nC: a1 AUTHENTICATE PLAIN AGJvYgBwdw==\nS: a1 OK\n",
            expected: ["cleartext-auth"]),
        .init(
            code: "non-sync-literal",
            script: "S: * OK [CAPABILITY IMAP4rev1] hi\nC: a1 LOGIN bob {2+}\nC: pw\nS: a1 OK\n",
            expected: ["cleartext-login", "non-sync-literal"]),
        .init(
            code: "bare-lf", script: "S: * PREAUTH hi\u{0D}\u{0A}C: a1 NOOP\u{0A}S: a1 OK\u{0D}\u{0A}",
            expected: ["bare-lf"]),
        .init(
            code: "malformed-command", script: "S: * PREAUTH hi\nC: a1 SELECT\nS: a1 BAD\n",
            expected: ["malformed-command"]),
        .init(
            code: "malformed-response", script: "S: * PREAUTH hi\nS: * LIST (\\Noselect)\n",
            expected: ["malformed-response"]),
        .init(
            code: "unexpected-continuation", script: "S: * PREAUTH hi\nS: + what\n",
            expected: ["unexpected-continuation"]),
        .init(
            code: "idle-without-done",
            script: "S: * PREAUTH hi\nC: a1 IDLE\nS: + idling\nC: a2 NOOP\nS: a1 OK\nS: a2 OK\n",
            expected: ["idle-without-done"]),
        .init(code: "done-outside-idle", script: "S: * PREAUTH hi\nC: DONE\n", expected: ["done-outside-idle"]),
        .init(
            code: "uidvalidity-changed",
            script:
                "S: * PREAUTH hi\nC: a1 SELECT INBOX\nS: * OK [UIDVALIDITY 1] x\nS: a1 OK\nC: a2 SELECT INBOX\nS: * OK [UIDVALIDITY 2] x\nS: a2 OK\n",
            expected: ["uidvalidity-changed"]),
        .init(code: "late-preauth", script: "S: * OK hi\nS: * PREAUTH again\n", expected: ["late-preauth"]),
        .init(code: "no-completion", script: "S: * PREAUTH hi\nC: a1 NOOP\n", expected: ["no-completion"]),
        .init(
            code: "truncated-literal",
            script: "S: * PREAUTH hi\nC: a1 NOOP\nS: * 1 FETCH (BODY[] {100}\nS: only a little\n",
            expected: ["truncated-literal", "malformed-response", "no-completion"]),
        .init(
            code: "pipelined-after-compress",
            script: "S: * PREAUTH hi\nC: a1 COMPRESS DEFLATE\n" + String(repeating: "C: a2 NOOP\n", count: 8000),
            expected: ["pipelined-after-compress", "no-completion"]),
    ]

    @Test("raises exactly its lints", arguments: vectors)
    func raises(_ v: LintVector) {
        let codes = Harness.run(v.script).filter { $0.kind == .lint }.compactMap { $0["code"]?.stringValue }
        #expect(codes == v.expected)
    }

    /// Every event of the pipelined COMPRESS vector, and every field of its lint: the 72000
    /// plaintext bytes sent behind COMPRESS are taken as DEFLATE (as the server would), which
    /// they are not, so the rest of the direction is one unparsed event of their size.
    @Test func pipelinedAfterCompressInFull() {
        let events = Harness.run(Self.vectors.first { $0.code == "pipelined-after-compress" }!.script)
        #expect(
            Harness.summaries(events) == [
                "start", "S * PREAUTH", "C a1 COMPRESS", "lint pipelined-after-compress",
                "C unparsed", "lint no-completion", "end",
            ])
        let lint = events.first { $0.kind == .lint }
        #expect(
            lint?.json.serialized == #"{"session":"s1","seq":4,"time":"2023-11-14T22:13:20.002000Z","#
                + #""kind":"lint","dir":"client","level":"error","code":"pipelined-after-compress","#
                + #""message":"client sent 72000 bytes after a1 COMPRESS without waiting for the result"}"#)
        let unparsed = events.first { $0.kind == .unparsed }
        #expect(unparsed?["bytes"]?.intValue == 72000)
        #expect(unparsed?["raw"]?.stringValue == "‹hidden client line: 72000 bytes›")
        #expect(
            unparsed?["reason"]?.stringValue
                == "corrupt DEFLATE stream (corruptData); the rest of this direction cannot be decoded")
        #expect(events.last?["encrypted_bytes"]?.serialized == #"{"client":72000}"#)
    }

    /// A stream that ends inside a line (no CRLF): `truncated-line` from the side whose line it
    /// was, then the line decoded as far as it goes and flagged `truncated`.
    @Test(arguments: [
        (
            "S: * PREAUTH hi\nC: a1 NOOP\nS: a1 OK done\nC: a2 SELECT INB\n", Direction.client,
            [
                "start", "S * PREAUTH", "C a1 NOOP", "S a1 OK NOOP", "lint truncated-line", "C a2 SELECT",
                "lint no-completion", "end",
            ]
        ),
        (
            "S: * PREAUTH hi\nC: a1 NOOP\nS: * 3 EXIS\n", Direction.server,
            ["start", "S * PREAUTH", "C a1 NOOP", "lint truncated-line", "S * 3 EXIS", "lint no-completion", "end"]
        ),
    ])
    func truncatedLine(script: String, side: Direction, expected: [String]) throws {
        var chunks = Harness.chunks(script)
        #expect(chunks[chunks.count - 1].bytes.suffix(2) == [0x0D, 0x0A])
        chunks[chunks.count - 1].bytes.removeLast(2)
        let events = Harness.run(chunks: chunks)
        #expect(Harness.summaries(events) == expected)
        let lint = try #require(events.first { $0["code"]?.stringValue == "truncated-line" })
        #expect(lint.dir == side)
        #expect(lint["level"]?.stringValue == "info")
        #expect(lint["message"]?.stringValue == "the stream ended in the middle of a \(side.rawValue) line")
        let cut = try #require(events.first { ($0.kind == .command || $0.kind == .untagged) && $0["truncated"] != nil })
        #expect(cut["truncated"]?.boolValue == true)
        #expect(cut["line"]?.stringValue == (side == .client ? "a2 SELECT INB" : "* 3 EXIS"))
    }

    @Test func everyLintHasLevelAndMessage() {
        for v in Self.vectors {
            for e in Harness.run(v.script) where e.kind == .lint {
                #expect(["info", "warning", "error"].contains(e["level"]?.stringValue ?? ""))
                #expect((e["message"]?.stringValue ?? "").count > 10)
            }
        }
    }
}
