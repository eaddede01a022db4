import ArgumentParser
import Foundation
import IMAPCore
import IMAPTranscript

enum DiffFormat: String, ExpressibleByArgument, CaseIterable {
    case unified
    case sideBySide = "side-by-side"
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two IMAP conversations by meaning: tags, times and redacted values aside.",
        discussion: """
            A and B may each be a pcap/pcapng capture, a JSON Lines event log or an S:/C: \
            transcript or fixture. Each becomes its commands and responses in order, with tags \
            dropped (a completion names its command), times and latencies dropped and redaction markers equal; \
            --ignore hides values that always differ between servers. Exits 0 when the \
            conversations are the same, 1 when they differ, 2 when an input cannot be read.

            --ignore values: \(ConversationDiff.Mask.allCases.map(\.rawValue).joined(separator: ", ")).

            Examples:
              imapscope diff dovecot.pcap cyrus.pcap \\
                  --ignore uidvalidity,modseq,dates,greeting
              imapscope diff recorded.fixture replayed.jsonl --format side-by-side
            """
    )

    @Argument(help: "The first conversation.")
    var a: String

    @Argument(help: "The second conversation.")
    var b: String

    @Option(help: "Values to hide, comma-separated: uidvalidity, uidnext, modseq, dates, greeting, id, text.")
    var ignore: [String] = []

    @Option(help: "unified (diff -u style) or side-by-side.")
    var format: DiffFormat = .unified

    @Option(help: "Colour: auto (on a terminal, unless NO_COLOR is set), always, never.")
    var color: ColorChoice = .auto

    @Option(help: "Unchanged lines shown around each change.")
    var context = 3

    @OptionGroup var capture: CaptureOptions

    func run() throws {
        let masks: Set<ConversationDiff.Mask>
        let left: [Event]
        let right: [Event]
        do {
            masks = try ConversationDiff.masks(ignore)
            left = try DiffInput.events(path: a, capture: capture)
            right = try DiffInput.events(path: b, capture: capture)
        } catch {
            FileHandle.standardError.write(Data("imapscope diff: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let ops = ConversationDiff.diff(
            ConversationDiff.lines(left, ignoring: masks), ConversationDiff.lines(right, ignoring: masks))
        let out: FileOutput
        do { out = try FileOutput.standardOutput() } catch { throw CLIError(description: "\(error)") }
        let env = ProcessInfo.processInfo.environment
        let useColor = color.enabled(isTerminal: out.isTerminal, environment: env)
        let width = env["COLUMNS"].flatMap { Int($0) } ?? 160
        let style = ConversationDiff.Style(color: useColor, context: max(0, context), width: width)
        let text =
            format == .unified
            ? ConversationDiff.unified(ops, nameA: a, nameB: b, style: style)
            : ConversationDiff.sideBySide(ops, nameA: a, nameB: b, style: style)
        out.write(text)
        out.flush()
        if !text.isEmpty { throw ExitCode(1) }
    }
}

/// Opens any input `read` accepts, plus JSON Lines, as redacted events.
enum DiffInput {
    static func events(path: String, capture: CaptureOptions) throws -> [Event] {
        let sink = CollectingSink()
        let pipeline = EventPipeline(redactor: Redactor(), sinks: [sink])
        var options = DecoderOptions()
        options.bodies = .preview
        var transcripts = 0
        try InputSource.read(path, capture: capture, options: options, pipeline: pipeline, transcripts: &transcripts)
        pipeline.finish()
        return sink.events
    }
}
