import IMAPCore

/// A client command line as rules see it: tag, name (`UID FETCH` is `FETCH` with `uid`), and
/// its argument words up to the first literal, quotes removed. Read with `LineHead`.
struct FaultCommandLine: Equatable {
    var tag: [UInt8]
    var name: String
    var uid: Bool
    var arguments: [String]

    /// `text`: the line up to its first literal or line break. Nil for a line that is no command
    /// (a SASL response, `DONE`, a literal's continuation).
    init?(_ text: [UInt8]) {
        guard let head = LineHead(text), head.kind == .tagged, let word = head.upperWord(in: text) else { return nil }
        tag = head.tagBytes(in: text)
        var words = Self.words(text[head.end...])
        if word == "UID", let next = words.first {
            name = next.uppercased()
            uid = true
            words.removeFirst()
        } else {
            name = word
            uid = false
        }
        arguments = words
    }

    var displayName: String { (uid ? "UID " : "") + name }

    /// Words separated by spaces; a double-quoted word loses its quotes (and `\` escapes).
    static func words(_ bytes: ArraySlice<UInt8>) -> [String] {
        var out: [String] = []
        var current: [UInt8] = []
        var inQuotes = false
        var escaped = false
        var started = false
        for byte in bytes {
            if inQuotes {
                if escaped {
                    current.append(byte)
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inQuotes = false
                } else {
                    current.append(byte)
                }
            } else if byte == 0x20 || byte == 0x0D || byte == 0x0A {
                if started { out.append(String(decoding: current, as: UTF8.self)) }
                current = []
                started = false
            } else if byte == UInt8(ascii: "\"") {
                inQuotes = true
                started = true
            } else {
                current.append(byte)
                started = true
            }
        }
        if started { out.append(String(decoding: current, as: UTF8.self)) }
        return out
    }

    func matches(_ pattern: FaultCommandPattern) -> Bool {
        if let name = pattern.name {
            guard name == self.name, pattern.uid == uid else { return false }
        } else {
            // `*` takes only commands imapscope knows: the engine does not follow literals or SASL, so a
            // line like `my secret` inside a literal would otherwise count, and reach the log as a tag and name.
            guard CommandName(self.name).isKnown else { return false }
        }
        guard pattern.arguments.count <= arguments.count else { return false }
        for (want, have) in zip(pattern.arguments, arguments) where want != "*" && want != have {
            // INBOX is case-insensitive; every other mailbox name is not.
            guard want.uppercased() == "INBOX", have.uppercased() == "INBOX" else { return false }
        }
        return true
    }
}
