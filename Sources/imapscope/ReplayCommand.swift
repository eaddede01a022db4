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
            Prints the address it listens on to stderr (port 0 picks one). One fixture: serves one \
            session at a time and exits when the first session ends. Several fixtures (or a \
            directory: its *.fixture files, as the proxy's --fixture writes them): serves sessions \
            concurrently, each following the fixture its first commands follow (a client with a \
            connection per folder), and exits when as many sessions as fixtures have ended. The \
            status is 0 when every session ran its fixture or logged out with no mismatch, 1 otherwise.

            Examples:
              imapscope replay session.fixture --listen imap://127.0.0.1:1143
              imapscope replay session.fixture --listen imaps://127.0.0.1:0 \\
                  --order relaxed
              imapscope replay recorded/ --listen imap://127.0.0.1:1143
            """
    )

    @Argument(
        help:
            "The fixtures to replay (imapscope read --format fixture --normalize, or the proxy's --fixture), or a directory of *.fixture files."
    )
    var fixtures: [String]

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

    /// The files named: each file as it is, each directory's `*.fixture` files by name.
    static func fixturePaths(_ arguments: [String]) throws -> [String] {
        var paths: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                paths.append(argument)
                continue
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
            let found = names.filter { $0.hasSuffix(".fixture") }.sorted()
            guard !found.isEmpty else {
                throw CLIError(description: "\(argument): no *.fixture files in this directory")
            }
            paths += found.map { (argument.hasSuffix("/") ? argument : argument + "/") + $0 }
        }
        return paths
    }

    func run() throws {
        let paths = try Self.fixturePaths(fixtures)
        var scripts: [ReplayScript] = []
        for fixture in paths {
            guard let data = FileManager.default.contents(atPath: fixture) else {
                throw CLIError(description: Self.unreadable(fixture))
            }
            do { scripts.append(try ReplayScript(fixture: [UInt8](data))) } catch {
                throw CLIError(description: "\(fixture): \(error)")
            }
        }
        let url: ProxyURL
        do { url = try ProxyURL(parsing: listen, listener: true) } catch { throw CLIError(description: "\(error)") }
        var tls: TLSConfiguration?
        if url.scheme == .imaps || scripts.contains(where: \.usesStartTLS) {
            tls = try ProxyTLS.serverConfiguration(caDir: caDir, fallbackHost: url.host)
        }
        let server: ReplayServer
        let bound: String
        do {
            // Mismatches go to stderr as they happen; the session's outcome when it ends.
            server = try ReplayServer(
                scripts: scripts,
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
        // On stderr, as the proxy says it: stdout stays free for output a user pipes on.
        let err = FileOutput.standardError()
        err.write("imapscope replay: listening on \(url.scheme.rawValue)://\(bound)\n")
        err.flush()

        var failed = false
        var served = 0
        // One session per fixture, then exit (unless --keep-running).
        while true {
            let results = server.waitForSessions(served + 1)
            for r in results[served...] {
                report(r, fixture: paths.count > 1 ? paths[r.fixture] : nil)
                if !r.succeeded { failed = true }
            }
            served = results.count
            if !keepRunning && served >= paths.count { break }
        }
        server.shutdown()
        if failed { throw ExitCode(1) }
    }

    /// Why a file could not be read, in words: no such file, a directory, permission denied.
    static func unreadable(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? "\(path): no such file" : "\(path): \(String(cString: strerror(errno)))"
        }
        if info.st_mode & S_IFMT == S_IFDIR { return "\(path): is a directory" }
        return "\(path): cannot be read (permission denied)"
    }

    private func report(_ result: ReplayServer.SessionResult, fixture: String?) {
        let err = FileOutput.standardError()
        if result.succeeded {
            err.write(
                "imapscope replay: session from \(result.client) ran the fixture" + (fixture.map { " \($0)" } ?? "")
                    + (result.skipped > 0 ? " (logged out with \(result.skipped) recorded client lines left)" : "")
                    + "\n")
        } else {
            err.write(
                "imapscope replay: session from \(result.client) failed: \(result.mismatches.count) mismatch\(result.mismatches.count == 1 ? "" : "es")"
                    + (fixture.map { " (following \($0))" } ?? "") + "\n"
            )
        }
        err.flush()
    }
}
