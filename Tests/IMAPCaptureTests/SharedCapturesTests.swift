import Foundation
import IMAPCapture
import IMAPCore
import IMAPTranscript
import Testing

/// The public captures in ../shared/captures, scored by ../shared/captures/score.py against
/// their independent expected decodings: recall 1.0, no spurious command, no leaked secret.
@Suite("Shared public captures")
struct SharedCapturesTests {
    static let dir: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/captures").path
    }()

    static var scored: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/expected")) ?? [])
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Decodes a capture to JSON Lines (as `imapscope read --format jsonl` does) plus its warnings.
    static func decode(_ name: String) throws -> (jsonl: String, stderr: String, result: CaptureReader.Result) {
        let out = MemoryOutput()
        let p = EventPipeline(
            redactor: Redactor(), sinks: [JSONLinesWriter(out), TextWriter(out, style: .init(color: false))])
        let source = try PcapSource.open(file: dir + "/" + name)
        let r = try CaptureReader.read(source: source, filter: nil, options: CaptureDecoder.Options()) { s, e in
            p.publish(e, session: s)
        }
        p.finish()
        let jsonl = out.text.split(separator: "\n").filter { $0.hasPrefix("{") }.joined(separator: "\n") + "\n"
        let text = out.text.split(separator: "\n").filter { !$0.hasPrefix("{") }.joined(separator: "\n")
        return (jsonl, (r.warnings + [r.error ?? ""]).joined(separator: "\n") + "\n" + text, r)
    }

    @Test func capturesArePresent() {
        #expect(Self.scored.count >= 8, "expected files not found in \(Self.dir): CI lays shared/ beside the checkout")
    }

    @Test("scores 1.0 with no leak", arguments: scored)
    func scores(_ name: String) throws {
        let (jsonl, stderr, _) = try Self.decode(name)
        let tmp = NSTemporaryDirectory() + "imapscope-score-\(UUID().uuidString)"
        try jsonl.write(toFile: tmp + ".jsonl", atomically: true, encoding: .utf8)
        try stderr.write(toFile: tmp + ".txt", atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(atPath: tmp + ".jsonl")
            try? FileManager.default.removeItem(atPath: tmp + ".txt")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", Self.dir + "/score.py", Self.dir + "/expected/\(name).json", tmp + ".jsonl", "--extra-output",
            tmp + ".txt",
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let report = try JSONParser.parse([UInt8](data))
        #expect(report["pass"]?.boolValue == true, "\(String(decoding: data, as: UTF8.self))")
        #expect(report["min_command_recall"]?.doubleValue == 1.0)
        #expect(report["min_tagged_recall"]?.doubleValue == 1.0)
        #expect(report["spurious_commands"]?.intValue == 0)
        #expect(report["secrets_leaked"]?.arrayValue?.isEmpty == true)
        #expect(p.terminationStatus == 0)
    }

    @Test func implicitTLSCaptureDecodesNothing() throws {
        let (jsonl, _, r) = try Self.decode("nDPI__imaps.pcap")
        let events = try JSONLinesReader.read(Array(jsonl.utf8))
        #expect(r.sessions == 2)
        #expect(events.filter { $0.kind == .command || $0.kind == .untagged || $0.kind == .unparsed }.isEmpty)
        #expect(events.filter { $0.kind == .tls }.count == 2)
    }

    @Test func corruptCaptureYieldsWhatPrecedesTheDamage() throws {
        let (jsonl, _, r) = try Self.decode("peafowl__imap.cap")
        #expect(r.error?.contains("peafowl__imap.cap: packet 9:") == true, "\(r.error ?? "")")
        #expect(r.packets == 8)
        let events = try JSONLinesReader.read(Array(jsonl.utf8))
        let commands = events.filter { $0.kind == .command }.map {
            "\($0["tag"]?.stringValue ?? "") \($0["name"]?.stringValue ?? "")"
        }
        #expect(commands == ["a0000 CAPABILITY", "a0001 LOGIN"])
        #expect(events.last?["reason"]?.stringValue == "end of capture")
    }
}
