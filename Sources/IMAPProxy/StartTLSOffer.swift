import IMAPCore

/// imapscope offers STARTTLS to a plaintext client leg whose server leg is already TLS: the
/// server's capability lists (which come from its TLS connection, so without STARTTLS) get
/// STARTTLS added before they are relayed. A pure rewrite of one whole line; nil when the line
/// has no capability list to change.
enum StartTLSOffer {
    static let capability = "STARTTLS"

    /// `* CAPABILITY …`, or an `OK` (untagged or tagged) with a `[CAPABILITY …]` code, with
    /// STARTTLS appended to the list; nil for any other line and for a list that has it already.
    /// `line` is one whole line with its line break and no literal.
    static func addingStartTLS(to line: [UInt8]) -> [UInt8]? {
        guard let head = LineHead(line), head.kind != .continuation, let word = head.word else { return nil }
        let body = line[..<lineBreakStart(line)]
        if head.kind == .untagged, head.number == nil, head.wordIs("CAPABILITY", in: line) {
            return hasStartTLS(body[word.upperBound...]) ? nil : insert(into: line, at: body.endIndex)
        }
        guard head.wordIs("OK", in: line), word.upperBound + 1 < body.endIndex,
            body[word.upperBound] == 0x20, body[word.upperBound + 1] == UInt8(ascii: "[")
        else { return nil }
        let codeStart = word.upperBound + 2
        let name = Array("CAPABILITY".utf8)
        guard body.endIndex - codeStart > name.count,
            zip(body[codeStart...], name).allSatisfy({ upper($0) == $1 }),
            body[codeStart + name.count] == 0x20,
            let close = body[codeStart...].firstIndex(of: UInt8(ascii: "]"))
        else { return nil }
        return hasStartTLS(body[(codeStart + name.count)..<close]) ? nil : insert(into: line, at: close)
    }

    /// Where the line break starts (CRLF or a bare LF), or the end.
    private static func lineBreakStart(_ line: [UInt8]) -> Int {
        var end = line.count
        if end > 0, line[end - 1] == 0x0A { end -= 1 }
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        return end
    }

    private static func hasStartTLS(_ list: ArraySlice<UInt8>) -> Bool {
        list.split(separator: 0x20).contains {
            $0.count == 8 && zip($0, capability.utf8).allSatisfy { upper($0) == $1 }
        }
    }

    private static func insert(into line: [UInt8], at index: Int) -> [UInt8] {
        var out = line
        out.insert(contentsOf: Array(" \(capability)".utf8), at: index)
        return out
    }

    private static func upper(_ byte: UInt8) -> UInt8 { byte >= 0x61 && byte <= 0x7A ? byte - 0x20 : byte }
}
