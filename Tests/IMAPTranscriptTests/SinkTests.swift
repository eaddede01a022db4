import IMAPCore
import IMAPTranscript
import Testing

private let key: [UInt8] = Array(repeating: 9, count: 32)

/// Decodes a script with fixed times (1 ms per chunk) and returns what the given sinks wrote.
private func decode(
    _ script: String, sinks: [EventSink], showSecrets: Bool = false, options: DecoderOptions = DecoderOptions()
) {
    let p = EventPipeline(redactor: Redactor(showSecrets: showSecrets, key: key), sinks: sinks)
    let d = SessionDecoder(options: options)
    var t = Timestamp(seconds: 1_700_000_000)
    p.publish(d.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "transcript", time: t), session: "s1")
    for c in try! FixtureReader.read(Array(script.utf8)) {
        t = Timestamp(microseconds: t.microseconds + 1000)
        p.publish(d.feed(c.direction, c.bytes, time: t), session: "s1")
    }
    p.publish(d.finish(reason: "closed", time: t), session: "s1")
    p.finish()
}

private let session = """
    S: * OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready
    C: a1 LOGIN alice {6+}
    C: hunter
    S: a1 OK [CAPABILITY IMAP4rev1 IDLE] welcome
    C: a2 SELECT INBOX
    S: * 2 EXISTS
    S: * OK [UIDVALIDITY 77] ok
    S: a2 OK [READ-WRITE] done
    C: a3 FETCH 1 (BODY[HEADER])
    S: * 1 FETCH (BODY[HEADER] {12}
    S: Subject: x
    S: )
    S: a3 OK done
    C: a4 LOGOUT
    S: * BYE bye
    S: a4 OK bye
    """

@Suite("Sinks")
struct SinkTests {
    @Test func jsonLinesRoundTrip() throws {
        let out = MemoryOutput()
        let collected = CollectingSink()
        decode(session, sinks: [JSONLinesWriter(out), collected])
        let back = try JSONLinesReader.read(out.bytes)
        #expect(back.count == collected.events.count)
        for (a, b) in zip(back, collected.events) { #expect(a.json == b.json) }
        // And writing what was read gives the same bytes.
        let again = MemoryOutput()
        let w = JSONLinesWriter(again)
        for e in back { w.write(e) }
        w.finish()
        #expect(again.bytes == out.bytes)
    }

    @Test func jsonLinesReaderNamesTheBadLine() {
        let text =
            "{\"session\":\"s\",\"seq\":1,\"time\":\"2024-01-01T00:00:00.000000Z\",\"kind\":\"lint\"}\n{not json\n"
        #expect { try JSONLinesReader.read(Array(text.utf8)) } throws: { ($0 as? JSONLinesReader.Failure)?.line == 2 }
    }

    /// The reader's line scan and string fast path (index loops since the fuzzers found the
    /// generic ones slow): CRLF and LF, blank and whitespace-only lines skipped but counted, no
    /// final newline, escapes after plain text, duplicate envelope keys (the first wins, none
    /// reach `extra`).
    @Test func jsonLinesReaderLinesAndStrings() throws {
        let head = #""session":"s","seq":1,"time":"2024-01-01T00:00:00.000000Z""#
        let text =
            "\r\n \t\n{\(head),\"kind\":\"lint\",\"message\":\"a\\\"b\\u00e9\\n\"}\r\n\n"
            + "{\(head),\"kind\":\"lint\",\"kind\":\"gap\",\"message\":\"plain\",\"annotation\":\"x\"}"
        let events = try JSONLinesReader.read(Array(text.utf8))
        #expect(events.count == 2)
        #expect(events[0]["message"]?.stringValue == "a\"b\u{E9}\n")
        #expect(events[1].kind == .lint)
        #expect(events[1].extra.isEmpty)
        #expect(events[1]["message"]?.stringValue == "plain")
        #expect(events[1].annotation == "x")
        #expect(try JSONLinesReader.read([]).isEmpty)
        #expect(try JSONLinesReader.read(Array("\n\r\n".utf8)).isEmpty)
        let bad = "\n\n{\(head),\"kind\":\"lint\"}\r\n{\"unterminated\r\n"
        #expect { try JSONLinesReader.read(Array(bad.utf8)) } throws: { ($0 as? JSONLinesReader.Failure)?.line == 4 }
    }

    /// A whole number too large for Int64 trapped in `intValue` (FuzzJSONLines found `"seq":` and
    /// 86 fours; Fuzz/Regressions/FuzzJSONLines/seq-beyond-int64.jsonl): now the line is refused.
    @Test func jsonLinesReaderRefusesASeqBeyondInt64() throws {
        let tail = #","time":"2024-01-01T00:00:00.000000Z","kind":"lint"}"#
        let huge = "{\"session\":\"s\",\"seq\":" + String(repeating: "4", count: 86) + tail
        #expect { try JSONLinesReader.read(Array(huge.utf8)) } throws: { error in
            guard let f = error as? JSONLinesReader.Failure else { return false }
            return f.line == 1 && f.message == "missing or invalid 'seq'"
        }
        for bad in ["1e300", "-1e19", "9223372036854775808", "2.5", "1e999"] {
            #expect(throws: JSONLinesReader.Failure.self) {
                try JSONLinesReader.read(Array(("{\"session\":\"s\",\"seq\":" + bad + tail).utf8))
            }
        }
        let fine = try JSONLinesReader.read(Array(("{\"session\":\"s\",\"seq\":1e3" + tail).utf8))
        #expect(fine.map(\.seq) == [1000])
        #expect(JSONValue.double(.infinity).intValue == nil)
        #expect(JSONValue.double(.nan).intValue == nil)
        #expect(JSONValue.double(-0.0).intValue == 0)
        #expect(JSONValue.double(-9.223372036854775808e18).intValue == Int64.min)
        #expect(JSONValue.int(Int64.max).intValue == Int64.max)
    }

    /// A high surrogate escape followed by an escape that is not a low surrogate overflowed
    /// (FuzzJSONLines: `\udbee\udbee`; Fuzz/Regressions/FuzzJSONLines/surrogate-not-followed-by-low.jsonl).
    @Test func jsonStringSurrogateEscapes() throws {
        func parsed(_ body: String) throws -> String? { try JSONParser.parse("\"" + body + "\"").stringValue }
        #expect(try parsed(#"a\udbee\udbeeb"#) == "a\u{FFFD}\u{FFFD}b")
        #expect(try parsed(#"\ud83d\ude00"#) == "\u{1F600}")
        #expect(try parsed(#"\ud83d\u0041"#) == "\u{FFFD}A")
        #expect(try parsed(#"\udc00x"#) == "\u{FFFD}x")
        #expect(try parsed(#"\ud83d"#) == "\u{FFFD}")
        #expect(throws: JSONParser.Error.self) { try parsed(#"\ud83d\uzzzz"#) }
    }

    @Test func printableEscapesControlsBetweenRuns() {
        #expect(printable(Array("a\u{1B}[31mb\r\n".utf8)) == "a\\x1B[31mb\\x0D\\x0A")
        #expect(printable(Array("\u{7F}\tok é".utf8)[...]) == "\\x7F\tok é")
        #expect(printable([UInt8]()) == "")
    }

    @Test func fixturePrefixesEveryLineOfAnEvent() {
        // One event's wire bytes span three lines (a literal): each gets its own prefix.
        let out = MemoryOutput()
        decode(session, sinks: [FixtureWriter(out)], showSecrets: true)
        #expect(out.text.contains("\r\nS: * 1 FETCH (BODY[HEADER] {12}\r\nS: Subject: x\r\nS: )\r\nS: a3 OK done\r\n"))
    }

    @Test func schemaFieldsPresent() throws {
        let c = CollectingSink()
        decode(session, sinks: [c])
        for e in c.events {
            let j = e.json
            for k in ["session", "seq", "time", "kind"] { #expect(j[k] != nil, "\(k) missing in \(j.serialized)") }
            switch e.kind {
            case .command: for k in ["tag", "name", "uid", "line", "dir"] { #expect(j[k] != nil) }
            case .tagged: for k in ["tag", "status", "text", "command", "latency_ms"] { #expect(j[k] != nil) }
            case .untagged: #expect(j["name"] != nil)
            case .sessionStart: for k in ["client", "server", "source"] { #expect(j[k] != nil) }
            case .sessionEnd: #expect(j["reason"] != nil)
            case .lint: for k in ["level", "message"] { #expect(j[k] != nil) }
            default: break
            }
        }
        #expect(c.events.map(\.seq) == Array(1...c.events.count))
        #expect(c.events[1].time.rfc3339 == "2023-11-14T22:13:20.001000Z")
    }

    @Test func fixtureRoundTripIsByteExact() throws {
        // With secrets shown, a fixture's bytes are the wire's bytes.
        let out = MemoryOutput()
        decode(session, sinks: [FixtureWriter(out)], showSecrets: true)
        let chunks = try FixtureReader.read(out.bytes)
        let original = try FixtureReader.read(Array(session.utf8))
        func stream(_ cs: [FixtureReader.Chunk], _ d: Direction) -> [UInt8] {
            cs.filter { $0.direction == d }.flatMap(\.bytes)
        }
        #expect(stream(chunks, .client) == stream(original, .client))
        #expect(stream(chunks, .server) == stream(original, .server))
        // Reading the fixture again and writing it again is a fixed point.
        let again = MemoryOutput()
        decode(out.text, sinks: [FixtureWriter(again)], showSecrets: true)
        #expect(again.text == out.text)
    }

    @Test func redactedFixtureStaysWellFormed() throws {
        let out = MemoryOutput()
        decode(session, sinks: [FixtureWriter(out)])
        #expect(!out.text.contains("hunter"))
        // The redacted fixture decodes to the same commands and completions.
        let a = CollectingSink()
        let b = CollectingSink()
        decode(session, sinks: [a])
        decode(out.text, sinks: [b])
        let shape: (Event) -> String = {
            "\($0.kind.rawValue) \($0["tag"]?.stringValue ?? "") \($0["name"]?.stringValue ?? $0["status"]?.stringValue ?? "")"
        }
        #expect(a.events.map(shape) == b.events.map(shape))
    }

    /// A session that fetches a 3,000-byte body (over the 16 KiB retain limit it would only
    /// stream; here the digest is what differs).
    private static let fetchSession = """
        S: * OK ready
        C: a1 LOGIN alice {6+}
        C: hunter
        S: a1 OK welcome
        C: a2 SELECT INBOX
        S: * 1 EXISTS
        S: a2 OK [READ-WRITE] done
        C: a3 FETCH 1 BODY[]
        S: * 1 FETCH (BODY[] {3000}
        S: \(String(repeating: "x", count: 2998))
        S: )
        S: a3 OK done
        """

    @Test("digests are computed only when a sink writes them, and the text transcript never shows one")
    func digestsOnlyWhenASinkWritesThem() throws {
        let text = MemoryOutput()
        let withoutDigests = EventPipeline(
            redactor: Redactor(), sinks: [TextWriter(text, style: .init(color: false)), SummarySink()])
        #expect(!withoutDigests.readsDigests)
        withoutDigests.add(JSONLinesWriter(MemoryOutput()))
        #expect(withoutDigests.readsDigests)
        #expect(EventPipeline(redactor: Redactor(), sinks: [FixtureWriter(MemoryOutput())]).readsDigests)
        #expect(!EventPipeline(redactor: Redactor(), sinks: [ReportModel()]).readsDigests)

        var skipping = DecoderOptions()
        skipping.limits.digestLiterals = false
        let (hashedText, skippedText) = (MemoryOutput(), MemoryOutput())
        decode(Self.fetchSession, sinks: [TextWriter(hashedText, style: .init(color: false))])
        decode(Self.fetchSession, sinks: [TextWriter(skippedText, style: .init(color: false))], options: skipping)
        #expect(skippedText.text == hashedText.text)
        #expect(hashedText.text.contains("a3 FETCH 1 BODY[]"))

        let json = MemoryOutput()
        decode(Self.fetchSession, sinks: [JSONLinesWriter(json)])
        // hashlib.sha256(b"x" * 2998 + b"\r\n")
        let digest = "215e49ac231161b78043c02409817f05cf4a6994c07a391dc3a5b8940f6b7b89"
        #expect(json.text.contains(#""BODY[]":{"size":3000,"sha256":"\#(digest)""#))
    }

    @Test func annotatedText() {
        let out = MemoryOutput()
        decode(session, sinks: [TextWriter(out, style: .init(color: false))])
        let lines = out.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            lines[0]
                == "── session s1: 127.0.0.1:50000 → 127.0.0.1:143 (transcript, plaintext), 2023-11-14T22:13:20.000000Z"
        )
        #expect(lines[1].hasPrefix("    0.001  S  * OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] ready"))
        #expect(
            lines[1].hasSuffix(
                "greeting: the server is ready; the client must authenticate; server capabilities: 3; SASL mechanisms PLAIN"
            ))
        let login = "    0.003  C  a1 LOGIN alice {6+} \(Redactor(key: key).marker(for: Array("hunter".utf8)))"
        #expect(
            lines[2] == login + String(repeating: " ", count: 72 - login.count) + "log in as alice (password redacted)")
        #expect(lines.contains { $0.contains("* 1 FETCH (BODY[HEADER] {12} ‹12 bytes, header›)") })
        #expect(lines.contains { $0.hasPrefix("    0.003  !  warning: LOGIN sends the password in cleartext") })
        // Annotations start in one column.
        let noted = lines.filter { $0.contains("a2 OK [READ-WRITE] done") }.first!
        #expect(noted.firstIndex(of: "S").map { noted.distance(from: noted.startIndex, to: $0) } == 11)
        #expect(
            String(noted.dropFirst(72)).hasPrefix("SELECT completed in 3.00 ms; the mailbox is selected read-write"))
        #expect(lines.last(where: { !$0.isEmpty })!.hasPrefix("── end of session s1: closed, 4 command(s)"))
        #expect(!out.text.contains("\u{1B}["))
    }

    @Test func colourWhenAsked() {
        let out = MemoryOutput()
        decode(session, sinks: [TextWriter(out, style: .init(color: true))])
        #expect(out.text.contains("\u{1B}[36mC\u{1B}[0m"))
    }

    @Test func rfc3501StyleTranscript() throws {
        // Any spaces after the colon; indented editorial continuation lines; LF line ends.
        let text = "S:   * OK hi\nC:    a1 NOOP\nS: * 1 FETCH (FLAGS (\\Seen)\n     UID 4)\nS: a1 OK done\n"
        let chunks = try FixtureReader.read(Array(text.utf8))
        #expect(
            chunks.map { String(decoding: $0.bytes, as: UTF8.self) } == [
                "* OK hi\r\n", "a1 NOOP\r\n", "* 1 FETCH (FLAGS (\\Seen) UID 4)\r\n", "a1 OK done\r\n",
            ])
        #expect(chunks.map(\.direction) == [.server, .client, .server, .server])
    }

    @Test func readerRejectsNonTranscripts() {
        #expect { try FixtureReader.read(Array("hello\nworld\n".utf8)) } throws: {
            ($0 as? FixtureReader.Failure)?.line == 1
        }
        #expect(!FixtureReader.looksLikeTranscript(Array("GET / HTTP/1.1\r\n".utf8)))
        #expect(FixtureReader.looksLikeTranscript(Array("# comment\nS: * OK\n".utf8)))
    }
}

@Suite("Fixture continuation order")
struct FixtureContinuationOrderTests {
    /// Transcripts as they were on the wire → the fixture FixtureWriter writes. The decoder emits
    /// a command only with its literal, after the `+`; the writer puts the `+` (and server lines
    /// that came with it) back after the literal's header line.
    static let vectors: [(String, [String])] = [
        (
            "C: a1 APPEND INBOX {5}\nS: + go\nC: hello\nS: a1 OK appended\n",
            ["C: a1 APPEND INBOX {5}", "S: + go", "C: hello", "S: a1 OK appended"]
        ),
        // a pipelined completion between the + and the body stays after the +
        (
            "C: a0 NOOP\nC: a1 APPEND INBOX {5}\nS: + go\nS: a0 OK done\nC: hello\nS: a1 OK appended\n",
            ["C: a0 NOOP", "C: a1 APPEND INBOX {5}", "S: + go", "S: a0 OK done", "C: hello", "S: a1 OK appended"]
        ),
        // two synchronizing literals in one command, a body line that looks like a header
        (
            "C: a1 LOGIN {5}\nS: + one\nC: alice {3}\nS: + two\nC: pwd\nS: a1 OK in\n",
            ["C: a1 LOGIN {5}", "S: + one", "C: alice {3}", "S: + two", "C: pwd", "S: a1 OK in"]
        ),
        // IDLE's + and what came during it stay before DONE
        (
            "C: a1 IDLE\nS: + idling\nS: * 3 EXISTS\nC: DONE\nS: a1 OK done\n",
            ["C: a1 IDLE", "S: + idling", "S: * 3 EXISTS", "C: DONE", "S: a1 OK done"]
        ),
        // AUTHENTICATE's challenge stays before the response
        (
            "C: a1 AUTHENTICATE PLAIN\nS: + \nC: AGFsaWNlAHB3\nS: a1 OK in\n",
            ["C: a1 AUTHENTICATE PLAIN", "S: + ", "C: AGFsaWNlAHB3", "S: a1 OK in"]
        ),
    ]

    @Test(arguments: vectors.indices)
    func continuationGoesBackInPlace(_ i: Int) {
        let (script, expected) = Self.vectors[i]
        let out = MemoryOutput()
        decode("S: * OK ready\n" + script, sinks: [FixtureWriter(out)], showSecrets: true)
        let lines = out.text.components(separatedBy: "\r\n").filter { !$0.isEmpty && !$0.hasPrefix("#") }
        #expect(Array(lines.dropFirst()) == expected, "\(lines)")
    }
}
