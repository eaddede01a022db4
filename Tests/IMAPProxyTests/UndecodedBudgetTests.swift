import Foundation
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import NIOConcurrencyHelpers
import Testing

@testable import IMAPProxy

/// The process-wide bound on bytes waiting to be decoded: the budget type on its own, then a
/// proxy whose sessions move more than the budget at once.
@Suite("Undecoded budget")
struct UndecodedBudgetTests {
    /// Counts the calls of a resume callback.
    final class Calls: Sendable {
        private let box = NIOLockedValueBox(0)
        var count: Int { box.withLockedValue { $0 } }
        var resume: @Sendable () -> Void { { self.box.withLockedValue { $0 += 1 } } }
    }

    final class Session: Sendable {}

    @Test func refusesWhileFullAndResumesBelowTheLowWaterMark() {
        let budget = UndecodedBudget(limit: 1000, resumeBelow: 400)
        let a = Session()
        let b = Session()
        let (ca, cb) = (Calls(), Calls())
        #expect(budget.admit(ObjectIdentifier(a), resume: ca.resume))
        budget.add(999)
        #expect(budget.admit(ObjectIdentifier(a), resume: ca.resume), "below the limit: reads go on")
        budget.add(1)
        #expect(!budget.admit(ObjectIdentifier(a), resume: ca.resume))
        #expect(!budget.admit(ObjectIdentifier(a), resume: ca.resume), "asked twice, called back once")
        #expect(!budget.admit(ObjectIdentifier(b), resume: cb.resume))
        #expect(budget.waitingCount == 2)
        budget.remove(500)
        #expect(budget.held == 500)
        #expect(!budget.admit(ObjectIdentifier(b), resume: cb.resume), "above the low-water mark: still full")
        #expect(ca.count == 0 && cb.count == 0)
        budget.remove(101)
        #expect(ca.count == 1 && cb.count == 1)
        #expect(budget.waitingCount == 0)
        #expect(budget.admit(ObjectIdentifier(a), resume: ca.resume))
        #expect(budget.peak == 1000)
        budget.remove(399)
        #expect(budget.held == 0)
        #expect(ca.count == 1 && cb.count == 1, "no second call without a refusal")
    }

    @Test func aClosedSessionIsNotCalledBack() {
        let budget = UndecodedBudget(limit: 10)
        let a = Session()
        let calls = Calls()
        budget.add(10)
        #expect(!budget.admit(ObjectIdentifier(a), resume: calls.resume))
        budget.forget(ObjectIdentifier(a))
        budget.remove(10)
        #expect(calls.count == 0)
        #expect(budget.resumeBelow == 5)
    }

    /// Threads that add, admit and remove at once: every refused session is called back once
    /// the budget drains (no wake-up is lost between a refusal and a drain).
    @Test func noRefusedSessionIsForgottenUnderContention() {
        let budget = UndecodedBudget(limit: 64 * 1024, resumeBelow: 16 * 1024)
        let sessions = (0..<8).map { _ in Session() }
        let calls = sessions.map { _ in Calls() }
        let refused = NIOLockedValueBox([Int](repeating: 0, count: sessions.count))
        DispatchQueue.concurrentPerform(iterations: sessions.count) { i in
            var rng = SeededRandom(state: UInt64(i + 1))
            for _ in 0..<2000 {
                let n = Int.random(in: 1...8192, using: &rng)
                if !budget.admit(ObjectIdentifier(sessions[i]), resume: calls[i].resume) {
                    refused.withLockedValue { $0[i] += 1 }
                }
                budget.add(n)
                budget.remove(n)
            }
        }
        #expect(budget.held == 0)
        #expect(budget.peak <= 64 * 1024 + 8 * 8192)
        // Every session refused at least once was called back after its last refusal.
        for i in sessions.indices where refused.withLockedValue({ $0[i] }) > 0 {
            #expect(calls[i].count >= 1, "session \(i) was refused and never called back")
        }
        #expect(budget.waitingCount == 0)
    }

    /// Six sessions each APPEND 1.5 MB and FETCH it back through a proxy whose budget is 256 KiB
    /// (each session alone may queue 4 MiB): every byte arrives, the decoder sees every
    /// literal, and the most ever queued stays under the budget plus one read per leg.
    @Test func sessionsMovingMoreThanTheBudgetLoseNothing() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let sink = CollectingSink()
        let limit = 256 * 1024
        let (server, publisher, port) = try ProxyTests.proxy(
            upstreamPort: dovecot.imapPort, sinks: [sink],
            undecodedLimit: limit)
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
        // One read per leg may complete after the budget filled: NIO reads at most 4 buffers of
        // at most 64 KiB in a row (each counted with its capacity and 64 bytes of overhead).
        let oneRead = 4 * (64 * 1024 + 64)
        let budget = server.undecoded
        #expect(budget.held == 0)
        #expect(budget.peak >= limit, "the budget was never reached (peak \(budget.peak)): this test proves nothing")
        #expect(budget.peak <= limit + sessions * 2 * oneRead, "peak \(budget.peak)")
        print("undecoded budget: limit \(limit), peak \(budget.peak), bound \(limit + sessions * 2 * oneRead)")
    }
}
