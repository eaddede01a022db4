import IMAPCore

/// What the handshake said in the clear (and, for TLS 1.3's ALPN, once decrypted).
public struct TLSHandshakeFacts: Sendable, Equatable {
    public var version: String?
    public var cipher: String?
    public var serverName: String?
    public var alpn: String?
    public var versionsOffered: [String]?
    /// Public: it crosses the wire in the ClientHello. It names the key log line that was looked for.
    public var clientRandom: [UInt8]?

    public init() {}
}

/// What feeding bytes to a `TLSConnectionDecryptor` produced, in stream order.
public enum TLSDecryptorAction: Sendable, Equatable {
    /// Application data, decrypted.
    case plaintext(Direction, [UInt8])
    /// The key log has this session's secrets: plaintext follows. Comes before the first plaintext.
    case decrypting(TLSHandshakeFacts)
    /// Nothing of this connection can be decrypted; every later byte is opaque.
    case undecryptable(TLSHandshakeFacts?, TLSUndecryptable)
    /// A record that did not open (its tag or MAC failed): it is skipped, the next one is tried.
    case decryptFailed(Direction, sequence: UInt64, bytes: Int)
    /// The records of one direction can no longer be followed (the capture lost bytes, or the
    /// bytes are not TLS records): its later bytes are opaque.
    case directionLost(Direction, reason: String)
}

public enum TLSUndecryptable: Sendable, Equatable {
    /// The key log has no usable secret for this client random (hex; not a secret).
    case noKey(clientRandom: String, version: String)
    /// No ClientHello: the capture began after the handshake.
    case midSession
    case unsupportedCipher(String)
    case unsupportedVersion(String)
    case notTLS
    /// The handshake failed (an alert in the clear), or the capture ends before it completes.
    case incompleteHandshake

    public var message: String {
        switch self {
        case .noKey(let clientRandom, let version):
            return "the key log has no \(version) secrets for client random \(clientRandom)"
        case .midSession:
            return "the capture starts after the TLS handshake (no ClientHello), so it cannot be decrypted"
        case .unsupportedCipher(let cipher): return "cipher suite \(cipher) is not one imapscope can decrypt"
        case .unsupportedVersion(let version): return "\(version) is not a version imapscope can decrypt"
        case .notTLS: return "the bytes are not TLS records"
        case .incompleteHandshake: return "the TLS handshake did not complete in the capture"
        }
    }
}

/// A sans-I/O TLS decryptor for one TCP connection: fed each direction's stream bytes in the
/// order they were captured, it follows the record layer and the handshake, looks the
/// connection's secrets up in a key log by the ClientHello's random, and returns the decrypted
/// application data of both directions with what it learned on the way. It never throws and
/// buffers at most one record and one handshake message per direction.
public final class TLSConnectionDecryptor {
    public typealias KeyLookup = ([UInt8]) -> TLSSessionSecrets?

    /// TLSCiphertext.length is at most 2^14 + 2048 (RFC 5246 §6.2.3; TLS 1.3 allows less).
    static let maxFragment = 16_384 + 2048

    private enum Phase { case hello, decrypting, opaque }

    private struct Side {
        var pending: [UInt8] = []
        var handshake = TLSHandshakeAssembler()
        /// Records from this side are protected (TLS 1.3 after ServerHello, TLS 1.2 after ChangeCipherSpec).
        var encrypted = false
        /// The opener of the records arriving now (nil while encrypted: TLS 1.3 handshake keys not logged).
        var opener: TLSRecordOpener?
        /// TLS 1.3: the application opener, in use once this side's Finished is read.
        var application: TLSRecordOpener?
        var trafficSecret: [UInt8]?
        /// TLS 1.2: the opener that ChangeCipherSpec turns on.
        var afterChangeCipherSpec: TLSRecordOpener?
        var inApplicationPhase = false
        var lost = false
    }

    private let lookup: KeyLookup
    private var phase = Phase.hello
    private var sides: [Direction: Side] = [.client: Side(), .server: Side()]
    private var clientHello: TLSClientHelloInfo?
    private var suite: TLSCipherSuite?
    private var facts = TLSHandshakeFacts()
    private var factsReported = false
    private var actions: [TLSDecryptorAction] = []
    /// Bytes fed per direction, so the session can count them if nothing is decrypted.
    public private(set) var bytesFed: [Direction: Int] = [:]

    public init(lookup: @escaping KeyLookup) {
        self.lookup = lookup
    }

    /// Once true, nothing more is decrypted: the caller may count later bytes itself.
    public var isOpaque: Bool { phase == .opaque }

    public func feed(_ dir: Direction, _ bytes: [UInt8]) -> [TLSDecryptorAction] {
        bytesFed[dir, default: 0] += bytes.count
        guard phase != .opaque, dir != .proxy, var side = sides[dir], !side.lost else { return take() }
        side.pending += bytes
        sides[dir] = side
        readRecords(dir)
        return take()
    }

    /// The capture lost `bytes` of `dir`: record boundaries are gone, so that direction stops.
    public func gap(_ dir: Direction, bytes: Int) -> [TLSDecryptorAction] {
        bytesFed[dir, default: 0] += bytes
        guard phase != .opaque, var side = sides[dir], !side.lost else { return take() }
        if phase == .hello {
            giveUp(.midSession)
            return take()
        }
        side.lost = true
        side.pending = []
        sides[dir] = side
        actions.append(
            .directionLost(dir, reason: "the capture lost \(bytes) bytes, so its TLS records cannot be followed"))
        return take()
    }

    /// The connection ended: a handshake that never got as far as the keys is reported.
    public func finish() -> [TLSDecryptorAction] {
        if phase == .hello, bytesFed.values.contains(where: { $0 > 0 }) {
            giveUp(clientHello == nil ? .midSession : .incompleteHandshake)
        }
        return take()
    }

    private func take() -> [TLSDecryptorAction] {
        defer { actions = [] }
        return actions
    }

    private func giveUp(_ why: TLSUndecryptable) {
        guard phase != .opaque else { return }
        phase = .opaque
        sides = [:]
        actions.append(.undecryptable(clientHello == nil ? nil : facts, why))
    }

    private func readRecords(_ dir: Direction) {
        while phase != .opaque, var side = sides[dir], !side.lost, side.pending.count >= 5 {
            let pending = side.pending
            let type = pending[0]
            let version = UInt16(pending[1]) << 8 | UInt16(pending[2])
            let length = Int(pending[3]) << 8 | Int(pending[4])
            guard (20...23).contains(type), pending[1] == 3, length <= Self.maxFragment else {
                if phase == .hello {
                    giveUp(clientHello == nil && pending[0] != 0x16 ? .notTLS : .midSession)
                } else {
                    side.lost = true
                    side.pending = []
                    sides[dir] = side
                    actions.append(.directionLost(dir, reason: "the bytes are no longer TLS records"))
                }
                return
            }
            guard pending.count >= 5 + length else { return }
            let fragment = pending[5..<(5 + length)]
            side.pending.removeFirst(5 + length)
            sides[dir] = side
            record(dir, type: type, version: version, fragment: fragment)
        }
    }

    private func record(_ dir: Direction, type: UInt8, version: UInt16, fragment: ArraySlice<UInt8>) {
        guard var side = sides[dir] else { return }
        if phase == .hello {
            // Before keys: the hellos in the clear; anything encrypted means the start was missed.
            if type == 20 { return }  // a middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4)
            if type == 21, clientHello != nil { return giveUp(.incompleteHandshake) }  // refused in the clear
            guard type == 22, !side.encrypted else {
                return giveUp(clientHello == nil || suite == nil ? .midSession : .notTLS)
            }
            let messages = side.handshake.append(Array(fragment))
            sides[dir] = side
            for message in messages { handshakeMessage(dir, message.type, message.body) }
            return
        }
        if type == 20 {
            // TLS 1.3 sends ChangeCipherSpec for middleboxes only (RFC 8446 §D.4); TLS 1.2 turns keys on.
            return changeCipherSpec(dir)
        }
        guard side.encrypted else {
            // TLS 1.2 handshake messages in the clear (Certificate, ServerHelloDone, ClientKeyExchange…).
            if type == 22 { _ = side.handshake.append(Array(fragment)) }
            sides[dir] = side
            return
        }
        if !side.inApplicationPhase, suite?.tls13 == true {
            openHandshakePhase(dir, &side, type: type, version: version, fragment: fragment)
            return
        }
        guard var opener = side.opener else { return }
        let seq = opener.sequence
        switch opener.open(type: type, version: version, fragment: fragment) {
        case .success(let opened):
            side.opener = opener
            sides[dir] = side
            content(dir, type: opened.type, opened.plaintext)
        case .failure:
            side.opener = opener
            sides[dir] = side
            actions.append(.decryptFailed(dir, sequence: seq, bytes: fragment.count + 5))
        }
    }

    /// TLS 1.3 before this side's Finished: records are under the handshake keys. Without them
    /// (or when one fails) the application keys are tried: a record they open ends the handshake.
    private func openHandshakePhase(
        _ dir: Direction, _ side: inout Side, type: UInt8, version: UInt16, fragment: ArraySlice<UInt8>
    ) {
        var opener = side.opener
        let seq = opener?.sequence ?? 0
        if case .success(let opened) = opener?.open(type: type, version: version, fragment: fragment) {
            side.opener = opener
            sides[dir] = side
            content(dir, type: opened.type, opened.plaintext)
            return
        }
        if var app = side.application,
            case .success(let opened) = app.open(type: type, version: version, fragment: fragment)
        {
            side.opener = app
            side.application = nil
            side.inApplicationPhase = true
            sides[dir] = side
            reportFacts()
            content(dir, type: opened.type, opened.plaintext)
            return
        }
        side.opener = opener
        sides[dir] = side
        // Without handshake keys a record no key opens is taken for a handshake record.
        if opener != nil { actions.append(.decryptFailed(dir, sequence: seq, bytes: fragment.count + 5)) }
    }

    private func changeCipherSpec(_ dir: Direction) {
        guard var side = sides[dir], let next = side.afterChangeCipherSpec else { return }
        side.opener = next
        side.encrypted = true
        side.afterChangeCipherSpec = nil
        side.inApplicationPhase = true
        sides[dir] = side
    }

    /// A record opened: application data goes out, handshake messages move the keys on.
    private func content(_ dir: Direction, type: UInt8, _ plaintext: [UInt8]) {
        switch type {
        case 23:
            reportFacts()
            if !plaintext.isEmpty { actions.append(.plaintext(dir, plaintext)) }
        case 22:
            guard var side = sides[dir] else { return }
            let messages = side.handshake.append(plaintext)
            sides[dir] = side
            for message in messages { handshakeMessage(dir, message.type, message.body) }
        default: break  // alerts (close_notify) and anything else carry no IMAP
        }
    }

    private func handshakeMessage(_ dir: Direction, _ type: UInt8, _ body: ArraySlice<UInt8>) {
        switch (dir, type) {
        case (.client, TLSHandshakeType.clientHello):
            guard let hello = TLSHandshakeParser.clientHello(body) else { return giveUp(.notTLS) }
            if clientHello == nil {
                clientHello = hello
                facts.clientRandom = hello.random
                facts.serverName = hello.serverName
                let offered = hello.versions.isEmpty ? [] : hello.versions.map { TLSClientHello.versionName(Int($0)) }
                facts.versionsOffered = offered.isEmpty ? nil : offered
            }
        case (.server, TLSHandshakeType.serverHello):
            guard clientHello != nil else { return giveUp(.midSession) }
            guard let hello = TLSHandshakeParser.serverHello(body) else { return giveUp(.notTLS) }
            if hello.isHelloRetryRequest { return }  // a second ClientHello and ServerHello follow
            serverHello(hello)
        case (_, TLSHandshakeType.encryptedExtensions):
            if dir == .server, facts.alpn == nil { facts.alpn = TLSHandshakeParser.encryptedExtensionsALPN(body) }
            reportFacts()
        case (_, TLSHandshakeType.finished):
            guard suite?.tls13 == true, var side = sides[dir], let app = side.application else { return }
            side.opener = app
            side.application = nil
            side.inApplicationPhase = true
            sides[dir] = side
        case (_, TLSHandshakeType.keyUpdate):
            guard let activeSuite = suite, activeSuite.tls13, var side = sides[dir], side.inApplicationPhase,
                let secret = side.trafficSecret
            else { return }
            let next = TLSKeySchedule.nextTrafficSecret(activeSuite, secret: secret)
            side.trafficSecret = next
            side.opener = TLSRecordOpener.tls13(activeSuite, secret: next)
            sides[dir] = side
        default: break
        }
    }

    private func serverHello(_ hello: TLSServerHelloInfo) {
        guard let ch = clientHello else { return }
        let versionName = TLSClientHello.versionName(Int(hello.version))
        facts.version = versionName
        facts.cipher = TLSServerHello.cipherName(hello.cipherSuite)
        facts.alpn = hello.alpn
        guard hello.version == 0x0304 || hello.version == 0x0303 else {
            return giveUp(.unsupportedVersion(versionName))
        }
        guard let suite = TLSCipherSuite.named(hello.cipherSuite), suite.tls13 == (hello.version == 0x0304) else {
            return giveUp(.unsupportedCipher(facts.cipher ?? "?"))
        }
        let secrets = lookup(ch.random)
        if suite.tls13 {
            guard let sessionSecrets = secrets, let c0 = sessionSecrets.clientTrafficSecret0,
                let s0 = sessionSecrets.serverTrafficSecret0,
                c0.count == suite.hash.length, s0.count == suite.hash.length
            else { return giveUp(.noKey(clientRandom: ch.random.hexString, version: versionName)) }
            self.suite = suite
            for (dir, hs, app) in [
                (Direction.client, sessionSecrets.clientHandshakeTrafficSecret, c0),
                (.server, sessionSecrets.serverHandshakeTrafficSecret, s0),
            ] {
                guard var side = sides[dir] else { continue }
                side.encrypted = true
                side.opener = hs.flatMap {
                    $0.count == suite.hash.length ? TLSRecordOpener.tls13(suite, secret: $0) : nil
                }
                side.application = TLSRecordOpener.tls13(suite, secret: app)
                side.trafficSecret = app
                sides[dir] = side
            }
        } else {
            guard let master = secrets?.masterSecret else {
                return giveUp(.noKey(clientRandom: ch.random.hexString, version: versionName))
            }
            self.suite = suite
            let keys = TLSKeySchedule.tls12Keys(
                suite, masterSecret: master, clientRandom: ch.random, serverRandom: hello.random)
            func opener(_ key: [UInt8], _ iv: [UInt8], _ mac: [UInt8]) -> TLSRecordOpener {
                switch suite.bulk {
                case .aesGCM, .chaCha20Poly1305:
                    return TLSRecordOpener(suite: suite, key: key, protection: .tls12AEAD(fixedIV: iv))
                case .aesCBC:
                    return TLSRecordOpener(
                        suite: suite, key: key,
                        protection: .tls12CBC(
                            macKey: mac, mac: suite.mac ?? .sha1, encryptThenMAC: hello.encryptThenMAC))
                }
            }
            sides[.client]?.afterChangeCipherSpec = opener(keys.clientKey, keys.clientIV, keys.clientMAC)
            sides[.server]?.afterChangeCipherSpec = opener(keys.serverKey, keys.serverIV, keys.serverMAC)
        }
        phase = .decrypting
        // TLS 1.2 knows everything now; TLS 1.3 waits for EncryptedExtensions to name ALPN.
        if !suite.tls13 { reportFacts() }
    }

    private func reportFacts() {
        guard !factsReported, phase == .decrypting else { return }
        factsReported = true
        actions.append(.decrypting(facts))
    }
}
