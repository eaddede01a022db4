import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

@testable import IMAPProxy

/// Sessions decoded on the relay's event loops, several at once, moving megabytes each.
@Suite("Concurrent sessions")
struct ConcurrentSessionsTests {
    /// Six sessions each APPEND 1.5 MB and FETCH it back at the same time, on two event loops
    /// that decode inline: every byte arrives, the decoder sees every literal whole, and debug
    /// builds check that every tap call came from the session's own loop.
    @Test func sessionsMovingMoreThanTheBudgetLoseNothing() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let (server, publisher, port) = try ProxyTests.proxy(upstreamPort: dovecot.imapPort, sinks: [sink])
        let sessions = 6
        let out = try runPython(
            """
            import base64, hashlib, imaplib, random, re, threading
            results = {}
            def one(i):
                rng = random.Random(i)
                lines = [base64.b64encode(bytes(rng.randrange(256) for _ in range(57))) for _ in range(20000)]
                body = b'Subject: bulk %d\\r\\n\\r\\n' % i + b'\\r\\n'.join(lines) + b'\\r\\n'
                m = imaplib.IMAP4('127.0.0.1', \(port), timeout=60)
                m.login('alice', 'password')
                typ, data = m.append('INBOX', None, None, body)
                uid = re.search(rb'APPENDUID \\d+ (\\d+)', data[0]).group(1).decode()
                m.select('INBOX')
                typ, data = m.uid('FETCH', uid, '(BODY.PEEK[])')
                got = data[0][1]
                m.logout()
                results[i] = (len(body), hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest())
            ts = [threading.Thread(target=one, args=(i,)) for i in range(\(sessions))]
            [t.start() for t in ts]; [t.join() for t in ts]
            print(' '.join('%d:%s' % results[i] for i in sorted(results)))
            """)
        ProxyClientsTests.waitFor(sink, sessions: sessions, seconds: 30)
        server.shutdown()
        publisher.finish()
        let results = out.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(results.count == sessions && results.allSatisfy { $0.hasSuffix(":True") }, "\(out)")
        let size = Int(results.first?.split(separator: ":").first ?? "") ?? 0
        #expect(size > 1_500_000)
        // The decoder saw each APPEND's literal and each FETCH's body whole.
        let events = sink.events
        let appends = events.filter { $0.kind == .command && $0["name"]?.stringValue == "APPEND" }
        #expect(appends.count == sessions)
        let fetched = events.filter { $0.kind == .untagged && $0["name"]?.stringValue == "FETCH" }
        #expect(fetched.count >= sessions, "\(fetched.count) FETCH responses decoded")
        #expect(!events.contains { $0.kind == .unparsed || $0.kind == .gap })
        // Each body hashed whole, once: six different bodies, six digests of the right size.
        let bodies = fetched.compactMap { $0["attributes"]?["BODY[]"] }
        #expect(bodies.count == sessions)
        #expect(Set(bodies.compactMap { $0["sha256"]?.stringValue }).count == sessions)
        #expect(bodies.allSatisfy { $0["size"]?.intValue == Int64(size) && $0["received"] == nil })
    }
}
