import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import NIOCore
import NIOPosix
import Testing

@testable import IMAPProxy

/// NIO's happy eyeballs runs the upstream channel initializer once per address it tries; the
/// relay must survive a first attempt that fails (here an IPv6 address that refuses).
@Suite("Upstream with several addresses")
struct UpstreamAddressesTests {
    /// AAAA: ::1 on a port nobody listens on; A: the real server.
    struct TwoAddresses: Resolver, Sendable {
        let loop: EventLoop
        let refusing: Int
        let answering: Int
        func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            loop.makeCompletedFuture { [try SocketAddress(ipAddress: "127.0.0.1", port: answering)] }
        }
        func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            loop.makeCompletedFuture { [try SocketAddress(ipAddress: "::1", port: refusing)] }
        }
        func cancelQueries() {}
    }

    @Test func aFailedFirstAddressLeavesTheRelayWhole() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        // A port that refuses on ::1: bound, then closed.
        let probe = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "::1", port: 0).wait()
        let refusing = probe.localAddress?.port ?? 1
        try probe.close().wait()
        let sink = CollectingSink()
        let publisher = EventPublisher(pipeline: EventPipeline(redactor: Redactor(), sinks: [sink]))
        let upstream = ProxyURL(scheme: .imap, host: "dual.imapscope.test", port: 143)
        let listen = [ProxyURL(scheme: .imap, host: "127.0.0.1", port: 0)]
        var config = ProxyServer.Configuration(
            listen: listen, upstream: upstream, serverTLS: nil,
            upstreamTLS: .makeClientConfiguration())
        let answering = dovecot.imapPort
        config.upstreamResolver = { TwoAddresses(loop: $0, refusing: refusing, answering: answering) }
        let server = try ProxyServer(configuration: config, publisher: publisher, threads: 2)
        let port = Int(try server.start()[0].split(separator: ":").last ?? "") ?? 0
        let out = try runPython(
            """
            import imaplib
            m = imaplib.IMAP4('127.0.0.1', \(port), timeout=10)
            print(m.login('alice', 'password')[0], m.select('INBOX')[0]); m.logout()
            """)
        ProxyClientsTests.waitFor(sink, sessions: 1)
        server.shutdown()
        publisher.finish()
        #expect(out == "OK OK\n")
        let start = sink.events.first { $0.kind == .sessionStart }
        #expect(start?["server"]?.stringValue == "127.0.0.1:\(answering)")
        let commands = sink.events.filter { $0.kind == .command }.map { $0["name"]?.stringValue ?? "" }
        #expect(commands == ["CAPABILITY", "LOGIN", "SELECT", "LOGOUT"])
    }
}
