import Testing

@testable import IMAPCore

/// Damaged input alone: reasons, what an `unparsed` event shows, the command an over-long line
/// starts, and the finding for a line the end of the stream cut.
@Suite("Damaged input")
struct DamagedInputTests {
    @Test(
        "reason → text",
        arguments: [
            (DamagedInput.Reason.overlong(limit: 65536, atEnd: false), "line longer than 65536 bytes"),
            (.overlong(limit: 100, atEnd: true), "line longer than 100 bytes, cut by the end of the stream"),
            (.afterGap(atEnd: false), "skipped to the next line after a gap"),
            (.afterGap(atEnd: true), "bytes after a gap, cut by the end of the stream"),
            (.interruptedByGap, "line interrupted by a gap"),
            (.notACommand("no tag"), "not a command: no tag"),
            (.notACommand(nil), "not a command"),
            (.notAResponse("empty line"), "not a response: empty line"),
            (.notAResponse(nil), "not a response"),
            (
                .hidden("the capture started in the middle of the connection"),
                "hidden until a server completion shows where commands start (the capture started in the middle "
                    + "of the connection)"
            ),
        ])
    func reasons(_ reason: DamagedInput.Reason, _ text: String) {
        #expect(reason.text == text)
    }

    @Test("an unparsed event shows the first 200 bytes, escaped, and the command an over-long line started")
    func unparsed() {
        let short = DamagedInput.unparsed(Array("* \u{1}x".utf8), .interruptedByGap)
        #expect(short.raw == printable(Array("* \u{1}x".utf8)))
        #expect(short.reason == "line interrupted by a gap" && short.tag == nil && short.name == nil)
        let long = DamagedInput.unparsed(
            Array(repeating: UInt8(ascii: "a"), count: 201), .overlong(limit: 200, atEnd: false),
            command: (tag: "a1", name: "APPEND"))
        #expect(long.raw == String(repeating: "a", count: 200) + "…")
        #expect(long.tag == "a1" && long.name == "APPEND")
        let exact = DamagedInput.unparsed(Array(repeating: UInt8(ascii: "b"), count: 200), .afterGap(atEnd: false))
        #expect(exact.raw == String(repeating: "b", count: 200))
    }

    @Test(
        "an over-long client line's start → its tag and command name, when they are a command's",
        arguments: [
            ("a1 APPEND INBOX {5", "a1", "APPEND"),
            ("tag.2 append INBOX", "tag.2", "APPEND"),
            ("a1 X-FOO bar", nil, nil),
            ("* OK", nil, nil),
            ("+ go", nil, nil),
            ("a1", nil, nil),
            ("a1 UID", "a1", "UID"),
        ] as [(String, String?, String?)])
    func commandStart(_ prefix: String, _ tag: String?, _ name: String?) {
        let start = DamagedInput.commandStart(Array(prefix.utf8))
        #expect(start?.tag == tag)
        #expect(start?.name == name)
    }

    @Test("a parser's reason is kept; any other error has none")
    func why() {
        struct Other: Error {}
        #expect(DamagedInput.why(CommandParser.Failure.notACommand("no tag")) == "no tag")
        #expect(DamagedInput.why(ResponseParser.Failure.notAResponse("empty line")) == "empty line")
        #expect(DamagedInput.why(Other()) == nil)
    }

    @Test("a line cut by the end of the stream: inside a literal, or before its line break")
    func truncation() {
        var framer = LineFramer(pausesAtSynchronizingLiterals: false)
        framer.append(Array("* 1 FETCH (BODY[] {10}\r\nabc".utf8))
        #expect(framer.nextFrame() == nil)
        guard case .line(let cutInLiteral) = framer.finish() else {
            Issue.record("no line at the end")
            return
        }
        #expect(DamagedInput.truncation(cutInLiteral, .server) == .truncatedLiteral(size: 10, received: 3))
        var plain = LineFramer(pausesAtSynchronizingLiterals: false)
        plain.append(Array("a1 NOOP".utf8))
        guard case .line(let cutLine) = plain.finish() else {
            Issue.record("no line at the end")
            return
        }
        #expect(DamagedInput.truncation(cutLine, .client) == .truncatedLine(.client))
    }
}
