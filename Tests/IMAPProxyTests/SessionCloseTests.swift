import IMAPCore
import NIOCore
import NIOSSL
import Testing

@testable import IMAPProxy

#if canImport(Glibc)
    import Glibc
#endif

/// The session-end reason as a pure function of how the connections ended: one vector per
/// reason, and the errors each leg can report mapped to those facts.
@Suite("session-end reasons")
struct SessionCloseTests {
    static let vectors: [(SessionClose, String)] = [
        (
            SessionClose(first: .client, ending: .closed, afterLogout: false, clientSpoke: true),
            "the client closed the connection without LOGOUT; imapscope closed the server leg"
        ),
        (
            SessionClose(first: .client, ending: .closed, afterLogout: true, clientSpoke: true),
            "the client closed the connection after LOGOUT; imapscope closed the server leg"
        ),
        (
            SessionClose(first: .server, ending: .closed, afterLogout: true, clientSpoke: true),
            "the server closed the connection after LOGOUT; imapscope closed the client leg"
        ),
        (
            SessionClose(first: .server, ending: .closed, afterLogout: false, clientSpoke: true),
            "the server closed the connection without LOGOUT; imapscope closed the client leg"
        ),
        (
            SessionClose(first: .client, ending: .tlsWithoutCloseNotify, afterLogout: true, clientSpoke: true),
            "the client closed TLS without close_notify after LOGOUT; imapscope closed the server leg"
        ),
        (
            SessionClose(first: .client, ending: .tlsWithoutCloseNotify, afterLogout: false, clientSpoke: true),
            "the client closed TLS without close_notify without LOGOUT; imapscope closed the server leg"
        ),
        (
            SessionClose(first: .server, ending: .tlsWithoutCloseNotify, afterLogout: false, clientSpoke: true),
            "the server closed TLS without close_notify without LOGOUT; imapscope closed the client leg"
        ),
        (
            SessionClose(first: .client, ending: .handshakeAborted, afterLogout: false, clientSpoke: false),
            "the client aborted the TLS handshake; imapscope closed the server leg"
        ),
        (
            SessionClose(first: .server, ending: .handshakeAborted, afterLogout: false, clientSpoke: false),
            "the server aborted the TLS handshake; imapscope closed the client leg"
        ),
        (
            SessionClose(
                first: .client, ending: .failed("Connection reset by peer"), afterLogout: false, clientSpoke: true),
            "the client's connection failed: Connection reset by peer; imapscope closed the server leg"
        ),
        (
            SessionClose(
                first: .server, ending: .failed("Connection reset by peer"), afterLogout: true, clientSpoke: true),
            "the server's connection failed after LOGOUT: Connection reset by peer; imapscope closed the client leg"
        ),
        (
            SessionClose(first: .client, ending: .closed, afterLogout: false, clientSpoke: false),
            "a port check: the client connected and closed without sending a byte; imapscope closed the server leg"
        ),
        (
            SessionClose(
                first: .client, ending: .failed("Connection reset by peer"), afterLogout: false, clientSpoke: false),
            "a port check: the client connected and closed without sending a byte; imapscope closed the server leg"
        ),
        (
            // The server hung up on a client that had not spoken yet: not a port check.
            SessionClose(first: .server, ending: .closed, afterLogout: false, clientSpoke: false),
            "the server closed the connection without LOGOUT; imapscope closed the client leg"
        ),
    ]

    @Test func everyReasonInWords() {
        for (close, expected) in Self.vectors {
            #expect(close.reason == expected)
            for word in ["NIOSSL", "BoringSSL", "Error", "uncleanShutdown", "handshakeFailed"] {
                #expect(!close.reason.contains(word))
            }
        }
    }

    @Test func errorsAsFacts() {
        let cases: [(Error, SessionClose.Ending)] = [
            (NIOSSLError.uncleanShutdown, .tlsWithoutCloseNotify),
            (NIOSSLError.handshakeFailed(.sslError([])), .handshakeAborted),
            (NIOSSLError.writeDuringTLSShutdown, .failed("a TLS error")),
            (BoringSSLError.zeroReturn, .failed("a TLS error")),
            (IOError(errnoCode: ECONNRESET, reason: "read"), .failed("Connection reset by peer")),
            (IOError(errnoCode: EPIPE, reason: "write"), .failed("Broken pipe")),
            (ChannelError.eof, .closed),
            (ChannelError.connectTimeout(.seconds(1)), .failed("an error on the connection")),
        ]
        for (error, expected) in cases {
            #expect(SessionClose.ending(of: error) == expected, "\(error)")
        }
    }

    @Test func clientTLSFailuresInWords() {
        let cases: [(String, String)] = [
            ("sslError([Error: EOF during handshake])", ClientTLSFailure.aborted),
            (
                "sslError([Error: 268436502 error:10000416:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_UNKNOWN at x.cc:1])",
                ClientTLSFailure.distrust
            ),
            (
                "sslError([Error: 1 error:1:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA at /a/b.cc:9])",
                ClientTLSFailure.distrust
            ),
            (
                "sslError([Error: 1 error:1:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER at /a/b.cc:9])",
                "the client did not speak TLS (plaintext on a TLS listener?)"
            ),
            (
                "sslError([Error: 1 error:1:SSL routines:OPENSSL_internal:EXCESSIVE_MESSAGE_SIZE at /a/b.cc:9])",
                "the TLS handshake with the client failed (excessive message size)"
            ),
            ("something else", "the TLS handshake with the client failed"),
        ]
        for (description, expected) in cases {
            #expect(ClientTLSFailure.explain(description: description) == expected, "\(description)")
        }
        #expect(ClientTLSFailure.explain(NIOSSLError.uncleanShutdown) == ClientTLSFailure.aborted)
    }
}
