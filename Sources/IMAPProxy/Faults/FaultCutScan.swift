import IMAPCore

/// Finds where `cut` closes the connection in the server's stream: half-way into the first
/// literal of the next response data, or, when a tagged completion comes first with no literal
/// before it, just before that completion. It reads only line breaks and literal headers: every
/// line before the first literal is plain text, so no literal body is ever skipped.
struct FaultCutScan: Equatable {
    /// The server was in the middle of a line when the cut was armed: scanning starts at that
    /// line's end (the relay's line cutter says where).
    var waitsForLineEnd: Bool
    /// Text of the current line's first segment seen in earlier reads.
    private var segment: [UInt8] = []
    private var segmentStartedEarlier = false
    /// Bytes of the literal still to let through before the cut.
    private var literalLeft: Int?
    private(set) var literalSize: Int?

    static let segmentLimit = 64 << 10

    init(waitsForLineEnd: Bool) { self.waitsForLineEnd = waitsForLineEnd }

    /// Scans `bytes[from...]`; returns the offset in `bytes` to cut at, or nil to read on.
    mutating func cutOffset(in bytes: [UInt8], from: Int) -> Int? {
        var position = from
        while position < bytes.count {
            if let left = literalLeft {
                if bytes.count - position >= left { return position + left }
                literalLeft = left - (bytes.count - position)
                return nil
            }
            let lineStart = position
            guard let lf = bytes[position...].firstIndex(of: 0x0A) else {
                segment.append(contentsOf: bytes[position...])
                segmentStartedEarlier = true
                // A line this long with no literal yet: cut inside it.
                return segment.count > Self.segmentLimit ? bytes.count : nil
            }
            let startedEarlier = segmentStartedEarlier
            var text = segment + bytes[position..<lf]
            segment = []
            segmentStartedEarlier = false
            if text.last == 0x0D { text.removeLast() }
            position = lf + 1
            if let (header, _) = LiteralHeader.trailing(in: text) {
                literalSize = header.size
                literalLeft = header.size / 2
                continue
            }
            if let head = LineHead(text), head.kind == .tagged {
                // The part of the line read earlier has gone already.
                return startedEarlier ? from : lineStart
            }
        }
        return nil
    }
}
