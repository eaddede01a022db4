import Testing

@testable import IMAPCore

/// A session's framing alone: bytes in, frames out, and what STARTTLS and COMPRESS do to the
/// bytes each side sent on before the switch.
@Suite("Session framing")
struct SessionFramingTests {
    /// The text of every line `dir` has framed so far.
    static func lines(_ framing: inout SessionFraming, _ dir: Direction) -> [String] {
        var lines: [String] = []
        while let frame = framing.nextFrame(dir) {
            if case .line(let line) = frame {
                lines.append(String(decoding: line.segments.flatMap(\.text), as: UTF8.self))
            }
        }
        return lines
    }

    /// A framing where the client sent STARTTLS, then `clientAfter` before the server's OK, and
    /// the server sent `serverAfter` right after its OK.
    static func startingTLS(clientAfter: [UInt8], serverAfter: [UInt8]) -> SessionFraming {
        var framing = SessionFraming(options: DecoderOptions())
        _ = framing.receive(.client, Array("a1 STARTTLS\r\n".utf8), time: .zero)
        #expect(lines(&framing, .client) == ["a1 STARTTLS"])
        framing.client.pause()
        _ = framing.receive(.client, clientAfter, time: .zero)
        _ = framing.receive(.server, Array("a1 OK go\r\n".utf8) + serverAfter, time: .zero)
        // The decoder switches on the OK's line, before framing what follows it.
        guard case .line(let ok)? = framing.nextFrame(.server) else {
            Issue.record("the OK is framed")
            return framing
        }
        #expect(ok.segments.first?.text == Array("a1 OK go".utf8))
        #expect(lines(&framing, .client) == [])
        return framing
    }

    @Test("plaintext in both directions, and the proxy's own lines, frame as they come")
    func plaintext() {
        var framing = SessionFraming(options: DecoderOptions())
        guard case .framed = framing.receive(.client, Array("a1 NOOP\r\na2 CAPA".utf8), time: .zero) else {
            Issue.record("plaintext is framed")
            return
        }
        #expect(Self.lines(&framing, .client) == ["a1 NOOP"])
        _ = framing.receive(.client, Array("BILITY\r\n".utf8), time: .zero)
        #expect(Self.lines(&framing, .client) == ["a2 CAPABILITY"])
        _ = framing.receive(.proxy, Array("a1 OK Begin TLS\r\n".utf8), time: .zero)
        #expect(Self.lines(&framing, .proxy) == ["a1 OK Begin TLS"])
        #expect(framing.skip(.server, lost: 10) == nil)
    }

    @Test("STARTTLS in a capture: everything after is counted; plaintext either side sent on is a finding")
    func startTLSUndecoded() {
        var framing = Self.startingTLS(clientAfter: Array("a2 NOOP\r\n".utf8), serverAfter: [0x16, 3, 3])
        guard case .undecoded(let tls, let serverFinding, let clientFinding) = framing.startTLS(.encrypted, time: .zero)
        else {
            Issue.record("a capture cannot read the TLS")
            return
        }
        // The held client bytes were no ClientHello: the `tls` event comes at once, naming no server.
        guard case .tls(let event)? = tls?.body else {
            Issue.record("a tls event")
            return
        }
        #expect(event.phase == "starttls" && event.sni == nil)
        #expect(serverFinding == nil)
        #expect(clientFinding == .pipelinedAfterStartTLS(bytes: 9))
        #expect(framing.isOpaque(.client) && framing.isOpaque(.server))
        guard case .counted = framing.receive(.server, [0x16, 3, 3, 0, 1], time: .zero) else {
            Issue.record("TLS is counted")
            return
        }
        #expect(framing.nextFrame(.server) == nil && framing.finish(.server) == nil)
        #expect(framing.transport.opaqueBytes == [.client: 9, .server: 8])
    }

    @Test("STARTTLS through the proxy: both sides wait for its handshakes, then plaintext goes on")
    func startTLSAwaitingHandshakes() {
        var framing = Self.startingTLS(clientAfter: [], serverAfter: Array("* OK\r\n".utf8))
        guard case .awaitingHandshakes(let serverFinding, let clientFinding) = framing.startTLS(.plaintext, time: .zero)
        else {
            Issue.record("the proxy terminates the TLS")
            return
        }
        #expect(serverFinding == .plaintextAfterStartTLS(bytes: 6) && clientFinding == nil)
        _ = framing.receive(.client, Array("a2 NOOP\r\n".utf8), time: .zero)
        #expect(Self.lines(&framing, .client) == [])
        framing.tlsEstablished()
        #expect(Self.lines(&framing, .client) == ["a2 NOOP"])
        #expect(framing.transport.encrypted && !framing.isOpaque(.client))
    }

    @Test("STARTTLS in the proxy's own capture, or handed back to a key log's reader")
    func startTLSDecryptedOrHandedOff() {
        var decrypted = Self.startingTLS(clientAfter: Array("a2 NOOP\r\n".utf8), serverAfter: Array("* OK\r\n".utf8))
        guard case .decrypted = decrypted.startTLS(.decrypted, time: .zero) else {
            Issue.record("plaintext follows at once")
            return
        }
        #expect(Self.lines(&decrypted, .client) == ["a2 NOOP"])
        #expect(Self.lines(&decrypted, .server) == ["* OK"])

        var handedOff = Self.startingTLS(clientAfter: [0x16, 3, 1], serverAfter: [0x16, 3, 3, 0])
        guard case .handOff(let held) = handedOff.startTLS(.handOff, time: .zero) else {
            Issue.record("the bytes go back to the source")
            return
        }
        #expect(held == [.client: [0x16, 3, 1], .server: [0x16, 3, 3, 0]])
        #expect(!handedOff.isOpaque(.client) && !handedOff.client.isPaused)
    }

    @Test("COMPRESS: held bytes that are no DEFLATE stream are reported, with their count")
    func startInflatingCorrupt() {
        var framing = SessionFraming(options: DecoderOptions())
        framing.client.pause()
        _ = framing.receive(.client, [0xFF, 0xFF, 0xFF, 0xFF], time: .zero)
        _ = framing.receive(.server, [0xFF, 0xFF], time: .zero)
        let broken = framing.startInflating(serverToo: true)
        #expect(broken.server?.bytes == 2)
        #expect(broken.client?.bytes == 4)
        #expect(broken.client?.unparsed.raw == "‹4 compressed bytes›")
        #expect(framing.isOpaque(.client) && framing.isOpaque(.server))
        #expect(framing.transport.compressed)
    }

    @Test("COMPRESS in a transcript written inflated: nothing changes but the flag, and the client resumes")
    func alreadyInflated() {
        var framing = SessionFraming(options: DecoderOptions())
        framing.client.pause()
        _ = framing.receive(.client, Array("a2 NOOP\r\n".utf8), time: .zero)
        #expect(Self.lines(&framing, .client) == [])
        framing.compressionAlreadyInflated()
        #expect(Self.lines(&framing, .client) == ["a2 NOOP"])
        #expect(framing.transport.compressed && !framing.isOpaque(.client))
    }
}
