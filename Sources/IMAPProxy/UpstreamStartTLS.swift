import IMAPCore
import NIOCore
import NIOSSL
import NIOTLS

/// `imap+starttls://` upstream: imapscope itself upgrades the server leg before relaying
/// anything the client sends. The server's greeting goes to the client at once; the client's
/// bytes wait here (never on the wire in plaintext) until TLS with the server is up.
final class UpstreamStartTLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let tag = "imapscope0"

    private enum State { case greeting, awaitingOK, handshaking, ready, failed }
    private var state = State.greeting
    private var framer = LineFramer(limits: .linesOnly, pausesAtSynchronizingLiterals: false)
    private var held: [(NIOAny, EventLoopPromise<Void>?)] = []
    private let tap: SessionTap
    private let context: NIOSSLContext
    private let host: String?
    private let onFailure: (String) -> Void
    private let insecure: Bool

    init(tap: SessionTap, context: NIOSSLContext, host: String?, insecure: Bool, onFailure: @escaping (String) -> Void) {
        self.insecure = insecure
        self.tap = tap
        self.context = context
        self.host = host
        self.onFailure = onFailure
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .ready, .handshaking, .failed:
            ctx.fireChannelRead(data)
            return
        case .greeting, .awaitingOK:
            break
        }
        let buffer = unwrapInboundIn(data)
        framer.append(Array(buffer.readableBytesView))
        while let frame = framer.nextFrame() {
            guard case .line(let line) = frame, let wire = line.wire else { continue }
            let text = String(decoding: line.segments[0].text, as: UTF8.self)
            if state == .greeting {
                // The greeting is the client's too.
                var out = ctx.channel.allocator.buffer(capacity: wire.count)
                out.writeBytes(wire)
                ctx.fireChannelRead(wrapInboundOut(out))
                ctx.fireChannelReadComplete()
                guard text.hasPrefix("* OK") else { fail(ctx, "the server's greeting is not * OK: \(text.prefix(80))"); return }
                state = .awaitingOK
                var cmd = ctx.channel.allocator.buffer(capacity: 32)
                cmd.writeString("\(Self.tag) STARTTLS\r\n")
                ctx.writeAndFlush(wrapOutboundOut(cmd), promise: nil)
                continue
            }
            // Our own STARTTLS's answer (and anything untagged before it) stays between us and the server.
            if text.hasPrefix(Self.tag + " ") {
                guard text.dropFirst(Self.tag.count + 1).uppercased().hasPrefix("OK") else {
                    fail(ctx, "the server refused STARTTLS: \(text.prefix(120))"); return
                }
                if framer.heldBytes > 0 { fail(ctx, "the server sent plaintext after its STARTTLS OK"); return }
                state = .handshaking
                do {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: host)
                    try ctx.pipeline.syncOperations.addTLSHandler(tls)
                } catch { fail(ctx, "could not start TLS: \(error)") }
                return
            }
        }
    }

    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if state == .handshaking, let e = event as? TLSUserEvent, case .handshakeCompleted = e {
            state = .ready
            let f: [(String, JSONValue)] = [("phase", .string("starttls-upstream"))] + TLSHelloObserver.details(ctx.pipeline.syncOperations)
                + [("verification", .string(insecure ? "disabled (--insecure-upstream)" : "ok"))]
            tap.tls(leg: "server", fields: f, annotation: "imapscope upgraded the server leg with its own STARTTLS; the client's commands go out encrypted")
            tap.upstreamUpgraded()
            for (d, p) in held { ctx.write(d, promise: p) }
            held.removeAll()
            ctx.flush()
        }
        ctx.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: Error) {
        if state != .ready { fail(ctx, "TLS with the real server failed: \(CertificateDiagnosis.explain(error, pipeline: ctx.pipeline.syncOperations, host: host))") }
        ctx.fireErrorCaught(error)
    }

    // The client's bytes wait until the server leg is encrypted.
    func write(context ctx: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if state == .ready { ctx.write(data, promise: promise) } else { held.append((data, promise)) }
    }

    func flush(context ctx: ChannelHandlerContext) { if state == .ready { ctx.flush() } }

    private func fail(_ ctx: ChannelHandlerContext, _ why: String) {
        guard state != .failed else { return }
        state = .failed
        for (_, p) in held { p?.fail(ChannelError.ioOnClosedChannel) }
        held.removeAll()
        tap.tls(leg: "server", fields: [("phase", .string("failed")), ("error", .string(why))], annotation: "the server leg could not be upgraded")
        onFailure(why)
        ctx.close(promise: nil)
    }
}
