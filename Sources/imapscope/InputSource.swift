import Foundation
import IMAPCore
import IMAPTranscript

#if canImport(Glibc)
    import Glibc
#endif

/// Any input `read` and `report` take, into a pipeline: a pcap/pcapng capture, an S:/C:
/// transcript or fixture, or JSON Lines events (which were redacted when they were written:
/// they pass to the sinks as they are, renumbered).
enum InputSource {
    /// Lines longer than this in a JSON Lines input are an error, not a buffer without bound.
    static let jsonLineLimit = 64 * 1024 * 1024

    /// `transcripts` counts the transcripts read so far (their sessions are `t1`, `t2`, …).
    static func read(
        _ path: String, capture: CaptureOptions, options: DecoderOptions, pipeline: EventPipeline,
        transcripts: inout Int, showProgress: Bool = true
    ) throws {
        let input = try InputFile.open(path)
        if input.captureKind != nil {
            try CaptureSource.read(
                input, capture: capture, options: options, pipeline: pipeline, showProgress: showProgress)
        } else if isJSONLines(input.head) {
            try readJSONLines(input, pipeline: pipeline)
        } else {
            transcripts += 1
            try TranscriptSource.read(input, session: "t\(transcripts)", options: options, pipeline: pipeline)
        }
    }

    /// JSON Lines start with `{` (after blank space); a transcript with `S:` or `C:`.
    static func isJSONLines(_ head: [UInt8]) -> Bool {
        head.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{")
    }

    /// Reads events line by line (memory: one line), so a large log streams.
    static func readJSONLines(_ input: InputFile, pipeline: EventPipeline) throws {
        var pending = input.head
        var lineNumber = 0
        func drain(final: Bool) throws {
            var start = 0
            while true {
                guard
                    let end = pending[start...].firstIndex(of: 0x0A)
                        ?? (final && start < pending.count ? pending.count : nil)
                else { break }
                lineNumber += 1
                var stop = end
                if stop > start, pending[stop - 1] == 0x0D { stop -= 1 }
                let line = Array(pending[start..<stop])
                if line.contains(where: { $0 != 0x20 && $0 != 0x09 }) {
                    do { pipeline.publish(redacted: try Event(json: try JSONParser.parse(line))) } catch {
                        throw CLIError(description: "\(input.path): line \(lineNumber): \(error)")
                    }
                }
                start = min(end + 1, pending.count)
                if end >= pending.count { break }
            }
            pending.removeFirst(start)
            if pending.count > jsonLineLimit {
                throw CLIError(
                    description: "\(input.path): line \(lineNumber + 1) is longer than \(jsonLineLimit) bytes")
            }
        }
        while true {
            let more = try InputFile.readUpTo(input.descriptor, 1 << 16)
            if more.isEmpty { break }
            pending += more
            try drain(final: false)
        }
        try drain(final: true)
    }
}
