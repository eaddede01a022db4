/// Reads what a TLS ClientHello says in the clear (RFC 8446 §4.1.2): the server name
/// (RFC 6066 SNI) and the highest version offered. Enough for a capture's `tls` event.
public struct TLSClientHello: Sendable, Equatable {
    /// A hello is looked for in at most this many bytes (a decoder, the proxy's observer).
    public static let readLimit = 16 * 1024

    public var serverName: String?
    public var versions: [String]

    public enum Parse: Sendable, Equatable {
        case hello(TLSClientHello)
        case needMore
        case notTLS
    }

    public static func versionName(_ v: Int) -> String {
        switch v {
        case 0x0304: return "TLSv1.3"
        case 0x0303: return "TLSv1.2"
        case 0x0302: return "TLSv1.1"
        case 0x0301: return "TLSv1.0"
        case 0x0300: return "SSLv3"
        default:
            let h = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: Swift.max(0, 4 - h.count)) + h
        }
    }

    /// A whole first handshake record: `.complete(end)` (where the record ends), or why not.
    enum Record {
        case complete(Int)
        case needMore, notTLS
    }

    //   struct { ContentType type = handshake(22); ProtocolVersion legacy_record_version;
    //            uint16 length; opaque fragment[length]; } TLSPlaintext;     (RFC 8446 §5.1)
    static func handshakeRecord(_ b: [UInt8]) -> Record {
        guard !b.isEmpty else { return .needMore }
        guard b[0] == 0x16 else { return .notTLS }
        guard b.count >= 5 else { return .needMore }
        let recordLength = Int(b[3]) << 8 | Int(b[4])
        guard b.count >= 5 + recordLength else { return .needMore }
        return .complete(5 + recordLength)
    }

    public static func parse(_ b: [UInt8]) -> Parse {
        switch handshakeRecord(b) {
        case .needMore: return .needMore
        case .notTLS: return .notTLS
        case .complete: break
        }
        var i = 5
        func u8() -> Int? {
            guard i < b.count else { return nil }
            defer { i += 1 }
            return Int(b[i])
        }
        func u16() -> Int? {
            guard i + 1 < b.count else { return nil }
            defer { i += 2 }
            return Int(b[i]) << 8 | Int(b[i + 1])
        }
        guard u8() == 1 else { return .notTLS }
        i += 3  // handshake length
        guard let legacy = u16() else { return .notTLS }
        i += 32  // random
        guard let sid = u8() else { return .notTLS }
        i += sid
        guard let suites = u16() else { return .notTLS }
        i += suites
        guard let comp = u8() else { return .notTLS }
        i += comp
        var hello = TLSClientHello(serverName: nil, versions: [versionName(legacy)])
        guard let extLen = u16() else { return .hello(hello) }
        let end = min(b.count, i + extLen)
        while i + 4 <= end {
            guard let type = u16(), let len = u16() else { break }
            let next = i + len
            guard next <= end else { break }
            if type == 0, u16() != nil, u8() == 0, let n = u16(), i + n <= next {
                hello.serverName = String(decoding: b[i..<i + n], as: UTF8.self)
            } else if type == 43, let n = u8() {
                var vs: [String] = []
                var k = 0
                while k + 1 < n, i + 1 < next {
                    if let v = u16() { vs.append(versionName(v)) }
                    k += 2
                }
                if !vs.isEmpty { hello.versions = vs }
            }
            i = next
        }
        return .hello(hello)
    }
}
