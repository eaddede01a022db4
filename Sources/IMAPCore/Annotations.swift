/// Short sentences a person wants beside a line. Facts from RFC 9051 §7.1, RFC 5530 and the
/// extension RFCs; wording ours.
public enum Annotations {
    /// What a response code means for the client.
    public static func responseCode(_ name: String) -> String? {
        switch name {
        case "ALERT": return "ALERT: the client must show this text to the user"
        case "AUTHENTICATIONFAILED": return "authentication failed: wrong credentials or unknown user"
        case "AUTHORIZATIONFAILED": return "authenticated, but not allowed to act as the requested identity"
        case "EXPIRED": return "the credentials have expired"
        case "PRIVACYREQUIRED": return "refused because the connection is not encrypted"
        case "CONTACTADMIN": return "the user should contact the administrator"
        case "UNAVAILABLE": return "temporary failure on the server; retry later"
        case "TRYCREATE": return "the target mailbox does not exist; the client may CREATE it and retry"
        case "NONEXISTENT": return "the mailbox does not exist"
        case "ALREADYEXISTS": return "the mailbox already exists"
        case "NOPERM": return "the ACL does not allow this"
        case "INUSE": return "someone else holds a lock; retry later"
        case "OVERQUOTA": return "over quota: the operation would exceed a storage limit"
        case "LIMIT": return "a server limit was reached (too many messages, too long a command …)"
        case "CANNOT": return "the server can never do this, whatever the client tries"
        case "SERVERBUG": return "the server hit a bug"
        case "CLIENTBUG": return "the server thinks the client has a bug"
        case "EXPUNGEISSUED": return "a message was expunged by another session meanwhile"
        case "CORRUPTION": return "the server found corrupted data"
        case "BADCHARSET": return "the search charset is not supported"
        case "PARSE": return "the server could not parse a message's headers or MIME structure"
        case "READ-ONLY": return "the mailbox is selected read-only: flags cannot be changed"
        case "READ-WRITE": return "the mailbox is selected read-write"
        case "UIDNOTSTICKY": return "UIDs in this mailbox are not kept across sessions: do not cache them"
        case "NOMODSEQ": return "this mailbox keeps no mod-sequences: CONDSTORE resync is not possible"
        case "CLOSED": return "the previously selected mailbox is now closed"
        case "COMPRESSIONACTIVE": return "compression is already active"
        case "HASCHILDREN": return "the mailbox has children and cannot be deleted this way"
        case "NOTSAVED": return "the search result was not saved"
        case "UNKNOWN-CTE": return "the server cannot decode this content-transfer-encoding"
        case "USEATTR": return "the special-use attribute is not supported"
        case "MODIFIED": return "these messages changed since the given mod-sequence and were not stored"
        case "INPROGRESS": return "the command is still running (progress report)"
        default: return nil
        }
    }

    public static func listAttribute(_ attribute: String) -> String? {
        switch attribute.lowercased() {
        case "\\noselect": return "cannot be selected"
        case "\\nonexistent": return "does not exist"
        case "\\noinferiors": return "cannot have children"
        case "\\haschildren": return "has children"
        case "\\hasnochildren": return "no children"
        case "\\marked": return "marked: may have new mail"
        case "\\unmarked": return "no new mail"
        case "\\subscribed": return "subscribed"
        case "\\remote": return "on another server"
        case "\\all": return "special-use: all mail"
        case "\\archive": return "special-use: archive"
        case "\\drafts": return "special-use: drafts"
        case "\\flagged": return "special-use: flagged"
        case "\\junk": return "special-use: junk"
        case "\\sent": return "special-use: sent"
        case "\\trash": return "special-use: trash"
        case "\\important": return "special-use: important"
        default: return nil
        }
    }

    /// "added IDLE, MOVE; removed AUTH=PLAIN" between two capability lists.
    public static func capabilityChange(from old: [String], to new: [String]) -> String {
        let oldSet = Set(old.map { $0.uppercased() })
        let newSet = Set(new.map { $0.uppercased() })
        let added = new.filter { !oldSet.contains($0.uppercased()) }
        let removed = old.filter { !newSet.contains($0.uppercased()) }
        if added.isEmpty && removed.isEmpty { return "unchanged" }
        var parts: [String] = []
        if !added.isEmpty { parts.append("added " + added.joined(separator: " ")) }
        if !removed.isEmpty { parts.append("removed " + removed.joined(separator: " ")) }
        return parts.joined(separator: "; ")
    }

    /// What a command asks for, in a few words; nil for the commands whose line says it all.
    static func command(_ cmd: Command) -> String? {
        let args = cmd.details
        switch cmd.name {
        case .login: return args.user.map { "log in as \($0) (password redacted)" }
        case .authenticate:
            return "SASL \(args.mechanism ?? "?") authentication"
                + (cmd.initialResponse != nil ? " with an initial response (SASL-IR)" : "")
        case .select: return "open \(args.mailbox ?? "?") read-write"
        case .examine: return "open \(args.mailbox ?? "?") read-only"
        case .idle: return "wait for the server to push changes until DONE"
        case .starttls: return "ask to upgrade this connection to TLS"
        case .compress: return "ask to compress both directions with \(args.algorithm ?? "?")"
        case .logout: return "end the session"
        case .enable: return "turn on extensions that change server behaviour"
        case .append:
            if let messages = args.messages {
                return "upload \(messages.count) message(s) to \(args.mailbox ?? "?")"
            }
            return nil
        default:
            if !args.isKnown { return "a command imapscope does not know; shown generically" }
            return nil
        }
    }

    /// A latency as people read it: `0.42 ms`, `37 ms`, `12.5 s`.
    static func duration(_ ms: Double) -> String {
        ms < 10
            ? "\(Decimal.format(ms, 2)) ms"
            : (ms < 10_000 ? "\(Decimal.format(ms, 0)) ms" : "\(Decimal.format(ms / 1000, 1)) s")
    }

    /// What the server's greeting means for the client.
    static func greeting(_ greeting: ConnectionStateMachine.Greeting) -> String {
        switch greeting {
        case .ready: return "greeting: the server is ready; the client must authenticate"
        case .preauthenticated: return "greeting: already authenticated (PREAUTH), e.g. by the connection itself"
        case .refused: return "greeting: the server refuses this connection"
        case .other(let status): return "the server greets with \(status)"
        }
    }

    /// An untagged status after the greeting (`* BYE`, `* NO`, `* BAD`); nil for the others.
    static func laterStatus(_ name: String, text: String) -> String? {
        switch name {
        case "BYE": return "the server is closing the connection" + (text.isEmpty ? "" : ": \(text)")
        case "NO": return "warning from the server"
        case "BAD": return "the server reports a protocol error not tied to a command"
        default: return nil
        }
    }

    /// Two notes about one event, in order, either possibly absent.
    static func joined(_ first: String?, _ second: String?) -> String? {
        guard let second else { return first }
        guard let first, !first.isEmpty else { return second }
        return first + "; " + second
    }

    /// A `+` for a client's synchronizing literal; `command`: the waiting line's tag and name,
    /// when they are known to be a command's.
    static func literalReady(for command: (tag: String, name: String)?) -> String {
        let what = command.map { " of \($0.tag) \($0.name)" } ?? ""
        return "the server is ready for the literal\(what); the command's event follows once its body has arrived"
    }

    static func idleRunning(tag: String) -> String {
        "IDLE \(tag) is running: the server will push changes until the client sends DONE"
    }

    static let unrequestedContinuation = "a continuation request no command asked for"
}
