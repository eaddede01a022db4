import IMAPCore

/// Anything that consumes redacted events. Sinks never see a `DecodedEvent`.
public protocol EventSink: AnyObject {
    func write(_ event: Event)
    func finish()
}

/// Decoders' events → the Redactor (once) → sequence numbers → every sink.
public final class EventPipeline {
    public let redactor: Redactor
    public private(set) var sinks: [EventSink]
    public private(set) var nextSeq = 1

    public init(redactor: Redactor, sinks: [EventSink]) {
        self.redactor = redactor
        self.sinks = sinks
    }

    public func add(_ sink: EventSink) { sinks.append(sink) }

    public func publish(_ events: [DecodedEvent], session: String) {
        for d in events {
            let e = redactor.redact(d, session: session, seq: nextSeq)
            nextSeq += 1
            for s in sinks { s.write(e) }
        }
    }

    public func finish() { for s in sinks { s.finish() } }
}

/// Keeps every event (tests, summaries).
public final class CollectingSink: EventSink {
    public private(set) var events: [Event] = []
    public init() {}
    public func write(_ event: Event) { events.append(event) }
    public func finish() {}
}
