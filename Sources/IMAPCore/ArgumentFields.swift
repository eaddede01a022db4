/// A command's or a response's decoded arguments: `fields`, in the names and order schema v1 gives
/// them (`mailbox`, `sequence_set`, `attributes`, …), which sinks encode as they are; and the facts
/// the decoder and tools act on, as typed values. The grammars set each fact with the setter that
/// also writes its field, so the two cannot disagree and no consumer looks a name up; events read
/// back from JSON get their facts from their fields (`init(readBack:)`), the one other place that
/// knows the names.
///
/// Fields and facts sit behind one reference (copy on write): an event is copied several times on
/// its way to the sinks, and a copy then costs one retain instead of one per field.
public struct ArgumentFields: Sendable {
    private var storage: Storage?

    /// Changed only while uniquely referenced (`unique`), which is what makes it Sendable.
    private final class Storage: @unchecked Sendable {
        var fields: [(String, JSONValue)] = []
        var facts = Facts()

        init() {}

        init(fields: [(String, JSONValue)], facts: Facts) {
            self.fields = fields
            self.facts = facts
        }
    }

    private struct Facts {
        var sequenceSet: String?
        var mailbox: String?
        var mechanism: String?
        var user: String?
        var algorithm: String?
        var listAttributes: [String] = []
        var messages: [JSONValue]?
        var isKnown = true
        var count: Int64?
        var earlier = false
        var fetchUID: Int64?
    }

    /// The storage, made (or copied so that it is) unique before a change.
    private var unique: Storage {
        mutating get {
            guard let current = storage else {
                let fresh = Storage()
                storage = fresh
                return fresh
            }
            if isKnownUniquelyReferenced(&storage) { return current }
            let copy = Storage(fields: current.fields, facts: current.facts)
            storage = copy
            return copy
        }
    }

    public var fields: [(String, JSONValue)] { storage?.fields ?? [] }
    /// `sequence_set` of FETCH, STORE, COPY, …
    public var sequenceSet: String? { storage?.facts.sequenceSet }
    /// `mailbox` of SELECT, EXAMINE, STATUS, APPEND, LIST responses, …
    public var mailbox: String? { storage?.facts.mailbox }
    /// `mechanism` of AUTHENTICATE.
    public var mechanism: String? { storage?.facts.mechanism }
    /// `user` of LOGIN (and of AUTHENTICATE's initial response).
    public var user: String? { storage?.facts.user }
    /// `algorithm` of COMPRESS and THREAD.
    public var algorithm: String? { storage?.facts.algorithm }
    /// `attributes` of a LIST response: the mailbox's flags.
    public var listAttributes: [String] { storage?.facts.listAttributes ?? [] }
    /// `messages` of APPEND: one summary per message.
    public var messages: [JSONValue]? { storage?.facts.messages }
    /// False for a command or response the grammar does not know (shown generically).
    public var isKnown: Bool { storage?.facts.isKnown ?? true }
    /// `count` of SEARCH/ESEARCH/VANISHED.
    public var count: Int64? { storage?.facts.count }
    /// `earlier` of VANISHED (EARLIER).
    public var earlier: Bool { storage?.facts.earlier ?? false }
    /// The UID among a FETCH response's `attributes`.
    public var fetchUID: Int64? { storage?.facts.fetchUID }

    public init() {}

    /// Fields of an event read back from JSON; the typed facts are taken from them by name.
    public init(readBack fields: [(String, JSONValue)]) {
        guard !fields.isEmpty else { return }
        var facts = Facts()
        for (name, value) in fields {
            switch name {
            case "sequence_set": facts.sequenceSet = value.stringValue
            case "mailbox": facts.mailbox = value.stringValue
            case "mechanism": facts.mechanism = value.stringValue
            case "user": facts.user = value.stringValue
            case "algorithm": facts.algorithm = value.stringValue
            case "messages": facts.messages = value.arrayValue
            case "known": facts.isKnown = value.boolValue != false
            case "count": facts.count = value.intValue
            case "earlier": facts.earlier = value.boolValue == true
            case "attributes":
                if case .object(let attributes) = value {
                    facts.fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue
                } else {
                    facts.listAttributes = value.arrayValue?.compactMap(\.stringValue) ?? []
                }
            default: break
            }
        }
        storage = Storage(fields: fields, facts: facts)
    }

    public var isEmpty: Bool { storage?.fields.isEmpty ?? true }

    // MARK: - Written by the grammars

    /// A field no consumer asks about: written for sinks only.
    mutating func append(_ field: (String, JSONValue)) { unique.fields.append(field) }

    mutating func insert(_ field: (String, JSONValue), at index: Int) { unique.fields.insert(field, at: index) }

    mutating func setSequenceSet(_ value: String) {
        let target = unique
        target.facts.sequenceSet = value
        target.fields.append(("sequence_set", .string(value)))
    }

    /// `key` is `mailbox` for the mailbox a command acts on; other keys (`new_name`, `destination`, …)
    /// are fields only.
    mutating func setMailbox(_ value: String, key: String = "mailbox") {
        let target = unique
        if key == "mailbox" { target.facts.mailbox = value }
        target.fields.append((key, .string(value)))
    }

    mutating func setMechanism(_ value: String) {
        let target = unique
        target.facts.mechanism = value
        target.fields.append(("mechanism", .string(value)))
    }

    mutating func setUser(_ value: String) {
        let target = unique
        target.facts.user = value
        target.fields.append(("user", .string(value)))
    }

    mutating func setAlgorithm(_ value: String) {
        let target = unique
        target.facts.algorithm = value
        target.fields.append(("algorithm", .string(value)))
    }

    mutating func setMessages(_ value: [JSONValue]) {
        let target = unique
        target.facts.messages = value
        target.fields.append(("messages", .array(value)))
    }

    /// A command or response the grammar does not know.
    mutating func setUnknown() {
        let target = unique
        target.facts.isKnown = false
        target.fields.append(("known", .bool(false)))
    }

    /// `count` (and, for SEARCH, the numbers after it), first among the fields.
    mutating func setCount(_ value: Int64, numbers: [JSONValue]? = nil) {
        let target = unique
        target.facts.count = value
        target.fields.insert(("count", .int(value)), at: 0)
        if let numbers { target.fields.insert(("numbers", .array(numbers)), at: 1) }
    }

    mutating func setCountLast(_ value: Int64) {
        let target = unique
        target.facts.count = value
        target.fields.append(("count", .int(value)))
    }

    mutating func setEarlier() {
        let target = unique
        target.facts.earlier = true
        target.fields.append(("earlier", .bool(true)))
    }

    mutating func setListAttributes(_ values: [String]) {
        let target = unique
        target.facts.listAttributes = values
        target.fields.append(("attributes", .array(values.map(JSONValue.string))))
    }

    /// A FETCH response's `attributes` object.
    mutating func setFetchAttributes(_ value: JSONValue) {
        let target = unique
        if case .object(let attributes) = value {
            target.facts.fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue
        }
        target.fields.append(("attributes", value))
    }
}
