import IMAPCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes pcapng (draft-ietf-opsawg-pcapng): one section, one Ethernet interface, enhanced packet
/// blocks with microsecond times. pcapng rather than pcap because its section header can say
/// who wrote the file: `imapscope read` sees `PcapNGWriter.proxyApplication` there and knows
/// the bytes after STARTTLS are decrypted plaintext, not TLS.
public final class PcapNGWriter {
    /// The `shb_userappl` of files the proxy writes (`--pcap`).
    public static let proxyApplication = "imapscope proxy (decrypted plaintext)"
    /// An `opt_comment` of the section header (as the transcripts' directive): the data after
    /// COMPRESS=DEFLATE was written inflated, so readers must not inflate it again. Files the
    /// proxy wrote before it did so lack it and are inflated as before.
    public static let decompressedComment = "imapscope: decompressed (data after COMPRESS=DEFLATE is written inflated)"

    private let file: UnsafeMutablePointer<FILE>
    public let path: String

    public init(path: String, application: String, comments: [String] = []) throws {
        guard let opened = fopen(path, "wb") else { throw CaptureError("\(path): \(String(cString: strerror(errno)))") }
        file = opened
        self.path = path
        var options: [UInt8] = []
        for comment in comments { options += Self.option(1, Array(comment.utf8)) }
        options += Self.option(4, Array(application.utf8)) + Self.option(0, [])
        // Section header: byte-order magic, version 1.0, section length unknown (-1).
        let shb = Self.le32(0x1A2B_3C4D) + Self.le16(1) + Self.le16(0) + [UInt8](repeating: 0xFF, count: 8) + options
        block(0x0A0D_0D0A, shb)
        // Interface description: LINKTYPE_ETHERNET, no snap length limit.
        block(1, Self.le16(1) + Self.le16(0) + Self.le32(0))
    }

    /// Writes one Ethernet frame as an enhanced packet block, with an `opt_comment` if given.
    public func write(_ frame: [UInt8], time: Timestamp, comment: String? = nil) {
        let us = UInt64(max(0, time.microseconds))
        var body = Self.le32(0) + Self.le32(UInt32(us >> 32)) + Self.le32(UInt32(us & 0xFFFF_FFFF))
        body += Self.le32(UInt32(frame.count)) + Self.le32(UInt32(frame.count)) + frame
        body += [UInt8](repeating: 0, count: (4 - frame.count % 4) % 4)
        if let comment { body += Self.option(1, Array(comment.utf8)) + Self.option(0, []) }
        block(6, body)
    }

    public func flush() { fflush(file) }

    public func close() { fclose(file) }

    private func block(_ type: UInt32, _ body: [UInt8]) {
        let total = UInt32(12 + body.count)
        let bytes = Self.le32(type) + Self.le32(total) + body + Self.le32(total)
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
    }

    static func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        le16(code) + le16(UInt16(value.count)) + value + [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
    }
    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 255), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 255), UInt8(value >> 8 & 255), UInt8(value >> 16 & 255), UInt8(value >> 24)]
    }

    /// What a pcapng file's first section header says of its writer.
    public struct SectionHeader: Equatable, Sendable {
        /// `shb_userappl`.
        public var application: String?
        /// Every `opt_comment`, in order.
        public var comments: [String] = []
    }

    /// The `shb_userappl` of a pcapng file's first section, if it has one (nil for classic pcap).
    public static func application(ofFile path: String) -> String? { sectionHeader(ofFile: path)?.application }

    /// The first section header's application and comments (nil for classic pcap).
    public static func sectionHeader(ofFile path: String) -> SectionHeader? {
        guard let handle = fopen(path, "rb") else { return nil }
        defer { fclose(handle) }
        var head = [UInt8](repeating: 0, count: 4096)
        let readCount = head.withUnsafeMutableBufferPointer { fread($0.baseAddress, 1, $0.count, handle) }
        head.removeLast(head.count - readCount)
        return sectionHeader(head)
    }

    /// The `shb_userappl` from the first bytes of a file or stream.
    public static func application(ofHead head: [UInt8]) -> String? { sectionHeader(head)?.application }

    /// Reads the section header at the start of `head` (the first bytes of a file or stream; 4096
    /// are plenty for a section header).
    public static func sectionHeader(_ head: [UInt8]) -> SectionHeader? {
        let headLength = head.count
        func u16(_ offset: Int) -> Int { Int(head[offset]) | Int(head[offset + 1]) << 8 }
        func u32(_ offset: Int) -> Int { u16(offset) | u16(offset + 2) << 16 }
        // Only little-endian sections (ours, and most others) are looked at.
        guard headLength >= 28, u32(0) == 0x0A0D_0D0A, u32(8) == 0x1A2B_3C4D else { return nil }
        let end = min(headLength, u32(4) - 4)
        var header = SectionHeader()
        var position = 24
        while position + 4 <= end {
            let code = u16(position)
            let len = u16(position + 2)
            guard code != 0, position + 4 + len <= end else { break }
            let value = String(decoding: head[(position + 4)..<(position + 4 + len)], as: UTF8.self)
            if code == 4, header.application == nil { header.application = value }
            if code == 1 { header.comments.append(value) }
            position += 4 + len + (4 - len % 4) % 4
        }
        return header
    }
}

/// One TCP connection made up after the fact: a handshake, data segments with consistent
/// sequence and acknowledgement numbers, and FINs, as Ethernet frames with valid IPv4/IPv6 and
/// TCP checksums. The proxy uses it to write what it decrypted on the session's real endpoints.
public struct SyntheticTCPConnection {
    public let client: Endpoint
    public let server: Endpoint
    /// The next sequence number each side sends.
    private var nextFromClient: UInt32
    private var nextFromServer: UInt32
    private var finished: [Bool: Bool] = [true: false, false: false]
    public static let maxSegment = 32 * 1024

    public init(client: Endpoint, server: Endpoint, clientISN: UInt32 = 0x1000_0000, serverISN: UInt32 = 0x2000_0000) {
        self.client = client
        self.server = server
        nextFromClient = clientISN
        nextFromServer = serverISN
    }

    /// A TCP option in the SYN of a connection whose client leg was TLS, now written decrypted
    /// (libpcap, which `read` reads through, hands over packets but not pcapng packet comments):
    /// an experimental option (kind 253, RFC 4727) with the RFC 6994 experiment id `IM` and `TLS`,
    /// then a NOP to end on a 32-bit boundary.
    public static let decryptedTLSOption: [UInt8] = [253, 7, 0x49, 0x4D, 0x54, 0x4C, 0x53, 0x01]
    /// The pcapng comment on that SYN.
    public static let decryptedTLSComment = "imapscope: implicit TLS on the client leg, written decrypted"

    /// SYN, SYN-ACK, ACK; the SYN carries `decryptedTLSOption` when asked.
    public mutating func handshake(markedAsDecryptedTLS: Bool = false) -> [[UInt8]] {
        var out = [
            frame(
                fromClient: true, flags: 0x02, payload: [], options: markedAsDecryptedTLS ? Self.decryptedTLSOption : []
            )
        ]
        advance(fromClient: true, by: 1)
        out.append(frame(fromClient: false, flags: 0x12, payload: []))
        advance(fromClient: false, by: 1)
        out.append(frame(fromClient: true, flags: 0x10, payload: []))
        return out
    }

    /// Data from one side, cut into segments.
    public mutating func data(fromClient: Bool, _ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let chunk = Array(bytes[offset..<min(bytes.count, offset + Self.maxSegment)])
            out.append(frame(fromClient: fromClient, flags: 0x18, payload: chunk))
            advance(fromClient: fromClient, by: UInt32(chunk.count))
            offset += chunk.count
        }
        return out
    }

    /// FIN from one side (once).
    public mutating func fin(fromClient: Bool) -> [[UInt8]] {
        guard finished[fromClient] == false else { return [] }
        finished[fromClient] = true
        let finFrame = frame(fromClient: fromClient, flags: 0x11, payload: [])
        advance(fromClient: fromClient, by: 1)
        return [finFrame]
    }

    private func next(fromClient: Bool) -> UInt32 { fromClient ? nextFromClient : nextFromServer }

    private mutating func advance(fromClient: Bool, by count: UInt32) {
        if fromClient { nextFromClient &+= count } else { nextFromServer &+= count }
    }

    /// `options` is a multiple of 4 bytes long.
    private func frame(fromClient: Bool, flags: UInt8, payload: [UInt8], options: [UInt8] = []) -> [UInt8] {
        let (src, dst) = fromClient ? (client, server) : (server, client)
        let ack: UInt32 = flags & 0x10 != 0 ? next(fromClient: !fromClient) : 0
        var tcp = be16(Int(src.port)) + be16(Int(dst.port)) + be32(next(fromClient: fromClient)) + be32(ack)
        let headerWords = UInt8(5 + options.count / 4)
        tcp += [headerWords << 4, flags] + be16(65535) + [0, 0, 0, 0] + options + payload
        let pseudo: [UInt8]
        let ip: [UInt8]
        switch (src.ip, dst.ip) {
        case (.v4(let sourceIP), .v4(let destinationIP)):
            pseudo = be32(sourceIP) + be32(destinationIP) + [0, 6] + be16(tcp.count)
            var ipHeader: [UInt8] =
                [0x45, 0] + be16(20 + tcp.count) + [0, 0, 0x40, 0, 64, 6, 0, 0] + be32(sourceIP) + be32(destinationIP)
            let headerChecksum = checksum(ipHeader)
            ipHeader[10] = UInt8(headerChecksum >> 8)
            ipHeader[11] = UInt8(headerChecksum & 255)
            ip = ipHeader
        default:
            let sourceIP = Self.v6Bytes(src.ip)
            let destinationIP = Self.v6Bytes(dst.ip)
            pseudo = sourceIP + destinationIP + be32(UInt32(tcp.count)) + [0, 0, 0, 6]
            ip = [0x60, 0, 0, 0] + be16(tcp.count) + [6, 64] + sourceIP + destinationIP
        }
        let tcpChecksum = checksum(pseudo + tcp)
        tcp[16] = UInt8(tcpChecksum >> 8)
        tcp[17] = UInt8(tcpChecksum & 255)
        let etherType: [UInt8] = ip[0] >> 4 == 6 ? [0x86, 0xDD] : [0x08, 0x00]
        let macs: [UInt8] = fromClient ? [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1] : [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]
        return macs + etherType + ip + tcp
    }

    static func v6Bytes(_ address: IPAddress) -> [UInt8] {
        switch address {
        case .v6(let bytes): return bytes
        case .v4(let v4): return [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + be32(v4)  // v4-mapped
        }
    }
}

private func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 255), UInt8(value & 255)] }
private func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 255), UInt8(value >> 8 & 255), UInt8(value & 255)]
}

/// RFC 1071 Internet checksum.
private func checksum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var position = 0
    while position + 1 < bytes.count {
        sum &+= UInt32(bytes[position]) << 8 | UInt32(bytes[position + 1])
        position += 2
    }
    if position < bytes.count { sum &+= UInt32(bytes[position]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}

extension Endpoint {
    /// Parses the event schema's endpoint form: `127.0.0.1:143` or `[::1]:143`.
    public init?(parsing text: String) {
        var host: Substring
        var port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let portNumber = UInt16(port) else { return nil }
        if let v4 = Self.ipv4(host) {
            self.init(ip: .v4(v4), port: portNumber)
            return
        }
        var a6 = in6_addr()
        guard inet_pton(AF_INET6, String(host), &a6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &a6) { Array($0) }
        self.init(ip: .v6(bytes), port: portNumber)
    }

    private static func ipv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }
}
