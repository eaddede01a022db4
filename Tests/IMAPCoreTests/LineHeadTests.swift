import IMAPCore
import Testing

/// One line → its head, written `kind tag [number] [word] end endsLine` (`-` for none), or nil.
struct LineHeadVector: CustomTestStringConvertible, Sendable {
    var line: String
    var head: String?
    var testDescription: String { line.debugDescription }
}

@Suite("LineHead")
struct LineHeadTests {
    static let vectors: [LineHeadVector] = [
        // commands (RFC 9051 §2.2.1): tag SP name
        .init(line: "a1 STARTTLS", head: "tagged a1 - STARTTLS 11 true"),
        .init(line: "a1 STARTTLS\r\n", head: "tagged a1 - STARTTLS 11 true"),
        .init(line: "a1 starttls \r\n", head: "tagged a1 - starttls 11 false"),
        .init(line: "A0001 UID FETCH 1:* (FLAGS)", head: "tagged A0001 - UID 9 false"),
        .init(line: "a2 LOGIN {5}", head: "tagged a2 - LOGIN 8 false"),
        // tagged responses: tag SP status
        .init(line: "a1 OK Begin TLS negotiation now", head: "tagged a1 - OK 5 false"),
        .init(line: "imapscope0 NO [ALERT] no", head: "tagged imapscope0 - NO 13 false"),
        // untagged: `*`, a number for message and mailbox data
        .init(line: "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", head: "untagged * - OK 4 false"),
        .init(line: "* 3 EXISTS\r\n", head: "untagged * 3 EXISTS 10 true"),
        .init(line: "* 12 FETCH (FLAGS (\\Seen))", head: "untagged * 12 FETCH 10 false"),
        .init(line: "* 3", head: "untagged * - 3 3 true"),
        .init(line: "* CAPABILITY", head: "untagged * - CAPABILITY 12 true"),
        .init(line: "*", head: "untagged * - - 1 true"),
        // continuation requests: nothing after `+` is a word
        .init(line: "+ Ready for literal data", head: "continuation + - - 1 false"),
        .init(line: "+\r\n", head: "continuation + - - 1 true"),
        .init(line: "+OK", head: "continuation + - - 1 false"),
        // partial lines have heads too
        .init(line: "a", head: "tagged a - - 1 true"),
        .init(line: "a1 ", head: "tagged a1 - - 3 true"),
        .init(line: "a1 STAR", head: "tagged a1 - STAR 7 true"),
        .init(line: "a1  NOOP", head: "tagged a1 - - 3 false"),
        // not a line start: empty, a space first, `*` glued to a word, a character no tag has
        .init(line: "", head: nil),
        .init(line: " a1 NOOP", head: nil),
        .init(line: "*x OK", head: nil),
        .init(line: "a(1 NOOP", head: nil),
        .init(line: "a\"1 NOOP", head: nil),
        .init(line: "a1\u{7F} NOOP", head: nil),
        .init(line: String(repeating: "t", count: 257) + " NOOP", head: nil),
    ]

    static func describe(_ head: LineHead?, _ line: [UInt8]) -> String? {
        guard let head else { return nil }
        func text(_ range: Range<Int>?) -> String { range.map { String(decoding: line[$0], as: UTF8.self) } ?? "-" }
        return "\(head.kind) \(text(head.tag)) \(text(head.number)) \(text(head.word)) \(head.end) \(head.endsLine)"
    }

    @Test(arguments: vectors)
    func readsTheHead(_ vector: LineHeadVector) {
        let bytes = Array(vector.line.utf8)
        #expect(Self.describe(LineHead(bytes), bytes) == vector.head)
        // The same from a slice that does not start at index 0.
        let padded = [0x58, 0x59] + bytes
        #expect(Self.describe(LineHead(padded[2...]), bytes) == vector.head)
    }

    /// The longest tag is 256 bytes, as `CommandParser.isValidTag` has it.
    @Test func tagLengthLimit() {
        let tag = String(repeating: "t", count: 256)
        let line = Array((tag + " NOOP").utf8)
        #expect(Self.describe(LineHead(line), line) == "tagged \(tag) - NOOP 261 true")
    }

    /// Every byte is a tag character exactly when `CommandParser.isValidTag` accepts it alone.
    @Test func tagCharactersAgreeWithTheCommandParser() {
        for byte in UInt8.min...UInt8.max where byte != 0x2A && byte != 0x2B {
            let line = [byte, 0x20, 0x4E]
            let tagged = LineHead(line)?.kind == .tagged
            #expect(tagged == CommandParser.isValidTag(String(decoding: [byte], as: UTF8.self)), "byte \(byte)")
        }
    }

    @Test func wordsCompareWithoutRegardToCase() {
        let line = Array("a1 StartTls\r\n".utf8)
        let head = LineHead(line)
        #expect(head?.wordIs("STARTTLS", in: line) == true)
        #expect(head?.wordIs("START", in: line) == false)
        #expect(head?.wordIs("STARTTLSX", in: line) == false)
        #expect(head?.upperWord(in: line) == "STARTTLS")
        #expect(head?.tagString(in: line) == "a1")
        #expect(head?.tagIs(Array("a1".utf8), in: line) == true)
        #expect(head?.tagIs(Array("A1".utf8), in: line) == false)
    }

    @Test func aPartialWordMayStillBecomeTheKeyword() {
        let cases: [(String, Bool)] = [
            ("a1", true), ("a1 ", true), ("a1 s", true), ("a1 STARTTL", true),
            ("a1 STARTTLS", true), ("a1 STARTTLSX", false), ("a1 N", false),
        ]
        for (text, expected) in cases {
            let line = Array(text.utf8)
            #expect(LineHead(line)?.wordCouldBecome("STARTTLS", in: line) == expected, "\(text)")
        }
    }
}
