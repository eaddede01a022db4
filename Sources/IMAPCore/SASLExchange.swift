/// One AUTHENTICATE's exchange after the command line (RFC 4422, RFC 9051 §6.2.2): server
/// challenges (`+ …`) and client responses, until the tagged completion. Each message in gives
/// the typed `sasl` event and what of it is secret; the decoder only wraps it with the line.
struct SASLExchange {
    let tag: String
    let mechanism: String
    /// Messages so far, both directions (an initial response counts as the first).
    private(set) var step: Int
    private var clientMessages: Int
    /// The server's last message is still unanswered.
    private(set) var clientOwes = false
    /// The server's last challenge, decoded, when it is printable (LOGIN's prompts).
    private var lastChallenge = ""

    init(tag: String, mechanism: String, initialResponse: Bool) {
        self.tag = tag
        self.mechanism = mechanism
        step = initialResponse ? 1 : 0
        clientMessages = initialResponse ? 1 : 0
    }

    /// What one message says: the event, the secret bytes its `payload` summarises (nil when
    /// nothing in it is secret), whether the whole line is secret, and the annotation.
    struct Message {
        var event: SASLEvent
        var secret: [UInt8]?
        var lineIsSecret = false
        var annotation: String?
    }

    /// A client line while the exchange runs: `*` cancels; anything else is a response, secret whole.
    mutating func clientResponse(_ text: [UInt8]) -> Message {
        step += 1
        clientOwes = false
        var event = SASLEvent(tag: tag, mechanism: mechanism, step: step)
        if text == [UInt8(ascii: "*")] {
            event.cancelled = true
            return Message(event: event, annotation: "the client cancels the authentication")
        }
        let payload = Base64.decode(String(decoding: text, as: UTF8.self))
        // LOGIN's first answer is the user only when the server asked for one ("Username:"):
        // a server (or a capture) that asks for the password first must not make it a user name.
        let loginAnswersPassword = mechanism == "LOGIN" && !lastChallenge.lowercased().hasPrefix("user")
        if let bytes = payload, !loginAnswersPassword,
            let user = SASL.user(mechanism: mechanism, step: clientMessages + 1, payload: bytes)
        {
            event.user = user
        }
        if let bytes = payload, let authzid = SASL.authzid(mechanism: mechanism, payload: bytes) {
            event.authzid = authzid
        }
        if payload == nil { event.base64 = false }
        clientMessages += 1
        return Message(
            event: event, secret: payload ?? text, lineIsSecret: true,
            annotation: "SASL \(mechanism) response \(clientMessages)")
    }

    /// A server continuation (`+ text`) while the exchange runs.
    mutating func serverMessage(_ text: String) -> Message {
        step += 1
        clientOwes = true
        let raw = Array(text.utf8)
        let payload = Base64.decode(text) ?? raw
        var event = SASLEvent(tag: tag, mechanism: mechanism, step: step)
        let shown = SASL.showableChallenge(mechanism: mechanism, payload: payload)
        lastChallenge = shown ?? ""
        if let shown {
            event.challenge = shown
            return Message(event: event, annotation: "SASL \(mechanism) challenge")
        }
        if raw.isEmpty {
            return Message(event: event, annotation: "SASL \(mechanism): the server waits for the client's response")
        }
        // Server messages (DIGEST-MD5 rspauth, SCRAM's signature) are derived from the password.
        return Message(
            event: event, secret: payload, lineIsSecret: true,
            annotation: "SASL \(mechanism) server message")
    }
}
