/// Input the decoder cannot decode as it should: lines longer than the limit, lines cut by a gap
/// or by the end of the stream, bytes after a gap, lines that are no command or no response.
/// Each becomes an `unparsed` event saying why, or a finding. Reasons never quote client bytes.
enum DamagedInput {
    /// Why bytes were not decoded.
    enum Reason: Equatable {
        /// A line longer than the framer's limit; `atEnd`: cut by the end of the stream as well.
        case overlong(limit: Int, atEnd: Bool)
        /// Bytes dropped after a gap up to the next line break; `atEnd`: which never came.
        case afterGap(atEnd: Bool)
        /// A line a gap cut short.
        case interruptedByGap
        /// The parser's own reason, when it gave one.
        case notACommand(String?)
        case notAResponse(String?)
        /// A client line that parses as a command while client line boundaries are not known to
        /// be command boundaries, and why they are not.
        case hidden(String)

        var text: String {
            switch self {
            case .overlong(let limit, let atEnd):
                return "line longer than \(limit) bytes" + (atEnd ? ", cut by the end of the stream" : "")
            case .afterGap(let atEnd):
                return atEnd
                    ? "bytes after a gap, cut by the end of the stream" : "skipped to the next line after a gap"
            case .interruptedByGap: return "line interrupted by a gap"
            case .notACommand(let why): return why.map { "not a command: \($0)" } ?? "not a command"
            case .notAResponse(let why): return why.map { "not a response: \($0)" } ?? "not a response"
            case .hidden(let why): return "hidden until a server completion shows where commands start (\(why))"
            }
        }
    }

    /// How many of the raw bytes an `unparsed` event shows.
    static let shownBytes = 200

    /// The `unparsed` event for `raw`. `command`: the tag and name an over-long line started with.
    static func unparsed(_ raw: [UInt8], _ reason: Reason, command: (tag: String, name: String)? = nil)
        -> UnparsedEvent
    {
        let shown = printable(raw.prefix(shownBytes)) + (raw.count > shownBytes ? "…" : "")
        return UnparsedEvent(tag: command?.tag, name: command?.name, reason: reason.text, raw: shown)
    }

    /// The reason a parser gave for rejecting a line.
    static func why(_ error: Error) -> String? {
        switch error {
        case CommandParser.Failure.notACommand(let why): return why
        case ResponseParser.Failure.notAResponse(let why): return why
        default: return nil
        }
    }

    /// The tag and name an over-long client line starts with, when they are a command's: a tag,
    /// then a word of upper-case letters.
    static func commandStart(_ prefix: [UInt8]) -> (tag: String, name: String)? {
        guard let head = LineHead(prefix), head.kind == .tagged, let name = head.upperWord(in: prefix),
            name.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
        else { return nil }
        return (head.tagString(in: prefix), name)
    }

    /// The finding for a line the end of the stream cut: inside its last literal, or before its line break.
    static func truncation(_ line: RawLine, _ dir: Direction) -> Lint {
        if let literal = line.literals.last, !literal.isComplete {
            return .truncatedLiteral(size: literal.header.size, received: literal.received)
        }
        return .truncatedLine(dir)
    }
}
