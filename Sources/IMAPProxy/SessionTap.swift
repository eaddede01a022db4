import Dispatch
import IMAPCore
import IMAPTranscript
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

public typealias IMAPDirection = IMAPCore.Direction

/// The one place proxied sessions meet the shared outputs: sinks are not thread-safe, and
/// sessions decode on different threads.
public final class EventPublisher: @unchecked Sendable {
    private let lock = NIOLock()
    private let pipeline: EventPipeline
    private var sessions = 0
    /// `--pcap`: also one of the pipeline's sinks; fed the raw bytes here as well.
    let pcap: PcapRecorder?
    /// Decoding still queued in some session; `finish` waits for it.
    let work = DispatchGroup()

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

    /// Waits for every queued decoding, then flushes every sink (at shutdown).
    public func finish() {
        work.wait()
        lock.withLock { pipeline.finish() }
    }
}

/// One proxied connection's decoder. The relay hands it copies on the connection's event loop;
/// decoding runs on a serial queue of its own, so a slow decode (SHA-256 of a large body) never
/// holds up the relay. Every call is queued in order and the decoder is only touched there,
/// which is what makes the unchecked Sendable true. The queue is bounded: once more than
/// `lagLimit` bytes wait, the relay stops reading both legs until decoding is back under
/// `resumeBelow` (`admitsRead`, `onDrained`), so a decoder that falls behind slows the session
/// instead of growing a buffer. All sessions of a proxy also share one `UndecodedBudget`, which
/// pauses every session's reads while the total waiting is too large. Arrival times are taken
/// on the event loop.
final class SessionTap: @unchecked Sendable {
    static let lagLimit = 4 << 20
    static let resumeBelow = 1 << 20

    let id: String
    /// The session's number in the proxy (1 for `p1`): fault rules' `session N`.
    var number: Int { Int(id.dropFirst()) ?? 0 }
    private let decoder: SessionDecoder
    private let publisher: EventPublisher
    private let budget: UndecodedBudget
    private let queue: DispatchQueue
    /// Bytes queued for decoding, and what resumes the relay's reads once they are few again
    /// (set by the relay, cleared when its channels close: the event loop may be gone then).
    private struct Lag {
        var bytes = 0
        var onDrained: (@Sendable () -> Void)?
    }
    private let lag = NIOLockedValueBox(Lag())
    // Touched on the queue only:
    private var closedLegs: Set<IMAPDirection> = []
    /// The side that closed first: its half-close (FIN) counts, not only its connection's end.
    private var firstClosed: IMAPDirection?
    private var legEndings: [IMAPDirection: SessionClose.Ending] = [:]
    /// Whether the client sent anything (a port check sends nothing).
    private var clientSpoke = false
    private var ended = false

    init(publisher: EventPublisher, options: DecoderOptions, budget: UndecodedBudget) {
        self.publisher = publisher
        self.budget = budget
        self.id = publisher.nextSessionID()
        self.decoder = SessionDecoder(options: options)
        self.queue = DispatchQueue(label: "imapscope.decode.\(id)")
    }

    static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), microseconds: Int64(ts.tv_nsec / 1000))
    }

    /// Whether the relay may start another read: this session's decode queue is not too far
    /// behind, and the proxy's shared budget has room. When the budget refuses, `onDrained` is
    /// called once it has room again.
    func admitsRead() -> Bool {
        let (bytes, resume) = lag.withLockedValue { ($0.bytes, $0.onDrained) }
        guard bytes < Self.lagLimit else { return false }
        // Closed (no resume): nothing will read again, so nothing to call back either.
        guard let resume else { return budget.hasRoom }
        return budget.admit(ObjectIdentifier(self), resume: resume)
    }

    /// Called (from the decode queue) when the queue drains below `resumeBelow`, or when the
    /// shared budget has room again after refusing a read. Cleared when the channels close.
    var onDrained: (@Sendable () -> Void)? {
        get { lag.withLockedValue { $0.onDrained } }
        set {
            lag.withLockedValue { $0.onDrained = newValue }
            if newValue == nil { budget.forget(ObjectIdentifier(self)) }
        }
    }

    private func async(_ body: @escaping @Sendable () -> Void) {
        publisher.work.enter()
        queue.async { [publisher] in
            body()
            publisher.work.leave()
        }
    }

    func start(client: String, server: String, upstream: String, upstreamVerification: String? = nil) {
        let timestamp = Self.now()
        async { [self] in
            publisher.publish(
                decoder.start(
                    client: client, server: server, source: "proxy", time: timestamp, upstream: upstream,
                    upstreamVerification: upstreamVerification), session: id)
        }
    }

    func feed(_ dir: IMAPDirection, _ buffer: ByteBuffer) {
        // Copied on the event loop: NIO reuses a pooled receive buffer once it is uniquely owned,
        // and only the reference count would order the decode queue's reads before that reuse
        // (ThreadSanitizer reports it as a race). The copy also pins only the readable bytes.
        feed(dir, Array(buffer.readableBytesView))
    }

    /// Bytes one side sent, as the other side got them (with faults, what the relay let through,
    /// at the fault engine's `time`).
    func feed(_ dir: IMAPDirection, _ bytes: [UInt8], time: Timestamp? = nil) {
        let timestamp = time ?? Self.now()
        let charged = bytes.count + 64
        lag.withLockedValue { $0.bytes += charged }
        budget.add(charged)
        async { [self] in
            if dir == .client && !bytes.isEmpty { clientSpoke = true }
            if !ended {
                publisher.pcap?.raw(session: id, dir, bytes, time: timestamp)
                publisher.publish(decoder.feed(dir, bytes, time: timestamp), session: id)
                publisher.pcap?.trim(session: id, time: timestamp, mayHoldSecret: decoder.pendingMayHoldSecret)
            }
            let resume = lag.withLockedValue { lagState -> (@Sendable () -> Void)? in
                let before = lagState.bytes
                lagState.bytes -= charged
                return before >= Self.resumeBelow && lagState.bytes < Self.resumeBelow ? lagState.onDrained : nil
            }
            resume?()
            budget.remove(charged)
        }
    }

    /// Bytes imapscope itself sent (a BYE when the upstream is unreachable, an answer to STARTTLS).
    func proxySent(_ text: String) { proxySent(Array(text.utf8)) }

    func proxySent(_ bytes: [UInt8], time: Timestamp? = nil) {
        let timestamp = time ?? Self.now()
        async { [self] in
            publisher.pcap?.raw(session: id, .proxy, bytes, time: timestamp)
            publisher.publish(decoder.feed(.proxy, bytes, time: timestamp), session: id)
        }
    }

    /// A fault `--fault` rules injected: a `fault` event, in order with the bytes.
    func fault(_ fault: FaultEvent, time: Timestamp) {
        let event = DecodedEvent(.fault(fault), dir: .proxy, time: time)
        async { [self] in if !ended { publisher.publish([event], session: id) } }
    }

    func tls(_ report: TLSReport) {
        let event = DecodedEvent(.tls(report.event), dir: nil, time: Self.now(), annotation: report.annotation)
        async { [self] in
            if report.leg == .client, report.phase == .established { clientSpoke = true }
            publisher.publish([event], session: id)
        }
    }

    /// imapscope upgraded the server leg itself (`imap+starttls://`).
    func upstreamUpgraded() {
        let timestamp = Self.now()
        async { [self] in publisher.publish(decoder.upstreamUpgraded(time: timestamp), session: id) }
    }

    /// Both legs finished their TLS handshakes after STARTTLS: plaintext decoding resumes.
    func tlsEstablished() {
        let timestamp = Self.now()
        async { [self] in publisher.publish(decoder.tlsEstablished(time: timestamp), session: id) }
    }

    func lint(_ code: String, _ message: String) { lint(.source(code: code, message: message)) }

    func lint(_ finding: Lint) {
        let timestamp = Self.now()
        async { [self] in publisher.publish(decoder.sourceLint(finding, dir: nil, time: timestamp), session: id) }
    }

    /// A leg's error (a reset, TLS closed without close_notify), kept for the session-end reason.
    func legFailed(_ dir: IMAPDirection, _ error: Error) {
        let ending = SessionClose.ending(of: error)
        async { [self] in
            if legEndings[dir] == nil { legEndings[dir] = ending }
            if firstClosed == nil { firstClosed = dir }
        }
    }

    /// A leg's peer half-closed (FIN): that side closed first, whatever the other does next.
    func peerClosed(_ dir: IMAPDirection) {
        async { [self] in if firstClosed == nil { firstClosed = dir } }
    }

    /// A leg closed. The relay closes the other one in turn; the reason names who went first and how.
    func closed(_ dir: IMAPDirection) {
        let timestamp = Self.now()
        async { [self] in
            if firstClosed == nil { firstClosed = dir }
            closedLegs.insert(dir)
            guard closedLegs.count == 2, let first = firstClosed else { return }
            let close = SessionClose(
                first: first, ending: legEndings[first] ?? .closed, afterLogout: decoder.state == .logout,
                clientSpoke: clientSpoke)
            end(reason: close.reason, time: timestamp)
        }
    }

    func finish(reason: String, time: Timestamp? = nil) {
        let timestamp = time ?? Self.now()
        async { [self] in end(reason: reason, time: timestamp) }
    }

    private func end(reason: String, time: Timestamp) {
        guard !ended else { return }
        ended = true
        publisher.publish(decoder.finish(reason: reason, time: time), session: id)
    }
}
