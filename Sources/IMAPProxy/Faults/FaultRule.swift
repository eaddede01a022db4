/// One `--fault` rule, `MATCH -> ACTION`, as typed values (parsed by `FaultRuleParser`).
public struct FaultRule: Sendable, Equatable, CustomStringConvertible {
    public var match: FaultMatch
    public var action: FaultActionKind

    public init(match: FaultMatch, action: FaultActionKind) {
        self.match = match
        self.action = action
    }

    /// The rule in canonical form, as fault events name it. An argument pattern of LOGIN or
    /// AUTHENTICATE may be a credential and is never written out.
    public var description: String { "\(match) -> \(action)" }
}

/// When a rule fires.
public struct FaultMatch: Sendable, Equatable, CustomStringConvertible {
    public var trigger: FaultTrigger
    /// Which occurrences of the trigger count (`#3`, `every 5`); every one by default.
    public var occurrence: FaultOccurrence = .every(1)
    /// `p=0.1 seed=7`: each counted occurrence fires with this probability, drawn from a PRNG
    /// seeded with `seed` and the session's number (the same traffic gives the same draws).
    public var probability: FaultProbability?
    /// `session 2`: only in the proxy's second session.
    public var session: Int?

    public init(
        trigger: FaultTrigger, occurrence: FaultOccurrence = .every(1), probability: FaultProbability? = nil,
        session: Int? = nil
    ) {
        self.trigger = trigger
        self.occurrence = occurrence
        self.probability = probability
        self.session = session
    }

    public var description: String {
        var parts = [trigger.description]
        switch occurrence {
        case .nth(let n): parts.append("#\(n)")
        case .every(let k) where k > 1: parts.append("every \(k)")
        case .every: break
        }
        if let sampling = probability { parts.append("p=\(sampling.probability) seed=\(sampling.seed)") }
        if let session { parts.append("session \(session)") }
        return parts.joined(separator: " ")
    }
}

public enum FaultTrigger: Sendable, Equatable, CustomStringConvertible {
    /// A client command: `SELECT Archive`, `UID FETCH`, `*` (any).
    case command(FaultCommandPattern)
    /// Once this many bytes have crossed from that side (`after 1MB server`).
    case bytes(Int, from: ProxyLeg)
    /// This long after the session started (`after 30s`).
    case elapsed(FaultDuration)

    public var description: String {
        switch self {
        case .command(let c): return c.description
        case .bytes(let n, let leg): return "after \(FaultSize.describe(n)) \(leg.rawValue)"
        case .elapsed(let d): return "after \(d)"
        }
    }
}

/// A command name (upper case; `nil` for `*`), whether it is the UID form, and the argument
/// words it must start with.
public struct FaultCommandPattern: Sendable, Equatable, CustomStringConvertible {
    public var name: String?
    public var uid: Bool
    /// Compared word by word with the command's first arguments (quotes removed); `*` matches any word.
    public var arguments: [String]

    public init(name: String?, uid: Bool = false, arguments: [String] = []) {
        self.name = name
        self.uid = uid
        self.arguments = arguments
    }

    /// Commands whose arguments carry credentials: their patterns are never echoed.
    static let credentialCommands: Set<String> = ["LOGIN", "AUTHENTICATE"]

    /// A word as a rule writes it: in double quotes when it holds a space, a quote or a backslash.
    static func quotedIfNeeded(_ word: String) -> String {
        let plain = !word.isEmpty && !word.contains { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "\\" }
        return plain ? word : quoted(word)
    }

    /// `"…"` with `"` and `\` escaped, as the rule parser reads it back.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            if character == "\"" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "\""
    }

    public var description: String {
        var text = name.map { (uid ? "UID " : "") + $0 } ?? "*"
        if !arguments.isEmpty {
            if let name, Self.credentialCommands.contains(name) {
                text += " ‹pattern hidden›"
            } else {
                text += " " + arguments.map(Self.quotedIfNeeded).joined(separator: " ")
            }
        }
        return text
    }
}

public enum FaultOccurrence: Sendable, Equatable {
    /// Only the n-th (1-based).
    case nth(Int)
    /// The k-th, 2k-th, …; `every(1)` is every one.
    case every(Int)

    func counts(_ occurrence: Int) -> Bool {
        switch self {
        case .nth(let wanted): return occurrence == wanted
        case .every(let interval): return occurrence % interval == 0
        }
    }
}

public struct FaultProbability: Sendable, Equatable {
    public var probability: Double
    public var seed: UInt64
    public init(probability: Double, seed: UInt64) {
        self.probability = probability
        self.seed = seed
    }
}

/// What a rule does when it fires.
public enum FaultActionKind: Sendable, Equatable, CustomStringConvertible {
    /// Hold the server's response to the matched command this long (from the command).
    case delay(FaultDuration)
    /// imapscope answers the matched command with the client's tag: `NO` or `BAD` and a text
    /// (which may start with a `[CODE]`). The command still reaches the server; its completion
    /// is replaced.
    case respond(status: FaultStatus, text: String)
    /// `* BYE text` to the client, then both legs closed.
    case bye(String)
    /// Both legs reset (TCP RST).
    case reset
    /// Both legs closed in the middle of the next response data, inside its first literal when
    /// there is one.
    case cut
    /// The server's bytes reach the client at this many bytes a second from then on.
    case throttle(bytesPerSecond: Int)
    /// Nothing more is relayed either way; the connections stay open.
    case stall
    /// An untagged line sent to the client just before the matched command's completion.
    case inject(String)

    public var name: String {
        switch self {
        case .delay: return "delay"
        case .respond: return "respond"
        case .bye: return "bye"
        case .reset: return "reset"
        case .cut: return "cut"
        case .throttle: return "throttle"
        case .stall: return "stall"
        case .inject: return "inject"
        }
    }

    public var description: String {
        switch self {
        case .delay(let d): return "delay \(d)"
        case .respond(let status, let text): return "respond \(status.rawValue)" + (text.isEmpty ? "" : " \(text)")
        case .bye(let text): return "bye " + FaultCommandPattern.quoted(text)
        case .throttle(let rate): return "throttle \(FaultSize.describe(rate))/s"
        case .inject(let line): return "inject " + FaultCommandPattern.quoted(line)
        case .reset, .cut, .stall: return name
        }
    }
}

public enum FaultStatus: String, Sendable, Equatable {
    case no = "NO"
    case bad = "BAD"
}

/// A duration in milliseconds (`2s`, `500ms`, `1.5s`, `2m`).
public struct FaultDuration: Sendable, Equatable, CustomStringConvertible {
    public var milliseconds: Int
    public init(milliseconds: Int) { self.milliseconds = milliseconds }
    public var nanoseconds: UInt64 { UInt64(milliseconds) * 1_000_000 }
    public var description: String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}

/// Byte sizes in rules: `512`, `64KB`, `1MB`, `1GB` (K = 1024).
enum FaultSize {
    static func describe(_ byteCount: Int) -> String {
        if byteCount >= 1 << 30, byteCount % (1 << 30) == 0 { return "\(byteCount >> 30)GB" }
        if byteCount >= 1 << 20, byteCount % (1 << 20) == 0 { return "\(byteCount >> 20)MB" }
        if byteCount >= 1 << 10, byteCount % (1 << 10) == 0 { return "\(byteCount >> 10)KB" }
        return "\(byteCount)B"
    }
}
