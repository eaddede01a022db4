import NIOCore
import Testing

@testable import IMAPProxy

/// What a session did, whatever the reads' boundaries: relayed bytes of consecutive actions on
/// one leg are joined, held bytes count once they are released.
enum StartTLSEffect: Equatable, CustomStringConvertible {
    case relayed(ProxyLeg, String)
    case consumed(String)
    case sent(ProxyLeg, String)
    case startTLS(ProxyLeg)
    case refused(ProxyLeg)
    case report(ProxyLeg, TLSReport.Phase)
    case plaintextResumes
    case serverLegUpgraded
    case fail(StartTLSFailure)
    case setDeadline(TimeAmount)
    case cancelDeadline
    case lint(StartTLSFinding)

    var description: String {
        switch self {
        case .relayed(let leg, let text): return "relayed \(leg) \(text.debugDescription)"
        case .consumed(let text): return "consumed \(text.debugDescription)"
        case .sent(let leg, let text): return "sent \(leg) \(text.debugDescription)"
        case .startTLS(let leg): return "startTLS \(leg)"
        case .refused(let leg): return "refused \(leg)"
        case .report(let leg, let phase): return "report \(leg) \(phase)"
        case .plaintextResumes: return "plaintextResumes"
        case .serverLegUpgraded: return "serverLegUpgraded"
        case .fail(let failure): return "fail \(failure)"
        case .setDeadline(let amount): return "setDeadline \(amount)"
        case .cancelDeadline: return "cancelDeadline"
        case .lint(let finding): return "lint \(finding)"
        }
    }
}

/// One step of a scripted conversation.
enum StartTLSStep: Sendable {
    case client(String)
    case server(String)
    case input(StartTLSMachine.Input)

    var read: (ProxyLeg, [UInt8])? {
        switch self {
        case .client(let text): return (.client, Array(text.utf8))
        case .server(let text): return (.server, Array(text.utf8))
        case .input: return nil
        }
    }
}

/// A conversation and everything the machine must make of it.
struct StartTLSScenario: Sendable, CustomTestStringConvertible {
    var name: String
    var mode: StartTLSMachine.Mode
    var steps: [StartTLSStep]
    var effects: [StartTLSEffect]
    var requireClientTLS = false
    var testDescription: String { name }
}

/// Drives a machine as the NIO handler does, and records what it did as effects.
struct StartTLSDriver {
    var machine: StartTLSMachine
    private(set) var effects: [StartTLSEffect] = []
    /// Refused sessions: bytes that were never relayed (the one read refused and all after it).
    private(set) var unrelayedAfterRefusal = 0
    private var refused = false

    init(mode: StartTLSMachine.Mode, deadline: TimeAmount = .seconds(30), requireClientTLS: Bool = false) {
        machine = StartTLSMachine(mode: mode, deadline: deadline, requireClientTLS: requireClientTLS)
    }

    mutating func read(_ leg: ProxyLeg, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let actions = machine.read(leg, bytes)
        // Ranges are ascending, disjoint and inside the read.
        var next = 0
        for action in actions {
            switch action {
            case .forward(_, let range), .hold(_, let range), .drop(_, let range):
                #expect(
                    range.lowerBound >= next && range.upperBound <= bytes.count && !range.isEmpty,
                    "\(range) after \(next) in a read of \(bytes.count)", sourceLocation: sourceLocation)
                next = range.upperBound
            default: break
            }
        }
        if refused { unrelayedAfterRefusal += bytes.count }
        record(actions, bytes)
    }

    mutating func handle(_ input: StartTLSMachine.Input) { record(machine.handle(input), []) }

    private mutating func record(_ actions: [StartTLSAction], _ bytes: [UInt8]) {
        for action in actions {
            switch action {
            case .forward(let leg, let range): relay(leg, bytes[range])
            case .release(let leg, let held): relay(leg, held[...])
            case .hold, .drop: break
            case .consume(_, let command): effects.append(.consumed(Self.text(command[...])))
            case .send(let leg, let sent): effects.append(.sent(leg, Self.text(sent[...])))
            case .startTLS(let leg): effects.append(.startTLS(leg))
            case .refuseInjection(let leg, let count):
                effects.append(.refused(leg))
                refused = true
                unrelayedAfterRefusal += count
            case .report(let leg, let phase): effects.append(.report(leg, phase))
            case .plaintextResumes: effects.append(.plaintextResumes)
            case .serverLegUpgraded: effects.append(.serverLegUpgraded)
            case .fail(let failure): effects.append(.fail(failure))
            case .setDeadline(let amount): effects.append(.setDeadline(amount))
            case .cancelDeadline: effects.append(.cancelDeadline)
            case .lint(let finding): effects.append(.lint(finding))
            }
        }
    }

    private mutating func relay(_ leg: ProxyLeg, _ bytes: ArraySlice<UInt8>) {
        if case .relayed(leg, let earlier)? = effects.last {
            effects[effects.count - 1] = .relayed(leg, earlier + Self.text(bytes))
        } else {
            effects.append(.relayed(leg, Self.text(bytes)))
        }
    }

    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Runs `steps`, each read cut into the pieces `cut` makes of it (step index, bytes).
    static func run(
        _ mode: StartTLSMachine.Mode, _ steps: [StartTLSStep], deadline: TimeAmount = .seconds(30),
        requireClientTLS: Bool = false, cut: (Int, [UInt8]) -> [[UInt8]] = { [$1] }
    ) -> StartTLSDriver {
        var driver = StartTLSDriver(mode: mode, deadline: deadline, requireClientTLS: requireClientTLS)
        for (index, step) in steps.enumerated() {
            switch step {
            case .input(let input):
                driver.handle(input)
            case .client, .server:
                guard let (leg, bytes) = step.read else { continue }
                for piece in cut(index, bytes) where !piece.isEmpty { driver.read(leg, piece) }
            }
        }
        return driver
    }
}

extension StartTLSStep {
    static let greeting = StartTLSStep.server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n")
}

extension StartTLSEffect {
    static let greeting = StartTLSEffect.relayed(
        .server, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n")
    static let ownStartTLS = StartTLSEffect.sent(.server, "imapscope0 STARTTLS\r\n")
    /// imapscope's upgrade of the server leg failed: the `tls` event and the client's BYE.
    static func upgradeFailed(_ why: String) -> [StartTLSEffect] {
        [.report(.server, .failed(error: why, upgradingServer: true)), .fail(.byeToClient(reason: why))]
    }

    static func localAnswer(_ tag: String) -> StartTLSEffect {
        .sent(.client, "\(tag) OK Begin TLS negotiation now (answered by imapscope: the server leg is already TLS)\r\n")
    }
}

@Suite("STARTTLS machine")
struct StartTLSMachineTests {
    static let thirty = TimeAmount.seconds(30)
    static let relayedDone: [StartTLSEffect] = [
        .startTLS(.server), .startTLS(.client), .setDeadline(thirty),
        .report(.server, .established), .cancelDeadline, .report(.client, .established), .plaintextResumes,
    ]
    /// imapscope's own STARTTLS with the server, up to its upgraded server leg.
    static let upgradeSteps: [StartTLSStep] = [
        .input(.connected(.server)), .greeting,
        .server("* CAPABILITY IMAP4rev1 STARTTLS\r\nimapscope0 OK Begin TLS negotiation now\r\n"),
        .input(.handshakeCompleted(.server)),
    ]
    static let upgradeEffects: [StartTLSEffect] = [
        .setDeadline(thirty), .greeting, .ownStartTLS, .startTLS(.server),
        .cancelDeadline, .report(.server, .upgradedByImapscope), .serverLegUpgraded,
    ]

    static let scenarios: [StartTLSScenario] = [
        .init(
            name: "relayed: imaplib's CAPABILITY, STARTTLS, LOGIN", mode: .relayed,
            steps: [
                .greeting, .client("a1 CAPABILITY\r\n"),
                .server("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK Capability completed.\r\n"),
                .client("a2 STARTTLS\r\n"), .server("a2 OK Begin TLS negotiation now.\r\n"),
                .input(.handshakeCompleted(.server)), .input(.handshakeCompleted(.client)),
                .client("a3 LOGIN alice password\r\n"), .server("a3 OK Logged in\r\n"),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 CAPABILITY\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK Capability completed.\r\n"),
                .relayed(.client, "a2 STARTTLS\r\n"), .relayed(.server, "a2 OK Begin TLS negotiation now.\r\n"),
            ] + relayedDone + [
                .relayed(.client, "a3 LOGIN alice password\r\n"), .relayed(.server, "a3 OK Logged in\r\n"),
            ]),
        .init(
            name: "relayed: a command pipelined behind STARTTLS is never relayed", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\na2 LOGIN alice password\r\n"), .server("a1 OK Begin TLS\r\n"),
                .client("a3 NOOP\r\n"),
            ], effects: [.greeting, .relayed(.client, "a1 STARTTLS\r\n"), .refused(.client)]),
        .init(
            name: "relayed: plaintext from the server after its OK", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\n"), .server("a1 OK Begin TLS\r\n* OK injected\r\n"),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 STARTTLS\r\n"), .relayed(.server, "a1 OK Begin TLS\r\n"),
                .startTLS(.server), .startTLS(.client), .setDeadline(thirty), .cancelDeadline, .refused(.server),
            ]),
        .init(
            name: "relayed: a refused STARTTLS leaves the session in plaintext", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\n"), .server("* OK still here\r\na1 NO [UNAVAILABLE] not now\r\n"),
                .client("a2 NOOP\r\n"), .server("a2 OK\r\n"),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 STARTTLS\r\n"),
                .relayed(.server, "* OK still here\r\na1 NO [UNAVAILABLE] not now\r\n"),
                .relayed(.client, "a2 NOOP\r\n"), .relayed(.server, "a2 OK\r\n"),
            ]),
        .init(
            name: "relayed: after a LOGIN's OK, STARTTLS is only relayed", mode: .relayed,
            steps: [
                .greeting, .client("a1 LOGIN {5}\r\nalice {8}\r\npassword\r\n"), .server("a1 OK Logged in\r\n"),
                .client("a2 STARTTLS\r\n"), .server("a2 BAD not now\r\n"),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 LOGIN {5}\r\nalice {8}\r\npassword\r\n"),
                .relayed(.server, "a1 OK Logged in\r\n"),
                .relayed(.client, "a2 STARTTLS\r\n"), .relayed(.server, "a2 BAD not now\r\n"),
            ]),
        .init(
            name: "relayed: the server's certificate is refused", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\n"), .server("a1 OK go\r\n"),
                .input(.error(.server, "bad certificate")),
                .client("a2 NOOP\r\n"),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 STARTTLS\r\n"), .relayed(.server, "a1 OK go\r\n"),
                .startTLS(.server), .startTLS(.client), .setDeadline(thirty), .cancelDeadline,
                .report(.server, .failed(error: "bad certificate", upgradingServer: false)),
                .fail(.endSession(reason: "TLS with the real server failed after STARTTLS: bad certificate")),
            ]),
        .init(
            name: "relayed: the handshakes do not finish in time", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\n"), .server("a1 OK go\r\n"), .input(.handshakeCompleted(.client)),
                .input(.deadlineExpired),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 STARTTLS\r\n"), .relayed(.server, "a1 OK go\r\n"),
                .startTLS(.server), .startTLS(.client), .setDeadline(thirty), .report(.client, .established),
                .report(.server, .failed(error: "no TLS handshake within 30 s", upgradingServer: false)),
                .fail(
                    .endSession(reason: "TLS with the real server failed after STARTTLS: no TLS handshake within 30 s")),
            ]),
        .init(
            name: "relayed: the client leaves during its handshake", mode: .relayed,
            steps: [
                .greeting, .client("a1 STARTTLS\r\n"), .server("a1 OK go\r\n"), .input(.closed(.client)),
            ],
            effects: [
                .greeting, .relayed(.client, "a1 STARTTLS\r\n"), .relayed(.server, "a1 OK go\r\n"),
                .startTLS(.server), .startTLS(.client), .setDeadline(thirty), .cancelDeadline,
                .report(.client, .failed(error: "connection closed during the TLS handshake", upgradingServer: false)),
                .fail(.endSession(reason: "the client's TLS handshake after STARTTLS failed")),
            ]),
        .init(
            name: "upgrade: the greeting is the client's, the STARTTLS exchange is not",
            mode: .upgradesServer(answersClient: false),
            steps: upgradeSteps + [.client("a1 LOGIN alice password\r\n"), .server("a1 OK Logged in\r\n")],
            effects: upgradeEffects + [
                .relayed(.client, "a1 LOGIN alice password\r\n"), .relayed(.server, "a1 OK Logged in\r\n"),
            ]),
        .init(
            name: "upgrade: client bytes wait for the server leg's TLS",
            mode: .upgradesServer(answersClient: false),
            steps: [
                .input(.connected(.server)), .greeting, .client("a1 CAPABILITY\r\n"),
                .server("imapscope0 OK go\r\n"), .client("a2 NOOP\r\n"), .input(.handshakeCompleted(.server)),
            ],
            effects: [
                .setDeadline(thirty), .greeting, .ownStartTLS, .startTLS(.server),
                .cancelDeadline, .report(.server, .upgradedByImapscope), .serverLegUpgraded,
                .relayed(.client, "a1 CAPABILITY\r\na2 NOOP\r\n"),
            ]),
        .init(
            name: "upgrade: a greeting that is not OK", mode: .upgradesServer(answersClient: false),
            steps: [
                .input(.connected(.server)), .server("* BYE [UNAVAILABLE] go away\r\n* more\r\n"),
                .client("a1 NOOP\r\n"),
            ],
            effects: [
                .setDeadline(thirty), .relayed(.server, "* BYE [UNAVAILABLE] go away\r\n"), .cancelDeadline,
            ] + StartTLSEffect.upgradeFailed("the server's greeting is not * OK: * BYE [UNAVAILABLE] go away")),
        .init(
            name: "upgrade: the server refuses STARTTLS", mode: .upgradesServer(answersClient: false),
            steps: [
                .input(.connected(.server)), .greeting, .server("imapscope0 BAD no TLS here\r\n"),
            ],
            effects: [
                .setDeadline(thirty), .greeting, .ownStartTLS, .cancelDeadline,
            ] + StartTLSEffect.upgradeFailed("the server refused STARTTLS: imapscope0 BAD no TLS here")),
        .init(
            name: "upgrade: plaintext after the server's OK", mode: .upgradesServer(answersClient: false),
            steps: [
                .input(.connected(.server)), .greeting, .server("imapscope0 OK go\r\n* CAPABILITY injected\r\n"),
            ],
            effects: [
                .setDeadline(thirty), .greeting, .ownStartTLS, .startTLS(.server), .cancelDeadline,
            ] + StartTLSEffect.upgradeFailed("the server sent plaintext after its STARTTLS OK")),
        .init(
            name: "upgrade: the server's TLS fails", mode: .upgradesServer(answersClient: false),
            steps: [
                .input(.connected(.server)), .greeting, .server("imapscope0 OK go\r\n"),
                .input(.error(.server, "certificate expired")), .input(.handshakeCompleted(.server)),
            ],
            effects: [
                .setDeadline(thirty), .greeting, .ownStartTLS, .startTLS(.server), .cancelDeadline,
            ] + StartTLSEffect.upgradeFailed("TLS with the real server failed: certificate expired")),
        .init(
            name: "local: imapscope answers the client's STARTTLS", mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [
                .client("a0 CAPABILITY\r\na1 STARTTLS\r\n"), .input(.handshakeCompleted(.client)),
                .client("a2 LOGIN alice password\r\n"), .server("* CAPABILITY IMAP4rev1\r\na2 OK Logged in\r\n"),
            ],
            effects: upgradeEffects + [
                .relayed(.client, "a0 CAPABILITY\r\n"), .consumed("a1 STARTTLS\r\n"), .localAnswer("a1"),
                .startTLS(.client), .setDeadline(thirty), .cancelDeadline, .report(.client, .established),
                .plaintextResumes, .relayed(.client, "a2 LOGIN alice password\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1\r\na2 OK Logged in\r\n"),
            ]),
        .init(
            name: "local: client bytes before the server leg is up are looked at once it is",
            mode: .upgradesServer(answersClient: true),
            steps: [
                .input(.connected(.server)), .greeting, .client("a0 CAPABILITY\r\na1 STARTTLS\r\n"),
                .server("imapscope0 OK go\r\n"), .input(.handshakeCompleted(.server)),
            ],
            effects: [
                .setDeadline(thirty), .greeting, .ownStartTLS, .startTLS(.server),
                .cancelDeadline, .report(.server, .upgradedByImapscope), .serverLegUpgraded,
                .relayed(.client, "a0 CAPABILITY\r\n"), .consumed("a1 STARTTLS\r\n"), .localAnswer("a1"),
                .startTLS(.client), .setDeadline(thirty),
            ]),
        .init(
            name: "local: a command pipelined behind the answered STARTTLS",
            mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [.client("a1 starttls\r\na2 LOGIN alice password\r\n"), .client("a3 NOOP\r\n")],
            effects: upgradeEffects + [
                .consumed("a1 starttls\r\n"), .localAnswer("a1"), .startTLS(.client), .setDeadline(thirty),
                .cancelDeadline, .refused(.client),
            ]),
        .init(
            name: "local: after LOGIN nothing is answered", mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [.client("a1 LOGIN alice password\r\na2 STARTTLS\r\n"), .client("a3 STARTTLS\r\n")],
            effects: upgradeEffects + [
                .relayed(.client, "a1 LOGIN alice password\r\n"),
                .lint(.clientLegPlaintext(command: "LOGIN", refused: false)),
                .relayed(.client, "a2 STARTTLS\r\na3 STARTTLS\r\n"),
            ]),
        .init(
            name: "local: a line start held back goes on when the client half-closes",
            mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [.client("a1 NOOP\r\na2 STAR"), .input(.inputClosed(.client))],
            effects: upgradeEffects + [.relayed(.client, "a1 NOOP\r\na2 STAR")]),
        .init(
            name: "local: the client's handshake fails", mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [.client("a1 STARTTLS\r\n"), .input(.error(.client, "unknown CA"))],
            effects: upgradeEffects + [
                .consumed("a1 STARTTLS\r\n"), .localAnswer("a1"), .startTLS(.client), .setDeadline(thirty),
                .cancelDeadline,
                .report(.client, .failed(error: "unknown CA", upgradingServer: false)),
                .fail(.endSession(reason: "the client's TLS handshake after STARTTLS failed")),
            ]),
        .init(
            name: "local: a tag longer than a tag may be is no STARTTLS", mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [.client(String(repeating: "t", count: 257) + " STARTTLS\r\n")],
            effects: upgradeEffects + [.relayed(.client, String(repeating: "t", count: 257) + " STARTTLS\r\n")]),
    ]

    /// Each script whole, then each read split at every byte (one read at a time), then every
    /// read byte by byte: the same effects every time.
    @Test(arguments: scenarios + offerScenarios)
    func everySplitActsAlike(_ scenario: StartTLSScenario) {
        let require = scenario.requireClientTLS
        let whole = StartTLSDriver.run(scenario.mode, scenario.steps, requireClientTLS: require)
        #expect(whole.effects == scenario.effects, "\(whole.effects)")
        for (index, step) in scenario.steps.enumerated() {
            guard let (_, bytes) = step.read, bytes.count > 1 else { continue }
            for position in 1..<bytes.count {
                let split = StartTLSDriver.run(scenario.mode, scenario.steps, requireClientTLS: require) {
                    stepIndex, bytes in
                    stepIndex == index ? [Array(bytes[..<position]), Array(bytes[position...])] : [bytes]
                }
                #expect(split.effects == scenario.effects, "step \(index) split at \(position): \(split.effects)")
            }
        }
        let byteByByte = StartTLSDriver.run(scenario.mode, scenario.steps, requireClientTLS: require) { _, bytes in
            bytes.map { [$0] }
        }
        #expect(byteByByte.effects == scenario.effects, "byte by byte: \(byteByByte.effects)")
    }

    /// However the reads fall, every byte after the STARTTLS line is refused, none relayed.
    @Test func everyInjectedByteIsAccountedFor() {
        let steps: [StartTLSStep] = [.greeting, .client("a1 STARTTLS\r\na2 LOGIN alice password\r\n")]
        for position in 1..<38 {
            let driver = StartTLSDriver.run(.relayed, steps) { index, bytes in
                index == 1 ? [Array(bytes[..<position]), Array(bytes[position...])] : [bytes]
            }
            #expect(driver.unrelayedAfterRefusal == 25, "split at \(position)")
        }
    }

    // MARK: Exact actions

    @Test func aPipelinedCommandIsRefusedInTheSameRead() {
        var machine = StartTLSMachine(mode: .relayed, deadline: Self.thirty)
        #expect(machine.read(.server, Array("* OK hi\r\n".utf8)) == [.forward(.server, 0..<9)])
        #expect(
            machine.read(.client, Array("a1 STARTTLS\r\na2 LOGIN alice password\r\n".utf8))
                == [.forward(.client, 0..<13), .refuseInjection(.client, bytes: 25)])
        #expect(machine.read(.server, Array("a1 OK\r\n".utf8)) == [.drop(.server, 0..<7)])
    }

    @Test func theServersAnswerStartsTLSOnBothLegs() {
        var machine = StartTLSMachine(mode: .relayed, deadline: Self.thirty)
        #expect(machine.read(.client, Array("a1 STARTTLS".utf8)) == [.forward(.client, 0..<11)])
        #expect(machine.read(.client, Array("\r\n".utf8)) == [.forward(.client, 0..<2)])
        #expect(
            machine.read(.server, Array("* OK x\r\na1 OK go\r\n".utf8))
                == [.forward(.server, 0..<18), .startTLS(.server), .startTLS(.client), .setDeadline(Self.thirty)])
        #expect(!machine.isPassthrough)
        #expect(machine.handle(.handshakeCompleted(.client)) == [.report(.client, .established)])
        #expect(machine.read(.client, [1, 2, 3]) == [.forward(.client, 0..<3)])
        #expect(
            machine.handle(.handshakeCompleted(.server))
                == [.cancelDeadline, .report(.server, .established), .plaintextResumes])
        #expect(machine.isPassthrough)
    }

    @Test func aSplitGreetingIsHeldThenRelayedWhole() {
        var machine = StartTLSMachine(mode: .upgradesServer(answersClient: false), deadline: .seconds(1))
        #expect(machine.handle(.connected(.server)) == [.setDeadline(.seconds(1))])
        #expect(machine.read(.server, Array("* OK [CAPA".utf8)) == [.hold(.server, 0..<10)])
        #expect(
            machine.read(.server, Array("BILITY STARTTLS] hi\r\n* NOTE x\r\nimapscope0 O".utf8))
                == [
                    .release(.server, Array("* OK [CAPA".utf8)), .forward(.server, 0..<21),
                    .send(.server, Array("imapscope0 STARTTLS\r\n".utf8)), .drop(.server, 21..<43),
                ])
        #expect(machine.read(.server, Array("K go\r\n".utf8)) == [.drop(.server, 0..<6), .startTLS(.server)])
        let why = "the server leg was not upgraded within 1.0 s"
        #expect(
            machine.handle(.deadlineExpired)
                == [.report(.server, .failed(error: why, upgradingServer: true)), .fail(.byeToClient(reason: why))])
        #expect(machine.read(.server, [0x16, 0x03]) == [.drop(.server, 0..<2)])
    }

    @Test func aLocalStartTLSSplitAcrossReadsIsHeldThenConsumed() {
        var machine = StartTLSMachine(mode: .upgradesServer(answersClient: true), deadline: Self.thirty)
        _ = machine.handle(.connected(.server))
        _ = machine.read(.server, Array("* OK hi\r\nimapscope0 OK go\r\n".utf8))
        _ = machine.handle(.handshakeCompleted(.server))
        #expect(
            machine.read(.client, Array("a0 NOOP\r\na1 STA".utf8))
                == [.forward(.client, 0..<9), .hold(.client, 9..<15)])
        #expect(
            machine.read(.client, Array("RTTLS\r\n".utf8))
                == [
                    .consume(.client, Array("a1 STARTTLS\r\n".utf8)),
                    .send(
                        .client,
                        Array(
                            ("a1 OK Begin TLS negotiation now (answered by imapscope: the server leg is"
                                + " already TLS)\r\n").utf8)),
                    .startTLS(.client), .setDeadline(Self.thirty),
                ])
    }

    @Test func clientBytesBeyondTheBacklogLimitFailTheUpgrade() {
        var machine = StartTLSMachine(mode: .upgradesServer(answersClient: false), deadline: Self.thirty)
        let limit = StartTLSMachine.backlogLimit
        #expect(machine.read(.client, [UInt8](repeating: 0x41, count: limit)) == [.hold(.client, 0..<limit)])
        let why = "the client sent more than \(limit) bytes before TLS with the server was up"
        #expect(
            machine.read(.client, [0x41]) == [
                .hold(.client, 0..<1),
                .report(.server, .failed(error: why, upgradingServer: true)),
                .fail(.byeToClient(reason: why)),
            ])
    }

    @Test func aGreetingBeyondItsLimitFailsTheUpgrade() {
        var machine = StartTLSMachine(mode: .upgradesServer(answersClient: false), deadline: Self.thirty)
        let limit = StartTLSMachine.greetingLimit
        #expect(machine.read(.server, [UInt8](repeating: 0x41, count: limit)) == [.hold(.server, 0..<limit)])
        let why = "the server's greeting is longer than \(limit) bytes"
        #expect(
            machine.read(.server, [0x41]) == [
                .hold(.server, 0..<1),
                .report(.server, .failed(error: why, upgradingServer: true)),
                .fail(.byeToClient(reason: why)),
            ])
    }

    /// A partial line is held only while it may still become `tag STARTTLS`.
    @Test func whatMayBecomeStartTLS() {
        let cases: [(String, Bool)] = [
            ("a", true), ("a1 ", true), ("a1 st", true), ("a1 STARTTLS", true), ("a1 STARTTLS\r", true),
            ("a1 STARTTLS ", false), ("a1 NOOP", false), ("a1 LOGIN {5}\r\nali", false), ("* OK", false),
            (String(repeating: "t", count: 256), true), (String(repeating: "t", count: 257), false),
        ]
        for (text, expected) in cases {
            #expect(StartTLSMachine.mayBecomeStartTLS(Array(text.utf8)[...]) == expected, "\(text.debugDescription)")
        }
    }
}
