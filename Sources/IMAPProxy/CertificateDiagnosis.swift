import Foundation
import NIOCore
import NIOSSL
import X509

/// Why the real server's certificate was refused, in words a person can act on. BoringSSL only
/// says CERTIFICATE_VERIFY_FAILED; the peer's certificate, still readable from the TLS handler
/// after the failure, tells whether it expired, names another host or comes from an unknown CA.
/// The verdict itself stays BoringSSL's; this only explains it.
enum CertificateDiagnosis {
    static func explain(
        _ error: Error, pipeline: ChannelPipeline.SynchronousOperations, host: String?, now: Date = Date()
    ) -> String {
        let raw = "\(error)"
        let isVerification = raw.contains("CERTIFICATE_VERIFY_FAILED")
        let isHostname: Bool = {
            if let extraError = error as? NIOSSLExtraError, extraError == .failedToValidateHostname { return true }
            return false
        }()
        guard isVerification || isHostname,
            let handler = try? pipeline.handler(type: NIOSSLHandler.self), let peer = handler.peerCertificate,
            let der = try? peer.toDERBytes(), let cert = try? Certificate(derEncoded: der)
        else { return raw }
        let names = subjectNames(cert)
        let named = names.isEmpty ? "" : " (it names \(names.joined(separator: ", ")))"
        if isHostname { return "the server's certificate is not valid for \(host ?? "this address")\(named)" }
        let formatter = ISO8601DateFormatter()
        if cert.notValidAfter < now {
            return
                "the server's certificate has expired (not valid after \(formatter.string(from: cert.notValidAfter)))"
        }
        if cert.notValidBefore > now {
            return
                "the server's certificate is not valid yet (not before \(formatter.string(from: cert.notValidBefore)))"
        }
        if cert.issuer == cert.subject {
            return
                "the server's certificate is self-signed by \(cert.subject) and not trusted (add it with --upstream-ca FILE, or --insecure-upstream)"
        }
        return
            "the server's certificate, issued by \(cert.issuer), does not chain to a trusted CA (add the CA with --upstream-ca FILE)"
    }

    static func subjectNames(_ cert: Certificate) -> [String] {
        guard let san = try? cert.extensions.subjectAlternativeNames else { return [] }
        return san.compactMap { generalName in
            switch generalName {
            case .dnsName(let dnsName): return dnsName
            case .ipAddress(let address):
                let bytes = Array(address.bytes)
                if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
                return bytes.count == 16
                    ? "IPv6 "
                        + stride(from: 0, to: 16, by: 2).map {
                            String(Int(bytes[$0]) << 8 | Int(bytes[$0 + 1]), radix: 16)
                        }.joined(separator: ":") : nil
            default: return nil
            }
        }
    }
}
