import Testing

@testable import IMAPCore

/// Server resynchronisation alone: after a loss, the server's frames one by one → skipped, resumed
/// or passed, then the `gap` it reports.
@Suite("Server resync")
struct ServerResyncTests {
    static func frames(_ text: String) -> [Frame] {
        var framer = LineFramer(pausesAtSynchronizingLiterals: false)
        framer.append(Array(text.utf8))
        var frames: [Frame] = []
        while let frame = framer.nextFrame() { frames.append(frame) }
        return frames
    }

    static func line(_ text: String) -> RawLine {
        guard case .line(let line) = frames(text).first else { return RawLine(segments: []) }
        return line
    }

    @Test(
        "a line, with a1 in flight and whether a + is awaited → whether it starts a response",
        arguments: [
            ("a1 OK done\r\n", false, true),
            ("a2 OK done\r\n", false, false),
            ("* OK still here\r\n", false, true),
            ("* BYE\r\n", false, true),
            ("* 3 EXISTS\r\n", false, true),
            ("* item of a list\r\n", false, false),
            ("+ go ahead\r\n", true, true),
            ("+ added a line\r\n", false, false),
            ("Subject: hello\r\n", false, false),
            // A known name with a broken body is not taken for a response.
            ("* 1 FETCH (FLAGS\r\n", false, false),
        ])
    func startsResponse(_ text: String, _ continuationAwaited: Bool, _ starts: Bool) {
        var inFlight = CommandsInFlight()
        inFlight.add("a1", CommandInFlight(name: .fetch, uid: false, time: Timestamp(seconds: 1)))
        #expect(
            ServerResync.startsResponse(Self.line(text), inFlight: inFlight, continuationAwaited: continuationAwaited)
                == starts)
    }

    @Test("body lines after a loss are skipped up to the completion, which ends the gap")
    func skipsToTheCompletion() {
        var inFlight = CommandsInFlight()
        inFlight.add("a1", CommandInFlight(name: .fetch, uid: false, time: Timestamp(seconds: 1)))
        var resync = ServerResync(time: Timestamp(seconds: 2), missing: 0)
        var cut = LineFramer(pausesAtSynchronizingLiterals: false)
        cut.append(Array("* 1 FETCH (BODY[] {100}\r\nFrom: a".utf8))
        #expect(cut.nextFrame() == nil)
        resync.lost(1000, restart: cut.restart(lost: 1000))
        // The partial FETCH line: its text before the literal, and the bytes that arrived.
        #expect(resync.missing == 1000 && resync.skippedLines == 1 && resync.skippedBytes == 32)
        let verdicts = Self.frames("To: b\r\n* x\r\n\r\na1 OK done\r\n").map {
            resync.take($0, inFlight: inFlight, continuationAwaited: false)
        }
        #expect(verdicts == [.skipped, .skipped, .skipped, .resumes])
        #expect(resync.skippedLines == 4 && resync.skippedBytes == 32 + 7 + 5 + 2)
        let gap = resync.gap
        #expect(gap.missing == 1000 && gap.skippedBytes == 46 && gap.skippedLines == 4)
        #expect(gap.raw == "* 1 FETCH (BODY[] {100}")
        #expect(
            resync.annotation
                == "the capture lost 1000 bytes here; 46 bytes (4 lines) after it were skipped to the next response")
    }

    @Test("a gap with nothing skipped says only what was lost; a literal header passes")
    func nothingSkipped() {
        var resync = ServerResync(time: Timestamp(seconds: 2), missing: 0)
        var framer = LineFramer(pausesAtSynchronizingLiterals: false)
        resync.lost(10, restart: framer.restart(lost: 10))
        #expect(resync.skippedLines == 0)
        #expect(resync.annotation == "the capture lost 10 bytes here")
        #expect(resync.gap.raw == nil && resync.gap.skippedBytes == 0)
        let verdict = resync.take(
            .needsContinuation(LiteralHeader(size: 3, form: .synchronizing)), inFlight: CommandsInFlight(),
            continuationAwaited: false)
        #expect(verdict == .passes)
        #expect(
            resync.take(
                .overlong(prefix: Array("xyz".utf8), wireBytes: 70_000), inFlight: CommandsInFlight(),
                continuationAwaited: false) == .skipped)
        #expect(resync.skippedBytes == 70_000 && resync.firstSkipped == Array("xyz".utf8))
    }
}
