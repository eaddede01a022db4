import IMAPCapture
import IMAPCore
import IMAPTranscript
import NIOConcurrencyHelpers

/// `--pcap FILE`: what the proxy decrypted, as a pcapng of made-up TCP connections on each
/// session's real client and server endpoints, which `imapscope read` and tshark both open.
///
/// Raw bytes wait in one queue per session, in the order they arrived from either side, until
/// the decoder's events account for them: an event's redacted wire pieces say where its secrets
/// lie, and those bytes are overwritten with same-length filler (`*`; a quoted string keeps its
/// quotes), so lengths, sequence numbers and literal sizes stay true. One queue for both
/// directions keeps their order: a client's `{8}` line goes out before the server's `+`, even
/// though its event comes only with the literal. With `--show-secrets` no piece is secret.
/// After COMPRESS=DEFLATE each direction is inflated before it is queued (the decoder's events
/// count inflated bytes), so the filler applies there too and tshark reads the commands; the
/// section header says so (`PcapNGWriter.decompressedComment`) and `read` does not inflate.
public final class PcapRecorder: EventSink, @unchecked Sendable {
    /// It writes the relayed bytes, never a digest of them.
    public var readsDigests: Bool { false }
    /// Bytes queued per session beyond which the oldest go out before their event (a long
    /// literal): as relayed, or as filler when the decoder says that line may hold a secret.
    public static let holdLimit = 4 << 20
    static let filler = UInt8(ascii: "*")

    private struct Chunk {
        var dir: IMAPDirection
        var start: Int  // offset of bytes[0] in its direction's stream
        var bytes: [UInt8]
        var time: Timestamp  // when it arrived (packets carry this, not when they were released)
    }

    /// Where a secret lies in a direction's stream, and how to overwrite it.
    private struct Secret {
        var range: Range<Int>
        /// A SASL message: base64, overwritten with base64 (`A`, `=` kept) so that it still
        /// reads as one (a `*` line would be the client cancelling the exchange).
        var base64: Bool
    }

    private final class Connection {
        var tcp: SyntheticTCPConnection?
        var queue: [Chunk] = []
        var head = 0
        var queued = 0
        var received: [IMAPDirection: Int] = [:]
        var accounted: [IMAPDirection: Int] = [:]
        var secrets: [IMAPDirection: [Secret]] = [:]
        /// After COMPRESS: each direction's DEFLATE stream, inflated before it is queued.
        var inflaters: [IMAPDirection: DeflateInflater] = [:]
        /// Directions whose DEFLATE stream could not be inflated: the rest is filler (a stored
        /// block may carry a password in clear), accounted as it arrives (no event maps onto it).
        var uninflatable: Set<IMAPDirection> = []
    }

    private let lock = NIOLock()
    private let writer: PcapNGWriter
    private var connections: [String: Connection] = [:]
    private var closed = false

    public init(path: String) throws {
        let about = "TLS terminated by imapscope; secrets overwritten with '*' unless --show-secrets"
        writer = try PcapNGWriter(
            path: path, application: PcapNGWriter.proxyApplication,
            comments: [about, PcapNGWriter.decompressedComment])
    }

    /// Bytes a leg received, called before the decoder sees them. `.proxy` is imapscope's own
    /// words to the client: no secret, written in turn.
    func raw(session: String, _ dir: IMAPDirection, _ bytes: some Collection<UInt8>, time: Timestamp) {
        lock.withLock {
            guard !closed else { return }
            let connection = self.connection(session)
            let data = plaintext(connection, dir, Array(bytes))
            guard !data.isEmpty else { return }
            let start = connection.received[dir, default: 0]
            connection.received[dir] = start + data.count
            connection.queue.append(Chunk(dir: dir, start: start, bytes: data, time: time))
            connection.queued += data.count
            if dir == .proxy || connection.uninflatable.contains(dir) {
                connection.accounted[dir] = connection.received[dir]
            }
            drain(connection, time: time)
        }
    }

    /// After the decoder ran: no more than `holdLimit` bytes stay queued.
    func trim(session: String, time: Timestamp, mayHoldSecret: (IMAPDirection) -> Bool) {
        lock.withLock {
            guard !closed, let connection = connections[session], connection.queued > Self.holdLimit else { return }
            while connection.queued > Self.holdLimit / 2, connection.head < connection.queue.count {
                var chunk = fillSecrets(connection, connection.queue[connection.head])
                if mayHoldSecret(chunk.dir) {
                    chunk.bytes = [UInt8](repeating: Self.filler, count: chunk.bytes.count)
                }
                pop(connection, chunk, time: time)
            }
        }
    }

    public func write(_ event: Event) {
        lock.withLock {
            guard !closed else { return }
            let connection = self.connection(event.session)
            switch event.body {
            case .sessionStart(let start):
                // Implicit TLS on the client leg: the connection is marked as decrypted TLS, so
                // that `read` reports it as TLS and lints no cleartext in it.
                open(
                    connection, client: Endpoint(parsing: start.client), server: Endpoint(parsing: start.server),
                    decryptedTLS: start.transport == "tls", time: event.time)
            case .compress:
                startInflating(connection)
                drain(connection, time: event.time)
            case .sessionEnd:
                connection.accounted = connection.received
                drain(connection, time: event.time)
                if var tcp = connection.tcp {
                    for frame in tcp.fin(fromClient: true) + tcp.fin(fromClient: false) {
                        writer.write(frame, time: event.time)
                    }
                    connection.tcp = tcp
                }
                connections[event.session] = nil
                writer.flush()
            default:
                guard let dir = event.dir, dir != .proxy, !connection.uninflatable.contains(dir),
                    let byteCount = event.bytes, byteCount > 0
                else { return }
                let sasl =
                    event.kind == .sasl || (event.kind == .command && event["name"]?.stringValue == "AUTHENTICATE")
                account(connection, dir, byteCount, wire: event.wire, base64: sasl)
                drain(connection, time: event.time)
            }
        }
    }

    public func finish() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            for (_, connection) in connections {
                connection.accounted = connection.received
                drain(connection, time: SessionTap.now())
            }
            connections.removeAll()
            writer.close()
        }
    }

    /// What the decoder makes of `bytes`: inflated after COMPRESS; filler once the direction's
    /// DEFLATE stream turned out corrupt.
    private func plaintext(_ connection: Connection, _ dir: IMAPDirection, _ bytes: [UInt8]) -> [UInt8] {
        if connection.uninflatable.contains(dir) { return [UInt8](repeating: Self.filler, count: bytes.count) }
        guard let inflater = connection.inflaters[dir] else { return bytes }
        do {
            return try inflater.inflate(bytes)
        } catch {
            connection.inflaters[dir] = nil
            connection.uninflatable.insert(dir)
            return [UInt8](repeating: Self.filler, count: bytes.count)
        }
    }

    /// COMPRESS=DEFLATE took effect (the server's OK is accounted for, and the client's command):
    /// what is queued past each direction's accounted bytes is compressed. It is replaced by its
    /// inflated bytes, in place (arrival order is kept), and each direction's stream offsets go
    /// on in inflated bytes, as the decoder's do.
    private func startInflating(_ connection: Connection) {
        guard connection.inflaters.isEmpty, connection.uninflatable.isEmpty else { return }
        let deflated: [IMAPDirection] = [.client, .server]
        for dir in deflated {
            if let inflater = try? DeflateInflater() {
                connection.inflaters[dir] = inflater
            } else {
                connection.uninflatable.insert(dir)
            }
        }
        let plainEnd = connection.accounted
        var next: [IMAPDirection: Int] = [:]
        var queue: [Chunk] = []
        for chunk in connection.queue[connection.head...] {
            guard deflated.contains(chunk.dir) else {
                queue.append(chunk)
                continue
            }
            let boundary = plainEnd[chunk.dir, default: 0]
            let plain = max(0, min(chunk.bytes.count, boundary - chunk.start))
            if plain > 0 {
                let kept = Array(chunk.bytes[..<plain])
                queue.append(Chunk(dir: chunk.dir, start: chunk.start, bytes: kept, time: chunk.time))
            }
            guard plain < chunk.bytes.count else { continue }
            let inflated = plaintext(connection, chunk.dir, Array(chunk.bytes[plain...]))
            guard !inflated.isEmpty else { continue }
            let at = next[chunk.dir, default: boundary]
            queue.append(Chunk(dir: chunk.dir, start: at, bytes: inflated, time: chunk.time))
            next[chunk.dir] = at + inflated.count
        }
        connection.queue = queue
        connection.head = 0
        connection.queued = queue.reduce(0) { $0 + $1.bytes.count }
        for dir in deflated { connection.received[dir] = next[dir] ?? plainEnd[dir] ?? 0 }
        for dir in connection.uninflatable { connection.accounted[dir] = connection.received[dir] }
    }

    /// The next `n` bytes of `dir` are accounted for; notes where their secrets lie.
    private func account(
        _ connection: Connection, _ dir: IMAPDirection, _ byteCount: Int, wire: [WirePiece]?, base64: Bool
    ) {
        var at = connection.accounted[dir, default: 0]
        connection.accounted[dir] = at + byteCount
        guard let wire,
            wire.contains(where: {
                if case .bytes = $0 { return false }
                return true
            })
        else { return }
        for piece in wire {
            let len = piece.wireLength
            switch piece {
            case .secret: connection.secrets[dir, default: []].append(Secret(range: at..<(at + len), base64: base64))
            case .secretLiteral(let header, _, _, _):
                connection.secrets[dir, default: []].append(
                    Secret(range: (at + len - header.size)..<(at + len), base64: base64))
            case .bytes, .elidedLiteral: break
            }
            at += len
        }
    }

    /// Writes queued chunks from the front while they are accounted for (splitting one that is
    /// in part), secrets filled.
    private func drain(_ connection: Connection, time: Timestamp) {
        while connection.head < connection.queue.count {
            var chunk = connection.queue[connection.head]
            let done = connection.accounted[chunk.dir, default: 0] - chunk.start
            guard done > 0 else { break }
            if done < chunk.bytes.count {
                let rest = Chunk(
                    dir: chunk.dir, start: chunk.start + done, bytes: Array(chunk.bytes[done...]), time: chunk.time)
                chunk.bytes.removeLast(chunk.bytes.count - done)
                connection.queue[connection.head] = rest
                connection.queued -= chunk.bytes.count
                emit(connection, fillSecrets(connection, chunk), time: time)
                break
            }
            pop(connection, fillSecrets(connection, chunk), time: time)
        }
        if connection.head > 256 {
            connection.queue.removeFirst(connection.head)
            connection.head = 0
        }
    }

    /// Base64 stays base64 of the same length: padding and line breaks stay, every other byte is `A`.
    static func base64Filler(_ byte: UInt8) -> UInt8 {
        byte == UInt8(ascii: "=") || byte == 0x0D || byte == 0x0A ? byte : UInt8(ascii: "A")
    }

    private func pop(_ connection: Connection, _ chunk: Chunk, time: Timestamp) {
        connection.head += 1
        connection.queued -= chunk.bytes.count
        emit(connection, chunk, time: time)
    }

    private func fillSecrets(_ connection: Connection, _ chunk: Chunk) -> Chunk {
        guard var ranges = connection.secrets[chunk.dir], !ranges.isEmpty else { return chunk }
        var out = chunk
        let end = chunk.start + chunk.bytes.count
        for secret in ranges {
            let range = secret.range
            var lo = max(range.lowerBound, chunk.start)
            var hi = min(range.upperBound, end)
            guard lo < hi else { continue }
            // A quoted string keeps its quotes.
            if range.count >= 2, lo == range.lowerBound, out.bytes[lo - chunk.start] == 0x22 { lo += 1 }
            if range.count >= 2, hi == range.upperBound, out.bytes[hi - 1 - chunk.start] == 0x22 { hi -= 1 }
            for i in lo..<max(lo, hi) {
                let byte = out.bytes[i - chunk.start]
                out.bytes[i - chunk.start] = secret.base64 ? Self.base64Filler(byte) : Self.filler
            }
        }
        ranges.removeAll { $0.range.upperBound <= end }
        connection.secrets[chunk.dir] = ranges
        return out
    }

    /// The made-up connection's handshake, on the session's endpoints (placeholders if unknown).
    private func open(
        _ connection: Connection, client: Endpoint?, server: Endpoint?, decryptedTLS: Bool = false, time: Timestamp
    ) {
        guard connection.tcp == nil else { return }
        var tcp = SyntheticTCPConnection(
            client: client ?? Endpoint(ip: .v4(0), port: 1),
            server: server ?? Endpoint(ip: .v4(0), port: 143))
        let frames = tcp.handshake(markedAsDecryptedTLS: decryptedTLS)
        for (index, frame) in frames.enumerated() {
            // The SYN also carries a comment saying so, for people reading the file in Wireshark.
            let comment = decryptedTLS && index == 0 ? SyntheticTCPConnection.decryptedTLSComment : nil
            writer.write(frame, time: time, comment: comment)
        }
        connection.tcp = tcp
    }

    private func emit(_ connection: Connection, _ chunk: Chunk, time: Timestamp) {
        if connection.tcp == nil { open(connection, client: nil, server: nil, time: time) }
        guard var tcp = connection.tcp else { return }
        for frame in tcp.data(fromClient: chunk.dir == .client, chunk.bytes) { writer.write(frame, time: chunk.time) }
        connection.tcp = tcp
    }

    private func connection(_ session: String) -> Connection {
        if let connection = connections[session] { return connection }
        let connection = Connection()
        connections[session] = connection
        return connection
    }
}
