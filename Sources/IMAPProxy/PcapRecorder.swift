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
/// After COMPRESS=DEFLATE the stream is written as relayed (compressed); `read` inflates it.
public final class PcapRecorder: EventSink, @unchecked Sendable {
    /// Bytes queued per session beyond which the oldest go out before their event (a long
    /// literal): as relayed, or as filler when the decoder says that line may hold a secret.
    public static let holdLimit = 4 << 20
    static let filler = UInt8(ascii: "*")

    private struct Chunk {
        var dir: IMAPDirection
        var start: Int      // offset of bytes[0] in its direction's stream
        var bytes: [UInt8]
        var time: Timestamp // when it arrived (packets carry this, not when they were released)
    }

    private final class Connection {
        var tcp: SyntheticTCPConnection?
        var queue: [Chunk] = []
        var head = 0
        var queued = 0
        var received: [IMAPDirection: Int] = [:]
        var accounted: [IMAPDirection: Int] = [:]
        var secrets: [IMAPDirection: [Range<Int>]] = [:]
        var passthrough = false
    }

    private let lock = NIOLock()
    private let writer: PcapNGWriter
    private var connections: [String: Connection] = [:]
    private var closed = false

    public init(path: String) throws {
        writer = try PcapNGWriter(path: path, application: PcapNGWriter.proxyApplication,
                                  comment: "TLS terminated by imapscope; secrets overwritten with '*' unless --show-secrets")
    }

    /// Bytes a leg received, called before the decoder sees them. `.proxy` is imapscope's own
    /// words to the client: no secret, written in turn.
    func raw(session: String, _ dir: IMAPDirection, _ bytes: some Collection<UInt8>, time: Timestamp) {
        lock.withLock {
            guard !closed else { return }
            let c = connection(session)
            let start = c.received[dir, default: 0]
            let chunk = Chunk(dir: dir, start: start, bytes: Array(bytes), time: time)
            guard !chunk.bytes.isEmpty else { return }
            c.received[dir] = start + chunk.bytes.count
            c.queue.append(chunk)
            c.queued += chunk.bytes.count
            if dir == .proxy || c.passthrough { c.accounted[dir] = c.received[dir] }
            drain(c, time: time)
        }
    }

    /// After the decoder ran: no more than `holdLimit` bytes stay queued.
    func trim(session: String, time: Timestamp, mayHoldSecret: (IMAPDirection) -> Bool) {
        lock.withLock {
            guard !closed, let c = connections[session], c.queued > Self.holdLimit else { return }
            while c.queued > Self.holdLimit / 2, c.head < c.queue.count {
                var chunk = fillSecrets(c, c.queue[c.head])
                if mayHoldSecret(chunk.dir) {
                    chunk.bytes = [UInt8](repeating: Self.filler, count: chunk.bytes.count)
                }
                pop(c, chunk, time: time)
            }
        }
    }

    public func write(_ e: Event) {
        lock.withLock {
            guard !closed else { return }
            let c = connection(e.session)
            switch e.kind {
            case .sessionStart:
                open(c, client: e["client"]?.stringValue.flatMap(Endpoint.init(parsing:)),
                     server: e["server"]?.stringValue.flatMap(Endpoint.init(parsing:)), time: e.time)
            case .compress:
                // Compressed from here on: no event maps onto the relayed bytes any more.
                c.passthrough = true
                c.accounted = c.received
                drain(c, time: e.time)
            case .sessionEnd:
                c.accounted = c.received
                drain(c, time: e.time)
                if var tcp = c.tcp {
                    for f in tcp.fin(fromClient: true) + tcp.fin(fromClient: false) { writer.write(f, time: e.time) }
                    c.tcp = tcp
                }
                connections[e.session] = nil
                writer.flush()
            default:
                guard !c.passthrough, let dir = e.dir, dir != .proxy, let n = e["bytes"]?.intValue, n > 0 else { return }
                account(c, dir, Int(n), wire: e.wire)
                drain(c, time: e.time)
            }
        }
    }

    public func finish() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            for (_, c) in connections {
                c.accounted = c.received
                drain(c, time: SessionTap.now())
            }
            connections.removeAll()
            writer.close()
        }
    }

    /// The next `n` bytes of `dir` are accounted for; notes where their secrets lie.
    private func account(_ c: Connection, _ dir: IMAPDirection, _ n: Int, wire: [WirePiece]?) {
        var at = c.accounted[dir, default: 0]
        c.accounted[dir] = at + n
        guard let wire, wire.contains(where: { if case .bytes = $0 { return false }; return true }) else { return }
        for piece in wire {
            let len = piece.wireLength
            switch piece {
            case .secret: c.secrets[dir, default: []].append(at..<(at + len))
            case .secretLiteral(let h, _, _, _): c.secrets[dir, default: []].append((at + len - h.size)..<(at + len))
            case .bytes, .elidedLiteral: break
            }
            at += len
        }
    }

    /// Writes queued chunks from the front while they are accounted for (splitting one that is
    /// in part), secrets filled.
    private func drain(_ c: Connection, time: Timestamp) {
        while c.head < c.queue.count {
            var chunk = c.queue[c.head]
            let done = c.accounted[chunk.dir, default: 0] - chunk.start
            guard done > 0 else { break }
            if done < chunk.bytes.count {
                let rest = Chunk(dir: chunk.dir, start: chunk.start + done, bytes: Array(chunk.bytes[done...]), time: chunk.time)
                chunk.bytes.removeLast(chunk.bytes.count - done)
                c.queue[c.head] = rest
                c.queued -= chunk.bytes.count
                emit(c, fillSecrets(c, chunk), time: time)
                break
            }
            pop(c, fillSecrets(c, chunk), time: time)
        }
        if c.head > 256 { c.queue.removeFirst(c.head); c.head = 0 }
    }

    private func pop(_ c: Connection, _ chunk: Chunk, time: Timestamp) {
        c.head += 1
        c.queued -= chunk.bytes.count
        emit(c, chunk, time: time)
    }

    private func fillSecrets(_ c: Connection, _ chunk: Chunk) -> Chunk {
        guard var ranges = c.secrets[chunk.dir], !ranges.isEmpty else { return chunk }
        var out = chunk
        let end = chunk.start + chunk.bytes.count
        for r in ranges {
            var lo = max(r.lowerBound, chunk.start), hi = min(r.upperBound, end)
            guard lo < hi else { continue }
            // A quoted string keeps its quotes.
            if r.count >= 2, lo == r.lowerBound, out.bytes[lo - chunk.start] == 0x22 { lo += 1 }
            if r.count >= 2, hi == r.upperBound, out.bytes[hi - 1 - chunk.start] == 0x22 { hi -= 1 }
            for i in lo..<max(lo, hi) { out.bytes[i - chunk.start] = Self.filler }
        }
        ranges.removeAll { $0.upperBound <= end }
        c.secrets[chunk.dir] = ranges
        return out
    }

    /// The made-up connection's handshake, on the session's endpoints (placeholders if unknown).
    private func open(_ c: Connection, client: Endpoint?, server: Endpoint?, time: Timestamp) {
        guard c.tcp == nil else { return }
        var tcp = SyntheticTCPConnection(client: client ?? Endpoint(parsing: "0.0.0.0:1")!, server: server ?? Endpoint(parsing: "0.0.0.0:143")!)
        for f in tcp.handshake() { writer.write(f, time: time) }
        c.tcp = tcp
    }

    private func emit(_ c: Connection, _ chunk: Chunk, time: Timestamp) {
        if c.tcp == nil { open(c, client: nil, server: nil, time: time) }
        guard var tcp = c.tcp else { return }
        for f in tcp.data(fromClient: chunk.dir == .client, chunk.bytes) { writer.write(f, time: chunk.time) }
        c.tcp = tcp
    }

    private func connection(_ s: String) -> Connection {
        if let c = connections[s] { return c }
        let c = Connection()
        connections[s] = c
        return c
    }
}
