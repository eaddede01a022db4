import IMAPProxy
import NIOSSL

/// Where the proxy's server-side TLS comes from: imapscope's CA (see `imapscope ca`).
enum ProxyTLS {
    static func serverConfiguration(caDir: String?, fallbackHost: String) throws -> TLSConfiguration {
        do {
            let ca = try CertificateAuthority.load(directory: caDir ?? "~/.imapscope")
            return try ca.serverTLSConfiguration(fallbackHost: fallbackHost)
        } catch {
            throw CLIError(description: "certificate authority: \(error)")
        }
    }
}
