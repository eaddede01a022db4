import IMAPCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// `imaps://host:port`, `imap://host:port` or (upstream only) `imap+starttls://host:port`.
public struct ProxyURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case imap, imaps
        case imapStartTLS = "imap+starttls"
    }
    public var scheme: Scheme
    public var host: String
    public var port: Int

    public init(scheme: Scheme, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    public struct Invalid: Error, CustomStringConvertible { public var description: String }

    /// `defaultHost` stands in for an empty host (`imaps://:1993`): listeners default to loopback.
    /// A `listener` is `imap://` or `imaps://` only (`imap+starttls://` names an upstream).
    public init(parsing text: String, defaultHost: String? = nil, listener: Bool = false) throws {
        let expected =
            listener
            ? "a listener is imap://host:port or imaps://host:port"
            : "expected imap://, imaps:// or imap+starttls://host:port"
        guard let sep = text.range(of: "://"),
            let scheme = Scheme(rawValue: String(text[..<sep.lowerBound]).lowercased())
        else {
            throw Invalid(description: "'\(text)': \(expected)")
        }
        if listener && scheme == .imapStartTLS {
            throw Invalid(description: "'\(text)': \(expected) (imap+starttls:// is for --upstream only)")
        }
        var rest = String(text[sep.upperBound...])
        if rest.hasSuffix("/") { rest.removeLast() }
        var host: String
        var portText: String?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw Invalid(description: "'\(text)': unclosed '[' in IPv6 address")
            }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = String(after.dropFirst())
            } else if !after.isEmpty {
                throw Invalid(description: "'\(text)': junk after ']'")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = String(rest[rest.index(after: colon)...])
        } else {
            host = rest
        }
        if host.isEmpty, let defaultHost { host = defaultHost }
        guard !host.isEmpty else { throw Invalid(description: "'\(text)': no host") }
        let port = portText.map { Int($0) } ?? (scheme == .imaps ? 993 : 143)
        guard let validPort = port, (0...65535).contains(validPort) else {
            throw Invalid(description: "'\(text)': invalid port")
        }
        self.init(scheme: scheme, host: host, port: validPort)
    }

    public var description: String {
        "\(scheme.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

/// The TLS-terminating relay: listeners, an upstream connection per client, taps into a
/// `SessionDecoder` per session. Relaying is byte-exact; decoding only watches.
public final class ProxyServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var listen: [ProxyURL]
        public var upstream: ProxyURL
        /// Our side of TLS toward clients (from the CA); needed for imaps listeners.
        public var serverTLS: TLSConfiguration?
        /// Verification of the real server (system trust, an added anchor, or none).
        public var upstreamTLS: TLSConfiguration
        public var insecureUpstream: Bool
        public var decoder: DecoderOptions
        /// How long either leg's TLS handshake may take.
        public var tlsHandshakeTimeout: TimeAmount = .seconds(30)
        /// `--require-client-tls`: a LOGIN or AUTHENTICATE on a plaintext client leg in front of a TLS
        /// server leg gets `NO [PRIVACYREQUIRED]` from imapscope and never reaches the server.
        public var requireClientTLS = false
        /// `--fault` rules. None: the relay has no fault engine at all.
        public var faults: [FaultRule] = []
        /// Resolves the upstream's name instead of the system (tests: a name with an IPv6 address
        /// that refuses and an IPv4 one that answers, tried in turn by NIO's happy eyeballs).
        var upstreamResolver: (@Sendable (EventLoop) -> Resolver & Sendable)?

        public init(
            listen: [ProxyURL], upstream: ProxyURL, serverTLS: TLSConfiguration?, upstreamTLS: TLSConfiguration,
            insecureUpstream: Bool = false, decoder: DecoderOptions = DecoderOptions()
        ) {
            self.listen = listen
            self.upstream = upstream
            self.serverTLS = serverTLS
            self.upstreamTLS = upstreamTLS
            self.insecureUpstream = insecureUpstream
            self.decoder = decoder
        }
    }

    public let configuration: Configuration
    private let group: MultiThreadedEventLoopGroup
    private let publisher: EventPublisher
    private let serverContext: NIOSSLContext?
    private let clientContext: NIOSSLContext?
    private let starttlsClientContext: NIOSSLContext?
    private var listeners: [Channel] = []

    public init(configuration: Configuration, publisher: EventPublisher, threads: Int = System.coreCount) throws {
        self.configuration = configuration
        self.publisher = publisher
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        serverContext = try configuration.serverTLS.map { try NIOSSLContext(configuration: $0) }
        clientContext =
            configuration.upstream.scheme == .imap ? nil : try NIOSSLContext(configuration: configuration.upstreamTLS)
        // For STARTTLS on the server leg of a plaintext upstream.
        starttlsClientContext =
            configuration.upstream.scheme == .imap && configuration.serverTLS != nil
            ? try NIOSSLContext(configuration: configuration.upstreamTLS) : nil
    }

    /// Binds every listener; returns the bound `host:port`s (port 0 picks a free port).
    @discardableResult
    public func start() throws -> [String] {
        var bound: [String] = []
        for url in configuration.listen {
            if url.scheme == .imaps && serverContext == nil {
                throw ProxyURL.Invalid(description: "\(url): an imaps listener needs the CA")
            }
            if url.scheme == .imapStartTLS {
                throw ProxyURL.Invalid(description: "\(url): imap+starttls is for the upstream only")
            }
            let tlsFirst = url.scheme == .imaps
            let ch: Channel
            do {
                ch = try ServerBootstrap(group: group)
                    .serverChannelOption(.backlog, value: 256)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.allowRemoteHalfClosure, value: true)
                    .childChannelInitializer { [self] channel in
                        channel.eventLoop.makeCompletedFuture { try self.accept(channel, tlsFirst: tlsFirst) }
                    }
                    .bind(host: url.host, port: url.port).wait()
            } catch { throw ListenError(url: url, error: error) }
            listeners.append(ch)
            if let address = ch.localAddress { bound.append(Self.endpoint(address)) }
        }
        return bound
    }

    public func shutdown() {
        for listener in listeners { try? listener.close().wait() }
        listeners.removeAll()
        try? group.syncShutdownGracefully()
    }

    private func accept(_ client: Channel, tlsFirst: Bool) throws {
        var options = configuration.decoder
        options.afterStartTLS = .plaintext
        options.encryptedTransport = tlsFirst
        let tap = SessionTap(publisher: publisher, options: options, loop: client.eventLoop)
        let faults =
            configuration.faults.isEmpty
            ? nil : FaultDriver(rules: configuration.faults, tap: tap, loop: client.eventLoop)
        let (toUpstream, toClient) = RelayHandler.pair(tap: tap, faults: faults)
        let decodesReads = faults == nil
        // The client's bytes wait until the server leg's TLS (implicit or imapscope's STARTTLS) is up.
        toClient.ready = configuration.upstream.scheme == .imap
        let sync = client.pipeline.syncOperations
        if tlsFirst, let ctx = serverContext {
            try sync.addTLSHandler(NIOSSLServerHandler(context: ctx))
            try sync.addHandler(TLSEventHandler(tap: tap, leg: .client, timeout: configuration.tlsHandshakeTimeout))
        }
        let up = configuration.upstream
        let startTLS = startTLSSession(tlsFirst: tlsFirst, tap: tap, onServerLegUpgraded: { toClient.becameReady() })
        if let startTLS { try sync.addHandler(StartTLSHandler(leg: .client, session: startTLS)) }
        try sync.addHandler(TapHandler(direction: .client, tap: tap, decodesReads: decodesReads))
        try sync.addHandler(toUpstream)
        let clientAddress = client.remoteAddress.map(Self.endpoint) ?? "?"
        // Whether the client has gone (not `!isActive`: a fresh child channel may not be active
        // yet when the upstream connect starts). Read on the client's loop only; the relay knows
        // first (its close of a connecting upstream fails the connect before closeFuture is done).
        let closed = NIOLoopBoundBox(false, eventLoop: client.eventLoop)
        client.closeFuture.whenComplete { _ in closed.value = true }
        let clientRelay = NIOLoopBound(toUpstream, eventLoop: client.eventLoop)
        let clientGone: @Sendable () -> Bool = { closed.value || clientRelay.value.ended }
        let insecure = configuration.insecureUpstream
        let handshakeTimeout = configuration.tlsHandshakeTimeout
        ClientBootstrap(group: client.eventLoop)
            .resolver(configuration.upstreamResolver?(client.eventLoop))
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connectTimeout(.seconds(10))
            .channelInitializer { [clientContext] channel in
                channel.eventLoop.makeCompletedFuture {
                    // The client left while the upstream address was looked up: no connection.
                    guard !clientGone() else { throw ChannelError.ioOnClosedChannel }
                    let pipeline = channel.pipeline.syncOperations
                    if up.scheme == .imaps, let ctx = clientContext {
                        try pipeline.addTLSHandler(
                            try NIOSSLClientHandler(
                                context: ctx, serverHostname: Self.isIPAddress(up.host) ? nil : up.host))
                        try pipeline.addHandler(
                            TLSEventHandler(
                                tap: tap, leg: .server, host: up.host, insecure: insecure,
                                timeout: handshakeTimeout,
                                onEstablished: { toClient.becameReady() },
                                onFailure: { why in
                                    Self.refuse(
                                        client, relay: clientRelay.value, tap: tap,
                                        reason: "TLS with the real server failed: \(why)")
                                }))
                    }
                    if let startTLS { try pipeline.addHandler(StartTLSHandler(leg: .server, session: startTLS)) }
                    try pipeline.addHandler(
                        TapHandler(direction: .server, tap: tap, decodesReads: decodesReads) { upstream in
                            // The session starts once the real server is connected, before any byte.
                            tap.start(
                                client: clientAddress,
                                server: upstream.remoteAddress.map(Self.endpoint) ?? "\(up.host):\(up.port)",
                                upstream: up.description, upstreamVerification: insecure ? "disabled" : nil)
                        })
                    try pipeline.addHandler(toClient)
                }
            }
            .connect(host: up.host, port: up.port)
            .whenComplete { result in
                switch result {
                case .success:
                    break
                case .failure(let error):
                    tap.start(client: clientAddress, server: "\(up.host):\(up.port)", upstream: up.description)
                    if !clientGone() {
                        Self.refuse(
                            client, relay: clientRelay.value, tap: tap, reason: "cannot reach \(up): \(error)",
                            end: "upstream unreachable: \(error)")
                    } else {
                        tap.finish(reason: "the client closed the connection before the server leg was connected")
                    }
                }
            }
    }

    /// The STARTTLS machine a session needs, if any: a plaintext client leg in front of a
    /// plaintext server has its STARTTLS relayed and both legs upgraded; an `imap+starttls://`
    /// upstream is upgraded by imapscope, which then answers a plaintext client's STARTTLS itself,
    /// as it does in front of an `imaps://` upstream.
    private func startTLSSession(
        tlsFirst: Bool, tap: SessionTap,
        onServerLegUpgraded: @escaping () -> Void
    ) -> StartTLSSession? {
        let upstream = configuration.upstream
        let mode: StartTLSMachine.Mode
        let serverLegTLS: NIOSSLContext?
        switch upstream.scheme {
        case .imap:
            guard !tlsFirst, serverContext != nil, starttlsClientContext != nil else { return nil }
            mode = .relayed
            serverLegTLS = starttlsClientContext
        case .imapStartTLS:
            mode = .upgradesServer(answersClient: !tlsFirst && serverContext != nil)
            serverLegTLS = clientContext
        case .imaps:
            guard !tlsFirst, serverContext != nil else { return nil }
            mode = .serverLegTLS
            serverLegTLS = nil
        }
        let machine = StartTLSMachine(
            mode: mode, deadline: configuration.tlsHandshakeTimeout,
            requireClientTLS: configuration.requireClientTLS)
        return StartTLSSession(
            machine: machine, tap: tap,
            clientLegTLS: serverContext, serverLegTLS: serverLegTLS,
            serverHostname: Self.isIPAddress(upstream.host) ? nil : upstream.host,
            insecure: configuration.insecureUpstream, onServerLegUpgraded: onServerLegUpgraded)
    }

    /// Tells the client why there is no server (`* BYE [UNAVAILABLE] …`), then closes. Through the
    /// client leg's relay when given (on the client's loop): it waits for the channel to be active,
    /// which the server leg can fail before.
    static func refuse(
        _ client: Channel, relay: RelayHandler? = nil, tap: SessionTap, reason: String, end: String? = nil
    ) {
        let bye = "* BYE [UNAVAILABLE] imapscope: \(reason)\r\n"
        tap.proxySent(bye)
        var buf = client.allocator.buffer(capacity: bye.utf8.count)
        buf.writeString(bye)
        let finish = { if let end { tap.finish(reason: end) } }
        guard let relay else {
            client.writeAndFlush(buf).whenComplete { _ in
                finish()
                client.close(promise: nil)
            }
            return
        }
        relay.sayAndClose(buf, then: finish)
    }

    static func endpoint(_ address: SocketAddress) -> String {
        switch address {
        case .v6: return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        default: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
