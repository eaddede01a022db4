/// What the client's next line is — a command, a SASL response, IDLE's DONE, or bytes held back
/// while STARTTLS or COMPRESS waits for its result — and whether client line boundaries are known
/// to be command boundaries. Lost once the framing may be off (mid-stream start, a gap, a refused
/// literal or AUTHENTICATE): lines are then hidden until the server completes a tag one of them
/// carried.
struct ClientStream {
    enum Mode {
        case commands
        case sasl(SASLExchange)
        case idle(tag: String, since: Timestamp)
        /// STARTTLS or COMPRESS sent: what follows is held until the server answers.
        case hold(tag: String, reason: HoldReason)
    }

    enum HoldReason { case startTLS, compress }

    /// What a command's completion means for the stream.
    enum Completion: Equatable {
        case nothing
        /// STARTTLS succeeded: the held bytes are TLS (or the proxy's plaintext after it).
        case startTLS
        /// COMPRESS succeeded: the held bytes are DEFLATE.
        case compress
        /// STARTTLS or COMPRESS failed: the held bytes are plain commands again.
        case resume
    }

    private(set) var mode = Mode.commands
    private(set) var synchronized: Bool
    private(set) var unsynchronizedWhy = ""
    /// Tags of the hidden lines, the candidates for that confirmation.
    private var unconfirmedTags: [String] = []
    static let maxUnconfirmedTags = 64

    /// `fromStart`: the source saw the client's first byte.
    init(fromStart: Bool) {
        synchronized = fromStart
        if !fromStart { unsynchronizedWhy = "the capture started in the middle of the connection" }
    }

    var isCommands: Bool {
        if case .commands = mode { return true }
        return false
    }

    /// A line here starts where a command starts.
    var expectsCommand: Bool { synchronized && isCommands }

    /// Whether a `+` from the server is one the client waits for: during SASL or IDLE, or for
    /// a synchronizing literal (`literalPending`).
    func waitsForContinuation(literalPending: Bool) -> Bool {
        switch mode {
        case .sasl, .idle: return true
        case .commands, .hold: return literalPending
        }
    }

    /// Whether the unfinished client line starting with `partial` may turn out to hold a secret
    /// (deny by default): false only for a line whose tag and command name have arrived whole,
    /// where a command starts, naming neither LOGIN nor AUTHENTICATE nor a command imapscope
    /// does not know.
    func partialLineMayHoldSecret(_ partial: [UInt8]) -> Bool {
        guard expectsCommand else { return true }
        // Tags are at most 256 bytes (LineHead.maxTagLength), names a few dozen: the head is in the first 512.
        let text = partial.prefix(512)
        let space = UInt8(ascii: " ")
        // The name is whole only once a space follows it.
        guard let head = LineHead(text), head.kind == .tagged, let word = head.word, word.upperBound < text.endIndex,
            text[word.upperBound] == space
        else { return true }
        var name = word
        if head.wordIs("UID", in: text) {
            let start = word.upperBound + 1
            guard let end = text[start...].firstIndex(of: space) else { return true }
            name = start..<end
        }
        let upper = String(decoding: text[name], as: UTF8.self).uppercased()
        let command = CommandName(upper)
        guard !upper.isEmpty, command != .login, command != .authenticate else { return true }
        return !command.isKnown
    }

    mutating func loseSync(_ why: String) {
        synchronized = false
        unsynchronizedWhy = why
        unconfirmedTags = []
    }

    /// A line that parses as a command while unsynchronized, and is hidden: its tag may be confirmed.
    mutating func hidden(tag: String) {
        if unconfirmedTags.count >= Self.maxUnconfirmedTags { unconfirmedTags.removeFirst() }
        unconfirmedTags.append(tag)
    }

    /// The server completed `tag`: true when that confirms a hidden line, which makes the stream
    /// synchronized again.
    mutating func confirms(tag: String) -> Bool {
        guard !synchronized, unconfirmedTags.contains(tag) else { return false }
        synchronized = true
        unconfirmedTags = []
        return true
    }

    /// A command was sent: the mode it puts the client in. True when the client's later bytes must
    /// be held until the server answers (STARTTLS, COMPRESS).
    mutating func commandSent(
        _ name: CommandName, tag: String, mechanism: String?, initialResponse: Bool, time: Timestamp
    )
        -> Bool
    {
        switch name {
        case .authenticate:
            mode = .sasl(SASLExchange(tag: tag, mechanism: mechanism ?? "?", initialResponse: initialResponse))
        case .idle: mode = .idle(tag: tag, since: time)
        case .starttls: mode = .hold(tag: tag, reason: .startTLS)
        case .compress: mode = .hold(tag: tag, reason: .compress)
        default: return false
        }
        return name == .starttls || name == .compress
    }

    /// The SASL exchange's next message from the server; nil when no exchange is running.
    mutating func saslServerMessage(_ text: String) -> SASLExchange.Message? {
        guard case .sasl(var exchange) = mode else { return nil }
        let message = exchange.serverMessage(text)
        mode = .sasl(exchange)
        return message
    }

    mutating func saslClientResponse(_ line: [UInt8]) -> SASLExchange.Message? {
        guard case .sasl(var exchange) = mode else { return nil }
        let message = exchange.clientResponse(line)
        mode = .sasl(exchange)
        return message
    }

    /// IDLE ended (DONE, or a line that was not DONE).
    mutating func idleEnded() {
        if case .idle = mode { mode = .commands }
    }

    /// No more holding: TLS is up, or a pipelined client overran the hold.
    mutating func endHold() {
        if case .hold = mode { mode = .commands }
    }

    /// `tag` (a `name` command) completed with `status`.
    mutating func completed(_ name: CommandName, tag: String, status: String) -> Completion {
        switch (name, mode) {
        case (.authenticate, .sasl(let exchange)) where exchange.tag == tag:
            mode = .commands
            // Refused while the client owed a response: it may still send it, maybe not as base64.
            if status != "OK", exchange.clientOwes {
                loseSync("the server ended an AUTHENTICATE the client may still answer")
            }
        case (.idle, .idle(let idleTag, _)) where idleTag == tag:
            mode = .commands
        case (.starttls, .hold(let holdTag, _)) where holdTag == tag,
            (.compress, .hold(let holdTag, _)) where holdTag == tag:
            guard status == "OK" else {
                mode = .commands
                return .resume
            }
            return name == .starttls ? .startTLS : .compress
        default: break
        }
        return .nothing
    }
}
