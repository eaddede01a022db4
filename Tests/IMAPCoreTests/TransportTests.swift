import Testing

@testable import IMAPCore

/// `Transport` alone: what it says to frame, count or report for each direction's bytes.
@Suite("Transport")
struct TransportTests {
    /// A minimal TLS 1.3 ClientHello with SNI (RFC 8446 §4.1.2, RFC 6066 §3).
    static func clientHello(sni: String) -> [UInt8] {
        func be16(_ n: Int) -> [UInt8] { [UInt8(n >> 8), UInt8(n & 0xFF)] }
        let name = Array(sni.utf8)
        let sniExtension = be16(0) + be16(name.count + 5) + be16(name.count + 3) + [0] + be16(name.count) + name
        let extensions = sniExtension + be16(43) + be16(3) + [2, 3, 4]
        let body: [UInt8] =
            [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + be16(2) + [0x13, 0x01] + [1, 0]
            + be16(extensions.count) + extensions
        let handshake: [UInt8] = [1, 0] + be16(body.count) + body
        return [0x16, 3, 1] + be16(handshake.count) + handshake
    }

    /// `a1 NOOP\r\n` as raw DEFLATE (RFC 1951) with a sync flush, as COMPRESS=DEFLATE sends it.
    static let deflatedNoop: [UInt8] = [74, 52, 84, 240, 243, 247, 15, 224, 229, 2, 0, 0, 0, 255, 255]

    @Test("plaintext is framed as it is, and nothing is counted")
    func plaintext() {
        var transport = Transport(encrypted: false)
        var tls: DecodedEvent?
        guard case .frame = transport.receive(.client, Array("a1 NOOP\r\n".utf8), time: .zero, ready: &tls) else {
            Issue.record("plaintext not framed")
            return
        }
        #expect(tls == nil)
        #expect(transport.opaqueBytes.isEmpty)
        #expect(!transport.encrypted)
    }

    @Test("implicit TLS: every byte counted; the tls event waits for the whole ClientHello, split anywhere")
    func implicitTLSReadsTheClientHello() {
        let hello = Self.clientHello(sni: "mail.example.org")
        for cut in 1..<hello.count {
            var transport = Transport(encrypted: false)
            transport.encryptedFromStart(time: Timestamp(microseconds: 5))
            var tls: DecodedEvent?
            _ = transport.receive(.client, hello[..<cut], time: .zero, ready: &tls)
            #expect(tls == nil, "event before the hello was whole (cut \(cut))")
            _ = transport.receive(.client, hello[cut...], time: .zero, ready: &tls)
            guard case .tls(let event)? = tls?.body else {
                Issue.record("no tls event (cut \(cut))")
                continue
            }
            #expect(event.sni == "mail.example.org")
            #expect(event.phase == "implicit")
            #expect(tls?.time == Timestamp(microseconds: 5))
            #expect(transport.opaqueBytes[.client] == hello.count)
            #expect(transport.encrypted)
            #expect(transport.flushTLS(time: .zero) == nil, "the tls event was given twice")
        }
    }

    @Test("a session that ends before any ClientHello still gets its tls event, once, without a name")
    func flushWithoutHello() {
        var transport = Transport(encrypted: false)
        transport.encryptedFromStart(time: .zero)
        var tls: DecodedEvent?
        guard case .counted = transport.receive(.server, [0x16, 3, 3, 0, 1, 0], time: .zero, ready: &tls) else {
            Issue.record("server bytes not counted")
            return
        }
        #expect(transport.opaqueBytes[.server] == 6)
        guard case .tls(let event)? = transport.flushTLS(time: .zero)?.body else {
            Issue.record("no tls event at the end")
            return
        }
        #expect(event.sni == nil)
        #expect(transport.flushTLS(time: .zero) == nil)
    }

    @Test("STARTTLS in a capture: held bytes are counted, and a held ClientHello names the server")
    func startTLSUndecodable() {
        var transport = Transport(encrypted: false)
        let hello = Self.clientHello(sni: "imap.test")
        let event = transport.startTLSUndecodable(time: .zero, clientHeld: hello, serverHeld: 9)
        guard case .tls(let tls)? = event?.body else {
            Issue.record("no tls event")
            return
        }
        #expect(tls.phase == "starttls")
        #expect(tls.sni == "imap.test")
        #expect(transport.opaqueBytes[.client] == hello.count)
        #expect(transport.opaqueBytes[.server] == 9)
        #expect(transport.isOpaque(.client) && transport.isOpaque(.server))
    }

    @Test("COMPRESS: bytes are inflated; a corrupt stream is reported once, then counted")
    func compression() {
        var transport = Transport(encrypted: false)
        guard case .frameInflated(let held) = transport.startInflating(.server, held: []) else {
            Issue.record("inflating did not start")
            return
        }
        #expect(held.isEmpty)
        #expect(transport.compressed)
        var tls: DecodedEvent?
        guard case .frameInflated(let text) = transport.receive(.server, Self.deflatedNoop, time: .zero, ready: &tls)
        else {
            Issue.record("not inflated")
            return
        }
        #expect(text == Array("a1 NOOP\r\n".utf8))
        guard case .corrupt(let unparsed) = transport.receive(.server, [0xFF, 0xFF, 0xFF], time: .zero, ready: &tls)
        else {
            Issue.record("corrupt stream not reported")
            return
        }
        #expect(unparsed.raw == "‹3 compressed bytes›")
        #expect(unparsed.reason.hasPrefix("corrupt DEFLATE stream"))
        guard case .counted = transport.receive(.server, [1, 2], time: .zero, ready: &tls) else {
            Issue.record("bytes after the corruption not counted")
            return
        }
        #expect(transport.opaqueBytes[.server] == 5)
        #expect(!transport.isOpaque(.client))
    }

    @Test("COMPRESS of the client alone does not mark the session compressed")
    func clientOnlyCompression() {
        var transport = Transport(encrypted: false)
        guard case .frameInflated(let text) = transport.startInflating(.client, held: Self.deflatedNoop) else {
            Issue.record("held bytes not inflated")
            return
        }
        #expect(text == Array("a1 NOOP\r\n".utf8))
        #expect(!transport.compressed)
    }

    @Test(
        "bytes held at STARTTLS's OK, whether TLS records are expected → findings per side",
        arguments: [
            ([UInt8](), [UInt8](), true, nil, nil),
            ([0x16, 3, 1], [0x16, 3, 3], true, nil, nil),
            (Array("* OK\r\n".utf8), [0x16], true, Lint.plaintextAfterStartTLS(bytes: 6), nil),
            ([0x16], Array("a2 NOOP\r\n".utf8), true, nil, Lint.pipelinedAfterStartTLS(bytes: 9)),
            // imapscope terminates the TLS: nothing at all should have come yet.
            ([0x16], [0x16, 3], false, Lint.plaintextAfterStartTLS(bytes: 1), Lint.pipelinedAfterStartTLS(bytes: 2)),
            ([], [], false, nil, nil),
        ] as [([UInt8], [UInt8], Bool, Lint?, Lint?)])
    func findingsAfterStartTLS(
        _ serverHeld: [UInt8], _ clientHeld: [UInt8], _ recordsExpected: Bool, _ server: Lint?, _ client: Lint?
    ) {
        let findings = Transport.findingsAfterStartTLS(
            serverHeld: serverHeld, clientHeld: clientHeld, tlsRecordsExpected: recordsExpected)
        #expect(findings.server == server)
        #expect(findings.client == client)
    }
}
