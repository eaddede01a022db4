import IMAPCore
import NIOCore
import NIOSSL

/// Sits at the socket end of a TLS leg, in front of the TLS handler, and reads the two hellos
/// as they pass (both directions, unchanged): the ClientHello's server name and the
/// ServerHello's cipher suite and version. NIOSSL does not expose the negotiated cipher; the
/// ServerHello states it in the clear. Gives up after 16 KiB per direction; it stays in the
/// pipeline (a pass-through) so the `tls` event can ask it after the handshake.
final class TLSHelloObserver: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private static let limit = TLSClientHello.readLimit
    private var inbound: [UInt8] = [], outbound: [UInt8] = []
    private var inboundDone = false, outboundDone = false
    private(set) var clientHello: TLSClientHello?
    private(set) var serverHello: TLSServerHello?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !inboundDone { inboundDone = look(unwrapInboundIn(data), into: &inbound) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !outboundDone { outboundDone = look(unwrapOutboundIn(data), into: &outbound) }
        context.write(data, promise: promise)
    }

    /// Appends and tries both hello parsers; true once this direction is settled.
    private func look(_ buffer: ByteBuffer, into acc: inout [UInt8]) -> Bool {
        acc += buffer.readableBytesView
        if case .hello(let hello) = TLSClientHello.parse(acc) {
            clientHello = hello
            acc = []
            return true
        }
        switch TLSServerHello.parse(acc) {
        case .hello(let hello):
            serverHello = hello
            acc = []
            return true
        case .notTLS:
            acc = []
            return true
        case .needMore:
            if acc.count > Self.limit {
                acc = []
                return true
            }
            return false
        }
    }

    /// What a `tls` event says of a leg once its handshake is done: version, cipher, SNI.
    static func details(_ pipeline: ChannelPipeline.SynchronousOperations) -> TLSReport.Details {
        var details = TLSReport.Details()
        if let tls = try? pipeline.handler(type: NIOSSLHandler.self), let version = tls.tlsVersion {
            details.version = versionName(version)
        }
        if let observer = try? pipeline.handler(type: TLSHelloObserver.self) {
            details.cipher = observer.serverHello?.cipherName
            details.sni = observer.clientHello?.serverName
        }
        return details
    }

    static func versionName(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv13: return "TLSv1.3"
        case .tlsv12: return "TLSv1.2"
        case .tlsv11: return "TLSv1.1"
        case .tlsv1: return "TLSv1.0"
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds a TLS handler at the socket end of the pipeline with a hello observer in front of it.
    func addTLSHandler(_ tls: NIOSSLHandler) throws {
        // The observer goes in first: the TLS handler may write its ClientHello as it is added.
        let observer = TLSHelloObserver()
        try addHandler(observer, position: .first)
        try addHandler(tls, position: .after(observer))
    }
}
