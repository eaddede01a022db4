import Testing

@testable import IMAPCore

/// The decoder's parts, each driven alone: what they hold after a sequence of inputs and exactly
/// what they say about each.
@Suite("Decoder parts")
struct DecoderPartsTests {
    @Test("mailbox: SELECT learns the mailbox, its completion selects it, UIDVALIDITY changes are caught")
    func mailboxTracker() {
        var m = MailboxTracker()
        m.beginSelect("INBOX", readOnly: false)
        #expect(m.exists(3).note == "3 message(s) in the mailbox")
        #expect(
            m.uidValidity(7).note == "UIDVALIDITY 7: cached UIDs of this mailbox stay valid only while this "
                + "number is unchanged")
        #expect(m.selected == nil)
        m.selectSucceeded(code: "READ-ONLY")
        #expect(m.selected?.name == "INBOX")
        #expect(m.selected?.exists == 3)
        #expect(m.selected?.readOnly == true)
        #expect(m.selected?.uidValidity == 7)

        // New mail, then a shrink without EXPUNGE.
        #expect(m.exists(5).note == "2 new message(s); 5 now")
        let shrink = m.exists(4)
        #expect(shrink.lint == .existsShrank(from: 5, to: 4))
        #expect(m.expunged(1) == "message 1 removed; every later sequence number shifts down by one")
        #expect(m.selected?.exists == 3)
        _ = m.vanished(count: 2, earlier: false)
        #expect(m.selected?.exists == 1)
        _ = m.vanished(count: 9, earlier: true)
        #expect(m.selected?.exists == 1)

        // Re-selecting with another UIDVALIDITY voids the cache.
        m.beginSelect("INBOX", readOnly: true)
        let changed = m.uidValidity(8)
        #expect(changed.lint == .uidValidityChanged(mailbox: "INBOX", from: 7, to: 8))
        m.selectFailed()
        #expect(m.selected == nil && m.selecting == nil)
    }

    @Test("capabilities: the greeting's set, the post-login set, STARTTLS voids what was said in plaintext")
    func capabilityTracker() {
        var c = CapabilityTracker()
        #expect(
            c.update(["IMAP4rev1", "STARTTLS", "LOGINDISABLED", "AUTH=PLAIN"], epoch: .greeting, loggingIn: false)
                == "server capabilities: 4; SASL mechanisms PLAIN; LOGIN is disabled until TLS; STARTTLS offered")
        #expect(c.currentSet.contains("LOGINDISABLED"))
        c.void(.afterStartTLS)
        #expect(c.current == nil)
        #expect(c.update(["IMAP4rev1", "AUTH=PLAIN"], loggingIn: false).hasPrefix("capabilities after STARTTLS: "))
        #expect(c.update(["IMAP4rev1", "IDLE"], loggingIn: true).hasPrefix("capabilities after login: "))
        #expect(c.epoch == .updatedAfterLogin)
        c.loggedIn()
        #expect(c.epoch == .updatedAfterLogin)
        #expect(c.update(["IMAP4rev1", "IDLE"], loggingIn: false) == "capabilities unchanged")
        #expect(c.update(["IMAP4rev1"], loggingIn: false).hasPrefix("capabilities changed: "))
    }

    @Test("commands in flight: a reused tag queues behind the first, names are counted")
    func commandsInFlight() {
        var table = CommandsInFlight()
        let t0 = Timestamp(seconds: 1)
        table.add("a1", CommandInFlight(name: .fetch, uid: true, time: t0))
        table.add("a2", CommandInFlight(name: .idle, uid: false, time: Timestamp(seconds: 2)))
        table.add("a1", CommandInFlight(name: .noop, uid: false, time: Timestamp(seconds: 3)))
        table.add("a3", CommandInFlight(name: CommandName("XFOO"), uid: false, time: Timestamp(seconds: 4)))
        #expect(table.running(.fetch) && table.running(.idle) && !table.running(.store))
        #expect(table.running(CommandName("XBAR")), "every unknown name counts as one")
        #expect(table.all.map(\.tag) == ["a1", "a2", "a1", "a3"])
        #expect(table.complete("a1")?.name == .fetch)
        #expect(!table.running(.fetch))
        #expect(table.complete("a1")?.name == .noop)
        #expect(table.complete("a1") == nil)
        #expect(table.complete("a2")?.name == .idle)
        #expect(table.complete("a3")?.name == CommandName("XFOO"))
        #expect(table.isEmpty)
        for name in [CommandName.fetch, .idle, .noop, CommandName("XFOO")] { #expect(!table.running(name)) }
    }

    @Test(
        "lints: every finding's level, code and message",
        arguments: [
            (
                Lint.unknownTag(status: "OK", afterGreeting: false), Lint.Level.info, "unknown-tag",
                "tagged OK for a tag no command in this session used"
            ),
            (
                .unknownTag(status: "NO", afterGreeting: true), .error, "unknown-tag",
                "tagged NO for a tag no command in this session used"
            ),
            (
                .pipelinedBeforeResult(tag: "a4", command: .compress, bytes: 12), .error, "pipelined-after-compress",
                "client sent 12 bytes after a4 COMPRESS without waiting for the result"
            ),
            (
                .nonSyncLiteral(size: 5000, literalMinus: true), .warning, "non-sync-literal",
                "non-synchronizing literal {5000+} but the server did not advertise LITERAL+ "
                    + "(LITERAL- allows at most 4096 bytes)"
            ),
            (
                .noCompletion(commands: ["a1 FETCH", "a2 NOOP"]), .info, "no-completion",
                "2 command(s) never completed: a1 FETCH, a2 NOOP"
            ),
            (
                .retransmissionDiffers(.server, bytes: 3), .warning, "retransmission-differs",
                "a retransmitted server segment differs from the first copy in 3 byte(s); the first copy was kept"
            ),
        ])
    func lints(_ finding: Lint, _ level: Lint.Level, _ code: String, _ message: String) {
        #expect(finding.level == level)
        #expect(finding.code == code)
        #expect(finding.message == message)
    }

    @Test("SASL: LOGIN's prompts name the user, its password is secret; a server signature is secret; * cancels")
    func saslExchange() {
        var login = SASLExchange(tag: "a1", mechanism: "LOGIN", initialResponse: false)
        let prompt = login.serverMessage("VXNlcm5hbWU6")  // "Username:"
        #expect(prompt.event.challenge == "Username:" && prompt.secret == nil && login.clientOwes)
        let user = login.clientResponse(Array("YWxpY2U=".utf8))  // "alice"
        #expect(user.event.user == "alice" && user.lineIsSecret && user.secret == Array("alice".utf8))
        #expect(!login.clientOwes)
        _ = login.serverMessage("UGFzc3dvcmQ6")  // "Password:"
        let password = login.clientResponse(Array("c2VjcmV0".utf8))  // "secret"
        #expect(password.event.user == nil && password.event.step == 4 && password.secret == Array("secret".utf8))
        #expect(password.annotation == "SASL LOGIN response 2")

        // A server that asks for the password first must not make it a user name.
        var reversed = SASLExchange(tag: "a2", mechanism: "LOGIN", initialResponse: false)
        _ = reversed.serverMessage("UGFzc3dvcmQ6")
        #expect(reversed.clientResponse(Array("c2VjcmV0".utf8)).event.user == nil)

        var scram = SASLExchange(tag: "a3", mechanism: "SCRAM-SHA-256", initialResponse: true)
        #expect(scram.step == 1)
        let signature = scram.serverMessage("dj1zaWduYXR1cmU=")  // "v=signature"
        #expect(signature.lineIsSecret && signature.secret == Array("v=signature".utf8))
        let cancel = scram.clientResponse(Array("*".utf8))
        #expect(cancel.event.cancelled && cancel.secret == nil && !cancel.lineIsSecret)
        let notBase64 = scram.clientResponse(Array("hunter2!".utf8))
        #expect(notBase64.event.base64 == false && notBase64.secret == Array("hunter2!".utf8))
    }
}
