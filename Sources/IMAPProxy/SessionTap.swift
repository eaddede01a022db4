import IMAPCore
import IMAPTranscript
import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

public typealias IMAPDirection = IMAPCore.Direction

/// The one place proxied sessions meet the shared outputs: sinks are not thread-safe, and
/// sessions run on different event loops.
public final class EventPublisher: @unchecked Sendable {
    private let lock = NIOLock()
    private let pipeline: EventPipeline
    private var sessions = 0
    /// `--pcap`: also one of the pipeline's sinks; fed the raw bytes here as well.
    let pcap: PcapRecorder?

    public init(pipeline: EventPipeline, pcap: PcapRecorder? = nil) { self.pipeline = pipeline; self.pcap = pcap }

    func nextSessionID() -> String { lock.withLock { sessions += 1; return "p\(sessions)" } }

    func publish(_ events: [DecodedEvent], session: String) {
        guard !events.isEmpty else { return }
        lock.withLock { pipeline.publish(events, session: session) }
    }

    /// Flushes every sink (at shutdown).
    public func finish() { lock.withLock { pipeline.finish() } }
}

/// One proxied connection's decoder. Lives on the connection's event loop (both legs share
/// it), which is what makes the unchecked Sendable true.
final class SessionTap: @unchecked Sendable {
    let id: String
    private let decoder: SessionDecoder
    private let publisher: EventPublisher
    private var closedLegs: Set<IMAPDirection> = []
    private var firstClosed: IMAPDirection?
    private var legErrors: [IMAPDirection: String] = [:]
    private var ended = false

    init(publisher: EventPublisher, options: DecoderOptions) {
        self.publisher = publisher
        self.id = publisher.nextSessionID()
        self.decoder = SessionDecoder(options: options)
    }

    static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), microseconds: Int64(ts.tv_nsec / 1000))
    }

    func start(client: String, server: String, extra: [(String, JSONValue)]) {
        publisher.publish(decoder.start(client: client, server: server, source: "proxy", time: Self.now(), extra: extra), session: id)
    }

    func feed(_ dir: IMAPDirection, _ buffer: ByteBuffer) {
        guard !ended else { return }
        publisher.pcap?.raw(session: id, dir, buffer.readableBytesView)
        publisher.publish(decoder.feed(dir, buffer.readableBytesView, time: Self.now()), session: id)
        publisher.pcap?.trim(session: id, mayHoldSecret: decoder.pendingMayHoldSecret)
    }

    /// Bytes imapscope itself sent (a BYE when the upstream is unreachable).
    func proxySent(_ text: String) {
        publisher.pcap?.raw(session: id, .proxy, Array(text.utf8))
        publisher.publish(decoder.feed(.proxy, Array(text.utf8), time: Self.now()), session: id)
    }

    func tls(leg: String, fields: [(String, JSONValue)], annotation: String) {
        let e = DecodedEvent(kind: .tls, dir: nil, time: Self.now(), fields: [("leg", .string(leg))] + fields, annotation: annotation)
        publisher.publish([e], session: id)
    }

    /// imapscope upgraded the server leg itself (`imap+starttls://`).
    func upstreamUpgraded() {
        publisher.publish(decoder.upstreamUpgraded(time: Self.now()), session: id)
    }

    /// Both legs finished their TLS handshakes after STARTTLS: plaintext decoding resumes.
    func tlsEstablished() {
        publisher.publish(decoder.tlsEstablished(time: Self.now()), session: id)
    }

    func lint(_ code: String, _ message: String) {
        publisher.publish(decoder.sourceLint(code: code, message: message, dir: nil, time: Self.now()), session: id)
    }

    /// A leg's socket error (a reset, say), kept for the session-end reason.
    func legFailed(_ dir: IMAPDirection, _ error: Error) {
        guard legErrors[dir] == nil else { return }
        if let io = error as? IOError { legErrors[dir] = String(cString: strerror(io.errnoCode)) } else { legErrors[dir] = "\(error)" }
    }

    /// A leg closed. The relay closes the other one in turn; the reason names who went first.
    func closed(_ dir: IMAPDirection) {
        if closedLegs.isEmpty { firstClosed = dir }
        closedLegs.insert(dir)
        guard closedLegs.count == 2, let first = firstClosed else { return }
        let (who, other) = first == .client ? ("client", "server") : ("server", "client")
        let how = legErrors[first].map { "the \(who)'s connection failed: \($0)" } ?? "the \(who) closed the connection"
        finish(reason: "\(how); imapscope closed the \(other) leg")
    }

    func finish(reason: String) {
        guard !ended else { return }
        ended = true
        publisher.publish(decoder.finish(reason: reason, time: Self.now()), session: id)
    }
}
