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
    private var cutter = LineCutter()
    /// A short unfinished line, not relayed yet: it may be a STARTTLS still arriving.
    private var held: [UInt8] = []
    private static let holdLimit = 64
    private let tap: SessionTap
    private let context: NIOSSLContext

    init(tap: SessionTap, context: NIOSSLContext) {
        self.tap = tap
        self.context = context
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .done, .refused:
            ctx.fireChannelRead(data)
            return
        case .authenticated:
            if !held.isEmpty { relay(ctx, held[...]); held = [] }
            ctx.fireChannelRead(data)
            return
        case .handshaking:
            injected(ctx, bytes: unwrapInboundIn(data).readableBytes)
            return
        case .plaintext:
            break
        }
        let fresh = Array(unwrapInboundIn(data).readableBytesView)
        // Not relayed yet: what was held, then this read. The cutter's offsets are in `fresh`.
        let bytes = held + fresh, base = held.count
        held = []
        var forwarded = 0
        for line in cutter.lines(in: fresh) {
            let end = base + line.end, start = end - line.wireBytes
            let words = line.words
            if words.count >= 2, ["LOGIN", "AUTHENTICATE"].contains(words[1].uppercased()) {
                // STARTTLS is not allowed after authentication (RFC 9051 §6.2.1): stop looking.
                phase = .authenticated
                break
            }
            guard start >= forwarded, words.count == 2, words[1].uppercased() == "STARTTLS" else { continue }
            if start > forwarded { relay(ctx, bytes[forwarded..<start]) }
            // The tap gets what the relay passed it before the command, then the command.
            ctx.fireChannelReadComplete()
            tap.feed(.client, ByteBuffer(bytes: bytes[start..<end]))
            upgrade(ctx, tag: String(words[0]))
            if bytes.count > end { injected(ctx, bytes: bytes.count - end) }
            return
        }
        // Hold a short unfinished line whose every byte is still here; relay the rest.
        let unfinished = cutter.carried
        if phase == .plaintext, unfinished > 0, unfinished <= Self.holdLimit, unfinished <= bytes.count - forwarded {
            held = Array(bytes[(bytes.count - unfinished)...])
            relay(ctx, bytes[forwarded..<(bytes.count - unfinished)])
        } else {
            relay(ctx, bytes[forwarded...])
        }
    }

    // A held partial line still goes on when the client stops sending.
    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { releaseHeld(ctx) }
        ctx.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        releaseHeld(ctx)
        ctx.fireChannelInactive()
    }

    private func releaseHeld(_ ctx: ChannelHandlerContext) {
        guard !held.isEmpty else { return }
        relay(ctx, held[...])
        held = []
        ctx.fireChannelReadComplete()
    }

    private func relay(_ ctx: ChannelHandlerContext, _ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        ctx.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: bytes)))
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
