import IMAPCore
import IMAPTranscript
import Testing

@Suite("ConversationDiff")
struct ConversationDiffTests {
    /// Decodes a transcript the way `imapscope read` does.
    static func events(_ lines: [String]) throws -> [Event] {
        let bytes = Array(lines.map { $0 + "\r\n" }.joined().utf8)
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink])
        let decoder = SessionDecoder()
        let t = Timestamp(seconds: 1_700_000_000)
        pipeline.publish(
            decoder.start(client: "0.0.0.0:0", server: "0.0.0.0:143", source: "transcript", time: t), session: "t1")
        for c in try FixtureReader.read(bytes) {
            pipeline.publish(decoder.feed(c.direction, c.bytes, time: t), session: "t1")
        }
        pipeline.publish(decoder.finish(reason: "end", time: t), session: "t1")
        return sink.events
    }

    static let dovecot = [
        "S: * OK [CAPABILITY IMAP4rev1] Dovecot ready.",
        "C: A001 LOGIN alice \"password\"",
        "S: A001 OK Logged in",
        "C: A002 SELECT INBOX",
        "S: * 3 EXISTS",
        "S: * OK [UIDVALIDITY 1700000001] UIDs valid",
        "S: * OK [HIGHESTMODSEQ 17] Highest",
        "S: A002 OK [READ-WRITE] Select completed (0.003 + 0.000 + 0.002 secs).",
        "C: A003 FETCH 1 (FLAGS INTERNALDATE)",
        "S: * 1 FETCH (FLAGS (\\Seen \\Answered) INTERNALDATE \"15-Jan-2024 09:00:00 +0000\")",
        "S: A003 OK Fetch completed (0.001 + 0.000 secs).",
    ]

    static let other = [
        "S: * OK [CAPABILITY IMAP4rev1] Other server ready",
        "C: x1 LOGIN alice \"hunter2\"",
        "S: x1 OK Logged in",
        "C: x2 SELECT INBOX",
        "S: * 3 EXISTS",
        "S: * OK [UIDVALIDITY 99] UIDs valid",
        "S: * OK [HIGHESTMODSEQ 4] Highest",
        "S: x2 OK [READ-WRITE] Select completed (0.013 + 0.000 + 0.012 secs).",
        "C: x3 FETCH 1 (FLAGS INTERNALDATE)",
        "S: * 1 FETCH (FLAGS (\\Answered \\Seen) INTERNALDATE \"16-Jan-2024 10:00:00 +0100\")",
        "S: x3 OK Fetch completed (0.002 + 0.000 secs).",
    ]

    @Test func normalizedLines() throws {
        #expect(
            ConversationDiff.lines(try Self.events(Self.dovecot)) == [
                "S: * OK [CAPABILITY IMAP4rev1] Dovecot ready.",
                "C: LOGIN alice ‹redacted›",
                "S: (LOGIN) OK Logged in",
                "C: SELECT INBOX",
                "S: * 3 EXISTS",
                "S: * OK [UIDVALIDITY 1700000001] UIDs valid",
                "S: * OK [HIGHESTMODSEQ 17] Highest",
                "S: (SELECT) OK [READ-WRITE] Select completed.",
                "C: FETCH 1 (FLAGS INTERNALDATE)",
                "S: * 1 FETCH (FLAGS (\\Answered \\Seen) INTERNALDATE \"15-Jan-2024 09:00:00 +0000\")",
                "S: (FETCH) OK Fetch completed.",
            ])
    }

    @Test func tagsTimesAndMarkersNeverDiffer() throws {
        let a = ConversationDiff.lines(try Self.events(Self.dovecot))
        let b = ConversationDiff.lines(
            try Self.events(Self.other), ignoring: [.uidvalidity, .modseq, .dates, .greeting])
        let masked = ConversationDiff.lines(
            try Self.events(Self.dovecot), ignoring: [.uidvalidity, .modseq, .dates, .greeting])
        #expect(
            ConversationDiff.diff(masked, b).allSatisfy {
                if case .same = $0 { return true }
                return false
            })
        // Unmasked, exactly the greeting text, UIDVALIDITY, HIGHESTMODSEQ and the date differ.
        let ops = ConversationDiff.diff(a, ConversationDiff.lines(try Self.events(Self.other)))
        let text = ConversationDiff.unified(
            ops, nameA: "dovecot", nameB: "other", style: .init(color: false, context: 1))
        #expect(
            text == """
                --- dovecot
                +++ other
                @@ -1,2 +1,2 @@
                -S: * OK [CAPABILITY IMAP4rev1] Dovecot ready.
                +S: * OK [CAPABILITY IMAP4rev1] Other server ready
                 C: LOGIN alice ‹redacted›
                @@ -5,7 +5,7 @@
                 S: * 3 EXISTS
                -S: * OK [UIDVALIDITY 1700000001] UIDs valid
                -S: * OK [HIGHESTMODSEQ 17] Highest
                +S: * OK [UIDVALIDITY 99] UIDs valid
                +S: * OK [HIGHESTMODSEQ 4] Highest
                 S: (SELECT) OK [READ-WRITE] Select completed.
                 C: FETCH 1 (FLAGS INTERNALDATE)
                -S: * 1 FETCH (FLAGS (\\Answered \\Seen) INTERNALDATE "15-Jan-2024 09:00:00 +0000")
                +S: * 1 FETCH (FLAGS (\\Answered \\Seen) INTERNALDATE "16-Jan-2024 10:00:00 +0100")
                 S: (FETCH) OK Fetch completed.

                """)
    }

    @Test func myersFindsTheShortestEditScript() {
        let a = ["a", "b", "c", "a", "b", "b", "a"]
        let b = ["c", "b", "a", "b", "a", "c"]
        let ops = ConversationDiff.diff(a, b)
        #expect(
            ops.filter {
                if case .same = $0 { return false }
                return true
            }.count == 5)
        // Applying the script to A gives B.
        var rebuiltA: [String] = []
        var rebuiltB: [String] = []
        for op in ops {
            switch op {
            case .same(let s):
                rebuiltA.append(s)
                rebuiltB.append(s)
            case .removed(let s): rebuiltA.append(s)
            case .added(let s): rebuiltB.append(s)
            }
        }
        #expect(rebuiltA == a && rebuiltB == b)
        #expect(ConversationDiff.diff([], ["x"]) == [.added("x")])
        #expect(ConversationDiff.diff(["x"], []) == [.removed("x")])
        #expect(ConversationDiff.unified(ConversationDiff.diff(a, a), nameA: "a", nameB: "b") == "")
    }

    @Test func largeInputsStayBounded() {
        // Similar: 5 000 lines with every 100th changed is found exactly.
        let a = (0..<5000).map { "S: * \($0) FETCH (FLAGS ())" }
        var b = a
        for i in stride(from: 0, to: 5000, by: 100) { b[i] = "S: * \(i) FETCH (FLAGS (\\Seen))" }
        let ops = ConversationDiff.diff(a, b)
        #expect(
            ops.filter {
                if case .removed = $0 { return true }
                return false
            }.count == 50)
        #expect(
            ops.filter {
                if case .added = $0 { return true }
                return false
            }.count == 50)
        // Entirely different beyond the bound: everything removed, then everything added.
        let x = (0..<1500).map { "C: NOOP \($0)" }
        let y = (0..<1500).map { "C: CHECK \($0)" }
        #expect(ConversationDiff.diff(x, y) == x.map { .removed($0) } + y.map { .added($0) })
    }

    @Test func colourAndSideBySide() {
        let ops = ConversationDiff.diff(["C: NOOP", "S: (NOOP) OK"], ["C: NOOP", "S: (NOOP) NO"])
        #expect(
            ConversationDiff.unified(ops, nameA: "a", nameB: "b", style: .init(color: true))
                == "\u{1B}[1m--- a\u{1B}[0m\n\u{1B}[1m+++ b\u{1B}[0m\n\u{1B}[36m@@ -1,2 +1,2 @@\u{1B}[0m\n C: NOOP\n\u{1B}[31m-S: (NOOP) OK\u{1B}[0m\n\u{1B}[32m+S: (NOOP) NO\u{1B}[0m\n"
        )
        #expect(
            ConversationDiff.sideBySide(ops, nameA: "a", nameB: "b", style: .init(color: false, width: 43)) == """
                a                      b
                @@ 1 / 1 @@
                C: NOOP                C: NOOP
                S: (NOOP) OK         | S: (NOOP) NO

                """)
    }

    @Test func unknownIgnoreValue() {
        #expect(throws: ConversationDiff.UnknownMask.self) { try ConversationDiff.masks(["uidvalidity,bogus"]) }
        #expect((try? ConversationDiff.masks(["uidvalidity, modseq", "dates"])) == [.uidvalidity, .modseq, .dates])
    }
}
