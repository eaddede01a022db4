import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// mbsync (isync 1.4.4) pulls a 20-message INBOX from Dovecot through the proxy into a
/// fixture; a fresh mbsync against `imapscope replay` of it must produce the same Maildir.
/// Dovecot offers COMPRESS=DEFLATE and mbsync 1.4.4 always uses it (it has no option to turn it
/// off), so the replay runs DEFLATE itself after the recorded COMPRESS.
@Suite("Replay with mbsync", .serialized)
struct MbsyncReplayTests {
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

    /// Runs `mbsync -a` into a fresh Maildir; returns the exit status and the messages' contents, sorted.
    static func sync(port: Int, name: String) throws -> (status: Int32, output: String, messages: [Data]) {
        let dir = try temporaryDirectory(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = dir + "/mbsyncrc"
        try FileManager.default.createDirectory(atPath: dir + "/mail", withIntermediateDirectories: true)
        try config(port: port, maildir: dir + "/mail").write(toFile: rc, atomically: true, encoding: .utf8)
        let r = try run("/usr/bin/mbsync", ["-c", rc, "-a"], environment: ["HOME": dir, "PATH": "/usr/bin:/bin"])
        var messages: [Data] = []
        for sub in ["cur", "new"] {
            let d = dir + "/mail/INBOX/" + sub
            for f in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] {
                messages.append(withoutTUID(try Data(contentsOf: URL(fileURLWithPath: d + "/" + f))))
            }
        }
        messages.sort { $0.lexicographicallyPrecedes($1) }
        return (r.status, r.stdout + r.stderr, messages)
    }

    /// mbsync adds `X-TUID: <random>` to each message it stores (its own bookkeeping, new
    /// every run); everything else must be byte-identical.
    static func withoutTUID(_ d: Data) -> Data {
        var lines = d.split(separator: 0x0A, omittingEmptySubsequences: false)
        if let i = lines.firstIndex(where: { $0.starts(with: Array("X-TUID: ".utf8)) }) { lines.remove(at: i) }
        return Data(lines.joined(separator: [0x0A]))
    }

    @Test func mbsyncAgainstTheReplayGivesTheSameMaildir() throws {
        let dovecot = try DovecotProcess(seed: 20)
        let recorder: FixtureRecorder
        let recorded: (status: Int32, output: String, messages: [Data])
        do {
            defer { dovecot.stop() }
            recorder = try FixtureRecorder(upstreamPort: dovecot.imapPort)
            recorded = try Self.sync(port: recorder.port, name: "mbsync-record")
        }
        let (path, text, events) = try recorder.finish(name: "mbsync")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(recorded.status == 0, "\(recorded.output)")
        #expect(recorded.messages.count == 20)
        #expect(events.contains { $0.kind == .compress })
        #expect(
            text.contains("\r\n# imapscope: decompressed COMPRESS=DEFLATE active; the lines below are inflated\r\n"))

        let replay = try ReplayProcess(fixture: path)
        let replayed = try Self.sync(port: replay.port, name: "mbsync-replay")
        let (status, stderr) = replay.wait()
        #expect(replayed.status == 0, "\(replayed.output)")
        #expect(status == 0, "\(stderr)")
        #expect(replayed.messages.count == 20)
        #expect(replayed.messages == recorded.messages)

    }
}
