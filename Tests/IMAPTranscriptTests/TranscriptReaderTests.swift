import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// The transcript reader fed in blocks: the same chunks as reading the whole text, whatever the
/// block size; lines over the limit passed on in pieces and reported; the decompressed directive
/// seen as it streams by.
@Suite("Streamed transcripts")
struct TranscriptReaderTests {
    static let rfcSample = "S:   * OK hi\nC:    a1 NOOP\nS: * 1 FETCH (FLAGS (\\Seen)\n     UID 4)\nS: a1 OK done\n"
    static let fixture =
        "# header\r\nS: * OK ready\r\nC: a1 LOGIN alice {6}\r\nS: + go\r\nC: hunter\r\n"
        + "S: a1 OK in\r\nC: a2 FETCH 1 BODY[]\r\nS: * 1 FETCH (BODY[] {14}\r\nS: line one\r\nS: ab)\r\n"
        + "S: a2 OK done\r\nC: a3 LOGOUT"

    static func texts() throws -> [String] {
        let dir = DovecotProcess.repository.appendingPathComponent("Captures")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".transcript") }.sorted()
        #expect(!names.isEmpty)
        let recorded = try names.map { try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8) }
        return [rfcSample, fixture] + recorded
    }

    static func chunks(_ items: [TranscriptReader.Item]) -> [FixtureReader.Chunk] {
        items.compactMap { if case .chunk(let c) = $0 { c } else { nil } }
    }

    static func stream(_ cs: [FixtureReader.Chunk], _ d: Direction) -> [UInt8] {
        cs.filter { $0.direction == d }.flatMap(\.bytes)
    }

    @Test("blocks of any size give the chunks of the whole text", arguments: [1, 2, 3, 7, 64, 4096])
    func blocksGiveTheSameChunks(_ size: Int) throws {
        for text in try Self.texts() {
            let bytes = Array(text.utf8)
            var reader = TranscriptReader(exact: bytes.contains(0x0D), lineLimit: .max)
            var items: [TranscriptReader.Item] = []
            var i = 0
            while i < bytes.count {
                items += try reader.feed(bytes[i..<min(bytes.count, i + size)])
                i += size
            }
            items += try reader.finish()
            #expect(Self.chunks(items) == (try FixtureReader.read(bytes)))
        }
    }

    /// A line longer than the limit goes on in pieces: the same bytes per direction, and it is counted.
    @Test func overlongLinesPassInPieces() throws {
        let long = String(repeating: "x", count: 1000)
        let text =
            "S: * OK ready\r\nC: a1 NOOP \(long)\r\nS: * 1 FETCH (BODY[] {1005}\r\nS: \(long)abc\r\nS: )\r\n"
            + "# \(long)\r\nS: a1 OK done\r\n"
        let bytes = Array(text.utf8)
        var reader = TranscriptReader(exact: true, lineLimit: 100)
        var items: [TranscriptReader.Item] = []
        for start in stride(from: 0, to: bytes.count, by: 37) {
            items += try reader.feed(bytes[start..<min(bytes.count, start + 37)])
        }
        items += try reader.finish()
        let whole = try FixtureReader.read(bytes)
        let pieces = Self.chunks(items)
        for d in [Direction.client, .server] { #expect(Self.stream(pieces, d) == Self.stream(whole, d)) }
        #expect(pieces.count > whole.count)
        // A piece is at most what the reader held: the limit, plus the block that crossed it.
        #expect(pieces.allSatisfy { $0.bytes.count <= 100 + 37 + 2 })
        #expect(reader.overlongLines == 3)
        #expect(reader.firstOverlongLine == 2)
        #expect(reader.linesRead == 7)
    }

    /// An editorial continuation after a line passed on in pieces still joins it.
    @Test func continuationOfAnOverlongLine() throws {
        let long = String(repeating: "y", count: 500)
        let text = "S: * OK \(long)\n   more\nS: a1 OK done\n"
        var reader = TranscriptReader(exact: false, lineLimit: 100)
        let items = try reader.feed(Array(text.utf8)[...]) + reader.finish()
        let server = Self.stream(Self.chunks(items), .server)
        #expect(server == Self.stream(try FixtureReader.read(Array(text.utf8)), .server))
        #expect(String(decoding: server, as: UTF8.self) == "* OK \(long) more\r\na1 OK done\r\n")
    }

    @Test func overlongBlankLineIsAnError() {
        var reader = TranscriptReader(exact: false, lineLimit: 100)
        #expect { _ = try reader.feed(Array(("S: * OK\n" + String(repeating: " ", count: 300)).utf8)[...]) } throws: {
            "\($0)" == "line 2: more than 100 bytes of blank space"
        }
    }

    static func decode(_ bytes: [UInt8], blockSize: Int, lineLimit: Int = TranscriptReader.defaultLineLimit)
        throws -> (events: [Event], warnings: [String])
    {
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(key: Array(repeating: 3, count: 32)), sinks: [sink])
        let decoding = TranscriptDecoding(
            name: "t.transcript", session: "t1", options: DecoderOptions(),
            time: Timestamp(seconds: 1_700_000_000), pipeline: pipeline,
            lineLimit: lineLimit)
        var i = 0
        while i < bytes.count {
            try decoding.feed(bytes[i..<min(bytes.count, i + blockSize)])
            i += blockSize
        }
        try decoding.finish()
        return (sink.events, decoding.warnings)
    }

    /// The directive after COMPRESS's completion, more than the head's 64 KiB into the file, is
    /// seen before the completion is decoded: what follows is read as already inflated.
    @Test func decompressedDirectiveSeenAsItStreamsBy() throws {
        let padding = (1...3000).map { "C: n\($0) NOOP\r\nS: n\($0) OK done\r\n" }.joined()
        let text =
            "S: * OK ready\r\n" + padding + "C: c2 COMPRESS DEFLATE\r\nS: c2 OK go\r\n"
            + "\(FixtureReader.decompressedDirective) COMPRESS=DEFLATE active\r\nC: c3 NOOP\r\nS: c3 OK done\r\n"
        let bytes = Array(text.utf8)
        #expect(bytes.count > TranscriptDecoding.headSize)
        let (events, warnings) = try Self.decode(bytes, blockSize: 4096)
        #expect(
            Array(EventSummary.lines(events).suffix(5))
                == ["S c2 OK COMPRESS", "compress", "C c3 NOOP", "S c3 OK NOOP", "end"])
        #expect(warnings.isEmpty)
        // Without the directive the same bytes would be inflated, and fail.
        let without = text.replacingOccurrences(of: FixtureReader.decompressedDirective, with: "# plain comment")
        let (plain, _) = try Self.decode(Array(without.utf8), blockSize: 4096)
        #expect(!EventSummary.lines(plain).contains("C c3 NOOP"))
    }

    /// Decoding in blocks with a small line limit gives the events of decoding whole; the long
    /// line is capped by the decoder's framer as on the wire, and the reader reports it.
    @Test func decodingInBlocksMatchesDecodingWhole() throws {
        let long = String(repeating: "z", count: 300_000)
        let text = "S: * OK ready\r\nC: a1 NOOP\r\nS: * OK \(long)\r\nS: a1 OK done\r\n"
        let bytes = Array(text.utf8)
        let whole = try Self.decode(bytes, blockSize: bytes.count, lineLimit: .max)
        let blocks = try Self.decode(bytes, blockSize: 1000, lineLimit: 4096)
        #expect(EventSummary.lines(blocks.events) == EventSummary.lines(whole.events))
        #expect(
            EventSummary.lines(blocks.events)
                == ["start", "S * OK", "C a1 NOOP", "S unparsed", "S a1 OK NOOP", "end"])
        #expect(
            blocks.warnings
                == ["1 line longer than 4096 bytes (the first at line 3) passed to the decoder in pieces"])
        #expect(whole.warnings.isEmpty)
    }

    /// A line that is not a transcript's, after good ones: what came before is decoded, the
    /// session ends saying where, and the error names the line.
    @Test func badLineEndsTheSession() throws {
        let text = "S: * OK ready\nC: a1 NOOP\nthis is not a transcript line\nS: a1 OK done\n"
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink])
        let decoding = TranscriptDecoding(
            name: "bad", session: "t1", options: DecoderOptions(),
            time: Timestamp(seconds: 1_700_000_000), pipeline: pipeline)
        #expect {
            try decoding.feed(Array(text.utf8)[...])
            try decoding.finish()
        } throws: {
            "\($0)" == "line 3: expected 'S:' or 'C:' at the start of the line"
        }
        #expect(EventSummary.lines(sink.events) == ["start", "S * OK", "C a1 NOOP", "lint no-completion", "end"])
        #expect(
            sink.events.last?["reason"]?.stringValue
                == "the transcript cannot be read past line 3: expected 'S:' or 'C:' at the start of the line")
    }

    /// From a descriptor (a pipe), with the first bytes already read by whoever sniffed the format.
    @Test func readsADescriptorAfterItsHead() throws {
        let url = DovecotProcess.repository.appendingPathComponent("Captures/login-select-fetch.transcript")
        let bytes = [UInt8](try Data(contentsOf: url))
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writeEnd = fds[1]
        let writer = Thread {
            _ = bytes[10...].withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            close(writeEnd)
        }
        writer.start()
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(key: Array(repeating: 3, count: 32)), sinks: [sink])
        let decoding = TranscriptDecoding(
            name: "pipe", session: "t1", options: DecoderOptions(),
            time: Timestamp(seconds: 1_700_000_000), pipeline: pipeline)
        try decoding.decode(fileDescriptor: fds[0], head: Array(bytes[..<10]))
        close(fds[0])
        let whole = try Self.decode(bytes, blockSize: bytes.count)
        #expect(EventSummary.lines(sink.events) == EventSummary.lines(whole.events))
        #expect(sink.events.count > 10)
    }
}
