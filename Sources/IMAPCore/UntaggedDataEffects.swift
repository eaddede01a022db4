/// What untagged data (`* 3 EXISTS`, `* CAPABILITY …`, `* LIST …`, `* 1 FETCH …`) tells the
/// session: the trackers take its facts, and what a person should be told comes back, with a
/// finding and whether no command in flight asked for it.
enum UntaggedDataEffects {
    struct Outcome: Equatable {
        var note: String?
        var lint: Lint?
        /// No command in flight asks for this response (and no IDLE is running).
        var unsolicited = false
    }

    static func apply(
        _ name: String, number: UInt64?, _ response: Response, line: RawLine, inFlight: CommandsInFlight,
        mailboxes: inout MailboxTracker, capabilities: inout CapabilityTracker
    ) -> Outcome {
        var outcome = Outcome()
        let count = number.map { Int(clamping: $0) }
        switch name {
        case "CAPABILITY":
            let announced = response.arguments.map { line.sourceText($0) }
            outcome.note = capabilities.update(announced, epoch: nil, inFlight: inFlight)
        case "EXISTS":
            if let count {
                let existing = mailboxes.exists(count)
                outcome.note = existing.note
                outcome.lint = existing.lint
            }
        case "RECENT":
            if let count { mailboxes.recent(count) }
        case "EXPUNGE":
            if let count { outcome.note = mailboxes.expunged(count) }
        case "VANISHED":
            outcome.note = mailboxes.vanished(count: response.details.count, earlier: response.details.earlier)
        case "FLAGS":
            mailboxes.flags(response.arguments.first?.list?.map { line.sourceText($0) } ?? [])
        case "LIST", "LSUB", "XLIST":
            let meanings = response.details.listAttributes.compactMap(Annotations.listAttribute)
            if !meanings.isEmpty { outcome.note = meanings.joined(separator: ", ") }
        case "ENABLED":
            outcome.note = "extensions now active"
        case "SEARCH", "SORT":
            if let matches = response.details.count { outcome.note = "\(matches) match(es)" }
        default: break
        }
        guard let solicitors = CommandStates.solicitors(of: name) else { return outcome }
        let context: String
        if inFlight.running(.idle) {
            context = "pushed during IDLE"
        } else if solicitors.contains(where: { $0 != .idle && inFlight.running($0) }) {
            return outcome
        } else {
            outcome.unsolicited = true
            if let oldest = inFlight.all.first {
                context = "unsolicited, during \(oldest.command.name) \(oldest.tag)"
            } else {
                context = "unsolicited: no command asked for it"
            }
        }
        outcome.note = outcome.note.map { $0 + "; " + context } ?? context
        return outcome
    }
}
