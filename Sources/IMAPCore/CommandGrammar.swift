/// Typed decoding of client commands: RFC 9051 and RFC 3501 and the extensions imapscope knows.
/// Each case quotes the ABNF it checks. Problems become lints; they never stop decoding.
enum CommandGrammar {
    static func decode(_ cmd: inout Command, line: RawLine) {
        var args = Args(nodes: cmd.arguments, line: line)
        var fields = ArgumentFields()
        switch cmd.name {
        // command-any = "CAPABILITY" / "LOGOUT" / "NOOP"
        // command-auth/select without arguments: CHECK, CLOSE, UNSELECT (RFC 3691), NAMESPACE (RFC 2342),
        // IDLE (RFC 2177), STARTTLS, EXPUNGE
        case .capability, .logout, .noop, .check, .close, .unselect, .namespace, .idle, .starttls:
            break
        case .expunge:
            // uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315)
            if cmd.uid { fields.setSequenceSet(args.sequenceSet("UID EXPUNGE") ?? "") }
        // login = "LOGIN" SP userid SP password
        case .login:
            // The password and whatever follows it are hidden by CommandParser (deny by default);
            // a lone argument may be the password itself, so it is no user name either.
            let userNode = args.node()
            if let passwordNode = args.node() {
                if let userNode, let user = line.string(userNode) {
                    fields.setUser(user)
                } else {
                    args.problem("LOGIN needs a user name")
                }
                if case .literal(let seg) = passwordNode.syntax { cmd.literalLabels[seg] = "password" }
            } else {
                args.problem("LOGIN needs a user name and a password")
            }
            if !args.done { args.problem("LOGIN has more than two arguments") }
            _ = args.rest()
        // authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]   (RFC 9051, SASL-IR RFC 4959)
        case .authenticate:
            // sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_" (RFC 4422 §3.1;
            // IMAP compares it case-insensitively). Anything else may be a misplaced secret.
            if let mechanism = args.atom("AUTHENTICATE needs a mechanism") {
                if SASL.isMechanismName(mechanism) {
                    fields.setMechanism(mechanism.uppercased())
                } else {
                    args.problem("the mechanism is not a SASL mechanism name")
                }
            }
            if let responseNode = args.node() {
                let text = line.string(responseNode) ?? ""
                cmd.initialResponse = text == "=" ? [] : Base64.decode(text)
                if cmd.initialResponse == nil { args.problem("initial response is not base64") }
                fields.append(("initial_response", .bool(true)))
                if let initialResponse = cmd.initialResponse, let mech = fields.mechanism,
                    let user = SASL.user(mechanism: mech, step: 1, payload: initialResponse)
                {
                    fields.setUser(user)
                }
            }
            if !args.done { args.problem("AUTHENTICATE has more than one initial response") }
            _ = args.rest()
        // select = "SELECT" SP mailbox [select-params]; examine likewise (CONDSTORE/QRESYNC params)
        case .select, .examine:
            mailbox(&args, &fields, "mailbox")
            if let parameters = args.optionalList() {
                fields.append(("parameters", .array(parameters.map { .string(line.sourceText($0)) })))
            }
        // create = "CREATE" SP mailbox [create-params]  (RFC 4466, USE (special-use) RFC 6154)
        case .create:
            mailbox(&args, &fields, "mailbox")
            if let parameters = args.optionalList() {
                fields.append(("parameters", .array(parameters.map { .string(line.sourceText($0)) })))
            }
        case .delete, .subscribe, .unsubscribe, .getquotaroot, .getacl, .myrights:
            mailbox(&args, &fields, "mailbox")
        // rename = "RENAME" SP mailbox SP mailbox
        case .rename:
            mailbox(&args, &fields, "mailbox")
            mailbox(&args, &fields, "new_name")
        // list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]  (RFC 5258)
        case .list, .lsub, .xlist:
            if cmd.name == .list, let sel = args.optionalList() {
                fields.append(("selection_options", .array(sel.map { .string(line.sourceText($0).uppercased()) })))
            }
            mailbox(&args, &fields, "reference")
            if let patterns = args.optionalList() {
                fields.append(("patterns", .array(patterns.compactMap { line.string($0).map(JSONValue.string) })))
            } else if let patternNode = args.node(), let pattern = line.string(patternNode) {
                fields.append(("pattern", .string(pattern)))
            } else {
                args.problem("\(cmd.name) needs a mailbox pattern")
            }
            if args.keyword() == "RETURN" {
                if let returnOptions = args.list("RETURN needs a list") {
                    fields.append(
                        ("return_options", .array(returnOptions.map { .string(line.sourceText($0).uppercased()) })))
                }
            }
        // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
        case .status:
            mailbox(&args, &fields, "mailbox")
            if let items = args.list("STATUS needs a list of items") {
                fields.append(("items", .array(items.map { .string(line.sourceText($0).uppercased()) })))
                let known: Set<String> = [
                    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE",
                    "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID", "DELETED-STORAGE",
                ]
                for item in items where !known.contains(item.keyword ?? "") {
                    args.problem("unknown STATUS item \(line.sourceText(item))")
                }
            }
        // append = "APPEND" SP mailbox 1*append-message   (MULTIAPPEND RFC 3502, BINARY ~{n} RFC 3516)
        // append-message = [SP flag-list] [SP date-time] SP append-data ; append-data = literal / literal8 / …
        case .append:
            mailbox(&args, &fields, "mailbox")
            var messages: [JSONValue] = []
            while !args.done {
                var message: [(String, JSONValue)] = []
                if let flags = args.optionalList() {
                    message.append(("flags", .array(flags.map { .string(line.sourceText($0)) })))
                }
                if let dateNode = args.peek(), case .quoted = dateNode.syntax {
                    args.skip()
                    message.append(("date", .string(line.string(dateNode) ?? "")))
                }
                if let kw = args.peek()?.keyword, kw == "UTF8" || kw == "CATENATE" {
                    args.skip()
                    message.append(("data", .string(kw)))
                    if let parts = args.list("\(kw) needs a list") {
                        for part in parts {
                            if case .literal(let seg) = part.syntax { cmd.literalLabels[seg] = "message" }
                        }
                    }
                } else if let dataNode = args.node(), case .literal(let seg) = dataNode.syntax {
                    cmd.literalLabels[seg] = "message"
                    let lit = line.segments[seg].literal
                    message.append(("size", .int(Int64(lit?.header.size ?? 0))))
                    if lit?.header.binary == true { message.append(("binary", .bool(true))) }
                } else {
                    args.problem("APPEND needs the message as a literal")
                    break
                }
                messages.append(.object(message))
            }
            if messages.isEmpty { args.problem("APPEND needs a message") }
            fields.setMessages(messages)
        // search = "SEARCH" [search-return-opts] SP search-program   (ESEARCH RFC 4731)
        // search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
        case .search:
            if args.peek()?.keyword == "RETURN" {
                args.skip()
                if let returnOptions = args.list("RETURN needs a list") {
                    fields.append(
                        ("return_options", .array(returnOptions.map { .string(line.sourceText($0).uppercased()) })))
                }
            }
            if args.peek()?.keyword == "CHARSET" {
                args.skip()
                if let charsetNode = args.node() { fields.append(("charset", .string(line.string(charsetNode) ?? ""))) }
            }
            if args.done { args.problem("SEARCH needs search criteria") }
            fields.append(("criteria", .string(args.rest().map(line.sourceText).joined(separator: " "))))
        // fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
        //         [fetch-modifiers]   (CHANGEDSINCE/VANISHED, RFC 7162)
        case .fetch:
            if let sequenceSet = args.sequenceSet("FETCH") { fields.setSequenceSet(sequenceSet) }
            if let itemsNode = args.node() {
                let items = itemsNode.list ?? [itemsNode]
                fields.append(("items", .array(items.map { .string(line.sourceText($0).uppercased()) })))
            } else {
                args.problem("FETCH needs data items")
            }
            if let mods = args.optionalList() {
                fields.append(("modifiers", .array(mods.map { .string(line.sourceText($0).uppercased()) })))
            }
        // store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
        // store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
        case .store:
            if let sequenceSet = args.sequenceSet("STORE") { fields.setSequenceSet(sequenceSet) }
            if let mods = args.optionalList() {
                fields.append(("modifiers", .array(mods.map { .string(line.sourceText($0).uppercased()) })))
            }
            if let op = args.atom("STORE needs an operation") {
                let up = op.uppercased()
                let ok = [
                    "FLAGS", "+FLAGS", "-FLAGS", "FLAGS.SILENT", "+FLAGS.SILENT", "-FLAGS.SILENT",
                    "X-GM-LABELS", "+X-GM-LABELS", "-X-GM-LABELS", "X-GM-LABELS.SILENT", "+X-GM-LABELS.SILENT",
                    "-X-GM-LABELS.SILENT",
                ]
                if !ok.contains(up) { args.problem("unknown STORE operation \(op)") }
                fields.append(("operation", .string(up)))
            }
            let flags = args.rest().flatMap { $0.list ?? [$0] }
            fields.append(("flags", .array(flags.map { .string(line.sourceText($0)) })))
        // copy = "COPY" SP sequence-set SP mailbox ; move = "MOVE" SP sequence-set SP mailbox (RFC 6851)
        case .copy, .move:
            if let sequenceSet = args.sequenceSet(cmd.name.text) { fields.setSequenceSet(sequenceSet) }
            mailbox(&args, &fields, "destination")
        // enable = "ENABLE" 1*(SP capability)   (RFC 5161)
        case .enable:
            let caps = args.rest().map { line.sourceText($0).uppercased() }
            if caps.isEmpty { args.problem("ENABLE needs a capability") }
            fields.append(("capabilities", .array(caps.map(JSONValue.string))))
        // id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil   (RFC 2971)
        case .id:
            if let parametersNode = args.node() {
                if let parameters = parametersNode.list {
                    fields.append(("parameters", idParams(parameters, line: line, problem: { args.problem($0) })))
                } else if !parametersNode.isNil {
                    args.problem("ID needs a list or NIL")
                }
            } else {
                args.problem("ID needs a list or NIL")
            }
        // compress = "COMPRESS" SP algorithm   (RFC 4978)
        case .compress:
            if let alg = args.atom("COMPRESS needs an algorithm") { fields.setAlgorithm(alg.uppercased()) }
        // getquota = "GETQUOTA" SP quota-root-name ; setquota = "SETQUOTA" SP quota-root-name SP setquota-list  (RFC 9208)
        case .getquota:
            mailbox(&args, &fields, "quota_root")
        case .setquota:
            mailbox(&args, &fields, "quota_root")
            if let resources = args.list("SETQUOTA needs a resource list") {
                fields.append(("resources", .array(resources.map { .string(line.sourceText($0)) })))
            }
        // getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries   (RFC 5464)
        case .getmetadata:
            if let opts = args.optionalList() {
                fields.append(("options", .array(opts.map { .string(line.sourceText($0)) })))
            }
            mailbox(&args, &fields, "mailbox")
            let entries = args.rest().flatMap { $0.list ?? [$0] }
            if entries.isEmpty { args.problem("GETMETADATA needs entries") }
            fields.append(("entries", .array(entries.compactMap { line.string($0).map(JSONValue.string) })))
        // setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")"
        case .setmetadata:
            mailbox(&args, &fields, "mailbox")
            if let entryValues = args.list("SETMETADATA needs a list of entries") {
                var entries: [JSONValue] = []
                var i = 0
                while i + 1 < entryValues.count {
                    entries.append(.string(line.string(entryValues[i]) ?? ""))
                    i += 2
                }
                if entryValues.count % 2 != 0 { args.problem("SETMETADATA entries come in pairs") }
                fields.append(("entries", .array(entries)))
            }
        // sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria   (RFC 5256)
        case .sort:
            if let sortCriteria = args.list("SORT needs sort criteria") {
                fields.append(("sort_criteria", .array(sortCriteria.map { .string(line.sourceText($0).uppercased()) })))
            }
            if let charsetNode = args.node() {
                fields.append(("charset", .string(line.string(charsetNode) ?? "")))
            } else {
                args.problem("SORT needs a charset")
            }
            fields.append(("criteria", .string(args.rest().map(line.sourceText).joined(separator: " "))))
        // thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset 1*(SP search-key)
        case .thread:
            if let alg = args.atom("THREAD needs an algorithm") { fields.setAlgorithm(alg.uppercased()) }
            if let charsetNode = args.node() {
                fields.append(("charset", .string(line.string(charsetNode) ?? "")))
            } else {
                args.problem("THREAD needs a charset")
            }
            fields.append(("criteria", .string(args.rest().map(line.sourceText).joined(separator: " "))))
        case .setacl, .deleteacl, .listrights:
            mailbox(&args, &fields, "mailbox")
            if let who = args.node() { fields.append(("identifier", .string(line.string(who) ?? ""))) }
            if let rights = args.node() { fields.append(("rights", .string(line.string(rights) ?? ""))) }
        default:
            // Not classified, so not shown (CommandParser hides them): only how many there are.
            fields.append(("argument_count", .int(Int64(args.rest().count))))
            fields.setUnknown()
        }
        if !args.done && cmd.name != .search {
            args.problem(
                "unexpected arguments after \(cmd.name): \(args.rest().map(line.sourceText).joined(separator: " ").prefix(60))"
            )
        }
        cmd.details = fields
        cmd.problems += args.problems
    }

    static func mailbox(_ args: inout Args, _ fields: inout ArgumentFields, _ key: String) {
        if let mailboxNode = args.node(), let name = args.line.string(mailboxNode) {
            fields.setMailbox(MailboxName.display(name), key: key)
        } else {
            args.problem("missing \(key.replacingOccurrences(of: "_", with: " "))")
        }
    }

    static func idParams(_ list: [Node], line: RawLine, problem: (String) -> Void) -> JSONValue {
        var pairs: [(String, JSONValue)] = []
        var i = 0
        while i + 1 < list.count {
            let key = line.string(list[i]) ?? ""
            pairs.append((key, list[i + 1].isNil ? .null : .string(line.string(list[i + 1]) ?? "")))
            i += 2
        }
        if list.count % 2 != 0 { problem("ID parameters come in pairs") }
        return .object(pairs)
    }
}

/// A cursor over a command's argument nodes that records grammar problems.
struct Args {
    let nodes: [Node]
    let line: RawLine
    var position = 0
    var problems: [String] = []

    var done: Bool { position >= nodes.count }
    func peek() -> Node? { position < nodes.count ? nodes[position] : nil }
    mutating func skip() { position += 1 }
    mutating func node() -> Node? {
        guard position < nodes.count else { return nil }
        defer { position += 1 }
        return nodes[position]
    }
    mutating func rest() -> [Node] {
        defer { position = nodes.count }
        return Array(nodes[min(position, nodes.count)...])
    }
    mutating func problem(_ message: String) { problems.append(message) }
    mutating func atom(_ missing: String) -> String? {
        guard let argument = node(), let word = argument.atom ?? argument.keyword else {
            problem(missing)
            return nil
        }
        return word
    }
    mutating func keyword() -> String? {
        guard let word = peek()?.keyword else { return nil }
        position += 1
        return word
    }
    mutating func list(_ missing: String) -> [Node]? {
        guard let argument = node(), let elements = argument.list else {
            problem(missing)
            return nil
        }
        return elements
    }
    mutating func optionalList() -> [Node]? {
        guard let argument = peek(), let elements = argument.list else { return nil }
        position += 1
        return elements
    }
    /// sequence-set = (seq-number / seq-range) ["," sequence-set] ; "$" is RFC 5182's saved result
    mutating func sequenceSet(_ command: String) -> String? {
        guard let argument = node() else {
            problem("\(command) needs a sequence set")
            return nil
        }
        let text = line.sourceText(argument)
        if !SequenceSet.isValid(text) { problem("'\(text.prefix(40))' is not a sequence set") }
        return text
    }
}

public enum SequenceSet {
    public static func isValid(_ text: String) -> Bool {
        if text == "$" { return true }
        guard !text.isEmpty else { return false }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2 else { return false }
            for end in ends {
                guard end == "*" || (!end.isEmpty && end.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }) else { return false }
            }
        }
        return true
    }

    /// Number of messages a set names when every number is explicit (nil when it uses `*`).
    public static func count(_ text: String) -> Int? {
        var total = 0
        for part in text.split(separator: ",") {
            let ends = part.split(separator: ":")
            guard let first = Int(ends[0]) else { return nil }
            if ends.count == 2 {
                guard let last = Int(ends[1]) else { return nil }
                total += abs(last - first) + 1
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

    public static func decodeModifiedUTF7(_ text: String) -> String? {
        guard text.contains("&") else { return nil }
        var out = ""
        var chars = Array(text.utf8)[...]
        while let byte = chars.first {
            chars = chars.dropFirst()
            if byte != UInt8(ascii: "&") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
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
