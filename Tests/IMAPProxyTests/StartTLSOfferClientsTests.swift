import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import Testing

/// A plaintext listener in front of a TLS server leg (`imaps://`, or `imap+starttls://` once
/// imapscope upgraded it): imapscope offers STARTTLS in the capability lists it relays, answers
/// it, and real clients that insist on STARTTLS (imaplib, openssl s_client, curl --ssl-reqd,
/// mbsync) get TLS on the client leg.
@Suite("STARTTLS offered by imapscope", .serialized)
struct StartTLSOfferClientsTests {
    static func lints(_ events: [Event], _ code: String) -> [Event] {
        events.filter { $0.kind == .lint && $0["code"]?.stringValue == code }
    }

    @Test(arguments: [ProxyURL.Scheme.imaps, .imapStartTLS])
    func clientsThatRequireSTARTTLSGetIt(upstream: ProxyURL.Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: upstream)
        defer { p.stop() }
        let (ca, port) = (p.ca.certificatePath, p.ports[0])
        let out = try runPython(
            """
            import imaplib, ssl, subprocess
            ctx = ssl.create_default_context(cafile='\(ca)')
            m = imaplib.IMAP4('127.0.0.1', \(port))
            m.starttls(ssl_context=ctx)
            m.login('alice', 'password'); typ, data = m.select('INBOX'); m.logout()
            print('imaplib', typ, data[0].decode())
            r = subprocess.run(['openssl', 's_client', '-quiet', '-starttls', 'imap', '-connect', '127.0.0.1:\(port)',
                                '-servername', 'localhost', '-CAfile', '\(ca)', '-verify_return_error'],
                               input=b'a1 LOGIN alice password\\r\\na2 LOGOUT\\r\\n', capture_output=True, timeout=30)
            print('openssl', r.returncode, b'a1 OK' in r.stdout, b"Didn't find STARTTLS" in r.stdout + r.stderr)
            r = subprocess.run(['curl', '-s', '--ssl-reqd', '--cacert', '\(ca)', '--user', 'alice:password',
                                'imap://localhost:\(port)/INBOX;UID=1'], capture_output=True, timeout=30)
            print('curl', r.returncode, b'Subject: Seed message 1' in r.stdout)
            """)
        #expect(out == "imaplib OK 2\nopenssl 0 True False\ncurl 0 True\n", "\(out)")
        // mbsync with `SSLType STARTTLS` gets what it gets from Dovecot directly over imaps.
        let direct = try ProxyClientsTests.mbsync(port: dovecot.imapsPort, cafile: dovecot.directory + "/server.crt")
        let proxied = try ProxyClientsTests.mbsync(port: port, cafile: ca, sslType: "STARTTLS")
        #expect(proxied == direct)
        #expect(direct.count == 2)
        p.waitForSessions(4)
        let sessions = Dictionary(grouping: p.sink.events, by: \.session)
        #expect(sessions.count == 4)
        for (id, events) in sessions {
            let commands = events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
            // Each upgraded with STARTTLS before it logged in (mbsync acts on the greeting's list,
            // the others ask CAPABILITY first).
            let startTLSAt = commands.firstIndex(of: "STARTTLS") ?? Int.max
            let loginAt = commands.firstIndex { $0 == "LOGIN" || $0 == "AUTHENTICATE" } ?? -1
            #expect(startTLSAt < loginAt, "\(id): \(commands)")
            #expect(Self.lints(events, "client-leg-plaintext").isEmpty, "\(id)")
            #expect(
                events.contains {
                    $0.dir == .proxy && $0.kind == .tagged && $0["command"]?.stringValue == "STARTTLS"
                        && $0["status"]?.stringValue == "OK"
                }, "\(id)")
            // Every capability list the client got before its TLS offered STARTTLS; those from the
            // TLS server leg were rewritten (all of them in front of imaps, all but the plaintext
            // greeting in front of imap+starttls), each followed by its proxy-rewrite lint.
            let clientTLS = events.firstIndex { $0.kind == .tls && $0["leg"]?.stringValue == "client" } ?? events.count
            let lists = events[..<clientTLS].filter {
                ($0.kind == .untagged || $0.kind == .tagged) && $0["line"]?.stringValue?.contains("CAPABILITY") == true
            }
            let lines = lists.map { $0["line"]?.stringValue ?? "" }
            #expect(!lists.isEmpty && lines.allSatisfy { $0.contains(" STARTTLS") }, "\(id): \(lines)")
            let rewrites = Self.lints(events, "proxy-rewrite").count
            #expect(rewrites == lists.count - (upstream == .imapStartTLS ? 1 : 0), "\(id): \(lines)")
            let errors = events.filter { (e: Event) in e.kind == .lint && e["level"]?.stringValue == "error" }
            #expect(errors.isEmpty, "\(id): \(errors.map { $0.json.serialized })")
        }
        let scan = SecretScan("password")
        #expect(scan.leaks(in: p.sink.events.map { $0.json.serialized }.joined(separator: "\n")).isEmpty)
    }

    /// A client that logs in on the plaintext listener anyway gets a warning; with
    /// `--require-client-tls` its LOGIN is refused before the server sees it, and after STARTTLS it
    /// logs in.
    @Test func plaintextCredentialsAreWarnedAboutOrRefused() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let warn = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: .imaps)
        defer { warn.stop() }
        let plain = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(warn.ports[0]))
            print('STARTTLS' in m.capabilities)
            m.login('alice', 'password'); m.logout()
            """)
        #expect(plain == "True\n")
        warn.waitForSessions()
        let warned = Self.lints(warn.sink.events, "client-leg-plaintext")
        #expect(warned.map { $0["level"]?.stringValue ?? "" } == ["warning"])
        let story = warn.sink.events.compactMap { e -> String? in
            e.kind == .command
                ? e["name"]?.stringValue : (e.kind == .lint ? "lint " + (e["code"]?.stringValue ?? "") : nil)
        }
        #expect(
            story == [
                "lint proxy-rewrite", "CAPABILITY", "lint proxy-rewrite", "LOGIN", "lint cleartext-login",
                "lint client-leg-plaintext", "LOGOUT",
            ])

        let strict = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: .imaps, requireClientTLS: true)
        defer { strict.stop() }
        let refused = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile='\(strict.ca.certificatePath)')
            m = imaplib.IMAP4('127.0.0.1', \(strict.ports[0]))
            try:
                m.login('alice', 'password'); print('logged in in plaintext')
            except imaplib.IMAP4.error as e:
                print('refused', 'PRIVACYREQUIRED' in str(e))
            m.starttls(ssl_context=ctx)
            m.login('alice', 'password'); print(m.select('INBOX')[0]); m.logout()
            """)
        #expect(refused == "refused True\nOK\n")
        strict.waitForSessions()
        let events = strict.sink.events
        let no = events.first { $0.dir == .proxy && $0.kind == .tagged && $0["status"]?.stringValue == "NO" }
        #expect(no?["code"]?.stringValue == "PRIVACYREQUIRED" && no?["command"]?.stringValue == "LOGIN")
        #expect(Self.lints(events, "client-leg-plaintext").count == 1)
        // Dovecot saw one login: the one over TLS.
        let dovecotLog = (try? String(contentsOfFile: dovecot.directory + "/dovecot.log", encoding: .utf8)) ?? ""
        #expect(
            dovecotLog.components(separatedBy: "Login: user=<alice>").count - 1 == 2,
            "one plaintext-warned login and the one after STARTTLS")
        let scan = SecretScan("password")
        for e in warn.sink.events + events { #expect(scan.leaks(in: e.json.serialized).isEmpty) }
    }
}
