import IMAPCore
import IMAPTranscript
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

public typealias IMAPDirection = IMAPCore.Direction

/// The one place proxied sessions meet the shared outputs: sinks are not thread-safe, and
/// sessions decode on different event loops.
public final class EventPublisher: @unchecked Sendable {
    private let lock = NIOLock()
    private let pipeline: EventPipeline
    private var sessions = 0
    /// `--pcap`: also one of the pipeline's sinks; fed the raw bytes here as well.
    let pcap: PcapRecorder?

    public init(pipeline: EventPipeline, pcap: PcapRecorder? = nil) {
        self.pipeline = pipeline
        self.pcap = pcap
    }

    func nextSessionID() -> String {
        lock.withLock {
            sessions += 1
            return "p\(sessions)"
        }
    }

    func publish(_ events: [DecodedEvent], session: String) {
        guard !events.isEmpty else { return }
        lock.withLock { pipeline.publish(events, session: session) }
    }

    /// Flushes every sink (at shutdown, once the proxy's event loops have stopped: each session
    /// has published its last events then).
    public func finish() {
        lock.withLock { pipeline.finish() }
    }
}

/// One proxied connection's decoder, fed on the session's event loop (both legs share it) right
/// after the relay flushed what was read: the bytes are on their way before the decoder looks at
/// them, and decoding never changes, delays or drops one. Decoding inline costs the relay's
/// thread a little time per read, and that is the point: a hand-off to a decode thread cost a
/// thread wake-up, a lock and a copy per read, more than twice the CPU per byte of a plain TLS
/// relay (scripts/bench). Its backpressure is the relay's own: the next read starts once this
/// one is decoded, so nothing waits undecoded outside the decoder, whose buffers are bounded
/// (`FramerLimits`). Every call comes from the session's loop, which is what makes the unchecked
/// Sendable true; debug builds check it. Arrival times are taken here too.
final class SessionTap: @unchecked Sendable {
    let id: String
    /// The session's number in the proxy (1 for `p1`): fault rules' `session N`.
    var number: Int { Int(id.dropFirst()) ?? 0 }
    private let decoder: SessionDecoder
    private let publisher: EventPublisher
    /// The session's event loop; nil in tests that drive the tap from one thread.
    private let loop: EventLoop?
    private var closedLegs: Set<IMAPDirection> = []
    /// The side that closed first: its half-close (FIN) counts, not only its connection's end.
    private var firstClosed: IMAPDirection?
    private var legEndings: [IMAPDirection: SessionClose.Ending] = [:]
    /// Whether the client sent anything (a port check sends nothing).
    private var clientSpoke = false
    private var ended = false

    init(publisher: EventPublisher, options: DecoderOptions, loop: EventLoop? = nil) {
        self.publisher = publisher
        self.loop = loop
        self.id = publisher.nextSessionID()
        self.decoder = SessionDecoder(options: options)
    }

    static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), microseconds: Int64(ts.tv_nsec / 1000))
    }

    private func onLoop() { assert(loop?.inEventLoop ?? true, "SessionTap used off its session's event loop") }

    func start(client: String, server: String, upstream: String, upstreamVerification: String? = nil) {
        onLoop()
        publisher.publish(
            decoder.start(
                client: client, server: server, source: "proxy", time: Self.now(), upstream: upstream,
                upstreamVerification: upstreamVerification), session: id)
    }

    func feed(_ dir: IMAPDirection, _ buffer: ByteBuffer) {
        feed(dir, buffer.readableBytesView)
    }

    /// Bytes one side sent, as the other side got them (with faults, what the relay let through,
    /// at the fault engine's `time`).
    func feed(_ dir: IMAPDirection, _ bytes: some Collection<UInt8>, time: Timestamp? = nil) {
        onLoop()
        if dir == .client && !bytes.isEmpty { clientSpoke = true }
        guard !ended else { return }
        let timestamp = time ?? Self.now()
        publisher.pcap?.raw(session: id, dir, bytes, time: timestamp)
        publisher.publish(decoder.feed(dir, bytes, time: timestamp), session: id)
        publisher.pcap?.trim(session: id, time: timestamp, mayHoldSecret: decoder.pendingMayHoldSecret)
    }

    /// Bytes imapscope itself sent (a BYE when the upstream is unreachable, an answer to STARTTLS).
    func proxySent(_ text: String) { proxySent(Array(text.utf8)) }

    func proxySent(_ bytes: [UInt8], time: Timestamp? = nil) {
        onLoop()
        let timestamp = time ?? Self.now()
        publisher.pcap?.raw(session: id, .proxy, bytes, time: timestamp)
        publisher.publish(decoder.feed(.proxy, bytes, time: timestamp), session: id)
    }

    /// A fault `--fault` rules injected: a `fault` event, in order with the bytes.
    func fault(_ fault: FaultEvent, time: Timestamp) {
        onLoop()
        guard !ended else { return }
        publisher.publish([DecodedEvent(.fault(fault), dir: .proxy, time: time)], session: id)
    }

    func tls(_ report: TLSReport) {
        onLoop()
        if report.leg == .client, report.phase == .established { clientSpoke = true }
        let event = DecodedEvent(.tls(report.event), dir: nil, time: Self.now(), annotation: report.annotation)
        publisher.publish([event], session: id)
    }

    /// imapscope upgraded the server leg itself (`imap+starttls://`).
    func upstreamUpgraded() {
        onLoop()
        publisher.publish(decoder.upstreamUpgraded(time: Self.now()), session: id)
    }

    /// Both legs finished their TLS handshakes after STARTTLS: plaintext decoding resumes.
    func tlsEstablished() {
        onLoop()
        publisher.publish(decoder.tlsEstablished(time: Self.now()), session: id)
    }

    func lint(_ code: String, _ message: String) { lint(.source(code: code, message: message)) }

    func lint(_ finding: Lint) {
        onLoop()
        publisher.publish(decoder.sourceLint(finding, dir: nil, time: Self.now()), session: id)
    }

    /// A leg's error (a reset, TLS closed without close_notify), kept for the session-end reason.
    func legFailed(_ dir: IMAPDirection, _ error: Error) {
        onLoop()
        if legEndings[dir] == nil { legEndings[dir] = SessionClose.ending(of: error) }
        if firstClosed == nil { firstClosed = dir }
    }

    /// A leg's peer half-closed (FIN): that side closed first, whatever the other does next.
    func peerClosed(_ dir: IMAPDirection) {
        onLoop()
        if firstClosed == nil { firstClosed = dir }
    }

    /// A leg closed. The relay closes the other one in turn; the reason names who went first and how.
    func closed(_ dir: IMAPDirection) {
        onLoop()
        if firstClosed == nil { firstClosed = dir }
        closedLegs.insert(dir)
        guard closedLegs.count == 2, let first = firstClosed else { return }
        let close = SessionClose(
            first: first, ending: legEndings[first] ?? .closed, afterLogout: decoder.state == .logout,
            clientSpoke: clientSpoke)
        end(reason: close.reason, time: Self.now())
    }

    func finish(reason: String, time: Timestamp? = nil) {
        onLoop()
        end(reason: reason, time: time ?? Self.now())
    }

    private func end(reason: String, time: Timestamp) {
        guard !ended else { return }
        ended = true
        publisher.publish(decoder.finish(reason: reason, time: time), session: id)
    }
}
