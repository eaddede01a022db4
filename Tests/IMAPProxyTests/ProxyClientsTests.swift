import Foundation
import IMAPCapture
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import NIOCore
import NIOSSL
import Testing

/// Real clients through the proxy to a real Dovecot: SASL mechanisms, COMPRESS with IDLE,
/// mbsync, a client that vanishes, a refused upstream certificate, many sessions at once.
@Suite("Proxy with real clients", .serialized)
struct ProxyClientsTests {
    /// Waits until `n` sessions have ended; records an issue when they have not within `seconds`.
    static func waitFor(
        _ sink: CollectingSink, sessions n: Int, seconds: Double = 10,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let ended = waitUntil(seconds: seconds) { sink.events.filter { $0.kind == .sessionEnd }.count >= n }
        if !ended {
            let ends = sink.events.filter { $0.kind == .sessionEnd }.count
            Issue.record("\(n) session(s) did not end within \(seconds) s: \(ends) did", sourceLocation: sourceLocation)
        }
    }

    static func sessions(_ events: [Event]) -> [String: [Event]] { Dictionary(grouping: events, by: \.session) }

    /// AUTHENTICATE PLAIN, AUTHENTICATE LOGIN, CRAM-MD5 and LOGIN from imaplib; the password is
    /// in none of the JSON Lines, transcript and fixture outputs.
    @Test func saslMechanismsThroughTheProxy() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let (jsonl, text, fixture) = (MemoryOutput(), MemoryOutput(), MemoryOutput())
        let (server, publisher, port) = try ProxyTests.proxy(
            upstreamPort: dovecot.imapPort,
            sinks: [
                sink, JSONLinesWriter(jsonl), TextWriter(text, style: .init(color: false)), FixtureWriter(fixture),
            ])
        let out = try runPython(
            """
            import imaplib
            def run(auth):
                m = imaplib.IMAP4('127.0.0.1', \(port))
                typ, _ = auth(m)
                m.select('INBOX'); m.logout()
                return typ
            steps = iter([b'alice', b'password'])
            print(run(lambda m: m.authenticate('PLAIN', lambda _: b'\\0alice\\0password')),
                  run(lambda m: m.authenticate('LOGIN', lambda _: next(steps))),
                  run(lambda m: m.login_cram_md5('alice', 'password')),
                  run(lambda m: m.login('alice', 'password')))
            """)
        Self.waitFor(sink, sessions: 4)
        server.shutdown()
        publisher.finish()
        #expect(out == "OK OK OK OK\n")
        let bySession = Self.sessions(sink.events).values.sorted { $0[0].seq < $1[0].seq }
        #expect(bySession.count == 4)
        let auth = bySession.map { s in
            s.first { $0.kind == .command && ["AUTHENTICATE", "LOGIN"].contains($0["name"]?.stringValue ?? "") }
        }
        #expect(
            auth.map { $0?["mechanism"]?.stringValue ?? $0?["name"]?.stringValue ?? "" } == [
                "PLAIN", "LOGIN", "CRAM-MD5", "LOGIN",
            ])
        // SASL steps, each server line and each client answer: PLAIN answers one empty
        // challenge, LOGIN two (user name, password), CRAM-MD5 one; LOGIN the command has none.
        let steps = bySession.map { s in EventSummary.lines(s.filter { $0.kind == .sasl }) }
        #expect(
            steps == [
                ["S sasl PLAIN 1", "C sasl PLAIN 2"],
                ["S sasl LOGIN 1", "C sasl LOGIN 2", "S sasl LOGIN 3", "C sasl LOGIN 4"],
                ["S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2"], [],
            ], "\(steps)")
        for s in bySession {
            let done = s.first {
                $0.kind == .tagged && ["AUTHENTICATE", "LOGIN"].contains($0["command"]?.stringValue ?? "")
            }
            #expect(done?["status"]?.stringValue == "OK")
            #expect(
                s.contains {
                    $0.kind == .tagged && $0["command"]?.stringValue == "SELECT" && $0["status"]?.stringValue == "OK"
                })
        }
        let scan = SecretScan("password")
        #expect(scan.leaks(in: jsonl.text).isEmpty, "\(scan.leaks(in: jsonl.text))")
        #expect(scan.leaks(in: text.text).isEmpty, "\(scan.leaks(in: text.text))")
        #expect(scan.leaks(in: fixture.text).isEmpty, "\(scan.leaks(in: fixture.text))")
        #expect(!jsonl.text.contains("AGFsaWNlAHBhc3N3b3Jk") && !jsonl.text.contains("cGFzc3dvcmQ="))
        #expect(fixture.text.contains("AUTHENTICATE PLAIN\r\n"))
    }

    /// Python's zlib client through the proxy and a raw recording relay in front of Dovecot:
    /// LOGIN, COMPRESS DEFLATE, SELECT, IDLE while a message is delivered, DONE, LOGOUT.
    /// The proxy inflates both directions in its tap; each direction's SHA-256 is the same at
    /// the client and at the server end.
    @Test func compressAndIdleAreDecodedAndRelayedExactly() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        // The recording relay: one connection to Dovecot, SHA-256 of each direction's raw bytes.
        let relay = try PythonProcess(
            """
            import hashlib, socket, threading
            srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
            print(srv.getsockname()[1], flush=True)
            c, _ = srv.accept(); u = socket.create_connection(('127.0.0.1', \(dovecot.imapPort)))
            h = {}
            def pump(a, b, name):
                d = hashlib.sha256()
                while True:
                    x = a.recv(65536)
                    if not x: break
                    d.update(x); b.sendall(x)
                h[name] = d.hexdigest()
                try: b.shutdown(socket.SHUT_WR)
                except OSError: pass
            t = [threading.Thread(target=pump, args=(c, u, 'c2s')), threading.Thread(target=pump, args=(u, c, 's2c'))]
            [x.start() for x in t]; [x.join() for x in t]
            print(h['c2s'], h['s2c'])
            """)
        let relayPort = Int(relay.firstLine)!
        let sink = CollectingSink()
        let pcapPath = NSTemporaryDirectory() + "imapscope-compress-\(UUID().uuidString).pcapng"
        defer { try? FileManager.default.removeItem(atPath: pcapPath) }
        let (server, publisher, port) = try ProxyTests.proxy(
            upstreamPort: relayPort, sinks: [sink], pcap: try PcapRecorder(path: pcapPath))
        let maildir = dovecot.directory + "/mail/alice"
        let out = try runPython(
            """
            import hashlib, os, socket, time, zlib
            s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(20)
            sent, recv = hashlib.sha256(), hashlib.sha256()
            buf = b''
            comp = decomp = None
            def send(b):
                if comp: b = comp.compress(b) + comp.flush(zlib.Z_SYNC_FLUSH)
                sent.update(b); s.sendall(b)
            def line():
                global buf
                while b'\\n' not in buf:
                    d = s.recv(65536)
                    if not d: raise EOFError(buf)
                    recv.update(d)
                    buf += decomp.decompress(d) if decomp else d
                l, buf = buf.split(b'\\n', 1)
                return l + b'\\n'
            def until(prefix):
                while True:
                    l = line()
                    if l.startswith(prefix): return l
            line()
            send(b'a1 LOGIN alice password\\r\\n'); until(b'a1 ')
            send(b'a2 COMPRESS DEFLATE\\r\\n'); ok = until(b'a2 ')
            comp, decomp = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)
            send(b'a3 SELECT INBOX\\r\\n'); until(b'a3 OK')
            send(b'a4 IDLE\\r\\n'); until(b'+')
            tmp = '\(maildir)/tmp/idle.1'
            with open(tmp, 'wb') as f: f.write(b'From: bob@example.test\\r\\nSubject: during IDLE\\r\\n\\r\\nhello\\r\\n')
            os.rename(tmp, '\(maildir)/new/1.idle.imapscope')
            exists = until(b'* 3 EXISTS')
            send(b'DONE\\r\\n'); until(b'a4 OK')
            send(b'a5 LOGOUT\\r\\n'); until(b'a5 OK')
            s.shutdown(socket.SHUT_WR)
            while True:
                d = s.recv(65536)
                if not d: break
                recv.update(d)
            s.close()
            print(ok.split()[1].decode(), exists.strip().decode(), sent.hexdigest(), recv.hexdigest())
            """)
        let hashes = relay.finish().split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        Self.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        let fields = out.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        // Without both lines (the client's and the relay's) there is nothing to compare: a failure.
        try #require(fields.count == 6, "the client printed \(out)")
        try #require(hashes.count == 2, "the recording relay printed \(hashes)")
        #expect(fields[0] == "OK")
        #expect(fields[1] + " " + fields[2] + " " + fields[3] == "* 3 EXISTS")
        // What the client sent is what Dovecot received, and the other way round.
        #expect(fields[4] == hashes[0])
        #expect(fields[5] == hashes[1])
        let events = sink.events
        #expect(
            events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                "LOGIN", "COMPRESS", "SELECT", "IDLE", "LOGOUT",
            ])
        #expect(events.filter { $0.kind == .compress }.count == 1)
        let idle = events.firstIndex { $0.kind == .command && $0["name"]?.stringValue == "IDLE" }!
        let done = events.firstIndex { $0.kind == .idleDone }!
        #expect(
            events[idle..<done].contains {
                $0.kind == .untagged && $0["name"]?.stringValue == "EXISTS" && $0["number"]?.intValue == 3
            })
        #expect(
            events.filter { $0.kind == .tagged }.map {
                "\($0["command"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")"
            } == ["LOGIN OK", "COMPRESS OK", "SELECT OK", "IDLE OK", "LOGOUT OK"])
        #expect(!events.contains { $0.kind == .unparsed })
        // The --pcap copy holds the stream after COMPRESS inflated; reading it decodes the same.
        let read = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [read])
        _ = try CaptureReader.read(
            source: try PcapSource.open(file: pcapPath), filter: nil, options: CaptureDecoder.Options()
        ) { pipeline.publish($1, session: $0) }
        #expect(
            read.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                "LOGIN", "COMPRESS", "SELECT", "IDLE", "LOGOUT",
            ])
        #expect(
            read.events.contains {
                $0.kind == .untagged && $0["name"]?.stringValue == "EXISTS" && $0["number"]?.intValue == 3
            })
        #expect(!read.events.contains { $0.kind == .unparsed || $0.kind == .gap })
    }
}

extension ProxyClientsTests {
    static let mbsyncConfig = """
        IMAPAccount acct
        Host localhost
        Port {port}
        User alice
        Pass password
        SSLType IMAPS
        CertificateFile {cafile}
        AuthMechs LOGIN

        IMAPStore remote
        Account acct

        MaildirStore local
        Path {dir}/
        Inbox {dir}/INBOX

        Channel inbox
        Far :remote:INBOX
        Near :local:INBOX
        Create Near
        Sync Pull
        SyncState *

        """

    /// Runs mbsync once into a fresh Maildir; returns the messages' contents, sorted (mbsync's
    /// own X-TUID header removed: it differs per run).
    static func mbsync(port: Int, cafile: String, sslType: String = "IMAPS") throws -> [String] {
        let dir = NSTemporaryDirectory() + "imapscope-mbsync-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = mbsyncConfig.replacingOccurrences(of: "{port}", with: "\(port)")
            .replacingOccurrences(of: "SSLType IMAPS", with: "SSLType \(sslType)")
            .replacingOccurrences(of: "{cafile}", with: cafile).replacingOccurrences(of: "{dir}", with: dir)
        try conf.write(toFile: dir + "/mbsyncrc", atomically: true, encoding: .utf8)
        let out = try runPython(
            """
            import os, re, subprocess
            r = subprocess.run(['mbsync', '-c', '\(dir)/mbsyncrc', 'inbox'], capture_output=True, timeout=120, env=dict(os.environ, HOME='\(dir)'))
            if r.returncode != 0: raise SystemExit('mbsync exited %d: %s %s' % (r.returncode, r.stdout, r.stderr))
            msgs = []
            for sub in ('cur', 'new'):
                d = '\(dir)/INBOX/' + sub
                for n in os.listdir(d):
                    msgs.append(re.sub(rb'(?m)^X-TUID: .*\\n', b'', open(os.path.join(d, n), 'rb').read()).hex())
            print('\\n'.join(sorted(msgs)))
            """)
        return out.split(separator: "\n").map(String.init)
    }

    /// mbsync (isync 1.4.4) syncs 200 messages over implicit TLS through the proxy (trusting
    /// imapscope's CA) into a Maildir identical to a direct sync from Dovecot.
    @Test func mbsyncThroughTheProxyEqualsADirectSync() throws {
        let dovecot = try DovecotProcess(seed: 200)
        defer { dovecot.stop() }
        let direct = try Self.mbsync(port: dovecot.imapsPort, cafile: dovecot.directory + "/server.crt")
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imaps], upstream: .imaps)
        defer { p.stop() }
        let proxied = try Self.mbsync(port: p.ports[0], cafile: p.ca.certificatePath)
        p.waitForSessions()
        #expect(direct.count == 200)
        #expect(proxied == direct)
        let events = p.sink.events
        #expect(Set(events.map(\.session)).count == 1)
        #expect(events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "established" }.count == 2)
        // mbsync negotiates COMPRESS=DEFLATE with Dovecot; the tap inflates it.
        #expect(events.contains { $0.kind == .compress })
        // isync 1.4.4 asks for every message's UID and FLAGS in one UID FETCH, then for each
        // body in a UID FETCH of its own: 200 + 200 FETCH responses, one per message each.
        let fetched = events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" }
        let fetchedItems = Dictionary(grouping: fetched) { f in
            (f["attributes"]?.objectValue?.map(\.0).sorted() ?? []).joined(separator: " ")
        }.mapValues(\.count)
        #expect(fetched.count == 400)
        #expect(fetchedItems == ["FLAGS UID": 200, "BODY[] UID": 200], "\(fetchedItems)")
        #expect(events.filter { $0.kind == .command && $0["name"]?.stringValue == "FETCH" }.count == 201)
        #expect(!events.contains { $0.kind == .unparsed })
        #expect(events.filter { $0.kind == .tagged }.allSatisfy { $0["status"]?.stringValue == "OK" })
        #expect(events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }.last == "LOGOUT")
    }

    /// A client that disappears (RST) in the middle of an APPEND literal: the proxy closes the
    /// server leg and ends the session with a reason; Dovecot sees the disconnect in APPEND.
    @Test func clientVanishingMidAppendEndsTheSession() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(upstreamPort: dovecot.imapPort, sinks: [sink])
        let out = try runPython(
            """
            import socket, struct
            s = socket.create_connection(('127.0.0.1', \(port))); f = s.makefile('rb')
            f.readline()
            s.sendall(b'a1 LOGIN alice password\\r\\n')
            while not f.readline().startswith(b'a1 '): pass
            s.sendall(b'a2 APPEND INBOX {100000}\\r\\n')
            print(f.readline().decode().strip())
            s.sendall(b'x' * 5000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close()
            """)
        Self.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        #expect(out.hasPrefix("+ "))
        let end = sink.events.last
        #expect(end?.kind == .sessionEnd)
        #expect(
            end?["reason"]?.stringValue
                == "the client's connection failed: Connection reset by peer; imapscope closed the server leg",
            "\(end?.json.serialized ?? "")")
        // The decoder says what was cut short: the literal, and the APPEND that never completed.
        #expect(
            EventSummary.lines(sink.events) == [
                "start", "S * OK", "C a1 LOGIN", "lint cleartext-login", "S a1 OK LOGIN", "S +",
                "lint truncated-literal", "C a2 APPEND", "lint no-completion", "end",
            ])
        #expect(
            sink.events.first { $0["code"]?.stringValue == "truncated-literal" }?["message"]?.stringValue?.contains(
                "5000") == true)
        // Dovecot noticed the disconnect in the middle of the APPEND.
        var log = ""
        waitUntil(seconds: 10) {
            log = (try? String(contentsOfFile: dovecot.directory + "/dovecot.log", encoding: .utf8)) ?? ""
            return log.contains("Disconnected")
        }
        #expect(log.contains("Disconnected") && log.contains("APPEND"), "\(log.suffix(400))")
    }
}

extension ProxyClientsTests {
    /// A test CA and server certificates made with openssl: one for the wrong host, one expired,
    /// one good (for localhost and 127.0.0.1); and another CA, for a proxy that trusts only it.
    static func makeCertificates(in dir: String) throws {
        _ = try runPython(
            """
            import subprocess
            def run(*a): subprocess.run(a, check=True, capture_output=True, cwd='\(dir)')
            run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
                '-out', 'ca.pem', '-subj', '/CN=imapscope test upstream CA', '-days', '2')
            # A second CA that signs nothing here: trusting only it, the test CA's certificates are from an unknown CA.
            run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-subj', '/CN=imapscope some other CA', '-days', '2')
            for name, san, days in [('wronghost', 'DNS:wrong.example', '2'), ('expired', 'DNS:localhost,IP:127.0.0.1', '-1'),
                                    ('good', 'DNS:localhost,IP:127.0.0.1', '2')]:
                run('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', name + '.key',
                    '-out', name + '.csr', '-subj', '/CN=' + name)
                open('\(dir)/' + name + '.ext', 'w').write('subjectAltName=' + san + '\\n')
                run('openssl', 'x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', days,
                    '-extfile', name + '.ext', '-out', name + '.pem')
            """)
    }

    /// openssl s_server on a free loopback port with a given certificate, for one connection.
    /// Returns once it listens: it prints `ACCEPT` on its standard output then (not with -quiet).
    final class SServer {
        struct Failure: Error, CustomStringConvertible { var description: String }
        let process = Process()
        let input = Pipe()
        let port: Int
        init(cert: String, dir: String) throws {
            let probe = try runPython(
                "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
                    + "print(s.getsockname()[1])")
            port = Int(probe.trimmingCharacters(in: .whitespacesAndNewlines))!
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = [
                "s_server", "-accept", "127.0.0.1:\(port)", "-cert", "\(dir)/\(cert).pem",
                "-key", "\(dir)/\(cert).key", "-naccept", "1",
            ]
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            // s_server relays its standard input to the client and ends the connection at its
            // end: a pipe kept open (until a handshake is done, below) keeps it waiting.
            process.standardInput = input
            try process.run()
            var printed = Data()
            while !String(decoding: printed, as: UTF8.self).contains("ACCEPT\n") {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty {
                    let said = String(decoding: printed, as: UTF8.self)
                    throw Failure(description: "openssl s_server ended before listening: \(said)")
                }
                printed += d
            }
            // Keep draining what it prints about the connection so it never blocks on the pipe;
            // once a handshake is done ("CIPHER is …") end its input, so it closes the connection
            // (it sends no greeting: the proxy's client would wait for nothing).
            nonisolated(unsafe) var after = Data()
            let input = self.input
            out.fileHandleForReading.readabilityHandler = { h in
                let d = h.availableData
                if d.isEmpty {
                    h.readabilityHandler = nil
                    return
                }
                let before = String(decoding: after, as: UTF8.self).contains("CIPHER is")
                after += d
                if !before && String(decoding: after, as: UTF8.self).contains("CIPHER is") {
                    try? input.fileHandleForWriting.close()
                }
            }
        }
        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// openssl s_server as the upstream with a given certificate; the proxy trusts the CA in
    /// `trusting` (the test CA by default). Returns what the client received and the proxy's events.
    static func connectThroughProxy(toServerWith cert: String, dir: String, trusting anchor: String = "ca.pem")
        throws -> (reply: String, events: [Event])
    {
        let sServer = try SServer(cert: cert, dir: dir)
        defer { sServer.stop() }
        let upstreamPort = sServer.port

        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        var upstreamTLS = TLSConfiguration.makeClientConfiguration()
        upstreamTLS.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(dir + "/" + anchor))]
        let config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: .imaps, host: "localhost", port: upstreamPort),
            serverTLS: nil, upstreamTLS: upstreamTLS)
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 1)
        let port = Int(try server.start()[0].split(separator: ":").last!)!
        let reply = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(10)
            data = b''
            while True:
                b = s.recv(4096)
                if not b: break
                data += b
            print(data.decode().strip())
            """)
        waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        return (reply.trimmingCharacters(in: .whitespacesAndNewlines), sink.events)
    }

    /// A server certificate for another host, or one that has expired, is refused with a BYE to
    /// the client and a `tls` event naming the reason; a good one from the same CA passes.
    @Test func wrongHostAndExpiredUpstreamCertificatesAreRefused() throws {
        let dir = NSTemporaryDirectory() + "imapscope-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeCertificates(in: dir)
        for (cert, why) in [
            ("wronghost", "certificate is not valid for localhost"), ("expired", "certificate has expired"),
        ] {
            let (reply, events) = try Self.connectThroughProxy(toServerWith: cert, dir: dir)
            let failed = events.first { $0.kind == .tls && $0["phase"]?.stringValue == "failed" }
            #expect(failed?["leg"]?.stringValue == "server")
            #expect(
                failed?["error"]?.stringValue?.contains(why) == true,
                "\(cert): \(failed?["error"]?.stringValue ?? "no tls event")")
            #expect(reply.hasPrefix("* BYE [UNAVAILABLE] imapscope: TLS with the real server failed"), "\(reply)")
            #expect(reply.contains(why), "\(reply)")
            #expect(!events.contains { $0.dir == .server })
        }
        // The same CA's good certificate: TLS is established (s_server sends no greeting, so the
        // session is ended by the test's client only).
        let (_, events) = try Self.connectThroughProxy(toServerWith: "good", dir: dir)
        #expect(
            events.contains {
                $0.kind == .tls && $0["leg"]?.stringValue == "server" && $0["phase"]?.stringValue == "established"
            })
    }

    /// The good certificate, but the proxy trusts another CA: refused, and the reason the README
    /// names (an unknown CA, naming the issuer and what to do) reaches the client and the tls event.
    @Test func upstreamCertificateFromAnUnknownCAIsRefusedWithTheReason() throws {
        let dir = NSTemporaryDirectory() + "imapscope-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeCertificates(in: dir)
        let (reply, events) = try Self.connectThroughProxy(toServerWith: "good", dir: dir, trusting: "other-ca.pem")
        let why =
            "the server's certificate, issued by CN=imapscope test upstream CA, does not chain to a trusted CA"
            + " (add the CA with --upstream-ca FILE)"
        let failed = events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "failed" }
        #expect(failed.count == 1)
        #expect(failed.first?["leg"]?.stringValue == "server")
        #expect(failed.first?["error"]?.stringValue == why, "\(failed.first?["error"]?.stringValue ?? "no tls event")")
        #expect(reply == "* BYE [UNAVAILABLE] imapscope: TLS with the real server failed: \(why)", "\(reply)")
        #expect(!events.contains { $0.dir == .server })
        #expect(
            !events.contains {
                $0.kind == .tls && $0["phase"]?.stringValue == "established" && $0["leg"]?.stringValue == "server"
            })
    }

    /// The same refusal through `imapscope proxy` itself (`--upstream-ca` names the other CA):
    /// the reason is on stderr, in the `--log`'s tls event and in the client's BYE.
    @Test func theProxyCommandExplainsAnUnknownCAOnStderr() throws {
        let dir = NSTemporaryDirectory() + "imapscope-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.makeCertificates(in: dir)
        let upstream = try SServer(cert: "good", dir: dir)
        defer { upstream.stop() }
        let proxy = try ProxyBinaryProcess([
            "--listen", "imap://127.0.0.1:0",
            "--upstream", "imaps://localhost:\(upstream.port)",
            "--upstream-ca", dir + "/other-ca.pem", "--ca-dir", dir + "/ca",
            "--log", dir + "/log.jsonl",
        ])
        let reply = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(proxy.ports[0]))); s.settimeout(20)
            data = b''
            while True:
                b = s.recv(4096)
                if not b: break
                data += b
            print(data.decode().strip())
            """
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let (status, stderr) = proxy.stop()
        #expect(proxy.connectionsClosedBeforeStop)
        #expect(status == 0)
        let why =
            "the server's certificate, issued by CN=imapscope test upstream CA, does not chain to a trusted CA"
            + " (add the CA with --upstream-ca FILE)"
        #expect(reply == "* BYE [UNAVAILABLE] imapscope: TLS with the real server failed: \(why)", "\(reply)")
        #expect(stderr.contains(": TLS with the real server failed: \(why)\n"), "\(stderr)")
        let log = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/log.jsonl")), as: UTF8.self)
        let events = try log.split(separator: "\n").map { try Event(json: JSONParser.parse(Array($0.utf8))) }
        let failed = events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "failed" }
        #expect(failed.map { $0["error"]?.stringValue ?? "" } == [why], "\(log)")
    }
}

extension ProxyClientsTests {
    /// Every listen × upstream pairing with imaplib and Dovecot: imaps→imaps, imaps→imap+starttls,
    /// and a plaintext listener with imaplib's STARTTLS in front of every upstream: relayed to a
    /// plaintext one, answered by imapscope in front of a TLS server leg (imaps, imap+starttls).
    @Test(arguments: [
        (ProxyURL.Scheme.imaps, ProxyURL.Scheme.imaps), (.imap, .imap), (.imap, .imaps), (.imaps, .imapStartTLS),
        (.imap, .imapStartTLS),
    ])
    func everyListenUpstreamPairing(listen: ProxyURL.Scheme, upstream: ProxyURL.Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try ProxyTests.tlsProxy(dovecot, listen: [listen], upstream: upstream)
        defer { p.stop() }
        let connect =
            listen == .imaps
            ? "m = imaplib.IMAP4_SSL('127.0.0.1', \(p.ports[0]), ssl_context=ctx)"
            : "m = imaplib.IMAP4('127.0.0.1', \(p.ports[0])); m.starttls(ssl_context=ctx)"
        let out = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile='\(p.ca.certificatePath)')
            \(connect)
            m.login('alice', 'password')
            typ, data = m.select('INBOX')
            m.logout()
            print(typ, data[0].decode())
            """)
        p.waitForSessions()
        #expect(out == "OK 2\n")
        let tls = p.sink.events.filter { $0.kind == .tls }
        let legs = tls.filter { ($0["phase"]?.stringValue ?? "") != "failed" }.compactMap { $0["leg"]?.stringValue }
        // Both legs are TLS in every pairing: the client's by imaps or STARTTLS, the server's by
        // imaps, imapscope's STARTTLS, or the relayed one.
        #expect(legs.sorted() == ["client", "server"], "\(tls.map { $0.json.serialized })")
        #expect(tls.allSatisfy { $0["phase"]?.stringValue != "failed" })
        #expect(p.sink.events.filter { $0.kind == .tagged }.allSatisfy { $0["status"]?.stringValue == "OK" })
        #expect(p.sink.events.last?.kind == .sessionEnd)
        #expect(!p.sink.events.contains { $0.kind == .lint && $0["code"]?.stringValue == "client-leg-plaintext" })
        if listen == .imap && upstream != .imap {
            // The client's STARTTLS was answered by imapscope (the server leg was TLS already).
            #expect(
                p.sink.events.contains {
                    $0.dir == .proxy && $0.kind == .tagged && $0["command"]?.stringValue == "STARTTLS"
                        && $0["status"]?.stringValue == "OK"
                },
                "\(p.sink.events.filter { $0.dir == .proxy }.map { $0.json.serialized })")
            #expect(
                p.sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                    "CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "LOGOUT",
                ])
            #expect(
                !p.sink.events.contains {
                    $0.kind == .unparsed || $0.kind == .lint && $0["level"]?.stringValue == "error"
                })
        }
    }

    /// 200 imaplib sessions at once through one proxy: each gets its own session id and its
    /// complete, correct conversation.
    @Test func hundredsOfConcurrentSessions() throws {
        let dovecot = try DovecotProcess(seed: 3)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(upstreamPort: dovecot.imapPort, sinks: [sink])
        let n = 200
        let out = try runPython(
            """
            import imaplib, threading
            n = \(n); barrier = threading.Barrier(n); results = [None] * n
            def client(i):
                try:
                    m = imaplib.IMAP4('127.0.0.1', \(port))
                    m.login('alice', 'password')
                    barrier.wait(timeout=60)       # all logged in at the same time
                    typ, data = m.select('INBOX')
                    typ2, msg = m.fetch('%d' % (i % 3 + 1), '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
                    m.noop(); m.logout()
                    results[i] = '%s %s %s' % (typ, data[0].decode(), typ2)
                except Exception as e:
                    results[i] = repr(e)
            ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
            [t.start() for t in ts]; [t.join() for t in ts]
            print(sum(r == 'OK 3 OK' for r in results), [r for r in results if r != 'OK 3 OK'][:3])
            """)
        Self.waitFor(sink, sessions: n, seconds: 20)
        server.shutdown()
        publisher.finish()
        #expect(out == "\(n) []\n")
        let sessions = Self.sessions(sink.events)
        #expect(sessions.count == n)
        for (_, evs) in sessions {
            #expect(
                evs.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }.suffix(5) == [
                    "LOGIN", "SELECT", "FETCH", "NOOP", "LOGOUT",
                ])
            #expect(evs.first?.kind == .sessionStart && evs.last?.kind == .sessionEnd)
            #expect(evs.filter { $0.kind == .tagged }.allSatisfy { $0["status"]?.stringValue == "OK" })
        }
        // Session ids are unique and events are numbered once across the whole output.
        #expect(Set(sink.events.map(\.seq)).count == sink.events.count)
    }
}

extension ProxyClientsTests {
    /// Backpressure end to end: an upstream blasts 256 MB at a client that reads nothing for two
    /// seconds. The upstream can only get as far as the socket buffers and the proxy's bounded
    /// write buffer allow, and makes no progress while the client stalls; then the client reads
    /// every byte.
    @Test func aStalledClientStallsTheServer() throws {
        let script = """
            import socket, sys, threading, time
            srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
            print(srv.getsockname()[1], flush=True)
            proxy_port = int(sys.stdin.readline())
            total = 256 << 20
            sent = [0]
            def upstream():
                c, _ = srv.accept()
                c.sendall(b'* OK fake\\r\\n')
                chunk = b'x' * 65536
                while sent[0] < total:
                    sent[0] += c.send(chunk[:min(65536, total - sent[0])])
                c.shutdown(socket.SHUT_WR)
            threading.Thread(target=upstream, daemon=True).start()
            s = socket.create_connection(('127.0.0.1', proxy_port))
            # Wait for the stall itself: the upstream has sent something and then made no progress
            # for half a second (bounded: a proxy without backpressure lets all 256 MB through).
            deadline, last = time.time() + 60, -1
            while time.time() < deadline and not (sent[0] > 0 and sent[0] == last):
                last = sent[0]; time.sleep(0.5)
            stalled = sent[0]
            time.sleep(0.5)     # an observation window: no progress while the client still reads nothing
            later = sent[0]
            got = 0
            while True:
                b = s.recv(1 << 20)
                if not b: break
                got += len(b)
            print(stalled, later, got, flush=True)
            """
        let python = try PythonProcess(script)
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(upstreamPort: Int(python.firstLine)!, sinks: [sink])
        python.send("\(port)")
        let numbers = python.finish().split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        Self.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        try #require(numbers.count == 3, "the stalled client printed \(numbers)")
        // Loopback socket buffers take a few MB each way; nothing like the 256 MB on offer.
        #expect(numbers[0] < 48 << 20, "the upstream sent \(numbers[0]) bytes to a client that read nothing")
        #expect(
            numbers[1] - numbers[0] < 1 << 20,
            "the upstream kept sending while the client stalled: \(numbers[0]) → \(numbers[1])")
        #expect(numbers[2] == (256 << 20) + 11)
    }
}

extension ProxyClientsTests {
    /// `--insecure-upstream`: Dovecot's self-signed certificate is accepted, and every session
    /// says that it was not verified.
    @Test func insecureUpstreamSaysSoInEverySession() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        var upstreamTLS = TLSConfiguration.makeClientConfiguration()
        upstreamTLS.certificateVerification = .none
        let config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: .imaps, host: "localhost", port: dovecot.imapsPort),
            serverTLS: nil, upstreamTLS: upstreamTLS, insecureUpstream: true)
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 1)
        let port = Int(try server.start()[0].split(separator: ":").last!)!
        let out = try runPython(
            """
            import imaplib
            for _ in range(2):
                m = imaplib.IMAP4('127.0.0.1', \(port)); m.login('alice', 'password'); print(m.select('INBOX')[1][0].decode()); m.logout()
            """)
        Self.waitFor(sink, sessions: 2)
        server.shutdown()
        publisher.finish()
        #expect(out == "1\n1\n")
        let sessions = Self.sessions(sink.events)
        #expect(sessions.count == 2)
        for (_, evs) in sessions {
            #expect(evs.first?["upstream_verification"]?.stringValue == "disabled")
            #expect(evs.first { $0.kind == .tls }?["verification"]?.stringValue == "disabled (--insecure-upstream)")
        }
    }
}

extension ProxyClientsTests {
    /// A STARTTLS whose line arrives in two reads (`a1 STARTTLS`, a pause, then CRLF) is still
    /// intercepted, relayed (imap upstream) or answered (imap+starttls upstream) whole.
    @Test(arguments: [ProxyURL.Scheme.imap, .imapStartTLS])
    func startTLSSplitAcrossReads(upstream: ProxyURL.Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: upstream)
        defer { p.stop() }
        let out = try runPython(
            """
            import socket, ssl, time
            ctx = ssl.create_default_context(cafile='\(p.ca.certificatePath)')
            s = socket.create_connection(('127.0.0.1', \(p.ports[0]))); s.settimeout(10); f = s.makefile('rb')
            f.readline()
            s.sendall(b'a1 STARTTLS'); time.sleep(0.3); s.sendall(b'\\r\\n')
            ok = f.readline().split()[1].decode()
            t = ctx.wrap_socket(s, server_hostname='localhost'); g = t.makefile('rb')
            t.sendall(b'a2 LOGIN alice password\\r\\n')
            while True:
                l = g.readline()
                if l.startswith(b'a2 '): break
            t.sendall(b'a3 LOGOUT\\r\\n')
            while not g.readline().startswith(b'a3 '): pass
            print(ok, l.split()[1].decode())
            """)
        p.waitForSessions()
        #expect(out == "OK OK\n")
        #expect(
            p.sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                "STARTTLS", "LOGIN", "LOGOUT",
            ])
        #expect(!p.sink.events.contains { $0.kind == .unparsed || $0["code"]?.stringValue == "starttls-injection" })
    }
}

extension ProxyClientsTests {
    /// A plaintext proxy in front of an `imaps://` "server" that accepts TCP and then says
    /// nothing (no TLS handshake) until the test sends it a line.
    static func proxyInFrontOfATLSTarpit(
        handshakeTimeout: TimeAmount = .seconds(30),
        upstream: ProxyURL.Scheme = .imaps
    )
        throws -> (PythonProcess, CollectingSink, EventPublisher, ProxyServer, Int)
    {
        let tarpit = try PythonProcess(
            """
            import socket, sys
            srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
            print(srv.getsockname()[1], flush=True)
            c, _ = srv.accept()
            sys.stdin.readline()
            """)
        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        var config = ProxyServer.Configuration(
            listen: [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)],
            upstream: ProxyURL(scheme: upstream, host: "127.0.0.1", port: Int(tarpit.firstLine)!),
            serverTLS: nil, upstreamTLS: .makeClientConfiguration())
        config.tlsHandshakeTimeout = handshakeTimeout
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 1)
        let port = Int(try server.start()[0].split(separator: ":").last!)!
        return (tarpit, sink, publisher, server, port)
    }

    /// An `imaps://` upstream that accepts TCP but never answers the TLS handshake: a client
    /// that streams meanwhile is not read (its bytes would pile up in front of the TLS handler),
    /// so it gets no further than the socket buffers.
    @Test func aClientIsNotReadBeforeTheServersTLSIsUp() throws {
        let (tarpit, sink, publisher, server, port) = try Self.proxyInFrontOfATLSTarpit()
        _ = sink
        // The client streams until its sends have made no progress for half a second (the
        // stall), or for 30 s at most (a proxy that reads it would take everything).
        let out = try runPython(
            """
            import socket, time
            s = socket.create_connection(('127.0.0.1', \(port))); s.setblocking(False)
            chunk = b'x' * 65536; sent = 0; end = time.time() + 30; progress = time.time()
            while time.time() < end and time.time() - progress < 0.5:
                try: sent += s.send(chunk); progress = time.time()
                except BlockingIOError: time.sleep(0.01)
            print(sent)
            """)
        server.shutdown()
        publisher.finish()
        tarpit.send("release")
        _ = tarpit.finish()
        let sent = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(sent > 0 && sent < 48 << 20, "the client got \(sent) bytes in while the server's TLS was not up")
    }
}

extension ProxyClientsTests {
    /// A server that never answers the TLS handshake (imaps), or never greets (imap+starttls):
    /// after the handshake timeout the client gets a BYE saying so, and the session ends.
    @Test(arguments: [
        (ProxyURL.Scheme.imaps, "TLS with the real server failed: no TLS handshake within 1.0 s"),
        (.imapStartTLS, "the server leg was not upgraded within 1.0 s"),
    ])
    func aStalledServerHandshakeTimesOut(upstream: ProxyURL.Scheme, why: String) throws {
        let (tarpit, sink, publisher, server, port) = try Self.proxyInFrontOfATLSTarpit(
            handshakeTimeout: .seconds(1),
            upstream: upstream)
        let out = try runPython(
            """
            import socket, time
            s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(30)
            t = time.time(); data = b''
            while True:
                b = s.recv(4096)
                if not b: break
                data += b
            print('%.3f' % (time.time() - t), data.decode().strip())
            """)
        Self.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        tarpit.send("release")
        _ = tarpit.finish()
        let (elapsed, reply) = (Double(out.prefix { $0 != " " }) ?? -1, out.drop { $0 != " " }.dropFirst())
        // The timeout is 1 s; the tarpit holds until released, so a loaded machine only makes it later.
        #expect(elapsed >= 0.9 && elapsed < 15, "the BYE came after \(elapsed) s")
        #expect(reply == "* BYE [UNAVAILABLE] imapscope: \(why)\n", "\(out)")
        #expect(sink.events.first { $0.kind == .tls }?["phase"]?.stringValue == "failed")
        #expect(sink.events.last?.kind == .sessionEnd)
    }
}
