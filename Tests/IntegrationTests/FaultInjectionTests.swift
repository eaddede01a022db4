import Foundation
import IMAPCore
import IMAPTestSupport
import Testing

/// `imapscope proxy --fault` between real clients and a real Dovecot: what the client did, and
/// what the log recorded of the faults.
@Suite("Fault injection", .serialized)
struct FaultInjectionTests {
    struct Run {
        var clientOutput: String
        var events: [Event]
        var transcript: String
        var log: String
        var stderr: String
        var status: Int32

        /// The faults the rules asked for.
        var faults: [Event] { events.filter { $0.kind == .fault && $0["action"]?.stringValue != "hide-compress" } }
        /// Dovecot offers COMPRESS=DEFLATE after login: with command rules imapscope takes it out, once.
        var compressHidden: Bool {
            events.filter { $0.kind == .fault && $0["action"]?.stringValue == "hide-compress" }.map {
                $0["detail"]?.stringValue ?? ""
            } == [
                "took COMPRESS=DEFLATE out of the server's capabilities: command rules cannot read compressed commands"
            ]
        }
    }

    static func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "imapscope-faults-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Starts a proxy with `faults` in front of `dovecot`, runs `client` (Python, `PORT` replaced
    /// by the proxy's port), stops the proxy and reads its log.
    /// `verifiedUpstream`: the server leg's STARTTLS verifies Dovecot's certificate (named localhost).
    static func proxied(
        _ faults: [String], dovecot: DovecotProcess, client: String, verifiedUpstream: Bool = false
    ) throws -> Run {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let upstream =
            verifiedUpstream
            ? [
                "--upstream", "imap://localhost:\(dovecot.imapPort)", "--upstream-ca",
                dovecot.directory + "/server.crt",
            ]
            : ["--upstream", "imap://127.0.0.1:\(dovecot.imapPort)"]
        let proxy = try ProxyBinaryProcess(
            ["--listen", "imap://127.0.0.1:0"] + upstream
                + ["--log", dir + "/log.jsonl", "--transcript", dir + "/transcript.txt", "--ca-dir", dir + "/ca"]
                + faults.flatMap { ["--fault", $0] })
        let output: String
        let code = client.replacingOccurrences(of: "PORT", with: "\(proxy.ports[0])")
            .replacingOccurrences(of: "CAFILE", with: dir + "/ca/ca.pem")
        do { output = try runPython(code) } catch {
            _ = proxy.stop()
            throw error
        }
        let (status, stderr) = proxy.stop()
        let log = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/log.jsonl")), as: UTF8.self)
        let events = try log.split(separator: "\n").map { try Event(json: JSONParser.parse(Array($0.utf8))) }
        let transcript = String(
            decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/transcript.txt")), as: UTF8.self)
        return Run(
            clientOutput: output, events: events, transcript: transcript, log: log, stderr: stderr, status: status)
    }

    @Test func imaplibGetsTheInjectedNoToSelect() throws {
        let dovecot = try DovecotProcess(seed: 3)
        defer { dovecot.stop() }
        let run = try Self.proxied(
            ["SELECT Archive -> respond NO [UNAVAILABLE] try later"], dovecot: dovecot,
            client: """
                import imaplib
                m = imaplib.IMAP4('127.0.0.1', PORT)
                m.login('alice', 'password')
                print(m.create('Archive')[0])
                print(m.select('Archive'))
                try:
                    m.fetch('1', '(FLAGS)')
                except imaplib.IMAP4.error as e:
                    print('error:', e)
                print(m.select('INBOX'))
                m.logout()
                """)
        #expect(
            run.clientOutput == """
                OK
                ('NO', [b'[UNAVAILABLE] try later'])
                error: command FETCH illegal in state AUTH, only allowed in states SELECTED
                ('OK', [b'3'])

                """)
        #expect(run.status == 0)
        #expect(run.stderr.contains("imapscope: fault rule 1: SELECT Archive -> respond NO [UNAVAILABLE] try later\n"))
        let selects = run.events.filter { $0.kind == .command && $0["name"]?.stringValue == "SELECT" }
        #expect(selects.count == 2)
        let tag = try #require(selects.first?.body.tag)
        #expect(run.faults.count == 1)
        let fault = try #require(run.faults.first)
        #expect(fault.dir == .proxy)
        #expect(fault["rule"]?.stringValue == "SELECT Archive -> respond NO [UNAVAILABLE] try later")
        #expect(fault["action"]?.stringValue == "respond")
        #expect(fault["tag"]?.stringValue == tag)
        #expect(fault["command"]?.stringValue == "SELECT")
        #expect(fault["detail"]?.stringValue == "answered \(tag) SELECT with NO in place of the server's OK")
        // The client saw imapscope's completion (decoded, matched to the command), never the server's.
        let completions = run.events.filter { $0.kind == .tagged && $0.body.tag == tag }
        #expect(completions.count == 1)
        #expect(completions.first?.dir == .proxy)
        #expect(completions.first?["status"]?.stringValue == "NO")
        #expect(completions.first?["code"]?.stringValue == "UNAVAILABLE")
        #expect(completions.first?["command"]?.stringValue == "SELECT")
        #expect(completions.first?["latency_ms"]?.doubleValue != nil)
        // The fault comes just before the answer it explains.
        #expect(run.compressHidden)
        let faultIndex = try #require(
            run.events.firstIndex { $0.kind == .fault && $0["action"]?.stringValue == "respond" })
        #expect(run.events[faultIndex + 1].kind == .tagged && run.events[faultIndex + 1].body.tag == tag)
        #expect(
            run.transcript.contains(
                "⚡  ‹fault respond on \(tag) SELECT: answered \(tag) SELECT with NO in place of the server's OK"
                    + " (rule: SELECT Archive -> respond NO [UNAVAILABLE] try later)›"))
        #expect(run.transcript.contains("P  \(tag) NO [UNAVAILABLE] try later"))
    }

    @Test func delayOnFetchHoldsTheResponseAndKeepsItsBytes() throws {
        let dovecot = try DovecotProcess(seed: 3)
        defer { dovecot.stop() }
        let client = """
            import imaplib, time, hashlib
            m = imaplib.IMAP4('127.0.0.1', PORT)
            m.login('alice', 'password')
            m.select('INBOX')
            t = time.monotonic()
            typ, data = m.fetch('2', '(BODY.PEEK[])')
            elapsed = time.monotonic() - t
            body = data[0][1]
            print(typ, len(body), hashlib.sha256(body).hexdigest(), elapsed >= 2.0, elapsed < 10)
            m.logout()
            """
        let direct = try runPython(client.replacingOccurrences(of: "PORT", with: "\(dovecot.imapPort)"))
        let run = try Self.proxied(["FETCH -> delay 2s"], dovecot: dovecot, client: client)
        // The same bytes as straight from Dovecot; only the time differs.
        #expect(direct.hasPrefix("OK ") && direct.hasSuffix(" False True\n"), "\(direct)")
        #expect(run.clientOutput == direct.replacingOccurrences(of: " False True\n", with: " True True\n"))
        let fetch = try #require(run.events.first { $0.kind == .command && $0["name"]?.stringValue == "FETCH" })
        let tag = try #require(fetch.body.tag)
        let done = try #require(run.events.first { $0.kind == .tagged && $0.body.tag == tag })
        #expect(done.dir == .server)
        #expect((done["latency_ms"]?.doubleValue ?? 0) >= 2000)
        let data = try #require(run.events.first { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" })
        #expect(data.time.milliseconds(since: fetch.time) >= 2000)
        #expect(
            run.faults.map { $0["detail"]?.stringValue ?? "" } == [
                "holding the server's bytes for 2s from \(tag) FETCH"
            ])
        #expect(run.faults.first.map { $0.time.milliseconds(since: fetch.time) < 2000 } == true)
    }

    /// A slow server: 20 messages at 50 KB/s arrive no faster than that, and byte for byte.
    @Test func throttleMetersTheDownload() throws {
        let dovecot = try DovecotProcess(seed: 20)
        defer { dovecot.stop() }
        let client = """
            import imaplib, time, hashlib
            m = imaplib.IMAP4('127.0.0.1', PORT)
            m.login('alice', 'password')
            m.select('INBOX')
            t = time.monotonic()
            typ, data = m.fetch('1:20', '(BODY.PEEK[])')
            elapsed = time.monotonic() - t
            bodies = [d[1] for d in data if isinstance(d, tuple)]
            total = sum(len(b) for b in bodies)
            print(typ, len(bodies), total, hashlib.sha256(b''.join(bodies)).hexdigest())
            print(elapsed >= (total - 5120) / 51200, elapsed < 30)
            m.logout()
            """
        let direct = try runPython(client.replacingOccurrences(of: "PORT", with: "\(dovecot.imapPort)"))
        let run = try Self.proxied(["FETCH -> throttle 50KB/s"], dovecot: dovecot, client: client)
        let firstLine = direct.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("OK 20 "))
        #expect(run.clientOutput == firstLine + "\nTrue True\n")
        #expect(
            run.faults.map { $0["detail"]?.stringValue ?? "" }.first?.hasPrefix(
                "throttling the server's bytes to 51200")
                == true)
    }

    @Test func byeDuringIdleReachesTheClient() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let run = try Self.proxied(
            ["IDLE -> bye \"maintenance\""], dovecot: dovecot,
            client: """
                import socket
                s = socket.create_connection(('127.0.0.1', PORT), timeout=10)
                f = s.makefile('rb')
                def until(tag):
                    while True:
                        line = f.readline()
                        if line.startswith(tag) or not line:
                            return
                f.readline()
                s.sendall(b'a LOGIN alice password\\r\\n'); until(b'a ')
                s.sendall(b'b SELECT INBOX\\r\\n'); until(b'b ')
                s.sendall(b'c IDLE\\r\\n')
                print(repr(f.read()))
                """)
        #expect(run.clientOutput == "b'* BYE maintenance\\r\\n'\n")
        #expect(run.faults.count == 1)
        #expect(run.faults.first?["detail"]?.stringValue == "sent * BYE to the client and closed both legs at c IDLE")
        let bye = run.events.first { $0.kind == .untagged && $0["name"]?.stringValue == "BYE" }
        #expect(bye?.dir == .proxy)
        #expect(bye?["text"]?.stringValue == "maintenance")
        #expect(run.events.last?.kind == .sessionEnd)
    }

    /// `reset`: the client's socket gets a TCP RST, and so does Dovecot's; `stall`: the client
    /// waits, and its giving up is noticed.
    @Test func resetAndStall() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let client = """
            import socket
            s = socket.create_connection(('127.0.0.1', PORT), timeout=3)
            f = s.makefile('rb')
            f.readline()
            s.sendall(b'a LOGIN alice password\\r\\n')
            print(f.readline().split(b' ')[1].decode())
            s.sendall(b'b NOOP\\r\\n')
            try:
                print(repr(f.readline()))
            except ConnectionResetError as e:
                print('reset', e.errno)
            except TimeoutError:
                print('timed out')
            """
        let reset = try Self.proxied(["NOOP -> reset"], dovecot: dovecot, client: client)
        #expect(reset.clientOutput == "OK\nreset 104\n")
        #expect(reset.events.last?["reason"]?.stringValue == "imapscope reset both legs: a fault rule")
        #expect(reset.faults.map { $0["detail"]?.stringValue ?? "" } == ["reset both legs at b NOOP"])
        let stall = try Self.proxied(["NOOP -> stall"], dovecot: dovecot, client: client)
        #expect(stall.clientOutput == "OK\ntimed out\n")
        #expect(
            stall.faults.map { $0["detail"]?.stringValue ?? "" } == [
                "stopped relaying both ways at b NOOP; the connections stay open"
            ])
        #expect(
            stall.events.last?["reason"]?.stringValue
                == "the client closed the connection without LOGOUT; imapscope closed the server leg")
    }

    /// Faults apply to the plaintext inside TLS: a client's STARTTLS is intercepted on both legs.
    @Test func faultsApplyAfterStartTLS() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let rules = ["NOOP #2 -> respond NO [UNAVAILABLE] later", "NOOP #3 -> inject \"* 7 EXISTS\""]
        let client = """
            import imaplib, ssl
            m = imaplib.IMAP4('127.0.0.1', PORT)
            m.starttls(ssl_context=ssl.create_default_context(cafile='CAFILE'))
            m.login('alice', 'password')
            m.select('INBOX')
            r = [m.noop() for _ in range(3)]
            print(r[0][0], r[1], r[2][0], m.response('EXISTS'))
            m.logout()
            """
        let run = try Self.proxied(rules, dovecot: dovecot, client: client, verifiedUpstream: true)
        #expect(run.clientOutput == "OK ('NO', [b'[UNAVAILABLE] later']) OK ('EXISTS', [b'1', b'7'])\n")
        let established = run.events.filter { $0.kind == .tls && $0["phase"]?.stringValue == "established" }
        #expect(established.count == 2)
        #expect(run.faults.map { $0["action"]?.stringValue ?? "" } == ["respond", "inject"])
    }

    /// `p=0.2 seed=1`: two runs of the same client through two proxies fault the same NOOPs,
    /// and the log says which.
    @Test func aSeededProbabilityFaultsTheSameCommandsTwice() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let client = """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', PORT)
            m.login('alice', 'password')
            print(' '.join(str(i) for i in range(1, 61) if m.noop()[0] == 'NO'))
            m.logout()
            """
        let rule = "NOOP p=0.2 seed=1 -> respond NO [UNAVAILABLE] flaky"
        let first = try Self.proxied([rule], dovecot: dovecot, client: client)
        let second = try Self.proxied([rule], dovecot: dovecot, client: client)
        #expect(first.clientOutput == second.clientOutput)
        let positions = first.clientOutput.split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect((4...24).contains(positions.count), "\(positions.count) of 60 at p=0.2")
        // The log's faults are those NOOPs: the n-th NOOP's tag for each position.
        func faultedNoops(_ run: Run) -> [Int] {
            let noops = run.events.filter { $0.kind == .command && $0["name"]?.stringValue == "NOOP" }.compactMap(
                \.body.tag)
            return run.faults.compactMap { f in
                f["tag"]?.stringValue.flatMap { noops.firstIndex(of: $0) }.map { $0 + 1 }
            }
        }
        #expect(faultedNoops(first) == positions)
        #expect(faultedNoops(second) == positions)
    }

    /// A rule on LOGIN (even one whose pattern is the password) never puts the password in the
    /// log, the transcript or stderr.
    @Test func aRuleOnLoginLeaksNoPassword() throws {
        let dovecot = try DovecotProcess(seed: 1)
        defer { dovecot.stop() }
        let run = try Self.proxied(
            ["LOGIN alice password -> inject \"* OK [ALERT] fault here\"", "LOGIN -> delay 1s"], dovecot: dovecot,
            client: """
                import imaplib
                m = imaplib.IMAP4('127.0.0.1', PORT)
                print(m.login('alice', 'password')[0])
                m.logout()
                """)
        #expect(run.clientOutput == "OK\n")
        #expect(run.faults.map { $0["action"]?.stringValue ?? "" } == ["delay", "inject"])
        #expect(run.faults.first?["rule"]?.stringValue == "LOGIN -> delay 1s")
        #expect(run.faults.last?["rule"]?.stringValue == "LOGIN ‹pattern hidden› -> inject \"* OK [ALERT] fault here\"")
        #expect(run.stderr.contains("fault rule 1: LOGIN ‹pattern hidden› -> inject"))
        let scan = SecretScan("password")
        #expect(scan.leaks(in: run.log).isEmpty, "\(scan.leaks(in: run.log))")
        #expect(scan.leaks(in: run.transcript).isEmpty)
        #expect(scan.leaks(in: run.stderr).isEmpty)
    }

    @Test func aRuleThatCannotParseIsRefusedWithItsColumn() throws {
        let r = try run(
            Binary.imapscope,
            [
                "proxy", "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:9", "--fault",
                "SELECT -> explode",
            ])
        #expect(r.status != 0)
        #expect(
            r.stderr.contains(
                "--fault 'SELECT -> explode': column 11: unknown action 'explode': expected delay, respond, bye, reset,"
                    + " cut, throttle, stall or inject"), "\(r.stderr)")
        let desync = try run(
            Binary.imapscope,
            [
                "proxy", "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:9", "--fault",
                "EXPUNGE -> respond NO x",
            ])
        #expect(desync.status != 0)
        #expect(
            desync.stderr.contains("column 1: respond to EXPUNGE would desynchronise the two legs"), "\(desync.stderr)")
        // --faults FILE: comments and blank lines skipped, `#3` kept, the bad line named.
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# flaky server\n\nSELECT #3 -> delay 2s  # the third SELECT\nFETCH -> throttle fast\n".write(
            toFile: dir + "/rules", atomically: true, encoding: .utf8)
        let file = try run(
            Binary.imapscope,
            ["proxy", "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:9", "--faults", dir + "/rules"])
        #expect(file.status != 0)
        #expect(
            file.stderr.contains("--faults \(dir)/rules:4: column 19: expected a rate such as 50KB/s"), "\(file.stderr)"
        )
    }
}

/// mbsync (isync) through a proxy that cuts its first message download, then again through one
/// with no faults: the first run fails cleanly, the second completes the sync.
@Suite("Fault injection with mbsync", .serialized)
struct FaultInjectionMbsyncTests {
    static func config(port: Int, maildir: String) -> String {
        """
        IMAPAccount dc
        Host 127.0.0.1
        Port \(port)
        User alice
        Pass password
        SSLType None
        AuthMechs LOGIN

        IMAPStore remote
        Account dc

        MaildirStore local
        Path \(maildir)/
        Inbox \(maildir)/INBOX

        Channel sync
        Far :remote:
        Near :local:
        Patterns INBOX
        Create Near
        Sync Pull
        SyncState *

        """
    }

    /// `mbsync -a` into `dir`'s Maildir (kept between runs, with its sync state).
    static func sync(port: Int, dir: String) throws -> ProcessResult {
        try FileManager.default.createDirectory(atPath: dir + "/mail", withIntermediateDirectories: true)
        try config(port: port, maildir: dir + "/mail").write(
            toFile: dir + "/mbsyncrc", atomically: true, encoding: .utf8)
        return try run(
            "/usr/bin/mbsync", ["-c", dir + "/mbsyncrc", "-a"], environment: ["HOME": dir, "PATH": "/usr/bin:/bin"])
    }

    /// The messages of the Maildir's INBOX, sorted, without mbsync's own `X-TUID:` line (new every run).
    static func messages(_ dir: String) throws -> [Data] {
        var out: [Data] = []
        for sub in ["cur", "new"] {
            let d = dir + "/mail/INBOX/" + sub
            for f in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] {
                let data = try Data(contentsOf: URL(fileURLWithPath: d + "/" + f))
                var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
                lines.removeAll { $0.starts(with: Array("X-TUID: ".utf8)) }
                out.append(Data(lines.joined(separator: [0x0A])))
            }
        }
        return out.sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test func aCutDownloadFailsCleanlyAndTheNextSyncCompletes() throws {
        let dovecot = try DovecotProcess(seed: 20)
        defer { dovecot.stop() }
        let base = try FaultInjectionTests.directory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let direct = try Self.sync(port: dovecot.imapPort, dir: base + "/direct")
        #expect(direct.status == 0, "\(direct.stderr)")
        let expected = try Self.messages(base + "/direct")
        #expect(expected.count == 20)

        let rule = "UID FETCH * (BODY.PEEK[]) #1 -> cut"
        let cutProxy = try ProxyBinaryProcess(
            ["--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)"]
                + ["--log", base + "/cut.jsonl", "--fault", rule])
        let cut = try Self.sync(port: cutProxy.ports[0], dir: base + "/proxied")
        let (cutStatus, _) = cutProxy.stop()
        #expect(cutStatus == 0)
        #expect(cut.status == 1, "\(cut.stdout)\(cut.stderr)")
        #expect(cut.stderr.contains("IMAP error: unexpected EOF from 127.0.0.1"), "\(cut.stderr)")
        #expect(try Self.messages(base + "/proxied").isEmpty)
        let log = String(decoding: try Data(contentsOf: URL(fileURLWithPath: base + "/cut.jsonl")), as: UTF8.self)
        let events = try log.split(separator: "\n").map { try Event(json: JSONParser.parse(Array($0.utf8))) }
        let faults = events.filter { $0.kind == .fault }
        #expect(faults.map { $0["action"]?.stringValue ?? "" } == ["hide-compress", "cut"])
        // mbsync's first download is of UID 1 (2,828 bytes): cut after 1,414 of them.
        let fetch = try #require(
            events.first { $0.kind == .command && $0.body.line?.hasSuffix("UID FETCH 1 (BODY.PEEK[])") == true })
        let tag = try #require(fetch.body.tag)
        #expect(
            faults.last?["detail"]?.stringValue
                == "closed both legs half-way into a 2828-byte literal of the response to \(tag) UID FETCH")
        #expect(events.last?["reason"]?.stringValue == "imapscope closed both legs: a fault rule")
        #expect(!events.contains { $0.kind == .compress }, "COMPRESS was hidden from mbsync")

        let clean = try ProxyBinaryProcess(
            ["--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)"])
        let again = try Self.sync(port: clean.ports[0], dir: base + "/proxied")
        _ = clean.stop()
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Self.messages(base + "/proxied") == expected)
    }
}
