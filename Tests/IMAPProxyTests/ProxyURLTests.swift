import IMAPProxy
import Testing

@Suite("ProxyURL")
struct ProxyURLTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var text: String
        var expected: String?   // description, or nil when it must be refused
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
        .init(text: "imaps://:1993", expected: "imaps://127.0.0.1:1993"),   // listeners default to loopback
        .init(text: "pop3://x:110", expected: nil, error: "'pop3://x:110': expected imap://, imaps:// or imap+starttls://host:port"),
        .init(text: "imap://x:99999", expected: nil, error: "'imap://x:99999': invalid port"),
        .init(text: "imap://[::1:143", expected: nil, error: "'imap://[::1:143': unclosed '[' in IPv6 address"),
        .init(text: "mail.example.org:993", expected: nil, error: "'mail.example.org:993': expected imap://, imaps:// or imap+starttls://host:port"),
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
