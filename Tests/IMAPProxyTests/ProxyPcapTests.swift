import Foundation
import IMAPCapture
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `--pcap`: the proxy writes what it decrypted as TCP on the sessions' real endpoints, secrets
/// overwritten with filler of the same length; `imapscope read` and tshark both decode it.
@Suite("Proxy pcap", .serialized)
struct ProxyPcapTests {
    /// Three sessions through an imap → imap proxy to Dovecot: imaplib with STARTTLS and LOGIN;
    /// AUTHENTICATE PLAIN with an APPEND of a 100 KB literal; LOGIN with the password as a literal.
    static let script = """
        import imaplib, socket, ssl, sys
        port, cafile = int(sys.argv[1]), sys.argv[2]
        m = imaplib.IMAP4('127.0.0.1', port)
        m.starttls(ssl_context=ssl.create_default_context(cafile=cafile))
        m.login('alice', 'password')
        m.select('INBOX'); m.fetch('1', '(FLAGS)'); m.logout()
        m = imaplib.IMAP4('127.0.0.1', port)
        m.authenticate('PLAIN', lambda _: b'\\0alice\\0password')
        body = b'Subject: big\\r\\n\\r\\n' + b'x' * 100000 + b'\\r\\n'
        m.append('INBOX', None, None, body); m.logout()
        s = socket.create_connection(('127.0.0.1', port)); f = s.makefile('rb')
        f.readline()
        s.sendall(b'a1 LOGIN alice {08}\\r\\n'); f.readline()
        s.sendall(b'password\\r\\n'); print(f.readline().split()[1].decode())
        s.sendall(b'a2 LOGOUT\\r\\n'); f.readline(); f.readline(); s.close()
        """

    struct Run {
        var proxied: [Event]
        var pcapPath: String
        var dovecotPort: Int
    }

    static func record(showSecrets: Bool) throws -> Run {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let path = NSTemporaryDirectory() + "imapscope-proxy-\(UUID().uuidString).pcapng"
        let recorder = try PcapRecorder(path: path)
        let p = try ProxyTests.tlsProxy(
            dovecot, listen: [.imap], upstream: .imap, showSecrets: showSecrets, pcap: recorder)
        let scriptPath = NSTemporaryDirectory() + "imapscope-pcap-\(UUID().uuidString).py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scriptPath) }
        let out = try runPython(
            "import runpy, sys; sys.argv = ['x', '\(p.ports[0])', '\(p.ca.certificatePath)']; runpy.run_path('\(scriptPath)')"
        )
        p.waitForSessions(3)
        p.stop()
        #expect(out == "OK\n")
        return Run(proxied: p.sink.events, pcapPath: path, dovecotPort: dovecot.imapPort)
    }

    static func bytesByDirection(_ events: [Event]) -> [String: Int64] {
        var n: [String: Int64] = [:]
        for e in events { if let d = e.dir, let b = e["bytes"]?.intValue { n[d.rawValue, default: 0] += b } }
        return n
    }

    @Test func pcapDecodesLikeTheProxyAndHidesThePassword() throws {
        let run = try Self.record(showSecrets: false)
        defer {
            if ProcessInfo.processInfo.environment["KEEP_PCAP"] == nil {
                try? FileManager.default.removeItem(atPath: run.pcapPath)
            }
        }
        let collect = CollectingSink()
        let reader = EventPipeline(redactor: Redactor(), sinks: [collect])
        let result = try CaptureReader.read(
            source: try PcapSource.open(file: run.pcapPath), filter: nil, options: CaptureDecoder.Options()
        ) { s, evs in
            reader.publish(evs, session: s)
        }
        let read = collect.events
        #expect(result.error == nil)
        #expect(result.sessions == 3)
        func commands(_ evs: [Event]) -> [String] {
            evs.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        }
        let expected = [
            "CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "FETCH", "LOGOUT",
            "CAPABILITY", "AUTHENTICATE", "APPEND", "LOGOUT", "LOGIN", "LOGOUT",
        ]
        #expect(commands(run.proxied) == expected)
        #expect(commands(read) == expected)
        // Every relayed byte is in the file, on the session's real endpoints.
        #expect(Self.bytesByDirection(read) == Self.bytesByDirection(run.proxied.filter { $0.dir != .proxy }))
        #expect(
            read.filter { $0.kind == .sessionStart }.allSatisfy {
                $0["server"]?.stringValue == "127.0.0.1:\(run.dovecotPort)"
            })
        #expect(
            Set(read.filter { $0.kind == .sessionStart }.compactMap { $0["client"]?.stringValue })
                == Set(run.proxied.filter { $0.kind == .sessionStart }.compactMap { $0["client"]?.stringValue }))
        // The same completions, statuses in the same order.
        let statuses = { (evs: [Event]) in
            evs.filter { $0.kind == .tagged }.map {
                "\($0["command"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")"
            }
        }
        #expect(statuses(read) == statuses(run.proxied))
        #expect(!read.contains { $0.kind == .unparsed || $0.kind == .gap })
        // The password, in the clear, in base64 (SASL PLAIN) and as a literal, is not in the file.
        let file = try Data(contentsOf: URL(fileURLWithPath: run.pcapPath))
        let text = String(decoding: file, as: UTF8.self)
        #expect(SecretScan("password").leaks(in: text).isEmpty)
        #expect(!text.contains("AGFsaWNlAHBhc3N3b3Jk"))
        // Filler of the same length where each secret was.
        // (a quoted string keeps its quotes; the literal's body, after a zero-padded size, is its own segment, after the `+`).
        #expect(text.contains("LOGIN alice \"********\"\r\n"))
        #expect(text.contains("a1 LOGIN alice {08}\r\n") && text.contains("********\r\n"))
        // The 20-byte SASL PLAIN response stays base64 of its length (a `*` line would cancel it).
        #expect(text.contains(String(repeating: "A", count: 20)) && !text.contains(String(repeating: "*", count: 20)))

        // tshark opens it too, and sees the plaintext commands before STARTTLS on Dovecot's port.
        let tshark = try runPython(
            """
            import subprocess
            r = subprocess.run(['tshark', '-r', '\(run.pcapPath)', '-d', 'tcp.port==\(run.dovecotPort),imap', '-Y', 'imap.request', '-T', 'fields', '-e', 'imap.request'],
                               capture_output=True, text=True, check=True)
            print('\\n'.join(l for l in r.stdout.splitlines() if 'LOGIN' in l or 'AUTHENTICATE' in l))
            """)
        #expect(tshark.contains("a1 LOGIN alice {08}"), "\(tshark)")
        #expect(!tshark.contains("password"))
    }

    @Test func showSecretsKeepsThePasswordInThePcap() throws {
        let run = try Self.record(showSecrets: true)
        defer { try? FileManager.default.removeItem(atPath: run.pcapPath) }
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: run.pcapPath)), as: UTF8.self)
        #expect(text.contains("LOGIN alice \"password\"\r\n"))
        #expect(text.contains("a1 LOGIN alice {08}\r\n") && text.contains("password\r\n"))
        #expect(text.contains("AGFsaWNlAHBhc3N3b3Jk"))
    }

    /// After COMPRESS=DEFLATE the file holds what was relayed inflated, secrets filled: a LOGIN
    /// and an AUTHENTICATE PLAIN sent compressed (Dovecot refuses both: already authenticated)
    /// leave no form of their password in the file, even read with `--show-secrets`; `read`
    /// decodes every command after COMPRESS, and tshark shows them.
    @Test func afterCompressThePcapIsInflatedAndFilled() throws {
        let secret = "Zq7afterDeflate9"
        let plain = Base64.encode(Array("\0alice\0\(secret)".utf8))
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let path = NSTemporaryDirectory() + "imapscope-compress-pcap-\(UUID().uuidString).pcapng"
        let keep = ProcessInfo.processInfo.environment["KEEP_PCAP"] != nil
        defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(
            upstreamPort: dovecot.imapPort, sinks: [sink],
            pcap: try PcapRecorder(path: path))
        let out = try runPython(
            """
            import socket, zlib
            s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(20)
            buf, comp, decomp = b'', None, None
            def send(b):
                s.sendall(comp.compress(b) + comp.flush(zlib.Z_SYNC_FLUSH) if comp else b)
            def until(prefix):
                global buf
                while True:
                    while b'\\n' not in buf:
                        d = s.recv(65536)
                        if not d: raise EOFError(buf)
                        buf += decomp.decompress(d) if decomp else d
                    l, buf = buf.split(b'\\n', 1)
                    if l.startswith(prefix): return l.split(b' ')[1].decode()
            until(b'* OK')
            send(b'a1 LOGIN alice password\\r\\n'); r = [until(b'a1 ')]
            send(b'a2 COMPRESS DEFLATE\\r\\n'); r.append(until(b'a2 '))
            comp, decomp = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)
            send(b'a3 LOGIN alice \(secret)\\r\\n'); r.append(until(b'a3 '))
            send(b'a4 AUTHENTICATE PLAIN \(plain)\\r\\n'); r.append(until(b'a4 '))
            send(b'a5 SELECT INBOX\\r\\n'); r.append(until(b'a5 '))
            send(b'a6 NOOP\\r\\n'); r.append(until(b'a6 '))
            send(b'a7 LOGOUT\\r\\n'); r.append(until(b'a7 '))
            s.close()
            print(' '.join(r))
            """)
        ProxyClientsTests.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        #expect(out == "OK OK BAD BAD OK OK OK\n", "\(out)")
        let expected = ["LOGIN", "COMPRESS", "LOGIN", "AUTHENTICATE", "SELECT", "NOOP", "LOGOUT"]
        func commands(_ evs: [Event]) -> [String] {
            evs.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        }
        #expect(commands(sink.events) == expected)
        #expect(PcapNGWriter.sectionHeader(ofFile: path)?.comments.contains(PcapNGWriter.decompressedComment) == true)

        // Not in the file, nor in what `read --show-secrets` makes of it: the secret, its
        // base64, the base64 of the SASL PLAIN message.
        let forms = [secret, Base64.encode(Array(secret.utf8)), plain]
        let file = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        let shown = try run(
            Binary.imapscope, ["read", path, "--show-secrets", "--format", "jsonl", "--color", "never"])
        #expect(shown.status == 0, "\(shown.stderr)")
        for (name, text) in [("the pcap", file), ("read --show-secrets", shown.stdout + shown.stderr)] {
            for form in forms { #expect(!text.contains(form), "\(name) holds \(form)") }
        }
        // Filler of the same length where each was.
        #expect(file.contains("a3 LOGIN alice \(String(repeating: "*", count: secret.utf8.count))\r\n"))
        #expect(file.contains("a4 AUTHENTICATE PLAIN \(String(plain.map { $0 == "=" ? "=" : "A" }))\r\n"))

        // `read` decodes it as the proxy did: the same commands, completions and bytes.
        let collect = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [collect])
        let source = try PcapSource.open(file: path)
        let result = try CaptureReader.read(source: source, filter: nil, options: CaptureDecoder.Options()) {
            pipeline.publish($1, session: $0)
        }
        let read = collect.events
        #expect(result.error == nil)
        #expect(commands(read) == expected)
        let statuses = { (evs: [Event]) in
            evs.filter { $0.kind == .tagged }
                .map { ($0["command"]?.stringValue ?? "") + " " + ($0["status"]?.stringValue ?? "") }
        }
        #expect(statuses(read) == statuses(sink.events))
        #expect(Self.bytesByDirection(read) == Self.bytesByDirection(sink.events.filter { $0.dir != .proxy }))
        #expect(read.contains { $0.kind == .compress })
        #expect(!read.contains { $0.kind == .unparsed || $0.kind == .gap })

        // tshark reads the commands after COMPRESS too.
        let tshark = try run(
            "/usr/bin/env",
            [
                "tshark", "-r", path, "-d", "tcp.port==\(dovecot.imapPort),imap",
                "-Y", "imap.request", "-T", "fields", "-e", "imap.request",
            ])
        #expect(tshark.status == 0, "\(tshark.stderr)")
        for line in ["a3 LOGIN alice ****", "a4 AUTHENTICATE PLAIN AAAA", "a5 SELECT INBOX", "a6 NOOP", "a7 LOGOUT"] {
            #expect(tshark.stdout.contains(line), "tshark does not show \(line): \(tshark.stdout)")
        }
        for form in forms { #expect(!tshark.stdout.contains(form)) }
    }

    /// A client whose bytes after COMPRESS are no DEFLATE stream (a reserved block type, then a
    /// password in clear): nothing inflates, so the file holds filler for the rest of that
    /// direction instead of the bytes, which no reader could tell from a stored block.
    @Test func aCorruptDeflateStreamIsWrittenAsFiller() throws {
        let secret = "Zq7corruptDeflate"
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let path = NSTemporaryDirectory() + "imapscope-corrupt-pcap-\(UUID().uuidString).pcapng"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(
            upstreamPort: dovecot.imapPort, sinks: [sink],
            pcap: try PcapRecorder(path: path))
        let out = try runPython(
            """
            import socket
            s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(20)
            f = s.makefile('rb')
            f.readline()
            s.sendall(b'a1 LOGIN alice password\\r\\n')
            while not f.readline().startswith(b'a1 '): pass
            s.sendall(b'a2 COMPRESS DEFLATE\\r\\n')
            while not f.readline().startswith(b'a2 OK'): pass
            s.sendall(b'\\xff\\xff a3 LOGIN alice \(secret)\\r\\n')
            try:
                while s.recv(65536): pass
            except OSError:
                pass
            print('closed')
            """)
        ProxyClientsTests.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        #expect(out == "closed\n")
        #expect(sink.events.contains { $0.kind == .compress })
        let file = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        #expect(file.contains("a2 COMPRESS DEFLATE\r\n"))
        #expect(!file.contains(secret) && !file.contains("Zq7"), "the corrupt stream's bytes are in the file")
        let filler = String(repeating: "*", count: "\u{FF}\u{FF} a3 LOGIN alice \(secret)\r\n".utf8.count - 2)
        #expect(file.contains(filler), "no filler for the corrupt stream")
    }
}

extension ProxyPcapTests {
    /// An implicit-TLS session's --pcap reads back as TLS: the connection is marked as decrypted
    /// TLS, so `read` reports transport tls and lints no cleartext; SASL filler (an initial response
    /// and a continuation line) stays base64, so nothing reads back as malformed or cancelled.
    @Test func anImplicitTLSSessionReadsBackAsTLS() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let path = NSTemporaryDirectory() + "imapscope-tls-\(UUID().uuidString).pcapng"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorder = try PcapRecorder(path: path)
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imaps], upstream: .imap, pcap: recorder)
        let out = try runPython(
            """
            import imaplib, socket, ssl
            ctx = ssl.create_default_context(cafile='\(p.ca.certificatePath)')
            m = imaplib.IMAP4_SSL('127.0.0.1', \(p.ports[0]), ssl_context=ctx)
            m.login('alice', 'password'); m.select('INBOX'); m.logout()
            m = imaplib.IMAP4_SSL('127.0.0.1', \(p.ports[0]), ssl_context=ctx)
            m.authenticate('PLAIN', lambda _: b'\\0alice\\0password'); m.logout()
            s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', \(p.ports[0]))), server_hostname='localhost')
            f = s.makefile('rb'); f.readline()
            s.sendall(b'a1 AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk\\r\\n'); print(f.readline().split()[1].decode())
            s.sendall(b'a2 LOGOUT\\r\\n'); f.readline(); f.readline(); s.close()
            """)
        #expect(out == "OK\n")
        p.waitForSessions(3)
        p.stop()
        let collect = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [collect])
        let result = try CaptureReader.read(
            source: try PcapSource.open(file: path), filter: nil, options: CaptureDecoder.Options()
        ) { pipeline.publish($1, session: $0) }
        let read = collect.events
        #expect(result.error == nil)
        let starts = read.filter { $0.kind == .sessionStart }
        #expect(starts.count == 3)
        #expect(starts.allSatisfy { $0["transport"]?.stringValue == "tls" }, "\(starts.map { $0.json.serialized })")
        let lints = read.filter { $0.kind == .lint }.compactMap { $0["code"]?.stringValue }
        for code in ["cleartext-login", "cleartext-auth", "malformed-command", "unexpected-continuation"] {
            #expect(!lints.contains(code), "\(lints)")
        }
        #expect(!read.contains { $0.kind == .unparsed || $0.kind == .gap })
        #expect(
            read.filter { $0.kind == .tagged }.map {
                "\($0["command"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")"
            }
                == p.sink.events.filter { $0.kind == .tagged }.map {
                    "\($0["command"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")"
                })
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        #expect(SecretScan("password").leaks(in: text).isEmpty)
        #expect(text.contains("a1 AUTHENTICATE PLAIN \(String(repeating: "A", count: 20))\r\n"))
        #expect(text.contains(SyntheticTCPConnection.decryptedTLSComment))
        // The text transcript of `read` says so too.
        let shown = try run(Binary.imapscope, ["read", path, "--color", "never"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(
            shown.stdout.contains("(pcap, tls)") && !shown.stdout.contains("(pcap, plaintext)"),
            "\(shown.stdout.prefix(400))")
    }
}

extension ProxyPcapTests {
    /// STARTTLS answered by imapscope in front of an imaps:// upstream: the pcap holds what the
    /// client got (the capability lists with STARTTLS added, imapscope's OK) and reads back with
    /// the same commands and completions, and no cleartext lint after STARTTLS.
    @Test func aSTARTTLSAnsweredByImapscopeReadsBack() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let path = NSTemporaryDirectory() + "imapscope-offer-\(UUID().uuidString).pcapng"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorder = try PcapRecorder(path: path)
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: .imaps, pcap: recorder)
        let out = try runPython(
            """
            import imaplib, ssl
            m = imaplib.IMAP4('127.0.0.1', \(p.ports[0]))
            m.starttls(ssl_context=ssl.create_default_context(cafile='\(p.ca.certificatePath)'))
            m.login('alice', 'password'); typ, data = m.select('INBOX'); m.logout()
            print(typ, data[0].decode())
            """)
        #expect(out == "OK 2\n")
        p.waitForSessions()
        p.stop()
        let collect = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [collect])
        let result = try CaptureReader.read(
            source: try PcapSource.open(file: path), filter: nil, options: CaptureDecoder.Options()
        ) { pipeline.publish($1, session: $0) }
        let read = collect.events
        #expect(result.error == nil)
        func story(_ events: [Event]) -> [String] {
            events.compactMap { e in
                switch e.kind {
                case .command: return "C " + (e["name"]?.stringValue ?? "")
                case .tagged: return "S \(e["command"]?.stringValue ?? "") \(e["status"]?.stringValue ?? "")"
                default: return nil
                }
            }
        }
        #expect(story(read) == story(p.sink.events), "\(story(read))")
        #expect(story(read).prefix(4) == ["C CAPABILITY", "S CAPABILITY OK", "C STARTTLS", "S STARTTLS OK"])
        let lints = read.filter { $0.kind == .lint }.compactMap { $0["code"]?.stringValue }
        for code in ["cleartext-login", "plaintext-after-starttls", "malformed-command", "unknown-tag"] {
            #expect(!lints.contains(code), "\(lints)")
        }
        let capability = read.first { $0.kind == .untagged && $0["name"]?.stringValue == "CAPABILITY" }
        #expect(capability?["line"]?.stringValue?.hasSuffix(" STARTTLS") == true)
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        #expect(SecretScan("password").leaks(in: text).isEmpty)
    }
}
