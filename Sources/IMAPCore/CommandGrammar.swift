/// Typed decoding of client commands: RFC 9051 and RFC 3501 and the extensions imapscope knows.
/// Each case quotes the ABNF it checks. Problems become lints; they never stop decoding.
enum CommandGrammar {
    static func decode(_ cmd: inout Command, line: RawLine) {
        var a = Args(nodes: cmd.arguments, line: line)
        var d = ArgumentFields()
        switch cmd.name {
        // command-any = "CAPABILITY" / "LOGOUT" / "NOOP"
        // command-auth/select without arguments: CHECK, CLOSE, UNSELECT (RFC 3691), NAMESPACE (RFC 2342),
        // IDLE (RFC 2177), STARTTLS, EXPUNGE
        case .capability, .logout, .noop, .check, .close, .unselect, .namespace, .idle, .starttls:
            break
        case .expunge:
            // uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315)
            if cmd.uid { d.setSequenceSet(a.sequenceSet("UID EXPUNGE") ?? "") }
        // login = "LOGIN" SP userid SP password
        case .login:
            // The password and whatever follows it are hidden by CommandParser (deny by default);
            // a lone argument may be the password itself, so it is no user name either.
            let userNode = a.node()
            if let p = a.node() {
                if let u = userNode, let user = line.string(u) {
                    d.setUser(user)
                } else {
                    a.problem("LOGIN needs a user name")
                }
                if case .literal(let seg) = p.syntax { cmd.literalLabels[seg] = "password" }
            } else {
                a.problem("LOGIN needs a user name and a password")
            }
            if !a.done { a.problem("LOGIN has more than two arguments") }
            _ = a.rest()
        // authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]   (RFC 9051, SASL-IR RFC 4959)
        case .authenticate:
            // sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_" (RFC 4422 §3.1;
            // IMAP compares it case-insensitively). Anything else may be a misplaced secret.
            if let m = a.atom("AUTHENTICATE needs a mechanism") {
                if SASL.isMechanismName(m) {
                    d.setMechanism(m.uppercased())
                } else {
                    a.problem("the mechanism is not a SASL mechanism name")
                }
            }
            if let ir = a.node() {
                let text = line.string(ir) ?? ""
                cmd.initialResponse = text == "=" ? [] : Base64.decode(text)
                if cmd.initialResponse == nil { a.problem("initial response is not base64") }
                d.append(("initial_response", .bool(true)))
                if let ir = cmd.initialResponse, let mech = d.mechanism,
                    let u = SASL.user(mechanism: mech, step: 1, payload: ir)
                {
                    d.setUser(u)
                }
            }
            if !a.done { a.problem("AUTHENTICATE has more than one initial response") }
            _ = a.rest()
        // select = "SELECT" SP mailbox [select-params]; examine likewise (CONDSTORE/QRESYNC params)
        case .select, .examine:
            mailbox(&a, &d, "mailbox")
            if let p = a.optionalList() { d.append(("parameters", .array(p.map { .string(line.sourceText($0)) }))) }
        // create = "CREATE" SP mailbox [create-params]  (RFC 4466, USE (special-use) RFC 6154)
        case .create:
            mailbox(&a, &d, "mailbox")
            if let p = a.optionalList() { d.append(("parameters", .array(p.map { .string(line.sourceText($0)) }))) }
        case .delete, .subscribe, .unsubscribe, .getquotaroot, .getacl, .myrights:
            mailbox(&a, &d, "mailbox")
        // rename = "RENAME" SP mailbox SP mailbox
        case .rename:
            mailbox(&a, &d, "mailbox")
            mailbox(&a, &d, "new_name")
        // list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]  (RFC 5258)
        case .list, .lsub, .xlist:
            if cmd.name == .list, let sel = a.optionalList() {
                d.append(("selection_options", .array(sel.map { .string(line.sourceText($0).uppercased()) })))
            }
            mailbox(&a, &d, "reference")
            if let p = a.optionalList() {
                d.append(("patterns", .array(p.compactMap { line.string($0).map(JSONValue.string) })))
            } else if let p = a.node(), let s = line.string(p) {
                d.append(("pattern", .string(s)))
            } else {
                a.problem("\(cmd.name) needs a mailbox pattern")
            }
            if a.keyword() == "RETURN" {
                if let r = a.list("RETURN needs a list") {
                    d.append(("return_options", .array(r.map { .string(line.sourceText($0).uppercased()) })))
                }
            }
        // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
        case .status:
            mailbox(&a, &d, "mailbox")
            if let items = a.list("STATUS needs a list of items") {
                d.append(("items", .array(items.map { .string(line.sourceText($0).uppercased()) })))
                let known: Set<String> = [
                    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE",
                    "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID", "DELETED-STORAGE",
                ]
                for i in items where !known.contains(i.keyword ?? "") {
                    a.problem("unknown STATUS item \(line.sourceText(i))")
                }
            }
        // append = "APPEND" SP mailbox 1*append-message   (MULTIAPPEND RFC 3502, BINARY ~{n} RFC 3516)
        // append-message = [SP flag-list] [SP date-time] SP append-data ; append-data = literal / literal8 / …
        case .append:
            mailbox(&a, &d, "mailbox")
            var messages: [JSONValue] = []
            while !a.done {
                var m: [(String, JSONValue)] = []
                if let f = a.optionalList() { m.append(("flags", .array(f.map { .string(line.sourceText($0)) }))) }
                if let n = a.peek(), case .quoted = n.syntax {
                    a.skip()
                    m.append(("date", .string(line.string(n) ?? "")))
                }
                if let kw = a.peek()?.keyword, kw == "UTF8" || kw == "CATENATE" {
                    a.skip()
                    m.append(("data", .string(kw)))
                    if let l = a.list("\(kw) needs a list") {
                        for n in l { if case .literal(let seg) = n.syntax { cmd.literalLabels[seg] = "message" } }
                    }
                } else if let n = a.node(), case .literal(let seg) = n.syntax {
                    cmd.literalLabels[seg] = "message"
                    let lit = line.segments[seg].literal
                    m.append(("size", .int(Int64(lit?.header.size ?? 0))))
                    if lit?.header.binary == true { m.append(("binary", .bool(true))) }
                } else {
                    a.problem("APPEND needs the message as a literal")
                    break
                }
                messages.append(.object(m))
            }
            if messages.isEmpty { a.problem("APPEND needs a message") }
            d.setMessages(messages)
        // search = "SEARCH" [search-return-opts] SP search-program   (ESEARCH RFC 4731)
        // search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
        case .search:
            if a.peek()?.keyword == "RETURN" {
                a.skip()
                if let r = a.list("RETURN needs a list") {
                    d.append(("return_options", .array(r.map { .string(line.sourceText($0).uppercased()) })))
                }
            }
            if a.peek()?.keyword == "CHARSET" {
                a.skip()
                if let c = a.node() { d.append(("charset", .string(line.string(c) ?? ""))) }
            }
            if a.done { a.problem("SEARCH needs search criteria") }
            d.append(("criteria", .string(a.rest().map(line.sourceText).joined(separator: " "))))
        // fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
        //         [fetch-modifiers]   (CHANGEDSINCE/VANISHED, RFC 7162)
        case .fetch:
            if let s = a.sequenceSet("FETCH") { d.setSequenceSet(s) }
            if let n = a.node() {
                let items = n.list ?? [n]
                d.append(("items", .array(items.map { .string(line.sourceText($0).uppercased()) })))
            } else {
                a.problem("FETCH needs data items")
            }
            if let mods = a.optionalList() {
                d.append(("modifiers", .array(mods.map { .string(line.sourceText($0).uppercased()) })))
            }
        // store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
        // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
        case .store:
            if let s = a.sequenceSet("STORE") { d.setSequenceSet(s) }
            if let mods = a.optionalList() {
                d.append(("modifiers", .array(mods.map { .string(line.sourceText($0).uppercased()) })))
            }
            if let op = a.atom("STORE needs an operation") {
                let up = op.uppercased()
                let ok = [
                    "FLAGS", "+FLAGS", "-FLAGS", "FLAGS.SILENT", "+FLAGS.SILENT", "-FLAGS.SILENT",
                    "X-GM-LABELS", "+X-GM-LABELS", "-X-GM-LABELS", "X-GM-LABELS.SILENT", "+X-GM-LABELS.SILENT",
                    "-X-GM-LABELS.SILENT",
                ]
                if !ok.contains(up) { a.problem("unknown STORE operation \(op)") }
                d.append(("operation", .string(up)))
            }
            let flags = a.rest().flatMap { $0.list ?? [$0] }
            d.append(("flags", .array(flags.map { .string(line.sourceText($0)) })))
        // copy = "COPY" SP sequence-set SP mailbox ; move = "MOVE" SP sequence-set SP mailbox (RFC 6851)
        case .copy, .move:
            if let s = a.sequenceSet(cmd.name.text) { d.setSequenceSet(s) }
            mailbox(&a, &d, "destination")
        // enable = "ENABLE" 1*(SP capability)   (RFC 5161)
        case .enable:
            let caps = a.rest().map { line.sourceText($0).uppercased() }
            if caps.isEmpty { a.problem("ENABLE needs a capability") }
            d.append(("capabilities", .array(caps.map(JSONValue.string))))
        // id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil   (RFC 2971)
        case .id:
            if let n = a.node() {
                if let l = n.list {
                    d.append(("parameters", idParams(l, line: line, problem: { a.problem($0) })))
                } else if !n.isNil {
                    a.problem("ID needs a list or NIL")
                }
            } else {
                a.problem("ID needs a list or NIL")
            }
        // compress = "COMPRESS" SP algorithm   (RFC 4978)
        case .compress:
            if let alg = a.atom("COMPRESS needs an algorithm") { d.setAlgorithm(alg.uppercased()) }
        // getquota = "GETQUOTA" SP quota-root-name ; setquota = "SETQUOTA" SP quota-root-name SP setquota-list  (RFC 9208)
        case .getquota:
            mailbox(&a, &d, "quota_root")
        case .setquota:
            mailbox(&a, &d, "quota_root")
            if let l = a.list("SETQUOTA needs a resource list") {
                d.append(("resources", .array(l.map { .string(line.sourceText($0)) })))
            }
        // getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries   (RFC 5464)
        case .getmetadata:
            if let opts = a.optionalList() { d.append(("options", .array(opts.map { .string(line.sourceText($0)) }))) }
            mailbox(&a, &d, "mailbox")
            let entries = a.rest().flatMap { $0.list ?? [$0] }
            if entries.isEmpty { a.problem("GETMETADATA needs entries") }
            d.append(("entries", .array(entries.compactMap { line.string($0).map(JSONValue.string) })))
        // setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")"
        case .setmetadata:
            mailbox(&a, &d, "mailbox")
            if let l = a.list("SETMETADATA needs a list of entries") {
                var entries: [JSONValue] = []
                var i = 0
                while i + 1 < l.count {
                    entries.append(.string(line.string(l[i]) ?? ""))
                    i += 2
                }
                if l.count % 2 != 0 { a.problem("SETMETADATA entries come in pairs") }
                d.append(("entries", .array(entries)))
            }
        // sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria   (RFC 5256)
        case .sort:
            if let c = a.list("SORT needs sort criteria") {
                d.append(("sort_criteria", .array(c.map { .string(line.sourceText($0).uppercased()) })))
            }
            if let cs = a.node() {
                d.append(("charset", .string(line.string(cs) ?? "")))
            } else {
                a.problem("SORT needs a charset")
            }
            d.append(("criteria", .string(a.rest().map(line.sourceText).joined(separator: " "))))
        // thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset 1*(SP search-key)
        case .thread:
            if let alg = a.atom("THREAD needs an algorithm") { d.setAlgorithm(alg.uppercased()) }
            if let cs = a.node() {
                d.append(("charset", .string(line.string(cs) ?? "")))
            } else {
                a.problem("THREAD needs a charset")
            }
            d.append(("criteria", .string(a.rest().map(line.sourceText).joined(separator: " "))))
        case .setacl, .deleteacl, .listrights:
            mailbox(&a, &d, "mailbox")
            if let who = a.node() { d.append(("identifier", .string(line.string(who) ?? ""))) }
            if let rights = a.node() { d.append(("rights", .string(line.string(rights) ?? ""))) }
        default:
            // Not classified, so not shown (CommandParser hides them): only how many there are.
            d.append(("argument_count", .int(Int64(a.rest().count))))
            d.setUnknown()
        }
        if !a.done && cmd.name != .search {
            a.problem(
                "unexpected arguments after \(cmd.name): \(a.rest().map(line.sourceText).joined(separator: " ").prefix(60))"
            )
        }
        cmd.details = d
        cmd.problems += a.problems
    }

    static func mailbox(_ a: inout Args, _ d: inout ArgumentFields, _ key: String) {
        if let n = a.node(), let s = a.line.string(n) {
            d.setMailbox(MailboxName.display(s), key: key)
        } else {
            a.problem("missing \(key.replacingOccurrences(of: "_", with: " "))")
        }
    }

    static func idParams(_ l: [Node], line: RawLine, problem: (String) -> Void) -> JSONValue {
        var o: [(String, JSONValue)] = []
        var i = 0
        while i + 1 < l.count {
            let k = line.string(l[i]) ?? ""
            o.append((k, l[i + 1].isNil ? .null : .string(line.string(l[i + 1]) ?? "")))
            i += 2
        }
        if l.count % 2 != 0 { problem("ID parameters come in pairs") }
        return .object(o)
    }
}

/// A cursor over a command's argument nodes that records grammar problems.
struct Args {
    let nodes: [Node]
    let line: RawLine
    var i = 0
    var problems: [String] = []

    var done: Bool { i >= nodes.count }
    func peek() -> Node? { i < nodes.count ? nodes[i] : nil }
    mutating func skip() { i += 1 }
    mutating func node() -> Node? {
        guard i < nodes.count else { return nil }
        defer { i += 1 }
        return nodes[i]
    }
    mutating func rest() -> [Node] {
        defer { i = nodes.count }
        return Array(nodes[min(i, nodes.count)...])
    }
    mutating func problem(_ p: String) { problems.append(p) }
    mutating func atom(_ missing: String) -> String? {
        guard let n = node(), let k = n.atom ?? n.keyword else {
            problem(missing)
            return nil
        }
        return k
    }
    mutating func keyword() -> String? {
        guard let k = peek()?.keyword else { return nil }
        i += 1
        return k
    }
    mutating func list(_ missing: String) -> [Node]? {
        guard let n = node(), let l = n.list else {
            problem(missing)
            return nil
        }
        return l
    }
    mutating func optionalList() -> [Node]? {
        guard let n = peek(), let l = n.list else { return nil }
        i += 1
        return l
    }
    /// sequence-set = (seq-number / seq-range) ["," sequence-set] ; "$" is RFC 5182's saved result
    mutating func sequenceSet(_ command: String) -> String? {
        guard let n = node() else {
            problem("\(command) needs a sequence set")
            return nil
        }
        let s = line.sourceText(n)
        if !SequenceSet.isValid(s) { problem("'\(s.prefix(40))' is not a sequence set") }
        return s
    }
}

public enum SequenceSet {
    public static func isValid(_ s: String) -> Bool {
        if s == "$" { return true }
        guard !s.isEmpty else { return false }
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2 else { return false }
            for e in ends {
                guard e == "*" || (!e.isEmpty && e.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }) else { return false }
            }
        }
        return true
    }

    /// Number of messages a set names when every number is explicit (nil when it uses `*`).
    public static func count(_ s: String) -> Int? {
        var total = 0
        for part in s.split(separator: ",") {
            let ends = part.split(separator: ":")
            guard let a = Int(ends[0]) else { return nil }
            if ends.count == 2 {
                guard let b = Int(ends[1]) else { return nil }
                total += abs(b - a) + 1
            } else {
                total += 1
            }
        }
        return total
    }
}

/// Mailbox names: INBOX is case-insensitive; modified UTF-7 (RFC 3501 §5.1.3) is shown decoded.
public enum MailboxName {
    public static func display(_ raw: String) -> String {
        if raw.uppercased() == "INBOX" { return "INBOX" }
        return decodeModifiedUTF7(raw) ?? raw
    }

    public static func decodeModifiedUTF7(_ s: String) -> String? {
        guard s.contains("&") else { return nil }
        var out = ""
        var chars = Array(s.utf8)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c != UInt8(ascii: "&") {
                out.unicodeScalars.append(Unicode.Scalar(c))
                continue
            }
            guard let end = chars.firstIndex(of: UInt8(ascii: "-")) else { return nil }
            let b64 = chars[chars.startIndex..<end]
            chars = chars[(end + 1)...]
            if b64.isEmpty {
                out.append("&")
                continue
            }
            let std = String(decoding: b64.map { $0 == UInt8(ascii: ",") ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
            guard let bytes = Base64.decode(std, padded: false), bytes.count % 2 == 0 else { return nil }
            var units: [UInt16] = []
            var k = 0
            while k + 1 < bytes.count {
                units.append(UInt16(bytes[k]) << 8 | UInt16(bytes[k + 1]))
                k += 2
            }
            out += String(decoding: units, as: UTF16.self)
        }
        return out
    }
}
