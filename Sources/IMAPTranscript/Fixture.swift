import IMAPCore

/// Writes the RFC 3501 §8 transcript form: each line of the wire as `S: …` or `C: …`, literal
/// bodies verbatim with the prefix after each of their line breaks, secrets as markers (a
/// secret literal's size rewritten to the marker's). Line endings are kept exactly (CRLF), so
/// `FixtureReader` gives back the same bytes. Lines starting with `#` are comments.
///
/// With `normalize`, the fixture is stable across recordings of the same conversation (see
/// `FixtureNormalizer`): tags renumbered, no session id or addresses in the header comment.
///
/// A synchronizing literal's `+` reaches the decoder before the command it continues (the
/// command is complete only with its literal); the writer puts it back where it was on the wire,
/// after the line that ends in the literal's header, as RFC 3501 §8 shows it.
public final class FixtureWriter: EventSink {
    private let out: ByteOutput
    private var atLineStart: [Direction: Bool] = [:]
    private var normalizer: FixtureNormalizer?
    /// A continuation request waiting for the command whose literal it answered, and the server
    /// lines that came after it (a pipelining client's earlier completions); bounded.
    private var held: [(bytes: [UInt8], isContinuation: Bool)] = []
    private static let heldLimit = 64

    public init(_ out: ByteOutput, normalize: Bool = false) {
        self.out = out
        normalizer = normalize ? FixtureNormalizer() : nil
    }

    public func write(_ event: Event) {
        var event = event
        if event.dir == .server, event.wire != nil,
            event.kind == .continuation
                || (!held.isEmpty && held.count < Self.heldLimit && (event.kind == .tagged || event.kind == .untagged))
        {
            normalizer?.renumber(&event)
            if let wire = event.wire {
                held.append((render(wire), event.kind == .continuation))
                return
            }
        }
        if !(event.kind == .command && event.dir == .client) { flushHeld() }
        switch event.body {
        case .sessionStart(let start):
            if normalizer != nil {
                normalizer = FixtureNormalizer()
                out.write("# imapscope fixture (normalized: tags renumbered, secrets redacted)\r\n")
                return
            }
            out.write("# imapscope fixture, session \(event.session): \(start.client) → \(start.server)\r\n")
            return
        case .gap(let gap):
            let skipped = gap.skippedBytes.map { ", \($0) more skipped to the next response" } ?? ""
            out.write("# gap: \(gap.missing) \(event.dir?.rawValue ?? "") bytes missing\(skipped)\r\n")
            return
        case .tls(let tls):
            out.write("# TLS \(tls.phase) (\(tls.leg))\r\n")
            return
        case .compress:
            // Below this line the fixture holds inflated data; readers must not inflate it again.
            out.write(
                "\(FixtureReader.decompressedDirective) COMPRESS=DEFLATE active; the lines below are inflated\r\n")
            return
        case .unparsed:
            return  // no line to replay (its wire pieces, if any, only say it was hidden)
        default:
            normalizer?.renumber(&event)
        }
        guard let wire = event.wire, let dir = event.dir else { return }
        let bytes = render(wire)
        guard dir == .client, !held.isEmpty else {
            emit(bytes, dir)
            return
        }
        // Each `+` goes after the line that ends in its synchronizing literal's header, the server
        // lines held with it in their order; `+`s beyond the command's literals came before it.
        var cuts = Self.syncLiteralHeaderEnds(bytes)[...]
        var extra = held.filter(\.isContinuation).count - cuts.count
        var from = 0
        for h in held {
            if h.isContinuation {
                if extra > 0 {
                    extra -= 1
                } else if let cut = cuts.popFirst() {
                    emit(Array(bytes[from..<cut]), .client)
                    from = cut
                }
            }
            emit(h.bytes, .server)
        }
        held.removeAll()
        emit(Array(bytes[from...]), .client)
    }

    private func flushHeld() {
        for h in held { emit(h.bytes, .server) }
        held.removeAll()
    }

    /// Offsets just after each line break that ends a synchronizing literal's header line
    /// (literal bodies skipped, so a body line ending in `{5}` is not one).
    static func syncLiteralHeaderEnds(_ bytes: [UInt8]) -> [Int] {
        var ends: [Int] = []
        var lineStart = 0
        var i = 0
        while i < bytes.count {
            guard bytes[i] == 0x0A else {
                i += 1
                continue
            }
            var text = Array(bytes[lineStart..<i])
            if text.last == 0x0D { text.removeLast() }
            i += 1
            if let (header, _) = LiteralHeader.trailing(in: text) {
                if header.waitsForContinuation { ends.append(i) }
                i = min(bytes.count, i + header.size)
            }
            lineStart = i
        }
        return ends
    }

    private func render(_ wire: [WirePiece]) -> [UInt8] {
        var bytes: [UInt8] = []
        for piece in wire {
            switch piece {
            case .bytes(let plain): bytes += plain
            case .secret(let marker, _): bytes += Array(marker.utf8)
            case .secretLiteral(let header, _, let crlf, let marker):
                bytes +=
                    Array(header.text(size: marker.utf8.count).utf8) + (crlf ? [13, 10] : [10]) + Array(marker.utf8)
            case .elidedLiteral(let size, let sha):
                // The body was too large to keep; the fixture cannot hold it verbatim.
                bytes += Array("\r\n# literal body of \(size) bytes not kept (sha256 \(sha))\r\n".utf8)
            }
        }
        return bytes
    }

    private func emit(_ bytes: [UInt8], _ dir: Direction) {
        guard !bytes.isEmpty else { return }
        let prefix: [UInt8] = Array((dir == .client ? "C: " : "S: ").utf8)
        var line: [UInt8] = []
        var start = atLineStart[dir] ?? true
        // Line by line, not byte by byte (a byte loop allocates per byte in an unoptimized build).
        var i = 0
        while i < bytes.count {
            if start {
                line += prefix
                start = false
            }
            var end = i
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            if end < bytes.count {
                end += 1
                start = true
            }
            line += bytes[i..<end]
            i = end
        }
        atLineStart[dir] = start
        out.write(line)
        if !start {
            out.write("\r\n# (the stream ended without a line break)\r\n")
            atLineStart[dir] = true
        }
    }

    public func finish() {
        flushHeld()
        out.flush()
    }
}

/// Reads `S:`/`C:` transcripts: RFC 3501 §8 samples (any spaces after the colon, editorial
/// continuation lines indented without a prefix, LF line ends taken as CRLF) and fixtures
/// written by `FixtureWriter` (CRLF kept, literal bodies byte-exact).
public enum FixtureReader {
    public struct Chunk: Sendable, Equatable {
        public var direction: Direction
        public var bytes: [UInt8]
        /// 1-based line of the file it came from.
        public var fileLine: Int
    }

    public struct Failure: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// A comment line saying the data after COMPRESS was written inflated.
    public static let decompressedDirective = "# imapscope: decompressed"

    public static func isDecompressed(_ bytes: [UInt8]) -> Bool {
        let directive = Array(decompressedDirective.utf8)
        for line in bytes.split(separator: 0x0A) where line.starts(with: directive) { return true }
        return false
    }

    /// Whether the text looks like a transcript at all (for format detection).
    public static func looksLikeTranscript(_ bytes: [UInt8]) -> Bool {
        for raw in bytes.prefix(4096).split(separator: 0x0A).prefix(20) {
            let trimmed = raw.drop { $0 == 0x20 || $0 == 0x09 }
            if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
            let head = Array(trimmed.prefix(2)).map { $0 | 0x20 }
            return head == [UInt8(ascii: "s"), UInt8(ascii: ":")] || head == [UInt8(ascii: "c"), UInt8(ascii: ":")]
        }
        return false
    }

    /// Reads a whole transcript held in memory (`TranscriptReader` reads one in blocks).
    public static func read(_ bytes: [UInt8]) throws -> [Chunk] {
        var reader = TranscriptReader(exact: bytes.contains(0x0D), lineLimit: .max)
        let items = try reader.feed(bytes[...]) + reader.finish()
        return items.compactMap { if case .chunk(let c) = $0 { c } else { nil } }
    }
}
