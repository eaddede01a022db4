/// Server bytes after a gap that could not be framed, read the way a person reads them: lines
/// are skipped until one starts a response, then one `gap` event says what was lost and what
/// was skipped (a lost literal's body would otherwise give an `unparsed` event per line).
struct ServerResync {
    /// When the first loss happened.
    var time: Timestamp
    /// Bytes the capture lost (every gap until the stream resynchronised).
    var missing: Int
    var skippedBytes = 0
    var skippedLines = 0
    /// The start of the first skipped line (server text: never a client secret).
    var firstSkipped: [UInt8]?

    /// What became of a frame while resynchronizing.
    enum Verdict: Equatable {
        /// Skipped: not the start of a response.
        case skipped
        /// A line that starts a response: the gap is over, and the line is decoded as usual.
        case resumes
        /// Not a line (a literal's header waiting for `+`): decoded as usual, still resynchronizing.
        case passes
    }

    mutating func skip(_ text: [UInt8], bytes: Int) {
        guard bytes > 0 else { return }
        if firstSkipped == nil { firstSkipped = Array(text.prefix(200)) }
        skippedBytes += bytes
        skippedLines += 1
    }

    /// `bytes` more were lost, and framing restarted after them (`restart`).
    mutating func lost(_ bytes: Int, restart: LineFramer.Restart) {
        missing += bytes
        if let partial = restart.partial { skip(partial.segments.flatMap(\.text), bytes: partial.wireBytes) }
        if let skipped = restart.skipped { skip(skipped.prefix, bytes: skipped.wireBytes) }
    }

    /// `frame` arrived. `inFlight`: the commands whose tags may start a response;
    /// `continuationAwaited`: whether the client waits for a `+`.
    mutating func take(_ frame: Frame, inFlight: CommandsInFlight, continuationAwaited: Bool) -> Verdict {
        switch frame {
        case .line(let line):
            if Self.startsResponse(line, inFlight: inFlight, continuationAwaited: continuationAwaited) {
                return .resumes
            }
            skip(line.segments.first?.text ?? [], bytes: line.wireBytes)
        case .overlong(let prefix, let wireBytes), .resynchronized(let prefix, let wireBytes):
            skip(prefix, bytes: wireBytes)
        case .needsContinuation:
            return .passes
        }
        return .skipped
    }

    /// A line a reader would take for the start of a response: the tag of a command in flight,
    /// a status or a known data name after `*`, or a `+` that something waits for. A body line
    /// such as `* item` or a patch's `+ added` is not.
    static func startsResponse(_ line: RawLine, inFlight: CommandsInFlight, continuationAwaited: Bool) -> Bool {
        guard let response = try? ResponseParser.parse(line, bodies: .none), response.problems.isEmpty else {
            return false
        }
        switch response.kind {
        case .tagged(let tag, _): return inFlight.contains(tag)
        case .status: return true
        case .data(let name, _): return ResponseGrammar.knownNames.contains(name)
        case .continuation: return continuationAwaited
        }
    }

    /// The `gap` event that reports the loss and what was skipped after it.
    var gap: GapEvent {
        GapEvent(
            missing: missing, skippedBytes: skippedBytes, skippedLines: skippedLines,
            raw: firstSkipped.map { printable($0) })
    }

    var annotation: String {
        let skipped =
            skippedLines == 0
            ? "" : "; \(skippedBytes) bytes (\(skippedLines) lines) after it were skipped to the next response"
        return "the capture lost \(missing) bytes here\(skipped)"
    }
}
