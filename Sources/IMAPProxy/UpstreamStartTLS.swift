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
    private var cutter = LineCutter()
    /// Server bytes of an unfinished greeting line (the client gets it whole).
    private var greeting: [UInt8] = []
    /// The client's bytes, waiting for TLS with the server; bounded by `heldLimit`.
    private var held: [(NIOAny, EventLoopPromise<Void>?)] = []
    private var heldBytes = 0
    static let heldLimit = 1 << 20
    static let greetingLimit = 64 * 1024
    private let tap: SessionTap
    private let context: NIOSSLContext
    private let host: String?
    private let onFailure: (String) -> Void
    private let insecure: Bool

    private let onReady: () -> Void

    /// Greeting, STARTTLS and handshake must be done by then (a tarpit would hold the session).
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(tap: SessionTap, context: NIOSSLContext, host: String?, insecure: Bool, timeout: TimeAmount = TLSEventHandler.defaultTimeout,
         onReady: @escaping () -> Void, onFailure: @escaping (String) -> Void) {
        self.timeout = timeout
        self.onReady = onReady
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
        let fresh = Array(unwrapInboundIn(data).readableBytesView)
        let base = greeting.count
        var bytes = greeting + fresh
        greeting = []
        for line in cutter.lines(in: fresh) {
            let end = base + line.end
            if state == .greeting {
                // The greeting is the client's too, literals and all.
                ctx.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: bytes[..<end])))
                ctx.fireChannelReadComplete()
                guard line.text.hasPrefix("* OK") else { fail(ctx, "the server's greeting is not * OK: \(line.text.prefix(80))"); return }
                state = .awaitingOK
                var cmd = ctx.channel.allocator.buffer(capacity: 32)
                cmd.writeString("\(Self.tag) STARTTLS\r\n")
                ctx.writeAndFlush(wrapOutboundOut(cmd), promise: nil)
                continue
            }
            // Our own STARTTLS's answer (and anything untagged before it) stays between us and the server.
            if line.text.hasPrefix(Self.tag + " ") {
                guard line.text.dropFirst(Self.tag.count + 1).uppercased().hasPrefix("OK") else {
                    fail(ctx, "the server refused STARTTLS: \(line.text.prefix(120))"); return
                }
                if bytes.count > end { fail(ctx, "the server sent plaintext after its STARTTLS OK"); return }
                state = .handshaking
                do {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: host)
                    try ctx.pipeline.syncOperations.addTLSHandler(tls)
                } catch { fail(ctx, "could not start TLS: \(error)") }
                return
            }
        }
        if state == .greeting {
            bytes.removeFirst(max(0, bytes.count - cutter.carried))
            guard bytes.count <= Self.greetingLimit else { fail(ctx, "the server's greeting is longer than \(Self.greetingLimit) bytes"); return }
            greeting = bytes
        }
    }

    func handlerAdded(context ctx: ChannelHandlerContext) { if ctx.channel.isActive { armTimer(ctx) } }

    func channelActive(context ctx: ChannelHandlerContext) {
        armTimer(ctx)
        ctx.fireChannelActive()
    }

    func handlerRemoved(context ctx: ChannelHandlerContext) { timer?.cancel() }

    private func armTimer(_ ctx: ChannelHandlerContext) {
        guard timer == nil, state != .ready else { return }
        let seconds = Double(timeout.nanoseconds) / 1e9
        timer = ctx.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard state != .ready, state != .failed else { return }
            fail(ctx, "the server leg was not upgraded within \(Decimal.format(seconds, seconds < 10 ? 1 : 0)) s")
        }
    }

    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if state == .handshaking, let e = event as? TLSUserEvent, case .handshakeCompleted = e {
            state = .ready
            timer?.cancel()
            var tls = TLSHelloObserver.details(ctx.pipeline.syncOperations, leg: "server", phase: "starttls-upstream")
            tls.verification = insecure ? "disabled (--insecure-upstream)" : "ok"
            tap.tls(tls, annotation: "imapscope upgraded the server leg with its own STARTTLS; the client's commands go out encrypted")
            tap.upstreamUpgraded()
            for (d, p) in held { ctx.write(d, promise: p) }
            held.removeAll()
            ctx.flush()
            onReady()
        }
        ctx.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: Error) {
        if state != .ready { fail(ctx, "TLS with the real server failed: \(CertificateDiagnosis.explain(error, pipeline: ctx.pipeline.syncOperations, host: host))") }
        ctx.fireErrorCaught(error)
    }

    // The client's bytes wait until the server leg is encrypted.
    func write(context ctx: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if state == .ready { ctx.write(data, promise: promise); return }
        if state == .failed { promise?.fail(ChannelError.ioOnClosedChannel); return }
        held.append((data, promise))
        heldBytes += unwrapOutboundIn(data).readableBytes
        if heldBytes > Self.heldLimit, state != .failed {
            fail(ctx, "the client sent more than \(Self.heldLimit) bytes before TLS with the server was up")
        }
    }

    func flush(context ctx: ChannelHandlerContext) { if state == .ready { ctx.flush() } }

    private func fail(_ ctx: ChannelHandlerContext, _ why: String) {
        guard state != .failed else { return }
        state = .failed
        for (_, p) in held { p?.fail(ChannelError.ioOnClosedChannel) }
        held.removeAll()
        heldBytes = 0
        tap.tls(TLSEvent(leg: "server", phase: "failed", error: why), annotation: "the server leg could not be upgraded")
        onFailure(why)
        ctx.close(promise: nil)
    }
}
