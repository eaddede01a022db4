import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Flows that never close are evicted: after an idle time and beyond a flow count, so a capture
/// of half-open connections cannot grow the flow table without bound.
@Suite("Flow eviction")
struct EvictionTests {
    typealias Packets = [(frame: [UInt8], time: Timestamp, wire: Int?)]

    static func read(_ packets: Packets, options: CaptureDecoder.Options = CaptureDecoder.Options())
        throws -> (events: [Event], result: CaptureReader.Result)
    {
        let path = try CaptureHarness.write(packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try CaptureHarness.read(path, options: options)
    }

    /// A SYN from its own address to port 143, at `time`.
    static func syn(_ i: Int, time: Timestamp) -> (frame: [UInt8], time: Timestamp, wire: Int?) {
        let tcp = Build.tcp(40_000, 143, seq: 1, ack: 0, flags: .syn, payload: [])
        let ip = Build.ipv4([10, 1, UInt8(i >> 8 & 255), UInt8(i & 255)], [10, 0, 0, 2], tcp)
        return (Build.frame(.ethernet, ip: ip), time, nil)
    }

    @Test func defaults() {
        let o = CaptureDecoder.Options()
        #expect(o.flowIdleSeconds == 1800)
        #expect(o.maxFlows == 10_000)
    }

    /// A session silent past the horizon ends with the eviction as its reason, after the bytes
    /// its reassembler held; a later packet on the same addresses starts a new session that is
    /// decoded as one captured mid-stream (its client line hidden), not as the old one resumed.
    @Test func idleSessionIsEvictedAndNotResumed() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        c.client("a1 NOOP\r\n")
        c.server("a1 OK done\r\n")
        // The server's next 5 bytes were lost: this segment waits in the reassembler.
        c.packet(
            fromClient: false, flags: [.psh, .ack], payload: Array("* 2 EXISTS\r\n".utf8), seq: c.serverSeq &+ 5,
            advance: false)
        let lastOfFirst = c.time
        c.time = Timestamp(microseconds: c.time.microseconds + 1801 * 1_000_000)
        c.server("* 3 EXISTS\r\n")
        c.client("a2 NOOP\r\n")
        c.server("a2 OK done\r\n")
        c.close()
        let (events, result) = try Self.read(c.packets)
        let first = events.filter { $0.session == "s1" }
        // The held segment comes out after the gap; it starts a response, so decoding resumes
        // right there and the gap skipped nothing.
        #expect(
            CaptureHarness.summaries(first) == [
                "start", "S * OK", "C a1 NOOP", "S a1 OK NOOP", "gap server 5",
                "S * 2 EXISTS", "end",
            ])
        #expect(first[4]["skipped_lines"]?.intValue == 0)
        #expect(first[5]["bytes"]?.intValue == 12)
        #expect(first.last?["reason"]?.stringValue == "evicted: idle for 1800 s of capture time")
        #expect(first.last?.time == Timestamp(microseconds: lastOfFirst.microseconds + 1800 * 1_000_000))
        let second = events.filter { $0.session == "s2" }
        #expect(
            CaptureHarness.summaries(second)
                == ["start", "S * 3 EXISTS", "C unparsed", "S ‹redacted:b1377434› OK", "end"])
        #expect(second.last?["reason"]?.stringValue == "connection closed by both sides")
        #expect(Set(events.map(\.session)) == ["s1", "s2"])
        #expect(result.warnings == ["1 idle flow evicted (no packet for 1800 s of capture time)"])
    }

    @Test func idleHorizonIsAnOption() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        c.time = Timestamp(microseconds: c.time.microseconds + 61 * 1_000_000)
        c.server("* BYE later\r\n")
        var options = CaptureDecoder.Options()
        options.flowIdleSeconds = 60
        let (events, result) = try Self.read(c.packets, options: options)
        let end = events.first { $0.kind == .sessionEnd }
        #expect(end?["reason"]?.stringValue == "evicted: idle for 60 s of capture time")
        #expect(result.warnings == ["1 idle flow evicted (no packet for 60 s of capture time)"])
        // Under the horizon nothing is evicted.
        options.flowIdleSeconds = 62
        let (kept, keptResult) = try Self.read(c.packets, options: options)
        #expect(kept.filter { $0.kind == .sessionStart }.count == 1)
        #expect(kept.last?["reason"]?.stringValue == "end of capture")
        #expect(keptResult.warnings.isEmpty)
    }

    /// Over the cap the least recently active flow goes: a flow that spoke again is kept.
    @Test func flowCapEvictsTheLeastRecentlyActive() throws {
        var options = CaptureDecoder.Options()
        options.maxFlows = 50
        var conversations: [Conversation] = []
        var packets: Packets = []
        for i in 0..<53 {
            if i == 50 {
                // The first flow speaks again, so it is no longer the least recently active.
                conversations[0].client("a1 NOOP\r\n")
                packets.append(conversations[0].packets.removeLast())
            }
            var c = Conversation()
            c.clientPort = UInt16(20_000 + i)
            c.time = Timestamp(seconds: 1_700_000_000 + Int64(i))
            c.handshake()
            c.server("* OK ready\r\n")
            packets += c.packets
            conversations.append(c)
        }
        let (events, result) = try Self.read(packets, options: options)
        let ends = events.filter { $0.kind == .sessionEnd }
        #expect(ends.count == 53)
        let evicted = ends.filter { $0["reason"]?.stringValue == "evicted: more than 50 flows open" }.map(\.session)
        #expect(evicted == ["s2", "s3", "s4"])
        #expect(
            CaptureHarness.summaries(events.filter { $0.session == "s1" })
                == ["start", "S * OK", "C a1 NOOP", "lint no-completion", "end"])
        #expect(events.filter { $0.session == "s1" }.last?["reason"]?.stringValue == "end of capture")
        #expect(result.warnings == ["3 flows evicted over the 50-flow cap (the least recently active first)"])
    }

    /// With the default cap: 10,000 + 7 half-open connections → 7 evictions, and the table never
    /// holds more than 10,000 flows.
    @Test func defaultCapHoldsTenThousandFlows() throws {
        let base = Timestamp(seconds: 1_700_000_000)
        let packets: Packets = (0..<10_007).map {
            Self.syn($0, time: Timestamp(microseconds: base.microseconds + Int64($0) * 100))
        }
        let (events, result) = try Self.read(packets)
        #expect(events.filter { $0.kind == .sessionStart }.count == 10_007)
        let reasons = events.filter { $0.kind == .sessionEnd }.compactMap { $0["reason"]?.stringValue }
        #expect(reasons.filter { $0 == "evicted: more than 10000 flows open" }.count == 7)
        #expect(reasons.filter { $0 == "end of capture" }.count == 10_000)
        #expect(result.warnings == ["7 flows evicted over the 10000-flow cap (the least recently active first)"])

        var tracked = 0
        let decoder = CaptureDecoder { _, _ in }
        for (n, p) in packets.enumerated() {
            let packet = CapturedPacket(number: n + 1, time: p.time, wireLength: p.frame.count, data: p.frame)
            decoder.process(packet, linkType: 1)
            tracked = max(tracked, decoder.trackedFlows)
        }
        #expect(tracked == 10_000)
        decoder.finish()
        #expect(decoder.trackedFlows == 0)
    }

    /// Both kinds in one capture are each reported once, with their counts.
    @Test func eachKindIsReportedOnceWithItsCount() throws {
        var options = CaptureDecoder.Options()
        options.maxFlows = 4
        options.flowIdleSeconds = 10
        let base = Timestamp(seconds: 1_700_000_000)
        // Six at once (two over the cap), then after 20 s three more: the four left are idle.
        func at(_ us: Int64) -> Timestamp { Timestamp(microseconds: base.microseconds + us) }
        var packets: Packets = (0..<6).map { Self.syn($0, time: at(Int64($0))) }
        packets += (6..<9).map { Self.syn($0, time: at(20_000_000 + Int64($0))) }
        let (_, result) = try Self.read(packets, options: options)
        #expect(
            result.warnings == [
                "4 idle flows evicted (no packet for 10 s of capture time)",
                "2 flows evicted over the 4-flow cap (the least recently active first)",
            ])
    }

    /// Out-of-order bytes across all flows are bounded too: the direction that takes the total
    /// past it has its hole declared a gap at once, the others keep waiting.
    @Test func outOfOrderBytesAcrossFlowsAreBounded() throws {
        var options = CaptureDecoder.Options()
        options.maxPendingTotal = 100
        var packets: Packets = []
        for port: UInt16 in [50_000, 50_001] {
            var c = Conversation()
            c.clientPort = port
            c.handshake()
            c.server("* OK ready\r\n")
            // 5 bytes lost, then 60 bytes that wait for them.
            let line = "* 1 FETCH (FLAGS (\\Seen) UID 1 RFC822.SIZE 12345 INTERNALDATE x)\r\n"
            c.packet(
                fromClient: false, flags: [.psh, .ack], payload: Array(line.prefix(60).utf8),
                seq: c.serverSeq &+ 5)
            packets += c.packets
        }
        let (events, result) = try Self.read(packets, options: options)
        let gaps = events.filter { $0.kind == .gap }
        // s2's hole is declared at once (the warning below), s1's only at the end; each stream then
        // skips to a response start, and as none comes, each gap event follows at its session's end.
        #expect(gaps.map(\.session) == ["s1", "s2"])
        #expect(gaps.map { $0["skipped_bytes"]?.intValue } == [60, 60])
        #expect(
            CaptureHarness.summaries(events.filter { $0.session == "s2" })
                == ["start", "S * OK", "gap server 5", "end"])
        #expect(
            result.warnings == [
                "out-of-order bytes held across all flows reached 100 bytes once; "
                    + "the holes then open were declared gaps"
            ])
        #expect(CaptureDecoder.Options().maxPendingTotal == 64 << 20)
    }
}
