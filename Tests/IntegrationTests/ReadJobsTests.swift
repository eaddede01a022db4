import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope read --jobs N`: files decoded at once, written whole in file order; the output is
/// what reading them one after the other writes.
@Suite("read --jobs", .serialized)
struct ReadJobsTests {
    static let inputs = [
        "pcap-mbsync.pcap", "login-select-fetch.transcript", "pcap-errors-idle.pcap", "pcap-condstore-qresync.pcap",
        "auth-plain.transcript", "pcap-idle-delivery.pcap", "pcap-compress.pcap",
    ].map { Repo.captures.appendingPathComponent($0).path }

    /// Each process draws its own redaction-marker key: markers are compared as markers.
    static func normalized(_ s: String) -> String {
        s.replacingOccurrences(of: #"‹redacted:[0-9a-f]{8}›"#, with: "‹redacted›", options: .regularExpression)
    }

    static func read(_ args: [String]) throws -> ProcessResult {
        try run(Binary.imapscope, ["read"] + args + ["--color", "never"])
    }

    @Test("every format: --jobs 3 writes what --jobs 1 writes", arguments: ["text", "jsonl", "fixture"])
    func sameOutput(_ format: String) throws {
        let one = try Self.read(Self.inputs + ["--format", format, "--summary"])
        let three = try Self.read(Self.inputs + ["--format", format, "--summary", "--jobs", "3"])
        #expect(one.status == 0 && three.status == 0, "\(one.stderr) \(three.stderr)")
        #expect(!one.stdout.isEmpty)
        #expect(Self.normalized(three.stdout) == Self.normalized(one.stdout))
        // The summary counts every file once.
        #expect(three.stderr == one.stderr)
        #expect(one.stderr.contains("sessions: 8"))
    }

    @Test("JSON Lines: seq counts on across files, each file's events in order, files in the order given")
    func sequenceNumbers() throws {
        let r = try Self.read(Self.inputs + ["--format", "jsonl", "--jobs", "2"])
        #expect(r.status == 0)
        let events = try JSONLinesReader.read(Array(r.stdout.utf8))
        #expect(events.map(\.seq) == Array(1...events.count))
        let files = events.compactMap { e -> String? in
            guard case .sessionStart(let s) = e.body else { return nil }
            return s.file.map { ($0 as NSString).lastPathComponent } ?? s.source
        }
        #expect(
            files == [
                "pcap", "login-select-fetch.transcript", "pcap", "pcap", "pcap", "auth-plain.transcript", "pcap",
                "pcap",
            ])
        // Transcript sessions are numbered in file order, as without --jobs.
        #expect(Set(events.map(\.session)).sorted() == ["s1", "s2", "t1", "t2"])
    }

    @Test("a file that cannot be read is named; the others are still written, in order")
    func failures() throws {
        let missing = "/nonexistent/x.pcap"
        let r = try Self.read([Self.inputs[0], missing, Self.inputs[2], "--format", "jsonl", "--jobs", "2"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("\(missing): no such file"))
        let alone = try Self.read([Self.inputs[0], Self.inputs[2], "--format", "jsonl"])
        #expect(Self.normalized(r.stdout) == Self.normalized(alone.stdout))
    }

    @Test("bad --jobs values are refused with a message")
    func validation() throws {
        let zero = try Self.read([Self.inputs[0], "--jobs", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--jobs must be at least 1"))
        let stdin = try Self.read([Self.inputs[0], "-", "--jobs", "2"])
        #expect(stdin.status != 0 && stdin.stderr.contains("not standard input"))
    }
}
