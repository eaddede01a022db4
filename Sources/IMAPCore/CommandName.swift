/// A command's name: one case per command imapscope's grammar decodes, `other` for the rest.
/// `UID FETCH` is `.fetch` with the command's `uid` flag set. On the wire and in schema v1 a
/// name is its upper-case `text`.
public enum CommandName: Hashable, Sendable {
    // any state (RFC 9051 §6.1)
    case capability, logout, noop, id
    // not authenticated (§6.2)
    case starttls, authenticate, login
    // authenticated (§6.3) and extensions
    case enable, select, examine, create, delete, rename, subscribe, unsubscribe, list, lsub, xlist, namespace, status
    case append, idle, compress, getquota, getquotaroot, setquota, getmetadata, setmetadata, getacl, setacl, deleteacl
    case listrights, myrights
    // selected (§6.4)
    case check, close, unselect, expunge, search, fetch, store, copy, move, sort, thread
    /// A command the grammar does not know, upper case as sent.
    case other(String)

    /// Every name but `other`, in declaration order.
    public static let known: [CommandName] = [
        .capability, .logout, .noop, .id, .starttls, .authenticate, .login, .enable, .select, .examine, .create,
        .delete, .rename, .subscribe, .unsubscribe, .list, .lsub, .xlist, .namespace, .status, .append, .idle,
        .compress, .getquota, .getquotaroot, .setquota, .getmetadata, .setmetadata, .getacl, .setacl, .deleteacl,
        .listrights, .myrights, .check, .close, .unselect, .expunge, .search, .fetch, .store, .copy, .move, .sort,
        .thread,
    ]

    private static let byText: [String: CommandName] = Dictionary(
        uniqueKeysWithValues: known.map { ($0.text, $0) })

    /// `upperCased`: the name as sent, already in upper case.
    public init(_ upperCased: String) { self = Self.byText[upperCased] ?? .other(upperCased) }

    /// Upper case, as schema v1 writes it.
    public var text: String {
        switch self {
        case .capability: return "CAPABILITY"
        case .logout: return "LOGOUT"
        case .noop: return "NOOP"
        case .id: return "ID"
        case .starttls: return "STARTTLS"
        case .authenticate: return "AUTHENTICATE"
        case .login: return "LOGIN"
        case .enable: return "ENABLE"
        case .select: return "SELECT"
        case .examine: return "EXAMINE"
        case .create: return "CREATE"
        case .delete: return "DELETE"
        case .rename: return "RENAME"
        case .subscribe: return "SUBSCRIBE"
        case .unsubscribe: return "UNSUBSCRIBE"
        case .list: return "LIST"
        case .lsub: return "LSUB"
        case .xlist: return "XLIST"
        case .namespace: return "NAMESPACE"
        case .status: return "STATUS"
        case .append: return "APPEND"
        case .idle: return "IDLE"
        case .compress: return "COMPRESS"
        case .getquota: return "GETQUOTA"
        case .getquotaroot: return "GETQUOTAROOT"
        case .setquota: return "SETQUOTA"
        case .getmetadata: return "GETMETADATA"
        case .setmetadata: return "SETMETADATA"
        case .getacl: return "GETACL"
        case .setacl: return "SETACL"
        case .deleteacl: return "DELETEACL"
        case .listrights: return "LISTRIGHTS"
        case .myrights: return "MYRIGHTS"
        case .check: return "CHECK"
        case .close: return "CLOSE"
        case .unselect: return "UNSELECT"
        case .expunge: return "EXPUNGE"
        case .search: return "SEARCH"
        case .fetch: return "FETCH"
        case .store: return "STORE"
        case .copy: return "COPY"
        case .move: return "MOVE"
        case .sort: return "SORT"
        case .thread: return "THREAD"
        case .other(let text): return text
        }
    }

    /// A small number per name (`other` names share the last), for tables indexed by name.
    var index: Int {
        switch self {
        case .capability: return 0
        case .logout: return 1
        case .noop: return 2
        case .id: return 3
        case .starttls: return 4
        case .authenticate: return 5
        case .login: return 6
        case .enable: return 7
        case .select: return 8
        case .examine: return 9
        case .create: return 10
        case .delete: return 11
        case .rename: return 12
        case .subscribe: return 13
        case .unsubscribe: return 14
        case .list: return 15
        case .lsub: return 16
        case .xlist: return 17
        case .namespace: return 18
        case .status: return 19
        case .append: return 20
        case .idle: return 21
        case .compress: return 22
        case .getquota: return 23
        case .getquotaroot: return 24
        case .setquota: return 25
        case .getmetadata: return 26
        case .setmetadata: return 27
        case .getacl: return 28
        case .setacl: return 29
        case .deleteacl: return 30
        case .listrights: return 31
        case .myrights: return 32
        case .check: return 33
        case .close: return 34
        case .unselect: return 35
        case .expunge: return 36
        case .search: return 37
        case .fetch: return 38
        case .store: return 39
        case .copy: return 40
        case .move: return 41
        case .sort: return 42
        case .thread: return 43
        case .other: return 44
        }
    }

    static let indexCount = 45

    public var isKnown: Bool {
        if case .other = self { return false }
        return true
    }
}

extension CommandName: CustomStringConvertible {
    public var description: String { text }
}
