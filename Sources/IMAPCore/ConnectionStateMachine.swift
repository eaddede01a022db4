/// The connection's RFC 9051 §3 state as the session moves through it: the greeting sets the first
/// one, a completed LOGIN/AUTHENTICATE/SELECT/EXAMINE/CLOSE/UNSELECT/LOGOUT moves it on, STARTTLS
/// starts over. A pipelining client sends commands before the earlier ones complete, so each
/// command is also checked against the state the connection will be in once every command in
/// flight succeeds. Takes what was sent and answered; returns what happened, as typed values.
struct ConnectionStateMachine {
    private(set) var state: ConnectionState = .unknown
    /// The state once every command in flight succeeds; pipelined commands are checked against it too.
    private(set) var expected: ConnectionState = .unknown
    /// Whether the server's first response, its greeting, has arrived.
    private(set) var greetingSeen = false

    /// What the server's greeting said.
    enum Greeting: Equatable {
        /// `* OK`: ready; the client must authenticate.
        case ready
        /// `* PREAUTH`: authenticated by the connection itself.
        case preauthenticated
        /// `* BYE`: the server refuses the connection.
        case refused
        /// A status no greeting should have (`* NO`, `* BAD`).
        case other(String)
    }

    /// What an untagged status response (`* OK`, `* BYE`, …) meant for the connection.
    enum StatusOutcome: Equatable {
        /// It was the greeting.
        case greeting(Greeting)
        /// It came after the greeting; a PREAUTH there is a finding.
        case afterGreeting(lint: Lint?)
    }

    /// What a completion did besides moving the state, for the parts that follow the mailbox and
    /// the capabilities.
    enum Transition: Equatable {
        case none
        /// LOGIN or AUTHENTICATE succeeded.
        case loggedIn
        /// SELECT or EXAMINE succeeded.
        case selected
        /// SELECT or EXAMINE failed: no mailbox is selected any more (RFC 9051 §6.3.2).
        case selectFailed
        /// CLOSE or UNSELECT succeeded.
        case closed
        /// LOGOUT completed, whatever its status.
        case loggedOut
    }

    mutating func untaggedStatus(_ name: String) -> StatusOutcome {
        guard greetingSeen else {
            greetingSeen = true
            let greeting: Greeting
            switch name {
            case "OK":
                if state == .unknown { state = .notAuthenticated }
                greeting = .ready
            case "PREAUTH":
                state = .authenticated
                greeting = .preauthenticated
            case "BYE":
                state = .logout
                greeting = .refused
            default:
                greeting = .other(name)
            }
            expected = state
            return .greeting(greeting)
        }
        return .afterGreeting(lint: name == "PREAUTH" ? .latePreauth : nil)
    }

    /// Untagged data (`* CAPABILITY …`) as the first response: the greeting is over, state unknown.
    mutating func untaggedData() { greetingSeen = true }

    /// The finding when `name` is sent in a state that does not allow it: checked against the
    /// current state, and only reported if the state the commands in flight lead to does not
    /// allow it either (or is unknown).
    func violation(_ name: CommandName, uid: Bool) -> Lint? {
        guard let needs = CommandStates.violation(name, uid: uid, in: state),
            expected == .unknown || CommandStates.violation(name, uid: uid, in: expected) != nil
        else { return nil }
        return .invalidState(command: (uid ? "UID " : "") + name.text, state: state.rawValue, needs: needs)
    }

    /// A command was sent: the state it leads to once it succeeds.
    mutating func commandSent(_ name: CommandName) {
        switch name {
        case .login, .authenticate, .close, .unselect: expected = .authenticated
        case .select, .examine: expected = .selected
        case .logout: expected = .logout
        default: break
        }
    }

    /// A `name` command completed, `succeeded` when with OK.
    mutating func completed(_ name: CommandName, succeeded: Bool) -> Transition {
        var transition = Transition.none
        if succeeded {
            switch name {
            case .login, .authenticate:
                state = .authenticated
                transition = .loggedIn
            case .select, .examine:
                state = .selected
                transition = .selected
            case .close, .unselect:
                state = .authenticated
                transition = .closed
            case .logout:
                state = .logout
                transition = .loggedOut
            default: break
            }
        } else if name == .select || name == .examine {
            if state == .selected { state = .authenticated }
            transition = .selectFailed
        } else if name == .logout {
            // A LOGOUT that completes at all ends the session, whatever its status.
            state = .logout
            transition = .loggedOut
        }
        expected = state
        return transition
    }

    /// STARTTLS succeeded: the session starts over, not authenticated (RFC 9051 §6.2.1).
    mutating func startedTLS() {
        state = .notAuthenticated
        expected = state
    }
}
