import ArgumentParser
import Foundation
import IMAPCore
import IMAPProxy
import IMAPReplay
import IMAPTranscript
import NIOSSL

extension ReplayEngine.Order: ExpressibleByArgument {}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Play a recorded fixture back as a mock IMAP server, and check the client against it.",
        discussion: """
            Sends the recorded greeting; each command the client sends must match the recorded one \
            (tags aside; a redaction marker in the fixture matches any value; literals compare by \
            content); the recorded responses follow with the client's tag. On a mismatch the client \
            gets 'TAG BAD [CLIENTBUG] imapscope replay: expected … but got …' and stderr a diff. \
            Prints the address it listens on (port 0 picks one), serves one session at a time, and \
            exits when the first session ends: 0 when the client ran the whole fixture or logged out \
            with no mismatch, 1 otherwise.

            Examples:
              imapscope replay session.fixture --listen imap://127.0.0.1:1143
              imapscope replay session.fixture --listen imaps://127.0.0.1:0 --order relaxed
            """
    )

    @Argument(help: "The fixture to replay (imapscope read --format fixture --normalize, or the proxy's --fixture).")
    var fixture: String

    @Option(help: "Where to listen: imap://host:port (STARTTLS when the fixture has it) or imaps://host:port.")
    var listen: String

    @Option(
        help:
            "strict: commands in the recorded order; relaxed: independent commands (NOOP, CAPABILITY, CHECK, LIST …) in any order."
    )
    var order: ReplayEngine.Order = .strict

    @Option(help: "The certificate authority's directory (default ~/.imapscope), for imaps:// and STARTTLS.")
    var caDir: String?

    @Flag(help: "Serve session after session until SIGINT/SIGTERM instead of exiting after the first.")
    var keepRunning = false

    func run() throws {
        guard let data = FileManager.default.contents(atPath: fixture) else {
            throw CLIError(description: "\(fixture): cannot be read")
        }
        let script: ReplayScript
        do { script = try ReplayScript(fixture: [UInt8](data)) } catch {
            throw CLIError(description: "\(fixture): \(error)")
        }
        let url: ProxyURL
        do { url = try ProxyURL(parsing: listen) } catch { throw CLIError(description: "\(error)") }
        var tls: TLSConfiguration?
        if url.scheme == .imaps || script.usesStartTLS {
            tls = try ProxyTLS.serverConfiguration(caDir: caDir, fallbackHost: url.host)
        }
        let server: ReplayServer
        let bound: String
        do {
            // Mismatches go to stderr as they happen; the session's outcome when it ends.
            server = try ReplayServer(
                script: script,
                configuration: .init(listen: url, tls: tls, order: order) { m in
                    let err = FileOutput.standardError()
                    err.write(terminalSafe(m.description) + "\n")
                    if m.index > 0 {
                        err.write(m.diff.split(separator: "\n").map { terminalSafe(String($0)) + "\n" }.joined())
                    }
                    err.flush()
                })
            bound = try server.start()
        } catch { throw CLIError(description: "\(error)") }
        let out: FileOutput
        do { out = try FileOutput.standardOutput() } catch { throw CLIError(description: "\(error)") }
        out.write("imapscope replay: listening on \(url.scheme.rawValue)://\(bound)\n")
        out.flush()

        var failed = false
        var served = 0
        while true {
            let results = server.waitForSessions(served + 1)
            for r in results[served...] {
                report(r)
                if !r.succeeded { failed = true }
            }
            served = results.count
            if !keepRunning { break }
        }
        server.shutdown()
        if failed { throw ExitCode(1) }
    }

    private func report(_ r: ReplayServer.SessionResult) {
        let err = FileOutput.standardError()
        if r.succeeded {
            err.write(
                "imapscope replay: session from \(r.client) ran the fixture"
                    + (r.skipped > 0 ? " (logged out with \(r.skipped) recorded client lines left)" : "") + "\n")
        } else {
            err.write(
                "imapscope replay: session from \(r.client) failed: \(r.mismatches.count) mismatch\(r.mismatches.count == 1 ? "" : "es")\n"
            )
        }
        err.flush()
    }
}
