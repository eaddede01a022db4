import IMAPCore
import IMAPTranscript
import Testing

/// Whole conversations → exact event sequences, and the same events however the bytes are cut.
struct SessionScript: CustomTestStringConvertible, Sendable {
    var name: String
    var script: String
    var expected: [String]
    var testDescription: String { name }
}

@Suite("Session decoder")
struct SessionDecoderTests {
    static let rfc3501Sample = """
        S:   * OK IMAP4rev1 Service Ready
        C:   a001 login mrc secret
        S:   a001 OK LOGIN completed
        C:   a002 select inbox
        S:   * 18 EXISTS
        S:   * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
        S:   * 2 RECENT
        S:   * OK [UNSEEN 17] Message 17 is the first unseen message
        S:   * OK [UIDVALIDITY 3857529045] UIDs valid
        S:   a002 OK [READ-WRITE] SELECT completed
        C:   a003 fetch 12 full
        S:   * 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700"
              RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"
              "IMAP4rev1 WG mtg summary and minutes"
              (("Terry Gray" NIL "gray" "cac.washington.edu"))
              (("Terry Gray" NIL "gray" "cac.washington.edu"))
              (("Terry Gray" NIL "gray" "cac.washington.edu"))
              ((NIL NIL "imap" "cac.washington.edu"))
              ((NIL NIL "minutes" "CNRI.Reston.VA.US")
              ("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL
              "<B27397-0100000@cac.washington.edu>")
               BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028
               92))
        S:    a003 OK FETCH completed
        C:    a004 fetch 12 body[header]
        S:    * 12 FETCH (BODY[HEADER] {342}
        S:    Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
        S:    From: Terry Gray <gray@cac.washington.edu>
        S:    Subject: IMAP4rev1 WG mtg summary and minutes
        S:    To: imap@cac.washington.edu
        S:    cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>
        S:    Message-Id: <B27397-0100000@cac.washington.edu>
        S:    MIME-Version: 1.0
        S:    Content-Type: TEXT/PLAIN; CHARSET=US-ASCII
        S:
        S:    )
        S:    a004 OK FETCH completed
        C:    a005 store 12 +flags \\deleted
        S:    * 12 FETCH (FLAGS (\\Seen \\Deleted))
        S:    a005 OK +FLAGS completed
        C:    a006 logout
        S:    * BYE IMAP4rev1 server terminating connection
        S:    a006 OK LOGOUT completed
        """

    static let scripts: [SessionScript] = [
        .init(
            name: "RFC 3501 §8 sample", script: rfc3501Sample,
            expected: [
                "start", "S * OK", "C a001 LOGIN", "lint cleartext-login", "S a001 OK LOGIN",
                "C a002 SELECT", "S * 18 EXISTS", "S * FLAGS", "S * 2 RECENT", "S * OK", "S * OK", "S a002 OK SELECT",
                "C a003 FETCH", "S * 12 FETCH", "S a003 OK FETCH",
                "C a004 FETCH", "S * 12 FETCH", "S a004 OK FETCH",
                "C a005 STORE", "S * 12 FETCH", "S a005 OK STORE",
                "C a006 LOGOUT", "S * BYE", "S a006 OK LOGOUT", "end",
            ]),
        // RFC 9051 §6.3.2 SELECT example (with UIDNEXT, PERMANENTFLAGS and LIST inside)
        .init(
            name: "RFC 9051 SELECT",
            script: """
                S: * PREAUTH IMAP4rev2 server logged in as Smith
                C: A142 SELECT INBOX
                S: * 172 EXISTS
                S: * OK [UIDVALIDITY 3857529045] UIDs valid
                S: * OK [UIDNEXT 4392] Predicted next UID
                S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
                S: * OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited
                S: * LIST () "/" INBOX
                S: A142 OK [READ-WRITE] SELECT completed
                """,
            expected: [
                "start", "S * PREAUTH", "C A142 SELECT", "S * 172 EXISTS", "S * OK", "S * OK", "S * FLAGS", "S * OK",
                "S * LIST", "S A142 OK SELECT", "end",
            ]),
        // RFC 9051 §6.3.12 APPEND with a synchronizing literal
        .init(
            name: "APPEND synchronizing literal",
            script: """
                S: * PREAUTH ready
                C: A003 APPEND saved-messages (\\Seen) {23}
                S: + Ready for literal data
                C: Subject: hi
                C:
                C: hello
                C:
                S: A003 OK APPEND completed
                """, expected: ["start", "S * PREAUTH", "S +", "C A003 APPEND", "S A003 OK APPEND", "end"]),
        .init(
            name: "APPEND refused before its literal",
            script: """
                S: * PREAUTH ready
                C: A004 APPEND nosuch {5}
                S: A004 NO [TRYCREATE] no such mailbox
                C: A005 NOOP
                S: A005 OK done
                """,
            expected: [
                "start", "S * PREAUTH", "C A004 APPEND", "S A004 NO APPEND", "C unparsed", "S ‹redacted:6fa1463e› OK",
                "end",
            ]),
        .init(
            name: "LOGIN with literals",
            script: """
                S: * OK [CAPABILITY IMAP4rev1 LITERAL+] hi
                C: a1 LOGIN {5}
                S: + go
                C: alice {8}
                S: + go
                C: password
                S: a1 OK done
                """,
            expected: ["start", "S * OK", "S +", "S +", "C a1 LOGIN", "lint cleartext-login", "S a1 OK LOGIN", "end"]),
        .init(
            name: "pipelining",
            script: """
                S: * PREAUTH hi
                C: a1 SELECT INBOX
                C: a2 FETCH 1 FLAGS
                C: a3 NOOP
                S: * 1 EXISTS
                S: a1 OK [READ-WRITE] done
                S: * 1 FETCH (FLAGS ())
                S: a3 OK noop
                S: a2 OK fetch
                """,
            expected: [
                "start", "S * PREAUTH", "C a1 SELECT", "C a2 FETCH", "C a3 NOOP", "S * 1 EXISTS", "S a1 OK SELECT",
                "S * 1 FETCH", "S a3 OK NOOP", "S a2 OK FETCH", "end",
            ]),
        .init(
            name: "AUTHENTICATE PLAIN without initial response",
            script: """
                S: * OK ready
                C: a1 AUTHENTICATE PLAIN
                S: +
                C: AGFsaWNlAHBhc3N3b3Jk
                S: a1 OK logged in
                C: a2 LOGOUT
                S: * BYE bye
                S: a2 OK bye
                """,
            expected: [
                "start", "S * OK", "C a1 AUTHENTICATE", "lint cleartext-auth", "S sasl PLAIN 1", "C sasl PLAIN 2",
                "S a1 OK AUTHENTICATE", "C a2 LOGOUT", "S * BYE", "S a2 OK LOGOUT", "end",
            ]),
        .init(
            name: "AUTHENTICATE cancelled",
            script: """
                S: * OK ready
                C: a1 AUTHENTICATE CRAM-MD5
                S: + PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+
                C: *
                S: a1 BAD cancelled
                C: a2 NOOP
                S: a2 OK noop
                """,
            expected: [
                "start", "S * OK", "C a1 AUTHENTICATE", "S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2",
                "S a1 BAD AUTHENTICATE",
                "C a2 NOOP", "S a2 OK NOOP", "end",
            ]),
        .init(
            name: "IDLE with a push",
            script: """
                S: * PREAUTH hi
                C: a1 SELECT INBOX
                S: * 3 EXISTS
                S: a1 OK selected
                C: a2 IDLE
                S: + idling
                S: * 4 EXISTS
                C: DONE
                S: a2 OK IDLE terminated
                """,
            expected: [
                "start", "S * PREAUTH", "C a1 SELECT", "S * 3 EXISTS", "S a1 OK SELECT", "C a2 IDLE", "S +",
                "S * 4 EXISTS",
                "C DONE", "S a2 OK IDLE", "end",
            ]),
        .init(
            name: "STARTTLS then TLS bytes",
            script: """
                S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
                C: a1 STARTTLS
                S: a1 OK Begin TLS negotiation now
                C: \u{16}\u{03}\u{01}binary
                S: \u{16}\u{03}\u{03}more
                """, expected: ["start", "S * OK", "C a1 STARTTLS", "S a1 OK STARTTLS", "tls starttls", "end"]),
        .init(
            name: "unsolicited EXPUNGE during FETCH",
            script: """
                S: * PREAUTH hi
                C: a1 SELECT INBOX
                S: * 5 EXISTS
                S: a1 OK done
                C: a2 FETCH 1:2 FLAGS
                S: * 1 FETCH (FLAGS (\\Seen))
                S: * 3 EXPUNGE
                S: * 2 FETCH (FLAGS ())
                S: a2 OK done
                """,
            expected: [
                "start", "S * PREAUTH", "C a1 SELECT", "S * 5 EXISTS", "S a1 OK SELECT", "C a2 FETCH", "S * 1 FETCH",
                "S * 3 EXPUNGE", "S * 2 FETCH", "S a2 OK FETCH", "end",
            ]),
        .init(
            name: "unknown command stays generic",
            script: """
                S: * PREAUTH hi
                C: x1 XAPPLEPUSHSERVICE aps-version 2
                S: x1 OK done
                """, expected: ["start", "S * PREAUTH", "C x1 XAPPLEPUSHSERVICE", "S x1 OK XAPPLEPUSHSERVICE", "end"]),
        .init(
            name: "garbage resynchronises",
            script: """
                S: * PREAUTH hi
                C: ((((
                C: a1 NOOP
                S: !!!
                S: a1 OK done
                """, expected: ["start", "S * PREAUTH", "C unparsed", "C a1 NOOP", "S unparsed", "S a1 OK NOOP", "end"]),
    ]

    @Test("decodes to the exact events", arguments: scripts)
    func exactEvents(_ s: SessionScript) {
        let events = Harness.run(s.script)
        #expect(Harness.summaries(events) == s.expected)
    }

    @Test("the same events however the bytes are split", arguments: scripts)
    func splitAnywhere(_ s: SessionScript) {
        let whole = Harness.canonical(Harness.run(s.script))
        let total = Harness.chunks(s.script).reduce(0) { $0 + $1.bytes.count }
        for at in 1..<total {
            let split = Harness.canonical(Harness.run(s.script, chunking: .split(at)))
            if split != whole {
                Issue.record(
                    "split at byte \(at) changed the events:\n\(zip(whole, split).first { $0 != $1 }.map { "\($0)\n\($1)" } ?? "count \(whole.count) vs \(split.count)")"
                )
                return
            }
        }
        #expect(Harness.canonical(Harness.run(s.script, chunking: .bytewise)) == whole)
    }

    @Test func latencyAndCommandMatched() {
        let events = Harness.run("S: * PREAUTH hi\nC: a1 NOOP\nS: a1 OK done\n")
        let tagged = events.first { $0.kind == .tagged }!
        #expect(tagged["command"]?.stringValue == "NOOP")
        #expect(tagged["latency_ms"]?.doubleValue == 1.0)
        #expect(tagged["text"]?.stringValue == "done")
    }

    @Test func mailboxStateTracked() {
        let events = Harness.run(Self.scripts[1].script)
        let end = events.last!
        #expect(
            end["mailbox"]?.serialized
                == #"{"name":"INBOX","read_only":false,"exists":172,"uidvalidity":3857529045,"uidnext":4392}"#)
        #expect(end["state"]?.stringValue == "selected")
    }

    @Test func capabilitiesAnnotatedAcrossLogin() {
        let events = Harness.run(
            """
            S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED STARTTLS] hi
            C: a1 LOGIN bob pw
            S: a1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] welcome
            """)
        #expect(
            events[1].annotation
                == "greeting: the server is ready; the client must authenticate; server capabilities: 4; SASL mechanisms PLAIN; LOGIN is disabled until TLS; STARTTLS offered"
        )
        let ok = events.first { $0.kind == .tagged }!
        #expect(
            ok.annotation?.hasSuffix(
                "capabilities after login: added IDLE MOVE; removed AUTH=PLAIN LOGINDISABLED STARTTLS") == true,
            "\(ok.annotation ?? "")")
    }

    @Test func unsolicitedMarked() {
        let events = Harness.run(Self.scripts[10].script)
        let expunge = events.first { $0["name"]?.stringValue == "EXPUNGE" }!
        #expect(expunge["unsolicited"]?.boolValue == true)
        #expect(
            expunge.annotation
                == "message 3 removed; every later sequence number shifts down by one; unsolicited, during FETCH a2")
        let fetch = events.first { $0["name"]?.stringValue == "FETCH" }!
        #expect(fetch["unsolicited"] == nil)
    }

    @Test func idlePushAnnotated() {
        let events = Harness.run(Self.scripts[8].script)
        let exists = events.first { $0["number"]?.intValue == 4 }!
        #expect(exists.annotation == "1 new message(s); 4 now; pushed during IDLE")
    }

    @Test func startTLSCountsEncryptedBytes() {
        let events = Harness.run(Self.scripts[9].script)
        let end = events.last!
        #expect(end["encrypted_bytes"]?.serialized == #"{"client":11,"server":9}"#)
        #expect(events.contains { $0.kind == .lint } == false)
    }

    @Test func everyByteAccounted() {
        for s in Self.scripts where !s.name.contains("STARTTLS") {
            let events = Harness.run(s.script)
            var perDir: [Direction: Int64] = [:]
            for e in events { if let d = e.dir, let b = e["bytes"]?.intValue { perDir[d, default: 0] += b } }
            var input: [Direction: Int64] = [:]
            for c in Harness.chunks(s.script) { input[c.direction, default: 0] += Int64(c.bytes.count) }
            #expect(perDir == input, "\(s.name)")
        }
    }
}
