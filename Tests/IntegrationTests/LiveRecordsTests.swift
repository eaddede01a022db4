import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `--log` and `--transcript` are live: a session's events are in the files while it is still
/// open, and a proxy killed with SIGKILL has lost none of the lines of a session that ended.
@Suite("live proxy records", .serialized)
struct LiveRecordsTests {
    /// The complete lines of a file (a line still being written is left out).
    static func completeLines(_ path: String) -> [String] {
        let text = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // after the last newline: empty, or a line not yet ended
        return lines
    }

    static func events(_ path: String) throws -> [Event] {
        try completeLines(path).map { try Event(json: JSONParser.parse(Array($0.utf8))) }
    }

    @Test func theLogFollowsAnOpenSessionAndSurvivesSIGKILL() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-live-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/log.jsonl"
        let transcript = dir + "/transcript.txt"
        let proxy = try ProxyBinaryProcess([
            "--listen", "imap://127.0.0.1:0", "--upstream", "imap://127.0.0.1:\(dovecot.imapPort)",
            "--ca-dir", dir + "/ca", "--log", log, "--transcript", transcript,
        ])
        let client = try PythonProcess(
            """
            import imaplib, sys
            m = imaplib.IMAP4('127.0.0.1', \(proxy.ports[0]))
            m.login('alice', 'password')
            print('logged in', flush=True)
            sys.stdin.readline()
            m.select('INBOX')
            m.logout()
            print('logged out', flush=True)
            """)
        #expect(client.firstLine == "logged in")
        // Logged in, connected, not logged out: LOGIN's command and its OK are in the log already.
        var open: [Event] = []
        let loginSeen = waitUntil(seconds: 10) {
            open = (try? Self.events(log)) ?? []
            return open.contains { $0.kind == .tagged && $0["command"]?.stringValue == "LOGIN" }
        }
        #expect(loginSeen, "\(open.map(summary))")
        #expect(open.contains { $0.kind == .command && $0["name"]?.stringValue == "LOGIN" })
        #expect(!open.contains { $0.kind == .sessionEnd })
        #expect(
            waitUntil(seconds: 10) { Self.completeLines(transcript).contains { $0.contains("LOGIN alice ‹redacted") } },
            "\(Self.completeLines(transcript))")

        client.send("go on")
        #expect(client.finish() == "logged out\n")
        // The session's end reaches the file when it happens, not at exit.
        var ended: [Event] = []
        #expect(
            waitUntil(seconds: 10) {
                ended = (try? Self.events(log)) ?? []
                return ended.contains { $0.kind == .sessionEnd }
            })
        kill(proxy.pid, SIGKILL)
        _ = proxy.stop(waitingForConnectionsToClose: 0)
        let after = try Self.events(log)
        #expect(summaries(after) == summaries(ended))
        #expect(
            after.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" } == [
                "CAPABILITY", "LOGIN", "SELECT", "LOGOUT",
            ])
        #expect(
            secretScanForAlice.leaks(
                in: String(decoding: try Data(contentsOf: URL(fileURLWithPath: log)), as: UTF8.self)
            ).isEmpty)
    }
}
