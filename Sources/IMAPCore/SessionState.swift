/// RFC 9051 §3 connection states, plus `unknown` for a capture that starts mid-stream.
public enum ConnectionState: String, Sendable {
    case unknown
    case notAuthenticated = "not-authenticated"
    case authenticated
    case selected
    case logout
}

/// What a client caching the selected mailbox must know (RFC 9051 §2.3.1, RFC 7162).
public struct MailboxState: Sendable, Equatable {
    public var name: String
    public var readOnly = false
    public var exists: Int?
    public var recent: Int?
    public var uidValidity: UInt64?
    public var uidNext: UInt64?
    public var highestModSeq: UInt64?
    public var unseen: UInt64?
    public var flags: [String] = []
    public var permanentFlags: [String] = []

    public init(name: String) { self.name = name }

    public var json: JSONValue {
        var fields: [(String, JSONValue)] = [("name", .string(name)), ("read_only", .bool(readOnly))]
        if let exists { fields.append(("exists", .int(Int64(exists)))) }
        if let recent { fields.append(("recent", .int(Int64(recent)))) }
        if let uidValidity { fields.append(("uidvalidity", .int(Int64(clamping: uidValidity)))) }
        if let uidNext { fields.append(("uidnext", .int(Int64(clamping: uidNext)))) }
        if let highestModSeq { fields.append(("highestmodseq", .int(Int64(clamping: highestModSeq)))) }
        return .object(fields)
    }
}

/// Which commands RFC 9051 §6 allows in which state.
enum CommandStates {
    /// Nil when `name` is allowed in `state` (or unknown to us); else the states it needs.
    static func violation(_ name: CommandName, uid: Bool, in state: ConnectionState) -> String? {
        if state == .unknown { return nil }
        switch name {
        case .capability, .noop, .logout, .id:
            return nil
        case .starttls, .authenticate, .login:
            return state == .notAuthenticated ? nil : "not authenticated"
        case .enable, .select, .examine, .create, .delete, .rename, .subscribe, .unsubscribe, .list, .lsub, .xlist,
            .namespace, .status, .append, .idle, .getquota, .getquotaroot, .setquota, .getmetadata, .setmetadata,
            .compress, .getacl, .setacl, .deleteacl, .listrights, .myrights:
            return state == .authenticated || state == .selected ? nil : "authenticated or selected"
        case .check, .close, .unselect, .expunge, .search, .fetch, .store, .copy, .move, .sort, .thread:
            return state == .selected ? nil : "selected"
        case .other:
            return uid && state != .selected ? "selected" : nil
        }
    }

    /// The commands during which an untagged response of this name is expected; anything else
    /// arriving then is unsolicited. Nil for names any command may cause.
    static func solicitors(of responseName: String) -> [CommandName]? {
        switch responseName {
        case "FETCH": return fetchSolicitors
        case "EXISTS", "RECENT": return existsSolicitors
        case "EXPUNGE": return expungeSolicitors
        case "VANISHED": return vanishedSolicitors
        default: return nil
        }
    }

    private static let fetchSolicitors: [CommandName] = [.fetch, .store, .noop, .idle, .check, .select, .examine]
    private static let existsSolicitors: [CommandName] = [.select, .examine, .noop, .idle, .check]
    private static let expungeSolicitors: [CommandName] = [.expunge, .move, .noop, .idle, .check, .close]
    private static let vanishedSolicitors: [CommandName] = [
        .expunge, .move, .noop, .idle, .check, .select, .examine, .fetch,
    ]
}
