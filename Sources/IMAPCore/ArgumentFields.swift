/// A command's or a response's decoded arguments, in the names and order schema v1 gives them
/// (`mailbox`, `sequence_set`, `attributes`, …). The grammars write them; sinks encode them as
/// they are. Typed questions about them are answered by the accessors below, next to the names.
public struct ArgumentFields: Sendable {
    public var fields: [(String, JSONValue)]

    public init(_ fields: [(String, JSONValue)] = []) { self.fields = fields }

    public var isEmpty: Bool { fields.isEmpty }

    private func value(_ name: String) -> JSONValue? { fields.first { $0.0 == name }?.1 }

    /// `sequence_set` of FETCH, STORE, COPY, …
    public var sequenceSet: String? { value("sequence_set")?.stringValue }
    /// `mailbox` of SELECT, EXAMINE, STATUS, APPEND, …
    public var mailbox: String? { value("mailbox")?.stringValue }
    /// `mechanism` of AUTHENTICATE.
    public var mechanism: String? { value("mechanism")?.stringValue }
    /// `user` of LOGIN (and of AUTHENTICATE's initial response).
    public var user: String? { value("user")?.stringValue }
    /// `algorithm` of COMPRESS.
    public var algorithm: String? { value("algorithm")?.stringValue }
    /// `attributes` of a LIST response: the mailbox's flags.
    public var listAttributes: [String] { value("attributes")?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// `messages` of APPEND: one summary per message.
    public var messages: [JSONValue]? { value("messages")?.arrayValue }
    /// False for a command or response the grammar does not know (shown generically).
    public var isKnown: Bool { value("known") == nil }
    /// `count` of SEARCH/ESEARCH/VANISHED.
    public var count: Int64? { value("count")?.intValue }
    /// `earlier` of VANISHED (EARLIER).
    public var earlier: Bool { value("earlier")?.boolValue == true }
    /// The UID among a FETCH response's `attributes`.
    public var fetchUID: Int64? {
        guard case .object(let attributes)? = value("attributes") else { return nil }
        return attributes.first { $0.0 == "UID" }?.1.intValue
    }
}
