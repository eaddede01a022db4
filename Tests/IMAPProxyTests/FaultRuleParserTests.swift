import Testing

@testable import IMAPProxy

/// Rule vectors: input → the typed rule, or the error's column and message.
@Suite struct FaultRuleParserTests {
    static func command(_ name: String?, uid: Bool = false, _ arguments: [String] = []) -> FaultTrigger {
        .command(FaultCommandPattern(name: name, uid: uid, arguments: arguments))
    }

    static let good: [(String, FaultRule)] = [
        (
            "SELECT Archive -> respond NO [UNAVAILABLE] try later",
            FaultRule(
                match: FaultMatch(trigger: command("SELECT", ["Archive"])),
                action: .respond(status: .no, text: "[UNAVAILABLE] try later"))
        ),
        (
            "UID FETCH #2 -> delay 2s",
            FaultRule(
                match: FaultMatch(trigger: command("FETCH", uid: true), occurrence: .nth(2)),
                action: .delay(FaultDuration(milliseconds: 2000)))
        ),
        (
            "after 1MB server -> cut",
            FaultRule(match: FaultMatch(trigger: .bytes(1 << 20, from: .server)), action: .cut)
        ),
        (
            "IDLE -> bye \"maintenance\"",
            FaultRule(match: FaultMatch(trigger: command("IDLE")), action: .bye("maintenance"))
        ),
        (
            "* p=0.1 seed=7 -> reset",
            FaultRule(
                match: FaultMatch(trigger: command(nil), probability: FaultProbability(probability: 0.1, seed: 7)),
                action: .reset)
        ),
        (
            "fetch every 5 session 2 -> throttle 50KB/s",
            FaultRule(
                match: FaultMatch(trigger: command("FETCH"), occurrence: .every(5), session: 2),
                action: .throttle(bytesPerSecond: 51_200))
        ),
        (
            "after 30s -> stall",
            FaultRule(match: FaultMatch(trigger: .elapsed(FaultDuration(milliseconds: 30_000))), action: .stall)
        ),
        (
            "NOOP -> inject \"* 0 EXISTS\"",
            FaultRule(match: FaultMatch(trigger: command("NOOP")), action: .inject("* 0 EXISTS"))
        ),
        (
            "EXAMINE \"Sent Items\" -> respond BAD [CLIENTBUG] no",
            FaultRule(
                match: FaultMatch(trigger: command("EXAMINE", ["Sent Items"])),
                action: .respond(status: .bad, text: "[CLIENTBUG] no"))
        ),
        (
            "  SELECT   #3   ->   delay   500ms  ",
            FaultRule(
                match: FaultMatch(trigger: command("SELECT"), occurrence: .nth(3)),
                action: .delay(FaultDuration(milliseconds: 500)))
        ),
        (
            "after 512 client -> bye server going down",
            FaultRule(match: FaultMatch(trigger: .bytes(512, from: .client)), action: .bye("server going down"))
        ),
        (
            "UID STORE * p=1 -> delay 1.5s",
            FaultRule(
                match: FaultMatch(
                    trigger: command("STORE", uid: true, ["*"]),
                    probability: FaultProbability(probability: 1, seed: 0)),
                action: .delay(FaultDuration(milliseconds: 1500)))
        ),
        (
            "LIST -> inject * OK [ALERT] be careful",
            FaultRule(match: FaultMatch(trigger: command("LIST")), action: .inject("* OK [ALERT] be careful"))
        ),
    ]

    @Test func goodRules() throws {
        for (text, expected) in Self.good {
            let rule = try FaultRuleParser.parse(text)
            #expect(rule == expected, "\(text)")
        }
    }

    /// The canonical form reads back to the same rule (fault events carry it).
    @Test func canonicalFormRoundTrips() throws {
        for (text, expected) in Self.good {
            #expect(try FaultRuleParser.parse(expected.description) == expected, "\(text) → \(expected)")
        }
        #expect(Self.good[0].1.description == "SELECT Archive -> respond NO [UNAVAILABLE] try later")
        #expect(Self.good[4].1.description == "* p=0.1 seed=7 -> reset")
    }

    /// A credential pattern is never written out.
    @Test func loginPatternsAreHidden() throws {
        let rule = try FaultRuleParser.parse("LOGIN alice hunter2 -> delay 1s")
        #expect(rule.match.trigger == Self.command("LOGIN", ["alice", "hunter2"]))
        #expect(rule.description == "LOGIN ‹pattern hidden› -> delay 1s")
    }

    static let bad: [(String, Int, String)] = [
        ("SELECT Archive respond NO", 26, "expected '->' between the match and the action"),
        ("-> reset", 1, "expected a command name, '*' or 'after' before '->'"),
        ("SELECT ->", 10, "expected an action after '->'"),
        (
            "SELECT -> explode", 11,
            "unknown action 'explode': expected delay, respond, bye, reset, cut, throttle, stall or inject"
        ),
        ("SELECT -> delay soon", 17, "expected a duration such as 2s or 500ms"),
        ("SELECT -> delay", 17, "delay needs a duration (2s, 500ms)"),
        ("SELECT -> respond OK fine", 19, "respond takes NO or BAD (imapscope never claims OK)"),
        (
            "APPEND -> respond NO [UNAVAILABLE] x", 1,
            "respond to APPEND would desynchronise the two legs: the server still runs the command (imapscope"
                + " forwards it and replaces its completion); respond answers commands that change nothing, such as"
                + " SELECT, EXAMINE, FETCH, SEARCH, STATUS, LIST, NOOP"
        ),
        (
            "* -> respond NO x", 1,
            "respond needs a command name, not '*': answering a command that changes the server while the server"
                + " still runs it would desynchronise the two legs"
        ),
        ("after 30s -> respond NO x", 14, "respond answers a command: the match must name one"),
        (
            "UID STORE -> respond NO x", 5,
            "respond to STORE would desynchronise the two legs: the server still runs the command"
                + " (imapscope forwards it and replaces its completion); respond answers commands that change"
                + " nothing, such as SELECT, EXAMINE, FETCH, SEARCH, STATUS, LIST, NOOP"
        ),
        ("UID LIST -> delay 1s", 5, "UID LIST is not a UID command"),
        ("SELECT #0 -> reset", 9, "'#' needs a whole number of 1 or more"),
        ("SELECT #x -> reset", 9, "'#' needs a whole number of 1 or more"),
        ("SELECT every -> reset", 14, "'every' needs a whole number of 1 or more"),
        ("SELECT #2 every 3 -> reset", 11, "'#N' and 'every N' cannot be combined"),
        ("SELECT #2 #3 -> reset", 11, "'#' given twice"),
        ("* p=1.5 seed=1 -> reset", 5, "p= needs a probability above 0 and at most 1"),
        ("* p=0 -> reset", 5, "p= needs a probability above 0 and at most 1"),
        ("* seed=3 -> reset", 3, "seed= is only meaningful with p="),
        ("* p=0.5 seed=-1 -> reset", 14, "seed= needs a whole number"),
        ("SELECT session 0 -> reset", 16, "'session' needs a whole number of 1 or more"),
        (
            "SELECT #2 Archive -> reset", 11,
            "unexpected 'Archive': an argument pattern comes before #N, every N, p=, seed=, session N"
        ),
        ("after -> cut", 7, "'after' needs a size and a side or a duration"),
        ("after 1MB -> cut", 11, "expected 'server' or 'client' after the size"),
        ("after 1MB upstream -> cut", 11, "expected 'server' or 'client' after the size"),
        ("after soon -> cut", 7, "expected a size (1MB) or a duration (30s) after 'after'"),
        ("after 30s #2 -> cut", 11, "'after' fires once a session: #N and every N apply to commands only"),
        ("after 30s Archive -> cut", 11, "unexpected 'Archive': expected one of #N, every N, p=, seed=, session N"),
        ("SEL(ECT -> reset", 1, "expected a command name, '*' or 'after'"),
        ("\"SELECT\" -> reset", 1, "expected a command name, '*' or 'after'"),
        ("SELECT -> bye \"unclosed", 15, "unclosed double quote"),
        ("SELECT -> bye \"a\"b", 18, "expected a space after the closing quote"),
        ("SELECT -> reset now", 17, "unexpected 'now' after reset"),
        ("SELECT -> throttle fast", 20, "expected a rate such as 50KB/s"),
        ("SELECT -> throttle 0KB/s", 20, "expected a rate such as 50KB/s"),
        ("SELECT -> inject \"a1 OK done\"", 18, "inject sends an untagged line: '* ' and a response"),
        ("SELECT -> inject \"*\"", 18, "inject sends an untagged line: '* ' and a response"),
        ("SELECT -> bye a\rb", 16, "control characters are not allowed in a rule"),
    ]

    @Test func badRules() {
        for (text, column, message) in Self.bad {
            #expect(throws: FaultRuleError(column: column, message: message), "\(text.debugDescription)") {
                try FaultRuleParser.parse(text)
            }
        }
    }

    @Test func errorSaysItsColumn() {
        #expect(FaultRuleError(column: 8, message: "x").description == "column 8: x")
    }

    /// `*` matches commands imapscope knows, not any line shaped like one: a literal's body line
    /// (`my secret`) must not count, or its words would reach the log as a tag and a command name.
    @Test(
        arguments: [
            ("a1 NOOP", true), ("a2 uid fetch 1:* (FLAGS)", true), ("x SELECT INBOX", true),
            ("my secret", false), ("a3 XUNKNOWN 1", false), ("DONE", false),
        ])
    func anyCommandPatternTakesOnlyKnownCommands(_ line: String, _ matches: Bool) {
        let command = FaultCommandLine(Array(line.utf8))
        #expect((command?.matches(FaultCommandPattern(name: nil)) ?? false) == matches)
    }
}
