import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Record Python imaplib against a real Dovecot through the proxy, then run the same script
/// against `imapscope replay` of that fixture.
@Suite("Replay with imaplib", .serialized)
struct ImaplibReplayTests {
    /// The client script; `select` is the mailbox it selects (the changed-command case).
    static func script(port: Int, select: String = "INBOX") -> String {
        """
        import imaplib, sys
        m = imaplib.IMAP4('127.0.0.1', \(port))
        try:
            m.login('alice', 'password')
            typ, data = m.select('\(select)')
            print('select', typ, data)
            typ, data = m.fetch('1:3', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
            print('fetch', typ, data)
            typ, data = m.search(None, 'ALL')
            print('search', typ, data)
            typ, data = m.store('2', '+FLAGS', '\\\\Flagged')
            print('store', typ, data)
            typ, data = m.append('INBOX', '(\\\\Seen)', None, b'Subject: appended\\r\\n\\r\\nhello\\r\\n')
            print('append', typ, data)
            typ, data = m.list()
            print('list', typ, data)
            typ, data = m.noop()
            print('noop', typ, data)
            m.logout()
        except imaplib.IMAP4.error as e:
            print('error', e)
        """
    }

    @Test func replayedSessionGivesTheSameResults() throws {
        let dovecot = try DovecotProcess(seed: 3)
        let recorder: FixtureRecorder
        let recorded: String
        do {
            defer { dovecot.stop() }
            recorder = try FixtureRecorder(upstreamPort: dovecot.imapPort)
            recorded = try runPython(Self.script(port: recorder.port))
        }
        let (path, text, _) = try recorder.finish(name: "imaplib")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(recorded.hasPrefix("select OK [b'3']\n"))
        #expect(!recorded.contains("error"))
        // Normalized: tags a1…, no addresses, the password a marker.
        #expect(text.hasPrefix("# imapscope fixture (normalized: tags renumbered, secrets redacted)\r\nS: * OK "))
        #expect(text.contains("\r\nC: a1 CAPABILITY\r\n"))
        #expect(text.contains("\r\nC: a2 LOGIN alice ‹redacted:"))
        #expect(!text.contains("password"))

        let replay = try ReplayProcess(fixture: path)
        let replayed = try runPython(Self.script(port: replay.port))
        let (status, stderr) = replay.wait()
        #expect(replayed == recorded)
        #expect(status == 0)
        #expect(stderr.hasPrefix("imapscope replay: session from 127.0.0.1:"))
        #expect(stderr.hasSuffix(" ran the fixture\n"))
    }

    @Test func changedCommandFailsAndIsNamed() throws {
        let dovecot = try DovecotProcess(seed: 3)
        let recorder: FixtureRecorder
        do {
            defer { dovecot.stop() }
            recorder = try FixtureRecorder(upstreamPort: dovecot.imapPort)
            _ = try runPython(Self.script(port: recorder.port))
        }
        let (path, text, _) = try recorder.finish(name: "imaplib-changed")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let selectLine = text.components(separatedBy: "\r\n").firstIndex { $0.hasPrefix("C: a3 SELECT INBOX") }.map {
            $0 + 1
        }
        #expect(selectLine != nil)
        // The recorded password's marker, as the fixture holds it.
        let marker =
            text.components(separatedBy: "C: a2 LOGIN alice ").dropFirst().first.map {
                $0.components(separatedBy: "\r\n")[0]
            } ?? "?"
        #expect(marker.hasPrefix("‹redacted:"))

        let replay = try ReplayProcess(fixture: path)
        let replayed = try runPython(Self.script(port: replay.port, select: "Archive"))
        let (status, stderr) = replay.wait()
        #expect(
            replayed.hasPrefix(
                "error SELECT command error: BAD [b'[CLIENTBUG] imapscope replay: expected \"SELECT INBOX\" but got \"SELECT Archive\"']"
            ))
        #expect(status == 1)
        let lines = stderr.split(separator: "\n").map(String.init)
        #expect(
            lines.first
                == "imapscope replay: client line 3 differs from the fixture (fixture line \(selectLine ?? 0)): expected SELECT INBOX but got SELECT Archive"
        )
        #expect(
            Array(lines.dropFirst().prefix(7)) == [
                "--- expected (fixture)", "+++ received (client)", "@@ client line 3 @@",
                // The fixture's password position is hidden too (a hand-written one may hold it in clear).
                " CAPABILITY", " LOGIN alice ‹redacted›", "-SELECT INBOX", "+SELECT Archive",
            ])
        #expect(lines.count == 9)
        #expect(
            lines.last?.range(
                of: #"^imapscope replay: session from 127\.0\.0\.1:\d+ failed: 1 mismatch$"#,
                options: .regularExpression) != nil)
    }

    @Test func badArgumentsAreClearErrors() throws {
        let missing = try run(Binary.imapscope, ["replay", "/nonexistent.fixture", "--listen", "imap://127.0.0.1:0"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: /nonexistent.fixture: no such file\n")
        let path = NSTemporaryDirectory() + "imapscope-bad-\(UUID().uuidString).fixture"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "garbage\n".write(toFile: path, atomically: true, encoding: .utf8)
        let bad = try run(Binary.imapscope, ["replay", path, "--listen", "imap://127.0.0.1:0"])
        #expect(bad.status == 1)
        #expect(bad.stderr == "Error: \(path): line 1: expected 'S:' or 'C:' at the start of the line\n")
        let good = DovecotProcess.repository.appendingPathComponent("Captures/idle-delivery.transcript").path
        let url = try run(Binary.imapscope, ["replay", good, "--listen", "ftp://127.0.0.1"])
        #expect(url.status == 1)
        #expect(url.stderr == "Error: 'ftp://127.0.0.1': a listener is imap://host:port or imaps://host:port\n")
        let starttls = try run(Binary.imapscope, ["replay", good, "--listen", "imap+starttls://127.0.0.1:0"])
        #expect(starttls.status == 1)
        #expect(
            starttls.stderr
                == "Error: 'imap+starttls://127.0.0.1:0': a listener is imap://host:port or imaps://host:port"
                + " (imap+starttls:// is for --upstream only)\n")
    }

    @Test func earlyLogoutExitsZero() throws {
        let path = NSTemporaryDirectory() + "imapscope-early-\(UUID().uuidString).fixture"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try [
            "S: * OK [CAPABILITY IMAP4rev1] ready", "C: a1 CAPABILITY", "S: * CAPABILITY IMAP4rev1", "S: a1 OK done",
            "C: a2 NOOP", "S: a2 OK done", "C: a3 LOGOUT", "S: * BYE bye", "S: a3 OK bye",
        ].map { $0 + "\r\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
        let replay = try ReplayProcess(fixture: path)
        let out = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(replay.port))
            print(m.logout())
            """)
        let (status, stderr) = replay.wait()
        #expect(out == "('BYE', [b'bye'])\n")
        #expect(status == 0)
        #expect(stderr.hasSuffix(" ran the fixture (logged out with 1 recorded client lines left)\n"))
    }
}

extension ImaplibReplayTests {
    /// The whole loop with the binaries a user runs: `imapscope proxy --fixture` records imaplib
    /// against Dovecot, `imapscope replay` plays that fixture back, the same script gives the
    /// same results and the replay exits 0.
    @Test func theProxysFixtureReplays() throws {
        let dir = NSTemporaryDirectory() + "imapscope-loop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorded: String
        do {
            let dovecot = try DovecotProcess(seed: 3)
            defer { dovecot.stop() }
            let proxy = try ProxyBinaryProcess([
                "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)",
                "--ca-dir", dir + "/ca", "--fixture", dir + "/session.fixture",
            ])
            recorded = try runPython(Self.script(port: proxy.ports[0]))
            #expect(proxy.stop().status == 0)
        }
        #expect(recorded.hasPrefix("select OK [b'3']\n") && !recorded.contains("error"))
        let replay = try ReplayProcess(fixture: dir + "/session.fixture")
        let replayed = try runPython(Self.script(port: replay.port))
        let (status, stderr) = replay.wait()
        #expect(replayed == recorded)
        #expect(status == 0, "\(stderr)")
    }
}
