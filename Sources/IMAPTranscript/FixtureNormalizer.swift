import IMAPCore

/// Makes fixtures of the same conversation byte-identical across recordings: each tag is
/// renumbered `a1`, `a2`, … in order of first use, the same in commands and in the tagged
/// responses that complete them (RFC 9051 §2.2.1: tags only pair a completion with its
/// command, so their spelling carries no meaning). Fixtures carry no times, and secrets are
/// already markers (the `Redactor`), so tags are what is left to normalise.
public struct FixtureNormalizer {
    private var tags: [String: String] = [:]

    public init() {}

    /// The normalized name for a recorded tag.
    public mutating func tag(_ t: String) -> String {
        if let n = tags[t] { return n }
        let n = "a\(tags.count + 1)"
        tags[t] = n
        return n
    }

    /// Rewrites the tag at the start of a command's or a tagged response's wire bytes.
    public mutating func renumber(_ e: inout Event) {
        guard e.kind == .command || e.kind == .tagged, let t = e["tag"]?.stringValue,
              var wire = e.wire, case .bytes(let first)? = wire.first else { return }
        let old = Array(t.utf8)
        guard first.starts(with: old), first.count > old.count, first[old.count] == 0x20 else { return }
        wire[0] = .bytes(Array(tag(t).utf8) + first[old.count...])
        e.wire = wire
        if let i = e.fields.firstIndex(where: { $0.0 == "tag" }) { e.fields[i].1 = .string(tag(t)) }
    }
}
