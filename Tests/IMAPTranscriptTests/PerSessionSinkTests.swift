import IMAPCore
import IMAPTranscript
import Testing

/// `--fixture`'s per-session sink: a session whose client never sends a byte (a port check)
/// gets no sink and no number; the others are numbered in the order their clients first speak.
@Suite("per-session sink")
struct PerSessionSinkTests {
    final class Recorder: EventSink {
        var kinds: [EventKind] = []
        var finished = false
        func write(_ event: Event) { kinds.append(event.kind) }
        func finish() { finished = true }
    }

    @Test func aPortCheckGetsNoSinkAndNoNumber() throws {
        var made: [(String, Int, Recorder)] = []
        let sink = PerSessionSink { session, index in
            let r = Recorder()
            made.append((session, index, r))
            return r
        }
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink])
        let t = Timestamp(seconds: 1_700_000_000)
        let check = SessionDecoder()
        let real = SessionDecoder()
        // p1 is a port check (greeted, gone); p2 logs out; their events interleave.
        pipeline.publish(
            check.start(client: "127.0.0.1:1", server: "127.0.0.1:143", source: "proxy", time: t), session: "p1")
        pipeline.publish(
            real.start(client: "127.0.0.1:2", server: "127.0.0.1:143", source: "proxy", time: t), session: "p2")
        pipeline.publish(check.feed(.server, Array("* OK ready\r\n".utf8), time: t), session: "p1")
        pipeline.publish(real.feed(.server, Array("* OK ready\r\n".utf8), time: t), session: "p2")
        #expect(made.isEmpty)
        pipeline.publish(real.feed(.client, Array("a1 LOGOUT\r\n".utf8), time: t), session: "p2")
        pipeline.publish(check.finish(reason: "a port check", time: t), session: "p1")
        pipeline.publish(
            real.feed(.server, Array("* BYE bye\r\na1 OK done\r\n".utf8), time: t), session: "p2")
        pipeline.publish(real.finish(reason: "closed", time: t), session: "p2")
        pipeline.finish()
        #expect(made.map { "\($0.0) \($0.1)" } == ["p2 0"])
        let recorded = made.first?.2
        #expect(
            recorded?.kinds == [.sessionStart, .untagged, .command, .untagged, .tagged, .sessionEnd],
            "\(recorded?.kinds ?? [])")
        #expect(recorded?.finished == true)
    }
}
