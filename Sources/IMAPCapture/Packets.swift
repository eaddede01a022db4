import IMAPCore

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let x), .v6(let y)): return x.lexicographicallyPrecedes(y)
        }
    }

    /// Dotted quad, or RFC 5952 text (longest zero run compressed).
    public var description: String {
        switch self {
        case .v4(let a): return "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)"
        case .v6(let b):
            let groups = (0..<8).map { Int(b[2 * $0]) << 8 | Int(b[2 * $0 + 1]) }
            var best = (start: -1, len: 0)
            var cur = (start: -1, len: 0)
            for (i, g) in groups.enumerated() {
                if g == 0 {
                    if cur.start < 0 { cur = (i, 0) }
                    cur.len += 1
                    if cur.len > best.len { best = cur }
                } else {
                    cur = (-1, 0)
                }
            }
            if best.len < 2 { return groups.map { String($0, radix: 16) }.joined(separator: ":") }
            let head = groups[..<best.start].map { String($0, radix: 16) }.joined(separator: ":")
            let tail = groups[(best.start + best.len)...].map { String($0, radix: 16) }.joined(separator: ":")
            return head + "::" + tail
        }
    }
}

/// `ip:port`, IPv6 as `[::1]:143` (the event schema's endpoint form).
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }
    public static func < (a: Endpoint, b: Endpoint) -> Bool { a.ip != b.ip ? a.ip < b.ip : a.port < b.port }
    public var description: String {
        if case .v6 = ip { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }
}

/// A TCP segment lifted out of a frame.
public struct TCPSegment: Sendable {
    public var source: Endpoint
    public var destination: Endpoint
    public var seq: UInt32
    public var ack: UInt32
    public var syn: Bool, ackFlag: Bool, fin: Bool, rst: Bool
    public var payload: ArraySlice<UInt8>
    /// Payload bytes the snap length cut off.
    public var missing: Int
    /// A SYN marked by imapscope's proxy as the start of a decrypted TLS connection
    /// (`SyntheticTCPConnection.decryptedTLSOption`).
    public var markedAsDecryptedTLS = false
}

/// Why a frame yields no TCP segment.
public enum FrameSkip: Error, Sendable, Equatable {
    /// Not TCP, or not IP: not ours, silently.
    case notTCP
    /// Damaged or unsupported, worth telling the user once.
    case unsupported(String)
}

/// Link layer → IP → TCP (RFC 791, RFC 8200, RFC 9293), for the link types captures use.
public enum FrameDecoder {
    public static let supportedLinkTypes: [Int32: String] = [
        0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP", 108: "OpenBSD loopback",
        113: "Linux cooked v1", 276: "Linux cooked v2", 228: "raw IPv4", 229: "raw IPv6",
    ]

    public static func segment(linkType: Int32, frame f: [UInt8], wireLength: Int) throws(FrameSkip) -> TCPSegment {
        var i = 0
        var etherType: Int
        switch linkType {
        case 1:  // Ethernet II, with 802.1Q / 802.1ad / QinQ tags
            guard f.count >= 14 else { throw .unsupported("Ethernet frame shorter than its header") }
            etherType = Int(f[12]) << 8 | Int(f[13])
            i = 14
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
                guard f.count >= i + 4 else { throw .unsupported("truncated VLAN tag") }
                etherType = Int(f[i + 2]) << 8 | Int(f[i + 3])
                i += 4
            }
        case 113:  // Linux cooked v1: 16-byte header, protocol at 14
            guard f.count >= 16 else { throw .unsupported("Linux cooked header truncated") }
            etherType = Int(f[14]) << 8 | Int(f[15])
            i = 16
        case 276:  // Linux cooked v2: 20-byte header, protocol at 0
            guard f.count >= 20 else { throw .unsupported("Linux cooked v2 header truncated") }
            etherType = Int(f[0]) << 8 | Int(f[1])
            i = 20
        case 0, 108:  // 4-byte address family, host order (0) or network order (108)
            guard f.count >= 4 else { throw .unsupported("loopback header truncated") }
            let le = UInt32(f[0]) | UInt32(f[1]) << 8 | UInt32(f[2]) << 16 | UInt32(f[3]) << 24
            let be = UInt32(f[3]) | UInt32(f[2]) << 8 | UInt32(f[1]) << 16 | UInt32(f[0]) << 24
            let family = linkType == 108 ? be : (le < 256 ? le : be)
            switch family {
            case 2: etherType = 0x0800
            case 10, 24, 28, 30: etherType = 0x86DD
            default: throw .notTCP
            }
            i = 4
        case 12, 14, 101, 228, 229:
            guard let v = f.first else { throw .unsupported("empty raw IP frame") }
            etherType = v >> 4 == 6 ? 0x86DD : 0x0800
        default:
            throw .unsupported(
                "link type \(linkType) is not supported (Ethernet, Linux cooked v1/v2, BSD loopback and raw IP are)")
        }
        let lostAtEnd = max(0, wireLength - f.count)
        switch etherType {
        case 0x0800: return try ipv4(f, at: i, lostAtEnd: lostAtEnd)
        case 0x86DD: return try ipv6(f, at: i, lostAtEnd: lostAtEnd)
        default: throw .notTCP
        }
    }

    static func be16(_ f: [UInt8], _ i: Int) -> Int { Int(f[i]) << 8 | Int(f[i + 1]) }
    static func be32(_ f: [UInt8], _ i: Int) -> UInt32 {
        UInt32(f[i]) << 24 | UInt32(f[i + 1]) << 16 | UInt32(f[i + 2]) << 8 | UInt32(f[i + 3])
    }

    static func ipv4(_ f: [UInt8], at i: Int, lostAtEnd: Int) throws(FrameSkip) -> TCPSegment {
        guard f.count >= i + 20, f[i] >> 4 == 4 else { throw .unsupported("IPv4 header truncated") }
        let ihl = Int(f[i] & 15) * 4
        guard ihl >= 20, f.count >= i + ihl else { throw .unsupported("IPv4 header length \(ihl) is invalid") }
        let total = be16(f, i + 2)
        guard f[i + 9] == 6 else { throw .notTCP }
        let fragment = be16(f, i + 6)
        if fragment & 0x1FFF != 0 || fragment & 0x2000 != 0 { throw .unsupported("IPv4 fragments are not reassembled") }
        let src = IPAddress.v4(be32(f, i + 12))
        let dst = IPAddress.v4(be32(f, i + 16))
        // The IP total length bounds the payload (Ethernet pads short frames).
        let end = total >= ihl ? i + total : f.count + lostAtEnd
        return try tcp(f, at: i + ihl, end: end, src: src, dst: dst)
    }

    static func ipv6(_ f: [UInt8], at start: Int, lostAtEnd: Int) throws(FrameSkip) -> TCPSegment {
        guard f.count >= start + 40, f[start] >> 4 == 6 else { throw .unsupported("IPv6 header truncated") }
        let payloadLength = be16(f, start + 4)
        var next = Int(f[start + 6])
        let src = IPAddress.v6(Array(f[start + 8..<start + 24]))
        let dst = IPAddress.v6(Array(f[start + 24..<start + 40]))
        var i = start + 40
        let end = payloadLength > 0 ? start + 40 + payloadLength : f.count + lostAtEnd
        // Extension headers: hop-by-hop, routing, fragment, destination options, AH.
        var hops = 0
        while [0, 43, 44, 60, 51].contains(next) {
            hops += 1
            guard hops < 16, f.count >= i + 8 else { throw .unsupported("IPv6 extension headers truncated") }
            if next == 44 {
                let offset = be16(f, i + 2)
                if offset & 0xFFF9 != 0 || offset & 1 != 0 { throw .unsupported("IPv6 fragments are not reassembled") }
                next = Int(f[i])
                i += 8
            } else if next == 51 {
                let len = (Int(f[i + 1]) + 2) * 4
                next = Int(f[i])
                i += len
            } else {
                let len = (Int(f[i + 1]) + 1) * 8
                next = Int(f[i])
                i += len
            }
        }
        guard next == 6 else { throw .notTCP }
        return try tcp(f, at: i, end: end, src: src, dst: dst)
    }

    static func tcp(_ f: [UInt8], at i: Int, end: Int, src: IPAddress, dst: IPAddress) throws(FrameSkip) -> TCPSegment {
        guard f.count >= i + 20 else { throw .unsupported("TCP header truncated") }
        let offset = Int(f[i + 12] >> 4) * 4
        guard offset >= 20, f.count >= i + offset else { throw .unsupported("TCP header length \(offset) is invalid") }
        let flags = f[i + 13]
        let dataStart = i + offset
        let captured = min(end, f.count)
        let payload = dataStart < captured ? f[dataStart..<captured] : f[0..<0]
        return TCPSegment(
            source: Endpoint(ip: src, port: UInt16(be16(f, i))),
            destination: Endpoint(ip: dst, port: UInt16(be16(f, i + 2))),
            seq: be32(f, i + 4), ack: be32(f, i + 8),
            syn: flags & 0x02 != 0, ackFlag: flags & 0x10 != 0, fin: flags & 0x01 != 0, rst: flags & 0x04 != 0,
            payload: payload, missing: max(0, end - max(captured, dataStart)),
            markedAsDecryptedTLS: flags & 0x02 != 0 && offset > 20
                && f[(i + 20)..<(i + offset)].starts(with: SyntheticTCPConnection.decryptedTLSOption))
    }
}
