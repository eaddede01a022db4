import IMAPCore

/// One proxied session's faults, sans-I/O: fed the bytes each peer sent (split anywhere) and
/// the time, it says what the relay does with them (`FaultEffect`): forward, hold, send
/// imapscope's own bytes, close, reset, stall, wake it later. Same rules, same session number,
/// same traffic, same faults: randomness comes from a seeded `FaultRandom` per rule.
///
/// Client bytes go on at once, cut only where a command fires a rule (which acts once the
/// command has gone to the server). The server's bytes go through a `FaultGate` (delay,
/// throttle) and, while a `respond` or `inject` waits for a command's completion, a line that
/// may be that completion is held until it ends (at most `heldLineLimit` bytes) so it can be
/// replaced or preceded. `respond` never keeps a command from the server: the server runs it
/// and imapscope replaces its tagged completion. After COMPRESS, command rules stop matching
/// (the streams are compressed); byte and time triggers still fire.
struct FaultEngine {
    static let heldLineLimit = 64 << 10
    /// The relay stops reading the server while this much waits in the gate.
    static let queueLimit = 1 << 20

    private struct RuleState {
        var rule: FaultRule
        var count = 0
        var random: FaultRandom?
        var fired = false
    }

    private enum Completion {
        case respond(FaultStatus, String)
        case inject(String)
    }

    /// A fired rule waiting for its command's tagged completion.
    private struct Pending {
        var tag: [UInt8]
        var command: String
        var rule: Int
        var completion: Completion

        var isInject: Bool {
            if case .inject = completion { return true }
            return false
        }
    }

    private struct ArmedCut {
        var scan: FaultCutScan
        var rule: Int
        var tag: String?
        var command: String?
    }

    private enum LineDecision { case undecided, pass, hold }

    let session: Int
    private var rules: [RuleState]
    private let start: UInt64
    private var clientLines = LineCutter()
    private var serverLines = LineCutter()
    private var clientCount = 0
    private var serverCount = 0
    private var pending: [Pending] = []
    private var lineDecision = LineDecision.undecided
    private var heldLine: [UInt8] = []
    private var cut: ArmedCut?
    private var gate = FaultGate()
    /// Untagged lines from byte or time triggers, sent at the server's next line boundary.
    private var boundaryInjects: [[UInt8]] = []
    private var compressTag: [UInt8]?
    private var clientOpaque = false
    private var serverOpaque = false
    /// Command rules are given: COMPRESS is taken out of the server's capabilities.
    private let hidesCompress: Bool
    private var compressHidden = false
    private(set) var stalled = false
    private(set) var closed = false
    private var effects: [FaultEffect] = []
    private var lastWake: UInt64?

    /// `session`: the proxy's session number (1-based); `now`: when the session started.
    init(rules: [FaultRule], session: Int, now: UInt64) {
        self.session = session
        start = now
        hidesCompress = rules.contains { $0.match.trigger.isCommand }
        self.rules = rules.map { rule in
            RuleState(rule: rule, random: rule.match.probability.map { FaultRandom(seed: $0.seed, session: session) })
        }
    }

    /// The first wake-up (for `after 30s` rules), at the session's start.
    mutating func begin() -> [FaultEffect] {
        release(now: start)
        return takeEffects()
    }

    /// Bytes waiting for the client.
    var queuedBytes: Int { gate.queuedBytes + heldLine.count }

    /// Whether the relay may read more from this leg's peer. A stalled session goes on reading
    /// (and dropping) what comes, so that a peer that gives up and closes is noticed.
    func admitsRead(from leg: ProxyLeg) -> Bool {
        guard !closed else { return false }
        return stalled || leg == .client || gate.queuedBytes < Self.queueLimit
    }

    // MARK: Input

    mutating func received(from leg: ProxyLeg, _ bytes: [UInt8], now: UInt64) -> [FaultEffect] {
        guard !closed, !stalled, !bytes.isEmpty else { return [] }
        if leg == .client { client(bytes, now: now) } else { server(bytes, now: now) }
        release(now: now)
        return takeEffects()
    }

    /// A deadline came.
    mutating func tick(now: UInt64) -> [FaultEffect] {
        if let wake = lastWake, now >= wake { lastWake = nil }
        guard !closed, !stalled else { return takeEffects() }
        for ruleIndex in rules.indices {
            guard case .elapsed(let elapsed) = rules[ruleIndex].rule.match.trigger, !rules[ruleIndex].fired,
                now >= start + elapsed.nanoseconds
            else { continue }
            rules[ruleIndex].fired = true
            guard counts(ruleIndex) else { continue }
            apply(ruleIndex, command: nil, now: now, at: "\(elapsed) into the session")
            if closed || stalled { return takeEffects() }
        }
        release(now: now)
        return takeEffects()
    }

    /// The peer of `leg` closed or half-closed: what waits for the other leg goes now, before
    /// the relay passes the close on.
    mutating func peerEnded(_ leg: ProxyLeg) -> [FaultEffect] {
        guard !closed, !stalled, leg == .server else { return [] }
        if !heldLine.isEmpty { gate.append(.relayed(heldLine)) }
        heldLine = []
        send(gate.drain())
        return takeEffects()
    }

    // MARK: Client

    private mutating func client(_ bytes: [UInt8], now: UInt64) {
        let lines = clientOpaque ? [] : clientLines.lines(in: bytes)
        var sent = 0
        for line in lines {
            guard !clientOpaque, let command = FaultCommandLine(line.text) else { continue }
            if command.name == "COMPRESS" {
                compressTag = command.tag
                clientOpaque = true
            }
            let fired = rules.indices.filter { ruleFires($0, for: command) }
            guard !fired.isEmpty else { continue }
            forwardClient(bytes, from: sent, to: line.end, now: now)
            sent = line.end
            for i in fired {
                apply(i, command: command, now: now, at: nil)
                if closed || stalled { return }
            }
        }
        forwardClient(bytes, from: sent, to: bytes.count, now: now)
    }

    /// Forwards `bytes[from..<to]` to the server, stopping where a byte trigger fires.
    private mutating func forwardClient(_ bytes: [UInt8], from: Int, to: Int, now: UInt64) {
        var offset = from
        while offset < to, !closed, !stalled {
            let stop = offset + min(to - offset, bytesUntilTrigger(.client))
            effects.append(.forward(to: .server, Array(bytes[offset..<stop])))
            clientCount += stop - offset
            offset = stop
            fireByteTriggers(.client, now: now)
        }
    }

    private mutating func ruleFires(_ ruleIndex: Int, for command: FaultCommandLine) -> Bool {
        guard case .command(let pattern) = rules[ruleIndex].rule.match.trigger, command.matches(pattern) else {
            return false
        }
        if let ruleSession = rules[ruleIndex].rule.match.session, ruleSession != session { return false }
        rules[ruleIndex].count += 1
        guard rules[ruleIndex].rule.match.occurrence.counts(rules[ruleIndex].count) else { return false }
        return draw(ruleIndex)
    }

    /// Session filter and probability for a trigger that is not a command.
    private mutating func counts(_ ruleIndex: Int) -> Bool {
        if let ruleSession = rules[ruleIndex].rule.match.session, ruleSession != session { return false }
        return draw(ruleIndex)
    }

    private mutating func draw(_ ruleIndex: Int) -> Bool {
        guard let sampling = rules[ruleIndex].rule.match.probability, var random = rules[ruleIndex].random else {
            return true
        }
        let value = random.unit()
        rules[ruleIndex].random = random
        return value < sampling.probability
    }

    // MARK: Server

    private mutating func server(_ bytes: [UInt8], now: UInt64) {
        var offset = 0
        while offset < bytes.count, !closed, !stalled {
            let stop = offset + min(bytes.count - offset, bytesUntilTrigger(.server))
            serverPiece(Array(bytes[offset..<stop]), now: now)
            serverCount += stop - offset
            offset = stop
            if !closed { fireByteTriggers(.server, now: now) }
        }
    }

    private mutating func serverPiece(_ piece: [UInt8], now: UInt64) {
        let lines = serverOpaque ? [] : serverLines.lines(in: piece)
        var limit = piece.count
        var cutHere = false
        if var armed = cut {
            var from = 0
            if armed.scan.waitsForLineEnd {
                if let first = lines.first {
                    from = first.end
                    armed.scan.waitsForLineEnd = false
                } else {
                    from = piece.count
                }
            }
            if from < piece.count, let offset = armed.scan.cutOffset(in: piece, from: from) {
                limit = offset
                cutHere = true
            }
            cut = armed
        }
        var position = 0
        for line in lines where line.end <= limit && !serverOpaque {
            finishLine(Array(piece[position..<line.end]), line)
            position = line.end
        }
        // After COMPRESS: deflated bytes, no lines to read; they go on as they are.
        if position < limit {
            let rest = Array(piece[position..<limit])
            if serverOpaque { gate.append(.relayed(rest)) } else { partialLine(rest) }
        }
        if cutHere, let armed = cut {
            cut = nil
            let inside = armed.scan.literalSize.map { "half-way into a \($0)-byte literal" } ?? "before the completion"
            let of = armed.tag.map { " of the response to \($0) \(armed.command ?? "")" } ?? ""
            report(armed.rule, tag: armed.tag, command: armed.command, "closed both legs \(inside)\(of)")
            closeAll()
        }
    }

    private mutating func partialLine(_ bytes: [UInt8]) {
        switch lineDecision {
        case .pass:
            gate.append(.relayed(bytes))
        case .hold:
            heldLine += bytes
            if heldLine.count > Self.heldLineLimit {
                gate.append(.relayed(heldLine))
                heldLine = []
                lineDecision = .pass
            }
        case .undecided:
            heldLine += bytes
            decide()
            if lineDecision == .pass {
                gate.append(.relayed(heldLine))
                heldLine = []
            }
        }
    }

    /// Whether the line begun in `heldLine` may be a completion some rule waits for.
    private mutating func decide() {
        var undecided = false
        for waiter in pending {
            let want = waiter.tag + [0x20]
            if heldLine.count < want.count {
                if want.starts(with: heldLine) { undecided = true }
            } else if heldLine.starts(with: want) {
                lineDecision = .hold
                return
            }
        }
        if hidesCompress && !serverOpaque {
            switch FaultCapabilityFilter.mayAnnounce(heldLine) {
            case true?:
                lineDecision = .hold
                return
            case nil: undecided = true
            case false?: break
            }
        }
        lineDecision = undecided ? .undecided : .pass
    }

    private mutating func finishLine(_ bytes: [UInt8], _ line: LineCutter.Line) {
        var whole = lineDecision == .pass ? bytes : heldLine + bytes
        heldLine = []
        let passed = lineDecision == .pass
        lineDecision = .undecided
        if !passed, hidesCompress, !serverOpaque, let stripped = FaultCapabilityFilter.strip(whole) {
            whole = stripped.line
            if !compressHidden {
                compressHidden = true
                effects.append(
                    .applied(
                        FaultEvent(
                            rule: "any command rule", action: "hide-compress",
                            detail: "took \(stripped.removed.joined(separator: " ")) out of the server's capabilities:"
                                + " command rules cannot read compressed commands")))
            }
        }
        guard let head = line.head, head.kind == .tagged else {
            gate.append(.relayed(whole))
            injectAtBoundary()
            return
        }
        let tag = head.tagBytes(in: line.text)
        if let compressTag, tag == compressTag {
            self.compressTag = nil
            if head.wordIs("OK", in: line.text) {
                serverOpaque = true
                pending.removeAll { $0.tag != tag }
            } else {
                clientOpaque = false
            }
        }
        var replaced = false
        // Injected lines first: they go before the completion, whoever writes it.
        let matched = pending.filter { $0.tag == tag }
        let waiting = matched.filter(\.isInject) + matched.filter { !$0.isInject }
        pending.removeAll { $0.tag == tag }
        for waiter in waiting {
            let tagText = String(decoding: tag, as: UTF8.self)
            let status = head.upperWord(in: line.text) ?? "?"
            switch waiter.completion {
            case .respond(let answerStatus, let text) where !passed && !replaced:
                let answer = "\(tagText) \(answerStatus.rawValue)\(text.isEmpty ? "" : " \(text)")\r\n"
                report(
                    waiter.rule, tag: tagText, command: waiter.command,
                    "answered \(tagText) \(waiter.command) with \(answerStatus.rawValue) in place of the server's \(status)",
                    inOrder: true)
                gate.append(.proxy(Array(answer.utf8)))
                replaced = true
            case .inject(let text) where !passed:
                report(
                    waiter.rule, tag: tagText, command: waiter.command, "sent an untagged line before the completion",
                    inOrder: true)
                gate.append(.proxy(Array((text + "\r\n").utf8)))
            default:
                report(
                    waiter.rule, tag: tagText, command: waiter.command,
                    "not applied: the completion was longer than \(Self.heldLineLimit) bytes and went on as it was")
            }
        }
        if !replaced { gate.append(.relayed(whole)) }
        injectAtBoundary()
    }

    private mutating func injectAtBoundary() {
        for line in boundaryInjects { gate.append(.proxy(line)) }
        boundaryInjects = []
    }

    // MARK: Byte triggers

    private func bytesUntilTrigger(_ leg: ProxyLeg) -> Int {
        var until = Int.max
        let count = leg == .client ? clientCount : serverCount
        for entry in rules where !entry.fired {
            if case .bytes(let threshold, let from) = entry.rule.match.trigger, from == leg, threshold > count {
                until = min(until, threshold - count)
            }
        }
        return until
    }

    private mutating func fireByteTriggers(_ leg: ProxyLeg, now: UInt64) {
        let count = leg == .client ? clientCount : serverCount
        for ruleIndex in rules.indices where !rules[ruleIndex].fired {
            guard case .bytes(let threshold, let from) = rules[ruleIndex].rule.match.trigger, from == leg,
                count >= threshold
            else { continue }
            rules[ruleIndex].fired = true
            guard counts(ruleIndex) else { continue }
            apply(ruleIndex, command: nil, now: now, at: "after \(count) bytes from the \(leg.rawValue)")
            if closed || stalled { return }
        }
    }

    // MARK: Actions

    private mutating func apply(_ ruleIndex: Int, command: FaultCommandLine?, now: UInt64, at when: String?) {
        let tag = command.map { String(decoding: $0.tag, as: UTF8.self) }
        let name = command?.displayName
        let on = tag.map { "\($0) \(name ?? "")" } ?? when ?? ""
        switch rules[ruleIndex].rule.action {
        case .delay(let delay):
            gate.holdUntil = max(gate.holdUntil, now + delay.nanoseconds)
            report(ruleIndex, tag: tag, command: name, "holding the server's bytes for \(delay) from \(on)")
        case .respond(let status, let text):
            guard let command else { return }
            pending.append(
                Pending(
                    tag: command.tag, command: command.displayName, rule: ruleIndex, completion: .respond(status, text))
            )
        case .inject(let line):
            if let command {
                pending.append(
                    Pending(tag: command.tag, command: command.displayName, rule: ruleIndex, completion: .inject(line)))
            } else {
                boundaryInjects.append(Array((line + "\r\n").utf8))
                report(
                    ruleIndex, tag: nil, command: nil,
                    "sending an untagged line at the server's next line boundary, \(on)")
                if serverLines.carried == 0 && heldLine.isEmpty { injectAtBoundary() }
            }
        case .bye(let text):
            report(ruleIndex, tag: tag, command: name, "sent * BYE to the client and closed both legs at \(on)")
            send(gate.drain())
            effects.append(.say(to: .client, Array("* BYE \(text)\r\n".utf8)))
            closeAll()
        case .reset:
            report(ruleIndex, tag: tag, command: name, "reset both legs at \(on)")
            closed = true
            effects.append(.reset)
        case .cut:
            if command == nil, case .bytes = rules[ruleIndex].rule.match.trigger {
                report(ruleIndex, tag: nil, command: nil, "closed both legs \(on)")
                closeAll()
            } else {
                let scan = FaultCutScan(waitsForLineEnd: serverLines.carried > 0)
                cut = ArmedCut(scan: scan, rule: ruleIndex, tag: tag, command: name)
            }
        case .throttle(let rate):
            gate.throttle = FaultGate.Throttle(bytesPerSecond: rate, start: now)
            report(ruleIndex, tag: tag, command: name, "throttling the server's bytes to \(rate) bytes/s from \(on)")
        case .stall:
            report(ruleIndex, tag: tag, command: name, "stopped relaying both ways at \(on); the connections stay open")
            stalled = true
            effects.append(.stall)
        }
    }

    /// Reports a fault now, or (`inOrder`) when the bytes queued before it have gone to the client.
    private mutating func report(
        _ ruleIndex: Int, tag: String?, command: String?, _ detail: String, inOrder: Bool = false
    ) {
        let rule = rules[ruleIndex].rule
        let event = FaultEvent(
            rule: rule.description, action: rule.action.name, tag: tag, command: command, detail: detail)
        if inOrder { gate.append(.report(event)) } else { effects.append(.applied(event)) }
    }

    private mutating func closeAll() {
        send(gate.drain())
        closed = true
        effects.append(.close)
    }

    // MARK: Output

    private mutating func release(now: UInt64) {
        guard !closed, !stalled else { return }
        let (ready, wake) = gate.release(now: now)
        send(ready)
        var next = wake
        for entry in rules where !entry.fired {
            if case .elapsed(let elapsed) = entry.rule.match.trigger {
                next = min(next ?? .max, start + elapsed.nanoseconds)
            }
        }
        if let next, next != lastWake {
            lastWake = next
            effects.append(.wake(at: next))
        }
    }

    private mutating func send(_ pieces: [FaultGate.Piece]) {
        for piece in pieces {
            switch piece {
            case .relayed(let bytes): effects.append(.forward(to: .client, bytes))
            case .proxy(let bytes): effects.append(.say(to: .client, bytes))
            case .report(let event): effects.append(.applied(event))
            }
        }
    }

    private mutating func takeEffects() -> [FaultEffect] {
        defer { effects = [] }
        return effects
    }
}
