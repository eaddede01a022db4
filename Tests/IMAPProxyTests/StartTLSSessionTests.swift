import Foundation
import IMAPCore
import IMAPTranscript
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import Testing

@testable import IMAPProxy

/// The NIO side of the STARTTLS machine, on two embedded channels sharing one loop (no
/// sockets): what each leg hands on to the tap and the relay, what goes out, which TLS handler
/// is put in, what the session's events say, and the one deadline on the loop's clock.
@Suite("STARTTLS session on embedded channels", .serialized)
struct StartTLSSessionTests {
    /// Stands in for the tap and the relay behind a leg's `StartTLSHandler`.
    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var received: [UInt8] = []
        /// Bytes received when each read-complete arrived.
        var completedAt: [Int] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytesView
        }
        func channelReadComplete(context: ChannelHandlerContext) { completedAt.append(received.count) }
        var text: String { String(decoding: received, as: UTF8.self) }
    }

    final class Session {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let server: EmbeddedChannel
        let clientOut = Collector()
        let serverOut = Collector()
        let sink = CollectingSink()
        let publisher: EventPublisher
        let caDirectory = NSTemporaryDirectory() + "imapscope-ca-\(UUID().uuidString)"
        var serverLegUpgraded = false

        init(_ mode: StartTLSMachine.Mode, deadline: TimeAmount = .seconds(30)) throws {
            publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
            var options = DecoderOptions()
            options.afterStartTLS = .plaintext
            let tap = SessionTap(publisher: publisher, options: options)
            tap.start(client: "127.0.0.1:1", server: "127.0.0.1:2", upstream: "imap://127.0.0.1:2")
            let ca = try CertificateAuthority.load(directory: caDirectory)
            let clientLegTLS = try NIOSSLContext(configuration: ca.serverTLSConfiguration(fallbackHost: "localhost"))
            let serverLegTLS = try NIOSSLContext(configuration: .makeClientConfiguration())
            client = EmbeddedChannel(loop: loop)
            server = EmbeddedChannel(loop: loop)
            var upgraded: () -> Void = {}
            let session = StartTLSSession(
                machine: StartTLSMachine(mode: mode, deadline: deadline), tap: tap,
                clientLegTLS: clientLegTLS, serverLegTLS: serverLegTLS,
                serverHostname: "localhost", insecure: false,
                onServerLegUpgraded: { upgraded() })
            upgraded = { [unowned self] in serverLegUpgraded = true }
            try client.pipeline.syncOperations.addHandlers([StartTLSHandler(leg: .client, session: session), clientOut])
            try server.pipeline.syncOperations.addHandlers([StartTLSHandler(leg: .server, session: session), serverOut])
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        }

        func events() -> [Event] {
            publisher.finish()
            return sink.events
        }

        func outbound(_ channel: EmbeddedChannel) throws -> String {
            var out = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
            return out
        }

        func hasTLS<Handler: ChannelHandler>(_ channel: EmbeddedChannel, _ type: Handler.Type) -> Bool {
            (try? channel.pipeline.syncOperations.handler(type: type)) != nil
        }

        deinit { try? FileManager.default.removeItem(atPath: caDirectory) }
    }

    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func legAndPhase(_ event: Event) -> String {
        "\(event["leg"]?.stringValue ?? "") \(event["phase"]?.stringValue ?? "")"
    }

    @Test func aPipelinedCommandIsNeverHandedOn() throws {
        let session = try Session(.relayed)
        try session.server.writeInbound(Self.buffer("* OK ready\r\n"))
        try session.client.writeInbound(Self.buffer("a1 STARTTLS\r\na2 LOGIN alice password\r\n"))
        // The STARTTLS reached the tap and the relay, flushed, before the session was refused.
        #expect(session.clientOut.text == "a1 STARTTLS\r\n")
        #expect(session.clientOut.completedAt.first == 13)
        #expect(!session.client.isActive && !session.server.isActive)
        let events = session.events()
        #expect(
            events.filter { $0.kind == .lint }.map { $0["message"]?.stringValue ?? "" }
                == ["25 plaintext byte(s) from the client after STARTTLS were not relayed; the session is closed"])
        #expect(events.last?["reason"]?.stringValue == "plaintext after STARTTLS")
    }

    @Test func theServersOKPutsTLSOnBothLegsAndGarbageFailsIt() throws {
        let session = try Session(.relayed)
        try session.client.writeInbound(Self.buffer("a1 STARTTLS\r\n"))
        try session.server.writeInbound(Self.buffer("a1 OK Begin TLS now\r\n"))
        #expect(session.serverOut.text == "a1 OK Begin TLS now\r\n")
        #expect(session.hasTLS(session.server, NIOSSLClientHandler.self))
        #expect(session.hasTLS(session.client, NIOSSLServerHandler.self))
        // imapscope's ClientHello went out to the server (a TLS handshake record).
        #expect(try session.server.readOutbound(as: ByteBuffer.self)?.readableBytesView.first == 0x16)
        // Plaintext where the server's TLS answer belongs: the handshake fails, the session ends.
        _ = try? session.server.writeInbound(Self.buffer("* OK plaintext\r\n"))
        #expect(!session.client.isActive && !session.server.isActive)
        let events = session.events()
        let failed = events.filter { $0.kind == .tls }
        #expect(failed.map(Self.legAndPhase) == ["server failed"])
        let reason = events.last?["reason"]?.stringValue ?? ""
        #expect(reason.hasPrefix("TLS with the real server failed after STARTTLS: "), "\(reason)")
        #expect(session.serverOut.text == "a1 OK Begin TLS now\r\n")
    }

    @Test func imapscopeUpgradesTheServerAndAnswersTheClient() throws {
        let session = try Session(.upgradesServer(answersClient: true))
        try session.server.writeInbound(Self.buffer("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"))
        #expect(session.serverOut.text == "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        #expect(try session.outbound(session.server) == "imapscope0 STARTTLS\r\n")
        try session.server.writeInbound(Self.buffer("* CAPABILITY IMAP4rev1\r\nimapscope0 OK go\r\n"))
        #expect(session.serverOut.text == "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        #expect(session.hasTLS(session.server, NIOSSLClientHandler.self))
        #expect(!session.serverLegUpgraded)
        session.server.pipeline.syncOperations.fireUserInboundEventTriggered(
            TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        #expect(session.serverLegUpgraded)
        _ = try session.outbound(session.server)  // the ClientHello
        // The client's STARTTLS is answered here, in plaintext, and never reaches the server.
        try session.client.writeInbound(Self.buffer("a1 STARTTLS\r\n"))
        #expect(
            try session.outbound(session.client)
                == "a1 OK Begin TLS negotiation now (answered by imapscope: the server leg is already TLS)\r\n")
        #expect(session.clientOut.received.isEmpty)
        #expect(session.hasTLS(session.client, NIOSSLServerHandler.self))
        // No ClientHello from the client within the deadline: the session ends.
        session.loop.advanceTime(by: .seconds(29))
        #expect(session.client.isActive)
        session.loop.advanceTime(by: .seconds(1))
        #expect(!session.client.isActive && !session.server.isActive)
        let events = session.events()
        let legs = events.filter { $0.kind == .tls }.map(Self.legAndPhase)
        #expect(legs == ["server starttls-upstream", "client failed"])
        #expect(
            events.first { $0.kind == .tls && $0["leg"]?.stringValue == "client" }?["error"]?.stringValue
                == "no TLS handshake within 30 s")
        #expect(events.contains { $0.dir == .proxy && $0.kind == .tagged && $0["command"]?.stringValue == "STARTTLS" })
        #expect(!events.contains { $0["tag"]?.stringValue == "imapscope0" })
        #expect(events.last?["reason"]?.stringValue == "the client's TLS handshake after STARTTLS failed")
    }

    @Test func aServerThatNeverGreetsGetsTheClientABye() throws {
        let session = try Session(.upgradesServer(answersClient: false), deadline: .seconds(1))
        session.loop.advanceTime(by: .milliseconds(999))
        #expect(session.server.isActive)
        session.loop.advanceTime(by: .milliseconds(1))
        let why = "the server leg was not upgraded within 1.0 s"
        #expect(try session.outbound(session.client) == "* BYE [UNAVAILABLE] imapscope: \(why)\r\n")
        #expect(!session.client.isActive && !session.server.isActive)
        let events = session.events()
        #expect(events.filter { $0.kind == .tls }.map { $0["error"]?.stringValue ?? "" } == [why])
        #expect(events.first { $0.kind == .tls }?.annotation == "the server leg could not be upgraded")
    }
}
