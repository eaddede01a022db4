import IMAPCore
import Testing

@testable import IMAPTranscript

/// `diff` compares a command's strings by value: an atom, a quoted string and a literal with the
/// same characters are the same astring.
@Suite("diff by value")
struct DiffByValueTests {
    static func commandLines(_ clientLines: [String]) throws -> [String] {
        let transcript = ["S: * OK ready"] + clientLines.map { "C: " + $0 }
        return ConversationDiff.lines(try ConversationDiffTests.events(transcript)).filter { $0.hasPrefix("C: ") }
    }

    /// Pairs of transcripts' client lines that diff must call the same, and what both read as.
    static let equal: [([String], [String], [String])] = [
        (["a1 SELECT INBOX"], ["b1 SELECT \"INBOX\""], ["C: SELECT INBOX"]),
        (["a1 LOGIN \"alice\" \"password\""], ["b1 LOGIN alice password"], ["C: LOGIN alice ‹redacted›"]),
        (["a1 LOGIN {5+}", "alice {8+}", "password"], ["a1 LOGIN alice \"password\""], ["C: LOGIN alice ‹redacted›"]),
        (["a1 SELECT {5+}", "INBOX"], ["b2 select \"INBOX\""], ["C: SELECT INBOX"]),
        (["a1 SELECT \"Sent Items\""], ["b1 SELECT {10+}", "Sent Items"], ["C: SELECT \"Sent Items\""]),
        (["a1 LIST \"\" \"*\""], ["b1 LIST \"\" *"], ["C: LIST \"\" *"]),
        (["a1 SELECT \"a\\\"b\""], ["b1 SELECT {3+}", "a\"b"], ["C: SELECT \"a\\\"b\""]),
        (["a1 UID SEARCH SUBJECT \"hello\""], ["b1 UID SEARCH SUBJECT hello"], ["C: UID SEARCH SUBJECT hello"]),
    ]

    /// Different values stay different.
    static let different: [([String], [String])] = [
        (["a1 SELECT INBOX"], ["b1 SELECT \"INBOX \""]),
        (["a1 SELECT Sent"], ["b1 SELECT \"sent\""]),
        (["a1 LIST \"\" \"*\""], ["b1 LIST \"\" \"%\""]),
    ]

    @Test func stringsCompareByValue() throws {
        for (a, b, expected) in Self.equal {
            let left = try Self.commandLines(a)
            let right = try Self.commandLines(b)
            #expect(left == expected, "\(a)")
            #expect(right == expected, "\(b)")
        }
        for (a, b) in Self.different {
            #expect(try Self.commandLines(a) != Self.commandLines(b), "\(a) vs \(b)")
        }
    }

    @Test func canonicalForms() {
        let cases: [(String, String)] = [
            ("SELECT \"INBOX\"", "SELECT INBOX"), ("SELECT \"\"", "SELECT \"\""),
            ("SELECT \"x]\"", "SELECT x]"), ("SELECT \"x%\"", "SELECT x%"), ("SELECT \"a b\"", "SELECT \"a b\""),
            ("APPEND INBOX (\\Seen) {310} ‹310 bytes, message›", "APPEND INBOX (\\Seen) ‹310 bytes, message›"),
            ("LOGIN {5} ‹alice› {8} ‹redacted:0a1b2c3d›", "LOGIN alice ‹redacted:0a1b2c3d›"),
            ("FETCH 1 (BODY[HEADER.FIELDS (\"FROM\")])", "FETCH 1 (BODY[HEADER.FIELDS (FROM)])"),
            ("SELECT \"unclosed", "SELECT \"unclosed"), ("X a{5} ‹hello›", "X a{5} ‹hello›"),
        ]
        for (line, expected) in cases {
            #expect(StringValues.canonical(line) == expected, "\(line)")
        }
    }
}
