/// What carries one session's IMAP bytes, per direction: plaintext, TLS a capture cannot see into
/// (counted, and the ClientHello read for its server name), or DEFLATE after COMPRESS (inflated).
/// The decoder hands it each direction's raw bytes and frames what it says to frame.
struct Transport {
    /// What became of bytes handed to `receive`.
    enum Delivery {
        /// Plaintext: frame the bytes as they are.
        case frame
        /// Inflated after COMPRESS: frame these instead.
        case frameInflated([UInt8])
        /// Encrypted (or past a corrupt DEFLATE stream): counted, not framed.
        case counted
        /// The DEFLATE stream broke here: counted from now on, and reported.
        case corrupt(UnparsedEvent)
    }

    /// The session is encrypted (implicit TLS, or after STARTTLS).
    private(set) var encrypted: Bool
    private(set) var compressed = false
    /// Bytes that could not be decoded because they were encrypted, per direction.
    private(set) var opaqueBytes: [Direction: Int] = [:]
    private var opaque: Set<Direction> = []
    private var inflaters: [Direction: DeflateInflater] = [:]
    /// A `tls` event waits for the ClientHello (to name the server); it is ready once the hello
    /// is read, or at the end of the session.
    private var pendingTLS: (phase: String, time: Timestamp, note: String)?
    private var helloBytes: [UInt8] = []

    init(encrypted: Bool) { self.encrypted = encrypted }

    func isOpaque(_ dir: Direction) -> Bool { opaque.contains(dir) }

    /// Bytes `dir` sent; a `tls` event the ClientHello among them completed goes to `ready`.
    mutating func receive<C: Collection>(
        _ dir: Direction, _ bytes: C, time: Timestamp, ready: inout DecodedEvent?
    ) -> Delivery where C.Element == UInt8 {
        if opaque.contains(dir) {
            opaqueBytes[dir, default: 0] += bytes.count
            // Only while a ClientHello is awaited: after it, opaque bytes are counted, not copied.
            if dir == .client, pendingTLS != nil { ready = watchClientHello(Array(bytes), time: time) }
            return .counted
        }
        guard let inflater = inflaters[dir] else { return .frame }
        do { return .frameInflated(try inflater.inflate(Array(bytes))) } catch {
            return .corrupt(compressionFailed(dir, count: bytes.count, error))
        }
    }

    /// Bytes a framer held back when its direction turned opaque.
    mutating func count(_ dir: Direction, _ bytes: Int) {
        opaqueBytes[dir, default: 0] += bytes
    }

    /// Implicit TLS: nothing is decoded from the first byte on.
    mutating func encryptedFromStart(time: Timestamp) {
        encrypted = true
        opaque = [.client, .server]
        pendingTLS = (
            phase: "implicit", time: time,
            note: "implicit TLS: the whole connection is encrypted and cannot be decoded from a capture"
        )
    }

    /// STARTTLS succeeded where the TLS is not ours to terminate (a capture): both directions turn
    /// opaque, with what their framers held counted; the `tls` event, if the held client bytes
    /// were a whole ClientHello.
    mutating func startTLSUndecodable(time: Timestamp, clientHeld: [UInt8], serverHeld: Int) -> DecodedEvent? {
        encrypted = true
        pendingTLS = (
            phase: "starttls", time: time,
            note: "STARTTLS accepted: the rest of this connection is TLS and cannot be decoded from a capture"
        )
        opaque = [.client, .server]
        opaqueBytes[.client, default: 0] += clientHeld.count
        opaqueBytes[.server, default: 0] += serverHeld
        return watchClientHello(clientHeld, time: time)
    }

    /// STARTTLS succeeded (or implicit TLS began) and someone who holds the keys (the proxy, a key
    /// log) goes on feeding plaintext.
    mutating func startTLSDecoded() { encrypted = true }

    /// TLS the source could not decrypt: both directions are counted from now on, starting with
    /// what the source saw already.
    mutating func undecryptable(bytesSoFar: [Direction: Int]) {
        encrypted = true
        opaque = [.client, .server]
        for (dir, count) in bytesSoFar where count > 0 { opaqueBytes[dir, default: 0] += count }
    }

    /// What the bytes each side sent right after STARTTLS's OK reveal: a server that went on in
    /// plaintext, a client that pipelined commands behind STARTTLS. `tlsRecordsExpected`: the
    /// TLS is not decoded here (a capture), so TLS records are what should follow; else (the
    /// proxy terminates it) nothing should have arrived yet.
    static func findingsAfterStartTLS(serverHeld: [UInt8], clientHeld: [UInt8], tlsRecordsExpected: Bool)
        -> (server: Lint?, client: Lint?)
    {
        // 0x16: a TLS handshake record.
        func unexpected(_ held: [UInt8]) -> Bool {
            guard let first = held.first else { return false }
            return !tlsRecordsExpected || first != 0x16
        }
        return (
            server: unexpected(serverHeld) ? .plaintextAfterStartTLS(bytes: serverHeld.count) : nil,
            client: unexpected(clientHeld) ? .pipelinedAfterStartTLS(bytes: clientHeld.count) : nil
        )
    }

    /// The `tls` event still waiting for a ClientHello, when the session ends without one.
    mutating func flushTLS(time: Timestamp) -> DecodedEvent? { tlsEvent(hello: nil, time: time) }

    private mutating func watchClientHello(_ bytes: [UInt8], time: Timestamp) -> DecodedEvent? {
        guard pendingTLS != nil else { return nil }
        let limit = TLSClientHello.readLimit
        if helloBytes.count < limit { helloBytes += bytes.prefix(limit - helloBytes.count) }
        switch TLSClientHello.parse(helloBytes) {
        case .needMore where helloBytes.count < limit: return nil
        case .hello(let hello): return tlsEvent(hello: hello, time: time)
        default: return tlsEvent(hello: nil, time: time)
        }
    }

    private mutating func tlsEvent(hello: TLSClientHello?, time: Timestamp) -> DecodedEvent? {
        guard let pending = pendingTLS else { return nil }
        pendingTLS = nil
        helloBytes = []
        let tls = TLSEvent(
            leg: "client", phase: pending.phase, sni: hello?.serverName, versionsOffered: hello?.versions)
        return DecodedEvent(.tls(tls), dir: nil, time: pending.time, annotation: pending.note)
    }

    /// COMPRESS=DEFLATE completed: from now on `dir`'s bytes are inflated; `held`, what its framer
    /// held back, comes back inflated (`frameInflated`), or `corrupt` when the stream is.
    mutating func startInflating(_ dir: Direction, held: [UInt8]) -> Delivery {
        if dir == .server { compressed = true }
        let inflater: DeflateInflater
        do { inflater = try DeflateInflater() } catch {
            return .corrupt(compressionFailed(dir, count: held.count, error))
        }
        inflaters[dir] = inflater
        guard !held.isEmpty else { return .frameInflated([]) }
        do { return .frameInflated(try inflater.inflate(held)) } catch {
            return .corrupt(compressionFailed(dir, count: held.count, error))
        }
    }

    /// COMPRESS completed in a source written already inflated (a transcript).
    mutating func compressionAlreadyInflated() { compressed = true }

    /// Bytes after the end of each direction's DEFLATE stream (not IMAP; only counted).
    var bytesAfterDeflateEnd: [(Direction, Int)] {
        Direction.allCases.compactMap { dir in
            inflaters[dir].flatMap { $0.bytesAfterEnd > 0 ? (dir, $0.bytesAfterEnd) : nil }
        }
    }

    private mutating func compressionFailed(_ dir: Direction, count: Int, _ error: Error) -> UnparsedEvent {
        inflaters[dir] = nil
        opaque.insert(dir)
        opaqueBytes[dir, default: 0] += count
        let reason = "corrupt DEFLATE stream (\(error)); the rest of this direction cannot be decoded"
        return UnparsedEvent(reason: reason, raw: "‹\(count) compressed bytes›")
    }
}
