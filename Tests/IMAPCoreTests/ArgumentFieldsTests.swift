import Testing

@testable import IMAPCore

/// The typed facts the grammars set with their fields, and the same facts read back from JSON.
@Suite("Argument fields")
struct ArgumentFieldsTests {
    struct Facts: Equatable {
        var sequenceSet: String?
        var mailbox: String?
        var mechanism: String?
        var user: String?
        var algorithm: String?
        var messageCount: Int?
        var isKnown = true
        var count: Int64?
        var earlier = false
        var listAttributes: [String] = []
        var fetchUID: Int64?

        init(
            sequenceSet: String? = nil, mailbox: String? = nil, mechanism: String? = nil, user: String? = nil,
            algorithm: String? = nil, messageCount: Int? = nil, isKnown: Bool = true, count: Int64? = nil,
            earlier: Bool = false, listAttributes: [String] = [], fetchUID: Int64? = nil
        ) {
            self.sequenceSet = sequenceSet
            self.mailbox = mailbox
            self.mechanism = mechanism
            self.user = user
            self.algorithm = algorithm
            self.messageCount = messageCount
            self.isKnown = isKnown
            self.count = count
            self.earlier = earlier
            self.listAttributes = listAttributes
            self.fetchUID = fetchUID
        }

        init(_ a: ArgumentFields) {
            self.init(
                sequenceSet: a.sequenceSet, mailbox: a.mailbox, mechanism: a.mechanism, user: a.user,
                algorithm: a.algorithm, messageCount: a.messages?.count, isKnown: a.isKnown, count: a.count,
                earlier: a.earlier, listAttributes: a.listAttributes, fetchUID: a.fetchUID)
        }
    }

    static let commands: [(line: String, facts: Facts)] = [
        ("a1 LOGIN alice secret", Facts(user: "alice")),
        ("a1 SELECT INBOX", Facts(mailbox: "INBOX")),
        ("a1 RENAME Old New", Facts(mailbox: "Old")),
        ("a1 UID FETCH 1:* (FLAGS)", Facts(sequenceSet: "1:*")),
        ("a1 UID STORE 4 +FLAGS (\\Seen)", Facts(sequenceSet: "4")),
        ("a1 COMPRESS deflate", Facts(algorithm: "DEFLATE")),
        ("a1 AUTHENTICATE plain AGFsaWNlAHB3", Facts(mechanism: "PLAIN", user: "alice")),
        ("a1 APPEND Sent {3+}\r\nabc", Facts(mailbox: "Sent", messageCount: 1)),
        ("a1 XFROBNICATE 1 2", Facts(isKnown: false)),
        ("a1 NOOP", Facts()),
    ]

    static let responses: [(line: String, facts: Facts)] = [
        (
            #"* LIST (\HasNoChildren \Sent) "/" Sent"#,
            Facts(mailbox: "Sent", listAttributes: ["\\HasNoChildren", "\\Sent"])
        ),
        ("* SEARCH 2 4 9", Facts(count: 3)),
        ("* SEARCH 2 (MODSEQ 7)", Facts(count: 1)),
        ("* VANISHED (EARLIER) 1:3,7", Facts(count: 4, earlier: true)),
        (#"* 3 FETCH (UID 17 FLAGS (\Seen))"#, Facts(fetchUID: 17)),
        (#"* 3 FETCH (FLAGS (\Seen) UID 18 INTERNALDATE "17-Jul-1996 02:44:25 -0700")"#, Facts(fetchUID: 18)),
        ("* XSTRANGE a b", Facts(isKnown: false)),
    ]

    static func readBack(_ a: ArgumentFields) throws -> ArgumentFields {
        var out: [UInt8] = []
        JSONValue.object(a.fields).write(to: &out)
        guard case .object(let fields) = try JSONParser.parse(out) else { return ArgumentFields() }
        return ArgumentFields(readBack: fields)
    }

    @Test(
        "commands: the grammar sets each fact with its field, and reading the JSON back gives it again",
        arguments: commands)
    func commandFacts(_ vector: (line: String, facts: Facts)) throws {
        let command = try CommandParser.parse(Harness.line(vector.line + "\r\n"))
        #expect(Facts(command.details) == vector.facts)
        #expect(Facts(try Self.readBack(command.details)) == vector.facts)
    }

    @Test("responses: the same, for data responses (the short cuts included)", arguments: responses)
    func responseFacts(_ vector: (line: String, facts: Facts)) throws {
        let response = try ResponseParser.parse(Harness.line(vector.line + "\r\n"))
        #expect(Facts(response.details) == vector.facts)
        #expect(Facts(try Self.readBack(response.details)) == vector.facts)
    }

    @Test("a fact stays with its field when fields are inserted before it (count goes first)")
    func factsFollowInsertions() {
        var arguments = ArgumentFields()
        arguments.setMailbox("INBOX")
        arguments.setSequenceSet("1:5")
        arguments.setCount(2, numbers: [.int(3), .int(4)])
        arguments.insert(("first", .bool(true)), at: 0)
        #expect(arguments.fields.map(\.0) == ["first", "count", "numbers", "mailbox", "sequence_set"])
        #expect(arguments.mailbox == "INBOX")
        #expect(arguments.sequenceSet == "1:5")
        #expect(arguments.count == 2)
        #expect(arguments.user == nil && arguments.mechanism == nil && arguments.messages == nil)
    }
}
