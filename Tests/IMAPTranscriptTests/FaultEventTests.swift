import IMAPCore
import IMAPTranscript
import Testing

/// The `fault` kind: its JSON, read back into the same typed event, and its marked transcript line.
@Suite struct FaultEventTests {
    static let event = Event(
        session: "p1", seq: 7, time: Timestamp(seconds: 1_700_000_000, microseconds: 250), dir: .proxy,
        body: .fault(
            FaultEvent(
                rule: "SELECT Archive -> respond NO [UNAVAILABLE] try later", action: "respond", tag: "a3",
                command: "SELECT", detail: "answered a3 SELECT with NO in place of the server's OK")))

    static let json =
        #"{"session":"p1","seq":7,"time":"2023-11-14T22:13:20.000250Z","kind":"fault","dir":"proxy","#
        + #""rule":"SELECT Archive -> respond NO [UNAVAILABLE] try later","action":"respond","tag":"a3","#
        + #""command":"SELECT","detail":"answered a3 SELECT with NO in place of the server's OK"}"#

    @Test func encodesAndReadsBack() throws {
        var bytes: [UInt8] = []
        Self.event.encode(to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == Self.json)
        let back = try Event(json: JSONParser.parse(Array(Self.json.utf8)))
        guard case .fault(let f) = back.body else {
            Issue.record("not a fault: \(back.kind)")
            return
        }
        #expect(back.kind == .fault && back.dir == .proxy)
        #expect(f.rule == "SELECT Archive -> respond NO [UNAVAILABLE] try later")
        #expect(f.action == "respond" && f.tag == "a3" && f.command == "SELECT")
        #expect(f.detail == "answered a3 SELECT with NO in place of the server's OK")
        var again: [UInt8] = []
        back.encode(to: &again)
        #expect(again == bytes)
        // Without a command (an `after` rule): no tag, no command.
        let bare =
            #"{"session":"p1","seq":1,"time":"2023-11-14T22:13:20Z","kind":"fault","dir":"proxy","#
            + #""rule":"after 1MB server -> cut","action":"cut","detail":"closed both legs"}"#
        let read = try Event(json: JSONParser.parse(Array(bare.utf8)))
        var written: [UInt8] = []
        read.encode(to: &written)
        #expect(String(decoding: written, as: UTF8.self) == bare.replacingOccurrences(of: "20Z", with: "20.000000Z"))
        #expect(throws: Event.DecodingError.self) {
            try Event(
                json: JSONParser.parse(
                    Array(#"{"session":"p1","seq":1,"time":"2023-11-14T22:13:20Z","kind":"fault"}"#.utf8)))
        }
    }

    @Test func transcriptMarksTheFault() {
        let out = MemoryOutput()
        let writer = TextWriter(out, style: .init(color: false))
        writer.write(Self.event)
        #expect(
            out.text
                == "    0.000  ⚡  ‹fault respond on a3 SELECT: answered a3 SELECT with NO in place of the server's OK"
                + " (rule: SELECT Archive -> respond NO [UNAVAILABLE] try later)›\n")
    }
}
