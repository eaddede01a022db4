/// What a response code (`[UIDVALIDITY 7]`, `[CAPABILITY …]`, `[ALERT]`, …) tells the session: the
/// trackers take its facts, and the note for its response's event (and a finding) come back.
enum ResponseCodeEffects {
    /// `inCompletion`: the code came with a tagged completion, whose own note already says what
    /// the code means. `epoch`: the moment a `[CAPABILITY …]` belongs to, when the tracker's is not it.
    static func apply(
        _ code: ResponseCode, line: RawLine, inCompletion: Bool, epoch: CapabilityTracker.Epoch?,
        inFlight: CommandsInFlight, mailboxes: inout MailboxTracker, capabilities: inout CapabilityTracker
    ) -> MailboxTracker.Outcome {
        let number = code.arguments.first?.number
        switch code.name {
        case "CAPABILITY":
            let announced = code.arguments.map { line.sourceText($0) }
            return MailboxTracker.Outcome(note: capabilities.update(announced, epoch: epoch, inFlight: inFlight))
        case "UIDVALIDITY":
            guard let number else { return MailboxTracker.Outcome() }
            return mailboxes.uidValidity(number)
        case "UIDNEXT":
            guard let number else { return MailboxTracker.Outcome() }
            return MailboxTracker.Outcome(note: mailboxes.uidNext(number))
        case "HIGHESTMODSEQ":
            guard let number else { return MailboxTracker.Outcome() }
            return MailboxTracker.Outcome(note: mailboxes.highestModSeq(number))
        case "UNSEEN":
            guard let number else { return MailboxTracker.Outcome() }
            return MailboxTracker.Outcome(note: mailboxes.unseen(number))
        case "PERMANENTFLAGS":
            let flags = code.arguments.first?.list?.map { line.sourceText($0) } ?? []
            return MailboxTracker.Outcome(note: mailboxes.permanentFlags(flags))
        case "READ-ONLY", "READ-WRITE":
            mailboxes.readOnly(code.name == "READ-ONLY")
            return MailboxTracker.Outcome(note: inCompletion ? nil : Annotations.responseCode(code.name))
        case "ALERT":
            return MailboxTracker.Outcome(note: inCompletion ? nil : "ALERT: the client must show this to the user")
        case "APPENDUID":
            guard code.arguments.count == 2 else { return MailboxTracker.Outcome() }
            let validity = line.sourceText(code.arguments[0])
            let uid = line.sourceText(code.arguments[1])
            return MailboxTracker.Outcome(note: "stored with UIDVALIDITY \(validity), UID \(uid)")
        case "COPYUID":
            guard code.arguments.count == 3 else { return MailboxTracker.Outcome() }
            let source = line.sourceText(code.arguments[1])
            let target = line.sourceText(code.arguments[2])
            return MailboxTracker.Outcome(note: "source UIDs \(source) became \(target) in the target")
        default:
            return MailboxTracker.Outcome(note: inCompletion ? nil : Annotations.responseCode(code.name))
        }
    }
}
