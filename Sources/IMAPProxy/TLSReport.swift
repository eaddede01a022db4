import IMAPCore

/// What a `tls` event says about one leg, in the proxy's terms (its phases, its annotations),
/// turned into the typed `TLSEvent` in one place (`event`).
struct TLSReport: Equatable, Sendable {
    enum Phase: Equatable, Sendable {
        /// The leg's handshake finished (implicit TLS, or after a STARTTLS).
        case established
        /// imapscope upgraded the server leg with its own STARTTLS (`imap+starttls://`).
        case upgradedByImapscope
        /// The leg's handshake failed, or (`upgradingServer`) imapscope's own upgrade of the server leg did.
        case failed(error: String, upgradingServer: Bool)
    }

    enum Verification: Equatable, Sendable {
        case verified
        case disabled

        var text: String { self == .verified ? "ok" : "disabled (--insecure-upstream)" }
    }

    /// What the handshake showed: version, cipher (off the ServerHello), SNI (off the ClientHello).
    struct Details: Equatable, Sendable {
        var version: String?
        var cipher: String?
        var sni: String?
    }

    var leg: ProxyLeg
    var phase: Phase
    var details = Details()
    /// The server leg's certificate check (established server legs only).
    var verification: Verification?

    var phaseName: String {
        switch phase {
        case .established: return "established"
        case .upgradedByImapscope: return "starttls-upstream"
        case .failed: return "failed"
        }
    }

    var annotation: String {
        switch (phase, leg) {
        case (.established, .client): return "TLS with the client, using a certificate from imapscope's CA"
        case (.established, .server): return "TLS with the real server"
        case (.upgradedByImapscope, _):
            return "imapscope upgraded the server leg with its own STARTTLS; the client's commands go out encrypted"
        case (.failed(_, true), _): return "the server leg could not be upgraded"
        case (.failed, .server): return "the real server's certificate or handshake was refused"
        case (.failed, .client): return "the client's TLS handshake failed"
        }
    }

    /// The typed `tls` event.
    var event: TLSEvent {
        var tls = TLSEvent(leg: leg.rawValue, phase: phaseName)
        if case .failed(let error, _) = phase {
            tls.error = error
            return tls
        }
        tls.version = details.version
        tls.cipher = details.cipher
        tls.sni = details.sni
        tls.verification = verification?.text
        return tls
    }
}
