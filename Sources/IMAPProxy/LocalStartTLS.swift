import IMAPCore
import NIOCore
import NIOSSL

/// A plaintext listener in front of an `imap+starttls://` upstream. The client sees the
/// server's plaintext greeting, which offers STARTTLS, but imapscope has already upgraded the
/// server leg, so a client's STARTTLS cannot be relayed (the server would answer BAD). imapscope
/// answers it itself (direction `proxy`) and upgrades the client leg with a leaf from its CA.
/// As with relayed STARTTLS, bytes the client sends between the command and its handshake are
/// never relayed: the session is closed with a `starttls-injection` lint.
final class LocalStartTLSResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// `authenticated`: the client sent LOGIN or AUTHENTICATE, after which STARTTLS is not
    /// allowed (RFC 9051 §6.2.1): bytes only pass on.
    private enum Phase { case plaintext, handshaking, done, authenticated, refused }
    private var phase = Phase.plaintext
    private var framer = LineFramer(limits: .linesOnly, pausesAtSynchronizingLiterals: false)
    private let tap: SessionTap
    private let context: NIOSSLContext

    init(tap: SessionTap, context: NIOSSLContext) {
        self.tap = tap
        self.context = context
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .done, .refused, .authenticated:
            ctx.fireChannelRead(data)
            return
        case .handshaking:
            injected(ctx, bytes: unwrapInboundIn(data).readableBytes)
            return
        case .plaintext:
            break
        }
        let buffer = unwrapInboundIn(data)
        let bytes = Array(buffer.readableBytesView)
        framer.append(bytes)
        var consumed = 0, forwarded = 0
        while let frame = framer.nextFrame() {
            guard case .line(let line) = frame else { continue }
            let lineStart = consumed
            consumed += line.wireBytes
            let text = line.segments.first.map { String(decoding: $0.text, as: UTF8.self) } ?? ""
            let words = text.split(separator: " ", omittingEmptySubsequences: false)
            if words.count >= 2, ["LOGIN", "AUTHENTICATE"].contains(words[1].uppercased()) {
                phase = .authenticated
                break
            }
            guard line.segments.count == 1, words.count == 2, words[1].uppercased() == "STARTTLS" else { continue }
            // What came before the command goes on (and is tapped) first.
            if lineStart > forwarded, let s = buffer.getSlice(at: buffer.readerIndex + forwarded, length: lineStart - forwarded) {
                ctx.fireChannelRead(wrapInboundOut(s))
                ctx.fireChannelReadComplete()
            }
            tap.feed(.client, ByteBuffer(bytes: bytes[lineStart..<consumed]))
            upgrade(ctx, tag: String(words[0]))
            if bytes.count > consumed { injected(ctx, bytes: bytes.count - consumed) }
            return
        }
        if bytes.count > forwarded, let s = buffer.getSlice(at: buffer.readerIndex + forwarded, length: bytes.count - forwarded) {
            ctx.fireChannelRead(wrapInboundOut(s))
        }
    }

    /// Answers the client's STARTTLS and starts TLS on its leg in the same tick.
    private func upgrade(_ ctx: ChannelHandlerContext, tag: String) {
        phase = .handshaking
        let answer = "\(tag) OK Begin TLS negotiation now (answered by imapscope: the server leg is already TLS)\r\n"
        tap.proxySent(answer)
        ctx.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
        do {
            let tls = NIOSSLServerHandler(context: context)
            let sync = ctx.pipeline.syncOperations
            try sync.addTLSHandler(tls)
            try sync.addHandler(TLSEventHandler(tap: tap, leg: "client", onEstablished: { [weak self] in
                self?.phase = .done
                self?.tap.tlsEstablished()
            }, onFailure: { [weak self] _ in
                self?.phase = .refused
                self?.tap.finish(reason: "the client's TLS handshake after STARTTLS failed")
                ctx.channel.close(promise: nil)
            }), position: .after(tls))
        } catch {
            phase = .refused
            tap.finish(reason: "could not start TLS with the client: \(error)")
            ctx.close(promise: nil)
        }
    }

    private func injected(_ ctx: ChannelHandlerContext, bytes: Int) {
        phase = .refused
        tap.lint("starttls-injection", "\(bytes) plaintext byte(s) from the client after STARTTLS were not relayed; the session is closed")
        tap.finish(reason: "plaintext after STARTTLS")
        ctx.close(promise: nil)
    }
}
