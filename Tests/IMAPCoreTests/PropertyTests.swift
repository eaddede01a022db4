import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

@Suite("Mutated input")
struct PropertyTests {
    static var corpus: [[FixtureReader.Chunk]] {
        (SessionDecoderTests.scripts.map(\.script) + RedactionTests.vectors.map(\.script)
            + LintTests.vectors.map(\.script).filter { $0.count < 5000 })
            .map(Harness.chunks)
    }

    static let interesting: [UInt8] = Array("{}\"()[]\r\n\\ *+~0123456789".utf8) + [0, 0xFF, 0x16]

    static func mutate(_ chunks: [FixtureReader.Chunk], _ rng: inout SeededRandom) -> [FixtureReader.Chunk] {
        var out = chunks
        let edits = Int.random(in: 1...6, using: &rng)
        for _ in 0..<edits {
            guard !out.isEmpty else { break }
            let i = Int.random(in: 0..<out.count, using: &rng)
            var b = out[i].bytes
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &rng)] = interesting.randomElement(using: &rng)!
            case 1: b.insert(interesting.randomElement(using: &rng)!, at: Int.random(in: 0...b.count, using: &rng))
            case 2 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
            case 3 where !b.isEmpty: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            case 4: out.swapAt(i, Int.random(in: 0..<out.count, using: &rng))
            default: b[...].reverse()
            }
            if i < out.count { out[i].bytes = b }
        }
        if Bool.random(using: &rng) { out = Array(out.prefix(Int.random(in: 0...out.count, using: &rng))) }
        return out
    }

    @Test("thousands of mutations never crash, and every byte is accounted for")
    func mutations() {
        let corpus = Self.corpus
        var rng = SeededRandom(state: 20_261_201)
        var checked = 0
        for round in 0..<3000 {
            let base = corpus[round % corpus.count]
            let chunks = Self.mutate(base, &rng)
            let splitAt = Int.random(in: 1...max(1, chunks.reduce(0) { $0 + $1.bytes.count }), using: &rng)
            let events = Harness.run(chunks: chunks, chunking: round % 3 == 0 ? .split(splitAt) : .lines)
            #expect(events.last?.kind == .sessionEnd)
            if events.contains(where: { $0.kind == .compress }) { continue }
            var seen: [Direction: Int64] = [:]
            for e in events { if let d = e.dir, let b = e["bytes"]?.intValue { seen[d, default: 0] += b } }
            if let enc = events.last?["encrypted_bytes"] {
                for d in [Direction.client, .server] { seen[d, default: 0] += enc[d.rawValue]?.intValue ?? 0 }
            }
            var fed: [Direction: Int64] = [:]
            for c in chunks where !c.bytes.isEmpty { fed[c.direction, default: 0] += Int64(c.bytes.count) }
            if seen.filter({ $0.value != 0 }) != fed.filter({ $0.value != 0 }) {
                Issue.record("round \(round): events account for \(seen), input was \(fed)")
                return
            }
            checked += 1
        }
        #expect(checked > 2500)
    }

    @Test("random bytes never crash and stay bounded")
    func noise() {
        var rng = SeededRandom(state: 42)
        for _ in 0..<60 {
            let d = SessionDecoder()
            for _ in 0..<10 {
                let n = Int.random(in: 0..<4096, using: &rng)
                let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                _ = d.feed(Bool.random(using: &rng) ? .client : .server, bytes, time: .zero)
            }
            #expect(d.finish(reason: "end", time: .zero).last?.kind == .sessionEnd)
        }
    }

    @Test("a line with no end is cut at the limit, not buffered")
    func endlessLine() {
        var opts = DecoderOptions()
        opts.limits.maxLineLength = 10_000
        let d = SessionDecoder(options: opts)
        var events: [DecodedEvent] = []
        for _ in 0..<100 { events += d.feed(.server, [UInt8](repeating: UInt8(ascii: "x"), count: 1000), time: .zero) }
        events += d.feed(.server, Array("\r\n* OK fine\r\n".utf8), time: .zero)
        let kinds = events.map(\.kind)
        #expect(kinds == [.unparsed, .untagged])
        #expect(events[0].bytes == 100_002)
        guard case .unparsed(let unparsed) = events[0].body else {
            Issue.record("not unparsed")
            return
        }
        #expect(unparsed.reason == "line longer than 10000 bytes")
    }

    @Test("a 1 GB literal streams through as a digest")
    func hugeLiteral() {
        let d = SessionDecoder()
        _ = d.feed(.server, Array("* PREAUTH hi\r\n* 1 FETCH (BODY[] {1073741824}\r\n".utf8), time: .zero)
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<1024 { #expect(d.feed(.server, block, time: .zero).isEmpty) }
        let events = d.feed(.server, Array(")\r\n".utf8), time: .zero)
        #expect(events.count == 1)
        guard case .untagged(let fetch) = events[0].body else {
            Issue.record("not untagged")
            return
        }
        let attrs = fetch.response.arguments.fields.first { $0.0 == "attributes" }?.1["BODY[]"]
        #expect(attrs?["size"]?.intValue == 1 << 30)
        #expect(attrs?["preview"]?.stringValue == String(repeating: "a", count: 64))
        #expect(events[0].bytes == "* 1 FETCH (BODY[] {1073741824}\r\n".utf8.count + (1 << 30) + ")\r\n".utf8.count)
    }
}
