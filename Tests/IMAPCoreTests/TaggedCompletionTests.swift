import Testing

@testable import IMAPCore

/// A tagged completion judged alone: the command in flight it completes (or none), its status and
/// code → the command's name, latency, note, tag secrecy and finding.
@Suite("Tagged completion")
struct TaggedCompletionTests {
    /// The command in flight: its name, UID form, and how many microseconds before the completion it was sent.
    struct Sent: Sendable {
        var name: String
        var uid = false
        var microsecondsBefore: Int64 = 0
    }

    /// Whether the tag confirms a hidden line, whether the client stream is synchronized, whether
    /// the greeting was seen.
    struct Context: Sendable {
        var confirmsHiddenLine = false
        var synchronized = true
        var greetingSeen = true
    }

    static let completedAt = Timestamp(seconds: 1_700_000_000)

    @Test(
        "status, code, command in flight, context → judgement",
        arguments: [
            (
                "OK", nil, Sent(name: "FETCH", uid: true), Context(),
                TaggedCompletion(command: "UID FETCH", latencyMs: 0, annotation: "UID FETCH completed")
            ),
            (
                "NO", "TRYCREATE", Sent(name: "COPY", microsecondsBefore: 12_000), Context(),
                TaggedCompletion(
                    command: "COPY", latencyMs: 12,
                    annotation: "COPY failed in 12 ms; the target mailbox does not exist; the client may CREATE it "
                        + "and retry")
            ),
            (
                "BAD", nil, Sent(name: "NOOP", microsecondsBefore: 1_500), Context(),
                TaggedCompletion(
                    command: "NOOP", latencyMs: 1.5,
                    annotation: "NOOP rejected as invalid in 1.50 ms; the server could not parse the command or it "
                        + "is not allowed now")
            ),
            // A code of its own: no guess that the command was unparsable.
            (
                "BAD", "XUNKNOWN", Sent(name: "NOOP", microsecondsBefore: 1), Context(),
                TaggedCompletion(command: "NOOP", latencyMs: 0.001, annotation: "NOOP rejected as invalid in 0.00 ms")
            ),
            (
                "OK", "READ-WRITE", Sent(name: "SELECT", microsecondsBefore: 37_400), Context(),
                TaggedCompletion(
                    command: "SELECT", latencyMs: 37.4,
                    annotation: "SELECT completed in 37 ms; the mailbox is selected read-write")
            ),
            (
                "OK", nil, Sent(name: "IDLE", microsecondsBefore: 12_540_000), Context(),
                TaggedCompletion(command: "IDLE", latencyMs: 12_540, annotation: "IDLE completed in 12.5 s")
            ),
            // No command carried the tag.
            (
                "OK", nil, nil, Context(confirmsHiddenLine: true, synchronized: true),
                TaggedCompletion(
                    annotation: "completes a client line that was hidden; client lines are shown again from here",
                    tagIsSecret: true)
            ),
            (
                "NO", "TRYCREATE", nil, Context(synchronized: false),
                TaggedCompletion(
                    annotation: "completes a command whose line was hidden or not captured", tagIsSecret: true)
            ),
            (
                "BAD", nil, nil, Context(),
                TaggedCompletion(tagIsSecret: true, lint: .unknownTag(status: "BAD", afterGreeting: true))
            ),
            (
                "OK", nil, nil, Context(greetingSeen: false),
                TaggedCompletion(tagIsSecret: true, lint: .unknownTag(status: "OK", afterGreeting: false))
            ),
        ] as [(String, String?, Sent?, Context, TaggedCompletion)])
    func judgement(_ status: String, _ code: String?, _ sent: Sent?, _ context: Context, _ expected: TaggedCompletion) {
        let completed = sent.map {
            CommandInFlight(
                name: CommandName($0.name), uid: $0.uid,
                time: Timestamp(microseconds: Self.completedAt.microseconds - $0.microsecondsBefore))
        }
        let judged = TaggedCompletion(
            status: status, code: code, completed: completed, time: Self.completedAt,
            confirmsHiddenLine: context.confirmsHiddenLine, clientSynchronized: context.synchronized,
            greetingSeen: context.greetingSeen)
        #expect(judged == expected)
    }
}
