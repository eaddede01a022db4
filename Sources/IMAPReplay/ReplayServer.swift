import IMAPCore
import IMAPProxy
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// A mock IMAP server that plays one fixture back, one session at a time, or several fixtures
/// to concurrent sessions, each session following the fixture its first commands follow
/// (`FixtureChoice`). The protocol logic is `ReplayEngine`'s; this type only binds, moves bytes
/// and switches TLS and DEFLATE on.
public final class ReplayServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// `imap://` (plaintext; STARTTLS if the fixture did it) or `imaps://`.
        public var listen: ProxyURL
        /// Server TLS (from imapscope's CA): needed for imaps:// and for a fixture with STARTTLS.
        public var tls: TLSConfiguration?
        public var order: ReplayEngine.Order
        /// Called on the event loop as soon as a mismatch happens (the session goes on).
        public var onMismatch: (@Sendable (ReplayEngine.Mismatch) -> Void)?
        public init(
            listen: ProxyURL, tls: TLSConfiguration?, order: ReplayEngine.Order = .strict,
            onMismatch: (@Sendable (ReplayEngine.Mismatch) -> Void)? = nil
        ) {
            self.listen = listen
            self.tls = tls
            self.order = order
            self.onMismatch = onMismatch
        }
    }

    /// How one session went.
    public struct SessionResult: Sendable {
        public var mismatches: [ReplayEngine.Mismatch]
        public var succeeded: Bool
        public var client: String
        /// Recorded client lines the client skipped by logging out early.
        public var skipped: Int
        /// Which of the fixtures the session followed (its index).
        public var fixture: Int
    }

    public let scripts: [ReplayScript]
    /// The first fixture (the only one, unless several are replayed).
    public var script: ReplayScript { scripts[0] }
    public let configuration: Configuration
    private let group: MultiThreadedEventLoopGroup
    private let tlsContext: NIOSSLContext?
    private var listener: Channel?
    private struct State {
        var active = false
        var results: [SessionResult] = []
        /// Fixtures a session has settled on.
        var taken: Set<Int> = []
    }
    private let state = NIOLockedValueBox(State())

    public convenience init(script: ReplayScript, configuration: Configuration) throws {
        try self.init(scripts: [script], configuration: configuration)
    }

    /// Several fixtures: sessions are served concurrently, each by the fixture it follows.
    public init(scripts: [ReplayScript], configuration: Configuration) throws {
        guard !scripts.isEmpty else { throw ReplayScript.Failure(description: "no fixture to replay") }
        if configuration.listen.scheme == .imapStartTLS {
            throw ReplayScript.Failure(description: "\(configuration.listen): replay listens on imap:// or imaps://")
        }
        if configuration.tls == nil && (configuration.listen.scheme == .imaps || scripts.contains { $0.usesStartTLS }) {
            throw ReplayScript.Failure(
                description: "\(configuration.listen): TLS needs a certificate authority (--ca-dir)")
        }
        self.scripts = scripts
        self.configuration = configuration
        tlsContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds the listener; returns the bound `host:port` (port 0 picks a free port).
    public func start() throws -> String {
        let listen = configuration.listen
        let tlsFirst = listen.scheme == .imaps
        let listening: Channel
        do {
            listening = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture { try self.accept(channel, tlsFirst: tlsFirst) }
                }
                .bind(host: listen.host, port: listen.port).wait()
        } catch { throw ListenError(url: listen, error: error) }
        listener = listening
        guard let address = listening.localAddress else { return "\(listen.host):\(listen.port)" }
        if case .v6 = address { return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }

    /// Results of the sessions that have ended so far.
    public var results: [SessionResult] { state.withLockedValue { $0.results } }

    /// Blocks until `count` sessions have ended (or the timeout passes); returns the results.
    public func waitForSessions(_ count: Int = 1, timeoutSeconds: Double = .infinity) -> [SessionResult] {
        let deadline = NIODeadline.now() + .milliseconds(Int64(min(timeoutSeconds, 1e9) * 1000))
        while results.count < count && NIODeadline.now() < deadline {
            usleep(20_000)
        }
        return results
    }

    public func shutdown() {
        try? listener?.close().wait()
        listener = nil
        try? group.syncShutdownGracefully()
    }

    private func accept(_ channel: Channel, tlsFirst: Bool) throws {
        // One fixture: one session at a time. Several: as many as come.
        let busy = state.withLockedValue { s -> Bool in
            if s.active && scripts.count == 1 { return true }
            s.active = true
            return false
        }
        let sync = channel.pipeline.syncOperations
        if tlsFirst, let ctx = tlsContext { try sync.addHandler(NIOSSLServerHandler(context: ctx)) }
        if busy {
            try sync.addHandler(BusyHandler())
            return
        }
        let client = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let player: ReplayPlayer
        if scripts.count == 1 {
            player = ReplayEngine(script: scripts[0], order: configuration.order)
        } else {
            // Runs on the server's one event loop; the lock orders it with `results` readers.
            player = FixtureChoice(
                scripts: scripts, order: configuration.order,
                isTaken: { [state] index in state.withLockedValue { $0.taken.contains(index) } },
                take: { [state] index in _ = state.withLockedValue { $0.taken.insert(index) } })
        }
        try sync.addHandler(
            ReplayHandler(
                engine: player, tlsContext: tlsContext, tlsFirst: tlsFirst,
                onMismatch: configuration.onMismatch
            ) { [self] engine, mismatches in
                let result = SessionResult(
                    mismatches: mismatches, succeeded: mismatches.isEmpty && engine.succeeded, client: client,
                    skipped: engine.skippedByLogout, fixture: (engine as? FixtureChoice)?.fixture ?? 0)
                state.withLockedValue { shared in
                    shared.results.append(result)
                    shared.active = false
                }
            })
    }
}

/// Answers a second concurrent client: the replay serves one session at a time.
final class BusyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelActive(context: ChannelHandlerContext) {
        let bye = "* BYE [UNAVAILABLE] imapscope replay serves one session at a time\r\n"
        let ch = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: bye))).whenComplete { _ in ch.close(promise: nil) }
    }
}

/// Moves bytes between the socket and a `ReplayEngine`, and acts on its actions.
final class ReplayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let engine: ReplayPlayer
    private let tlsContext: NIOSSLContext?
    private var encrypted: Bool
    private var deflater: DeflateStream?
    private var inflater: DeflateStream?
    private let onEnd: (ReplayPlayer, [ReplayEngine.Mismatch]) -> Void
    private let onMismatch: ((ReplayEngine.Mismatch) -> Void)?
    /// Mismatches already handed to `onMismatch`.
    private var reported = 0
    private var finished = false

    init(
        engine: ReplayPlayer, tlsContext: NIOSSLContext?, tlsFirst: Bool,
        onMismatch: ((ReplayEngine.Mismatch) -> Void)? = nil,
        onEnd: @escaping (ReplayPlayer, [ReplayEngine.Mismatch]) -> Void
    ) {
        self.onMismatch = onMismatch
        self.engine = engine
        self.tlsContext = tlsContext
        self.encrypted = tlsFirst
        self.onEnd = onEnd
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(engine.start(), context: context)
        context.fireChannelActive()
    }

    /// How long the client may stay quiet before `ReplayEngine.clientIdle()` sends ahead.
    static let idleDelay = TimeAmount.milliseconds(200)
    private var idleTask: Scheduled<Void>?

    /// (Re)arms the quiet-client timer after each read.
    private func armIdleTimer(_ context: ChannelHandlerContext) {
        idleTask?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTask = context.eventLoop.scheduleTask(in: Self.idleDelay) {
            let (handler, ctx) = loopBound.value
            guard !handler.finished else { return }
            handler.perform(handler.engine.clientIdle(), context: ctx)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        let bytes = buf.readBytes(length: buf.readableBytes) ?? []
        if let inf = inflater {
            do {
                try inf.decompress(bytes) { chunk in
                    if !finished { perform(engine.feed(chunk), context: context) }
                }
            } catch {
                end(context, extra: "the client's DEFLATE stream is corrupt: \(error)")
                return
            }
        } else {
            perform(engine.feed(bytes), context: context)
        }
        armIdleTimer(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(context, extra: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A client that closes without TLS close_notify after its session is not a failure.
        if let sslError = error as? NIOSSLError, case .uncleanShutdown = sslError { return }
        // Nor is a reset once the client has run the fixture or logged out.
        if engine.succeeded {
            end(context, extra: nil)
            return
        }
        end(context, extra: "connection error: \(error)")
    }

    private func end(_ context: ChannelHandlerContext, extra: String?) {
        guard !finished else { return }
        finished = true
        idleTask?.cancel()
        var mismatches = engine.finish()
        if let extra {
            mismatches.append(
                ReplayEngine.Mismatch(index: 0, fileLine: nil, expected: nil, received: extra, context: []))
        }
        context.close(promise: nil)
        report(mismatches)
        onEnd(engine, mismatches)
    }

    private func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        var out = bytes
        if let deflater {
            do { out = try deflater.compress(bytes) } catch {
                end(context, extra: "DEFLATE failed: \(error)")
                return
            }
        }
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: out)), promise: nil)
    }

    /// Hands new mismatches to `onMismatch` at once, so a person watching sees them live.
    private func report(_ all: [ReplayEngine.Mismatch]) {
        guard let onMismatch else { return }
        while reported < all.count {
            onMismatch(all[reported])
            reported += 1
        }
    }

    private func perform(_ actions: [ReplayEngine.Action], context: ChannelHandlerContext) {
        report(engine.mismatches)
        for a in actions {
            switch a {
            case .send(let b):
                write(b, context: context)
            case .close:
                context.flush()
                let ch = context.channel
                context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in ch.close(promise: nil) }
                return
            case .startTLS:
                context.flush()
                guard let ctx = tlsContext, !encrypted else {
                    end(context, extra: "the client asked for STARTTLS but no TLS is configured")
                    return
                }
                encrypted = true
                let held = engine.takeHeldBytes()
                do {
                    try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ctx), position: .first)
                } catch {
                    end(context, extra: "cannot start TLS: \(error)")
                    return
                }
                if !held.isEmpty {
                    // RFC 9051 §6.2.1: nothing may follow STARTTLS before the handshake.
                    end(context, extra: "the client sent \(held.count) bytes after STARTTLS before the TLS handshake")
                    return
                }
                perform(engine.resume(), context: context)
                return
            case .startCompression:
                context.flush()
                do {
                    deflater = try DeflateStream(.compress)
                    let clientInflater = try DeflateStream(.decompress)
                    inflater = clientInflater
                    let held = engine.takeHeldBytes()
                    perform(engine.resume(), context: context)
                    try clientInflater.decompress(held) { chunk in
                        if !finished { perform(engine.feed(chunk), context: context) }
                    }
                } catch {
                    end(context, extra: "cannot start DEFLATE: \(error)")
                }
                return
            }
        }
        context.flush()
    }
}
