import IMAPCore

/// Where lines end in one direction's reads, for the STARTTLS machine, which acts on a line
/// before relaying it. IMAPCore's framer finds the lines (literal bodies skipped, neither kept
/// nor hashed); a line may have begun in an earlier read, so each is reported by where it ends
/// in the current one.
struct LineCutter {
    struct Line {
        /// The line's bytes up to its first literal or line break.
        var text: [UInt8]
        /// Offset in the current read just after the line.
        var end: Int
        /// Whether the line began in this read (offset `end - wireBytes`), not an earlier one.
        var startsHere: Bool
        var wireBytes: Int
        /// Its tag and first word; nil when the line starts with neither a tag, `*` nor `+`.
        var head: LineHead? { LineHead(text) }
    }

    private var framer = LineFramer(limits: .linesOnly, pausesAtSynchronizingLiterals: false)
    /// Bytes of the unfinished frame that arrived in earlier reads.
    private(set) var carried = 0

    /// Feeds one read; returns the lines it completes.
    mutating func lines(in bytes: [UInt8]) -> [Line] {
        framer.append(bytes)
        var out: [Line] = []
        var position = 0
        while let frame = framer.nextFrame() {
            let wire: Int
            var text: [UInt8]?
            switch frame {
            case .line(let line):
                wire = line.wireBytes
                text = line.segments.first?.text ?? []
            case .overlong(_, let wireBytes), .resynchronized(_, let wireBytes):
                wire = wireBytes
            case .needsContinuation:
                continue
            }
            let startsHere = carried == 0
            position += wire - carried
            carried = 0
            if let text { out.append(Line(text: text, end: position, startsHere: startsHere, wireBytes: wire)) }
        }
        carried += bytes.count - position
        return out
    }
}
