import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import Testing

/// A real capture (Captures/pcap-login-select-fetch.pcap: imaplib and Dovecot) with server data
/// lost the two ways captures lose it: a whole segment missing (a kernel drop), and a segment cut
/// short (a snap length). Decoding resumes at the next response, and one gap says what was lost.
@Suite("Real capture with lost server data")
struct LossyCaptureTests {
    /// The capture's records, as (header, data) pairs of a classic little-endian pcap.
    static func records(_ bytes: [UInt8]) throws -> (header: [UInt8], records: [[UInt8]]) {
        let header = Array(bytes[0..<24])
        var records: [[UInt8]] = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let captured = bytes[offset + 8..<offset + 12].enumerated().reduce(0) {
                $0 | Int($1.element) << (8 * $1.offset)
            }
            records.append(Array(bytes[offset..<offset + 16 + captured]))
            offset += 16 + captured
        }
        try #require(offset == bytes.count)
        return (header, records)
    }

    /// The record of the server's 3,589-byte segment: the UID FETCH's response with two
    /// literals ({104} header fields, {3332} body) and its tagged OK.
    static let bulkyRecord = 19

    static func decode(_ records: [[UInt8]], header: [UInt8]) throws -> [Event] {
        let path = NSTemporaryDirectory() + "imapscope-lossy-\(UUID().uuidString).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(header + records.joined()).write(to: URL(fileURLWithPath: path))
        return try CaptureHarness.read(path).events
    }

    static var original: (header: [UInt8], records: [[UInt8]]) {
        get throws {
            try records(
                [UInt8](try Data(contentsOf: URL(fileURLWithPath: OwnCapturesTests.path("pcap-login-select-fetch")))))
        }
    }

    static let tail = [
        "C KGCA5 STORE", "S * 1 FETCH", "S KGCA5 OK STORE", "C KGCA6 LOGOUT", "S * BYE",
        "S KGCA6 OK LOGOUT", "lint no-completion", "end",
    ]

    @Test("a whole segment dropped: the next one starts a response and is decoded at once")
    func droppedSegment() throws {
        let (header, all) = try Self.original
        let payload = all[Self.bulkyRecord].count - 16 - 14 - 20 - 32
        #expect(payload == 3589)
        var records = all
        records.remove(at: Self.bulkyRecord)
        let events = try Self.decode(records, header: header)
        let summaries = EventSummary.lines(events)
        let fetch = try #require(summaries.firstIndex(of: "C KGCA4 UID FETCH"))
        // The STORE was sent before the segment after the hole arrived, which is when the hole shows.
        #expect(
            Array(summaries[fetch...]) == ["C KGCA4 UID FETCH", "C KGCA5 STORE", "gap server 3589"]
                + Self.tail.dropFirst())
        let gap = try #require(events.first { $0.kind == .gap })
        #expect(gap["skipped_bytes"]?.intValue == 0)
        #expect(!events.contains { $0.kind == .unparsed })
    }

    @Test("a segment cut after 200 bytes: the cut FETCH line is skipped, one gap, then the next response")
    func truncatedSegment() throws {
        let (header, all) = try Self.original
        var records = all
        var cut = Array(records[Self.bulkyRecord].prefix(16 + 14 + 20 + 32 + 200))
        let captured = UInt32(cut.count - 16)
        cut.replaceSubrange(8..<12, with: withUnsafeBytes(of: captured.littleEndian, Array.init))
        records[Self.bulkyRecord] = cut
        let events = try Self.decode(records, header: header)
        let summaries = EventSummary.lines(events)
        let fetch = try #require(summaries.firstIndex(of: "C KGCA4 UID FETCH"))
        // The gap is reported when a response starts again, after the STORE sent meanwhile.
        #expect(
            Array(summaries[fetch...]) == ["C KGCA4 UID FETCH", "C KGCA5 STORE", "gap server 3389"]
                + Self.tail.dropFirst())
        let gap = try #require(events.first { $0.kind == .gap })
        // The FETCH line as far as it came: 200 bytes, one line, counted by the gap.
        #expect(gap["skipped_bytes"]?.intValue == 200)
        #expect(gap["skipped_lines"]?.intValue == 1)
        #expect(gap["raw"]?.stringValue?.hasPrefix("* 3 FETCH (UID 3 FLAGS") == true)
        #expect(!events.contains { $0.kind == .unparsed })
    }
}
