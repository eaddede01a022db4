import NIOCore

/// What the STARTTLS machine asks of the NIO side, in order. Ranges are offsets in the read
/// just handed to the machine; bytes the machine held back from earlier reads come as bytes.
enum StartTLSAction: Equatable, Sendable {
    /// Relay these bytes of the read (on to the other leg, and to the tap).
    case forward(ProxyLeg, Range<Int>)
    /// Keep these bytes of the read back: the machine holds a copy until it knows what they are
    /// (a line that may be a STARTTLS, an unfinished greeting, client bytes before the server
    /// leg's TLS). They come back as `release` or `consume`, or go with the session.
    case hold(ProxyLeg, Range<Int>)
    /// Relay bytes held back from earlier reads after all.
    case release(ProxyLeg, [UInt8])
    /// A command imapscope answers itself (a client's STARTTLS): shown to the tap, never relayed.
    case consume(ProxyLeg, [UInt8])
    /// Neither relayed nor shown: imapscope's own exchange with the server, or what arrives
    /// after the session was refused.
    case drop(ProxyLeg, Range<Int>)
    /// imapscope's own bytes to a leg's peer. What the client gets is recorded (dir `proxy`);
    /// imapscope's STARTTLS to the server is not (the transcript is what the client sees).
    case send(ProxyLeg, [UInt8])
    /// Put TLS on a leg now, in this tick: imapscope is the server's TLS client and the client's
    /// TLS server.
    case startTLS(ProxyLeg)
    /// Plaintext where only a TLS handshake may follow: lint it, end the session, close both legs.
    case refuseInjection(ProxyLeg, bytes: Int)
    /// A `tls` event for a leg (an established leg's version, cipher and SNI come from its pipeline).
    case report(ProxyLeg, TLSReport.Phase)
    /// The handshakes after a STARTTLS are done: decoding resumes on the plaintext inside.
    case plaintextResumes
    /// imapscope's own upgrade of the server leg is done: the client's bytes may go out.
    case serverLegUpgraded
    case fail(StartTLSFailure)
    /// Arm the session's one deadline (re-arming replaces it); its expiry comes back as an input.
    case setDeadline(TimeAmount)
    case cancelDeadline
    /// A finding for the session's events, after what was relayed so far.
    case lint(StartTLSFinding)
}

/// What the STARTTLS machine reports besides TLS: the bytes it changed, the credentials it saw
/// go over a plaintext client leg.
enum StartTLSFinding: Equatable, Sendable {
    /// A server capability list was relayed with STARTTLS added (imapscope offers it).
    case startTLSOffered
    /// LOGIN or AUTHENTICATE on a plaintext client leg while the server leg is TLS; `refused`
    /// with `NO [PRIVACYREQUIRED]` (`--require-client-tls`).
    case clientLegPlaintext(command: String, refused: Bool)
}

/// How a session ends when its STARTTLS goes wrong.
enum StartTLSFailure: Equatable, Sendable {
    /// End the session with this reason and close both legs.
    case endSession(reason: String)
    /// imapscope could not upgrade the server leg: the client gets `* BYE [UNAVAILABLE]` with the
    /// reason before its leg closes; the server leg closes at once.
    case byeToClient(reason: String)
}
