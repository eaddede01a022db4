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
    public mutating func marker(_ recorded: String) -> String {
        if let normalized = markers[recorded] { return normalized }
        let hex = String(markers.count + 1, radix: 16)
        let normalized = "‹redacted:\(String(repeating: "0", count: max(0, 8 - hex.count)) + hex)›"
        markers[recorded] = normalized
        return normalized
    }

    public init() {}

    /// The normalized name for a recorded tag.
    public mutating func tag(_ recorded: String) -> String {
        if let normalized = tags[recorded] { return normalized }
        let normalized = "a\(tags.count + 1)"
        tags[recorded] = normalized
        return normalized
    }

    /// Rewrites the tag at the start of a command's or a tagged response's wire bytes, and
    /// every redaction marker in them.
    public mutating func renumber(_ event: inout Event) {
        if var wire = event.wire {
            for i in wire.indices {
                switch wire[i] {
                case .secret(let recorded, let length): wire[i] = .secret(marker: marker(recorded), length: length)
                case .secretLiteral(let header, let headerLength, let crlf, let recorded):
                    wire[i] = .secretLiteral(
                        header: header, headerLength: headerLength, crlf: crlf, marker: marker(recorded))
                default: break
                }
            }
            event.wire = wire
        }
        guard event.kind == .command || event.kind == .tagged, let recordedTag = event.body.tag,
            var wire = event.wire, case .bytes(let first)? = wire.first
        else { return }
        let old = Array(recordedTag.utf8)
        guard first.starts(with: old), first.count > old.count, first[old.count] == 0x20 else { return }
        let renamed = tag(recordedTag)
        wire[0] = .bytes(Array(renamed.utf8) + first[old.count...])
        event.wire = wire
        switch event.body {
        case .command(var command):
            command.tag = renamed
            event.body = .command(command)
        case .tagged(var tagged):
            tagged.tag = renamed
            event.body = .tagged(tagged)
        default: break
        }
    }
}
