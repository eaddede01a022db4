import IMAPCore

/// Makes fixtures of the same conversation byte-identical across recordings: each tag is
/// renumbered `a1`, `a2`, … in order of first use, the same in commands and in the tagged
/// responses that complete them (RFC 9051 §2.2.1: tags only pair a completion with its
/// command, so their spelling carries no meaning). Redaction markers are numbered the same way
/// (`‹redacted:00000001›` is the session's first distinct secret): the `Redactor`'s markers come
/// from a per-run key, so they would differ between two recordings of the same password.
/// Fixtures carry no times.
public struct FixtureNormalizer {
    private var tags: [String: String] = [:]
    private var markers: [String: String] = [:]

    /// The normalized marker for a `Redactor` marker.
    public mutating func marker(_ m: String) -> String {
        if let n = markers[m] { return n }
        let hex = String(markers.count + 1, radix: 16)
        let n = "‹redacted:\(String(repeating: "0", count: max(0, 8 - hex.count)) + hex)›"
        markers[m] = n
        return n
    }

    public init() {}

    /// The normalized name for a recorded tag.
    public mutating func tag(_ t: String) -> String {
        if let n = tags[t] { return n }
        let n = "a\(tags.count + 1)"
        tags[t] = n
        return n
    }

    /// Rewrites the tag at the start of a command's or a tagged response's wire bytes, and
    /// every redaction marker in them.
    public mutating func renumber(_ e: inout Event) {
        if var wire = e.wire {
            for i in wire.indices {
                switch wire[i] {
                case .secret(let m, let length): wire[i] = .secret(marker: marker(m), length: length)
                case .secretLiteral(let h, let n, let crlf, let m):
                    wire[i] = .secretLiteral(header: h, headerLength: n, crlf: crlf, marker: marker(m))
                default: break
                }
            }
            e.wire = wire
        }
        guard e.kind == .command || e.kind == .tagged, let t = e.body.tag,
            var wire = e.wire, case .bytes(let first)? = wire.first
        else { return }
        let old = Array(t.utf8)
        guard first.starts(with: old), first.count > old.count, first[old.count] == 0x20 else { return }
        let renamed = tag(t)
        wire[0] = .bytes(Array(renamed.utf8) + first[old.count...])
        e.wire = wire
        switch e.body {
        case .command(var c):
            c.tag = renamed
            e.body = .command(c)
        case .tagged(var t):
            t.tag = renamed
            e.body = .tagged(t)
        default: break
        }
    }
}
