import Foundation
import IMAPCore
import Testing

/// Every byte fed is accounted for by exactly one event, gaps or not. The first fuzz run found
/// inputs where bytes skipped after a gap went uncounted: a second gap while the framer was
/// already skipping (after an earlier gap, or inside an over-long line) started the count again.
@Suite("Byte accounting across gaps")
struct GapAccountingTests {
    enum Record {
        case bytes(Direction, [UInt8])
        case gap(Direction, Int)
    }

    /// FuzzSession's input format: one options byte, then records whose header has the direction
    /// in bit 7 (set: server), bit 6 for a gap, and the length - 1 in bits 0-5.
    static func records(_ data: [UInt8]) -> [Record] {
        var out: [Record] = []
        var i = 1
        while i < data.count {
            let header = data[i]
            i += 1
            let dir: Direction = header & 0x80 != 0 ? .server : .client
            let length = Int(header & 0x3F) + 1
            if header & 0x40 != 0 {
                out.append(.gap(dir, length))
            } else {
                out.append(.bytes(dir, Array(data[i..<min(data.count, i + length)])))
                i += length
            }
        }
        return out
    }

    /// Bytes fed and bytes the events account for, per direction.
    static func account(_ records: [Record]) -> (fed: [Direction: Int], seen: [Direction: Int]) {
        let decoder = SessionDecoder(options: DecoderOptions())
        var fed: [Direction: Int] = [:]
        var seen: [Direction: Int] = [:]
        var time = Timestamp(microseconds: 1_700_000_000_000_000)
        func count(_ events: [DecodedEvent]) {
            for e in events { if let d = e.dir { seen[d, default: 0] += e.bytes } }
        }
        count(decoder.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "transcript", time: time))
        for record in records {
            time = Timestamp(microseconds: time.microseconds + 1000)
            switch record {
            case .bytes(let dir, let bytes):
                fed[dir, default: 0] += bytes.count
                count(decoder.feed(dir, bytes, time: time))
            case .gap(let dir, let n):
                count(decoder.gap(dir, bytes: n, time: time))
            }
        }
        count(decoder.finish(reason: "end of input", time: time))
        return (fed, seen)
    }

    static let vectors: [(String, [Record])] = [
        (
            "two gaps in a row before a line break",
            [
                .bytes(.server, Array("* OK ready\r\n".utf8)), .bytes(.server, Array("* 1 EXISTS".utf8)),
                .gap(.server, 10), .bytes(.server, Array("abc".utf8)), .gap(.server, 5),
                .bytes(.server, Array("def\r\n* 2 EXISTS\r\n".utf8)),
            ]
        ),
        (
            "a gap inside an over-long line",
            [
                .bytes(.server, Array("* OK ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 70_000)),
                .gap(.server, 3), .bytes(.server, Array("tail\r\n* 2 EXISTS\r\n".utf8)),
            ]
        ),
        (
            "a gap inside a literal too short to absorb it, with bytes behind it",
            [
                .bytes(.server, Array("* 1 FETCH (BODY[] {4}\r\nab".utf8)), .gap(.server, 9),
                .bytes(.server, Array(")\r\n* 2 EXISTS\r\n".utf8)),
            ]
        ),
        (
            "client gaps back to back",
            [
                .bytes(.client, Array("a1 NOOP\r\na2 SEL".utf8)), .gap(.client, 4), .gap(.client, 4),
                .bytes(.client, Array("X\r\na3 NOOP\r\n".utf8)),
            ]
        ),
    ]

    @Test(arguments: vectors.indices)
    func everyByteIsAccountedFor(_ index: Int) {
        let (name, records) = Self.vectors[index]
        let (fed, seen) = Self.account(records)
        #expect(seen == fed, "\(name)")
    }

    @Test func theFuzzFindingIsAccountedFor() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/Regressions/FuzzSession/session-bytes-after-gaps.bin").standardized
        let data = try [UInt8](Data(contentsOf: path))
        let (fed, seen) = Self.account(Self.records(data))
        #expect(fed[.client] == 817 && fed[.server] == 311, "\(fed)")
        #expect(seen == fed)
    }
}
