import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// `imapscope read` on every file in `Captures/`, in every output format, compared byte for byte
/// with the output committed in `Tests/Golden/`. A change to the decoder, the event types or a
/// sink that moves one byte of any output fails here; an intended change is committed by running
/// the suite once with `IMAPSCOPE_UPDATE_GOLDEN=1` and reviewing the diff of `Tests/Golden/`.
@Suite("Golden outputs of Captures/")
struct GoldenOutputTests {
    static let golden = Repo.root.appendingPathComponent("Tests/Golden")

    /// Every committed capture and transcript.
    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Repo.captures.path)) ?? [])
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".transcript") }
            .sorted()
    }

    /// The formats, and the extra options that make each output.
    static let formats: [(name: String, options: [String])] = [
        ("text", ["--format", "text", "--color", "never"]),
        ("jsonl", ["--format", "jsonl"]),
        ("fixture", ["--format", "fixture"]),
        ("secrets.jsonl", ["--format", "jsonl", "--show-secrets"]),
    ]

    /// A transcript's events are stamped with its file's modification time, so the input is
    /// copied with a fixed one; it is read by its bare name (the session-start's `file`) from
    /// inside that directory.
    static func output(of input: String, options: [String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent(input)
        try FileManager.default.copyItem(at: Repo.captures.appendingPathComponent(input), to: copy)
        // A TLS capture is read with the key log its client wrote, committed beside it.
        var options = options
        let keylog = (input as NSString).deletingPathExtension + ".keylog"
        if FileManager.default.fileExists(atPath: Repo.captures.appendingPathComponent(keylog).path) {
            try FileManager.default.copyItem(
                at: Repo.captures.appendingPathComponent(keylog), to: dir.appendingPathComponent(keylog))
            options += ["--keylog", keylog]
        }
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: 1_700_000_000)],
            ofItemAtPath: copy.path)
        let result = try run(
            "/bin/bash",
            [
                "-c", "cd \"$1\" && exec \"$2\" read \"$3\" \"${@:4}\"", "sh",
                dir.path, Binary.imapscope, input,
            ] + options)
        #expect(result.status == 0, "read \(input) \(options): \(result.stderr)")
        return markersNormalized(result.stdout)
    }

    /// Redaction markers are keyed per run (`‹redacted:1a2b3c4d›`): compared as one fixed marker.
    static func markersNormalized(_ text: String) -> String {
        text.replacingOccurrences(of: "‹redacted:[0-9a-f]{8}›", with: "‹redacted:…›", options: .regularExpression)
    }

    @Test("every input has all four outputs committed, and nothing else is there")
    func inventory() throws {
        let expected = Self.inputs.flatMap { input in Self.formats.map { "\(input).\($0.name)" } }.sorted()
        let committed = try FileManager.default.contentsOfDirectory(atPath: Self.golden.path).sorted()
        if ProcessInfo.processInfo.environment["IMAPSCOPE_UPDATE_GOLDEN"] == nil {
            #expect(committed == expected)
        }
        #expect(Self.inputs.count >= 20)
    }

    @Test("read's output is byte-identical to the committed one", arguments: Self.inputs)
    func identical(_ input: String) throws {
        for format in Self.formats {
            let actual = try Self.output(of: input, options: format.options)
            let file = Self.golden.appendingPathComponent("\(input).\(format.name)")
            if ProcessInfo.processInfo.environment["IMAPSCOPE_UPDATE_GOLDEN"] != nil {
                try FileManager.default.createDirectory(at: Self.golden, withIntermediateDirectories: true)
                try Data(actual.utf8).write(to: file)
                continue
            }
            let expected = try String(contentsOf: file, encoding: .utf8)
            guard actual != expected else { continue }
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
            Issue.record(
                """
                \(input) as \(format.name) differs from Tests/Golden at line \(first + 1) \
                (\(a.count) lines, golden \(e.count)):
                - \(first < e.count ? String(e[first]) : "(end)")
                + \(first < a.count ? String(a[first]) : "(end)")
                """)
        }
    }

    @Test(
        "every committed JSON Lines file reads back into typed events that write the same bytes",
        arguments: Self.inputs)
    func jsonRoundTrip(_ input: String) throws {
        for format in ["jsonl", "secrets.jsonl"] {
            let file = Self.golden.appendingPathComponent("\(input).\(format)")
            let bytes = [UInt8](try Data(contentsOf: file))
            let events = try JSONLinesReader.read(bytes)
            #expect(events.count == bytes.filter { $0 == 0x0A }.count)
            var again: [UInt8] = []
            for e in events {
                e.encode(to: &again)
                again.append(0x0A)
            }
            #expect(again == bytes, "\(input).\(format) does not write back the same")
        }
    }
}
