import ArgumentParser
import Dispatch
import Foundation
import IMAPCore
import IMAPProxy
import IMAPTranscript
import NIOSSL

struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Relay a mail client to an IMAP server and decode everything that crosses.",
        discussion: """
            Point the client at a --listen address; imapscope connects to --upstream for each \
            client, relays every byte untouched and decodes both directions. Runs until SIGINT or \
            SIGTERM, then flushes every output and exits 0.

            URLs: imaps://host:port (implicit TLS, certificates minted from imapscope's CA), \
            imap://host:port (plaintext; a client's STARTTLS is intercepted on both legs, or, in \
            front of a TLS upstream, answered by imapscope, which then adds STARTTLS to the capability \
            lists it relays and says so), and for the upstream imap+starttls://host:port (imapscope \
            upgrades the server leg itself).

            Examples:
              imapscope proxy --listen imap://127.0.0.1:1143 \\
                  --upstream imap://127.0.0.1:143 --transcript -
              imapscope proxy --listen imaps://127.0.0.1:1993 \\
                  --upstream imaps://mail.example.org:993 --log session.jsonl
            """
    )

    @Option(
        help: "Where to listen (repeatable): imap://host:port or imaps://host:port; imaps://:1993 listens on 127.0.0.1."
    )
    var listen: [String]

    @Option(help: "The real server: imap://, imaps:// or imap+starttls://host:port.")
    var upstream: String

    @Option(help: "The certificate authority's directory (default ~/.imapscope).")
    var caDir: String?

    @Option(help: "A PEM file of certificates to trust for the upstream, besides the system's.")
    var upstreamCa: String?

    @Flag(help: "Do not verify the upstream's certificate (says so in every session's events).")
    var insecureUpstream = false

    @Option(help: "Write JSON Lines events to this file.")
    var log: String?

    @Option(help: "Write the annotated transcript to this file, or - for standard output.")
    var transcript: String?

    @Option(
        help:
            "Write each session as a normalized S:/C: fixture (for imapscope replay): the first to this file, later ones beside it named by session id (x.fixture → x.p2.fixture); a connection that sends nothing gets none."
    )
    var fixture: String?

    @Option(
        help:
            "Write the TLS session keys of both legs to this file (NSS key log format) so Wireshark can decrypt a parallel capture."
    )
    var keylog: String?

    @Option(
        help:
            "Write the decrypted sessions as a pcapng of TCP on their real endpoints (secrets overwritten with same-length '*' filler unless --show-secrets); imapscope read and tshark open it."
    )
    var pcap: String?

    @Option(
        help:
            "Write an HTML report of every session (as imapscope report) to this file when the proxy stops; it keeps the sessions' transcript in memory until then."
    )
    var report: String?

    @Flag(help: "Show passwords, tokens and SASL payloads instead of redaction markers.")
    var showSecrets = false

    @Option(
        help: ArgumentHelp(
            "Inject a fault (repeatable): MATCH -> ACTION, e.g. 'SELECT Archive -> respond NO [UNAVAILABLE] try later', 'UID FETCH #2 -> delay 2s', 'after 1MB server -> cut', 'IDLE -> bye \"maintenance\"', '* p=0.1 seed=7 -> reset'. See the README's fault injection section.",
            valueName: "rule"))
    var fault: [String] = []

    @Option(help: "Read fault rules from this file: one rule a line, # starts a comment.")
    var faults: String?

    @Flag(
        help:
            "Refuse LOGIN and AUTHENTICATE from a client on a plaintext listener until it has used STARTTLS (NO [PRIVACYREQUIRED])."
    )
    var requireClientTls = false

    func run() throws {
        let listeners = try listen.map { try ProxyURL(parsing: $0, defaultHost: "127.0.0.1", listener: true) }
        let up = try ProxyURL(parsing: upstream)
        var sinks: [EventSink] = []
        var outputs: [FileOutput] = []
        // Every record is live: each event is written as it is decoded, each line flushed as it ends.
        func open(_ path: String) throws -> FileOutput {
            do {
                let output = path == "-" ? try FileOutput.standardOutput() : try FileOutput(path: path)
                output.flushEachLine()
                outputs.append(output)
                return output
            } catch { throw CLIError(description: "\(error)") }
        }
        if let log { sinks.append(JSONLinesWriter(try open(log), live: true)) }
        if let transcript {
            let output = try open(transcript)
            let useColor = ColorChoice.auto.enabled(
                isTerminal: transcript == "-" && output.isTerminal,
                environment: ProcessInfo.processInfo.environment)
            sinks.append(TextWriter(output, style: .init(color: useColor)))
        }
        if let fixture {
            // One normalized fixture per session (replay plays one conversation): the first session
            // whose client speaks in FILE, each later one beside it as FILE's name with its session id
            // (x.fixture → x.p2.fixture); a port check (a client that sends nothing) gets none.
            let first = try open(fixture)
            let err = FileOutput.standardError()
            sinks.append(
                PerSessionSink { session, index in
                    let path = index == 0 ? fixture : Self.sessionPath(fixture, session)
                    do {
                        let out = index == 0 ? first : try FileOutput(path: path)
                        if index > 0 {
                            err.write("imapscope: session \(session): fixture \(path)\n")
                            err.flush()
                        }
                        return FixtureWriter(out, normalize: true)
                    } catch {
                        err.write("imapscope: session \(session): no fixture: \(error)\n")
                        err.flush()
                        return nil
                    }
                })
        }
        var recorder: PcapRecorder?
        if let pcap {
            let pcapRecorder: PcapRecorder
            do { pcapRecorder = try PcapRecorder(path: pcap) } catch { throw CLIError(description: "--pcap: \(error)") }
            recorder = pcapRecorder
            sinks.append(pcapRecorder)
        }
        if let report {
            sinks.append(
                ReportWriter(
                    try open(report), title: "imapscope proxy \(listen.joined(separator: " ")) → \(upstream)",
                    inputs: [upstream]))
        }
        sinks.append(ProblemReporter(FileOutput.standardError()))
        let pipeline = EventPipeline(redactor: Redactor(showSecrets: showSecrets), sinks: sinks)
        let publisher = EventPublisher(pipeline: pipeline, pcap: recorder)

        var upstreamTLS = TLSConfiguration.makeClientConfiguration()
        if insecureUpstream {
            upstreamTLS.certificateVerification = .none
        } else if let file = upstreamCa {
            do { upstreamTLS.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))] } catch {
                throw CLIError(description: "--upstream-ca \(file): \(error)")
            }
        }
        var serverTLS: TLSConfiguration?
        // imaps listeners need the CA; so does a client's STARTTLS on a plaintext listener
        // (intercepted on both legs, or answered by imapscope in front of a TLS server leg).
        if !listeners.isEmpty {
            serverTLS = try ProxyTLS.serverConfiguration(caDir: caDir, fallbackHost: up.host)
        }
        if let path = keylog {
            let file = try KeyLogFile(path: path)
            upstreamTLS.keyLogCallback = file.callback
            serverTLS?.keyLogCallback = file.callback
        }
        var decoder = DecoderOptions()
        decoder.limits.digestLiterals = pipeline.readsDigests
        if fixture != nil {
            // A fixture must hold literal bodies whole to replay (as `read --format fixture`).
            decoder.limits.keepBodiesWhole()
        }
        var config = ProxyServer.Configuration(
            listen: listeners, upstream: up, serverTLS: serverTLS, upstreamTLS: upstreamTLS,
            insecureUpstream: insecureUpstream, decoder: decoder)
        config.requireClientTLS = requireClientTls
        config.faults = try faultRules()
        let server = try ProxyServer(configuration: config, publisher: publisher)
        let bound: [String]
        do { bound = try server.start() } catch let error as ListenError {
            throw CLIError(description: "\(error)")
        } catch { throw CLIError(description: "cannot listen: \(error)") }
        let err = FileOutput.standardError()
        for (url, address) in zip(listeners, bound) {
            err.write(
                "imapscope: listening on \(url.scheme.rawValue)://\(address) → \(up)\(insecureUpstream ? " (upstream certificate NOT verified)" : "")\n"
            )
        }
        for (index, rule) in config.faults.enumerated() { err.write("imapscope: fault rule \(index + 1): \(rule)\n") }
        err.flush()

        let stop = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let signalSource = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            signalSource.setEventHandler { stop.signal() }
            signalSource.resume()
            return signalSource
        }
        stop.wait()
        for source in sources { source.cancel() }
        server.shutdown()
        publisher.finish()
        for output in outputs { output.flush() }
        err.write("imapscope: stopped\n")
        err.flush()
    }
}

extension ProxyCommand {
    /// `--fault` rules, then `--faults FILE`'s; a rule that does not parse stops the proxy before it
    /// listens, naming the rule (or file and line) and the column.
    func faultRules() throws -> [FaultRule] {
        var rules: [FaultRule] = []
        for text in fault {
            do { rules.append(try FaultRuleParser.parse(text)) } catch let error as FaultRuleError {
                throw CLIError(description: "--fault '\(terminalSafe(text))': \(error)")
            }
        }
        guard let path = faults else { return rules }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CLIError(description: "--faults \(path): cannot read the file: \(error.localizedDescription)")
        }
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Self.withoutComment(raw.hasSuffix("\r") ? raw.dropLast() : raw[...])
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do { rules.append(try FaultRuleParser.parse(line)) } catch let error as FaultRuleError {
                throw CLIError(description: "--faults \(path):\(index + 1): \(error)")
            }
        }
        return rules
    }

    /// A rules file's line without its comment: from a `#` at the start or after a space, outside
    /// quotes, and not followed by a digit (`#3` is the third occurrence).
    static func withoutComment(_ line: Substring) -> String {
        var inQuotes = false
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if character == "\"" && previous != "\\" { inQuotes.toggle() }
            if character == "#", !inQuotes, previous == " " || previous == "\t" {
                let next = line.index(after: index)
                if next == line.endIndex || !line[next].isNumber { return String(line[..<index]) }
            }
            previous = character
        }
        return String(line)
    }

    /// `dir/x.fixture` → `dir/x.p2.fixture` for session p2.
    static func sessionPath(_ path: String, _ session: String) -> String {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        if let dot = path[slash...].lastIndex(of: "."), dot != slash {
            return String(path[..<dot]) + ".\(session)" + String(path[dot...])
        }
        return path + ".\(session)"
    }
}

/// Says on stderr what a person running the proxy must know at once: a TLS leg that failed.
final class ProblemReporter: EventSink {
    var readsWire: Bool { false }
    var readsDigests: Bool { false }
    private let out: FileOutput
    init(_ out: FileOutput) { self.out = out }
    func write(_ event: Event) {
        guard case .tls(let tls) = event.body, tls.phase == "failed" else { return }
        let peer = tls.leg == "server" ? "real server" : "client"
        out.write(
            "imapscope: session \(event.session): TLS with the \(peer) failed: \(terminalSafe(tls.error ?? "?"))\n")
        out.flush()
    }
    func finish() { out.flush() }
}

/// `--keylog`: NSS key-log lines from every TLS connection of both legs, in one file.
final class KeyLogFile: @unchecked Sendable {
    private let lock = NSLock()
    private let out: FileOutput

    init(path: String) throws {
        do { out = try FileOutput(path: path) } catch { throw CLIError(description: "--keylog: \(error)") }
    }

    var callback: NIOSSLKeyLogCallback {
        { [self] line in
            lock.lock()
            defer { lock.unlock() }
            out.write(Array(line.readableBytesView))
            out.flush()
        }
    }
}
