import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope diff` on real conversations: a capture with itself, two Dovecot runs, and the
/// same client (imaplib, mbsync) against Dovecot and against Cyrus.
@Suite("Diff of real sessions", .serialized)
struct DiffLiveTests {
    static func script(port: Int) -> String {
        """
        import imaplib
        m = imaplib.IMAP4('127.0.0.1', \(port))
        m.login('alice', 'password')
        m.select('INBOX')
        m.fetch('1:3', '(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        m.search(None, 'ALL')
        m.store('2', '+FLAGS', '\\\\Flagged')
        m.logout()
        """
    }

    /// Runs the script through a recording proxy in front of `port`; returns the fixture's path.
    static func record(upstream port: Int, name: String) throws -> String {
        let recorder = try FixtureRecorder(upstreamPort: port)
        _ = try runPython(script(port: recorder.port))
        return try recorder.finish(name: name).path
    }

    static func diff(_ args: [String]) throws -> ProcessResult {
        try run(Binary.imapscope, ["diff"] + args + ["--color", "never"])
    }

    /// The `-`/`+` lines of a diff, capability lists and Cyrus's random MAILBOXID shortened.
    static func changedLines(_ diff: String) -> [String] {
        diff.split(separator: "\n").map(String.init)
            .filter { ($0.hasPrefix("-") || $0.hasPrefix("+")) && !$0.hasPrefix("---") && !$0.hasPrefix("+++") }
            .map {
                $0.replacingOccurrences(
                    of: #"CAPABILITY IMAP4rev1[^\]]*"#, with: "CAPABILITY …", options: .regularExpression
                )
                .replacingOccurrences(
                    of: #"MAILBOXID \([a-z0-9]+\)"#, with: "MAILBOXID (…)", options: .regularExpression)
            }
    }

    @Test func captureWithItselfIsEmpty() throws {
        let pcap = DovecotProcess.repository.appendingPathComponent("Captures/pcap-mbsync.pcap").path
        let r = try Self.diff([pcap, pcap])
        #expect(r.status == 0)
        #expect(r.stdout == "")
        #expect(r.stderr == "")
    }

    /// A transcript and the JSON Lines `read` makes of it are the same conversation.
    @Test func transcriptAgainstItsJSONLines() throws {
        let transcript = DovecotProcess.repository.appendingPathComponent("Captures/idle-delivery.transcript").path
        let jsonl = NSTemporaryDirectory() + "imapscope-idle-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        let read = try run(Binary.imapscope, ["read", transcript, "--format", "jsonl", "--output", jsonl])
        #expect(read.status == 0)
        let r = try Self.diff([transcript, jsonl])
        #expect(r.status == 0)
        #expect(r.stdout == "")
    }

    /// `--color auto` colours on a terminal (a pty from script(1)) unless NO_COLOR is set.
    @Test func colourOnATerminalUnlessNoColor() throws {
        let a = DovecotProcess.repository.appendingPathComponent("Captures/idle-delivery.transcript").path
        let b = DovecotProcess.repository.appendingPathComponent("Captures/auth-plain.transcript").path
        let command = "\(Binary.imapscope) diff \(a) \(b) --context 0"
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        let tty = try run("/usr/bin/script", ["-qc", command, "/dev/null"], environment: env)
        #expect(
            tty.stdout.hasPrefix(
                "\u{1B}[1m--- \(a)\u{1B}[0m\r\n\u{1B}[1m+++ \(b)\u{1B}[0m\r\n\u{1B}[36m@@ -5,1 +5,3 @@\u{1B}[0m\r\n"))
        env["NO_COLOR"] = "1"
        let noColor = try run("/usr/bin/script", ["-qc", command, "/dev/null"], environment: env)
        #expect(noColor.stdout.hasPrefix("--- \(a)\r\n+++ \(b)\r\n@@ -5,1 +5,3 @@\r\n"))
        #expect(!noColor.stdout.contains("\u{1B}["))
        // A pipe gets no colour either; --color always forces it.
        #expect(!(try Self.diff([a, b])).stdout.contains("\u{1B}["))
        #expect(try run(Binary.imapscope, ["diff", a, b, "--color", "always"]).stdout.hasPrefix("\u{1B}[1m--- "))
    }

    @Test func unreadableInputExitsTwo() throws {
        let r = try Self.diff(["/nonexistent/a.pcap", "/nonexistent/b.pcap"])
        #expect(r.status == 2)
        #expect(r.stderr == "imapscope diff: /nonexistent/a.pcap: no such file\n")
        let bad = try Self.diff(["--ignore", "uidvalidity,colour", "/dev/null", "/dev/null"])
        #expect(bad.status == 2)
        #expect(
            bad.stderr
                == "imapscope diff: unknown --ignore value 'colour' (known: uidvalidity, uidnext, modseq, dates, greeting, id, text)\n"
        )
    }

    @Test func twoDovecotRunsDifferOnlyInUIDVALIDITY() throws {
        var paths: [String] = []
        for n in 1...2 {
            let dovecot = try DovecotProcess(seed: 3)
            defer { dovecot.stop() }
            paths.append(try Self.record(upstream: dovecot.imapPort, name: "dovecot\(n)"))
        }
        defer { for p in paths { try? FileManager.default.removeItem(atPath: p) } }
        let ignoring = try Self.diff(paths + ["--ignore", "uidvalidity,dates"])
        #expect(ignoring.status == 0)
        #expect(ignoring.stdout == "")
        // Without --ignore, the only difference is the mailbox's UIDVALIDITY (tags, times and
        // Dovecot's "(0.001 + 0.000 secs)" never count).
        let plain = try Self.diff(paths + ["--context", "0"])
        #expect(plain.status == 1)
        let changed = plain.stdout.split(separator: "\n").filter {
            $0.hasPrefix("-S:") || $0.hasPrefix("+S:") || $0.hasPrefix("-C:") || $0.hasPrefix("+C:")
        }
        #expect(changed.count == 2)
        #expect(
            changed.allSatisfy {
                $0.range(of: #"^[-+]S: \* OK \[UIDVALIDITY \d+\] UIDs valid$"#, options: .regularExpression) != nil
            })
    }

    @Test func dovecotAgainstCyrusShowsOnlyRealDifferences() throws {
        let dovecot = try DovecotProcess(seed: 3)
        let a: String
        do {
            defer { dovecot.stop() }
            a = try Self.record(upstream: dovecot.imapPort, name: "dovecot")
        }
        let cyrus = try CyrusProcess()
        let b: String
        do {
            defer { cyrus.stop() }
            try cyrus.seed(3)
            b = try Self.record(upstream: cyrus.port, name: "cyrus")
        }
        defer {
            try? FileManager.default.removeItem(atPath: a)
            try? FileManager.default.removeItem(atPath: b)
        }
        let r = try Self.diff([a, b, "--ignore", "uidvalidity,modseq,dates,greeting,text", "--context", "0"])
        #expect(r.status == 1)
        // The changed lines, capability lists and Cyrus's random MAILBOXID shortened: what the
        // two servers really say differently. Commands, FETCH data, SEARCH and the STORE result
        // (flags in another order) are equal; tags, times and the password marker never differ.
        #expect(
            Self.changedLines(r.stdout) == [
                "-S: * OK [CAPABILITY …] …",
                "+S: * OK [CAPABILITY …] …",
                "-S: * CAPABILITY …",
                "+S: * CAPABILITY …",
                "-S: * CAPABILITY …",
                "-S: (LOGIN) OK …",
                "+S: (LOGIN) OK [CAPABILITY …] …",
                "-S: * FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)",
                "-S: * OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)] …",
                "+S: * FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)",
                "+S: * OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)] …",
                "+S: * OK [HIGHESTMODSEQ …] …",
                "+S: * OK [MAILBOXID (…)] …",
                "+S: * OK [URLMECH INTERNAL] …",
                "+S: * OK [ANNOTATIONS 65536] …",
            ])
        #expect(!r.stdout.contains("C: "))
    }

    /// Records `mbsync -a` (20 messages pulled into an empty Maildir) through the proxy.
    static func recordMbsync(upstream port: Int, name: String) throws -> (path: String, status: Int32, output: String) {
        let recorder = try FixtureRecorder(upstreamPort: port)
        let r = try MbsyncReplayTests.sync(port: recorder.port, name: name)
        return (try recorder.finish(name: name).path, r.status, r.output)
    }

    @Test func mbsyncAgainstDovecotAndCyrus() throws {
        let dovecot = try DovecotProcess(seed: 20)
        let a: (path: String, status: Int32, output: String)
        do {
            defer { dovecot.stop() }
            a = try Self.recordMbsync(upstream: dovecot.imapPort, name: "mbsync-dovecot")
        }
        let cyrus = try CyrusProcess()
        let b: (path: String, status: Int32, output: String)
        do {
            defer { cyrus.stop() }
            try cyrus.seed(20)
            b = try Self.recordMbsync(upstream: cyrus.port, name: "mbsync-cyrus")
        }
        defer {
            try? FileManager.default.removeItem(atPath: a.path)
            try? FileManager.default.removeItem(atPath: b.path)
        }
        #expect(a.status == 0, "\(a.output)")
        #expect(b.status == 0, "\(b.output)")
        let r = try Self.diff([a.path, b.path, "--ignore", "uidvalidity,modseq,dates,greeting,text", "--context", "0"])
        #expect(r.status == 1)
        // mbsync's 20 pipelined UID FETCHes, their bodies, COMPRESS and the completions race
        // differently against each server; none of that shows, only what the servers say differently.
        #expect(
            Self.changedLines(r.stdout) == [
                "-S: * OK [CAPABILITY …] …",
                "+S: * OK [CAPABILITY …] …",
                "-S: (LOGIN) OK [CAPABILITY …] …",
                "+S: (LOGIN) OK [CAPABILITY …] …",
                "-S: * NAMESPACE ((\"\" \".\")) NIL NIL",
                "+S: * NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))",
                "-S: * LIST (\\HasNoChildren) \".\" INBOX",
                "+S: * LIST (\\HasNoChildren) \"/\" INBOX",
                "-S: * FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)",
                "-S: * OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)] …",
                "+S: * FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)",
                "+S: * OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)] …",
                "+S: * OK [HIGHESTMODSEQ …] …",
                "+S: * OK [MAILBOXID (…)] …",
                "+S: * OK [URLMECH INTERNAL] …",
                "+S: * OK [ANNOTATIONS 65536] …",
            ])
        // Two mbsync runs against the same kind of server are equal once UIDVALIDITY is masked.
        let dovecot2 = try DovecotProcess(seed: 20)
        let c: (path: String, status: Int32, output: String)
        do {
            defer { dovecot2.stop() }
            c = try Self.recordMbsync(upstream: dovecot2.imapPort, name: "mbsync-dovecot2")
        }
        defer { try? FileManager.default.removeItem(atPath: c.path) }
        let same = try Self.diff([a.path, c.path, "--ignore", "uidvalidity,dates"])
        #expect(same.status == 0)
        #expect(same.stdout == "")
    }
}
