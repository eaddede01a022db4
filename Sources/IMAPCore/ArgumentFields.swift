/// A command's or a response's decoded arguments: `fields`, in the names and order schema v1 gives
/// them (`mailbox`, `sequence_set`, `attributes`, …), which sinks encode as they are; and the facts
/// the decoder and tools act on, as typed values. The grammars set each fact with the setter that
/// also writes its field, so the two cannot disagree and no consumer looks a name up; events read
/// back from JSON get their facts from their fields (`init(readBack:)`), the one other place that
/// knows the names.
///
/// A fact that is a field's value is kept as that field's position, and the others are plain
/// numbers and flags: a copy of the arguments (an event is copied several times on its way to
/// the sinks) costs one retain, that of `fields`.
public struct ArgumentFields: Sendable {
    public private(set) var fields: [(String, JSONValue)] = []

    /// Where each fact's field is in `fields`.
    private enum Fact: Int, CaseIterable {
        case sequenceSet, mailbox, mechanism, user, algorithm, listAttributes, messages
    }
    private var positions = FactPositions()

    /// `count` of SEARCH/ESEARCH/VANISHED.
    public private(set) var count: Int64?
    /// The UID among a FETCH response's `attributes`.
    public private(set) var fetchUID: Int64?
    /// False for a command or response the grammar does not know (shown generically).
    public private(set) var isKnown = true
    /// `earlier` of VANISHED (EARLIER).
    public private(set) var earlier = false

    public init() {}

    /// `sequence_set` of FETCH, STORE, COPY, …
    public var sequenceSet: String? { value(of: .sequenceSet)?.stringValue }
    /// `mailbox` of SELECT, EXAMINE, STATUS, APPEND, LIST responses, …
    public var mailbox: String? { value(of: .mailbox)?.stringValue }
    /// `mechanism` of AUTHENTICATE.
    public var mechanism: String? { value(of: .mechanism)?.stringValue }
    /// `user` of LOGIN (and of AUTHENTICATE's initial response).
    public var user: String? { value(of: .user)?.stringValue }
    /// `algorithm` of COMPRESS and THREAD.
    public var algorithm: String? { value(of: .algorithm)?.stringValue }
    /// `attributes` of a LIST response: the mailbox's flags.
    public var listAttributes: [String] { value(of: .listAttributes)?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// `messages` of APPEND: one summary per message.
    public var messages: [JSONValue]? { value(of: .messages)?.arrayValue }

    private func value(of fact: Fact) -> JSONValue? {
        guard let position = positions[fact], position < fields.count else { return nil }
        return fields[position].1
    }

    /// Fields of an event read back from JSON; the typed facts are taken from them by name.
    public init(readBack fields: [(String, JSONValue)]) {
        self.fields = fields
        for (position, (name, value)) in fields.enumerated() {
            switch name {
            case "sequence_set": positions[.sequenceSet] = position
            case "mailbox": positions[.mailbox] = position
            case "mechanism": positions[.mechanism] = position
            case "user": positions[.user] = position
            case "algorithm": positions[.algorithm] = position
            case "messages": positions[.messages] = position
            case "known": isKnown = value.boolValue != false
            case "count": count = value.intValue
            case "earlier": earlier = value.boolValue == true
            case "attributes":
                if case .object(let attributes) = value {
                    fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue
                } else {
                    positions[.listAttributes] = position
                }
            default: break
            }
        }
    }

    public var isEmpty: Bool { fields.isEmpty }

    // MARK: - Written by the grammars

    /// A field no consumer asks about: written for sinks only.
    mutating func append(_ field: (String, JSONValue)) { fields.append(field) }

    mutating func insert(_ field: (String, JSONValue), at index: Int) {
        fields.insert(field, at: index)
        positions.shift(from: index)
    }

    private mutating func append(_ field: (String, JSONValue), as fact: Fact) {
        positions[fact] = fields.count
        fields.append(field)
    }

    mutating func setSequenceSet(_ value: String) { append(("sequence_set", .string(value)), as: .sequenceSet) }

    /// `key` is `mailbox` for the mailbox a command acts on; other keys (`new_name`, `destination`, …)
    /// are fields only.
    mutating func setMailbox(_ value: String, key: String = "mailbox") {
        if key == "mailbox" {
            append((key, .string(value)), as: .mailbox)
        } else {
            fields.append((key, .string(value)))
        }
    }

    mutating func setMechanism(_ value: String) { append(("mechanism", .string(value)), as: .mechanism) }

    mutating func setUser(_ value: String) { append(("user", .string(value)), as: .user) }

    mutating func setAlgorithm(_ value: String) { append(("algorithm", .string(value)), as: .algorithm) }

    mutating func setMessages(_ value: [JSONValue]) { append(("messages", .array(value)), as: .messages) }

    /// A command or response the grammar does not know.
    mutating func setUnknown() {
        isKnown = false
        fields.append(("known", .bool(false)))
    }

    /// `count` (and, for SEARCH, the numbers after it), first among the fields.
    mutating func setCount(_ value: Int64, numbers: [JSONValue]? = nil) {
        count = value
        insert(("count", .int(value)), at: 0)
        if let numbers { insert(("numbers", .array(numbers)), at: 1) }
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
        append(("attributes", .array(values.map(JSONValue.string))), as: .listAttributes)
    }

    /// A FETCH response's `attributes` object.
    mutating func setFetchAttributes(_ value: JSONValue) {
        if case .object(let attributes) = value { fetchUID = attributes.first { $0.0 == "UID" }?.1.intValue }
        fields.append(("attributes", value))
    }

    /// Each fact's field position, or none: plain numbers, so copying them costs nothing.
    private struct FactPositions {
        /// Small: an event's copies carry them (a grammar writes a handful of fields, never 65,535).
        private var sequenceSet, mailbox, mechanism, user, algorithm, listAttributes, messages: UInt16?

        subscript(fact: Fact) -> Int? {
            get {
                let position: UInt16?
                switch fact {
                case .sequenceSet: position = sequenceSet
                case .mailbox: position = mailbox
                case .mechanism: position = mechanism
                case .user: position = user
                case .algorithm: position = algorithm
                case .listAttributes: position = listAttributes
                case .messages: position = messages
                }
                return position.map(Int.init)
            }
            set {
                let position = newValue.flatMap { UInt16(exactly: $0) }
                switch fact {
                case .sequenceSet: sequenceSet = position
                case .mailbox: mailbox = position
                case .mechanism: mechanism = position
                case .user: user = position
                case .algorithm: algorithm = position
                case .listAttributes: listAttributes = position
                case .messages: messages = position
                }
            }
        }

        /// A field was inserted at `index`: facts at or after it moved one on.
        mutating func shift(from index: Int) {
            for fact in Fact.allCases {
                if let position = self[fact], position >= index { self[fact] = position + 1 }
            }
        }
    }
}
