import NIOCore
import NIOTLS

/// One leg's end of a `StartTLSSession`: sits in front of the tap and the relay and hands the
/// session what the leg receives (bytes, TLS completion, errors, closes); the session answers
/// by passing bytes on through this handler's context, or not.
final class StartTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let leg: ProxyLeg
    private let session: StartTLSSession

    init(leg: ProxyLeg, session: StartTLSSession) {
        self.leg = leg
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { session.connected(leg, context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { session.removed(leg, context) }

    func channelActive(context: ChannelHandlerContext) {
        // The tap and the relay see the connection's start first: a client that resets at once
        // otherwise reached the relay as inactive before active, and its upstream was never closed
        // (the abusive-clients test, under load).
        context.fireChannelActive()
        if context.channel.isActive { session.connected(leg, context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard session.isLive(context, leg), !session.isPassthrough else {
            context.fireChannelRead(data)
            return
        }
        session.read(leg, unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if session.isLive(context, leg) {
            if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
                session.handle(.handshakeCompleted(leg))
            }
            if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed {
                session.handle(.inputClosed(leg))
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if session.isLive(context, leg) { session.handle(.error(leg, session.explain(error, on: leg))) }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if session.isLive(context, leg) { session.handle(.closed(leg)) }
        context.fireChannelInactive()
    }
}
