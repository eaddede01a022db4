import Testing

@testable import IMAPCore

/// How what the decoder understood becomes events, each constructor alone: the body, the bytes
/// it accounts for, and what is shown or kept secret.
@Suite("Decoder events")
struct DecoderEventsTests {
    static func line(_ text: String) -> RawLine {
        RawLine(segments: [LineSegment(text: Array(text.utf8), ending: .crlf, literal: nil)])
    }

    @Test("a command: classified, its password a secret span, its initial response the payload")
    func command() throws {
        let login = Self.line("a1 LOGIN alice hunter2")
        let event = DecoderEvents.command(try CommandParser.parse(login), line: login, time: .zero)
        guard case .command(let body) = event.body else {
            Issue.record("a command event")
            return
        }
        #expect(body.tag == "a1" && body.name == .login && body.truncated == false)
        #expect(event.clientLineClassified && event.dir == .client && event.bytes == 24)
        #expect(event.secrets == [.span(Span(segment: 0, start: 15, end: 22))])
        #expect(event.annotation == "log in as alice (password redacted)")

        let plain = Self.line("a2 AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI=")
        let withResponse = DecoderEvents.command(try CommandParser.parse(plain), line: plain, time: .zero)
        #expect(withResponse.payload?.bytes == Array("\0alice\0hunter2".utf8))
    }

    @Test("a response: code and text, and the completion's command and latency, or unsolicited")
    func response() throws {
        let ok = Self.line("a1 OK [READ-WRITE] done")
        let completion = TaggedCompletion(command: "SELECT", latencyMs: 2.5, annotation: "SELECT completed")
        let tagged = DecoderEvents.response(try ResponseParser.parse(ok), line: ok, time: .zero, completion: completion)
        guard case .tagged(let body) = tagged.body else {
            Issue.record("a tagged event")
            return
        }
        #expect(body.command == "SELECT" && body.latencyMs == 2.5 && body.status == "OK")
        #expect(body.response.code == "READ-WRITE" && body.response.text == "done")
        // The note is the façade's to set.
        #expect(tagged.annotation == nil && tagged.bytes == 25)

        let exists = Self.line("* 3 EXISTS")
        let data = DecoderEvents.response(
            try ResponseParser.parse(exists), line: exists, time: .zero, unsolicited: true)
        guard case .untagged(let untagged) = data.body else {
            Issue.record("an untagged event")
            return
        }
        #expect(untagged.name == "EXISTS" && untagged.number == 3 && untagged.unsolicited)
        // Data has no resp-text of its own.
        #expect(untagged.response.text == nil)
    }

    @Test("SASL from the client is classified, from the server not; DONE says how long IDLE ran")
    func saslAndDone() {
        var exchange = SASLExchange(tag: "a1", mechanism: "PLAIN", initialResponse: false)
        let challenge = exchange.serverMessage("")
        let fromServer = DecoderEvents.sasl(challenge, dir: .server, line: Self.line("+ "), time: .zero)
        #expect(!fromServer.clientLineClassified && fromServer.dir == .server)
        let answer = exchange.clientResponse(Array("AGFsaWNlAGh1bnRlcjI=".utf8))
        let fromClient = DecoderEvents.sasl(
            answer, dir: .client, line: Self.line("AGFsaWNlAGh1bnRlcjI="), time: .zero)
        #expect(fromClient.clientLineClassified && fromClient.lineIsSecret)
        #expect(fromClient.payload?.bytes == Array("\0alice\0hunter2".utf8))

        let done = DecoderEvents.idleDone(
            tag: "a4", since: Timestamp(seconds: 10), line: Self.line("DONE"),
            time: Timestamp(seconds: 42, microseconds: 500_000))
        #expect(done.annotation == "IDLE ended by the client after 32.5 s")
        #expect(done.clientLineClassified && done.bytes == 6)
    }
}
