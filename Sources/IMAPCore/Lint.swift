/// A protocol anomaly the decoder (or a source) found: one case per finding, with what it needs
/// to say. The code and the English live here, nowhere else; `lint` events carry them as
/// `level`, `code` and `message` (schema v1).
public enum Lint: Sendable, Equatable {
    public enum Level: String, Sendable { case info, warning, error }
    /// What a client pipelined behind while it should have waited.
    public enum HeldCommand: Sendable, Equatable { case startTLS, compress }

    case bareLF(Direction)
    case noCompletion(commands: [String])
    case literalOverHoldLimit(limit: Int)
    case literalBeforeContinuation(bytes: Int)
    case pipelinedBeforeResult(tag: String, command: HeldCommand, bytes: Int)
    case idleWithoutDone(tag: String)
    case doneOutsideIdle
    case tagReused(tag: String, inFlight: String)
    case invalidState(command: String, state: String, needs: String)
    case malformedCommand(name: String, problems: [String])
    case loginDisabled
    case cleartextLogin
    case cleartextAuth(mechanism: String)
    case nonSyncLiteral(size: Int, literalMinus: Bool)
    case malformedResponse(problems: [String])
    case unexpectedContinuation
    /// Before the greeting a capture may have started mid-session: then it is only informative.
    case unknownTag(status: String, afterGreeting: Bool)
    case plaintextAfterStartTLS(bytes: Int)
    case pipelinedAfterStartTLS(bytes: Int)
    case latePreauth
    case uidValidityChanged(mailbox: String, from: UInt64, to: UInt64)
    case existsShrank(from: Int, to: Int)
    case truncatedLiteral(size: Int, received: Int)
    case truncatedLine(Direction)
    case retransmissionDiffers(Direction, bytes: Int)
    /// A finding of a source outside the decoder (the proxy), with its own code.
    /// The proxy relayed a server capability list with STARTTLS added (it answers STARTTLS itself).
    case startTLSOffered
    /// LOGIN or AUTHENTICATE on a plaintext client leg while the proxy's server leg is TLS.
    case clientLegPlaintext(command: String, refused: Bool)
    case source(code: String, message: String)

    public var level: Level {
        switch self {
        case .noCompletion, .truncatedLine, .startTLSOffered: return .info
        case .unknownTag(_, let afterGreeting): return afterGreeting ? .error : .info
        case .pipelinedBeforeResult, .tagReused, .invalidState, .loginDisabled, .plaintextAfterStartTLS,
            .pipelinedAfterStartTLS, .existsShrank:
            return .error
        default: return .warning
        }
    }

    public var code: String {
        switch self {
        case .bareLF: return "bare-lf"
        case .noCompletion: return "no-completion"
        case .literalOverHoldLimit, .literalBeforeContinuation: return "literal-before-continuation"
        case .pipelinedBeforeResult(_, .startTLS, _): return "pipelined-after-starttls"
        case .pipelinedBeforeResult(_, .compress, _): return "pipelined-after-compress"
        case .idleWithoutDone: return "idle-without-done"
        case .doneOutsideIdle: return "done-outside-idle"
        case .tagReused: return "tag-reused"
        case .invalidState: return "invalid-state"
        case .malformedCommand: return "malformed-command"
        case .loginDisabled: return "login-disabled"
        case .cleartextLogin: return "cleartext-login"
        case .cleartextAuth: return "cleartext-auth"
        case .nonSyncLiteral: return "non-sync-literal"
        case .malformedResponse: return "malformed-response"
        case .unexpectedContinuation: return "unexpected-continuation"
        case .unknownTag: return "unknown-tag"
        case .plaintextAfterStartTLS: return "plaintext-after-starttls"
        case .pipelinedAfterStartTLS: return "pipelined-after-starttls"
        case .latePreauth: return "late-preauth"
        case .uidValidityChanged: return "uidvalidity-changed"
        case .existsShrank: return "exists-shrank"
        case .truncatedLiteral: return "truncated-literal"
        case .truncatedLine: return "truncated-line"
        case .retransmissionDiffers: return "retransmission-differs"
        case .startTLSOffered: return "proxy-rewrite"
        case .clientLegPlaintext: return "client-leg-plaintext"
        case .source(let code, _): return code
        }
    }

    public var message: String {
        switch self {
        case .bareLF(let dir):
            return "\(dir.rawValue) ends lines with a bare LF instead of CRLF (accepted; linted once)"
        case .noCompletion(let commands):
            return "\(commands.count) command(s) never completed: \(commands.prefix(10).joined(separator: ", "))"
        case .literalOverHoldLimit(let limit):
            return "client sent more than \(limit) bytes of a synchronizing literal without a '+' from the server"
        case .literalBeforeContinuation(let bytes):
            return "client sent \(bytes) bytes of a synchronizing literal before the server's '+' (no LITERAL+)"
        case .pipelinedBeforeResult(let tag, let command, let bytes):
            let name = command == .startTLS ? "STARTTLS" : "COMPRESS"
            return "client sent \(bytes) bytes after \(tag) \(name) without waiting for the result"
        case .idleWithoutDone(let tag): return "client sent a line other than DONE during IDLE \(tag)"
        case .doneOutsideIdle: return "DONE sent while no IDLE is running"
        case .tagReused(let tag, let inFlight): return "tag \(tag) reused while \(inFlight) \(tag) is still in flight"
        case .invalidState(let command, let state, let needs):
            return "\(command) is not valid in state \(state) (needs \(needs))"
        case .malformedCommand(let name, let problems): return "\(name): " + problems.prefix(3).joined(separator: "; ")
        case .loginDisabled: return "LOGIN despite LOGINDISABLED in the server's capabilities"
        case .cleartextLogin: return "LOGIN sends the password in cleartext: this connection is not encrypted"
        case .cleartextAuth(let mechanism):
            return "AUTHENTICATE \(mechanism) sends a reusable credential over an unencrypted connection"
        case .nonSyncLiteral(let size, let literalMinus):
            return "non-synchronizing literal {\(size)+} but the server did not advertise LITERAL+"
                + (literalMinus ? " (LITERAL- allows at most \(LiteralHeader.literalMinusLimit) bytes)" : "")
        case .malformedResponse(let problems): return problems.prefix(3).joined(separator: "; ")
        case .unexpectedContinuation: return "continuation request while no command is in flight"
        case .unknownTag(let status, _): return "tagged \(status) for a tag no command in this session used"
        case .plaintextAfterStartTLS(let bytes):
            return "server sent \(bytes) bytes of plaintext after its STARTTLS OK"
        case .pipelinedAfterStartTLS(let bytes):
            return "client pipelined \(bytes) bytes behind STARTTLS before the TLS handshake (command injection)"
        case .latePreauth: return "PREAUTH is only valid as the greeting"
        case .uidValidityChanged(let mailbox, let from, let to):
            return "UIDVALIDITY of \(mailbox) changed from \(from) to \(to)"
        case .existsShrank(let from, let to): return "EXISTS went from \(from) to \(to) without EXPUNGE"
        case .truncatedLiteral(let size, let received):
            return "the stream ended inside a {\(size)} literal after \(received) bytes"
        case .truncatedLine(let dir): return "the stream ended in the middle of a \(dir.rawValue) line"
        case .retransmissionDiffers(let dir, let bytes):
            return "a retransmitted \(dir.rawValue) segment differs from the first copy in \(bytes) byte(s); "
                + "the first copy was kept"
        case .startTLSOffered:
            return "imapscope added STARTTLS to this capability list (the server leg is already TLS; "
                + "imapscope answers STARTTLS itself): the client got a line the server did not send"
        case .clientLegPlaintext(let command, let refused):
            return refused
                ? "\(command) on the plaintext client leg was refused with NO [PRIVACYREQUIRED] "
                    + "(--require-client-tls) and never reached the server"
                : "\(command) on a plaintext client leg: the server leg is TLS, but between the client "
                    + "and imapscope the credentials were not encrypted"
        case .source(_, let message): return message
        }
    }
}
