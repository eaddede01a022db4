/// Event kinds of schema v1.
public enum EventKind: String, Sendable, Hashable, CaseIterable {
    case sessionStart = "session-start"
    case command, tagged, untagged, continuation, sasl
    case idleDone = "idle-done"
    case tls, compress, gap, unparsed, lint, fault
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
    public var body: EventBody
    public var dir: Direction?
    public var time: Timestamp
    /// The wire line this event decodes (rendered as the body's `line`, and as fixture bytes).
    public var line: RawLine?
    public var secrets: [SecretRef] = []
    /// The whole line is secret (a SASL response): it renders as one marker.
    public var lineIsSecret = false
    /// Deny by default: a client line is shown (its `secrets` hidden) only once the decoder has
    /// classified it (a command in a synchronized stream, DONE, a SASL response); otherwise it
    /// renders as `‹hidden client line: N bytes›`. Unparsed client lines are never classified.
    public var clientLineClassified = false
    /// The tag is secret bytes (a tag the server echoed that no command carried): it becomes its marker.
    public var tagIsSecret = false
    public var literalLabels: [Int: String] = [:]
    /// A secret rendered as the SASL event's `payload` summary.
    public var payload: SecretPayload?
    /// Wire bytes this event accounts for.
    public var bytes: Int
    public var annotation: String?

    public init(
        _ body: EventBody, dir: Direction?, time: Timestamp, line: RawLine? = nil, bytes: Int = 0,
        annotation: String? = nil
    ) {
        self.body = body
        self.dir = dir
        self.time = time
        self.line = line
        self.bytes = bytes
        self.annotation = annotation
    }

    public var kind: EventKind { body.kind }
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
        case .bytes(let bytes): return bytes.count
        case .secret(_, let length): return length
        case .secretLiteral(let header, let length, let crlf, _): return length + (crlf ? 2 : 1) + header.size
        case .elidedLiteral(let length, _): return length
        }
    }
}

/// A redacted, schema v1 event: the only thing a sink ever sees.
public struct Event: Sendable {
    public var session: String
    public var seq: Int
    public var time: Timestamp
    public var dir: Direction?
    public var body: EventBody
    /// Wire bytes the event accounts for (absent for events that stand for none).
    public var bytes: Int?
    public var annotation: String?
    /// Fields read from JSON that the kind does not define, written back after its own.
    public var extra: [(String, JSONValue)] = []
    /// The redacted wire bytes of the line, when the event came from a decoder (not from JSON).
    public var wire: [WirePiece]?

    public init(
        session: String, seq: Int, time: Timestamp, dir: Direction?, body: EventBody, bytes: Int? = nil,
        annotation: String? = nil, wire: [WirePiece]? = nil
    ) {
        self.session = session
        self.seq = seq
        self.time = time
        self.dir = dir
        self.body = body
        self.bytes = bytes
        self.annotation = annotation
        self.wire = wire
    }

    public var kind: EventKind { body.kind }
}
