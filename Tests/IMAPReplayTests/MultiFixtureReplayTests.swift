import Foundation
import IMAPTestSupport
import Testing

/// A client with two connections at once (one idles while the other appends a message) is
/// recorded through the proxy with --fixture, then replayed from the directory the proxy wrote:
/// both sessions are served concurrently, each by the fixture it follows, IDLE completes only
/// after DONE, and the client gets what it got from Dovecot.
@Suite("replay of several fixtures", .serialized)
struct MultiFixtureReplayTests {
    static let client = """
        import imaplib, socket, sys, threading
        port = int(sys.argv[1])
        idling = threading.Event(); results = {}
        def idler():
            s = socket.create_connection(('127.0.0.1', port)); s.settimeout(30); f = s.makefile('rb')
            f.readline()
            def until(tag):
                while True:
                    l = f.readline()
                    if not l or l.startswith(tag): return l
            s.sendall(b'b1 LOGIN alice password\\r\\n'); until(b'b1 ')
            s.sendall(b'b2 SELECT INBOX\\r\\n'); until(b'b2 ')
            s.sendall(b'b3 IDLE\\r\\n'); cont = f.readline()
            idling.set()
            pushed = until(b'* 3 EXISTS')
            s.sendall(b'DONE\\r\\n'); done = until(b'b3 ')
            s.sendall(b'b4 LOGOUT\\r\\n'); until(b'b4 '); s.close()
            results['idle'] = '%s|%s|%s' % (cont[:1].decode(), pushed.strip().decode(), done.split()[1].decode())
        def appender():
            m = imaplib.IMAP4('127.0.0.1', port); m.login('alice', 'password')
            idling.wait(30)
            m.append('INBOX', None, None, b'Subject: pushed\\r\\n\\r\\nwhile idling\\r\\n')
            typ, data = m.select('INBOX'); typ2, msg = m.fetch('3', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'); m.logout()
            results['append'] = '%s %s %s' % (typ, data[0].decode(), msg[0][1].strip().decode())
        ts = [threading.Thread(target=idler), threading.Thread(target=appender)]
        [t.start() for t in ts]; [t.join(60) for t in ts]
        print(results.get('idle'), results.get('append'))
        """

    @Test func aTwoConnectionClientWithIdleReplaysWhole() throws {
        let dir = NSTemporaryDirectory() + "imapscope-multi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/fixtures", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/client.py"
        try Self.client.write(toFile: script, atomically: true, encoding: .utf8)
        let direct: String
        do {
            let dovecot = try DovecotProcess(seed: 2)
            defer { dovecot.stop() }
            let proxy = try ProxyBinaryProcess([
                "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)",
                "--ca-dir", dir + "/ca", "--fixture", dir + "/fixtures/s.fixture",
            ])
            direct = try run("/usr/bin/env", ["python3", script, "\(proxy.ports[0])"]).stdout
            let (status, stderr) = proxy.stop()
            #expect(status == 0, "\(stderr)")
        }
        #expect(direct == "+|* 3 EXISTS|OK OK 3 Subject: pushed\n", "\(direct)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/fixtures").sorted()
        #expect(files.count == 2 && files.contains("s.fixture"), "\(files)")

        let replay = try ReplayProcess(fixture: dir + "/fixtures")
        let replayed = try run("/usr/bin/env", ["python3", script, "\(replay.port)"]).stdout
        let (status, stderr) = replay.wait()
        #expect(replayed == direct)
        #expect(status == 0, "\(stderr)")
        let ran = stderr.split(separator: "\n").filter { $0.contains(" ran the fixture ") }
        #expect(ran.count == 2, "\(stderr)")
        // Each fixture was followed by one session.
        #expect(Set(ran.compactMap { $0.split(separator: "/").last }).count == 2, "\(stderr)")
    }
}
