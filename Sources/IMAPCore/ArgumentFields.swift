/// A command's or a response's decoded arguments: `fields`, in the names and order schema v1 gives
/// them (`mailbox`, `sequence_set`, `attributes`, …), which sinks encode as they are; and the facts
/// the decoder and tools act on, as typed values. The grammars set each fact with the setter that
/// also writes its field, so the two cannot disagree and no consumer looks a name up; events read
/// back from JSON get their facts from their fields (`init(readBack:)`), the one other place that
/// knows the names.
public struct ArgumentFields: Sendable {
    public private(set) var fields: [(String, JSONValue)] = []

    /// `sequence_set` of FETCH, STORE, COPY, …
    public private(set) var sequenceSet: String?
    /// `mailbox` of SELECT, EXAMINE, STATUS, APPEND, LIST responses, …
    public private(set) var mailbox: String?
    /// `mechanism` of AUTHENTICATE.
    public private(set) var mechanism: String?
    /// `user` of LOGIN (and of AUTHENTICATE's initial response).
    public private(set) var user: String?
    /// `algorithm` of COMPRESS and THREAD.
    public private(set) var algorithm: String?
    /// `attributes` of a LIST response: the mailbox's flags.
    public private(set) var listAttributes: [String] = []
    /// `messages` of APPEND: one summary per message.
    public private(set) var messages: [JSONValue]?
    /// False for a command or response the grammar does not know (shown generically).
    public private(set) var isKnown = true
    /// `count` of SEARCH/ESEARCH/VANISHED.
    public private(set) var count: Int64?
    /// `earlier` of VANISHED (EARLIER).
    public private(set) var earlier = false
    /// The UID among a FETCH response's `attributes`.
    public private(set) var fetchUID: Int64?

    public init() {}

    /// Fields of an event read back from JSON; the typed facts are taken from them by name.
    public init(readBack fields: [(String, JSONValue)]) {
        self.fields = fields
        for (name, value) in fields {
            switch name {
            case "sequence_set": sequenceSet = value.stringValue
            case "mailbox": mailbox = value.stringValue
            case "mechanism": mechanism = value.stringValue
            case "user": user = value.stringValue
            case "algorithm": algorithm = value.stringValue
            case "messages": messages = value.arrayValue
            case "known": isKnown = value.boolValue != false
            case "count": count = value.intValue
            case "earlier": earlier = value.boolValue == true
            case "attributes":
                if case .object(let attributes) = value {
                    fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue
                } else {
                    listAttributes = value.arrayValue?.compactMap(\.stringValue) ?? []
                }
            default: break
            }
        }
    }

    public var isEmpty: Bool { fields.isEmpty }

    // MARK: - Written by the grammars

    /// A field no consumer asks about: written for sinks only.
    mutating func append(_ field: (String, JSONValue)) { fields.append(field) }

    mutating func insert(_ field: (String, JSONValue), at index: Int) { fields.insert(field, at: index) }

    mutating func setSequenceSet(_ value: String) {
        sequenceSet = value
        fields.append(("sequence_set", .string(value)))
    }

    /// `key` is `mailbox` for the mailbox a command acts on; other keys (`new_name`, `destination`, …)
    /// are fields only.
    mutating func setMailbox(_ value: String, key: String = "mailbox") {
        if key == "mailbox" { mailbox = value }
        fields.append((key, .string(value)))
    }

    mutating func setMechanism(_ value: String) {
        mechanism = value
        fields.append(("mechanism", .string(value)))
    }

    mutating func setUser(_ value: String) {
        user = value
        fields.append(("user", .string(value)))
    }

    mutating func setAlgorithm(_ value: String) {
        algorithm = value
        fields.append(("algorithm", .string(value)))
    }

    mutating func setMessages(_ value: [JSONValue]) {
        messages = value
        fields.append(("messages", .array(value)))
    }

    /// A command or response the grammar does not know.
    mutating func setUnknown() {
        isKnown = false
        fields.append(("known", .bool(false)))
    }

    /// `count` (and, for SEARCH, the numbers after it), first among the fields.
    mutating func setCount(_ value: Int64, numbers: [JSONValue]? = nil) {
        count = value
        fields.insert(("count", .int(value)), at: 0)
        if let numbers { fields.insert(("numbers", .array(numbers)), at: 1) }
    }

    mutating func setCountLast(_ value: Int64) {
        count = value
        fields.append(("count", .int(value)))
    }

    mutating func setEarlier() {
        earlier = true
        fields.append(("earlier", .bool(true)))
    }

    mutating func setListAttributes(_ values: [String]) {
        listAttributes = values
        fields.append(("attributes", .array(values.map(JSONValue.string))))
    }

    /// A FETCH response's `attributes` object.
    mutating func setFetchAttributes(_ value: JSONValue) {
        if case .object(let attributes) = value { fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue }
        fields.append(("attributes", value))
    }
}
