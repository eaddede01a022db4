/// One session's bytes on their way to lines, per direction: what carries them (`Transport`:
/// plaintext, TLS counted but not read, DEFLATE inflated) and the framer that cuts them into
/// lines; and the hand-overs STARTTLS and COMPRESS make, where what each side sent on before the
/// switch changes hands. The decoder asks it for frames and tells it what the server answered.
struct SessionFraming {
    var transport: Transport
    /// The client's framer, which the decoder steers: a synchronizing literal waits for the
    /// server's `+`, and bytes are held while STARTTLS or COMPRESS waits for its result.
    var client: LineFramer
    private var server: LineFramer
    /// What imapscope's proxy itself sent the client.
    private var proxy: LineFramer

    init(options: DecoderOptions) {
        transport = Transport(encrypted: options.encryptedTransport)
        client = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: true)
        server = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: false)
        proxy = LineFramer(limits: options.limits, pausesAtSynchronizingLiterals: false)
    }

    /// What became of bytes a direction sent.
    enum Arrival {
        /// Handed to the framer: lines may be ready.
        case framed
        /// Counted, not framed (TLS), with the `tls` event a ClientHello among them completed.
        case counted(DecodedEvent?)
        /// The DEFLATE stream broke here: the rest of this direction is counted.
        case corrupt(UnparsedEvent)
    }

    func isOpaque(_ dir: Direction) -> Bool { transport.isOpaque(dir) }

    mutating func receive<C: Collection>(_ dir: Direction, _ bytes: C, time: Timestamp) -> Arrival
    where C.Element == UInt8 {
        var tls: DecodedEvent?
        switch transport.receive(dir, bytes, time: time, ready: &tls) {
        case .counted: return .counted(tls)
        case .corrupt(let unparsed): return .corrupt(unparsed)
        case .frameInflated(let inflated): append(inflated, to: dir)
        case .frame: append(bytes, to: dir)  // one copy, into the framer
        }
        return .framed
    }

    private mutating func append<C: Collection>(_ bytes: C, to dir: Direction) where C.Element == UInt8 {
        switch dir {
        case .client: client.append(bytes)
        case .server: server.append(bytes)
        case .proxy: proxy.append(bytes)
        }
    }

    /// The next complete frame of `dir`; nil when there is none yet, or when `dir` is opaque (what
    /// its framer still held is then counted as opaque bytes).
    mutating func nextFrame(_ dir: Direction) -> Frame? {
        guard !transport.isOpaque(dir) else {
            let held: Int
            switch dir {
            case .client: held = client.takeHeldBytes().count
            case .server: held = server.takeHeldBytes().count
            case .proxy: held = proxy.takeHeldBytes().count
            }
            transport.count(dir, held)
            return nil
        }
        switch dir {
        case .client: return client.nextFrame()
        case .server: return server.nextFrame()
        case .proxy: return proxy.nextFrame()
        }
    }

    /// `bytes` of `dir` were lost: framing resumes at the next line; the line they cut, as far as it came.
    mutating func skip(_ dir: Direction, lost bytes: Int) -> RawLine? {
        switch dir {
        case .client: return client.skip(lost: bytes)
        case .server: return server.skip(lost: bytes)
        case .proxy: return proxy.skip(lost: bytes)
        }
    }

    /// `bytes` of the server's stream were lost: framing restarts at the very next byte.
    mutating func restartServer(lost bytes: Int) -> LineFramer.Restart { server.restart(lost: bytes) }

    /// The end of the stream: the unfinished frame `dir` still holds; nil when `dir` is opaque.
    mutating func finish(_ dir: Direction) -> Frame? {
        guard !transport.isOpaque(dir) else { return nil }
        switch dir {
        case .client: return client.finish()
        case .server: return server.finish()
        case .proxy: return proxy.finish()
        }
    }

    // MARK: - STARTTLS

    /// What STARTTLS's OK did to the session's bytes.
    enum TLSStart {
        /// A capture: the rest is TLS, counted. The `tls` event, when the client's held bytes were
        /// a whole ClientHello; findings about plaintext either side sent on.
        case undecoded(tls: DecodedEvent?, server: Lint?, client: Lint?)
        /// The proxy: both directions wait for its TLS handshakes (`tlsEstablished`); any byte
        /// already sent on is a finding.
        case awaitingHandshakes(server: Lint?, client: Lint?)
        /// A capture the proxy wrote: its plaintext goes on at once.
        case decrypted
        /// A capture read with a key log: what each side sent on goes back to the source.
        case handOff([Direction: [UInt8]])
    }

    mutating func startTLS(_ after: DecoderOptions.AfterStartTLS, time: Timestamp) -> TLSStart {
        transport.startTLSDecoded()
        let serverHeld = server.takeHeldBytes()
        let clientHeld = client.takeHeldBytes()
        switch after {
        case .encrypted:
            let tls = transport.startTLSUndecodable(time: time, clientHeld: clientHeld, serverHeld: serverHeld.count)
            let findings = Transport.findingsAfterStartTLS(
                serverHeld: serverHeld, clientHeld: clientHeld, tlsRecordsExpected: true)
            return .undecoded(tls: tls, server: findings.server, client: findings.client)
        case .plaintext:
            let findings = Transport.findingsAfterStartTLS(
                serverHeld: serverHeld, clientHeld: clientHeld, tlsRecordsExpected: false)
            client.pause()
            server.pause()
            return .awaitingHandshakes(server: findings.server, client: findings.client)
        case .decrypted:
            client.resume()
            server.append(serverHeld)
            client.append(clientHeld)
            return .decrypted
        case .handOff:
            client.resume()
            return .handOff([.client: clientHeld, .server: serverHeld])
        }
    }

    /// The proxy finished its TLS handshakes after STARTTLS: plaintext follows on both legs.
    mutating func tlsEstablished() {
        transport.startTLSDecoded()
        client.resume()
        server.resume()
    }

    // MARK: - COMPRESS

    /// A direction whose held bytes were no DEFLATE stream: its `unparsed` event and how many bytes.
    typealias BrokenStream = (unparsed: UnparsedEvent, bytes: Int)

    /// COMPRESS=DEFLATE took effect on the client's direction (`serverToo`: and on the
    /// server's): from now on they are inflated, starting with what their framers held.
    mutating func startInflating(serverToo: Bool) -> (server: BrokenStream?, client: BrokenStream?) {
        var broken: (server: BrokenStream?, client: BrokenStream?) = (nil, nil)
        if serverToo {
            let held = server.takeHeldBytes()
            switch transport.startInflating(.server, held: held) {
            case .frameInflated(let inflated): server.append(inflated)
            case .corrupt(let unparsed): broken.server = (unparsed, held.count)
            case .frame, .counted: break
            }
        }
        let held = client.takeHeldBytes()
        client.resume()
        switch transport.startInflating(.client, held: held) {
        case .frameInflated(let inflated): client.append(inflated)
        case .corrupt(let unparsed): broken.client = (unparsed, held.count)
        case .frame, .counted: break
        }
        return broken
    }

    /// COMPRESS completed in a source written already inflated (a transcript).
    mutating func compressionAlreadyInflated() {
        transport.compressionAlreadyInflated()
        client.resume()
    }
}
