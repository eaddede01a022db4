/// Typed decoding of untagged server data (RFC 9051 §7 and extensions). Unknown names stay
/// generic: their arguments are kept as text.
enum ResponseGrammar {
    /// The untagged data names decoded below, by type (anything else stays generic).
    static let knownNames: Set<String> = [
        "EXISTS", "RECENT", "EXPUNGE", "CAPABILITY", "ENABLED", "FLAGS", "LIST", "LSUB", "XLIST", "STATUS",
        "SEARCH", "SORT", "ESEARCH", "NAMESPACE", "ID", "QUOTA", "QUOTAROOT", "METADATA", "THREAD", "VANISHED",
        "FETCH",
    ]

    static func decode(_ resp: inout Response, line: RawLine, bodies: BodyMode) {
        guard case .data(let name, let number) = resp.kind else { return }
        var a = Args(nodes: resp.arguments, line: line)
        var d = ArgumentFields()
        func texts(_ nodes: [Node]) -> JSONValue { .array(nodes.map { .string(line.sourceText($0)) }) }
        switch name {
        // mailbox-data =/ number SP "EXISTS" / number SP "RECENT" ; message-data = nz-number SP "EXPUNGE"
        case "EXISTS", "RECENT", "EXPUNGE":
            if number == nil { a.problem("\(name) needs a number") }
        // capability-data = "CAPABILITY" *(SP capability) ; enable-data = "ENABLED" *(SP capability)
        case "CAPABILITY", "ENABLED":
            d.append(("capabilities", .array(a.rest().map { .string(line.sourceText($0)) })))
        // mailbox-data =/ "FLAGS" SP flag-list
        case "FLAGS":
            if let l = a.list("FLAGS needs a flag list") { d.append(("flags", texts(l))) }
        // mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox [SP mbox-list-extended]
        case "LIST", "LSUB", "XLIST":
            if let l = a.list("\(name) needs attributes") { d.setListAttributes(l.map { line.sourceText($0) }) }
            if let delim = a.node() {
                d.append(("delimiter", delim.isNil ? .null : .string(line.string(delim) ?? "")))
            } else {
                a.problem("\(name) needs a hierarchy delimiter")
            }
            if let m = a.node(), let s = line.string(m) {
                d.setMailbox(MailboxName.display(s))
            } else {
                a.problem("\(name) needs a mailbox name")
            }
            if let ext = a.optionalList() { d.append(("extended", texts(ext))) }
        // mailbox-data =/ "STATUS" SP mailbox SP "(" [status-att-list] ")"
        case "STATUS":
            if let m = a.node(), let s = line.string(m) {
                d.setMailbox(MailboxName.display(s))
            } else {
                a.problem("STATUS needs a mailbox")
            }
            if let l = a.list("STATUS needs a list") {
                d.append(("values", pairs(l, line: line, problem: { a.problem($0) })))
            }
        // mailbox-data =/ "SEARCH" *(SP nz-number) [SP "(" "MODSEQ" SP mod-sequence-value ")"]  (RFC 7162)
        // sort-data = "SORT" *(SP nz-number)
        case "SEARCH", "SORT":
            var nums: [JSONValue] = []
            for n in a.rest() {
                if let v = n.number {
                    nums.append(.int(Int64(clamping: v)))
                } else if let l = n.list, l.first?.keyword == "MODSEQ", l.count == 2, let m = l[1].number {
                    d.append(("modseq", .int(Int64(clamping: m))))
                } else {
                    a.problem("\(name) results must be numbers")
                }
            }
            d.setCount(Int64(nums.count), numbers: nums)
        // esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)   (RFC 4731)
        case "ESEARCH":
            if let l = a.peek()?.list, l.first?.keyword == "TAG" {
                a.skip()
                if l.count == 2 { d.append(("correlator", .string(line.string(l[1]) ?? ""))) }
            }
            if a.peek()?.keyword == "UID" {
                a.skip()
                d.append(("uid", .bool(true)))
            }
            var data: [(String, JSONValue)] = []
            while let k = a.node() {
                guard let v = a.node() else {
                    a.problem("ESEARCH data comes in pairs")
                    break
                }
                data.append(
                    (
                        k.keyword ?? line.sourceText(k),
                        v.number.map { .int(Int64(clamping: $0)) } ?? .string(line.sourceText(v))
                    ))
            }
            d.append(("data", .object(data)))
        // namespace-response = "NAMESPACE" SP namespace SP namespace SP namespace   (RFC 2342)
        case "NAMESPACE":
            let kinds = ["personal", "other_users", "shared"]
            for k in kinds {
                guard let n = a.node() else {
                    a.problem("NAMESPACE needs three namespaces")
                    break
                }
                if n.isNil {
                    d.append((k, .null))
                    continue
                }
                guard let l = n.list else {
                    a.problem("a namespace is a list or NIL")
                    continue
                }
                d.append(
                    (
                        k,
                        .array(
                            l.map { ns -> JSONValue in
                                let parts = ns.list ?? []
                                let prefix = parts.first.flatMap { line.string($0) } ?? ""
                                let delim: JSONValue =
                                    parts.count > 1
                                    ? (parts[1].isNil ? .null : .string(line.string(parts[1]) ?? "")) : .null
                                return .object([("prefix", .string(prefix)), ("delimiter", delim)])
                            })
                    ))
            }
        // id-response = "ID" SP id-params-list
        case "ID":
            if let n = a.node() {
                if let l = n.list {
                    d.append(("parameters", CommandGrammar.idParams(l, line: line, problem: { a.problem($0) })))
                }
            }
        // quota-response = "QUOTA" SP quota-root-name SP quota-list ; quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
        case "QUOTA":
            if let r = a.node() { d.append(("quota_root", .string(line.string(r) ?? ""))) }
            if let l = a.list("QUOTA needs a resource list") {
                var res: [JSONValue] = []
                var i = 0
                while i + 2 < l.count {
                    res.append(
                        .object([
                            ("resource", .string(line.sourceText(l[i]).uppercased())),
                            ("usage", l[i + 1].number.map { .int(Int64(clamping: $0)) } ?? .null),
                            ("limit", l[i + 2].number.map { .int(Int64(clamping: $0)) } ?? .null),
                        ]))
                    i += 3
                }
                if l.count % 3 != 0 { a.problem("QUOTA resources come in triples") }
                d.append(("resources", .array(res)))
            }
        case "QUOTAROOT":
            if let m = a.node() { d.setMailbox(MailboxName.display(line.string(m) ?? "")) }
            d.append(("roots", .array(a.rest().map { .string(line.string($0) ?? "") })))
        // metadata-resp = "METADATA" SP mailbox SP (entry-values / entry-list)   (RFC 5464)
        case "METADATA":
            if let m = a.node() { d.setMailbox(MailboxName.display(line.string(m) ?? "")) }
            if let l = a.optionalList() {
                var o: [(String, JSONValue)] = []
                var i = 0
                while i + 1 < l.count {
                    o.append((line.string(l[i]) ?? "", l[i + 1].isNil ? .null : .string(summary(l[i + 1], line: line))))
                    i += 2
                }
                d.append(("entries", .object(o)))
            } else {
                d.append(("changed", .array(a.rest().map { .string(line.string($0) ?? "") })))
            }
        // thread-data = "THREAD" [SP 1*thread-list]   (RFC 5256)
        case "THREAD":
            let threads = a.rest()
            d.append(("threads", .int(Int64(threads.count))))
        // VANISHED [SP "(EARLIER)"] SP known-uids   (RFC 7162 QRESYNC)
        case "VANISHED":
            if let l = a.peek()?.list, l.first?.keyword == "EARLIER" {
                a.skip()
                d.setEarlier()
            }
            if let s = a.node() {
                let set = line.sourceText(s)
                if !SequenceSet.isValid(set) { a.problem("VANISHED needs a UID set") }
                d.append(("uids", .string(set)))
                if let c = SequenceSet.count(set) { d.setCountLast(Int64(c)) }
            } else {
                a.problem("VANISHED needs a UID set")
            }
        // message-data =/ nz-number SP "FETCH" SP msg-att
        case "FETCH":
            if number == nil { a.problem("FETCH needs a message number") }
            guard let l = a.list("FETCH needs a list of attributes") else { break }
            d.setFetchAttributes(
                fetchAttributes(l, resp: &resp, line: line, bodies: bodies, problem: { a.problem($0) }))
        default:
            d.append(("arguments", texts(a.rest())))
            d.setUnknown()
        }
        if !a.done { a.problem("unexpected data after \(name)") }
        resp.details = d
        resp.problems += a.problems
    }

    static func pairs(_ l: [Node], line: RawLine, problem: (String) -> Void) -> JSONValue {
        var o: [(String, JSONValue)] = []
        var i = 0
        while i + 1 < l.count {
            let v = l[i + 1]
            o.append(
                (
                    l[i].keyword ?? line.sourceText(l[i]),
                    v.number.map { .int(Int64(clamping: $0)) } ?? .string(line.sourceText(v))
                ))
            i += 2
        }
        if l.count % 2 != 0 { problem("values come in pairs") }
        return .object(o)
    }

    static func summary(_ n: Node, line: RawLine) -> String {
        if case .literal(let seg) = n.syntax, let lit = line.segments[seg].literal {
            if let c = lit.content, c.count <= 200 { return String(decoding: c, as: UTF8.self) }
            return "‹\(lit.header.size) bytes›"
        }
        return line.string(n) ?? line.sourceText(n)
    }

    /// What a FETCH section holds: the label beside a literal summary.
    static func sectionLabel(base: String, spec: [Node], line: RawLine) -> String {
        let b = base.uppercased()
        if b.hasPrefix("BINARY") { return "binary" }
        guard let first = spec.first else { return "message" }
        let s = line.sourceText(first).uppercased()
        if s.hasSuffix("HEADER") || s.contains("HEADER.FIELDS") { return "header" }
        if s.hasSuffix("TEXT") { return "text" }
        if s.hasSuffix("MIME") { return "mime header" }
        return "part \(s)"
    }

    // msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP (msg-att-dynamic / msg-att-static)) ")"
    static func fetchAttributes(
        _ l: [Node], resp: inout Response, line: RawLine, bodies: BodyMode, problem: (String) -> Void
    ) -> JSONValue {
        var o: [(String, JSONValue)] = []
        var i = 0
        while i < l.count {
            let k = l[i]
            var key: String
            var label: String?
            switch k.syntax {
            case .section(let base, let spec, let partial):
                key =
                    base.uppercased() + "[" + spec.map(line.sourceText).joined(separator: " ").uppercased() + "]"
                    + (partial.map { "<\($0)>" } ?? "")
                label = sectionLabel(base: base, spec: spec, line: line)
            case .atom(let a):
                key = a.uppercased()
                if key == "RFC822" {
                    label = "message"
                } else if key == "RFC822.HEADER" {
                    label = "header"
                } else if key == "RFC822.TEXT" {
                    label = "text"
                }
            default:
                problem("'\(line.sourceText(k).prefix(40))' is not a FETCH attribute name")
                key = line.sourceText(k)
            }
            guard i + 1 < l.count else {
                problem("FETCH attribute \(key) has no value")
                break
            }
            let v = l[i + 1]
            i += 2
            switch key {
            case "UID", "RFC822.SIZE", "X-GM-MSGID", "X-GM-THRID":
                if let n = v.number {
                    o.append((key, .int(Int64(clamping: n))))
                } else {
                    problem("\(key) needs a number")
                    o.append((key, .string(line.sourceText(v))))
                }
            case "FLAGS", "X-GM-LABELS":
                if let f = v.list {
                    o.append((key, .array(f.map { .string(line.string($0) ?? line.sourceText($0)) })))
                } else {
                    problem("\(key) needs a list")
                    o.append((key, .string(line.sourceText(v))))
                }
            case "MODSEQ":
                if let f = v.list, f.count == 1, let n = f[0].number {
                    o.append((key, .int(Int64(clamping: n))))
                } else {
                    problem("MODSEQ needs (number)")
                    o.append((key, .string(line.sourceText(v))))
                }
            case "EMAILID", "THREADID":
                if let f = v.list, f.count == 1 {
                    o.append((key, .string(line.string(f[0]) ?? "")))
                } else if v.isNil {
                    o.append((key, .null))
                } else {
                    problem("\(key) needs (objectid)")
                    o.append((key, .string(line.sourceText(v))))
                }
            case "INTERNALDATE", "SAVEDATE":
                o.append((key, v.isNil ? .null : .string(line.string(v) ?? "")))
            case "ENVELOPE":
                o.append((key, envelope(v, line: line)))
            case "BODY", "BODYSTRUCTURE":
                o.append((key, .string(line.sourceText(v))))
            default:
                if case .literal(let seg) = v.syntax, let lit = line.segments[seg].literal {
                    resp.literalLabels[seg] = label ?? "data"
                    var body: [(String, JSONValue)] = [
                        ("size", .int(Int64(lit.header.size))), ("sha256", .string(lit.sha256)),
                    ]
                    if !lit.isComplete { body.append(("received", .int(Int64(lit.received)))) }
                    switch bodies {
                    case .none: break
                    case .preview: body.append(("preview", .string(String(decoding: lit.preview, as: UTF8.self))))
                    case .full:
                        if let c = lit.content {
                            if let text = String(validating: c, as: UTF8.self) {
                                body.append(("body", .string(text)))
                            } else {
                                body.append(("body_base64", .string(Base64.encode(c))))
                            }
                        } else {
                            body.append(("preview", .string(String(decoding: lit.preview, as: UTF8.self))))
                            body.append(("body_omitted", .string("larger than the retain limit")))
                        }
                    }
                    o.append((key, .object(body)))
                } else if v.isNil {
                    o.append((key, .null))
                } else if key.hasPrefix("BINARY.SIZE"), let n = v.number {
                    o.append((key, .int(Int64(clamping: n))))
                } else if let s = line.stringBytes(v) {
                    o.append((key, .object([("size", .int(Int64(s.count)))])))
                } else {
                    o.append((key, .string(line.sourceText(v))))
                }
            }
        }
        return .object(o)
    }

    // envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    static func envelope(_ v: Node, line: RawLine) -> JSONValue {
        guard let f = v.list, f.count == 10 else { return .string(line.sourceText(v)) }
        func s(_ n: Node) -> JSONValue { n.isNil ? .null : .string(line.string(n) ?? line.sourceText(n)) }
        func addrs(_ n: Node) -> JSONValue {
            guard let l = n.list else { return .null }
            return .array(
                l.map { a in
                    guard let p = a.list, p.count == 4 else { return .string(line.sourceText(a)) }
                    let mailbox = line.string(p[2]) ?? ""
                    let host = line.string(p[3]) ?? ""
                    return .string(p[3].isNil ? mailbox : "\(mailbox)@\(host)")
                })
        }
        return .object([
            ("date", s(f[0])), ("subject", s(f[1])), ("from", addrs(f[2])), ("to", addrs(f[5])),
            ("message_id", s(f[9])),
        ])
    }
}
