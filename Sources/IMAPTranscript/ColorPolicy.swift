/// When text output is coloured: one rule for every command that writes text (read, sniff, diff,
/// the proxy's transcript), so that `NO_COLOR` and `--color` mean the same everywhere.
public enum ColorChoice: String, Sendable, CaseIterable {
    case auto, always, never

    /// `auto` colours only a terminal, and not when `NO_COLOR` is set to anything but the empty
    /// string (no-color.org).
    public func enabled(isTerminal: Bool, environment: [String: String]) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto: return isTerminal && (environment["NO_COLOR"] ?? "").isEmpty
        }
    }
}
