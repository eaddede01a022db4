// The proxy's own certificate authority (issue 4, part 2).
//
// A TLS-terminating proxy has to present a certificate for whatever server name the client asked
// for. imapscope keeps one long-lived CA in a directory (default `~/.imapscope`), which the user
// trusts once in their mail client, and mints short-lived leaf certificates from it per SNI name,
// as mitmproxy does. The CA key never leaves that directory and is created with mode 0600.

import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What went wrong creating or loading a CA; the message names the file concerned.
public struct CertificateAuthorityError: Error, CustomStringConvertible, Sendable {
    public var path: String?
    public var message: String

    public init(path: String?, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { message }
}

/// A certificate authority that lives in a directory (`ca.pem`, `ca-key.pem`) and mints leaf
/// certificates for the names clients ask for. Thread-safe: `leaf(for:fallbackHost:)` may be called
/// from any event loop.
public final class CertificateAuthority: Sendable {
    /// The default CA directory, before `~` expansion.
    public static let defaultDirectory = "~/.imapscope"
    public static let certificateFileName = "ca.pem"
    public static let keyFileName = "ca-key.pem"

    /// How many leaves are cached (least recently used are dropped first).
    public static let leafCacheLimit = 100
    /// Leaves are valid for this long from minting (plus the back-dating)...
    public static let leafLifetime: TimeInterval = 7 * 24 * 3600
    /// ...start this long before they were minted, for clocks that run behind...
    public static let leafBackdating: TimeInterval = 3600
    /// ...and are re-minted once they are this old, so a long-running proxy never serves a stale one.
    static let leafReuseLimit: TimeInterval = 24 * 3600

    /// The directory holding the CA (with `~` expanded).
    public let directory: String
    /// The CA certificate.
    public let certificate: Certificate
    /// Whether `load(directory:)` created the CA just now (false: it was already there).
    public let wasCreated: Bool

    private let privateKey: Certificate.PrivateKey
    private let subjectKeyIdentifier: SubjectKeyIdentifier
    private let certificateDER: [UInt8]
    private let nioCertificate: NIOSSLCertificate
    private let cache = NIOLockedValueBox(LeafCache())

    private init(directory: String, certificate: Certificate, privateKey: Certificate.PrivateKey, wasCreated: Bool)
        throws
    {
        self.directory = directory
        self.certificate = certificate
        self.privateKey = privateKey
        self.wasCreated = wasCreated
        self.subjectKeyIdentifier =
            (try? certificate.extensions.subjectKeyIdentifier) ?? SubjectKeyIdentifier(hash: certificate.publicKey)
        self.certificateDER = try Self.der(certificate)
        self.nioCertificate = try NIOSSLCertificate(bytes: certificateDER, format: .der)
    }

    // MARK: - Files

    /// The path of the CA certificate (`ca.pem`).
    public var certificatePath: String { (directory as NSString).appendingPathComponent(Self.certificateFileName) }
    /// The path of the CA private key (`ca-key.pem`).
    public var keyPath: String { (directory as NSString).appendingPathComponent(Self.keyFileName) }

    /// The CA certificate as PEM (what a user imports into a client's trust store).
    public var certificatePEM: String {
        // Serialising a certificate we hold already parsed cannot fail in practice.
        (try? certificate.serializeAsPEM().pemString) ?? ""
    }

    /// SHA-256 of the DER certificate, as colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`).
    public var fingerprintSHA256: String {
        SHA256.hash(data: certificateDER).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// Expands a leading `~` (alone or `~/…`) using `HOME`.
    public static func expandingTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let home =
            ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.path
        return home + path.dropFirst()
    }

    /// Loads the CA from `directory`, creating it there on first use.
    ///
    /// A new directory gets mode 0700, the key file mode 0600 (set on creation, before any byte is
    /// written). Existing files are never overwritten: unreadable, corrupt or mismatched files are an
    /// error naming the file.
    public static func load(directory: String = defaultDirectory) throws -> CertificateAuthority {
        let dir = expandingTilde(directory)
        try ensureDirectory(dir)
        try checkPrivate(directory: dir)
        let certPath = (dir as NSString).appendingPathComponent(certificateFileName)
        let keyPath = (dir as NSString).appendingPathComponent(keyFileName)
        let fm = FileManager.default
        switch (fm.fileExists(atPath: certPath), fm.fileExists(atPath: keyPath)) {
        case (true, true):
            return try loadExisting(directory: dir, certPath: certPath, keyPath: keyPath)
        case (false, false):
            return try create(directory: dir, certPath: certPath, keyPath: keyPath)
        case (true, false):
            throw CertificateAuthorityError(
                path: keyPath,
                "CA certificate \(certPath) exists but its private key \(keyPath) is missing; restore the key, or remove \(certPath) to create a new CA (clients will have to trust it again)"
            )
        case (false, true):
            throw CertificateAuthorityError(
                path: certPath,
                "CA private key \(keyPath) exists but its certificate \(certPath) is missing; restore the certificate, or remove \(keyPath) to create a new CA (clients will have to trust it again)"
            )
        }
    }

    private static func ensureDirectory(_ dir: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CertificateAuthorityError(path: dir, "CA directory \(dir) exists but is not a directory")
            }
            return
        }
        let parent = (dir as NSString).deletingLastPathComponent
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw CertificateAuthorityError(
                    path: parent, "cannot create directory \(parent): \(error.localizedDescription)")
            }
        }
        if mkdir(dir, 0o700) != 0 {
            let errnoCode = errno
            if errnoCode == EEXIST { return }  // created concurrently
            throw CertificateAuthorityError(path: dir, "cannot create CA directory \(dir): \(errnoText(errnoCode))")
        }
        // The umask may have taken bits away; the directory is still empty, so this opens no window.
        _ = chmod(dir, 0o700)
    }

    private static func loadExisting(directory: String, certPath: String, keyPath: String) throws
        -> CertificateAuthority
    {
        let certText = try readText(certPath, what: "CA certificate")
        let keyText = try readPrivateKeyText(keyPath)
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certText)
        } catch {
            throw CertificateAuthorityError(
                path: certPath,
                "CA certificate \(certPath) is corrupt (not a PEM certificate: \(reason(error))); not overwriting it — fix or remove it"
            )
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: keyText)
        } catch {
            throw CertificateAuthorityError(
                path: keyPath,
                "CA private key \(keyPath) is corrupt (not a PEM private key: \(reason(error))); not overwriting it — fix or remove it"
            )
        }
        guard key.publicKey == certificate.publicKey else {
            throw CertificateAuthorityError(
                path: keyPath,
                "CA private key \(keyPath) does not belong to the certificate \(certPath)")
        }
        guard let constraints = try? certificate.extensions.basicConstraints,
            case .isCertificateAuthority = constraints
        else {
            throw CertificateAuthorityError(
                path: certPath, "\(certPath) is not a CA certificate (no BasicConstraints CA:TRUE)")
        }
        do {
            return try CertificateAuthority(
                directory: directory, certificate: certificate, privateKey: key, wasCreated: false)
        } catch {
            throw CertificateAuthorityError(
                path: certPath, "CA certificate \(certPath) cannot be used for TLS: \(error)")
        }
    }

    /// An error's description without the source location swift-asn1 appends ("… SwiftASN1/PEMDocument.swift:140").
    private static func reason(_ error: Error) -> String {
        var text = String(describing: error)
        if let space = text.lastIndex(of: " "), text[space...].contains(".swift:") {
            text = String(text[..<space])
        }
        return text
    }

    private static func readText(_ path: String, what: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CertificateAuthorityError(path: path, "cannot read \(what) \(path): \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CertificateAuthorityError(
                path: path, "\(what) \(path) is corrupt (not PEM text); not overwriting it — fix or remove it")
        }
        return text
    }

    /// Refuses a CA directory that is not the user's own or that group/others can access: whoever can
    /// list or write it can swap the CA the user's mail clients trust.
    private static func checkPrivate(directory dir: String) throws {
        var info = stat()
        guard stat(dir, &info) == 0 else {
            throw CertificateAuthorityError(path: dir, "cannot examine CA directory \(dir): \(errnoText(errno))")
        }
        try requirePrivate(info, path: dir, what: "CA directory", fix: "chmod 700 \(dir)")
    }

    /// Refuses a CA file or directory that is not the user's own, or that group or others can access.
    private static func requirePrivate(_ info: stat, path: String, what: String, fix: String) throws {
        guard info.st_uid == geteuid() else {
            throw CertificateAuthorityError(
                path: path,
                "\(what) \(path) belongs to uid \(info.st_uid), not to you (uid \(geteuid())); "
                    + "refusing a CA others control (chown it, or choose another --ca-dir)")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw CertificateAuthorityError(
                path: path,
                "\(what) \(path) is accessible by group or others (mode \(octal(mode))); fix it with: \(fix)")
        }
    }

    /// Reads the CA key only from a regular file of the user's own, mode 0600 or stricter, not through a
    /// symbolic link (which could point the proxy at a key someone else controls). The checks are made
    /// on the opened descriptor, so the file cannot be swapped between check and read.
    private static func readPrivateKeyText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let errnoCode = errno
            if errnoCode == ELOOP {
                throw CertificateAuthorityError(
                    path: path,
                    "CA private key \(path) is a symbolic link; refusing to follow it. Put the key itself "
                        + "there (mv \"$(readlink -f \(path))\" \(path)) and run chmod 600 \(path)")
            }
            throw CertificateAuthorityError(path: path, "cannot read CA private key \(path): \(errnoText(errnoCode))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CertificateAuthorityError(path: path, "cannot examine CA private key \(path): \(errnoText(errno))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CertificateAuthorityError(path: path, "CA private key \(path) is not a regular file")
        }
        try requirePrivate(info, path: path, what: "CA private key", fix: "chmod 600 \(path)")
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let bytesRead = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if bytesRead < 0 {
                let errnoCode = errno
                if errnoCode == EINTR { continue }
                throw CertificateAuthorityError(
                    path: path, "cannot read CA private key \(path): \(errnoText(errnoCode))")
            }
            if bytesRead == 0 { break }
            data += buffer[0..<bytesRead]
            // A PEM key is a few hundred bytes; anything this large is not one.
            guard data.count <= 1 << 20 else {
                throw CertificateAuthorityError(path: path, "CA private key \(path) is corrupt (over 1 MiB)")
            }
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw CertificateAuthorityError(
                path: path,
                "CA private key \(path) is corrupt (not PEM text); not overwriting it — fix or remove it")
        }
        return text
    }

    private static func octal(_ mode: mode_t) -> String { "0" + String(mode, radix: 8) }

    private static func create(directory: String, certPath: String, keyPath: String) throws -> CertificateAuthority {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            CommonName("imapscope CA (\(localHostName()))")
            OrganizationName("imapscope")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-24 * 3600),
            notValidAfter: now.addingTimeInterval(10 * 365.25 * 24 * 3600),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key
        )
        try publish(
            files: [
                (keyPath, try key.serializeAsPEM().pemString + "\n", 0o600, "CA private key"),
                (certPath, try certificate.serializeAsPEM().pemString + "\n", 0o644, "CA certificate"),
            ], in: directory)
        return try CertificateAuthority(
            directory: directory, certificate: certificate, privateKey: key, wasCreated: true)
    }

    /// Writes each file whole under a temporary name first, then links them into place (key first: a
    /// certificate without its key would be useless). No reader ever sees a half-written file; `link`
    /// never replaces an existing file, so a CA another process created meanwhile is kept; and if
    /// linking the second file fails, the first is unlinked again, so no half CA is left behind.
    private static func publish(
        files: [(path: String, contents: String, mode: mode_t, what: String)],
        in directory: String
    ) throws {
        var temporaries: [String] = []
        defer { for temporary in temporaries { unlink(temporary) } }
        for file in files {
            let temporary = (directory as NSString).appendingPathComponent(".\(UUID().uuidString).tmp")
            try writeNewFile(temporary, contents: file.contents, mode: file.mode, what: file.what)
            temporaries.append(temporary)
        }
        var linked: [String] = []
        for (file, temporary) in zip(files, temporaries) {
            guard link(temporary, file.path) == 0 else {
                let errnoCode = errno
                for path in linked { unlink(path) }
                throw CertificateAuthorityError(
                    path: file.path,
                    errnoCode == EEXIST
                        ? "\(file.what) \(file.path) appeared while creating the CA; not overwriting it"
                        : "cannot create \(file.what) \(file.path): \(errnoText(errnoCode))")
            }
            linked.append(file.path)
        }
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    /// Creates `path` exclusively with `mode` (exactly: the mode is fixed on the still-empty file, so
    /// the umask cannot widen or narrow it and the contents are never visible with other permissions).
    private static func writeNewFile(_ path: String, contents: String, mode: mode_t, what: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let errnoCode = errno
            throw CertificateAuthorityError(
                path: path,
                errnoCode == EEXIST
                    ? "\(what) \(path) appeared while creating the CA; not overwriting it"
                    : "cannot create \(what) \(path): \(errnoText(errnoCode))")
        }
        defer { close(fd) }
        guard fchmod(fd, mode) == 0 else {
            let errnoCode = errno
            throw CertificateAuthorityError(path: path, "cannot set the mode of \(path): \(errnoText(errnoCode))")
        }
        var bytes = Array(contents.utf8)[...]
        while !bytes.isEmpty {
            let bytesWritten = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if bytesWritten < 0 {
                let errnoCode = errno
                if errnoCode == EINTR { continue }
                throw CertificateAuthorityError(path: path, "cannot write \(what) \(path): \(errnoText(errnoCode))")
            }
            bytes = bytes.dropFirst(bytesWritten)
        }
        _ = fsync(fd)
    }

    private static func errnoText(_ errnoCode: Int32) -> String {
        strerror(errnoCode).map { String(cString: $0) } ?? "errno \(errnoCode)"
    }

    private static func localHostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let ok = buffer.withUnsafeMutableBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { chars in
                chars.baseAddress.map { gethostname($0, chars.count - 1) == 0 } ?? false
            }
        }
        guard ok else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    private static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    // MARK: - Leaves

    /// A leaf certificate for `serverName` (the client's SNI), or for `fallbackHost` when the client
    /// sent none, with the chain `[leaf, CA]`. Leaves are cached per name (at most
    /// ``leafCacheLimit``, least recently used dropped first) and re-minted after a day.
    public func leaf(for serverName: String?, fallbackHost: String) throws -> (
        chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
    ) {
        let name = Self.normalise(serverName.flatMap { $0.isEmpty ? nil : $0 } ?? fallbackHost)
        let now = Date()
        return try cache.withLockedValue { cache in
            if let entry = cache.lookup(name, now: now) {
                return (entry.chain, entry.key)
            }
            let entry = try mint(name, now: now)
            cache.insert(name, entry)
            return (entry.chain, entry.key)
        }
    }

    /// The X.509 form of the leaf currently served for a name (minting it if needed); for tests and diagnostics.
    public func leafCertificate(for serverName: String?, fallbackHost: String) throws -> Certificate {
        let leaf = try leaf(for: serverName, fallbackHost: fallbackHost)
        return try Certificate(derEncoded: leaf.chain[0].toDERBytes())
    }

    /// Number of cached leaves (for tests).
    public var cachedLeafCount: Int { cache.withLockedValue { $0.entries.count } }

    /// Lower case, without a trailing dot or IPv6 brackets.
    static func normalise(_ name: String) -> String {
        var normalized = name.lowercased()
        if normalized.hasPrefix("[") && normalized.hasSuffix("]") {
            normalized = String(normalized.dropFirst().dropLast())
        }
        while normalized.hasSuffix(".") && normalized.count > 1 { normalized.removeLast() }
        return normalized
    }

    /// The bytes of an IPv4 or IPv6 address literal, or nil when `text` is not one.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    private static func generalName(_ name: String) -> GeneralName {
        if let bytes = ipAddressBytes(name) {
            return .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        }
        return .dnsName(name)
    }

    private func mint(_ name: String, now: Date) throws -> LeafCache.Entry {
        let leafKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(leafKey.publicKey)
        var names: [GeneralName] = []
        for candidate in [name, "localhost", "127.0.0.1", "::1"] {
            let generalName = Self.generalName(candidate)
            if !names.contains(generalName) { names.append(generalName) }
        }
        // ub-common-name is 64 characters; longer names live in the SAN only.
        let commonName = name.count <= 64 ? name : "imapscope leaf"
        let subject = try DistinguishedName {
            CommonName(commonName)
            OrganizationName("imapscope")
        }
        let leaf = try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-Self.leafBackdating),
            notValidAfter: now.addingTimeInterval(Self.leafLifetime),
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(keyIdentifier: subjectKeyIdentifier.keyIdentifier)
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: privateKey
        )
        let nioLeaf = try NIOSSLCertificate(bytes: Self.der(leaf), format: .der)
        let nioKey = try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)
        return LeafCache.Entry(chain: [nioLeaf, nioCertificate], key: nioKey, minted: now)
    }

    // MARK: - TLS

    /// A server-side TLS configuration that presents, per connection, a leaf for the client's SNI
    /// name, or for `fallbackHost` when the client sent none. (The configuration's own chain, a leaf
    /// for "localhost", is only the placeholder NIOSSL requires up front.)
    public func serverTLSConfiguration(fallbackHost: String) throws -> TLSConfiguration {
        let initial = try leaf(for: "localhost", fallbackHost: "localhost")
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: initial.chain.map { .certificate($0) },
            privateKey: .privateKey(initial.key)
        )
        configuration.sslContextCallback = { [self] values, promise in
            do {
                let leaf: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)
                do {
                    leaf = try self.leaf(for: values.serverHostname, fallbackHost: fallbackHost)
                } catch {
                    // An SNI name no certificate can carry (not IA5 text): serve the fallback rather than fail.
                    leaf = try self.leaf(for: nil, fallbackHost: fallbackHost)
                }
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = leaf.chain.map { .certificate($0) }
                override.privateKey = .privateKey(leaf.key)
                promise.succeed(override)
            } catch {
                promise.fail(error)
            }
        }
        return configuration
    }
}

/// Minted leaves by name, least recently used first.
private struct LeafCache: Sendable {
    struct Entry: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var minted: Date
    }

    var entries: [String: Entry] = [:]
    var order: [String] = []

    mutating func lookup(_ name: String, now: Date) -> Entry? {
        guard let entry = entries[name] else { return nil }
        if now.timeIntervalSince(entry.minted) > CertificateAuthority.leafReuseLimit || now < entry.minted {
            remove(name)
            return nil
        }
        if let index = order.firstIndex(of: name) {
            order.remove(at: index)
            order.append(name)
        }
        return entry
    }

    mutating func insert(_ name: String, _ entry: Entry) {
        remove(name)
        entries[name] = entry
        order.append(name)
        while order.count > CertificateAuthority.leafCacheLimit {
            entries.removeValue(forKey: order.removeFirst())
        }
    }

    private mutating func remove(_ name: String) {
        if entries.removeValue(forKey: name) != nil, let index = order.firstIndex(of: name) {
            order.remove(at: index)
        }
    }
}
