import ArgumentParser
import Foundation
import IMAPCapture
import IMAPCore
import IMAPTranscript

@main
struct IMAPScope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imapscope",
        abstract: "See what really crosses the wire between a mail client and an IMAP server.",
        discussion: """
            imapscope decodes IMAP conversations into commands and responses: tags matched to \
            their completions with latency, literals, SASL, IDLE, STARTTLS, COMPRESS and unsolicited \
            responses, annotated for people or as JSON Lines for programs. Credentials are redacted \
            unless you pass --show-secrets.
            """,
        subcommands: [
            Read.self, ReportCommand.self, Sniff.self, ProxyCommand.self, CACommand.self, ReplayCommand.self,
            DiffCommand.self,
        ]
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, jsonl, fixture }
enum BodyOption: String, ExpressibleByArgument, CaseIterable { case none, preview, full }
extension ColorChoice: ExpressibleByArgument {}

struct CLIError: Error, CustomStringConvertible {
    var description: String
}

/// Options every decoding command shares: where output goes and what it shows.
struct OutputOptions: ParsableArguments {
    @Option(help: "Output format: text (annotated, for people), jsonl (event schema v1), fixture (S:/C: transcript).")
    var format: OutputFormat = .text

    @Option(name: .shortAndLong, help: "Write output to this file instead of standard output.")
    var output: String?

    @Flag(help: "Show passwords, tokens and SASL payloads instead of redaction markers.")
    var showSecrets = false

    @Option(
        help:
            "Literal bodies in events: none (size and SHA-256), preview (first 64 bytes), full (whole body up to 64 MiB)."
    )
    var bodies: BodyOption = .preview

    @Option(help: "Colour in text output: auto (when writing to a terminal and NO_COLOR is unset), always, never.")
    var color: ColorChoice = .auto

    @Flag(help: "After the events, print a summary: sessions, commands by name with latency percentiles, bytes, lints.")
    var summary = false
}

/// Options of the capture sources.
struct CaptureOptions: ParsableArguments {
    @Option(
        name: .customLong("port"),
        help: "A plaintext IMAP port (repeatable; default 143). Streams on other ports are recognised by their content."
    )
    var ports: [UInt16] = []

    @Option(
        name: .customLong("tls-port"),
        help: "An implicit-TLS IMAP port (repeatable; default 993): reported, or decrypted with --keylog.")
    var tlsPorts: [UInt16] = []

    @Option(help: "A libpcap (BPF) filter expression, e.g. 'host 10.0.0.5 and tcp'.")
    var filter: String?

    @Option(
        name: .customLong("keylog"),
        help:
            "An NSS key log (SSLKEYLOGFILE): TLS sessions whose secrets it holds, implicit or after STARTTLS, are decrypted and decoded."
    )
    var keyLogPath: String?

    /// `follow`: sniff re-reads the key log as the client appends to it.
    func decoderOptions(_ base: DecoderOptions, follow: Bool = false) throws -> CaptureDecoder.Options {
        var options = CaptureDecoder.Options()
        if !ports.isEmpty { options.imapPorts = Set(ports) }
        if !tlsPorts.isEmpty { options.tlsPorts = Set(tlsPorts) }
        options.decoder = base
        if let path = keyLogPath {
            let keys = try KeyLogInput(path: path, follow: follow)
            options.tlsKeys = { keys.secrets(forClientRandom: $0) }
        }
        return options
    }
}

/// Builds the pipeline and sinks once for any source.
final class Output {
    let pipeline: EventPipeline
    let summary: SummarySink?
    private(set) var options: DecoderOptions
    let redactor: Redactor
    let format: OutputFormat
    let out: FileOutput
    private let useColor: Bool
    private let normalize: Bool

    init(_ o: OutputOptions, normalize: Bool = false) throws {
        if let path = o.output {
            do { out = try FileOutput(path: path) } catch { throw CLIError(description: "\(error)") }
        } else {
            do { out = try FileOutput.standardOutput() } catch { throw CLIError(description: "\(error)") }
        }
        format = o.format
        self.normalize = normalize
        useColor = o.color.enabled(
            isTerminal: o.output == nil && out.isTerminal, environment: ProcessInfo.processInfo.environment)
        summary = o.summary ? SummarySink() : nil
        redactor = Redactor(showSecrets: o.showSecrets)
        var options = DecoderOptions()
        options.bodies = o.bodies == .none ? .none : (o.bodies == .full ? .full : .preview)
        if o.format == .fixture || o.bodies == .full {
            options.limits.keepBodiesWhole()
        }
        self.options = options
        pipeline = EventPipeline(redactor: redactor, sinks: [])
        pipeline.add(sink(writingTo: out))
        if let summary { pipeline.add(summary) }
        // The text transcript shows no digests: hashing bodies would be wasted there.
        self.options.limits.digestLiterals = pipeline.readsDigests
    }

    /// The format's sink over `destination`. `afterOtherFiles`: earlier files' sessions were
    /// written to the same output before (the text sink then names each line's session).
    func sink(writingTo destination: ByteOutput, afterOtherFiles: Bool = false) -> EventSink {
        switch format {
        case .text:
            return TextWriter(destination, style: .init(color: useColor), sessionsBefore: afterOtherFiles ? 1 : 0)
        case .jsonl: return JSONLinesWriter(destination)
        case .fixture: return FixtureWriter(destination, normalize: normalize)
        }
    }

    func finish() {
        pipeline.finish()
        if let summary {
            let err = FileOutput.standardError()
            err.write(summary.report())
            err.flush()
        }
    }
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Decode pcap/pcapng captures of IMAP (TLS too, with the key log the client wrote), S:/C: transcripts, or JSON Lines events.",
        discussion: """
            Captures are read through libpcap (pcap and pcapng); every TCP connection that is IMAP \
            becomes a session: one on an IMAP port (--port, default 143), or one whose first bytes \
            are a greeting or a tagged command. Implicit TLS on 993 (--tls-port) and TLS after \
            STARTTLS are reported, not decoded, unless --keylog names the NSS key log the client \
            wrote (SSLKEYLOGFILE): then the sessions it has secrets for are decrypted and decoded. \
            A transcript is one session: lines 'S:' or 'C:', any spaces, then the line as sent; \
            literal bodies follow their {n} header line by line. JSON Lines events (from --format \
            jsonl or the proxy's --log) are shown as they were written, renumbered.

            Examples:
              imapscope read Captures/login-select-fetch.transcript
              imapscope read capture.pcapng --format jsonl --output events.jsonl
              imapscope read capture.pcap --port 1143 --filter 'host 192.0.2.7' --summary
              imapscope read capture.pcap --keylog keys.log
              imapscope read capture.pcap --format fixture --normalize \\
                  --output session.fixture
            """
    )

    @Argument(help: "Capture, transcript or JSON Lines files to read.")
    var files: [String]

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var outputOptions: OutputOptions

    @Flag(
        help:
            "With --format fixture: renumber tags a1, a2, … and leave addresses out, so fixtures of the same conversation are identical (for `imapscope replay`)."
    )
    var normalize = false

    @Option(
        help:
            "Read this many files at once. Each file's output is kept whole and written in the order of the files (JSON Lines renumbered), as one process reading them in turn would write it."
    )
    var jobs = 1

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if jobs > 1 && files.contains("-") {
            throw ValidationError("--jobs reads files by name: not standard input (-)")
        }
        if normalize && outputOptions.format != .fixture {
            throw ValidationError("--normalize applies to --format fixture only")
        }
    }

    func run() throws {
        let output = try Output(outputOptions, normalize: normalize)
        if jobs > 1 && files.count > 1 {
            let failures = ParallelRead(files: files, jobs: jobs, capture: capture, output: output).run()
            output.finish()
            if !failures.isEmpty { throw CLIError(description: failures.joined(separator: "\n")) }
            return
        }
        var failures: [String] = []
        var transcripts = 0
        for path in files {
            do {
                try InputSource.read(
                    path, capture: capture, options: output.options, pipeline: output.pipeline,
                    transcripts: &transcripts)
            } catch {
                failures.append("\(error)")
            }
        }
        output.finish()
        if !failures.isEmpty {
            throw CLIError(description: failures.joined(separator: "\n"))
        }
    }
}

struct Sniff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode IMAP live from a network interface (needs capture privileges; TLS with --keylog).",
        discussion: "Stops on SIGINT or SIGTERM, then ends every open session and flushes the output."
    )

    @Option(help: "The interface to capture on, e.g. lo or eth0.")
    var interface: String

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let output = try Output(outputOptions)
        let source: PcapSource
        do { source = try PcapSource.open(interface: interface) } catch { throw CLIError(description: "\(error)") }
        let filter = capture.filter ?? "tcp"
        StopSignal.install(source)
        let result = try CaptureReader.read(
            source: source, filter: filter, options: try capture.decoderOptions(output.options, follow: true),
            shouldStop: { StopSignal.requested },
            emit: { session, events in output.pipeline.publish(events, session: session) }
        )
        output.finish()
        for warning in result.warnings {
            FileHandle.standardError.write(Data("imapscope: \(interface): \(terminalSafe(warning))\n".utf8))
        }
        if let error = result.error { throw CLIError(description: error) }
    }
}

/// SIGINT/SIGTERM set a flag the capture loop polls (libpcap's timeout wakes it).
enum StopSignal {
    nonisolated(unsafe) static var requested = false
    /// pcap_breakloop wakes a blocked read (libpcap documents it as callable from a signal handler).
    nonisolated(unsafe) static var source: PcapSource?
    static func install(_ pcap: PcapSource) {
        source = pcap
        signal(SIGINT) { _ in
            StopSignal.requested = true
            StopSignal.source?.breakLoop()
        }
        signal(SIGTERM) { _ in
            StopSignal.requested = true
            StopSignal.source?.breakLoop()
        }
    }
}

/// Feeds a pcap or pcapng capture (a file or a stream) through the capture decoder.
enum CaptureSource {
    static func read(
        _ input: InputFile, capture: CaptureOptions, options: DecoderOptions,
        pipeline: EventPipeline, showProgress: Bool = true
    ) throws {
        let path = input.path
        let source: PcapSource
        do { source = try PcapSource.open(fileDescriptor: input.take(), head: input.head, name: path) } catch {
            throw CLIError(description: "\(error)")
        }
        let progress = ProgressBar(
            total: showProgress ? input.size ?? 0 : 0, label: (path as NSString).lastPathComponent)
        let result: CaptureReader.Result
        do {
            result = try CaptureReader.read(
                source: source, filter: capture.filter, options: try capture.decoderOptions(options),
                progress: { _ in progress.update(source.fileOffset ?? 0) },
                emit: { session, events in pipeline.publish(events, session: "\(session)") }
            )
        } catch { throw CLIError(description: "\(error)") }
        progress.done()
        for warning in result.warnings {
            FileHandle.standardError.write(Data("imapscope: \(path): \(terminalSafe(warning))\n".utf8))
        }
        if let error = result.error {
            throw CLIError(
                description:
                    "\(error) (decoded everything before it: \(result.packets) packets, \(result.sessions) sessions)")
        }
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal and the file is large.
final class ProgressBar {
    let total: Int
    let label: String
    let enabled: Bool
    private var shown = false
    init(total: Int, label: String) {
        self.total = total
        self.label = label
        enabled = isatty(2) != 0 && total > 8 << 20
    }
    func update(_ offset: Int) {
        guard enabled, total > 0 else { return }
        shown = true
        let pct = min(100, offset * 100 / total)
        let bar = String(repeating: "█", count: pct / 4) + String(repeating: "·", count: 25 - pct / 4)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(pct)%".utf8))
    }
    func done() { if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

/// Decodes an S:/C: transcript (a file or a stream) as one session, read in blocks.
enum TranscriptSource {
    static func read(_ input: InputFile, session: String, options: DecoderOptions, pipeline: EventPipeline) throws {
        let path = input.path
        guard FixtureReader.looksLikeTranscript(input.head) else {
            throw CLIError(description: "\(path): not an S:/C: transcript (expected lines starting with 'S:' or 'C:')")
        }
        let time = Timestamp(microseconds: Int64(input.modificationTime.timeIntervalSince1970 * 1_000_000))
        let decoding = TranscriptDecoding(
            name: path, session: session, options: options, time: time,
            pipeline: pipeline)
        do { try decoding.decode(fileDescriptor: input.descriptor, head: input.head) } catch {
            throw CLIError(description: "\(path): \(error)")
        }
        for w in decoding.warnings {
            FileHandle.standardError.write(Data("imapscope: \(path): \(terminalSafe(w))\n".utf8))
        }
    }
}

enum CaptureMagic {
    static func kind(of bytes: [UInt8]) -> String? {
        guard bytes.count >= 4 else { return nil }
        let magic = Array(bytes[0..<4])
        if magic == [0xD4, 0xC3, 0xB2, 0xA1] || magic == [0xA1, 0xB2, 0xC3, 0xD4] || magic == [0x4D, 0x3C, 0xB2, 0xA1]
            || magic == [0xA1, 0xB2, 0x3C, 0x4D]
        {
            return "pcap"
        }
        if magic == [0x0A, 0x0D, 0x0D, 0x0A] { return "pcapng" }
        return nil
    }
}
