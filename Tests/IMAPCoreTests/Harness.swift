import IMAPCore
import IMAPTestSupport
import IMAPTranscript

/// Drives a SessionDecoder with an S:/C: script and returns the redacted events.
enum Harness {
    static let key: [UInt8] = Array(repeating: 7, count: 32)

    enum Chunking {
        case lines
        /// Each direction's bytes cut at this offset of the whole script's bytes.
        case split(Int)
        case bytewise
    }

    /// The script's chunks: each `S:`/`C:` line as the fixture reader yields it.
    static func chunks(_ script: String) -> [FixtureReader.Chunk] {
        try! FixtureReader.read(Array(script.utf8))
    }

    static func run(
        _ script: String, options: DecoderOptions = DecoderOptions(), chunking: Chunking = .lines,
        showSecrets: Bool = false
    ) -> [Event] {
        run(chunks: chunks(script), options: options, chunking: chunking, showSecrets: showSecrets)
    }

    static func run(
        chunks: [FixtureReader.Chunk], options: DecoderOptions = DecoderOptions(), chunking: Chunking = .lines,
        showSecrets: Bool = false
    ) -> [Event] {
        let sink = CollectingSink()
        let p = EventPipeline(redactor: Redactor(showSecrets: showSecrets, key: key), sinks: [sink])
        let d = SessionDecoder(options: options)
        let t = Timestamp(seconds: 1_700_000_000)
        p.publish(
            d.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "transcript", time: t), session: "s1")
        // Consecutive chunks of one direction merge, then are re-cut as asked.
        var runs: [(Direction, [UInt8])] = []
        for c in chunks {
            if let last = runs.last, last.0 == c.direction {
                runs[runs.count - 1].1 += c.bytes
            } else {
                runs.append((c.direction, c.bytes))
            }
        }
        var offset = 0
        var step: Int64 = 0
        // Every piece of a run arrives at the run's time, however it is cut: chunking changes
        // where reads end, never when bytes arrive, so times and latencies stay comparable.
        for (dir, bytes) in runs {
            step += 1
            var pieces: [[UInt8]]
            switch chunking {
            case .lines:
                pieces = [bytes]
            case .bytewise:
                pieces = bytes.map { [$0] }
            case .split(let at):
                let local = at - offset
                if local > 0 && local < bytes.count {
                    pieces = [Array(bytes[..<local]), Array(bytes[local...])]
                } else {
                    pieces = [bytes]
                }
            }
            offset += bytes.count
            for piece in pieces {
                p.publish(
                    d.feed(dir, piece, time: Timestamp(microseconds: t.microseconds + step * 1000)), session: "s1")
            }
        }
        p.publish(
            d.finish(reason: "end", time: Timestamp(microseconds: t.microseconds + (step + 1) * 1000)), session: "s1")
        return sink.events
    }

    static func summary(_ e: Event) -> String { EventSummary.line(e) }
    static func summaries(_ events: [Event]) -> [String] { events.map(summary) }

    /// Events as JSON text, every field (annotations, times and latencies included: `run`
    /// times each run of bytes the same however it is cut).
    static func canonical(_ events: [Event]) -> [String] {
        events.map { $0.json.serialized }
    }

    /// The decoded `RawLine` of a single line, for parser-level tests.
    static func line(_ text: String) -> RawLine {
        var f = LineFramer(pausesAtSynchronizingLiterals: false)
        f.append(Array(text.utf8))
        guard case .line(let l)? = f.nextFrame() else { fatalError("no line in \(text)") }
        return l
    }
}
