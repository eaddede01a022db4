import Foundation
import IMAPCapture
import IMAPCore
import IMAPTestSupport
import IMAPTranscript
import Testing

/// The packet captures the project recorded itself (`Captures/*.pcap`, written by
/// `Captures/record_pcaps.py`: real clients talking directly to a real Dovecot on loopback,
/// captured with tcpdump on `lo`). Every committed pcap decodes to exactly the events below,
/// leaks no password, and names its loopback endpoints.
@Suite("Own packet captures (Captures/*.pcap)")
struct OwnCapturesTests {
    /// Captures/, found from this file (Tests/IMAPCaptureTests/OwnCapturesTests.swift).
    static let captures: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // IMAPCaptureTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("Captures")

    /// The committed `Captures/*.pcap` names (without the extension), sorted.
    static var committed: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: captures.path)) ?? [])
            .filter { $0.hasSuffix(".pcap") }
            .map { String($0.dropLast(".pcap".count)) }
            .sorted()
    }

    static func path(_ name: String) -> String { captures.appendingPathComponent(name + ".pcap").path }

    /// One capture decoded the way `imapscope read FILE.pcap` decodes it (default options: the
    /// fixture's Dovecot ports are random, so the sessions are found by their content), plus the
    /// JSON Lines every event writes.
    struct Decoded {
        var events: [Event]
        var result: CaptureReader.Result
        var jsonl: String

        /// Events per session id, sessions in the order they started.
        var sessions: [(id: String, events: [Event])] {
            var order: [String] = []
            var by: [String: [Event]] = [:]
            for e in events {
                if by[e.session] == nil { order.append(e.session) }
                by[e.session, default: []].append(e)
            }
            return order.map { ($0, by[$0]!) }
        }
    }

    /// A TLS capture's key log, committed beside it as NAME.keylog (the client wrote it).
    static func keyLog(_ name: String) throws -> KeyLog? {
        let url = captures.appendingPathComponent(name + ".keylog")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try KeyLog(parsing: [UInt8](try Data(contentsOf: url)))
    }

    static func decode(_ name: String) throws -> Decoded {
        var options = CaptureDecoder.Options()
        if let keys = try keyLog(name) { options.tlsKeys = { keys.secrets(forClientRandom: $0) } }
        let (events, result) = try CaptureHarness.read(path(name), options: options)
        let out = MemoryOutput()
        let writer = JSONLinesWriter(out)
        for e in events { writer.write(e) }
        writer.finish()
        return Decoded(events: events, result: result, jsonl: out.text)
    }

    // MARK: - Expected events

    /// What each capture decodes to, one list per TCP connection (session), read against what
    /// the client in `Captures/record_pcaps.py` really sent and what Dovecot answered: every
    /// client line is a command, IDLE's DONE or a SASL response; literal bodies belong to their
    /// command or response; every tagged response names its own command. SELECT's untagged
    /// responses are, in order: FLAGS, OK [PERMANENTFLAGS], EXISTS, RECENT, OK [UNSEEN],
    /// OK [UIDVALIDITY], OK [UIDNEXT] (and OK [HIGHESTMODSEQ] once CONDSTORE is on).
    /// imaplib's tag prefixes come from the seeds record_pcaps.py gives `random`.
    static let expected: [String: [[String]]] = [
        "tls13-imaplib": [
            [
                // implicit TLS on Dovecot's random port: recognised by the ClientHello the key log has
                "start", "tls implicit", "S * OK",
                "C FCEO0 CAPABILITY", "S * CAPABILITY", "S FCEO0 OK CAPABILITY",
                // no cleartext-login lint: the LOGIN crossed the wire encrypted
                "C FCEO1 LOGIN", "S * CAPABILITY", "S FCEO1 OK LOGIN",
                "C FCEO2 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S FCEO2 OK SELECT",
                "C FCEO3 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S FCEO3 OK FETCH",
                "C FCEO4 NOOP", "S FCEO4 OK NOOP",
                "C FCEO5 LOGOUT", "S * BYE", "S FCEO5 OK LOGOUT",
                "end",
            ]
        ],
        "tls12-rsa-gcm-imaplib": [
            [
                // implicit TLS on Dovecot's random port: recognised by the ClientHello the key log has
                "start", "tls implicit", "S * OK",
                "C IJHN0 CAPABILITY", "S * CAPABILITY", "S IJHN0 OK CAPABILITY",
                // no cleartext-login lint: the LOGIN crossed the wire encrypted
                "C IJHN1 LOGIN", "S * CAPABILITY", "S IJHN1 OK LOGIN",
                "C IJHN2 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S IJHN2 OK SELECT",
                "C IJHN3 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S IJHN3 OK FETCH",
                "C IJHN4 NOOP", "S IJHN4 OK NOOP",
                "C IJHN5 LOGOUT", "S * BYE", "S IJHN5 OK LOGOUT",
                "end",
            ]
        ],
        "starttls-imaplib": [
            [
                "start", "S * OK",
                "C DKDK0 CAPABILITY", "S * CAPABILITY", "S DKDK0 OK CAPABILITY",
                // the key log opens the TLS that follows STARTTLS's OK: the session goes on decoded
                "C DKDK1 STARTTLS", "S DKDK1 OK STARTTLS", "tls starttls",
                "C DKDK2 CAPABILITY", "S * CAPABILITY", "S DKDK2 OK CAPABILITY",
                // no cleartext-login lint: the LOGIN crossed the wire encrypted
                "C DKDK3 LOGIN", "S * CAPABILITY", "S DKDK3 OK LOGIN",
                "C DKDK4 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S DKDK4 OK SELECT",
                "C DKDK5 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S DKDK5 OK FETCH",
                "C DKDK6 NOOP", "S DKDK6 OK NOOP",
                "C DKDK7 LOGOUT", "S * BYE", "S DKDK7 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-login-select-fetch": [
            [
                "start", "S * OK",
                "C KGCA0 CAPABILITY", "S * CAPABILITY", "S KGCA0 OK CAPABILITY",
                "C KGCA1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S KGCA1 OK LOGIN",
                "C KGCA2 SELECT", "S * FLAGS", "S * OK", "S * 5 EXISTS", "S * 5 RECENT", "S * OK", "S * OK", "S * OK",
                "S KGCA2 OK SELECT",
                "C KGCA3 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S * 4 FETCH", "S * 5 FETCH",
                "S KGCA3 OK FETCH",
                // one FETCH response carrying two literals, {104} (the header fields) and {3332} (BODY[])
                "C KGCA4 UID FETCH", "S * 3 FETCH", "S KGCA4 OK UID FETCH",
                "C KGCA5 STORE", "S * 1 FETCH", "S KGCA5 OK STORE",
                "C KGCA6 LOGOUT", "S * BYE", "S KGCA6 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-append-literals": [
            [
                "start", "S * OK",
                "C MKDM0 CAPABILITY", "S * CAPABILITY", "S MKDM0 OK CAPABILITY",
                "C MKDM1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S MKDM1 OK LOGIN",
                "C MKDM2 CAPABILITY", "S * CAPABILITY", "S MKDM2 OK CAPABILITY",
                // synchronizing {953}: the server's "+ OK" comes before the command's event, which is
                // published once its literal has arrived (the continuation's annotation says so)
                "S +", "C MKDM3 APPEND", "S MKDM3 OK APPEND",
                // non-synchronizing {1009+}: no continuation, and the literal is not a command
                "C n1 APPEND", "S n1 OK APPEND",
                "C MKDM4 SELECT", "S * FLAGS", "S * OK", "S * 4 EXISTS", "S * 4 RECENT", "S * OK", "S * OK", "S * OK",
                "S MKDM4 OK SELECT",
                "C MKDM5 LOGOUT", "S * BYE", "S MKDM5 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-idle-delivery": [
            [
                "start", "S * OK",
                "C CMNO0 CAPABILITY", "S * CAPABILITY", "S CMNO0 OK CAPABILITY",
                "C CMNO1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S CMNO1 OK LOGIN",
                "C CMNO2 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S CMNO2 OK SELECT",
                // "+ idling"; the delivery into new/ is pushed as EXISTS and RECENT; DONE ends IDLE
                "C a3 IDLE", "S +", "S * 4 EXISTS", "S * 4 RECENT", "C DONE", "S a3 OK IDLE",
                "C CMNO3 LOGOUT", "S * BYE", "S CMNO3 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-auth-plain": [
            [
                "start", "S * OK",
                "C JGEI0 CAPABILITY", "S * CAPABILITY", "S JGEI0 OK CAPABILITY",
                // "+ " (empty challenge), then the base64 \0alice\0password line
                "C JGEI1 AUTHENTICATE", "lint cleartext-auth", "S sasl PLAIN 1", "C sasl PLAIN 2",
                "S * CAPABILITY", "S JGEI1 OK AUTHENTICATE",
                "C JGEI2 NOOP", "S JGEI2 OK NOOP",
                "C JGEI3 LOGOUT", "S * BYE", "S JGEI3 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-auth-login": [
            [
                "start", "S * OK",
                "C IDEL0 CAPABILITY", "S * CAPABILITY", "S IDEL0 OK CAPABILITY",
                // "+ VXNlcm5hbWU6" (Username:), user, "+ UGFzc3dvcmQ6" (Password:), password
                "C IDEL1 AUTHENTICATE", "lint cleartext-auth", "S sasl LOGIN 1", "C sasl LOGIN 2", "S sasl LOGIN 3",
                "C sasl LOGIN 4",
                "S * CAPABILITY", "S IDEL1 OK AUTHENTICATE",
                "C IDEL2 NOOP", "S IDEL2 OK NOOP",
                "C IDEL3 LOGOUT", "S * BYE", "S IDEL3 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-auth-cram-md5": [
            [
                "start", "S * OK",
                "C JOAK0 CAPABILITY", "S * CAPABILITY", "S JOAK0 OK CAPABILITY",
                // challenge-response: the password never crosses the wire, so no cleartext lint
                "C JOAK1 AUTHENTICATE", "S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2",
                "S * CAPABILITY", "S JOAK1 OK AUTHENTICATE",
                "C JOAK2 NOOP", "S JOAK2 OK NOOP",
                "C JOAK3 LOGOUT", "S * BYE", "S JOAK3 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-compress": [
            [
                "start", "S * OK",
                "C c1 LOGIN", "lint cleartext-login", "S c1 OK LOGIN",
                "C c2 COMPRESS", "S c2 OK COMPRESS", "compress",
                // raw DEFLATE on the wire from here, inflated by the decoder
                "C c3 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S c3 OK SELECT",
                "C c4 FETCH", "S * 1 FETCH", "S c4 OK FETCH",
                "C c5 LOGOUT", "S * BYE", "S c5 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-starttls": [
            [
                // openssl s_client -starttls imap uses the tag "." for both of its commands
                "start", "S * OK",
                "C . CAPABILITY", "S * CAPABILITY", "S . OK CAPABILITY",
                "C . STARTTLS", "S . OK STARTTLS",
                // the ClientHello names imap.test; everything after it (a1 LOGOUT too) is TLS
                "tls starttls imap.test",
                "end",
            ]
        ],
        "pcap-ipv6": [
            [
                "start", "S * OK",
                "C EDOC0 CAPABILITY", "S * CAPABILITY", "S EDOC0 OK CAPABILITY",
                "C EDOC1 LOGIN", "lint cleartext-login", "S * CAPABILITY", "S EDOC1 OK LOGIN",
                "C EDOC2 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S EDOC2 OK SELECT",
                "C EDOC3 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S EDOC3 OK FETCH",
                "C EDOC4 LOGOUT", "S * BYE", "S EDOC4 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-condstore-qresync": [
            [
                "start", "S * OK",
                "C q1 LOGIN", "lint cleartext-login", "S q1 OK LOGIN",
                "C q2 ENABLE", "S * ENABLED", "S q2 OK ENABLE",
                // ... OK [UIDNEXT], OK [HIGHESTMODSEQ]
                "C q3 SELECT", "S * FLAGS", "S * OK", "S * 5 EXISTS", "S * 5 RECENT", "S * OK", "S * OK", "S * OK",
                "S * OK", "S q3 OK SELECT",
                "C q4 STORE", "S * 2 FETCH", "S q4 OK STORE",
                "C q5 STORE", "S * 4 FETCH", "S q5 OK STORE",
                // with QRESYNC enabled, EXPUNGE answers with VANISHED, not EXPUNGE
                "C q6 EXPUNGE", "S * VANISHED", "S * 4 RECENT", "S q6 OK EXPUNGE",
                "C q7 LOGOUT", "S * BYE", "S q7 OK LOGOUT",
                "end",
            ],
            [
                "start", "S * OK",
                "C r1 LOGIN", "lint cleartext-login", "S r1 OK LOGIN",
                "C r2 ENABLE", "S * ENABLED", "S r2 OK ENABLE",
                // SELECT INBOX (QRESYNC (uidvalidity modseq)): VANISHED (EARLIER) 4, FETCH (UID 2 … MODSEQ)
                "C r3 SELECT", "S * FLAGS", "S * OK", "S * 4 EXISTS", "S * 0 RECENT", "S * OK", "S * OK", "S * OK",
                "S * OK",
                "S * VANISHED", "S * 2 FETCH", "S r3 OK SELECT",
                "C r4 UID FETCH", "S * VANISHED", "S * 2 FETCH", "S r4 OK UID FETCH",
                "C r5 LOGOUT", "S * BYE", "S r5 OK LOGOUT",
                "end",
            ],
        ],
        "pcap-curl": [
            [
                "start", "S * OK",
                "C A001 CAPABILITY", "S * CAPABILITY", "S A001 OK CAPABILITY",
                // curl prefers CRAM-MD5 to PLAIN and LOGIN
                "C A002 AUTHENTICATE", "S sasl CRAM-MD5 1", "C sasl CRAM-MD5 2",
                "S * CAPABILITY", "S A002 OK AUTHENTICATE",
                "C A003 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S A003 OK SELECT",
                // one {2828} literal inside the FETCH response
                "C A004 UID FETCH", "S * 1 FETCH", "S A004 OK UID FETCH",
                "C A005 LOGOUT", "S * BYE", "S A005 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-mbsync": [
            [
                "start", "S * OK",
                "C 1 LOGIN", "lint cleartext-login", "S 1 OK LOGIN",
                // mbsync turns COMPRESS on by itself; the rest is inflated
                "C 2 COMPRESS", "S 2 OK COMPRESS", "compress",
                "C 3 NAMESPACE", "S * NAMESPACE", "S 3 OK NAMESPACE",
                "C 4 SELECT", "S * FLAGS", "S * OK", "S * 5 EXISTS", "S * 5 RECENT", "S * OK", "S * OK", "S * OK",
                "S 4 OK SELECT",
                "C 5 UID FETCH", "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S * 4 FETCH", "S * 5 FETCH",
                "S 5 OK UID FETCH",
                // five pipelined UID FETCH n (BODY.PEEK[]); Dovecot answers four of them in one batch
                // (checked against the inflated server stream), then the fifth
                "C 6 UID FETCH", "C 7 UID FETCH", "C 8 UID FETCH", "C 9 UID FETCH", "C 10 UID FETCH",
                "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S * 4 FETCH",
                "S 6 OK UID FETCH", "S 7 OK UID FETCH", "S 8 OK UID FETCH", "S 9 OK UID FETCH",
                "S * 5 FETCH", "S 10 OK UID FETCH",
                "C 11 LOGOUT", "S * BYE", "S 11 OK LOGOUT",
                "end",
            ]
        ],
        "pcap-errors-idle": [
            [
                "start", "S * OK",
                "C e1 LOGIN", "lint cleartext-login", "S e1 OK LOGIN",
                // a mailbox name Dovecot refuses (NO), FETCH before SELECT without arguments (BAD)
                "C e2 SELECT", "S e2 NO SELECT",
                "C e3 FETCH", "lint invalid-state", "lint malformed-command", "S e3 BAD FETCH",
                "C e4 SELECT", "S * FLAGS", "S * OK", "S * 3 EXISTS", "S * 3 RECENT", "S * OK", "S * OK", "S * OK",
                "S e4 OK SELECT",
                // three commands sent in one write, answered in order
                "C e5 FETCH", "C e6 UID FETCH", "C e7 NOOP",
                "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH", "S * 1 FETCH", "S * 2 FETCH", "S * 3 FETCH",
                "S e5 OK FETCH", "S e6 OK UID FETCH", "S e7 OK NOOP",
                "C e8 STORE", "S e8 BAD STORE",
                // Dovecot's keepalive a second into IDLE, then the delivery
                "C e9 IDLE", "S +", "S * OK", "S * 4 EXISTS", "S * 4 RECENT", "C DONE", "S e9 OK IDLE",
                "C e10 LOGOUT", "S * BYE", "S e10 OK LOGOUT",
                "end",
            ]
        ],
    ]

    static let ipv6Captures: Set<String> = ["pcap-ipv6"]

    // MARK: - Tests

    @Test func everyCommittedCaptureHasAnExpectation() {
        #expect(Self.committed.count >= 12, "no pcaps found in \(Self.captures.path)")
        #expect(Self.committed == Self.expected.keys.sorted())
    }

    @Test("decodes to exactly the expected events, per session", arguments: committed)
    func exactEvents(_ name: String) throws {
        let d = try Self.decode(name)
        #expect(d.result.error == nil, "\(name): \(d.result.error ?? "")")
        #expect(d.result.warnings.isEmpty, "\(name): \(d.result.warnings)")
        let want = try #require(Self.expected[name], "no expectation for \(name).pcap")
        #expect(d.result.sessions == want.count)
        let got = d.sessions.map { CaptureHarness.summaries($0.events) }
        #expect(got.count == want.count, "\(name): \(got.count) sessions")
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(g == w, "\(name), session \(i + 1)")
        }
        #expect(d.sessions.map(\.id) == (1...want.count).map { "s\($0)" })
        // Nothing left undecoded, nothing lost, no response the decoder could not place.
        let bad = d.events.filter {
            $0.kind == .unparsed || $0.kind == .gap || ($0.kind == .lint && $0["code"]?.stringValue == "unknown-tag")
        }
        #expect(bad.isEmpty, "\(name): \(bad.map { $0.json.serialized })")
        // Every tagged response was matched to its command, with a latency.
        for e in d.events where e.kind == .tagged {
            #expect(e["command"] != nil && e["latency_ms"] != nil, "\(name): unmatched \(e.json.serialized)")
        }
    }

    @Test("the JSON Lines never hold the password or its base64 forms", arguments: committed)
    func noPassword(_ name: String) throws {
        let d = try Self.decode(name)
        #expect(!d.jsonl.isEmpty)
        let leaks = SecretScan("password").leaks(in: d.jsonl)
        #expect(leaks.isEmpty, "\(name): the JSON Lines hold alice's password: \(leaks)")
        // Every capture but the STARTTLS one logs in, and names the user.
        if name != "pcap-starttls" {
            #expect(d.jsonl.contains("\"user\":\"alice\""), "\(name): no event names the user alice")
        }
    }

    @Test("sessions are between loopback endpoints with ports", arguments: committed)
    func endpoints(_ name: String) throws {
        let d = try Self.decode(name)
        let v6 = Self.ipv6Captures.contains(name)
        let host = v6 ? "[::1]" : "127.0.0.1"
        var serverPorts: Set<Int> = []
        for (id, events) in d.sessions {
            let start = try #require(events.first, "\(name) \(id): no events")
            #expect(start.kind == .sessionStart)
            #expect(start["source"]?.stringValue == "pcap")
            for key in ["client", "server"] {
                let value = start[key]?.stringValue ?? ""
                let port = Self.port(value, host: host)
                #expect(port != nil, "\(name) \(id): \(key) is \(value), expected \(host):PORT")
                if key == "server", let p = port { serverPorts.insert(p) }
            }
            #expect(events.last?.kind == .sessionEnd, "\(name) \(id)")
        }
        // All connections of one capture go to the one Dovecot listener.
        #expect(serverPorts.count == 1, "\(name): server ports \(serverPorts)")
    }

    @Test func ipv6SessionLooksLikeBracketedLoopback() throws {
        let d = try Self.decode("pcap-ipv6")
        let start = try #require(d.events.first)
        for key in ["client", "server"] {
            let value = start[key]?.stringValue ?? ""
            #expect(
                value.hasPrefix("[::1]:") && Int(value.dropFirst(6)).map { $0 > 0 && $0 < 65536 } == true,
                "\(key) is \(value)")
        }
    }

    @Test func starttlsEndsWithTheClientHello() throws {
        let d = try Self.decode("pcap-starttls")
        let events = d.events.filter { $0.kind != .sessionEnd }
        let tls = try #require(events.last)
        #expect(tls.kind == .tls)
        #expect(tls["phase"]?.stringValue == "starttls")
        #expect(tls["sni"]?.stringValue == "imap.test")
        #expect(tls["leg"]?.stringValue == "client")
        // The STARTTLS command and its OK went in plaintext, after CAPABILITY showed STARTTLS.
        let caps = d.events.first { $0.kind == .untagged && $0["name"]?.stringValue == "CAPABILITY" }
        #expect(caps?["capabilities"]?.arrayValue?.contains { $0.stringValue == "STARTTLS" } == true)
    }

    @Test("after COMPRESS the commands are inflated and decoded", arguments: ["pcap-compress", "pcap-mbsync"])
    func compressInflated(_ name: String) throws {
        let d = try Self.decode(name)
        let i = try #require(d.events.firstIndex { $0.kind == .compress })
        #expect(d.events[i]["algorithm"]?.stringValue == "DEFLATE")
        let after = d.events[(i + 1)...]
        #expect(after.contains { $0.kind == .command && $0["name"]?.stringValue == "SELECT" })
        #expect(
            after.contains {
                $0.kind == .tagged && $0["command"]?.stringValue == "LOGOUT" && $0["status"]?.stringValue == "OK"
            })
    }

    @Test func idleDoneIsItsOwnEvent() throws {
        let d = try Self.decode("pcap-idle-delivery")
        let done = try #require(d.events.first { $0.kind == .idleDone })
        #expect(done.dir == .client)
        #expect(done["tag"]?.stringValue == "a3")
        #expect(!d.events.contains { $0.kind == .command && $0["name"]?.stringValue == "DONE" })
    }

    /// The port of "host:port" when `value` is exactly that, else nil.
    static func port(_ value: String, host: String) -> Int? {
        guard value.hasPrefix(host + ":") else { return nil }
        let digits = value.dropFirst(host.count + 1)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let p = Int(digits), p > 0,
            p < 65536
        else { return nil }
        return p
    }
}
