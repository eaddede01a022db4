import Foundation
import IMAPTestSupport
import Testing

/// 2,000 clients that reset or drop at every stage of a session (`scripts/abusive_clients.py`)
/// against two `imapscope proxy` processes in front of a real Dovecot: one with an imaps and an
/// imap listener (a client's STARTTLS intercepted on both legs) before an imap upstream, one
/// with the same listeners before an `imap+starttls://` upstream. Afterwards each proxy holds
/// no socket but its listeners and exactly the descriptors it had before, none of its
/// connections sits in CLOSE-WAIT, and a real client is served on every listener.
@Suite("Abusive clients through the proxy", .serialized)
struct AbusiveClientsTests {
    static let clients = 2_000

    /// A proxy's open descriptors: how many, and how many of them are sockets.
    struct Descriptors: Equatable, CustomStringConvertible {
        var total: Int
        var sockets: Int
        var description: String { "\(total) descriptors (\(sockets) sockets)" }

        init(pid: Int32) {
            let dir = "/proc/\(pid)/fd"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            total = names.count
            sockets =
                names.filter { name in
                    let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + name)
                    return target?.hasPrefix("socket:") ?? false
                }.count
        }
    }

    /// Where each of the process's sockets is listed (/proc/net/tcp, unix, …), for the report.
    static func socketKinds(pid: Int32) -> [String] {
        let dir = "/proc/\(pid)/fd"
        let tables = ["tcp", "tcp6", "udp", "udp6", "unix", "netlink"].map { name in
            (name, (try? String(contentsOfFile: "/proc/net/" + name, encoding: .utf8)) ?? "")
        }
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + fd),
                target.hasPrefix("socket:[")
            else { return nil }
            let inode = String(target.dropFirst(8).dropLast())
            let table = tables.first { $0.1.contains(" \(inode) ") }?.0 ?? "?"
            return "fd \(fd): \(table)"
        }.sorted()
    }

    /// Polls `condition` every 50 ms until it holds or `seconds` pass; true if it held.
    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// The process's TCP connections (`ss` names the owning process), in one state or all.
    static func connections(pid: Int32, state: String? = nil) throws -> [String] {
        let ss = try run("/usr/bin/env", ["ss", "-tanp"] + (state.map { ["state", $0] } ?? []))
        return ss.stdout.split(separator: "\n").map(String.init).filter { $0.contains("pid=\(pid),") }
    }

    /// A real client logs in and selects INBOX on `port`: imaplib over implicit TLS; on a
    /// plaintext listener STARTTLS by hand (imaplib asks for CAPABILITY first, and behind an
    /// `imap+starttls://` upstream that no longer offers STARTTLS: imapscope answers it).
    static func realClient(port: Int, tls: Bool, caFile: String) throws -> String {
        try runPython(
            """
            import imaplib, socket, ssl
            ctx = ssl.create_default_context(cafile='\(caFile)')
            if \(tls ? "True" : "False"):
                m = imaplib.IMAP4_SSL('127.0.0.1', \(port), ssl_context=ctx, timeout=20)
                a = m.login('alice', 'password')[0]; b = m.select('INBOX')[0]; m.logout()
            else:
                s = socket.create_connection(('127.0.0.1', \(port)), timeout=20)
                def answer(sock, tag):
                    line = b''
                    while not line.startswith(tag + b' '):
                        line = b''
                        while not line.endswith(b'\\n'):
                            d = sock.recv(1)
                            if not d: raise EOFError(line)
                            line += d
                    return line.split(b' ')[1].decode()
                answer(s, b'*')
                s.sendall(b'a1 STARTTLS\\r\\n'); answer(s, b'a1')
                t = ctx.wrap_socket(s, server_hostname='127.0.0.1')
                t.sendall(b'a2 LOGIN alice password\\r\\n'); a = answer(t, b'a2')
                t.sendall(b'a3 SELECT INBOX\\r\\n'); b = answer(t, b'a3')
                t.sendall(b'a4 LOGOUT\\r\\n'); answer(t, b'a4'); t.close()
            print(a, b)
            """)
    }

    struct Proxy {
        var process: ProxyBinaryProcess
        var caFile: String
        var name: String
        /// (port, implicit TLS) in `--listen` order.
        var listeners: [(port: Int, tls: Bool)]
    }

    @Test func resettingClientsLeaveNothingBehind() throws {
        let dovecot = try DovecotProcess(seed: 2)
        defer { dovecot.stop() }
        let dir = NSTemporaryDirectory() + "imapscope-abuse-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var proxies: [Proxy] = []
        defer { for p in proxies { _ = p.process.stop() } }
        for (name, upstream) in [("imap", "imap"), ("starttls", "imap+starttls")] {
            let ca = dir + "/ca-" + name
            let process = try ProxyBinaryProcess([
                "--listen", "imaps://127.0.0.1:0", "--listen", "imap://127.0.0.1:0",
                "--upstream", "\(upstream)://localhost:\(dovecot.imapPort)",
                "--upstream-ca", dovecot.directory + "/server.crt",
                "--ca-dir", ca, "--log", dir + "/\(name).jsonl",
            ])
            proxies.append(
                Proxy(
                    process: process, caFile: ca + "/ca.pem", name: name,
                    listeners: [(process.ports[0], true), (process.ports[1], false)]))
        }
        // A real session on every listener first, so that whatever a first session sets up
        // once is in the baseline; then no TCP connection of the proxy but its listeners may
        // remain. (Its socket count may include one more: a socket the test runner leaves open
        // across exec, not in the TCP table; it is the same before and after.)
        var baseline: [Descriptors] = []
        for p in proxies {
            for l in p.listeners {
                #expect(try Self.realClient(port: l.port, tls: l.tls, caFile: p.caFile) == "OK OK\n", "\(p.name)")
            }
            let pid = p.process.pid
            let idle = Self.waitUntil(seconds: 20) {
                ((try? Self.connections(pid: pid)) ?? ["?"]).allSatisfy { $0.hasPrefix("LISTEN") }
            }
            let open = try Self.connections(pid: pid)
            #expect(idle, "\(p.name): \(Descriptors(pid: pid)) after the warm-up sessions: \(open)")
            baseline.append(Descriptors(pid: pid))
            print("abusive clients: \(p.name) proxy's sockets at the baseline: \(Self.socketKinds(pid: pid))")
        }

        let script = DovecotProcess.repository.appendingPathComponent("scripts/abusive_clients.py").path
        let targets = proxies.flatMap { p in p.listeners.map { "\($0.tls ? "imaps" : "imap"):\($0.port)" } }
        let started = Date()
        let abuse = try run("/usr/bin/env", ["python3", script, "\(Self.clients)"] + targets)
        let storm = Date().timeIntervalSince(started)
        #expect(abuse.status == 0, "\(abuse.stderr)")
        #expect(abuse.stdout.contains("\"clients\": \(Self.clients)"), "\(abuse.stdout)")
        #expect(abuse.stdout.contains("\"refused_count\": 0"), "\(abuse.stdout)")

        var settled: [Double] = []
        for (p, before) in zip(proxies, baseline) {
            let pid = p.process.pid
            let t0 = Date()
            let back = Self.waitUntil(seconds: 45) { Descriptors(pid: pid) == before }
            settled.append(Date().timeIntervalSince(t0))
            let open = try Self.connections(pid: pid)
            let now = Descriptors(pid: pid)
            #expect(back, "\(p.name): \(now) after \(Self.clients) clients, \(before) before: \(open.prefix(8))")
            let stuck = try Self.connections(pid: pid, state: "close-wait")
            #expect(stuck.isEmpty, "\(p.name): in CLOSE-WAIT: \(stuck.prefix(5))")
            for l in p.listeners {
                #expect(try Self.realClient(port: l.port, tls: l.tls, caFile: p.caFile) == "OK OK\n", "\(p.name)")
            }
        }
        print("abusive clients: \(abuse.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        let after = proxies.map { Descriptors(pid: $0.process.pid) }
        let waits = settled.map { String(format: "%.2f s", $0) }
        print(
            "abusive clients: storm \(String(format: "%.1f", storm)) s; descriptors before \(baseline), "
                + "after \(after); back to baseline within \(waits)")
        for p in proxies {
            let (status, _) = p.process.stop()
            #expect(status == 0, "\(p.name) exit status")
        }
        proxies.removeAll()
    }
}
