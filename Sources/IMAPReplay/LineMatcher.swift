import IMAPCore

/// Decides whether a client line is the one the fixture recorded.
///
/// Both lines are reduced to a canonical form: the tag dropped (for commands), the command
/// name upper-cased (RFC 9051 §2.2: names are case-insensitive), quoted strings and literals
/// (RFC 9051 §4.3) reduced to their content so `{5}␍␊alice`, `{5+}␍␊alice` and `"alice"` are the
/// same string. A redaction marker (`‹redacted:xxxxxxxx›`) in the recorded line matches any
/// bytes, so a recorded password or SASL response matches whatever the client sends now.
public enum LineMatcher {
    /// Delimits string content in the canonical form; never compared against wire text.
    static let open: UInt8 = 0x01, close: UInt8 = 0x02

    public static func matches(expected: RawLine, received: RawLine, dropTag: Bool) -> Bool {
        let expectedForm = canonical(expected, dropTag: dropTag)
        let receivedForm = canonical(received, dropTag: dropTag)
        return globMatch(pattern: expectedForm, text: receivedForm)
    }

    /// The canonical bytes of a line (see the type's comment).
    static func canonical(_ line: RawLine, dropTag: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var first = true
        for seg in line.segments {
            var text = seg.text[...]
            var header: LiteralHeader?
            if seg.literal != nil, let (found, at) = LiteralHeader.trailing(in: seg.text) {
                header = found
                text = seg.text[..<at]
            }
            if first {
                first = false
                // Only commands have a name to normalise; SASL lines and DONE are compared as sent.
                if dropTag { text = canonicalHead(text, dropTag: dropTag)[...] }
            }
            out += unquote(text)
            if let header {
                if header.binary { out.append(UInt8(ascii: "~")) }
                out += string(seg.literal?.content ?? [])
            }
        }
        return out
    }

    /// Drops `tag SP` and upper-cases the command name (and `UID`'s subcommand).
    private static func canonicalHead(_ text: ArraySlice<UInt8>, dropTag: Bool) -> [UInt8] {
        var rest = text
        if dropTag {
            guard let space = rest.firstIndex(of: 0x20) else { return [] }
            rest = rest[(space + 1)...]
        }
        var out: [UInt8] = []
        var words = 0
        var i = rest.startIndex
        while i < rest.endIndex, words < 2 {
            let wordEnd = rest[i...].firstIndex(of: 0x20) ?? rest.endIndex
            let word = rest[i..<wordEnd]
            let upper = word.map { ($0 >= 97 && $0 <= 122) ? $0 - 32 : $0 }
            out += upper
            words += 1
            i = wordEnd
            if i < rest.endIndex {
                out.append(0x20)
                i += 1
            }
            if words == 1 && upper != Array("UID".utf8) { break }
        }
        return out + rest[i...]
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE, QUOTED-CHAR escapes `"` and `\` with `\`.
    private static func unquote(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var content: [UInt8]?
        var i = text.startIndex
        while i < text.endIndex {
            let byte = text[i]
            if var quoted = content {
                if byte == UInt8(ascii: "\\"), i + 1 < text.endIndex {
                    quoted.append(text[i + 1])
                    content = quoted
                    i += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    out += string(quoted)
                    content = nil
                    i += 1
                    continue
                }
                quoted.append(byte)
                content = quoted
            } else if byte == UInt8(ascii: "\"") {
                content = []
            } else {
                out.append(byte)
            }
            i += 1
        }
        if let content { out += string(content) }
        return out
    }

    /// A string's canonical form: bare when it could have been an atom (astring, RFC 9051 §9),
    /// so `alice`, `"alice"` and `{5}alice` compare equal; delimited otherwise.
    private static func string(_ content: [UInt8]) -> [UInt8] {
        let atomLike =
            !content.isEmpty
            && content.allSatisfy { byte in
                byte > 0x20 && byte < 0x7F && !"(){\"\\]".utf8.contains(byte)
            }
        return atomLike ? content : [open] + content + [close]
    }

    static let markerStart = Array("‹redacted:".utf8)
    static let markerEnd = Array("›".utf8)

    static func containsMarker(_ bytes: [UInt8]) -> Bool {
        var i = 0
        while i + markerStart.count <= bytes.count {
            if bytes[i] == markerStart[0], bytes[i...].starts(with: markerStart) { return true }
            i += 1
        }
        return false
    }

    /// Splits the pattern at redaction markers; each marker matches any bytes (a `*` glob).
    static func globMatch(pattern: [UInt8], text: [UInt8]) -> Bool {
        var parts: [ArraySlice<UInt8>] = []
        var i = 0
        var start = 0
        var hasMarker = false
        while i < pattern.count {
            if pattern[i] == markerStart[0], pattern[i...].starts(with: markerStart),
                let end = find(markerEnd, in: pattern, from: i + markerStart.count), end - i <= markerStart.count + 16
            {
                parts.append(pattern[start..<i])
                i = end + markerEnd.count
                start = i
                hasMarker = true
                continue
            }
            i += 1
        }
        guard hasMarker else { return pattern == text }
        parts.append(pattern[start...])
        // First part anchors the start, last the end; the middle ones are found left to right.
        guard text.starts(with: parts[0]) else { return false }
        var pos = parts[0].count
        for part in parts.dropFirst().dropLast() {
            guard let at = find(Array(part), in: text, from: pos) else { return false }
            pos = at + part.count
        }
        let last = parts[parts.count - 1]
        return text.count - pos >= last.count && text[(text.count - last.count)...].elementsEqual(last)
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        if needle.isEmpty { return from }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// A line for messages: one line of text, literal bodies shortened, control bytes escaped.
    /// Deny by default, as the Redactor: a line is shown only as a command (`asCommand`, and
    /// it parses as one), its secrets (`CommandParser`'s: a password, an initial response,
    /// arguments of unknown commands) as `‹redacted›`; a DONE as itself; anything else, and a
    /// command imapscope does not know (after a refused literal or AUTHENTICATE its words may be
    /// a secret), only by its size. So neither a received password nor one a hand-written
    /// fixture holds in clear reaches stderr or the client's BAD.
    public static func display(_ line: RawLine, dropTag: Bool = false, asCommand: Bool = true, limit: Int = 200)
        -> String
    {
        guard asCommand, let parsed = try? CommandParser.parse(line), parsed.isKnown else {
            if line.segments.count == 1, line.segments[0].text.count == 4,
                String(decoding: line.segments[0].text, as: UTF8.self).uppercased() == "DONE"
            {
                return "DONE"
            }
            return "‹hidden client line: \(line.wireBytes) bytes›"
        }
        let secrets = parsed.secrets
        let hidden = "‹redacted›"
        var shown = ""
        for (i, seg) in line.segments.enumerated() {
            var bytes = seg.text
            // Replace secret spans from the end so earlier offsets stay valid.
            let spans = secrets.compactMap { secret -> Span? in
                if case .span(let span) = secret, span.segment == i { return span }
                return nil
            }
            .filter { $0.start >= 0 && $0.end <= bytes.count && $0.start <= $0.end }
            .sorted { $0.start > $1.start }
            for span in spans { bytes.replaceSubrange(span.start..<span.end, with: Array(hidden.utf8)) }
            var text = bytes[...]
            if i == 0, dropTag, let space = text.firstIndex(of: 0x20) { text = text[(space + 1)...] }
            if i > 0, let firstByte = text.first, firstByte != 0x20, firstByte != UInt8(ascii: ")") { shown += " " }
            shown += printable(text)
            if let lit = seg.literal {
                if secrets.contains(.literal(segment: i)) {
                    shown += " " + hidden
                    continue
                }
                let body = lit.content ?? lit.preview
                shown += " " + printable(body.prefix(60)) + (body.count > 60 ? "…" : "")
            }
        }
        while shown.hasSuffix(" ") { shown.removeLast() }
        if shown.count > limit { shown = String(shown.prefix(limit)) + "…" }
        return shown
    }
}
