/// Who sent a run of bytes. `proxy` marks bytes the proxy itself originated.
public enum Direction: String, Sendable, Hashable, CaseIterable {
    case client, server, proxy

    public var opposite: Direction {
        switch self {
        case .client: return .server
        case .server: return .client
        case .proxy: return .proxy
        }
    }
}
