import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope proxy` as a user runs it: two listeners, every output at once, real clients,
/// SIGTERM; every output is flushed, the exit status is 0, and the password is in no file.
@Suite("imapscope proxy command", .serialized)
struct ProxyCommandTests {
    struct Run {
        var dir: String
        var stderr: String
        var status: Int32
        var clientOutput: String
        func file(_ name: String) -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) ?? Data(), as: UTF8.self)
        }
    }

    static func run(showSecrets: Bool) throws -> Run {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let proxy = try ProxyBinaryProcess(
            [
                "--listen", "imap://127.0.0.1:0", "--listen", "imaps://127.0.0.1:0",
                "--upstream", "imap://localhost:\(dovecot.imapPort)", "--upstream-ca",
                dovecot.directory + "/server.crt",
                "--ca-dir", dir + "/ca", "--log", dir + "/log.jsonl", "--transcript", dir + "/transcript.txt",
                "--fixture", dir + "/fixture.txt", "--pcap", dir + "/decrypted.pcapng", "--keylog", dir + "/keys.log",
                "--report", dir + "/report.html",
            ]
                + (showSecrets ? ["--show-secrets"] : []))
        let ports = proxy.ports
        let out = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(cafile='\(dir)/ca/ca.pem')
            m = imaplib.IMAP4('127.0.0.1', \(ports[0])); m.starttls(ssl_context=ctx)
            m.login('alice', 'password'); a = m.select('INBOX')[1][0].decode(); m.logout()
            m = imaplib.IMAP4_SSL('127.0.0.1', \(ports[1]), ssl_context=ctx)
            m.authenticate('PLAIN', lambda _: b'\\0alice\\0password'); b = m.select('INBOX')[1][0].decode(); m.logout()
            print(a, b)
            """)
        let (status, stderr) = proxy.stop()
        #expect(proxy.connectionsClosedBeforeStop, "the proxy still held connections 20 s after the clients ended")
        return Run(dir: dir, stderr: stderr, status: status, clientOutput: out)
    }

    @Test func everyOutputIsWrittenAndRedacted() throws {
        let run = try Self.run(showSecrets: false)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        #expect(run.clientOutput == "2 2\n")
        #expect(run.status == 0)
        #expect(
            run.stderr.contains("listening on imap://127.0.0.1:")
                && run.stderr.contains("listening on imaps://127.0.0.1:"))
        #expect(run.stderr.hasSuffix("imapscope: stopped\n"), "\(run.stderr)")
        let log = run.file("log.jsonl")
        let events = try log.split(separator: "\n").map { try Event(json: JSONParser.parse(Array($0.utf8))) }
        #expect(Set(events.map(\.session)).count == 2)
        #expect(events.filter { $0.kind == .sessionStart }.allSatisfy { $0["source"]?.stringValue == "proxy" })
        // Sessions decode on queues of their own, so the log may interleave them: compare per session.
        let commandsBySession = Dictionary(grouping: events.filter { $0.kind == .command }, by: \.session)
            .mapValues { $0.map { $0["name"]?.stringValue ?? "" } }
        #expect(
            commandsBySession.values.sorted { $0.count > $1.count } == [
                ["CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "LOGOUT"],
                ["CAPABILITY", "AUTHENTICATE", "SELECT", "LOGOUT"],
            ])
        #expect(events.map(\.seq) == Array(events.indices).map { events[0].seq + $0 }, "seq numbers the log in order")
        #expect(events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "established" }.count == 3)
        #expect(run.file("transcript.txt").contains("LOGIN alice ‹redacted:"))
        // One normalized fixture per session: tags renumbered, the second session beside the first.
        let first = run.file("fixture.txt")
        let second = run.file("fixture.p2.txt")
        #expect(first.hasPrefix("# imapscope fixture (normalized"), "\(first.prefix(200))")
        #expect(
            first.contains("\r\nC: a1 CAPABILITY\r\n") && first.contains("\r\nC: a2 STARTTLS\r\n")
                && !first.contains("AUTHENTICATE"))
        #expect(
            second.contains("\r\nC: a2 AUTHENTICATE PLAIN\r\n") && !second.contains("STARTTLS\r\n"),
            "\(second.prefix(600))")
        #expect(run.stderr.contains("imapscope: session p2: fixture \(run.dir)/fixture.p2.txt\n"))
        // Three TLS 1.3 connections (both STARTTLS legs, the imaps client leg) in the key log.
        #expect(
            run.file("keys.log").split(separator: "\n").filter { $0.hasPrefix("CLIENT_TRAFFIC_SECRET_0 ") }.count == 3)
        // The decrypted pcap decodes with `imapscope read` to the same commands.
        let read = try runPython(
            """
            import subprocess
            r = subprocess.run(['\(Binary.imapscope)', 'read', '\(run.dir)/decrypted.pcapng', '--format', 'jsonl'], capture_output=True, text=True, check=True)
            print(sum('"kind":"command"' in l for l in r.stdout.splitlines()))
            """)
        #expect(read == "10\n")
        // --report: the same report `imapscope report` writes, of both sessions, drawn in Chromium.
        let dom = try HeadlessChromium.dumpDOM(URL(fileURLWithPath: run.dir + "/report.html"))
        #expect(dom.contains("data-rendered=\"true\""))
        #expect(dom.components(separatedBy: "data-kind=\"session\"").count - 1 == 2)
        let bars = dom.components(separatedBy: "data-kind=\"command\"").count - 1
        #expect(bars == events.filter { $0.kind == .command }.count)
        #expect(bars == 10)
        let scan = SecretScan("password")
        #expect(scan.leaks(in: dom).isEmpty)
        for name in [
            "log.jsonl", "transcript.txt", "fixture.txt", "fixture.p2.txt", "decrypted.pcapng", "keys.log",
            "report.html",
        ] {
            #expect(scan.leaks(in: run.file(name)).isEmpty, "\(name): \(scan.leaks(in: run.file(name)))")
        }
        #expect(scan.leaks(in: run.stderr).isEmpty)
    }

    @Test func showSecretsPutsThePasswordInTheOutputs() throws {
        let run = try Self.run(showSecrets: true)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        #expect(run.status == 0)
        #expect(run.file("transcript.txt").contains("LOGIN alice \"password\""))
        #expect(run.file("decrypted.pcapng").contains("LOGIN alice \"password\"\r\n"))
        #expect(run.file("log.jsonl").contains("password"))
        #expect(run.file("report.html").contains("LOGIN alice \\\"password\\\""))
    }
}
