import Testing

@testable import IMAPCore

/// `ClientStream` alone: the mode each command puts the client in, what completions do to it,
/// and how a lost synchronization is found again.
@Suite("Client stream")
struct ClientStreamTests {
    @Test("STARTTLS and COMPRESS hold the client until their own completion; a failure resumes it")
    func holdUntilTheResult() {
        for (name, success) in [(CommandName.starttls, ClientStream.Completion.startTLS), (.compress, .compress)] {
            var stream = ClientStream(fromStart: true)
            let holds = stream.commandSent(name, tag: "a1", mechanism: nil, initialResponse: false, time: .zero)
            #expect(holds)
            #expect(!stream.expectsCommand)
            let otherTag = stream.completed(name, tag: "a0", status: "OK")
            #expect(otherTag == .nothing, "another tag's completion")
            let ownCompletion = stream.completed(name, tag: "a1", status: "OK")
            #expect(ownCompletion == success)
            guard case .hold(let tag, _) = stream.mode else {
                Issue.record("\(name): not held until the upgrade is done")
                continue
            }
            #expect(tag == "a1")
            stream.endHold()
            #expect(stream.expectsCommand)

            var refused = ClientStream(fromStart: true)
            _ = refused.commandSent(name, tag: "b1", mechanism: nil, initialResponse: false, time: .zero)
            let refusal = refused.completed(name, tag: "b1", status: "NO")
            #expect(refusal == .resume)
            #expect(refused.expectsCommand)
        }
    }

    @Test("other commands change nothing and need no hold")
    func plainCommands() {
        var stream = ClientStream(fromStart: true)
        for name in [CommandName.noop, .login, .select, .fetch, CommandName("X-UNKNOWN")] {
            let holdsPlain = stream.commandSent(name, tag: "a1", mechanism: nil, initialResponse: false, time: .zero)
            #expect(!holdsPlain)
            #expect(stream.expectsCommand)
            let plainCompletion = stream.completed(name, tag: "a1", status: "OK")
            #expect(plainCompletion == .nothing)
        }
    }

    @Test("IDLE runs until DONE or its completion")
    func idle() {
        var stream = ClientStream(fromStart: true)
        _ = stream.commandSent(
            .idle, tag: "i1", mechanism: nil, initialResponse: false, time: Timestamp(microseconds: 9))
        guard case .idle(let tag, let since) = stream.mode else {
            Issue.record("not idling")
            return
        }
        #expect(tag == "i1" && since == Timestamp(microseconds: 9))
        stream.idleEnded()
        #expect(stream.expectsCommand)
        _ = stream.commandSent(.idle, tag: "i2", mechanism: nil, initialResponse: false, time: .zero)
        let olderTag = stream.completed(.idle, tag: "i1", status: "OK")
        #expect(olderTag == .nothing)
        #expect(!stream.isCommands, "an older tag's completion ended IDLE")
        _ = stream.completed(.idle, tag: "i2", status: "OK")
        #expect(stream.isCommands)
    }

    @Test("an AUTHENTICATE refused while the client owes a response loses the command boundaries")
    func saslRefusedMidExchange() {
        var stream = ClientStream(fromStart: true)
        _ = stream.commandSent(.authenticate, tag: "s1", mechanism: "PLAIN", initialResponse: false, time: .zero)
        let challenge = stream.saslServerMessage("")
        #expect(challenge != nil)
        _ = stream.completed(.authenticate, tag: "s1", status: "NO")
        #expect(stream.isCommands)
        #expect(!stream.synchronized)
        #expect(stream.unsynchronizedWhy == "the server ended an AUTHENTICATE the client may still answer")

        var answered = ClientStream(fromStart: true)
        _ = answered.commandSent(.authenticate, tag: "s2", mechanism: "PLAIN", initialResponse: false, time: .zero)
        _ = answered.saslServerMessage("")
        let response = answered.saslClientResponse(Array("AGFsaWNlAHB3".utf8))
        #expect(response != nil)
        _ = answered.completed(.authenticate, tag: "s2", status: "NO")
        #expect(answered.synchronized, "the client owed nothing")
        let afterEnd = answered.saslServerMessage("")
        #expect(afterEnd == nil, "the exchange is over")
    }

    @Test("mid-stream: hidden lines' tags (the last 64) are confirmed by a completion")
    func confirmation() {
        var stream = ClientStream(fromStart: false)
        #expect(!stream.synchronized)
        #expect(stream.unsynchronizedWhy == "the capture started in the middle of the connection")
        for n in 0..<70 { stream.hidden(tag: "h\(n)") }
        let evicted = stream.confirms(tag: "h5")
        #expect(!evicted, "a tag beyond the bound was kept")
        let unknownTag = stream.confirms(tag: "never")
        #expect(!unknownTag)
        let recent = stream.confirms(tag: "h69")
        #expect(recent)
        #expect(stream.synchronized)
        let again = stream.confirms(tag: "h69")
        #expect(!again, "confirmed twice")
        stream.loseSync("a gap")
        let beforeLoss = stream.confirms(tag: "h68")
        #expect(!beforeLoss, "tags from before the loss were kept")
    }
}
