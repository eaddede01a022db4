/// How what the decoder understood becomes events: the façade says what a line is, these say
/// how it is reported (its body, the line and bytes it accounts for, what is secret in it).
enum DecoderEvents {
    /// A server line. `completion`: a tagged response's command and latency; `unsolicited`:
    /// untagged data no command asked for.
    static func response(
        _ response: Response, line: RawLine, time: Timestamp, dir: Direction = .server,
        completion: TaggedCompletion? = nil, unsolicited: Bool = false
    ) -> DecodedEvent {
        var fields = ResponseFields(arguments: response.details)
        if let code = response.code {
            fields.code = code.name
            fields.codeArguments = code.arguments.map { line.sourceText($0) }
        }
        // resp-text: every response has it but data, whose text is its arguments (unless a code came first).
        if case .data = response.kind, response.code == nil {} else { fields.text = response.text }
        fields.truncated = line.segments.last?.ending == LineEnding.none
        let body: EventBody
        switch response.kind {
        case .tagged(let tag, let status):
            var tagged = TaggedEvent(tag: tag, status: status, response: fields)
            tagged.command = completion?.command
            tagged.latencyMs = completion?.latencyMs
            body = .tagged(tagged)
        case .status(let name): body = .untagged(UntaggedEvent(name: name, response: fields))
        case .data(let name, let number):
            var untagged = UntaggedEvent(name: name, number: number.map { Int64(clamping: $0) }, response: fields)
            untagged.unsolicited = unsolicited
            body = .untagged(untagged)
        case .continuation: body = .continuation(ContinuationEvent(response: fields))
        }
        var event = DecodedEvent(body, dir: dir, time: time, line: line, bytes: line.wireBytes)
        event.literalLabels = response.literalLabels
        return event
    }

    /// A client line known to be a command: shown, with its secrets hidden.
    static func command(_ command: Command, line: RawLine, time: Timestamp) -> DecodedEvent {
        var body = CommandEvent(tag: command.tag, name: command.name, uid: command.uid, arguments: command.details)
        body.truncated = line.segments.last?.ending == LineEnding.none
        var event = DecodedEvent(.command(body), dir: .client, time: time, line: line, bytes: line.wireBytes)
        event.clientLineClassified = true
        event.secrets = command.secrets
        event.literalLabels = command.literalLabels
        event.annotation = Annotations.command(command)
        if let initialResponse = command.initialResponse { event.payload = SecretPayload(initialResponse) }
        return event
    }

    /// A SASL message, from the client (a response) or the server (a challenge).
    static func sasl(_ message: SASLExchange.Message, dir: Direction, line: RawLine, time: Timestamp) -> DecodedEvent {
        var event = DecodedEvent(
            .sasl(message.event), dir: dir, time: time, line: line, bytes: line.wireBytes,
            annotation: message.annotation)
        event.clientLineClassified = dir == .client
        event.lineIsSecret = message.lineIsSecret
        event.payload = message.secret.map(SecretPayload.init)
        return event
    }

    /// The client's DONE, ending IDLE `tag` that began at `since`.
    static func idleDone(tag: String, since: Timestamp, line: RawLine, time: Timestamp) -> DecodedEvent {
        let seconds = Decimal.format(time.milliseconds(since: since) / 1000, 1)
        var event = DecodedEvent(
            .idleDone(IdleDoneEvent(tag: tag)), dir: .client, time: time, line: line, bytes: line.wireBytes,
            annotation: "IDLE ended by the client after \(seconds) s")
        event.clientLineClassified = true
        return event
    }
}
