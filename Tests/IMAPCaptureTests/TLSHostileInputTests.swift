import IMAPCore
import IMAPTestSupport
import Testing

@testable import IMAPCapture

/// Bytes no TLS peer sends, fed to the decryptor after real hellos: it reports them and stays
/// bounded, never crashing or holding more than a record and a handshake message per direction.
@Suite("TLS decryptor on hostile input")
struct TLSHostileInputTests {
    static func started() throws -> TLSConnectionDecryptor {
        let d = try RFC8448.decryptor(RFC8448.keyLog())
        _ = d.feed(.client, TLSBuild.clientHello(random: RFC8448.clientRandom))
        _ = d.feed(.server, TLSBuild.serverHello(random: RFC8448.serverRandom, suite: 0x1301))
        return d
    }

    /// (what, server bytes after the ServerHello, the actions they give)
    static let cases: [(String, [UInt8], [TLSDecryptorAction])] = [
        (
            "a record longer than TLS allows", [23, 3, 3, 0x48, 0x01],
            [.directionLost(.server, reason: "the bytes are no longer TLS records")]
        ),
        (
            "an unknown content type", [99, 3, 3, 0, 1, 0],
            [.directionLost(.server, reason: "the bytes are no longer TLS records")]
        ),
        ("an empty protected record", [23, 3, 3, 0, 0], [.decryptFailed(.server, sequence: 0, bytes: 5)]),
        ("a record shorter than its tag", [23, 3, 3, 0, 3, 1, 2, 3], [.decryptFailed(.server, sequence: 0, bytes: 8)]),
        ("half a record header", [23, 3], []),
    ]

    @Test(arguments: cases)
    func reportedNotDecoded(_ what: String, _ bytes: [UInt8], _ expected: [TLSDecryptorAction]) throws {
        let d = try Self.started()
        #expect(d.feed(.server, bytes) == expected, "\(what)")
    }

    /// A handshake message announcing 16 MiB: the assembler gives up instead of buffering it.
    @Test func hugeHandshakeMessageIsNotBuffered() throws {
        let d = try RFC8448.decryptor(RFC8448.keyLog())
        let header: [UInt8] = [1, 0xFF, 0xFF, 0xFF]
        var actions: [TLSDecryptorAction] = []
        for _ in 0..<20 { actions += d.feed(.client, TLSBuild.record(22, header + Array(repeating: 0, count: 16_000))) }
        #expect(actions.isEmpty)
        #expect(d.finish() == [.undecryptable(nil, .midSession)])
    }

    /// Random bytes of random lengths in both directions, from several seeds: no crash, every
    /// action is one of the reports, and feeding goes on to the end.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func randomBytes(_ seed: UInt64) throws {
        var rng = SeededRandom(state: seed)
        let d = try Self.started()
        for _ in 0..<200 {
            let n = Int.random(in: 0..<3000, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // A plausible header now and then, so some records reach the opener.
            let header: [UInt8] = [23, 3, 3, UInt8(n >> 8), UInt8(n & 0xFF)]
            let dir: Direction = Bool.random(using: &rng) ? .client : .server
            for a in d.feed(dir, Bool.random(using: &rng) ? header + bytes : bytes) {
                switch a {
                case .plaintext, .decrypting: Issue.record("random bytes decrypted: \(a)")
                case .undecryptable, .decryptFailed, .directionLost: break
                }
            }
        }
        _ = d.finish()
    }
}
