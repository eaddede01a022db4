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
        var args = Args(nodes: resp.arguments, line: line)
        var fields = ArgumentFields()
        func texts(_ nodes: [Node]) -> JSONValue { .array(nodes.map { .string(line.sourceText($0)) }) }
        switch name {
        // mailbox-data =/ number SP "EXISTS" / number SP "RECENT" ; message-data = nz-number SP "EXPUNGE"
        case "EXISTS", "RECENT", "EXPUNGE":
            if number == nil { args.problem("\(name) needs a number") }
        // capability-data = "CAPABILITY" *(SP capability) ; enable-data = "ENABLED" *(SP capability)
        case "CAPABILITY", "ENABLED":
            fields.append(("capabilities", .array(args.rest().map { .string(line.sourceText($0)) })))
        // mailbox-data =/ "FLAGS" SP flag-list
        case "FLAGS":
            if let flags = args.list("FLAGS needs a flag list") { fields.append(("flags", texts(flags))) }
        // mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox [SP mbox-list-extended]
        case "LIST", "LSUB", "XLIST":
            if let attributes = args.list("\(name) needs attributes") {
                fields.setListAttributes(attributes.map { line.sourceText($0) })
            }
            if let delim = args.node() {
                fields.append(("delimiter", delim.isNil ? .null : .string(line.string(delim) ?? "")))
            } else {
                args.problem("\(name) needs a hierarchy delimiter")
            }
            if let mailboxNode = args.node(), let mailbox = line.string(mailboxNode) {
                fields.setMailbox(MailboxName.display(mailbox))
            } else {
                args.problem("\(name) needs a mailbox name")
            }
            if let ext = args.optionalList() { fields.append(("extended", texts(ext))) }
        // mailbox-data =/ "STATUS" SP mailbox SP "(" [status-att-list] ")"
        case "STATUS":
            if let mailboxNode = args.node(), let mailbox = line.string(mailboxNode) {
                fields.setMailbox(MailboxName.display(mailbox))
            } else {
                args.problem("STATUS needs a mailbox")
            }
            if let values = args.list("STATUS needs a list") {
                fields.append(("values", pairs(values, line: line, problem: { args.problem($0) })))
            }
        // mailbox-data =/ "SEARCH" *(SP nz-number) [SP "(" "MODSEQ" SP mod-sequence-value ")"]  (RFC 7162)
        // sort-data = "SORT" *(SP nz-number)
        case "SEARCH", "SORT":
            var nums: [JSONValue] = []
            for result in args.rest() {
                if let value = result.number {
                    nums.append(.int(Int64(clamping: value)))
                } else if let modseqList = result.list, modseqList.first?.keyword == "MODSEQ", modseqList.count == 2,
                    let modseq = modseqList[1].number
                {
                    fields.append(("modseq", .int(Int64(clamping: modseq))))
                } else {
                    args.problem("\(name) results must be numbers")
                }
            }
            fields.setCount(Int64(nums.count), numbers: nums)
        // esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)   (RFC 4731)
        case "ESEARCH":
            if let correlatorList = args.peek()?.list, correlatorList.first?.keyword == "TAG" {
                args.skip()
                if correlatorList.count == 2 {
                    fields.append(("correlator", .string(line.string(correlatorList[1]) ?? "")))
                }
            }
            if args.peek()?.keyword == "UID" {
                args.skip()
                fields.append(("uid", .bool(true)))
            }
            var data: [(String, JSONValue)] = []
            while let itemName = args.node() {
                guard let itemValue = args.node() else {
                    args.problem("ESEARCH data comes in pairs")
                    break
                }
                data.append(
                    (
                        itemName.keyword ?? line.sourceText(itemName),
                        itemValue.number.map { .int(Int64(clamping: $0)) } ?? .string(line.sourceText(itemValue))
                    ))
            }
            fields.append(("data", .object(data)))
        // namespace-response = "NAMESPACE" SP namespace SP namespace SP namespace   (RFC 2342)
        case "NAMESPACE":
            let kinds = ["personal", "other_users", "shared"]
            for kind in kinds {
                guard let namespaceNode = args.node() else {
                    args.problem("NAMESPACE needs three namespaces")
                    break
                }
                if namespaceNode.isNil {
                    fields.append((kind, .null))
                    continue
                }
                guard let namespaces = namespaceNode.list else {
                    args.problem("a namespace is a list or NIL")
                    continue
                }
                fields.append(
                    (
                        kind,
                        .array(
                            namespaces.map { namespace -> JSONValue in
                                let parts = namespace.list ?? []
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
            if let parametersNode = args.node() {
                if let parameters = parametersNode.list {
                    fields.append(
                        ("parameters", CommandGrammar.idParams(parameters, line: line, problem: { args.problem($0) })))
                }
            }
        // quota-response = "QUOTA" SP quota-root-name SP quota-list ; quotaroot-response = "QUOTAROOT" SP mailbox *(SP quota-root-name)
        case "QUOTA":
            if let rootNode = args.node() { fields.append(("quota_root", .string(line.string(rootNode) ?? ""))) }
            if let resourceList = args.list("QUOTA needs a resource list") {
                var resources: [JSONValue] = []
                var i = 0
                while i + 2 < resourceList.count {
                    resources.append(
                        .object([
                            ("resource", .string(line.sourceText(resourceList[i]).uppercased())),
                            ("usage", resourceList[i + 1].number.map { .int(Int64(clamping: $0)) } ?? .null),
                            ("limit", resourceList[i + 2].number.map { .int(Int64(clamping: $0)) } ?? .null),
                        ]))
                    i += 3
                }
                if resourceList.count % 3 != 0 { args.problem("QUOTA resources come in triples") }
                fields.append(("resources", .array(resources)))
            }
        case "QUOTAROOT":
            if let mailboxNode = args.node() { fields.setMailbox(MailboxName.display(line.string(mailboxNode) ?? "")) }
            fields.append(("roots", .array(args.rest().map { .string(line.string($0) ?? "") })))
        // metadata-resp = "METADATA" SP mailbox SP (entry-values / entry-list)   (RFC 5464)
        case "METADATA":
            if let mailboxNode = args.node() { fields.setMailbox(MailboxName.display(line.string(mailboxNode) ?? "")) }
            if let entryList = args.optionalList() {
                var entries: [(String, JSONValue)] = []
                var i = 0
                while i + 1 < entryList.count {
                    entries.append(
                        (
                            line.string(entryList[i]) ?? "",
                            entryList[i + 1].isNil ? .null : .string(summary(entryList[i + 1], line: line))
                        ))
                    i += 2
                }
                fields.append(("entries", .object(entries)))
            } else {
                fields.append(("changed", .array(args.rest().map { .string(line.string($0) ?? "") })))
            }
        // thread-data = "THREAD" [SP 1*thread-list]   (RFC 5256)
        case "THREAD":
            let threads = args.rest()
            fields.append(("threads", .int(Int64(threads.count))))
        // VANISHED [SP "(EARLIER)"] SP known-uids   (RFC 7162 QRESYNC)
        case "VANISHED":
            if let earlierList = args.peek()?.list, earlierList.first?.keyword == "EARLIER" {
                args.skip()
                fields.setEarlier()
            }
            if let uidsNode = args.node() {
                let set = line.sourceText(uidsNode)
                if !SequenceSet.isValid(set) { args.problem("VANISHED needs a UID set") }
                fields.append(("uids", .string(set)))
                if let count = SequenceSet.count(set) { fields.setCountLast(Int64(count)) }
            } else {
                args.problem("VANISHED needs a UID set")
            }
        // message-data =/ nz-number SP "FETCH" SP msg-att
        case "FETCH":
            if number == nil { args.problem("FETCH needs a message number") }
            guard let attributes = args.list("FETCH needs a list of attributes") else { break }
            fields.setFetchAttributes(
                fetchAttributes(attributes, resp: &resp, line: line, bodies: bodies, problem: { args.problem($0) }))
        default:
            fields.append(("arguments", texts(args.rest())))
            fields.setUnknown()
        }
        if !args.done { args.problem("unexpected data after \(name)") }
        resp.details = fields
        resp.problems += args.problems
    }

    static func pairs(_ list: [Node], line: RawLine, problem: (String) -> Void) -> JSONValue {
        var members: [(String, JSONValue)] = []
        var i = 0
        while i + 1 < list.count {
            let value = list[i + 1]
            members.append(
                (
                    list[i].keyword ?? line.sourceText(list[i]),
                    value.number.map { .int(Int64(clamping: $0)) } ?? .string(line.sourceText(value))
                ))
            i += 2
        }
        if list.count % 2 != 0 { problem("values come in pairs") }
        return .object(members)
    }

    static func summary(_ node: Node, line: RawLine) -> String {
        if case .literal(let seg) = node.syntax, let lit = line.segments[seg].literal {
            if let content = lit.content, content.count <= 200 { return String(decoding: content, as: UTF8.self) }
            return "‹\(lit.header.size) bytes›"
        }
        return line.string(node) ?? line.sourceText(node)
    }

    /// What a FETCH section holds: the label beside a literal summary.
    static func sectionLabel(base: String, spec: [Node], line: RawLine) -> String {
        let upperBase = base.uppercased()
        if upperBase.hasPrefix("BINARY") { return "binary" }
        guard let first = spec.first else { return "message" }
        let section = line.sourceText(first).uppercased()
        if section.hasSuffix("HEADER") || section.contains("HEADER.FIELDS") { return "header" }
        if section.hasSuffix("TEXT") { return "text" }
        if section.hasSuffix("MIME") { return "mime header" }
        return "part \(section)"
    }

    // msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP (msg-att-dynamic / msg-att-static)) ")"
    static func fetchAttributes(
        _ attributes: [Node], resp: inout Response, line: RawLine, bodies: BodyMode, problem: (String) -> Void
    ) -> JSONValue {
        var members: [(String, JSONValue)] = []
        var position = 0
        while position < attributes.count {
            let nameNode = attributes[position]
            var key: String
            var label: String?
            switch nameNode.syntax {
            case .section(let base, let spec, let partial):
                key =
                    base.uppercased() + "[" + spec.map(line.sourceText).joined(separator: " ").uppercased() + "]"
                    + (partial.map { "<\($0)>" } ?? "")
                label = sectionLabel(base: base, spec: spec, line: line)
            case .atom(let atom):
                key = atom.uppercased()
                if key == "RFC822" {
                    label = "message"
                } else if key == "RFC822.HEADER" {
                    label = "header"
                } else if key == "RFC822.TEXT" {
                    label = "text"
                }
            default:
                problem("'\(line.sourceText(nameNode).prefix(40))' is not a FETCH attribute name")
                key = line.sourceText(nameNode)
            }
            guard position + 1 < attributes.count else {
                problem("FETCH attribute \(key) has no value")
                break
            }
            let value = attributes[position + 1]
            position += 2
            switch key {
            case "UID", "RFC822.SIZE", "X-GM-MSGID", "X-GM-THRID":
                if let number = value.number {
                    members.append((key, .int(Int64(clamping: number))))
                } else {
                    problem("\(key) needs a number")
                    members.append((key, .string(line.sourceText(value))))
                }
            case "FLAGS", "X-GM-LABELS":
                if let labels = value.list {
                    members.append((key, .array(labels.map { .string(line.string($0) ?? line.sourceText($0)) })))
                } else {
                    problem("\(key) needs a list")
                    members.append((key, .string(line.sourceText(value))))
                }
            case "MODSEQ":
                if let wrapped = value.list, wrapped.count == 1, let number = wrapped[0].number {
                    members.append((key, .int(Int64(clamping: number))))
                } else {
                    problem("MODSEQ needs (number)")
                    members.append((key, .string(line.sourceText(value))))
                }
            case "EMAILID", "THREADID":
                if let wrapped = value.list, wrapped.count == 1 {
                    members.append((key, .string(line.string(wrapped[0]) ?? "")))
                } else if value.isNil {
                    members.append((key, .null))
                } else {
                    problem("\(key) needs (objectid)")
                    members.append((key, .string(line.sourceText(value))))
                }
            case "INTERNALDATE", "SAVEDATE":
                members.append((key, value.isNil ? .null : .string(line.string(value) ?? "")))
            case "ENVELOPE":
                members.append((key, envelope(value, line: line)))
            case "BODY", "BODYSTRUCTURE":
                members.append((key, .string(line.sourceText(value))))
            default:
                if case .literal(let seg) = value.syntax, let lit = line.segments[seg].literal {
                    resp.literalLabels[seg] = label ?? "data"
                    var body: [(String, JSONValue)] = [
                        ("size", .int(Int64(lit.header.size))), ("sha256", .string(lit.sha256)),
                    ]
                    if !lit.isComplete { body.append(("received", .int(Int64(lit.received)))) }
                    switch bodies {
                    case .none: break
                    case .preview: body.append(("preview", .string(String(decoding: lit.preview, as: UTF8.self))))
                    case .full:
                        if let content = lit.content {
                            if let text = String(validating: content, as: UTF8.self) {
                                body.append(("body", .string(text)))
                            } else {
                                body.append(("body_base64", .string(Base64.encode(content))))
                            }
                        } else {
                            body.append(("preview", .string(String(decoding: lit.preview, as: UTF8.self))))
                            body.append(("body_omitted", .string("larger than the retain limit")))
                        }
                    }
                    members.append((key, .object(body)))
                } else if value.isNil {
                    members.append((key, .null))
                } else if key.hasPrefix("BINARY.SIZE"), let number = value.number {
                    members.append((key, .int(Int64(clamping: number))))
                } else if let bytes = line.stringBytes(value) {
                    members.append((key, .object([("size", .int(Int64(bytes.count)))])))
                } else {
                    members.append((key, .string(line.sourceText(value))))
                }
            }
        }
        return .object(members)
    }

    // envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    static func envelope(_ node: Node, line: RawLine) -> JSONValue {
        guard let fields = node.list, fields.count == 10 else { return .string(line.sourceText(node)) }
        func nstring(_ field: Node) -> JSONValue {
            field.isNil ? .null : .string(line.string(field) ?? line.sourceText(field))
        }
        func addrs(_ field: Node) -> JSONValue {
            guard let addresses = field.list else { return .null }
            return .array(
                addresses.map { address in
                    guard let parts = address.list, parts.count == 4 else { return .string(line.sourceText(address)) }
                    let mailbox = line.string(parts[2]) ?? ""
                    let host = line.string(parts[3]) ?? ""
                    return .string(parts[3].isNil ? mailbox : "\(mailbox)@\(host)")
                })
        }
        return .object([
            ("date", nstring(fields[0])), ("subject", nstring(fields[1])), ("from", addrs(fields[2])),
            ("to", addrs(fields[5])),
            ("message_id", nstring(fields[9])),
        ])
    }
}
