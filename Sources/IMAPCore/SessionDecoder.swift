/// The sans-I/O heart of imapscope: fed `(direction, bytes, time)` by any source, it frames both
/// directions, matches tags to completions, follows connection state, SASL, IDLE, STARTTLS,
/// COMPRESS and the selected mailbox, and returns `DecodedEvent`s. It never touches a socket or
/// a file, and nothing it is fed can make it throw, crash or buffer without bound.
public final class SessionDecoder {
    public private(set) var options: DecoderOptions
    public var state: ConnectionState { connection.state }
    private var connection = ConnectionStateMachine()
    public var capabilities: [String]? { capabilityTracker.current }
    private var capabilityTracker = CapabilityTracker()
    public var mailbox: MailboxState? { mailboxes.selected }
    private var mailboxes = MailboxTracker()
    public var encrypted: Bool { framing.transport.encrypted }
    public var compressed: Bool { framing.transport.compressed }
    /// Bytes that could not be decoded because they were encrypted, per direction.
    public var opaqueBytes: [Direction: Int] { framing.transport.opaqueBytes }
    private var framing: SessionFraming
    private var clientStream: ClientStream
    private var inFlight = CommandsInFlight()
    private var lintedBareLF: Set<Direction> = []
    private var lastTime: [Direction: Timestamp] = [:]
    private var firstTime: Timestamp?
    private var commandCount = 0
    private var ended = false
    private var events: [DecodedEvent] = []
    /// A command's findings, kept between commands so that checking one allocates nothing.
    private var findings: [Lint] = []

    public init(options: DecoderOptions = DecoderOptions()) {
        self.options = options
        framing = SessionFraming(options: options)
        clientStream = ClientStream(fromStart: options.clientStreamFromStart)
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
        switch framing.receive(dir, bytes, time: time) {
        case .framed: pump(dir)
        case .counted(let tls): if let tls { emit(tls) }
        case .corrupt(let unparsed): emit(DecodedEvent(.unparsed(unparsed), dir: dir, time: time, bytes: bytes.count))
        }
        return take()
    }

    /// The capture lost `bytes` bytes of `dir`.
    public func gap(_ dir: Direction, bytes: Int, time: Timestamp) -> [DecodedEvent] {
        guard !ended, bytes > 0 else { return take() }
        lastTime[dir] = time
        if dir == .server, !framing.isOpaque(.server) {
            serverGap(bytes, time: time)
            return take()
        }
        emit(
            DecodedEvent(
                .gap(GapEvent(missing: bytes)), dir: dir, time: time,
                annotation: "the capture lost \(bytes) bytes here; decoding resumes at the next line"))
        if framing.isOpaque(dir) { return take() }
        if dir == .client { clientStream.loseSync("bytes were lost from the client's stream") }
        if let partial = framing.skip(dir, lost: bytes) {
            emitUnparsed(dir, partial.segments.flatMap(\.text), bytes: partial.wireBytes, .interruptedByGap, time: time)
        }
        pump(dir)
        return take()
    }

    /// Set while the server's stream is skipped after a gap, until a line starts a response.
    private var serverResync: ServerResync?

    private func serverGap(_ bytes: Int, time: Timestamp) {
        let restart = framing.restartServer(lost: bytes)
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
        resync.lost(bytes, restart: restart)
        serverResync = resync
        pump(.server)
    }

    /// While resynchronizing, whether `frame` was skipped; false once a line starts a response
    /// (the gap is reported and the line decoded as usual).
    private func skippedWhileResynchronizing(_ frame: Frame) -> Bool {
        guard var resync = serverResync else { return false }
        let continuationAwaited = clientStream.waitsForContinuation(
            literalPending: framing.client.isAwaitingContinuation)
        switch resync.take(frame, inFlight: inFlight, continuationAwaited: continuationAwaited) {
        case .skipped:
            serverResync = resync
            return true
        case .resumes:
            endResync(resync)
            return false
        case .passes:
            return false
        }
    }

    private func endResync(_ resync: ServerResync) {
        serverResync = nil
        emit(
            DecodedEvent(
                .gap(resync.gap), dir: .server, time: resync.time, bytes: resync.skippedBytes,
                annotation: resync.annotation))
    }

    /// The connection is TLS from its first byte (implicit TLS, port 993): nothing is decoded,
    /// bytes are counted, and the ClientHello's server name is reported.
    public func encryptedFromStart(time: Timestamp) -> [DecodedEvent] {
        framing.transport.encryptedFromStart(time: time)
        return take()
    }

    /// The source decrypts this session's TLS with a key log: `tls` is the event it learned from
    /// the handshake, plaintext follows through `feed`.
    public func tlsDecrypted(_ tls: TLSEvent, note: String, time: Timestamp) -> [DecodedEvent] {
        framing.transport.startTLSDecoded()
        emit(DecodedEvent(.tls(tls), dir: nil, time: time, annotation: note))
        return take()
    }

    /// The source could not decrypt this session's TLS: from now on its bytes are counted, not
    /// decoded, starting with `bytesSoFar` the source already saw.
    public func tlsUndecryptable(_ tls: TLSEvent, note: String, bytesSoFar: [Direction: Int], time: Timestamp)
        -> [DecodedEvent]
    {
        framing.transport.undecryptable(bytesSoFar: bytesSoFar)
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
        framing.tlsEstablished()
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

    /// A transcript says, as it streams by, that what follows COMPRESS was written inflated
    /// (`inflateAfterCompress` off); it counts if COMPRESS has not completed yet.
    public func dataAfterCompressIsInflated() {
        options.inflateAfterCompress = false
    }

    /// The connection is over: flushes partial lines and reports what never completed.
    public func finish(reason: String, time: Timestamp) -> [DecodedEvent] {
        guard !ended else { return take() }
        if let tls = framing.transport.flushTLS(time: time) { emit(tls) }
        if framing.client.isAwaitingContinuation {
            // The server never answered the literal: whatever the client sent is its body.
            framing.client.continueLiteral()
            pump(.client)
        }
        for dir in [Direction.client, .server, .proxy] {
            guard let frame = framing.finish(dir) else { continue }
            if dir == .server, serverResync != nil, skippedWhileResynchronizing(frame) { continue }
            switch frame {
            case .line(let line): handleTruncated(dir, line, time: lastTime[dir] ?? time)
            case .overlong(let prefix, let wireBytes):
                let reason = DamagedInput.Reason.overlong(limit: options.limits.maxLineLength, atEnd: true)
                emitUnparsed(dir, prefix, bytes: wireBytes, reason, time: time)
            case .resynchronized(let prefix, let wireBytes):
                emitUnparsed(dir, prefix, bytes: wireBytes, .afterGap(atEnd: true), time: time)
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
            end.encryptedBytes = Direction.allCases.compactMap { side in opaqueBytes[side].map { (side, $0) } }
        }
        end.mailbox = mailbox?.json
        let afterEnd = framing.transport.bytesAfterDeflateEnd
        if !afterEnd.isEmpty { end.bytesAfterDeflateEnd = afterEnd }
        emit(DecodedEvent(.sessionEnd(end), dir: nil, time: time))
        ended = true
        return take()
    }

    // MARK: - Framing

    private func pump(_ dir: Direction) {
        while let frame = framing.nextFrame(dir) {
            let time = lastTime[dir] ?? .zero
            if dir == .server, serverResync != nil, skippedWhileResynchronizing(frame) { continue }
            switch frame {
            case .line(let line):
                if line.hasBareLF && !lintedBareLF.contains(dir) {
                    lintedBareLF.insert(dir)
                    lint(.bareLF(dir), dir: dir, time: time)
                }
                switch dir {
                case .client: clientLine(line, time: time)
                case .server: serverLine(line, time: time, from: .server)
                case .proxy: serverLine(line, time: time, from: .proxy)
                }
            case .needsContinuation:
                break
            case .overlong(let prefix, let wireBytes):
                overlong(dir, prefix, bytes: wireBytes, time: time)
            case .resynchronized(let prefix, let wireBytes):
                emitUnparsed(dir, prefix, bytes: wireBytes, .afterGap(atEnd: false), time: time)
            }
        }
        if dir == .client, framing.client.isPaused, framing.client.heldBytes > options.holdLimit { holdOverflow() }
    }

    /// The client kept sending while we waited for the server's word.
    private func holdOverflow() {
        let time = lastTime[.client] ?? .zero
        if framing.client.isAwaitingContinuation {
            lint(.literalOverHoldLimit(limit: options.holdLimit), dir: .client, time: time)
            framing.client.continueLiteral()
            pump(.client)
        } else if case .hold(let tag, let reason) = clientStream.mode {
            lint(
                .pipelinedBeforeResult(
                    tag: tag, command: reason == .startTLS ? .startTLS : .compress, bytes: framing.client.heldBytes),
                dir: .client, time: time)
            if reason == .compress {
                startCompression(.client, time: time)
            } else {
                clientStream.endHold()
                framing.client.resume()
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
                emit(DecoderEvents.idleDone(tag: tag, since: since, line: line, time: time))
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
        emit(DecoderEvents.sasl(message, dir: .client, line: line, time: time))
    }

    /// `literalRefused`: the server refused the synchronizing literal this line ends with.
    private func command(_ line: RawLine, time: Timestamp, literalRefused: Bool = false) {
        let cmd: Command
        do { cmd = try CommandParser.parse(line) } catch {
            let text = line.segments.flatMap(\.text)
            let why = DamagedInput.why(error)
            if why != nil, clientStream.synchronized, String(decoding: text, as: UTF8.self).uppercased() == "DONE" {
                lint(.doneOutsideIdle, dir: .client, time: time)
            }
            emitUnparsed(.client, text, bytes: line.wireBytes, .notACommand(why), time: time)
            return
        }
        guard clientStream.synchronized else {
            // It parses as a command, but it may as well be a literal's body or a SASL response.
            clientStream.hidden(tag: cmd.tag)
            let reason = DamagedInput.Reason.hidden(clientStream.unsynchronizedWhy)
            emitUnparsed(.client, line.segments.flatMap(\.text), bytes: line.wireBytes, reason, time: time)
            return
        }
        commandCount += 1
        emit(DecoderEvents.command(cmd, line: line, time: time))
        CommandChecks.check(
            cmd, line: line, literalRefused: literalRefused, inFlight: inFlight, connection: connection,
            capabilities: capabilityTracker.current == nil ? nil : capabilityTracker.currentSet, encrypted: encrypted,
            into: &findings)
        for finding in findings { lint(finding, dir: .client, time: time) }
        findings.removeAll(keepingCapacity: true)
        let mailboxArg = cmd.details.mailbox
        inFlight.add(cmd.tag, CommandInFlight(name: cmd.name, uid: cmd.uid, time: time, mailbox: mailboxArg))
        connection.commandSent(cmd.name)
        if cmd.name == .select || cmd.name == .examine {
            mailboxes.beginSelect(mailboxArg ?? "", readOnly: cmd.name == .examine)
        }
        let holds = clientStream.commandSent(
            cmd.name, tag: cmd.tag, mechanism: cmd.details.mechanism, initialResponse: cmd.initialResponse != nil,
            time: time)
        if holds { framing.client.pause() }
    }

    // MARK: - Server

    private func serverLine(_ line: RawLine, time: Timestamp, from dir: Direction) {
        let resp: Response
        do { resp = try ResponseParser.parse(line, bodies: options.bodies) } catch {
            let reason = DamagedInput.Reason.notAResponse(DamagedInput.why(error))
            emitUnparsed(dir, line.segments.flatMap(\.text), bytes: line.wireBytes, reason, time: time)
            return
        }
        if dir == .proxy {
            // imapscope itself answered a client's command (STARTTLS for an upgraded upstream).
            if case .tagged(let tag, let status) = resp.kind, inFlight.contains(tag) {
                tagged(tag, status, resp, line: line, time: time, dir: .proxy)
            } else {
                emit(DecoderEvents.response(resp, line: line, time: time, dir: .proxy))
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

    private func continuation(_ resp: Response, line: RawLine, time: Timestamp) {
        if !framing.client.isAwaitingContinuation, case .sasl = clientStream.mode {
            guard let message = clientStream.saslServerMessage(resp.text) else { return }
            return emit(DecoderEvents.sasl(message, dir: .server, line: line, time: time))
        }
        var event = DecoderEvents.response(resp, line: line, time: time)
        if framing.client.isAwaitingContinuation {
            let early = framing.client.heldBytes
            // The waiting line's tag and name, when they are known to be a command's.
            let waiting = framing.client.partialLine.segments.first?.text ?? []
            var command: (tag: String, name: String)?
            if clientStream.expectsCommand, let head = LineHead(waiting), head.kind == .tagged,
                let name = head.upperWord(in: waiting)
            {
                command = (head.tagString(in: waiting), name)
            }
            event.annotation = Annotations.literalReady(for: command)
            emit(event)
            if early > 0 { lint(.literalBeforeContinuation(bytes: early), dir: .client, time: time) }
            framing.client.continueLiteral()
            return pump(.client)
        }
        if case .idle(let tag, _) = clientStream.mode {
            event.annotation = Annotations.idleRunning(tag: tag)
        } else if inFlight.isEmpty {
            event.annotation = Annotations.unrequestedContinuation
            emit(event)
            return lint(.unexpectedContinuation, dir: .server, time: time)
        }
        emit(event)
    }

    private func tagged(
        _ tag: String, _ status: String, _ resp: Response, line: RawLine, time: Timestamp, dir: Direction = .server
    ) {
        if framing.client.isAwaitingContinuation, let waiting = framing.client.partialLine.segments.first?.text,
            let head = LineHead(waiting), head.kind == .tagged, head.tagIs(tag.utf8, in: waiting)
        {
            // The server refused the literal: the command ends at its header.
            let partial = framing.client.abandonLiteral()
            command(partial, time: lastTime[.client] ?? time, literalRefused: true)
            if let index = events.lastIndex(where: { $0.kind == .command }),
                case .command(var refused) = events[index].body
            {
                refused.literalRefused = true
                events[index].body = .command(refused)
            }
            // A client that sends the body anyway sends it as lines of their own.
            clientStream.loseSync("the server refused a literal, whose body the client may still send")
        }
        // The server completed a tag a hidden line carried: that line was a command, and
        // client lines start where commands start again.
        let confirmsHiddenLine = clientStream.confirms(tag: tag)
        let completed = inFlight.complete(tag)
        let verdict = TaggedCompletion(
            status: status, code: resp.code?.name, completed: completed, time: time,
            confirmsHiddenLine: confirmsHiddenLine, clientSynchronized: clientStream.synchronized,
            greetingSeen: connection.greetingSeen)
        if let completed {
            switch connection.completed(completed.name, succeeded: status == "OK") {
            // Capabilities in this completion, or in the next CAPABILITY, are the post-login set.
            case .loggedIn: capabilityTracker.loggedIn()
            case .selected: mailboxes.selectSucceeded(code: resp.code?.name)
            case .selectFailed: mailboxes.selectFailed()
            case .closed: mailboxes.closed()
            case .loggedOut, .none: break
            }
        }
        var event = DecoderEvents.response(resp, line: line, time: time, dir: dir, completion: verdict)
        if verdict.tagIsSecret {
            event.secrets = [.span(Span(segment: 0, start: 0, end: tag.utf8.count))]
            event.tagIsSecret = true
        }
        // After the state moved: capabilities sent with the completion ([CAPABILITY …] after
        // LOGIN) belong to the new state.
        let codeOutcome = codeEffects(resp, line: line, inCompletion: true)
        event.annotation = Annotations.joined(verdict.annotation, codeOutcome.note)
        emit(event)
        if let finding = verdict.lint { lint(finding, dir: .server, time: time) }
        if let finding = codeOutcome.lint { lint(finding, dir: .server, time: time) }
        guard let completed else { return }
        switch clientStream.completed(completed.name, tag: tag, status: status) {
        case .startTLS: startTLS(time: time)
        case .compress: startCompression(.both, time: time)
        case .resume:
            framing.client.resume()
            pump(.client)
        case .nothing: break
        }
    }

    private func startTLS(time: Timestamp) {
        capabilityTracker.void(.afterStartTLS)
        connection.startedTLS()
        switch framing.startTLS(options.afterStartTLS, time: time) {
        case .undecoded(let tls, let serverFinding, let clientFinding):
            if let tls { emit(tls) }
            if let serverFinding { lint(serverFinding, dir: .server, time: time) }
            if let clientFinding { lint(clientFinding, dir: .client, time: time) }
        case .awaitingHandshakes(let serverFinding, let clientFinding):
            if let serverFinding { lint(serverFinding, dir: .server, time: time) }
            if let clientFinding { lint(clientFinding, dir: .client, time: time) }
        case .decrypted:
            clientStream.endHold()
            emit(
                DecodedEvent(
                    .tls(TLSEvent(leg: "client", phase: "starttls-decrypted")), dir: nil, time: time,
                    annotation:
                        "STARTTLS accepted; imapscope's proxy terminated the TLS, so this capture goes on in plaintext")
            )
            pump(.server)
            pump(.client)
        case .handOff(let held):
            clientStream.endHold()
            handOff = held
        }
    }

    /// Whether the unfinished line arriving in `dir` may turn out to hold a secret. A source
    /// that must pass raw bytes on before the line ends (the proxy's pcap, inside a long
    /// literal) fills them instead. Deny by default: false only for a client line whose tag and
    /// command name have arrived whole, in a synchronized stream, naming neither LOGIN nor
    /// AUTHENTICATE nor a command imapscope does not know.
    public func pendingMayHoldSecret(_ dir: Direction) -> Bool {
        dir == .client && clientStream.partialLineMayHoldSecret(framing.client.partialLine.segments.first?.text ?? [])
    }

    private enum CompressionSides { case client, both }

    private func startCompression(_ sides: CompressionSides, time: Timestamp) {
        clientStream.endHold()
        if sides == .both {
            emit(
                DecodedEvent(
                    .compress(CompressEvent(algorithm: "DEFLATE")), dir: nil, time: time,
                    annotation: "COMPRESS=DEFLATE active: from here both directions are inflated before decoding"))
            if !options.inflateAfterCompress {
                framing.compressionAlreadyInflated()
                pump(.client)
                return
            }
        }
        let broken = framing.startInflating(serverToo: sides == .both)
        if let server = broken.server {
            emit(DecodedEvent(.unparsed(server.unparsed), dir: .server, time: time, bytes: server.bytes))
        }
        if let client = broken.client {
            emit(DecodedEvent(.unparsed(client.unparsed), dir: .client, time: time, bytes: client.bytes))
            return
        }
        pump(.client)
    }

    private func untaggedStatus(_ name: String, _ resp: Response, line: RawLine, time: Timestamp) {
        var event = DecoderEvents.response(resp, line: line, time: time)
        let codeOutcome: MailboxTracker.Outcome
        switch connection.untaggedStatus(name) {
        case .greeting(let greeting):
            codeOutcome = codeEffects(resp, line: line, inCompletion: false, epoch: .greeting)
            event.annotation = Annotations.joined(Annotations.greeting(greeting), codeOutcome.note)
        case .afterGreeting(let finding):
            if let finding { lint(finding, dir: .server, time: time) }
            codeOutcome = codeEffects(resp, line: line, inCompletion: false)
            event.annotation = Annotations.joined(Annotations.laterStatus(name, text: resp.text), codeOutcome.note)
        }
        emit(event)
        if let finding = codeOutcome.lint { lint(finding, dir: .server, time: time) }
    }

    /// A response code's facts applied to the trackers: the note for its event, and a finding.
    private func codeEffects(
        _ resp: Response, line: RawLine, inCompletion: Bool, epoch: CapabilityTracker.Epoch? = nil
    ) -> MailboxTracker.Outcome {
        guard let code = resp.code else { return MailboxTracker.Outcome() }
        return ResponseCodeEffects.apply(
            code, line: line, inCompletion: inCompletion, epoch: epoch, inFlight: inFlight, mailboxes: &mailboxes,
            capabilities: &capabilityTracker)
    }

    private func untaggedData(_ name: String, _ number: UInt64?, _ resp: Response, line: RawLine, time: Timestamp) {
        connection.untaggedData()
        let outcome = UntaggedDataEffects.apply(
            name, number: number, resp, line: line, inFlight: inFlight, mailboxes: &mailboxes,
            capabilities: &capabilityTracker)
        if let finding = outcome.lint { lint(finding, dir: .server, time: time) }
        var event = DecoderEvents.response(resp, line: line, time: time, unsolicited: outcome.unsolicited)
        event.annotation = outcome.note
        emit(event)
    }

    // MARK: - Damaged input

    private func overlong(_ dir: Direction, _ prefix: [UInt8], bytes: Int, time: Timestamp) {
        // A line that starts where a command starts: its tag and name are a command's, which stays
        // in flight; the Redactor hides the rest, as every unparsed client line.
        let started = dir == .client && clientStream.expectsCommand ? DamagedInput.commandStart(prefix) : nil
        if let started {
            inFlight.add(
                started.tag, CommandInFlight(name: CommandName(started.name), uid: false, time: time, mailbox: nil))
        }
        let reason = DamagedInput.Reason.overlong(limit: options.limits.maxLineLength, atEnd: false)
        emitUnparsed(dir, prefix, bytes: bytes, reason, time: time, command: started)
    }

    /// A line cut by the end of the stream: decoded as far as it goes, flagged `truncated`.
    private func handleTruncated(_ dir: Direction, _ line: RawLine, time: Timestamp) {
        lint(DamagedInput.truncation(line, dir), dir: dir, time: time)
        switch dir {
        case .client: clientLine(line, time: time)
        default: serverLine(line, time: time, from: dir)
        }
    }

    /// `raw` is shown for server lines only: the Redactor hides every unparsed client line,
    /// which may be a secret the decoder failed to delimit.
    private func emitUnparsed(
        _ dir: Direction, _ raw: [UInt8], bytes: Int, _ reason: DamagedInput.Reason, time: Timestamp,
        command: (tag: String, name: String)? = nil
    ) {
        emit(
            DecodedEvent(
                .unparsed(DamagedInput.unparsed(raw, reason, command: command)), dir: dir, time: time, bytes: bytes))
    }

    // MARK: - Output

    private func lint(_ finding: Lint, dir: Direction?, time: Timestamp) {
        emit(DecodedEvent(.lint(LintEvent(finding)), dir: dir, time: time))
    }

    private func emit(_ event: DecodedEvent) { events.append(event) }

    private func take() -> [DecodedEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }
}
