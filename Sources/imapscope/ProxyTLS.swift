import IMAPProxy
import NIOSSL

/// Where the proxy's server-side TLS comes from: the CA (see `imapscope ca`).
enum ProxyTLS {
    static func serverConfiguration(caDir: String?, fallbackHost: String) throws -> TLSConfiguration {
        throw CLIError(description: "imaps:// listeners need the certificate authority, which this build does not have yet")
    }
}
