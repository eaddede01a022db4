import IMAPCore

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let left), .v4(let right)): return left < right
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let left), .v6(let right)): return left.lexicographicallyPrecedes(right)
        }
    }

    /// Dotted quad, or RFC 5952 text (longest zero run compressed).
    public var description: String {
        switch self {
        case .v4(let address): return "\(address >> 24).\(address >> 16 & 255).\(address >> 8 & 255).\(address & 255)"
        case .v6(let bytes):
            let groups = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
            var best = (start: -1, len: 0)
            var cur = (start: -1, len: 0)
            for (index, group) in groups.enumerated() {
                if group == 0 {
                    if cur.start < 0 { cur = (index, 0) }
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
    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        lhs.ip != rhs.ip ? lhs.ip < rhs.ip : lhs.port < rhs.port
    }
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

    public static func segment(linkType: Int32, frame: [UInt8], wireLength: Int) throws(FrameSkip) -> TCPSegment {
        var linkHeaderLength = 0
        var etherType: Int
        switch linkType {
        case 1:  // Ethernet II, with 802.1Q / 802.1ad / QinQ tags
            guard frame.count >= 14 else { throw .unsupported("Ethernet frame shorter than its header") }
            etherType = Int(frame[12]) << 8 | Int(frame[13])
            linkHeaderLength = 14
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
                guard frame.count >= linkHeaderLength + 4 else { throw .unsupported("truncated VLAN tag") }
                etherType = Int(frame[linkHeaderLength + 2]) << 8 | Int(frame[linkHeaderLength + 3])
                linkHeaderLength += 4
            }
        case 113:  // Linux cooked v1: 16-byte header, protocol at 14
            guard frame.count >= 16 else { throw .unsupported("Linux cooked header truncated") }
            etherType = Int(frame[14]) << 8 | Int(frame[15])
            linkHeaderLength = 16
        case 276:  // Linux cooked v2: 20-byte header, protocol at 0
            guard frame.count >= 20 else { throw .unsupported("Linux cooked v2 header truncated") }
            etherType = Int(frame[0]) << 8 | Int(frame[1])
            linkHeaderLength = 20
        case 0, 108:  // 4-byte address family, host order (0) or network order (108)
            guard frame.count >= 4 else { throw .unsupported("loopback header truncated") }
            let le = UInt32(frame[0]) | UInt32(frame[1]) << 8 | UInt32(frame[2]) << 16 | UInt32(frame[3]) << 24
            let be = UInt32(frame[3]) | UInt32(frame[2]) << 8 | UInt32(frame[1]) << 16 | UInt32(frame[0]) << 24
            let family = linkType == 108 ? be : (le < 256 ? le : be)
            switch family {
            case 2: etherType = 0x0800
            case 10, 24, 28, 30: etherType = 0x86DD
            default: throw .notTCP
            }
            linkHeaderLength = 4
        case 12, 14, 101, 228, 229:
            guard let firstByte = frame.first else { throw .unsupported("empty raw IP frame") }
            etherType = firstByte >> 4 == 6 ? 0x86DD : 0x0800
        default:
            throw .unsupported(
                "link type \(linkType) is not supported (Ethernet, Linux cooked v1/v2, BSD loopback and raw IP are)")
        }
        let lostAtEnd = max(0, wireLength - frame.count)
        switch etherType {
        case 0x0800: return try ipv4(frame, at: linkHeaderLength, lostAtEnd: lostAtEnd)
        case 0x86DD: return try ipv6(frame, at: linkHeaderLength, lostAtEnd: lostAtEnd)
        default: throw .notTCP
        }
    }

    static func be16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
    static func be32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    static func ipv4(_ frame: [UInt8], at start: Int, lostAtEnd: Int) throws(FrameSkip) -> TCPSegment {
        guard frame.count >= start + 20, frame[start] >> 4 == 4 else { throw .unsupported("IPv4 header truncated") }
        let ihl = Int(frame[start] & 15) * 4
        guard ihl >= 20, frame.count >= start + ihl else { throw .unsupported("IPv4 header length \(ihl) is invalid") }
        let total = be16(frame, start + 2)
        guard frame[start + 9] == 6 else { throw .notTCP }
        let fragment = be16(frame, start + 6)
        if fragment & 0x1FFF != 0 || fragment & 0x2000 != 0 { throw .unsupported("IPv4 fragments are not reassembled") }
        let src = IPAddress.v4(be32(frame, start + 12))
        let dst = IPAddress.v4(be32(frame, start + 16))
        // The IP total length bounds the payload (Ethernet pads short frames).
        let end = total >= ihl ? start + total : frame.count + lostAtEnd
        return try tcp(frame, at: start + ihl, end: end, src: src, dst: dst)
    }

    static func ipv6(_ frame: [UInt8], at start: Int, lostAtEnd: Int) throws(FrameSkip) -> TCPSegment {
        guard frame.count >= start + 40, frame[start] >> 4 == 6 else { throw .unsupported("IPv6 header truncated") }
        let payloadLength = be16(frame, start + 4)
        var next = Int(frame[start + 6])
        let src = IPAddress.v6(Array(frame[start + 8..<start + 24]))
        let dst = IPAddress.v6(Array(frame[start + 24..<start + 40]))
        var position = start + 40
        let end = payloadLength > 0 ? start + 40 + payloadLength : frame.count + lostAtEnd
        // Extension headers: hop-by-hop, routing, fragment, destination options, AH.
        var hops = 0
        while [0, 43, 44, 60, 51].contains(next) {
            hops += 1
            guard hops < 16, frame.count >= position + 8 else { throw .unsupported("IPv6 extension headers truncated") }
            if next == 44 {
                let offset = be16(frame, position + 2)
                if offset & 0xFFF9 != 0 || offset & 1 != 0 { throw .unsupported("IPv6 fragments are not reassembled") }
                next = Int(frame[position])
                position += 8
            } else if next == 51 {
                let len = (Int(frame[position + 1]) + 2) * 4
                next = Int(frame[position])
                position += len
            } else {
                let len = (Int(frame[position + 1]) + 1) * 8
                next = Int(frame[position])
                position += len
            }
        }
        guard next == 6 else { throw .notTCP }
        return try tcp(frame, at: position, end: end, src: src, dst: dst)
    }

    static func tcp(_ frame: [UInt8], at start: Int, end: Int, src: IPAddress, dst: IPAddress) throws(FrameSkip)
        -> TCPSegment
    {
        guard frame.count >= start + 20 else { throw .unsupported("TCP header truncated") }
        let offset = Int(frame[start + 12] >> 4) * 4
        guard offset >= 20, frame.count >= start + offset else {
            throw .unsupported("TCP header length \(offset) is invalid")
        }
        let flags = frame[start + 13]
        let dataStart = start + offset
        let captured = min(end, frame.count)
        let payload = dataStart < captured ? frame[dataStart..<captured] : frame[0..<0]
        return TCPSegment(
            source: Endpoint(ip: src, port: UInt16(be16(frame, start))),
            destination: Endpoint(ip: dst, port: UInt16(be16(frame, start + 2))),
            seq: be32(frame, start + 4), ack: be32(frame, start + 8),
            syn: flags & 0x02 != 0, ackFlag: flags & 0x10 != 0, fin: flags & 0x01 != 0, rst: flags & 0x04 != 0,
            payload: payload, missing: max(0, end - max(captured, dataStart)),
            markedAsDecryptedTLS: flags & 0x02 != 0 && offset > 20
                && frame[(start + 20)..<(start + offset)].starts(with: SyntheticTCPConnection.decryptedTLSOption))
    }
}
