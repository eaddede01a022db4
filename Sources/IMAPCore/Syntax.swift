/// Where a token sits in a `RawLine`: a byte range of one segment's text. A literal token's
/// span covers its `{n}` header; its body is that segment's `literal`.
public struct Span: Sendable, Hashable {
    public var segment: Int
    public var start: Int
    public var end: Int
}

/// The generic syntax tree every IMAP line reduces to (RFC 9051 §4 data formats).
public indirect enum Syntax: Sendable {
    case atom(String)
    case number(UInt64)
    case quoted([UInt8])
    /// A literal; its body is `line.segments[segment].literal`.
    case literal(segment: Int)
    case list([Node])
    case nilValue
    /// `BODY[HEADER.FIELDS (DATE FROM)]<0.2048>`: base, section tokens, partial text.
    case section(base: String, spec: [Node], partial: String?)
}

public struct Node: Sendable {
    public var syntax: Syntax
    public var span: Span

    public var atom: String? {
        if case .atom(let text) = syntax { return text }
        return nil
    }
    public var number: UInt64? {
        if case .number(let value) = syntax { return value }
        return nil
    }
    public var list: [Node]? {
        if case .list(let items) = syntax { return items }
        return nil
    }
    public var isNil: Bool {
        if case .nilValue = syntax { return true }
        return false
    }
    /// Upper-cased atom, for keyword comparisons.
    public var keyword: String? {
        switch syntax {
        case .atom(let text): return text.uppercased()
        case .number(let value): return String(value)
        case .nilValue: return "NIL"
        default: return nil
        }
    }
}

/// A generic parse failure; decoding turns it into an `unparsed` event or a lint.
public struct SyntaxError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Reads tokens from a logical line, segment by segment.
public struct SyntaxReader {
    public let line: RawLine
    public private(set) var segment = 0
    public private(set) var offset = 0

    public init(_ line: RawLine) { self.line = line }

    private var text: [UInt8] { line.segments[segment].text }

    public var atEnd: Bool {
        segment == line.segments.count - 1 && offset >= text.count
    }

    public var position: (segment: Int, offset: Int) { (segment, offset) }

    public func peekByte() -> UInt8? {
        offset < text.count ? text[offset] : nil
    }

    /// Consumes one space; tolerates a missing one only where a literal just ended.
    @discardableResult
    public mutating func space() -> Bool {
        if offset < text.count, text[offset] == 0x20 {
            offset += 1
            return true
        }
        return false
    }

    public mutating func skipSpaces() { while offset < text.count, text[offset] == 0x20 { offset += 1 } }

    /// The rest of the current line as text (for resp-text and the like), advancing to the end.
    public mutating func rest() -> [UInt8] {
        var out: [UInt8] = Array(text[min(offset, text.count)...])
        while segment < line.segments.count - 1 {
            if let literal = line.segments[segment].literal {
                out.append(contentsOf: literal.content ?? literal.preview)
            }
            segment += 1
            out.append(contentsOf: line.segments[segment].text)
        }
        offset = text.count
        return out
    }

    /// A bare word's text, for a caller that needs no node (a response's `*`, number and name):
    /// building a node costs an allocation.
    public mutating func wordText() -> String? {
        let start = offset
        while offset < text.count, text[offset] != 0x20 { offset += 1 }
        guard offset > start else { return nil }
        return String(decoding: text[start..<offset], as: UTF8.self)
    }

    /// Reads a bare word up to a space (tags, command names), without interpretation.
    public mutating func word() -> Node? {
        let start = offset
        while offset < text.count, text[offset] != 0x20 { offset += 1 }
        guard offset > start else { return nil }
        return Node(
            syntax: .atom(String(decoding: text[start..<offset], as: UTF8.self)),
            span: Span(segment: segment, start: start, end: offset))
    }

    /// Reads every remaining token, space separated.
    public mutating func nodes(until terminator: UInt8? = nil) throws -> [Node] {
        var out: [Node] = []
        while true {
            skipSpaces()
            if atEnd { break }
            if let stopByte = terminator, peekByte() == stopByte { break }
            if peekByte() == nil && segment < line.segments.count - 1 {
                throw SyntaxError(message: "unexpected text after a literal")
            }
            out.append(try node(terminator: terminator))
            if out.count > 100_000 { throw SyntaxError(message: "too many tokens") }
        }
        return out
    }

    static func isAtomByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "(") && byte != UInt8(ascii: ")")
            && byte != UInt8(ascii: "\"")
            || byte >= 0x80
    }

    /// One token: atom, number, NIL, quoted string, literal, parenthesised list or section.
    public mutating func node(terminator: UInt8? = nil, depth: Int = 0) throws -> Node {
        guard depth < 100 else { throw SyntaxError(message: "lists nested too deeply") }
        guard offset < text.count else { throw SyntaxError(message: "expected a token at end of line") }
        let start = offset
        let firstByte = text[offset]
        if (firstByte == UInt8(ascii: "{") || firstByte == UInt8(ascii: "~")) && literalStartsHere() {
            let seg = segment
            let end = text.count
            if segment + 1 < line.segments.count {
                segment += 1
                offset = 0
            } else {
                offset = end
            }
            return Node(syntax: .literal(segment: seg), span: Span(segment: seg, start: start, end: end))
        }
        switch firstByte {
        case UInt8(ascii: "("):
            let startSegment = segment
            offset += 1
            var items: [Node] = []
            while true {
                skipSpaces()
                if offset < text.count, text[offset] == UInt8(ascii: ")") {
                    offset += 1
                    break
                }
                if offset >= text.count {
                    if segment < line.segments.count - 1 && line.segments[segment].literal != nil {
                        throw SyntaxError(message: "unexpected text after a literal")
                    }
                    throw SyntaxError(message: "unclosed '('")
                }
                items.append(try node(terminator: UInt8(ascii: ")"), depth: depth + 1))
                if items.count > 100_000 { throw SyntaxError(message: "list too long") }
            }
            return Node(
                syntax: .list(items),
                span: Span(segment: startSegment, start: start, end: startSegment == segment ? offset : start))
        case UInt8(ascii: "\""):
            offset += 1
            var value: [UInt8] = []
            while true {
                guard offset < text.count else { throw SyntaxError(message: "unterminated quoted string") }
                let byte = text[offset]
                if byte == UInt8(ascii: "\\") {
                    guard offset + 1 < text.count else { throw SyntaxError(message: "unterminated quoted string") }
                    value.append(text[offset + 1])
                    offset += 2
                    continue
                }
                offset += 1
                if byte == UInt8(ascii: "\"") { break }
                value.append(byte)
            }
            return Node(syntax: .quoted(value), span: Span(segment: segment, start: start, end: offset))
        default:
            while offset < text.count {
                let byte = text[offset]
                if byte == terminator && terminator == UInt8(ascii: "]") { break }
                if byte == UInt8(ascii: "[") && offset > start && isSectionBase(text[start..<offset]) {
                    return try section(
                        base: String(decoding: text[start..<offset], as: UTF8.self), start: start, depth: depth)
                }
                if !SyntaxReader.isAtomByte(byte) { break }
                if byte == UInt8(ascii: ")") { break }
                offset += 1
            }
            guard offset > start else {
                throw SyntaxError(message: "unexpected character 0x\(String(firstByte, radix: 16))")
            }
            let bytes = text[start..<offset]
            let span = Span(segment: segment, start: start, end: offset)
            if bytes.count <= 19, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let number = UInt64(String(decoding: bytes, as: UTF8.self))
            {
                return Node(syntax: .number(number), span: span)
            }
            let atomText = String(decoding: bytes, as: UTF8.self)
            if bytes.count == 3, atomText.uppercased() == "NIL" { return Node(syntax: .nilValue, span: span) }
            return Node(syntax: .atom(atomText), span: span)
        }
    }

    private func literalStartsHere() -> Bool {
        guard line.segments[segment].literal != nil, segment < line.segments.count - 1 else { return false }
        guard let (_, at) = LiteralHeader.trailing(in: text) else { return false }
        return at == offset
    }

    private func isSectionBase(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy {
            ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "-")
        }
    }

    private mutating func section(base: String, start: Int, depth: Int) throws -> Node {
        offset += 1  // '['
        var spec: [Node] = []
        while true {
            skipSpaces()
            guard offset < text.count else { throw SyntaxError(message: "unclosed '[' in \(base)[") }
            if text[offset] == UInt8(ascii: "]") {
                offset += 1
                break
            }
            spec.append(try node(terminator: UInt8(ascii: "]"), depth: depth + 1))
        }
        var partial: String?
        if offset < text.count, text[offset] == UInt8(ascii: "<") {
            let partialStart = offset + 1
            while offset < text.count, text[offset] != UInt8(ascii: ">") { offset += 1 }
            guard offset < text.count else { throw SyntaxError(message: "unclosed '<' in partial") }
            partial = String(decoding: text[partialStart..<offset], as: UTF8.self)
            offset += 1
        }
        return Node(
            syntax: .section(base: base, spec: spec, partial: partial),
            span: Span(segment: segment, start: start, end: offset))
    }
}

extension RawLine {
    /// The bytes of an astring/nstring token: atom text, unescaped quoted, or a retained literal.
    public func stringBytes(_ node: Node) -> [UInt8]? {
        switch node.syntax {
        case .atom(let atom): return Array(atom.utf8)
        case .number(let number): return Array(String(number).utf8)
        case .quoted(let bytes): return bytes
        case .literal(let seg): return segments[seg].literal?.content
        case .nilValue: return Array("NIL".utf8)
        default: return nil
        }
    }

    public func string(_ node: Node) -> String? {
        stringBytes(node).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The source text of a node (literal bodies summarised), for generic argument display.
    public func sourceText(_ node: Node) -> String {
        switch node.syntax {
        case .literal(let seg):
            if let content = segments[seg].literal?.content, content.count <= 200 {
                return String(decoding: content, as: UTF8.self)
            }
            return "{\(segments[seg].literal?.header.size ?? 0)}"
        case .list(let items): return "(" + items.map(sourceText).joined(separator: " ") + ")"
        case .section(let base, let spec, let partial):
            return base + "[" + spec.map(sourceText).joined(separator: " ") + "]" + (partial.map { "<\($0)>" } ?? "")
        case .quoted(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .atom(let atom): return atom
        case .number(let number): return String(number)
        case .nilValue: return "NIL"
        }
    }
}
