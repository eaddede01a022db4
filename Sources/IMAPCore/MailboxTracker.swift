/// The selected mailbox as a caching client must track it (RFC 9051 §2.3.1, RFC 7162): what a
/// SELECT/EXAMINE in flight has learnt so far, what is selected, and each mailbox's last
/// UIDVALIDITY. Takes what the server says and returns what a person should be told.
struct MailboxTracker {
    /// The mailbox a SELECT or EXAMINE in flight is opening.
    private(set) var selecting: MailboxState?
    /// The mailbox selected once that completed.
    private(set) var selected: MailboxState?
    private var uidValidityByMailbox: [String: UInt64] = [:]

    /// What an untagged response or a code says about the mailbox.
    struct Outcome {
        var note: String?
        var lint: Lint?
    }

    /// The one a response during SELECT belongs to: the one being opened, else the selected one.
    private var current: MailboxState? { selecting ?? selected }

    private mutating func update(_ body: (inout MailboxState) -> Void) {
        if var state = selecting {
            body(&state)
            selecting = state
        } else if var state = selected {
            body(&state)
            selected = state
        }
    }

    mutating func beginSelect(_ name: String, readOnly: Bool) {
        var state = MailboxState(name: name)
        state.readOnly = readOnly
        selecting = state
    }

    /// The SELECT/EXAMINE completed with OK; its `[READ-ONLY]`/`[READ-WRITE]` code has the last word.
    mutating func selectSucceeded(code: String?) {
        if var state = selecting {
            if code == "READ-ONLY" { state.readOnly = true }
            if code == "READ-WRITE" { state.readOnly = false }
            selected = state
            if let validity = state.uidValidity { uidValidityByMailbox[state.name] = validity }
        }
        selecting = nil
    }

    /// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
    mutating func selectFailed() {
        selected = nil
        selecting = nil
    }

    mutating func closed() { selected = nil }

    // MARK: - Response codes

    mutating func uidValidity(_ value: UInt64) -> Outcome {
        let name = current?.name ?? ""
        update { $0.uidValidity = value }
        if let old = uidValidityByMailbox[name], old != value {
            return Outcome(
                note: "UIDVALIDITY of \(name) changed from \(old) to \(value): "
                    + "every UID the client cached for it is void",
                lint: .uidValidityChanged(mailbox: name, from: old, to: value))
        }
        return Outcome(
            note: "UIDVALIDITY \(value): cached UIDs of this mailbox stay valid only while this number is unchanged")
    }

    mutating func uidNext(_ value: UInt64) -> String {
        update { $0.uidNext = value }
        return "UIDNEXT \(value): the next message added will get a UID of at least \(value); "
            + "a cache holding UIDs below it has seen all older mail"
    }

    mutating func highestModSeq(_ value: UInt64) -> String {
        update { $0.highestModSeq = value }
        return "HIGHESTMODSEQ \(value): a cache synced up to this mod-sequence can fetch just the changes "
            + "with CHANGEDSINCE \(value)"
    }

    mutating func unseen(_ value: UInt64) -> String {
        update { $0.unseen = value }
        return "message \(value) is the first unseen one"
    }

    mutating func permanentFlags(_ flags: [String]) -> String {
        update { $0.permanentFlags = flags }
        return "flags the server keeps: \(flags.joined(separator: " "))"
            + (flags.contains("\\*") ? " (\\* : new keywords allowed)" : "")
    }

    mutating func readOnly(_ readOnly: Bool) { update { $0.readOnly = readOnly } }

    // MARK: - Untagged data

    mutating func exists(_ count: Int) -> Outcome {
        let old = current?.exists
        var outcome = Outcome()
        if let old, count < old, selecting == nil { outcome.lint = .existsShrank(from: old, to: count) }
        if selecting != nil {
            selecting?.exists = count
            outcome.note = "\(count) message(s) in the mailbox"
        } else {
            selected?.exists = count
            if let old, count > old {
                outcome.note = "\(count - old) new message(s); \(count) now"
            } else {
                outcome.note = "\(count) message(s)"
            }
        }
        return outcome
    }

    mutating func recent(_ count: Int) {
        if selecting != nil { selecting?.recent = count } else { selected?.recent = count }
    }

    mutating func expunged(_ number: Int) -> String {
        if let exists = selected?.exists { selected?.exists = max(0, exists - 1) }
        return "message \(number) removed; every later sequence number shifts down by one"
    }

    mutating func vanished(count: Int64?, earlier: Bool) -> String {
        if !earlier, let count, let exists = selected?.exists {
            selected?.exists = max(0, exists - Int(clamping: count))
        }
        return earlier ? "UIDs expunged since the client's last sync (QRESYNC)" : "UIDs expunged just now (QRESYNC)"
    }

    mutating func flags(_ flags: [String]) {
        if selecting != nil { selecting?.flags = flags } else { selected?.flags = flags }
    }
}
