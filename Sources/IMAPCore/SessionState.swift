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
        var o: [(String, JSONValue)] = [("name", .string(name)), ("read_only", .bool(readOnly))]
        if let v = exists { o.append(("exists", .int(Int64(v)))) }
        if let v = recent { o.append(("recent", .int(Int64(v)))) }
        if let v = uidValidity { o.append(("uidvalidity", .int(Int64(clamping: v)))) }
        if let v = uidNext { o.append(("uidnext", .int(Int64(clamping: v)))) }
        if let v = highestModSeq { o.append(("highestmodseq", .int(Int64(clamping: v)))) }
        return .object(o)
    }
}

/// Which commands RFC 9051 §6 allows in which state.
enum CommandStates {
    static let any: Set<String> = ["CAPABILITY", "NOOP", "LOGOUT", "ID"]
    static let notAuthenticated: Set<String> = ["STARTTLS", "AUTHENTICATE", "LOGIN"]
    static let authenticated: Set<String> = [
        "ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
        "XLIST", "NAMESPACE", "STATUS", "APPEND", "IDLE", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "GETMETADATA",
        "SETMETADATA", "COMPRESS", "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS",
    ]
    static let selected: Set<String> = [
        "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD",
    ]

    /// Nil when `name` is allowed in `state` (or unknown to us); else the states it needs.
    static func violation(_ name: String, uid: Bool, in state: ConnectionState) -> String? {
        if state == .unknown || any.contains(name) { return nil }
        if notAuthenticated.contains(name) { return state == .notAuthenticated ? nil : "not authenticated" }
        if authenticated.contains(name) {
            return state == .authenticated || state == .selected ? nil : "authenticated or selected"
        }
        if selected.contains(name) || uid { return state == .selected ? nil : "selected" }
        return nil
    }

    /// Untagged responses each command asks for; anything else arriving during it is unsolicited.
    static let solicitedBy: [String: Set<String>] = [
        "EXISTS": ["SELECT", "EXAMINE", "NOOP", "IDLE", "CHECK"],
        "RECENT": ["SELECT", "EXAMINE", "NOOP", "IDLE", "CHECK"],
        "EXPUNGE": ["EXPUNGE", "MOVE", "NOOP", "IDLE", "CHECK", "CLOSE"],
        "VANISHED": ["EXPUNGE", "MOVE", "NOOP", "IDLE", "CHECK", "SELECT", "EXAMINE", "FETCH"],
        "FETCH": ["FETCH", "STORE", "NOOP", "IDLE", "CHECK", "SELECT", "EXAMINE"],
    ]
}
