/// What a command line reveals beyond its own syntax, checked against the session: a tag still in
/// flight, a state that does not allow it, a malformed line, a password in cleartext, a literal
/// the server's capabilities do not allow.
enum CommandChecks {
    /// SASL mechanisms whose exchange carries the password (or a bearer token) as it is.
    static let cleartextMechanisms: Set<String> = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]

    /// Appends `command`'s findings to `findings`, in the order they are reported. `literalRefused`:
    /// the server refused the synchronizing literal the line ends with. `capabilities`: the set in
    /// force, upper-cased; nil when none is known.
    static func check(
        _ command: Command, line: RawLine, literalRefused: Bool, inFlight: CommandsInFlight,
        connection: ConnectionStateMachine, capabilities: Set<String>?, encrypted: Bool, into findings: inout [Lint]
    ) {
        if let prior = inFlight.first(command.tag) {
            findings.append(.tagReused(tag: command.tag, inFlight: prior.name.text))
        }
        if let finding = connection.violation(command.name, uid: command.uid) { findings.append(finding) }
        // A line whose literal the server refused ends at the literal's header: it is malformed
        // only if it would be with the literal the client meant to send.
        if !command.problems.isEmpty, !(literalRefused && wellFormedWithItsLiteral(line)) {
            findings.append(.malformedCommand(name: command.name.text, problems: command.problems))
        }
        if command.name == .login {
            if capabilities?.contains("LOGINDISABLED") == true { findings.append(.loginDisabled) }
            if !encrypted { findings.append(.cleartextLogin) }
        }
        if command.name == .authenticate, !encrypted, let mechanism = command.details.mechanism,
            cleartextMechanisms.contains(mechanism)
        {
            findings.append(.cleartextAuth(mechanism: mechanism))
        }
        guard let capabilities else { return }
        for literal in line.literals where literal.header.form != .synchronizing {
            if capabilities.contains("LITERAL+") { break }
            let literalMinus = capabilities.contains("LITERAL-")
            if !literalMinus || literal.header.size > LiteralHeader.literalMinusLimit {
                findings.append(.nonSyncLiteral(size: literal.header.size, literalMinus: literalMinus))
                break
            }
        }
    }

    /// Whether a command line cut at a refused synchronizing literal parses without problems
    /// once the literal (empty: only its header matters to the grammar) and the line's end follow.
    static func wellFormedWithItsLiteral(_ line: RawLine) -> Bool {
        guard let last = line.segments.last, let (header, _) = LiteralHeader.trailing(in: last.text) else {
            return false
        }
        var segments = line.segments
        segments[segments.count - 1].literal = Literal(
            header: header, received: 0, content: [], preview: [], sha256: "")
        segments.append(LineSegment(text: [], ending: .crlf, literal: nil))
        guard let command = try? CommandParser.parse(RawLine(segments: segments)) else { return false }
        return command.problems.isEmpty
    }
}
