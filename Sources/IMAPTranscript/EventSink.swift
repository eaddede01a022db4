import Foundation
import IMAPCore

/// Anything that consumes redacted events. Sinks never see a `DecodedEvent`.
public protocol EventSink: AnyObject {
    func write(_ event: Event)
    func finish()
}

/// Decoders' events → the Redactor (once) → sequence numbers → every sink.
///
/// `background: true` redacts and writes on a thread of its own, so that decoding the next packets
/// overlaps with encoding the last events (reading a capture then uses two cores). Batches keep
/// their order, sinks still see one event at a time from one thread, and `finish()` returns once
/// every event was written. The queue is bounded, so a slow output slows the decoder instead of
/// growing memory.
public final class EventPipeline {
    public let redactor: Redactor
    public private(set) var sinks: [EventSink]
    public private(set) var nextSeq = 1
    private let queue: BatchQueue?
    private var worker: Thread?

    public init(redactor: Redactor, sinks: [EventSink], background: Bool = false) {
        self.redactor = redactor
        self.sinks = sinks
        queue = background ? BatchQueue() : nil
    }

    public func add(_ sink: EventSink) { sinks.append(sink) }

    public func publish(_ events: [DecodedEvent], session: String) {
        guard !events.isEmpty else { return }
        guard let queue else { return write(events, session: session) }
        if worker == nil { startWorker(queue) }
        queue.push(events, session: session)
    }

    public func finish() {
        if let queue, worker != nil {
            queue.close()
            queue.waitUntilDrained()
            self.worker = nil
        }
        for s in sinks { s.finish() }
    }

    private func write(_ events: [DecodedEvent], session: String) {
        for d in events {
            let e = redactor.redact(d, session: session, seq: nextSeq)
            nextSeq += 1
            for s in sinks { s.write(e) }
        }
    }

    private func startWorker(_ queue: BatchQueue) {
        // The pipeline is used from one thread at a time: the caller's until `publish` hands a batch
        // over, this thread's after; `finish` waits for it to let go.
        let pipeline = UncheckedPipeline(pipeline: self)
        let thread = Thread {
            while let batches = queue.popAll() {
                for batch in batches { pipeline.pipeline.write(batch.events, session: batch.session) }
                queue.done(batches)
            }
        }
        thread.name = "imapscope sinks"
        worker = thread
        thread.start()
    }
}

private struct UncheckedPipeline: @unchecked Sendable {
    unowned let pipeline: EventPipeline
}

/// The bounded hand-over between a decoding thread and `EventPipeline`'s writer thread.
private final class BatchQueue: @unchecked Sendable {
    struct Batch {
        var events: [DecodedEvent]
        var session: String
        /// Wire bytes the batch's events account for: what bounds the queue.
        var bytes: Int
    }

    /// Beyond these the producer waits (one batch is always let in, however big).
    private static let maxBatches = 64
    private static let maxBytes = 2 << 20
    private let condition = NSCondition()
    private var pending: [Batch] = []
    private var pendingBytes = 0
    /// Taken by the writer and not yet written.
    private var inProgress = 0
    private var closed = false

    func push(_ events: [DecodedEvent], session: String) {
        let bytes = events.reduce(0) { $0 + $1.bytes }
        condition.lock()
        while !pending.isEmpty, pending.count >= Self.maxBatches || pendingBytes + bytes > Self.maxBytes {
            condition.wait()
        }
        pending.append(Batch(events: events, session: session, bytes: bytes))
        pendingBytes += bytes
        condition.broadcast()
        condition.unlock()
    }

    /// Everything queued, in order; nil once closed and empty.
    func popAll() -> [Batch]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !closed { condition.wait() }
        if pending.isEmpty { return nil }
        let taken = pending
        pending = []
        pendingBytes = 0
        inProgress = taken.count
        condition.broadcast()
        return taken
    }

    func done(_ batches: [Batch]) {
        condition.lock()
        inProgress = 0
        condition.broadcast()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilDrained() {
        condition.lock()
        while !pending.isEmpty || inProgress > 0 || !closed { condition.wait() }
        condition.unlock()
    }
}

/// Keeps every event (tests, summaries).
/// Thread-safe: a test may read `events` while a proxy's decode queue writes them.
public final class CollectingSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [Event] = []
    public init() {}
    public var events: [Event] { lock.withLock { collected } }
    public func write(_ event: Event) { lock.withLock { collected.append(event) } }
    public func finish() {}
}

/// One sink per session, made when the session starts and finished when it ends: the proxy's
/// `--fixture` writes each session to a file of its own, since concurrent sessions would
/// interleave in one and a fixture replays one conversation.
public final class PerSessionSink: EventSink {
    private let make: (_ session: String, _ index: Int) -> EventSink?
    private var open: [String: EventSink] = [:]
    private var started = 0

    /// `make` gets the session id and its number (0 for the first); nil skips the session.
    public init(make: @escaping (_ session: String, _ index: Int) -> EventSink?) { self.make = make }

    public func write(_ e: Event) {
        if e.kind == .sessionStart, open[e.session] == nil {
            if let s = make(e.session, started) { open[e.session] = s }
            started += 1
        }
        guard let s = open[e.session] else { return }
        s.write(e)
        if e.kind == .sessionEnd {
            s.finish()
            open[e.session] = nil
        }
    }

    public func finish() {
        for (_, s) in open { s.finish() }
        open.removeAll()
    }
}
