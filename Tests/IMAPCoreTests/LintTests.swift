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
        .init(code: "tag-reused", script: "S: * PREAUTH hi\nC: a1 NOOP\nC: a1 CHECK\nS: a1 OK\n", expected: ["tag-reused", "invalid-state", "no-completion"]),
        .init(code: "unknown-tag", script: "S: * PREAUTH hi\nS: zz9 OK done\n", expected: ["unknown-tag"]),
        .init(code: "literal-before-continuation", script: "S: * OK hi\nC: a1 APPEND INBOX {5}\nC: hello\nS: + go\nS: a1 OK\n",
              expected: ["literal-before-continuation", "invalid-state"]),
        .init(code: "exists-shrank", script: "S: * PREAUTH hi\nC: a1 SELECT INBOX\nS: * 5 EXISTS\nS: a1 OK\nC: a2 NOOP\nS: * 3 EXISTS\nS: a2 OK\n", expected: ["exists-shrank"]),
        .init(code: "invalid-state", script: "S: * OK hi\nC: a1 FETCH 1 FLAGS\nS: a1 BAD no mailbox\n", expected: ["invalid-state"]),
        .init(code: "pipelined-after-starttls", script: tls + "C: a1 STARTTLS\nC: a2 LOGIN bob pw\nS: a1 OK go\n", expected: ["pipelined-after-starttls"]),
        .init(code: "plaintext-after-starttls", script: tls + "C: a1 STARTTLS\nS: a1 OK go\nS: * OK injected\n", expected: ["plaintext-after-starttls"]),
        .init(code: "cleartext-login", script: "S: * OK hi\nC: a1 LOGIN bob pw\nS: a1 OK\n", expected: ["cleartext-login"]),
        .init(code: "login-disabled", script: "S: * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\nC: a1 LOGIN bob pw\nS: a1 NO\n", expected: ["login-disabled", "cleartext-login"]),
        .init(code: "cleartext-auth", script: "S: * OK hi\nC: a1 AUTHENTICATE PLAIN AGJvYgBwdw==\nS: a1 OK\n", expected: ["cleartext-auth"]),
        .init(code: "non-sync-literal", script: "S: * OK [CAPABILITY IMAP4rev1] hi\nC: a1 LOGIN bob {2+}\nC: pw\nS: a1 OK\n", expected: ["cleartext-login", "non-sync-literal"]),
        .init(code: "bare-lf", script: "S: * PREAUTH hi\u{0D}\u{0A}C: a1 NOOP\u{0A}S: a1 OK\u{0D}\u{0A}", expected: ["bare-lf"]),
        .init(code: "malformed-command", script: "S: * PREAUTH hi\nC: a1 SELECT\nS: a1 BAD\n", expected: ["malformed-command"]),
        .init(code: "malformed-response", script: "S: * PREAUTH hi\nS: * LIST (\\Noselect)\n", expected: ["malformed-response"]),
        .init(code: "unexpected-continuation", script: "S: * PREAUTH hi\nS: + what\n", expected: ["unexpected-continuation"]),
        .init(code: "idle-without-done", script: "S: * PREAUTH hi\nC: a1 IDLE\nS: + idling\nC: a2 NOOP\nS: a1 OK\nS: a2 OK\n", expected: ["idle-without-done"]),
        .init(code: "done-outside-idle", script: "S: * PREAUTH hi\nC: DONE\n", expected: ["done-outside-idle"]),
        .init(code: "uidvalidity-changed", script: "S: * PREAUTH hi\nC: a1 SELECT INBOX\nS: * OK [UIDVALIDITY 1] x\nS: a1 OK\nC: a2 SELECT INBOX\nS: * OK [UIDVALIDITY 2] x\nS: a2 OK\n", expected: ["uidvalidity-changed"]),
        .init(code: "late-preauth", script: "S: * OK hi\nS: * PREAUTH again\n", expected: ["late-preauth"]),
        .init(code: "no-completion", script: "S: * PREAUTH hi\nC: a1 NOOP\n", expected: ["no-completion"]),
        .init(code: "truncated-literal", script: "S: * PREAUTH hi\nC: a1 NOOP\nS: * 1 FETCH (BODY[] {100}\nS: only a little\n", expected: ["truncated-literal", "malformed-response", "no-completion"]),
        .init(code: "pipelined-after-compress", script: "S: * PREAUTH hi\nC: a1 COMPRESS DEFLATE\n" + String(repeating: "C: a2 NOOP\n", count: 8000), expected: ["pipelined-after-compress"]),
    ]

    @Test("raises exactly its lints", arguments: vectors)
    func raises(_ v: LintVector) {
        var events = Harness.run(v.script)
        if v.code == "pipelined-after-compress" { events = Array(events.prefix(6)) }
        let codes = events.filter { $0.kind == .lint }.compactMap { $0["code"]?.stringValue }
        if v.code == "pipelined-after-compress" {
            #expect(codes.first == v.code)
        } else {
            #expect(codes == v.expected)
        }
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
