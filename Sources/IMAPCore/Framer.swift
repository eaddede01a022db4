/// How a line ended on the wire.
public enum LineEnding: String, Sendable, Hashable {
    case crlf, lf
    /// The stream ended before any line break.
    case none

    var bytes: Int { self == .crlf ? 2 : (self == .lf ? 1 : 0) }
}

/// One piece of a logical line: text up to a line break, and the literal whose header ends
/// that text (if any). A line `A1 LOGIN {5}␍␊alice {8}␍␊password␍␊` has three segments.
public struct LineSegment: Sendable {
    public var text: [UInt8]
    public var ending: LineEnding
    public var literal: Literal?
}

/// A logical IMAP line: one or more segments joined by literals.
public struct RawLine: Sendable {
    public var segments: [LineSegment]

    /// Bytes this line occupied on the wire.
    public var wireBytes: Int {
        segments.reduce(0) { $0 + $1.text.count + $1.ending.bytes + ($1.literal.map { $0.received - $0.lost } ?? 0) }
    }
    public var literals: [Literal] { segments.compactMap(\.literal) }
    public var hasBareLF: Bool { segments.contains { $0.ending == .lf } }
    /// The bytes as they crossed the wire, when every literal was retained.
    public var wire: [UInt8]? {
        var out: [UInt8] = []
        for segment in segments {
            out.append(contentsOf: segment.text)
            if segment.ending == .crlf {
                out.append(0x0D)
                out.append(0x0A)
            } else if segment.ending == .lf {
                out.append(0x0A)
            }
            if let literal = segment.literal {
                guard let content = literal.content else { return nil }
                out.append(contentsOf: content)
            }
        }
        return out
    }
}

public struct FramerLimits: Sendable {
    /// Longest logical line (text and literal headers, not literal bodies) kept whole.
    public var maxLineLength: Int = 256 * 1024
    /// Literals up to this size are kept whole (for parsing strings and writing fixtures).
    public var literalRetainLimit: Int = 16 * 1024
    /// Budget of retained literal bytes per logical line; later literals stream as digests.
    public var maxRetainedPerLine: Int = 1024 * 1024
    public var previewLength: Int = 64
    /// SHA-256 of every literal body (events carry it). Off for framers that only look for
    /// command and response lines (the proxy's STARTTLS watchers), where it would be wasted work.
    public var digestLiterals = true
    /// Prefix of an over-long line kept for the `unparsed` event.
    public var overlongPrefix: Int = 200

    /// For outputs that must hold literal bodies whole to replay them (fixtures, `--bodies full`):
    /// literals up to 64 MiB each, 256 MiB a line.
    public mutating func keepBodiesWhole() {
        literalRetainLimit = 64 * 1024 * 1024
        maxRetainedPerLine = 256 * 1024 * 1024
    }

    public init() {}

    /// For a framer that only needs the lines: literal bodies are skipped, not kept or hashed.
    public static var linesOnly: FramerLimits {
        var limits = FramerLimits()
        limits.literalRetainLimit = 0
        limits.maxRetainedPerLine = 0
        limits.previewLength = 0
        limits.digestLiterals = false
        return limits
    }
}

/// What the framer hands the decoder.
public enum Frame: Sendable {
    /// A complete logical line.
    case line(RawLine)
    /// A synchronizing literal header; the framer holds further bytes until the decoder calls
    /// `continueLiteral()` (the server sent `+`) or `abandonLiteral()` (it refused).
    case needsContinuation(LiteralHeader)
    /// A line longer than `maxLineLength`: its first bytes, and its full length on the wire.
    case overlong(prefix: [UInt8], wireBytes: Int)
    /// Bytes dropped after a gap until the next line break, where framing resumed.
    case resynchronized(prefix: [UInt8], wireBytes: Int)
}

/// Incremental, sans-I/O framing of one direction into logical lines. Chunks may split the
/// stream anywhere. Memory is bounded by the line limit plus the retained literal budget,
/// plus whatever the decoder lets accumulate while the framer is paused.
public struct LineFramer: Sendable {
    public var limits: FramerLimits
    /// Clients wait for `+` before a synchronizing literal; servers never do.
    public let pausesAtSynchronizingLiterals: Bool

    private var buffer: [UInt8] = []
    private var position = 0
    private enum State: Sendable {
        case text
        case literal(LiteralAccumulator)
        case overlong(prefix: [UInt8], wireBytes: Int, afterGap: Bool)
        case awaitingContinuation(LiteralHeader)
        case paused
    }
    private var state: State = .text
    private var segments: [LineSegment] = []
    private var text: [UInt8] = []
    private var lineLength = 0
    private var retainedInLine = 0
    private var pendingEnding: LineEnding = .crlf

    public init(limits: FramerLimits = FramerLimits(), pausesAtSynchronizingLiterals: Bool) {
        self.limits = limits
        self.pausesAtSynchronizingLiterals = pausesAtSynchronizingLiterals
    }

    /// Bytes received but not yet framed (held while paused).
    public var heldBytes: Int { buffer.count - position }
    public var isPaused: Bool {
        switch state {
        case .paused, .awaitingContinuation: return true
        default: return false
        }
    }
    public var isAwaitingContinuation: Bool {
        if case .awaitingContinuation = state { return true }
        return false
    }
    /// Whether the framer is between lines (no partial line or literal pending).
    public var isAtLineStart: Bool {
        if case .text = state { return text.isEmpty && segments.isEmpty }
        return false
    }
    /// The segments of the line in progress (while awaiting a continuation, they end in the literal header).
    public var partialLine: RawLine {
        RawLine(segments: segments + (text.isEmpty ? [] : [LineSegment(text: text, ending: .none)]))
    }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Stops framing after the frame just returned; bytes keep accumulating until `resume()`
    /// or `takeHeldBytes()` (used when the stream switches to TLS or DEFLATE).
    public mutating func pause() { if case .text = state { state = .paused } }
    public mutating func resume() { if case .paused = state { state = .text } }

    /// Removes and returns every unframed byte.
    public mutating func takeHeldBytes() -> [UInt8] {
        let out = Array(buffer[position...])
        buffer.removeAll(keepingCapacity: true)
        position = 0
        return out
    }

    /// The server sent `+`: the held bytes are the literal body.
    public mutating func continueLiteral() {
        guard case .awaitingContinuation(let header) = state else { return }
        startLiteral(header)
    }

    /// The server refused the literal (tagged NO/BAD): the partial line ends at its header and
    /// held bytes are framed as new lines. Returns the abandoned partial line.
    public mutating func abandonLiteral() -> RawLine {
        let line = RawLine(segments: segments)
        resetLine()
        state = .text
        return line
    }

    /// Frames the next complete unit, or nil when more bytes are needed (or paused).
    public mutating func nextFrame() -> Frame? {
        while true {
            switch state {
            case .paused, .awaitingContinuation:
                return nil
            case .literal(var acc):
                let available = buffer.count - position
                if acc.remaining > 0 {
                    guard available > 0 else {
                        state = .literal(acc)
                        return nil
                    }
                    let take = min(acc.remaining, available)
                    buffer.withUnsafeBytes { raw in
                        acc.append(UnsafeRawBufferPointer(rebasing: raw[position..<position + take]))
                    }
                    position += take
                }
                if acc.remaining == 0 {
                    let lit = acc.finish()
                    if lit.content != nil { retainedInLine += lit.header.size }
                    segments[segments.count - 1].literal = lit
                    state = .text
                } else {
                    state = .literal(acc)
                    compact()
                    return nil
                }
            case .overlong(var prefix, var wire, let afterGap):
                if let lf = indexOfLF() {
                    if afterGap && prefix.count < limits.overlongPrefix {
                        prefix += buffer[position..<min(lf + 1, position + limits.overlongPrefix - prefix.count)]
                    }
                    wire += lf + 1 - position
                    position = lf + 1
                    resetLine()
                    state = .text
                    compact()
                    return afterGap
                        ? .resynchronized(prefix: prefix, wireBytes: wire) : .overlong(prefix: prefix, wireBytes: wire)
                }
                if afterGap && prefix.count < limits.overlongPrefix {
                    prefix += buffer[position..<min(buffer.count, position + limits.overlongPrefix - prefix.count)]
                }
                wire += buffer.count - position
                position = buffer.count
                state = .overlong(prefix: prefix, wireBytes: wire, afterGap: afterGap)
                compact()
                return nil
            case .text:
                guard let lf = indexOfLF() else {
                    let pendingCount = buffer.count - position
                    if lineLength + text.count + pendingCount > limits.maxLineLength {
                        becomeOverlong(upTo: buffer.count)
                        continue
                    }
                    text.append(contentsOf: buffer[position...])
                    position = buffer.count
                    compact()
                    return nil
                }
                var end = lf
                let ending: LineEnding
                if end > position, buffer[end - 1] == 0x0D {
                    end -= 1
                    ending = .crlf
                } else if end == position, text.last == 0x0D {
                    text.removeLast()
                    ending = .crlf
                } else {
                    ending = .lf
                }
                if lineLength + text.count + (end - position) > limits.maxLineLength {
                    becomeOverlong(upTo: buffer.count)
                    continue
                }
                text.append(contentsOf: buffer[position..<end])
                position = lf + 1
                if let (header, _) = LiteralHeader.trailing(in: text) {
                    lineLength += text.count + ending.bytes
                    segments.append(LineSegment(text: text, ending: ending, literal: nil))
                    text = []
                    if header.waitsForContinuation && pausesAtSynchronizingLiterals {
                        state = .awaitingContinuation(header)
                        return .needsContinuation(header)
                    }
                    startLiteral(header)
                    continue
                }
                segments.append(LineSegment(text: text, ending: ending, literal: nil))
                let line = RawLine(segments: segments)
                resetLine()
                compact()
                return .line(line)
            }
        }
    }

    /// At end of stream: whatever partial line or literal remains, as a line whose last
    /// segment has ending `.none` (or an over-long prefix). Nil when nothing was pending.
    public mutating func finish() -> Frame? {
        switch state {
        case .overlong(let prefix, let wire, let afterGap):
            resetLine()
            state = .text
            let rest = buffer.count - position
            position = buffer.count
            if afterGap { return wire + rest == 0 ? nil : .resynchronized(prefix: prefix, wireBytes: wire + rest) }
            return .overlong(prefix: prefix, wireBytes: wire + rest)
        case .literal(let acc):
            segments[segments.count - 1].literal = acc.finish()
            // A line always ends in a segment without a literal.
            segments.append(LineSegment(text: [], ending: .none, literal: nil))
            let line = RawLine(segments: segments)
            resetLine()
            state = .text
            return .line(line)
        default:
            text.append(contentsOf: buffer[position...])
            position = buffer.count
            if text.isEmpty && segments.isEmpty { return nil }
            if !text.isEmpty || segments.last?.literal != nil || segments.isEmpty {
                segments.append(LineSegment(text: text, ending: .none, literal: nil))
            }
            let line = RawLine(segments: segments)
            resetLine()
            state = .text
            return .line(line)
        }
    }

    private mutating func startLiteral(_ header: LiteralHeader) {
        var retain = limits.literalRetainLimit
        if retainedInLine + header.size > limits.maxRetainedPerLine { retain = 0 }
        state = .literal(
            LiteralAccumulator(
                header: header, retainLimit: retain, previewLength: limits.previewLength, digests: limits.digestLiterals
            ))
    }

    private mutating func becomeOverlong(upTo end: Int) {
        // At least maxLineLength bytes have arrived, so a prefix capped by it does not depend on chunking.
        let cap = min(limits.overlongPrefix, limits.maxLineLength)
        var prefix = Array((segments.first?.text ?? text).prefix(cap))
        if segments.isEmpty && prefix.count < cap {
            prefix += buffer[position..<min(end, position + cap - prefix.count)]
        }
        let wire =
            segments.reduce(0) { $0 + $1.text.count + $1.ending.bytes + ($1.literal?.received ?? 0) } + text.count
        resetLine()
        state = .overlong(prefix: prefix, wireBytes: wire, afterGap: false)
    }

    /// `count` bytes of this direction were lost. Inside a literal that is long enough the loss
    /// is absorbed by the literal (its digest no longer matches); otherwise the partial line is
    /// returned and framing resumes after the next line break.
    public mutating func skip(lost count: Int) -> RawLine? {
        let gap = restart(lost: count)
        guard !gap.absorbed else { return nil }
        // Bytes already skipped (an over-long line, or one after an earlier gap) stay counted: the
        // next line break reports them with what follows.
        state = .overlong(prefix: gap.skipped?.prefix ?? [], wireBytes: gap.skipped?.wireBytes ?? 0, afterGap: true)
        return gap.partial
    }

    /// What a gap left behind when framing restarts at the next byte (`restart(lost:)`).
    public struct Restart: Sendable {
        /// The loss fell inside a literal long enough to absorb it: framing goes on.
        public var absorbed: Bool
        /// The line the gap cut, as far as it had come.
        public var partial: RawLine?
        /// Bytes an earlier gap or an over-long line had already skipped, with their first bytes.
        public var skipped: (prefix: [UInt8], wireBytes: Int)?
    }

    /// `count` bytes were lost; unlike `skip(lost:)`, framing restarts at the very next byte, as
    /// if a line began there, and the caller decides from what it frames whether one did (a
    /// server's stream after a loss, where a response may well start at the next segment).
    public mutating func restart(lost count: Int) -> Restart {
        if case .literal(var acc) = state, acc.remaining > count, heldBytes == 0 {
            acc.skip(count)
            state = .literal(acc)
            return Restart(absorbed: true)
        }
        var restart = Restart(absorbed: false)
        switch state {
        case .literal(let acc):
            segments[segments.count - 1].literal = acc.finish()
            restart.partial = RawLine(
                segments: segments + [LineSegment(text: Array(buffer[position...]), ending: .none)])
        case .overlong(let prefix, let wire, _):
            let rest = buffer.count - position
            if wire + rest > 0 { restart.skipped = (prefix, wire + rest) }
        default:
            let pendingText = text + buffer[position...]
            if !segments.isEmpty || !pendingText.isEmpty {
                restart.partial = RawLine(segments: segments + [LineSegment(text: Array(pendingText), ending: .none)])
            }
        }
        buffer.removeAll(keepingCapacity: true)
        position = 0
        resetLine()
        state = .text
        return restart
    }

    private mutating func resetLine() {
        segments = []
        text = []
        lineLength = 0
        retainedInLine = 0
    }

    private func indexOfLF() -> Int? {
        buffer.withUnsafeBufferPointer { bytes -> Int? in
            var i = position
            let end = bytes.count
            while i < end {
                if bytes[i] == 0x0A { return i }
                i += 1
            }
            return nil
        }
    }

    private mutating func compact() {
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            position = 0
        } else if position > 65_536 && position * 2 > buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
        }
    }
}
