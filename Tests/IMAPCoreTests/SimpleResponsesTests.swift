import Testing

@testable import IMAPCore

/// `SimpleResponses` decodes the common FETCH and SEARCH responses without the syntax tree; for every
/// line it takes, the result must be exactly the general path's, and every line it must not take falls
/// back to it.
@Suite("Simple responses short cut")
struct SimpleResponsesTests {
    /// Lines the short cut takes, with the attributes JSON both paths must give.
    static let taken: [(line: String, attributes: String)] = [
        (#"* 1 FETCH (UID 1 FLAGS (\Seen \Recent))"#, #"{"UID":1,"FLAGS":["\\Seen","\\Recent"]}"#),
        (#"* 2 FETCH (FLAGS ())"#, #"{"FLAGS":[]}"#),
        (
            #"* 3 FETCH (uid 7 flags ($Forwarded NonJunk \Answered))"#,
            #"{"UID":7,"FLAGS":["$Forwarded","NonJunk","\\Answered"]}"#
        ),
        (#"* 4 FETCH (UID 4 MODSEQ (12345) FLAGS (\Deleted))"#, #"{"UID":4,"MODSEQ":12345,"FLAGS":["\\Deleted"]}"#),
        (#"* 5 FETCH (RFC822.SIZE 4096 UID 9)"#, #"{"RFC822.SIZE":4096,"UID":9}"#),
        (#"* 6 FETCH (UID 0)"#, #"{"UID":0}"#),
        (#"* 7 FETCH (UID 9999999999999999999)"#, #"{"UID":9223372036854775807}"#),
        (#"* 8 FETCH (UID 1 UID 2)"#, #"{"UID":1,"UID":2}"#),
        (#"* 9 FETCH (FLAGS (my-flag_1.x))"#, #"{"FLAGS":["my-flag_1.x"]}"#),
    ]

    /// Lines it must leave to the general path (which may report problems the short cut cannot).
    static let leftToGeneral: [String] = [
        #"* 1 FETCH (UID 007)"#,
        #"* 1 FETCH (UID 18446744073709551615)"#,
        #"* 1 FETCH (UID abc)"#,
        #"* 1 FETCH (UID 1"#,
        #"* 1 FETCH (UID 1) extra"#,
        #"* 1 FETCH (UID  1)"#,
        #"* 1 FETCH (UID 1 )"#,
        #"* 1 FETCH ( UID 1)"#,
        #"* 1 FETCH ()"#,
        #"* 1 FETCH (FLAGS (\Seen)"#,
        #"* 1 FETCH (FLAGS (\Seen ))"#,
        #"* 1 FETCH (FLAGS (\))"#,
        #"* 1 FETCH (FLAGS (\*))"#,
        #"* 1 FETCH (FLAGS ("quoted"))"#,
        #"* 1 FETCH (FLAGS (Junk!))"#,
        #"* 1 FETCH (FLAGS \Seen)"#,
        #"* 1 FETCH (MODSEQ 5)"#,
        #"* 1 FETCH (MODSEQ (5 6))"#,
        #"* 1 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700")"#,
        #"* 1 FETCH (BODY[TEXT] "abc")"#,
        #"* 1 FETCH (ENVELOPE NIL)"#,
        #"* 1 FETCH (UIDX 1)"#,
        #"* 1 FETCH UID 1"#,
    ]

    static func general(_ text: String) throws -> Response {
        try ResponseParser.parse(Harness.line(text + "\r\n"), bodies: .preview, generalOnly: true)
    }

    static func json(_ fields: ArgumentFields) -> String {
        var out: [UInt8] = []
        JSONValue.object(fields.fields).write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("taken: the short cut's attributes are the general path's, and no problem is lost", arguments: taken)
    func takenLinesMatchTheGeneralPath(_ vector: (line: String, attributes: String)) throws {
        let line = Harness.line(vector.line + "\r\n")
        let start = try #require(vector.line.utf8.firstIndex(of: UInt8(ascii: "(")))
        let offset = vector.line.utf8.distance(from: vector.line.utf8.startIndex, to: start)
        #expect(SimpleResponses.fetchAttributes(line.segments[0].text, from: offset) != nil)
        let fast = try ResponseParser.parse(line)
        let general = try Self.general(vector.line)
        #expect(Self.json(fast.details) == #"{"attributes":"# + vector.attributes + "}")
        #expect(Self.json(fast.details) == Self.json(general.details))
        #expect(general.problems.isEmpty)
        #expect(fast.problems.isEmpty)
        #expect(fast.kind == general.kind)
    }

    @Test(
        "left to the general path: the short cut declines, and parse gives the general path's result",
        arguments: leftToGeneral)
    func otherLinesFallBack(_ text: String) throws {
        let line = Harness.line(text + "\r\n")
        if let start = text.utf8.firstIndex(of: UInt8(ascii: "(")) {
            let offset = text.utf8.distance(from: text.utf8.startIndex, to: start)
            #expect(SimpleResponses.fetchAttributes(line.segments[0].text, from: offset) == nil)
        }
        let fast = try ResponseParser.parse(line)
        let general = try Self.general(text)
        #expect(Self.json(fast.details) == Self.json(general.details))
        #expect(fast.problems == general.problems)
    }

    static let searches: [(line: String, fields: String?)] = [
        ("* SEARCH 1 3 6", #"{"count":3,"numbers":[1,3,6]}"#),
        ("* SEARCH", #"{"count":0,"numbers":[]}"#),
        ("* search 2", #"{"count":1,"numbers":[2]}"#),
        ("* SORT 5 4", #"{"count":2,"numbers":[5,4]}"#),
        ("* SEARCH 9999999999999999999", #"{"count":1,"numbers":[9223372036854775807]}"#),
        ("* SEARCH 1  2", nil),
        ("* SEARCH 1 ", nil),
        ("* SEARCH 01", nil),
        ("* SEARCH 1 x", nil),
        ("* SEARCH 18446744073709551616", nil),
        ("* SEARCH 1 (MODSEQ 7)", nil),
        ("* SEARCH (MODSEQ 7)", nil),
    ]

    @Test("SEARCH and SORT: taken lines give the general path's fields; others fall back", arguments: searches)
    func searchResultsMatchTheGeneralPath(_ vector: (line: String, fields: String?)) throws {
        let line = Harness.line(vector.line + "\r\n")
        let nameEnd = vector.line.hasPrefix("* SORT") ? 6 : 8
        let short = SimpleResponses.searchResults(line.segments[0].text, from: nameEnd)
        let fields = short.map { numbers in
            var details = ArgumentFields()
            details.setCount(Int64(numbers.count), numbers: numbers)
            return Self.json(details)
        }
        #expect(fields == vector.fields)
        let fast = try ResponseParser.parse(line)
        let general = try Self.general(vector.line)
        #expect(Self.json(fast.details) == Self.json(general.details))
        #expect(fast.problems == general.problems)
        if vector.fields != nil { #expect(general.problems.isEmpty) }
    }
}

@Suite("JSON numbers")
struct JSONNumberTests {
    @Test("integers are written as their decimal digits, without a String in between")
    func integers() {
        let values: [Int64] = [0, 7, -7, 10, 99, 100, 1_234_567, -1_000_000, .max, .min]
        for v in values {
            var out: [UInt8] = []
            JSONValue.writeInt(v, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(v))
        }
        var big: [UInt8] = []
        JSONValue.writeInt(UInt64.max, to: &big)
        #expect(String(decoding: big, as: UTF8.self) == "18446744073709551615")
    }
}
