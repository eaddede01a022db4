import IMAPCore

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
    /// A fault was applied: the log gets this `fault` event. It names the command (tag and name)
    /// but never carries a client line's arguments, which may be credentials.
    case applied(FaultEvent)
}
