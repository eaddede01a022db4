import Testing

@testable import IMAPCore

/// Response codes applied alone: each server line's code, in order, against one mailbox being
/// opened → the note and finding it gives, then what the trackers hold.
@Suite("Response code effects")
struct ResponseCodeEffectsTests {
    static func parsed(_ text: String) throws -> (ResponseCode, RawLine) {
        let line = RawLine(segments: [LineSegment(text: Array(text.utf8), ending: .crlf, literal: nil)])
        let response = try ResponseParser.parse(line)
        return (try #require(response.code), line)
    }

    /// (server line, whether it is a tagged completion, the note, the finding).
    static let openingInbox: [(String, Bool, String?, Lint?)] = [
        (
            "* OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] ready", false,
            "server capabilities: 3; SASL mechanisms PLAIN", nil
        ),
        (
            "* OK [UIDVALIDITY 7] UIDs valid", false,
            "UIDVALIDITY 7: cached UIDs of this mailbox stay valid only while this number is unchanged", nil
        ),
        (
            "* OK [UIDNEXT 42] predicted", false,
            "UIDNEXT 42: the next message added will get a UID of at least 42; a cache holding UIDs below it has "
                + "seen all older mail", nil
        ),
        // A code without its number says nothing.
        ("* OK [UIDNEXT] predicted", false, nil, nil),
        (
            "* OK [HIGHESTMODSEQ 9] ok", false,
            "HIGHESTMODSEQ 9: a cache synced up to this mod-sequence can fetch just the changes with CHANGEDSINCE 9",
            nil
        ),
        ("* OK [UNSEEN 3] first unseen", false, "message 3 is the first unseen one", nil),
        (
            "* OK [PERMANENTFLAGS (\\Seen \\*)] limited", false,
            "flags the server keeps: \\Seen \\* (\\* : new keywords allowed)", nil
        ),
        ("* OK [READ-ONLY] look only", false, "the mailbox is selected read-only: flags cannot be changed", nil),
        ("* OK [ALERT] disk full", false, "ALERT: the client must show this to the user", nil),
        // A completion's own note already says what these codes mean.
        ("a1 OK [READ-ONLY] done", true, nil, nil),
        ("a2 NO [TRYCREATE] no such mailbox", true, nil, nil),
        ("a3 NO [ALERT] disk full", true, nil, nil),
        (
            "* NO [TRYCREATE] no such mailbox", false,
            "the target mailbox does not exist; the client may CREATE it and retry", nil
        ),
        ("a4 OK [APPENDUID 38505 3955] APPEND completed", true, "stored with UIDVALIDITY 38505, UID 3955", nil),
        ("a5 OK [APPENDUID 38505] APPEND completed", true, nil, nil),
        (
            "a6 OK [COPYUID 38505 304,319:320 3956:3958] done", true,
            "source UIDs 304,319:320 became 3956:3958 in the target", nil
        ),
        ("* OK [XUNKNOWN 1] ok", false, nil, nil),
    ]

    @Test("codes while INBOX is being opened → notes, findings, then the mailbox")
    func openingAMailbox() throws {
        var mailboxes = MailboxTracker()
        var capabilities = CapabilityTracker()
        mailboxes.beginSelect("INBOX", readOnly: false)
        for (text, inCompletion, note, finding) in Self.openingInbox {
            let (code, line) = try Self.parsed(text)
            let outcome = ResponseCodeEffects.apply(
                code, line: line, inCompletion: inCompletion, epoch: nil, inFlight: CommandsInFlight(),
                mailboxes: &mailboxes, capabilities: &capabilities)
            #expect(outcome.note == note, "\(text)")
            #expect(outcome.lint == finding, "\(text)")
        }
        var inbox = MailboxState(name: "INBOX")
        inbox.readOnly = true
        inbox.uidValidity = 7
        inbox.uidNext = 42
        inbox.highestModSeq = 9
        inbox.unseen = 3
        inbox.permanentFlags = ["\\Seen", "\\*"]
        #expect(mailboxes.selecting == inbox)
        #expect(capabilities.current == ["IMAP4rev1", "IDLE", "AUTH=PLAIN"])
    }

    @Test("a new UIDVALIDITY for a mailbox opened before is a finding; capabilities during LOGIN are post-login")
    func changes() throws {
        var mailboxes = MailboxTracker()
        var capabilities = CapabilityTracker()
        var inFlight = CommandsInFlight()
        let steps: [(String, CapabilityTracker.Epoch?, String, Lint?)] = [
            (
                "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi", .greeting,
                "server capabilities: 2; LOGIN is disabled until TLS", nil
            ),
            (
                "* OK [UIDVALIDITY 7] ok", nil,
                "UIDVALIDITY 7: cached UIDs of this mailbox stay valid only while this number is unchanged", nil
            ),
            (
                "* OK [UIDVALIDITY 8] ok", nil,
                "UIDVALIDITY of INBOX changed from 7 to 8: every UID the client cached for it is void",
                .uidValidityChanged(mailbox: "INBOX", from: 7, to: 8)
            ),
            (
                "a1 OK [CAPABILITY IMAP4rev1 IDLE] hi", nil,
                "capabilities after login: added IDLE; removed LOGINDISABLED", nil
            ),
        ]
        for (index, (text, epoch, note, finding)) in steps.enumerated() {
            // Before the second UIDVALIDITY, INBOX was selected and is being opened again.
            if index == 1 { mailboxes.beginSelect("INBOX", readOnly: false) }
            if index == 2 {
                mailboxes.selectSucceeded(code: nil)
                mailboxes.beginSelect("INBOX", readOnly: false)
            }
            if index == 3 {
                inFlight.add("a1", CommandInFlight(name: .login, uid: false, time: Timestamp(seconds: 1)))
            }
            let (code, line) = try Self.parsed(text)
            let outcome = ResponseCodeEffects.apply(
                code, line: line, inCompletion: false, epoch: epoch, inFlight: inFlight, mailboxes: &mailboxes,
                capabilities: &capabilities)
            #expect(outcome.note == note, "\(text)")
            #expect(outcome.lint == finding, "\(text)")
        }
        #expect(capabilities.epoch == .updatedAfterLogin)
    }
}
