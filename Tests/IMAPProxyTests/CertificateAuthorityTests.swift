import Foundation
import IMAPProxy
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import Testing
import X509

@Suite struct CertificateAuthorityTests {

    // MARK: - Files and modes

    @Test func createsDirectoryAndKeyWithPrivateModes() throws {
        try withTemporaryDirectory { tmp in
            let dir = tmp + "/nested/ca"  // neither exists yet
            let ca = try CertificateAuthority.load(directory: dir)
            #expect(ca.wasCreated)
            #expect(ca.directory == dir)
            #expect(ca.certificatePath == dir + "/ca.pem")
            #expect(try mode(of: dir) == 0o700)
            #expect(try mode(of: dir + "/ca-key.pem") == 0o600)
            #expect(FileManager.default.fileExists(atPath: dir + "/ca.pem"))

            let cert = ca.certificate
            #expect(cert.version == .v3)
            #expect(cert.subject == cert.issuer)
            #expect(cert.subject.description.contains("CN=imapscope CA ("))
            #expect(cert.subject.description.contains("O=imapscope"))
            #expect(cert.signatureAlgorithm == .ecdsaWithSHA256)
            #expect(cert.publicKey.isValidSignature(cert.signature, for: cert))

            let bc = try #require(try cert.extensions.basicConstraints)
            #expect(bc == .isCertificateAuthority(maxPathLength: 0))
            #expect(cert.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
            let ku = try #require(try cert.extensions.keyUsage)
            #expect(ku.keyCertSign && ku.cRLSign && !ku.digitalSignature)
            #expect(cert.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
            #expect(try cert.extensions.subjectKeyIdentifier != nil)

            let now = Date()
            #expect(abs(cert.notValidBefore.timeIntervalSince(now.addingTimeInterval(-86400))) < 120)
            #expect(cert.notValidAfter.timeIntervalSince(now) > 9.9 * 365 * 86400)
            #expect(cert.notValidAfter.timeIntervalSince(now) < 10.1 * 365 * 86400)

            #expect(ca.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
            #expect(ca.fingerprintSHA256.count == 32 * 3 - 1)

            // openssl agrees on the fingerprint and on the key file's form.
            let fp = try runTool(["openssl", "x509", "-in", ca.certificatePath, "-noout", "-fingerprint", "-sha256"])
            #expect(fp.output.contains(ca.fingerprintSHA256), "\(fp.output)")
            let key = try runTool(["openssl", "pkey", "-in", dir + "/ca-key.pem", "-noout", "-text"])
            #expect(key.status == 0 && key.output.contains("P-256"), "\(key.output)")
        }
    }

    @Test func tildeExpandsToHome() {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        #expect(CertificateAuthority.expandingTilde("~/.imapscope") == home + "/.imapscope")
        #expect(CertificateAuthority.expandingTilde("~") == home)
        #expect(CertificateAuthority.expandingTilde("/etc/x") == "/etc/x")
        #expect(CertificateAuthority.expandingTilde("~other/x") == "~other/x")
    }

    @Test func loadingAgainReturnsTheSameCertificate() throws {
        try withTemporaryDirectory { dir in
            let first = try CertificateAuthority.load(directory: dir)
            let pemBefore = try String(contentsOfFile: dir + "/ca.pem", encoding: .utf8)
            let keyBefore = try Data(contentsOf: URL(fileURLWithPath: dir + "/ca-key.pem"))
            let second = try CertificateAuthority.load(directory: dir)
            #expect(!second.wasCreated)
            #expect(second.certificate == first.certificate)
            #expect(second.certificatePEM == first.certificatePEM)
            #expect(second.fingerprintSHA256 == first.fingerprintSHA256)
            #expect(try String(contentsOfFile: dir + "/ca.pem", encoding: .utf8) == pemBefore)
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/ca-key.pem")) == keyBefore)
            // A leaf minted by the reloaded CA chains to the first one.
            let leaf = try second.leafCertificate(for: "imap.example.test", fallbackHost: "localhost")
            #expect(first.certificate.publicKey.isValidSignature(leaf.signature, for: leaf))
        }
    }

    @Test func corruptCertificateIsAnErrorNamingTheFile() throws {
        try withTemporaryDirectory { dir in
            _ = try CertificateAuthority.load(directory: dir)
            let garbage = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
            try garbage.write(toFile: dir + "/ca.pem", atomically: false, encoding: .utf8)
            let error = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(error.description.contains(dir + "/ca.pem"), "\(error)")
            #expect(error.path == dir + "/ca.pem")
            // Never silently overwritten.
            #expect(try String(contentsOfFile: dir + "/ca.pem", encoding: .utf8) == garbage)
        }
    }

    @Test func corruptKeyOrMissingFileIsAnErrorNamingTheFile() throws {
        try withTemporaryDirectory { dir in
            _ = try CertificateAuthority.load(directory: dir)
            let key = try Data(contentsOf: URL(fileURLWithPath: dir + "/ca-key.pem"))
            try Data([0xff, 0xfe, 0x00, 0x01]).write(to: URL(fileURLWithPath: dir + "/ca-key.pem"))
            let corrupt = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(corrupt.description.contains(dir + "/ca-key.pem"), "\(corrupt)")

            // A key from another CA.
            try withTemporaryDirectory { other in
                _ = try CertificateAuthority.load(directory: other)
                let otherKey = try Data(contentsOf: URL(fileURLWithPath: other + "/ca-key.pem"))
                try otherKey.write(to: URL(fileURLWithPath: dir + "/ca-key.pem"))
            }
            let mismatch = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(mismatch.description.contains("does not belong"), "\(mismatch)")

            try key.write(to: URL(fileURLWithPath: dir + "/ca-key.pem"))
            _ = try CertificateAuthority.load(directory: dir)

            try FileManager.default.removeItem(atPath: dir + "/ca-key.pem")
            let missing = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(missing.description.contains(dir + "/ca-key.pem"), "\(missing)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/ca-key.pem"))
        }
    }

    // MARK: - Unsafe files are refused

    @Test func aDirectoryOthersCanReadIsRefusedWithTheFix() throws {
        try withTemporaryDirectory { dir in
            #expect(chmod(dir, 0o755) == 0)
            let error = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(
                error.description == "CA directory \(dir) is accessible by group or others (mode 0755); "
                    + "fix it with: chmod 700 \(dir)")
            // Nothing was created in it.
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [])
            #expect(chmod(dir, 0o700) == 0)
            #expect(try CertificateAuthority.load(directory: dir).wasCreated)
            // An existing CA in a directory that became readable is refused too.
            #expect(chmod(dir, 0o750) == 0)
            #expect(throws: CertificateAuthorityError.self) { try CertificateAuthority.load(directory: dir) }
        }
    }

    @Test func aKeyOthersCanReadIsRefusedWithTheFix() throws {
        try withTemporaryDirectory { dir in
            _ = try CertificateAuthority.load(directory: dir)
            for badMode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602] {
                #expect(chmod(dir + "/ca-key.pem", badMode) == 0)
                let error = try #require(throws: CertificateAuthorityError.self) {
                    try CertificateAuthority.load(directory: dir)
                }
                #expect(error.path == dir + "/ca-key.pem")
                #expect(
                    error.description.hasSuffix(
                        "(mode 0\(String(badMode, radix: 8))); " + "fix it with: chmod 600 \(dir)/ca-key.pem"),
                    "\(error)")
            }
            #expect(chmod(dir + "/ca-key.pem", 0o400) == 0)
            #expect(try !CertificateAuthority.load(directory: dir).wasCreated)
        }
    }

    @Test func aKeyReachedThroughASymlinkIsRefused() throws {
        try withTemporaryDirectory { dir in
            _ = try CertificateAuthority.load(directory: dir)
            try withTemporaryDirectory { elsewhere in
                let real = elsewhere + "/real-key.pem"
                #expect(rename(dir + "/ca-key.pem", real) == 0)
                #expect(symlink(real, dir + "/ca-key.pem") == 0)
                let error = try #require(throws: CertificateAuthorityError.self) {
                    try CertificateAuthority.load(directory: dir)
                }
                #expect(error.path == dir + "/ca-key.pem")
                #expect(error.description.contains("is a symbolic link; refusing to follow it"), "\(error)")
            }
        }
    }

    @Test(.enabled(if: geteuid() == 0, "only root can give a file to another user"))
    func aKeyOfAnotherUserIsRefused() throws {
        try withTemporaryDirectory { dir in
            _ = try CertificateAuthority.load(directory: dir)
            let other: uid_t = 65534
            #expect(chown(dir + "/ca-key.pem", other, gid_t.max) == 0)
            let error = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(error.description.contains("belongs to uid \(other), not to you"), "\(error)")
        }
    }

    /// `ca.pem` appearing between the check and the creation (here: a dangling symlink, which the
    /// existence check does not see) makes creation fail; the key already linked is taken back, so
    /// no half CA and no temporary file is left.
    @Test func aFailedCreationLeavesNoHalfCA() throws {
        try withTemporaryDirectory { dir in
            #expect(symlink(dir + "/nowhere", dir + "/ca.pem") == 0)
            let error = try #require(throws: CertificateAuthorityError.self) {
                try CertificateAuthority.load(directory: dir)
            }
            #expect(
                error.description == "CA certificate \(dir)/ca.pem appeared while creating the CA; "
                    + "not overwriting it")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["ca.pem"])
        }
    }

    // MARK: - Leaves

    @Test func mintedLeafVerifiesAgainstTheCA() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try CertificateAuthority.load(directory: dir)
        let (chain, _) = try ca.leaf(for: "imap.example.test", fallbackHost: "localhost")
        #expect(chain.count == 2)
        #expect(try chain[1].toDERBytes() == ca.certificate.derBytes)
        let leaf = try Certificate(derEncoded: chain[0].toDERBytes())

        #expect(leaf.issuer == ca.certificate.subject)
        #expect(leaf.subject.description.contains("CN=imap.example.test"))
        #expect(ca.certificate.publicKey.isValidSignature(leaf.signature, for: leaf))
        #expect(leaf.publicKey != ca.certificate.publicKey)

        let sans = Array(try #require(try leaf.extensions.subjectAlternativeNames))
        #expect(sans.contains(.dnsName("imap.example.test")))
        #expect(sans.contains(.dnsName("localhost")))
        #expect(sans.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))))
        #expect(
            sans.contains(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        )
        #expect(sans.count == 4)

        let eku = try #require(try leaf.extensions.extendedKeyUsage)
        #expect(eku.contains(.serverAuth))
        #expect(try leaf.extensions.basicConstraints == .notCertificateAuthority)
        #expect(leaf.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let ku = try #require(try leaf.extensions.keyUsage)
        #expect(ku.digitalSignature && !ku.keyCertSign)
        #expect(leaf.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        let aki = try #require(try leaf.extensions.authorityKeyIdentifier)
        #expect(aki.keyIdentifier == (try ca.certificate.extensions.subjectKeyIdentifier)?.keyIdentifier)
        #expect(try leaf.extensions.subjectKeyIdentifier != nil)

        let now = Date()
        #expect(leaf.notValidBefore < now.addingTimeInterval(-30 * 60))
        #expect(leaf.notValidBefore > now.addingTimeInterval(-2 * 3600))
        #expect(leaf.notValidAfter <= now.addingTimeInterval(7 * 86400 + 60))
        #expect(leaf.notValidAfter > now.addingTimeInterval(7 * 86400 - 3600))

        // swift-certificates' own RFC 5280 + server identity verification.
        var verifier = Verifier(rootCertificates: CertificateStore([ca.certificate])) {
            RFC5280Policy()
            ServerIdentityPolicy(serverHostname: "imap.example.test", serverIP: nil)
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore())
        guard case .validCertificate = result else {
            Issue.record("leaf did not verify: \(result)")
            return
        }
        var wrong = Verifier(rootCertificates: CertificateStore([ca.certificate])) {
            RFC5280Policy()
            ServerIdentityPolicy(serverHostname: "wrong.example", serverIP: nil)
        }
        if case .validCertificate = await wrong.validate(leaf: leaf, intermediates: CertificateStore()) {
            Issue.record("leaf verified for a name it does not carry")
        }

        // OpenSSL in strict mode, for the TLS server purpose.
        let leafPath = dir + "/leaf.pem"
        try leaf.serializeAsPEM().pemString.write(toFile: leafPath, atomically: true, encoding: .utf8)
        let verify = try runTool([
            "openssl", "verify", "-x509_strict", "-purpose", "sslserver",
            "-verify_hostname", "imap.example.test", "-CAfile", ca.certificatePath, leafPath,
        ])
        #expect(verify.status == 0 && verify.output.contains(": OK"), "\(verify.output)")
    }

    @Test func ipAddressNamesBecomeIPAddressSANs() throws {
        try withTemporaryDirectory { dir in
            let ca = try CertificateAuthority.load(directory: dir)
            let v4 = try ca.leafCertificate(for: "192.0.2.7", fallbackHost: "localhost")
            let sans4 = Array(try #require(try v4.extensions.subjectAlternativeNames))
            #expect(sans4.contains(.ipAddress(ASN1OctetString(contentBytes: [192, 0, 2, 7]))))
            #expect(!sans4.contains(.dnsName("192.0.2.7")))

            // No SNI: the fallback host, here an IPv6 literal as it appears in a URL.
            let v6 = try ca.leafCertificate(for: nil, fallbackHost: "[2001:db8::5]")
            let sans6 = Array(try #require(try v6.extensions.subjectAlternativeNames))
            var bytes = [UInt8](repeating: 0, count: 16)
            bytes[0] = 0x20
            bytes[1] = 0x01
            bytes[2] = 0x0d
            bytes[3] = 0xb8
            bytes[15] = 5
            #expect(sans6.contains(.ipAddress(ASN1OctetString(contentBytes: bytes[...]))))
            #expect(sans6.count == 4)

            // "localhost" is not listed twice.
            let local = try ca.leafCertificate(for: "LOCALHOST.", fallbackHost: "x")
            #expect(Array(try #require(try local.extensions.subjectAlternativeNames)).count == 3)
        }
    }

    @Test func leavesAreCachedPerNameAndTheCacheIsBounded() throws {
        try withTemporaryDirectory { dir in
            let ca = try CertificateAuthority.load(directory: dir)
            let a = try ca.leafCertificate(for: "a.example.test", fallbackHost: "localhost")
            let again = try ca.leafCertificate(for: "A.Example.Test", fallbackHost: "localhost")
            #expect(a.serialNumber == again.serialNumber)
            let b = try ca.leafCertificate(for: "b.example.test", fallbackHost: "localhost")
            #expect(a.serialNumber != b.serialNumber)
            #expect(ca.cachedLeafCount == 2)

            // Concurrent minting from many threads (as from several event loops) is safe.
            DispatchQueue.concurrentPerform(iterations: 150) { i in
                do { _ = try ca.leaf(for: "host\(i % 130).example.test", fallbackHost: "localhost") } catch {
                    Issue.record("minting host\(i % 130).example.test failed: \(error)")
                }
            }
            #expect(ca.cachedLeafCount == CertificateAuthority.leafCacheLimit)
        }
    }

    // MARK: - Real TLS handshakes

    @Test func opensslAndPythonVerifyTheServedLeaf() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try CertificateAuthority.load(directory: dir)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await startTLSServer(ca: ca, fallbackHost: "localhost", group: group)
        let fallbackServer = try await startTLSServer(ca: ca, fallbackHost: "fallback.example.test", group: group)
        let port = try #require(server.localAddress?.port)
        let fallbackPort = try #require(fallbackServer.localAddress?.port)
        do {
            try await handshakeChecks(ca: ca, port: port, fallbackPort: fallbackPort)
        } catch {
            Issue.record(error)
        }
        try? await server.close()
        try? await fallbackServer.close()
        try await group.shutdownGracefully()
    }

    private func handshakeChecks(ca: CertificateAuthority, port: Int, fallbackPort: Int) async throws {
        // The SNI name verifies...
        let ok = try await runToolAsync([
            "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "imap.example.test",
            "-CAfile", ca.certificatePath, "-verify_return_error", "-verify_hostname", "imap.example.test",
        ])
        #expect(ok.output.contains("Verify return code: 0 (ok)"), "\(ok.output)")
        #expect(
            ok.output.contains("CN = imap.example.test") || ok.output.contains("CN=imap.example.test"), "\(ok.output)")

        // ...another name does not.
        let wrong = try await runToolAsync([
            "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "imap.example.test",
            "-CAfile", ca.certificatePath, "-verify_return_error", "-verify_hostname", "wrong.example",
        ])
        #expect(!wrong.output.contains("Verify return code: 0 (ok)"), "\(wrong.output)")
        #expect(wrong.status != 0)
        #expect(wrong.output.contains("hostname mismatch"), "\(wrong.output)")

        // No SNI: the configuration's fallback host is served.
        let noSNI = try await runToolAsync([
            "openssl", "s_client", "-connect", "127.0.0.1:\(fallbackPort)", "-noservername",
            "-CAfile", ca.certificatePath, "-verify_return_error", "-verify_hostname", "fallback.example.test",
        ])
        #expect(noSNI.output.contains("Verify return code: 0 (ok)"), "\(noSNI.output)")

        // The loopback address is in every leaf.
        let byIP = try await runToolAsync([
            "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "imap.example.test",
            "-CAfile", ca.certificatePath, "-verify_return_error", "-verify_ip", "127.0.0.1",
        ])
        #expect(byIP.output.contains("Verify return code: 0 (ok)"), "\(byIP.output)")

        // Python's default context (hostname checking, CERT_REQUIRED).
        let script = """
            import ssl, socket, sys
            ctx = ssl.create_default_context(cafile=sys.argv[1])
            s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=10), server_hostname='imap.example.test')
            print(s.version())
            s.close()
            """
        let python = try await runToolAsync(["python3", "-c", script, ca.certificatePath, String(port)])
        #expect(python.status == 0, "\(python.output)")
        let version = python.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version == "TLSv1.3" || version == "TLSv1.2", "\(python.output)")
    }
}

// MARK: - Helpers

private func startTLSServer(ca: CertificateAuthority, fallbackHost: String, group: MultiThreadedEventLoopGroup)
    async throws -> Channel
{
    let context = try NIOSSLContext(configuration: ca.serverTLSConfiguration(fallbackHost: fallbackHost))
    return try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                try channel.pipeline.syncOperations.addHandler(Greeter())
            }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
}

/// Sends an IMAP greeting once TLS is up (written before the handshake ends; NIOSSL holds it back).
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: "* OK imapscope test\r\n")), promise: nil)
        context.fireChannelActive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

private struct ToolResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs a tool (found on PATH) with stdin closed, stdout and stderr together, killed after 30 s.
private func runTool(_ arguments: [String]) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["timeout", "30"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// `runTool` off the cooperative pool.
private func runToolAsync(_ arguments: [String]) async throws -> ToolResult {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runTool(arguments) })
        }
    }
}

private func makeTemporaryDirectory() throws -> String {
    var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("imapscope-ca-XXXXXX").utf8CString)
    guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    return String(cString: p)
}

private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try body(dir)
}

private func mode(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
}

extension Certificate {
    fileprivate var derBytes: [UInt8] {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self)
            return serializer.serializedBytes
        }
    }
}
