/// The head of an IMAP line, read straight off its bytes: the tag (or `*`, `+`) and the word
/// after it: a command name, a status (`OK`, `NO`, `BAD`) or an untagged response's name
/// (after its number: `* 3 EXISTS`). Offsets count from the first byte handed in; nothing is
/// copied and no `String` is built unless asked for (`tagString`, `upperWord`).
///
/// A word ends at SP, CR, LF or the end of the bytes, so a partial line has a head too.
public struct LineHead: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// `tag SP …`; a tag is 1–256 ASTRING-CHARs other than `+` (`CommandParser.isValidTag`).
        case tagged
        /// `* …`
        case untagged
        /// `+…`: a continuation request; nothing after it is a word.
        case continuation
    }

    public var kind: Kind
    /// The tag (or the `*`, the `+`).
    public var tag: Range<Int>
    /// The number of an untagged `* 3 EXISTS`.
    public var number: Range<Int>?
    /// The word after the tag or `*` (and number); nil for a continuation or when none follows.
    public var word: Range<Int>?
    /// Where the head ends: after the word, else after the tag (or number).
    public var end: Int
    /// Whether only a line break, or nothing, follows `end`.
    public var endsLine: Bool

    public static let maxTagLength = 256

    /// Nil when the first word is neither `*`, a `+` nor a valid tag.
    public init?<Bytes: Collection>(_ line: Bytes) where Bytes.Element == UInt8 {
        let parsed =
            line.withContiguousStorageIfAvailable { Self.parse($0) }
            ?? Array(line).withUnsafeBufferPointer { Self.parse($0) }
        guard let head = parsed else { return nil }
        self = head
    }

    private init(kind: Kind, tag: Range<Int>, number: Range<Int>?, word: Range<Int>?, end: Int, endsLine: Bool) {
        self.kind = kind
        self.tag = tag
        self.number = number
        self.word = word
        self.end = end
        self.endsLine = endsLine
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> LineHead? {
        guard let first = bytes.first else { return nil }
        if first == UInt8(ascii: "+") {
            let endsLine = onlyBreak(bytes, from: 1)
            return LineHead(kind: .continuation, tag: 0..<1, number: nil, word: nil, end: 1, endsLine: endsLine)
        }
        let tagEnd = wordEnd(bytes, from: 0)
        let kind: Kind
        if tagEnd == 1 && first == UInt8(ascii: "*") {
            kind = .untagged
        } else if tagEnd > 0, tagEnd <= maxTagLength, (0..<tagEnd).allSatisfy({ isTagChar(bytes[$0]) }) {
            kind = .tagged
        } else {
            return nil
        }
        var head = LineHead(kind: kind, tag: 0..<tagEnd, number: nil, word: nil, end: tagEnd, endsLine: true)
        var position = tagEnd
        guard position < bytes.count, bytes[position] == 0x20 else {
            head.endsLine = onlyBreak(bytes, from: position)
            return head
        }
        position += 1
        var wordRange = position..<wordEnd(bytes, from: position)
        if kind == .untagged, !wordRange.isEmpty, wordRange.allSatisfy({ isDigit(bytes[$0]) }),
            wordRange.upperBound < bytes.count, bytes[wordRange.upperBound] == 0x20
        {
            head.number = wordRange
            position = wordRange.upperBound + 1
            wordRange = position..<wordEnd(bytes, from: position)
        }
        head.word = wordRange.isEmpty ? nil : wordRange
        head.end = wordRange.upperBound
        head.endsLine = onlyBreak(bytes, from: head.end)
        return head
    }

    /// Index of the first SP, CR or LF at or after `start` (or the end).
    private static func wordEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x0D || byte == 0x0A { break }
            index += 1
        }
        return index
    }

    private static func onlyBreak(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        (start..<bytes.count).allSatisfy { bytes[$0] == 0x0D || bytes[$0] == 0x0A }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// ASTRING-CHAR except `+` (RFC 9051 `tag`), as `CommandParser.isValidTag` checks it.
    static func isTagChar(_ byte: UInt8) -> Bool {
        if byte <= 0x20 || byte >= 0x7F { return false }
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "+"):
            return false
        default:
            return true
        }
    }

    // MARK: Reading the parts (pass the same bytes the head was read from)

    /// Whether the word is `keyword` (ASCII letters compared case-insensitively; `keyword` in upper case).
    public func wordIs<Bytes: RandomAccessCollection>(_ keyword: StaticString, in line: Bytes) -> Bool
    where Bytes.Element == UInt8 {
        guard let word else { return false }
        return Self.matches(line, word, keyword, prefixOnly: false)
    }

    /// Whether the word so far could still grow into `keyword` (a partial line's last word).
    public func wordCouldBecome<Bytes: RandomAccessCollection>(_ keyword: StaticString, in line: Bytes) -> Bool
    where Bytes.Element == UInt8 {
        guard let word else { return true }
        return Self.matches(line, word, keyword, prefixOnly: true)
    }

    /// Whether the tag is exactly `tag` (tags are case-sensitive).
    public func tagIs<Bytes: RandomAccessCollection, Tag: Collection>(_ tag: Tag, in line: Bytes) -> Bool
    where Bytes.Element == UInt8, Tag.Element == UInt8 {
        kind == .tagged && slice(line, self.tag).elementsEqual(tag)
    }

    /// The tag's bytes.
    public func tagBytes<Bytes: RandomAccessCollection>(in line: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        Array(slice(line, tag))
    }

    public func tagString<Bytes: RandomAccessCollection>(in line: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: slice(line, tag), as: UTF8.self)
    }

    /// The word in upper case (ASCII letters only), e.g. for a status or response name.
    public func upperWord<Bytes: RandomAccessCollection>(in line: Bytes) -> String? where Bytes.Element == UInt8 {
        word.map { String(decoding: slice(line, $0).map(Self.upper), as: UTF8.self) }
    }

    private func slice<Bytes: RandomAccessCollection>(_ line: Bytes, _ range: Range<Int>) -> Bytes.SubSequence
    where Bytes.Element == UInt8 {
        let start = line.index(line.startIndex, offsetBy: range.lowerBound)
        return line[start..<line.index(start, offsetBy: range.count)]
    }

    private static func upper(_ byte: UInt8) -> UInt8 { byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte }

    private static func matches<Bytes: RandomAccessCollection>(
        _ line: Bytes, _ range: Range<Int>, _ keyword: StaticString, prefixOnly: Bool
    ) -> Bool where Bytes.Element == UInt8 {
        keyword.withUTF8Buffer { expected in
            guard range.count == expected.count || (prefixOnly && range.count < expected.count) else { return false }
            var index = line.index(line.startIndex, offsetBy: range.lowerBound)
            for offset in 0..<range.count {
                if upper(line[index]) != expected[offset] { return false }
                index = line.index(after: index)
            }
            return true
        }
    }
}
