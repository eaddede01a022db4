import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A listener that could not be bound, said the way a user can act on: which address, and why
/// (in use, not this machine's, a privileged port), not the socket call's error.
public struct ListenError: Error, CustomStringConvertible, Sendable {
    public var url: ProxyURL
    public var reason: String

    public var description: String { "cannot listen on \(url): \(reason)" }

    public init(url: ProxyURL, reason: String) {
        self.url = url
        self.reason = reason
    }

    /// What `bind` threw, in words.
    public init(url: ProxyURL, error: Error) {
        let address = url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        var reason = "\(error)"
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: reason = "\(address) is already in use (another process listens on it)"
            case EACCES: reason = "permission denied for \(address) (ports below 1024 need root)"
            case EADDRNOTAVAIL: reason = "\(url.host) is not an address of this machine"
            default: reason = String(cString: strerror(io.errnoCode))
            }
        }
        self.init(url: url, reason: reason)
    }
}
