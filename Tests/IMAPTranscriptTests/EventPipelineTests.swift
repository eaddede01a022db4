import Foundation
import IMAPCore
import IMAPTranscript
import Testing

/// The pipeline on a thread of its own (`read`'s): same events, same order, same sequence numbers
/// as inline, every write done before `finish` returns, and a bounded hand-over.
@Suite("Event pipeline in the background")
struct EventPipelineTests {
    /// Records the order of writes and of finish, from whichever thread calls.
    final class OrderSink: EventSink, @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [String] = []
        var log: [String] { lock.withLock { seen } }
        func write(_ event: Event) {
            lock.withLock { seen.append("\(event.session) \(event.seq) \(event.kind.rawValue)") }
        }
        func finish() { lock.withLock { seen.append("finish") } }
    }

    static func batches() -> [(session: String, events: [DecodedEvent])] {
        (0..<500).map { n in
            let decoder = SessionDecoder()
            var events = decoder.start(client: "c:1", server: "s:2", source: "test", time: .zero)
            events += decoder.feed(.server, Array("* OK ready\r\n".utf8), time: .zero)
            events += decoder.feed(.client, Array("a\(n) NOOP\r\n".utf8), time: .zero)
            // Some batches carry big literals' worth of bytes, so the byte bound is hit too.
            if n % 50 == 0 {
                events += decoder.feed(.server, Array("* 1 FETCH (BODY[] {3000000}\r\n".utf8), time: .zero)
                events += decoder.feed(.server, [UInt8](repeating: 65, count: 3_000_000), time: .zero)
                events += decoder.feed(.server, Array(")\r\n".utf8), time: .zero)
            }
            events += decoder.feed(.server, Array("a\(n) OK done\r\n".utf8), time: .zero)
            events += decoder.finish(reason: "test", time: .zero)
            return ("s\(n % 7)", events)
        }
    }

    @Test("the background pipeline writes what the inline one writes, in order, before finish returns")
    func backgroundEqualsInline() {
        let input = Self.batches()
        let inline = OrderSink()
        let inlinePipeline = EventPipeline(redactor: Redactor(key: [1]), sinks: [inline])
        for batch in input { inlinePipeline.publish(batch.events, session: batch.session) }
        inlinePipeline.finish()

        let background = OrderSink()
        let backgroundPipeline = EventPipeline(redactor: Redactor(key: [1]), sinks: [background], background: true)
        for batch in input { backgroundPipeline.publish(batch.events, session: batch.session) }
        backgroundPipeline.finish()

        #expect(background.log.count == inline.log.count)
        #expect(background.log == inline.log)
        #expect(background.log.last == "finish")
        #expect(background.log.filter { $0 == "finish" }.count == 1)
        #expect(inline.log.count == input.reduce(0) { $0 + $1.events.count } + 1)
    }

    @Test("a background pipeline that got nothing still finishes its sinks")
    func emptyBackground() {
        let sink = OrderSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink], background: true)
        pipeline.publish([], session: "s")
        pipeline.finish()
        #expect(sink.log == ["finish"])
    }
}
