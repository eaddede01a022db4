import NIOCore
import Testing

@testable import IMAPProxy

extension StartTLSEffect {
    static let offered = StartTLSEffect.lint(.startTLSOffered)
    static func answeredLocally(_ tag: String) -> [StartTLSEffect] {
        [
            .consumed("\(tag) STARTTLS\r\n"), .localAnswer(tag), .startTLS(.client), .setDeadline(.seconds(30)),
            .cancelDeadline, .report(.client, .established), .plaintextResumes,
        ]
    }
    static func privacyRequired(_ tag: String) -> StartTLSEffect {
        .sent(
            .client,
            "\(tag) NO [PRIVACYREQUIRED] imapscope: the connection to imapscope is not encrypted;"
                + " use STARTTLS first (--require-client-tls)\r\n")
    }
}

extension StartTLSMachineTests {
    static let tlsGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"
    static let offeredGreeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN STARTTLS] Dovecot ready.\r\n"

    /// imapscope offers and answers STARTTLS in front of a TLS server leg (`imaps://` upstream, or
    /// `imap+starttls://` once upgraded); with `requireClientTLS` it refuses plaintext credentials.
    static let offerScenarios: [StartTLSScenario] = [
        .init(
            name: "imaps upstream: capability lists get STARTTLS until the client leg is TLS",
            mode: .serverLegTLS,
            steps: [
                .server(tlsGreeting), .client("a1 CAPABILITY\r\n"),
                .server("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\na1 OK Pre-login capabilities listed.\r\n"),
                .client("a2 STARTTLS\r\n"), .input(.handshakeCompleted(.client)), .client("a3 CAPABILITY\r\n"),
                .server("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK done\r\n"),
                .client("a4 LOGIN alice password\r\n"), .server("a4 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
            ],
            effects: [
                .relayed(.server, offeredGreeting), .offered, .relayed(.client, "a1 CAPABILITY\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN STARTTLS\r\n"), .offered,
                .relayed(.server, "a1 OK Pre-login capabilities listed.\r\n"),
            ] + StartTLSEffect.answeredLocally("a2") + [
                .relayed(.client, "a3 CAPABILITY\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na3 OK done\r\n"),
                .relayed(.client, "a4 LOGIN alice password\r\n"),
                .relayed(.server, "a4 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
            ]),
        .init(
            name: "imaps upstream: a tagged OK's capability code and an untagged OK's get STARTTLS too",
            mode: .serverLegTLS,
            steps: [
                .server("* OK ready\r\n"), .client("a1 NOOP\r\n"),
                .server("* OK [CAPABILITY IMAP4rev1] note\r\na1 OK [CAPABILITY IMAP4rev1 ID] NOOP done\r\n"),
            ],
            effects: [
                .relayed(.server, "* OK ready\r\n"), .relayed(.client, "a1 NOOP\r\n"),
                .relayed(.server, "* OK [CAPABILITY IMAP4rev1 STARTTLS] note\r\n"), .offered,
                .relayed(.server, "a1 OK [CAPABILITY IMAP4rev1 ID STARTTLS] NOOP done\r\n"), .offered,
            ]),
        .init(
            name: "imaps upstream: LOGIN on the plaintext client leg is reported, then nothing is rewritten",
            mode: .serverLegTLS,
            steps: [
                .server(tlsGreeting), .client("a1 LOGIN alice password\r\n"),
                .server("a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"), .client("a2 CAPABILITY\r\n"),
                .server("* CAPABILITY IMAP4rev1 IDLE\r\na2 OK done\r\n"),
            ],
            effects: [
                .relayed(.server, offeredGreeting), .offered, .relayed(.client, "a1 LOGIN alice password\r\n"),
                .lint(.clientLegPlaintext(command: "LOGIN", refused: false)),
                .relayed(.server, "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
                .relayed(.client, "a2 CAPABILITY\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1 IDLE\r\na2 OK done\r\n"),
            ]),
        .init(
            name: "imaps upstream: a list that has STARTTLS already is left alone", mode: .serverLegTLS,
            steps: [.server("* OK [CAPABILITY IMAP4rev1 starttls] hi\r\n* CAPABILITY STARTTLS IMAP4rev1\r\n")],
            effects: [
                .relayed(.server, "* OK [CAPABILITY IMAP4rev1 starttls] hi\r\n* CAPABILITY STARTTLS IMAP4rev1\r\n")
            ]
        ),
        .init(
            name: "require: LOGIN in plaintext is refused, after STARTTLS it goes on", mode: .serverLegTLS,
            steps: [
                .server(tlsGreeting), .client("a1 LOGIN alice password\r\n"), .client("a2 STARTTLS\r\n"),
                .input(.handshakeCompleted(.client)), .client("a3 LOGIN alice password\r\n"),
                .server("a3 OK Logged in\r\n"),
            ],
            effects: [
                .relayed(.server, offeredGreeting), .offered, .consumed("a1 LOGIN alice password\r\n"),
                .privacyRequired("a1"), .lint(.clientLegPlaintext(command: "LOGIN", refused: true)),
            ] + StartTLSEffect.answeredLocally("a2") + [
                .relayed(.client, "a3 LOGIN alice password\r\n"), .relayed(.server, "a3 OK Logged in\r\n"),
            ],
            requireClientTLS: true),
        .init(
            name: "require: a LOGIN waiting for '+' before its literal gets the NO instead",
            mode: .serverLegTLS,
            steps: [
                .server(tlsGreeting), .client("a0 NOOP\r\na1 LOGIN {5}\r\n"), .client("a2 LOGOUT\r\n"),
                .server("* BYE bye\r\na2 OK Logout completed.\r\n"),
            ],
            effects: [
                .relayed(.server, offeredGreeting), .offered, .relayed(.client, "a0 NOOP\r\n"),
                .consumed("a1 LOGIN {5}\r\n"), .privacyRequired("a1"),
                .lint(.clientLegPlaintext(command: "LOGIN", refused: true)),
                .relayed(.client, "a2 LOGOUT\r\n"), .relayed(.server, "* BYE bye\r\na2 OK Logout completed.\r\n"),
            ],
            requireClientTLS: true),
        .init(
            name: "require: AUTHENTICATE with an initial response and a LITERAL+ LOGIN are refused whole",
            mode: .serverLegTLS,
            steps: [
                .server(tlsGreeting), .client("a1 AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n"),
                .client("a2 login {5+}\r\nalice {8+}\r\npassword\r\na3 NOOP\r\n"),
            ],
            effects: [
                .relayed(.server, offeredGreeting), .offered,
                .consumed("a1 AUTHENTICATE PLAIN AGFsaWNlAHBhc3N3b3Jk\r\n"), .privacyRequired("a1"),
                .lint(.clientLegPlaintext(command: "AUTHENTICATE", refused: true)),
                .consumed("a2 login {5+}\r\nalice {8+}\r\npassword\r\n"), .privacyRequired("a2"),
                .lint(.clientLegPlaintext(command: "LOGIN", refused: true)), .relayed(.client, "a3 NOOP\r\n"),
            ],
            requireClientTLS: true),
        .init(
            name: "imap+starttls upstream: after imapscope's upgrade CAPABILITY gets STARTTLS back",
            mode: .upgradesServer(answersClient: true),
            steps: upgradeSteps + [
                .client("a1 CAPABILITY\r\n"), .server("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n"),
                .client("a2 STARTTLS\r\n"), .input(.handshakeCompleted(.client)),
            ],
            effects: upgradeEffects + [
                .relayed(.client, "a1 CAPABILITY\r\n"),
                .relayed(.server, "* CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS\r\n"), .offered,
                .relayed(.server, "a1 OK done\r\n"),
            ] + StartTLSEffect.answeredLocally("a2")),
    ]

    @Test func capabilityListsWithStartTLSAdded() {
        let cases: [(String, String?)] = [
            ("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS\r\n"),
            ("* capability IMAP4rev1\n", "* capability IMAP4rev1 STARTTLS\n"),
            ("* OK [CAPABILITY IMAP4rev1] ready\r\n", "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
            ("a1 OK [capability IMAP4rev1 X] done\r\n", "a1 OK [capability IMAP4rev1 X STARTTLS] done\r\n"),
            ("* CAPABILITY IMAP4rev1 STARTTLS\r\n", nil), ("* OK [CAPABILITY StartTLS IMAP4rev1] x\r\n", nil),
            ("* CAPABILITY IMAP4rev1 STARTTLSX\r\n", "* CAPABILITY IMAP4rev1 STARTTLSX STARTTLS\r\n"),
            ("* OK [CAPABILITYX IMAP4rev1] x\r\n", nil), ("* OK [ALERT] x\r\n", nil),
            ("a1 NO [CAPABILITY X] x\r\n", nil),
            ("* PREAUTH [CAPABILITY IMAP4rev1] x\r\n", nil), ("* 3 CAPABILITY X\r\n", nil), ("+ x\r\n", nil),
            ("* OK [CAPABILITY IMAP4rev1 x\r\n", nil),
        ]
        for (line, expected) in cases {
            let rewritten = StartTLSOffer.addingStartTLS(to: Array(line.utf8)).map {
                String(decoding: $0, as: UTF8.self)
            }
            #expect(rewritten == expected, "\(line.debugDescription)")
        }
    }

    /// With `requireClientTLS`, a partial line is held while it may be a LOGIN or AUTHENTICATE.
    @Test func whatMayBeAuthentication() {
        let cases: [(String, Bool)] = [
            ("a", true), ("a1 ", true), ("a1 LOG", true), ("a1 login", true), ("a1 LOGIN ", true),
            ("a1 LOGIN alice {5}\r\n", true), ("a1 AUTHENT", true), ("a1 AUTHENTICATE PLAIN", true),
            ("a1 LOG ", false), ("a1 LOGINX ", false), ("a1 NOOP", false), ("* OK", false), ("+ x", false),
        ]
        for (text, expected) in cases {
            #expect(StartTLSMachine.mayBeAuthentication(Array(text.utf8)[...]) == expected, "\(text.debugDescription)")
        }
    }

    @Test func whenAClientWaitsForAContinuation() {
        let cases: [(String, Bool)] = [
            ("a1 LOGIN {5}\r\n", true), ("a1 LOGIN {5}\n", true), ("a1 LOGIN alice {12}\r\n", true),
            ("a1 LOGIN {5+}\r\nal", false), ("a1 LOGIN {5-}\r\n", false), ("a1 LOGIN {}\r\n", false),
            ("a1 LOGIN {5}", false), ("a1 LOGIN }\r\n", false), ("a1 LOGIN alice x}\r\n", false),
        ]
        for (text, expected) in cases {
            #expect(StartTLSMachine.awaitsContinuation(Array(text.utf8)[...]) == expected, "\(text.debugDescription)")
        }
    }

    @Test func aServerLineIsHeldUntilItEnds() {
        var machine = StartTLSMachine(mode: .serverLegTLS, deadline: Self.thirty)
        #expect(
            machine.read(.server, Array("* OK hi\r\n* CAPA".utf8)) == [
                .forward(.server, 0..<9), .hold(.server, 9..<15),
            ])
        #expect(
            machine.read(.server, Array("BILITY X\r\n".utf8)) == [
                .drop(.server, 0..<10), .release(.server, Array("* CAPABILITY X STARTTLS\r\n".utf8)),
                .lint(.startTLSOffered),
            ])
        #expect(!machine.isPassthrough)
        _ = machine.read(.client, Array("a1 LOGIN a b\r\n".utf8))
        #expect(machine.isPassthrough)
    }
}
