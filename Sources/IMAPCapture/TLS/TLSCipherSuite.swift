/// What a cipher suite means for opening records: the bulk cipher, its key and IV sizes, the
/// hash of the key schedule (TLS 1.3) or PRF (TLS 1.2), and the MAC of CBC suites.
struct TLSCipherSuite: Sendable, Equatable {
    enum Bulk: Sendable, Equatable { case aesGCM, chaCha20Poly1305, aesCBC }
    enum Hash: Sendable, Equatable {
        case sha1, sha256, sha384
        var length: Int {
            switch self {
            case .sha1: return 20
            case .sha256: return 32
            case .sha384: return 48
            }
        }
    }

    var id: UInt16
    var tls13: Bool
    var bulk: Bulk
    var keyLength: Int
    /// TLS 1.3 and ChaCha20: the whole 12-byte IV; TLS 1.2 GCM: the 4-byte implicit part; CBC: none used.
    var fixedIVLength: Int
    /// TLS 1.3 key schedule hash, or TLS 1.2 PRF hash.
    var hash: Hash
    /// CBC suites: the record MAC (HMAC with this hash).
    var mac: Hash?

    static func named(_ id: UInt16) -> TLSCipherSuite? {
        switch id {
        // TLS 1.3 (RFC 8446 §B.4).
        case 0x1301: return .init(id: id, tls13: true, bulk: .aesGCM, keyLength: 16, fixedIVLength: 12, hash: .sha256)
        case 0x1302: return .init(id: id, tls13: true, bulk: .aesGCM, keyLength: 32, fixedIVLength: 12, hash: .sha384)
        case 0x1303:
            return .init(id: id, tls13: true, bulk: .chaCha20Poly1305, keyLength: 32, fixedIVLength: 12, hash: .sha256)
        // TLS 1.2 AES-GCM (RFC 5288, RFC 5289): ECDHE-RSA, ECDHE-ECDSA, DHE-RSA, RSA.
        case 0xC02F, 0xC02B, 0x009E, 0x009C:
            return .init(id: id, tls13: false, bulk: .aesGCM, keyLength: 16, fixedIVLength: 4, hash: .sha256)
        case 0xC030, 0xC02C, 0x009F, 0x009D:
            return .init(id: id, tls13: false, bulk: .aesGCM, keyLength: 32, fixedIVLength: 4, hash: .sha384)
        // TLS 1.2 ChaCha20-Poly1305 (RFC 7905).
        case 0xCCA8, 0xCCA9, 0xCCAA:
            return .init(id: id, tls13: false, bulk: .chaCha20Poly1305, keyLength: 32, fixedIVLength: 12, hash: .sha256)
        // TLS 1.2 CBC with HMAC-SHA1: the PRF is still SHA-256 in TLS 1.2.
        case 0xC013, 0xC009, 0x0033, 0x002F:
            return .init(
                id: id, tls13: false, bulk: .aesCBC, keyLength: 16, fixedIVLength: 0, hash: .sha256, mac: .sha1)
        case 0xC014, 0xC00A, 0x0039, 0x0035:
            return .init(
                id: id, tls13: false, bulk: .aesCBC, keyLength: 32, fixedIVLength: 0, hash: .sha256, mac: .sha1)
        // TLS 1.2 CBC with HMAC-SHA256 and HMAC-SHA384 (RFC 5289, RFC 5246).
        case 0xC027, 0xC023, 0x0067, 0x003C:
            return .init(
                id: id, tls13: false, bulk: .aesCBC, keyLength: 16, fixedIVLength: 0, hash: .sha256, mac: .sha256)
        case 0x006B, 0x003D:
            return .init(
                id: id, tls13: false, bulk: .aesCBC, keyLength: 32, fixedIVLength: 0, hash: .sha256, mac: .sha256)
        case 0xC028, 0xC024:
            return .init(
                id: id, tls13: false, bulk: .aesCBC, keyLength: 32, fixedIVLength: 0, hash: .sha384, mac: .sha384)
        default: return nil
        }
    }
}
