import Foundation
import IMAPCore
import IMAPTranscript
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fresh recording of every scenario: `Captures/record.py --out TMPDIR` starts a real Dovecot
/// on loopback and drives real clients (Python imaplib, curl) through the recording tee.
/// Made once per test run and shared by the tests below.
struct LiveRecording: Sendable {
    var directory: URL
    var transcripts: [String: [UInt8]]
    var recorderOutput: String

    struct Failure: Error, CustomStringConvertible, Sendable { var description: String }

    static let shared: Result<LiveRecording, Failure> = Result { try record() }.mapError {
        $0 as? Failure ?? Failure(description: "\($0)")
    }

    static func get() throws -> LiveRecording { try shared.get() }

    /// Programs record.py needs. CI installs them (python3, dovecot-imapd, curl), so a missing
    /// one is a failure, never a skip.
    static let required: [(program: String, package: String)] = [
        ("python3", "python3"), ("dovecot", "dovecot-imapd"), ("curl", "curl"),
    ]

    /// PATH for the recorder: the test's own, plus the sbin directories dovecot lives in.
    static var searchPath: String {
        let own = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].filter {
            !own.split(separator: ":").contains(Substring($0))
        }
        return ([own] + extra).joined(separator: ":")
    }

    static func which(_ program: String) -> String? {
        for dir in searchPath.split(separator: ":") {
            let p = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func record() throws -> LiveRecording {
        let missing = required.filter { which($0.program) == nil }
        if !missing.isEmpty {
            throw Failure(
                description:
                    "the live Dovecot tests need \(missing.map { "\($0.program) (apt-get install \($0.package))" }.joined(separator: ", ")), not found in PATH \(searchPath). CI installs them; these tests fail rather than skip without them."
            )
        }
        if geteuid() != 0 {
            throw Failure(
                description:
                    "the live Dovecot tests must run as root: Captures/record.py starts Dovecot itself (it drops privileges to dovenull/nobody). CI runs them as root."
            )
        }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("imapscope-live-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let outLog = dir.appendingPathComponent("record.log")
        guard FileManager.default.createFile(atPath: outLog.path, contents: nil) else {
            throw Failure(description: "cannot create \(outLog.path)")
        }
        let log = try FileHandle(forWritingTo: outLog)
        defer { try? log.close() }

        let p = Process()
        p.executableURL = URL(fileURLWithPath: which("python3")!)
        p.arguments = [Repo.recorder.path, "--out", dir.path]
        p.currentDirectoryURL = Repo.root
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = searchPath
        env["PYTHONDONTWRITEBYTECODE"] = "1"  // no __pycache__ in the working tree
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = log
        p.standardError = log
        try p.run()
        // record.py takes about 10 s; allow for a slow CI machine, then stop it the way that
        // lets it stop its Dovecots (SIGINT → KeyboardInterrupt → context managers).
        let deadline = Date().addingTimeInterval(180)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            p.interrupt()
            let grace = Date().addingTimeInterval(20)
            while p.isRunning && Date() < grace { usleep(50_000) }
            if p.isRunning { p.terminate() }
        }
        p.waitUntilExit()
        let output = (try? String(contentsOf: outLog, encoding: .utf8)) ?? ""
        guard p.terminationReason == .exit, p.terminationStatus == 0 else {
            throw Failure(
                description:
                    "python3 Captures/record.py --out \(dir.path) failed (\(p.terminationReason == .exit ? "exit status \(p.terminationStatus)" : "killed by signal \(p.terminationStatus)")):\n\(output)"
            )
        }
        var transcripts: [String: [UInt8]] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".transcript") {
            transcripts[String(f.dropLast(".transcript".count))] = [UInt8](
                try Data(contentsOf: dir.appendingPathComponent(f)))
        }
        // Everything is in memory now; on failure above the directory stays for a look.
        try? FileManager.default.removeItem(at: dir)
        return LiveRecording(directory: dir, transcripts: transcripts, recorderOutput: output)
    }

    func transcript(_ name: String) throws -> [UInt8] {
        guard let t = transcripts[name] else {
            throw Failure(
                description:
                    "record.py wrote no \(name).transcript in \(directory.path); its output:\n\(recorderOutput)")
        }
        return t
    }
}

@Suite("Live Dovecot")
struct LiveDovecotTests {
    @Test("record.py runs against a real Dovecot and writes every scenario's transcript")
    func recorderRuns() throws {
        let r = try LiveRecording.get()
        #expect(r.transcripts.keys.sorted() == Expected.names, "record.py output:\n\(r.recorderOutput)")
        #expect(r.recorderOutput.contains("Dovecot "), "record.py output:\n\(r.recorderOutput)")
        #expect(!r.recorderOutput.contains("FAIL"), "record.py output:\n\(r.recorderOutput)")
        #expect(!r.recorderOutput.contains("skip "), "record.py skipped a scenario:\n\(r.recorderOutput)")
    }

    @Test("a fresh recording decodes to the same events as the committed one", arguments: Expected.names)
    func summariesMatch(_ name: String) throws {
        let bytes = try LiveRecording.get().transcript(name)
        let d = try Decoded.decode(bytes, file: name)
        let got = summaries(d.events)
        let want = Expected.summaries[name]!
        if name == "idle-delivery" {
            expectIdleInvariants(got, want)
        } else {
            #expect(got == want)
        }
        expectClean(d, name)
    }

    @Test("no output of a fresh recording holds the password", arguments: Expected.names)
    func redaction(_ name: String) throws {
        let d = try Decoded.decode(try LiveRecording.get().transcript(name), file: name)
        expectRedacted(d, name)
    }

    @Test("event bytes add up to the fresh transcript's bytes, per direction", arguments: Expected.names)
    func byteAccounting(_ name: String) throws {
        let bytes = try LiveRecording.get().transcript(name)
        let d = try Decoded.decode(bytes, file: name)
        expectByteAccounting(try TranscriptBytes(bytes), d, name)
    }

    @Test("compress-deflate: the tee wrote the directive after c2's OK and inflated both directions")
    func compressRecordedInflated() throws {
        let bytes = try LiveRecording.get().transcript("compress-deflate")
        let lines = bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        let ok = try #require(lines.firstIndex { $0.hasPrefix("S: c2 OK ") }, "no c2 OK line")
        #expect(lines[ok - 1] == "C: c2 COMPRESS DEFLATE\r")
        #expect(
            lines[ok + 1] == FixtureReader.decompressedDirective
                + " COMPRESS=DEFLATE active; the lines below are inflated\r")
        #expect(lines[ok + 2] == "C: c3 SELECT INBOX\r")
        // Everything below the directive is readable IMAP: tagged or untagged lines, one per line.
        for l in lines[(ok + 2)...] {
            #expect(
                l.hasPrefix("C: c") || l.hasPrefix("S: * ") || l.hasPrefix("S: c"),
                "not an inflated line: \(l.debugDescription)")
            #expect(l.hasSuffix("\r"), "line without CRLF: \(l.debugDescription)")
        }
    }

    /// IDLE's pushes depend on timing (when Dovecot notices the delivery), so the part between
    /// `a3 IDLE` and `a3 OK` is checked for what must hold; everything around it exactly.
    func expectIdleInvariants(_ got: [String], _ want: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let start = want.firstIndex(of: "S +")! + 1  // after "C a3 IDLE", "S +"
        let end = want.firstIndex(of: "S a3 OK IDLE")!
        guard let gotEnd = got.firstIndex(of: "S a3 OK IDLE"), got.count >= start, gotEnd >= start else {
            Issue.record("no IDLE ... a3 OK in \(got)", sourceLocation: sourceLocation)
            return
        }
        #expect(Array(got[..<start]) == Array(want[..<start]), sourceLocation: sourceLocation)
        #expect(Array(got[gotEnd...]) == Array(want[end...]), sourceLocation: sourceLocation)
        let middle = Array(got[start..<gotEnd])
        // The client sent DONE only after it had read "* 4 EXISTS" (record.py waits for it), and
        // Dovecot announces RECENT with EXISTS; RECENT may come before or after DONE.
        #expect(
            middle.sorted() == ["C DONE", "S * 4 EXISTS", "S * 4 RECENT"], "\(middle)", sourceLocation: sourceLocation)
        if let e = middle.firstIndex(of: "S * 4 EXISTS"), let done = middle.firstIndex(of: "C DONE"),
            let recent = middle.firstIndex(of: "S * 4 RECENT")
        {
            #expect(e < done, "EXISTS after DONE: \(middle)", sourceLocation: sourceLocation)
            #expect(e < recent, "RECENT before EXISTS: \(middle)", sourceLocation: sourceLocation)
        }
    }
}
