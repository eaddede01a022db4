import Crypto
import _CryptoExtras

/// Opens the protected records of one direction of a TLS connection, in order: RFC 8446 §5.2
/// (TLS 1.3 AEAD, inner content type), RFC 5246 §6.2.3 with RFC 5288 (TLS 1.2 AES-GCM, explicit
/// nonce), RFC 7905 (TLS 1.2 ChaCha20-Poly1305) and RFC 5246 §6.2.3.2 with RFC 7366 (CBC,
/// MAC-then-encrypt or encrypt-then-MAC). Every record consumes a sequence number, opened or not,
/// so the next one opens after a damaged one.
struct TLSRecordOpener {
    enum Protection {
        case tls13(iv: [UInt8])
        case tls12AEAD(fixedIV: [UInt8])
        case tls12CBC(macKey: [UInt8], mac: TLSCipherSuite.Hash, encryptThenMAC: Bool)
    }

    enum Failure: Error, Equatable {
        /// The tag or the MAC did not verify: wrong key, or the bytes were damaged.
        case authentication
        /// Too short for its cipher, bad padding, or a TLS 1.3 record with no content type.
        case malformed
    }

    let suite: TLSCipherSuite
    let protection: Protection
    private let key: SymmetricKey
    /// The sequence number of the next record.
    var sequence: UInt64 = 0

    init(suite: TLSCipherSuite, key: [UInt8], protection: Protection) {
        self.suite = suite
        self.key = SymmetricKey(data: key)
        self.protection = protection
    }

    /// A TLS 1.3 opener for a traffic secret.
    static func tls13(_ suite: TLSCipherSuite, secret: [UInt8]) -> TLSRecordOpener {
        let keys = TLSKeySchedule.trafficKeys(suite, secret: secret)
        return TLSRecordOpener(suite: suite, key: keys.key, protection: .tls13(iv: keys.iv))
    }

    /// Opens one record: its content type (the inner one in TLS 1.3) and plaintext.
    mutating func open(type: UInt8, version: UInt16, fragment: ArraySlice<UInt8>) -> Result<
        (type: UInt8, plaintext: [UInt8]), Failure
    > {
        let seq = sequence
        sequence &+= 1
        do {
            switch protection {
            case .tls13(let iv):
                return try openTLS13(iv: iv, seq: seq, type: type, version: version, fragment: fragment)
            case .tls12AEAD(let fixed):
                return .success((type, try openTLS12AEAD(fixed, seq: seq, type: type, version: version, fragment)))
            case .tls12CBC(let macKey, let mac, let etm):
                return .success(
                    (type, try openCBC(macKey, mac, etm, seq: seq, type: type, version: version, fragment)))
            }
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(.authentication)
        }
    }

    private static func xorNonce(_ iv: [UInt8], _ seq: UInt64) -> [UInt8] {
        var nonce = iv
        for i in 0..<8 { nonce[nonce.count - 1 - i] ^= UInt8(truncatingIfNeeded: seq >> (8 * UInt64(i))) }
        return nonce
    }

    private static func u64(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    private func aeadOpen(nonce: [UInt8], ciphertext: ArraySlice<UInt8>, tag: ArraySlice<UInt8>, aad: [UInt8]) throws
        -> [UInt8]
    {
        switch suite.bulk {
        case .aesGCM:
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return Array(try AES.GCM.open(box, using: key, authenticating: aad))
        case .chaCha20Poly1305:
            let box = try ChaChaPoly.SealedBox(nonce: ChaChaPoly.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
            return Array(try ChaChaPoly.open(box, using: key, authenticating: aad))
        case .aesCBC:
            throw Failure.malformed
        }
    }

    //   struct { opaque content[length]; ContentType type; uint8 zeros[length_of_padding]; } TLSInnerPlaintext;
    private func openTLS13(iv: [UInt8], seq: UInt64, type: UInt8, version: UInt16, fragment: ArraySlice<UInt8>)
        throws -> Result<(type: UInt8, plaintext: [UInt8]), Failure>
    {
        guard fragment.count > 16 else { throw Failure.malformed }
        let aad = [
            type, UInt8(version >> 8), UInt8(version & 0xFF), UInt8(fragment.count >> 8), UInt8(fragment.count & 0xFF),
        ]
        let split = fragment.endIndex - 16
        var inner = try aeadOpen(
            nonce: Self.xorNonce(iv, seq), ciphertext: fragment[fragment.startIndex..<split],
            tag: fragment[split...], aad: aad)
        while let last = inner.last, last == 0 { inner.removeLast() }
        guard let innerType = inner.popLast() else { throw Failure.malformed }
        return .success((innerType, inner))
    }

    private func openTLS12AEAD(
        _ fixed: [UInt8], seq: UInt64, type: UInt8, version: UInt16, _ fragment: ArraySlice<UInt8>
    ) throws -> [UInt8] {
        let explicit = suite.bulk == .aesGCM ? 8 : 0
        guard fragment.count >= explicit + 16 else { throw Failure.malformed }
        let start = fragment.startIndex + explicit
        let split = fragment.endIndex - 16
        let nonce =
            suite.bulk == .aesGCM
            ? fixed + Array(fragment[fragment.startIndex..<start]) : Self.xorNonce(fixed, seq)
        let length = split - start
        let aad =
            Self.u64(seq) + [
                type, UInt8(version >> 8), UInt8(version & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF),
            ]
        return try aeadOpen(nonce: nonce, ciphertext: fragment[start..<split], tag: fragment[split...], aad: aad)
    }

    private func openCBC(
        _ macKey: [UInt8], _ mac: TLSCipherSuite.Hash, _ etm: Bool, seq: UInt64, type: UInt8, version: UInt16,
        _ fragment: ArraySlice<UInt8>
    ) throws -> [UInt8] {
        let header = Self.u64(seq) + [type, UInt8(version >> 8), UInt8(version & 0xFF)]
        func length(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
        var body = fragment
        if etm {
            // RFC 7366: the MAC covers IV and ciphertext, and comes last.
            guard body.count >= mac.length + 32 else { throw Failure.malformed }
            let split = body.endIndex - mac.length
            let expected = TLSKeySchedule.hmac(
                mac, key: macKey, [header + length(split - body.startIndex), Array(body[..<split])])
            guard expected == Array(body[split...]) else { throw Failure.authentication }
            body = body[..<split]
        }
        guard body.count >= 32, (body.count - 16) % 16 == 0 else { throw Failure.malformed }
        let ivEnd = body.startIndex + 16
        let iv = try AES._CBC.IV(ivBytes: body[body.startIndex..<ivEnd])
        var plain = Array(try AES._CBC.decrypt(body[ivEnd...], using: key, iv: iv, noPadding: true))
        guard let pad = plain.last, Int(pad) + 1 <= plain.count,
            plain.suffix(Int(pad) + 1).allSatisfy({ $0 == pad })
        else { throw etm ? Failure.malformed : Failure.authentication }
        plain.removeLast(Int(pad) + 1)
        if etm { return plain }
        guard plain.count >= mac.length else { throw Failure.authentication }
        let content = Array(plain[..<(plain.count - mac.length)])
        let expected = TLSKeySchedule.hmac(mac, key: macKey, [header + length(content.count), content])
        guard expected == Array(plain[(plain.count - mac.length)...]) else { throw Failure.authentication }
        return content
    }
}
