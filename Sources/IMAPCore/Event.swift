/// Event kinds of schema v1.
public enum EventKind: String, Sendable, Hashable, CaseIterable {
    case sessionStart = "session-start"
    case command, tagged, untagged, continuation, sasl
    case idleDone = "idle-done"
    case tls, compress, gap, unparsed, lint
    case sessionEnd = "session-end"
}

/// A secret payload (SASL line, initial response) the redactor turns into a marker.
public struct SecretPayload: Sendable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// What the decoder emits: may still hold secrets (in `line` spans and `payload`). Only the
/// `Redactor` turns it into an `Event`, the one type sinks accept.
public struct DecodedEvent: Sendable {
    public var kind: EventKind
    public var dir: Direction?
    public var time: Timestamp
    /// Kind-specific fields, in output order; never secret.
    public var fields: [(String, JSONValue)]
    /// The wire line this event decodes (rendered as `line`, and as fixture bytes).
    public var line: RawLine?
    public var secrets: [SecretRef] = []
    /// The whole line is secret (a SASL response): it renders as one marker.
    public var lineIsSecret = false
    /// Deny by default: a client line is shown (its `secrets` hidden) only once the decoder has
    /// classified it (a command in a synchronized stream, DONE, a SASL response); otherwise it
    /// renders as `‹hidden client line: N bytes›`. Unparsed client lines are never classified.
    public var clientLineClassified = false
    /// String fields that hold secret bytes (a tag the server echoed that no command carried):
    /// each becomes its marker.
    public var secretFields: [String] = []
    public var literalLabels: [Int: String] = [:]
    /// A secret rendered as a `payload` summary field.
    public var payload: SecretPayload?
    /// Wire bytes this event accounts for.
    public var bytes: Int
    public var annotation: String?

    public init(kind: EventKind, dir: Direction?, time: Timestamp, fields: [(String, JSONValue)] = [],
                line: RawLine? = nil, bytes: Int = 0, annotation: String? = nil) {
        self.kind = kind; self.dir = dir; self.time = time; self.fields = fields
        self.line = line; self.bytes = bytes; self.annotation = annotation
    }

    public func field(_ key: String) -> JSONValue? { fields.first(where: { $0.0 == key })?.1 }
}

/// Wire bytes after redaction, for sinks that write bytes back out (fixtures, pcap).
public enum WirePiece: Sendable, Hashable {
    case bytes([UInt8])
    /// A secret token; fixtures print `marker`, a pcap writes `length` filler bytes.
    case secret(marker: String, length: Int)
    /// A literal whose body is secret: header, line break and body together.
    /// `headerLength`: the header's bytes as sent (`{08}` is longer than `header.text()`).
    case secretLiteral(header: LiteralHeader, headerLength: Int, crlf: Bool, marker: String)
    /// A literal too large to keep: only its size and digest are known.
    case elidedLiteral(size: Int, sha256: String)

    /// How many wire bytes this piece stands for.
    public var wireLength: Int {
        switch self {
        case .bytes(let b): return b.count
        case .secret(_, let n): return n
        case .secretLiteral(let h, let n, let crlf, _): return n + (crlf ? 2 : 1) + h.size
        case .elidedLiteral(let n, _): return n
        }
    }
}

/// A redacted, schema v1 event: the only thing a sink ever sees.
public struct Event: Sendable {
    public var session: String
    public var seq: Int
    public var time: Timestamp
    public var kind: EventKind
    public var dir: Direction?
    /// Kind-specific fields in order (`line` included), then `bytes`.
    public var fields: [(String, JSONValue)]
    public var annotation: String?
    /// The redacted wire bytes of the line, when the event came from a decoder (not from JSON).
    public var wire: [WirePiece]?

    public init(session: String, seq: Int, time: Timestamp, kind: EventKind, dir: Direction?,
                fields: [(String, JSONValue)], annotation: String? = nil, wire: [WirePiece]? = nil) {
        self.session = session; self.seq = seq; self.time = time; self.kind = kind; self.dir = dir
        self.fields = fields; self.annotation = annotation; self.wire = wire
    }

    public subscript(key: String) -> JSONValue? {
        var i = 0  // not `first(where:)`: see JSONValue's subscript
        while i < fields.count {
            if fields[i].0 == key { return fields[i].1 }
            i += 1
        }
        return nil
    }

    /// The v1 JSON object.
    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("session", .string(session)), ("seq", .int(Int64(seq))),
                                        ("time", .string(time.rfc3339)), ("kind", .string(kind.rawValue))]
        if let d = dir { o.append(("dir", .string(d.rawValue))) }
        o += fields
        if let a = annotation { o.append(("annotation", .string(a))) }
        return .object(o)
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads a v1 JSON object back (the inverse of `json`).
    public init(json: JSONValue) throws {
        guard case .object(let o) = json else { throw DecodingError(message: "an event must be a JSON object") }
        guard let s = json["session"]?.stringValue ?? json["session"]?.intValue.map({ String($0) }) else { throw DecodingError(message: "missing 'session'") }
        guard let seq = json["seq"]?.intValue else { throw DecodingError(message: "missing or invalid 'seq'") }
        guard let t = json["time"]?.stringValue, let time = Timestamp(rfc3339: t) else { throw DecodingError(message: "missing or invalid 'time'") }
        guard let k = json["kind"]?.stringValue, let kind = EventKind(rawValue: k) else { throw DecodingError(message: "missing or unknown 'kind'") }
        var dir: Direction?
        if let d = json["dir"]?.stringValue {
            guard let dd = Direction(rawValue: d) else { throw DecodingError(message: "unknown 'dir' \(d)") }
            dir = dd
        }
        self.init(session: s, seq: Int(seq), time: time, kind: kind, dir: dir,
                  fields: o.filter { !Event.isEnvelopeKey($0.0) },
                  annotation: json["annotation"]?.stringValue)
    }

    /// The keys `json` writes from the event's own properties rather than from `fields`. A switch,
    /// not an array literal's `contains`: this runs for every field of every event read back.
    static func isEnvelopeKey(_ key: String) -> Bool {
        switch key {
        case "session", "seq", "time", "kind", "dir", "annotation": return true
        default: return false
        }
    }
}
