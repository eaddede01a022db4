import NIOCore

/// Writes imapscope's BYE to a client whose connection was not active yet when the upstream
/// failed, as soon as it is, before anything else in the pipeline sees it go active; a close
/// asked for meanwhile (the relay closes the client once its upstream partner is gone) waits
/// until the BYE is written, else the client would see its connection end with no word.
final class ByeWhenActive: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let bye: ByteBuffer
    private let onWritten: @Sendable () -> Void
    private var said = false
    private var heldCloses: [(CloseMode, EventLoopPromise<Void>?)] = []

    init(bye: ByteBuffer, onWritten: @escaping @Sendable () -> Void) {
        self.bye = bye
        self.onWritten = onWritten
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sayBye(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sayBye(context)
        context.fireChannelActive()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard said else {
            heldCloses.append((mode, promise))
            return
        }
        context.close(mode: mode, promise: promise)
    }

    private func sayBye(_ context: ChannelHandlerContext) {
        guard !said else { return }
        said = true
        let onWritten = self.onWritten
        let held = heldCloses
        heldCloses = []
        context.writeAndFlush(wrapOutboundOut(bye)).whenComplete { _ in
            onWritten()
            for (mode, promise) in held { context.close(mode: mode, promise: promise) }
        }
    }
}
