import IMAPCore

/// The replay server's logic without any I/O: fed the client's bytes, it returns what to send
/// and what to do with the connection, and keeps the mismatch reports. `ReplayServer` drives
/// it from NIO; tests drive it directly.
public final class ReplayEngine {
    public enum Order: String, Sendable, CaseIterable {
        /// Commands must arrive in the recorded order.
        case strict
        /// Independent commands may arrive in another order (see `isIndependent`).
        case relaxed
    }

    public enum Action: Sendable, Equatable {
        case send([UInt8])
        /// The STARTTLS `OK` has been sent: TLS starts now (RFC 9051 §6.2.1).
        case startTLS
        /// The COMPRESS `OK` has been sent: DEFLATE both directions from now (RFC 4978).
        case startCompression
        /// The session is over (LOGOUT answered, or too much garbage): close the connection.
        case close
    }

    public struct Mismatch: Sendable, Equatable, CustomStringConvertible {
        /// Which line of the session the client sent diverged (1-based; commands, SASL lines and
        /// DONE count; 0 for a connection problem).
        public var index: Int
        public var fileLine: Int?
        public var expected: String?
        public var received: String
        /// The recorded client lines just before, for the diff's context.
        public var context: [String]
        /// One line naming the divergence (what stderr shows first).
        public var description: String {
            // Index 0: not a client line but the connection itself (TLS, DEFLATE, a reset).
            if index == 0 && expected == nil { return "imapscope replay: \(received)" }
            let location = fileLine.map { " (fixture line \($0))" } ?? ""
            guard let expectedLine = expected else {
                return
                    "imapscope replay: client line \(index) has no counterpart: the fixture ended\(location), but the client sent \(received)"
            }
            return
                "imapscope replay: client line \(index) differs from the fixture\(location): expected \(expectedLine) but got \(received)"
        }
        /// A unified diff of the recorded against the received line, with context.
        public var diff: String {
            var text = "--- expected (fixture)\n+++ received (client)\n@@ client line \(index) @@\n"
            for line in context { text += " \(line)\n" }
            if let expectedLine = expected { text += "-\(expectedLine)\n" }
            text += "+\(received)\n"
            return text
        }
    }

    public let script: ReplayScript
    public let order: Order
    private var done: [Bool]
    private var framer: LineFramer
    /// Recorded tag → the tag the client used for the same command.
    private var tagMap: [String: String] = [:]
    /// Recorded tag → command name (to act on STARTTLS, COMPRESS and LOGOUT completions).
    private var commandNames: [String: CommandName] = [:]
    /// Recorded tags of commands received whose completion has not been sent yet.
    private var openTags: Set<String> = []
    private var continuationsSent = 0
    private var clientLinesSeen = 0
    private var matchedDisplay: [String] = []
    public private(set) var mismatches: [Mismatch] = []
    public private(set) var loggedOut = false
    /// Recorded client lines skipped because the client logged out before them.
    public private(set) var skippedByLogout = 0
    /// Set once STARTTLS/COMPRESS or close is pending: no more client bytes are framed until
    /// the driver has acted and called `resume()`.
    public private(set) var isPaused = false
    private var closed = false
    /// After this many mismatches the client is talking to the wrong fixture; stop.
    public static let mismatchLimit = 20

    public init(script: ReplayScript, order: Order = .strict) {
        self.script = script
        self.order = order
        done = Array(repeating: false, count: script.steps.count)
        var limits = ReplayScript.limits
        // The client's own literals: kept whole for comparison, bounded per line.
        limits.literalRetainLimit = 16 * 1024 * 1024
        limits.maxRetainedPerLine = 64 * 1024 * 1024
        framer = LineFramer(limits: limits, pausesAtSynchronizingLiterals: true)
    }

    /// Whether every recorded client line has been received.
    public var isComplete: Bool { pendingClientSteps().first == nil }

    /// The session succeeded: no mismatch, and the client ran the whole fixture or logged out.
    public var succeeded: Bool { mismatches.isEmpty && (isComplete || loggedOut) }

    /// The greeting and whatever the server sent before the first client line.
    public func start() -> [Action] {
        var out: [Action] = []
        emitFollowing(from: -1, into: &out)
        return out
    }

    public func feed(_ bytes: [UInt8]) -> [Action] {
        guard !closed else { return [] }
        framer.append(bytes)
        return pump()
    }

    /// Continues after the driver has switched the transport (TLS, DEFLATE).
    public func resume() -> [Action] {
        isPaused = false
        return pump()
    }

    /// Bytes received but not yet framed: after STARTTLS/COMPRESS the driver takes them, since
    /// they were sent before the switch.
    public func takeHeldBytes() -> [UInt8] { framer.takeHeldBytes() }

    /// What to report when the connection ends: the mismatches, plus an early end.
    public func finish() -> [Mismatch] {
        if case .line(let line)? = framer.finish(), !(line.segments.count == 1 && line.segments[0].text.isEmpty) {
            let inSASL: Bool = {
                if case .sasl? = nextExpected()?.kind { return true }
                return false
            }()
            let shown = LineMatcher.display(line, asCommand: !inSASL)
            mismatches.append(
                mismatch(expected: nextExpected(), received: shown + " (cut off by the end of the connection)"))
        }
        if mismatches.isEmpty && !isComplete && !loggedOut, let next = nextExpected() {
            mismatches.append(
                Mismatch(
                    index: clientLinesSeen + 1, fileLine: next.fileLine,
                    expected: LineMatcher.display(next.line, dropTag: next.isCommand, asCommand: next.isCommand),
                    received: "the end of the connection", context: Array(matchedDisplay.suffix(3))))
        }
        return mismatches
    }

    private func pump() -> [Action] {
        var out: [Action] = []
        while !isPaused, !closed, let frame = framer.nextFrame() {
            switch frame {
            case .needsContinuation:
                if var refusal = literalRefusal() {
                    // RFC 9051 §7.5: a tagged BAD instead of `+`; the client sends no literal.
                    let partial = framer.abandonLiteral()
                    clientLinesSeen += 1
                    refusal.index = clientLinesSeen
                    continuationsSent = 0
                    record(refusal, tag: badTag((try? CommandParser.parse(partial))?.tag), into: &out)
                    continue
                }
                // A synchronizing literal: answer with the `+` recorded for it (or a plain one).
                let recorded = nextExpected()?.continuations
                if let continuations = recorded, continuationsSent < continuations.count {
                    out.append(.send(continuations[continuationsSent]))
                } else {
                    out.append(.send(Array("+ Ready for literal data\r\n".utf8)))
                }
                continuationsSent += 1
                framer.continueLiteral()
            case .line(let line):
                continuationsSent = 0
                clientLinesSeen += 1
                handle(line, into: &out)
            case .overlong(_, let wireBytes), .resynchronized(_, let wireBytes):
                clientLinesSeen += 1
                let tooLong = mismatch(
                    expected: nextExpected(), received: "a line of \(wireBytes) bytes (too long to compare; not shown)")
                record(tooLong, tag: nil, into: &out)
            }
        }
        return out
    }

    private func handle(_ line: RawLine, into out: inout [Action]) {
        let next = nextExpected()
        // Inside AUTHENTICATE a line is a SASL response: never parse or show it.
        let inSASL: Bool = {
            if case .sasl? = next?.kind { return true }
            return false
        }()
        let parsed = inSASL ? nil : try? CommandParser.parse(line)
        let receivedTag = parsed?.tag
        guard let (index, expected) = candidate(for: line) else {
            // Commands are compared modulo tag, so messages show them without one; secrets hidden.
            let shown = inSASL ? "‹redacted SASL line›" : LineMatcher.display(line, dropTag: receivedTag != nil)
            record(mismatch(expected: next, received: shown), tag: badTag(receivedTag), into: &out)
            return
        }
        done[index] = true
        // Context for later diffs: the recorded line (already redacted).
        matchedDisplay.append(
            LineMatcher.display(expected.line, dropTag: expected.isCommand, asCommand: expected.isCommand))
        if case .command(let t, let name) = expected.kind, let rt = receivedTag {
            tagMap[t] = rt
            commandNames[t] = name
            openTags.insert(t)
        }
        emitFollowing(from: index, into: &out)
    }

    /// Before sending `+` for a synchronizing literal: if the command so far already differs
    /// from every recorded line it could be, the mismatch (the literal is refused); nil to go on.
    /// A recorded line with a redaction marker is given the benefit of the doubt.
    private func literalRefusal() -> Mismatch? {
        var line = framer.partialLine
        guard let last = line.segments.indices.last, let (_, at) = LiteralHeader.trailing(in: line.segments[last].text)
        else { return nil }
        line.segments[last].text = Array(line.segments[last].text[..<at])
        line.segments[last].ending = .none
        let parsed = try? CommandParser.parse(line)
        guard let next = nextExpected(), next.isCommand, parsed != nil else { return nil }
        let prefix = LineMatcher.canonical(line, dropTag: true)
        var candidates = [next]
        if order == .relaxed {
            for j in pendingClientSteps().dropFirst().prefix(Self.relaxedLookahead) {
                if case .client(let client) = script.steps[j], client.isCommand { candidates.append(client) }
            }
        }
        for client in candidates {
            let expected = LineMatcher.canonical(client.line, dropTag: true)
            if expected.starts(with: prefix) || LineMatcher.containsMarker(expected) { return nil }
        }
        let shown =
            LineMatcher.display(line, dropTag: true) + " "
            + (LiteralHeader.trailing(in: framer.partialLine.segments[last].text)?.0.text() ?? "")
        return mismatch(expected: next, received: shown)
    }

    /// The step this line is: the next client step, or in relaxed order a later one it may
    /// overtake. Nil when the line matches none.
    private func candidate(for line: RawLine) -> (Int, ReplayScript.ClientLine)? {
        let clientSteps = pendingClientSteps()
        guard let first = clientSteps.first, case .client(let client) = script.steps[first] else { return nil }
        if Self.matches(client, line) { return (first, client) }
        guard case .command = client.kind else { return nil }
        if let logout = earlyLogout(line, among: clientSteps) { return logout }
        guard order == .relaxed else { return nil }
        var skippedAllIndependent = isIndependent(first)
        for j in clientSteps.dropFirst().prefix(Self.relaxedLookahead) {
            guard case .client(let later) = script.steps[j], case .command = later.kind else { break }
            if Self.matches(later, line), skippedAllIndependent || isIndependent(j) { return (j, later) }
            skippedAllIndependent = skippedAllIndependent && isIndependent(j)
        }
        return nil
    }

    /// A client may stop early: its LOGOUT gets the recorded LOGOUT's answer, and the rest of
    /// the fixture is skipped (the session still succeeds; `skippedByLogout` says how much).
    private func earlyLogout<S: Sequence>(_ line: RawLine, among clientSteps: S) -> (Int, ReplayScript.ClientLine)?
    where S.Element == Int {
        guard (try? CommandParser.parse(line))?.name == .logout else { return nil }
        for (skipped, j) in clientSteps.enumerated() {
            if case .client(let client) = script.steps[j], case .command(_, .logout) = client.kind,
                Self.matches(client, line)
            {
                skippedByLogout = skipped
                return (j, client)
            }
        }
        return nil
    }

    /// How far ahead (in recorded client lines) relaxed order looks for an overtaking command.
    public static let relaxedLookahead = 64

    /// Steps before `cursor` are all done; it only moves forward, so each step is passed once.
    private var cursor = 0

    /// Client steps not yet received, in recorded order (lazily, from the cursor).
    private func pendingClientSteps() -> LazyFilterSequence<Range<Int>> {
        while cursor < done.count && done[cursor] { cursor += 1 }
        return (cursor..<script.steps.count).lazy.filter { !self.done[$0] && self.isClientStep($0) }
    }

    private func isClientStep(_ index: Int) -> Bool {
        if case .client = script.steps[index] { return true }
        return false
    }

    static func matches(_ expected: ReplayScript.ClientLine, _ line: RawLine) -> Bool {
        if case .command = expected.kind {
            return LineMatcher.matches(expected: expected.line, received: line, dropTag: true)
        }
        return LineMatcher.matches(expected: expected.line, received: line, dropTag: false)
    }

    /// A command whose order does not matter: NOOP, CAPABILITY, CHECK, or one whose recorded
    /// responses are only its own completion plus untagged data of its own name (`LIST` with
    /// `* LIST`, `STATUS` with `* STATUS`).
    func isIndependent(_ index: Int) -> Bool {
        guard case .client(let client) = script.steps[index], case .command(let tag, let name) = client.kind else {
            return false
        }
        if name == .noop || name == .capability || name == .check { return true }
        var i = index + 1
        while i < script.steps.count, case .server(let server) = script.steps[i] {
            if server.tag == tag {
                i += 1
                continue
            }
            if server.tag != nil || server.isContinuation || server.untaggedName != name.text { return false }
            i += 1
        }
        return true
    }

    /// Sends the server lines after step `index` up to the next client line still expected.
    private func emitFollowing(from index: Int, into out: inout [Action]) {
        var i = index + 1
        while i < script.steps.count {
            if done[i] {
                i += 1
                continue
            }
            guard case .server = script.steps[i] else { break }
            emit(i, into: &out)
            i += 1
            if isPaused { break }
        }
        closeAfterLogout(into: &out)
    }

    private func emit(_ index: Int, into out: inout [Action]) {
        guard case .server(let server) = script.steps[index] else { return }
        done[index] = true
        out.append(.send(substituteTag(server)))
        guard let tag = server.tag else { return }
        openTags.remove(tag)
        if server.status == "OK" {
            switch commandNames[tag] {
            case .starttls:
                out.append(.startTLS)
                isPaused = true
            case .compress:
                out.append(.startCompression)
                isPaused = true
            case .logout: loggedOut = true
            default: break
            }
        }
    }

    private func closeAfterLogout(into out: inout [Action]) {
        if loggedOut && !isPaused && !closed {
            // Anything after the LOGOUT completion is the server closing (RFC 9051 §6.1.3).
            out.append(.close)
            closed = true
        }
    }

    /// The client has gone quiet before sending the next recorded line: it may be waiting for
    /// responses that the recording shows after that line (when recorded, it had pipelined
    /// further). Sends ahead, in recorded order, the server lines up to the last completion of a
    /// command already received; never past a continuation request, a DONE or SASL line still to
    /// come (IDLE's completion waits for DONE), or the completion of a command not yet received,
    /// which could only answer a line still to come.
    public func clientIdle() -> [Action] {
        guard !closed, !isPaused, !openTags.isEmpty, framer.isAtLineStart else { return [] }
        var candidates: [Int] = []
        var last: Int?
        while cursor < done.count && done[cursor] { cursor += 1 }
        for i in cursor..<script.steps.count where !done[i] {
            guard case .server(let server) = script.steps[i] else {
                // A DONE or SASL line still to come belongs to a command in flight: what follows it
                // (IDLE's completion, say) answers that line and waits for it (RFC 2177).
                if case .client(let client) = script.steps[i], client.answersCommandInFlight { break }
                continue
            }
            if server.isContinuation { break }
            if let tag = server.tag {
                guard openTags.contains(tag) else { break }
                last = candidates.count
            }
            candidates.append(i)
        }
        guard let end = last else { return [] }
        var out: [Action] = []
        for i in candidates[...end] {
            emit(i, into: &out)
            if isPaused { break }
        }
        closeAfterLogout(into: &out)
        return out
    }

    private func substituteTag(_ server: ReplayScript.ServerLine) -> [UInt8] {
        guard let tag = server.tag, let mapped = tagMap[tag] else { return server.bytes }
        return Array(mapped.utf8) + server.bytes.dropFirst(tag.utf8.count)
    }

    private func nextExpected() -> ReplayScript.ClientLine? {
        guard let index = pendingClientSteps().first, case .client(let client) = script.steps[index] else { return nil }
        return client
    }

    /// The tag a BAD goes to: the client's, or for a SASL line or DONE the running command's.
    private func badTag(_ receivedTag: String?) -> String {
        if let next = nextExpected() {
            switch next.kind {
            case .sasl(let tag), .done(let tag): return tagMap[tag] ?? "*"
            default: break
            }
        }
        return receivedTag ?? "*"
    }

    private func mismatch(expected: ReplayScript.ClientLine?, received: String) -> Mismatch {
        Mismatch(
            index: clientLinesSeen, fileLine: expected?.fileLine,
            expected: expected.map { LineMatcher.display($0.line, dropTag: $0.isCommand, asCommand: $0.isCommand) },
            received: received, context: Array(matchedDisplay.suffix(3)))
    }

    private func record(_ mismatch: Mismatch, tag: String?, into out: inout [Action]) {
        mismatches.append(mismatch)
        let what = mismatch.expected.map { "expected \"\(Self.oneLine($0))\"" } ?? "the fixture has no more commands"
        let text =
            "\(tag ?? "*") BAD [CLIENTBUG] imapscope replay: \(what) but got \"\(Self.oneLine(mismatch.received))\"\r\n"
        out.append(.send(Array(text.utf8)))
        if mismatches.count >= Self.mismatchLimit {
            out.append(.send(Array("* BYE imapscope replay: too many commands differ from the fixture\r\n".utf8)))
            out.append(.close)
            closed = true
        }
    }

    /// Text safe inside a response line: no line breaks, no double quotes.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\"" ? "'" : $0 }.prefix(300))
    }
}
