import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

@Suite("Capture decoding")
struct CaptureTests {
    @Test("every link type", arguments: [Build.Link.ethernet, .vlan, .qinq, .sll, .sll2, .null, .loop, .raw])
    func linkTypes(_ link: Build.Link) throws {
        let events = try CaptureHarness.decode(.basic(link: link))
        #expect(CaptureHarness.summaries(events) == Conversation.basicSummary)
        #expect(events[0]["client"]?.stringValue == "10.0.0.1:50000")
        #expect(events[0]["server"]?.stringValue == "10.0.0.2:143")
        #expect(events[0]["source"]?.stringValue == "pcap")
        #expect(events.last?["reason"]?.stringValue == "connection closed by both sides")
    }

    @Test("IPv6, with and without extension headers", arguments: [false, true])
    func ipv6(_ ext: Bool) throws {
        let events = try CaptureHarness.decode(.basic(v6: true) { $0.ipv6ExtensionHeaders = ext })
        #expect(CaptureHarness.summaries(events) == Conversation.basicSummary)
        #expect(events[0]["client"]?.stringValue == "[::1]:50000")
        #expect(events[0]["server"]?.stringValue == "[2001:db8::2]:143")
    }

    @Test func ipv4Options() throws {
        #expect(
            CaptureHarness.summaries(try CaptureHarness.decode(.basic { $0.ipv4Options = true }))
                == Conversation.basicSummary)
    }

    @Test func latencyFromPacketTimes() throws {
        let events = try CaptureHarness.decode(.basic())
        let ok = events.first { $0.kind == .tagged }!
        #expect(ok["latency_ms"]?.doubleValue == 1.0)
        #expect(ok.time.rfc3339 == "2023-11-14T22:13:20.006000Z")
    }

    @Test func outOfOrderSegments() throws {
        // Two server segments captured in the opposite order of their sequence numbers.
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        c.server("* 1 EXISTS\r\n")
        c.server("* 2 EXISTS\r\n")
        c.packets.swapAt(c.packets.count - 1, c.packets.count - 2)
        c.close()
        let events = try CaptureHarness.decode(c)
        #expect(CaptureHarness.summaries(events) == ["start", "S * OK", "S * 1 EXISTS", "S * 2 EXISTS", "end"])
    }

    @Test func retransmissionsAreDroppedAndDifferencesReported() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        let seq = c.clientSeq
        c.client("a1 NOOP\r\n")
        c.packet(fromClient: true, flags: [.psh, .ack], payload: Array("a1 NOOP\r\n".utf8), seq: seq, advance: false)
        c.packet(fromClient: true, flags: [.psh, .ack], payload: Array("a1 NOPE\r\n".utf8), seq: seq, advance: false)
        c.server("a1 OK done\r\n")
        c.close()
        let path = try CaptureHarness.write(c.packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (events, result) = try CaptureHarness.read(path)
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "S * OK", "C a1 NOOP", "lint retransmission-differs", "S a1 OK NOOP", "end",
            ])
        #expect(
            events.first { $0.kind == .lint }?["message"]?.stringValue
                == "a retransmitted client segment differs from the first copy in 2 byte(s); the first copy was kept")
        #expect(result.warnings.isEmpty)
    }

    @Test func lostSegmentBecomesAGapAndDecodingResumes() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        c.client("a1 NOOP\r\n")
        c.server("a1 OK done\r\n")
        c.client("a2 CAPABI")  // lost
        c.client("LITY\r\na3 NOOP\r\n")
        c.server("* CAPABILITY IMAP4rev1\r\na2 OK done\r\na3 OK done\r\n")
        c.client("a4 NOOP\r\n")
        c.server("a4 OK done\r\n")
        c.close()
        var p = c.packets
        p.remove(at: 6)
        let events = try CaptureHarness.decode(c, packets: p)
        // After the gap a client line may start inside a lost literal: hidden until the server
        // completes a tag one of them carried (a3), shown again from a4.
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "S * OK", "C a1 NOOP", "S a1 OK NOOP", "gap client 9",
                "C unparsed", "C unparsed", "S * CAPABILITY", "S ‹redacted:b1377434› OK", "S ‹redacted:f1b3e1ec› OK",
                "C a4 NOOP", "S a4 OK NOOP", "end",
            ])
        let hidden = events.filter { $0.kind == .unparsed }.map { $0["raw"]?.stringValue }
        #expect(hidden == ["‹hidden client line: 6 bytes›", "‹hidden client line: 9 bytes›"])
        var bytes: Int64 = 0
        for e in events where e.dir == .client { bytes += e["bytes"]?.intValue ?? 0 }
        #expect(bytes == Int64("a1 NOOP\r\nLITY\r\na3 NOOP\r\na4 NOOP\r\n".utf8.count))
    }

    @Test func sequenceNumbersWrapAround() throws {
        let events = try CaptureHarness.decode(
            .basic {
                $0.clientSeq = UInt32.max - 20
                $0.serverSeq = UInt32.max - 5
            })
        #expect(CaptureHarness.summaries(events) == Conversation.basicSummary)
    }

    @Test func midStreamCaptureWithoutHandshake() throws {
        var c = Conversation()
        c.client("a7 NOOP\r\n")
        c.server("* 4 EXISTS\r\na7 OK done\r\n")
        c.client("a8 NOOP\r\n")
        c.server("a8 OK done\r\n")
        let events = try CaptureHarness.decode(c)
        // The first client line may be the rest of a literal or a SASL line: hidden until a7's
        // completion shows it was a command.
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "C unparsed", "S * 4 EXISTS", "S ‹redacted:16a2373d› OK",
                "C a8 NOOP", "S a8 OK NOOP", "end",
            ])
        #expect(events[1]["raw"]?.stringValue == "‹hidden client line: 9 bytes›")
        #expect(
            events[1]["reason"]?.stringValue == "hidden until a server completion shows where commands start "
                + "(the capture started in the middle of the connection)")
        #expect(events[0]["client"]?.stringValue == "10.0.0.1:50000")
    }

    @Test func oneSidedCapture() throws {
        var c = Conversation()
        c.server("* OK ready\r\n")
        c.server("a1 OK done\r\n")
        let events = try CaptureHarness.decode(c)
        #expect(CaptureHarness.summaries(events) == ["start", "S * OK", "S ‹redacted:1cd2aad9› OK", "end"])
        // No client bytes and no handshake: the command was not captured, which is no anomaly.
        #expect(events[2].annotation == "completes a command whose line was hidden or not captured")
    }

    @Test func interleavedFlowsStaySeparate() throws {
        var a = Conversation.basic()
        var b = Conversation.basic {
            $0.clientPort = 50001
            $0.clientIP = [10, 0, 0, 9]
        }
        // Interleave packet by packet, b slightly later.
        var merged: [(frame: [UInt8], time: Timestamp, wire: Int?)] = []
        for i in 0..<max(a.packets.count, b.packets.count) {
            if i < a.packets.count { merged.append(a.packets[i]) }
            if i < b.packets.count {
                var p = b.packets[i]
                p.time = Timestamp(microseconds: p.time.microseconds + 500)
                merged.append(p)
            }
        }
        a.packets = []
        b.packets = []
        let events = try CaptureHarness.decode(Conversation(), packets: merged)
        for s in ["s1", "s2"] {
            #expect(CaptureHarness.summaries(events.filter { $0.session == s }) == Conversation.basicSummary)
        }
        // Both sessions' events come out in capture order.
        #expect(events.map(\.time) == events.map(\.time).sorted())
    }

    @Test func reusedPortPairStartsANewSession() throws {
        let first = Conversation.basic()
        let second = Conversation.basic {
            $0.clientSeq = 90_000
            $0.time = Timestamp(seconds: 1_700_000_100)
        }
        let events = try CaptureHarness.decode(Conversation(), packets: first.packets + second.packets)
        #expect(Set(events.map(\.session)) == ["s1", "s2"])
        #expect(CaptureHarness.summaries(events.filter { $0.session == "s2" }) == Conversation.basicSummary)
    }

    @Test func snaplenTruncatedPacketIsAGap() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK ready\r\n")
        c.server("* 1 FETCH (BODY[] {20}\r\n0123456789abcdefghij)\r\n* 2 EXISTS\r\n")
        c.close()
        // Cut the FETCH frame 10 bytes into its literal.
        var p = c.packets
        let i = 4
        let full = p[i].frame
        let cut = full.count - ("klmnopqrst)\r\n* 2 EXISTS\r\n".utf8.count) + 10
        p[i] = (Array(full.prefix(cut - 10)), p[i].time, full.count)
        let events = try CaptureHarness.decode(c, packets: p)
        let s = CaptureHarness.summaries(events)
        #expect(s.contains { $0.hasPrefix("gap server ") })
        #expect(s.last == "end")
    }

    @Test func contentRecognisesIMAPOnOtherPorts() throws {
        let imap = Conversation.basic { $0.serverPort = 2143 }
        var http = Conversation()
        http.serverPort = 8080
        http.clientPort = 40000
        http.handshake()
        http.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        http.server("HTTP/1.1 200 OK\r\n\r\n")
        let events = try CaptureHarness.decode(Conversation(), packets: imap.packets + http.packets)
        #expect(CaptureHarness.summaries(events) == Conversation.basicSummary)
        #expect(events[0]["server"]?.stringValue == "10.0.0.2:2143")
    }

    @Test func portOptionNamesIMAPPorts() throws {
        var c = Conversation()
        c.serverPort = 1143
        c.client("a1 NOOP\r\n")  // mid-stream, a command first: recognised by content too
        c.server("a1 OK done\r\n")
        c.client("a2 NOOP\r\n")
        c.server("a2 OK done\r\n")
        let path = try CaptureHarness.write(c.packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var o = CaptureDecoder.Options()
        o.imapPorts = [1143]
        let (events, _) = try CaptureHarness.read(path, options: o)
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "C unparsed", "S ‹redacted:1cd2aad9› OK", "C a2 NOOP", "S a2 OK NOOP", "end",
            ])
    }

    @Test func startTLSReportsTheServerName() throws {
        var c = Conversation()
        c.handshake()
        c.server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
        c.client("a1 STARTTLS\r\n")
        c.server("a1 OK begin TLS\r\n")
        c.packet(fromClient: true, flags: [.psh, .ack], payload: TLSBytes.clientHello(sni: "mail.example.org"))
        c.packet(fromClient: false, flags: [.psh, .ack], payload: [0x16, 3, 3, 0, 2, 2, 0])
        c.close()
        let events = try CaptureHarness.decode(c)
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "S * OK", "C a1 STARTTLS", "S a1 OK STARTTLS", "tls starttls mail.example.org", "end",
            ])
        #expect(
            events.last?["encrypted_bytes"]?.serialized
                == #"{"client":\#(TLSBytes.clientHello(sni: "mail.example.org").count),"server":7}"#)
    }

    @Test func implicitTLSOn993() throws {
        var c = Conversation()
        c.serverPort = 993
        c.handshake()
        c.packet(fromClient: true, flags: [.psh, .ack], payload: TLSBytes.clientHello(sni: "imap.example.net"))
        c.packet(fromClient: false, flags: [.psh, .ack], payload: [0x16, 3, 3, 0, 1, 2])
        c.close()
        let events = try CaptureHarness.decode(c)
        #expect(CaptureHarness.summaries(events) == ["start", "tls implicit imap.example.net", "end"])
        #expect(events[0]["transport"]?.stringValue == "tls")
    }

    @Test func bpfFilterSelectsFlows() throws {
        let a = Conversation.basic()
        let b = Conversation.basic {
            $0.clientPort = 50001
            $0.clientIP = [10, 0, 0, 9]
        }
        let path = try CaptureHarness.write(a.packets + b.packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (events, _) = try CaptureHarness.read(path, filter: "host 10.0.0.9")
        #expect(Set(events.map(\.session)) == ["s1"])
        #expect(events[0]["client"]?.stringValue == "10.0.0.9:50001")
    }

    @Test func truncatedFileKeepsWhatCameBefore() throws {
        let c = Conversation.basic()
        let path = try CaptureHarness.write(c.packets, linkType: 1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Cut the file in the middle of packet 9's record (24-byte file header, 16-byte record headers).
        let offsets = c.packets.prefix(8).reduce(24) { $0 + 16 + $1.frame.count }
        let data = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(offsets + 16 + 10)
        try data.write(to: URL(fileURLWithPath: path))
        let (events, result) = try CaptureHarness.read(path)
        #expect(result.error?.hasPrefix("\(path): packet 9:") == true, "\(result.error ?? "")")
        #expect(result.packets == 8)
        #expect(
            CaptureHarness.summaries(events) == [
                "start", "S * OK", "C a1 LOGIN", "lint cleartext-login", "S a1 OK LOGIN", "C a2 SELECT",
                "S * 3 EXISTS", "S * OK", "S a2 OK SELECT", "end",
            ])
        #expect(events.last?["reason"]?.stringValue == "end of capture")
    }

    @Test func unsupportedLinkTypeIsNamed() throws {
        let path = try CaptureHarness.write([([1, 2, 3], .zero, nil)], linkType: 147)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try CaptureHarness.read(path) } throws: { "\($0)".contains("link type") && "\($0)".contains("147") }
    }

    @Test func closedConnectionsAreForgotten() throws {
        var events = 0
        let d = CaptureDecoder { _, e in events += e.count }
        var number = 0
        for i in 0..<500 {
            var c = Conversation.basic { $0.clientPort = UInt16(20_000 + i) }
            // A late, duplicate ACK after the close must not start a session.
            c.packet(fromClient: false, flags: .ack)
            for p in c.packets {
                number += 1
                d.process(
                    CapturedPacket(number: number, time: p.time, wireLength: p.frame.count, data: p.frame), linkType: 1)
            }
            #expect(d.trackedFlows == 0)
        }
        d.finish()
        #expect(d.sessionsStarted == 500)
        #expect(events == 500 * Conversation.basicSummary.count)
    }

    @Test func passwordNeverShown() throws {
        let events = try CaptureHarness.decode(.basic())
        let text = events.map { $0.json.serialized }.joined()
        #expect(!text.contains("secretpw"))
        #expect(text.contains("\"user\":\"alice\""))
    }
}

/// A minimal TLS 1.3 ClientHello with SNI (RFC 8446 §4.1.2, RFC 6066 §3).
enum TLSBytes {
    static func clientHello(sni: String) -> [UInt8] {
        let name = Array(sni.utf8)
        let sniExt =
            Build.be16(0) + Build.be16(name.count + 5) + Build.be16(name.count + 3) + [0] + Build.be16(name.count)
            + name
        let versions = Build.be16(43) + Build.be16(3) + [2, 3, 4]
        let ext = sniExt + versions
        let body: [UInt8] =
            [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + Build.be16(2) + [0x13, 0x01] + [1, 0]
            + Build.be16(ext.count) + ext
        let hs: [UInt8] = [1, 0] + Build.be16(body.count) + body
        return [0x16, 3, 1] + Build.be16(hs.count) + hs
    }
}

@Suite("Mutated frames")
struct FrameMutationTests {
    @Test("damaged frames never crash the capture decoder, and every session ends")
    func damagedFrames() {
        var rng = SeededRandom(state: 7)
        let bases: [Conversation] = [
            .basic(), .basic(link: .sll2, v6: true) { $0.ipv6ExtensionHeaders = true }, .basic(link: .vlan),
        ]
        for round in 0..<400 {
            let c = bases[round % bases.count]
            var starts = 0
            var ends = 0
            let d = CaptureDecoder { _, events in
                for e in events {
                    if e.kind == .sessionStart { starts += 1 } else if e.kind == .sessionEnd { ends += 1 }
                }
            }
            for (i, p) in c.packets.enumerated() {
                var f = p.frame
                if Int.random(in: 0..<3, using: &rng) == 0, !f.isEmpty {
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                }
                if Int.random(in: 0..<8, using: &rng) == 0 {
                    f = Array(f.prefix(Int.random(in: 0...f.count, using: &rng)))
                }
                d.process(
                    CapturedPacket(number: i + 1, time: p.time, wireLength: p.frame.count, data: f),
                    linkType: Build.linkType(c.link))
            }
            d.finish()
            #expect(starts == ends, "round \(round)")
            #expect(d.trackedFlows == 0)
        }
    }
}
