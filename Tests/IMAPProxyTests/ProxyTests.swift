import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import NIOSSL
import Testing

/// A plaintext proxy in front of a real Dovecot, driven by Python's imaplib.
@Suite("Proxy", .serialized)
struct ProxyTests {
    static func proxy(
        upstreamPort: Int, sinks: [EventSink], pcap: PcapRecorder? = nil
    ) throws -> (ProxyServer, EventPublisher, Int) {
        let publisher = EventPublisher(
            pipeline: EventPipeline(redactor: Redactor(), sinks: sinks + (pcap.map { [$0] } ?? [])), pcap: pcap)
        let config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: .imap, host: "127.0.0.1", port: upstreamPort),
            serverTLS: nil, upstreamTLS: .makeClientConfiguration())
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 2)
        let bound = try server.start()
        let port = Int(bound[0].split(separator: ":").last!)!
        return (server, publisher, port)
    }

    /// A proxy with a fresh CA in a temporary directory, trusting Dovecot's own certificate
    /// for the upstream leg. Returns what a test needs and a cleanup to defer.
    struct TLSProxy {
        let server: ProxyServer
        let publisher: EventPublisher
        let sink: CollectingSink
        let ca: CertificateAuthority
        let ports: [Int]
        let caDir: String
        func stop() {
            server.shutdown()
            publisher.finish()
            try? FileManager.default.removeItem(atPath: caDir)
        }
        /// Waits (up to 10 s) until `n` sessions have ended; records an issue when they have not.
        func waitForSessions(_ n: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) {
            ProxyClientsTests.waitFor(sink, sessions: n, sourceLocation: sourceLocation)
        }
    }

    static func tlsProxy(
        _ dovecot: DovecotProcess, listen: [ProxyURL.Scheme], upstream: ProxyURL.Scheme, trustDovecot: Bool = true,
        showSecrets: Bool = false, pcap: PcapRecorder? = nil, sinks extra: [EventSink] = [],
        requireClientTLS: Bool = false
    ) throws -> TLSProxy {
        let caDir = NSTemporaryDirectory() + "imapscope-ca-\(UUID().uuidString)"
        let ca = try CertificateAuthority.load(directory: caDir)
        var upstreamTLS = TLSConfiguration.makeClientConfiguration()
        if trustDovecot {
            upstreamTLS.additionalTrustRoots = [
                .certificates(try NIOSSLCertificate.fromPEMFile(dovecot.directory + "/server.crt"))
            ]
        }
        let sink = CollectingSink()
        let publisher = EventPublisher(
            pipeline: EventPipeline(
                redactor: Redactor(showSecrets: showSecrets), sinks: [sink] + extra + (pcap.map { [$0] } ?? [])),
            pcap: pcap)
        var config = ProxyServer.Configuration(
            listen: listen.map { ProxyURL(scheme: $0, host: "127.0.0.1", port: 0) },
            upstream: ProxyURL(
                scheme: upstream, host: "localhost",
                port: upstream == .imaps ? dovecot.imapsPort : dovecot.imapPort),
            serverTLS: try ca.serverTLSConfiguration(fallbackHost: "localhost"), upstreamTLS: upstreamTLS)
        config.requireClientTLS = requireClientTLS
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 2)
        let ports = try server.start().map { Int($0.split(separator: ":").last!)! }
        return TLSProxy(server: server, publisher: publisher, sink: sink, ca: ca, ports: ports, caDir: caDir)
    }

    @Test func imaplibThroughThePlaintextProxy() throws {
        let dovecot = try DovecotProcess(seed: 3)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let jsonl = MemoryOutput()
        let (server, publisher, port) = try Self.proxy(
            upstreamPort: dovecot.imapPort, sinks: [sink, JSONLinesWriter(jsonl)])
        let out = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(port))
            m.login('alice', 'password')
            typ, data = m.select('INBOX')
            typ, msgs = m.fetch('1:3', '(FLAGS BODY.PEEK[HEADER])')
            m.logout()
            print(data[0].decode(), len([x for x in msgs if isinstance(x, tuple)]))
            """)
        // Both legs close asynchronously after LOGOUT; wait for the session's end.
        #expect(
            waitUntil(seconds: 10) { sink.events.contains { $0.kind == .sessionEnd } },
            "the session did not end within 10 s")
        server.shutdown()
        publisher.finish()
        #expect(out == "3 3\n")
        let lines = EventSummary.lines(sink.events).filter { !$0.hasPrefix("S * ") }
        #expect(lines.first == "start")
        #expect(lines.last == "end")
        let commands = sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        #expect(commands == ["CAPABILITY", "LOGIN", "SELECT", "FETCH", "LOGOUT"])
        #expect(
            sink.events.filter { $0.kind == .tagged }.allSatisfy {
                $0["status"]?.stringValue == "OK" && ($0["latency_ms"]?.doubleValue ?? -1) > 0
            })
        #expect(sink.events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" }.count == 3)
        #expect(sink.events.first?["source"]?.stringValue == "proxy")
        #expect(sink.events.first?["server"]?.stringValue == "127.0.0.1:\(dovecot.imapPort)")
        #expect(SecretScan("password").leaks(in: jsonl.text).isEmpty)
    }

    /// Byte-exactness: a Python upstream and client exchange 512 KB of random bytes each way
    /// through the proxy; each side's SHA-256 of what it received equals the other's of what it sent.
    @Test func relaysEveryByteUntouched() throws {
        let sink = CollectingSink()
        let script = """
            import hashlib, os, socket, sys, threading
            srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
            print(srv.getsockname()[1], flush=True)
            proxy_port = int(sys.stdin.readline())
            up_data = os.urandom(1 << 19); cl_data = b"a1 NOOP\\r\\n" + os.urandom(1 << 19)
            res = {}
            def upstream():
                c, _ = srv.accept()
                c.sendall(b'* OK fake\\r\\n' + up_data); c.shutdown(socket.SHUT_WR)
                got = b''
                while True:
                    b = c.recv(65536)
                    if not b: break
                    got += b
                res['up_got'] = hashlib.sha256(got).hexdigest()
            t = threading.Thread(target=upstream); t.start()
            s = socket.create_connection(('127.0.0.1', proxy_port))
            def send():
                s.sendall(cl_data); s.shutdown(socket.SHUT_WR)
            w = threading.Thread(target=send); w.start()
            got = b''
            while True:
                b = s.recv(65536)
                if not b: break
                got += b
            w.join(); t.join()
            print(hashlib.sha256(b'* OK fake\\r\\n' + up_data).hexdigest() == hashlib.sha256(got).hexdigest(),
                  hashlib.sha256(cl_data).hexdigest() == res['up_got'], len(got), flush=True)
            """
        let python = try PythonProcess(script)
        let (server, publisher, port) = try Self.proxy(upstreamPort: Int(python.firstLine)!, sinks: [sink])
        python.send("\(port)")
        let rest = python.finish()
        // Decoding 2 × 512 KiB of random bytes takes the tap about 20 s in a debug build: the
        // session ends after that (the relay finished long before; a shorter wait used to expire
        // silently, and the session was then ended by the shutdown instead).
        #expect(
            waitUntil(seconds: 90) { sink.events.contains { $0.kind == .sessionEnd } },
            "the session did not end within 90 s")
        server.shutdown()
        publisher.finish()
        #expect(rest == "True True \((1 << 19) + 11)\n")
        // The tap saw every byte of both directions, whatever it made of the random ones.
        var seen: [Direction: Int64] = [:]
        for e in sink.events { if let d = e.dir, let b = e["bytes"]?.intValue { seen[d, default: 0] += b } }
        #expect(seen[.server] == Int64((1 << 19) + 11))
        #expect(seen[.client] == Int64((1 << 19) + 9))
        #expect(sink.events.last?.kind == .sessionEnd)
    }

    /// imaps → imaps: Python's IMAP4_SSL trusts imapscope's CA; the proxy verifies Dovecot's
    /// certificate through an added trust anchor.
    @Test func implicitTLSBothLegs() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let p = try Self.tlsProxy(dovecot, listen: [.imaps], upstream: .imaps)
        defer { p.stop() }
        let (ca, sink, port) = (p.ca, p.sink, p.ports[0])
        let out = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile='\(ca.certificatePath)')
            s = ctx.wrap_socket(__import__('socket').create_connection(('127.0.0.1', \(port))), server_hostname='mail.example.test')
            f = s.makefile('rb')
            greeting = f.readline()
            s.sendall(b'a1 LOGIN alice password\\r\\na2 LOGOUT\\r\\n')
            lines = [f.readline() for _ in range(4)]
            print(s.version(), greeting[:4].decode(), [l.split(b' ')[1].decode() for l in lines if l.startswith(b'a')])
            """)
        p.waitForSessions()
        #expect(out == "TLSv1.3 * OK ['OK', 'OK']\n")
        let tls = sink.events.filter { $0.kind == .tls }
        #expect(Set(tls.compactMap { $0["leg"]?.stringValue }) == ["client", "server"])
        let client = tls.first { $0["leg"]?.stringValue == "client" }
        let server = tls.first { $0["leg"]?.stringValue == "server" }
        #expect(server?["verification"]?.stringValue == "ok")
        // Version, cipher (read off each leg's ServerHello) and SNI (off its ClientHello) per leg.
        #expect(client?["version"]?.stringValue == "TLSv1.3")
        #expect(client?["sni"]?.stringValue == "mail.example.test")
        #expect(
            ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"].contains(
                client?["cipher"]?.stringValue ?? ""), "\(client?.json.serialized ?? "")")
        #expect(server?["sni"]?.stringValue == "localhost")
        #expect(server?["version"]?.stringValue == "TLSv1.3")
        #expect(server?["cipher"]?.stringValue?.hasPrefix("TLS_") == true)
        #expect(
            sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == ["LOGIN", "LOGOUT"])
        // Over TLS on both legs, LOGIN is not linted as cleartext.
        #expect(!sink.events.contains { $0["code"]?.stringValue == "cleartext-login" })
    }

    @Test func untrustedUpstreamIsRefused() throws {
        let dovecot = try DovecotProcess(seed: 0)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        // No extra trust anchor: Dovecot's self-signed certificate is not trusted.
        let config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: .imaps, host: "localhost", port: dovecot.imapsPort),
            serverTLS: nil, upstreamTLS: .makeClientConfiguration())
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 2)
        let port = Int(try server.start()[0].split(separator: ":").last!)!
        let out = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(port)))
            s.settimeout(10)
            data = b''
            while True:
                b = s.recv(4096)
                if not b: break
                data += b
            print(data.decode())
            """)
        #expect(
            waitUntil(seconds: 10) { sink.events.contains { $0.kind == .sessionEnd } },
            "the session did not end within 10 s")
        server.shutdown()
        publisher.finish()
        #expect(
            out.hasPrefix(
                "* BYE [UNAVAILABLE] imapscope: TLS with the real server failed: the server's certificate is self-signed by "
            ), "\(out)")
        #expect(out.contains("and not trusted (add it with --upstream-ca FILE, or --insecure-upstream)"), "\(out)")
        let failed = sink.events.first { $0.kind == .tls && $0["phase"]?.stringValue == "failed" }
        #expect(failed?["leg"]?.stringValue == "server")
        // Nothing from the real server was relayed; imapscope's own BYE is the only response.
        #expect(!sink.events.contains { $0.kind == .command || $0.dir == .server })
        #expect(sink.events.filter { $0.dir == .proxy }.map(EventSummary.line) == ["P * BYE"])
    }

    /// imap → imap with STARTTLS intercepted on both legs: imaplib's starttls() trusts our CA;
    /// the proxy upgrades Dovecot's leg itself (trusting Dovecot's certificate).
    @Test func startTLSOnBothLegs() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let p = try Self.tlsProxy(dovecot, listen: [.imap], upstream: .imap)
        defer { p.stop() }
        let (ca, sink, port) = (p.ca, p.sink, p.ports[0])
        let out = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile='\(ca.certificatePath)')
            m = imaplib.IMAP4('127.0.0.1', \(port))
            m.starttls(ssl_context=ctx)
            m.login('alice', 'password')
            typ, data = m.select('INBOX')
            m.logout()
            print(m.sock.version() if hasattr(m.sock, 'version') else 'closed', data[0].decode())
            """)
        p.waitForSessions()
        #expect(out.hasSuffix(" 1\n"), "\(out)")
        let names = sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        #expect(names == ["CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "LOGOUT"], "\(names)")
        let tls = sink.events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "established" }
        #expect(Set(tls.compactMap { $0["leg"]?.stringValue }) == ["client", "server"])
        #expect(
            tls.allSatisfy {
                $0["cipher"]?.stringValue?.hasPrefix("TLS_") == true && $0["version"]?.stringValue == "TLSv1.3"
            })
        #expect(!sink.events.contains { $0["code"]?.stringValue == "cleartext-login" })
        #expect(!sink.events.contains { $0.kind == .unparsed })
        #expect(sink.events.filter { $0.kind == .tagged }.allSatisfy { $0["status"]?.stringValue == "OK" })
    }

    /// The command-injection class: bytes pipelined behind STARTTLS are never relayed.
    @Test func plaintextPipelinedBehindStartTLSIsNotRelayed() throws {
        let dovecot = try DovecotProcess(seed: 0)
        defer { dovecot.stop() }
        let p = try Self.tlsProxy(dovecot, listen: [.imap], upstream: .imap)
        defer { p.stop() }
        let (sink, port) = (p.sink, p.ports[0])
        let out = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(port)))
            s.settimeout(10)
            f = s.makefile('rb')
            f.readline()
            s.sendall(b'a1 STARTTLS\\r\\na2 LOGIN alice password\\r\\n')
            rest = f.read()
            print(b'a2' in rest, len(rest) < 200)
            """)
        p.waitForSessions()
        #expect(out == "False True\n")
        #expect(sink.events.filter { $0.kind == .command }.map { $0["tag"]?.stringValue ?? "" } == ["a1"])
        #expect(sink.events.contains { $0["code"]?.stringValue == "starttls-injection" })
        #expect(sink.events.last?["reason"]?.stringValue == "plaintext after STARTTLS")
    }

    /// Real clients other than imaplib: curl over imaps:// with --cacert, and openssl s_client
    /// -starttls imap, both through the proxy to Dovecot.
    @Test func curlAndOpensslThroughTheProxy() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try Self.tlsProxy(dovecot, listen: [.imaps, .imap], upstream: .imap)
        defer { p.stop() }
        let (ca, sink, ports) = (p.ca, p.sink, p.ports)
        let out = try runPython(
            """
            import subprocess
            r = subprocess.run(['curl', '-s', '--cacert', '\(ca.certificatePath)', '--user', 'alice:password',
                                'imaps://localhost:\(ports[0])/INBOX;UID=1'], capture_output=True, timeout=30)
            print(r.returncode, b'Subject: Seed message 1' in r.stdout)
            r = subprocess.run(['openssl', 's_client', '-quiet', '-starttls', 'imap', '-connect', '127.0.0.1:\(ports[1])',
                                '-servername', 'imap.example.test', '-CAfile', '\(ca.certificatePath)', '-verify_return_error'],
                               input=b'a1 LOGIN alice password\\r\\na2 LOGOUT\\r\\n', capture_output=True, timeout=30)
            print(b'a1 OK' in r.stdout, b'a2 OK' in r.stdout)
            """)
        p.waitForSessions(2)
        #expect(out == "0 True\nTrue True\n", "\(out)")
        let sessions = Dictionary(grouping: sink.events, by: \.session)
        #expect(sessions.count == 2)
        let starttls = sessions.values.first { $0.contains { $0["name"]?.stringValue == "STARTTLS" } }
        #expect(starttls?.filter { $0.kind == .tls && $0["phase"]?.stringValue == "established" }.count == 2)
        #expect(
            starttls?.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }.suffix(2) == [
                "LOGIN", "LOGOUT",
            ])
        #expect(!sink.events.contains { $0.kind == .unparsed })
    }

    /// `imap+starttls://` upstream: the proxy performs STARTTLS with Dovecot itself before any
    /// client byte reaches it; a plaintext imaplib client works as usual.
    @Test func proxyUpgradesTheUpstreamItself() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try Self.tlsProxy(dovecot, listen: [.imap], upstream: .imapStartTLS)
        defer { p.stop() }
        let out = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(p.ports[0]))
            m.login('alice', 'password')
            typ, data = m.select('INBOX')
            m.logout()
            print(data[0].decode())
            """)
        p.waitForSessions()
        #expect(out == "2\n")
        let tls = p.sink.events.filter { $0.kind == .tls }
        #expect(tls.map { $0["phase"]?.stringValue ?? "" } == ["starttls-upstream"])
        #expect(tls.first?["verification"]?.stringValue == "ok")
        #expect(
            p.sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                "CAPABILITY", "LOGIN", "SELECT", "LOGOUT",
            ])
        // The greeting reached the client; the STARTTLS exchange stayed between proxy and server.
        #expect(p.sink.events.first { $0.kind == .untagged }?["name"]?.stringValue == "OK")
        #expect(!p.sink.events.contains { $0["tag"]?.stringValue == "imapscope0" })
        // The greeting's capabilities were the plaintext ones; the client's CAPABILITY got the
        // server's under TLS with STARTTLS added back by imapscope (which answers it itself), so
        // nothing the client sees changed; a proxy-rewrite lint follows the rewritten line.
        let caps = p.sink.events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "CAPABILITY" }
        #expect(caps.first?.annotation == "capabilities unchanged", "\(caps.map { $0.annotation ?? "" })")
        #expect(caps.first?["line"]?.stringValue?.hasSuffix(" STARTTLS") == true)
        let afterCapability = p.sink.events.drop { !($0.kind == .untagged && $0["name"]?.stringValue == "CAPABILITY") }
        #expect(afterCapability.dropFirst().first?["code"]?.stringValue == "proxy-rewrite")
    }

    @Test func unreachableUpstreamGetsABye() throws {
        let sink = CollectingSink()
        // A port nothing listens on: bind, note it, close.
        let probe = try runPython(
            "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
        let dead = Int(probe.trimmingCharacters(in: .whitespacesAndNewlines))!
        let (server, publisher, port) = try Self.proxy(upstreamPort: dead, sinks: [sink])
        let reply = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(port)))
            data = b''
            while True:
                b = s.recv(4096)
                if not b: break
                data += b
            print(data.decode().split(':')[0])
            """)
        #expect(
            waitUntil(seconds: 10) { sink.events.contains { $0.kind == .sessionEnd } },
            "the session did not end within 10 s")
        server.shutdown()
        publisher.finish()
        #expect(reply == "* BYE [UNAVAILABLE] imapscope\n")
        #expect(EventSummary.lines(sink.events) == ["start", "P * BYE", "end"])
        #expect(sink.events.last?["reason"]?.stringValue?.hasPrefix("upstream unreachable") == true)
    }
}
