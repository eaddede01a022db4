import IMAPCore
import NIOCore

/// STARTTLS on a proxied session (RFC 9051 §6.2.1), sans-I/O: fed each leg's reads and what
/// happened to its TLS, it answers with `StartTLSAction`s for a NIO handler to carry out. One
/// machine covers the three ways imapscope meets STARTTLS:
///
/// - `relayed` (imap listener, imap upstream): the client's STARTTLS and the server's answer are
///   relayed; after an OK imapscope upgrades the server leg (as its TLS client) and the client
///   leg (as its TLS server, with a leaf from its CA).
/// - `upgradesServer` (`imap+starttls://` upstream): imapscope sends its own STARTTLS after the
///   greeting and upgrades the server leg before any client byte goes out; the greeting is the
///   client's, the exchange is not.
/// - `upgradesServer(answersClient: true)` (and a plaintext listener): a client's STARTTLS cannot
///   be relayed to the upgraded server, so imapscope answers it (dir `proxy`) and upgrades the
///   client leg itself.
/// - `serverLegTLS` (`imaps://` upstream, plaintext listener): the server leg is TLS from the
///   start; imapscope answers the client's STARTTLS the same way.
///
/// Whenever imapscope answers the client's STARTTLS, it also offers it: until the client leg is
/// TLS or authenticated, the server's capability lists (from its TLS leg, so without STARTTLS)
/// are relayed with STARTTLS added (`StartTLSOffer`), each rewrite reported. A LOGIN or
/// AUTHENTICATE on the plaintext client leg is reported too, or with `requireClientTLS` refused
/// with `NO [PRIVACYREQUIRED]` before it reaches the server.
///
/// Bytes either side sends between STARTTLS and its handshake (the command-injection class) are
/// never relayed: the session is refused. Once a client authenticates, STARTTLS is no longer
/// possible and the machine only passes bytes on. One deadline covers the server leg's upgrade
/// and the handshakes after a STARTTLS.
struct StartTLSMachine {
    enum Mode: Equatable, Sendable {
        case relayed
        case upgradesServer(answersClient: Bool)
        case serverLegTLS
    }

    /// What happened on a leg besides bytes.
    enum Input: Equatable, Sendable {
        /// The leg's connection is up (the server leg's deadline starts here).
        case connected(ProxyLeg)
        case handshakeCompleted(ProxyLeg)
        /// An error on the leg (a TLS failure, a reset), explained.
        case error(ProxyLeg, String)
        /// The peer half-closed: a line held back goes on as it is.
        case inputClosed(ProxyLeg)
        /// The leg's connection is gone.
        case closed(ProxyLeg)
        case deadlineExpired
    }

    /// The tag of imapscope's own STARTTLS to the server.
    static let ownTag = "imapscope0"
    static let greetingLimit = 64 * 1024
    /// Client bytes held while imapscope upgrades the server leg.
    static let backlogLimit = 1 << 20
    /// `requireClientTLS`: the most of a LOGIN or AUTHENTICATE held while it is not complete.
    static let authenticationHoldLimit = 64 * 1024

    private enum ClientState: Equatable {
        /// Looking at each line for STARTTLS (and LOGIN/AUTHENTICATE, which end the looking).
        case watching
        /// Relayed STARTTLS sent, not answered yet: nothing more may come before the handshake.
        case requested(tag: [UInt8])
        case handshaking
        case passthrough
    }

    private enum ServerState: Equatable {
        /// `upgradesServer`: waiting for the greeting, then for the answer to imapscope's STARTTLS.
        case greeting, awaitingAnswer
        /// `relayed`: looking for the answer to the client's STARTTLS and to LOGIN/AUTHENTICATE.
        case watching
        case handshaking
        case passthrough
    }

    let mode: Mode
    let deadline: TimeAmount
    /// Refuse LOGIN and AUTHENTICATE on a plaintext client leg (when imapscope answers STARTTLS).
    let requireClientTLS: Bool
    private var client: ClientState
    private var server: ServerState
    private var ended = false
    private var deadlineArmed = false
    private var clientLines = LineCutter()
    private var serverLines = LineCutter()
    /// Tags of the client's LOGIN and AUTHENTICATE commands (relayed): an OK to one ends the watching.
    private var authenticationTags: Set<[UInt8]> = []
    /// `answersClient`: the start of a client line that may still become `tag STARTTLS`.
    private var heldLine: [UInt8] = []
    /// `upgradesServer`: the greeting's bytes so far.
    private var heldGreeting: [UInt8] = []
    /// `upgradesServer`: client bytes waiting for the server leg's TLS.
    private var backlog: [UInt8] = []
    /// While imapscope offers STARTTLS: the start of a server line, relayed once it is whole.
    private var heldServerLine: [UInt8] = []

    init(mode: Mode, deadline: TimeAmount, requireClientTLS: Bool = false) {
        self.mode = mode
        self.deadline = deadline
        self.requireClientTLS = requireClientTLS
        switch mode {
        case .relayed:
            client = .watching
            server = .watching
        case .upgradesServer(let answersClient):
            client = answersClient ? .watching : .passthrough
            server = .greeting
        case .serverLegTLS:
            client = .watching
            server = .passthrough
        }
    }

    /// Nothing left to look at: reads go on untouched (the handler may skip the machine).
    var isPassthrough: Bool {
        !ended && client == .passthrough && server == .passthrough && heldServerLine.isEmpty
    }

    private var upgradesServer: Bool {
        if case .upgradesServer = mode { return true }
        return false
    }
    private var answersClient: Bool { mode == .upgradesServer(answersClient: true) || mode == .serverLegTLS }
    /// The server leg is TLS and the client leg plaintext and not authenticated: capability
    /// lists get STARTTLS.
    private var offersStartTLS: Bool { answersClient && client == .watching && server == .passthrough }

    // MARK: Reads

    mutating func read(_ leg: ProxyLeg, _ bytes: [UInt8]) -> [StartTLSAction] {
        var actions: [StartTLSAction] = []
        guard !ended else { return bytes.isEmpty ? [] : [.drop(leg, 0..<bytes.count)] }
        switch leg {
        case .client: readClient(bytes, into: &actions)
        case .server: readServer(bytes, into: &actions)
        }
        return actions
    }

    private mutating func readClient(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        switch client {
        case .passthrough:
            relayClient(bytes, 0..<bytes.count, into: &actions)
        case .requested, .handshaking:
            refuse(.client, bytes.count, into: &actions)
        case .watching where upgradesServer && server != .passthrough:
            // Looked at once the server leg is up, as if they arrived then: a STARTTLS imapscope
            // answers stays in order with the commands before it.
            relayClient(bytes, 0..<bytes.count, into: &actions)
        case .watching:
            watchClient(bytes, into: &actions)
        }
    }

    /// Offsets below are in `pending`, the held line start (if any) and this read; nothing in it
    /// has been relayed yet.
    private mutating func watchClient(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        let held = heldLine.count
        let pending = held == 0 ? bytes : heldLine + bytes
        let total = pending.count
        // Offsets in `pending` up to which bytes were relayed or consumed.
        var accounted = 0
        for line in clientLines.lines(in: bytes) {
            guard let head = line.head, head.kind == .tagged else { continue }
            let end = held + line.end
            let start = end - line.wireBytes
            let name = head.upperWord(in: line.text) ?? ""
            if name == "LOGIN" || name == "AUTHENTICATE" {
                guard answersClient else {
                    authenticationTags.insert(head.tagBytes(in: line.text))
                    continue
                }
                if requireClientTLS, start >= accounted {
                    relayClientRange(bytes, accounted..<start, into: &actions)
                    let command = Array(pending[start..<end])
                    refuseAuthentication(command, tag: head.tagString(in: line.text), name, into: &actions)
                    accounted = end
                    continue
                }
                // Not allowed after authentication (RFC 9051 §6.2.1): nothing more to look for. The
                // warning follows the command's line, before whatever came after it.
                client = .passthrough
                relayClientRange(bytes, accounted..<end, into: &actions)
                actions.append(.lint(.clientLegPlaintext(command: name, refused: false)))
                relayClientRange(bytes, end..<total, into: &actions)
                heldLine = []
                return
            }
            guard head.wordIs("STARTTLS", in: line.text), head.endsLine else { continue }
            if !answersClient {
                relayClientRange(bytes, accounted..<end, into: &actions)
                client = .requested(tag: head.tagBytes(in: line.text))
            } else if start >= accounted {
                relayClientRange(bytes, accounted..<start, into: &actions)
                answerStartTLS(command: Array(pending[start..<end]), tag: head.tagString(in: line.text), into: &actions)
            } else {
                continue  // began in bytes already relayed: it goes to the server as it is
            }
            heldLine = []
            if total > end { refuse(.client, total - end, into: &actions) }
            return
        }
        // A line start that may still become a STARTTLS (or, with requireClientTLS, a LOGIN or
        // AUTHENTICATE) waits for the rest (answersClient only: a relayed STARTTLS goes on as it comes).
        let unfinished = clientLines.carried
        let partialStart = total - unfinished
        let partial = pending[max(partialStart, 0)...]
        if answersClient, unfinished > 0, partialStart >= accounted,
            Self.mayBecomeStartTLS(partial) || (requireClientTLS && Self.mayBeAuthentication(partial))
        {
            relayClientRange(bytes, accounted..<partialStart, into: &actions)
            if requireClientTLS, let head = LineHead(partial), let name = head.upperWord(in: partial),
                Self.awaitsContinuation(partial) || partial.count > Self.authenticationHoldLimit
            {
                // The client waits for a '+' before its literal: it gets the NO instead.
                refuseAuthentication(Array(partial), tag: head.tagString(in: partial), name, into: &actions)
                clientLines = LineCutter()
                heldLine = []
                return
            }
            let newlyHeld = max(held, partialStart)
            if total > newlyHeld { actions.append(.hold(.client, (newlyHeld - held)..<bytes.count)) }
            heldLine = Array(partial)
        } else {
            relayClientRange(bytes, accounted..<total, into: &actions)
            heldLine = []
        }
    }

    /// `requireClientTLS`: a LOGIN or AUTHENTICATE on the plaintext client leg is answered by
    /// imapscope and never relayed (the client may still STARTTLS and try again).
    private func refuseAuthentication(
        _ command: [UInt8], tag: String, _ name: String, into actions: inout [StartTLSAction]
    ) {
        let answer =
            "\(tag) NO [PRIVACYREQUIRED] imapscope: the connection to imapscope is not encrypted;"
            + " use STARTTLS first (--require-client-tls)\r\n"
        actions.append(.consume(.client, command))
        actions.append(.send(.client, Array(answer.utf8)))
        actions.append(.lint(.clientLegPlaintext(command: name, refused: true)))
    }

    /// Whether an unfinished line may be, or still become, `tag LOGIN …` or `tag AUTHENTICATE …`.
    static func mayBeAuthentication(_ partial: ArraySlice<UInt8>) -> Bool {
        guard let head = LineHead(partial), head.kind == .tagged else { return false }
        guard head.word != nil, head.end < partial.count else {
            return head.wordCouldBecome("LOGIN", in: partial) || head.wordCouldBecome("AUTHENTICATE", in: partial)
        }
        return head.wordIs("LOGIN", in: partial) || head.wordIs("AUTHENTICATE", in: partial)
    }

    /// Whether an unfinished command's first line ends with a synchronizing literal `{n}`: its
    /// client sends nothing more until a '+'.
    static func awaitsContinuation(_ partial: ArraySlice<UInt8>) -> Bool {
        guard let lf = partial.firstIndex(of: 0x0A) else { return false }
        var end = lf
        if end > partial.startIndex, partial[end - 1] == 0x0D { end -= 1 }
        guard end > partial.startIndex, partial[end - 1] == UInt8(ascii: "}") else { return false }
        var index = end - 2
        while index > partial.startIndex, (0x30...0x39).contains(partial[index]) { index -= 1 }
        return index < end - 2 && partial[index] == UInt8(ascii: "{")
    }

    /// Whether an unfinished line could still end as `tag STARTTLS`: a tag, maybe a space and the
    /// start of the word, nothing else (so at most a tag's 256 bytes and ten more are held).
    static func mayBecomeStartTLS(_ partial: ArraySlice<UInt8>) -> Bool {
        guard !partial.contains(0x0A), let head = LineHead(partial) else { return false }
        return head.kind == .tagged && head.endsLine && head.wordCouldBecome("STARTTLS", in: partial)
    }

    /// Relays `range` of `heldLine + bytes`: the held part as released bytes, the rest as part of
    /// this read.
    private mutating func relayClientRange(
        _ bytes: [UInt8], _ range: Range<Int>,
        into actions: inout [StartTLSAction]
    ) {
        let held = heldLine.count
        guard !range.isEmpty else { return }
        if range.lowerBound < held {
            let part = Array(heldLine[range.lowerBound..<min(held, range.upperBound)])
            if server == .passthrough || !upgradesServer {
                actions.append(.release(.client, part))
            } else {
                backlog += part  // held already; now it waits for the server leg
            }
        }
        let fresh = max(range.lowerBound, held)..<range.upperBound
        guard !fresh.isEmpty else { return }
        relayClient(bytes, (fresh.lowerBound - held)..<(fresh.upperBound - held), into: &actions)
    }

    /// Client bytes of this read go on, or wait while imapscope upgrades the server leg.
    private mutating func relayClient(_ bytes: [UInt8], _ range: Range<Int>, into actions: inout [StartTLSAction]) {
        guard !range.isEmpty else { return }
        guard upgradesServer, server != .passthrough else {
            actions.append(.forward(.client, range))
            return
        }
        actions.append(.hold(.client, range))
        backlog += bytes[range]
        if backlog.count > Self.backlogLimit {
            let why = "the client sent more than \(Self.backlogLimit) bytes before TLS with the server was up"
            serverUpgradeFailed(why, into: &actions)
        }
    }

    /// imapscope answers the client's STARTTLS and starts TLS on its leg in the same tick.
    private mutating func answerStartTLS(command: [UInt8], tag: String, into actions: inout [StartTLSAction]) {
        let answer = "\(tag) OK Begin TLS negotiation now (answered by imapscope: the server leg is already TLS)\r\n"
        actions.append(.consume(.client, command))
        actions.append(.send(.client, Array(answer.utf8)))
        actions.append(.startTLS(.client))
        client = .handshaking
        armDeadline(into: &actions)
    }

    private mutating func readServer(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        switch server {
        case .passthrough where offersStartTLS || !heldServerLine.isEmpty:
            offerStartTLS(bytes, into: &actions)
        case .passthrough:
            actions.append(.forward(.server, 0..<bytes.count))
        case .handshaking:
            plaintextBeforeHandshake(0..<bytes.count, into: &actions)
        case .greeting, .awaitingAnswer:
            upgradeServer(bytes, into: &actions)
        case .watching:
            watchServer(bytes, into: &actions)
        }
    }

    /// imapscope offers STARTTLS: server lines go on whole, each capability list with STARTTLS
    /// added. A line start waits for its end (up to `greetingLimit` bytes, then it goes on as it is).
    private mutating func offerStartTLS(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        let held = heldServerLine.count
        guard offersStartTLS else {
            // The client leg is TLS or authenticated now: what was held goes on, nothing more is.
            if held > 0 { actions.append(.release(.server, heldServerLine)) }
            heldServerLine = []
            actions.append(.forward(.server, 0..<bytes.count))
            return
        }
        let pending = held == 0 ? bytes : heldServerLine + bytes
        var accounted = 0
        for line in serverLines.lines(in: bytes) {
            let end = held + line.end
            let start = end - line.wireBytes
            guard start >= accounted, let rewritten = StartTLSOffer.addingStartTLS(to: Array(pending[start..<end])),
                !pending[start..<(end - 1)].contains(0x0A)
            else { continue }
            relayServerRange(bytes, accounted..<start, into: &actions)
            if end > held { actions.append(.drop(.server, max(start, held) - held..<end - held)) }
            actions.append(.release(.server, rewritten))
            actions.append(.lint(.startTLSOffered))
            accounted = end
        }
        let partialStart = pending.count - serverLines.carried
        if serverLines.carried > 0, partialStart >= accounted, serverLines.carried <= Self.greetingLimit {
            relayServerRange(bytes, accounted..<partialStart, into: &actions)
            let newlyHeld = max(held, partialStart)
            if pending.count > newlyHeld { actions.append(.hold(.server, (newlyHeld - held)..<bytes.count)) }
            heldServerLine = Array(pending[partialStart...])
        } else {
            relayServerRange(bytes, accounted..<pending.count, into: &actions)
            heldServerLine = []
        }
    }

    /// Relays `range` of `heldServerLine + bytes`: the held part as released bytes.
    private func relayServerRange(_ bytes: [UInt8], _ range: Range<Int>, into actions: inout [StartTLSAction]) {
        let held = heldServerLine.count
        guard !range.isEmpty else { return }
        if range.lowerBound < held {
            actions.append(.release(.server, Array(heldServerLine[range.lowerBound..<min(held, range.upperBound)])))
        }
        let fresh = max(range.lowerBound, held)..<range.upperBound
        if !fresh.isEmpty { actions.append(.forward(.server, (fresh.lowerBound - held)..<(fresh.upperBound - held))) }
    }

    /// `relayed`: the server's answers to STARTTLS and to LOGIN/AUTHENTICATE.
    private mutating func watchServer(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        var relayed = 0
        for line in serverLines.lines(in: bytes) {
            guard let head = line.head, head.kind == .tagged else { continue }
            let ok = head.wordIs("OK", in: line.text)
            if !authenticationTags.isEmpty, authenticationTags.remove(head.tagBytes(in: line.text)) != nil, ok,
                client == .watching
            {
                client = .passthrough
                server = .passthrough
                break
            }
            guard case .requested(let tag) = client, head.tagIs(tag, in: line.text) else { continue }
            actions.append(.forward(.server, relayed..<line.end))
            relayed = line.end
            guard ok else {
                client = .watching
                continue
            }
            // Server leg first (the OK is on its way to the client in plaintext), then the client leg.
            client = .handshaking
            server = .handshaking
            actions.append(.startTLS(.server))
            actions.append(.startTLS(.client))
            armDeadline(into: &actions)
            if bytes.count > line.end { plaintextBeforeHandshake(line.end..<bytes.count, into: &actions) }
            return
        }
        if bytes.count > relayed { actions.append(.forward(.server, relayed..<bytes.count)) }
    }

    /// `upgradesServer`: the greeting goes to the client whole; imapscope's STARTTLS and the
    /// server's answer (and anything untagged before it) stay between imapscope and the server.
    private mutating func upgradeServer(_ bytes: [UInt8], into actions: inout [StartTLSAction]) {
        var accounted = 0
        for line in serverLines.lines(in: bytes) {
            let head = line.head
            if server == .greeting {
                if !heldGreeting.isEmpty { actions.append(.release(.server, heldGreeting)) }
                heldGreeting = []
                actions.append(.forward(.server, 0..<line.end))
                accounted = line.end
                guard let head, head.kind == .untagged, head.wordIs("OK", in: line.text) else {
                    let text = String(decoding: line.text.prefix(80), as: UTF8.self)
                    dropRest(bytes, from: accounted, into: &actions)
                    serverUpgradeFailed("the server's greeting is not * OK: \(text)", into: &actions)
                    return
                }
                actions.append(.send(.server, Array("\(Self.ownTag) STARTTLS\r\n".utf8)))
                server = .awaitingAnswer
                continue
            }
            guard let head, head.tagIs(Self.ownTag.utf8, in: line.text) else { continue }
            actions.append(.drop(.server, accounted..<line.end))
            accounted = line.end
            guard head.wordIs("OK", in: line.text) else {
                let text = String(decoding: line.text.prefix(120), as: UTF8.self)
                dropRest(bytes, from: accounted, into: &actions)
                serverUpgradeFailed("the server refused STARTTLS: \(text)", into: &actions)
                return
            }
            server = .handshaking
            actions.append(.startTLS(.server))
            if bytes.count > line.end { plaintextBeforeHandshake(line.end..<bytes.count, into: &actions) }
            return
        }
        guard bytes.count > accounted else { return }
        if server == .greeting {
            actions.append(.hold(.server, accounted..<bytes.count))
            heldGreeting += bytes[accounted...]
            if heldGreeting.count > Self.greetingLimit {
                serverUpgradeFailed("the server's greeting is longer than \(Self.greetingLimit) bytes", into: &actions)
            }
        } else {
            actions.append(.drop(.server, accounted..<bytes.count))
        }
    }

    /// Server bytes after the answer that started TLS, in its read or a later one: the same either way.
    private mutating func plaintextBeforeHandshake(_ range: Range<Int>, into actions: inout [StartTLSAction]) {
        guard upgradesServer else {
            refuse(.server, range.count, into: &actions)
            return
        }
        actions.append(.drop(.server, range))
        serverUpgradeFailed("the server sent plaintext after its STARTTLS OK", into: &actions)
    }

    private func dropRest(_ bytes: [UInt8], from offset: Int, into actions: inout [StartTLSAction]) {
        if bytes.count > offset { actions.append(.drop(.server, offset..<bytes.count)) }
    }

    // MARK: Everything else

    mutating func handle(_ input: Input) -> [StartTLSAction] {
        var actions: [StartTLSAction] = []
        guard !ended else { return actions }
        switch input {
        case .connected(let leg):
            if leg == .server, upgradesServer, server == .greeting { armDeadline(into: &actions) }
        case .handshakeCompleted(let leg):
            handshakeCompleted(leg, into: &actions)
        case .error(let leg, let reason):
            failed(leg, reason, into: &actions)
        case .inputClosed(let leg):
            releaseHeldLine(leg, into: &actions)
        case .closed(let leg):
            // The relay closes the other leg in turn; no deadline is needed any more.
            releaseHeldLine(leg, into: &actions)
            if isHandshaking(leg) { failed(leg, "connection closed during the TLS handshake", into: &actions) }
            disarmDeadline(into: &actions)
        case .deadlineExpired:
            deadlineExpired(into: &actions)
        }
        return actions
    }

    private func isHandshaking(_ leg: ProxyLeg) -> Bool {
        leg == .client ? client == .handshaking : server == .handshaking
    }

    private mutating func handshakeCompleted(_ leg: ProxyLeg, into actions: inout [StartTLSAction]) {
        guard isHandshaking(leg) else { return }  // implicit TLS: its own handler reports it
        if leg == .server && upgradesServer {
            server = .passthrough
            settleDeadline(into: &actions)
            actions.append(.report(.server, .upgradedByImapscope))
            actions.append(.serverLegUpgraded)
            releaseBacklog(into: &actions)
            return
        }
        if leg == .client { client = .passthrough } else { server = .passthrough }
        settleDeadline(into: &actions)
        actions.append(.report(leg, .established))
        // Relayed: once both legs are done; answered locally: the client leg's is the only one.
        if client == .passthrough && (server == .passthrough || answersClient) { actions.append(.plaintextResumes) }
    }

    /// The client bytes that waited for the server leg: relayed, or (when imapscope may answer a
    /// STARTTLS among them) looked at now as one read whose ranges become released bytes.
    private mutating func releaseBacklog(into actions: inout [StartTLSAction]) {
        let waiting = backlog
        backlog = []
        guard !waiting.isEmpty else { return }
        guard client == .watching else {
            actions.append(.release(.client, waiting))
            return
        }
        var seen: [StartTLSAction] = []
        watchClient(waiting, into: &seen)
        for action in seen {
            switch action {
            case .forward(let leg, let range): actions.append(.release(leg, Array(waiting[range])))
            case .hold, .drop: break  // no read to point into: the machine keeps its own copy
            default: actions.append(action)
            }
        }
    }

    private mutating func failed(_ leg: ProxyLeg, _ reason: String, into actions: inout [StartTLSAction]) {
        if leg == .server && upgradesServer && server != .passthrough {
            serverUpgradeFailed("TLS with the real server failed: \(reason)", into: &actions)
        } else if isHandshaking(leg) {
            handshakeFailed([leg], reason, into: &actions)
        }
    }

    private mutating func deadlineExpired(into actions: inout [StartTLSAction]) {
        guard deadlineArmed else { return }
        deadlineArmed = false
        let seconds = Double(deadline.nanoseconds) / 1e9
        let within = "within \(Decimal.format(seconds, seconds < 10 ? 1 : 0)) s"
        if upgradesServer && server != .passthrough {
            serverUpgradeFailed("the server leg was not upgraded \(within)", into: &actions)
            return
        }
        let late = ProxyLeg.allCases.reversed().filter(isHandshaking)
        if !late.isEmpty { handshakeFailed(late, "no TLS handshake \(within)", into: &actions) }
    }

    /// The handshake after a STARTTLS failed on `legs` (the first names the session's end).
    private mutating func handshakeFailed(_ legs: [ProxyLeg], _ reason: String, into actions: inout [StartTLSAction]) {
        guard let first = legs.first else { return }
        disarmDeadline(into: &actions)
        for leg in legs { actions.append(.report(leg, .failed(error: reason, upgradingServer: false))) }
        let end =
            first == .server
            ? "TLS with the real server failed after STARTTLS: \(reason)"
            : "the client's TLS handshake after STARTTLS failed"
        actions.append(.fail(.endSession(reason: end)))
        ended = true
    }

    /// imapscope's own upgrade of the server leg failed: the client hears why.
    private mutating func serverUpgradeFailed(_ why: String, into actions: inout [StartTLSAction]) {
        disarmDeadline(into: &actions)
        actions.append(.report(.server, .failed(error: why, upgradingServer: true)))
        actions.append(.fail(.byeToClient(reason: why)))
        ended = true
    }

    private mutating func refuse(_ leg: ProxyLeg, _ count: Int, into actions: inout [StartTLSAction]) {
        disarmDeadline(into: &actions)
        actions.append(.refuseInjection(leg, bytes: count))
        ended = true
    }

    private mutating func releaseHeldLine(_ leg: ProxyLeg, into actions: inout [StartTLSAction]) {
        if leg == .server {
            if !heldServerLine.isEmpty { actions.append(.release(.server, heldServerLine)) }
            heldServerLine = []
            return
        }
        guard !heldLine.isEmpty, client == .watching else { return }
        relayClientRange([], 0..<heldLine.count, into: &actions)
        heldLine = []
    }

    private mutating func armDeadline(into actions: inout [StartTLSAction]) {
        guard !deadlineArmed else { return }
        deadlineArmed = true
        actions.append(.setDeadline(deadline))
    }

    /// Whether a TLS upgrade is under way that the deadline covers.
    private var awaitsTLS: Bool {
        client == .handshaking || server == .handshaking || (upgradesServer && server != .passthrough)
    }

    /// Cancels the deadline once nothing it covers is left.
    private mutating func settleDeadline(into actions: inout [StartTLSAction]) {
        if !awaitsTLS { disarmDeadline(into: &actions) }
    }

    private mutating func disarmDeadline(into actions: inout [StartTLSAction]) {
        guard deadlineArmed else { return }
        deadlineArmed = false
        actions.append(.cancelDeadline)
    }
}
