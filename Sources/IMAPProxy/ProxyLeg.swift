import IMAPCore

/// One of a proxied session's two connections: to the client, or to the real server.
public enum ProxyLeg: String, Sendable, Hashable, CaseIterable {
    case client, server

    /// The direction of the bytes this leg's peer sends.
    var direction: IMAPDirection { self == .client ? .client : .server }
    var other: ProxyLeg { self == .client ? .server : .client }
}
