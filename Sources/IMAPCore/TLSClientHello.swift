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

    public static func versionName(_ version: Int) -> String {
        switch version {
        case 0x0304: return "TLSv1.3"
        case 0x0303: return "TLSv1.2"
        case 0x0302: return "TLSv1.1"
        case 0x0301: return "TLSv1.0"
        case 0x0300: return "SSLv3"
        default:
            let digits = String(version, radix: 16)
            return "0x" + String(repeating: "0", count: Swift.max(0, 4 - digits.count)) + digits
        }
    }

    /// A whole first handshake record: `.complete(end)` (where the record ends), or why not.
    enum Record {
        case complete(Int)
        case needMore, notTLS
    }

    //   struct { ContentType type = handshake(22); ProtocolVersion legacy_record_version;
    //            uint16 length; opaque fragment[length]; } TLSPlaintext;     (RFC 8446 §5.1)
    static func handshakeRecord(_ bytes: [UInt8]) -> Record {
        guard !bytes.isEmpty else { return .needMore }
        guard bytes[0] == 0x16 else { return .notTLS }
        guard bytes.count >= 5 else { return .needMore }
        let recordLength = Int(bytes[3]) << 8 | Int(bytes[4])
        guard bytes.count >= 5 + recordLength else { return .needMore }
        return .complete(5 + recordLength)
    }

    public static func parse(_ bytes: [UInt8]) -> Parse {
        switch handshakeRecord(bytes) {
        case .needMore: return .needMore
        case .notTLS: return .notTLS
        case .complete: break
        }
        var position = 5
        func u8() -> Int? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return Int(bytes[position])
        }
        func u16() -> Int? {
            guard position + 1 < bytes.count else { return nil }
            defer { position += 2 }
            return Int(bytes[position]) << 8 | Int(bytes[position + 1])
        }
        guard u8() == 1 else { return .notTLS }
        position += 3  // handshake length
        guard let legacy = u16() else { return .notTLS }
        position += 32  // random
        guard let sid = u8() else { return .notTLS }
        position += sid
        guard let suites = u16() else { return .notTLS }
        position += suites
        guard let comp = u8() else { return .notTLS }
        position += comp
        var hello = TLSClientHello(serverName: nil, versions: [versionName(legacy)])
        guard let extLen = u16() else { return .hello(hello) }
        let end = min(bytes.count, position + extLen)
        while position + 4 <= end {
            guard let type = u16(), let len = u16() else { break }
            let next = position + len
            guard next <= end else { break }
            if type == 0, u16() != nil, u8() == 0, let nameLength = u16(), position + nameLength <= next {
                hello.serverName = String(decoding: bytes[position..<position + nameLength], as: UTF8.self)
            } else if type == 43, let listLength = u8() {
                var vs: [String] = []
                var consumed = 0
                while consumed + 1 < listLength, position + 1 < next {
                    if let version = u16() { vs.append(versionName(version)) }
                    consumed += 2
                }
                if !vs.isEmpty { hello.versions = vs }
            }
            position = next
        }
        return .hello(hello)
    }
}
