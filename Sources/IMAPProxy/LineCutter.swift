import IMAPCore

/// Where lines end in one direction's reads, for the handlers that act on a line before
/// relaying it (the STARTTLS watchers). IMAPCore's framer finds the lines (literal bodies
/// skipped, neither kept nor hashed); a line may have begun in an earlier read, so each is
/// reported by where it ends in the current one.
struct LineCutter {
    struct Line {
        /// The line's text up to its first literal or line break.
        var text: String
        /// Offset in the current read just after the line.
        var end: Int
        /// Whether the line began in this read (offset `end - wireBytes`), not an earlier one.
        var startsHere: Bool
        var wireBytes: Int
        var words: [Substring] { text.split(separator: " ", omittingEmptySubsequences: false) }
    }

    private var framer = LineFramer(limits: .linesOnly, pausesAtSynchronizingLiterals: false)
    /// Bytes of the unfinished frame that arrived in earlier reads.
    private(set) var carried = 0

    /// Feeds one read; returns the lines it completes.
    mutating func lines(in bytes: [UInt8]) -> [Line] {
        framer.append(bytes)
        var out: [Line] = []
        var pos = 0
        while let frame = framer.nextFrame() {
            let wire: Int
            var text: String?
            switch frame {
            case .line(let l):
                wire = l.wireBytes
                text = l.segments.first.map { String(decoding: $0.text, as: UTF8.self) } ?? ""
            case .overlong(_, let n), .resynchronized(_, let n):
                wire = n
            case .needsContinuation:
                continue
            }
            let startsHere = carried == 0
            pos += wire - carried
            carried = 0
            if let t = text { out.append(Line(text: t, end: pos, startsHere: startsHere, wireBytes: wire)) }
        }
        carried += bytes.count - pos
        return out
    }
}
