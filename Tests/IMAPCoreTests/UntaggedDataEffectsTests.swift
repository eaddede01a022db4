import Testing

@testable import IMAPCore

/// Untagged data applied alone: with INBOX selected holding 5 messages and the named commands in
/// flight, a server line → its note, finding and whether no command asked for it.
@Suite("Untagged data effects")
struct UntaggedDataEffectsTests {
    static func apply(_ text: String, inFlight names: [String]) throws -> (
        UntaggedDataEffects.Outcome, MailboxTracker
    ) {
        var mailboxes = MailboxTracker()
        mailboxes.beginSelect("INBOX", readOnly: false)
        _ = mailboxes.exists(5)
        mailboxes.selectSucceeded(code: nil)
        var capabilities = CapabilityTracker()
        var inFlight = CommandsInFlight()
        for (index, name) in names.enumerated() {
            inFlight.add(
                "a\(index + 1)",
                CommandInFlight(name: CommandName(name), uid: false, time: Timestamp(seconds: Int64(index))))
        }
        let line = RawLine(segments: [LineSegment(text: Array(text.utf8), ending: .crlf, literal: nil)])
        let response = try ResponseParser.parse(line)
        guard case .data(let name, let number) = response.kind else {
            Issue.record("\(text) is not untagged data")
            return (UntaggedDataEffects.Outcome(), mailboxes)
        }
        let outcome = UntaggedDataEffects.apply(
            name, number: number, response, line: line, inFlight: inFlight, mailboxes: &mailboxes,
            capabilities: &capabilities)
        return (outcome, mailboxes)
    }

    @Test(
        "commands in flight, server line → note, finding, unsolicited, messages after",
        arguments: [
            (
                [], "* 6 EXISTS",
                UntaggedDataEffects.Outcome(
                    note: "1 new message(s); 6 now; unsolicited: no command asked for it", unsolicited: true),
                6
            ),
            (["NOOP"], "* 6 EXISTS", UntaggedDataEffects.Outcome(note: "1 new message(s); 6 now"), 6),
            (
                ["IDLE"], "* 4 EXISTS",
                UntaggedDataEffects.Outcome(
                    note: "4 message(s); pushed during IDLE", lint: .existsShrank(from: 5, to: 4)),
                4
            ),
            (
                ["FETCH", "STORE"], "* 3 EXPUNGE",
                UntaggedDataEffects.Outcome(
                    note:
                        "message 3 removed; every later sequence number shifts down by one; unsolicited, during FETCH a1",
                    unsolicited: true),
                4
            ),
            (["STORE"], "* 2 FETCH (FLAGS (\\Seen))", UntaggedDataEffects.Outcome(), 5),
            (
                [], "* 2 FETCH (FLAGS ())",
                UntaggedDataEffects.Outcome(note: "unsolicited: no command asked for it", unsolicited: true), 5
            ),
            (
                ["LIST"], "* LIST (\\HasNoChildren \\Marked) \"/\" INBOX",
                UntaggedDataEffects.Outcome(note: "no children, marked: may have new mail"), 5
            ),
            (["LIST"], "* LIST (\\XOther) \"/\" Work", UntaggedDataEffects.Outcome(), 5),
            (["ENABLE"], "* ENABLED CONDSTORE", UntaggedDataEffects.Outcome(note: "extensions now active"), 5),
            (["SEARCH"], "* SEARCH 2 3 5", UntaggedDataEffects.Outcome(note: "3 match(es)"), 5),
            (
                [], "* CAPABILITY IMAP4rev1 STARTTLS",
                UntaggedDataEffects.Outcome(note: "server capabilities: 2; STARTTLS offered"), 5
            ),
            (
                ["FETCH"], "* VANISHED (EARLIER) 1:3",
                UntaggedDataEffects.Outcome(note: "UIDs expunged since the client's last sync (QRESYNC)"), 5
            ),
            (["EXPUNGE"], "* VANISHED 1:3", UntaggedDataEffects.Outcome(note: "UIDs expunged just now (QRESYNC)"), 2),
            (["NOOP"], "* 1 RECENT", UntaggedDataEffects.Outcome(), 5),
            ([], "* FLAGS (\\Seen \\Answered)", UntaggedDataEffects.Outcome(), 5),
        ] as [([String], String, UntaggedDataEffects.Outcome, Int)])
    func outcome(_ names: [String], _ text: String, _ expected: UntaggedDataEffects.Outcome, _ messages: Int) throws {
        let (outcome, mailboxes) = try Self.apply(text, inFlight: names)
        #expect(outcome == expected)
        #expect(mailboxes.selected?.exists == messages)
    }

    @Test("RECENT and FLAGS are kept for the selected mailbox")
    func kept() throws {
        #expect(try Self.apply("* 1 RECENT", inFlight: ["NOOP"]).1.selected?.recent == 1)
        #expect(
            try Self.apply("* FLAGS (\\Seen \\Answered)", inFlight: []).1.selected?.flags == ["\\Seen", "\\Answered"])
    }
}
