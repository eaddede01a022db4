public struct DecoderOptions: Sendable {
    public var limits = FramerLimits()
    /// Client bytes held while waiting for the server's word (a `+` for a literal, the result of
    /// STARTTLS or COMPRESS) before deciding without it.
    public var holdLimit = 64 * 1024
    public enum AfterStartTLS: Sendable {
        /// A capture: after STARTTLS's OK the bytes are TLS records, counted but not decoded.
        case encrypted
        /// A proxy: it terminates TLS and goes on feeding plaintext after `tlsEstablished()`.
        case plaintext
        /// A capture the proxy wrote (`--pcap`): it terminated TLS, so plaintext follows at once.
        case decrypted
        /// A capture read with a key log: the bytes after STARTTLS's OK go back to the source
        /// (`takeTLSHandOff()`), which decrypts them and feeds the plaintext, or reports them opaque.
        case handOff
    }
    public var afterStartTLS = AfterStartTLS.encrypted
    /// The connection is TLS from its first byte (implicit TLS on 993).
    public var encryptedTransport = false
    /// How much of each literal body the events carry.
    public var bodies = BodyMode.preview
    /// Inflate after COMPRESS=DEFLATE. Off for transcripts written already inflated.
    public var inflateAfterCompress = true
    /// The source saw the client's stream from its first byte (a proxy, a transcript, a capture
    /// with the SYN). When false, client lines are hidden until a server completion confirms
    /// where a command starts: the capture may begin inside a literal or a SASL exchange.
    public var clientStreamFromStart = true

    public init() {}
}

/// The sans-I/O heart of imapscope: fed `(direction, bytes, time)` by any source, it frames both
/// directions, matches tags to completions, follows connection state, SASL, IDLE, STARTTLS,
/// COMPRESS and the selected mailbox, and returns `DecodedEvent`s. It never touches a socket or
/// a file, and nothing it is fed can make it throw, crash or buffer without bound.
public final class SessionDecoder {
    public private(set) var options: DecoderOptions
    public private(set) var state: ConnectionState = .unknown
    public var capabilities: [String]? { capabilityTracker.current }
    private var capabilityTracker = CapabilityTracker()
    public var mailbox: MailboxState? { mailboxes.selected }
    private var mailboxes = MailboxTracker()
    public var encrypted: Bool { transport.encrypted }
    public var compressed: Bool { transport.compressed }
    /// Bytes that could not be decoded because they were encrypted, per direction.
    public var opaqueBytes: [Direction: Int] { transport.opaqueBytes }
    private var transport: Transport

    private var client: LineFramer
    private var server: LineFramer
    private var proxy: LineFramer
    private var clientStream: ClientStream
    private var inFlight = CommandsInFlight()
    private var greetingSeen = false
    /// The state the connection will be in once every command in flight succeeds; pipelined
    /// commands are checked against it too.
    private var expectedState: ConnectionState = .unknown
    private var lintedBareLF: Set<Direction> = []
    private var lastTime: [Direction: Timestamp] = [:]
    private var firstTime: Timestamp?
    private var commandCount = 0
    private var ended = false
    private var events: [DecodedEvent] = []

    public init(options: DecoderOptions = DecoderOptions()) {
        self.options = options
        transport = Transport(encrypted: options.encryptedTransport)
        clientStream = ClientStream(fromStart: options.clientStreamFromStart)
        client = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: true)
        server = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: false)
        proxy = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: false)
    }

    /// Tags of commands still waiting for their completion.
    public var tagsInFlight: [String] { inFlight.all.map(\.tag) }

    // MARK: - Input

    /// `file`: the transcript read; `upstream`: the proxy's upstream URL, and whether it is verified.
    public func start(
        client: String, server: String, source: String, time: Timestamp, file: String? = nil,
        upstream: String? = nil, upstreamVerification: String? = nil
    ) -> [DecodedEvent] {
        firstTime = firstTime ?? time
        let start = SessionStartEvent(
            client: client, server: server, source: source,
            transport: encrypted ? "tls" : "plaintext", file: file, upstream: upstream,
            upstreamVerification: upstreamVerification)
        emit(DecodedEvent(.sessionStart(start), dir: nil, time: time))
        return take()
    }

    public func feed<C: Collection>(_ dir: Direction, _ bytes: C, time: Timestamp) -> [DecodedEvent]
    where C.Element == UInt8 {
        guard !ended, !bytes.isEmpty else { return take() }
        firstTime = firstTime ?? time
        lastTime[dir] = time
        var tls: DecodedEvent?
        switch transport.receive(dir, bytes, time: time, ready: &tls) {
        case .counted:
            if let tls { emit(tls) }
            return take()
        case .corrupt(let unparsed):
            emit(DecodedEvent(.unparsed(unparsed), dir: dir, time: time, bytes: bytes.count))
            return take()
        case .frameInflated(let data): framer(dir) { $0.append(data) }
        case .frame: framer(dir) { $0.append(bytes) }  // one copy, into the framer
        }
        pump(dir)
        return take()
    }

    /// The capture lost `bytes` bytes of `dir`.
    public func gap(_ dir: Direction, bytes: Int, time: Timestamp) -> [DecodedEvent] {
        guard !ended, bytes > 0 else { return take() }
        lastTime[dir] = time
        if dir == .server, !transport.isOpaque(.server) {
            serverGap(bytes, time: time)
            return take()
        }
        emit(
            DecodedEvent(
                .gap(GapEvent(missing: bytes)), dir: dir, time: time,
                annotation: "the capture lost \(bytes) bytes here; decoding resumes at the next line"))
        if transport.isOpaque(dir) { return take() }
        if dir == .client { clientStream.loseSync("bytes were lost from the client's stream") }
        var partial: RawLine?
        framer(dir) { partial = $0.skip(lost: bytes) }
        if let p = partial {
            emitUnparsed(
                dir, p.segments.flatMap(\.text), bytes: p.wireBytes, reason: "line interrupted by a gap", time: time)
        }
        pump(dir)
        return take()
    }

    /// Set while the server's stream is skipped after a gap, until a line starts a response.
    private var serverResync: ServerResync?

    private func serverGap(_ bytes: Int, time: Timestamp) {
        let restart = server.restart(lost: bytes)
        guard serverResync != nil || !restart.absorbed else {
            // A literal long enough absorbed the loss: framing goes on where it was.
            emit(
                DecodedEvent(
                    .gap(GapEvent(missing: bytes)), dir: .server, time: time,
                    annotation: "the capture lost \(bytes) bytes here, inside a literal; its digest is of what arrived")
            )
            return
        }
        var resync = serverResync ?? ServerResync(time: time, missing: 0)
        resync.missing += bytes
        if let p = restart.partial { resync.skip(p.segments.flatMap(\.text), bytes: p.wireBytes) }
        if let s = restart.skipped { resync.skip(s.prefix, bytes: s.wireBytes) }
        serverResync = resync
        pump(.server)
    }

    /// While resynchronizing, whether `frame` was skipped; false once a line starts a response
    /// (the gap is reported and the line decoded as usual).
    private func skippedWhileResynchronizing(_ frame: Frame) -> Bool {
        guard var resync = serverResync else { return false }
        switch frame {
        case .line(let line):
            if startsResponse(line) {
                endResync(resync)
                return false
            }
            resync.skip(line.segments.first?.text ?? [], bytes: line.wireBytes)
        case .overlong(let prefix, let n), .resynchronized(let prefix, let n):
            resync.skip(prefix, bytes: n)
        case .needsContinuation:
            return false
        }
        serverResync = resync
        return true
    }

    /// A line a reader would take for the start of a response: the tag of a command in flight,
    /// a status or a known data name after `*`, or a `+` that something waits for. A body line
    /// such as `* item` or a patch's `+ added` is not.
    private func startsResponse(_ line: RawLine) -> Bool {
        guard let resp = try? ResponseParser.parse(line, bodies: .none), resp.problems.isEmpty else { return false }
        switch resp.kind {
        case .tagged(let tag, _): return inFlight.contains(tag)
        case .status: return true
        case .data(let name, _): return ResponseGrammar.knownNames.contains(name)
        case .continuation:
            switch clientStream.mode {
            case .sasl, .idle: return true
            case .commands, .hold: return client.isAwaitingContinuation
            }
        }
    }

    private func endResync(_ resync: ServerResync) {
        serverResync = nil
        let gap = GapEvent(
            missing: resync.missing, skippedBytes: resync.skippedBytes, skippedLines: resync.skippedLines,
            raw: resync.firstSkipped.map { printable($0) })
        let skipped =
            resync.skippedLines == 0
            ? ""
            : "; \(resync.skippedBytes) bytes (\(resync.skippedLines) lines) after it were skipped to the next response"
        emit(
            DecodedEvent(
                .gap(gap), dir: .server, time: resync.time, bytes: resync.skippedBytes,
                annotation: "the capture lost \(resync.missing) bytes here\(skipped)"))
    }

    /// The connection is TLS from its first byte (implicit TLS, port 993): nothing is decoded,
    /// bytes are counted, and the ClientHello's server name is reported.
    public func encryptedFromStart(time: Timestamp) -> [DecodedEvent] {
        transport.encryptedFromStart(time: time)
        return take()
    }

    /// The source decrypts this session's TLS with a key log: `tls` is the event it learned from
    /// the handshake, plaintext follows through `feed`.
    public func tlsDecrypted(_ tls: TLSEvent, note: String, time: Timestamp) -> [DecodedEvent] {
        transport.startTLSDecoded()
        emit(DecodedEvent(.tls(tls), dir: nil, time: time, annotation: note))
        return take()
    }

    /// The source could not decrypt this session's TLS: from now on its bytes are counted, not
    /// decoded, starting with `bytesSoFar` the source already saw.
    public func tlsUndecryptable(_ tls: TLSEvent, note: String, bytesSoFar: [Direction: Int], time: Timestamp)
        -> [DecodedEvent]
    {
        transport.undecryptable(bytesSoFar: bytesSoFar)
        emit(DecodedEvent(.tls(tls), dir: nil, time: time, annotation: note))
        return take()
    }

    /// With `afterStartTLS == .handOff`: the bytes each side sent after STARTTLS's OK, once it
    /// completed (nil before, and after they were taken). From then on the source feeds plaintext.
    public func takeTLSHandOff() -> [Direction: [UInt8]]? {
        defer { handOff = nil }
        return handOff
    }
    private var handOff: [Direction: [UInt8]]?

    /// A source's own finding about this session (a capture's differing retransmission, say),
    /// reported as a lint in the session's event stream.
    public func sourceLint(_ finding: Lint, dir: Direction?, time: Timestamp) -> [DecodedEvent] {
        lint(finding, dir: dir, time: time)
        return take()
    }

    public func sourceLint(code: String, message: String, dir: Direction?, time: Timestamp) -> [DecodedEvent] {
        sourceLint(.source(code: code, message: message), dir: dir, time: time)
    }

    /// The proxy finished the TLS handshakes after STARTTLS: plaintext follows on both legs.
    public func tlsEstablished(time: Timestamp) -> [DecodedEvent] {
        transport.startTLSDecoded()
        client.resume()
        server.resume()
        clientStream.endHold()
        pump(.server)
        pump(.client)
        return take()
    }

    /// The proxy upgraded the server leg itself (`imap+starttls://`) while the client leg stays
    /// as it is: what the server announces from now on are its capabilities under TLS, which
    /// the next CAPABILITY response is compared against the greeting's for.
    public func upstreamUpgraded(time: Timestamp) -> [DecodedEvent] {
        capabilityTracker.void(.afterUpstreamStartTLS)
        return take()
    }

    /// The connection is over: flushes partial lines and reports what never completed.
    /// A transcript says, as it streams by, that what follows COMPRESS was written inflated
    /// (`inflateAfterCompress` off); it counts if COMPRESS has not completed yet.
    public func dataAfterCompressIsInflated() {
        options.inflateAfterCompress = false
    }

    public func finish(reason: String, time: Timestamp) -> [DecodedEvent] {
        guard !ended else { return take() }
        if let tls = transport.flushTLS(time: time) { emit(tls) }
        if client.isAwaitingContinuation {
            // The server never answered the literal: whatever the client sent is its body.
            client.continueLiteral()
            pump(.client)
        }
        for dir in [Direction.client, .server, .proxy] where !transport.isOpaque(dir) {
            var frame: Frame?
            framer(dir) { frame = $0.finish() }
            guard let f = frame else { continue }
            if dir == .server, serverResync != nil, skippedWhileResynchronizing(f) { continue }
            switch f {
            case .line(let l): handleTruncated(dir, l, time: lastTime[dir] ?? time)
            case .overlong(let p, let n):
                emitUnparsed(
                    dir, p, bytes: n,
                    reason: "line longer than \(options.limits.maxLineLength) bytes, cut by the end of the stream",
                    time: time)
            case .resynchronized(let p, let n):
                emitUnparsed(dir, p, bytes: n, reason: "bytes after a gap, cut by the end of the stream", time: time)
            case .needsContinuation: break
            }
        }
        if let resync = serverResync { endResync(resync) }
        if !inFlight.isEmpty {
            let tags = inFlight.all.map { "\($0.tag) \($0.command.name)" }
            lint(.noCompletion(commands: tags), dir: nil, time: time)
        }
        var end = SessionEndEvent(reason: reason, state: state.rawValue, commands: commandCount)
        end.durationMs = firstTime.map { time.milliseconds(since: $0) }
        if !opaqueBytes.isEmpty {
            end.encryptedBytes = Direction.allCases.compactMap { d in opaqueBytes[d].map { (d, $0) } }
        }
        end.mailbox = mailbox?.json
        let afterEnd = transport.bytesAfterDeflateEnd
        if !afterEnd.isEmpty { end.bytesAfterDeflateEnd = afterEnd }
        emit(DecodedEvent(.sessionEnd(end), dir: nil, time: time))
        ended = true
        return take()
    }

    // MARK: - Framing

    private func framer(_ dir: Direction, _ body: (inout LineFramer) -> Void) {
        switch dir {
        case .client: body(&client)
        case .server: body(&server)
        case .proxy: body(&proxy)
        }
    }

    private func nextFrame(_ dir: Direction) -> Frame? {
        var f: Frame?
        framer(dir) { f = $0.nextFrame() }
        return f
    }

    private func pump(_ dir: Direction) {
        while !transport.isOpaque(dir), let frame = nextFrame(dir) {
            let time = lastTime[dir] ?? .zero
            if dir == .server, serverResync != nil, skippedWhileResynchronizing(frame) { continue }
            switch frame {
            case .line(let l):
                if l.hasBareLF && !lintedBareLF.contains(dir) {
                    lintedBareLF.insert(dir)
                    lint(.bareLF(dir), dir: dir, time: time)
                }
                switch dir {
                case .client: clientLine(l, time: time)
                case .server: serverLine(l, time: time, from: .server)
                case .proxy: serverLine(l, time: time, from: .proxy)
                }
            case .needsContinuation:
                break
            case .overlong(let prefix, let n):
                overlong(dir, prefix, bytes: n, time: time)
            case .resynchronized(let prefix, let n):
                emitUnparsed(dir, prefix, bytes: n, reason: "skipped to the next line after a gap", time: time)
            }
        }
        if transport.isOpaque(dir) {
            var held: [UInt8] = []
            framer(dir) { held = $0.takeHeldBytes() }
            transport.count(dir, held.count)
        }
        if dir == .client, client.isPaused, client.heldBytes > options.holdLimit { holdOverflow() }
    }

    /// The client kept sending while we waited for the server's word.
    private func holdOverflow() {
        let time = lastTime[.client] ?? .zero
        if client.isAwaitingContinuation {
            lint(.literalOverHoldLimit(limit: options.holdLimit), dir: .client, time: time)
            client.continueLiteral()
            pump(.client)
        } else if case .hold(let tag, let reason) = clientStream.mode {
            lint(
                .pipelinedBeforeResult(
                    tag: tag, command: reason == .startTLS ? .startTLS : .compress, bytes: client.heldBytes),
                dir: .client, time: time)
            if reason == .compress {
                startCompression(.client, time: time)
            } else {
                clientStream.endHold()
                client.resume()
                pump(.client)
            }
        }
    }

    // MARK: - Client

    private func clientLine(_ line: RawLine, time: Timestamp) {
        switch clientStream.mode {
        case .sasl:
            saslResponse(line, time: time)
        case .idle(let tag, let since):
            if line.segments.count == 1, String(decoding: line.segments[0].text, as: UTF8.self).uppercased() == "DONE" {
                var e = DecodedEvent(
                    .idleDone(IdleDoneEvent(tag: tag)), dir: .client, time: time, line: line,
                    bytes: line.wireBytes,
                    annotation:
                        "IDLE ended by the client after \(Decimal.format(time.milliseconds(since: since) / 1000, 1)) s")
                e.clientLineClassified = true
                emit(e)
                clientStream.idleEnded()
            } else {
                lint(.idleWithoutDone(tag: tag), dir: .client, time: time)
                clientStream.idleEnded()
                // Nothing but DONE belongs here: what came instead is not known to be a command.
                clientStream.loseSync("the client sent a line other than DONE during IDLE")
                command(line, time: time)
            }
        case .commands, .hold:
            command(line, time: time)
        }
    }

    private func saslResponse(_ line: RawLine, time: Timestamp) {
        guard let message = clientStream.saslClientResponse(line.segments.flatMap(\.text)) else { return }
        var e = DecodedEvent(
            .sasl(message.event), dir: .client, time: time, line: line, bytes: line.wireBytes,
            annotation: message.annotation)
        e.clientLineClassified = true
        e.lineIsSecret = message.lineIsSecret
        e.payload = message.secret.map(SecretPayload.init)
        emit(e)
    }

    /// `literalRefused`: the server refused the synchronizing literal this line ends with.
    private func command(_ line: RawLine, time: Timestamp, literalRefused: Bool = false) {
        let cmd: Command
        do { cmd = try CommandParser.parse(line) } catch let CommandParser.Failure.notACommand(why) {
            let text = line.segments.flatMap(\.text)
            if clientStream.synchronized, String(decoding: text, as: UTF8.self).uppercased() == "DONE" {
                lint(.doneOutsideIdle, dir: .client, time: time)
            }
            emitUnparsed(.client, text, bytes: line.wireBytes, reason: "not a command: \(why)", time: time)
            return
        } catch {
            emitUnparsed(
                .client, line.segments.flatMap(\.text), bytes: line.wireBytes, reason: "not a command", time: time)
            return
        }
        guard clientStream.synchronized else {
            // It parses as a command, but it may as well be a literal's body or a SASL response.
            clientStream.hidden(tag: cmd.tag)
            emitUnparsed(
                .client, line.segments.flatMap(\.text), bytes: line.wireBytes,
                reason:
                    "hidden until a server completion shows where commands start (\(clientStream.unsynchronizedWhy))",
                time: time)
            return
        }
        commandCount += 1
        var commandEvent = CommandEvent(tag: cmd.tag, name: cmd.name, uid: cmd.uid, arguments: cmd.details)
        commandEvent.truncated = line.segments.last?.ending == LineEnding.none
        var e = DecodedEvent(.command(commandEvent), dir: .client, time: time, line: line, bytes: line.wireBytes)
        e.clientLineClassified = true
        e.secrets = cmd.secrets
        e.literalLabels = cmd.literalLabels
        e.annotation = Annotations.command(cmd)
        if let ir = cmd.initialResponse { e.payload = SecretPayload(ir) }
        emit(e)
        commandLints(cmd, line: line, time: time, literalRefused: literalRefused)
        let mailboxArg = cmd.details.mailbox
        inFlight.add(cmd.tag, CommandInFlight(name: cmd.name, uid: cmd.uid, time: time, mailbox: mailboxArg))
        switch cmd.name {
        case .login: expectedState = .authenticated
        case .authenticate: expectedState = .authenticated
        case .select, .examine:
            expectedState = .selected
            mailboxes.beginSelect(mailboxArg ?? "", readOnly: cmd.name == .examine)
        case .close, .unselect: expectedState = .authenticated
        case .logout: expectedState = .logout
        default: break
        }
        let holds = clientStream.commandSent(
            cmd.name, tag: cmd.tag, mechanism: cmd.details.mechanism, initialResponse: cmd.initialResponse != nil,
            time: time)
        if holds { client.pause() }
    }

    /// Whether a command line cut at a refused synchronizing literal parses without problems
    /// once the literal (empty: only its header matters to the grammar) and the line's end follow.
    private static func wellFormedWithItsLiteral(_ line: RawLine) -> Bool {
        guard let last = line.segments.last, let (header, _) = LiteralHeader.trailing(in: last.text) else {
            return false
        }
        var segments = line.segments
        segments[segments.count - 1].literal = Literal(
            header: header, received: 0, content: [], preview: [],
            sha256: "")
        segments.append(LineSegment(text: [], ending: .crlf, literal: nil))
        guard let cmd = try? CommandParser.parse(RawLine(segments: segments)) else { return false }
        return cmd.problems.isEmpty
    }

    private func commandLints(_ cmd: Command, line: RawLine, time: Timestamp, literalRefused: Bool = false) {
        if let prior = inFlight.first(cmd.tag) {
            lint(.tagReused(tag: cmd.tag, inFlight: prior.name.text), dir: .client, time: time)
        }
        if let need = CommandStates.violation(cmd.name, uid: cmd.uid, in: state),
            CommandStates.violation(cmd.name, uid: cmd.uid, in: expectedState) != nil || expectedState == .unknown
        {
            lint(
                .invalidState(command: (cmd.uid ? "UID " : "") + cmd.name.text, state: state.rawValue, needs: need),
                dir: .client, time: time)
        }
        // A line whose literal the server refused ends at the literal's header: it is malformed
        // only if it would be with the literal the client meant to send.
        if !cmd.problems.isEmpty, !(literalRefused && Self.wellFormedWithItsLiteral(line)) {
            lint(.malformedCommand(name: cmd.name.text, problems: cmd.problems), dir: .client, time: time)
        }
        let caps = capabilityTracker.currentSet
        if cmd.name == .login {
            if caps.contains("LOGINDISABLED") {
                lint(.loginDisabled, dir: .client, time: time)
            }
            if !encrypted {
                lint(.cleartextLogin, dir: .client, time: time)
            }
        }
        if cmd.name == .authenticate, !encrypted,
            let m = cmd.details.mechanism, ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"].contains(m)
        {
            lint(.cleartextAuth(mechanism: m), dir: .client, time: time)
        }
        if capabilities != nil {
            for lit in line.literals where lit.header.form != .synchronizing {
                if !(caps.contains("LITERAL+")
                    || (caps.contains("LITERAL-") && lit.header.size <= LiteralHeader.literalMinusLimit))
                {
                    lint(
                        .nonSyncLiteral(size: lit.header.size, literalMinus: caps.contains("LITERAL-")), dir: .client,
                        time: time)
                    break
                }
            }
        }
    }

    // MARK: - Server

    private func serverLine(_ line: RawLine, time: Timestamp, from dir: Direction) {
        let resp: Response
        do { resp = try ResponseParser.parse(line, bodies: options.bodies) } catch let ResponseParser.Failure
            .notAResponse(why)
        {
            emitUnparsed(
                dir, line.segments.flatMap(\.text), bytes: line.wireBytes, reason: "not a response: \(why)", time: time)
            return
        } catch {
            emitUnparsed(
                dir, line.segments.flatMap(\.text), bytes: line.wireBytes, reason: "not a response", time: time)
            return
        }
        if dir == .proxy {
            // imapscope itself answered a client's command (STARTTLS for an upgraded upstream).
            if case .tagged(let tag, let status) = resp.kind, tagsInFlight.contains(tag) {
                tagged(tag, status, resp, line: line, time: time, dir: .proxy)
            } else {
                emit(responseEvent(resp, line: line, time: time, dir: .proxy))
            }
            return
        }
        switch resp.kind {
        case .continuation: continuation(resp, line: line, time: time)
        case .tagged(let tag, let status): tagged(tag, status, resp, line: line, time: time)
        case .status(let name): untaggedStatus(name, resp, line: line, time: time)
        case .data(let name, let number): untaggedData(name, number, resp, line: line, time: time)
        }
        if !resp.problems.isEmpty {
            lint(.malformedResponse(problems: resp.problems), dir: .server, time: time)
        }
    }

    private func responseEvent(_ resp: Response, line: RawLine, time: Timestamp, dir: Direction = .server)
        -> DecodedEvent
    {
        var fields = ResponseFields(arguments: resp.details)
        if let code = resp.code {
            fields.code = code.name
            fields.codeArguments = code.arguments.map { line.sourceText($0) }
        }
        // resp-text: every response has it but data, whose text is its arguments (unless a code came first).
        if case .data = resp.kind, resp.code == nil {} else { fields.text = resp.text }
        fields.truncated = line.segments.last?.ending == LineEnding.none
        let body: EventBody
        switch resp.kind {
        case .tagged(let tag, let status): body = .tagged(TaggedEvent(tag: tag, status: status, response: fields))
        case .status(let name): body = .untagged(UntaggedEvent(name: name, response: fields))
        case .data(let name, let number):
            body = .untagged(UntaggedEvent(name: name, number: number.map { Int64(clamping: $0) }, response: fields))
        case .continuation: body = .continuation(ContinuationEvent(response: fields))
        }
        var e = DecodedEvent(body, dir: dir, time: time, line: line, bytes: line.wireBytes)
        e.literalLabels = resp.literalLabels
        return e
    }

    private func continuation(_ resp: Response, line: RawLine, time: Timestamp) {
        if client.isAwaitingContinuation {
            let early = client.heldBytes
            var e = responseEvent(resp, line: line, time: time)
            // The waiting line's tag and name, when they are known to be a command's.
            let waiting = client.partialLine.segments.first?.text ?? []
            var what = ""
            if clientStream.expectsCommand, let head = LineHead(waiting), head.kind == .tagged,
                let name = head.upperWord(in: waiting)
            {
                what = " of \(head.tagString(in: waiting)) \(name)"
            }
            e.annotation =
                "the server is ready for the literal\(what); the command's event follows once its body has arrived"
            emit(e)
            if early > 0 {
                lint(.literalBeforeContinuation(bytes: early), dir: .client, time: time)
            }
            client.continueLiteral()
            pump(.client)
            return
        }
        switch clientStream.mode {
        case .sasl:
            guard let message = clientStream.saslServerMessage(resp.text) else { return }
            var e = DecodedEvent(
                .sasl(message.event), dir: .server, time: time, line: line, bytes: line.wireBytes,
                annotation: message.annotation)
            e.lineIsSecret = message.lineIsSecret
            e.payload = message.secret.map(SecretPayload.init)
            emit(e)
        case .idle(let tag, _):
            var e = responseEvent(resp, line: line, time: time)
            e.annotation = "IDLE \(tag) is running: the server will push changes until the client sends DONE"
            emit(e)
        default:
            var e = responseEvent(resp, line: line, time: time)
            if inFlight.isEmpty {
                e.annotation = "a continuation request no command asked for"
                emit(e)
                lint(.unexpectedContinuation, dir: .server, time: time)
            } else {
                emit(e)
            }
        }
    }

    private func tagged(
        _ tag: String, _ status: String, _ resp: Response, line: RawLine, time: Timestamp, dir: Direction = .server
    ) {
        if client.isAwaitingContinuation, let waiting = client.partialLine.segments.first?.text,
            let head = LineHead(waiting), head.kind == .tagged, head.tagIs(tag.utf8, in: waiting)
        {
            // The server refused the literal: the command ends at its header.
            let partial = client.abandonLiteral()
            command(partial, time: lastTime[.client] ?? time, literalRefused: true)
            if let i = events.lastIndex(where: { $0.kind == .command }), case .command(var c) = events[i].body {
                c.literalRefused = true
                events[i].body = .command(c)
            }
            // A client that sends the body anyway sends it as lines of their own.
            clientStream.loseSync("the server refused a literal, whose body the client may still send")
        }
        // The server completed a tag a hidden line carried: that line was a command, and
        // client lines start where commands start again.
        let confirmsHiddenLine = clientStream.confirms(tag: tag)
        var e = responseEvent(resp, line: line, time: time, dir: dir)
        let cmd = inFlight.complete(tag)
        var notes: [String] = []
        if let c = cmd {
            let ms = time.milliseconds(since: c.time)
            if case .tagged(var t) = e.body {
                t.command = c.uid ? "UID " + c.name.text : c.name.text
                t.latencyMs = (ms * 1000).rounded() / 1000
                e.body = .tagged(t)
            }
            // Transcripts carry no times: say nothing rather than "0 ms".
            notes.append(
                "\(c.uid ? "UID " : "")\(c.name) \(status == "OK" ? "completed" : (status == "NO" ? "failed" : "rejected as invalid"))"
                    + (ms == 0 ? "" : " in \(Annotations.duration(ms))"))
        }
        if let code = resp.code, let meaning = Annotations.responseCode(code.name) { notes.append(meaning) }
        if status == "BAD", cmd != nil, resp.code == nil {
            notes.append("the server could not parse the command or it is not allowed now")
        }
        guard let c = cmd else {
            // No command carried this tag: the server may be echoing client bytes that were no
            // command (a literal's body it took for one, a SASL line), so the tag is hidden.
            e.secrets = [.span(Span(segment: 0, start: 0, end: tag.utf8.count))]
            e.tagIsSecret = true
            if confirmsHiddenLine || !clientStream.synchronized {
                // Hidden client lines carried tags: a completion of one of them is no anomaly.
                e.annotation =
                    confirmsHiddenLine
                    ? "completes a client line that was hidden; client lines are shown again from here"
                    : "completes a command whose line was hidden or not captured"
                emit(e)
                applyCode(resp, line: line, time: time)
                return
            }
            emit(e)
            lint(.unknownTag(status: status, afterGreeting: greetingSeen), dir: .server, time: time)
            applyCode(resp, line: line, time: time)
            return
        }
        // Capabilities sent with the completion ([CAPABILITY …] after LOGIN) belong to the new state.
        if status == "OK" {
            switch c.name {
            case .login, .authenticate:
                state = .authenticated
                // Capabilities in this completion, or in the next CAPABILITY, are the post-login set.
                capabilityTracker.loggedIn()
            case .select, .examine:
                state = .selected
                mailboxes.selectSucceeded(code: resp.code?.name)
            case .close, .unselect:
                state = .authenticated
                mailboxes.closed()
            case .logout:
                state = .logout
            default: break
            }
        } else if c.name == .select || c.name == .examine {
            // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
            if state == .selected { state = .authenticated }
            mailboxes.selectFailed()
        }
        if c.name == .logout { state = .logout }
        expectedState = state
        e.annotation = notes.joined(separator: "; ")
        emit(e)
        applyCode(resp, line: line, time: time)
        switch clientStream.completed(c.name, tag: tag, status: status) {
        case .startTLS: startTLS(time: time)
        case .compress: startCompression(.both, time: time)
        case .resume:
            client.resume()
            pump(.client)
        case .nothing: break
        }
    }

    private func startTLS(time: Timestamp) {
        transport.startTLSDecoded()
        let serverHeld = server.takeHeldBytes()
        let clientHeld = client.takeHeldBytes()
        capabilityTracker.void(.afterStartTLS)
        state = .notAuthenticated
        expectedState = state
        switch options.afterStartTLS {
        case .encrypted:
            if let tls = transport.startTLSUndecodable(time: time, clientHeld: clientHeld, serverHeld: serverHeld.count)
            {
                emit(tls)
            }
            if let b = serverHeld.first, b != 0x16 {
                lint(.plaintextAfterStartTLS(bytes: serverHeld.count), dir: .server, time: time)
            }
            if let b = clientHeld.first, b != 0x16 {
                lint(.pipelinedAfterStartTLS(bytes: clientHeld.count), dir: .client, time: time)
            }
        case .plaintext:
            if !serverHeld.isEmpty {
                lint(.plaintextAfterStartTLS(bytes: serverHeld.count), dir: .server, time: time)
            }
            if !clientHeld.isEmpty {
                lint(.pipelinedAfterStartTLS(bytes: clientHeld.count), dir: .client, time: time)
            }
            client.pause()
            server.pause()
        case .decrypted:
            client.resume()
            clientStream.endHold()
            server.append(serverHeld)
            client.append(clientHeld)
            emit(
                DecodedEvent(
                    .tls(TLSEvent(leg: "client", phase: "starttls-decrypted")), dir: nil, time: time,
                    annotation:
                        "STARTTLS accepted; imapscope's proxy terminated the TLS, so this capture goes on in plaintext")
            )
            pump(.server)
            pump(.client)
        case .handOff:
            client.resume()
            clientStream.endHold()
            handOff = [.client: clientHeld, .server: serverHeld]
        }
    }

    /// Whether the unfinished line arriving in `dir` may turn out to hold a secret. A source
    /// that must pass raw bytes on before the line ends (the proxy's pcap, inside a long
    /// literal) fills them instead. Deny by default: false only for a client line whose tag and
    /// command name have arrived whole, in a synchronized stream, naming neither LOGIN nor
    /// AUTHENTICATE nor a command imapscope does not know.
    public func pendingMayHoldSecret(_ dir: Direction) -> Bool {
        guard dir == .client else { return false }
        guard clientStream.expectsCommand else { return true }
        // Tags are at most 256 bytes (LineHead.maxTagLength), names a few dozen: the head is in the first 512.
        let text = (client.partialLine.segments.first?.text ?? []).prefix(512)
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

    private enum CompressionSides { case client, both }

    private func startCompression(_ sides: CompressionSides, time: Timestamp) {
        if sides == .both {
            emit(
                DecodedEvent(
                    .compress(CompressEvent(algorithm: "DEFLATE")), dir: nil, time: time,
                    annotation: "COMPRESS=DEFLATE active: from here both directions are inflated before decoding"))
            if !options.inflateAfterCompress {
                transport.compressionAlreadyInflated()
                clientStream.endHold()
                client.resume()
                pump(.client)
                return
            }
            let rest = server.takeHeldBytes()
            switch transport.startInflating(.server, held: rest) {
            case .frameInflated(let inflated): server.append(inflated)
            case .corrupt(let unparsed):
                emit(DecodedEvent(.unparsed(unparsed), dir: .server, time: time, bytes: rest.count))
            case .frame, .counted: break
            }
        }
        let held = client.takeHeldBytes()
        clientStream.endHold()
        client.resume()
        switch transport.startInflating(.client, held: held) {
        case .frameInflated(let inflated): client.append(inflated)
        case .corrupt(let unparsed):
            emit(DecodedEvent(.unparsed(unparsed), dir: .client, time: time, bytes: held.count))
            return
        case .frame, .counted: break
        }
        pump(.client)
    }

    private func untaggedStatus(_ name: String, _ resp: Response, line: RawLine, time: Timestamp) {
        var e = responseEvent(resp, line: line, time: time)
        if !greetingSeen {
            greetingSeen = true
            switch name {
            case "OK":
                if state == .unknown { state = .notAuthenticated }
                e.annotation = "greeting: the server is ready; the client must authenticate"
            case "PREAUTH":
                state = .authenticated
                e.annotation = "greeting: already authenticated (PREAUTH), e.g. by the connection itself"
            case "BYE":
                state = .logout
                e.annotation = "greeting: the server refuses this connection"
            default:
                e.annotation = "the server greets with \(name)"
            }
            expectedState = state
            emit(e)
            applyCode(resp, line: line, time: time, epoch: .greeting)
            return
        }
        switch name {
        case "BYE": e.annotation = "the server is closing the connection" + (resp.text.isEmpty ? "" : ": \(resp.text)")
        case "NO": e.annotation = "warning from the server"
        case "BAD": e.annotation = "the server reports a protocol error not tied to a command"
        case "PREAUTH":
            lint(.latePreauth, dir: .server, time: time)
        default: break
        }
        emit(e)
        applyCode(resp, line: line, time: time)
    }

    /// Applies a response code's facts to the session and annotates the last event.
    private func applyCode(_ resp: Response, line: RawLine, time: Timestamp, epoch: CapabilityTracker.Epoch? = nil) {
        guard let code = resp.code else { return }
        // The event the code came with (lints raised about it may follow).
        guard let idx = events.lastIndex(where: { $0.kind != .lint }) else { return }
        func annotate(_ s: String) {
            if let a = events[idx].annotation, !a.isEmpty {
                events[idx].annotation = a + "; " + s
            } else {
                events[idx].annotation = s
            }
        }
        func num() -> UInt64? { code.arguments.first?.number }
        switch code.name {
        case "CAPABILITY":
            annotate(capabilityUpdate(code.arguments.map { line.sourceText($0) }, epoch: epoch))
        case "UIDVALIDITY":
            guard let v = num() else { break }
            let outcome = mailboxes.uidValidity(v)
            outcome.note.map(annotate)
            if let finding = outcome.lint { lint(finding, dir: .server, time: time) }
        case "UIDNEXT":
            guard let v = num() else { break }
            annotate(mailboxes.uidNext(v))
        case "HIGHESTMODSEQ":
            guard let v = num() else { break }
            annotate(mailboxes.highestModSeq(v))
        case "UNSEEN":
            guard let v = num() else { break }
            annotate(mailboxes.unseen(v))
        case "PERMANENTFLAGS":
            annotate(mailboxes.permanentFlags(code.arguments.first?.list?.map { line.sourceText($0) } ?? []))
        case "READ-ONLY", "READ-WRITE":
            mailboxes.readOnly(code.name == "READ-ONLY")
            // A tagged completion already names the code's meaning.
            if events[idx].kind != .tagged, let m = Annotations.responseCode(code.name) { annotate(m) }
        case "ALERT":
            if events[idx].kind != .tagged { annotate("ALERT: the client must show this to the user") }
        case "APPENDUID":
            if code.arguments.count == 2 {
                annotate(
                    "stored with UIDVALIDITY \(line.sourceText(code.arguments[0])), UID \(line.sourceText(code.arguments[1]))"
                )
            }
        case "COPYUID":
            if code.arguments.count == 3 {
                annotate(
                    "source UIDs \(line.sourceText(code.arguments[1])) became \(line.sourceText(code.arguments[2])) in the target"
                )
            }
        default:
            if events[idx].kind != .tagged, let m = Annotations.responseCode(code.name) { annotate(m) }
        }
    }

    private func capabilityUpdate(_ caps: [String], epoch: CapabilityTracker.Epoch? = nil) -> String {
        let loggingIn = inFlight.running(.login) || inFlight.running(.authenticate)
        return capabilityTracker.update(caps, epoch: epoch, loggingIn: loggingIn)
    }

    private func untaggedData(_ name: String, _ number: UInt64?, _ resp: Response, line: RawLine, time: Timestamp) {
        var e = responseEvent(resp, line: line, time: time)
        if !greetingSeen { greetingSeen = true }
        var notes: [String] = []
        let n = number.map { Int(clamping: $0) }
        switch name {
        case "CAPABILITY":
            notes.append(capabilityUpdate(resp.arguments.map { line.sourceText($0) }))
        case "EXISTS":
            if let n = n {
                let outcome = mailboxes.exists(n)
                if let finding = outcome.lint { lint(finding, dir: .server, time: time) }
                if let note = outcome.note { notes.append(note) }
            }
        case "RECENT":
            if let n = n { mailboxes.recent(n) }
        case "EXPUNGE":
            if let n = n { notes.append(mailboxes.expunged(n)) }
        case "VANISHED":
            notes.append(mailboxes.vanished(count: resp.details.count, earlier: resp.details.earlier))
        case "FLAGS":
            mailboxes.flags(resp.arguments.first?.list?.map { line.sourceText($0) } ?? [])
        case "LIST", "LSUB", "XLIST":
            let meanings = resp.details.listAttributes.compactMap(Annotations.listAttribute)
            if !meanings.isEmpty { notes.append(meanings.joined(separator: ", ")) }
        case "ENABLED":
            notes.append("extensions now active")
        case "SEARCH", "SORT":
            if let c = resp.details.count { notes.append("\(c) match(es)") }
        default: break
        }
        if let solicitors = CommandStates.solicitors(of: name) {
            let asked = solicitors.contains { $0 != .idle && inFlight.running($0) }
            if inFlight.running(.idle) {
                notes.append("pushed during IDLE")
            } else if !asked {
                if case .untagged(var u) = e.body {
                    u.unsolicited = true
                    e.body = .untagged(u)
                }
                if let r = inFlight.all.first {
                    notes.append("unsolicited, during \(r.command.name) \(r.tag)")
                } else {
                    notes.append("unsolicited: no command asked for it")
                }
            }
        }
        if !notes.isEmpty { e.annotation = notes.joined(separator: "; ") }
        emit(e)
    }

    // MARK: - Damaged input

    private func overlong(_ dir: Direction, _ prefix: [UInt8], bytes: Int, time: Timestamp) {
        var started: (tag: String, name: String)?
        if dir == .client, clientStream.expectsCommand {
            // Its tag and name are a command's (the line starts where a command starts); the
            // Redactor hides the rest, as every unparsed client line.
            if let head = LineHead(prefix), head.kind == .tagged, let name = head.upperWord(in: prefix),
                name.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 })
            {
                let tag = head.tagString(in: prefix)
                started = (tag, name)
                inFlight.add(tag, CommandInFlight(name: CommandName(name), uid: false, time: time, mailbox: nil))
            }
        }
        emitUnparsed(
            dir, prefix, bytes: bytes, reason: "line longer than \(options.limits.maxLineLength) bytes", time: time,
            command: started)
    }

    /// A line cut by the end of the stream: decoded as far as it goes, flagged `truncated`.
    private func handleTruncated(_ dir: Direction, _ line: RawLine, time: Timestamp) {
        let lits = line.literals
        if let l = lits.last, !l.isComplete {
            lint(.truncatedLiteral(size: l.header.size, received: l.received), dir: dir, time: time)
        } else {
            lint(.truncatedLine(dir), dir: dir, time: time)
        }
        switch dir {
        case .client: clientLine(line, time: time)
        default: serverLine(line, time: time, from: dir)
        }
    }

    /// `raw` is shown for server lines only: the Redactor hides every unparsed client line,
    /// which may be a secret the decoder failed to delimit. Reasons never quote client bytes.
    private func emitUnparsed(
        _ dir: Direction, _ raw: [UInt8], bytes: Int, reason: String, time: Timestamp,
        command: (tag: String, name: String)? = nil
    ) {
        let text = printable(raw.prefix(200)) + (raw.count > 200 ? "…" : "")
        let unparsed = UnparsedEvent(tag: command?.tag, name: command?.name, reason: reason, raw: text)
        emit(DecodedEvent(.unparsed(unparsed), dir: dir, time: time, bytes: bytes))
    }

    // MARK: - Output

    private func lint(_ finding: Lint, dir: Direction?, time: Timestamp) {
        emit(DecodedEvent(.lint(LintEvent(finding)), dir: dir, time: time))
    }

    private func emit(_ e: DecodedEvent) { events.append(e) }

    private func take() -> [DecodedEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }
}
