import Crypto
import IMAPCore
import Testing

@testable import IMAPCapture

/// Bytes from hex, whitespace ignored (for vectors printed in blocks).
func hexBytes(_ s: String) -> [UInt8] {
    let digits = s.utf8.filter { !($0 == 0x20 || $0 == 0x0A) }
    return KeyLog.hexBytes(ArraySlice(digits)) ?? []
}

/// Hand-made TLS records and hellos for the decryptor's tests.
enum TLSBuild {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func u24(_ v: Int) -> [UInt8] { [UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func record(_ type: UInt8, _ fragment: [UInt8]) -> [UInt8] { [type, 3, 3] + u16(fragment.count) + fragment }
    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type] + u24(body.count) + body }
    static func ext(_ type: Int, _ body: [UInt8]) -> [UInt8] { u16(type) + u16(body.count) + body }

    static func clientHello(random: [UInt8], sni: String = "imap.example", alpn: [String] = ["imap"]) -> [UInt8] {
        let name = Array(sni.utf8)
        let sniExt = ext(0, u16(name.count + 3) + [0] + u16(name.count) + name)
        let protocols = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        let alpnExt = ext(16, u16(protocols.count) + protocols)
        let versions = ext(43, [4, 3, 4, 3, 3])
        let exts = sniExt + alpnExt + versions
        let body =
            u16(0x0303) + random + [0] + u16(6) + [0x13, 0x01, 0x13, 0x02, 0x13, 0x03] + [1, 0] + u16(exts.count) + exts
        return record(22, handshake(1, body))
    }

    static func serverHello(random: [UInt8], suite: UInt16, tls13: Bool = true, extensions: [UInt8] = []) -> [UInt8] {
        let exts = (tls13 ? ext(43, [3, 4]) : []) + extensions
        let body = u16(0x0303) + random + [0] + u16(Int(suite)) + [0] + u16(exts.count) + exts
        return record(22, handshake(2, body))
    }

    /// A TLS 1.3 record sealed under `secret` with sequence number `seq` (RFC 8446 §5.2).
    static func seal13(
        _ suite: TLSCipherSuite, secret: [UInt8], seq: UInt64, type: UInt8, _ content: [UInt8], padding: Int = 0
    )
        throws -> [UInt8]
    {
        let k = TLSKeySchedule.trafficKeys(suite, secret: secret)
        var nonce = k.iv
        for i in 0..<8 { nonce[11 - i] ^= UInt8(truncatingIfNeeded: seq >> (8 * UInt64(i))) }
        let inner = content + [type] + Array(repeating: 0, count: padding)
        let header: [UInt8] = [23, 3, 3] + u16(inner.count + 16)
        let key = SymmetricKey(data: k.key)
        if suite.bulk == .chaCha20Poly1305 {
            let box = try ChaChaPoly.seal(
                inner, using: key, nonce: ChaChaPoly.Nonce(data: nonce), authenticating: header)
            return header + Array(box.ciphertext) + Array(box.tag)
        }
        let box = try AES.GCM.seal(inner, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: header)
        return header + Array(box.ciphertext) + Array(box.tag)
    }
}

/// RFC 8448 §3 ("Simple 1-RTT Handshake"): its secrets, keys and protected records.
enum RFC8448 {
    static let clientRandom = hexBytes("cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7")
    static let serverRandom = hexBytes("a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e26928")
    static let clientHandshakeSecret = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"
    static let serverHandshakeSecret = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"
    static let clientApplicationSecret = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5"
    static let serverApplicationSecret = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"

    /// (secret, key, iv) as the RFC derives them for TLS_AES_128_GCM_SHA256.
    static let trafficKeys: [(String, String, String)] = [
        (serverHandshakeSecret, "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"),
        (clientHandshakeSecret, "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f"),
        (serverApplicationSecret, "9f02283b6c9c07efc26bb9f2ac92e356", "cf782b88dd83549aadf1e984"),
        (clientApplicationSecret, "17422dda596ed5d9acd890e3c63f5051", "5b78923dee08579033e523d9"),
    ]

    /// {server} EncryptedExtensions, Certificate, CertificateVerify and Finished, sequence 0.
    static let serverHandshakeRecord = hexBytes(
        """
        17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb96
        0b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79
        020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8
        bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead68694
        5ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63
        d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a3
        6ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af3687
        9018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d4
        61e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6
        fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614
        636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee
        340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e
        750edc53370d2b
        """)
    /// {server} NewSessionTicket under the server application keys, sequence 0.
    static let serverTicketRecord = hexBytes(
        """
        17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e
        061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be6343
        9b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac3
        47d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf159
        85684f
        """)
    /// {client} Finished under the client handshake keys, sequence 0.
    static let clientFinishedRecord = hexBytes(
        "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546"
    )
    /// {client} 50 bytes 00…31 under the client application keys, sequence 0; {server} the same at sequence 1.
    static let clientDataRecord = hexBytes(
        """
        1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2
        977014bd1e3deae63aeebb21694915e4
        """)
    static let serverDataRecord = hexBytes(
        """
        17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a2
        1c0047c2abf332540dd032e167c2955d
        """)
    /// close_notify: the client's sequence 1, the server's sequence 2.
    static let clientAlertRecord = hexBytes("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3")
    static let serverAlertRecord = hexBytes("1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9")
    static let applicationData = (0..<50).map { UInt8($0) }
    static let clientFinished = hexBytes("14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61")

    static func keyLog(random: [UInt8] = clientRandom, withHandshakeSecrets: Bool = true) -> String {
        let r = random.hexString
        var lines = [
            "CLIENT_TRAFFIC_SECRET_0 \(r) \(clientApplicationSecret)",
            "SERVER_TRAFFIC_SECRET_0 \(r) \(serverApplicationSecret)",
        ]
        if withHandshakeSecrets {
            lines.insert("SERVER_HANDSHAKE_TRAFFIC_SECRET \(r) \(serverHandshakeSecret)", at: 0)
            lines.insert("CLIENT_HANDSHAKE_TRAFFIC_SECRET \(r) \(clientHandshakeSecret)", at: 0)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func decryptor(_ log: String) throws -> TLSConnectionDecryptor {
        let keys = try KeyLog(parsing: Array(log.utf8))
        return TLSConnectionDecryptor(lookup: { keys.secrets(forClientRandom: $0) })
    }

    static let suite = TLSCipherSuite.named(0x1301)!
}

@Suite("TLS 1.3 decryption (RFC 8448 §3)")
struct TLS13DecryptionTests {
    @Test(arguments: RFC8448.trafficKeys)
    func trafficKeysFromSecrets(_ secret: String, _ key: String, _ iv: String) throws {
        let k = TLSKeySchedule.trafficKeys(RFC8448.suite, secret: hexBytes(secret))
        #expect(k.key.hexString == key)
        #expect(k.iv.hexString == iv)
    }

    /// Each protected record of the trace, opened with the keys of its direction and epoch.
    @Test func recordsOpenToTheTracePayloads() throws {
        var serverHS = TLSRecordOpener.tls13(RFC8448.suite, secret: hexBytes(RFC8448.serverHandshakeSecret))
        var clientHS = TLSRecordOpener.tls13(RFC8448.suite, secret: hexBytes(RFC8448.clientHandshakeSecret))
        var serverApp = TLSRecordOpener.tls13(RFC8448.suite, secret: hexBytes(RFC8448.serverApplicationSecret))
        var clientApp = TLSRecordOpener.tls13(RFC8448.suite, secret: hexBytes(RFC8448.clientApplicationSecret))
        func open(_ o: inout TLSRecordOpener, _ r: [UInt8]) throws -> (type: UInt8, plaintext: [UInt8]) {
            try o.open(type: r[0], version: 0x0303, fragment: r[5...]).get()
        }
        let hs = try open(&serverHS, RFC8448.serverHandshakeRecord)
        #expect(hs.type == 22)
        #expect(hs.plaintext.count == 657)
        #expect(Array(hs.plaintext.prefix(4)) == [8, 0, 0, 0x24])  // EncryptedExtensions
        #expect(Array(hs.plaintext.suffix(36)).hexString.hasPrefix("140000209b9b141d906337fb"))  // Finished
        #expect(try open(&clientHS, RFC8448.clientFinishedRecord) == (22, RFC8448.clientFinished))
        let ticket = try open(&serverApp, RFC8448.serverTicketRecord)
        #expect(ticket.type == 22 && ticket.plaintext.count == 205 && ticket.plaintext.first == 4)
        #expect(try open(&serverApp, RFC8448.serverDataRecord) == (23, RFC8448.applicationData))
        #expect(try open(&serverApp, RFC8448.serverAlertRecord) == (21, [1, 0]))
        #expect(try open(&clientApp, RFC8448.clientDataRecord) == (23, RFC8448.applicationData))
        #expect(try open(&clientApp, RFC8448.clientAlertRecord) == (21, [1, 0]))
    }

    static func hellos() -> (client: [UInt8], server: [UInt8]) {
        (
            TLSBuild.clientHello(random: RFC8448.clientRandom),
            TLSBuild.serverHello(random: RFC8448.serverRandom, suite: 0x1301)
        )
    }

    static let facts: TLSHandshakeFacts = {
        var f = TLSHandshakeFacts()
        f.version = "TLSv1.3"
        f.cipher = "TLS_AES_128_GCM_SHA256"
        f.serverName = "imap.example"
        f.versionsOffered = ["TLSv1.3", "TLSv1.2"]
        f.clientRandom = RFC8448.clientRandom
        return f
    }()

    /// The whole connection fed as a capture delivers it, a few bytes at a time.
    @Test(arguments: [true, false])
    func wholeConnection(withHandshakeSecrets: Bool) throws {
        let d = try RFC8448.decryptor(RFC8448.keyLog(withHandshakeSecrets: withHandshakeSecrets))
        let (ch, sh) = Self.hellos()
        var actions: [TLSDecryptorAction] = []
        func feed(_ dir: Direction, _ bytes: [UInt8], chunk: Int = 7) {
            var i = 0
            while i < bytes.count {
                actions += d.feed(dir, Array(bytes[i..<min(bytes.count, i + chunk)]))
                i += chunk
            }
        }
        feed(.client, ch)
        feed(.server, sh + RFC8448.serverHandshakeRecord + RFC8448.serverTicketRecord)
        feed(.client, TLSBuild.record(20, [1]) + RFC8448.clientFinishedRecord + RFC8448.clientDataRecord)
        feed(.server, RFC8448.serverDataRecord + RFC8448.serverAlertRecord)
        feed(.client, RFC8448.clientAlertRecord)
        // The RFC's EncryptedExtensions has no ALPN; without handshake keys it is not read at all.
        #expect(
            actions == [
                .decrypting(Self.facts), .plaintext(.client, RFC8448.applicationData),
                .plaintext(.server, RFC8448.applicationData),
            ])
    }

    @Test func flippedBitIsReportedAndTheNextRecordOpens() throws {
        let d = try RFC8448.decryptor(RFC8448.keyLog())
        let (ch, sh) = Self.hellos()
        var ticket = RFC8448.serverTicketRecord
        ticket[100] ^= 0x04
        var actions = d.feed(.client, ch)
        actions += d.feed(.server, sh + RFC8448.serverHandshakeRecord + ticket + RFC8448.serverDataRecord)
        #expect(
            actions == [
                .decrypting(Self.facts), .decryptFailed(.server, sequence: 0, bytes: ticket.count),
                .plaintext(.server, RFC8448.applicationData),
            ])
    }

    @Test func missingKeyNamesTheClientRandom() throws {
        let d = try RFC8448.decryptor(RFC8448.keyLog(random: Array(repeating: 7, count: 32)))
        let (ch, sh) = Self.hellos()
        var actions = d.feed(.client, ch)
        actions += d.feed(.server, sh + RFC8448.serverHandshakeRecord)
        actions += d.feed(.server, RFC8448.serverDataRecord)
        let r = RFC8448.clientRandom.hexString
        #expect(actions == [.undecryptable(Self.facts, .noKey(clientRandom: r, version: "TLSv1.3"))])
        #expect(d.isOpaque)
        #expect(d.bytesFed[.server] == sh.count + RFC8448.serverHandshakeRecord.count + RFC8448.serverDataRecord.count)
        #expect(
            TLSUndecryptable.noKey(clientRandom: r, version: "TLSv1.3").message
                == "the key log has no TLSv1.3 secrets for client random \(r)")
    }

    @Test func captureStartingAfterTheHandshakeIsUndecryptable() throws {
        let d = try RFC8448.decryptor(RFC8448.keyLog())
        #expect(d.feed(.server, RFC8448.serverDataRecord) == [.undecryptable(nil, .midSession)])
        let d2 = try RFC8448.decryptor(RFC8448.keyLog())
        #expect(d2.feed(.client, Array("a1 NOOP\r\n".utf8)) == [.undecryptable(nil, .notTLS)])
    }

    /// Synthetic sessions for the other suites, with ALPN, padding and KeyUpdate in both directions.
    @Test(arguments: [UInt16(0x1301), 0x1302, 0x1303])
    func suitesALPNPaddingAndKeyUpdate(_ id: UInt16) throws {
        let suite = try #require(TLSCipherSuite.named(id))
        let n = suite.hash.length
        let random = Array(repeating: UInt8(id & 0xFF), count: 32)
        let secrets = (1...4).map { i in Array(repeating: UInt8(i), count: n) }
        let labels = [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ]
        let log = zip(labels, secrets).map { "\($0) \(random.hexString) \($1.hexString)" }.joined(separator: "\n")
        let d = try RFC8448.decryptor(log)
        let ee = TLSBuild.handshake(8, TLSBuild.u16(11) + TLSBuild.ext(16, TLSBuild.u16(5) + [4] + Array("imap".utf8)))
        let fin = TLSBuild.handshake(20, Array(repeating: 0xAA, count: n))
        let keyUpdate = TLSBuild.handshake(24, [0])
        var actions = d.feed(.client, TLSBuild.clientHello(random: random))
        let serverFlight =
            TLSBuild.serverHello(random: Array(repeating: 9, count: 32), suite: id)
            + (try TLSBuild.seal13(suite, secret: secrets[1], seq: 0, type: 22, ee))
            + (try TLSBuild.seal13(suite, secret: secrets[1], seq: 1, type: 22, fin))
        actions += d.feed(.server, serverFlight)
        let next0 = TLSKeySchedule.nextTrafficSecret(suite, secret: secrets[2])
        let clientFlight =
            (try TLSBuild.seal13(suite, secret: secrets[0], seq: 0, type: 22, fin, padding: 5))
            + (try TLSBuild.seal13(suite, secret: secrets[2], seq: 0, type: 23, Array("a1 NOOP\r\n".utf8)))
            + (try TLSBuild.seal13(suite, secret: secrets[2], seq: 1, type: 22, keyUpdate))
            + (try TLSBuild.seal13(suite, secret: next0, seq: 0, type: 23, Array("a2 LOGOUT\r\n".utf8), padding: 30))
        actions += d.feed(.client, clientFlight)
        actions += d.feed(
            .server, try TLSBuild.seal13(suite, secret: secrets[3], seq: 0, type: 23, Array("a1 OK\r\n".utf8)))
        var facts = TLSHandshakeFacts()
        facts.version = "TLSv1.3"
        facts.cipher = TLSServerHello.cipherName(id)
        facts.serverName = "imap.example"
        facts.alpn = "imap"
        facts.versionsOffered = ["TLSv1.3", "TLSv1.2"]
        facts.clientRandom = random
        #expect(
            actions == [
                .decrypting(facts), .plaintext(.client, Array("a1 NOOP\r\n".utf8)),
                .plaintext(.client, Array("a2 LOGOUT\r\n".utf8)), .plaintext(.server, Array("a1 OK\r\n".utf8)),
            ])
    }
}
