/// What an event says, by kind: one typed payload per schema v1 kind. Producers fill these in,
/// sinks read them; JSON is only the JSON Lines writer's encoding of them (`EventEncoding`).
public enum EventBody: Sendable {
    case sessionStart(SessionStartEvent)
    case command(CommandEvent)
    case tagged(TaggedEvent)
    case untagged(UntaggedEvent)
    case continuation(ContinuationEvent)
    case sasl(SASLEvent)
    case idleDone(IdleDoneEvent)
    case tls(TLSEvent)
    case compress(CompressEvent)
    case gap(GapEvent)
    case unparsed(UnparsedEvent)
    case lint(LintEvent)
    case fault(FaultEvent)
    case sessionEnd(SessionEndEvent)

    public var kind: EventKind {
        switch self {
        case .sessionStart: return .sessionStart
        case .command: return .command
        case .tagged: return .tagged
        case .untagged: return .untagged
        case .continuation: return .continuation
        case .sasl: return .sasl
        case .idleDone: return .idleDone
        case .tls: return .tls
        case .compress: return .compress
        case .gap: return .gap
        case .unparsed: return .unparsed
        case .lint: return .lint
        case .fault: return .fault
        case .sessionEnd: return .sessionEnd
        }
    }

    /// The rendered wire line, for the kinds that have one (the `Redactor` sets it).
    public var line: String? {
        get {
            switch self {
            case .command(let e): return e.line
            case .tagged(let e): return e.line
            case .untagged(let e): return e.line
            case .continuation(let e): return e.line
            case .sasl(let e): return e.line
            case .idleDone(let e): return e.line
            default: return nil
            }
        }
        set {
            guard let text = newValue else { return }
            switch self {
            case .command(var event):
                event.line = text
                self = .command(event)
            case .tagged(var event):
                event.line = text
                self = .tagged(event)
            case .untagged(var event):
                event.line = text
                self = .untagged(event)
            case .continuation(var event):
                event.line = text
                self = .continuation(event)
            case .sasl(var event):
                event.line = text
                self = .sasl(event)
            case .idleDone(var event):
                event.line = text
                self = .idleDone(event)
            default: break
            }
        }
    }

    /// The command tag the event carries, if any.
    public var tag: String? {
        switch self {
        case .command(let e): return e.tag
        case .tagged(let e): return e.tag
        case .sasl(let e): return e.tag
        case .idleDone(let e): return e.tag
        case .unparsed(let e): return e.tag
        default: return nil
        }
    }
}

public struct SessionStartEvent: Sendable {
    public var client: String
    public var server: String
    /// `pcap`, `sniff`, `proxy` or `transcript`.
    public var source: String
    /// `tls` or `plaintext`.
    public var transport: String?
    /// The transcript a session was read from.
    public var file: String?
    /// The proxy's upstream URL.
    public var upstream: String?
    /// `disabled` when the proxy does not verify the real server (`--insecure-upstream`).
    public var upstreamVerification: String?

    public init(
        client: String, server: String, source: String, transport: String? = nil, file: String? = nil,
        upstream: String? = nil, upstreamVerification: String? = nil
    ) {
        self.client = client
        self.server = server
        self.source = source
        self.transport = transport
        self.file = file
        self.upstream = upstream
        self.upstreamVerification = upstreamVerification
    }
}

public struct CommandEvent: Sendable {
    public var tag: String
    /// `UID FETCH` is `.fetch` with `uid` true; schema v1 writes its upper-case `text`.
    public var name: CommandName
    public var uid: Bool
    public var line = ""
    public var arguments: ArgumentFields
    /// The stream ended inside the line.
    public var truncated = false
    /// The server refused the synchronizing literal the line ends with.
    public var literalRefused = false

    public init(tag: String, name: CommandName, uid: Bool, arguments: ArgumentFields = ArgumentFields()) {
        self.tag = tag
        self.name = name
        self.uid = uid
        self.arguments = arguments
    }

    /// `UID FETCH` or `FETCH`.
    public var fullName: String { uid ? "UID " + name.text : name.text }
}

/// What tagged, untagged and continuation responses share.
public struct ResponseFields: Sendable {
    /// A `[CODE …]` and its arguments as written.
    public var code: String?
    public var codeArguments: [String] = []
    /// resp-text (or a continuation's text); absent for data responses without a code.
    public var text: String?
    public var arguments = ArgumentFields()
    public var truncated = false

    public init(
        code: String? = nil, codeArguments: [String] = [], text: String? = nil,
        arguments: ArgumentFields = ArgumentFields(), truncated: Bool = false
    ) {
        self.code = code
        self.codeArguments = codeArguments
        self.text = text
        self.arguments = arguments
        self.truncated = truncated
    }
}

public struct TaggedEvent: Sendable {
    public var tag: String
    /// `OK`, `NO` or `BAD`.
    public var status: String
    public var line = ""
    /// The command the tag completes (`UID FETCH`), when it was matched.
    public var command: String?
    public var latencyMs: Double?
    public var response: ResponseFields

    public init(tag: String, status: String, response: ResponseFields = ResponseFields()) {
        self.tag = tag
        self.status = status
        self.response = response
    }
}

public struct UntaggedEvent: Sendable {
    /// `EXISTS`, `FETCH`, `CAPABILITY`, `OK`, `BYE`, …
    public var name: String
    public var number: Int64?
    public var line = ""
    public var response: ResponseFields
    /// No command in flight asked for it.
    public var unsolicited = false

    public init(name: String, number: Int64? = nil, response: ResponseFields = ResponseFields()) {
        self.name = name
        self.number = number
        self.response = response
    }
}

public struct ContinuationEvent: Sendable {
    public var line = ""
    public var response: ResponseFields

    public init(response: ResponseFields = ResponseFields()) { self.response = response }
}

public struct SASLEvent: Sendable {
    public var tag: String
    public var mechanism: String
    public var step: Int
    public var line = ""
    /// The client answered `*`.
    public var cancelled = false
    /// A server challenge that is safe to show (LOGIN's prompts, CRAM-MD5's challenge).
    public var challenge: String?
    public var user: String?
    public var authzid: String?
    /// False when the client's response is not base64.
    public var base64: Bool?
    /// The secret payload's summary (a marker and its size), or the payload with --show-secrets.
    public var payload: String?

    public init(tag: String, mechanism: String, step: Int) {
        self.tag = tag
        self.mechanism = mechanism
        self.step = step
    }
}

public struct IdleDoneEvent: Sendable {
    public var tag: String
    public var line = ""

    public init(tag: String) { self.tag = tag }
}

public struct TLSEvent: Sendable {
    /// `client` or `server`.
    public var leg: String
    /// `starttls`, `starttls-decrypted`, `implicit`, `established`, `starttls-upstream`, `failed`, …
    public var phase: String
    public var version: String?
    public var cipher: String?
    public var sni: String?
    public var versionsOffered: [String]?
    public var verification: String?
    public var error: String?
    /// The application protocol the server chose (ALPN), when a capture's handshake could be read.
    public var alpn: String?
    /// A capture read with a key log: whether this session's records were decrypted.
    public var decrypted: Bool?

    public init(
        leg: String, phase: String, version: String? = nil, cipher: String? = nil, sni: String? = nil,
        versionsOffered: [String]? = nil, verification: String? = nil, error: String? = nil, alpn: String? = nil,
        decrypted: Bool? = nil
    ) {
        self.alpn = alpn
        self.decrypted = decrypted
        self.leg = leg
        self.phase = phase
        self.version = version
        self.cipher = cipher
        self.sni = sni
        self.versionsOffered = versionsOffered
        self.verification = verification
        self.error = error
    }
}

public struct CompressEvent: Sendable {
    public var algorithm: String

    public init(algorithm: String) { self.algorithm = algorithm }
}

public struct GapEvent: Sendable {
    /// Bytes the capture lost.
    public var missing: Int
    /// Bytes received after the loss and skipped until a response started (server side).
    public var skippedBytes: Int?
    public var skippedLines: Int?
    /// The start of the first skipped line.
    public var raw: String?

    public init(missing: Int, skippedBytes: Int? = nil, skippedLines: Int? = nil, raw: String? = nil) {
        self.missing = missing
        self.skippedBytes = skippedBytes
        self.skippedLines = skippedLines
        self.raw = raw
    }
}

public struct UnparsedEvent: Sendable {
    /// An over-long client line's tag and command name, when it started like a command.
    public var tag: String?
    public var name: String?
    public var reason: String
    /// Escaped and truncated; a client line's is replaced by its size.
    public var raw: String

    public init(tag: String? = nil, name: String? = nil, reason: String, raw: String) {
        self.tag = tag
        self.name = name
        self.reason = reason
        self.raw = raw
    }
}

public struct LintEvent: Sendable {
    public var level: Lint.Level
    public var code: String
    public var message: String

    public init(level: Lint.Level, code: String, message: String) {
        self.level = level
        self.code = code
        self.message = message
    }

    public init(_ finding: Lint) { self.init(level: finding.level, code: finding.code, message: finding.message) }
}

/// A fault the proxy injected on purpose (`--fault`): the rule, the action and what was done.
/// It names the matched command by tag and name only, never by its arguments.
public struct FaultEvent: Sendable, Equatable {
    /// The rule in canonical form (`SELECT Archive -> respond NO [UNAVAILABLE] try later`).
    public var rule: String
    /// `delay`, `respond`, `bye`, `reset`, `cut`, `throttle`, `stall` or `inject`.
    public var action: String
    public var tag: String?
    /// The matched command's name (`UID FETCH`).
    public var command: String?
    /// What imapscope did, in words.
    public var detail: String

    public init(rule: String, action: String, tag: String? = nil, command: String? = nil, detail: String) {
        self.rule = rule
        self.action = action
        self.tag = tag
        self.command = command
        self.detail = detail
    }
}

public struct SessionEndEvent: Sendable {
    public var reason: String
    public var state: String?
    public var commands: Int?
    public var durationMs: Double?
    /// Bytes that could not be decoded because they were encrypted, per direction.
    public var encryptedBytes: [(Direction, Int)]?
    /// The selected mailbox at the end, as `MailboxState.json` writes it.
    public var mailbox: JSONValue?
    /// Bytes after the end of a DEFLATE stream, per direction.
    public var bytesAfterDeflateEnd: [(Direction, Int)]?

    public init(reason: String, state: String? = nil, commands: Int? = nil) {
        self.reason = reason
        self.state = state
        self.commands = commands
    }
}
