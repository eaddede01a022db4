import Foundation
import IMAPCore
import IMAPProxy
import IMAPTestSupport
import IMAPTranscript
import Testing

/// session-end reasons from real connections through the proxy to Dovecot: who closed first and
/// how, in words.
@Suite("session-end reasons, live", .serialized)
struct SessionEndReasonsTests {
    @Test func whoClosedFirstAndHow() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let p = try ProxyTests.tlsProxy(dovecot, listen: [.imap, .imaps], upstream: .imap)
        defer { p.stop() }
        let out = try runPython(
            """
            import socket, ssl, time
            def plain():
                s = socket.create_connection(('127.0.0.1', \(p.ports[0]))); f = s.makefile('rb'); f.readline()
                return s, f
            # 1: a port check (connects, sends nothing, closes)
            s = socket.create_connection(('127.0.0.1', \(p.ports[0]))); time.sleep(0.3); s.close(); time.sleep(0.3)
            # 2: NOOP, then the client closes without LOGOUT
            s, f = plain(); s.sendall(b'a1 NOOP\\r\\n'); f.readline(); s.close(); time.sleep(0.3)
            # 3: over implicit TLS, LOGOUT, then the client drops TCP without close_notify
            ctx = ssl.create_default_context(cafile='\(p.ca.certificatePath)')
            raw = socket.create_connection(('127.0.0.1', \(p.ports[1])))
            t = ctx.wrap_socket(raw, server_hostname='localhost'); f = t.makefile('rb'); f.readline()
            t.sendall(b'a1 LOGOUT\\r\\n'); f.readline(); f.readline()
            raw2 = socket.socket(fileno=t.detach()); raw2.close(); time.sleep(0.3)
            # 4: the client aborts the TLS handshake (a ClientHello-less close after connecting)
            raw = socket.create_connection(('127.0.0.1', \(p.ports[1]))); raw.sendall(b'\\x16\\x03\\x01'); time.sleep(0.3); raw.close()
            print('ok')
            """)
        #expect(out == "ok\n")
        p.waitForSessions(4)
        let reasons = p.sink.events.filter { $0.kind == .sessionEnd }.map { $0["reason"]?.stringValue ?? "" }
        let expected = [
            "a port check: the client connected and closed without sending a byte; imapscope closed the server leg",
            "the client closed the connection without LOGOUT; imapscope closed the server leg",
            "the client aborted the TLS handshake; imapscope closed the server leg",
        ]
        for reason in expected { #expect(reasons.contains(reason), "\(reasons)") }
        // After LOGOUT Dovecot closes right away; either side may be seen first, both said in words.
        let afterLogout = reasons.filter { $0.contains("after LOGOUT") }
        #expect(afterLogout.count == 1, "\(reasons)")
        #expect(
            afterLogout.allSatisfy {
                $0 == "the server closed the connection after LOGOUT; imapscope closed the client leg"
                    || $0 == "the client closed TLS without close_notify after LOGOUT; imapscope closed the server leg"
            }, "\(afterLogout)")
        for reason in reasons {
            for word in ["NIOSSL", "BoringSSL", "uncleanShutdown", "handshakeFailed", "Error"] {
                #expect(!reason.contains(word), "\(reason)")
            }
        }
    }
}
