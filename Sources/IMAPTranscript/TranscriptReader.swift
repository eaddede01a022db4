import IMAPCore

/// Reads an `S:`/`C:` transcript incrementally (the forms `FixtureReader` documents): fed the
/// file in blocks, in order, it returns chunks as their lines complete. It holds one line at
/// most `lineLimit` bytes long; a longer line is passed on in pieces (the decoder's framer then
/// caps it and reports it as it would on the wire) and counted in `overlongLines`.
///
/// Each line's chunk is held until the next line shows whether it continues it (an RFC 3501 §8
/// editorial continuation) and whether a `# imapscope: decompressed` directive follows it: the
/// directive comes right after the COMPRESS completion, and must be known before it is decoded.
public struct TranscriptReader {
    public enum Item: Sendable, Equatable {
        case chunk(FixtureReader.Chunk)
        /// The `# imapscope: decompressed` directive: data after COMPRESS was written inflated.
        case decompressed
    }

    public static let defaultLineLimit = 1 << 20

    /// Byte-exact fixture form (CRLF kept, one space after the colon) rather than RFC 3501 §8
    /// samples; `FixtureReader` decides it by whether the text holds a CR.
    public let exact: Bool
    public let lineLimit: Int
    public private(set) var linesRead = 0
    /// Lines longer than `lineLimit`, passed on in pieces, and the first of them.
    public private(set) var overlongLines = 0
    public private(set) var firstOverlongLine: Int?

    private enum LineMode {
        case skip
        case content(Direction)
    }

    /// Bytes of the current line not yet handled (all of it, until it exceeds `lineLimit`).
    private var line: [UInt8] = []
    /// Set once a line longer than `lineLimit` has been classified and is being streamed.
    private var mode: LineMode?
    private var remainingClient = 0
    private var remainingServer = 0
    private var last: Direction?
    private var held: FixtureReader.Chunk?
    /// The current line's output not yet handed out.
    private var out: [UInt8] = []
    private var outDirection = Direction.server
    private var outLine = 0
    /// What still separates the content from `S:`/`C:`, dropped as it streams past.
    private enum Separator { case none, oneSpace, spaces, spacesAndTabs }
    private var separator = Separator.none
    /// Whether the line's bytes are past the literal it began in (the part a literal header may end).
    private var inText = true
    private var tail = TextTail()
    private var items: [Item] = []

    public init(exact: Bool, lineLimit: Int = TranscriptReader.defaultLineLimit) {
        self.exact = exact
        self.lineLimit = max(64, lineLimit)
    }

    /// The items the next bytes of the transcript complete.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) throws -> [Item] {
        var rest = bytes
        while let lf = rest.firstIndex(of: 0x0A) {
            let piece = rest[rest.startIndex..<lf]
            rest = rest[(lf + 1)...]
            if mode == nil && line.isEmpty {
                try endLine(piece)
            } else {
                line += piece
                try endLine(line[...])
            }
            line.removeAll(keepingCapacity: line.count <= 4096)
        }
        line += rest
        if line.count > lineLimit { try streamLongLine() }
        return takeItems()
    }

    /// The end of the transcript: a last line without a line break, and the held chunk.
    public mutating func finish() throws -> [Item] {
        if !line.isEmpty || mode != nil {
            try endLine(line[...])
            line = []
        }
        release()
        return takeItems()
    }

    /// After `feed` or `finish` threw: the items of the lines before the one that failed.
    public mutating func itemsBeforeFailure() -> [Item] {
        release()
        return takeItems()
    }

    private mutating func takeItems() -> [Item] {
        defer { items.removeAll(keepingCapacity: true) }
        return items
    }

    private func remaining(_ dir: Direction) -> Int { dir == .client ? remainingClient : remainingServer }

    private mutating func setRemaining(_ dir: Direction, _ count: Int) {
        if dir == .client { remainingClient = count } else { remainingServer = count }
    }

    private mutating func release() {
        if let held { items.append(.chunk(held)) }
        held = nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private static func direction(_ trimmed: ArraySlice<UInt8>) -> Direction? {
        guard trimmed.count >= 2 else { return nil }
        let letter = trimmed[trimmed.startIndex] | 0x20
        guard trimmed[trimmed.startIndex + 1] == UInt8(ascii: ":") else { return nil }
        if letter == UInt8(ascii: "s") { return .server }
        if letter == UInt8(ascii: "c") { return .client }
        return nil
    }

    /// Classifies a line from its start (`complete`: the whole line, CR dropped) and handles a
    /// comment; returns its content after the prefix, or nil when the line carries none.
    private mutating func begin(_ body: ArraySlice<UInt8>, complete: Bool) throws -> ArraySlice<UInt8>? {
        linesRead += 1
        let trimmed = body.drop(while: Self.isSpace)
        let inLiteral = last.map { remaining($0) > 0 } ?? false
        if trimmed.isEmpty {
            if complete && !inLiteral { return nil }
            if !complete {
                throw FixtureReader.Failure(line: linesRead, message: "more than \(lineLimit) bytes of blank space")
            }
        }
        if trimmed.first == UInt8(ascii: "#") {
            if body.starts(with: FixtureReader.decompressedDirective.utf8) { items.append(.decompressed) }
            mode = .skip
            return nil
        }
        if let dir = Self.direction(trimmed) {
            release()
            out = []
            outDirection = dir
            outLine = linesRead
            tail = TextTail()
            let startsInLiteral = remaining(dir) > 0
            inText = !startsInLiteral
            // Fixtures have exactly one space; RFC samples any, and tabs outside a literal.
            separator = exact ? .oneSpace : (startsInLiteral ? .spaces : .spacesAndTabs)
            mode = .content(dir)
            last = dir
            return trimmed.dropFirst(2)
        }
        if let prev = last, let first = body.first, Self.isSpace(first), remaining(prev) == 0, !exact {
            // An editorial continuation (RFC 3501 §8 "broken for editorial clarity"): the held
            // chunk loses its line break and goes on with the line's text.
            guard var continued = held, continued.bytes.count >= 2 else {
                throw FixtureReader.Failure(line: linesRead, message: "continuation line before any S: or C: line")
            }
            held = nil
            continued.bytes.removeLast(2)
            out = continued.bytes + [0x20]
            outDirection = continued.direction
            outLine = continued.fileLine
            tail.append([0x20])
            separator = .none
            inText = true
            mode = .content(continued.direction)
            return trimmed
        }
        throw FixtureReader.Failure(line: linesRead, message: "expected 'S:' or 'C:' at the start of the line")
    }

    /// Content bytes of the current line (after its prefix, before its line ending).
    private mutating func content(_ bytes: ArraySlice<UInt8>) {
        var rest = bytes
        switch separator {
        case .none: break
        case .oneSpace:
            guard let first = rest.first else { return }
            if first == 0x20 { rest = rest.dropFirst() }
            separator = .none
        case .spaces, .spacesAndTabs:
            let tabs = separator == .spacesAndTabs
            rest = rest.drop { $0 == 0x20 || (tabs && $0 == 0x09) }
            if !rest.isEmpty { separator = .none }
        }
        guard !rest.isEmpty else { return }
        if !inText {
            let remainingLiteral = remaining(outDirection)
            let take = min(remainingLiteral, rest.count)
            out += rest.prefix(take)
            setRemaining(outDirection, remainingLiteral - take)
            rest = rest.dropFirst(take)
            if remainingLiteral - take == 0 { inText = true }
        }
        guard !rest.isEmpty else { return }
        out += rest
        tail.append(rest)
    }

    /// A line is complete (`raw`: the rest of it not handled yet, without the LF).
    private mutating func endLine(_ raw: ArraySlice<UInt8>) throws {
        var body = raw
        var ending: [UInt8] = [13, 10]
        if body.last == 0x0D { body = body.dropLast() } else if exact { ending = [10] }
        if mode == nil {
            guard let afterPrefix = try begin(body, complete: true) else {
                mode = nil
                return
            }
            content(afterPrefix)
        } else if case .content = mode {
            content(body)
        }
        guard case .content(let dir)? = mode else {
            mode = nil
            return
        }
        mode = nil
        separator = .none
        if !inText {
            // The line ended inside a literal: its ending belongs to the literal as far as it goes.
            let remainingLiteral = remaining(dir)
            let take = min(remainingLiteral, ending.count)
            out += ending.prefix(take)
            setRemaining(dir, remainingLiteral - take)
            if take < ending.count { out += ending }
        } else {
            out += ending
            if let size = tail.literalHeaderSize() { setRemaining(dir, size) }
        }
        held = FixtureReader.Chunk(direction: outDirection, bytes: out, fileLine: outLine)
        out = []
    }

    /// The current line is longer than `lineLimit`: classify it now and pass its bytes on,
    /// keeping back the last one (a CR that may end the line).
    private mutating func streamLongLine() throws {
        if mode == nil {
            overlongLines += 1
            if firstOverlongLine == nil { firstOverlongLine = linesRead + 1 }
            let body = line.dropLast()
            if let afterPrefix = try begin(body, complete: false) {
                content(afterPrefix)
            }
        } else if case .content = mode {
            content(line.dropLast())
        }
        line = line.last.map { [$0] } ?? []
        if case .content? = mode, !out.isEmpty {
            release()
            items.append(.chunk(FixtureReader.Chunk(direction: outDirection, bytes: out, fileLine: outLine)))
            out = []
        }
    }
}

/// The end of a logical line's text as it streams past, with the quoting state of what came
/// before it: enough to tell whether the line ends in a literal header, however long it is.
struct TextTail {
    private static let window = 64
    private var bytes: [UInt8] = []
    private var inQuote = false
    /// A backslash inside a quoted string escapes the byte after it.
    private var escapeNext = false

    mutating func append(_ more: some Collection<UInt8>) {
        bytes += more
        guard bytes.count > 2 * Self.window else { return }
        let drop = bytes.count - Self.window
        for c in bytes[..<drop] {
            if escapeNext {
                escapeNext = false
                continue
            }
            if inQuote && c == UInt8(ascii: "\\") {
                escapeNext = true
            } else if c == UInt8(ascii: "\"") {
                inQuote.toggle()
            }
        }
        bytes.removeFirst(drop)
    }

    /// The size of a literal whose header ends the text, as `LiteralHeader.trailing` sees it.
    func literalHeaderSize() -> Int? {
        // What came before the window, restated as the bytes that leave the scanner in that state.
        let state: [UInt8] = inQuote ? (escapeNext ? [0x22, 0x5C] : [0x22]) : (escapeNext ? [0x5C] : [])
        return LiteralHeader.trailing(in: state + bytes)?.0.size
    }
}
