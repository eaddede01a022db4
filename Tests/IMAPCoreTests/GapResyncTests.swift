import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// After a server gap the decoder skips lines until one starts a response, then reports one
/// `gap` with what it skipped, instead of an `unparsed` event per body line.
@Suite("Resynchronising the server stream after a gap")
struct GapResyncTests {
    enum Step {
        case client(String)
        case server(String)
        case gap(Direction, Int)
    }

    struct Outcome {
        var summaries: [String]
        var gaps: [Event]
    }

    static func run(_ steps: [Step]) -> Outcome {
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(key: Array(repeating: 3, count: 32)), sinks: [sink])
        let decoder = SessionDecoder()
        var time = Timestamp(seconds: 1_700_000_000)
        pipeline.publish(
            decoder.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "pcap", time: time),
            session: "s")
        for step in steps {
            time = Timestamp(microseconds: time.microseconds + 1000)
            switch step {
            case .client(let text): pipeline.publish(decoder.feed(.client, Array(text.utf8), time: time), session: "s")
            case .server(let text): pipeline.publish(decoder.feed(.server, Array(text.utf8), time: time), session: "s")
            case .gap(let dir, let n): pipeline.publish(decoder.gap(dir, bytes: n, time: time), session: "s")
            }
        }
        pipeline.publish(decoder.finish(reason: "end", time: time), session: "s")
        pipeline.finish()
        let events = sink.events
        // No mailbox is selected in these sessions: FETCH's invalid-state lint is beside the point.
        let noise: Set<String> = ["start", "end", "lint invalid-state"]
        return Outcome(
            summaries: EventSummary.lines(events).filter { !noise.contains($0) },
            gaps: events.filter { $0.kind == .gap })
    }

    static let greeting = Step.server("* OK ready\r\n")
    /// A FETCH whose 120-byte body is cut by a 60-byte gap: the body's last lines, the closing
    /// parenthesis and the next lines arrive after the framer lost track.
    static let body = (1...8).map { "line \($0) of the message body\r\n" }.joined()

    @Test("a gap inside a literal's body: one gap event, decoding resumes at the next response")
    func skipsBodyLines() throws {
        let literal = "* 1 FETCH (UID 7 BODY[] {\(Self.body.utf8.count)}\r\n"
        let bodyBytes = Array(Self.body.utf8)
        let head = String(decoding: bodyBytes[..<20], as: UTF8.self)
        // The gap takes body bytes 20..<80, well inside the literal: it absorbs the loss.
        let absorbed = Self.run([
            Self.greeting, .client("a1 UID FETCH 7 BODY[]\r\n"), .server(literal + head), .gap(.server, 60),
            .server(String(decoding: bodyBytes[80...], as: UTF8.self) + ")\r\n"), .server("a1 OK done\r\n"),
        ])
        #expect(
            absorbed.summaries == ["S * OK", "C a1 UID FETCH", "gap server 60", "S * 1 FETCH", "S a1 OK UID FETCH"])
        #expect(absorbed.gaps.first?["skipped_bytes"] == nil)

        // The gap swallows the literal's end: the rest of the body is read as lines, skipped.
        let tail = "more text\r\n* not a response\r\n+ a patch line\r\nx) done\r\n"
        let lost = Self.run([
            Self.greeting, .client("a1 UID FETCH 7 BODY[]\r\n"), .server(literal + head), .gap(.server, 400),
            .server(tail), .server("* 2 EXISTS\r\n"), .server("a1 OK done\r\n"),
        ])
        #expect(lost.summaries == ["S * OK", "C a1 UID FETCH", "gap server 400", "S * 2 EXISTS", "S a1 OK UID FETCH"])
        let gap = try #require(lost.gaps.first)
        #expect(gap["missing"]?.intValue == 400)
        // The partial FETCH line (header + 20 body bytes) and the 4 lines of `tail`.
        let partial = literal.utf8.count + 20
        #expect(gap["skipped_bytes"]?.intValue == Int64(partial + tail.utf8.count))
        #expect(gap["skipped_lines"]?.intValue == 5)
        #expect(gap["bytes"]?.intValue == Int64(partial + tail.utf8.count))
        #expect(gap["raw"]?.stringValue == "* 1 FETCH (UID 7 BODY[] {\(bodyBytes.count)}")
        #expect(
            gap.annotation == "the capture lost 400 bytes here; \(partial + tail.utf8.count) bytes (5 lines) "
                + "after it were skipped to the next response")
    }

    @Test("the tag of a command in flight ends the resync; an unknown tag does not")
    func resumesAtTaggedCompletion() {
        let out = Self.run([
            Self.greeting, .client("a1 FETCH 1 BODY[]\r\n"), .server("* 1 FETCH (BODY[] {500}\r\nabc"),
            .gap(.server, 600), .server("zz9 OK not ours\r\nb7 OK also not\r\n"), .server("a1 OK done\r\n"),
            .client("a2 NOOP\r\n"), .server("a2 OK\r\n"),
        ])
        #expect(
            out.summaries == [
                "S * OK", "C a1 FETCH", "gap server 600", "S a1 OK FETCH",
                "C a2 NOOP", "S a2 OK NOOP",
            ])
        #expect(out.gaps.first?["skipped_lines"]?.intValue == 3)
    }

    @Test("a '+' ends the resync only when something waits for one")
    func continuationOnlyWhenAwaited() {
        let out = Self.run([
            Self.greeting, .client("a1 IDLE\r\n"), .server("+ idling\r\n"), .server("* 3 FETCH (BODY[] {90}\r\nxy"),
            .gap(.server, 200), .server("rest of a line\r\n+ still idling\r\n"), .server("* 4 EXISTS\r\n"),
        ])
        // The rest of the cut line is skipped; the "+" is IDLE's.
        #expect(
            out.summaries == [
                "S * OK", "C a1 IDLE", "S +", "gap server 200", "S +", "S * 4 EXISTS",
                "lint no-completion",
            ])
        #expect(out.gaps.first?["skipped_lines"]?.intValue == 2)
    }

    @Test("two gaps before the stream resynchronises make one gap event with both losses")
    func gapsMerge() {
        let out = Self.run([
            Self.greeting, .server("* 1 FETCH (BODY[] {10}\r\nab"), .gap(.server, 50), .server("junk\r\nmore"),
            .gap(.server, 7), .server(" junk\r\n* 5 EXISTS\r\n"),
        ])
        #expect(out.summaries == ["S * OK", "gap server 57", "S * 5 EXISTS"])
        #expect(out.gaps.count == 1)
        // The partial FETCH line, "junk", "more" cut by the second gap, and the rest of its line.
        #expect(out.gaps.first?["skipped_lines"]?.intValue == 4)
    }

    @Test("a stream that ends while skipping still reports its one gap")
    func endsWhileSkipping() {
        let out = Self.run([
            Self.greeting, .server("* 1 FETCH (BODY[] {10}\r\nab"), .gap(.server, 50), .server("line\r\nline\r\npart"),
        ])
        #expect(out.summaries == ["S * OK", "gap server 50"])
        #expect(out.gaps.first?["skipped_lines"]?.intValue == 4)
    }

    @Test("a client gap is unchanged: its lines stay hidden and unparsed")
    func clientGapUnchanged() {
        let out = Self.run([Self.greeting, .client("a1 LOGIN alice {8}\r\n"), .gap(.client, 8), .client("x\r\n")])
        #expect(out.summaries.contains("gap client 8"))
        #expect(!out.summaries.contains { $0.hasPrefix("gap server") })
    }

    @Test("a loss that ends where a response starts skips nothing: the next segment is decoded")
    func lossAtALineBoundary() {
        let out = Self.run([
            Self.greeting, .client("a1 FETCH 1 BODY[]\r\n"), .client("a2 NOOP\r\n"),
            .server("* 1 FETCH (BODY[] {3000}\r\nabc"), .gap(.server, 2998), .server("* 2 EXISTS\r\n"),
            .server("a2 OK done\r\n"),
        ])
        #expect(
            out.summaries == [
                "S * OK", "C a1 FETCH", "C a2 NOOP", "gap server 2998", "S * 2 EXISTS", "S a2 OK NOOP",
                "lint no-completion",
            ])
        // Only the FETCH line the gap cut was skipped.
        #expect(out.gaps.first?["skipped_lines"]?.intValue == 1)
    }
}
