import Foundation
import IMAPCore
import IMAPTestSupport
import Testing

/// A hostile client through `imapscope proxy` against a real Dovecot: passwords where the
/// decoder does not expect them (two words, junk after a quoted password, tabs, an initial
/// response as a literal, a literal password, an unknown command, a non-base64 SASL response).
/// No output — the JSON Lines log, the transcript, the fixture, the decrypted pcap, stderr —
/// may hold any of them in any form; with --show-secrets the log does.
@Suite("Hostile client through the proxy", .serialized)
struct HostileProxyTests {
    static let secret = "Zq7hunter2Xv"
    static let pieces = ["Zq7hun", "ter2Xv", "Zq7junk9"]

    struct Run {
        var dir: String
        var stderr: String
        var status: Int32
        var replies: String
        func file(_ name: String) -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) ?? Data(), as: UTF8.self)
        }
    }

    static func run(showSecrets: Bool) throws -> Run {
        let dovecot = try DovecotProcess(seed: 3)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let proxy = try ProxyBinaryProcess(
            [
                "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)",
                "--ca-dir", dir + "/ca", "--log", dir + "/log.jsonl",
                "--transcript", dir + "/transcript.txt", "--fixture", dir + "/fixture.txt",
                "--pcap", dir + "/decrypted.pcapng",
            ] + (showSecrets ? ["--show-secrets"] : []))
        let plain = Base64.encode(Array("\0alice\0\(secret)".utf8))
        // Each step waits for its tagged answer (Dovecot answers every one of these).
        // Three connections, as Dovecot closes one after its third invalid command before login.
        // Each step waits for its tagged answer.
        let replies = try runPython(
            """
            import socket
            out = []
            def connect():
                s = socket.create_connection(('127.0.0.1', \(proxy.ports[0])))
                s.settimeout(20)
                f = s.makefile('rb')
                f.readline()
                return s, f
            def until(f, tag):
                while True:
                    l = f.readline()
                    if not l or l.startswith(tag + b' '):
                        out.append(l.decode().split(' ')[0] + ' ' + l.decode().split(' ')[1] if l else 'EOF')
                        return
            def send(c, data, tag):
                c[0].sendall(data)
                until(c[1], tag)
            def lines(c, n):
                for _ in range(n): c[1].readline()
            a = connect()
            send(a, b'h1 LOGIN alice Zq7hun ter2Xv\\r\\n', b'h1')
            send(a, b'h2 LOGIN alice "\(secret)" Zq7junk9\\r\\n', b'h2')
            a[0].sendall(b'h5 LOGIN alice {12}\\r\\n'); lines(a, 1)              # + OK
            send(a, b'\(secret)\\r\\n', b'h5')
            send(a, b'h8 LOGIN alice password\\r\\n', b'h8')
            send(a, b'h6 XSECRETAUTH alice \(secret)\\r\\n', b'h6')
            send(a, b'h9 LOGOUT\\r\\n', b'h9')
            b = connect()
            send(b, b'h3 LOGIN alice\\t\(secret)\\r\\n', b'h3')
            send(b, b'h4 AUTHENTICATE PLAIN {\(plain.utf8.count)+}\\r\\n\(plain)\\r\\n', b'h4')
            c = connect()
            c[0].sendall(b'h7 AUTHENTICATE PLAIN\\r\\n'); lines(c, 1)           # +
            send(c, b'alice \(secret)\\r\\n', b'h7')                          # not base64
            send(c, b'h9 LOGOUT\\r\\n', b'h9')
            d = connect()                                                          # a 250-byte tag, a 6 MB password
            try:
                d[0].sendall(b't' * 250 + b' LOGIN alice {6000000+}\\r\\n' + b'\(secret)' * 500000 + b'\\r\\n')
                until(d[1], b't' * 250)
            except OSError:
                out.append('reset')
            print(' | '.join(out))
            """)
        let (status, stderr) = proxy.stop()
        #expect(proxy.connectionsClosedBeforeStop, "the proxy still held connections 20 s after the clients ended")
        return Run(dir: dir, stderr: stderr, status: status, replies: replies)
    }

    @Test func noOutputHoldsAnyFormOfTheSecrets() throws {
        let run = try Self.run(showSecrets: false)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        #expect(run.status == 0)
        // Dovecot's own verdicts, as the client got them through the proxy.
        #expect(
            run.replies
                == "h1 BAD | h2 BAD | h5 NO | h8 OK | h6 BAD | h9 OK | h3 BAD | h4 BAD | h7 NO | h9 OK | reset\n",
            "\(run.replies)")
        let files = ["log.jsonl", "transcript.txt", "fixture.txt", "decrypted.pcapng"]
        var outputs = files.map { ($0, run.file($0)) } + [("stderr", run.stderr)]
        let read = try IMAPTestSupport.run(
            Binary.imapscope, ["read", run.dir + "/decrypted.pcapng", "--format", "jsonl"])
        outputs.append(("read of the pcap", read.stdout + read.stderr))
        for (name, text) in outputs {
            #expect(!text.isEmpty || name == "stderr", "\(name) is empty")
            for piece in Self.pieces + [Self.secret, "password"] {
                let scan = SecretScan(piece)
                let leaks = scan.leaks(in: text) + (text.contains(piece.uppercased()) ? [piece.uppercased()] : [])
                #expect(leaks.isEmpty, "\(name) shows \(leaks)")
            }
            for form in [
                Base64.encode(Array("\0alice\0\(Self.secret)".utf8)), Base64.encode(Array("\0alice\0password".utf8)),
            ] {
                #expect(!text.contains(form), "\(name) shows \(form)")
            }
        }
        // Dovecot drops the 6 MB LOGIN after a part of it; what was relayed was decoded.
        #expect(
            run.file("log.jsonl").contains(
                #""code":"truncated-literal","message":"the stream ended inside a {6000000} literal"#))
        let transcript = run.file("transcript.txt")
        // Dovecot took h4's literal body for a command and echoed it as a tag: hidden too.
        #expect(transcript.contains("S  ‹redacted:") && transcript.contains("tagged BAD for a tag no command"))
        // What stays visible: the user, the mechanism, every command's tag and name, sizes.
        for shown in [
            "h1 LOGIN alice ‹redacted:", "h4 AUTHENTICATE PLAIN {28+} ‹redacted:", "h6 XSECRETAUTH ‹redacted:",
            "h5 LOGIN alice {12} ‹redacted:", "h8 LOGIN alice ‹redacted:", "h3 LOGIN ‹redacted:",
        ] {
            #expect(transcript.contains(shown), "\(shown) missing from the transcript")
        }
    }

    @Test func showSecretsShowsThem() throws {
        let run = try Self.run(showSecrets: true)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        #expect(run.status == 0)
        let log = run.file("log.jsonl")
        for piece in Self.pieces + ["password"] { #expect(log.contains(piece), "the log hides \(piece)") }
    }
}
