import Testing

@testable import IMAPCapture

/// TLS 1.2 records of every supported suite family, sealed by scripts/tls12_vectors.py (Python's
/// hmac and the `cryptography` package: an implementation independent of imapscope's) with the
/// master secret 00…2f, client random c0…cf…, server random 50…5f…, sequence number 5.
@Suite("TLS 1.2 decryption")
struct TLS12DecryptionTests {
    static let master = (0..<48).map { UInt8($0) }
    static let clientRandom = (0..<32).map { UInt8(0xC0 | ($0 & 0x0F)) }
    static let serverRandom = (0..<32).map { UInt8(0x50 | ($0 & 0x0F)) }
    static let plaintext = Array("a1 LOGIN alice password\r\n".utf8)

    static let vectors: [(UInt16, Bool, String)] = [
        (
            0xC02F, false,
            "1703030031e0e1e2e3e4e5e6e79ae749d3578e8542c0bb65e40e42653ee8da7948ff30df55994befe3ec54f9e555fd43f477733fc373"
        ),
        (
            0xC030, false,
            "1703030031e0e1e2e3e4e5e6e78a4f2e0f9895982ff65086f2341235cc5b22d309f61db6a4b7c9ef2c324f9898182ac63b19a77596c1"
        ),
        (
            0xCCA8, false,
            "170303002969a89e6c0a1f8b03c3ea7e2f664ea0c7be82b03c0a439318634b0eae734e4de463220df6f6cb666702"
        ),
        (
            0xC013, false,
            """
            1703030040a0a1a2a3a4a5a6a7a8a9aaabacadaeaf7ab611ec1da5a81582a99d4061a800412350c2f7dc5ed71ef25e58b3e74ad5d7fe35
            9f219a643e29fd37df626586ad1a
            """
        ),
        (
            0xC014, true,
            """
            1703030044a0a1a2a3a4a5a6a7a8a9aaabacadaeaf39462d826b94236bb6558393a56211df503bd107b605dff7cd51b980044f56d2a4
            2be17660340f4441c8373f1faedcbf934f2f1e
            """
        ),
        (
            0xC027, true,
            """
            1703030050a0a1a2a3a4a5a6a7a8a9aaabacadaeafab35d2b397491b5c8571d3c0758c1dd00f5a9ad0561aa2b91bceb3c4259de32c6c
            b01d997a768b6fcef16fdc97a25b76dfb3eac2028f632d824c6678a67870ce
            """
        ),
        (
            0xC028, false,
            """
            1703030060a0a1a2a3a4a5a6a7a8a9aaabacadaeafda1dcd755ffd75d893a39d18128c1b7e767dd7fe9633181e27d6056c177de115b8
            6cc00786d04aa6dd0de811dcee11c64052982ae7d7e9eb2bde802c6e9f585ea87083186b6f11aea5cd8757f652be4d
            """
        ),
    ]

    /// The client's opener for a suite, at sequence number 5.
    static func opener(_ id: UInt16, encryptThenMAC: Bool) throws -> TLSRecordOpener {
        let suite = try #require(TLSCipherSuite.named(id))
        let k = TLSKeySchedule.tls12Keys(
            suite, masterSecret: master, clientRandom: clientRandom, serverRandom: serverRandom)
        var o: TLSRecordOpener
        if let mac = suite.mac {
            o = TLSRecordOpener(
                suite: suite, key: k.clientKey,
                protection: .tls12CBC(macKey: k.clientMAC, mac: mac, encryptThenMAC: encryptThenMAC))
        } else {
            o = TLSRecordOpener(suite: suite, key: k.clientKey, protection: .tls12AEAD(fixedIV: k.clientIV))
        }
        o.sequence = 5
        return o
    }

    /// The PRF's published test vector (SHA-256, "test label", 100 bytes).
    @Test func prfSHA256() {
        let out = TLSKeySchedule.prf(
            .sha256, secret: hexBytes("9bbe436ba940f017b17652849a71db35"), label: "test label",
            seed: hexBytes("a0ba9f936cda311827a6f796ffd5198c"), length: 100)
        #expect(
            out.hexString
                == "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
                + "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
                + "87347b66")
    }

    @Test(arguments: vectors)
    func recordOpens(_ id: UInt16, _ etm: Bool, _ record: String) throws {
        var o = try Self.opener(id, encryptThenMAC: etm)
        let r = hexBytes(record)
        let opened = try o.open(type: r[0], version: 0x0303, fragment: r[5...]).get()
        #expect(opened.type == 23)
        #expect(opened.plaintext == Self.plaintext)
        #expect(o.sequence == 6)
    }

    /// One flipped bit anywhere past the header (nonce, IV, ciphertext, tag or MAC) and the record
    /// does not open; the sequence number still moves on.
    @Test(arguments: vectors)
    func flippedBitIsRefused(_ id: UInt16, _ etm: Bool, _ record: String) throws {
        let r = hexBytes(record)
        for position in [5, 5 + (r.count - 5) / 2, r.count - 1] {
            var o = try Self.opener(id, encryptThenMAC: etm)
            var damaged = r
            damaged[position] ^= 0x01
            #expect(throws: TLSRecordOpener.Failure.self) {
                try o.open(type: damaged[0], version: 0x0303, fragment: damaged[5...]).get()
            }
            #expect(o.sequence == 6)
        }
    }

    /// The wrong sequence number is a wrong nonce or MAC: refused.
    @Test(arguments: vectors)
    func wrongSequenceIsRefused(_ id: UInt16, _ etm: Bool, _ record: String) throws {
        var o = try Self.opener(id, encryptThenMAC: etm)
        o.sequence = 4
        let r = hexBytes(record)
        let result = o.open(type: r[0], version: 0x0303, fragment: r[5...])
        // GCM carries its nonce explicitly, but the sequence number is in its additional data.
        #expect(throws: TLSRecordOpener.Failure.self) { try result.get() }
    }
}
