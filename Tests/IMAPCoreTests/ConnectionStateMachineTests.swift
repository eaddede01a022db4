import Testing

@testable import IMAPCore

/// The connection's state driven alone: sequences of what the server said and the client sent,
/// with the state, the expected state and every typed outcome they must give.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    /// One input to the machine.
    enum Step: Sendable, CustomStringConvertible {
        case status(String)
        case data
        case sent(String)
        case completed(String, ok: Bool)
        case startedTLS

        var description: String {
            switch self {
            case .status(let name): return "* \(name)"
            case .data: return "* data"
            case .sent(let name): return "sent \(name)"
            case .completed(let name, let ok): return "\(name) \(ok ? "OK" : "NO")"
            case .startedTLS: return "TLS"
            }
        }
    }

    /// What one step returned.
    enum Outcome: Equatable, Sendable {
        case status(ConnectionStateMachine.StatusOutcome)
        case transition(ConnectionStateMachine.Transition)
        case nothing
    }

    static func run(_ steps: [Step]) -> (ConnectionStateMachine, [Outcome]) {
        var machine = ConnectionStateMachine()
        var outcomes: [Outcome] = []
        for step in steps {
            switch step {
            case .status(let name): outcomes.append(.status(machine.untaggedStatus(name)))
            case .data:
                machine.untaggedData()
                outcomes.append(.nothing)
            case .sent(let name):
                machine.commandSent(CommandName(name))
                outcomes.append(.nothing)
            case .completed(let name, let ok):
                outcomes.append(.transition(machine.completed(CommandName(name), succeeded: ok)))
            case .startedTLS:
                machine.startedTLS()
                outcomes.append(.nothing)
            }
        }
        return (machine, outcomes)
    }

    @Test(
        "steps → state, expected state, greeting seen, outcomes",
        arguments: [
            ([], ConnectionState.unknown, ConnectionState.unknown, false, [Outcome]()),
            ([.status("OK")], .notAuthenticated, .notAuthenticated, true, [.status(.greeting(.ready))]),
            ([.status("PREAUTH")], .authenticated, .authenticated, true, [.status(.greeting(.preauthenticated))]),
            ([.status("BYE")], .logout, .logout, true, [.status(.greeting(.refused))]),
            ([.status("NO")], .unknown, .unknown, true, [.status(.greeting(.other("NO")))]),
            // A capture that starts mid-session: untagged data first, so no greeting, state unknown.
            (
                [.data, .status("OK"), .status("PREAUTH"), .status("BYE")], .unknown, .unknown, true,
                [
                    .nothing, .status(.afterGreeting(lint: nil)), .status(.afterGreeting(lint: .latePreauth)),
                    .status(.afterGreeting(lint: nil)),
                ]
            ),
            // Pipelined: LOGIN and SELECT in flight lead to selected before either completes.
            (
                [.status("OK"), .sent("LOGIN"), .sent("SELECT")], .notAuthenticated, .selected, true,
                [.status(.greeting(.ready)), .nothing, .nothing]
            ),
            (
                [.status("OK"), .sent("LOGIN"), .completed("LOGIN", ok: true)], .authenticated, .authenticated, true,
                [.status(.greeting(.ready)), .nothing, .transition(.loggedIn)]
            ),
            (
                [.status("OK"), .sent("AUTHENTICATE"), .completed("AUTHENTICATE", ok: false)], .notAuthenticated,
                .notAuthenticated, true, [.status(.greeting(.ready)), .nothing, .transition(.none)]
            ),
            (
                [.status("PREAUTH"), .sent("EXAMINE"), .completed("EXAMINE", ok: true)], .selected, .selected, true,
                [.status(.greeting(.preauthenticated)), .nothing, .transition(.selected)]
            ),
            // A failed SELECT leaves no mailbox selected, even the one selected before.
            (
                [.status("PREAUTH"), .completed("SELECT", ok: true), .completed("SELECT", ok: false)], .authenticated,
                .authenticated, true,
                [.status(.greeting(.preauthenticated)), .transition(.selected), .transition(.selectFailed)]
            ),
            (
                [.status("PREAUTH"), .completed("SELECT", ok: true), .completed("UNSELECT", ok: true)],
                .authenticated, .authenticated, true,
                [.status(.greeting(.preauthenticated)), .transition(.selected), .transition(.closed)]
            ),
            (
                [.status("PREAUTH"), .completed("SELECT", ok: true), .completed("CLOSE", ok: false)], .selected,
                .selected, true, [.status(.greeting(.preauthenticated)), .transition(.selected), .transition(.none)]
            ),
            (
                [.status("PREAUTH"), .sent("LOGOUT"), .completed("LOGOUT", ok: false)], .logout, .logout, true,
                [.status(.greeting(.preauthenticated)), .nothing, .transition(.loggedOut)]
            ),
            // STARTTLS starts the session over, whatever was expected.
            (
                [.status("OK"), .sent("LOGIN"), .startedTLS], .notAuthenticated, .notAuthenticated, true,
                [.status(.greeting(.ready)), .nothing, .nothing]
            ),
            (
                [.status("OK"), .completed("NOOP", ok: true), .sent("FETCH")], .notAuthenticated, .notAuthenticated,
                true, [.status(.greeting(.ready)), .transition(.none), .nothing]
            ),
        ] as [([Step], ConnectionState, ConnectionState, Bool, [Outcome])])
    func steps(
        _ steps: [Step], _ state: ConnectionState, _ expected: ConnectionState, _ greetingSeen: Bool,
        _ outcomes: [Outcome]
    ) {
        let (machine, got) = Self.run(steps)
        #expect(machine.state == state)
        #expect(machine.expected == expected)
        #expect(machine.greetingSeen == greetingSeen)
        #expect(got == outcomes)
    }

    @Test(
        "steps, then a command → its state finding",
        arguments: [
            // Unknown state: nothing is known to be wrong.
            ([], "FETCH", false, nil),
            ([.status("OK")], "FETCH", false, "FETCH is not valid in state not-authenticated (needs selected)"),
            ([.status("OK")], "FETCH", true, "UID FETCH is not valid in state not-authenticated (needs selected)"),
            (
                [.status("OK")], "SELECT", false,
                "SELECT is not valid in state not-authenticated (needs authenticated or selected)"
            ),
            ([.status("OK")], "LOGIN", false, nil),
            ([.status("OK")], "NOOP", false, nil),
            // Pipelined behind a LOGIN in flight: allowed in the state it leads to.
            ([.status("OK"), .sent("LOGIN")], "SELECT", false, nil),
            ([.status("OK"), .sent("LOGIN"), .sent("SELECT")], "FETCH", false, nil),
            (
                [.status("PREAUTH")], "LOGIN", false,
                "LOGIN is not valid in state authenticated (needs not authenticated)"
            ),
            ([.status("PREAUTH"), .completed("SELECT", ok: true)], "CREATE", false, nil),
            // An unknown command with UID needs a selected mailbox.
            ([.status("PREAUTH")], "XFOO", true, "UID XFOO is not valid in state authenticated (needs selected)"),
            ([.status("PREAUTH")], "XFOO", false, nil),
        ] as [([Step], String, Bool, String?)])
    func violation(_ steps: [Step], _ name: String, _ uid: Bool, _ message: String?) {
        let (machine, _) = Self.run(steps)
        let finding = machine.violation(CommandName(name), uid: uid)
        #expect(finding.map(\.message) == message)
        if let finding { #expect(finding.code == "invalid-state") }
    }

    @Test(
        "greetings and later statuses → annotations",
        arguments: [
            ("OK", "", "greeting: the server is ready; the client must authenticate", nil),
            ("PREAUTH", "", "greeting: already authenticated (PREAUTH), e.g. by the connection itself", nil),
            (
                "BYE", "too many", "greeting: the server refuses this connection",
                "the server is closing the connection: too many"
            ),
            ("BAD", "", "the server greets with BAD", "the server reports a protocol error not tied to a command"),
            ("NO", "", "the server greets with NO", "warning from the server"),
        ] as [(String, String, String, String?)])
    func annotations(_ status: String, _ text: String, _ greeting: String, _ later: String?) {
        var machine = ConnectionStateMachine()
        guard case .greeting(let outcome) = machine.untaggedStatus(status) else {
            Issue.record("the first status is the greeting")
            return
        }
        #expect(Annotations.greeting(outcome) == greeting)
        #expect(Annotations.laterStatus(status, text: text) == later)
    }
}
