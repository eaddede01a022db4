import IMAPCore
import NIOCore
import NIOSSL
import NIOTLS

/// Reports each leg's TLS handshake (version, cipher where known) as a `tls` event.
final class TLSEventHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let tap: SessionTap
    private let leg: ProxyLeg
    private let insecure: Bool
    private let onFailure: ((String) -> Void)?
    private let onEstablished: (() -> Void)?
    /// The name the server leg's certificate must carry (for the failure's explanation).
    private let host: String?
    private var failed = false
    private var established = false
    /// A handshake that has not finished by then fails (a tarpit would hold the session forever).
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    static let defaultTimeout = TimeAmount.seconds(30)

    init(
        tap: SessionTap, leg: ProxyLeg, host: String? = nil, insecure: Bool = false,
        timeout: TimeAmount = TLSEventHandler.defaultTimeout,
        onEstablished: (() -> Void)? = nil, onFailure: ((String) -> Void)? = nil
    ) {
        self.tap = tap
        self.leg = leg
        self.host = host
        self.insecure = insecure
        self.onFailure = onFailure
        self.onEstablished = onEstablished
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func handlerAdded(context: ChannelHandlerContext) { if context.channel.isActive { armTimer(context) } }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    private func armTimer(_ context: ChannelHandlerContext) {
        guard timer == nil, !established else { return }
        let seconds = Double(timeout.nanoseconds) / 1e9
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard !established, !failed else { return }
            let within = Decimal.format(seconds, seconds < 10 ? 1 : 0)
            fail(ChannelError.connectTimeout(timeout), reason: "no TLS handshake within \(within) s")
            context.close(promise: nil)
        }
    }

    /// Closed before the handshake finished (the TLS handler may close before or after it
    /// reports the error): fail here, before the relay behind us closes the other leg, so a BYE
    /// still reaches the client.
    func channelInactive(context: ChannelHandlerContext) {
        if !established { fail(ChannelError.eof, reason: "connection closed during the TLS handshake") }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let userEvent = event as? TLSUserEvent, case .handshakeCompleted = userEvent {
            let details = TLSHelloObserver.details(context.pipeline.syncOperations)
            tap.tls(
                TLSReport(
                    leg: leg, phase: .established, details: details,
                    verification: leg == .server ? (insecure ? .disabled : .verified) : nil))
            established = true
            timer?.cancel()
            onEstablished?()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A peer that closes without close_notify after a finished session (imaplib does) is
        // not a TLS failure worth an alarm.
        // Once the handshake is done, a socket error (a reset) is the connection's end, not a
        // TLS failure; the session-end reason tells it.
        if established {
            context.fireErrorCaught(error)
            return
        }
        let pipeline = context.pipeline.syncOperations
        let reason =
            leg == .server
            ? CertificateDiagnosis.explain(error, pipeline: pipeline, host: host) : ClientTLSFailure.explain(error)
        fail(error, reason: reason)
        context.fireErrorCaught(error)
    }

    /// Reports this leg's failure once, as a `tls` event, and lets the owner react (a BYE).
    private func fail(_ error: Error, reason: String) {
        guard !failed else { return }
        failed = true
        tap.tls(TLSReport(leg: leg, phase: .failed(error: reason, upgradingServer: false)))
        onFailure?(reason)
    }
}
