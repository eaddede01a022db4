import ArgumentParser
import Foundation
import IMAPCore
import IMAPTranscript

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML report: sessions, timelines, latency, lints, transcript.",
        discussion: """
            Takes any input `read` takes (pcap/pcapng captures, S:/C: transcripts and fixtures, \
            JSON Lines events) and writes one HTML file with no outside references: a sortable \
            session list; per session a timeline of every command from send to completion, coloured \
            by status, with IDLE, unsolicited EXISTS/EXPUNGE, quiet stretches and capture gaps \
            marked; latency by command name; capability changes and the mailbox's state; every lint \
            linked to its line; and the annotated transcript, searchable and folded per command. \
            Secrets are redacted as in every other output unless --show-secrets.

            Examples:
              imapscope report capture.pcap --output report.html
              imapscope report rotated-*.pcap events.jsonl --output week.html
            """
    )

    @Argument(help: "Capture, transcript or JSON Lines files to read.")
    var files: [String]

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output: String

    @Option(help: "The report's title (default: the input file names).")
    var title: String?

    @Flag(help: "Show passwords, tokens and SASL payloads instead of redaction markers.")
    var showSecrets = false

    @OptionGroup var capture: CaptureOptions

    func run() throws {
        let out: FileOutput
        do { out = try FileOutput(path: output) } catch { throw CLIError(description: "\(error)") }
        let names = files.map { ($0 as NSString).lastPathComponent }
        let report = ReportWriter(
            out, title: title ?? "imapscope report: " + names.joined(separator: ", "), inputs: names)
        let pipeline = EventPipeline(redactor: Redactor(showSecrets: showSecrets), sinks: [report])
        var options = DecoderOptions()
        options.bodies = .preview
        options.limits.digestLiterals = pipeline.readsDigests
        var failures: [String] = []
        var transcripts = 0
        for path in files {
            do {
                try InputSource.read(
                    path, capture: capture, options: options, pipeline: pipeline, transcripts: &transcripts)
            } catch {
                failures.append("\(error)")
            }
        }
        pipeline.finish()
        out.flush()
        if !failures.isEmpty {
            throw CLIError(description: failures.joined(separator: "\n"))
        }
    }
}
