import Crypto

/// The parts of the TLS key schedules a passive decryptor needs: RFC 8446 §7.1/§7.2/§7.3 for
/// TLS 1.3 (from a traffic secret to the record key and IV, and the next secret after a
/// KeyUpdate) and RFC 5246 §5/§6.3 for TLS 1.2 (the PRF and the key block).
enum TLSKeySchedule {
    /// HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1).
    static func expandLabel(
        _ hash: TLSCipherSuite.Hash, secret: [UInt8], label: String, context: [UInt8] = [], length: Int
    ) -> [UInt8] {
        let full = Array("tls13 ".utf8) + Array(label.utf8)
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xFF), UInt8(full.count)]
        info += full
        info.append(UInt8(context.count))
        info += context
        let key: SymmetricKey
        switch hash {
        case .sha256: key = HKDF<SHA256>.expand(pseudoRandomKey: secret, info: info, outputByteCount: length)
        case .sha384: key = HKDF<SHA384>.expand(pseudoRandomKey: secret, info: info, outputByteCount: length)
        case .sha1: key = HKDF<Insecure.SHA1>.expand(pseudoRandomKey: secret, info: info, outputByteCount: length)
        }
        return key.withUnsafeBytes { Array($0) }
    }

    /// The record key and IV of a TLS 1.3 traffic secret (RFC 8446 §7.3).
    static func trafficKeys(_ suite: TLSCipherSuite, secret: [UInt8]) -> (key: [UInt8], iv: [UInt8]) {
        (
            expandLabel(suite.hash, secret: secret, label: "key", length: suite.keyLength),
            expandLabel(suite.hash, secret: secret, label: "iv", length: 12)
        )
    }

    /// application_traffic_secret_N+1 after a KeyUpdate (RFC 8446 §7.2).
    static func nextTrafficSecret(_ suite: TLSCipherSuite, secret: [UInt8]) -> [UInt8] {
        expandLabel(suite.hash, secret: secret, label: "traffic upd", length: suite.hash.length)
    }

    static func hmac(_ hash: TLSCipherSuite.Hash, key: [UInt8], _ parts: [[UInt8]]) -> [UInt8] {
        let symmetricKey = SymmetricKey(data: key)
        switch hash {
        case .sha1:
            var mac = HMAC<Insecure.SHA1>(key: symmetricKey)
            for part in parts { mac.update(data: part) }
            return Array(mac.finalize())
        case .sha256:
            var mac = HMAC<SHA256>(key: symmetricKey)
            for part in parts { mac.update(data: part) }
            return Array(mac.finalize())
        case .sha384:
            var mac = HMAC<SHA384>(key: symmetricKey)
            for part in parts { mac.update(data: part) }
            return Array(mac.finalize())
        }
    }

    /// PRF(secret, label, seed) = P_hash(secret, label + seed) (RFC 5246 §5).
    static func prf(_ hash: TLSCipherSuite.Hash, secret: [UInt8], label: String, seed: [UInt8], length: Int)
        -> [UInt8]
    {
        let labelSeed = Array(label.utf8) + seed
        var out: [UInt8] = []
        var chainValue = labelSeed
        while out.count < length {
            chainValue = hmac(hash, key: secret, [chainValue])
            out += hmac(hash, key: secret, [chainValue, labelSeed])
        }
        return Array(out.prefix(length))
    }

    /// The TLS 1.2 key block (RFC 5246 §6.3), cut into each side's MAC key, cipher key and IV.
    struct TLS12Keys: Equatable {
        var clientMAC: [UInt8], serverMAC: [UInt8]
        var clientKey: [UInt8], serverKey: [UInt8]
        var clientIV: [UInt8], serverIV: [UInt8]
    }

    static func tls12Keys(
        _ suite: TLSCipherSuite, masterSecret: [UInt8], clientRandom: [UInt8], serverRandom: [UInt8]
    ) -> TLS12Keys {
        let macLength = suite.mac?.length ?? 0
        let total = 2 * (macLength + suite.keyLength + suite.fixedIVLength)
        let block = prf(
            suite.hash, secret: masterSecret, label: "key expansion", seed: serverRandom + clientRandom, length: total)
        var offset = 0
        func take(_ count: Int) -> [UInt8] {
            defer { offset += count }
            return Array(block[offset..<offset + count])
        }
        let cm = take(macLength)
        let sm = take(macLength)
        let ck = take(suite.keyLength)
        let sk = take(suite.keyLength)
        let civ = take(suite.fixedIVLength)
        let siv = take(suite.fixedIVLength)
        return TLS12Keys(clientMAC: cm, serverMAC: sm, clientKey: ck, serverKey: sk, clientIV: civ, serverIV: siv)
    }
}
