import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Copies bytes from one channel to its partner untouched, with backpressure both ways: a side
/// reads only while its partner can take more, so a slow client slows the server's reads and no
/// buffer grows without bound. The tap decodes each read before the next one starts (on this
/// loop), so the decoder cannot fall behind either. Half-close is passed on (allowRemoteHalfClosure
/// must be set).
final class RelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    /// The context whose channel connected. NIO's happy eyeballs adds the upstream side to one
    /// channel per address it tries; an attempt that fails is removed again and must not take
    /// the relay with it, and one that loses the race must not close the client.
    private var liveContext: ChannelHandlerContext?
    private var readPending = false
    /// What the partner's peer did before this side's channel was up (a client that leaves
    /// while the upstream connect or its DNS lookup is under way): done once it is, else the
    /// upstream connection would outlive its client.
    private enum PartnerEnd { case none, eof, closed }
    private var partnerEnd = PartnerEnd.none
    /// This side's channel has gone inactive (it closes the partner's in turn).
    private(set) var ended = false
    /// What imapscope says to this side's peer before closing it (a BYE when the server leg
    /// failed), kept until the channel is up: under load the server leg can fail before the
    /// client's channel is active, and a write then would be lost.
    private var farewell: (bytes: ByteBuffer, then: () -> Void)?
    private let tap: SessionTap
    /// The leg whose peer this side reads (its channel's).
    private let leg: ProxyLeg
    /// `--fault`: reads go to the fault engine instead of straight to the partner. Nil without
    /// rules, and then nothing here differs from a plain relay.
    private let faults: FaultDriver?
    /// False on the server side while imapscope is still setting up TLS with the server: the
    /// client's bytes are not read until they can go out (else they would pile up in front of
    /// the TLS handler). `becameReady()` lifts it.
    var ready = true

    private init(tap: SessionTap, leg: ProxyLeg, faults: FaultDriver?) {
        self.tap = tap
        self.leg = leg
        self.faults = faults
    }

    /// Both ends of one session's relay: the client channel's, then the server channel's.
    static func pair(tap: SessionTap, faults: FaultDriver? = nil) -> (RelayHandler, RelayHandler) {
        let clientSide = RelayHandler(tap: tap, leg: .client, faults: faults)
        let serverSide = RelayHandler(tap: tap, leg: .server, faults: faults)
        clientSide.partner = serverSide
        serverSide.partner = clientSide
        faults?.attach(clientSide: clientSide, serverSide: serverSide)
        return (clientSide, serverSide)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { liveContext = context }
        // The client side waits (its reads pend) until the upstream side exists and is connected.
        if context.channel.isActive { partner?.partnerBecameWritable() }
    }

    func channelActive(context: ChannelHandlerContext) {
        // The first connection wins; a second one is about to be dropped by happy eyeballs.
        guard liveContext == nil || liveContext === context else {
            context.fireChannelActive()
            return
        }
        self.context = context
        liveContext = context
        if let farewell {
            self.farewell = nil
            say(farewell.bytes, context: context, then: farewell.then)
            context.fireChannelActive()
            return
        }
        switch partnerEnd {
        case .closed:
            context.close(promise: nil)
        case .eof:
            context.close(mode: .output, promise: nil)
            partner?.partnerBecameWritable()
        case .none:
            partner?.partnerBecameWritable()
        }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if self.context === context { self.context = nil }
        // An attempt that never connected leaves the pair as it was.
        guard liveContext === context else { return }
        liveContext = nil
        partner = nil
    }

    // Called by the partner, on the same event loop.
    private func partnerWrite(_ data: NIOAny) { context?.write(data, promise: nil) }
    private func partnerFlush() { context?.flush() }
    private func partnerWriteEOF() {
        faults?.peerEnded(leg.other)
        guard let context, context.channel.isActive else {
            if partnerEnd == .none { partnerEnd = .eof }
            return
        }
        context.close(mode: .output, promise: nil)
    }
    private func partnerClosed() {
        faults?.peerEnded(leg.other)
        partnerEnd = .closed
        // A farewell waiting for this channel closes it once said.
        if farewell == nil { context?.close(promise: nil) }
    }

    /// Sends `bytes` to this side's peer, then closes its channel and calls `then` — now, or as
    /// soon as the channel is active.
    func sayAndClose(_ bytes: ByteBuffer, then: @escaping () -> Void) {
        guard let context, context.channel.isActive else {
            farewell = (bytes, then)
            return
        }
        say(bytes, context: context, then: then)
    }

    private func say(_ bytes: ByteBuffer, context: ChannelHandlerContext, then: @escaping () -> Void) {
        context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in
            then()
            context.close(promise: nil)
        }
    }
    private var writable: Bool { ready && (context?.channel.isWritable ?? false) }
    private func partnerBecameWritable() { resumeReading() }

    /// TLS with the server is up: the client's reads may go ahead.
    func becameReady() {
        ready = true
        partner?.partnerBecameWritable()
    }

    /// A read that waited (for the partner or a fault rule) goes ahead once both can take more.
    private func resumeReading() {
        guard readPending, partner?.writable ?? false, faults?.admitsRead(from: leg) ?? true
        else { return }
        readPending = false
        context?.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard liveContext === context else { return }
        if let faults {
            faults.received(from: leg, unwrapInboundIn(data))
        } else {
            partner?.partnerWrite(data)
        }
    }
    func channelReadComplete(context: ChannelHandlerContext) {
        if liveContext === context { partner?.partnerFlush() }
    }
    func channelInactive(context: ChannelHandlerContext) {
        guard liveContext === context else { return }  // a connection happy eyeballs dropped
        ended = true
        partner?.partnerClosed()
        faults?.channelEnded()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed, liveContext === context {
            partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.writable ?? false, faults?.admitsRead(from: leg) ?? true {
            context.read()
        } else {
            readPending = true
        }
    }

    // MARK: Faults (called by the session's FaultDriver, on this loop)

    /// Sends bytes to this side's peer. Like the relay's own writes, not only once the channel is
    /// active: under load the server's greeting can come before the accepted client channel's
    /// activation, and NIO sends what was written then once it is (dropping it lost the greeting).
    func faultWrite(_ bytes: [UInt8]) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes this side's connection once what was written is flushed; `reset` aborts it (RST).
    func faultClose(reset: Bool) {
        guard let context else { return }
        // SO_LINGER 0: closing sends RST and drops what is unsent.
        if reset, let socket = context.channel as? SocketOptionProvider {
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    func faultResumeReading() { resumeReading() }
}

/// Hands the decoder a copy of what a channel receives, after the bytes went on to the relay
/// and were flushed: decoding never delays, changes or drops a relayed byte.
final class TapHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let direction: IMAPDirection
    private let tap: SessionTap
    private var received: [ByteBuffer] = []
    private let onActive: ((Channel) -> Void)?
    /// False under `--fault`: the decoder is fed what the relay lets through, not what was read.
    private let decodesReads: Bool

    init(direction: IMAPDirection, tap: SessionTap, decodesReads: Bool = true, onActive: ((Channel) -> Void)? = nil) {
        self.direction = direction
        self.tap = tap
        self.decodesReads = decodesReads
        self.onActive = onActive
    }

    func channelActive(context: ChannelHandlerContext) {
        onActive?(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if decodesReads { received.append(unwrapInboundIn(data)) }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        for bytes in received { tap.feed(direction, bytes) }
        received.removeAll(keepingCapacity: true)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        tap.legFailed(direction, error)
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed { tap.peerClosed(direction) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for bytes in received { tap.feed(direction, bytes) }
        received.removeAll()
        tap.closed(direction)
        context.fireChannelInactive()
    }
}
