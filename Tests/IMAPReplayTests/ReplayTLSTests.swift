import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import Testing

@testable import IMAPReplay

/// The replay server over TLS: imaps:// with a leaf from imapscope's CA, and a fixture that
/// went through STARTTLS (offered because the fixture did it), both driven by imaplib.
@Suite("Replay over TLS", .serialized)
struct ReplayTLSTests {
    static func fixture(_ lines: [String]) throws -> ReplayScript {
        try ReplayScript(fixture: Array(lines.map { $0 + "\r\n" }.joined().utf8))
    }

    /// What imaplib sends: CAPABILITY first, then the script's commands.
    static let session = [
        "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",
        "C: a9 CAPABILITY",
        "S: * CAPABILITY IMAP4rev1 AUTH=PLAIN",
        "S: a9 OK done",
        "C: a1 LOGIN alice ‹redacted:00000000›",
        "S: a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in",
        "C: a2 SELECT INBOX",
        "S: * 1 EXISTS",
        "S: a2 OK [READ-WRITE] Select completed",
        "C: a3 LOGOUT",
        "S: * BYE Logging out",
        "S: a3 OK Logout completed",
    ]

    static func withCA<T>(_ body: (CertificateAuthority) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "imapscope-replay-ca-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(try CertificateAuthority.load(directory: dir))
    }

    @Test func implicitTLS() throws {
        try Self.withCA { ca in
            let server = try ReplayServer(
                script: try Self.fixture(Self.session),
                configuration: .init(
                    listen: ProxyURL(scheme: .imaps, host: "127.0.0.1", port: 0),
                    tls: try ca.serverTLSConfiguration(fallbackHost: "localhost")))
            defer { server.shutdown() }
            let port = Int(try server.start().split(separator: ":").last!)!
            let out = try runPython(
                """
                import imaplib, ssl
                ctx = ssl.create_default_context(cafile='\(ca.certificatePath)')
                m = imaplib.IMAP4_SSL('localhost', \(port), ssl_context=ctx)
                m.login('alice', 'pw')
                print(m.select('INBOX'), m.logout())
                """)
            #expect(out == "('OK', [b'1']) ('BYE', [b'Logging out'])\n")
            let results = server.waitForSessions(1, timeoutSeconds: 10)
            #expect(results.count == 1 && results[0].succeeded && results[0].mismatches.isEmpty)
        }
    }

    @Test func startTLSOnlyWhenTheFixtureDidIt() throws {
        let lines =
            [
                "S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
                "C: a8 CAPABILITY",
                "S: * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED",
                "S: a8 OK done",
                "C: a0 STARTTLS",
                "S: a0 OK Begin TLS negotiation now.",
                "# TLS established (client)",
                "C: a1 CAPABILITY",
                "S: * CAPABILITY IMAP4rev1 AUTH=PLAIN",
                "S: a1 OK done",
            ] + Self.session.dropFirst(4)
        let script = try Self.fixture(lines)
        #expect(script.usesStartTLS)
        #expect(!(try Self.fixture(Self.session)).usesStartTLS)
        // A STARTTLS fixture needs the CA even on imap://.
        #expect(throws: ReplayScript.Failure.self) {
            try ReplayServer(
                script: script,
                configuration: .init(listen: ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0), tls: nil))
        }
        try Self.withCA { ca in
            let server = try ReplayServer(
                script: script,
                configuration: .init(
                    listen: ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0),
                    tls: try ca.serverTLSConfiguration(fallbackHost: "localhost")))
            defer { server.shutdown() }
            let port = Int(try server.start().split(separator: ":").last!)!
            let out = try runPython(
                """
                import imaplib, ssl
                ctx = ssl.create_default_context(cafile='\(ca.certificatePath)')
                m = imaplib.IMAP4('localhost', \(port))
                print(m.starttls(ssl_context=ctx)[0], m.sock.version())
                m.login('alice', 'pw')
                print(m.select('INBOX'), m.logout())
                """)
            #expect(out == "OK TLSv1.3\n('OK', [b'1']) ('BYE', [b'Logging out'])\n")
            let results = server.waitForSessions(1, timeoutSeconds: 10)
            #expect(results.count == 1 && results[0].succeeded)
        }
    }

    /// One session at a time: a second client meanwhile gets a BYE, the first is unaffected.
    @Test func secondClientIsTurnedAway() throws {
        let server = try ReplayServer(
            script: try Self.fixture(Self.session),
            configuration: .init(listen: ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0), tls: nil))
        defer { server.shutdown() }
        let port = Int(try server.start().split(separator: ":").last!)!
        let out = try runPython(
            """
            import socket
            a = socket.create_connection(('127.0.0.1', \(port))); fa = a.makefile('rb')
            print(fa.readline().decode(), end='')
            b = socket.create_connection(('127.0.0.1', \(port))); fb = b.makefile('rb')
            print(fb.readline().decode(), end='')
            print(fb.readline())
            a.sendall(b'x NOOP\\r\\n')
            print(fa.readline().decode(), end='')
            """)
        #expect(
            out
                == "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n* BYE [UNAVAILABLE] imapscope replay serves one session at a time\r\nb''\nx BAD [CLIENTBUG] imapscope replay: expected \"CAPABILITY\" but got \"NOOP\"\r\n"
        )
    }
}
