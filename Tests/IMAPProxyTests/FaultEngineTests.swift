import Testing

@testable import IMAPProxy

/// What a session did under faults, whatever the reads' boundaries: the bytes each leg got
/// (imapscope's own to the client marked `‹P:…›`), the faults reported, how it ended.
struct FaultOutcome: Equatable, CustomStringConvertible {
    var toServer = ""
    var toClient = ""
    var reports: [String] = []
    var end: String?
    /// Bytes or actions after the end (never expected).
    var afterEnd = false

    var description: String {
        "toServer \(toServer.debugDescription) toClient \(toClient.debugDescription) reports \(reports)"
            + " end \(end ?? "-")"
            + (afterEnd ? " AFTER END" : "")
    }
}

struct FaultHarness {
    var engine: FaultEngine
    var outcome = FaultOutcome()
    private var clientPieces: [(proxy: Bool, bytes: [UInt8])] = []
    var wakes: [UInt64] = []

    init(_ rules: [String], session: Int = 1) throws {
        engine = FaultEngine(rules: try rules.map(FaultRuleParser.parse), session: session, now: 0)
        absorb(engine.begin())
    }

    mutating func absorb(_ effects: [FaultEffect]) {
        for e in effects {
            if outcome.end != nil, case .applied = e {} else if outcome.end != nil { outcome.afterEnd = true }
            switch e {
            case .forward(let leg, let bytes) where leg == .server:
                outcome.toServer += String(decoding: bytes, as: UTF8.self)
            case .forward(_, let bytes): appendClient(proxy: false, bytes)
            case .say(_, let bytes): appendClient(proxy: true, bytes)
            case .close: outcome.end = "close"
            case .reset: outcome.end = "reset"
            case .stall: outcome.end = "stall"
            case .wake(let at): wakes.append(at)
            case .applied(let r):
                outcome.reports.append("\(r.action) \(r.tag ?? "-") \(r.command ?? "-"): \(r.detail)")
            }
        }
        outcome.toClient = clientPieces.map { p in
            let text = String(decoding: p.bytes, as: UTF8.self)
            return p.proxy ? "‹P:\(text)›" : text
        }.joined()
    }

    private mutating func appendClient(proxy: Bool, _ bytes: [UInt8]) {
        if let last = clientPieces.last, last.proxy == proxy {
            clientPieces[clientPieces.count - 1].bytes += bytes
        } else {
            clientPieces.append((proxy, bytes))
        }
    }

    mutating func feed(_ leg: ProxyLeg, _ text: String, at ms: UInt64 = 0, splits: [Int] = []) {
        let bytes = Array(text.utf8)
        var cuts = ([0] + splits.filter { $0 > 0 && $0 < bytes.count } + [bytes.count])
        cuts = Array(Set(cuts)).sorted()
        for i in 0..<(cuts.count - 1) {
            absorb(engine.received(from: leg, Array(bytes[cuts[i]..<cuts[i + 1]]), now: ms * 1_000_000))
        }
    }

    mutating func tick(at ms: UInt64) { absorb(engine.tick(now: ms * 1_000_000)) }
}

enum FaultStep {
    case client(String)
    case server(String)
    case tick(UInt64)
}

/// Runs a script whole, then once per split of each step at every byte, then byte by byte:
/// every run must end the same.
func expectSameUnderEverySplit(
    _ rules: [String], _ steps: [FaultStep], expected: FaultOutcome, session: Int = 1,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    func run(splitting target: Int?, at k: Int?, bytewise: Bool) throws -> FaultOutcome {
        var h = try FaultHarness(rules, session: session)
        var now: UInt64 = 0
        for (i, step) in steps.enumerated() {
            switch step {
            case .tick(let ms):
                now = ms
                h.tick(at: ms)
            case .client(let text), .server(let text):
                var leg = ProxyLeg.server
                if case .client = step { leg = .client }
                let n = text.utf8.count
                let splits = bytewise ? Array(1..<max(1, n)) : (i == target ? k.map { [$0] } ?? [] : [])
                h.feed(leg, text, at: now, splits: splits)
            }
        }
        return h.outcome
    }
    let whole = try run(splitting: nil, at: nil, bytewise: false)
    #expect(whole == expected, sourceLocation: sourceLocation)
    for (i, step) in steps.enumerated() {
        let n: Int
        switch step {
        case .client(let t), .server(let t): n = t.utf8.count
        case .tick: continue
        }
        for k in 1..<max(1, n) {
            let split = try run(splitting: i, at: k, bytewise: false)
            #expect(split == expected, "step \(i) split at \(k)", sourceLocation: sourceLocation)
            if split != expected { return }
        }
    }
    #expect(
        try run(splitting: nil, at: nil, bytewise: true) == expected, "byte by byte", sourceLocation: sourceLocation)
}

@Suite struct FaultEngineTests {
    static let selectResponse =
        "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\na1 OK [READ-WRITE] done\r\n"

    @Test func respondReplacesTheServersCompletion() throws {
        try expectSameUnderEverySplit(
            ["SELECT Archive -> respond NO [UNAVAILABLE] try later"],
            [
                .client("a1 SELECT Archive\r\n"), .server(Self.selectResponse),
                .client("a10 SELECT INBOX\r\n"), .server("* 1 EXISTS\r\na10 OK [READ-ONLY] done\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "a1 SELECT Archive\r\na10 SELECT INBOX\r\n",
                toClient:
                    "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n‹P:a1 NO [UNAVAILABLE] try later\r\n›"
                    + "* 1 EXISTS\r\na10 OK [READ-ONLY] done\r\n",
                reports: ["respond a1 SELECT: answered a1 SELECT with NO in place of the server's OK"]))
    }

    /// A pipelined a10 whose tag begins with the matched a1 is not taken for a1's completion.
    @Test func aLongerTagIsNotTheCompletion() throws {
        try expectSameUnderEverySplit(
            ["SELECT -> respond BAD x"],
            [.client("a10 NOOP\r\na1 SELECT A\r\n"), .server("a10 OK noop\r\n* 0 EXISTS\r\na1 OK sel\r\n")],
            expected: FaultOutcome(
                toServer: "a10 NOOP\r\na1 SELECT A\r\n", toClient: "a10 OK noop\r\n* 0 EXISTS\r\n‹P:a1 BAD x\r\n›",
                reports: ["respond a1 SELECT: answered a1 SELECT with BAD in place of the server's OK"]))
    }

    @Test func injectGoesBeforeTheCompletion() throws {
        try expectSameUnderEverySplit(
            ["NOOP #2 -> inject \"* 0 EXISTS\""],
            [
                .client("n1 NOOP\r\n"), .server("n1 OK first\r\n"), .client("n2 noop\r\n"),
                .server("* 4 RECENT\r\nn2 OK second\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "n1 NOOP\r\nn2 noop\r\n",
                toClient: "n1 OK first\r\n* 4 RECENT\r\n‹P:* 0 EXISTS\r\n›n2 OK second\r\n",
                reports: ["inject n2 NOOP: sent an untagged line before the completion"]))
    }

    @Test func byeDuringIdleClosesBothLegs() throws {
        try expectSameUnderEverySplit(
            ["IDLE -> bye \"maintenance\""],
            [.client("i1 IDLE\r\nDONE\r\n"), .server("+ idling\r\ni1 OK done\r\n")],
            expected: FaultOutcome(
                toServer: "i1 IDLE\r\n", toClient: "‹P:* BYE maintenance\r\n›",
                reports: ["bye i1 IDLE: sent * BYE to the client and closed both legs at i1 IDLE"], end: "close"))
    }

    @Test func cutHalfWayIntoTheFirstLiteral() throws {
        try expectSameUnderEverySplit(
            ["UID FETCH -> cut"],
            [
                .client("f1 UID FETCH 1 (BODY[])\r\n"),
                .server("* 1 FETCH (UID 1 BODY[] {10}\r\n0123456789)\r\nf1 OK done\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "f1 UID FETCH 1 (BODY[])\r\n", toClient: "* 1 FETCH (UID 1 BODY[] {10}\r\n01234",
                reports: [
                    "cut f1 UID FETCH: closed both legs half-way into a 10-byte literal of the response to f1 UID FETCH"
                ],
                end: "close"))
    }

    /// The server is inside another literal when the cut is armed: its body's `{5}` is no header.
    @Test func cutWaitsForTheLineInProgress() throws {
        try expectSameUnderEverySplit(
            ["FETCH #2 -> cut"],
            [
                .client("f1 FETCH 1 BODY[]\r\n"), .server("* 1 FETCH (BODY[] {8}\r\nab{5}\r\n"),
                .client("f2 FETCH 2 FLAGS\r\n"),
                .server("cd)\r\nf1 OK a\r\n* 2 FETCH (FLAGS (\\Seen))\r\nf2 OK b\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "f1 FETCH 1 BODY[]\r\nf2 FETCH 2 FLAGS\r\n",
                toClient: "* 1 FETCH (BODY[] {8}\r\nab{5}\r\ncd)\r\n",
                reports: ["cut f2 FETCH: closed both legs before the completion of the response to f2 FETCH"],
                end: "close"))
    }

    @Test func afterBytesCutsAtThatByte() throws {
        try expectSameUnderEverySplit(
            ["after 20 server -> cut"],
            [.server("* OK hello\r\n"), .client("a NOOP\r\n"), .server("a OK noop done\r\n")],
            expected: FaultOutcome(
                toServer: "a NOOP\r\n", toClient: "* OK hello\r\na OK noo",
                reports: ["cut - -: closed both legs after 20 bytes from the server"], end: "close"))
    }

    @Test func everyKthAndSessionFilter() throws {
        let steps: [FaultStep] = (1...6).flatMap { i -> [FaultStep] in
            [.client("n\(i) NOOP\r\n"), .server("n\(i) OK\r\n")]
        }
        var toClient = ""
        for i in 1...6 { toClient += i % 3 == 0 ? "‹P:n\(i) NO busy\r\n›" : "n\(i) OK\r\n" }
        let toServer = (1...6).map { "n\($0) NOOP\r\n" }.joined()
        try expectSameUnderEverySplit(
            ["NOOP every 3 session 2 -> respond NO busy"], steps,
            expected: FaultOutcome(
                toServer: toServer, toClient: toClient,
                reports: [3, 6].map {
                    "respond n\($0) NOOP: answered n\($0) NOOP with NO in place of the server's OK"
                }),
            session: 2)
        try expectSameUnderEverySplit(
            ["NOOP every 3 session 2 -> respond NO busy"], steps,
            expected: FaultOutcome(toServer: toServer, toClient: (1...6).map { "n\($0) OK\r\n" }.joined()),
            session: 1)
    }

    @Test func delayHoldsTheServerUntilItsEnd() throws {
        var h = try FaultHarness(["FETCH -> delay 2s"])
        h.feed(.client, "f1 FETCH 1 FLAGS\r\n", at: 100)
        h.feed(.server, "* 1 FETCH (FLAGS ())\r\nf1 OK\r\n", at: 150, splits: [5, 30])
        #expect(h.outcome.toClient == "")
        #expect(h.wakes == [2_100_000_000])
        #expect(h.engine.queuedBytes == 29)
        h.tick(at: 2_099)
        #expect(h.outcome.toClient == "")
        h.tick(at: 2_100)
        #expect(h.outcome.toClient == "* 1 FETCH (FLAGS ())\r\nf1 OK\r\n")
        #expect(h.outcome.reports == ["delay f1 FETCH: holding the server's bytes for 2s from f1 FETCH"])
        h.feed(.server, "* 2 EXISTS\r\n", at: 2_200)
        #expect(h.outcome.toClient.hasSuffix("f1 OK\r\n* 2 EXISTS\r\n"))
    }

    @Test func throttleMetersTheServersBytes() throws {
        var h = try FaultHarness(["SELECT -> throttle 100/s"])
        h.feed(.client, "s SELECT a\r\n", at: 0)
        h.feed(.server, String(repeating: "x", count: 48) + "\r\n", at: 0)
        #expect(h.outcome.toClient.count == 10)
        #expect(h.wakes.last == 100_000_000)
        h.tick(at: 100)
        #expect(h.outcome.toClient.utf8.count == 20)
        h.tick(at: 400)
        #expect(h.outcome.toClient.utf8.count == 50)
        #expect(h.engine.queuedBytes == 0)
    }

    @Test func stallStopsBothWays() throws {
        try expectSameUnderEverySplit(
            ["LIST -> stall"],
            [.client("l LIST \"\" *\r\nn NOOP\r\n"), .server("* LIST () \"/\" INBOX\r\nl OK\r\n")],
            expected: FaultOutcome(
                toServer: "l LIST \"\" *\r\n",
                reports: ["stall l LIST: stopped relaying both ways at l LIST; the connections stay open"], end: "stall"
            ))
    }

    @Test func resetBothLegs() throws {
        try expectSameUnderEverySplit(
            ["* #2 -> reset"],
            [.client("a NOOP\r\nb CHECK\r\nc NOOP\r\n"), .server("a OK\r\n")],
            expected: FaultOutcome(
                toServer: "a NOOP\r\nb CHECK\r\n", reports: ["reset b CHECK: reset both legs at b CHECK"], end: "reset")
        )
    }

    @Test func afterElapsedFiresOnItsDeadline() throws {
        var h = try FaultHarness(["after 30s -> bye going down"])
        #expect(h.wakes == [30_000_000_000])
        h.feed(.client, "a NOOP\r\n", at: 1_000)
        h.tick(at: 29_999)
        #expect(h.outcome.end == nil)
        h.tick(at: 30_000)
        #expect(h.outcome.toClient == "‹P:* BYE going down\r\n›")
        #expect(h.outcome.end == "close")
    }

    /// After COMPRESS the streams are compressed: command rules no longer match.
    @Test func compressEndsCommandMatching() throws {
        try expectSameUnderEverySplit(
            ["NOOP -> respond NO x"],
            [
                .client("z COMPRESS DEFLATE\r\n"), .server("z OK on\r\n\u{1}x\u{2}"), .client("n NOOP\r\n"),
                .server("n OK\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "z COMPRESS DEFLATE\r\nn NOOP\r\n", toClient: "z OK on\r\n\u{1}x\u{2}n OK\r\n"))
    }

    /// A fault on LOGIN names the command, never its arguments.
    @Test func loginArgumentsNeverReachAReport() throws {
        var h = try FaultHarness(["LOGIN alice -> delay 1s", "LOGIN -> inject \"* OK hi\""])
        h.feed(.client, "a1 LOGIN alice hunter2\r\n", at: 0)
        h.feed(.server, "a1 OK logged in\r\n", at: 5)
        h.tick(at: 1_000)
        #expect(h.outcome.toClient == "‹P:* OK hi\r\n›a1 OK logged in\r\n")
        #expect(h.outcome.reports.count == 2)
        for r in h.outcome.reports { #expect(!r.contains("hunter2") && !r.contains("alice")) }
    }

    /// Same seed, same traffic: the same commands fault; another session draws differently.
    @Test func probabilityIsDeterministic() throws {
        func fired(session: Int) throws -> [Int] {
            var h = try FaultHarness(["NOOP p=0.2 seed=1 -> respond NO x"], session: session)
            var hits: [Int] = []
            for i in 1...200 {
                h.feed(.client, "n\(i) NOOP\r\n")
                let before = h.outcome.reports.count
                h.feed(.server, "n\(i) OK\r\n")
                if h.outcome.reports.count > before { hits.append(i) }
            }
            return hits
        }
        let first = try fired(session: 1)
        #expect(try fired(session: 1) == first)
        #expect(try fired(session: 2) != first)
        #expect((20...60).contains(first.count), "\(first.count) of 200 at p=0.2")
    }

    /// SplitMix64's reference outputs for seed 1234567.
    @Test func splitMix64ReferenceVector() {
        var r = FaultRandom(seed: 1_234_567)
        #expect(
            (0..<5).map { _ in r.next() } == [
                6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                4_593_380_528_125_082_431, 16_408_922_859_458_223_821,
            ])
    }

    /// Command rules take COMPRESS out of every capability list the client sees, once reported.
    @Test func commandRulesHideCompress() throws {
        try expectSameUnderEverySplit(
            ["FETCH -> delay 1s"],
            [
                .server("* OK [CAPABILITY IMAP4rev1 LITERAL+ COMPRESS=DEFLATE] ready\r\n"),
                .client("a LOGIN u p\r\nc CAPABILITY\r\n"),
                .server(
                    "a OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] in\r\n"
                        + "* CAPABILITY IMAP4rev1 compress=deflate IDLE\r\n"
                        + "* OK [ALERT] COMPRESS=X is text\r\nc OK done\r\n"),
            ],
            expected: FaultOutcome(
                toServer: "a LOGIN u p\r\nc CAPABILITY\r\n",
                toClient: "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\na OK [CAPABILITY IMAP4rev1] in\r\n"
                    + "* CAPABILITY IMAP4rev1 IDLE\r\n* OK [ALERT] COMPRESS=X is text\r\nc OK done\r\n",
                reports: [
                    "hide-compress - -: took COMPRESS=DEFLATE out of the server's capabilities: command rules cannot"
                        + " read compressed commands"
                ]))
        // Byte and time rules read no command: capabilities pass as they are.
        try expectSameUnderEverySplit(
            ["after 1MB server -> cut"], [.server("* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] ready\r\n")],
            expected: FaultOutcome(toClient: "* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] ready\r\n"))
    }

    /// A rule fires on the first of two pipelined commands in one read: the rest goes on.
    @Test func theRestOfAReadGoesOnAfterARuleFires() throws {
        for rules in [
            ["NOOP #1 -> inject \"* 1 RECENT\""], ["NOOP #1 -> inject \"* 1 RECENT\"", "after 1GB client -> reset"],
        ] {
            try expectSameUnderEverySplit(
                rules,
                [.client("a NOOP\r\nb NOOP\r\nc CHECK\r\n"), .server("a OK\r\nb OK\r\nc OK\r\n")],
                expected: FaultOutcome(
                    toServer: "a NOOP\r\nb NOOP\r\nc CHECK\r\n", toClient: "‹P:* 1 RECENT\r\n›a OK\r\nb OK\r\nc OK\r\n",
                    reports: ["inject a NOOP: sent an untagged line before the completion"]))
        }
    }

    /// A time-triggered inject waits for the server's line in progress to end.
    @Test func timedInjectWaitsForALineBoundary() throws {
        var h = try FaultHarness(["after 5s -> inject \"* 0 EXISTS\""])
        h.feed(.server, "* 1 FETCH (FLAGS (\\Seen", at: 4_000)
        h.tick(at: 5_000)
        #expect(h.outcome.toClient == "* 1 FETCH (FLAGS (\\Seen")
        h.feed(.server, "))\r\n* 2 FETCH (FLAGS ())\r\n", at: 5_100)
        #expect(h.outcome.toClient == "* 1 FETCH (FLAGS (\\Seen))\r\n‹P:* 0 EXISTS\r\n›* 2 FETCH (FLAGS ())\r\n")
        // Between lines it goes at once.
        var idle = try FaultHarness(["after 5s -> inject \"* 0 EXISTS\""])
        idle.feed(.server, "* OK ready\r\n", at: 0)
        idle.tick(at: 5_000)
        #expect(idle.outcome.toClient == "* OK ready\r\n‹P:* 0 EXISTS\r\n›")
        #expect(
            idle.outcome.reports == [
                "inject - -: sending an untagged line at the server's next line boundary, 5s into the session"
            ])
    }
}
