import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Each mechanism's secret must be absent from every output format unless --show-secrets.
struct RedactionVector: CustomTestStringConvertible, Sendable {
    var name: String
    var script: String
    var secrets: [String]
    /// A user name that must stay visible in the JSON Lines.
    var user: String?
    var testDescription: String { name }
}

private func b64(_ s: String) -> String { Base64.encode(Array(s.utf8)) }

enum Outputs {
    /// JSON Lines, annotated text and fixture of one script.
    static func all(_ script: String, showSecrets: Bool = false) -> [String: String] {
        let j = MemoryOutput()
        let t = MemoryOutput()
        let f = MemoryOutput()
        let p = EventPipeline(
            redactor: Redactor(showSecrets: showSecrets),
            sinks: [JSONLinesWriter(j), TextWriter(t, style: .init(color: false)), FixtureWriter(f)])
        let d = SessionDecoder()
        let t0 = Timestamp(seconds: 1_700_000_000)
        p.publish(d.start(client: "127.0.0.1:1", server: "127.0.0.1:143", source: "transcript", time: t0), session: "s")
        for c in Harness.chunks(script) { p.publish(d.feed(c.direction, c.bytes, time: t0), session: "s") }
        p.publish(d.finish(reason: "end", time: t0), session: "s")
        p.finish()
        return ["jsonl": j.text, "text": t.text, "fixture": f.text]
    }
}

@Suite("Redaction")
struct RedactionTests {
    static let vectors: [RedactionVector] = [
        .init(
            name: "LOGIN atom", script: "S: * OK hi\nC: a1 LOGIN alice s3cr3tpw\nS: a1 OK\n", secrets: ["s3cr3tpw"],
            user: "alice"),
        .init(
            name: "LOGIN quoted", script: "S: * OK hi\nC: a1 LOGIN \"alice\" \"s3cr3t pw\\\"x\"\nS: a1 OK\n",
            secrets: ["s3cr3t pw", "pw\\\"x", "pw\"x"], user: "alice"),
        .init(
            name: "LOGIN literals",
            script: "S: * OK hi\nC: a1 LOGIN {5}\nS: + go\nC: alice {9}\nS: + go\nC: s3cr3tpw!\nS: a1 OK\n",
            secrets: ["s3cr3tpw!"], user: "alice"),
        .init(
            name: "LOGIN non-synchronizing literal",
            script: "S: * OK [CAPABILITY IMAP4rev1 LITERAL+] hi\nC: a1 LOGIN alice {9+}\nC: s3cr3tpw!\nS: a1 OK\n",
            secrets: ["s3cr3tpw!"], user: "alice"),
        .init(
            name: "AUTHENTICATE PLAIN",
            script: "S: * OK hi\nC: a1 AUTHENTICATE PLAIN\nS: +\nC: \(b64("\u{0}alice\u{0}s3cr3tpw"))\nS: a1 OK\n",
            secrets: [b64("\u{0}alice\u{0}s3cr3tpw"), "s3cr3tpw"], user: "alice"),
        .init(
            name: "AUTHENTICATE PLAIN SASL-IR",
            script: "S: * OK hi\nC: a1 AUTHENTICATE PLAIN \(b64("admin\u{0}alice\u{0}s3cr3tpw"))\nS: a1 OK\n",
            secrets: [b64("admin\u{0}alice\u{0}s3cr3tpw"), "s3cr3tpw"], user: "alice"),
        .init(
            name: "AUTHENTICATE LOGIN",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE LOGIN\nS: + \(b64("Username:"))\nC: \(b64("alice"))\nS: + \(b64("Password:"))\nC: \(b64("s3cr3tpw"))\nS: a1 OK\n",
            secrets: [b64("s3cr3tpw"), "s3cr3tpw"], user: "alice"),
        .init(
            name: "AUTHENTICATE XOAUTH2",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE XOAUTH2 \(b64("user=alice@example.com\u{1}auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\u{1}\u{1}"))\nS: a1 OK\n",
            secrets: [
                "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg",
                b64("user=alice@example.com\u{1}auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\u{1}\u{1}"),
            ], user: "alice@example.com"),
        .init(
            name: "AUTHENTICATE OAUTHBEARER",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE OAUTHBEARER\nS: +\nC: \(b64("n,a=alice@example.com,\u{1}host=server.example.com\u{1}port=143\u{1}auth=Bearer vF9dft4qmTc2Nvb3RlckBh\u{1}\u{1}"))\nS: a1 OK\n",
            secrets: [
                "vF9dft4qmTc2Nvb3RlckBh",
                b64(
                    "n,a=alice@example.com,\u{1}host=server.example.com\u{1}port=143\u{1}auth=Bearer vF9dft4qmTc2Nvb3RlckBh\u{1}\u{1}"
                ),
            ], user: "alice@example.com"),
        .init(
            name: "AUTHENTICATE CRAM-MD5",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE CRAM-MD5\nS: + PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\nC: \(b64("alice b913a602c7eda7a495b4e6e7334d3890"))\nS: a1 OK\n",
            secrets: ["b913a602c7eda7a495b4e6e7334d3890", b64("alice b913a602c7eda7a495b4e6e7334d3890")], user: "alice"),
        .init(
            name: "AUTHENTICATE DIGEST-MD5",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE DIGEST-MD5\nS: + \(b64("realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8"))\nC: \(b64("charset=utf-8,username=\"alice\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,qop=auth"))\nS: + \(b64("rspauth=ea40f60335c427b5527b84dbabcdfffd"))\nC:\nS: a1 OK\n",
            secrets: [
                "d388dad90d4bbd760a152321f2143af7", "ea40f60335c427b5527b84dbabcdfffd",
                b64(
                    "charset=utf-8,username=\"alice\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7,qop=auth"
                ),
                b64("rspauth=ea40f60335c427b5527b84dbabcdfffd"),
            ], user: "alice"),
        .init(
            name: "AUTHENTICATE SCRAM-SHA-256",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE SCRAM-SHA-256 \(b64("n,,n=alice,r=rOprNGfwEbeRWgbNEkqO"))\nS: + \(b64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))\nC: \(b64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))\nS: + \(b64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))\nC:\nS: a1 OK\n",
            secrets: [
                "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                b64("n,,n=alice,r=rOprNGfwEbeRWgbNEkqO"),
                b64(
                    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                ),
                b64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            ], user: "alice"),
        .init(
            name: "AUTHENTICATE NTLM",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE NTLM\nS: +\nC: TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==\nS: + TlRMTVNTUAACAAAADAAMADgAAAAFgomiSECRETCHALLENGE\nC: TlRMTVNTUAADAAAAGAAYAEAAAADSECRETRESPONSEBLOB==\nS: a1 OK\n",
            secrets: [
                "TlRMTVNTUAADAAAAGAAYAEAAAADSECRETRESPONSEBLOB==",
                "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
            ], user: nil),
        .init(
            name: "AUTHENTICATE GSSAPI",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE GSSAPI\nS: +\nC: YIIB+wYJKoZIhvcSAQICAQBuggHqMIIB5qADAgEFoQMCAQ6iBwMFACAAAACjggEmYYIBIjCCAR6gAwIBBaESGxBVNjLUSU9OU0VDUkVU\nS: a1 OK\n",
            secrets: [
                "YIIB+wYJKoZIhvcSAQICAQBuggHqMIIB5qADAgEFoQMCAQ6iBwMFACAAAACjggEmYYIBIjCCAR6gAwIBBaESGxBVNjLUSU9OU0VDUkVU"
            ], user: nil),
        .init(
            name: "AUTHENTICATE unknown mechanism",
            script:
                "S: * OK hi\nC: a1 AUTHENTICATE X-TOKEN dG9rZW4tdmFsdWUtMTIzNDU=\nS: +\nC: bW9yZS1zZWNyZXQtc3R1ZmY=\nS: a1 OK\n",
            secrets: [
                "dG9rZW4tdmFsdWUtMTIzNDU=", "token-value-12345", "bW9yZS1zZWNyZXQtc3R1ZmY=", "more-secret-stuff",
            ], user: nil),
        .init(
            name: "malformed LOGIN", script: "S: * OK hi\nC: a1 LOGIN alice \"unterminated s3cr3tpw\nS: a1 BAD\n",
            secrets: ["s3cr3tpw"], user: nil),
    ]

    /// Every form a secret takes on the wire: itself, and base64 at each alignment (a SASL line
    /// or a SASL-IR token carries it base64-encoded inside a longer message).
    static func leaks(of secret: String, in output: String) -> [String] {
        // Markers are imapscope's own hex: strip them so a short base64 form cannot match one.
        let text = output.replacingOccurrences(
            of: #"‹redacted:[0-9a-f]+›"#, with: "‹redacted›",
            options: .regularExpression)
        return (text.contains(secret) ? [secret] : []) + SecretScan(secret).leaks(in: text).filter { $0 != secret }
    }

    @Test("absent from every output, in every wire form", arguments: vectors)
    func absent(_ v: RedactionVector) {
        let outs = Outputs.all(v.script)
        for (format, text) in outs {
            for s in v.secrets {
                let found = Self.leaks(of: s, in: text)
                #expect(found.isEmpty, "\(format) shows \(s) as \(found)")
            }
            #expect(text.contains("‹redacted:"), "\(format) has no marker")
        }
        if let u = v.user {
            #expect(outs["jsonl"]?.contains("\"user\":\"\(u)\"") == true, "user \(u) not shown")
        }
    }

    @Test("shown with --show-secrets", arguments: vectors.filter { $0.name.hasPrefix("LOGIN") })
    func shown(_ v: RedactionVector) {
        let outs = Outputs.all(v.script, showSecrets: true)
        #expect(outs["fixture"]?.contains(v.secrets[0]) == true)
        #expect(outs["text"]?.contains(v.secrets[0]) == true)
    }

    @Test func sameSecretSameMarkerWithinARun() {
        let r = Redactor()
        #expect(r.marker(for: Array("pw".utf8)) == r.marker(for: Array("pw".utf8)))
        #expect(r.marker(for: Array("pw".utf8)) != r.marker(for: Array("pw2".utf8)))
        #expect(Redactor().marker(for: Array("pw".utf8)) != r.marker(for: Array("pw".utf8)))
    }

    @Test func secretLiteralResizedInFixture() throws {
        let f = try #require(Outputs.all("S: * OK hi\nC: a1 LOGIN alice {9+}\nC: s3cr3tpw!\nS: a1 OK\n")["fixture"])
        // The marker replaces the literal body and the header names the marker's length.
        let line = try #require(f.split(separator: "\r\n").first { $0.hasPrefix("C: a1 LOGIN") }, "\(f)")
        let markerLine = try #require(
            f.split(separator: "\r\n").first { $0.hasPrefix("C: ‹redacted:") },
            "no marker in \(f)")
        let marker = markerLine.dropFirst(3)
        #expect(line == "C: a1 LOGIN alice {\(marker.utf8.count)+}")
    }
}
