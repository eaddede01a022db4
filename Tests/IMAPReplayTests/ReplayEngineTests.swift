import IMAPCore
import Testing

@testable import IMAPReplay

/// Fixture vectors: a fixture, what the client sends (in chunks), and the exact bytes the
/// replay must answer with.
@Suite("ReplayEngine")
struct ReplayEngineTests {
    /// A fixture from `S:`/`C:` lines, CRLF as `FixtureWriter` writes them.
    static func fixture(_ lines: [String]) -> [UInt8] {
        Array(lines.map { $0 + "\r\n" }.joined().utf8)
    }

    struct Run {
        var output: String
        var actions: [ReplayEngine.Action]
        var engine: ReplayEngine
    }

    /// Runs the client chunks through a fresh engine; output is every `.send` joined.
    static func run(_ lines: [String], _ chunks: [String], order: ReplayEngine.Order = .strict) throws -> Run {
        let engine = ReplayEngine(script: try ReplayScript(fixture: fixture(lines)), order: order)
        var actions = engine.start()
        for c in chunks {
            actions += engine.feed(Array(c.utf8))
            if engine.isPaused { actions += engine.resume() }
        }
        var out: [UInt8] = []
        for a in actions { if case .send(let b) = a { out += b } }
        return Run(output: String(decoding: out, as: UTF8.self), actions: actions, engine: engine)
    }

    static let simple = [
        "S: * OK [CAPABILITY IMAP4rev1] ready",
        "C: a1 CAPABILITY",
        "S: * CAPABILITY IMAP4rev1 IDLE",
        "S: a1 OK done",
        "C: a2 LOGOUT",
        "S: * BYE bye",
        "S: a2 OK bye",
    ]

    @Test func greetingThenTagsSubstituted() throws {
        let r = try Self.run(Self.simple, ["X1 CAPABILITY\r\n", "X2 LOGOUT\r\n"])
        #expect(
            r.output
                == "* OK [CAPABILITY IMAP4rev1] ready\r\n* CAPABILITY IMAP4rev1 IDLE\r\nX1 OK done\r\n* BYE bye\r\nX2 OK bye\r\n"
        )
        #expect(r.actions.last == .close)
        #expect(r.engine.finish().isEmpty)
        #expect(r.engine.succeeded)
    }

    @Test func pipelinedAndByteByByteGiveTheSameBytes() throws {
        let whole = try Self.run(Self.simple, ["x CAPABILITY\r\ny logout\r\n"])
        let bytes = "x CAPABILITY\r\ny logout\r\n".map { String($0) }
        let split = try Self.run(Self.simple, bytes)
        #expect(
            whole.output
                == "* OK [CAPABILITY IMAP4rev1] ready\r\n* CAPABILITY IMAP4rev1 IDLE\r\nx OK done\r\n* BYE bye\r\ny OK bye\r\n"
        )
        #expect(split.output == whole.output)
        #expect(split.engine.succeeded)
    }

    @Test func mismatchAnswersBADAndNamesTheCommand() throws {
        let r = try Self.run(Self.simple, ["X1 CAPABILITY\r\n", "X2 SELECT INBOX\r\n"])
        #expect(
            r.output.hasSuffix(
                "X1 OK done\r\nX2 BAD [CLIENTBUG] imapscope replay: expected \"LOGOUT\" but got \"SELECT INBOX\"\r\n"))
        let m = r.engine.finish()
        #expect(m.count == 1)
        #expect(
            m.first?.description
                == "imapscope replay: client line 2 differs from the fixture (fixture line 5): expected LOGOUT but got SELECT INBOX"
        )
        #expect(
            m.first?.diff
                == "--- expected (fixture)\n+++ received (client)\n@@ client line 2 @@\n CAPABILITY\n-LOGOUT\n+SELECT INBOX\n"
        )
        #expect(!r.engine.succeeded)
    }

    @Test func earlyLogoutSucceeds() throws {
        let lines = [
            "S: * OK hi", "C: a1 NOOP", "S: a1 OK", "C: a2 CHECK", "S: a2 OK", "C: a3 LOGOUT", "S: * BYE bye",
            "S: a3 OK bye",
        ]
        let r = try Self.run(lines, ["n NOOP\r\n", "q LOGOUT\r\n"])
        #expect(r.output == "* OK hi\r\nn OK\r\n* BYE bye\r\nq OK bye\r\n")
        #expect(r.actions.last == .close)
        #expect(r.engine.finish().isEmpty && r.engine.succeeded)
        #expect(r.engine.skippedByLogout == 1)
        #expect(!r.engine.isComplete)
    }

    @Test func clientStoppingEarlyIsReported() throws {
        let r = try Self.run(Self.simple, ["X1 CAPABILITY\r\n"])
        let m = r.engine.finish()
        #expect(
            m.map(\.description) == [
                "imapscope replay: client line 2 differs from the fixture (fixture line 5): expected LOGOUT but got the end of the connection"
            ])
    }

    @Test func commandAfterTheFixtureEnded() throws {
        let r = try Self.run(["S: * OK hi", "C: a1 NOOP", "S: a1 OK"], ["n1 NOOP\r\n", "n2 NOOP\r\n"])
        #expect(
            r.output
                == "* OK hi\r\nn1 OK\r\nn2 BAD [CLIENTBUG] imapscope replay: the fixture has no more commands but got \"NOOP\"\r\n"
        )
        #expect(
            r.engine.finish().first?.description
                == "imapscope replay: client line 2 has no counterpart: the fixture ended, but the client sent NOOP")
    }

    static let literalLogin = [
        "S: * OK ready",
        "C: a1 LOGIN {5}",
        "S: + go on",
        "C: alice ‹redacted:0123abcd›",
        "S: a1 OK logged in",
        "C: a2 APPEND INBOX (\\Seen) {13+}",
        "C: Subject: hi",
        "C: ",
        "S: a2 OK [APPENDUID 7 1] appended",
    ]

    @Test func synchronizingLiteralGetsTheRecordedContinuation() throws {
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(Self.literalLogin)))
        _ = engine.start()
        #expect(engine.feed(Array("b LOGIN {5}\r\n".utf8)) == [.send(Array("+ go on\r\n".utf8))])
        #expect(engine.feed(Array("alice s3cret\r\n".utf8)) == [.send(Array("b OK logged in\r\n".utf8))])
        #expect(
            engine.feed(Array("c APPEND INBOX (\\Seen) {13+}\r\nSubject: hi\r\n\r\n".utf8)) == [
                .send(Array("c OK [APPENDUID 7 1] appended\r\n".utf8))
            ])
        #expect(engine.finish().isEmpty)
        #expect(engine.succeeded)
    }

    @Test func literalsCompareByContent() throws {
        // A quoted user where a literal was recorded, a literal password where a marker was.
        let r = try Self.run(Self.literalLogin, ["b LOGIN \"alice\" {6+}\r\nsecret\r\n"])
        #expect(r.output == "* OK ready\r\nb OK logged in\r\n")
        let wrong = try Self.run(Self.literalLogin, ["b LOGIN {3}\r\n", "bob x\r\n"])
        #expect(
            wrong.output
                == "* OK ready\r\n+ go on\r\nb BAD [CLIENTBUG] imapscope replay: expected \"LOGIN {5} alice ‹redacted›\" but got \"LOGIN {3} bob ‹redacted›\"\r\n"
        )
    }

    /// Recordings put a synchronizing literal's `+` before the command (the decoder emits the
    /// command once its literal is complete); the replay still sends it at the literal.
    @Test func continuationRecordedBeforeItsCommand() throws {
        let lines = ["S: * OK ready", "S: + OK", "C: a1 APPEND INBOX {5}", "C: hello", "S: a1 OK appended"]
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        #expect(engine.start() == [.send(Array("* OK ready\r\n".utf8))])
        #expect(engine.feed(Array("q APPEND INBOX {5}\r\n".utf8)) == [.send(Array("+ OK\r\n".utf8))])
        #expect(engine.feed(Array("hello\r\n".utf8)) == [.send(Array("q OK appended\r\n".utf8))])
        #expect(engine.finish().isEmpty && engine.succeeded)
    }

    /// A synchronizing literal of a command that already differs is refused before its body.
    @Test func differingCommandGetsNoContinuation() throws {
        let lines = [
            "S: * OK ready", "C: a1 APPEND INBOX {5}", "S: + OK", "C: hello", "S: a1 OK appended", "C: a2 NOOP",
            "S: a2 OK",
        ]
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        _ = engine.start()
        #expect(
            engine.feed(Array("q APPEND Drafts {5}\r\n".utf8)) == [
                .send(
                    Array(
                        "q BAD [CLIENTBUG] imapscope replay: expected \"APPEND INBOX {5} hello\" but got \"APPEND Drafts {5}\"\r\n"
                            .utf8))
            ])
        // The client sends no literal; its next line is a new command, still compared.
        #expect(engine.feed(Array("r APPEND INBOX {5}\r\n".utf8)) == [.send(Array("+ OK\r\n".utf8))])
        #expect(engine.feed(Array("hello\r\n".utf8)) == [.send(Array("r OK appended\r\n".utf8))])
        #expect(
            engine.finish().map(\.description) == [
                "imapscope replay: client line 1 differs from the fixture (fixture line 2): expected APPEND INBOX {5} hello but got APPEND Drafts {5}"
            ])
    }

    @Test func appendBodyMustMatch() throws {
        let r = try Self.run(
            Self.literalLogin, ["b LOGIN alice pw\r\n", "c APPEND INBOX (\\Seen) {13+}\r\nSubject: ho\r\n\r\n"])
        #expect(
            r.output
                == "* OK ready\r\nb OK logged in\r\nc BAD [CLIENTBUG] imapscope replay: expected \"APPEND INBOX (\\Seen) {13+} Subject: hi\\x0D\\x0A\" but got \"APPEND INBOX (\\Seen) {13+} Subject: ho\\x0D\\x0A\"\r\n"
        )
    }

    static let idle = [
        "S: * OK ready",
        "C: a1 IDLE",
        "S: + idling",
        "S: * 4 EXISTS",
        "S: * 1 FETCH (FLAGS (\\Seen))",
        "C: DONE",
        "S: a1 OK Idle completed",
        "C: a2 NOOP",
        "S: * 5 EXISTS",
        "S: a2 OK NOOP completed",
    ]

    @Test func idlePushesThenWaitsForDone() throws {
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(Self.idle)))
        #expect(engine.start() == [.send(Array("* OK ready\r\n".utf8))])
        #expect(
            engine.feed(Array("t7 IDLE\r\n".utf8)) == [
                .send(Array("+ idling\r\n".utf8)), .send(Array("* 4 EXISTS\r\n".utf8)),
                .send(Array("* 1 FETCH (FLAGS (\\Seen))\r\n".utf8)),
            ])
        #expect(engine.feed(Array("DONE\r\n".utf8)) == [.send(Array("t7 OK Idle completed\r\n".utf8))])
        #expect(
            engine.feed(Array("t8 NOOP\r\n".utf8)) == [
                .send(Array("* 5 EXISTS\r\n".utf8)), .send(Array("t8 OK NOOP completed\r\n".utf8)),
            ])
        #expect(engine.finish().isEmpty && engine.succeeded)
    }

    @Test func idleWithoutDoneIsABadOnTheIdleTag() throws {
        let r = try Self.run(Self.idle, ["t7 IDLE\r\n", "t8 NOOP\r\n"])
        #expect(r.output.hasSuffix("t7 BAD [CLIENTBUG] imapscope replay: expected \"DONE\" but got \"NOOP\"\r\n"))
    }

    static let authenticate = [
        "S: * OK ready",
        "C: a1 AUTHENTICATE PLAIN",
        "S: +",
        "C: ‹redacted:0011aabb›",
        "S: a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in",
        "C: a2 AUTHENTICATE PLAIN ‹redacted:99887766›",
        "S: a2 NO [ALREADYAUTHENTICATED] already",
    ]

    @Test func authenticateWithRedactedLines() throws {
        let r = try Self.run(
            Self.authenticate,
            ["Q AUTHENTICATE PLAIN\r\n", "AGFsaWNlAHBhc3N3b3Jk\r\n", "R AUTHENTICATE PLAIN AGJvYgB4\r\n"])
        #expect(
            r.output
                == "* OK ready\r\n+\r\nQ OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\nR NO [ALREADYAUTHENTICATED] already\r\n"
        )
        #expect(r.engine.finish().isEmpty && r.engine.succeeded)
        // The mechanism is not a secret: another one is a mismatch.
        let other = try Self.run(Self.authenticate, ["Q AUTHENTICATE LOGIN\r\n"])
        #expect(
            other.output
                == "* OK ready\r\nQ BAD [CLIENTBUG] imapscope replay: expected \"AUTHENTICATE PLAIN\" but got \"AUTHENTICATE LOGIN\"\r\n"
        )
    }

    static let independent = [
        "S: * OK ready",
        "C: a1 NOOP",
        "S: a1 OK noop",
        "C: a2 LIST \"\" \"*\"",
        "S: * LIST () \"/\" INBOX",
        "S: a2 OK list",
        "C: a3 SELECT INBOX",
        "S: * 1 EXISTS",
        "S: a3 OK selected",
    ]

    @Test func relaxedOrderLetsIndependentCommandsSwap() throws {
        let input = ["b1 LIST \"\" \"*\"\r\n", "b2 NOOP\r\n", "b3 SELECT INBOX\r\n"]
        let relaxed = try Self.run(Self.independent, input, order: .relaxed)
        #expect(
            relaxed.output
                == "* OK ready\r\n* LIST () \"/\" INBOX\r\nb1 OK list\r\nb2 OK noop\r\n* 1 EXISTS\r\nb3 OK selected\r\n"
        )
        #expect(relaxed.engine.finish().isEmpty && relaxed.engine.succeeded)
        let strict = try Self.run(Self.independent, input, order: .strict)
        #expect(
            strict.output.hasPrefix(
                "* OK ready\r\nb1 BAD [CLIENTBUG] imapscope replay: expected \"NOOP\" but got \"LIST '' '*'\"\r\n"))
    }

    @Test func relaxedOrderDoesNotLetDependentCommandsSwap() throws {
        // SELECT's responses are EXISTS and FLAGS, STORE's are FETCH: neither may overtake the other.
        let lines = [
            "S: * OK ready",
            "C: a1 SELECT INBOX",
            "S: * 2 EXISTS",
            "S: a1 OK selected",
            "C: a2 STORE 1 +FLAGS (\\Seen)",
            "S: * 1 FETCH (FLAGS (\\Seen))",
            "S: a2 OK stored",
        ]
        let r = try Self.run(lines, ["b1 STORE 1 +FLAGS (\\Seen)\r\n"], order: .relaxed)
        #expect(
            r.output
                == "* OK ready\r\nb1 BAD [CLIENTBUG] imapscope replay: expected \"SELECT INBOX\" but got \"STORE 1 +FLAGS (\\Seen)\"\r\n"
        )
        // A LIST (only `* LIST` data) may be overtaken.
        let list = try Self.run(
            Self.independent, ["b1 NOOP\r\n", "b2 SELECT INBOX\r\n", "b3 LIST \"\" *\r\n"], order: .relaxed)
        #expect(
            list.output
                == "* OK ready\r\nb1 OK noop\r\n* 1 EXISTS\r\nb2 OK selected\r\n* LIST () \"/\" INBOX\r\nb3 OK list\r\n"
        )
        #expect(list.engine.finish().isEmpty)
    }

    @Test func startTLSAndCompressPauseTheEngine() throws {
        let lines = [
            "S: * OK [CAPABILITY IMAP4rev1 STARTTLS] ready",
            "C: a1 STARTTLS",
            "S: a1 OK Begin TLS negotiation now.",
            "C: a2 COMPRESS DEFLATE",
            "S: a2 OK DEFLATE active",
            "C: a3 LOGOUT",
            "S: a3 OK bye",
        ]
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        #expect(engine.script.usesStartTLS)
        _ = engine.start()
        #expect(
            engine.feed(Array("s1 STARTTLS\r\n".utf8)) == [
                .send(Array("s1 OK Begin TLS negotiation now.\r\n".utf8)), .startTLS,
            ])
        #expect(engine.isPaused)
        #expect(engine.resume() == [])
        #expect(
            engine.feed(Array("s2 COMPRESS DEFLATE\r\n".utf8)) == [
                .send(Array("s2 OK DEFLATE active\r\n".utf8)), .startCompression,
            ])
        #expect(engine.takeHeldBytes() == [])
        #expect(engine.resume() == [])
        #expect(engine.feed(Array("s3 LOGOUT\r\n".utf8)) == [.send(Array("s3 OK bye\r\n".utf8)), .close])
        #expect(engine.succeeded)
    }

    @Test func garbageIsBoundedAndAnsweredOnce() throws {
        let junk = String(repeating: "x", count: 300_000) + "\r\n"
        let r = try Self.run(Self.simple, [junk])
        #expect(
            r.output
                == "* OK [CAPABILITY IMAP4rev1] ready\r\n* BAD [CLIENTBUG] imapscope replay: expected \"CAPABILITY\" but got \"a line of 300002 bytes (too long to compare; not shown)\"\r\n"
        )
        #expect(r.engine.finish().count == 1)
    }

    @Test func badFixtureIsAClearError() {
        #expect {
            try ReplayScript(fixture: Array("hello\r\n".utf8))
        } throws: { error in
            "\(error)" == "line 1: expected 'S:' or 'C:' at the start of the line"
        }
    }

    @Test func fixtureWithoutALiteralBodyIsRefused() {
        let lines = [
            "S: * OK hi", "C: a1 UID FETCH 1 BODY[]", "S: * 1 FETCH (UID 1 BODY[] {90000000}",
            "# literal body of 90000000 bytes not kept (sha256 ab12)", "S: )", "S: a1 OK",
        ]
        #expect {
            try ReplayScript(fixture: Self.fixture(lines))
        } throws: { error in
            "\(error)"
                == "line 4: literal body of 90000000 bytes not kept (sha256 ab12): this fixture cannot be replayed (record it with whole literal bodies, e.g. imapscope read --format fixture)"
        }
    }

    /// Each recorded step is passed once: a 20 000-command fixture replays in one go.
    @Test func longFixtureReplaysLinearly() throws {
        let n = 20_000
        var lines = ["S: * OK hi"]
        for i in 1...n { lines += ["C: a\(i) NOOP", "S: a\(i) OK"] }
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)), order: .relaxed)
        _ = engine.start()
        let input = (1...n).map { "t\($0) NOOP\r\n" }.joined()
        let out = engine.feed(Array(input.utf8))
        #expect(out.count == n)
        #expect(out.last == .send(Array("t\(n) OK\r\n".utf8)))
        #expect(engine.finish().isEmpty && engine.isComplete)
    }

    @Test func tooManyMismatchesCloses() throws {
        let r = try Self.run(Self.simple, Array(repeating: "z NOOP\r\n", count: 25))
        #expect(
            r.actions.filter {
                if case .send(let b) = $0 { return b.starts(with: Array("z BAD".utf8)) }
                return false
            }.count == ReplayEngine.mismatchLimit)
        #expect(r.actions.last == .close)
        #expect(r.output.hasSuffix("* BYE imapscope replay: too many commands differ from the fixture\r\n"))
    }

    /// Recorded with B pipelined behind A; now the client waits for A's completion first.
    @Test func quietClientGetsTheResponsesOfWhatItSent() throws {
        let lines = [
            "S: * OK ready",
            "C: a1 SELECT INBOX",
            "C: a2 FETCH 1 (FLAGS)",
            "S: * 1 EXISTS",
            "S: a1 OK selected",
            "S: * 1 FETCH (FLAGS (\\Seen))",
            "S: a2 OK fetched",
        ]
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        _ = engine.start()
        #expect(engine.feed(Array("s SELECT INBOX\r\n".utf8)) == [])
        #expect(engine.clientIdle() == [.send(Array("* 1 EXISTS\r\n".utf8)), .send(Array("s OK selected\r\n".utf8))])
        // Nothing more to send ahead: FETCH's completion needs FETCH first.
        #expect(engine.clientIdle() == [])
        #expect(
            engine.feed(Array("f FETCH 1 (FLAGS)\r\n".utf8)) == [
                .send(Array("* 1 FETCH (FLAGS (\\Seen))\r\n".utf8)), .send(Array("f OK fetched\r\n".utf8)),
            ])
        #expect(engine.finish().isEmpty && engine.succeeded)
        // A quiet client with nothing in flight gets nothing.
        let fresh = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        _ = fresh.start()
        #expect(fresh.clientIdle() == [])
    }

    @Test func unsolicitedResponsesReplayInPlace() throws {
        let lines = [
            "S: * OK ready",
            "S: * 3 EXISTS",
            "C: a1 NOOP",
            "S: * 1 EXPUNGE",
            "S: a1 OK done",
            "S: * BYE shutting down",
        ]
        let r = try Self.run(lines, ["k NOOP\r\n"])
        #expect(r.output == "* OK ready\r\n* 3 EXISTS\r\n* 1 EXPUNGE\r\nk OK done\r\n* BYE shutting down\r\n")
        #expect(r.engine.finish().isEmpty)
    }
}

extension ReplayEngineTests {
    /// IDLE's completion is sent only after the client's DONE, however long the client idles; the
    /// untagged response recorded during IDLE is sent while it idles (RFC 2177).
    @Test func idleCompletesOnlyAfterDone() throws {
        let lines = [
            "S: * OK ready",
            "C: a1 IDLE",
            "S: + idling",
            "S: * 4 EXISTS",
            "C: DONE",
            "S: a1 OK Idle completed.",
            "C: a2 LOGOUT",
            "S: * BYE bye",
            "S: a2 OK done",
        ]
        let engine = ReplayEngine(script: try ReplayScript(fixture: Self.fixture(lines)))
        #expect(engine.start() == [.send(Array("* OK ready\r\n".utf8))])
        #expect(
            engine.feed(Array("t1 IDLE\r\n".utf8)) == [
                .send(Array("+ idling\r\n".utf8)), .send(Array("* 4 EXISTS\r\n".utf8)),
            ])
        // The client idles: nothing is sent ahead, the completion waits for DONE.
        for _ in 0..<3 { #expect(engine.clientIdle() == []) }
        #expect(engine.feed(Array("DONE\r\n".utf8)) == [.send(Array("t1 OK Idle completed.\r\n".utf8))])
        #expect(
            engine.feed(Array("t2 LOGOUT\r\n".utf8)) == [
                .send(Array("* BYE bye\r\n".utf8)), .send(Array("t2 OK done\r\n".utf8)), .close,
            ])
        #expect(engine.finish().isEmpty && engine.succeeded)
    }
}

extension ReplayEngineTests {
    /// Two fixtures of one client's two connections, alike up to SELECT: each session follows
    /// the one its commands follow, and what the two agree on is sent before it is decided.
    @Test func eachSessionFollowsTheFixtureItsCommandsFollow() throws {
        let inbox = [
            "S: * OK ready", "C: a1 LOGIN alice ‹redacted:0123abcd›", "S: a1 OK Logged in",
            "C: a2 SELECT INBOX", "S: * 3 EXISTS", "S: a2 OK [READ-WRITE] selected", "C: a3 LOGOUT", "S: * BYE bye",
            "S: a3 OK done",
        ]
        let sent = [
            "S: * OK ready", "C: a1 LOGIN alice ‹redacted:0123abcd›", "S: a1 OK Logged in",
            "C: a2 SELECT Sent", "S: * 7 EXISTS", "S: a2 OK [READ-ONLY] selected", "C: a3 LOGOUT", "S: * BYE bye",
            "S: a3 OK done",
        ]
        let scripts = [try ReplayScript(fixture: Self.fixture(inbox)), try ReplayScript(fixture: Self.fixture(sent))]
        var taken: Set<Int> = []
        func session() -> FixtureChoice {
            FixtureChoice(scripts: scripts, order: .strict, isTaken: { taken.contains($0) }, take: { taken.insert($0) })
        }
        // The Sent connection comes first, the INBOX one second; both log in alike.
        let first = session()
        let second = session()
        #expect(first.start() == [.send(Array("* OK ready\r\n".utf8))])
        #expect(second.start() == [.send(Array("* OK ready\r\n".utf8))])
        #expect(first.feed(Array("x1 LOGIN alice secret\r\n".utf8)) == [.send(Array("x1 OK Logged in\r\n".utf8))])
        #expect(second.feed(Array("y1 LOGIN alice secret\r\n".utf8)) == [.send(Array("y1 OK Logged in\r\n".utf8))])
        #expect(taken.isEmpty)
        #expect(
            first.feed(Array("x2 SELECT Sent\r\n".utf8)) == [
                .send(Array("* 7 EXISTS\r\n".utf8)), .send(Array("x2 OK [READ-ONLY] selected\r\n".utf8)),
            ])
        #expect(first.fixture == 1 && taken == [1])
        #expect(
            second.feed(Array("y2 SELECT INBOX\r\n".utf8)) == [
                .send(Array("* 3 EXISTS\r\n".utf8)), .send(Array("y2 OK [READ-WRITE] selected\r\n".utf8)),
            ])
        #expect(second.fixture == 0 && taken == [0, 1])
        for (s, tag) in [(first, "x3"), (second, "y3")] {
            #expect(
                s.feed(Array("\(tag) LOGOUT\r\n".utf8)) == [
                    .send(Array("* BYE bye\r\n".utf8)), .send(Array("\(tag) OK done\r\n".utf8)), .close,
                ])
            #expect(s.finish().isEmpty && s.succeeded)
        }
        // Both taken: a third session may follow either; a SELECT neither has is the first's mismatch.
        let third = session()
        _ = third.start()
        _ = third.feed(Array("z1 LOGIN alice secret\r\n".utf8))
        let reply = third.feed(Array("z2 SELECT Drafts\r\n".utf8))
        #expect(third.fixture == 0 && third.mismatches.count == 1, "\(reply)")
    }
}
