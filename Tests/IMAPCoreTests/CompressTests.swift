import CompressNIO
import IMAPCore
import IMAPTranscript
import NIOCore
import Testing

/// A peer's side of COMPRESS=DEFLATE: one raw DEFLATE stream, sync-flushed per write (RFC 4978 §4).
final class DeflatePeer {
    let compressor = CompressionAlgorithm.deflate().compressor
    init() { try! compressor.startStream() }
    func send(_ s: String) -> [UInt8] {
        var b = ByteBuffer(string: s)
        let out = try! b.compressStream(with: compressor, flush: .sync, allocator: ByteBufferAllocator())
        return Array(out.readableBytesView)
    }
}

@Suite("COMPRESS=DEFLATE")
struct CompressTests {
    func run(bytewise: Bool) -> [String] {
        let d = SessionDecoder()
        let client = DeflatePeer()
        let server = DeflatePeer()
        var events: [DecodedEvent] = []
        func feed(_ dir: Direction, _ b: [UInt8]) {
            if bytewise {
                for x in b { events += d.feed(dir, [x], time: .zero) }
            } else {
                events += d.feed(dir, b, time: .zero)
            }
        }
        events += d.start(client: "127.0.0.1:1", server: "127.0.0.1:143", source: "transcript", time: .zero)
        feed(.server, Array("* PREAUTH hi\r\n".utf8))
        feed(.client, Array("a1 COMPRESS DEFLATE\r\n".utf8))
        // The server's OK and its first compressed bytes arrive together.
        feed(.server, Array("a1 OK DEFLATE active\r\n".utf8) + server.send("* 1 EXISTS\r\n"))
        feed(.client, client.send("a2 NOOP\r\n") + client.send("a3 FETCH 1 (BODY[] FLAGS)\r\n"))
        feed(.server, server.send("* 1 FETCH (BODY[] {5}\r\nhel") + server.send("lo FLAGS ())\r\na2 OK done\r\n"))
        feed(.server, server.send("a3 OK done\r\n"))
        events += d.finish(reason: "end", time: .zero)
        let r = Redactor(key: Harness.key)
        return events.enumerated().map { Harness.summary(r.redact($1, session: "s", seq: $0)) }
    }

    static let expected = [
        "start", "S * PREAUTH", "C a1 COMPRESS", "S a1 OK COMPRESS", "compress", "S * 1 EXISTS",
        "C a2 NOOP", "C a3 FETCH", "lint invalid-state", "S * 1 FETCH", "S a2 OK NOOP", "S a3 OK FETCH", "end",
    ]

    @Test func inflatesBothDirections() { #expect(run(bytewise: false) == Self.expected) }
    @Test func inflatesByteByByte() { #expect(run(bytewise: true) == Self.expected) }

    @Test func corruptStreamIsReported() {
        let d = SessionDecoder()
        _ = d.feed(.server, Array("* PREAUTH hi\r\n".utf8), time: .zero)
        _ = d.feed(.client, Array("a1 COMPRESS DEFLATE\r\n".utf8), time: .zero)
        _ = d.feed(.server, Array("a1 OK go\r\n".utf8), time: .zero)
        let events = d.feed(.server, [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x13], time: .zero)
        #expect(events.map(\.kind) == [.unparsed])
        guard case .unparsed(let unparsed)? = events.first?.body else {
            Issue.record("not unparsed")
            return
        }
        #expect(unparsed.reason.hasPrefix("corrupt DEFLATE stream"))
        #expect(events.first?.bytes == 6)
        #expect(d.feed(.server, [1, 2, 3], time: .zero).isEmpty)
    }
}
