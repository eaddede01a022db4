import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope read CAPTURE --keylog FILE` on real TLS sessions: Captures/record_tls_pcaps.py
/// starts Dovecot, tcpdump on `lo`, and a real client that writes its own key log (Python's
/// ssl, curl's SSLKEYLOGFILE, openssl s_client -keylogfile). The decrypted session must hold
/// exactly the commands the client says it sent, tshark with the same key log must find as many
/// IMAP requests, and no output may carry the password or a secret of the key log.
@Suite("Decrypting TLS captures with a key log", .serialized)
struct KeyLogCaptureTests {
    struct Recording {
        var name: String
        var pcap: String
        var keylog: String
        var port: Int
        var implicit: Bool
        var commands: [String]
    }

    struct RecorderFailed: Error, CustomStringConvertible { var description: String }

    static let recorder = Repo.captures.appendingPathComponent("record_tls_pcaps.py").path

    static func record(_ names: [String]) throws -> [Recording] {
        let dir = NSTemporaryDirectory() + "imapscope-keylog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try run("/usr/bin/env", ["python3", recorder, "--out", dir] + names)
        guard r.status == 0 else { throw RecorderFailed(description: "recorder: \(r.stderr)") }
        return try r.stdout.split(separator: "\n").map { line in
            let j = try JSONParser.parse(Array(line.utf8))
            return Recording(
                name: j["name"]?.stringValue ?? "", pcap: j["pcap"]?.stringValue ?? "",
                keylog: j["keylog"]?.stringValue ?? "", port: Int(j["port"]?.intValue ?? 0),
                implicit: j["tls"]?.stringValue == "implicit",
                commands: j["commands"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
    }

    /// `tlsPort`: Dovecot's implicit-TLS port (random), which `read` then knows as one.
    static func read(_ pcap: String, keylog: String?, tlsPort: Int?, format: [String] = ["--format", "jsonl"])
        throws -> ProcessResult
    {
        var args = ["read", pcap] + (tlsPort.map { ["--tls-port", "\($0)"] } ?? []) + format
        if let k = keylog { args += ["--keylog", k] }
        return try run(Binary.imapscope, args)
    }

    static func events(_ r: ProcessResult) throws -> [Event] {
        try JSONLinesReader.read(Array(r.stdout.utf8))
    }

    /// The IMAP requests tshark finds with the key log (one per client line, SASL lines included).
    static func tsharkRequests(_ rec: Recording) throws -> [String] {
        let decodeAs =
            rec.implicit
            ? ["-d", "tcp.port==\(rec.port),tls", "-d", "tls.port==\(rec.port),imap"]
            : ["-d", "tcp.port==\(rec.port),imap"]
        let r = try run(
            "/usr/bin/tshark",
            ["-r", rec.pcap, "-o", "tls.keylog_file:\(rec.keylog)"] + decodeAs + [
                "-Y", "imap.request", "-T", "fields", "-e", "imap.request", "-E", "aggregator=|",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.split(separator: "\n").flatMap { $0.split(separator: "|").map(String.init) }
    }

    static let scenarios = [
        "tls13-imaplib", "tls13-chacha-imaplib", "tls12-rsa-gcm-imaplib", "tls12-rsa-aes256-gcm-imaplib",
        "tls12-chacha-imaplib", "tls12-cbc-sha-imaplib", "tls12-cbc-sha-mte-imaplib", "tls12-cbc-sha256-imaplib",
        "tls12-cbc-sha384-imaplib", "starttls-imaplib", "tls-curl", "starttls-openssl", "tls13-compress-raw",
    ]

    /// (scenario, TLS version, cipher) the handshake must report.
    static let negotiated: [String: (String, String)] = [
        "tls13-imaplib": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "tls13-chacha-imaplib": ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
        "tls12-rsa-gcm-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        "tls12-rsa-aes256-gcm-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        "tls12-chacha-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        "tls12-cbc-sha-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
        "tls12-cbc-sha-mte-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
        "tls12-cbc-sha256-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
        "tls12-cbc-sha384-imaplib": ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
        "starttls-imaplib": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "tls-curl": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "starttls-openssl": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
        "tls13-compress-raw": ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ]

    @Test("the decrypted session holds exactly the client's commands, as many as tshark finds", arguments: scenarios)
    func decryptsToTheClientsCommands(_ name: String) throws {
        let rec = try #require(try Self.record([name]).first)
        let r = try Self.read(rec.pcap, keylog: rec.keylog, tlsPort: rec.implicit ? rec.port : nil)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let events = try Self.events(r)
        let lines = EventSummary.lines(events)
        let commands = lines.filter { $0.hasPrefix("C ") && !$0.hasPrefix("C sasl") && $0 != "C DONE" }
        #expect(commands == rec.commands.map { "C \($0)" }, "\(lines)")
        #expect(events.filter { $0.kind == .sessionStart }.count == 1)
        #expect(!lines.contains { $0.hasPrefix("lint tls-") || $0.hasPrefix("gap") || $0.hasSuffix("unparsed") })
        let tls = try #require(events.first { $0.kind == .tls })
        #expect(tls["decrypted"]?.boolValue == true)
        #expect(tls["phase"]?.stringValue == (rec.implicit ? "implicit" : "starttls"))
        #expect(tls["version"]?.stringValue == Self.negotiated[name]?.0)
        #expect(tls["cipher"]?.stringValue == Self.negotiated[name]?.1)
        // Every response the server sent completes a command: the server stream decrypted too.
        let completions = lines.filter {
            $0.hasPrefix("S ") && !$0.hasPrefix("S * ") && !$0.hasPrefix("S +") && !$0.hasPrefix("S sasl")
        }
        #expect(completions.count == rec.commands.count, "\(lines)")
        let clientLines = lines.filter { $0.hasPrefix("C ") }
        let tshark = try Self.tsharkRequests(rec)
        if name.contains("compress") {
            // tshark 4.0 does not inflate COMPRESS=DEFLATE: it agrees up to COMPRESS; imapscope goes on.
            #expect(lines.contains("compress"))
            let words = tshark.prefix(2).map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
            #expect(words == ["c1 LOGIN", "c2 COMPRESS"], "\(words)")
        } else {
            #expect(tshark.count == clientLines.count)
        }
    }

    /// Every output format and stderr, against the password and every secret of the key log.
    @Test(arguments: ["tls13-imaplib", "tls12-cbc-sha-imaplib", "starttls-openssl"])
    func noSecretReachesAnyOutput(_ name: String) throws {
        let rec = try #require(try Self.record([name]).first)
        let keylog = try String(contentsOfFile: rec.keylog, encoding: .utf8)
        let secrets = keylog.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(secrets.count >= 1)
        let scan = SecretScan(Fixture.password)
        for format in [["--format", "jsonl"], ["--format", "text", "--color", "never"], ["--format", "fixture"]] {
            for extra in [[], ["--summary"]] {
                let r = try Self.read(
                    rec.pcap, keylog: rec.keylog, tlsPort: rec.implicit ? rec.port : nil, format: format + extra)
                #expect(r.status == 0)
                #expect(r.stdout.contains("LOGIN"), "\(format)")
                for output in [r.stdout, r.stderr] {
                    #expect(scan.leaks(in: output).isEmpty, "\(format) \(extra)")
                    for s in secrets {
                        #expect(!output.lowercased().contains(s.lowercased()), "a key log secret in \(format)")
                    }
                }
            }
        }
        // A bad key log is refused with its line number, without echoing the line.
        let bad = rec.keylog + ".bad"
        try (keylog + "CLIENT_RANDOM \(secrets[0])\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try Self.read(rec.pcap, keylog: bad, tlsPort: rec.implicit ? rec.port : nil)
        #expect(r.status != 0)
        let n = keylog.split(separator: "\n").count + 1
        #expect(r.stderr.contains("\(bad): key log line \(n): expected 3 fields"), "\(r.stderr)")
        for s in secrets { #expect(!r.stderr.contains(s)) }
    }

    /// `sniff --keylog` while the client appends its secrets to the file: the session is decrypted live.
    @Test func sniffFollowsTheKeyLog() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-sniff-keylog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let keylog = dir + "/keys.log"
        try Data().write(to: URL(fileURLWithPath: keylog))
        // The test runner blocks signals in its children's mask: clear it, so SIGINT stops sniff.
        let sniff = Process()
        sniff.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sniff.arguments = [
            "python3", "-c",
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
            Binary.imapscope, "sniff", "--interface", "lo", "--filter", "tcp port \(dovecot.imapsPort)", "--tls-port",
            "\(dovecot.imapsPort)", "--keylog", keylog, "--format", "jsonl", "--output", dir + "/out.jsonl",
        ]
        let err = Pipe()
        sniff.standardError = err
        try sniff.run()
        // libpcap is capturing once the process has opened the interface; give it a moment.
        Thread.sleep(forTimeInterval: 1.5)
        let sent = try runPython(
            """
            import imaplib, ssl
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            ctx.keylog_filename = '\(keylog)'
            m = imaplib.IMAP4_SSL('127.0.0.1', \(dovecot.imapsPort), ssl_context=ctx)
            m.login('alice', 'password'); m.select('INBOX'); m.noop(); m.logout()
            print(m.tagpre.decode())
            """)
        let prefix = sent.trimmingCharacters(in: .whitespacesAndNewlines)
        // The last packets (both FINs) reach the capture within a moment of the client's end.
        Thread.sleep(forTimeInterval: 1.5)
        sniff.interrupt()
        sniff.waitUntilExit()
        let text = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)
        let events = try JSONLinesReader.read(Array(text.utf8))
        let commands = EventSummary.lines(events).filter { $0.hasPrefix("C ") }
        #expect(
            commands
                == ["CAPABILITY", "LOGIN", "SELECT", "NOOP", "LOGOUT"].enumerated().map { "C \(prefix)\($0) \($1)" },
            "\(EventSummary.lines(events)) \(String(decoding: err.fileHandleForReading.availableData, as: UTF8.self))")
        #expect(events.first { $0.kind == .tls }?["decrypted"]?.boolValue == true)
        #expect(!text.contains("password\""))
    }

    /// The proxy's own `--keylog` and a tcpdump of its server leg (implicit TLS to Dovecot): the
    /// capture decodes to the commands the client sent through the proxy.
    @Test func proxyKeyLogDecryptsItsServerLeg() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-proxy-keylog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tcpdump = try PythonProcess(
            """
            import signal, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            sys.path.insert(0, '\(Repo.captures.path)'); sys.path.insert(0, '\(Repo.root.path)/scripts')
            from record_pcaps import Tcpdump
            t = Tcpdump('\(dir)/server-leg.pcap', \(dovecot.imapsPort)).start()
            print('listening', flush=True)
            sys.stdin.readline()
            print(t.stop())
            """)
        #expect(tcpdump.firstLine == "listening")
        let proxy = try ProxyBinaryProcess([
            "--listen", "imap://127.0.0.1:0", "--upstream", "imaps://localhost:\(dovecot.imapsPort)", "--upstream-ca",
            dovecot.directory + "/server.crt", "--ca-dir", dir + "/ca", "--keylog", dir + "/keys.log",
        ])
        let tag = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(proxy.ports[0]))
            m.login('alice', 'password'); m.select('INBOX'); m.noop(); m.logout()
            print(m.tagpre.decode())
            """
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = proxy.stop()
        tcpdump.send("stop")
        let counts = tcpdump.finish()
        #expect(counts.hasSuffix(", 0)\n"), "tcpdump: \(counts)")
        let r = try Self.read(dir + "/server-leg.pcap", keylog: dir + "/keys.log", tlsPort: dovecot.imapsPort)
        #expect(r.status == 0, "\(r.stderr)")
        let events = try Self.events(r)
        let commands = EventSummary.lines(events).filter { $0.hasPrefix("C ") }
        let expected = ["CAPABILITY", "LOGIN", "SELECT", "NOOP", "LOGOUT"].enumerated().map { "C \(tag)\($0) \($1)" }
        #expect(commands == expected, "\(EventSummary.lines(events))")
        let rec = Recording(
            name: "proxy", pcap: dir + "/server-leg.pcap", keylog: dir + "/keys.log", port: dovecot.imapsPort,
            implicit: true, commands: [])
        #expect(try Self.tsharkRequests(rec).count == expected.count)
        #expect(events.first { $0.kind == .tls }?["decrypted"]?.boolValue == true)
        #expect(!r.stdout.contains("password\""))
    }

    /// Two sessions in one capture, the key log lacking one's lines: that one is reported
    /// undecrypted, naming its client random; the other decodes.
    @Test func keyLogMissingOneSession() throws {
        let recs = try Self.record(["tls13-imaplib", "starttls-imaplib"])
        try #require(recs.count == 2)
        let implicit = recs[0]
        let starttls = recs[1]
        let merged = implicit.pcap + ".merged.pcap"
        let m = try run("/usr/bin/mergecap", ["-F", "pcap", "-w", merged, implicit.pcap, starttls.pcap])
        #expect(m.status == 0, "\(m.stderr)")
        let r = try Self.read(merged, keylog: starttls.keylog, tlsPort: implicit.port)
        #expect(r.status == 0, "\(r.stderr)")
        let events = try Self.events(r)
        let sessions = Dictionary(grouping: events, by: \.session)
        #expect(sessions.count == 2)
        let implicitKeys = try String(contentsOfFile: implicit.keylog, encoding: .utf8)
        let keyLines = implicitKeys.split(separator: "\n").filter { !$0.hasPrefix("#") }
        let random = try #require(keyLines.first?.split(separator: " ")[1])
        for (_, evs) in sessions {
            let tls = try #require(evs.first { $0.kind == .tls })
            let lines = EventSummary.lines(evs)
            if tls["phase"]?.stringValue == "implicit" {
                #expect(tls["decrypted"]?.boolValue == false)
                #expect(tls["version"]?.stringValue == "TLSv1.3")
                let lint = try #require(evs.first { $0.kind == .lint })
                #expect(lint["code"]?.stringValue == "tls-not-decrypted")
                #expect(
                    lint["message"]?.stringValue == "the key log has no TLSv1.3 secrets for client random \(random)")
                #expect(lines.filter { $0.hasPrefix("C ") }.isEmpty)
                let end = try #require(evs.last)
                #expect((end["encrypted_bytes"]?["client"]?.intValue ?? 0) > 500)
            } else {
                #expect(tls["decrypted"]?.boolValue == true)
                #expect(
                    lines.filter { $0.hasPrefix("C ") } == starttls.commands.map { "C \($0)" }, "\(lines)")
            }
        }
        // Without --keylog nothing changes: both sessions are reported, neither decrypted.
        let plain = try Self.events(try Self.read(merged, keylog: nil, tlsPort: implicit.port))
        #expect(!plain.contains { $0.kind == .tls && $0["decrypted"] != nil })
        #expect(EventSummary.lines(plain).filter { $0.hasPrefix("C ") }.count == 2)  // CAPABILITY, STARTTLS
    }
}
