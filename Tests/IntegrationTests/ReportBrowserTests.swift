import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Headless Chromium (Debian's `chromium`) opens a report, runs its script, and prints the DOM.
enum HeadlessChromium {
    static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The document after the page's scripts ran.
    static func dumpDOM(_ file: URL) throws -> String {
        let chromium = try #require(path, "chromium is not installed (apt-get install chromium)")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-chromium-\(UUID())")
        defer { try? FileManager.default.removeItem(at: profile) }
        let r = try run(
            chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile.path,
                "--dump-dom", file.absoluteString,
            ])
        #expect(r.status == 0, "chromium: \(r.stderr.suffix(2000))")
        return r.stdout
    }
}

/// What a report's input says, from `imapscope read --format jsonl` of the same files.
private struct InputFacts {
    var sessions = 0
    var commandTags: [String] = []
    var commandNames: [String] = []

    init(_ files: [String]) throws {
        let r = try run(Binary.imapscope, ["read", "--format", "jsonl"] + files)
        #expect(r.status == 0, "\(r.stderr)")
        for e in try JSONLinesReader.read(Array(r.stdout.utf8)) {
            switch e.body {
            case .sessionStart: sessions += 1
            case .command(let c):
                commandTags.append(c.tag)
                if !commandNames.contains(c.fullName) { commandNames.append(c.fullName) }
            default: break
            }
        }
    }
}

private func attributeValues(_ name: String, of kind: String, in dom: String) -> [String] {
    var values: [String] = []
    var rest = dom[...]
    while let r = rest.range(of: "data-kind=\"\(kind)\"") {
        // The element's start tag: from its `<` to its `>`.
        let open = rest[..<r.lowerBound].lastIndex(of: "<") ?? r.lowerBound
        let close = rest[r.upperBound...].firstIndex(of: ">") ?? rest.endIndex
        let tag = rest[open..<close]
        if let a = tag.range(of: " \(name)=\"") {
            values.append(String(tag[a.upperBound...].prefix { $0 != "\"" }))
        }
        rest = rest[close...]
    }
    return values
}

private func count(_ kind: String, in dom: String) -> Int {
    dom.components(separatedBy: "data-kind=\"\(kind)\"").count - 1
}

private func report(_ files: [String], extra: [String] = []) throws -> (html: String, dom: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-report-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("report.html")
    let r = try run(Binary.imapscope, ["report"] + files + ["--output", out.path] + extra)
    #expect(r.status == 0, "\(r.stderr)")
    let html = try String(contentsOf: out, encoding: .utf8)
    return (html, try HeadlessChromium.dumpDOM(out))
}

private func capture(_ name: String) -> String { Repo.captures.appendingPathComponent(name).path }

@Suite("Report in a browser", .serialized)
struct ReportBrowserTests {
    @Test(
        "sessions, command bars and latency rows in the rendered DOM are the input's",
        arguments: [
            ["pcap-mbsync.pcap"], ["pcap-idle-delivery.pcap"],
            ["pcap-condstore-qresync.pcap", "pcap-append-literals.pcap", "curl-fetch.transcript"],
        ])
    func domMatchesEvents(_ names: [String]) throws {
        let files = names.map(capture)
        let facts = try InputFacts(files)
        #expect(facts.sessions > 0 && !facts.commandTags.isEmpty)
        let (html, dom) = try report(files)
        #expect(dom.contains("data-rendered=\"true\""), "the report's script did not run to its end")
        #expect(count("session", in: dom) == facts.sessions)
        #expect(attributeValues("data-tag", of: "command", in: dom) == facts.commandTags)
        #expect(attributeValues("data-name", of: "latency", in: dom) == facts.commandNames)
        // One file, nothing fetched from anywhere (the only URL is the SVG namespace's name).
        for reference in ["https://", "src=\"", "<link", "url(http", "@import"] {
            #expect(!html.contains(reference), "the report refers to \(reference)")
        }
    }

    @Test("an IDLE capture shows its IDLE period and the EXISTS pushed during it")
    func idleMarks() throws {
        let (_, dom) = try report([capture("pcap-idle-delivery.pcap")])
        #expect(count("idle", in: dom) == 1)
        #expect(count("exists", in: dom) == 1)
    }

    @Test(
        "the report of a session with a password holds no secret, in the file or the page",
        arguments: [
            "pcap-auth-plain.pcap", "pcap-auth-login.pcap", "pcap-login-select-fetch.pcap", "auth-plain.transcript",
        ]
    )
    func noSecrets(_ name: String) throws {
        let (html, dom) = try report([capture(name)])
        #expect(secretScanForAlice.leaks(in: html).isEmpty, "\(secretScanForAlice.leaks(in: html))")
        #expect(secretScanForAlice.leaks(in: dom).isEmpty, "\(secretScanForAlice.leaks(in: dom))")
        #expect(dom.contains("data-kind=\"command\""))
        // The scan finds the password when it is there.
        let (shown, _) = try report([capture(name)], extra: ["--show-secrets"])
        #expect(!secretScanForAlice.leaks(in: shown).isEmpty)
    }

    @Test("a hostile server's text stays text: no element or script of its own reaches the page")
    func hostileServer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let transcript = dir.appendingPathComponent("hostile.transcript")
        let lines = [
            "S: * OK [CAPABILITY IMAP4rev1 <img src=x onerror=document.title='pwned'>] "
                + "<script>document.title='pwned'</script>",
            "C: a1 CAPABILITY",
            "S: * CAPABILITY IMAP4rev1 </script><script>document.title='pwned'</script>",
            "S: a1 OK <b id=\"injected\">bold</b> &amp; <!-- comment",
            "C: a2 SELECT \"<svg onload=alert(1)>\"",
            "S: a2 NO [TRYCREATE] <iframe src=\"javascript:alert(1)\"></iframe>",
        ]
        try Data((lines.joined(separator: "\r\n") + "\r\n").utf8).write(to: transcript)
        let (html, dom) = try report([transcript.path])
        #expect(html.components(separatedBy: "<script").count == 3)
        #expect(!dom.contains("pwned</title>"))
        #expect(!dom.contains("<img"))
        #expect(!dom.contains("<iframe"))
        #expect(!dom.contains("<b id="))
        #expect(!dom.contains("<svg onload"))
        // The text is there, as text.
        #expect(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"))
        #expect(dom.contains("&lt;b id=\"injected\"&gt;bold&lt;/b&gt;"))
        #expect(attributeValues("data-tag", of: "command", in: dom) == ["a1", "a2"])
    }

    @Test("a large session is drawn a page at a time: 1,000 bars and 400 transcript lines of 5,000 commands")
    func paging() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-large-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let transcript = dir.appendingPathComponent("large.transcript")
        var text =
            "S: * OK ready\r\nC: a0 LOGIN alice password\r\nS: a0 OK in\r\nC: a00 SELECT INBOX\r\nS: a00 OK sel\r\n"
        for i in 1...4998 { text += "C: a\(i) NOOP\r\nS: a\(i) OK done\r\n" }
        try Data(text.utf8).write(to: transcript)
        let (html, dom) = try report([transcript.path])
        #expect(count("command", in: dom) == 1000)
        #expect(attributeValues("data-tag", of: "command", in: dom).prefix(3) == ["a0", "a00", "a1"])
        #expect(dom.components(separatedBy: "class=\"row ").count - 1 == 400)
        #expect(dom.contains("commands 1\u{2013}1000 of 5000"))
        // Everything is in the file: the last command is in its data block.
        #expect(html.contains("a4998 OK done"))
        #expect(secretScanForAlice.leaks(in: html).isEmpty)
    }

    @Test("JSON Lines input gives the same report as the capture it was written from")
    func jsonLinesInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imapscope-jsonl-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let jsonl = dir.appendingPathComponent("mbsync.jsonl")
        let r = try run(Binary.imapscope, ["read", capture("pcap-mbsync.pcap"), "--format", "jsonl", "-o", jsonl.path])
        #expect(r.status == 0)
        let a = dir.appendingPathComponent("a.html")
        let b = dir.appendingPathComponent("b.html")
        for (input, out) in [(capture("pcap-mbsync.pcap"), a), (jsonl.path, b)] {
            let r = try run(Binary.imapscope, ["report", input, "-o", out.path, "--title", "mbsync"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        // The inputs' names differ, and each run's redaction markers (a key per process); nothing else.
        func normalized(_ url: URL, _ name: String) throws -> String {
            try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: name, with: "X")
                .replacingOccurrences(of: #"‹redacted:[0-9a-f]{8}›"#, with: "‹redacted›", options: .regularExpression)
        }
        let left = try normalized(a, "pcap-mbsync.pcap")
        #expect(left.contains("‹redacted›"))
        #expect(left == (try normalized(b, "mbsync.jsonl")))
    }
}
