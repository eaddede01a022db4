import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript

/// Builds frames byte by byte (RFC 791/8200/9293 layouts) for synthetic test captures.
enum Build {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 255), UInt8(v & 255)] }
    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]
    }

    struct Flags: OptionSet {
        let rawValue: UInt8
        static let fin = Flags(rawValue: 1), syn = Flags(rawValue: 2), rst = Flags(rawValue: 4),
            psh = Flags(rawValue: 8), ack = Flags(rawValue: 16)
    }

    static func tcp(_ sport: UInt16, _ dport: UInt16, seq: UInt32, ack: UInt32, flags: Flags, payload: [UInt8])
        -> [UInt8]
    {
        be16(Int(sport)) + be16(Int(dport)) + be32(seq) + be32(ack) + [0x50, flags.rawValue] + be16(65535) + [
            0, 0, 0, 0,
        ] + payload
    }

    static func ipv4(_ src: [UInt8], _ dst: [UInt8], _ tcp: [UInt8], options: [UInt8] = []) -> [UInt8] {
        let ihl = (20 + options.count) / 4
        return [UInt8(0x40 | ihl), 0] + be16(20 + options.count + tcp.count) + [0, 1, 0x40, 0, 64, 6, 0, 0] + src + dst
            + options + tcp
    }

    /// IPv6, optionally behind hop-by-hop and destination-options headers.
    static func ipv6(_ src: [UInt8], _ dst: [UInt8], _ tcp: [UInt8], extensionHeaders: Bool = false) -> [UInt8] {
        var ext: [UInt8] = []
        var next: UInt8 = 6
        if extensionHeaders {
            ext = [60, 0, 1, 4, 0, 0, 0, 0] + [6, 0, 1, 4, 0, 0, 0, 0]  // hop-by-hop → dest opts → TCP (PadN)
            next = 0
        }
        return [0x60, 0, 0, 0] + be16(ext.count + tcp.count) + [next, 64] + src + dst + ext + tcp
    }

    enum Link { case ethernet, vlan, qinq, sll, sll2, null, loop, raw }

    static func frame(_ link: Link, ip: [UInt8]) -> [UInt8] {
        let v6 = ip[0] >> 4 == 6
        let type = v6 ? 0x86DD : 0x0800
        let macs: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]
        switch link {
        case .ethernet: return macs + be16(type) + ip
        case .vlan: return macs + be16(0x8100) + be16(42) + be16(type) + ip
        case .qinq: return macs + be16(0x88A8) + be16(7) + be16(0x8100) + be16(42) + be16(type) + ip
        case .sll: return be16(0) + be16(1) + be16(6) + Array(macs.prefix(6)) + [0, 0] + be16(type) + ip
        case .sll2: return be16(type) + [0, 0] + be32(1) + be16(1) + [0, 6] + Array(macs.prefix(6)) + [0, 0] + ip
        case .null: return (v6 ? [10, 0, 0, 0] : [2, 0, 0, 0]) + ip
        case .loop: return (v6 ? [0, 0, 0, 24] : [0, 0, 0, 2]) + ip
        case .raw: return ip
        }
    }

    static func linkType(_ l: Link) -> Int32 {
        switch l {
        case .ethernet, .vlan, .qinq: return 1
        case .sll: return 113
        case .sll2: return 276
        case .null: return 0
        case .loop: return 108
        case .raw: return 12  // DLT_RAW; libpcap stores it as LINKTYPE_RAW (101)
        }
    }
}

/// One TCP connection's packets, with sequence numbers kept for both sides.
struct Conversation {
    var link: Build.Link = .ethernet
    var v6 = false
    var ipv6ExtensionHeaders = false
    var ipv4Options = false
    var clientPort: UInt16 = 50000
    var serverPort: UInt16 = 143
    var clientIP: [UInt8] = [10, 0, 0, 1]
    var serverIP: [UInt8] = [10, 0, 0, 2]
    var clientSeq: UInt32 = 1000
    var serverSeq: UInt32 = 5000
    var time = Timestamp(seconds: 1_700_000_000)
    var packets: [(frame: [UInt8], time: Timestamp, wire: Int?)] = []

    init(link: Build.Link = .ethernet, v6: Bool = false) {
        self.link = link
        self.v6 = v6
        if v6 {
            clientIP = [UInt8](repeating: 0, count: 15) + [1]
            serverIP = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2]
        }
    }

    mutating func packet(
        fromClient: Bool, flags: Build.Flags, payload: [UInt8] = [], seq: UInt32? = nil, advance: Bool = true
    ) {
        time = Timestamp(microseconds: time.microseconds + 1000)
        let s = seq ?? (fromClient ? clientSeq : serverSeq)
        let a = fromClient ? serverSeq : clientSeq
        let t = Build.tcp(
            fromClient ? clientPort : serverPort, fromClient ? serverPort : clientPort,
            seq: s, ack: a, flags: flags, payload: payload)
        let (src, dst) = fromClient ? (clientIP, serverIP) : (serverIP, clientIP)
        let ip =
            v6
            ? Build.ipv6(src, dst, t, extensionHeaders: ipv6ExtensionHeaders)
            : Build.ipv4(src, dst, t, options: ipv4Options ? [1, 1, 1, 0] : [])
        packets.append((Build.frame(link, ip: ip), time, nil))
        if advance {
            let n = UInt32(payload.count) + (flags.contains(.syn) || flags.contains(.fin) ? 1 : 0)
            if fromClient { clientSeq &+= n } else { serverSeq &+= n }
        }
    }

    mutating func handshake() {
        packet(fromClient: true, flags: .syn)
        packet(fromClient: false, flags: [.syn, .ack])
        packet(fromClient: true, flags: .ack)
    }

    mutating func client(_ s: String) { packet(fromClient: true, flags: [.psh, .ack], payload: Array(s.utf8)) }
    mutating func server(_ s: String) { packet(fromClient: false, flags: [.psh, .ack], payload: Array(s.utf8)) }

    mutating func close() {
        packet(fromClient: true, flags: [.fin, .ack])
        packet(fromClient: false, flags: [.fin, .ack])
        packet(fromClient: true, flags: .ack)
    }

    /// The standard small session every link-layer test decodes.
    static func basic(
        link: Build.Link = .ethernet, v6: Bool = false, configure: (inout Conversation) -> Void = { _ in }
    ) -> Conversation {
        var c = Conversation(link: link, v6: v6)
        configure(&c)
        c.handshake()
        c.server("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
        c.client("a1 LOGIN alice secretpw\r\n")
        c.server("a1 OK logged in\r\n")
        c.client("a2 SELECT INBOX\r\n")
        c.server("* 3 EXISTS\r\n* OK [UIDVALIDITY 9] ok\r\na2 OK [READ-WRITE] done\r\n")
        c.client("a3 LOGOUT\r\n")
        c.server("* BYE bye\r\na3 OK bye\r\n")
        c.close()
        return c
    }

    static let basicSummary = [
        "start", "S * OK", "C a1 LOGIN", "lint cleartext-login", "S a1 OK LOGIN", "C a2 SELECT",
        "S * 3 EXISTS", "S * OK", "S a2 OK SELECT", "C a3 LOGOUT", "S * BYE", "S a3 OK LOGOUT", "end",
    ]
}

enum CaptureHarness {
    static func write(_ packets: [(frame: [UInt8], time: Timestamp, wire: Int?)], linkType: Int32) throws -> String {
        let path = NSTemporaryDirectory() + "imapscope-test-\(UUID().uuidString).pcap"
        let w = try PcapWriter(path: path, linkType: linkType)
        for p in packets { w.write(p.frame, time: p.time, wireLength: p.wire) }
        w.close()
        return path
    }

    /// Reads a capture and returns events per session plus the reader's result.
    static func read(_ path: String, filter: String? = nil, options: CaptureDecoder.Options = CaptureDecoder.Options())
        throws -> (events: [Event], result: CaptureReader.Result)
    {
        let sink = CollectingSink()
        let p = EventPipeline(redactor: Redactor(key: Array(repeating: 1, count: 32)), sinks: [sink])
        let source = try PcapSource.open(file: path)
        let r = try CaptureReader.read(source: source, filter: filter, options: options) { s, e in
            p.publish(e, session: s)
        }
        return (sink.events, r)
    }

    static func decode(_ c: Conversation, packets: [(frame: [UInt8], time: Timestamp, wire: Int?)]? = nil) throws
        -> [Event]
    {
        let path = try write(packets ?? c.packets, linkType: Build.linkType(c.link))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try read(path).events
    }

    static func summary(_ e: Event) -> String { EventSummary.line(e) }

    static func summaries(_ events: [Event]) -> [String] { events.map(summary) }
}
