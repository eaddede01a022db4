import ArgumentParser
import Foundation
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
        subcommands: [Read.self]
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, jsonl, fixture }
enum BodyOption: String, ExpressibleByArgument, CaseIterable { case none, preview, full }
enum ColorOption: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

struct CLIError: Error, CustomStringConvertible {
    var description: String
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode S:/C: transcripts (RFC 3501 §8 form, or fixtures imapscope wrote).",
        discussion: """
        Each FILE becomes one session. A transcript line is 'S:' or 'C:', any spaces, then the \
        line as sent; literal bodies follow their {n} header line by line.

        Examples:
          imapscope read Captures/login-select-fetch.transcript
          imapscope read session.txt --format jsonl --output session.jsonl
        """
    )

    @Argument(help: "Transcript files to read.")
    var files: [String]

    @Option(help: "Output format: text (annotated, for people), jsonl (event schema v1), fixture (S:/C: transcript).")
    var format: OutputFormat = .text

    @Option(name: .shortAndLong, help: "Write output to this file instead of standard output.")
    var output: String?

    @Flag(help: "Show passwords, tokens and SASL payloads instead of redaction markers.")
    var showSecrets = false

    @Option(help: "Literal bodies in events: none (size and SHA-256), preview (first 64 bytes), full (whole body up to 64 MiB).")
    var bodies: BodyOption = .preview

    @Option(help: "Colour in text output: auto (when writing to a terminal and NO_COLOR is unset), always, never.")
    var color: ColorOption = .auto

    func run() throws {
        let out: FileOutput
        if let path = output {
            do { out = try FileOutput(path: path) } catch { throw CLIError(description: "\(error)") }
        } else {
            out = FileOutput.standardOutput()
        }
        let sink: EventSink
        switch format {
        case .text:
            let env = ProcessInfo.processInfo.environment
            let useColor: Bool
            switch color {
            case .always: useColor = true
            case .never: useColor = false
            case .auto: useColor = output == nil && out.isTerminal && env["NO_COLOR"].map { $0.isEmpty } ?? true
            }
            sink = TextWriter(out, style: .init(color: useColor))
        case .jsonl: sink = JSONLinesWriter(out)
        case .fixture: sink = FixtureWriter(out)
        }
        let pipeline = EventPipeline(redactor: Redactor(showSecrets: showSecrets), sinks: [sink])
        var options = DecoderOptions()
        options.bodies = bodies == .none ? .none : (bodies == .full ? .full : .preview)
        if format == .fixture || bodies == .full {
            options.limits.literalRetainLimit = 64 * 1024 * 1024
            options.limits.maxRetainedPerLine = 256 * 1024 * 1024
        }
        var failures: [String] = []
        for (i, path) in files.enumerated() {
            do {
                try TranscriptSource.read(path: path, session: "t\(i + 1)", options: options, pipeline: pipeline)
            } catch {
                failures.append("\(error)")
            }
        }
        pipeline.finish()
        if !failures.isEmpty {
            throw CLIError(description: failures.joined(separator: "\n"))
        }
    }
}

/// Feeds an S:/C: transcript file into a session decoder.
enum TranscriptSource {
    static func read(path: String, session: String, options: DecoderOptions, pipeline: EventPipeline) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw CLIError(description: "\(path): \(isDir.boolValue ? "is a directory" : "cannot be read (permission denied?)")")
            }
            throw CLIError(description: "\(path): no such file")
        }
        let bytes = [UInt8](data)
        if let kind = CaptureMagic.kind(of: bytes) {
            throw CLIError(description: "\(path): this is a \(kind) capture; reading captures needs the libpcap source, which this build does not have yet")
        }
        guard FixtureReader.looksLikeTranscript(bytes) else {
            throw CLIError(description: "\(path): not an S:/C: transcript (expected lines starting with 'S:' or 'C:')")
        }
        let chunks: [FixtureReader.Chunk]
        do { chunks = try FixtureReader.read(bytes) } catch { throw CLIError(description: "\(path): \(error)") }
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        let mtime = (attrs?[.modificationDate] as? Date) ?? Date(timeIntervalSince1970: 0)
        let time = Timestamp(microseconds: Int64(mtime.timeIntervalSince1970 * 1_000_000))
        var options = options
        options.inflateAfterCompress = !FixtureReader.isDecompressed(bytes)
        let decoder = SessionDecoder(options: options)
        pipeline.publish(decoder.start(client: "0.0.0.0:0", server: "0.0.0.0:143", source: "transcript", time: time,
                                       extra: [("file", .string(path))]), session: session)
        for c in chunks {
            pipeline.publish(decoder.feed(c.direction, c.bytes, time: time), session: session)
        }
        pipeline.publish(decoder.finish(reason: "end of transcript", time: time), session: session)
    }
}

enum CaptureMagic {
    static func kind(of b: [UInt8]) -> String? {
        guard b.count >= 4 else { return nil }
        let m = Array(b[0..<4])
        if m == [0xD4, 0xC3, 0xB2, 0xA1] || m == [0xA1, 0xB2, 0xC3, 0xD4] || m == [0x4D, 0x3C, 0xB2, 0xA1] || m == [0xA1, 0xB2, 0x3C, 0x4D] { return "pcap" }
        if m == [0x0A, 0x0D, 0x0D, 0x0A] { return "pcapng" }
        return nil
    }
}
