import Foundation
import IMAPCore
import IMAPTranscript

/// A fixture cut into what the replay server must see and say, in recorded order.
///
/// Each client logical line (RFC 9051 §2.2: a command with its literals, a SASL response
/// line, or IDLE's `DONE`) is one step; each server logical line (a response with its
/// literals) is one step. A `+` that answered a client's synchronizing literal belongs to the
/// command that waited for it, not to the step list.
public struct ReplayScript: Sendable {
    public enum ClientKind: Sendable, Equatable {
        /// `tag name …`: compared modulo tag.
        case command(tag: String, name: CommandName)
        /// A line inside an AUTHENTICATE exchange (RFC 9051 §6.2.2), compared whole.
        case sasl(tag: String)
        /// `DONE` ending IDLE (RFC 2177).
        case done(tag: String)
        /// A line that does not parse as a command; compared whole.
        case other
    }

    public struct ClientLine: Sendable {
        public var kind: ClientKind
        public var line: RawLine
        /// Server `+` lines sent for this line's synchronizing literals, in order.
        public var continuations: [[UInt8]]
        public var fileLine: Int
        public var isCommand: Bool {
            if case .command = kind { return true }
            return false
        }
        /// A DONE or SASL line: part of a command already sent, not a command of its own.
        public var answersCommandInFlight: Bool {
            switch kind {
            case .done, .sasl: return true
            default: return false
            }
        }
    }

    public struct ServerLine: Sendable {
        /// The whole line as recorded, literals included.
        public var bytes: [UInt8]
        /// The tag of a tagged response (RFC 9051 `response-tagged`), for substitution.
        public var tag: String?
        /// `OK` / `NO` / `BAD` of a tagged response.
        public var status: String?
        public var isContinuation: Bool
        /// The name of an untagged response (`FETCH`, `CAPABILITY`, `OK` …).
        public var untaggedName: String?
        public var fileLine: Int
    }

    public enum Step: Sendable {
        case client(ClientLine)
        case server(ServerLine)
    }

    public var steps: [Step]
    /// Whether the recorded session went through STARTTLS (the replay offers it only then).
    public var usesStartTLS: Bool {
        steps.contains {
            if case .client(let c) = $0, case .command(_, .starttls) = c.kind { return true }
            return false
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Fixtures hold whole literal bodies; keep them (up to a bound) for comparison and replay.
    static var limits: FramerLimits {
        var limits = FramerLimits()
        limits.literalRetainLimit = 64 * 1024 * 1024
        limits.maxRetainedPerLine = 256 * 1024 * 1024
        return limits
    }

    /// Parses fixture bytes (`S:`/`C:` lines as `FixtureWriter` writes them).
    public init(fixture bytes: [UInt8]) throws {
        // FixtureWriter's note for a literal too large to keep: the bytes a client would need are gone.
        let elided = Array("# literal body of ".utf8)
        for (n, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated()
        where line.starts(with: elided) {
            throw Failure(
                description:
                    "line \(n + 1): \(String(decoding: line.dropFirst(2).prefix(120), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)): this fixture cannot be replayed (record it with whole literal bodies, e.g. imapscope read --format fixture)"
            )
        }
        let chunks: [FixtureReader.Chunk]
        do { chunks = try FixtureReader.read(bytes) } catch { throw Failure(description: "\(error)") }
        try self.init(chunks: chunks)
    }

    public init(chunks: [FixtureReader.Chunk]) throws {
        var client = LineFramer(limits: Self.limits, pausesAtSynchronizingLiterals: true)
        var server = LineFramer(limits: Self.limits, pausesAtSynchronizingLiterals: false)
        var steps: [Step] = []
        // Client mode: inside AUTHENTICATE or IDLE, client lines are not commands.
        enum Mode {
            case commands
            case sasl(String)
            case idle(String)
        }
        var mode = Mode.commands
        var pendingContinuations: [[UInt8]] = []
        // A decoder emits a command once its last literal has arrived, so a recording can hold
        // the `+` for a synchronizing literal before the command it answers. Outside IDLE and
        // AUTHENTICATE a `+` can only be that; it waits here for the next literal header.
        var earlyContinuations: [[UInt8]] = []
        var clientLineStart: Int?

        func pumpClient(_ fileLine: Int) throws {
            while let frame = client.nextFrame() {
                switch frame {
                case .needsContinuation:
                    if clientLineStart == nil { clientLineStart = fileLine }
                    if !earlyContinuations.isEmpty {
                        // Its `+` was written before it (see `earlyContinuations`).
                        pendingContinuations.append(earlyContinuations.removeFirst())
                        client.continueLiteral()
                        continue
                    }
                    return
                case .line(let line):
                    let kind: ClientKind
                    switch mode {
                    case .sasl(let tag): kind = .sasl(tag: tag)
                    case .idle(let tag): kind = .done(tag: tag)
                    case .commands:
                        if let command = try? CommandParser.parse(line) {
                            kind = .command(tag: command.tag, name: command.name)
                            if command.name == .authenticate { mode = .sasl(command.tag) }
                            if command.name == .idle { mode = .idle(command.tag) }
                        } else {
                            kind = .other
                        }
                    }
                    steps.append(
                        .client(
                            ClientLine(
                                kind: kind, line: line, continuations: pendingContinuations,
                                fileLine: clientLineStart ?? fileLine)))
                    pendingContinuations = []
                    clientLineStart = nil
                case .overlong(_, let wireBytes), .resynchronized(_, let wireBytes):
                    throw Failure(
                        description: "line \(fileLine): a client line of \(wireBytes) bytes is too long to replay")
                }
            }
        }

        for chunk in chunks {
            switch chunk.direction {
            case .client:
                if clientLineStart == nil, client.isAtLineStart { clientLineStart = chunk.fileLine }
                client.append(chunk.bytes)
                try pumpClient(chunk.fileLine)
            case .server, .proxy:
                server.append(chunk.bytes)
                while let frame = server.nextFrame() {
                    guard case .line(let line) = frame, let wire = line.wire else {
                        throw Failure(
                            description:
                                "line \(chunk.fileLine): a server line is too long to replay (over 256 KiB, or a literal over 64 MiB)"
                        )
                    }
                    var response = Self.classify(wire, fileLine: chunk.fileLine)
                    if response.isContinuation, client.isAwaitingContinuation {
                        // The `+` the client's synchronizing literal waited for.
                        pendingContinuations.append(wire)
                        client.continueLiteral()
                        try pumpClient(chunk.fileLine)
                        continue
                    }
                    if response.isContinuation, case .commands = mode {
                        earlyContinuations.append(wire)
                        continue
                    }
                    if let tag = response.tag {
                        switch mode {
                        case .sasl(let running) where running == tag, .idle(let running) where running == tag:
                            mode = .commands
                        default: break
                        }
                        if client.isAwaitingContinuation {
                            // The server refused the literal: the command ends at its header.
                            let partial = client.abandonLiteral()
                            steps.append(
                                .client(
                                    ClientLine(
                                        kind: (try? CommandParser.parse(partial)).map {
                                            .command(tag: $0.tag, name: $0.name)
                                        } ?? .other,
                                        line: partial, continuations: pendingContinuations,
                                        fileLine: clientLineStart ?? chunk.fileLine)))
                            pendingContinuations = []
                            clientLineStart = nil
                        }
                    }
                    response.fileLine = chunk.fileLine
                    steps.append(.server(response))
                }
            }
        }
        if case .line(let line)? = client.finish(), !line.segments.allSatisfy({ $0.text.isEmpty && $0.literal == nil })
        {
            steps.append(
                .client(
                    ClientLine(
                        kind: .other, line: line, continuations: pendingContinuations, fileLine: clientLineStart ?? 0)))
        }
        if case .line(let line)? = server.finish(), let wire = line.wire, !wire.isEmpty {
            steps.append(.server(Self.classify(wire, fileLine: chunks.last?.fileLine ?? 0)))
        }
        self.steps = steps
    }

    /// response = continue-req / response-data / response-tagged  (RFC 9051 §7)
    static func classify(_ wire: [UInt8], fileLine: Int) -> ServerLine {
        var line = ServerLine(
            bytes: wire, tag: nil, status: nil, isContinuation: false, untaggedName: nil,
            fileLine: fileLine)
        guard let head = LineHead(wire) else { return line }
        switch head.kind {
        case .continuation:
            line.isContinuation = true
        case .untagged:
            // `* 3 EXISTS` is named after the word that follows its number.
            line.untaggedName = head.upperWord(in: wire)
        case .tagged:
            line.tag = head.tagString(in: wire)
            line.status = head.upperWord(in: wire)
        }
        return line
    }
}
