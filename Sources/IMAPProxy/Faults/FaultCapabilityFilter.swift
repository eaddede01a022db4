import IMAPCore

/// Takes `COMPRESS=…` out of the capabilities the server announces, while command rules are
/// given: after COMPRESS the streams are deflated and no rule could read a command again
/// (mbsync, for one, compresses whenever the server offers it). Capabilities come in
/// `* CAPABILITY …`, and in a `[CAPABILITY …]` code of a greeting (`* OK`, `* PREAUTH`) or of a
/// tagged `OK`; only those lines are held until they end (they are short) and rewritten.
enum FaultCapabilityFilter {
    /// Whether a line that begins with `prefix` may announce capabilities; nil while its first
    /// word is not complete.
    static func mayAnnounce(_ prefix: [UInt8]) -> Bool? {
        guard let head = LineHead(prefix) else { return false }
        if head.kind == .continuation { return false }
        guard head.word != nil else { return head.end == prefix.count ? nil : false }
        let complete = head.end < prefix.count
        let keywords: [StaticString] = ["CAPABILITY", "OK", "PREAUTH"]
        if keywords.contains(where: { head.wordIs($0, in: prefix) }) { return complete ? true : nil }
        if complete { return false }
        return keywords.contains { head.wordCouldBecome($0, in: prefix) } ? nil : false
    }

    /// The line without its `COMPRESS=` capabilities, and the ones taken out; nil when it has none.
    static func strip(_ line: [UInt8]) -> (line: [UInt8], removed: [String])? {
        var body = line
        var ending: [UInt8] = []
        while let last = body.last, last == 0x0A || last == 0x0D { ending.insert(body.removeLast(), at: 0) }
        let words = body.split(separator: 0x20, omittingEmptySubsequences: false)
        let capability = Array("CAPABILITY".utf8)
        guard
            words.contains(where: {
                Self.upper($0).elementsEqual(capability) || Self.upper($0.dropFirst()).elementsEqual(capability)
            })
        else { return nil }
        var kept: [ArraySlice<UInt8>] = []
        var removed: [String] = []
        let prefix = Array("COMPRESS=".utf8)
        for word in words {
            guard Self.upper(word).starts(with: prefix), kept.count >= 2 else {
                kept.append(word)
                continue
            }
            var name = Array(word)
            if name.last == UInt8(ascii: "]") {
                name.removeLast()
                kept[kept.count - 1] = kept[kept.count - 1] + [UInt8(ascii: "]")]
            }
            removed.append(String(decoding: name, as: UTF8.self))
        }
        guard !removed.isEmpty else { return nil }
        return (Array(kept.joined(separator: [0x20])) + ending, removed)
    }

    private static func upper(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
    }
}
