import Testing

@testable import IMAPReplay

/// RFC 4978 needs each write flushed: every compressed chunk must inflate on its own, at once.
@Suite("DeflateStream")
struct DeflateStreamTests {
    @Test func eachWriteInflatesAtOnce() throws {
        let out = try DeflateStream(.compress)
        let back = try DeflateStream(.decompress)
        let responses = [
            "* OK ready\r\n", "a1 OK [CAPABILITY IMAP4rev1] done\r\n",
            String(repeating: "* 1 FETCH (FLAGS ())\r\n", count: 5000),
        ]
        for r in responses {
            let packed = try out.compress(Array(r.utf8))
            // The sync flush ends each chunk with an empty stored block: 00 00 FF FF.
            #expect(Array(packed.suffix(4)) == [0x00, 0x00, 0xFF, 0xFF])
            #expect(String(decoding: try back.decompress(packed), as: UTF8.self) == r)
        }
        // Fed a byte at a time, the inflater gives the same bytes.
        let packed = try out.compress(Array("a2 OK bye\r\n".utf8))
        var got: [UInt8] = []
        for b in packed { got += try back.decompress([b]) }
        #expect(String(decoding: got, as: UTF8.self) == "a2 OK bye\r\n")
    }

    @Test func largeInflationComesInWindows() throws {
        let out = try DeflateStream(.compress)
        let back = try DeflateStream(.decompress)
        let packed = try out.compress([UInt8](repeating: 0x41, count: 4 << 20))
        #expect(packed.count < 8192)
        var sizes: [Int] = []
        try back.decompress(packed) { sizes.append($0.count) }
        #expect(sizes.reduce(0, +) == 4 << 20)
        #expect(sizes.allSatisfy { $0 <= 64 * 1024 })
    }

    @Test func corruptInputThrows() throws {
        let back = try DeflateStream(.decompress)
        #expect(throws: (any Error).self) { try back.decompress([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }
}
