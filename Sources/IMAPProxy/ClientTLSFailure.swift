import NIOSSL

/// Why the client leg's TLS handshake failed, in words a person acts on (the client does not
/// trust imapscope's CA, it went away, it did not speak TLS), read off the TLS library's error
/// and never showing its type names.
enum ClientTLSFailure {
    /// Reason codes of the TLS library (as in `…:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA at …`)
    /// and what they mean on imapscope's client leg.
    static let reasons: [(code: String, words: String)] = [
        ("TLSV1_ALERT_UNKNOWN_CA", distrust),
        ("SSLV3_ALERT_BAD_CERTIFICATE", distrust),
        ("SSLV3_ALERT_CERTIFICATE_UNKNOWN", distrust),
        ("TLSV1_ALERT_DECRYPT_ERROR", distrust),
        ("WRONG_VERSION_NUMBER", "the client did not speak TLS (plaintext on a TLS listener?)"),
        ("HTTP_REQUEST", "the client did not speak TLS (an HTTP request)"),
        ("UNSUPPORTED_PROTOCOL", "the client offered no TLS version imapscope accepts"),
        ("NO_SHARED_CIPHER", "the client offered no cipher imapscope accepts"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", "the client accepts no TLS version imapscope offers"),
    ]

    static let distrust =
        "the client refused imapscope's certificate: it does not trust imapscope's CA "
        + "(imapscope ca export gives the certificate to install)"
    static let aborted = "the client aborted the TLS handshake"

    static func explain(_ error: Error) -> String {
        if let ssl = error as? NIOSSLError {
            switch ssl {
            case .uncleanShutdown: return aborted
            case .handshakeFailed(let inner): return explain(description: "\(inner)")
            default: break
            }
        }
        return explain(description: "\(error)")
    }

    /// The words for a TLS library error's text.
    static func explain(description: String) -> String {
        if description.contains("EOF during handshake") { return aborted }
        for (code, words) in reasons where description.contains(code) { return words }
        // An unknown reason code: its words, without the library's framing.
        if let range = description.range(of: "OPENSSL_internal:") {
            let code = description[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !code.isEmpty {
                return
                    "the TLS handshake with the client failed (\(code.lowercased().replacingOccurrences(of: "_", with: " ")))"
            }
        }
        return "the TLS handshake with the client failed"
    }
}
