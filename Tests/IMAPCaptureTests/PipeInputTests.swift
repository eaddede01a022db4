import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope read -` and `read /dev/fd/N`: pcap, pcapng and transcripts recognised on a stream
/// that cannot seek, their first bytes looked at and not lost.
@Suite("Inputs from pipes")
struct PipeInputTests {
    static func summaries(_ r: ProcessResult) throws -> [String] {
        EventSummary.lines(try JSONLinesReader.read(Array(r.stdout.utf8)))
    }

    /// A shell line, with `BIN` standing for the built imapscope.
    static func shell(_ line: String, _ shell: String = "/bin/sh") throws -> ProcessResult {
        try run(shell, ["-c", line.replacingOccurrences(of: "BIN", with: "'\(Binary.imapscope)'")])
    }

    static func pcap() throws -> String { try CaptureHarness.write(Conversation.basic().packets, linkType: 1) }

    /// A pcapng with a STARTTLS session whose bytes after the upgrade are plaintext: decoded past
    /// STARTTLS only when the section header names the proxy as the writer.
    static func pcapng(application: String) throws -> String {
        var c = Conversation()
        c.handshake()
        c.server("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        c.client("a1 STARTTLS\r\n")
        c.server("a1 OK begin TLS\r\n")
        c.client("a2 NOOP\r\n")
        c.server("a2 OK done\r\n")
        c.close()
        let path = NSTemporaryDirectory() + "imapscope-test-\(UUID().uuidString).pcapng"
        let w = try PcapNGWriter(path: path, application: application)
        for p in c.packets { w.write(p.frame, time: p.time) }
        w.close()
        return path
    }

    /// Longer than one 64 KiB block and the transcript head.
    static func transcript() throws -> String {
        let url = DovecotProcess.repository.appendingPathComponent("Captures/login-select-fetch.transcript")
        var text = try String(contentsOf: url, encoding: .utf8)
        let padding = (1...6000).map { "C: p\($0) NOOP\r\nS: p\($0) OK done\r\n" }.joined()
        text = text.replacingOccurrences(of: "S: * BYE", with: padding + "S: * BYE")
        let path = NSTemporaryDirectory() + "imapscope-test-\(UUID().uuidString).transcript"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect(text.utf8.count > 2 * TranscriptDecoding.blockSize)
        return path
    }

    @Test func pcapOnStandardInput() throws {
        let path = try Self.pcap()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let piped = try Self.shell("cat '\(path)' | BIN read - --format jsonl")
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try Self.summaries(piped) == Conversation.basicSummary)
        let redirected = try Self.shell("BIN read - --format jsonl < '\(path)'")
        #expect(try Self.summaries(redirected) == Conversation.basicSummary)
        let substituted = try Self.shell("BIN read <(cat '\(path)') --format jsonl", "/bin/bash")
        #expect(substituted.status == 0, "\(substituted.stderr)")
        #expect(try Self.summaries(substituted) == Conversation.basicSummary)
    }

    @Test func pcapngOnStandardInputKeepsItsSectionHeader() throws {
        let proxy = try Self.pcapng(application: PcapNGWriter.proxyApplication)
        let other = try Self.pcapng(application: "some other writer")
        defer { for p in [proxy, other] { try? FileManager.default.removeItem(atPath: p) } }
        let decrypted = try Self.shell("cat '\(proxy)' | BIN read - --format jsonl")
        #expect(decrypted.status == 0, "\(decrypted.stderr)")
        let read = try Self.summaries(try run(Binary.imapscope, ["read", proxy, "--format", "jsonl"]))
        #expect(try Self.summaries(decrypted) == read)
        #expect(read.contains("C a2 NOOP"))
        // Written by anyone else, what follows STARTTLS is TLS: not decoded.
        let encrypted = try Self.summaries(try Self.shell("cat '\(other)' | BIN read - --format jsonl"))
        #expect(encrypted.contains("S a1 OK STARTTLS") && !encrypted.contains("C a2 NOOP"))
    }

    @Test func transcriptOnStandardInput() throws {
        let path = try Self.transcript()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try run(Binary.imapscope, ["read", path, "--format", "jsonl"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let expected = try Self.summaries(fromFile)
        #expect(expected.contains("C p6000 NOOP") && expected.last == "end")
        let piped = try Self.shell("cat '\(path)' | BIN read - --format jsonl")
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try Self.summaries(piped) == expected)
        let events = try JSONLinesReader.read(Array(piped.stdout.utf8))
        #expect(events.first?["file"]?.stringValue == "-")
        #expect(events.last?["reason"]?.stringValue == "end of transcript")
    }

    /// `read /dev/fd/N` with N the read end of a pipe Python feeds.
    @Test func devFdPipeFromPython() throws {
        let pcap = try Self.pcap()
        let transcript = try Self.transcript()
        defer { for p in [pcap, transcript] { try? FileManager.default.removeItem(atPath: p) } }
        let script = """
            import os, subprocess, sys, threading
            binary, path = sys.argv[1], sys.argv[2]
            r, w = os.pipe()
            p = subprocess.Popen([binary, "read", "/dev/fd/%d" % r, "--format", "jsonl"], pass_fds=[r],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.close(r)
            def feed():
                with open(path, "rb") as f, os.fdopen(w, "wb") as out:
                    out.write(f.read())
            t = threading.Thread(target=feed)
            t.start()
            out, err = p.communicate()
            t.join()
            sys.stdout.write(out.decode())
            sys.stderr.write(err.decode())
            sys.exit(p.returncode)
            """
        let transcriptEvents = try Self.summaries(try run(Binary.imapscope, ["read", transcript, "--format", "jsonl"]))
        for (path, expected) in [(pcap, Conversation.basicSummary), (transcript, transcriptEvents)] {
            let r = try run("/usr/bin/python3", ["-c", script, Binary.imapscope, path])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try Self.summaries(r) == expected)
        }
    }

    @Test func directoriesAreNamedNotCrashedOn() throws {
        let dir = NSTemporaryDirectory() + "imapscope-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let read = try run(Binary.imapscope, ["read", dir])
        #expect(read.status == 1)
        #expect(read.stderr == "Error: \(dir): is a directory\n")
        let diff = try run(Binary.imapscope, ["diff", dir, dir])
        #expect(diff.status == 2)
        #expect(diff.stderr == "imapscope diff: \(dir): is a directory\n")
        let missing = try run(Binary.imapscope, ["read", dir + "/nothing"])
        #expect(missing.stderr == "Error: \(dir)/nothing: no such file\n")
    }

    @Test func emptyStandardInputIsNotATranscript() throws {
        let r = try Self.shell("BIN read - < /dev/null")
        #expect(r.status == 1)
        #expect(r.stderr == "Error: -: not an S:/C: transcript (expected lines starting with 'S:' or 'C:')\n")
    }
}
