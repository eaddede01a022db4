import IMAPCore
import IMAPTranscript
import NIOCore
import NIOEmbedded
import Testing

@testable import IMAPProxy

/// The relay under `--fault`, on embedded channels sharing one loop: what the fault driver lets
/// through reaches the client even when the server speaks before the accepted client channel is
/// active (under load the greeting can come first; dropping it left the client waiting for one).
@Suite("Fault driver on the relay")
struct FaultDriverRelayTests {
    @Test func aGreetingBeforeTheClientChannelIsActiveIsNotLost() throws {
        let loop = EmbeddedEventLoop()
        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        let tap = SessionTap(publisher: publisher, options: DecoderOptions(), loop: loop)
        tap.start(client: "127.0.0.1:1", server: "127.0.0.1:2", upstream: "imap://127.0.0.1:2")
        let faults = FaultDriver(
            rules: [try FaultRuleParser.parse("NOOP -> respond NO [UNAVAILABLE] flaky")], tap: tap, loop: loop)
        let (clientSide, serverSide) = RelayHandler.pair(tap: tap, faults: faults)
        let client = EmbeddedChannel(loop: loop)
        let server = EmbeddedChannel(loop: loop)
        try client.pipeline.syncOperations.addHandler(clientSide)
        try server.pipeline.syncOperations.addHandler(serverSide)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        #expect(!client.isActive)

        let greeting = "* OK [CAPABILITY IMAP4rev1] ready\r\n"
        try server.writeInbound(ByteBuffer(string: greeting))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var received = ""
        while let buffer = try client.readOutbound(as: ByteBuffer.self) { received += String(buffer: buffer) }
        #expect(received == greeting)

        publisher.finish()
        let greetingEvents = sink.events.filter { $0.kind == .untagged && $0.dir == .server }
        #expect(greetingEvents.count == 1, "the decoder saw what the client was sent")
    }
}
