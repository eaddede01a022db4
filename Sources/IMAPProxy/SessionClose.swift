import IMAPCore
import NIOCore
import NIOSSL

#if canImport(Glibc)
    import Glibc
#endif

/// How a proxied session's connections ended, as facts, and the `session-end` reason said from
/// them in plain words: which side closed first, how (a close, TLS without close_notify, an
/// aborted handshake, a failure), and whether LOGOUT had completed. A client that never sent a
/// byte is a port check. No library's type name ever reaches the reason.
struct SessionClose: Equatable, Sendable {
    enum Ending: Equatable, Sendable {
        /// An orderly close of the connection (TCP FIN, or TLS with close_notify).
        case closed
        /// TLS ended by closing the connection without a close_notify alert first.
        case tlsWithoutCloseNotify
        /// The connection went before its TLS handshake was done.
        case handshakeAborted
        /// A socket error, said as the system says it (`Connection reset by peer`).
        case failed(String)
    }

    /// The side that closed first (`client` or `server`).
    var first: Direction
    var ending: Ending
    /// The session was in the logout state (LOGOUT completed, or the server said BYE at once).
    var afterLogout: Bool
    /// The client sent at least one byte imapscope could read (a command, or a TLS handshake).
    var clientSpoke: Bool

    var reason: String {
        let who = first == .server ? "server" : "client"
        let other = first == .server ? "client" : "server"
        if first != .server, !clientSpoke, ending != .handshakeAborted {
            return "a port check: the client connected and closed without sending a byte; imapscope closed the"
                + " server leg"
        }
        let logout = afterLogout ? "after LOGOUT" : "without LOGOUT"
        let how: String
        switch ending {
        case .closed: how = "the \(who) closed the connection \(logout)"
        case .tlsWithoutCloseNotify: how = "the \(who) closed TLS without close_notify \(logout)"
        case .handshakeAborted:
            how = first == .server ? "the server aborted the TLS handshake" : "the client aborted the TLS handshake"
        case .failed(let why): how = "the \(who)'s connection failed\(afterLogout ? " after LOGOUT" : ""): \(why)"
        }
        return how + "; imapscope closed the \(other) leg"
    }

    /// What a leg's error says of its end, in words.
    static func ending(of error: Error) -> Ending {
        if let ssl = error as? NIOSSLError {
            switch ssl {
            case .uncleanShutdown: return .tlsWithoutCloseNotify
            case .handshakeFailed: return .handshakeAborted
            default: return .failed("a TLS error")
            }
        }
        if error is BoringSSLError { return .failed("a TLS error") }
        if let io = error as? IOError { return .failed(String(cString: strerror(io.errnoCode))) }
        if let channel = error as? ChannelError, channel == .eof { return .closed }
        return .failed("an error on the connection")
    }
}
