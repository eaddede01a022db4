import Foundation
import IMAPCore

/// Anything that consumes redacted events. Sinks never see a `DecodedEvent`.
public protocol EventSink: AnyObject {
    func write(_ event: Event)
    func finish()
    /// Whether this sink reads `Event.wire` (the redacted wire bytes): building them costs two
    /// copies of every line, so the pipeline only does it when some sink asks.
    var readsWire: Bool { get }
    /// Whether this sink writes literal bodies' SHA-256 (JSON Lines and fixtures do): hashing
    /// every body is the largest part of decoding bulk FETCHes, so decoders skip it when no sink
    /// asks (`EventPipeline.readsDigests`). True unless a sink says otherwise.
    var readsDigests: Bool { get }
}

extension EventSink {
    public var readsWire: Bool { true }
    public var readsDigests: Bool { true }
}

/// Decoders' events → the Redactor (once) → sequence numbers → every sink.
public final class EventPipeline {
    public let redactor: Redactor
    public private(set) var sinks: [EventSink]
    public private(set) var nextSeq = 1

    private var wire: Bool

    public init(redactor: Redactor, sinks: [EventSink]) {
        self.redactor = redactor
        self.sinks = sinks
        wire = sinks.contains { $0.readsWire }
    }

    /// Whether any sink writes body digests: decoders feeding this pipeline may skip hashing
    /// when none does (`FramerLimits.digestLiterals`).
    public var readsDigests: Bool { sinks.contains { $0.readsDigests } }

    public func add(_ sink: EventSink) {
        sinks.append(sink)
        wire = wire || sink.readsWire
    }

    public func publish(_ events: consuming [DecodedEvent], session: String) {
        for index in events.indices {
            let event = redactor.redact(taking: &events[index], session: session, seq: nextSeq, wire: wire)
            nextSeq += 1
            for sink in sinks { sink.write(event) }
        }
    }

    /// An event that was redacted when it was written (read back from JSON Lines): it keeps its
    /// session and takes the next sequence number.
    public func publish(redacted event: Event) {
        var stamped = event
        stamped.seq = nextSeq
        nextSeq += 1
        for sink in sinks { sink.write(stamped) }
    }

    public func finish() { for s in sinks { s.finish() } }
}

/// Keeps every event (tests, summaries).
/// Thread-safe: a test may read `events` while a proxy's event loops write them.
public final class CollectingSink: EventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [Event] = []
    public init() {}
    public var events: [Event] { lock.withLock { collected } }
    public func write(_ event: Event) { lock.withLock { collected.append(event) } }
    public func finish() {}
}

/// One sink per session, made when the session's client first says something and finished when
/// the session ends: the proxy's `--fixture` writes each session to a file of its own, since
/// concurrent sessions would interleave in one and a fixture replays one conversation. A session
/// whose client never sends a byte (a port check) gets no sink at all: its few events wait (at
/// most `heldLimit`) and are dropped at its end.
public final class PerSessionSink: EventSink {
    public static let heldLimit = 256
    private let make: (_ session: String, _ index: Int) -> EventSink?
    private var open: [String: EventSink] = [:]
    /// Sessions started whose client has not spoken yet, with their events so far.
    private var waiting: [String: [Event]] = [:]
    private var started = 0

    /// `make` gets the session id and its number among the sessions that got one (0 for the
    /// first); nil skips the session.
    public init(make: @escaping (_ session: String, _ index: Int) -> EventSink?) { self.make = make }

    public func write(_ event: Event) {
        if event.kind == .sessionStart, open[event.session] == nil, waiting[event.session] == nil {
            waiting[event.session] = [event]
            return
        }
        if var held = waiting[event.session] {
            held.append(event)
            let spoke = event.dir == .client
            guard spoke || held.count > Self.heldLimit else {
                if event.kind == .sessionEnd { waiting[event.session] = nil } else { waiting[event.session] = held }
                return
            }
            waiting[event.session] = nil
            guard let sink = make(event.session, started) else { return }
            started += 1
            open[event.session] = sink
            for heldEvent in held { deliver(heldEvent, to: sink) }
            return
        }
        guard let sink = open[event.session] else { return }
        deliver(event, to: sink)
    }

    private func deliver(_ event: Event, to sink: EventSink) {
        sink.write(event)
        if event.kind == .sessionEnd {
            sink.finish()
            open[event.session] = nil
        }
    }

    public func finish() {
        for (_, s) in open { s.finish() }
        open.removeAll()
        waiting.removeAll()
    }
}
