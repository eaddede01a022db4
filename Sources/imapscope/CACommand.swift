import ArgumentParser
import Foundation
import IMAPProxy

/// `imapscope ca init|path|export`: the proxy's certificate authority.
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Manage the certificate authority the proxy mints its TLS certificates from.",
        discussion: """
            The proxy presents, for each server name a client asks for, a short-lived certificate \
            signed by its own CA. Trust that CA once in the mail client (or pass its certificate as \
            the client's CA file). The CA is created on first use: ca.pem (certificate) and \
            ca-key.pem (private key, mode 0600) in a directory of mode 0700.
            """,
        subcommands: [Init.self, Path.self, Export.self]
    )

    struct Options: ParsableArguments {
        @Option(name: .customLong("ca-dir"), help: ArgumentHelp("The CA directory.", valueName: "DIR"))
        var caDirectory: String = CertificateAuthority.defaultDirectory

        /// Errors (`CertificateAuthorityError`) name the file; ArgumentParser prints their description.
        func load() throws -> CertificateAuthority {
            try CertificateAuthority.load(directory: caDirectory)
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the CA if it does not exist; print its certificate path and SHA-256 fingerprint."
        )

        @OptionGroup var options: Options

        func run() throws {
            let ca = try options.load()
            print(ca.wasCreated ? "Created a new CA in \(ca.directory)" : "Using the existing CA in \(ca.directory)")
            print("Certificate: \(ca.certificatePath)")
            print("SHA-256 fingerprint: \(ca.fingerprintSHA256)")
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "path",
            abstract: "Print the path of the CA certificate (creating the CA if it does not exist)."
        )

        @OptionGroup var options: Options

        func run() throws {
            print(try options.load().certificatePath)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Print the CA certificate as PEM to standard output (creating the CA if it does not exist)."
        )

        @OptionGroup var options: Options

        func run() throws {
            let pem = try options.load().certificatePEM
            print(pem.hasSuffix("\n") ? String(pem.dropLast()) : pem)
        }
    }
}
