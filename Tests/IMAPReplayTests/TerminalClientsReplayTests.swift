import Foundation
import IMAPTestSupport
import Testing

/// fetchmail (STARTTLS on a plaintext listener) and getmail6 (implicit TLS) recorded through the
/// proxy binary with --fixture, then run against `imapscope replay` of their own recording: each
/// gets the same messages as through the proxy, and the replay finds no mismatch.
@Suite("terminal clients against replay of their recordings", .serialized)
struct TerminalClientsReplayTests {
    @Test(arguments: ["fetchmail", "getmail"])
    func aClientReplaysItsOwnRecording(client: String) throws {
        let dir = NSTemporaryDirectory() + "imapscope-client-replay-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let implicitTLS = client == "getmail"
        let listen = implicitTLS ? "imaps://127.0.0.1:0" : "imap://127.0.0.1:0"
        let cafile = dir + "/ca/ca.pem"
        func runClient(_ port: Int) throws -> [String] {
            implicitTLS
                ? try MailClients.getmail(port: port, cafile: cafile)
                : try MailClients.fetchmail(port: port, cafile: cafile)
        }
        let recorded: [String]
        do {
            let dovecot = try DovecotProcess(seed: 2)
            defer { dovecot.stop() }
            let proxy = try ProxyBinaryProcess([
                "--listen", listen, "--upstream", "imap://localhost:\(dovecot.imapPort)",
                "--upstream-ca", dovecot.directory + "/server.crt", "--ca-dir", dir + "/ca",
                "--fixture", dir + "/session.fixture",
            ])
            recorded = try runClient(proxy.ports[0])
            let (status, stderr) = proxy.stop()
            #expect(status == 0, "\(stderr)")
        }
        #expect(recorded.count == 2)
        let replay = try ReplayProcess(
            fixture: dir + "/session.fixture", listen: listen, extra: ["--ca-dir", dir + "/ca"])
        let replayed = try runClient(replay.port)
        let (status, stderr) = replay.wait()
        #expect(replayed == recorded)
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains(" ran the fixture"), "\(stderr)")
    }
}
