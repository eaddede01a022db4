import IMAPCore
import IMAPTranscript
import Testing

/// A conversation with times: (milliseconds since the start, direction, line without CRLF).
private typealias Step = (ms: Int64, dir: Direction, line: String)

private let origin: Int64 = 1_700_000_000_000_000

private func time(_ ms: Int64) -> Timestamp { Timestamp(microseconds: origin + ms * 1000) }

/// Decodes `steps` as session `id` and feeds the redacted events to `sinks`.
private func decode(_ steps: [Step], session id: String = "s1", endAt: Int64? = nil, into sinks: [EventSink]) {
    let p = EventPipeline(redactor: Redactor(key: Array(repeating: 9, count: 32)), sinks: sinks)
    let d = SessionDecoder(options: DecoderOptions())
    p.publish(d.start(client: "127.0.0.1:50000", server: "127.0.0.1:143", source: "pcap", time: time(0)), session: id)
    for s in steps { p.publish(d.feed(s.dir, Array((s.line + "\r\n").utf8), time: time(s.ms)), session: id) }
    p.publish(d.finish(reason: "closed", time: time(endAt ?? (steps.last?.ms ?? 0))), session: id)
}

private let pipelined: [Step] = [
    (0, .server, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"),
    (10, .client, "a1 LOGIN alice secret"),
    (30, .server, "a1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] welcome"),
    (40, .client, "a2 SELECT INBOX"),
    (41, .server, "* 3 EXISTS"),
    (42, .server, "a2 OK [READ-WRITE] done"),
    (50, .client, "a3 FETCH 1 (FLAGS)"),
    (51, .client, "a4 FETCH 2 (FLAGS)"),
    (52, .client, "a5 NOOP"),
    (60, .server, "* 1 FETCH (FLAGS (\\Seen))"),
    (61, .server, "a3 OK done"),
    (70, .server, "* 2 FETCH (FLAGS ())"),
    (72, .server, "a4 NO no such message"),
    (80, .server, "a5 BAD what"),
    (90, .client, "a6 FETCH 3 (FLAGS)"),
]

@Suite("Report model")
struct ReportModelTests {
    @Test func commandsHaveSendAndCompletionTimesStatusesAndLanes() {
        let m = ReportModel()
        decode(pipelined, into: [m])
        m.finish()
        #expect(m.sessions.count == 1)
        let got = m.commands.map { c in
            "\(c.tag) \(c.name) \(c.sent.microseconds - origin) \(c.completed.map { $0.microseconds - origin } ?? -1) "
                + "\(c.status ?? "-") lane \(c.lane)"
        }
        #expect(
            got == [
                "a1 LOGIN 10000 30000 OK lane 0",
                "a2 SELECT 40000 42000 OK lane 0",
                "a3 FETCH 50000 61000 OK lane 0",
                "a4 FETCH 51000 72000 NO lane 1",
                "a5 NOOP 52000 80000 BAD lane 2",
                "a6 FETCH 90000 -1 - lane 0",
            ])
        let s = m.sessions[0]
        #expect(s.lanes == 3)
        #expect(s.errors == 2)
        #expect(s.commands == [0, 1, 2, 3, 4, 5])
        #expect(s.end.microseconds - origin == 90000)
        #expect(s.transport == "plaintext")
        #expect(s.selected == "INBOX")
    }

    @Test func latencyTableCountsPerNameWithPercentiles() {
        let m = ReportModel()
        decode(pipelined, into: [m])
        let table = m.latencyTable.map { l in
            [l.name, "\(l.count)", "\(l.completed)", "\(l.no)", "\(l.bad)"]
                + [l.p50, l.p95, l.max].map { $0.map { Decimal.format($0, 1) } ?? "-" }
        }
        #expect(
            table == [
                ["LOGIN", "1", "1", "0", "0", "20.0", "20.0", "20.0"],
                ["SELECT", "1", "1", "0", "0", "2.0", "2.0", "2.0"],
                // a3 11 ms, a4 21 ms; a6 never completed.
                ["FETCH", "3", "2", "1", "0", "11.0", "21.0", "21.0"],
                ["NOOP", "1", "1", "0", "1", "28.0", "28.0", "28.0"],
            ])
    }

    @Test func rowsAreWhatTheTextSinkWritesGroupedByCommand() {
        let m = ReportModel()
        let text = MemoryOutput()
        decode(pipelined, into: [m, TextWriter(text, style: .init(color: false))])
        #expect(m.rows.map(\.text).joined(separator: "\n") + "\n" == text.text)
        // The password never reaches a row.
        #expect(!m.rows.contains { $0.text.contains("secret") })
        // Each row's command: a1's line and completion are group 0; the FETCH responses belong to
        // the last command in flight.
        let groups = m.rows.map { "\($0.kind.rawValue)\($0.command)" }
        #expect(groups.first == "h-1")
        #expect(groups.last == "h-1")
        let a3 = m.rows.firstIndex { $0.text.contains("a3 OK done") }
        #expect(a3.map { m.rows[$0].command } == 2)
        #expect(a3.map { m.rows[$0].kind } == .ok)
        let bad = m.rows.firstIndex { $0.text.contains("a5 BAD what") }
        #expect(bad.map { m.rows[$0].kind } == .bad)
        #expect(m.commands[2].row == m.rows.firstIndex { $0.text.contains("a3 FETCH 1") })
        #expect(m.commands[2].completionRow == a3)
    }

    @Test func capabilityChangesAndMailboxState() {
        let m = ReportModel()
        decode(pipelined, into: [m])
        let caps = m.sessions[0].capabilityChanges.map { "\($0.added) \($0.removed) \($0.capabilities.count)" }
        #expect(caps == [#"["IMAP4rev1", "AUTH=PLAIN"] [] 2"#, #"["IDLE", "MOVE"] ["AUTH=PLAIN"] 3"#])
        let mailbox = m.sessions[0].mailbox.map { "\($0.0)=\($0.1)" }
        #expect(mailbox.first == "name=INBOX")
        #expect(mailbox.contains("exists=3"))
    }

    @Test func idleUnsolicitedExistsAndQuietStretchesAreMarked() {
        let steps: [Step] = [
            (0, .server, "* OK ready"),
            (5, .client, "a1 LOGIN alice secret"),
            (6, .server, "a1 OK hi"),
            (7, .client, "a2 SELECT INBOX"),
            (8, .server, "* 3 EXISTS"),
            (9, .server, "a2 OK [READ-WRITE] done"),
            (10, .client, "a3 IDLE"),
            (11, .server, "+ idling"),
            (2500, .server, "* 4 EXISTS"),
            (2600, .client, "DONE"),
            (2601, .server, "a3 OK Idle completed"),
        ]
        let m = ReportModel()
        decode(steps, into: [m])
        let marks = m.sessions[0].marks.map {
            let from = ($0.start.microseconds - origin) / 1000
            return "\($0.kind.rawValue) \(from)-\(($0.end.microseconds - origin) / 1000) \($0.label)"
        }
        #expect(
            marks == [
                "quiet 11-2500 no traffic for 2.5 s",
                "exists 2500-2500 unsolicited 4 EXISTS",
                "idle 10-2601 IDLE",
            ])
        // The marks' rows are the lines they stand for.
        let exists = m.sessions[0].marks[1]
        #expect(m.rows[exists.row].text.contains("S  * 4 EXISTS   "))
    }

    @Test func lintsPointAtTheirRows() {
        let m = ReportModel()
        decode(pipelined, into: [m])
        // LOGIN over plaintext is linted right after its line, a6 at the end for its missing completion.
        #expect(m.lints.map(\.code) == ["cleartext-login", "no-completion"])
        #expect(m.lints.allSatisfy { m.rows[$0.row].kind == .lint && m.rows[$0.row].text.contains($0.message) })
        #expect(m.rows[m.lints[0].row - 1].text.contains("a1 LOGIN alice"))
        #expect(m.sessions[0].lints == 2)
    }

    @Test func aSessionIdUsedAgainAfterItEndedIsANewSession() {
        // `read a.pcap b.pcap` numbers each file's sessions from s1.
        let m = ReportModel()
        decode(Array(pipelined.prefix(3)), into: [m])
        decode(Array(pipelined.prefix(6)), into: [m])
        #expect(m.sessions.map(\.id) == ["s1", "s1"])
        #expect(m.sessions.map(\.commands.count) == [1, 2])
        #expect(m.sessions[1].firstRow == m.rows.firstIndex { $0.session == 1 })
        #expect(m.latencyTable.map(\.count) == [2, 1])
    }

    @Test func rowsPastTheLimitAreCountedNotKept() {
        let all = ReportModel()
        decode(pipelined, into: [all])
        let m = ReportModel(rowLimit: 10)
        decode(pipelined, into: [m])
        #expect(m.rows.count == 10)
        #expect(m.droppedRows == all.rows.count - 10)
        #expect(m.rows == Array(all.rows.prefix(10)))
        // Everything but the transcript is whole; what lies past the limit points at no row.
        #expect(m.commands.count == 6)
        #expect(m.latencyTable == all.latencyTable)
        #expect(m.commands.map(\.row) == all.commands.map { $0.row < 10 ? $0.row : -1 })
        #expect(m.lints.map(\.row) == all.lints.map { $0.row < 10 ? $0.row : -1 })
        let out = MemoryOutput()
        ReportHTML.render(m, title: "t", inputs: [], to: out)
        #expect(out.text.contains("\"droppedRows\":\(m.droppedRows)"))
    }

    @Test func htmlEscapesEverythingFromTheWire() {
        let hostile: [Step] = [
            (0, .server, "* OK <script>alert(1)</script> ready"),
            (1, .client, "a1 CAPABILITY"),
            (2, .server, "* CAPABILITY IMAP4rev1 X-</script><img/src=x/onerror=alert(2)>"),
            (3, .server, "a1 OK </script><script>alert(3)</script>&amp;"),
        ]
        let m = ReportModel()
        decode(hostile, into: [m])
        m.finish()
        let out = MemoryOutput()
        ReportHTML.render(m, title: "<b>x</b>", inputs: ["</script>.pcap"], to: out)
        let html = out.text
        // Two script elements: the JSON block and the report's own script; no markup from the wire.
        #expect(html.components(separatedBy: "<script").count == 3)
        #expect(html.components(separatedBy: "</script>").count == 3)
        #expect(!html.contains("<img"))
        #expect(!html.contains("alert(1)</"))
        #expect(html.contains("<title>&lt;b&gt;x&lt;/b&gt;</title>"))
        #expect(html.contains(#"\u003cscript\u003ealert(1)\u003c/script\u003e"#))
        // The JSON block parses back to the same text.
        let start = html.range(of: #"<script type="application/json" id="report-data">"#)
        let end = html.range(of: "</script>", range: (start?.upperBound ?? html.endIndex)..<html.endIndex)
        if let start, let end {
            let data = try? JSONParser.parse(String(html[start.upperBound..<end.lowerBound]))
            let rows = data?["rows"]?.arrayValue ?? []
            #expect(rows.count == m.rows.count)
            #expect(rows.last?.arrayValue?[3].stringValue == m.rows.last?.text)
            #expect(rows.contains { $0.arrayValue?[3].stringValue?.contains("<script>alert(1)</script>") == true })
        } else {
            Issue.record("no JSON block")
        }
    }

    @Test func jsonStringsAreSafeInsideAScriptElement() throws {
        let vectors: [(String, String)] = [
            ("plain", #""plain""#),
            ("</script>", #""\u003c/script\u003e""#),
            ("a&b", #""a\u0026b""#),
            ("q\"\\", #""q\"\\""#),
            ("tab\tnl\n", #""tab\u0009nl\n""#),
            ("é‹x›", "\"é‹x›\""),
        ]
        for (input, expected) in vectors {
            var b: [UInt8] = []
            ReportHTML.writeString(input, to: &b)
            #expect(String(decoding: b, as: UTF8.self) == expected, "\(input)")
            #expect(try JSONParser.parse(b).stringValue == input)
        }
    }
}
