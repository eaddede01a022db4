import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import Testing

/// Real mail clients from Debian that nobody here wrote, through the proxy against Dovecot, each
/// compared with the same client run directly against Dovecot: fetchmail and getmail6 (the
/// messages they deliver, minus the trace headers they add), and neomutt under tmux (its screens,
/// read with capture-pane). Between them they cover every listener × upstream pairing, STARTTLS
/// answered by imapscope included.
@Suite("terminal mail clients through the proxy", .serialized)
struct TerminalClientsTests {
    typealias Scheme = ProxyURL.Scheme

    static func checkSession(
        _ p: ProxyTests.TLSProxy, clientLegTLS: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let events = p.sink.events
        let legs = events.filter { $0.kind == .tls && $0["phase"]?.stringValue != "failed" }
            .compactMap { $0["leg"]?.stringValue }
        #expect(legs.contains("client") == clientLegTLS, "\(legs)", sourceLocation: sourceLocation)
        let bad = events.filter {
            $0.kind == .unparsed || ($0.kind == .lint && $0["level"]?.stringValue == "error")
                || ($0.kind == .tls && $0["phase"]?.stringValue == "failed")
        }
        #expect(bad.isEmpty, "\(bad.map { $0.json.serialized })", sourceLocation: sourceLocation)
        #expect(
            !events.contains { $0.kind == .lint && $0["code"]?.stringValue == "client-leg-plaintext" },
            sourceLocation: sourceLocation)
        let scan = SecretScan("password")
        let leaks = events.flatMap { scan.leaks(in: $0.json.serialized) }
        #expect(leaks.isEmpty, "\(leaks)", sourceLocation: sourceLocation)
    }

    /// fetchmail on the plaintext listener (STARTTLS: relayed to imap://, answered by imapscope in
    /// front of imaps:// and imap+starttls://).
    @Test(arguments: [Scheme.imap, .imaps, .imapStartTLS])
    func fetchmailGetsWhatItGetsDirectly(upstream: Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let direct = try MailClients.fetchmail(port: dovecot.imapPort, cafile: dovecot.directory + "/server.crt")
        #expect(direct.count == 2)
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap], upstream: upstream)
        defer { p.stop() }
        let proxied = try MailClients.fetchmail(port: p.ports[0], cafile: p.ca.certificatePath)
        p.waitForSessions()
        #expect(proxied == direct)
        Self.checkSession(p, clientLegTLS: true)
        let commands = p.sink.events.filter { $0.kind == .command }.compactMap { $0["name"]?.stringValue }
        #expect(
            commands.prefix(2) == ["STARTTLS", "CAPABILITY"]
                || commands.prefix(3) == ["CAPABILITY", "STARTTLS", "CAPABILITY"], "\(commands)")
    }

    /// getmail6 on the implicit-TLS listener in front of each upstream.
    @Test(arguments: [Scheme.imap, .imaps, .imapStartTLS])
    func getmailGetsWhatItGetsDirectly(upstream: Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let direct = try MailClients.getmail(port: dovecot.imapsPort, cafile: dovecot.directory + "/server.crt")
        #expect(direct.count == 2)
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imaps], upstream: upstream)
        defer { p.stop() }
        let proxied = try MailClients.getmail(port: p.ports[0], cafile: p.ca.certificatePath)
        p.waitForSessions()
        #expect(proxied == direct)
        Self.checkSession(p, clientLegTLS: true)
    }

    /// neomutt: STARTTLS forced on the plaintext listener in front of imaps:// (answered by
    /// imapscope), and implicit TLS in front of a plaintext upstream.
    @Test(arguments: [(Scheme.imap, Scheme.imaps), (.imaps, .imap)])
    func neomuttShowsWhatItShowsDirectly(listen: Scheme, upstream: Scheme) throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let implicitTLS = listen == .imaps
        let direct = try MailClients.neomutt(
            port: implicitTLS ? dovecot.imapsPort : dovecot.imapPort, cafile: dovecot.directory + "/server.crt",
            implicitTLS: implicitTLS)
        #expect(direct.count == 2 && direct[0].contains("   1 [Seed message 1]"), "\(direct)")
        let p = try ProxyTests.tlsProxy(dovecot, listen: [listen], upstream: upstream)
        defer { p.stop() }
        let proxied = try MailClients.neomutt(port: p.ports[0], cafile: p.ca.certificatePath, implicitTLS: implicitTLS)
        p.waitForSessions()
        #expect(proxied == direct)
        Self.checkSession(p, clientLegTLS: true)
    }
}
