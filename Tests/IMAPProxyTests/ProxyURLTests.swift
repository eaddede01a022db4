import Testing

@testable import IMAPProxy

@Suite("ProxyURL")
struct ProxyURLTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var text: String
        var expected: String?  // description, or nil when it must be refused
        var error: String? = nil
        var testDescription: String { text }
    }

    static let vectors: [Vector] = [
        .init(text: "imaps://mail.example.org", expected: "imaps://mail.example.org:993"),
        .init(text: "imap://mail.example.org", expected: "imap://mail.example.org:143"),
        .init(text: "imap+starttls://mail.example.org:1143/", expected: "imap+starttls://mail.example.org:1143"),
        .init(text: "IMAPS://127.0.0.1:1993", expected: "imaps://127.0.0.1:1993"),
        .init(text: "imap://[::1]:1143", expected: "imap://[::1]:1143"),
        .init(text: "imaps://[::1]", expected: "imaps://[::1]:993"),
        .init(text: "imaps://:1993", expected: "imaps://127.0.0.1:1993"),  // listeners default to loopback
        .init(
            text: "pop3://x:110", expected: nil,
            error: "'pop3://x:110': expected imap://, imaps:// or imap+starttls://host:port"),
        .init(text: "imap://x:99999", expected: nil, error: "'imap://x:99999': invalid port"),
        .init(text: "imap://[::1:143", expected: nil, error: "'imap://[::1:143': unclosed '[' in IPv6 address"),
        .init(
            text: "mail.example.org:993", expected: nil,
            error: "'mail.example.org:993': expected imap://, imaps:// or imap+starttls://host:port"),
    ]

    @Test(arguments: vectors)
    func parses(_ v: Vector) {
        do {
            let u = try ProxyURL(parsing: v.text, defaultHost: "127.0.0.1")
            #expect(u.description == v.expected)
        } catch {
            #expect(v.expected == nil)
            #expect("\(error)" == v.error)
        }
    }

    @Test func anUpstreamNeedsAHost() {
        #expect(throws: ProxyURL.Invalid.self) { try ProxyURL(parsing: "imaps://:993") }
    }
}

@Suite("LineCutter")
struct LineCutterTests {
    /// Reads → (text, end offset in that read, began in that read) of each line completed.
    static let vectors: [(reads: [String], lines: [[String]])] = [
        (["a1 NOOP\r\nb"], [["a1 NOOP|9|true"]]),
        (["a1 STAR", "TTLS\r\n"], [[], ["a1 STARTTLS|6|false"]]),
        (["a1 STARTTLS", "\r", "\n* OK\r\n"], [[], [], ["a1 STARTTLS|1|false", "* OK|7|true"]]),
        // a literal body's line is not a line of its own
        (["a1 LOGIN {12}\r\nb STARTTLS\r\n", "\r\nc NOOP\r\n"], [[], ["a1 LOGIN {12}|2|false", "c NOOP|10|true"]]),
    ]

    @Test(arguments: vectors.indices)
    func linesEndWhereTheyEnd(_ i: Int) {
        var cutter = LineCutter()
        for (read, expected) in zip(Self.vectors[i].reads, Self.vectors[i].lines) {
            let got = cutter.lines(in: Array(read.utf8)).map { line in
                "\(String(decoding: line.text, as: UTF8.self))|\(line.end)|\(line.startsHere)"
            }
            #expect(got == expected, "read \(read.debugDescription)")
        }
    }
}
