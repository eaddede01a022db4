/// What the fault engine asks of the relay.
enum FaultEffect: Sendable, Equatable {
    /// Send bytes a peer sent to this leg (the decoder sees them as that peer's).
    case forward(to: ProxyLeg, [UInt8])
    /// Send bytes imapscope wrote itself (the decoder sees them as `proxy`).
    case say(to: ProxyLeg, [UInt8])
    /// Close both legs once what was sent is flushed.
    case close
    /// Reset both legs (TCP RST).
    case reset
    /// Relay nothing more either way; the connections stay open (what comes is dropped).
    case stall
    /// Call `tick(now:)` at this time (monotonic nanoseconds) or earlier.
    case wake(at: UInt64)
    /// A fault was applied: the log gets a `fault` event.
    case applied(FaultReport)
}

/// One applied fault, as the `fault` event records it. It names the command (tag and name)
/// but never carries a client line's arguments, which may be credentials.
public struct FaultReport: Sendable, Equatable {
    /// The rule, in canonical form (`FaultRule.description`).
    public var rule: String
    /// The action's name: `delay`, `respond`, `bye`, …
    public var action: String
    public var tag: String?
    /// The matched command's name (`UID FETCH`).
    public var command: String?
    /// What imapscope did, in words.
    public var detail: String

    public init(rule: String, action: String, tag: String? = nil, command: String? = nil, detail: String) {
        self.rule = rule
        self.action = action
        self.tag = tag
        self.command = command
        self.detail = detail
    }
}
