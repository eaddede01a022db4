/// Reads what a TLS ServerHello says in the clear (RFC 8446 §4.1.3): the cipher suite the
/// server chose and the version it selected (the supported_versions extension for TLS 1.3).
/// The proxy sees both hellos of each leg, so its `tls` events can name the cipher.
public struct TLSServerHello: Sendable, Equatable {
    public var cipherSuite: UInt16
    public var version: String

    /// The IANA name of the cipher suite (TLS Cipher Suites registry), or its hex value.
    public var cipherName: String { Self.cipherName(cipherSuite) }

    /// The IANA name of a cipher suite, or its hex value.
    public static func cipherName(_ suite: UInt16) -> String { cipherNames[suite] ?? "0x" + hex(suite) }

    public enum Parse: Sendable, Equatable {
        case hello(TLSServerHello)
        case needMore
        case notTLS
    }

    //   struct {
    //       ProtocolVersion legacy_version = 0x0303;
    //       Random random;
    //       opaque legacy_session_id_echo<0..32>;
    //       CipherSuite cipher_suite;
    //       uint8 legacy_compression_method = 0;
    //       Extension extensions<6..2^16-1>;
    //   } ServerHello;
    public static func parse(_ bytes: [UInt8]) -> Parse {
        let end: Int
        switch TLSClientHello.handshakeRecord(bytes) {
        case .needMore: return .needMore
        case .notTLS: return .notTLS
        case .complete(let recordEnd): end = recordEnd
        }
        var position = 5
        func u8() -> Int? {
            guard position < end else { return nil }
            defer { position += 1 }
            return Int(bytes[position])
        }
        func u16() -> Int? {
            guard position + 1 < end else { return nil }
            defer { position += 2 }
            return Int(bytes[position]) << 8 | Int(bytes[position + 1])
        }
        guard u8() == 2 else { return .notTLS }
        position += 3  // handshake length
        guard let legacy = u16() else { return .notTLS }
        position += 32  // random
        guard let sid = u8() else { return .notTLS }
        position += sid
        guard let suite = u16(), u8() != nil else { return .notTLS }
        var hello = TLSServerHello(cipherSuite: UInt16(suite), version: TLSClientHello.versionName(legacy))
        guard let extLen = u16() else { return .hello(hello) }
        let extEnd = min(end, position + extLen)
        while position + 4 <= extEnd {
            guard let type = u16(), let len = u16() else { break }
            let next = position + len
            guard next <= extEnd else { break }
            if type == 43, len == 2, let version = u16() { hello.version = TLSClientHello.versionName(version) }
            position = next
        }
        return .hello(hello)
    }

    static let cipherNames: [UInt16: String] = [
        0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
        0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
        0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]
}

private func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
