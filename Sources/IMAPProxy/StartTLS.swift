import IMAPCore
import NIOCore
import NIOSSL

/// STARTTLS on both legs (RFC 9051 §6.2.1). The relay itself must act on it, not the tap: the
/// server's OK goes to the client in plaintext, then the server leg is upgraded (we are its TLS
/// client) and the client leg (we are its TLS server, with a leaf from our CA). Bytes either side
/// sends between STARTTLS and the handshake — the command-injection class — are never relayed:
/// the session is closed with a lint.
final class StartTLSCoordinator: @unchecked Sendable {
    /// `authenticated`: STARTTLS is no longer possible (RFC 9051 §6.2.1 allows it only before
    /// authentication), so the watchers stop reading lines and only pass bytes on.
    enum Phase { case plaintext, requested(tag: String), upgrading, done, authenticated, refused }

    private(set) var phase = Phase.plaintext
    private let tap: SessionTap
    private let serverContext: NIOSSLContext
    private let clientContext: NIOSSLContext
    private let upstreamHost: String?
    var clientChannel: Channel?
    var upstreamChannel: Channel?
    private var encryptedLegs: Set<IMAPDirection> = []

    /// `--insecure-upstream`: the server leg's `tls` event says verification was off.
    private let insecure: Bool

    init(tap: SessionTap, serverContext: NIOSSLContext, clientContext: NIOSSLContext, upstreamHost: String?, insecure: Bool) {
        self.tap = tap
        self.insecure = insecure
        self.serverContext = serverContext
        self.clientContext = clientContext
        self.upstreamHost = upstreamHost
    }

    private var authenticationTags: Set<String> = []

    /// The client sent `tag LOGIN …` or `tag AUTHENTICATE …`.
    func clientAuthenticating(tag: String) { authenticationTags.insert(tag) }

    /// A tagged response went by: an OK to LOGIN or AUTHENTICATE ends the watching.
    func serverCompleted(tag: String, ok: Bool) {
        guard authenticationTags.remove(tag) != nil, ok, case .plaintext = phase else { return }
        phase = .authenticated
    }

    /// The client sent `tag STARTTLS`.
    func clientRequested(tag: String) { if case .plaintext = phase { phase = .requested(tag: tag) } }

    /// The server answered the STARTTLS tag; `ok` says whether it agreed.
    func serverAnswered(ok: Bool) {
        guard case .requested = phase else { return }
        guard ok else { phase = .plaintext; return }
        phase = .upgrading
        guard let up = upstreamChannel, let client = clientChannel else { return }
        do {
            // Server leg first (we are its TLS client), then the client leg: the OK itself has
            // already been written to the client in plaintext by the relay.
            let s = try NIOSSLClientHandler(context: clientContext, serverHostname: upstreamHost)
            try up.pipeline.syncOperations.addTLSHandler(s)
            try up.pipeline.syncOperations.addHandler(
                TLSEventHandler(tap: tap, leg: "server", host: upstreamHost, insecure: insecure, onEstablished: { [weak self] in self?.handshakeCompleted(.server) },
                                onFailure: { [weak self] why in self?.abort("TLS with the real server failed after STARTTLS: \(why)") }),
                position: .after(s))
            let c = NIOSSLServerHandler(context: serverContext)
            try client.pipeline.syncOperations.addTLSHandler(c)
            try client.pipeline.syncOperations.addHandler(
                TLSEventHandler(tap: tap, leg: "client", onEstablished: { [weak self] in self?.handshakeCompleted(.client) },
                                onFailure: { [weak self] _ in self?.abort("the client's TLS handshake after STARTTLS failed") }),
                position: .after(c))
        } catch {
            abort("could not start TLS: \(error)")
        }
    }

    /// Whether this direction's bytes now arrive decrypted by our TLS handler.
    func isEncrypted(_ dir: IMAPDirection) -> Bool { encryptedLegs.contains(dir) }

    /// A TLS handshake after STARTTLS finished; once both have, decoding resumes on plaintext.
    func handshakeCompleted(_ leg: IMAPDirection) {
        guard case .upgrading = phase else { return }
        encryptedLegs.insert(leg)
        if encryptedLegs.count == 2 {
            phase = .done
            tap.tlsEstablished()
        }
    }

    /// Plaintext arrived where only TLS may follow: never relay it.
    func injected(_ dir: IMAPDirection, bytes: Int) {
        tap.lint("starttls-injection", "\(bytes) plaintext byte(s) from the \(dir.rawValue) after STARTTLS were not relayed; the session is closed")
        abort("plaintext after STARTTLS")
    }

    func abort(_ reason: String) {
        phase = .refused
        tap.finish(reason: reason)
        clientChannel?.close(promise: nil)
        upstreamChannel?.close(promise: nil)
    }
}

/// Watches one direction's plaintext, line by line (the decoder's own framer), for what
/// STARTTLS needs: the client's command, the server's answer. Sits before the relay, so it can
/// hold back bytes that must not be relayed.
final class StartTLSWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let direction: IMAPDirection
    private let coordinator: StartTLSCoordinator
    private var cutter = LineCutter()

    init(direction: IMAPDirection, coordinator: StartTLSCoordinator) {
        self.direction = direction
        self.coordinator = coordinator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        switch coordinator.phase {
        case .done, .refused, .authenticated:
            context.fireChannelRead(data)
            return
        case .upgrading where coordinator.isEncrypted(direction):
            context.fireChannelRead(data)
            return
        case .upgrading:
            // Before this leg's handshake, anything that reaches us was sent in plaintext.
            coordinator.injected(direction, bytes: buffer.readableBytes)
            return
        case .requested where direction == .client:
            // The client must wait for the answer to STARTTLS before sending anything.
            coordinator.injected(.client, bytes: buffer.readableBytes)
            return
        default: break
        }
        // Relay as it comes; after the server's OK to STARTTLS nothing more goes through.
        let bytes = Array(buffer.readableBytesView)
        var forwarded = 0
        for line in cutter.lines(in: bytes) {
            let words = line.words
            if direction == .client, words.count >= 2, ["LOGIN", "AUTHENTICATE"].contains(words[1].uppercased()) {
                coordinator.clientAuthenticating(tag: String(words[0]))
            }
            if direction == .server, words.count >= 2, words[0] != "*", words[0] != "+" {
                coordinator.serverCompleted(tag: String(words[0]), ok: words[1].uppercased() == "OK")
            }
            if direction == .client, words.count == 2, words[1].uppercased() == "STARTTLS" {
                coordinator.clientRequested(tag: String(words[0]))
                forward(context, buffer, from: forwarded, to: line.end)
                // Anything after the command in this read is pipelined behind STARTTLS.
                if bytes.count > line.end {
                    // Let the STARTTLS itself reach the relay and the tap before closing.
                    context.fireChannelReadComplete()
                    coordinator.injected(.client, bytes: bytes.count - line.end)
                }
                return
            }
            if direction == .server, case .requested(let tag) = coordinator.phase, words.count >= 2, words[0] == tag {
                let ok = words[1].uppercased() == "OK"
                forward(context, buffer, from: forwarded, to: line.end)
                forwarded = line.end
                context.fireChannelReadComplete()
                coordinator.serverAnswered(ok: ok)
                if ok {
                    if bytes.count > line.end { coordinator.injected(.server, bytes: bytes.count - line.end) }
                    return
                }
            }
        }
        forward(context, buffer, from: forwarded, to: bytes.count)
    }

    /// Relays bytes `from..<to` of this read.
    private func forward(_ context: ChannelHandlerContext, _ buffer: ByteBuffer, from: Int, to: Int) {
        guard to > from, let slice = buffer.getSlice(at: buffer.readerIndex + from, length: to - from) else { return }
        context.fireChannelRead(wrapInboundOut(slice))
    }
}
