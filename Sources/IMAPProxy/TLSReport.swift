import IMAPCore

/// What a `tls` event says about one leg: typed here, encoded as schema v1 fields in one place
/// (`fields`), in the order the schema has always had them.
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

    /// The event's fields, schema v1.
    var fields: [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [("leg", .string(leg.rawValue)), ("phase", .string(phaseName))]
        if case .failed(let error, _) = phase {
            out.append(("error", .string(error)))
            return out
        }
        if let version = details.version { out.append(("version", .string(version))) }
        if let cipher = details.cipher { out.append(("cipher", .string(cipher))) }
        if let sni = details.sni { out.append(("sni", .string(sni))) }
        if let verification { out.append(("verification", .string(verification.text))) }
        return out
    }
}
