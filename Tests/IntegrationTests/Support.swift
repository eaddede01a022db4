import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Where the repository is, found from this file (Tests/IntegrationTests/Support.swift).
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // IntegrationTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
    static let captures = root.appendingPathComponent("Captures")
    static let recorder = captures.appendingPathComponent("record.py")

    /// The committed `Captures/*.transcript` names (without the extension), sorted.
    static func committedTranscripts() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: captures.path)
            .filter { $0.hasSuffix(".transcript") }
            .map { String($0.dropLast(".transcript".count)) }
            .sorted()
    }
}

/// The fixture's credentials (scripts/dovecot_fixture.py).
enum Fixture {
    static let user = "alice"
    static let password = "password"
}

/// One transcript decoded the way `imapscope read` decodes it (`TranscriptDecoding`, shared
/// with the CLI), with every sink the CLI can write attached to one pipeline.
struct Decoded {
    var events: [Event]
    var jsonl: String
    var text: String
    var fixture: String

    static func decode(_ bytes: [UInt8], file: String) throws -> Decoded {
        let collect = CollectingSink()
        let jsonOut = MemoryOutput()
        let textOut = MemoryOutput()
        let fixtureOut = MemoryOutput()
        let pipeline = EventPipeline(
            redactor: Redactor(showSecrets: false),
            sinks: [
                collect, JSONLinesWriter(jsonOut),
                TextWriter(textOut, style: .init(color: false)),
                FixtureWriter(fixtureOut),
            ])
        let decoding = TranscriptDecoding(
            name: file, session: "t1", options: DecoderOptions(),
            time: Timestamp(seconds: 1_700_000_000), pipeline: pipeline)
        try decoding.feed(bytes[...])
        try decoding.finish()
        pipeline.finish()
        return Decoded(events: collect.events, jsonl: jsonOut.text, text: textOut.text, fixture: fixtureOut.text)
    }

    static func decode(file url: URL) throws -> Decoded {
        let data = try Data(contentsOf: url)
        return try decode([UInt8](data), file: url.path)
    }
}

func summary(_ e: Event) -> String { EventSummary.line(e) }

func summaries(_ events: [Event]) -> [String] { events.map(summary) }

/// What a tee transcript holds, read independently of `FixtureReader`: each `C: `/`S: ` line's
/// bytes after the three-byte prefix (scripts/imap_tee.py writes exactly that), and where the
/// decompressed directive stands.
struct TranscriptBytes {
    var client: [UInt8] = []
    var server: [UInt8] = []
    /// Bytes of each direction before the `# imapscope: decompressed` line, if there is one.
    var clientBeforeDirective: Int?
    var serverBeforeDirective: Int?

    struct Malformed: Error, CustomStringConvertible { var description: String }

    init(_ bytes: [UInt8]) throws {
        let directive = Array(FixtureReader.decompressedDirective.utf8)
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[start...i])
            start = i + 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        for (n, line) in lines.enumerated() {
            if line.starts(with: Array("C: ".utf8)) {
                client += line.dropFirst(3)
            } else if line.starts(with: Array("S: ".utf8)) {
                server += line.dropFirst(3)
            } else if line.starts(with: directive) {
                guard clientBeforeDirective == nil else {
                    throw Malformed(description: "line \(n + 1): second directive")
                }
                clientBeforeDirective = client.count
                serverBeforeDirective = server.count
            } else if line.first == UInt8(ascii: "#") {
                continue
            } else {
                throw Malformed(description: "line \(n + 1): neither C:, S: nor a # comment")
            }
        }
    }

    func count(_ dir: Direction) -> Int { dir == .client ? client.count : server.count }
    func countBeforeDirective(_ dir: Direction) -> Int? {
        dir == .client ? clientBeforeDirective : serverBeforeDirective
    }
}

/// Sum of the `bytes` field over the events of one direction; `untilCompress` stops at the
/// `compress` event (the data after it was inflated).
func eventBytes(_ events: [Event], _ dir: Direction, untilCompress: Bool = false) -> Int {
    var sum = 0
    for e in events {
        if untilCompress && e.kind == .compress { break }
        if e.dir == dir { sum += Int(e["bytes"]?.intValue ?? 0) }
    }
    return sum
}

/// Alice's password, searched for in every output (see IMAPTestSupport's SecretScan).
let secretScanForAlice = SecretScan(Fixture.password)

/// The expected summary of every transcript `Captures/record.py` writes, one row per command
/// with what answers it. Read against the transcripts line by line: every client line is a
/// command, IDLE's DONE or a SASL response; literal bodies belong to their command or response;
/// each tagged response names the command of its tag. SELECT's untagged responses are, in
/// order: FLAGS, OK [PERMANENTFLAGS], EXISTS, RECENT, OK [UNSEEN], OK [UIDVALIDITY], OK [UIDNEXT].
enum Expected {
    static let summaries: [String: [String]] = [
        "login-select-fetch": [
            "start", "S * OK",
            "C NLPB0 CAPABILITY", "S * CAPABILITY", "S NLPB0 OK CAPABILITY",
            "C NLPB1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S NLPB1 OK LOGIN",
            "C NLPB2 CAPABILITY", "S * CAPABILITY", "S NLPB2 OK CAPABILITY",
            "C NLPB3 LIST", "S * LIST", "S NLPB3 OK LIST",
            "C NLPB4 SELECT", "S * FLAGS", "S * OK", "S * 5 EXISTS", "S * 5 RECENT", "S * OK", "S * OK", "S * OK",
            "S NLPB4 OK SELECT",
            "C NLPB5 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S * 4 FETCH", "S * 5 FETCH",
            "S NLPB5 OK FETCH",
            // one FETCH response carrying two literals, {104} and {3332}
            "C NLPB6 UID FETCH", "S * 3 FETCH", "S NLPB6 OK UID FETCH",
            "C NLPB7 STORE", "S * 1 FETCH", "S NLPB7 OK STORE",
            "C NLPB8 LOGOUT", "S * BYE", "S NLPB8 OK LOGOUT",
            "end",
        ],
        "append-literals": [
            "start", "S * OK",
            "C JFFM0 CAPABILITY", "S * CAPABILITY", "S JFFM0 OK CAPABILITY",
            "C JFFM1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S JFFM1 OK LOGIN",
            "C JFFM2 CAPABILITY", "S * CAPABILITY", "S JFFM2 OK CAPABILITY",
            // synchronizing {953}: the server's "+ OK" is published before the command, whose
            // event comes once its literal has arrived (the continuation's annotation says so)
            "S +", "C JFFM3 APPEND", "S JFFM3 OK APPEND",
            // non-synchronizing {1009+}: no continuation
            "C n1 APPEND", "S n1 OK APPEND",
            "C JFFM4 SELECT", "S * FLAGS", "S * OK", "S * 4 EXISTS", "S * 4 RECENT", "S * OK", "S * OK", "S * OK",
            "S JFFM4 OK SELECT",
            "C JFFM5 LOGOUT", "S * BYE", "S JFFM5 OK LOGOUT",
            "end",
        ],
        "idle-delivery": [
            "start", "S * OK",
            "C IPFB0 CAPABILITY", "S * CAPABILITY", "S IPFB0 OK CAPABILITY",
            "C IPFB1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S IPFB1 OK LOGIN",
            "C IPFB2 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
            "S IPFB2 OK SELECT",
            "C a3 IDLE", "S +", "S * 4 EXISTS", "S * 4 RECENT", "C DONE", "S a3 OK IDLE",
            "C IPFB3 LOGOUT", "S * BYE", "S IPFB3 OK LOGOUT",
            "end",
        ],
        "auth-plain": [
            "start", "S * OK",
            "C HLMO0 CAPABILITY", "S * CAPABILITY", "S HLMO0 OK CAPABILITY",
            // "+ " (empty challenge), then the base64 \0alice\0password line
            "C HLMO1 AUTHENTICATE", "lint cleartext-auth", "S sasl PLAIN 1", "C sasl PLAIN 2",
            "S * CAPABILITY", "S HLMO1 OK AUTHENTICATE",
            "C HLMO2 NOOP", "S HLMO2 OK NOOP",
            "C HLMO3 LOGOUT", "S * BYE", "S HLMO3 OK LOGOUT",
            "end",
        ],
        "auth-login": [
            "start", "S * OK",
            "C ILKN0 CAPABILITY", "S * CAPABILITY", "S ILKN0 OK CAPABILITY",
            // "+ VXNlcm5hbWU6" (Username:), user, "+ UGFzc3dvcmQ6" (Password:), password
            "C ILKN1 AUTHENTICATE", "lint cleartext-auth", "S sasl LOGIN 1", "C sasl LOGIN 2", "S sasl LOGIN 3",
            "C sasl LOGIN 4",
            "S * CAPABILITY", "S ILKN1 OK AUTHENTICATE",
            "C ILKN2 NOOP", "S ILKN2 OK NOOP",
            "C ILKN3 LOGOUT", "S * BYE", "S ILKN3 OK LOGOUT",
            "end",
        ],
        "auth-cram-md5": [
            "start", "S * OK",
            "C GILM0 CAPABILITY", "S * CAPABILITY", "S GILM0 OK CAPABILITY",
            // challenge-response: the password never crosses the wire, so no cleartext lint
            "C GILM1 AUTHENTICATE", "S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2",
            "S * CAPABILITY", "S GILM1 OK AUTHENTICATE",
            "C GILM2 NOOP", "S GILM2 OK NOOP",
            "C GILM3 LOGOUT", "S * BYE", "S GILM3 OK LOGOUT",
            "end",
        ],
        "curl-fetch": [
            "start", "S * OK",
            "C A001 CAPABILITY", "S * CAPABILITY", "S A001 OK CAPABILITY",
            "C A002 AUTHENTICATE", "S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2",
            "S * CAPABILITY", "S A002 OK AUTHENTICATE",
            "C A003 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
            "S A003 OK SELECT",
            // one {2828} literal inside the FETCH response
            "C A004 UID FETCH", "S * 1 FETCH", "S A004 OK UID FETCH",
            "C A005 LOGOUT", "S * BYE", "S A005 OK LOGOUT",
            "end",
        ],
        "compress-deflate": [
            "start", "S * OK",
            "C c1 LOGIN", "lint cleartext-login", "S c1 OK LOGIN",
            "C c2 COMPRESS", "S c2 OK COMPRESS", "compress",
            // below the decompressed directive: the inflated conversation, in order
            "C c3 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
            "S c3 OK SELECT",
            "C c4 FETCH", "S * 1 FETCH", "S c4 OK FETCH",
            "C c5 LOGOUT", "S * BYE", "S c5 OK LOGOUT",
            "end",
        ],
    ]

    static let names: [String] = summaries.keys.sorted()
}

// MARK: - Checks both suites run

/// No secret in any output; the user name in the JSON Lines, as the LOGIN or SASL event's `user`.
func expectRedacted(_ d: Decoded, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for (output, text) in [("JSON Lines", d.jsonl), ("text", d.text), ("fixture", d.fixture)] {
        #expect(!text.isEmpty, "\(name): \(output) output is empty", sourceLocation: sourceLocation)
        let leaks = secretScanForAlice.leaks(in: text)
        #expect(
            leaks.isEmpty, "\(name): the \(output) output holds alice's password: \(leaks)",
            sourceLocation: sourceLocation)
    }
    #expect(
        d.jsonl.contains(Fixture.user), "\(name): no \(Fixture.user) in the JSON Lines", sourceLocation: sourceLocation)
    #expect(
        d.jsonl.contains("\"user\":\"\(Fixture.user)\""),
        "\(name): no event names the user \(Fixture.user)", sourceLocation: sourceLocation)
}

/// Per direction, the `bytes` of the events add up to the transcript's bytes: before the
/// decompressed directive (events up to the `compress` event), and in all.
func expectByteAccounting(
    _ t: TranscriptBytes, _ d: Decoded, _ name: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let hasCompress = d.events.contains { $0.kind == .compress }
    #expect(
        hasCompress == (t.clientBeforeDirective != nil),
        "\(name): compress event \(hasCompress), decompressed directive \(t.clientBeforeDirective != nil)",
        sourceLocation: sourceLocation)
    for dir in [Direction.client, .server] {
        if let before = t.countBeforeDirective(dir) {
            #expect(
                eventBytes(d.events, dir, untilCompress: true) == before,
                "\(name): \(dir.rawValue) bytes before COMPRESS", sourceLocation: sourceLocation)
        }
        #expect(
            eventBytes(d.events, dir) == t.count(dir), "\(name): \(dir.rawValue) bytes", sourceLocation: sourceLocation)
    }
}

/// Nothing the decoder could not place: no unparsed events, gaps or unknown-tag lints.
func expectClean(_ d: Decoded, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let bad = d.events.filter {
        $0.kind == .unparsed || $0.kind == .gap || ($0.kind == .lint && $0["code"]?.stringValue == "unknown-tag")
    }
    #expect(bad.isEmpty, "\(name): \(bad.map { $0.json.serialized })", sourceLocation: sourceLocation)
}
