import Foundation
import IMAPTestSupport
import Testing

/// offlineimap syncs two folders over two connections at once, directly from Dovecot and through
/// the proxy binary: the same messages in the same folders. Which of its connections syncs which
/// folder is up to its threads, run by run, so a recording of two connections cannot be replayed
/// connection for connection; a single-connection sync recorded through the proxy is replayed by
/// `imapscope replay` of the directory the proxy wrote, with the same messages again.
@Suite("offlineimap through the proxy and from replay", .serialized)
struct OfflineimapReplayTests {
    @Test func offlineimapGetsTheSameMessagesDirectlyThroughTheProxyAndFromReplay() throws {
        let dir = NSTemporaryDirectory() + "imapscope-offlineimap-replay-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/fixtures", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let direct: [String]
        let proxied: [String]
        do {
            let dovecot = try DovecotProcess(seed: 2)
            defer { dovecot.stop() }
            // A second folder, so that offlineimap syncs two at once.
            let made = try runPython(
                """
                import imaplib
                m = imaplib.IMAP4('127.0.0.1', \(dovecot.imapPort)); m.login('alice', 'password')
                print(m.create('Archive')[0], m.append('Archive', None, None, b'Subject: archived\\r\\n\\r\\nold\\r\\n')[0])
                m.logout()
                """)
            #expect(made == "OK OK\n")
            direct = try MailClients.offlineimap(port: dovecot.imapsPort, cafile: dovecot.directory + "/server.crt")
            let proxy = try ProxyBinaryProcess([
                "--listen", "imaps://127.0.0.1:0", "--upstream", "imap://localhost:\(dovecot.imapPort)",
                "--ca-dir", dir + "/ca", "--fixture", dir + "/fixtures/s.fixture",
            ])
            proxied = try MailClients.offlineimap(port: proxy.ports[0], cafile: dir + "/ca/ca.pem")
            let (status, stderr) = proxy.stop()
            #expect(status == 0, "\(stderr)")
            #expect(stderr.contains("fixture \(dir)/fixtures/s.p"), "two connections, two fixtures: \(stderr)")
            try FileManager.default.removeItem(atPath: dir + "/fixtures")
            try FileManager.default.createDirectory(atPath: dir + "/fixtures", withIntermediateDirectories: true)
            let recorder = try ProxyBinaryProcess([
                "--listen", "imaps://127.0.0.1:0", "--upstream", "imap://localhost:\(dovecot.imapPort)",
                "--ca-dir", dir + "/ca", "--fixture", dir + "/fixtures/s.fixture",
            ])
            let recorded = try MailClients.offlineimap(
                port: recorder.ports[0], cafile: dir + "/ca/ca.pem", connections: 1)
            #expect(recorded == direct)
            #expect(recorder.stop().status == 0)
        }
        #expect(direct.count == 3 && direct.filter { $0.hasPrefix("Archive ") }.count == 1, "\(direct.count)")
        #expect(proxied == direct)
        let fixtures = try FileManager.default.contentsOfDirectory(atPath: dir + "/fixtures")
        #expect(!fixtures.isEmpty, "\(fixtures)")

        let replay = try ReplayProcess(
            fixture: dir + "/fixtures", listen: "imaps://127.0.0.1:0", extra: ["--ca-dir", dir + "/ca"])
        let replayed = try MailClients.offlineimap(port: replay.port, cafile: dir + "/ca/ca.pem", connections: 1)
        let (status, stderr) = replay.wait()
        #expect(replayed == direct)
        #expect(status == 0, "\(stderr)")
        #expect(
            stderr.split(separator: "\n").filter { $0.contains(" ran the fixture") }.count == fixtures.count,
            "\(stderr)")
    }
}
