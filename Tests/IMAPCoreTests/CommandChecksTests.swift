import Testing

@testable import IMAPCore

/// Command checks alone: a session (its greeting, selection, capabilities, transport and commands
/// in flight) and a client line → exactly the findings, in order.
@Suite("Command checks")
struct CommandChecksTests {
    struct Session: Sendable {
        var greeting = "PREAUTH"
        var selected = false
        var capabilities: [String]?
        var encrypted = false
        var inFlight: [(tag: String, name: String)] = []
    }

    /// The line as the client framer delivers it (literals included).
    static func frame(_ text: String) -> RawLine {
        var framer = LineFramer(pausesAtSynchronizingLiterals: false)
        framer.append(Array(text.utf8))
        guard case .line(let line)? = framer.nextFrame() else {
            Issue.record("\(text) is not one line")
            return RawLine(segments: [])
        }
        return line
    }

    /// The line as the client framer gives it up when the server refuses its synchronizing literal.
    static func refused(_ text: String) -> RawLine {
        var framer = LineFramer(pausesAtSynchronizingLiterals: true)
        framer.append(Array(text.utf8))
        guard case .needsContinuation? = framer.nextFrame() else {
            Issue.record("\(text) does not wait for a continuation")
            return RawLine(segments: [])
        }
        return framer.abandonLiteral()
    }

    static func findings(_ session: Session, _ text: String, literalRefused: Bool = false) throws -> [Lint] {
        var connection = ConnectionStateMachine()
        _ = connection.untaggedStatus(session.greeting)
        if session.selected { _ = connection.completed(.select, succeeded: true) }
        var inFlight = CommandsInFlight()
        for sent in session.inFlight {
            inFlight.add(
                sent.tag, CommandInFlight(name: CommandName(sent.name), uid: false, time: Timestamp(seconds: 1)))
        }
        let line = literalRefused ? refused(text) : frame(text)
        let command = try CommandParser.parse(line)
        var findings: [Lint] = []
        CommandChecks.check(
            command, line: line, literalRefused: literalRefused, inFlight: inFlight, connection: connection,
            capabilities: session.capabilities.map { Set($0) }, encrypted: session.encrypted, into: &findings)
        return findings
    }

    static let known = ["IMAP4REV1"]

    @Test(
        "session, client line → findings",
        arguments: [
            (Session(), "a1 NOOP\r\n", [Lint]()),
            (
                Session(greeting: "OK", capabilities: ["IMAP4REV1", "LOGINDISABLED"]), "a1 LOGIN alice secret\r\n",
                [.loginDisabled, .cleartextLogin]
            ),
            (Session(greeting: "OK", encrypted: true), "a1 LOGIN alice secret\r\n", []),
            (Session(greeting: "OK"), "a1 AUTHENTICATE PLAIN\r\n", [.cleartextAuth(mechanism: "PLAIN")]),
            (Session(greeting: "OK", encrypted: true), "a1 AUTHENTICATE XOAUTH2\r\n", []),
            (Session(greeting: "OK"), "a1 AUTHENTICATE SCRAM-SHA-256\r\n", []),
            (Session(inFlight: [("a1", "IDLE")]), "a1 NOOP\r\n", [.tagReused(tag: "a1", inFlight: "IDLE")]),
            (
                Session(greeting: "OK"), "a1 FETCH 1 FLAGS\r\n",
                [.invalidState(command: "FETCH", state: "not-authenticated", needs: "selected")]
            ),
            (
                Session(selected: true, inFlight: [("a1", "NOOP")]), "a1 FETCH 1\r\n",
                [
                    .tagReused(tag: "a1", inFlight: "NOOP"),
                    .malformedCommand(name: "FETCH", problems: ["FETCH needs data items"]),
                ]
            ),
            // Non-synchronizing literals against the capabilities announced.
            (Session(), "a1 APPEND INBOX {3+}\r\nabc\r\n", []),
            (
                Session(capabilities: known), "a1 APPEND INBOX {3+}\r\nabc\r\n",
                [.nonSyncLiteral(size: 3, literalMinus: false)]
            ),
            (Session(capabilities: ["LITERAL+"]), "a1 APPEND INBOX {3+}\r\nabc\r\n", []),
            (Session(capabilities: ["LITERAL-"]), "a1 APPEND INBOX {3+}\r\nabc\r\n", []),
            (
                Session(capabilities: ["LITERAL-"]),
                "a1 APPEND INBOX {5000+}\r\n" + String(repeating: "x", count: 5000) + "\r\n",
                [.nonSyncLiteral(size: 5000, literalMinus: true)]
            ),
            (Session(capabilities: known), "a1 APPEND INBOX {3}\r\nabc\r\n", []),
        ] as [(Session, String, [Lint])])
    func findings(_ session: Session, _ text: String, _ expected: [Lint]) throws {
        #expect(try Self.findings(session, text) == expected)
    }

    @Test("a line cut at a refused literal is malformed only if it would be with its literal")
    func refusedLiteral() throws {
        for (text, malformed) in [("a1 APPEND INBOX {3}\r\n", false), ("a1 APPEND {3}\r\n", true)] {
            let line = Self.refused(text)
            let command = try CommandParser.parse(line)
            // Cut at its literal's header, the line alone has problems either way.
            #expect(!command.problems.isEmpty, "\(text)")
            #expect(CommandChecks.wellFormedWithItsLiteral(line) == !malformed, "\(text)")
            #expect(
                try Self.findings(Session(), text, literalRefused: true).map(\.code)
                    == (malformed ? ["malformed-command"] : []))
        }
    }
}
