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
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: .imap, showSecrets: showSecrets, pcap: recorder)
        let scriptPath = NSTemporaryDirectory() + "imapscope-pcap-\(UUID().uuidString).py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scriptPath) }
        let out = try runPython("import runpy, sys; sys.argv = ['x', '\(p.ports[0])', '\(p.ca.certificatePath)']; runpy.run_path('\(scriptPath)')")
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
        defer { if ProcessInfo.processInfo.environment["KEEP_PCAP"] == nil { try? FileManager.default.removeItem(atPath: run.pcapPath) } }
        let collect = CollectingSink()
        let reader = EventPipeline(redactor: Redactor(), sinks: [collect])
        let result = try CaptureReader.read(source: try PcapSource.open(file: run.pcapPath), filter: nil, options: CaptureDecoder.Options()) { s, evs in
            reader.publish(evs, session: s)
        }
        let read = collect.events
        #expect(result.error == nil)
        #expect(result.sessions == 3)
        func commands(_ evs: [Event]) -> [String] { evs.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } }
        let expected = ["CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "FETCH", "LOGOUT",
                        "CAPABILITY", "AUTHENTICATE", "APPEND", "LOGOUT", "LOGIN", "LOGOUT"]
        #expect(commands(run.proxied) == expected)
        #expect(commands(read) == expected)
        // Every relayed byte is in the file, on the session's real endpoints.
        #expect(Self.bytesByDirection(read) == Self.bytesByDirection(run.proxied.filter { $0.dir != .proxy }))
        #expect(read.filter { $0.kind == .sessionStart }.allSatisfy { $0["server"]?.stringValue == "127.0.0.1:\(run.dovecotPort)" })
        #expect(Set(read.filter { $0.kind == .sessionStart }.compactMap { $0["client"]?.stringValue }) ==
                Set(run.proxied.filter { $0.kind == .sessionStart }.compactMap { $0["client"]?.stringValue }))
        // The same completions, statuses in the same order.
        let statuses = { (evs: [Event]) in evs.filter { $0.kind == .tagged }.map { "\($0["command"]?.stringValue ?? "") \($0["status"]?.stringValue ?? "")" } }
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
        #expect(text.contains(String(repeating: "*", count: 20)))  // the 20-byte SASL PLAIN response

        // tshark opens it too, and sees the plaintext commands before STARTTLS on Dovecot's port.
        let tshark = try runPython("""
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
}
